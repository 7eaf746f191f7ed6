#!/bin/bash
# 53-ldapsync-poll.sh - a server without the syncprov overlay: the daemon
# falls back to periodic full syncs (paged search) and still follows
# changes; ldap.sync "poll" forces that mode.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
SLAPD_NO_SYNCPROV=1 slapd_init ldap conf
person jane jane.doe@tum.de "fwdMailboxLocation: exchange" > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap
ls_conf '.ldap.poll_interval = 1'
ls_start
t_wait 10 q_is transport jane.doe@tum.de "OK smtp:[exchange.example.org]:25" ||
    t_fail "no first sync: $(cat "$LSLOG")"
t_match "fallback logged" "falling back to periodic full syncs" "$(cat "$LSLOG")"
mod jane fwdMailboxLocation mytum
t_wait 10 q_is transport jane.doe@tum.de "OK lmtp:[mytum.example.org]:24" ||
    t_fail "poll mode missed the change: $(tail -3 "$LSLOG")"
# Nothing changes any more: the periodic syncs do not publish identical bases.
s=$(serial)
_unchanged_twice() { [ "$(grep -c 'result=unchanged' "$LSLOG")" -ge 2 ]; }
t_wait 10 _unchanged_twice || t_fail "no unchanged periodic syncs: $(tail -3 "$LSLOG")"
t_eq "no new serial without changes" "$s" "$(serial)"
ls_stop
exit 0

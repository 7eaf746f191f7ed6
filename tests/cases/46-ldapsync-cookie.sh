#!/bin/bash
# 46-ldapsync-cookie.sh - the saved cookie never gets ahead of the saved
# state, and does not lag behind for long: a change that alters no table
# (a forward to an unknown address of our own, dropped when compiled) is
# journaled all the same, and once the stream goes quiet the cookie is
# saved within about 2 s without waiting for the next change or for
# shutdown.  After a SIGKILL the restart resumes from that cookie and still
# knows the forward: when another entry later claims its target, the
# forward appears in the tables although the server never resent the
# entry that has it.
# asan: yes
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
slapd_init ldap conf
{
    person p1 p1@tum.de "fwdMailboxLocation: exchange" "fwdMailHost: mx.old.example"
    person p2 p2@tum.de "fwdMailboxLocation: exchange"
} > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap
ls_conf
ls_start
t_wait 10 q_is transport p1@tum.de "OK smtp:[exchange.example.org]:25" || t_fail "no base: $(cat "$LSLOG")"

# A change that alters no table (journaled, nothing published) ...
published=$(grep -c "result=published" "$LSLOG")
s1=$(serial)
printf 'dn: uid=p1,ou=tum,%s\nchangetype: modify\nadd: fwdForwardAddress\nfwdForwardAddress: ghost@tum.de\n' \
    "$SLAPD_SUFFIX" | slapd_modify ldap
# Processed (journaled), not merely not yet seen:
t_wait 10 grep -q "ghost@tum.de" "$T/maps/ldapsync.journal" ||
    t_fail "the change was not journaled: $(cat "$LSLOG")"
sleep 0.3			# a publish would follow the journal at once
t_eq "the forward published nothing" "$published" "$(grep -c "result=published" "$LSLOG")"
t_eq "serial" "$s1" "$(serial)"
t_eq "dropped forward" "NOTFOUND" "$(q virtual p1@tum.de)"
# ... then a published change, and at once another one publishing nothing:
# p1's is now older than anything the cookie can make the server resend.
mod p2 fwdMailboxLocation mytum
t_wait 10 q_is transport p2@tum.de "OK lmtp:[mytum.example.org]:24" || t_fail "change not applied"
mod p2 fwdMailHost mx.p2.example
# The cookie catches up once the stream is quiet (~2 s), with no further change.
t_wait 5 cookie_current || t_fail "cookie lags: saved $(saved_csn), server $(csn): $(cat "$LSLOG")"

# Killed (no shutdown save): the restart resumes from that cookie, so the
# server sends nothing about p1; the mail host must come from the journal.
kill -KILL "$LS_PID"
wait "$LS_PID" 2>/dev/null
LS_PID=
: > "$LSLOG"
ls_start
t_wait 10 grep -q "refresh done" "$LSLOG" || t_fail "no refresh: $(cat "$LSLOG")"
t_match "resumed" "resuming from saved cookie" "$(cat "$LSLOG")"
t_match "incremental" "refresh done \(incremental\)" "$(cat "$LSLOG")"
printf 'dn: uid=p2,ou=tum,%s\nchangetype: modify\nadd: fwdMailAlias\nfwdMailAlias: ghost@tum.de\n' \
    "$SLAPD_SUFFIX" | slapd_modify ldap
t_wait 10 q_is transport ghost@tum.de "OK lmtp:[mytum.example.org]:24" ||
    t_fail "change after the restart not applied: $(cat "$LSLOG")"
t_eq "the forward journaled before the restart is there" "OK p1@tum.de,ghost@tum.de" "$(q virtual p1@tum.de)"
ls_stop
exit 0

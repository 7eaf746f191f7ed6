#!/bin/bash
# exclusive: yes (runs alone when tests/run.sh runs cases in parallel)
# 57-ldapsync-compact.sh - when the delta outgrows ldapsync.compact_records
# the daemon writes a new base (and drops the delta), the tables stay
# right, and a restart resumes from the new base's snapshot.
# asan: yes
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
slapd_init ldap conf
for i in $(seq 1 10); do person "p$i" "p$i@tum.de" "fwdMailboxLocation: exchange"; done > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap
ls_conf '.ldapsync.compact_records = 6 | .ldapsync.batch_delay_ms = 50'
ls_start
t_wait 10 q_is transport p1@tum.de "OK smtp:[exchange.example.org]:25" || t_fail "no base: $(cat "$LSLOG")"
base1=$(serial)
# One change (a few records) stays a delta ...
printf 'dn: uid=p1,ou=tum,%s\nchangetype: modify\nreplace: fwdMailboxLocation\nfwdMailboxLocation: mytum\n' \
    "$SLAPD_SUFFIX" | slapd_modify ldap
t_wait 10 q_is transport p1@tum.de "OK lmtp:[mytum.example.org]:24" || t_fail "delta not applied"
t_eq "still the first base" "$base1" "$(serial)"
# ... five more push it past 6 records: a new base, no delta.
for i in 2 3 4 5 6; do
    printf 'dn: uid=p%s,ou=tum,%s\nchangetype: modify\nreplace: fwdMailboxLocation\nfwdMailboxLocation: mytum\n\n' "$i" "$SLAPD_SUFFIX"
done | slapd_modify ldap
t_wait 10 q_is transport p6@tum.de "OK lmtp:[mytum.example.org]:24" || t_fail "changes not applied"
t_wait 10 test ! -e "$T/maps/fwdmap.delta.cdb" || t_fail "delta not folded into a new base"
[ "$(serial)" -gt "$base1" ] || t_fail "no new base (serial $(serial))"
for i in 1 2 3 4 5 6; do t_eq "p$i" "OK lmtp:[mytum.example.org]:24" "$(q transport "p$i@tum.de")"; done
t_eq "p7" "OK smtp:[exchange.example.org]:25" "$(q transport p7@tum.de)"
t_match "compacted in the background" "background compaction started: .*background compaction finished in [0-9]+ ms: new base serial" "$(cat "$LSLOG")"
ls "$T/maps" | grep -q 'next' && t_fail "compaction left files behind: $(ls "$T/maps")"
# Changes keep flowing after the switch (deltas over the new base).
printf 'dn: uid=p8,ou=tum,%s\nchangetype: modify\nreplace: fwdMailboxLocation\nfwdMailboxLocation: mytum\n' \
    "$SLAPD_SUFFIX" | slapd_modify ldap
t_wait 10 q_is transport p8@tum.de "OK lmtp:[mytum.example.org]:24" || t_fail "no delta after the switch"
ls_stop
# Restart: the cookie belongs to the new base; no full reload.
printf 'dn: uid=p7,ou=tum,%s\nchangetype: delete\n' "$SLAPD_SUFFIX" | slapd_modify ldap
: > "$LSLOG"
ls_start
t_wait 10 q_is recipients p7@tum.de NOTFOUND || t_fail "restart after compaction: $(cat "$LSLOG")"
t_match "resumed" "resuming from saved cookie" "$(cat "$LSLOG")"
t_eq "p6 kept" "OK lmtp:[mytum.example.org]:24" "$(q transport p6@tum.de)"
t_eq "p8 kept" "OK lmtp:[mytum.example.org]:24" "$(q transport p8@tum.de)"
ls_stop
exit 0

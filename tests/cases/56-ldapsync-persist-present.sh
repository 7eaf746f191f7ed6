#!/bin/bash
# 56-ldapsync-persist-present.sh - continuous mode against a syncprov
# without session log: a restart with a cookie goes through the present
# phase (entries not named present are deleted); the mass-removal guard
# also holds back a batch of deletions arriving in persist mode.
# asan: yes
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
SLAPD_NO_SESSIONLOG=1 slapd_init ldap conf
for i in $(seq 1 30); do person "p$i" "p$i@tum.de" "fwdMailboxLocation: exchange"; done > "$T/people.ldif"
person_in lmu ute ute@lmu.de >> "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap
ls_conf '.safety = {"max_removed": 3, "max_removed_percent": 100} | .ldapsync.batch_delay_ms = 300'
ls_start
t_wait 10 q_is recipients p30@tum.de "OK tum" || t_fail "no first publication: $(cat "$LSLOG")"
ls_stop

# While down: delete two, modify one, add one.
for i in 1 2; do printf 'dn: uid=p%s,ou=tum,%s\nchangetype: delete\n\n' "$i" "$SLAPD_SUFFIX"; done | slapd_modify ldap
printf 'dn: uid=p3,ou=tum,%s\nchangetype: modify\nreplace: fwdMailboxLocation\nfwdMailboxLocation: mytum\n' "$SLAPD_SUFFIX" | slapd_modify ldap
person new new@tum.de "fwdMailboxLocation: exchange" > "$T/new.ldif"
slapd_add ldap "$T/new.ldif"
: > "$LSLOG"
ls_start -v
t_wait 10 q_is recipients new@tum.de "OK tum" || t_fail "restart missed an add: $(cat "$LSLOG")"
t_match "resumed" "resuming from saved cookie" "$(cat "$LSLOG")"
grep -q "refresh done (full)" "$LSLOG" && t_fail "restart did a full reload"
t_match "present phase used" "sync phase end: present" "$(cat "$LSLOG")"
t_match "present phase as a syncIdSet" "sync info: syncIdSet refreshDeletes=FALSE " "$(cat "$LSLOG")"
t_eq "deleted while down" NOTFOUND "$(q recipients p1@tum.de)"
t_eq "deleted while down" NOTFOUND "$(q recipients p2@tum.de)"
t_eq "modified while down" "OK lmtp:[mytum.example.org]:24" "$(q transport p3@tum.de)"
t_eq "untouched" "OK smtp:[exchange.example.org]:25" "$(q transport p4@tum.de)"
t_eq "other tenant untouched" "OK tum" "$(q recipients p30@tum.de)"
t_eq "other tenant untouched" "OK lmu" "$(q recipients ute@lmu.de)"

# Persist mode: six deletions in one batch exceed max_removed 3.
before=$(serial)
# The cookie saved so far (the restart above published; wait until the
# cookie covering that is on disk, so that nothing legitimate is pending).
cookie_of() { jq -c . "$T/maps/ldapsync.cookie" 2>/dev/null; }
cookie_covers() { [ "$(jq -r .base_serial "$T/maps/ldapsync.cookie" 2>/dev/null)" = "$(serial)" ]; }
t_wait 10 cookie_covers || t_fail "no cookie for base serial $(serial): $(cat "$T/maps/ldapsync.cookie")"
sleep 2.5	# past COOKIE_SAVE_MS (ldapsync/daemon.c): a lagging save would be done by now
cookie_before=$(cookie_of)
[ -n "$cookie_before" ] || t_fail "no saved cookie"
for i in 10 11 12 13 14 15; do printf 'dn: uid=p%s,ou=tum,%s\nchangetype: delete\n\n' "$i" "$SLAPD_SUFFIX"; done | slapd_modify ldap
t_wait 10 grep -q "refusing to publish" "$LSLOG" || t_fail "guard did not trip in persist mode"
# One guard for the full and the delta path: the same message as 43's.
t_match "guard message (delta path)" "refusing to publish: 6 of [0-9]+ routes would be removed \(limit [0-9]+: safety.max_removed [0-9]+, max_removed_percent [0-9.]+\); if this is intended, confirm it with --force" \
    "$(grep -m1 'refusing to publish' "$LSLOG")"
sleep 0.5
t_eq "still served" "OK tum" "$(q recipients p10@tum.de)"
t_eq "report says refused" refused "$(rep .result)"
t_eq "serial unchanged" "$before" "$(serial)"
# The refused changes are not covered by the saved cookie: it has not
# moved, not even when ldapsync stops.
t_eq "cookie after the refusal" "$cookie_before" "$(cookie_of)"
ls_stop
t_eq "cookie after stopping" "$cookie_before" "$(cookie_of)"
# So a restart sees the six deletions again and the guard holds again.
: > "$LSLOG"
ls_start -v
t_wait 10 grep -q "refusing to publish: 6 of" "$LSLOG" ||
    t_fail "restart after a refusal did not see the deletions again: $(tail -5 "$LSLOG")"
t_eq "still served after the restart" "OK tum" "$(q recipients p10@tum.de)"
t_eq "cookie after the second refusal" "$cookie_before" "$(cookie_of)"
ls_stop
exit 0

#!/bin/bash
# 51-ldapsync-killed.sh - slapd killed in the middle of a sync: nothing is
# published (--once exits non-zero, the daemon keeps the last generation),
# and both recover once slapd is back.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/cases/40-ldapsync-common.bash"
slapd_init ldap conf
for i in $(seq 1 3000); do person "p$i" "p$i@tum.de" "fwdMailboxLocation: exchange"; done > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap
ls_conf '.ldap.page_size = 1'
ls_once
t_eq "first sync" 0 "$LS_RC"
t_eq "serial" 1 "$(serial)"
before=$(md5sum < "$T/maps/fwdmap.cdb")

# Change something, then kill slapd while a one-entry-per-page sync runs.
printf 'dn: uid=p1,ou=tum,%s\nchangetype: modify\nreplace: fwdMailboxLocation\nfwdMailboxLocation: mytum\n' \
    "$SLAPD_SUFFIX" | slapd_modify ldap
"$LDAPSYNC" -c "$CONF" --once >>"$LSLOG" 2>&1 &
pid=$!
t_track "$pid"
sleep 0.3
kill -0 "$pid" 2>/dev/null || t_skip "the sync finished before slapd could be killed"
slapd_kill ldap
wait "$pid"; rc=$?
[ "$rc" -ne 0 ] || t_fail "--once succeeded although slapd was killed mid-sync"
t_match "clear message" "full sync failed: .*nothing published" "$(tail -2 "$LSLOG")"
t_eq "tables untouched" "$before" "$(md5sum < "$T/maps/fwdmap.cdb")"
t_eq "still serving" "OK smtp:[exchange.example.org]:25" "$(q transport p1@tum.de)"
ls "$T/maps" | grep -q '^\.fwdmap' && t_fail "temporary file left behind"

# The daemon: killed during its initial refresh (fresh state, no cookie).
rm -f "$T/maps/ldapsync.cookie"
slapd_start ldap
ls_start
sleep 0.05
slapd_kill ldap
sleep 1
# Either nothing new was published, or a complete generation (the refresh
# may have finished before the kill): never a partial one.
if [ "$before" != "$(md5sum < "$T/maps/fwdmap.cdb")" ]; then
    t_log "note: the daemon's refresh completed before slapd was killed"
    t_eq "published generation is complete" 3000 \
        "$("$FWDMAP" -d "$T/maps" info | jq '.base.counts.R + 0')"
fi
kill -0 "$LS_PID" 2>/dev/null || t_fail "daemon exited when slapd went away"
slapd_start ldap
t_wait 20 q_is transport p1@tum.de "OK lmtp:[mytum.example.org]:24" ||
    t_fail "daemon did not recover: $(tail -5 "$LSLOG")"
t_eq "all there" "OK tum" "$(q recipients p3000@tum.de)"
ls_stop
exit 0

#!/bin/bash
# 51-ldapsync-killed.sh - slapd killed in the middle of a sync: nothing is
# published (--once exits non-zero, the daemon keeps the last generation),
# and both recover once slapd is back.
#
# "In the middle" is made exact, not timed, with strace fault injection:
# slapd runs under strace, which stops it at its 1000th write(2) (see
# below), for --once and for the daemon; slapd is killed while stopped.
# (--once was stopped at its own 400th read(2) before; since ldapsync
# reads ahead on the refresh, the 3000 entries take a few reads.)
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
command -v strace >/dev/null || t_skip "strace not installed (scripts/install-deps.sh installs it)"

# slapd_traced LOG: restart slapd under strace, which stops it (SIGSTOP)
# at a thread's 1000th write(2); the refresh is one search whose entries
# slapd writes one by one, so 9xx of the 3000 are out, the rest and the
# refreshDone never come.  slapd_stopped LOG waits for that and sets
# SCHILD (the stopped slapd).
mkdir -p "$T/sbin"
ln -sf "${SLAPD_BIN%slapd}slapadd" "${SLAPD_BIN%slapd}slaptest" "$T/sbin/"
printf '#!/bin/sh\nexec strace -f -qq -o "$SLAPD_STRACE_LOG" -e trace=write -e inject=write:signal=SIGSTOP:when=1000 "%s" "$@"\n' \
    "$SLAPD_BIN" > "$T/sbin/slapd"
chmod +x "$T/sbin/slapd"
slapd_traced() {
    export SLAPD_STRACE_LOG=$1
    SLAPD_BIN=$T/sbin/slapd slapd_start ldap
    SPID=${SLAPD_PID[ldap]}
}
slapd_stopped() {
    t_wait 30 grep -q -- '--- stopped by SIGSTOP ---' "$1" ||
        t_fail "slapd was not stopped at its 1000th write: $(tail -3 "$LSLOG")"
    read -r SCHILD _ < "/proc/$SPID/task/$SPID/children"
    t_eq "traced program" slapd "$(cat "/proc/$SCHILD/comm" 2>/dev/null)"
}
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
slapd_stop ldap
slapd_traced "$T/logs/strace-slapd-once.log"
"$LDAPSYNC" -c "$CONF" --once >>"$LSLOG" 2>&1 &
TR_PID=$!
t_track "$TR_PID"
slapd_stopped "$T/logs/strace-slapd-once.log"
t_match "--once: entries sent before the stop" '^(9[0-9][0-9]|1000)$' \
    "$(grep -c 'write(.*uid=p[0-9]*,ou=tum' "$T/logs/strace-slapd-once.log")"
t_eq "not published before the kill" "$before" "$(md5sum < "$T/maps/fwdmap.cdb")"
kill -0 "$TR_PID" 2>/dev/null || t_fail "--once ended before slapd was killed: $(tail -3 "$LSLOG")"
kill -KILL "$SCHILD"
slapd_kill ldap
wait "$TR_PID"; rc=$?
[ "$rc" -ne 0 ] || t_fail "--once succeeded although slapd was killed mid-sync"
t_match "clear message" "full sync failed: .*nothing published" "$(tail -2 "$LSLOG")"
t_eq "tables untouched" "$before" "$(md5sum < "$T/maps/fwdmap.cdb")"
t_eq "still serving" "OK smtp:[exchange.example.org]:25" "$(q transport p1@tum.de)"
ls "$T/maps" | grep -q '^\.fwdmap' && t_fail "temporary file left behind"

# The daemon: killed during its initial refresh (fresh state, no cookie).
# The refresh is one search whose entries slapd writes one by one; all of
# them would fit in the socket buffers, so stopping ldapsync would not cut
# it.  Instead slapd runs under strace, which stops it (SIGSTOP) at a
# thread's 1000th write(2): 9xx of the 3000 entries are out, the rest and
# the refreshDone never come.  Then slapd is killed.
rm -f "$T/maps/ldapsync.cookie"
slapd_traced "$T/logs/strace-slapd.log"
: > "$T/logs/daemon.log"
LSLOG=$T/logs/daemon.log
ls_start -v
slapd_stopped "$T/logs/strace-slapd.log"
# Usually the thread's first few writes answered the bind and 9xx entries
# went out; when another slapd thread answered the bind, all 1000 were
# entries (seen with cases running in parallel).  Either way a part of the
# 3000.
t_match "entries sent before the stop" '^(9[0-9][0-9]|1000)$' \
    "$(grep -c 'write(.*uid=p[0-9]*,ou=tum' "$T/logs/strace-slapd.log")"
kill -KILL "$SCHILD"
slapd_kill ldap
t_wait 10 grep -q 'refresh failed: connection lost' "$LSLOG" ||
    t_fail "daemon did not notice that slapd went away: $(tail -3 "$LSLOG")"
t_match "daemon saw part of the refresh" '^(9[0-9][0-9]|1000)$' "$(grep -c 'sync entry .* state 1' "$LSLOG")"
t_eq "daemon: nothing published" "$before" "$(md5sum < "$T/maps/fwdmap.cdb")"
grep -q 'result=published' "$LSLOG" && t_fail "daemon published a partial refresh: $(grep result= "$LSLOG")"
kill -0 "$LS_PID" 2>/dev/null || t_fail "daemon exited when slapd went away"
slapd_start ldap
t_wait 30 q_is transport p1@tum.de "OK lmtp:[mytum.example.org]:24" ||
    t_fail "daemon did not recover: $(tail -5 "$LSLOG")"
t_eq "all there" "OK tum" "$(q recipients p3000@tum.de)"
t_eq "published generation is complete" 3000 \
    "$("$FWDMAP" -d "$T/maps" info | jq '.base.counts.R + 0')"
ls_stop
exit 0

#!/bin/bash
# 45-ldapsync-lock.sh - one publisher per maps_dir: while an ldapsync
# daemon runs, a second daemon and --once refuse to start ("another
# ldapsync is publishing to DIR (pid N)", exit 1) and publish nothing;
# --dry-run needs no lock; the lock goes with the process however it
# ends (a SIGKILL leaves the file, not the lock).
# asan: yes
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
slapd_init ldap conf
person jane jane@tum.de "fwdMailboxLocation: exchange" > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap
ls_conf
EX="OK smtp:[exchange.example.org]:25"
ls_start
t_wait 10 q_is transport jane@tum.de "$EX" || t_fail "no base: $(cat "$LSLOG")"
A=$LS_PID
t_eq "lock file names the holder" "$A" "$(cat "$T/maps/ldapsync.lock")"
s1=$(serial)
msg="another ldapsync is publishing to $T/maps (pid $A)"

# --once while the daemon runs: refused, nothing published.
"$LDAPSYNC" -c "$CONF" --once > "$T/once.out" 2>&1
t_eq "--once exit status" 1 "$?"
grep -qF "$msg" "$T/once.out" || t_fail "--once: no clear message: $(cat "$T/once.out")"
t_eq "nothing published" "$s1" "$(serial)"
# A second daemon: refused at once; the first keeps running.
timeout 10 "$LDAPSYNC" -c "$CONF" > "$T/second.out" 2>&1
t_eq "second daemon exit status" 1 "$?"
grep -qF "$msg" "$T/second.out" || t_fail "second daemon: no clear message: $(cat "$T/second.out")"
kill -0 "$A" 2>/dev/null || t_fail "the first daemon died"
t_eq "still the holder" "$A" "$(cat "$T/maps/ldapsync.lock")"
# --dry-run publishes nothing and takes no lock.
"$LDAPSYNC" -c "$CONF" --dry-run > "$T/dry.out" 2>&1
t_eq "--dry-run exit status" 0 "$?"
grep -q "another ldapsync" "$T/dry.out" && t_fail "--dry-run wanted the lock"
# The daemon still works.
printf 'dn: uid=jane,ou=tum,%s\nchangetype: modify\nreplace: fwdMailboxLocation\nfwdMailboxLocation: mytum\n' \
    "$SLAPD_SUFFIX" | slapd_modify ldap
t_wait 10 q_is transport jane@tum.de "OK lmtp:[mytum.example.org]:24" || t_fail "daemon stopped publishing"

# SIGKILL: the lock is gone with the process; the next one takes it.
kill -KILL "$A"
wait "$A" 2>/dev/null
LS_PID=
"$LDAPSYNC" -c "$CONF" --once > "$T/once2.out" 2>&1
t_eq "--once after the daemon died" 0 "$?"
grep -q "another ldapsync" "$T/once2.out" && t_fail "stale lock: $(cat "$T/once2.out")"
: > "$LSLOG"
ls_start
t_wait 10 grep -q "refresh done" "$LSLOG" || t_fail "restart: $(cat "$LSLOG")"
t_eq "restarted daemon holds the lock" "$LS_PID" "$(cat "$T/maps/ldapsync.lock")"
ls_stop
exit 0

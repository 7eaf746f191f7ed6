#!/bin/bash
# 48-ldapsync-compact-crash.sh - ldapsync killed in the middle of a
# background compaction: the compaction child dies with it
# (PR_SET_PDEATHSIG), the restart removes (and logs) the temporary files
# the crash left behind, and nothing else, resumes from the cookie and
# publishes the right tables; a compaction also clears such leftovers
# when it starts.  A preloaded shim stops (SIGSTOP) whoever calls
# sync_file_range: only the compaction child does on a state this small
# (its last write-back, after writing the new base under its temporary
# name), so the kill lands mid-compaction every time.
# asan: yes
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
command -v ps >/dev/null || t_skip "ps not installed"
cat > "$T/stop.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>

int
sync_file_range(int fd, off_t off, off_t n, unsigned int flags)
{
    int     (*real)(int, off_t, off_t, unsigned int) =
	(int (*)(int, off_t, off_t, unsigned int)) dlsym(RTLD_NEXT, "sync_file_range");

    raise(SIGSTOP);
    return real(fd, off, n, flags);
}
C
cc -shared -fPIC -o "$T/stop.so" "$T/stop.c" -ldl || t_fail "cannot build the shim"
EX="OK smtp:[exchange.example.org]:25" MY="OK lmtp:[mytum.example.org]:24"
slapd_init ldap conf
for i in $(seq 1 12); do person "p$i" "p$i@tum.de" "fwdMailboxLocation: exchange"; done > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap
ls_conf '.ldapsync.compact_records = 6 | .ldapsync.batch_delay_ms = 50'
to_mytum() {	# to_mytum N...: one batch of location changes
    local i
    for i in "$@"; do
        printf 'dn: uid=p%s,ou=tum,%s\nchangetype: modify\nreplace: fwdMailboxLocation\nfwdMailboxLocation: mytum\n\n' \
            "$i" "$SLAPD_SUFFIX"
    done | slapd_modify ldap
}
children() { ps -o pid= --ppid "$1" | tr -d ' '; }
gone() { [ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

# 1. ldapsync with the shim (ASan wants to come first; it need not here).
LD_PRELOAD=$T/stop.so ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 \
    "$LDAPSYNC" -c "$CONF" >>"$LSLOG" 2>&1 &
LSP=$!
t_track "$LSP"
t_wait 10 q_is transport p1@tum.de "$EX" || t_fail "no base: $(cat "$LSLOG")"
to_mytum 1 2 3 4 5
t_wait 10 grep -q "background compaction started" "$LSLOG" || t_fail "no compaction: $(cat "$LSLOG")"
t_wait 10 q_is transport p5@tum.de "$MY" || t_fail "the delta beside the compaction not published"
t_wait 5 test -n "$(children "$LSP")" || t_fail "no compaction child of $LSP"
CH=$(children "$LSP")
t_match "one child, the logged one" "background compaction started: pid $CH," "$(cat "$LSLOG")"
t_track "$CH"
# The child stops after writing its base, before renaming it.
t_wait 5 test "$(awk '{print $3}' "/proc/$CH/stat" 2>/dev/null)" = T ||
    t_fail "compaction child $CH not stopped: $(cat "/proc/$CH/stat")"
ls -a "$T/maps" | grep -Eq '^\.\.fwdmap\.next\.cdb\.[A-Za-z0-9]{6}$' ||
    t_fail "no half-written base: $(ls -a "$T/maps")"

# 2. Kill ldapsync: the child must die with it.
kill -KILL "$LSP"
t_wait 3 gone "$CH" || t_fail "compaction child $CH outlived its parent ($(cat /proc/$CH/stat 2>/dev/null))"
grep -q "compaction finished" "$LSLOG" && t_fail "the compaction was not interrupted"
stale=$(ls -a "$T/maps" | grep -E '^(\.\.fwdmap\.next\.cdb\.[A-Za-z0-9]{6}|ldapsync\.journal\.next)$' | sort)
[ -n "$stale" ] || t_fail "nothing left behind to clean up: $(ls -a "$T/maps")"
# What a crashed publish or cookie save leaves, and files that are not ours.
for f in .fwdmap.delta.cdb.Ab12Cd .fwdmap.cdb.Q9w8E7 ldapsync.cookie.tmp; do echo x > "$T/maps/$f"; done
true & dead=$!; wait $dead	# a pid that is surely gone
echo x > "$T/maps/ldapsync-report.json.tmp.$dead"
keep=".fwdmap.cdb.bak .fwdmap.delta.cdb.Ab12Cd7 fwdmap.cdb.orig .fwdmap.next.cdb.old notes.txt ldapsync.state.next.orig ldapsync-report.json.tmp.$$ ldapsync-report.json.tmp.x1"
for f in $keep; do echo keep > "$T/maps/$f"; done
to_mytum 6		# while ldapsync is down
# Mark the leftovers: a compaction right after the restart may write a new
# file under the same name (ldapsync.journal.next), which is no leftover.
for f in $stale; do echo fwdmap-test-stale-marker >> "$T/maps/$f"; done

# 3. Restart: leftovers removed and logged, resumed from the cookie.
: > "$LSLOG"
ls_start
t_wait 10 q_is transport p6@tum.de "$MY" || t_fail "restart: $(cat "$LSLOG")"
t_match "resumed" "resuming from saved cookie" "$(cat "$LSLOG")"
grep -q "refresh done (full)" "$LSLOG" && t_fail "restart did a full reload"
for f in $stale .fwdmap.delta.cdb.Ab12Cd .fwdmap.cdb.Q9w8E7 ldapsync.cookie.tmp ldapsync-report.json.tmp.$dead; do
    case " $(echo $stale) " in
    *" $f "*) grep -aq fwdmap-test-stale-marker "$T/maps/$f" 2>/dev/null && t_fail "stale $f not removed" ;;
    *) [ -e "$T/maps/$f" ] && t_fail "stale $f not removed" ;;
    esac
    grep -qF "removed stale temporary file $T/maps/$f" "$LSLOG" || t_fail "removal of $f not logged: $(cat "$LSLOG")"
done
for f in $keep; do [ -e "$T/maps/$f" ] || t_fail "$f is not ours but was removed"; done
for i in 1 2 3 4 5 6; do t_eq "p$i" "$MY" "$(q transport "p$i@tum.de")"; done
for i in 7 8 12; do t_eq "p$i" "$EX" "$(q transport "p$i@tum.de")"; done

# 4. A compaction starting clears a leftover of an earlier one.
# (The resume above may itself have compacted: wait for a compaction that
# finished after this point, not for any.)
echo x > "$T/maps/..fwdmap.next.cdb.Zz9Zz9"
base=$(serial)
ncomp() { grep -c "background compaction finished in [0-9]* ms: new base serial" "$LSLOG"; }
before=$(ncomp)
to_mytum 7 8 9 10 11
t_wait 10 eval '[ "$(ncomp)" -gt "$before" ]' ||
    t_fail "compaction did not finish: $(cat "$LSLOG")"
[ -e "$T/maps/..fwdmap.next.cdb.Zz9Zz9" ] && t_fail "leftover not removed at compaction start"
grep -qF "removed stale temporary file $T/maps/..fwdmap.next.cdb.Zz9Zz9" "$LSLOG" ||
    t_fail "removal at compaction start not logged: $(cat "$LSLOG")"
t_wait 5 test "$(serial)" -gt "$base" || t_fail "no new base (serial $(serial), was $base)"
for i in 7 8 9 10 11; do t_eq "p$i" "$MY" "$(q transport "p$i@tum.de")"; done
t_eq "p12" "$EX" "$(q transport p12@tum.de)"
ls -a "$T/maps" | grep -q 'next\.cdb\.[A-Za-z0-9]\{6\}$' && t_fail "compaction left files behind: $(ls -a "$T/maps")"
ls_stop
exit 0

#!/usr/bin/env bash
# make install honours PREFIX and DESTDIR: programs, man pages, schema and
# systemd units land under DESTDIR/PREFIX, nothing outside it.  It builds
# the programs only (no unit tests, no benchmarks), a file it cannot
# install fails it, and make uninstall takes away every file it put there.
source "$TOP/tests/lib/common.sh"
root="$T/root"
make -s -C "$TOP" install B="$(basename "$FWDMAP_BUILD")" DESTDIR="$root" PREFIX=/opt/fwdmap \
    > "$T/logs/install.log" 2>&1 || { cat "$T/logs/install.log"; t_fail "make install"; }
for f in sbin/fwdmapd sbin/ldapsync bin/fwdmap share/man/man8/fwdmapd.8 \
         share/man/man8/ldapsync.8 share/man/man5/fwdmap.json.5 share/man/man1/fwdmap.1 \
         share/fwdmap/schema/fwdmap.schema share/fwdmap/schema/fwdmap.ldif; do
    [ -e "$root/opt/fwdmap/$f" ] || t_fail "missing $f after install"
done
[ -x "$root/opt/fwdmap/sbin/fwdmapd" ] || t_fail "fwdmapd not executable"
# The shipped systemd units point at the installed programs.
for u in fwdmapd ldapsync; do
    f="$root/opt/fwdmap/share/fwdmap/systemd/$u.service"
    [ -f "$f" ] || t_fail "missing systemd unit $u.service"
    grep -q "^ExecStart=/opt/fwdmap/sbin/$u " "$f" || t_fail "$u.service: ExecStart does not follow PREFIX: $(grep ExecStart= "$f")"
    grep -v "^#" "$f" | grep -q "/usr/local" && t_fail "$u.service still names /usr/local"
done
t_eq "nothing outside PREFIX" "opt" "$(ls "$root")"
# The installed man pages are well-formed roff.
for m in "$root"/opt/fwdmap/share/man/man*/*; do
    out=$(LC_ALL=C MANWIDTH=80 man --warnings -l "$m" 2>&1 >/dev/null | grep -v '^$' || true)
    [ -z "$out" ] || t_fail "man page $(basename "$m"): $out"
done
"$root/opt/fwdmap/bin/fwdmap" -h 2>&1 | grep -q 'explain' || t_fail "installed fwdmap does not run"

# Into an empty build directory, install would build the three programs
# and nothing else (make -n: what it would run).
make -n -C "$TOP" install B="$T/fresh-build" DESTDIR="$T/dry" PREFIX=/opt/fwdmap \
    > "$T/logs/install-n.log" 2>&1 || { cat "$T/logs/install-n.log"; t_fail "make -n install"; }
grep -q -- "-o $T/fresh-build/fwdmapd " "$T/logs/install-n.log" ||
    t_fail "make -n install does not build fwdmapd: $(head -5 "$T/logs/install-n.log")"
grep -E "tests/unit|/tests/t_|bench/" "$T/logs/install-n.log" &&
    t_fail "make install builds tests or benchmarks"

# A file that cannot be installed fails the install (a directory where a
# man page goes), instead of being skipped.
bad="$T/bad"
mkdir -p "$bad/opt/fwdmap/share/man/man5/fwdmap.json.5"
if make -s -C "$TOP" install B="$(basename "$FWDMAP_BUILD")" DESTDIR="$bad" PREFIX=/opt/fwdmap \
    > "$T/logs/install-bad.log" 2>&1; then
    t_fail "make install succeeded although a man page could not be installed"
fi
grep -q "fwdmap.json.5" "$T/logs/install-bad.log" ||
    t_fail "the failed install does not name the file: $(cat "$T/logs/install-bad.log")"

# make uninstall leaves no file behind, and no DATADIR.
n=$(find "$root" -type f | wc -l)
[ "$n" -ge 15 ] || t_fail "only $n files installed"
make -s -C "$TOP" uninstall DESTDIR="$root" PREFIX=/opt/fwdmap > "$T/logs/uninstall.log" 2>&1 ||
    { cat "$T/logs/uninstall.log"; t_fail "make uninstall"; }
t_eq "files left after uninstall" "" "$(find "$root" ! -type d)"
[ ! -e "$root/opt/fwdmap/share/fwdmap" ] || t_fail "uninstall left $(find "$root/opt/fwdmap/share/fwdmap")"
# A second uninstall finds nothing to do and does not fail.
make -s -C "$TOP" uninstall DESTDIR="$root" PREFIX=/opt/fwdmap > "$T/logs/uninstall2.log" 2>&1 ||
    { cat "$T/logs/uninstall2.log"; t_fail "make uninstall, twice"; }
exit 0

#!/usr/bin/env bash
# make install honours PREFIX and DESTDIR: programs, man pages, schema and
# systemd units land under DESTDIR/PREFIX, nothing outside it.
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
exit 0

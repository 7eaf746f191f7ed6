#!/usr/bin/env bash
# bench/soak.sh - long run of the whole pipeline under steady load, to find
# leaks, drift and rare failures that short tests miss.  `make soak`.
#
# A throwaway slapd with N people (default 20,000), ldapsync in continuous
# mode (refreshAndPersist), fwdmapd, and for SECS seconds (default 600):
#   - loadgen sending RATE lookups/s (default 2,000) over 200 connections,
#     mixed hits and misses, every reply checked;
#   - a change loop modifying CHANGES entries/s (default 10) in the
#     directory (mailbox moves between stores, forwards added/removed).
# Every 30 s it samples fwdmapd's and ldapsync's private memory (RssAnon)
# and fwdmapd's stats.
# It passes when: loadgen got no TEMP/PERM/malformed reply, both daemons
# are still running, neither grew its RSS by more than 20 % after the
# first sample, and at the end the published tables equal those of a
# fresh full sync (ldapsync --once into another directory; fwdmap dump).
#
#   SECS=120 N=5000 bench/soak.sh
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 2
N=${N:-20000}
SECS=${SECS:-600}
RATE=${RATE:-2000}
CHANGES=${CHANGES:-10}
export TOP FWDMAP_BUILD=${FWDMAP_BUILD:-$TOP/build}
export TEST_TMP=${TEST_TMP:-$(mktemp -d /tmp/fwdmap-soak.XXXXXX)}
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/slapd.sh"
fail=0
bad() { echo "SOAK FAILURE: $*"; fail=1; }

echo "soak: $N people, $SECS s, $RATE lookups/s, $CHANGES changes/s; logs in $T"
python3 "$TOP/bench/gen-people.py" "$N" > "$T/people.ldif"
slapd_init ldap conf
slapd_load ldap "$T/people.ldif"
slapd_start ldap
PW=$(slapd_pwfile ldap)
mkdir -p "$T/maps"
cat > "$T/fwdmap.json" <<JSON
{ "maps_dir": "$T/maps",
  "ldap": { "uris": ["$(slapd_uri ldap)"], "bind_dn": "$SLAPD_SYNCDN", "bind_password_file": "$PW" },
  "stores": { "exchange": "smtp:[exchange.example.org]:25", "mytum": "lmtp:[mytum.example.org]:24" },
  "tenants": { "tum": { "base": "ou=tum,$SLAPD_SUFFIX", "domains": ["tum.de", "mytum.de"] } },
  "ldapsync": { "state_dir": "$T/maps" },
  "fwdmapd": { "listen": "unix:$T/fwdmapd.sock", "control": "$T/fwdmapd.ctl" } }
JSON

"$(t_bin ldapsync)" -c "$T/fwdmap.json" > "$T/logs/ldapsync.log" 2>&1 &
LS=$!; t_track $LS
t_wait 300 test -s "$T/maps/fwdmap.cdb" || { tail "$T/logs/ldapsync.log"; t_fail "no first generation"; }
"$(t_bin fwdmapd)" -c "$T/fwdmap.json" -f > "$T/logs/fwdmapd.log" 2>&1 &
FD=$!; t_track $FD
t_wait 30 test -S "$T/fwdmapd.sock" || t_fail "fwdmapd did not start"

# Keys: a quarter each of hits, +extension/mixed-case transports, aliases,
# misses.
awk -v n="$N" 'BEGIN { srand(7); for (i = 0; i < 20000; i++) { u = sprintf("u%07d", int(rand() * n));
    k = i % 4; if (k == 0) print "recipients " u "@tum.de"; else if (k == 1) print "transport " toupper(u) "+soak@tum.de";
    else if (k == 2) print "virtual " u "@mytum.de"; else print "recipients nobody" i "@tum.de" } }' > "$T/keys"
"$FWDMAP_BUILD/bench/loadgen" -s "unix:$T/fwdmapd.sock" -c 200 -r "$RATE" -n $((RATE * SECS)) \
    -k "$T/keys" > "$T/logs/loadgen.log" 2>&1 &
LG=$!; t_track $LG

# The change loop: move people between stores, add and drop forwards.
(
    end=$(( $(date +%s) + SECS )); i=0
    while [ "$(date +%s)" -lt "$end" ]; do
        : > "$T/batch.ldif"
        for _ in $(seq "$CHANGES"); do
                # Moving an external person to a store is valid too
                # (fwdMailHost is then ignored).
                u=$(printf 'u%07d' $(( (i * 7919) % N ))); i=$((i + 1))
                case $((i % 3)) in
                0) printf 'dn: uid=%s,ou=tum,%s\nchangetype: modify\nreplace: fwdMailboxLocation\nfwdMailboxLocation: exchange\n\n' "$u" "$SLAPD_SUFFIX" ;;
                1) printf 'dn: uid=%s,ou=tum,%s\nchangetype: modify\nreplace: fwdMailboxLocation\nfwdMailboxLocation: mytum\n\n' "$u" "$SLAPD_SUFFIX" ;;
                2) printf 'dn: uid=%s,ou=tum,%s\nchangetype: modify\nreplace: fwdForwardAddress\nfwdForwardAddress: soak%d@elsewhere.example.net\n\n' "$u" "$SLAPD_SUFFIX" "$i" ;;
                esac
        done >> "$T/batch.ldif"
        ldapmodify -c -f "$T/batch.ldif" -x -H "$(slapd_uri ldap)" -D "$SLAPD_ROOTDN" -w "$SLAPD_ROOTPW" >/dev/null 2>>"$T/logs/changes.log"
        sleep 1
    done
) &
CH=$!; t_track $CH

# Private (anonymous) memory: what a leak grows.  File-backed pages of the
# mapped tables come and go with the page cache and are not counted.
rss() { awk '/^RssAnon:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
first_fd="" first_ls="" t0=$(date +%s)
printf '%6s %10s %10s %12s %10s   %s\n' "t(s)" "fwdmapd" "ldapsync" "lookups" "serial" "(private memory: RssAnon)"
while kill -0 $LG 2>/dev/null; do
    sleep 30
    kill -0 $FD 2>/dev/null || { bad "fwdmapd died"; break; }
    kill -0 $LS 2>/dev/null || { bad "ldapsync died"; break; }
    f=$(rss $FD) l=$(rss $LS)
    stats=$("$(t_bin fwdmapd)" -c "$T/fwdmap.json" -S 2>/dev/null)
    lookups=$(printf '%s' "$stats" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(m.get("lookups",0) for m in d.get("maps",{}).values()))' 2>/dev/null)
    serial=$(printf '%s' "$stats" | python3 -c 'import json,sys; d=json.load(sys.stdin); g=d.get("generation",{}); print(g.get("serial","?"), (g.get("delta") or {}).get("serial",""))' 2>/dev/null)
    printf '%6d %8s kB %8s kB %12s %10s\n' $(( $(date +%s) - t0 )) "$f" "$l" "${lookups:-?}" "${serial:-?}"
    # The first sample after warm-up is the reference.
    if [ -z "$first_fd" ]; then first_fd=$f first_ls=$l; continue; fi
    [ "$f" -le $(( first_fd * 12 / 10 + 1024 )) ] || bad "fwdmapd RSS grew from $first_fd kB to $f kB"
    [ "$l" -le $(( first_ls * 12 / 10 + 4096 )) ] || bad "ldapsync RSS grew from $first_ls kB to $l kB"
done
wait $LG; lgrc=$?
cat "$T/logs/loadgen.log"
[ $lgrc = 0 ] || bad "loadgen saw malformed replies (exit $lgrc)"
grep -Eq 'TEMP[^0-9]*[1-9]|PERM[^0-9]*[1-9]' "$T/logs/loadgen.log" && bad "TEMP or PERM answers during the soak"
wait $CH 2>/dev/null

# Let the last changes land, then compare with a fresh full sync.
sleep 3
mkdir -p "$T/fresh"
sed "s|\"maps_dir\": \"$T/maps\"|\"maps_dir\": \"$T/fresh\"|; s|\"state_dir\": \"$T/maps\"|\"state_dir\": \"$T/fresh\"|" \
    "$T/fwdmap.json" > "$T/fresh.json"
"$(t_bin ldapsync)" -c "$T/fresh.json" --once > "$T/logs/fresh.log" 2>&1 || bad "fresh full sync failed"
"$(t_bin fwdmap)" -d "$T/maps" -D + dump | grep -v '^P ' | sort > "$T/published.txt"
"$(t_bin fwdmap)" -d "$T/fresh" -D + dump | grep -v '^P ' | sort > "$T/fresh.txt"
if ! diff -q "$T/published.txt" "$T/fresh.txt" >/dev/null; then
    bad "published tables differ from a fresh full sync in $(diff "$T/published.txt" "$T/fresh.txt" | grep -c '^[<>]') records (diff $T/published.txt $T/fresh.txt)"
fi
grep -E 'warning|error|fatal' "$T/logs/fwdmapd.log" | head -5
[ $fail = 0 ] && echo "soak: PASS" || echo "soak: FAIL (logs kept in $T)"
[ $fail = 0 ] && [ "${SOAK_KEEP:-0}" != 1 ] && rm -rf "$T"
exit $fail

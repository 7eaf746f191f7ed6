#!/usr/bin/env bash
# bench/groups-ldap.sh - expanding one big group: fwdmapd (compiled by
# ldapsync) against Postfix's own ldap: table, in one run (issue 10, item 6).
#
# One throwaway slapd holds P people (bench/gen-people.py: the realistic
# mix of stores, aliases and forwards) and one groupOfNames group
# big@tum.de whose `member` values are G of them (default 10,000 of
# 20,000).  `ldapsync --once` publishes; fwdmapd serves the tables.  Then,
# each through `postmap -q -` (one postmap process reading many keys, as a
# Postfix cleanup process keeps its table open):
#
#  fwdmapd   socketmap:unix:...:virtual.  The group's answer holds its
#            members, or, for a group this big (over 64,000 bytes), the
#            addresses of internal sub-lists, which Postfix then looks up
#            in turn; one "expansion" here is the group lookup plus the
#            lookups of every sub-list it names (at every level), so that
#            the full member list is obtained, as cleanup(8) would.
#  nullmap   the same requests to bench/nullmap (answers NOTFOUND at once):
#            the floor of any socketmap server with this client.
#  ldap      ldap:group.cf with query_filter = (mail=%s),
#            special_result_attribute = member, leaf_result_attribute =
#            mail, result_attribute empty (ldap_table(5)): one lookup, in
#            which Postfix's LDAP client reads each member DN with a search
#            of its own.
#
# Both must give the same set of G addresses (checked first; the bench
# fails loudly otherwise).  Wall time per expansion and server CPU per
# expansion (fwdmapd, nullmap or slapd: the sum over the server's threads
# of /proc/PID/task/TID/schedstat), and postmap's own CPU time, are
# reported, with the ratios ldap/fwdmapd and fwdmapd/nullmap.
#
# Postfix then looks up every member address once more (cleanup expands
# recursively until an address maps to itself or to nothing): with ldap:
# one LDAP search per member, with fwdmapd one table lookup.  That second
# part is measured too ("members' own lookups"), G keys through each.
#
#   bench/groups-ldap.sh                       (run by `make bench`)
#   G=10000 P=20000 REPS=100 LREPS=10 bench/groups-ldap.sh
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 2
G=${G:-10000}
P=${P:-20000}
REPS=${REPS:-100}		# expansions through fwdmapd and nullmap
LREPS=${LREPS:-10}		# expansions through ldap: (each ~G searches)
export TOP FWDMAP_BUILD=${FWDMAP_BUILD:-$TOP/build}
export TEST_TMP=${TEST_TMP:-$(mktemp -d /tmp/fwdmap-bench-groups.XXXXXX)}
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/slapd.sh"
LDAPSYNC=$(t_bin ldapsync)
FWDMAPD=$(t_bin fwdmapd)
NULLMAP=$FWDMAP_BUILD/bench/nullmap
for b in "$LDAPSYNC" "$FWDMAPD" "$NULLMAP"; do
    [ -x "$b" ] || { echo "bench: $b not built (make)" >&2; exit 2; }
done
command -v postmap >/dev/null || { echo "bench: postmap not found (postfix)" >&2; exit 2; }
[ "$G" -le "$P" ] || { echo "bench: G ($G) must not exceed P ($P)" >&2; exit 2; }
t_on_exit 'rm -rf "$TEST_TMP"'
mkdir -p "$T/maps" "$T/pf"
: > "$T/pf/main.cf"
postconf -c "$T/pf" -m 2>/dev/null | grep -qx ldap ||
    { echo "bench: Postfix has no ldap: table (install postfix-ldap)" >&2; exit 2; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# CPU time of every thread of PID, in ns (threads that ended are not
# counted: slapd keeps its pool threads, fwdmapd and nullmap have one).
cpu_ns() {
    local f s=0 v
    for f in /proc/"$1"/task/*/schedstat; do
        read -r v _ < "$f" 2>/dev/null && s=$((s + v))
    done
    echo "$s"
}
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), load $(load)"
echo "people: $P, group big@tum.de: $G members; expansions: $REPS through fwdmapd and nullmap, $LREPS through ldap:"

S=$SLAPD_SUFFIX
{
    python3 "$TOP/bench/gen-people.py" "$P" "$S" 0
    printf 'dn: cn=big,ou=tum,%s\nobjectClass: groupOfNames\nobjectClass: fwdMailRecipient\n' "$S"
    printf 'objectClass: fwdMailGroup\ncn: big\nmail: big@tum.de\nfwdGroupSenderPolicy: anyone\n'
    # Every (P/G)-th person, so that members are spread over the people.
    awk -v G="$G" -v P="$P" -v S="$S" 'BEGIN {
        for (k = 0; k < G; k++) printf "member: uid=u%07d,ou=tum,%s\n", int(k * P / G), S }'
    printf '\n'
} > "$T/people.ldif"
slapd_init ldap conf
slapd_load ldap "$T/people.ldif"
slapd_start ldap
URI=$(slapd_uri ldap)
PW=$(slapd_pwfile ldap)
SLAPD=${SLAPD_PID[ldap]}

SOCK=$T/fwdmapd.sock
NSOCK=$T/nullmap.sock
cat > "$T/fwdmap.json" <<JSON
{ "maps_dir": "$T/maps",
  "ldap": { "uris": ["$URI"], "bind_dn": "$SLAPD_SYNCDN", "bind_password_file": "$PW",
            "timeout": 600, "page_size": 1000 },
  "stores": { "exchange": "smtp:[exchange.example.org]:25", "mytum": "lmtp:[mytum.example.org]:24" },
  "tenants": { "tum": { "base": "ou=tum,$S", "domains": ["tum.de", "mytum.de"] } },
  "fwdmapd": { "listen": "unix:$SOCK", "control": "$T/ctl.sock" } }
JSON
"$LDAPSYNC" -c "$T/fwdmap.json" --once > "$T/logs/ldapsync.log" 2>&1 ||
    { tail -5 "$T/logs/ldapsync.log"; fail "ldapsync --once"; }
echo "ldapsync --once: $(grep -o 'full sync:.*' "$T/logs/ldapsync.log")"
"$FWDMAPD" -c "$T/fwdmap.json" -f >> "$T/logs/fwdmapd.log" 2>&1 &
FWPID=$!
t_track "$FWPID"
"$NULLMAP" -s "unix:$NSOCK" 2>> "$T/logs/nullmap.log" &
NMPID=$!
t_track "$NMPID"
t_wait 20 test -S "$SOCK" || { tail "$T/logs/fwdmapd.log"; fail "fwdmapd did not start"; }
t_wait 20 test -S "$NSOCK" || fail "nullmap did not start"

cat > "$T/pf/group.cf" <<CF
server_host = $URI
version = 3
bind = yes
bind_dn = $SLAPD_SYNCDN
bind_pw = $SLAPD_SYNCPW
search_base = ou=tum,$S
query_filter = (mail=%s)
result_attribute =
special_result_attribute = member
leaf_result_attribute = mail
CF
FWMAP=socketmap:unix:$SOCK:virtual
NMMAP=socketmap:unix:$NSOCK:virtual
LDMAP=ldap:$T/pf/group.cf
pm() { postmap -c "$T/pf" -q - "$1"; }

# --- The same set of addresses from both ---------------------------------
# fwdmapd: follow sub-list addresses level by level; every key looked up
# goes into expansion.keys (the requests of one expansion).
echo big@tum.de > "$T/level"
: > "$T/expansion.keys"; : > "$T/fw.members"
lv=0
while [ -s "$T/level" ]; do
    cat "$T/level" >> "$T/expansion.keys"
    pm "$FWMAP" < "$T/level" > "$T/answer" 2> "$T/pm.err" || { cat "$T/pm.err"; fail "postmap $FWMAP"; }
    [ "$(wc -l < "$T/answer")" = "$(wc -l < "$T/level")" ] || fail "fwdmapd: not every key of level $lv found"
    cut -f2 "$T/answer" | tr ',' '\n' | sed 's/^ *//' > "$T/values"
    grep -v '@fwdmap-sublist\.invalid$' "$T/values" >> "$T/fw.members"
    grep '@fwdmap-sublist\.invalid$' "$T/values" > "$T/level"
    echo "fwdmapd level $lv: $(wc -l < "$T/answer") lookups answered with $(grep -vc '@fwdmap-sublist\.invalid$' "$T/values") member and $(wc -l < "$T/level") sub-list addresses (largest answer $(cut -f2 "$T/answer" | awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }') bytes)"
    lv=$((lv + 1))
    [ "$lv" -le 10 ] || fail "fwdmapd: sub-lists nested more than 10 levels"
done
NKEYS=$(wc -l < "$T/expansion.keys")
echo "big@tum.de" | pm "$LDMAP" > "$T/answer" 2> "$T/pm.err" || { cat "$T/pm.err"; fail "postmap $LDMAP"; }
[ -s "$T/pm.err" ] && { cat "$T/pm.err"; fail "postmap $LDMAP warned"; }
cut -f2 "$T/answer" | tr ',' '\n' | sed 's/^ *//' > "$T/ld.members"
sort -u "$T/fw.members" > "$T/fw.set"; sort -u "$T/ld.members" > "$T/ld.set"
# The expected members: the mail of every person the group names.
awk -v G="$G" -v P="$P" 'BEGIN { for (k = 0; k < G; k++) printf "u%07d@tum.de\n", int(k * P / G) }' |
    sort > "$T/want.set"
echo "one expansion: fwdmapd $NKEYS lookups, $(wc -l < "$T/fw.members") addresses ($(wc -l < "$T/fw.set") distinct); ldap: 1 lookup, $(wc -l < "$T/ld.members") addresses ($(wc -l < "$T/ld.set") distinct)"
cmp -s "$T/fw.set" "$T/want.set" ||
    { diff "$T/want.set" "$T/fw.set" | head -5; fail "fwdmapd's expansion of big@tum.de is not the $G members"; }
cmp -s "$T/ld.set" "$T/want.set" ||
    { diff "$T/want.set" "$T/ld.set" | head -5; fail "ldap:'s expansion of big@tum.de is not the $G members"; }
[ "$(wc -l < "$T/fw.members")" = "$G" ] || fail "fwdmapd answered some member twice"
echo "same set: both give exactly the $G member addresses"

# --- Timed runs -----------------------------------------------------------
# run NAME MAP KEYFILE SERVERPID: one postmap -q - over KEYFILE; prints
# "NAME wall_ns server_cpu_ns postmap_cpu_s answers".
run() {
    local c0 c1 s e
    c0=$(cpu_ns "$4")
    s=$(date +%s%N)
    # postmap exits 1 when no key was found (always so for nullmap): an
    # error is what it prints on stderr.
    /usr/bin/time -f '%U %S' -o "$T/time" postmap -c "$T/pf" -q - "$2" < "$3" > "$T/out" 2> "$T/pm.err"
    [ -s "$T/pm.err" ] && { cat "$T/pm.err"; fail "postmap $2"; }
    e=$(date +%s%N)
    c1=$(cpu_ns "$4")
    echo "$1 $((e - s)) $((c1 - c0)) $(tail -1 "$T/time" | awk '{ print $1 + $2 }') $(wc -l < "$T/out")"
}
for ((i = 0; i < REPS; i++)); do cat "$T/expansion.keys"; done > "$T/fw.keys"
for ((i = 0; i < LREPS; i++)); do echo big@tum.de; done > "$T/ld.keys"
# Warm-up of each (caches of slapd and the page cache), then two rounds in
# alternating order.
run fwdmapd "$FWMAP" "$T/expansion.keys" "$FWPID" > /dev/null
run nullmap "$NMMAP" "$T/expansion.keys" "$NMPID" > /dev/null
run ldap "$LDMAP" <(echo big@tum.de) "$SLAPD" > /dev/null
report() {	# stdin: run lines; $1: expansions per fwdmapd/nullmap run, $2: per ldap run
    awk -v R="$1" -v L="$2" -v ld="$(load)" '
        { n = ($1 == "ldap") ? L : R
          w[$1] = $2 / n / 1e6; c[$1] = $3 / n / 1e6; u[$1] = $4 * 1000 / n
          printf "    %-8s %4d runs: %9.2f ms wall, server CPU %8.2f ms, postmap CPU %8.2f ms per expansion\n",
              $1, n, w[$1], c[$1], u[$1] }
        END { printf "    ldap/fwdmapd: wall %.1fx, server CPU %.1fx; fwdmapd/nullmap: wall %.2fx, server CPU %.2fx; load %s\n",
                  w["ldap"] / w["fwdmapd"], c["ldap"] / c["fwdmapd"],
                  w["fwdmapd"] / w["nullmap"], c["fwdmapd"] / (c["nullmap"] ? c["nullmap"] : 1), ld }'
}
echo
echo "== expanding big@tum.de ($G members): per expansion (fwdmapd: $NKEYS lookups, ldap: 1 lookup of $G DN reads)"
for round in 1 2; do
    echo "round $round (load $(load)):"
    if [ "$round" = 1 ]; then
        run fwdmapd "$FWMAP" "$T/fw.keys" "$FWPID"
        run nullmap "$NMMAP" "$T/fw.keys" "$NMPID"
        run ldap "$LDMAP" "$T/ld.keys" "$SLAPD"
    else
        run ldap "$LDMAP" "$T/ld.keys" "$SLAPD"
        run nullmap "$NMMAP" "$T/fw.keys" "$NMPID"
        run fwdmapd "$FWMAP" "$T/fw.keys" "$FWPID"
    fi > "$T/round"
    grep -qE '^(fwdmapd|ldap) .* 0$' "$T/round" && fail "a run answered nothing: $(cat "$T/round")"
    report "$REPS" "$LREPS" < "$T/round"
done

# --- The members' own lookups --------------------------------------------
echo
echo "== the members' own lookups (cleanup looks up each of the $G addresses once more): all $G keys, one postmap"
{
    run fwdmapd "$FWMAP" "$T/want.set" "$FWPID"
    run nullmap "$NMMAP" "$T/want.set" "$NMPID"
    run ldap "$LDMAP" "$T/want.set" "$SLAPD"
} > "$T/round"
awk -v G="$G" -v ld="$(load)" '
    { w[$1] = $2 / 1e6; c[$1] = $3 / 1e6; n[$1] = $5
      printf "    %-8s %9.1f ms wall, server CPU %8.1f ms, postmap CPU %7.1f ms (%d of %d keys answered)\n",
          $1, w[$1], c[$1], $4 * 1000, $5, G }
    END { printf "    ldap/fwdmapd: wall %.1fx, server CPU %.1fx; fwdmapd/nullmap: wall %.2fx; load %s\n",
              w["ldap"] / w["fwdmapd"], c["ldap"] / c["fwdmapd"], w["fwdmapd"] / w["nullmap"], ld }' "$T/round"
kill -TERM "$NMPID"; wait "$NMPID" 2>/dev/null
exit 0

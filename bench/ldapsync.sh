#!/usr/bin/env bash
# bench/ldapsync.sh - ldapsync at scale, side by side with the obvious
# alternative, in one run (issue 3 targets):
#
#  1. full sync of N people (default 1,000,000): `ldapsync --once` against
#     `ldapsearch` (paged, the same attributes) + `cdb -c` building a file
#     of the same records (awk turns the LDIF into records, timed apart);
#     wall time and peak RSS (/usr/bin/time -v).  Target: ldapsync within
#     1.5x of ldapsearch + cdb -c, peak memory under 1 GiB.  Run twice:
#     into an empty maps dir, then over the first result (the diff path).
#  2. restarts (issue 11, target: a change visible within 2 s): the first
#     daemon start after `--once` (which leaves cookie + snapshot), and a
#     restart of the daemon with its cookie; each time one change is made
#     the moment the daemon is started and timed until the tables show it.
#     The load average is printed with each figure.
#  3. continuous mode: initial refresh via syncprov, then change latency:
#     RATE modifications/s for SECS seconds (after a WARMUP), each timed
#     from sending the LDAP modify until the tables (read the way fwdmapd
#     reads them) answer with the new value.  Target: p99 < 1 s.
#
#  3. with NGROUPS=G (issue 10): G distribution lists besides the people
#     (bench/gen-people.py: sizes 2..100,000, nesting up to 5 levels, one
#     in 100 a memberURL group); the baseline's ldapsearch then fetches the
#     group attributes too (its cdb gets no group records: a cheaper
#     baseline than what ldapsync publishes); a second baseline ("B") adds
#     an ldapsearch of each memberURL and builds its cdb from every record
#     ldapsync published ("cdb -c of the output"); then the latency of member
#     changes (a person in a group gets a new address) and group changes
#     (a member added), each timed until `virtual` of the group shows it.
#
#   N=100000 SECS=30 bench/ldapsync.sh      (smaller, quicker run)
#   N=1000000 NGROUPS=100000 bench/ldapsync.sh  (issue 10's measurement)
#   COMPACT=2000 ...                         (ldapsync.compact_records: force
#                                             background compactions during
#                                             the latency run)
#   RESTARTS_ONLY=1 ...                      (setup, one --once, the restarts;
#                                             no baseline, no continuous mode)
#   KEEP_STATE=DIR ...                       (copy the maps and state dir the
#                                             --once left, and the config, to
#                                             DIR: bench/state_load's input)
#   COMPARE_LDAPSYNC=PATH ...                (restarts with the cookie also
#                                             with that ldapsync binary, e.g.
#                                             an older build, between two of
#                                             this build's: a ratio at the
#                                             same load)
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 2
N=${N:-1000000}
NGROUPS=${NGROUPS:-0}
RATE=${RATE:-100}
SECS=${SECS:-60}
WARMUP=${WARMUP:-3}
export TOP FWDMAP_BUILD=${FWDMAP_BUILD:-$TOP/build}
export TEST_TMP=${TEST_TMP:-$(mktemp -d /tmp/fwdmap-bench-ldapsync.XXXXXX)}
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/slapd.sh"
LDAPSYNC=$(t_bin ldapsync)
PROBE=$FWDMAP_BUILD/bench/ldapsync_latency
for b in "$LDAPSYNC" "$PROBE" "$FWDMAP_BUILD/bench/map_wait"; do [ -x "$b" ] || { echo "bench: $b not built (make)" >&2; exit 2; }; done
t_on_exit 'rm -rf "$TEST_TMP"'

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
rss_of() { awk '/Maximum resident/ { printf "%.0f", $NF / 1024 }' "$1"; }
wall_of() { awk -F': ' '/Elapsed \(wall/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$1"; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "people: $N, groups: $NGROUPS"

t0=$(now)
python3 "$TOP/bench/gen-people.py" "$N" "$SLAPD_SUFFIX" "$NGROUPS" > "$T/people.ldif"
echo "generate LDIF: $(secs "$t0" "$(now)") s ($(du -m "$T/people.ldif" | cut -f1) MB)"
slapd_init ldap conf
# The memberURL filters select by employeeNumber: index it, as a directory
# serving such groups would (unindexed, each URL search is a full scan).
[ "$NGROUPS" -gt 0 ] && sed -i '/^index objectClass eq/a index employeeNumber eq' "$(_slapd_dir ldap)/slapd.conf"
t0=$(now)
slapd_load ldap "$T/people.ldif"
echo "slapadd -q: $(secs "$t0" "$(now)") s"
rm -f "$T/people.ldif"
slapd_start ldap
URI=$(slapd_uri ldap)
PW=$(slapd_pwfile ldap)
mkdir -p "$T/maps" "$T/base"
cat > "$T/fwdmap.json" <<JSON
{ "maps_dir": "$T/maps",
  "ldap": { "uris": ["$URI"], "bind_dn": "$SLAPD_SYNCDN", "bind_password_file": "$PW",
            "timeout": 600, "page_size": 1000 },
  "stores": { "exchange": "smtp:[exchange.example.org]:25", "mytum": "lmtp:[mytum.example.org]:24" },
  "tenants": { "tum": { "base": "ou=tum,$SLAPD_SUFFIX", "domains": ["tum.de", "mytum.de"] } },
  "safety": { "max_removed": 500, "max_removed_percent": 10 },
  "ldapsync": { "compact_records": ${COMPACT:-50000}, "group_url_interval": 60 } }
JSON

echo
echo "== full sync"
if [ -z "${RESTARTS_ONLY:-}" ]; then
ATTRS="mail fwdMailAlias fwdMailboxLocation fwdMailHost fwdForwardAddress entryUUID"
[ "$NGROUPS" -gt 0 ] && ATTRS="$ATTRS member uniqueMember memberURL fwdGroupSenderPolicy fwdGroupAllowedSender objectClass"
t0=$(now)
# shellcheck disable=SC2086
ldapsearch -x -LLL -o ldif-wrap=no -H "$URI" -D "$SLAPD_SYNCDN" -w "$SLAPD_SYNCPW" -b "ou=tum,$SLAPD_SUFFIX" \
    -E pr=1000/noprompt "(objectClass=fwdMailRecipient)" $ATTRS > "$T/base/dump.ldif" ||
    { echo "ldapsearch failed" >&2; exit 1; }
t_search=$(secs "$t0" "$(now)")
# For the second baseline (groups): the memberURLs, as "base scope filter".
[ "$NGROUPS" -gt 0 ] && sed -n 's#^memberURL: ldap:///\([^?]*\)?[^?]*?\([a-z]*\)?\(.*\)$#\1\t\2\t\3#p' \
    "$T/base/dump.ldif" > "$T/base/urls.txt"
t0=$(now)
awk -f "$TOP/bench/gen-records.awk" "$T/base/dump.ldif" > "$T/base/records.txt"
t_awk=$(secs "$t0" "$(now)")
t0=$(now)
cdb -c -m "$T/base/base.cdb" "$T/base/records.txt" || { echo "cdb -c failed" >&2; exit 1; }
t_cdb=$(secs "$t0" "$(now)")
nrec=$(wc -l < "$T/base/records.txt")
rm -f "$T/base/dump.ldif" "$T/base/records.txt"
base=$(awk -v a="$t_search" -v b="$t_cdb" 'BEGIN { printf "%.2f", a + b }')
echo "baseline: ldapsearch $t_search s + cdb -c $t_cdb s = $base s ($nrec records; the LDIF-to-records awk step, not counted: $t_awk s)"
else
    base=0
fi

WALLS=()
run_once() {
    /usr/bin/time -v "$LDAPSYNC" -c "$T/fwdmap.json" --once >"$T/once.log" 2>"$T/time.txt"
    local rc=$?
    cat "$T/once.log" >> "$T/time.txt"
    [ $rc -eq 0 ] || { echo "ldapsync --once failed (rc $rc):"; tail -5 "$T/time.txt"; exit 1; }
    local w r
    w=$(wall_of "$T/time.txt"); r=$(rss_of "$T/time.txt")
    WALLS+=("$1=$w")
    echo "ldapsync --once ($1): ${w} s, peak RSS ${r} MiB, ratio to baseline $(awk -v a="$w" -v b="$base" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }')"
    grep -E "full search|memberURLs of|compile and publish|full sync:" "$T/time.txt" | sed 's/^ldapsync\[[0-9]*\]: /    /'
}
run_once "empty maps dir"
[ -z "${RESTARTS_ONLY:-}" ] && run_once "over the previous generation"
if [ -z "${RESTARTS_ONLY:-}" ] && [ "$NGROUPS" -gt 0 ]; then
    # A second baseline, closer to what ldapsync does with groups: the same
    # ldapsearch, then one ldapsearch per memberURL (one process per base
    # and scope, `-f`: one search per filter, the DNs only), then `cdb -c`
    # of everything ldapsync published (its records dumped, not timed).
    # Still cheaper than ldapsync: no expansion, no checks, no snapshot.
    # (The pattern is "(|%s)", not "%s": ldapsearch takes an argument
    # without "=" for an attribute and would search for everything.)
    t0=$(now)
    nurl=0; nurldn=0
    while IFS=$'\t' read -r ub us; do
        [ -n "$us" ] || us=base
        awk -F'\t' -v b="$ub" -v s="$us" '$1 == b && ($2 == s || ($2 == "" && s == "base")) { print $3 }' \
            "$T/base/urls.txt" > "$T/base/filters.txt"
        n=$(ldapsearch -x -LLL -o ldif-wrap=no -H "$URI" -D "$SLAPD_SYNCDN" -w "$SLAPD_SYNCPW" \
            -b "$ub" -s "$us" -f "$T/base/filters.txt" '(|%s)' 1.1 | grep -c '^dn:') ||
            { echo "ldapsearch of the memberURLs failed" >&2; exit 1; }
        nurl=$(( nurl + $(wc -l < "$T/base/filters.txt") )); nurldn=$(( nurldn + n ))
    done < <(cut -f1,2 "$T/base/urls.txt" | sort -u)
    t_urls=$(secs "$t0" "$(now)")
    "$FWDMAP_BUILD/fwdmap" -c "$T/fwdmap.json" dump | LC_ALL=C awk '{ print $1 ":" substr($0, 3) }' > "$T/base/out.txt"
    t0=$(now)
    cdb -c -m "$T/base/out.cdb" "$T/base/out.txt" || { echo "cdb -c of the output failed" >&2; exit 1; }
    t_outcdb=$(secs "$t0" "$(now)")
    nout=$(wc -l < "$T/base/out.txt")
    rm -f "$T/base/out.txt" "$T/base/out.cdb" "$T/base/filters.txt"
    base2=$(awk -v a="$t_search" -v b="$t_urls" -v c="$t_outcdb" 'BEGIN { printf "%.2f", a + b + c }')
    echo "baseline B: ldapsearch $t_search s + ldapsearch of $nurl memberURLs $t_urls s ($nurldn DNs)" \
         "+ cdb -c of the $nout published records $t_outcdb s = $base2 s"
    # And the same without the memberURL searches ("C": what reading the
    # entries once and building the output would cost).
    base3=$(awk -v a="$t_search" -v c="$t_outcdb" 'BEGIN { printf "%.2f", a + c }')
    echo "baseline C: ldapsearch $t_search s + cdb -c of the published records $t_outcdb s = $base3 s" \
         "(no memberURL searches)"
    for wr in "${WALLS[@]}"; do
        echo "ldapsync --once (${wr%=*}): ${wr##*=} s, ratio to baseline B" \
             "$(awk -v a="${wr##*=}" -v b="$base2" 'BEGIN { printf "%.2f", a / b }'), to baseline C" \
             "$(awk -v a="${wr##*=}" -v b="$base3" 'BEGIN { printf "%.2f", a / b }')"
    done
fi
echo "published: $(du -m "$T/maps/fwdmap.cdb" | cut -f1) MB; state snapshot: $(du -m "$T/maps/ldapsync.state" | cut -f1) MB"
if [ -n "${KEEP_STATE:-}" ]; then
    # The configuration there points at the copy and binds to nothing
    # (the throwaway slapd and its password file are gone after the run).
    mkdir -p "$KEEP_STATE" && cp -a "$T/maps" "$KEEP_STATE/" &&
        sed -e "s#\"maps_dir\": \"[^\"]*\"#\"maps_dir\": \"$KEEP_STATE/maps\"#" \
            -e 's#"bind_dn": "[^"]*",##; s#"bind_password_file": "[^"]*",##' \
            "$T/fwdmap.json" > "$KEEP_STATE/fwdmap.json" && echo "kept in $KEEP_STATE"
fi

probe() {
    "$PROBE" -H "$URI" -D "$SLAPD_ROOTDN" -y <(echo "$SLAPD_ROOTPW") -b "ou=tum,$SLAPD_SUFFIX" \
        -m "$T/maps" -r "$RATE" -d "$1" -n "$N" "${@:2}"
}
# restart_probe LABEL: start the daemon, change one person at once, time it.
restart_probe() {
    local t0 out bin=${2:-$LDAPSYNC}
    echo "$1 (load $(cut -d' ' -f1-3 /proc/loadavg)):"
    : > "$T/daemon.log"
    t0=$(now)
    "$bin" -c "$T/fwdmap.json" >>"$T/daemon.log" 2>&1 &
    LP=$!
    t_track "$LP"
    out=$(RATE=1 probe 1 -t 120)
    # The probe returns when the tables show the change: the figure for
    # the target (from the start of the daemon, not from the modify,
    # which the probe sends once it has bound and opened the tables).
    echo "    one change made at the start: visible $(secs "$t0" "$(now)") s after the daemon was started"
    echo "    probe: $out"
    _refreshed() { grep -q "refresh done" "$T/daemon.log"; }
    t_wait 300 _refreshed
    echo "    daemon: $(grep -E 'resuming from|refresh done|full refresh|reloading' "$T/daemon.log" | sed 's/^ldapsync\[[0-9]*\]: //' | tr '\n' ';')"
    echo "    refresh done by $(secs "$t0" "$(now)") s after the start; load $(cut -d' ' -f1-3 /proc/loadavg)"

}

echo
echo "== restarts"
# Stop it and wait until it is gone (its lock with it): at a million
# entries the exit of a daemon killed after t_stop_pid's 5 s takes a while.
stop_daemon() { t_stop_pid "$LP"; wait "$LP" 2>/dev/null; }
restart_probe "first daemon start after ldapsync --once"
stop_daemon
restart_probe "daemon restarted with its cookie"
stop_daemon
if [ -n "${COMPARE_LDAPSYNC:-}" ]; then
    restart_probe "daemon restarted with its cookie, $COMPARE_LDAPSYNC" "$COMPARE_LDAPSYNC"
    stop_daemon
    restart_probe "daemon restarted with its cookie, this build again"
    stop_daemon
fi
[ -n "${RESTARTS_ONLY:-}" ] && exit 0

echo
echo "== continuous mode (refreshAndPersist) and change latency"
rm -f "$T/maps/ldapsync.cookie"
: > "$T/daemon.log"
t0=$(now)
"$LDAPSYNC" -c "$T/fwdmap.json" >>"$T/daemon.log" 2>&1 &
LP=$!
t_track "$LP"
_ready() { grep -q "snapshot saved" "$T/daemon.log"; }
t_wait 900 _ready || { echo "daemon did not come up:"; tail "$T/daemon.log"; exit 1; }
echo "initial refresh + publish + state snapshot: $(secs "$t0" "$(now)") s, daemon RSS $(( $(ps -o rss= -p "$LP") / 1024 )) MiB"
probe "$WARMUP" >/dev/null
echo "latency ($RATE changes/s for $SECS s, after a ${WARMUP} s warm-up):"
echo "    $(probe "$SECS")"
if [ "$NGROUPS" -gt 0 ]; then
    FM=$(t_bin fwdmap)
    MAPWAIT=$FWDMAP_BUILD/bench/map_wait
    # timed KEY WANT LDIF: make the LDAP change in LDIF and print the ms
    # until `virtual` of KEY contains WANT, read as fwdmapd reads the
    # tables (bench/map_wait: its tables opened before the change; a loop
    # of `fwdmap query`, which opens and checks the whole base each time,
    # took half a second a call at 1M people + 100k groups and measured
    # itself).
    timed() {
        local ms ready
        coproc MW { "$MAPWAIT" -m "$T/maps" -k "$1" -s "$2"; }
        read -r ready <&"${MW[0]}"
        [ "$ready" = ready ] || { echo -1; return; }
        echo go >&"${MW[1]}"
        ldapmodify -x -H "$URI" -D "$SLAPD_ROOTDN" -w "$SLAPD_ROOTPW" >/dev/null <<< "$3"
        read -r ms <&"${MW[0]}"
        wait "$MW_PID" 2>/dev/null
        echo "$ms"
    }
    stats() { sort -n | awk '{ a[NR] = $1 } END { printf "n=%d p50=%d ms p90=%d ms p99=%d ms max=%d ms", NR, a[int(NR * 0.5) + 1], a[int(NR * 0.9) + 1], a[int(NR * 0.99) + 1], a[NR] }'; }
    : > "$T/lat.group"; : > "$T/lat.member"
    for i in $(seq 1 "${NLAT:-20}"); do
        g=$(printf 'g%06d' $(( i * 5 )))		# level-0 groups of 2-50 members
        u=$(printf 'u%07d' $(( (i * 104729) % N )))
        timed "$g@tum.de" "$u@tum.de" "dn: cn=$g,ou=tum,$SLAPD_SUFFIX
changetype: modify
add: member
member: uid=$u,ou=tum,$SLAPD_SUFFIX" >> "$T/lat.group"
        # a member of g000010... gets a new primary address
        m=$("$FM" -d "$T/maps" query virtual "$g@tum.de" | sed 's/^OK //' | tr , '\n' | grep '^u[0-9]*@tum.de$' | head -1)
        mu=${m%@tum.de}
        timed "$g@tum.de" "$mu.new$i@tum.de" "dn: uid=$mu,ou=tum,$SLAPD_SUFFIX
changetype: modify
replace: mail
mail: $mu.new$i@tum.de" >> "$T/lat.member"
    done
    # Members of the biggest group (g000000: everybody, up to 100,000),
    # which is expanded again for each; timed on its sub-list that holds
    # the member (or on the group when it has no sub-lists).
    : > "$T/lat.big"
    key=$("$FM" -d "$T/maps" query virtual g000000@tum.de | sed 's/^OK //' | cut -d, -f1)
    case $key in *@fwdmap-sublist.invalid) ;; *) key=g000000@tum.de ;; esac
    for m in $("$FM" -d "$T/maps" query virtual "$key" | sed 's/^OK //' | tr , '\n' | grep '^u[0-9]*@tum.de$' | head -"${NLAT:-20}"); do
        mu=${m%@tum.de}
        timed "$key" "$mu.big@tum.de" "dn: uid=$mu,ou=tum,$SLAPD_SUFFIX
changetype: modify
replace: mail
mail: $mu.big@tum.de" >> "$T/lat.big"
    done
    echo "group change (a member added) until virtual shows it: $(stats < "$T/lat.group")"
    echo "member change (new primary address) until its group's virtual shows it: $(stats < "$T/lat.member")"
    echo "raw ms, group changes: $(tr '\n' ' ' < "$T/lat.group")"
    echo "member of the biggest group (new primary address) until the group's virtual shows it: $(stats < "$T/lat.big")"
    echo "raw ms, member changes: $(tr '\n' ' ' < "$T/lat.member")"
    echo "raw ms, members of the biggest group: $(tr '\n' ' ' < "$T/lat.big")"
fi
echo "daemon RSS after: $(( $(ps -o rss= -p "$LP") / 1024 )) MiB; $(grep -c 'delta sync' "$T/daemon.log") deltas published; background compactions: $(grep -c 'background compaction finished' "$T/daemon.log"); slow batches logged: $(grep -c 'slow batch' "$T/daemon.log")"
t_stop_pid "$LP"
exit 0

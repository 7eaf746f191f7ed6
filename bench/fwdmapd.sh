#!/usr/bin/env bash
# bench/fwdmapd.sh - fwdmapd benchmarks, bounded to a few minutes.
#
#   bench/fwdmapd.sh            (run by `make bench` through bench/run.sh)
#
# Environment: BENCH_SIZES (people per generation, default "100000 1000000"),
# BENCH_IDLE (idle connections, default 10000), BENCH_LDAP_KEYS (sequential
# postmap lookups per table type, default 5000), BENCH_SEQ_ROUNDS (rounds of
# those, default 11), BENCH_LOCKSTEP_ROUNDS (rounds of the closed loop over
# 1,000 connections against all three servers, default 11), BENCH_RATES (open-loop
# rates in lookups/s, default "20000 100000 200000"), BENCH_SKIP_LDAP=1.
#
# Every load is run twice, back to back: against fwdmapd, and against
# bench/nullmap, a socketmap server on the same kind of socket with the same
# epoll loop that answers NOTFOUND without any lookup.  nullmap is the floor
# any socketmap server can reach with this client on this machine; the
# difference is what fwdmapd itself costs.  The closed loops run a third
# time against `nullmap -t` ("lookfloor"): nullmap plus one tinycdb lookup
# of each key in a table as big as fwdmapd's, the floor of any server that
# looks something up.  Each run also reports the CPU
# time per request of the server (from /proc/PID/sched) and of the load
# generator (getrusage), and the load average before and after.
#
# 1. For each size: publish a generation (people, a quarter of them with an
#    alias), start fwdmapd and nullmap, and drive each with bench/loadgen:
#    closed loop (one outstanding request per connection, like a Postfix
#    process) over 1,000 and over 100 connections, pipelined (8 requests per
#    write) over 1,000, and open loops at fixed rates over 1,000 connections
#    (latency from the scheduled send time); keys are a mix of hits
#    (addresses, +extensions, aliases) and misses.  Record memory (private
#    vs. mapped file) before and after.
# 2. Hold BENCH_IDLE idle connections, prove each is served before and after.
# 3. Sequential `postmap -q -` with the same keys through socketmap to
#    fwdmapd, through socketmap to nullmap, through socketmap to
#    `nullmap -t` ("lookfloor": nullmap plus one tinycdb lookup of the key
#    as received in a CDB of the same records, the floor of any server that
#    looks something up), from a local cdb: table built by
#    postmap, and from Postfix's own ldap: table on a throwaway slapd holding
#    the same people; then once more with server and postmap pinned to the
#    same CPU, and to different CPUs, to show what the wakeups cost.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
export TOP
: "${FWDMAP_BUILD:=$TOP/build}"
export FWDMAP_BUILD
TEST_TMP=$(mktemp -d /tmp/fwdmap-bench.XXXXXX)
export TEST_TMP
source "$TOP/tests/lib/common.sh"
t_on_exit "rm -rf '$TEST_TMP'"
SIZES=${BENCH_SIZES:-100000 1000000}
IDLE=${BENCH_IDLE:-10000}
LKEYS=${BENCH_LDAP_KEYS:-5000}
SEQ_ROUNDS=${BENCH_SEQ_ROUNDS:-11}
LS_ROUNDS=${BENCH_LOCKSTEP_ROUNDS:-11}
FWDMAPD=$FWDMAP_BUILD/fwdmapd
FWDMAP=$FWDMAP_BUILD/fwdmap
LOADGEN=$FWDMAP_BUILD/bench/loadgen
NULLMAP=$FWDMAP_BUILD/bench/nullmap
RATES=${BENCH_RATES:-20000 100000 200000}
for b in "$FWDMAPD" "$FWDMAP" "$LOADGEN" "$NULLMAP"; do
    [ -x "$b" ] || { echo "bench: $b not built (make)"; exit 1; }
done
SOCK=$T/fwdmapd.sock
CTL=$T/ctl.sock
NSOCK=$T/nullmap.sock
LSOCK=$T/lookfloor.sock
LFPID=
FWPID=
NMPID=

echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {print int($2/1024) " MB"}' /proc/meminfo), kernel $(uname -r)"
echo "# started $(date -u +%FT%TZ)"
echo "# $("$LOADGEN" -Z)"
echo "# load before: $(cat /proc/loadavg)"

# People p0..p(N-1) in tum.de, a quarter with an alias; the ph.tum.de
# department passes unknown recipients on.
gen_records() {
    awk -v N="$1" 'BEGIN {
        print "D tum.de tum reject"
        print "D ph.tum.de tum route smtp:[mail.ph.tum.de]:25"
        for (i = 0; i < N; i++) {
            a = "p" i ".person@tum.de"
            print "R " a " tum"
            print "T " a " smtp:[exchange.example.org]:25"
            if (i % 4 == 0) {
                print "R alias" i "@tum.de tum"
                print "V alias" i "@tum.de " a
                print "T alias" i "@tum.de smtp:[exchange.example.org]:25"
            }
        }
    }'
}

# 20,000 lookups: recipients hits, transport with +ext and odd case,
# virtual aliases, recipients misses (a quarter each).
gen_keys() {
    awk -v N="$1" 'BEGIN {
        srand(42)
        for (i = 0; i < 20000; i++) {
            r = int(rand() * N); m = i % 4
            if (m == 0) print "recipients p" r ".person@tum.de"
            else if (m == 1) print "transport P" r ".Person+news@TUM.de"
            else if (m == 2) print "virtual alias" (r - r % 4) "@tum.de"
            else print "recipients nobody" r "@tum.de"
        }
    }'
}

write_conf() {
    cat > "$T/fwdmap.json" <<JSON
{
  "maps_dir": "$T/maps",
  "recipient_delimiter": "+",
  "ldap": {"uris": ["ldap://127.0.0.1:9"]},
  "tenants": {"tum": {"base": "ou=tum,dc=example,dc=org",
                      "domains": ["tum.de", "ph.tum.de"]}},
  "domains": {"ph.tum.de": {"unknown_recipients": "route",
                            "default_route": "smtp:[mail.ph.tum.de]:25"}},
  "fwdmapd": {"listen": "unix:$SOCK", "control": "$CTL",
              "max_connections": $((IDLE + 2000)), "idle_timeout": 300}
}
JSON
}

start_fwdmapd() {
    rm -f "$SOCK" "$CTL"
    "$FWDMAPD" -c "$T/fwdmap.json" -f 2>>"$T/logs/fwdmapd.log" &
    FWPID=$!
    t_track "$FWPID"
    t_wait 30 test -S "$CTL" || { tail "$T/logs/fwdmapd.log"; exit 1; }
}
stop_fwdmapd() { kill -TERM "$FWPID"; wait "$FWPID" 2>/dev/null; }

# start_nm VAR SOCKET LOG [NULLMAP-ARGS...]: a nullmap on SOCKET, logging
# to LOG, its PID in VAR; stop_nm PID LOG PREFIX stops it, prints its log.
start_nm() {
    local var=$1 sock=$2 log=$T/logs/$3.log pid
    shift 3
    rm -f "$sock"
    "$NULLMAP" "$@" -s "unix:$sock" 2>>"$log" &
    pid=$!
    t_track "$pid"
    printf -v "$var" %s "$pid"
    t_wait 10 test -S "$sock" || { tail "$log"; exit 1; }
}
stop_nm() {
    kill -TERM "$1"; wait "$1" 2>/dev/null
    sed "s/^/    $3/" "$T/logs/$2.log"; : > "$T/logs/$2.log"
}
start_nullmap() { start_nm NMPID "$NSOCK" nullmap; }
stop_nullmap() { stop_nm "$NMPID" nullmap ""; }

# lookfloor: nullmap -t answering from a CDB of the same records, keyed as
# the request's key arrives (the address alone for R, "T:address" and so
# on for the rest, so that the file has as many records as fwdmapd's):
# the floor of any server that looks its keys up in a table of this size.
start_lookfloor() {
    awk '$1 == "D" { next } $1 == "R" { k = $2 } $1 != "R" { k = $1 ":" $2 }
         { printf "+%d,%d:%s->%s\n", length(k), length($3), k, $3 } END { print "" }' \
        "$1" | cdb -c "$T/lookfloor.cdb" || { echo "cdb -c lookfloor failed"; exit 1; }
    start_nm LFPID "$LSOCK" lookfloor -t "$T/lookfloor.cdb"
}
stop_lookfloor() { stop_nm "$LFPID" lookfloor "lookfloor: "; }

# CPU time (ns) a single-threaded process has run so far: the scheduler's
# own account (/proc/PID/schedstat reads 0 without CONFIG_SCHEDSTATS).
cpu_ns() { awk '/^se.sum_exec_runtime/ {printf "%.0f\n", $3 * 1e6}' "/proc/$1/sched"; }

# run_load PID ENDPOINT LABEL LOADGEN-ARGS...: one loadgen run against the
# server PID, with the server's CPU time per answered request.
run_load() {
    local pid=$1 ep=$2 label=$3 c0 c1 n rc
    shift 3
    c0=$(cpu_ns "$pid")
    "$LOADGEN" -q -s "$ep" -k "$T/keys.txt" "$@" > "$T/lg.out" 2>&1
    rc=$?
    c1=$(cpu_ns "$pid")
    n=$(awk '/ requests over / {print $1}' "$T/lg.out")
    sed "s/^/  $label: /" "$T/lg.out"
    awk -v a="$c0" -v b="$c1" -v n="${n:-0}" -v l="$label" 'BEGIN {
        printf "  %s: server CPU %.2f s: %.1f us per request\n", l, (b - a) / 1e9,
            (n > 0 ? (b - a) / 1e3 / n : 0) }'
    [ "$rc" = 0 ] || echo "  $label: loadgen exit $rc"
}

# Each load against fwdmapd, then against nullmap (the floor), then (the
# closed loops, LOOKFLOOR=1) against lookfloor (the floor plus one lookup).
both() {
    echo "$1  [load $(cut -d' ' -f1-3 /proc/loadavg)]"
    shift
    run_load "$FWPID" "unix:$SOCK" "fwdmapd" "$@"
    run_load "$NMPID" "unix:$NSOCK" "nullmap" "$@"
    [ "${LOOKFLOOR:-0}" = 1 ] && run_load "$LFPID" "unix:$LSOCK" "lookfloor" "$@"
}

# lockstep_rounds: BENCH_LOCKSTEP_ROUNDS rounds (default 11) of the closed
# loop over 1,000 connections, 300,000 requests against each of fwdmapd,
# nullmap and lookfloor, in an order that rotates from round to round;
# each round's ratios of throughput and server CPU per request, then their
# medians (one run of each moved by up to 30% on this shared machine).
lockstep_rounds() {
    local r i srv pid ep c0 c1 n tp order=(fwdmapd nullmap lookfloor)
    : > "$T/lsr"
    for (( r = 1; r <= LS_ROUNDS; r++ )); do
        for (( i = 0; i < 3; i++ )); do
            srv=${order[$(( (i + r - 1) % 3 ))]}
            case $srv in
            fwdmapd) pid=$FWPID ep=unix:$SOCK ;;
            nullmap) pid=$NMPID ep=unix:$NSOCK ;;
            lookfloor) pid=$LFPID ep=unix:$LSOCK ;;
            esac
            c0=$(cpu_ns "$pid")
            "$LOADGEN" -q -s "$ep" -k "$T/keys.txt" -c 1000 -n 300000 > "$T/lg.out" 2>&1
            c1=$(cpu_ns "$pid")
            n=$(awk '/ requests over / {print $1}' "$T/lg.out")
            tp=$(awk '/ requests over / {for (i = 1; i <= NF; i++) if ($i == "req/s;") print $(i - 1)}' "$T/lg.out")
            echo "$srv ${tp:-0} $(( (c1 - c0) / ${n:-1} ))"
        done > "$T/lsr.round"
        awk -v r="$r" -v L="$(cut -d' ' -f1 /proc/loadavg)" '
            { t[$1] = $2; c[$1] = $3 }
            END { printf "  round %d: req/s fwdmapd %d nullmap %d lookfloor %d;" \
                         " fwdmapd/nullmap %.2fx (CPU %.2fx), fwdmapd/lookfloor %.2fx" \
                         " (CPU %.2fx), lookfloor/nullmap %.2fx; load %s\n", r,
                         t["fwdmapd"], t["nullmap"], t["lookfloor"],
                         t["fwdmapd"] / t["nullmap"], c["fwdmapd"] / c["nullmap"],
                         t["fwdmapd"] / t["lookfloor"], c["fwdmapd"] / c["lookfloor"],
                         t["lookfloor"] / t["nullmap"], L
                  printf "%f %f %f %f %f\n", t["fwdmapd"] / t["nullmap"],
                         c["fwdmapd"] / c["nullmap"], t["fwdmapd"] / t["lookfloor"],
                         c["fwdmapd"] / c["lookfloor"], t["lookfloor"] / t["nullmap"] >> R }' \
            R="$T/lsr" "$T/lsr.round"
    done
    lmed() { median_col "$T/lsr" "$1"; }
    echo "  medians of $(wc -l < "$T/lsr") rounds [interval holding the median, its confidence]:"
    echo "    throughput fwdmapd/nullmap $(lmed 1), server CPU per request $(lmed 2)"
    echo "    throughput fwdmapd/lookfloor $(lmed 3), CPU $(lmed 4)"
    echo "    throughput lookfloor/nullmap $(lmed 5)"
}

# median_col FILE N: the median of column N of FILE (numbers, one row per
# round), with three decimals, and how sure that median is: the widest
# interval of order statistics [x(k), x(n+1-k)] that holds the true median
# with at least 95% probability, whatever the rounds' distribution (the
# sign test's interval: k is the largest with 2 P(Bin(n, 1/2) < k) <= 0.05),
# and the confidence it actually has.  With fewer than 6 rounds no such
# interval exists, and the range of all rounds is shown with its (lower)
# confidence.  A median whose interval holds a target does not show that
# the target is met or missed; more rounds narrow it.
median_col() {
    cut -d' ' -f"$2" "$1" | sort -g | awk '{ v[NR] = $1 }
        END { n = NR
              if (n == 0) { printf "n/a"; exit }
              m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
              # cdf[j] = P(Bin(n, 1/2) <= j)
              c = 1; s = 0
              for (j = 0; j <= n; j++) {
                  s += c; cdf[j] = s / 2 ^ n; c = c * (n - j) / (j + 1)
              }
              k = 1
              while (k + 1 <= (n + 1) / 2 && 2 * cdf[k] <= 0.05) k++
              printf "%.3fx [%.3f-%.3f, %.1f%%]", m, v[k], v[n + 1 - k],
                  100 * (1 - 2 * cdf[k - 1]) }'
}

# Memory of fwdmapd: private (anonymous) and mapped-file resident sizes.
mem() {
    awk '/^VmRSS|^RssAnon|^RssFile/ {printf "%s %.1f MB  ", $1, $2/1024} END {print ""}' \
        "/proc/$FWPID/status"
}

ulimit -n $((IDLE + 4000)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"
write_conf
mkdir -p "$T/maps"
for n in $SIZES; do
    echo
    echo "## generation with $n people"
    rm -f "$T/maps"/fwdmap*.cdb
    gen_records "$n" > "$T/records.txt"
    s=$(date +%s%N)
    "$FWDMAP" -d "$T/maps" compile -s "$n" "$T/records.txt" || exit 1
    e=$(date +%s%N)
    echo "compile: $(wc -l < "$T/records.txt") records in $(( (e - s) / 1000000 )) ms," \
         "file $(( $(stat -c %s "$T/maps/fwdmap.cdb") / 1048576 )) MB"
    gen_keys "$n" > "$T/keys.txt"
    start_lookfloor "$T/records.txt"
    rm -f "$T/records.txt"
    start_fwdmapd
    start_nullmap
    echo "memory after start:      $(mem)"
    # A warm-up of each, every key once (not timed): fwdmapd's first
    # lookups in a new generation fault its pages into its mapping (at a
    # million people the first closed loop ran at half the speed of the
    # later ones), which nullmap, reading no file, never does.
    for ep in "unix:$SOCK" "unix:$NSOCK" "unix:$LSOCK"; do
        "$LOADGEN" -q -s "$ep" -k "$T/keys.txt" -c 100 -n "$(wc -l < "$T/keys.txt")" > /dev/null 2>&1
    done
    LOOKFLOOR=1 both "closed loop, 1000 connections, depth 1:" -c 1000 -n 500000
    echo "closed loop, 1000 connections, depth 1, $LS_ROUNDS rounds in rotating order:  [load $(cut -d' ' -f1-3 /proc/loadavg)]"
    lockstep_rounds
    LOOKFLOOR=1 both "closed loop, 100 connections, depth 1:" -c 100 -n 300000
    both "closed loop, 1000 connections, pipelined depth 8:" -c 1000 -n 1000000 -p 8
    for r in $RATES; do
        # 3 s at the rate, at least 60,000 requests.
        k=$((r * 3)); [ "$k" -lt 60000 ] && k=60000
        both "open loop, 1000 connections, $r req/s ($k requests):" -c 1000 -n "$k" -r "$r"
    done
    echo "memory after these lookups: $(mem)"
    [ "$n" = "$(echo $SIZES | awk '{print $1}')" ] && BASE_KEYS_N=$n
    stop_fwdmapd
    stop_nullmap
    stop_lookfloor
done

echo
echo "## $IDLE idle connections (ulimit -n $(ulimit -n))"
start_fwdmapd
echo "memory before:           $(mem)"
"$LOADGEN" -q -s "unix:$SOCK" -H "$IDLE" -D 8 -k "$T/keys.txt" > "$T/idle.out" 2>&1 &
lg=$!
t_track $lg
t_wait 60 grep -q 'answered a lookup' "$T/idle.out"
sleep 1
echo "memory while holding:    $(mem)"
echo "stats: $("$FWDMAPD" -c "$T/fwdmap.json" -S | tr -d ' \n' | grep -o '"connections":{[^}]*}')"
wait $lg; echo "loadgen exit $?"
cat "$T/idle.out"
stop_fwdmapd

if [ "${BENCH_SKIP_LDAP:-0}" = 1 ]; then
    echo "# load after: $(cat /proc/loadavg)"
    echo "# finished $(date -u +%FT%TZ)"
    exit 0
fi
echo
echo "## sequential postmap -q -, $LKEYS keys: socketmap (fwdmapd), socketmap (nullmap), socketmap (nullmap -t: lookfloor), cdb:, ldap: (slapd)"
source "$TOP/tests/lib/slapd.sh"
N=${BASE_KEYS_N:-100000}
awk -v N="$N" 'BEGIN {
    for (i = 0; i < N; i++) {
        printf "dn: uid=p%d,ou=tum,dc=example,dc=org\nobjectClass: inetOrgPerson\n", i
        printf "objectClass: fwdMailRecipient\nuid: p%d\ncn: Person %d\nsn: Person\n", i, i
        printf "mail: p%d.person@tum.de\nfwdMailboxLocation: exchange\n", i
        if (i % 4 == 0) printf "fwdMailAlias: alias%d@tum.de\n", i
        printf "\n"
    }
}' > "$T/people.ldif"
slapd_init bench
s=$(date +%s%N)
slapd_load bench "$T/people.ldif" >/dev/null 2>&1 || { echo "slapadd failed"; exit 1; }
e=$(date +%s%N)
echo "slapadd: $N people in $(( (e - s) / 1000000 )) ms"
# slapd indexes: the ones the fwdmap schema and slapd.sh set up.
slapd_start bench
gen_records "$N" > "$T/records.txt"
rm -f "$T/maps"/fwdmap*.cdb
"$FWDMAP" -d "$T/maps" compile -s 1 "$T/records.txt" || exit 1
start_fwdmapd
start_nullmap
start_lookfloor "$T/records.txt"
mkdir -p "$T/pf"; : > "$T/pf/main.cf"
# The same recipients as a local cdb: table (what fwdmapd serves, without
# the daemon): every address and alias, built by Postfix's own postmap.
awk -v N="$N" 'BEGIN { for (i = 0; i < N; i++) {
    print "p" i ".person@tum.de OK"; if (i % 4 == 0) print "alias" i "@tum.de OK" } }' \
    > "$T/pf/recipients"
postmap -c "$T/pf" "cdb:$T/pf/recipients" || { echo "postmap cdb: failed"; exit 1; }
cat > "$T/pf/ldap-recipients.cf" <<CF
server_host = $(slapd_uri bench)
version = 3
bind = no
search_base = ou=tum,dc=example,dc=org
query_filter = (|(mail=%s)(fwdMailAlias=%s))
result_attribute = mail
CF
awk -v N="$N" -v K="$LKEYS" 'BEGIN { srand(7)
    for (i = 0; i < K; i++) { r = int(rand() * N)
        if (i % 2) print "p" r ".person@tum.de"; else print "nobody" r "@tum.de" } }' > "$T/pkeys.txt"
pm() { postmap -c "$T/pf" -q - "$1" < "$T/pkeys.txt" > "$T/pm.out" 2>"$T/pm.err"; }
# ms_of NAME TABLE: time one postmap run; print "NAME MS FOUND SERVER-CPU-NS"
# (the server's CPU time for fwdmapd and nullmap, from /proc/PID/sched;
# 0 for cdb: and ldap:).
ms_of() {
    local s e c0=0 c1=0 pid=
    case $1 in fwdmapd) pid=$FWPID ;; nullmap) pid=$NMPID ;; lookfloor) pid=$LFPID ;; esac
    [ -n "$pid" ] && c0=$(cpu_ns "$pid")
    s=$(date +%s%N); pm "$2"; e=$(date +%s%N)
    [ -n "$pid" ] && c1=$(cpu_ns "$pid")
    [ -s "$T/pm.err" ] && { echo "postmap $1 errors:" >&2; head -3 "$T/pm.err" >&2; }
    echo "$1 $(( (e - s) / 1000000 )) $(wc -l < "$T/pm.out") $(( c1 - c0 ))"
}
TABLES=("fwdmapd socketmap:unix:$SOCK:recipients" "nullmap socketmap:unix:$NSOCK:recipients"
        "lookfloor socketmap:unix:$LSOCK:recipients"
        "cdb cdb:$T/pf/recipients" "ldap ldap:$T/pf/ldap-recipients.cf")
NT=${#TABLES[@]}
# A warm-up round of each (page cache, slapd's caches), then
# BENCH_SEQ_ROUNDS rounds (default 11),
# alternating so that a noisy neighbour hits every table alike, each round
# starting with the next table (printed in the order run), so that no table
# always runs right after the same other one.
for tb in "${TABLES[@]}"; do pm "${tb#* }"; done
echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$T/ratios"
for (( round = 1; round <= SEQ_ROUNDS; round++ )); do
    for (( i = 0; i < NT; i++ )); do
        tb=${TABLES[$(( (i + round - 1) % NT ))]}
        ms_of "${tb%% *}" "${tb#* }"
    done > "$T/round"
    awk -v r="$round" -v K="$LKEYS" -v L="$(cut -d' ' -f1 /proc/loadavg)" '
        { ms[$1] = $2; f[$1] = $3; cpu[$1] = $4
          printf "%s%s %5d ms (%3.0f us/key, %d found%s)",
              NR == 1 ? "round " r ": " : "   ", $1, $2, $2 * 1000 / K, $3,
              ($4 > 0) ? sprintf(", server CPU %.1f us/key", $4 / 1e3 / K) : "" }
        END { printf "\n         fwdmapd/nullmap: wall %.2fx, server CPU %.2fx" \
                     "   fwdmapd/lookfloor: wall %.2fx, server CPU %.2fx" \
                     "   lookfloor/nullmap: wall %.2fx, server CPU %.2fx" \
                     "\n         fwdmapd/cdb %.1fx" \
                     "   ldap/fwdmapd %.1fx   ldap/nullmap %.1fx   load %s\n",
                     ms["fwdmapd"] / (ms["nullmap"] ? ms["nullmap"] : 1),
                     cpu["fwdmapd"] / (cpu["nullmap"] ? cpu["nullmap"] : 1),
                     ms["fwdmapd"] / (ms["lookfloor"] ? ms["lookfloor"] : 1),
                     cpu["fwdmapd"] / (cpu["lookfloor"] ? cpu["lookfloor"] : 1),
                     ms["lookfloor"] / (ms["nullmap"] ? ms["nullmap"] : 1),
                     cpu["lookfloor"] / (cpu["nullmap"] ? cpu["nullmap"] : 1),
                     ms["fwdmapd"] / (ms["cdb"] ? ms["cdb"] : 1),
                     ms["ldap"] / (ms["fwdmapd"] ? ms["fwdmapd"] : 1),
                     ms["ldap"] / (ms["nullmap"] ? ms["nullmap"] : 1), L
              printf "%f %f %f %f %f %f\n",
                     ms["fwdmapd"] / ms["nullmap"], cpu["fwdmapd"] / cpu["nullmap"],
                     ms["fwdmapd"] / ms["lookfloor"], cpu["fwdmapd"] / cpu["lookfloor"],
                     ms["lookfloor"] / ms["nullmap"], cpu["lookfloor"] / cpu["nullmap"] \
                     >> R }' R="$T/ratios" "$T/round"
done
# The medians of the rounds' ratios (a single round moves by 10-20% on a
# shared machine).
med() { median_col "$T/ratios" "$1"; }
echo "medians of $(wc -l < "$T/ratios") rounds [interval holding the median, its confidence]:"
echo "  fwdmapd/nullmap wall $(med 1), server CPU $(med 2)"
echo "  fwdmapd/lookfloor wall $(med 3), server CPU $(med 4)"
echo "  lookfloor/nullmap wall $(med 5), server CPU $(med 6)"
# Where the sequential time goes: the same postmap runs with the server
# (every slapd thread for ldap:) and postmap pinned to the same CPU, then
# to different CPUs.  On the same CPU a lookup costs no cross-CPU wakeup;
# on different CPUs every lookup costs two (request and answer).
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    pin_all() { local p; for p in "$FWPID" "$NMPID" "$LFPID" "${SLAPD_PID[bench]}"; do
        taskset -a -p -c "$1" "$p" >/dev/null; done; }
    for where in "same CPU" "different CPUs"; do
        pin_all 0
        cpu=0; [ "$where" = "different CPUs" ] && cpu=1
        for tb in "${TABLES[@]}"; do
            s=$(date +%s%N)
            taskset -c "$cpu" postmap -c "$T/pf" -q - "${tb#* }" < "$T/pkeys.txt" > "$T/pm.out" 2>&1
            e=$(date +%s%N)
            echo "${tb%% *} $(( (e - s) / 1000000 )) $(wc -l < "$T/pm.out")"
        done > "$T/round"
        awk -v w="$where" -v K="$LKEYS" '
            { ms[$1] = $2; printf "%s%s %5d ms (%3.0f us/key)", NR == 1 ? "pinned, " w ": " : "   ",
                  $1, $2, $2 * 1000 / K }
            END { printf "   ldap/fwdmapd %.1fx   ldap/nullmap %.1fx\n",
                         ms["ldap"] / (ms["fwdmapd"] ? ms["fwdmapd"] : 1),
                         ms["ldap"] / (ms["nullmap"] ? ms["nullmap"] : 1) }' "$T/round"
    done
    pin_all "0-$(( $(nproc) - 1 ))"
fi
stop_fwdmapd
stop_nullmap
stop_lookfloor
echo "# load after: $(cat /proc/loadavg)"
echo "# finished $(date -u +%FT%TZ)"

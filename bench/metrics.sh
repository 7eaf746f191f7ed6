#!/usr/bin/env bash
# bench/metrics.sh - does serving Prometheus metrics slow lookups?
#
#   bench/metrics.sh            (run by `make bench` through bench/run.sh;
#                                `bench/run.sh metrics` runs it alone)
#
# Environment: BENCH_METRICS_PEOPLE (default 100000), BENCH_METRICS_ROUNDS
# (default 5).
#
# Three servers on the same generation, each on its own unix socket, all
# started before the first load and kept running:
#   off      fwdmapd without metrics_listen (no latency clock, no snapshot)
#   on       fwdmapd with metrics_listen, and a scraper (one Python process,
#            like a Prometheus server) fetching /metrics every second for the
#            whole run
#   nullmap  bench/nullmap: the same epoll loop answering NOTFOUND without a
#            lookup, the floor of any socketmap server here
# Each round runs three loads (closed loop over 100 connections, pipelined
# depth 8 over 1,000, open loop at 20,000 req/s over 1,000) against each
# server, the servers' order rotating from round to round so that a noisy
# neighbour hits all alike.  Per run: requests/s, p99 latency, and the
# server's CPU time per request: of its main thread (the lookup path) and of
# the whole process (with the HTTP threads).  The summary gives medians over
# the rounds and the ratios on/off, on/nullmap, off/nullmap.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
export TOP
: "${FWDMAP_BUILD:=$TOP/build}"
export FWDMAP_BUILD
TEST_TMP=$(mktemp -d /tmp/fwdmap-bench-metrics.XXXXXX)
export TEST_TMP
source "$TOP/tests/lib/common.sh"
t_on_exit "rm -rf '$TEST_TMP'"
N=${BENCH_METRICS_PEOPLE:-100000}
ROUNDS=${BENCH_METRICS_ROUNDS:-5}
FWDMAPD=$FWDMAP_BUILD/fwdmapd
FWDMAP=$FWDMAP_BUILD/fwdmap
LOADGEN=$FWDMAP_BUILD/bench/loadgen
NULLMAP=$FWDMAP_BUILD/bench/nullmap
PY=/usr/bin/python3
for b in "$FWDMAPD" "$FWDMAP" "$LOADGEN" "$NULLMAP" "$PY"; do
    [ -x "$b" ] || { echo "bench: $b missing (make; scripts/install-deps.sh)"; exit 1; }
done

echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {print int($2/1024) " MB"}' /proc/meminfo), kernel $(uname -r)"
echo "# started $(date -u +%FT%TZ), $N people, $ROUNDS rounds"
echo "# load before: $(cat /proc/loadavg)"

# The generation and keys of bench/fwdmapd.sh: people, a quarter with an
# alias; lookups a quarter each of recipients hits, transport with +ext,
# virtual aliases, recipients misses.
mkdir -p "$T/maps"
awk -v N="$N" 'BEGIN {
    print "D tum.de tum reject"
    for (i = 0; i < N; i++) {
        a = "p" i ".person@tum.de"
        print "R " a " tum"; print "T " a " smtp:[exchange.example.org]:25"
        if (i % 4 == 0) { print "R alias" i "@tum.de tum"; print "V alias" i "@tum.de " a }
    } }' | "$FWDMAP" -d "$T/maps" compile -s 1 || exit 1
awk -v N="$N" 'BEGIN { srand(42)
    for (i = 0; i < 20000; i++) { r = int(rand() * N); m = i % 4
        if (m == 0) print "recipients p" r ".person@tum.de"
        else if (m == 1) print "transport P" r ".Person+news@TUM.de"
        else if (m == 2) print "virtual alias" (r - r % 4) "@tum.de"
        else print "recipients nobody" r "@tum.de" } }' > "$T/keys.txt"

PORT=$(t_port)
conf() {	# conf NAME [METRICS-MEMBER]
    cat > "$T/$1.json" <<JSON
{ "maps_dir": "$T/maps", "ldap": {"uris": ["ldap://127.0.0.1:9"]},
  "tenants": {"tum": {"base": "ou=tum,dc=example,dc=org", "domains": ["tum.de"]}},
  "fwdmapd": {"listen": "unix:$T/$1.sock", "control": "$T/$1.ctl",
              "max_connections": 3000${2:+, $2}} }
JSON
}
conf off
conf on "\"metrics_listen\": \"inet:127.0.0.1:$PORT\""
declare -A PID SOCKET
for s in off on; do
    "$FWDMAPD" -c "$T/$s.json" -f 2>>"$T/logs/$s.log" &
    PID[$s]=$!; SOCKET[$s]=unix:$T/$s.sock; t_track "${PID[$s]}"
    t_wait 30 test -S "$T/$s.ctl" || { tail "$T/logs/$s.log"; exit 1; }
done
"$NULLMAP" -s "unix:$T/nullmap.sock" 2>>"$T/logs/nullmap.log" &
PID[nullmap]=$!; SOCKET[nullmap]=unix:$T/nullmap.sock; t_track "${PID[nullmap]}"
t_wait 10 test -S "$T/nullmap.sock" || exit 1

# The scraper: every second, like Prometheus; counts scrapes and their time.
cat > "$T/scraper.py" <<'PY'
import sys, time, urllib.request
url, out = sys.argv[1], sys.argv[2]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
n = 0; worst = 0.0; total = 0.0; size = 0
nxt = time.monotonic()
while True:
    t0 = time.monotonic()
    with opener.open(url, timeout=5) as r:
        size = len(r.read())
    d = time.monotonic() - t0
    n += 1; total += d; worst = max(worst, d)
    with open(out, "w") as f:
        f.write("%d scrapes of %d bytes, mean %.2f ms, max %.2f ms\n" % (n, size, total / n * 1e3, worst * 1e3))
    nxt += 1.0
    time.sleep(max(0.0, nxt - time.monotonic()))
PY
"$PY" "$T/scraper.py" "http://127.0.0.1:$PORT/metrics" "$T/scrapes" &
SCRAPER=$!; t_track "$SCRAPER"
t_wait 5 test -s "$T/scrapes" || { echo "scraper did not start"; exit 1; }

# CPU time (ns) of the main thread, and of all threads, from the scheduler.
cpu_main() { awk '/^se.sum_exec_runtime/ {printf "%.0f\n", $3 * 1e6}' "/proc/$1/sched"; }
cpu_all() { cat /proc/"$1"/task/*/sched 2>/dev/null |
    awk '/^se.sum_exec_runtime/ {s += $3} END {printf "%.0f\n", s * 1e6}'; }

LOADS=("closed100|-c 100 -n 300000" "pipelined8|-c 1000 -n 1000000 -p 8" "open20k|-c 1000 -n 60000 -r 20000")
SERVERS=(off on nullmap)
: > "$T/results"
for round in $(seq "$ROUNDS"); do
    echo "round $round  [load $(cut -d' ' -f1-3 /proc/loadavg)]"
    for l in "${LOADS[@]}"; do
        name=${l%%|*}; args=${l#*|}
        for i in 0 1 2; do
            s=${SERVERS[$(( (i + round - 1) % 3 ))]}
            p=${PID[$s]}
            m0=$(cpu_main "$p"); a0=$(cpu_all "$p")
            # shellcheck disable=SC2086
            "$LOADGEN" -q -s "${SOCKET[$s]}" -k "$T/keys.txt" $args > "$T/lg.out" 2>&1 ||
                { echo "loadgen failed against $s:"; cat "$T/lg.out"; exit 1; }
            m1=$(cpu_main "$p"); a1=$(cpu_all "$p")
            awk -v s="$s" -v l="$name" -v r="$round" -v m="$((m1 - m0))" -v a="$((a1 - a0))" '
                / requests over / { n = $1; for (i = 1; i <= NF; i++) {
                    if ($i == "req/s;") rps = $(i - 1); if ($i == "p99") p99 = $(i + 1) } }
                END { printf "%s %s %s %.0f %.1f %.2f %.2f\n", l, s, r, rps, p99,
                      m / 1e3 / n, a / 1e3 / n }' "$T/lg.out" >> "$T/results"
            tail -n 1 "$T/results" | awk '{printf "  %-10s %-7s %9s req/s  p99 %8s us  server CPU %s us/req (main thread), %s us/req (all threads)\n", $1, $2, $4, $5, $6, $7}'
        done
    done
done
echo "scraper: $(cat "$T/scrapes")"
echo
echo "## medians over $ROUNDS rounds"
awk '
    { k = $1 " " $2; rps[k] = rps[k] " " $4; p99[k] = p99[k] " " $5; cm[k] = cm[k] " " $6; ca[k] = ca[k] " " $7; loads[$1] = 1 }
    function med(s,   a, n, i, j, t) { n = split(s, a, " ")
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    END {
        printf "%-10s %-8s %10s %10s %12s %12s\n", "load", "server", "req/s", "p99 us", "CPU main", "CPU all"
        for (l in loads) for (si = 1; si <= 3; si++) { s = si == 1 ? "off" : si == 2 ? "on" : "nullmap"; k = l " " s
            R[k] = med(rps[k]); P[k] = med(p99[k]); M[k] = med(cm[k]); A[k] = med(ca[k])
            printf "%-10s %-8s %10.0f %10.1f %12.2f %12.2f\n", l, s, R[k], P[k], M[k], A[k] }
        print ""
        printf "%-10s %-12s %10s %10s %12s %12s\n", "load", "ratio", "req/s", "p99", "CPU main", "CPU all"
        for (l in loads) {
            split("on/off on/nullmap off/nullmap", q, " ")
            for (qi = 1; qi <= 3; qi++) { split(q[qi], ab, "/"); x = l " " ab[1]; y = l " " ab[2]
                printf "%-10s %-12s %10.3f %10.3f %12.3f %12.3f\n", l, q[qi], R[x] / R[y], P[x] / P[y], M[x] / M[y], A[x] / A[y] } }
    }' "$T/results"
echo "# load after: $(cat /proc/loadavg)"
echo "# finished $(date -u +%FT%TZ)"

#!/usr/bin/env bash
# bench/srs.sh - what SRS lookups cost, in one run: fwdmapd's srs_forward and
# srs_reverse beside a plain recipients lookup on the same daemon, beside
# bench/nullmap (a socketmap server doing no work: the floor), and beside
# Debian's postsrsd answering the same keys with the same secret and domain.
#
#   bench/srs.sh            (run by `make bench` through bench/run.sh;
#                            `bench/run.sh srs` runs it alone)
#
# Environment: BENCH_SRS_PEOPLE (people in the generation, default 10000),
# BENCH_SRS_KEYS (keys per sequential run, default 3000), BENCH_SRS_REQUESTS
# (requests per loadgen run, default 200000), BENCH_SRS_ROUNDS (default 3).
#
# 1. Sequential lookups with Postfix's own clients (postmap -q -, one key at
#    a time, as cleanup and trivial-rewrite ask): socketmap to fwdmapd
#    (recipients hits, srs_forward of outside senders, srs_reverse of valid
#    SRS addresses), socketmap to nullmap, and tcp: to postsrsd's forward
#    and reverse ports (its tcp_table interface, the one Postfix uses with
#    it).  The SRS addresses are made by fwdmapd and checked to be the very
#    addresses postsrsd makes, so both decode the same keys.  Rounds rotate
#    the order so that a noisy neighbour hits every table alike.
# 2. Throughput, closed loop over 100 connections (bench/loadgen): fwdmapd
#    recipients, srs_forward, srs_reverse, and nullmap, with the server's CPU
#    time per request.  postsrsd does not speak socketmap, so it is measured
#    in (1) only.
# The summary gives medians over the rounds and the ratios.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
export TOP
: "${FWDMAP_BUILD:=$TOP/build}"
export FWDMAP_BUILD
TEST_TMP=$(mktemp -d /tmp/fwdmap-bench-srs.XXXXXX)
export TEST_TMP
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/fwdmapd.bash"
source "$TOP/tests/lib/srs.bash"
t_on_exit "rm -rf '$TEST_TMP'"
N=${BENCH_SRS_PEOPLE:-10000}
K=${BENCH_SRS_KEYS:-3000}
REQ=${BENCH_SRS_REQUESTS:-200000}
ROUNDS=${BENCH_SRS_ROUNDS:-3}
LOADGEN=$FWDMAP_BUILD/bench/loadgen
NULLMAP=$FWDMAP_BUILD/bench/nullmap
D=srs.example.org
for b in "$FWDMAPD" "$FWDMAP" "$LOADGEN" "$NULLMAP"; do
    [ -x "$b" ] || { echo "bench: $b not built (make)"; exit 1; }
done
command -v postmap >/dev/null || { echo "bench: postmap missing"; exit 1; }

echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {print int($2/1024) " MB"}' /proc/meminfo), kernel $(uname -r)"
echo "# started $(date -u +%FT%TZ); postsrsd $(/usr/sbin/postsrsd -v 2>&1 | head -n 1)"
echo "# $N people, $K keys per sequential run, $REQ requests per loadgen run, $ROUNDS rounds"
echo "# load before: $(cat /proc/loadavg)"

# The tables: people p0..p(N-1) in tum.de.
awk -v N="$N" 'BEGIN { print "D tum.de tum reject"
    for (i = 0; i < N; i++) { a = "p" i ".person@tum.de"
        print "R " a " tum"; print "T " a " smtp:[exchange.example.org]:25" } }' |
    "$FWDMAP" -d "$T/maps" compile -s 1 || exit 1
SEC=$T/srs.secret
srs_secrets "$SEC" "bench-secret-$RANDOM$RANDOM"
fw_conf
srs_conf_add "$CONF" "$D" "$SEC"
fw_start
"$NULLMAP" -s "unix:$T/nullmap.sock" 2>>"$T/logs/nullmap.log" &
NMPID=$!
t_track "$NMPID"
t_wait 10 test -S "$T/nullmap.sock" || { echo "nullmap did not start"; exit 1; }
postsrsd_start "$SEC" "$D"

mkdir -p "$T/pf"; : >"$T/pf/main.cf"
awk -v N="$N" -v K="$K" 'BEGIN { srand(11)
    for (i = 0; i < K; i++) print "p" int(rand() * N) ".person@tum.de" }' >"$T/k.recipients"
awk -v K="$K" 'BEGIN { for (i = 0; i < K; i++) print "s" i ".Sender@bank" (i % 50) ".example" }' >"$T/k.senders"
postmap -c "$T/pf" -q - "socketmap:unix:$SOCK:srs_forward" <"$T/k.senders" | cut -f2 >"$T/k.srs"
[ "$(wc -l <"$T/k.srs")" = "$K" ] || { echo "bench: srs_forward made $(wc -l <"$T/k.srs") of $K addresses"; exit 1; }
# The same addresses from postsrsd (same secret, domain and day).
postmap -c "$T/pf" -q - "tcp:127.0.0.1:$PSRS_FWD" <"$T/k.senders" | cut -f2 >"$T/k.srs.psrs"
cmp -s "$T/k.srs" "$T/k.srs.psrs" || { echo "bench: postsrsd and fwdmapd make different addresses"; exit 1; }
echo "fwdmapd and postsrsd make the same $K SRS addresses from the same senders"

TABLES=(
    "recipients k.recipients socketmap:unix:$SOCK:recipients"
    "srs_forward k.senders socketmap:unix:$SOCK:srs_forward"
    "srs_reverse k.srs socketmap:unix:$SOCK:srs_reverse"
    "nullmap k.recipients socketmap:unix:$T/nullmap.sock:recipients"
    "postsrsd_forward k.senders tcp:127.0.0.1:$PSRS_FWD"
    "postsrsd_reverse k.srs tcp:127.0.0.1:$PSRS_REV"
)
NT=${#TABLES[@]}
# One postmap run: "NAME MS FOUND".
pm() {
    local name=$1 keys=$2 table=$3 s e
    s=$(date +%s%N)
    postmap -c "$T/pf" -q - "$table" <"$T/$keys" >"$T/pm.out" 2>"$T/pm.err"
    e=$(date +%s%N)
    [ -s "$T/pm.err" ] && { echo "postmap $name errors:" >&2; head -n 3 "$T/pm.err" >&2; }
    echo "$name $(( (e - s) / 1000000 )) $(wc -l <"$T/pm.out")"
}
echo
echo "## 1. sequential postmap -q -, $K keys each (ms, us/key, keys found)"
for tb in "${TABLES[@]}"; do pm $tb >/dev/null; done		# warm-up
: >"$T/seq.all"
for round in $(seq "$ROUNDS"); do
    for i in $(seq 0 $((NT - 1))); do
        pm ${TABLES[$(( (i + round - 1) % NT ))]}
    done >"$T/round"
    awk -v r="$round" -v K="$K" '{ printf "round %d: %-17s %6d ms %6.1f us/key  %d found\n", r, $1, $2, $2 * 1000 / K, $3 }' "$T/round"
    cat "$T/round" >>"$T/seq.all"
done

echo
echo "## 2. closed loop, 100 connections, $REQ requests each (loadgen)"
cpu_ns() { awk '/^se.sum_exec_runtime/ {printf "%.0f\n", $3 * 1e6}' "/proc/$1/sched"; }
sed 's/^/recipients /' "$T/k.recipients" >"$T/lg.recipients"
sed 's/^/srs_forward /' "$T/k.senders" >"$T/lg.srs_forward"
sed 's/^/srs_reverse /' "$T/k.srs" >"$T/lg.srs_reverse"
LOADS=("recipients $FWPID unix:$SOCK lg.recipients" "srs_forward $FWPID unix:$SOCK lg.srs_forward"
       "srs_reverse $FWPID unix:$SOCK lg.srs_reverse" "nullmap $NMPID unix:$T/nullmap.sock lg.recipients")
: >"$T/lg.all"
for round in $(seq "$ROUNDS"); do
    for i in 0 1 2 3; do
        read -r name pid ep keys <<<"${LOADS[$(( (i + round - 1) % 4 ))]}"
        c0=$(cpu_ns "$pid")
        "$LOADGEN" -q -s "$ep" -k "$T/$keys" -c 100 -n "$REQ" >"$T/lg.out" 2>&1 || echo "loadgen $name: exit $?"
        c1=$(cpu_ns "$pid")
        rps=$(awk '/ requests over / { for (i = 1; i <= NF; i++) if ($i ~ /req\/s/) print $(i-1) }' "$T/lg.out" | head -n 1)
        p99=$(grep -o 'p99 [^ ;]*' "$T/lg.out" | head -n 1)
        us=$(awk -v a="$c0" -v b="$c1" -v n="$REQ" 'BEGIN { printf "%.2f", (b - a) / 1e3 / n }')
        printf 'round %d: %-12s %10s req/s  %s us  server CPU %s us/request\n' "$round" "$name" "${rps:-?}" "${p99:-p99 ?}" "$us"
        echo "$name ${rps:-0} $us" >>"$T/lg.all"
        tp=$(grep -o 'TEMP [0-9]* PERM [0-9]* bad [0-9]*' "$T/lg.out")
        [ "$tp" = "TEMP 0 PERM 0 bad 0" ] || echo "  $name: unexpected answers: ${tp:-none parsed}"
    done
done

echo
echo "## summary (medians over $ROUNDS rounds)"
awk -v K="$K" '
    function med(name,   n, i, j, t, a) {
        n = 0; for (i = 1; i <= cnt[name]; i++) a[++n] = v[name, i]
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n ? (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) : 0 }
    FNR == NR { cnt[$1]++; v[$1, cnt[$1]] = $2 * 1000 / K; next }
    { lc[$1]++; r[$1, lc[$1]] = $2; c[$1, lc[$1]] = $3 }
    END {
        f = med("srs_forward"); rv = med("srs_reverse"); rc = med("recipients"); nm = med("nullmap")
        pf = med("postsrsd_forward"); pr = med("postsrsd_reverse")
        printf "sequential us/key: recipients %.1f  srs_forward %.1f  srs_reverse %.1f  nullmap %.1f  postsrsd forward %.1f  postsrsd reverse %.1f\n", rc, f, rv, nm, pf, pr
        printf "  srs_forward/recipients %.2fx  srs_reverse/recipients %.2fx  srs_forward/nullmap %.2fx  srs_reverse/nullmap %.2fx\n", f / rc, rv / rc, f / nm, rv / nm
        printf "  postsrsd forward/fwdmapd srs_forward %.2fx  postsrsd reverse/fwdmapd srs_reverse %.2fx\n", pf / f, pr / rv
        for (k in lc) { n = 0; delete a; delete b
            for (i = 1; i <= lc[k]; i++) { a[i] = r[k, i]; b[i] = c[k, i] }
            for (i = 1; i <= lc[k]; i++) for (j = i + 1; j <= lc[k]; j++) { if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } if (b[j] < b[i]) { t = b[i]; b[i] = b[j]; b[j] = t } }
            m = int((lc[k] + 1) / 2); R[k] = a[m]; C[k] = b[m] }
        printf "closed loop req/s: recipients %d  srs_forward %d  srs_reverse %d  nullmap %d\n", R["recipients"], R["srs_forward"], R["srs_reverse"], R["nullmap"]
        printf "  srs_forward/recipients %.2fx  srs_reverse/recipients %.2fx  srs_forward/nullmap %.2fx (throughput)\n", R["srs_forward"] / R["recipients"], R["srs_reverse"] / R["recipients"], R["srs_forward"] / R["nullmap"]
        printf "server CPU us/request: recipients %.2f  srs_forward %.2f  srs_reverse %.2f  nullmap %.2f\n", C["recipients"], C["srs_forward"], C["srs_reverse"], C["nullmap"]
    }' "$T/seq.all" "$T/lg.all"
echo "# load after: $(cat /proc/loadavg)"
echo "# finished $(date -u +%FT%TZ)"

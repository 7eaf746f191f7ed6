#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS [TARGET...] - run the build-fuzz/fuzz_*
# libFuzzer targets (all, or the ones named) for SECONDS each, starting
# from their seeds in tests/fuzz/seeds/NAME/.  FUZZ_RUNS=N runs each for N
# executions instead (no time limit): `FUZZ_RUNS=10000000 tests/fuzz/run.sh 0`
# is the long run recorded in docs/fuzzing.md.
# New inputs go to a scratch corpus (the seeds stay as committed); a crash
# leaves its input in the scratch directory, which is then kept and named.
# FUZZ_BUILD=DIR takes the targets from DIR (default build-fuzz/).  The
# targets' own stderr (ldapsync's warnings) is closed (-close_fd_mask=2);
# libFuzzer's and the sanitizers' reports still reach the log.
# Exit 0 when every target ran clean, 1 otherwise, 77 when none is built.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${FUZZ_BUILD:-$TOP/build-fuzz}
secs=${1:-20}
shift $(( $# > 0 ? 1 : 0 ))
work=$(mktemp -d /tmp/fwdmap-fuzz.XXXXXX)
rc=0 ran=0
if [ $# -gt 0 ]; then
    targets=()
    for t in "$@"; do targets+=("$BIN/$t"); done
else
    targets=("$BIN"/fuzz_*)
fi
for f in "${targets[@]}"; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    seeds="$TOP/tests/fuzz/seeds/$name"
    mkdir -p "$work/$name/corpus"
    args=("$work/$name/corpus")
    [ -d "$seeds" ] && args+=("$seeds")
    if [ -n "${FUZZ_RUNS:-}" ]; then
        limit=(-runs="$FUZZ_RUNS")
    else
        limit=(-max_total_time="$secs")
    fi
    ran=$((ran+1))
    start=$(date +%s)
    if "$f" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -close_fd_mask=2 \
	    -print_final_stats=1 \
	    -artifact_prefix="$work/$name/" "${args[@]}" \
	    >"$work/$name/log" 2>&1; then
	printf 'fuzz %-16s ok   %s runs in %s s\n' "$name" \
	    "$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$work/$name/log" | grep -o '[0-9]*$')" \
	    "$(( $(date +%s) - start ))"
    else
	rc=1
	printf 'fuzz %-16s FAILED (log and crash input in %s)\n' "$name" "$work/$name"
	tail -n 30 "$work/$name/log"
    fi
done
[ "$ran" -gt 0 ] || { echo "SKIP: no fuzz targets built (make fuzz-build)"; rm -rf "$work"; exit 77; }
[ "$rc" = 0 ] && rm -rf "$work"
exit $rc

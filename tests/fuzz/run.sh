#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS - run every build-fuzz/fuzz_* libFuzzer target
# for SECONDS each, starting from its seeds in tests/fuzz/seeds/NAME/.
# New inputs go to a scratch corpus (the seeds stay as committed); a crash
# leaves its input in the scratch directory, which is then kept and named.
# Exit 0 when every target ran clean, 1 otherwise, 77 when none is built.
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-20}
work=$(mktemp -d /tmp/fwdmap-fuzz.XXXXXX)
rc=0 ran=0
for f in "$TOP"/build-fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    seeds="$TOP/tests/fuzz/seeds/$name"
    mkdir -p "$work/$name/corpus"
    args=("$work/$name/corpus")
    [ -d "$seeds" ] && args+=("$seeds")
    ran=$((ran+1))
    if "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 \
	    -artifact_prefix="$work/$name/" "${args[@]}" \
	    >"$work/$name/log" 2>&1; then
	printf 'fuzz %-16s ok   %s\n' "$name" \
	    "$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$work/$name/log" | grep -o '[0-9]*$') runs"
    else
	rc=1
	printf 'fuzz %-16s FAILED (log and crash input in %s)\n' "$name" "$work/$name"
	tail -n 30 "$work/$name/log"
    fi
done
[ "$ran" -gt 0 ] || { echo "SKIP: no fuzz targets built (make fuzz-build)"; rm -rf "$work"; exit 77; }
[ "$rc" = 0 ] && rm -rf "$work"
exit $rc

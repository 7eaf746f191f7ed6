#!/usr/bin/env bash
# tests/run.sh - run every test: unit programs, shell cases, a short fuzz run.
#
#   tests/run.sh [PATTERN...]
#
# Unit programs are build/tests/t_* (and build-asan/tests/t_* unless
# FWDMAP_NO_ASAN=1).  Shell cases are tests/cases/*.sh; a case whose header
# has the line "# asan: yes" runs a second time against build-asan.  A case
# exits 0 (pass), 77 (skip) or anything else (fail).  Each gets its own
# TEST_TMP; a failing case's directory and logs are kept and shown.
# Ends with the line "N passed, N failed, N skipped".

set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 2
export TOP
pass=0 fail=0 skip=0
failed=()
keep=${FWDMAP_KEEP:-0}
runroot=$(mktemp -d /tmp/fwdmap-run.XXXXXX)

want() {
    [ $# -le 1 ] && return 0
    local name=$1; shift
    local p
    for p in "$@"; do [[ $name == *$p* ]] && return 0; done
    return 1
}

run_one() {	# run_one LABEL BUILD CMD...
    local label=$1 build=$2; shift 2
    local dir="$runroot/$(echo "$label" | tr '/ ' '__')"
    mkdir -p "$dir"
    local start=$(date +%s%N) rc
    ( export TEST_TMP="$dir" FWDMAP_BUILD="$build"; cd "$TOP"; timeout -k 10 "${FWDMAP_CASE_TIMEOUT:-600}" "$@" ) >"$dir/output.log" 2>&1
    rc=$?
    local ms=$(( ($(date +%s%N) - start) / 1000000 ))
    local secs=$(( ms / 1000 )).$(( (ms % 1000) / 100 ))
    case $rc in
    0)  pass=$((pass+1)); printf 'PASS %-50s %6ss\n' "$label" "$secs"
        [ "$keep" = 1 ] || rm -rf "$dir" ;;
    77) skip=$((skip+1)); printf 'SKIP %-50s %s\n' "$label" "$(grep -m1 '^SKIP' "$dir/output.log")" ;;
    *)  fail=$((fail+1)); failed+=("$label")
        printf 'FAIL %-50s %6ss (exit %d; logs kept in %s)\n' "$label" "$secs" "$rc" "$dir"
        echo "---- last lines of $dir/output.log"; tail -n 40 "$dir/output.log"
        for f in $(find "$dir" -name '*.log' ! -name output.log 2>/dev/null | head -n 8); do
            echo "---- last lines of $f"; tail -n 15 "$f"
        done
        echo "----" ;;
    esac
}

builds=(build)
[ "${FWDMAP_NO_ASAN:-0}" = 1 ] || [ ! -d build-asan ] || builds+=(build-asan)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

for b in "${builds[@]}"; do
    for t in "$b"/tests/t_*; do
        [ -x "$t" ] || continue
        want "$b/$(basename "$t")" "$@" || continue
        run_one "unit $b/$(basename "$t")" "$TOP/$b" "$TOP/$t"
    done
done

for c in tests/cases/*.sh; do
    [ -f "$c" ] || continue
    name=$(basename "$c" .sh)
    want "$name" "$@" || continue
    run_one "$name" "$TOP/build" bash "$c"
    if [ "${#builds[@]}" -gt 1 ] && grep -q '^# asan: yes' "$c"; then
        run_one "$name (asan)" "$TOP/build-asan" bash "$c"
    fi
done

# A short fuzz run of every libFuzzer target, when clang can build them.
if [ $# -eq 0 ] && [ "${FWDMAP_NO_FUZZ:-0}" != 1 ] && ls tests/fuzz/fuzz_*.c >/dev/null 2>&1; then
    if command -v clang >/dev/null && make -s fuzz-build >"$runroot/fuzz-build.log" 2>&1; then
        run_one "fuzz (short)" "$TOP/build" tests/fuzz/run.sh "${FWDMAP_FUZZ_SECONDS:-20}"
    else
        skip=$((skip+1)); echo "SKIP fuzz: clang or libFuzzer not available (see $runroot/fuzz-build.log)"
    fi
fi

[ "$fail" = 0 ] && [ "$keep" != 1 ] && rm -rf "$runroot"
echo
[ "$fail" = 0 ] || printf 'failed: %s\n' "${failed[@]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]

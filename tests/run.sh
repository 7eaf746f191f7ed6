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
# Ends with the line "N passed, N failed, N skipped".  FWDMAP_JOBS=N runs
# N shell cases at a time (see queue_case below).
#
# A case skips with t_skip REASON (tests/lib/common.sh), which prints
# "SKIP: REASON" and exits 77.  With FWDMAP_STRICT=1 (what `make check`
# sets) a skip fails the run, unless its reason starts with one of the
# SKIP_ALLOWED prefixes below: the suite must really have run everything
# it claims to have run.

set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 2
export TOP
pass=0 fail=0 skip=0
failed=()
keep=${FWDMAP_KEEP:-0}
strict=${FWDMAP_STRICT:-0}
runroot=$(mktemp -d /tmp/fwdmap-run.XXXXXX)

# Skips that are acceptable even in strict mode: the optional fuzz step on
# a machine without clang or without clang's libFuzzer runtime.
SKIP_ALLOWED=(
    "fuzz: clang not installed"
    "fuzz: libFuzzer not available"
)

skip_allowed() {	# skip_allowed REASON
    local a
    [ "$strict" = 1 ] || return 0
    for a in "${SKIP_ALLOWED[@]}"; do [[ $1 == "$a"* ]] && return 0; done
    return 1
}

# note_skip LABEL REASON: count an allowed skip, or (strict) a failure.
note_skip() {
    if skip_allowed "$2"; then
        skip=$((skip+1)); printf 'SKIP %-50s %s\n' "$1" "$2"
    else
        fail=$((fail+1)); failed+=("$1")
        printf 'FAIL %-50s skipped, and skips are not allowed here (FWDMAP_STRICT=1): %s\n' \
            "$1" "${2:-no reason given}"
    fi
}

want() {
    [ $# -le 1 ] && return 0
    local name=$1; shift
    local p
    for p in "$@"; do [[ $name == *$p* ]] && return 0; done
    return 1
}

# A case may ask for more time than FWDMAP_CASE_TIMEOUT (default 600 s)
# with a header line "# timeout: SECONDS" (the larger one applies).
case_timeout() {	# case_timeout CMD...: the timeout for this command
    local t=${FWDMAP_CASE_TIMEOUT:-600} own=
    [ "$1" = bash ] && [ -f "${2:-}" ] && own=$(sed -n 's/^# timeout: \([0-9][0-9]*\)$/\1/p' "$2" | head -n 1)
    [ -n "$own" ] && [ "$own" -gt "$t" ] && t=$own
    echo "$t"
}

# run_one LABEL BUILD CMD...: run one test now and report it.
run_one() {
    exec_one "$@"
    report_one "$1"
}

# case_dir LABEL: the directory a test runs in (its TEST_TMP).
case_dir() { echo "$runroot/$(echo "$1" | tr '/ ' '__')"; }

# exec_one LABEL BUILD CMD...: run one test; leaves its exit status and
# run time in its directory (rc, secs) for report_one.
exec_one() {
    local label=$1 build=$2; shift 2
    local dir start rc to ms
    dir=$(case_dir "$label")
    mkdir -p "$dir"
    start=$(date +%s%N)
    to=$(case_timeout "$@")
    ( export TEST_TMP="$dir" FWDMAP_BUILD="$build"; cd "$TOP"; timeout -k 10 "$to" "$@" ) >"$dir/output.log" 2>&1
    rc=$?
    # Against the sanitizer build, a report anywhere in the case's logs
    # fails it, even when the case passed: daemons report at exit, after
    # the case has checked everything else.
    if [ "$rc" = 0 ] && [ "$build" = "$TOP/build-asan" ]; then
        local hit
        hit=$(grep -rIlE 'ERROR: (AddressSanitizer|LeakSanitizer)|SUMMARY: UndefinedBehaviorSanitizer|runtime error: ' \
              "$dir" 2>/dev/null | head -n 3)
        if [ -n "$hit" ]; then
            echo "FAIL: sanitizer report in $hit" >>"$dir/output.log"
            rc=70
        fi
    fi
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    echo "$(( ms / 1000 )).$(( (ms % 1000) / 100 ))" >"$dir/secs"
    echo "$rc" >"$dir/rc"
}

# report_one LABEL: count and print the result exec_one left.
report_one() {
    local label=$1 dir rc secs reason f
    dir=$(case_dir "$label")
    rc=$(cat "$dir/rc" 2>/dev/null || echo 99)
    secs=$(cat "$dir/secs" 2>/dev/null || echo "?")
    case $rc in
    0)  pass=$((pass+1)); printf 'PASS %-50s %6ss\n' "$label" "$secs"
        [ "$keep" = 1 ] || rm -rf "$dir" ;;
    77) reason=$(sed -n '/^SKIP: /{s/^SKIP: //p;q}' "$dir/output.log")
        note_skip "$label" "$reason"
        [ "$keep" = 1 ] || ! skip_allowed "$reason" || rm -rf "$dir" ;;
    *)  fail=$((fail+1)); failed+=("$label")
        printf 'FAIL %-50s %6ss (exit %d; logs kept in %s)\n' "$label" "$secs" "$rc" "$dir"
        echo "---- last lines of $dir/output.log"; tail -n 40 "$dir/output.log"
        for f in $(find "$dir" -name '*.log' ! -name output.log 2>/dev/null | head -n 8); do
            echo "---- last lines of $f"; tail -n 15 "$f"
        done
        echo "----" ;;
    esac
}

# Shell cases run FWDMAP_JOBS at a time (make check: one per core; default
# 1).  Most cases wait on daemons and timeouts more than they compute.  A
# case whose header has "# exclusive: yes" (timing checks, heavy loads, the
# system-wide package) runs alone.  Results print in the order cases end.
jobs_max=${FWDMAP_JOBS:-1}
running=()	# labels of the cases running in the background

# reap [all]: report every finished background case (all: wait for all).
reap() {
    local l still
    while :; do
        still=()
        for l in "${running[@]}"; do
            if [ -f "$(case_dir "$l")/rc" ]; then
                wait "${job_pid[$l]}" 2>/dev/null
                report_one "$l"
            else
                still+=("$l")
            fi
        done
        running=("${still[@]}")
        [ "${1:-}" = all ] && [ "${#running[@]}" -gt 0 ] || return 0
        wait -n 2>/dev/null || sleep 0.2
    done
}

declare -A job_pid
# queue_case LABEL BUILD SCRIPT: run a shell case, alone or in parallel.
queue_case() {
    local label=$1
    if [ "$jobs_max" -le 1 ] || grep -q '^# exclusive: yes' "$3"; then
        reap all
        run_one "$1" "$2" bash "$3"
        return
    fi
    while [ "${#running[@]}" -ge "$jobs_max" ]; do
        wait -n 2>/dev/null || sleep 0.2
        reap
    done
    exec_one "$1" "$2" bash "$3" &
    job_pid[$label]=$!
    running+=("$label")
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
    queue_case "$name" "$TOP/build" "$c"
    if [ "${#builds[@]}" -gt 1 ] && grep -q '^# asan: yes' "$c"; then
        queue_case "$name (asan)" "$TOP/build-asan" "$c"
    fi
done
reap all

# A short fuzz run of every libFuzzer target.  Only a missing clang, or a
# clang that cannot link a trivial -fsanitize=fuzzer program, is a skip;
# once clang can build fuzzers, a target that does not build is a failure.
if [ $# -eq 0 ] && [ "${FWDMAP_NO_FUZZ:-0}" != 1 ] && ls tests/fuzz/fuzz_*.c >/dev/null 2>&1; then
    probe=$runroot/fuzz-probe
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void) d; (void) n; return 0; }' \
        >"$probe.c"
    if ! command -v clang >/dev/null; then
        note_skip "fuzz (short)" "fuzz: clang not installed"
    elif ! clang -fsanitize=fuzzer -o "$probe" "$probe.c" >"$probe.log" 2>&1; then
        note_skip "fuzz (short)" "fuzz: libFuzzer not available (clang -fsanitize=fuzzer: $(head -n 1 "$probe.log"))"
    elif ! make -s -j"${FWDMAP_JOBS:-1}" fuzz-build >"$runroot/fuzz-build.log" 2>&1; then
        fail=$((fail+1)); failed+=("fuzz build")
        printf 'FAIL %-50s (make fuzz-build failed although clang builds fuzzers; log in %s)\n' \
            "fuzz build" "$runroot/fuzz-build.log"
        tail -n 20 "$runroot/fuzz-build.log"
    else
        run_one "fuzz (short)" "$TOP/build" tests/fuzz/run.sh "${FWDMAP_FUZZ_SECONDS:-6}"
    fi
fi

[ "$fail" = 0 ] && [ "$keep" != 1 ] && rm -rf "$runroot"
echo
[ "$fail" = 0 ] || printf 'failed: %s\n' "${failed[@]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]

# tests/lib/common.sh - shared helpers for the shell test cases.
#
# Sourced by every tests/cases/*.sh.  tests/run.sh gives each case:
#   TEST_TMP      a fresh temporary directory (kept when the case fails)
#   FWDMAP_BUILD  the build directory holding fwdmapd, ldapsync, fwdmap
#   TOP           the source tree
# Every daemon a case starts is recorded with t_track PID and stopped by
# PID (TERM, then KILL) when the case exits, whatever the outcome.  With
# T_PIDFILE set, t_track also appends "PID NAME" to that file (the demo's
# DIR/pids), so that someone else can check that they are all gone.

set -u
: "${TOP:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${FWDMAP_BUILD:=$TOP/build}"
case "$FWDMAP_BUILD" in /*) ;; *) FWDMAP_BUILD="$TOP/$FWDMAP_BUILD" ;; esac
: "${TEST_TMP:=$(mktemp -d /tmp/fwdmap-test.XXXXXX)}"
export TOP FWDMAP_BUILD TEST_TMP
T=$TEST_TMP
mkdir -p "$T/logs"
_t_pids=()
_t_cleanups=()

# t_track PID [NAME]: remember a PID to stop at exit.
t_track() {
    _t_pids+=("$1")
    [ -z "${T_PIDFILE:-}" ] || printf '%s %s\n' "$1" "${2:-}" >>"$T_PIDFILE"
}

# Register a shell command to run at exit (before PIDs are stopped).
t_on_exit() { _t_cleanups+=("$1"); }

# t_alive PID: the process exists and is not a zombie (a daemon that
# detached, like Postfix's master, is reaped by init, at init's pace).
t_alive() {
    local st
    { read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
    st=${st##*) }
    [ "${st%% *}" != Z ]
}

# Stop one PID: TERM, wait up to 5 s, then KILL.
t_stop_pid() {
    local pid=$1 i
    t_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 50); do
        t_alive "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    sleep 0.1
    return 0
}

# Stop every tracked PID at once: TERM to all, up to 5 s for all of them
# to exit, then KILL what is left.
t_stop_all() {
    local p i alive
    for p in "${_t_pids[@]+"${_t_pids[@]}"}"; do
        t_alive "$p" && kill -TERM "$p" 2>/dev/null
    done
    for i in $(seq 50); do
        alive=
        for p in "${_t_pids[@]+"${_t_pids[@]}"}"; do
            t_alive "$p" && { alive=$p; break; }
        done
        [ -z "$alive" ] && return 0
        sleep 0.1
    done
    for p in "${_t_pids[@]+"${_t_pids[@]}"}"; do
        t_alive "$p" && kill -KILL "$p" 2>/dev/null
    done
    sleep 0.1
    return 0
}

_t_exit() {
    local rc=$? c
    # A second Ctrl-C (or TERM) must not cut the clean-up short.
    trap '' INT TERM HUP
    for c in "${_t_cleanups[@]+"${_t_cleanups[@]}"}"; do eval "$c" >/dev/null 2>&1 || true; done
    t_stop_all
    exit $rc
}
trap _t_exit EXIT
trap 'exit 130' INT TERM

t_log() { printf '%s\n' "$*" >&2; }
t_fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
t_skip() { printf 'SKIP: %s\n' "$*" >&2; exit 77; }

# t_eq WHAT EXPECTED ACTUAL
t_eq() {
    [ "$2" = "$3" ] || t_fail "$1: expected [$2], got [$3]"
}
# t_match WHAT REGEX ACTUAL
t_match() {
    [[ $3 =~ $2 ]] || t_fail "$1: [$3] does not match /$2/"
}

# t_wait SECONDS CMD...: retry CMD every 0.1 s until it succeeds or time runs out.
t_wait() {
    local secs=$1; shift
    local end=$(( $(date +%s%N) + secs * 1000000000 ))
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        [ "$(date +%s%N)" -ge "$end" ] && return 1
        sleep 0.1
    done
}

# t_port: print a TCP port on 127.0.0.1 nobody is listening on.
# Ports are handed out from a per-run range so parallel cases do not collide.
t_port() {
    local p
    for _ in $(seq 200); do
        p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
            if ! grep -q ":$(printf '%04X' "$p") " /proc/net/tcp 2>/dev/null; then
                echo "$p"; return 0
            fi
        fi
    done
    t_fail "no free port found"
}

# t_bin NAME: path of a built program.
t_bin() { echo "$FWDMAP_BUILD/$1"; }

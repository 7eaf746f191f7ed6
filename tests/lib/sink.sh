# tests/lib/sink.sh - one smtp-sink per destination, and assertions on what each received.
#
# Sourced after tests/lib/common.sh.  Each sink is Postfix's smtp-sink(1)
# on 127.0.0.1:<random port>, dumping every mail transaction into its own
# file under $SINK_ROOT/NAME/ (smtp-sink -d).  smtp-sink writes the
# envelope into the dump as "X-Mail-Args: <sender>" and one
# "X-Rcpt-Args: <rcpt> [ORCPT=...]" line per RCPT command, which is what
# the assertions read.  Tests tag each message with a unique header
# "X-Fwdmap-Test: TOKEN" (see pf_smtp), so one sink can hold many tests'
# messages and still answer exactly.
#
#   sink_start NAME [smtp|lmtp]	start a sink; its port is $(sink_port NAME)
#   sink_stop NAME			stop it (by PID): the destination is down
#   sink_restart NAME		start it again on the same port
#   sink_port NAME			print its port
#   sink_names			print the names of all sinks started
#   sink_rcpts NAME [TOKEN]		print envelope recipients received (one per
#					line per message, lower-cased)
#   sink_rcpts_as_sent NAME [TOKEN]	the same in the case they arrived in
#   sink_count NAME RCPT [TOKEN]	print how many messages (with TOKEN) NAME got for RCPT
#   sink_where RCPT TOKEN		print "NAME" for every sink that got TOKEN for RCPT
#   sink_wait NAME RCPT TOKEN [SECS]	wait until NAME got TOKEN for RCPT (0/1)
#   sink_expect NAME RCPT TOKEN [SECS]	like sink_wait, but fail the test with a
#					message telling where the mail went instead
#   sink_expect_only NAME RCPT TOKEN	exactly one copy at NAME, none elsewhere
#   sink_expect_none TOKEN [RCPT]	no sink has TOKEN (for RCPT)
#   sink_total NAME			number of messages NAME received
#   sink_sender NAME RCPT TOKEN		print the envelope sender of the copy of
#					TOKEN for RCPT at NAME ("" for <>)
#   sink_message NAME RCPT TOKEN	print that copy as received (without the
#					X-Client/Helo/Mail/Rcpt lines smtp-sink adds)

: "${SINK_ROOT:=$TEST_TMP/sinks}"
declare -A SINK_PORT SINK_PID SINK_PROTO
_sink_names=()

sink_start() {
    local name=$1 proto=${2:-smtp} port=${3:-} dir pid opt=
    [ -n "$name" ] || t_fail "sink_start NAME"
    [ "$proto" = lmtp ] && opt=-L
    dir=$SINK_ROOT/$name
    mkdir -p "$dir" || t_fail "mkdir $dir"
    [ -n "$port" ] || port=$(t_port)
    # -u root: smtp-sink insists on a user when started as root; root keeps
    # the dump directory writable without opening up TEST_TMP.
    smtp-sink $opt -u "$(id -un)" -h "sink-$name.fwdmap.invalid" \
        -d "$dir/%Y%m%d%H%M%S." "127.0.0.1:$port" 64 \
        >"$dir.log" 2>&1 &
    pid=$!
    t_track "$pid" "smtp-sink $name"
    SINK_PORT[$name]=$port
    SINK_PID[$name]=$pid
    SINK_PROTO[$name]=$proto
    [[ " ${_sink_names[*]} " == *" $name "* ]] || _sink_names+=("$name")
    t_wait 5 _sink_up "$port" || t_fail "smtp-sink $name does not answer on port $port"
}

_sink_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1" && head -c 3 <&3 | grep -q 220) 2>/dev/null; }

sink_stop() {
    local pid=${SINK_PID[$1]:-}
    [ -n "$pid" ] && t_stop_pid "$pid"
    return 0
}

sink_restart() { sink_start "$1" "${SINK_PROTO[$1]}" "${SINK_PORT[$1]}"; }

sink_port() { echo "${SINK_PORT[$1]:?no sink $1}"; }
sink_names() { printf '%s\n' "${_sink_names[@]}"; }

# The dump files of sink NAME holding TOKEN (all of them without TOKEN).
_sink_files() {
    local dir=$SINK_ROOT/$1 tok=${2:-}
    [ -d "$dir" ] || return 0
    if [ -n "$tok" ]; then
        grep -l -F -x "X-Fwdmap-Test: $tok" "$dir"/* 2>/dev/null
    else
        find "$dir" -type f 2>/dev/null
    fi
}

# The envelope recipients of one dump file, lower-cased, one per line.
_sink_file_rcpts() {
    sed -n 's/^X-Rcpt-Args: <\([^>]*\)>.*/\1/p' "$1" | tr 'A-Z' 'a-z'
}

sink_rcpts() {
    local f
    for f in $(_sink_files "$1" "${2:-}"); do _sink_file_rcpts "$f"; done
}

sink_rcpts_as_sent() {
    local f
    for f in $(_sink_files "$1" "${2:-}"); do
        sed -n 's/^X-Rcpt-Args: <\([^>]*\)>.*/\1/p' "$f"
    done
}

sink_count() {
    local want
    want=$(printf '%s' "$2" | tr 'A-Z' 'a-z')
    sink_rcpts "$1" "${3:-}" | grep -c -F -x -- "$want"
}

sink_total() { _sink_files "$1" | wc -l; }

# The dump file of NAME holding TOKEN for RCPT (the first one).
_sink_file_for() {
    local f want
    want=$(printf '%s' "$2" | tr 'A-Z' 'a-z')
    for f in $(_sink_files "$1" "$3"); do
        _sink_file_rcpts "$f" | grep -q -F -x -- "$want" && { echo "$f"; return 0; }
    done
    return 1
}

sink_sender() {
    local f
    f=$(_sink_file_for "$@") || return 1
    sed -n 's/^X-Mail-Args: <\([^>]*\)>.*/\1/p' "$f" | head -n 1
}

sink_message() {
    local f
    f=$(_sink_file_for "$@") || return 1
    awk 'hdr && /^X-(Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args): / { next }
         { hdr = 0; print }' hdr=1 "$f"
}

sink_where() {
    local n
    for n in "${_sink_names[@]}"; do
        [ "$(sink_count "$n" "$1" "$2")" -gt 0 ] && echo "$n"
    done
    return 0
}

_sink_has() { [ "$(sink_count "$1" "$2" "$3")" -gt 0 ]; }

sink_wait() { t_wait "${4:-20}" _sink_has "$1" "$2" "$3"; }

# Where did TOKEN go?  For failure messages.
_sink_describe() {
    local tok=$1 n r out=
    for n in "${_sink_names[@]}"; do
        r=$(sink_rcpts "$n" "$tok" | tr '\n' ' ')
        [ -n "$r" ] && out="$out $n:[${r% }]"
    done
    echo "${out:- nowhere}"
}

sink_expect() {
    local name=$1 rcpt=$2 tok=$3 secs=${4:-20}
    sink_wait "$name" "$rcpt" "$tok" "$secs" && return 0
    t_fail "message $tok for <$rcpt> did not reach sink $name within ${secs}s; it reached:$(_sink_describe "$tok")$(_sink_queue_hint)"
}

sink_expect_only() {
    local name=$1 rcpt=$2 tok=$3 n c
    sink_expect "$name" "$rcpt" "$tok"
    c=$(sink_count "$name" "$rcpt" "$tok")
    [ "$c" -eq 1 ] || t_fail "sink $name got $c copies of $tok for <$rcpt>, expected 1"
    for n in "${_sink_names[@]}"; do
        [ "$n" = "$name" ] && continue
        c=$(sink_count "$n" "$rcpt" "$tok")
        [ "$c" -eq 0 ] || t_fail "sink $n also got $tok for <$rcpt> ($c copies)"
    done
}

sink_expect_none() {
    local tok=$1 rcpt=${2:-} n
    # "Nothing arrived" means something only once Postfix has nothing left
    # to deliver: wait for its queue to drain first (not an assertion;
    # SINK_QUEUE_HELD=1 where a case holds deferred mail on purpose).
    if [ -z "${SINK_QUEUE_HELD:-}" ] && declare -F pf_wait_queue_empty >/dev/null; then
        pf_wait_queue_empty 10 || t_log "sink_expect_none: queue not empty after 10 s"
    fi
    for n in "${_sink_names[@]}"; do
        if [ -n "$rcpt" ]; then
            [ "$(sink_count "$n" "$rcpt" "$tok")" -eq 0 ] ||
                t_fail "sink $n got $tok for <$rcpt>, expected no delivery"
        else
            [ -z "$(_sink_files "$n" "$tok")" ] ||
                t_fail "sink $n got $tok ($(sink_rcpts "$n" "$tok" | tr '\n' ' ')), expected no delivery"
        fi
    done
}

# When postfix.sh is loaded, say what the queue and the log say.
_sink_queue_hint() {
    declare -F pf_queue_count >/dev/null || return 0
    printf '; %s message(s) queued; last log lines:\n%s' "$(pf_queue_count)" \
        "$(tail -n 8 "${PF_LOG:-/dev/null}" 2>/dev/null)"
}

#!/usr/bin/env bash
# exclusive: yes (runs alone when tests/run.sh runs cases in parallel)
# timeout: 900
# 65-demo.sh - `make demo` (scripts/demo.sh) tells the truth and cleans up.
# Each run has DEMO_DIR=$TEST_TMP/<run> and is started in its own process
# group, as a shell started from a terminal would start it.
#   (a) a plain run exits 0; its table shows, for a representative set of
#       recipients, what the stores really received (checked here against
#       the sink dumps and the swaks transcripts, with this case's own
#       expectations), and the rejections; afterwards every PID in
#       DIR/pids is gone and no process refers to DIR; the command it
#       prints at the end works;
#   (b) SIGINT to the demo's process group mid-run (Ctrl-C in a terminal)
#       and (c) SIGINT to the demo's PID only, while Postfix starts: both
#       end quickly with everything stopped;
#   (d) --keep-running on a copy of the sample directory that does not
#       route as the demo expects: PROBLEM lines for exactly the affected
#       recipients; every printed hint works as printed (swaks, fwdmap
#       explain, fwdmapd -S, ldapmodify -y DIR/rootdn.pw, mode 0600); SIGINT
#       to the PID stops everything at once and the exit status is the
#       verdict's, 1.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/postfix.sh"	# fw_need
fw_need

STOP_SECS=8	# "quickly": the demo stops in well under this

# demo_start NAME [ARG...]: start the demo with DEMO_DIR=$T/NAME in its own
# process group; sets DEMO_PID, DDIR, OUT.
demo_start() {
    local name=$1; shift
    DDIR=$T/$name
    OUT=$T/$name.out
    set -m
    DEMO_DIR=$DDIR "$TOP/scripts/demo.sh" "$@" >"$OUT" 2>&1 &
    DEMO_PID=$!
    set +m
    t_on_exit "_demo_kill $DEMO_PID $DDIR"
}

# If this case fails half-way: stop the demo and whatever it listed.
_demo_kill() {
    local pid name
    t_stop_pid "$1"
    [ -f "$2/pids" ] || return 0
    while read -r pid name; do t_stop_pid "$pid"; done <"$2/pids"
}

_out_has() { grep -q -E -- "$1" "$OUT"; }
# demo_wait_for REGEX [SECS]: wait until the demo printed a line matching REGEX.
demo_wait_for() {
    t_wait "${2:-40}" _out_has "$1" ||
        t_fail "the demo did not print /$1/ within ${2:-40} s; its output:$(tail -n 30 "$OUT")"
}

_gone() { ! t_alive "$1"; }
# demo_end SECS: wait up to SECS for the demo to exit; sets RC and STOP_MS.
demo_end() {
    local t0
    t0=$(date +%s%N)
    t_wait "$1" _gone "$DEMO_PID" ||
        t_fail "the demo (PID $DEMO_PID) still runs ${1} s later; its output:$(tail -n 20 "$OUT")"
    STOP_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
    wait "$DEMO_PID"
    RC=$?
}

# no_leftovers: every PID in DIR/pids is gone, and no process refers to DIR
# in its command line or environment (Postfix's children are not in
# DIR/pids, but carry MAIL_CONFIG=DIR/postfix/etc).
no_leftovers() {
    local pid name p n=0
    [ -s "$DDIR/pids" ] || t_fail "$DDIR/pids is missing or empty"
    while read -r pid name; do
        n=$((n + 1))
        ! t_alive "$pid" ||
            t_fail "$name (PID $pid, from $DDIR/pids) still runs: $(ps -o args= -p "$pid")"
    done <"$DDIR/pids"
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = $$ ] && continue
        if grep -q -F -- "$DDIR/" "/proc/$p/cmdline" "/proc/$p/environ" 2>/dev/null; then
            t_fail "process $p still refers to $DDIR: $(tr '\0' ' ' <"/proc/$p/cmdline")"
        fi
    done
    t_log "   $n PIDs in $DDIR/pids, all gone; no process refers to $DDIR"
}

# where TOKEN: "sink:envelope recipient" of every message with TOKEN in the
# demo's sinks, sorted.
where() {
    local f
    for f in $(grep -l -r -F -x "X-Fwdmap-Test: $1" "$DDIR/sinks" 2>/dev/null); do
        sed -n 's/^X-Rcpt-Args: <\([^>]*\)>.*/\1/p' "$f" | tr 'A-Z' 'a-z' |
            sed "s|^|$(basename "$(dirname "$f")"):|"
    done | sort
}

# token_of RCPT: the X-Fwdmap-Test token of the message that the demo sent
# to RCPT alone (from the swaks transcripts).
token_of() {
    local f
    f=$(grep -l -x -F " -> RCPT TO:<$1>" "$DDIR"/postfix/smtp-*.log |
        xargs grep -c -H '^ -> RCPT TO:' | awk -F: '$2 == 1 { print $1; exit }')
    [ -n "$f" ] || t_fail "no swaks transcript with the single recipient $1"
    sed -n 's/^ -> X-Fwdmap-Test: //p' "$f" | tr -d '\r'
}

# row RCPT: the demo's table line for RCPT (it starts with "RCPT ").
row() { awk -v r="$1 " 'substr($0, 1, length(r)) == r' "$OUT"; }

# ---------------------------------------------------------------- (a)
t0=$(date +%s)
demo_start plain
demo_end 240
t_log "(a) plain run: exit $RC after $(( $(date +%s) - t0 )) s"
[ "$RC" = 0 ] || t_fail "plain demo run exited $RC; its output:$(grep -E '^(PROBLEM|FAIL)' "$OUT"; tail -n 25 "$OUT")"
t_eq "first line" "demo directory: $DDIR" "$(head -n 1 "$OUT")"
! grep -q '^PROBLEM' "$OUT" || t_fail "exit 0 but: $(grep '^PROBLEM' "$OUT")"
_out_has '^   OK: all 23 messages reached exactly the expected stores' || t_fail "no OK verdict"
_out_has "^   PIDs +$DDIR/pids" || t_fail "the demo did not say where its PIDs are"
_out_has "^   Postfix +$DDIR/postfix/maillog" || t_fail "the demo did not say where the logs are"

# recipient | what the row must say | where the stores must have it
# (this case's own reading of scripts/demo/directory.ldif)
ROWS=(
    "jane.doe@tum.de|Exchange <jane.doe@tum.de>|exchange:jane.doe@tum.de"
    "j.doe@tum.de|Exchange <jane.doe@tum.de>|exchange:jane.doe@tum.de"
    "Jane.Doe+Lists@TUM.de|Exchange <jane.doe+lists@tum.de>|exchange:jane.doe+lists@tum.de"
    "erika.mustermann@tum.de|Exchange <erika.mustermann@tum.de>, Internet <erika.m@example.com>|exchange:erika.mustermann@tum.de outside:erika.m@example.com"
    "ga12abc@mytum.de|myTUM (LMTP) <max.muster@mytum.de>|mytum:max.muster@mytum.de"
    "olga.ehemalig@alumni.tum.de|Internet <o.ehemalig@example.net>, Internet <olga@example.com>|outside:o.ehemalig@example.net outside:olga@example.com"
    "clara.chemie@ch.tum.de|chemistry's own server <clara.chemie@ch.tum.de>|dept:clara.chemie@ch.tum.de"
    "einstein@ph.tum.de|old physics server <einstein@ph.tum.de>|physics:einstein@ph.tum.de"
    "postmaster@lrz.de|Exchange <lena.berger@lrz.de>|exchange:lena.berger@lrz.de"
    "tom.huber@lrz.de|myTUM (LMTP) <tom.huber@lrz.de>|mytum:tom.huber@lrz.de"
    "it-team@tum.de|Exchange <erika.mustermann@tum.de>, Exchange <jane.doe@tum.de>, myTUM (LMTP) <max.muster@mytum.de>, Internet <erika.m@example.com>|exchange:erika.mustermann@tum.de exchange:jane.doe@tum.de mytum:max.muster@mytum.de outside:erika.m@example.com"
    "fakultaet-info@tum.de|Exchange <erika.mustermann@tum.de>, Exchange <jane.doe@tum.de>, Exchange <paul.physik@ph.tum.de>, myTUM (LMTP) <max.muster@mytum.de>, chemistry's own server <clara.chemie@ch.tum.de>, Internet <erika.m@example.com>|exchange:erika.mustermann@tum.de exchange:jane.doe@tum.de exchange:paul.physik@ph.tum.de mytum:max.muster@mytum.de dept:clara.chemie@ch.tum.de outside:erika.m@example.com"
    "senat@tum.de|Exchange <jane.doe@tum.de>, Internet <familie.alt@example.net>, Internet <senat-archiv@example.org>|exchange:jane.doe@tum.de outside:familie.alt@example.net outside:senat-archiv@example.org"
)
for x in "${ROWS[@]}"; do
    IFS='|' read -r r text sinks <<<"$x"
    line=$(row "$r")
    [ "$(printf '%s\n' "$line" | grep -c .)" = 1 ] || t_fail "table rows for $r: [$line]"
    [[ $line == *" $text" ]] || t_fail "row for $r: [$line], expected it to end with [$text]"
    tok=$(token_of "$r")
    t_eq "stores' copies of $r ($tok)" "$(printf '%s\n' $sinks | sort)" "$(where "$tok")"
done
for r in nobody@tum.de info@lrz.de bad.store@tum.de bad.forward@alumni.tum.de; do
    line=$(row "$r")
    [[ $line == *" 550 5.1.1 <$r>: Recipient address rejected"* ]] ||
        t_fail "rejection row for $r: [$line]"
    f=$(grep -l -x -F " -> RCPT TO:<$r>" "$DDIR"/postfix/smtp-*.log)
    grep -q "^<\*\* *550 5\.1\.1 <$r>" $f || t_fail "swaks transcript $f: $r not rejected"
    ! grep -r -q -i -F "X-Rcpt-Args: <$r>" "$DDIR/sinks" || t_fail "a store has mail for rejected $r"
done
# The members-only list refuses an outsider at RCPT, naming the list.
r=academic-senate@tum.de
line=$(row "$r")
[[ $line == *" 554 5.7.1 <$r>: Recipient address rejected: group <senat@tum.de> accepts mail only from its members" ]] ||
    t_fail "rejection row for $r: [$line]"
f=$(grep -l -x -F " -> RCPT TO:<$r>" "$DDIR"/postfix/smtp-*.log)
grep -q "^<\*\* *554 5\.7\.1 <$r>" $f || t_fail "swaks transcript $f: $r not refused"
_out_has '^ +path +fakultaet-info@tum.de -> it-team@tum.de -> max.muster@mytum.de$' ||
    t_fail "no explain path through the nested list"
# the change: max.muster's next message went to Exchange
t_match "after the change" "^   max\\.muster@mytum\\.de +Exchange <max\\.muster@mytum\\.de>$" \
    "$(grep '^   max.muster@mytum.de ' "$OUT")"
t_eq "stray sink" "" "$(ls "$DDIR/sinks/stray")"
no_leftovers
# the command printed at the end works (slapd and all are gone; the tables stay)
hint=$(sed -n 's/^   \$ \(.*fwdmap -d .* explain jane\.doe@tum\.de\)$/\1/p' "$OUT")
[ -n "$hint" ] || t_fail "no fwdmap explain hint at the end"
out=$(bash -c "$hint" 2>&1) || t_fail "hint [$hint] failed: $out"
[[ $out == *"accepted and routed"* && $out == *"uid=jane.doe,ou=tum"* ]] ||
    t_fail "hint [$hint] said: $out"

# ---------------------------------------------------------------- (b)
demo_start group
demo_wait_for '^== Sending one message per recipient'
sleep 0.3
kill -INT -- "-$DEMO_PID"
demo_end "$STOP_SECS"
t_log "(b) SIGINT to the process group while sending: exit $RC, stopped in $STOP_MS ms"
t_eq "exit status after Ctrl-C" 130 "$RC"
_out_has '^== Stopping everything the demo started' || t_fail "(b) no stop message"
no_leftovers

# ---------------------------------------------------------------- (c)
demo_start pid
demo_wait_for '^== fwdmapd and a private Postfix forwarder'
sleep 0.3
kill -INT "$DEMO_PID"
demo_end "$STOP_SECS"
t_log "(c) SIGINT to the demo's PID while Postfix starts: exit $RC, stopped in $STOP_MS ms"
t_eq "exit status after SIGINT" 130 "$RC"
no_leftovers

# ---------------------------------------------------------------- (d)
# A sample directory that disagrees with the demo's expectations: Jane's
# mailbox moved to myTUM, and LRZ itself claims info@lrz.de.
data=$T/baddata
mkdir -p "$data"
cp "$TOP/scripts/demo/fwdmap.json.in" "$data/"
awk -v RS= -v ORS='\n\n' '
    /(^|\n)dn: uid=jane\.doe,/ { sub(/fwdMailboxLocation: exchange/, "fwdMailboxLocation: mytum") }
    /(^|\n)dn: uid=lena\.berger,/ { sub(/fwdMailAlias: postmaster@lrz\.de/, "&\nfwdMailAlias: info@lrz.de") }
    { print }' "$TOP/scripts/demo/directory.ldif" >"$data/directory.ldif"
t_eq "changed lines" 2 "$(diff "$TOP/scripts/demo/directory.ldif" "$data/directory.ldif" | grep -c '^> .')"

FWDMAP_DEMO_DATA=$data demo_start keep --keep-running
demo_wait_for '^== Everything keeps running' 240
problems=$(sed -n 's/^PROBLEM: \([^:]*\):.*/\1/p' "$OUT" | sort -u | tr '\n' '|')
t_eq "recipients with PROBLEM lines" \
    "Jane.Doe+Lists@TUM.de|fakultaet-info@tum.de|info@lrz.de|it-team@tum.de|j.doe@tum.de|jane.doe@ei.tum.de|jane.doe@tum.de|one message to 5 recipients|senat@tum.de|" \
    "$problems"
_out_has '^PROBLEM: jane\.doe@tum\.de: expected Exchange <jane\.doe@tum\.de>; reached myTUM \(LMTP\) <jane\.doe@tum\.de>$' ||
    t_fail "no PROBLEM line saying where jane.doe's mail went: $(grep '^PROBLEM' "$OUT")"
_out_has '^PROBLEM: info@lrz\.de: should have been rejected, but reached Exchange <lena\.berger@lrz\.de>$' ||
    t_fail "no PROBLEM line for info@lrz.de: $(grep '^PROBLEM' "$OUT")"
row jane.doe@tum.de | grep -q -- '<-- PROBLEM' || t_fail "jane.doe's row is not marked"

# The hints, exactly as printed.
mapfile -t hints < <(sed -n '/^== Everything keeps running/,$ s/^   \$ //p' "$OUT")
t_eq "number of hints" 4 "${#hints[@]}"
for h in "${hints[@]}"; do
    case $h in
    swaks*) h_swaks=$h ;;
    *" explain olga.ehemalig@alumni.tum.de") h_explain=$h ;;
    *fwdmapd*" -S") h_stats=$h ;;
    ldapmodify*) h_modify=$h ;;
    *) t_fail "unexpected hint [$h]" ;;
    esac
done
[[ $h_modify == *" -y $DDIR/rootdn.pw "* ]] || t_fail "ldapmodify hint without -y $DDIR/rootdn.pw: [$h_modify]"
[[ " $h_modify " != *" -w "* && " $h_modify " != *rootsecret* ]] || t_fail "password on the command line: [$h_modify]"
t_eq "mode of rootdn.pw" 600 "$(stat -c %a "$DDIR/rootdn.pw")"

_outside_count() { grep -l -r -i -F "X-Rcpt-Args: <$1>" "$DDIR/sinks/outside" 2>/dev/null | wc -l; }
_outside_more() { [ "$(_outside_count "$1")" -gt "$2" ]; }
n=$(_outside_count olga@example.com)
out=$(bash -c "$h_swaks" 2>&1) || t_fail "[$h_swaks] failed: $(tail -n 5 <<<"$out")"
t_wait 15 _outside_more olga@example.com "$n" || t_fail "swaks hint: nothing reached olga@example.com"
out=$(bash -c "$h_explain" 2>&1) || t_fail "[$h_explain] failed: $out"
[[ $out == *olga@example.com* ]] || t_fail "[$h_explain] said: $out"
out=$(bash -c "$h_stats" 2>&1) || t_fail "[$h_stats] failed: $out"
python3 -c 'import json, sys; json.loads(sys.argv[1])' "$out" || t_fail "[$h_stats] is not JSON: $out"
out=$(bash -c "$h_modify" 2>&1) || t_fail "[$h_modify] failed: $out"
_explains_new() { bash -c "$h_explain" 2>/dev/null | grep -q olga.neu@example.org; }
t_wait 15 _explains_new || t_fail "after [$h_modify], explain still says: $(bash -c "$h_explain" 2>&1)"
# explain reads the published files; fwdmapd switches to them within its
# reload_check_ms: wait until Postfix's own client gets the new answer.
_served_new() {
    postmap -c "$DDIR/postfix/etc" -q olga.ehemalig@alumni.tum.de \
        "socketmap:unix:$DDIR/run/fwdmapd.sock:virtual" | grep -q olga.neu@example.org
}
t_wait 15 _served_new || t_fail "fwdmapd does not serve the new forward"
n=$(_outside_count olga.neu@example.org)
out=$(bash -c "$h_swaks" 2>&1) || t_fail "[$h_swaks] failed: $(tail -n 5 <<<"$out")"
t_wait 15 _outside_more olga.neu@example.org "$n" || t_fail "after the change, nothing reached olga.neu@example.org"

kill -INT "$DEMO_PID"
demo_end "$STOP_SECS"
t_log "(d) --keep-running, SIGINT to the PID: exit $RC, stopped in $STOP_MS ms"
t_eq "exit status of a kept-running demo with problems" 1 "$RC"
no_leftovers
exit 0

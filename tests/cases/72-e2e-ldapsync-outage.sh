#!/usr/bin/env bash
# exclusive: yes (runs alone when tests/run.sh runs cases in parallel)
# 72-e2e-ldapsync-outage.sh - end to end, scenario 12 of issue 4:
# ldapsync killed with SIGKILL while publishing, and slapd stopped during a
# sync: the previous generation keeps serving, mail keeps flowing, and once
# things are back the directory's state is published.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/postfix.sh"
source "$TOP/tests/lib/sink.sh"
fw_start
fwdmap=$(t_bin fwdmap)
ex="127\\.0\\.0\\.1\\]:$(sink_port exchange)\$"
my="127\\.0\\.0\\.1\\]:$(sink_port mytum)\$"

gen_ok() {	# the published generation opens and verifies
    "$fwdmap" -d "$FW_MAPS" info >/dev/null 2>&1 || t_fail "published generation does not verify: $("$fwdmap" -d "$FW_MAPS" info 2>&1)"
}

# --- SIGKILL at many points of a sync-and-publish cycle.  Each round
# flips max between the stores and kills ldapsync a little later each
# time; whatever it managed to publish must be complete, and mail flows.
fw_ldapsync_stop
loc=exchange
for delay in 0 0.02 0.05 0.1 0.15 0.2 0.3 0.5; do
    fw_ldapmodify <<LDIF
dn: uid=max.muster,ou=tum,dc=example,dc=org
changetype: modify
replace: fwdMailboxLocation
fwdMailboxLocation: $loc
LDIF
    "$(t_bin ldapsync)" -c "$FW_CONF" >>"$TEST_TMP/logs/ldapsync.log" 2>&1 &
    pid=$!
    t_track "$pid"
    sleep "$delay"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    gen_ok
    v=$(fw_query transport max.muster@mytum.de) ||
        t_fail "after ldapsync was restarted and SIGKILLed (delay $delay s) max.muster@mytum.de has no transport: [$v]; $(tail -n 3 "$TEST_TMP/logs/ldapsync.log")"
    [[ $v =~ $ex || $v =~ $my ]] || t_fail "transport max.muster@mytum.de = [$v] after SIGKILL"
    fw_send jane.doe@tum.de
    sink_expect_only exchange jane.doe@tum.de "$PF_TOKEN"
    [ $loc = exchange ] && loc=mytum || loc=exchange
done
# --- The same, deterministically: strace kills ldapsync (SIGKILL, at
# syscall entry) at its 1st, 2nd, ... rename(2): before each file it
# publishes (delta, tables, cookie, state) is in place.  Every point of
# the publish sequence is hit once, until a cycle has fewer renames.
# Each round gives max.muster a new extra forward, so that every round
# has something to publish whatever the previous one managed.
killed=0 prev=
for n in 1 2 3 4 5 6 7 8; do
    fw_ldapmodify <<LDIF
dn: uid=max.muster,ou=tum,dc=example,dc=org
changetype: modify
replace: fwdForwardAddress
fwdForwardAddress: round$n@example.net
LDIF
    strace -f -qq -o "$TEST_TMP/strace.$n" -e trace=rename,renameat,renameat2 \
        -e inject=rename,renameat,renameat2:signal=KILL:when=$n \
        "$(t_bin ldapsync)" -c "$FW_CONF" >>"$TEST_TMP/logs/ldapsync.log" 2>&1 &
    spid=$!
    t_track "$spid"
    gone() { ! kill -0 "$spid" 2>/dev/null; }
    if ! t_wait 15 gone; then
        # Fewer than n renames in a whole cycle: it published and runs on.
        grep -q 'killed by SIGKILL' "$TEST_TMP/strace.$n" && t_fail "round $n: killed, yet still running"
        fw_wait_query 10 virtual max.muster@mytum.de ".*round$n@example.net" ||
            t_fail "round $n: ldapsync survived but did not publish: [$(fw_query virtual max.muster@mytum.de)]"
        lpid=$(pgrep -P "$spid" -x ldapsync || true)
        [ -n "$lpid" ] && kill -TERM $lpid
        t_wait 10 gone || t_fail "ldapsync under strace did not stop"
        wait "$spid" 2>/dev/null
        break
    fi
    wait "$spid" 2>/dev/null
    grep -q 'killed by SIGKILL' "$TEST_TMP/strace.$n" ||
        t_fail "round $n: ldapsync ended but not by the injected SIGKILL: $(tail -n 3 "$TEST_TMP/strace.$n")"
    killed=$((killed + 1))
    t_log "round $n: killed at: $(grep -E 'rename' "$TEST_TMP/strace.$n" | tail -n 1)"
    gen_ok
    v=$(fw_query virtual max.muster@mytum.de) || v=
    # Published before the kill, or not: this round's forward, or the
    # last one that did get out (none, before the first).
    if [[ $v == *round$n@example.net* ]]; then prev=round$n
    elif [ -n "$prev" ]; then [[ $v == *$prev@example.net* ]] || t_fail "round $n: virtual max.muster = [$v], neither round$n nor $prev"
    else [[ $v != *round* ]] || t_fail "round $n: virtual max.muster = [$v] names a forward never published"
    fi
    fw_send jane.doe@tum.de
    sink_expect_only exchange jane.doe@tum.de "$PF_TOKEN"
done
[ "$killed" -ge 3 ] || t_fail "only $killed rename(s) in a publish cycle were hit"
t_log "killed ldapsync at $killed rename points"
fw_ldapmodify <<LDIF
dn: uid=max.muster,ou=tum,dc=example,dc=org
changetype: modify
delete: fwdForwardAddress
LDIF

# The last change requested "mytum"... or "exchange": compute what the
# directory says now and let a restarted ldapsync publish it.
[ $loc = exchange ] && want=$my || want=$ex
fw_ldapsync_start
fw_wait_query 20 transport max.muster@mytum.de "$want" ||
    t_fail "restarted ldapsync did not publish the directory's state: [$(fw_query transport max.muster@mytum.de)]"
gen_ok

# --- slapd dies in the middle of a sync: a change is made and slapd is
# killed right away, while ldapsync is receiving it.  Whatever was
# published is complete, mail keeps flowing on it, and once slapd is back
# ldapsync catches up with the change.
fw_ldapmodify <<LDIF
dn: uid=lisa.leaving,ou=tum,dc=example,dc=org
changetype: modify
replace: fwdMailboxLocation
fwdMailboxLocation: exchange
LDIF
slapd_kill ldap
gen_ok
fw_send max.muster@mytum.de hans.alt@alumni.tum.de clara.chemie@ch.tum.de
t_eq "RCPT max.muster with slapd down" 250 "$(pf_rcpt_code max.muster@mytum.de)"
[[ $want == "$my" ]] && store=mytum || store=exchange
sink_expect_only "$store" max.muster@mytum.de "$PF_TOKEN"
sink_expect_only outside familie.alt@example.net "$PF_TOKEN"
sink_expect_only dept clara.chemie@ch.tum.de "$PF_TOKEN"
fw_send lisa.leaving@mytum.de
t_eq "RCPT lisa.leaving with slapd down" 250 "$(pf_rcpt_code lisa.leaving@mytum.de)"
sink_wait exchange lisa.leaving@mytum.de "$PF_TOKEN" || sink_expect mytum lisa.leaving@mytum.de "$PF_TOKEN"
kill -0 "$FW_LDAPSYNC_PID" 2>/dev/null || t_fail "ldapsync exited while slapd was down (it must retry with backoff)"
gen_ok

# slapd back: ldapsync reconnects, has the interrupted change, and follows
# new ones.
fw_slapd_restart
kill -0 "$FW_LDAPSYNC_PID" 2>/dev/null || t_fail "ldapsync exited while slapd was down"
fw_wait_query 30 transport lisa.leaving@mytum.de "$ex" ||
    t_fail "ldapsync did not catch up after slapd came back: [$(fw_query transport lisa.leaving@mytum.de)]"
fw_ldapmodify <<LDIF
dn: uid=tom.huber,ou=lrz,dc=example,dc=org
changetype: modify
replace: fwdMailboxLocation
fwdMailboxLocation: exchange
LDIF
fw_wait_query 30 transport tom.huber@lrz.de "$ex" ||
    t_fail "a change after slapd came back did not arrive: [$(fw_query transport tom.huber@lrz.de)]"
fw_send lisa.leaving@mytum.de
sink_expect_only exchange lisa.leaving@mytum.de "$PF_TOKEN"
fw_send tom.huber@lrz.de
sink_expect_only exchange tom.huber@lrz.de "$PF_TOKEN"

pf_wait_queue_empty 20 || t_fail "queue not empty: $(pf_queue_count) message(s)"
t_eq "messages at the stray sink" 0 "$(sink_total stray)"
exit 0

#!/usr/bin/env bash
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
kill -0 "$FW_LDAPSYNC_PID" 2>/dev/null || t_log "note: ldapsync exited while slapd was down"
gen_ok

# slapd back: ldapsync reconnects, has the interrupted change, and follows
# new ones.
fw_slapd_restart
kill -0 "$FW_LDAPSYNC_PID" 2>/dev/null || fw_ldapsync_start
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

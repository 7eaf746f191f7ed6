#!/usr/bin/env bash
# 73-e2e-guard.sh - end to end, the mass-removal guard as docs/operations.md
# describes it: a change that would remove more routes than allowed (here a
# whole tenant's people, 3 of 21 routes > 10 %) is refused, the previous
# tables keep serving and mail keeps flowing; the operator confirms it
# deliberately with "ldapsync --once --force", and from then on the
# addresses are rejected at RCPT time.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/postfix.sh"
source "$TOP/tests/lib/sink.sh"
fw_start
ldapsync=$(t_bin ldapsync)
report=$FW_STATE/ldapsync-report.json
serial=$(fw_serial)

fw_ldapmodify <<LDIF
dn: uid=lena.berger,ou=lrz,dc=example,dc=org
changetype: delete

dn: uid=tom.huber,ou=lrz,dc=example,dc=org
changetype: delete
LDIF
t_wait 20 grep -q 'refusing to publish' "$TEST_TMP/logs/ldapsync.log" ||
    t_fail "ldapsync did not refuse the mass removal: $(tail -n 3 "$TEST_TMP/logs/ldapsync.log")"
t_eq "report result" refused "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["result"])' "$report")"
t_eq "generation serial after the refusal" "$serial" "$(fw_serial)"

# The old routes keep serving.
fw_send lena.berger@lrz.de postmaster@lrz.de tom.huber@lrz.de
t_eq "RCPT lena.berger while refused" 250 "$(pf_rcpt_code lena.berger@lrz.de)"
sink_expect exchange lena.berger@lrz.de "$PF_TOKEN"
sink_expect_only mytum tom.huber@lrz.de "$PF_TOKEN"

# A one-off sync without --force is refused too (exit status 3).
fw_ldapsync_stop
"$ldapsync" -c "$FW_CONF" --once >>"$TEST_TMP/logs/ldapsync.log" 2>&1
t_eq "ldapsync --once exit status when refused" 3 "$?"
t_eq "generation serial after --once" "$serial" "$(fw_serial)"

# The dry run shows the removals and publishes nothing.
out=$("$ldapsync" -c "$FW_CONF" --once --dry-run 2>&1)
t_match "dry run names the removed address" "lena\\.berger@lrz\\.de" "$out"
t_eq "generation serial after --dry-run" "$serial" "$(fw_serial)"

# The deliberate override.
"$ldapsync" -c "$FW_CONF" --once --force >>"$TEST_TMP/logs/ldapsync.log" 2>&1 ||
    t_fail "ldapsync --once --force: $(tail -n 3 "$TEST_TMP/logs/ldapsync.log")"
fw_wait_notfound 10 recipients lena.berger@lrz.de || t_fail "lena.berger@lrz.de still a recipient after --force"
fw_send lena.berger@lrz.de tom.huber@lrz.de postmaster@lrz.de
for a in lena.berger@lrz.de tom.huber@lrz.de postmaster@lrz.de; do
    c=$(pf_rcpt_code "$a")
    [[ $c == 5?? ]] || t_fail "RCPT $a after the confirmed removal: expected 5xx, got $c"
done

# The daemon, restarted, carries on normally (and the guard is armed again).
fw_ldapsync_start
fw_ldapmodify <<LDIF
dn: uid=lena.berger,ou=lrz,dc=example,dc=org
changetype: add
objectClass: inetOrgPerson
objectClass: fwdMailRecipient
uid: lena.berger
cn: Lena Berger
sn: Berger
mail: lena.berger@lrz.de
fwdMailboxLocation: mytum
LDIF
fw_wait_query 20 transport lena.berger@lrz.de "127\\.0\\.0\\.1\\]:$(sink_port mytum)\$" ||
    t_fail "a new entry after --force did not arrive: [$(fw_query transport lena.berger@lrz.de)]"
fw_send lena.berger@lrz.de
sink_expect_only mytum lena.berger@lrz.de "$PF_TOKEN"

pf_wait_queue_empty 20 || t_fail "queue not empty: $(pf_queue_count) message(s)"
t_eq "messages at the stray sink" 0 "$(sink_total stray)"
exit 0

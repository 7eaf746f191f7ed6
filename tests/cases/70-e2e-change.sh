#!/usr/bin/env bash
# asan: yes
# 70-e2e-change.sh - end to end, scenario 10 of issue 4: a change in the
# directory (a person moved from myTUM to Exchange, a new alumni forward, a
# new person, a deletion) is followed by the next message within seconds,
# with no Postfix reload.  ldapsync runs continuously (refreshAndPersist).
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/postfix.sh"
source "$TOP/tests/lib/sink.sh"
fw_start
master=$PF_MASTER_PID
ex="127\\.0\\.0\\.1\\]:$(sink_port exchange)\$"

# Before: max on myTUM, hans forwards to one address, lisa exists.
fw_send max.muster@mytum.de
sink_expect_only mytum max.muster@mytum.de "$PF_TOKEN"
fw_send lisa.leaving@mytum.de
sink_expect_only mytum lisa.leaving@mytum.de "$PF_TOKEN"

fw_ldapmodify <<LDIF
dn: uid=max.muster,ou=tum,dc=example,dc=org
changetype: modify
replace: fwdMailboxLocation
fwdMailboxLocation: exchange

dn: uid=hans.alt,ou=tum,dc=example,dc=org
changetype: modify
add: fwdForwardAddress
fwdForwardAddress: hans.alt@example.com

dn: uid=neu.student,ou=tum,dc=example,dc=org
changetype: add
objectClass: inetOrgPerson
objectClass: fwdMailRecipient
uid: neu.student
cn: Neu Student
sn: Student
mail: neu.student@mytum.de
fwdMailboxLocation: mytum

dn: uid=lisa.leaving,ou=tum,dc=example,dc=org
changetype: delete
LDIF

# The tables follow within seconds (ldapsync batches, fwdmapd reloads).
fw_wait_query 15 transport max.muster@mytum.de "$ex" ||
    t_fail "transport for max.muster@mytum.de still [$(fw_query transport max.muster@mytum.de)]"
fw_wait_query 15 virtual hans.alt@alumni.tum.de "hans\\.alt@example\\.com" ||
    t_fail "virtual hans.alt@alumni.tum.de still [$(fw_query virtual hans.alt@alumni.tum.de)]"
fw_wait_query 15 recipients neu.student@mytum.de "." ||
    t_fail "neu.student@mytum.de not a recipient"
fw_wait_notfound 15 recipients lisa.leaving@mytum.de ||
    t_fail "lisa.leaving@mytum.de still a recipient"

# The next messages follow the directory.
fw_send max.muster@mytum.de
sink_expect_only exchange max.muster@mytum.de "$PF_TOKEN"
fw_send ga12abc@mytum.de
sink_expect_only exchange max.muster@mytum.de "$PF_TOKEN"

fw_send hans.alt@alumni.tum.de
sink_expect_only outside familie.alt@example.net "$PF_TOKEN"
sink_expect_only outside hans.alt@example.com "$PF_TOKEN"

fw_send neu.student@mytum.de
sink_expect_only mytum neu.student@mytum.de "$PF_TOKEN"

fw_send lisa.leaving@mytum.de
c=$(pf_rcpt_code lisa.leaving@mytum.de)
[[ $c == 5?? ]] || t_fail "RCPT lisa.leaving@mytum.de after deletion: expected 5xx, got $c"

# Move max back: the very next message goes back to myTUM.
fw_ldapmodify <<LDIF
dn: uid=max.muster,ou=tum,dc=example,dc=org
changetype: modify
replace: fwdMailboxLocation
fwdMailboxLocation: mytum
LDIF
fw_wait_query 15 transport max.muster@mytum.de "127\\.0\\.0\\.1\\]:$(sink_port mytum)\$" ||
    t_fail "transport for max.muster@mytum.de still [$(fw_query transport max.muster@mytum.de)]"
fw_send max.muster@mytum.de
sink_expect_only mytum max.muster@mytum.de "$PF_TOKEN"

# No reload, no restart of Postfix.
t_eq "Postfix master PID" "$master" "$(cat "$PF_DIR/queue/pid/master.pid" | tr -dc 0-9)"
! pf_log_grep 'reload' >/dev/null || t_fail "Postfix was reloaded"
pf_wait_queue_empty 20 || t_fail "queue not empty: $(pf_queue_count) message(s)"
t_eq "messages at the stray sink" 0 "$(sink_total stray)"
exit 0

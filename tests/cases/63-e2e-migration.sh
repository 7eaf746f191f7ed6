#!/usr/bin/env bash
# 63-e2e-migration.sh - end to end, scenario 8 of issue 4: ph.tum.de is
# still served by the physics department's old server (domain policy
# "route", default route = the physics sink).  Unknown recipients pass to
# that default route; people already migrated go to their new store.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/postfix.sh"
source "$TOP/tests/lib/sink.sh"
fw_start

# Not yet migrated: accepted and passed on to the old server unchanged.
fw_send einstein@ph.tum.de Noether+Preprints@PH.TUM.DE
t_eq "RCPT einstein" 250 "$(pf_rcpt_code einstein@ph.tum.de)"
t_eq "RCPT Noether+Preprints" 250 "$(pf_rcpt_code Noether+Preprints@PH.TUM.DE)"
sink_expect_only physics einstein@ph.tum.de "$PF_TOKEN"
sink_expect_only physics noether+preprints@ph.tum.de "$PF_TOKEN"

# Migrated: routed to the new store, not to the old server.
fw_send paul.physik@ph.tum.de
sink_expect_only exchange paul.physik@ph.tum.de "$PF_TOKEN"
fw_send Paul.Physik+lab@ph.tum.de
sink_expect_only exchange paul.physik+lab@ph.tum.de "$PF_TOKEN"

# Migrate one more person, address by address: add an entry for einstein
# on Exchange; the next message to him goes to Exchange, his colleagues
# stay on the old server.
fw_ldapmodify <<LDIF
dn: uid=einstein,ou=tum,dc=example,dc=org
changetype: add
objectClass: inetOrgPerson
objectClass: fwdMailRecipient
uid: einstein
cn: Albert Einstein
sn: Einstein
mail: einstein@ph.tum.de
fwdMailboxLocation: exchange
LDIF
fw_wait_query 15 transport einstein@ph.tum.de "127\\.0\\.0\\.1\\]:$(sink_port exchange)\$" ||
    t_fail "transport for einstein@ph.tum.de still [$(fw_query transport einstein@ph.tum.de)]"
fw_send einstein@ph.tum.de noether@ph.tum.de
sink_expect_only exchange einstein@ph.tum.de "$PF_TOKEN"
sink_expect_only physics noether@ph.tum.de "$PF_TOKEN"

# A strict domain next door is unaffected by the route policy.
fw_send einstein@tum.de
c=$(pf_rcpt_code einstein@tum.de)
[[ $c == 5?? ]] || t_fail "RCPT einstein@tum.de: expected 5xx, got $c"

pf_wait_queue_empty 20 || t_fail "queue not empty: $(pf_queue_count) message(s)"
t_eq "messages at the stray sink" 0 "$(sink_total stray)"
exit 0

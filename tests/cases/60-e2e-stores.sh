#!/usr/bin/env bash
# asan: yes
# 60-e2e-stores.sh - end to end, scenarios 1, 2, 3 and 6 of issue 4:
# real slapd -> ldapsync -> fwdmapd -> real Postfix -> one sink per store.
#   1. staff on Exchange, a student on myTUM (LMTP);
#   2. a department member on the department's own server (external + fwdMailHost);
#   3. a mailbox plus an extra forward: store and forward target each get one copy;
#   6. one message to several recipients in different stores.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/postfix.sh"
source "$TOP/tests/lib/sink.sh"
fw_start

# 1. Exchange and myTUM, one message each.
fw_send jane.doe@tum.de
t_eq "RCPT jane.doe@tum.de" 250 "$(pf_rcpt_code jane.doe@tum.de)"
sink_expect_only exchange jane.doe@tum.de "$PF_TOKEN"

fw_send max.muster@mytum.de
t_eq "RCPT max.muster@mytum.de" 250 "$(pf_rcpt_code max.muster@mytum.de)"
sink_expect_only mytum max.muster@mytum.de "$PF_TOKEN"

# 2. The chemistry department's own server.
fw_send clara.chemie@ch.tum.de
t_eq "RCPT clara.chemie@ch.tum.de" 250 "$(pf_rcpt_code clara.chemie@ch.tum.de)"
sink_expect_only dept clara.chemie@ch.tum.de "$PF_TOKEN"

# 3. Mailbox plus forward: one copy in the store, one to the forward target.
fw_send erika.mustermann@tum.de
t_eq "RCPT erika.mustermann@tum.de" 250 "$(pf_rcpt_code erika.mustermann@tum.de)"
sink_expect_only exchange erika.mustermann@tum.de "$PF_TOKEN"
sink_expect_only outside erika.m@example.com "$PF_TOKEN"

# 6. One message, five recipients in four destinations (plus a forward).
fw_send jane.doe@tum.de max.muster@mytum.de clara.chemie@ch.tum.de \
        hans.alt@alumni.tum.de karl.weber@badw.de
tok=$PF_TOKEN
t_eq "DATA" 250 "$(pf_data_code)"
sink_expect_only exchange jane.doe@tum.de "$tok"
sink_expect_only mytum max.muster@mytum.de "$tok"
sink_expect_only dept clara.chemie@ch.tum.de "$tok"
sink_expect_only outside familie.alt@example.net "$tok"
sink_expect_only exchange karl.weber@badw.de "$tok"
sink_expect_only outside karl.weber@example.org "$tok"

pf_wait_queue_empty 20 || t_fail "queue not empty: $(pf_queue_count) message(s)"
t_eq "messages at the stray sink" 0 "$(sink_total stray)"
exit 0

#!/usr/bin/env bash
# 61-e2e-alumni-alias.sh - end to end, scenarios 4 and 5 of issue 4:
#   4. an alumnus (no mailbox) forwards outside; two alumni forwarding to the
#      same external address; an alumna with two forwards;
#   5. an alias is routed like its primary address; user+tag@ and mixed-case
#      recipients are routed like user@.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/postfix.sh"
source "$TOP/tests/lib/sink.sh"
fw_start

# 4. Alumni: forward only, nothing in any store.
fw_send hans.alt@alumni.tum.de
t_eq "RCPT hans.alt" 250 "$(pf_rcpt_code hans.alt@alumni.tum.de)"
sink_expect_only outside familie.alt@example.net "$PF_TOKEN"
sink_expect_none "$PF_TOKEN" hans.alt@alumni.tum.de

fw_send grete.alt@alumni.tum.de
sink_expect_only outside familie.alt@example.net "$PF_TOKEN"

# Both alumni in one message: the shared target gets it (Postfix keeps one
# recipient record per original recipient, so possibly twice), nothing
# else gets anything.
fw_send hans.alt@alumni.tum.de grete.alt@alumni.tum.de
sink_expect outside familie.alt@example.net "$PF_TOKEN"
for n in exchange mytum dept physics stray; do
    t_eq "sink $n for the alumni message" "" "$(sink_rcpts "$n" "$PF_TOKEN")"
done

fw_send olga.ehemalig@alumni.tum.de
sink_expect_only outside olga@example.com "$PF_TOKEN"
sink_expect_only outside o.ehemalig@example.net "$PF_TOKEN"

# 5. Aliases go where the primary address goes (expanded to the primary).
fw_send j.doe@tum.de
t_eq "RCPT j.doe" 250 "$(pf_rcpt_code j.doe@tum.de)"
sink_expect_only exchange jane.doe@tum.de "$PF_TOKEN"

fw_send jane.doe@ei.tum.de
sink_expect_only exchange jane.doe@tum.de "$PF_TOKEN"

fw_send ga12abc@mytum.de
sink_expect_only mytum max.muster@mytum.de "$PF_TOKEN"

fw_send postmaster@lrz.de
sink_expect_only exchange lena.berger@lrz.de "$PF_TOKEN"

# user+tag@ keeps its extension on the way to the store.
fw_send jane.doe+news@tum.de
t_eq "RCPT jane.doe+news" 250 "$(pf_rcpt_code jane.doe+news@tum.de)"
sink_expect_only exchange jane.doe+news@tum.de "$PF_TOKEN"

fw_send max.muster+uni@mytum.de
sink_expect_only mytum max.muster+uni@mytum.de "$PF_TOKEN"

# alias+tag@ expands like the alias, and the tag goes with it (Postfix's
# propagate_unmatched_extensions = virtual, its default, which Postfix
# cannot apply to a socketmap answer itself; fwdmapd does).
fw_send j.doe+x@tum.de
t_eq "RCPT j.doe+x" 250 "$(pf_rcpt_code j.doe+x@tum.de)"
sink_expect exchange jane.doe+x@tum.de "$PF_TOKEN"
t_eq "where j.doe+x went" exchange "$(sink_where jane.doe+x@tum.de "$PF_TOKEN" | tr '\n' ' ' | sed 's/ $//')"
t_eq "j.doe+x: nothing for the untagged address" "" "$(sink_where jane.doe@tum.de "$PF_TOKEN")"

# alumni+tag@ forwards like the alumnus, tag included.
fw_send hans.alt+verein@alumni.tum.de
sink_expect_only outside familie.alt+verein@example.net "$PF_TOKEN"

# The tag keeps the case the sender used (only the lookup folds case).
fw_send hans.alt+Verein@alumni.tum.de
sink_expect_only outside familie.alt+verein@example.net "$PF_TOKEN"
t_eq "hans.alt+Verein: the tag as sent" "familie.alt+Verein@example.net" \
    "$(sink_rcpts_as_sent outside "$PF_TOKEN")"

# A forward target goes out with its local part as written in the
# directory (a remote site may not fold case; Postfix keeps the case of a
# table's answer), its domain folded.
fw_ldapmodify <<'EOF'
dn: uid=olga.ehemalig,ou=tum,dc=example,dc=org
changetype: modify
add: fwdForwardAddress
fwdForwardAddress: Olga.Neu@Example.COM
EOF
fw_wait_query 30 virtual olga.ehemalig@alumni.tum.de 'Olga\.Neu@example\.com' \
    || t_fail "the new forward is not published: $(fw_query virtual olga.ehemalig@alumni.tum.de)"
fw_send Olga.Ehemalig+Info@alumni.tum.de
sink_expect outside olga.neu+info@example.com "$PF_TOKEN"
t_eq "Olga's new forward as written, with the tag as sent" "Olga.Neu+Info@example.com" \
    "$(sink_rcpts_as_sent outside "$PF_TOKEN" | grep -i '^olga\.neu')"

# Mixed case, local part and domain.
fw_send Jane.Doe@TUM.De
t_eq "RCPT Jane.Doe@TUM.De" 250 "$(pf_rcpt_code Jane.Doe@TUM.De)"
sink_expect_only exchange jane.doe@tum.de "$PF_TOKEN"

fw_send MAX.MUSTER+Tag@MyTUM.de
sink_expect_only mytum max.muster+tag@mytum.de "$PF_TOKEN"

fw_send J.Doe@Tum.DE
sink_expect_only exchange jane.doe@tum.de "$PF_TOKEN"

fw_send Hans.Alt@ALUMNI.tum.de
sink_expect_only outside familie.alt@example.net "$PF_TOKEN"

pf_wait_queue_empty 20 || t_fail "queue not empty: $(pf_queue_count) message(s)"
t_eq "messages at the stray sink" 0 "$(sink_total stray)"
exit 0

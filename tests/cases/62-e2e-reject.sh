#!/usr/bin/env bash
# 62-e2e-reject.sh - end to end, scenarios 7 and 9 of issue 4, and the bad
# entries of the sample directory:
#   7. an unknown recipient in a strict domain is rejected with 5xx at RCPT
#      time, so no bounce is ever generated;
#   9. a person in one tenant claiming an address of another tenant's
#      domain: that address is not routed to them;
#   entries with an unknown store, "external" without a host, or a forward
#   value smuggling in a second recipient route nothing anywhere.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/postfix.sh"
source "$TOP/tests/lib/sink.sh"
fw_start

rcpt_5xx() {	# rcpt_5xx ADDR: the last transaction rejected ADDR with 5xx
    local c
    c=$(pf_rcpt_code "$1")
    [[ $c == 5?? ]] || t_fail "RCPT $1: expected 5xx, got [$c] ($(pf_rcpt_text "$1"))"
}

# 7. Unknown recipients in strict domains: 550 at RCPT, in every tenant.
from=bounce-me.$$@example.com
pf_smtp "$from" nobody@tum.de no.such.student@mytum.de nobody@lmu.de ghost@badw.de
for a in nobody@tum.de no.such.student@mytum.de nobody@lmu.de ghost@badw.de; do rcpt_5xx "$a"; done
t_match "reply text" "^550 5\\.1\\.1 " "$(pf_rcpt_text nobody@tum.de)"
t_eq "DATA after only rejected recipients" 000 "$(pf_data_code)"
tok_unknown=$PF_TOKEN

# The same unknown recipient next to a valid one: the message goes only to
# the valid one, and no bounce goes back to the sender.
pf_smtp "$from" jane.doe@tum.de nobody@tum.de
t_eq "RCPT jane.doe" 250 "$(pf_rcpt_code jane.doe@tum.de)"
rcpt_5xx nobody@tum.de
t_eq "DATA" 250 "$(pf_data_code)"
sink_expect_only exchange jane.doe@tum.de "$PF_TOKEN"
sink_expect_none "$PF_TOKEN" nobody@tum.de
sink_expect_none "$tok_unknown"

# 9. Tenant isolation: mallory (TUM) lists praesident@lmu.de and
# info@lrz.de as aliases.  praesident@lmu.de stays LMU's president's;
# info@lrz.de, claimed by nobody else, is unknown.
fw_send praesident@lmu.de
t_eq "RCPT praesident@lmu.de" 250 "$(pf_rcpt_code praesident@lmu.de)"
sink_expect_only exchange praesident@lmu.de "$PF_TOKEN"
sink_expect_none "$PF_TOKEN" mallory.meier@tum.de

fw_send info@lrz.de
rcpt_5xx info@lrz.de

# What Postfix's own client gets from the tables for these claims.
v=$(fw_query virtual praesident@lmu.de); rc=$?
t_eq "virtual praesident@lmu.de answer (1 = NOTFOUND) [$v]" 1 "$rc"
fw_query recipients info@lrz.de >/dev/null
t_eq "recipients info@lrz.de answer (1 = NOTFOUND)" 1 "$?"

# Bad entries: unknown store, external without host, injected forward.
fw_send bad.store@tum.de
rcpt_5xx bad.store@tum.de
fw_send bad.external@ch.tum.de
rcpt_5xx bad.external@ch.tum.de
# bad.forward has location "none" and one forward value holding two
# addresses: the value is invalid, so no destination is left and the whole
# entry is rejected; its address is unknown in a strict domain.
fw_send bad.forward@alumni.tum.de
tok=$PF_TOKEN
rcpt_5xx bad.forward@alumni.tum.de
t_eq "DATA for bad.forward alone" 000 "$(pf_data_code)"
fw_query virtual bad.forward@alumni.tum.de >/dev/null
t_eq "virtual bad.forward@alumni.tum.de answer (1 = NOTFOUND)" 1 "$?"
fw_query recipients bad.forward@alumni.tum.de >/dev/null
t_eq "recipients bad.forward@alumni.tum.de answer (1 = NOTFOUND)" 1 "$?"

# The sync report names every rejected entry with its DN.
report=$(ls "$FW_STATE"/*report*.json 2>/dev/null | head -n 1)
[ -n "$report" ] || t_fail "no sync report in $FW_STATE"
for dn in uid=mallory uid=bad.store uid=bad.external uid=bad.forward; do
    grep -q "$dn," "$report" || t_fail "sync report $report does not name $dn"
done
t_match "bad.forward's reasons" 'invalid forward address .*\|bad@example.com, spam@evil.example.*location none without a valid forward address' \
    "$(jq -r '[.rejected[] | select(.dn | startswith("uid=bad.forward,")) | "\(.reason)|\(.value // "")"] | sort | join(" ")' "$report")"

pf_wait_queue_empty 20 || t_fail "queue not empty: $(pf_queue_count) message(s)"
# Nothing anywhere for the sender: no bounce was generated.
for n in $(sink_names); do
    t_eq "mail to the sender at sink $n" 0 "$(sink_count "$n" "$from")"
done
# Nothing for bad.forward's message anywhere: not at bad@example.com,
# not at spam@evil.example, not at any store.
sink_expect_none "$tok"
t_eq "messages at the stray sink" 0 "$(sink_total stray)"
! pf_log_grep 'status=bounced' >/dev/null || t_fail "Postfix bounced: $(pf_log_grep 'status=bounced')"
exit 0

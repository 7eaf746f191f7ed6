#!/usr/bin/env bash
# exclusive: yes (runs alone when tests/run.sh runs cases in parallel)
# 71-e2e-fwdmapd-outage.sh - end to end, scenario 11 of issue 4: with
# fwdmapd stopped, Postfix answers 4xx (never 5xx) and keeps what it has
# queued; once fwdmapd is back, every queued message reaches the right
# store, exactly once.  Nothing is lost.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/postfix.sh"
source "$TOP/tests/lib/sink.sh"
fw_start

fw_send jane.doe@tum.de
sink_expect_only exchange jane.doe@tum.de "$PF_TOKEN"

# A message already in the queue: accepted while fwdmapd was up, deferred
# because Exchange was down; it must survive the fwdmapd outage too.
sink_stop exchange
fw_send lena.berger@lrz.de max.muster@mytum.de
t0=$PF_TOKEN
t_eq "DATA before the outage" 250 "$(pf_data_code)"
sink_expect_only mytum max.muster@mytum.de "$t0"
t_wait 60 pf_log_grep "to=<lena.berger@lrz.de>.*status=deferred" || t_fail "lena's copy was not deferred"

fw_fwdmapd_stop
[ -S "$FW_SOCK" ] && fuser "$FW_SOCK" >/dev/null 2>&1 && t_fail "something still serves $FW_SOCK"

# SMTP: every recipient, valid or not, gets a temporary error.
fw_send jane.doe@tum.de nobody@tum.de hans.alt@alumni.tum.de
for a in jane.doe@tum.de nobody@tum.de hans.alt@alumni.tum.de; do
    c=$(pf_rcpt_code "$a")
    [[ $c == 4?? ]] || t_fail "RCPT $a with fwdmapd down: expected 4xx, got [$c] $(pf_rcpt_text "$a")"
done

# Local submissions during the outage stay queued.
pf_sendmail "$(fw_sender)" jane.doe@tum.de || t_fail "sendmail"
t1=$PF_TOKEN
pf_sendmail "$(fw_sender)" max.muster@mytum.de hans.alt@alumni.tum.de || t_fail "sendmail"
t2=$PF_TOKEN
pf_sendmail "$(fw_sender)" clara.chemie@ch.tum.de erika.mustermann@tum.de einstein@ph.tum.de || t_fail "sendmail"
t3=$PF_TOKEN
# Wait until Postfix has tried (and failed) to expand the last one.
t_wait 60 pf_log_grep 'virtual_alias_maps map lookup problem for clara.chemie@ch.tum.de' ||
    t_fail "no sign of a failed lookup in the mail log"
pf_flush
# pickup copies a maildrop file into incoming before cleanup gives up on
# it: for a moment one message is two files.  Let that settle.
queue_is() { [ "$(pf_queue_count)" -eq "$1" ]; }
t_wait 10 queue_is 4
t_eq "queued messages during the outage" 4 "$(pf_queue_count)"
for t in "$t1" "$t2" "$t3"; do SINK_QUEUE_HELD=1 sink_expect_none "$t"; done
! pf_log_grep 'status=bounced' >/dev/null || t_fail "Postfix bounced during the outage: $(pf_log_grep 'status=bounced')"

# Exchange back while fwdmapd is still down: the deferred message is
# retried, the resolver fails, and it stays queued.
sink_restart exchange
pf_flush
t_wait 60 pf_log_grep "to=<lena.berger@lrz.de>.*(resolver|lookup|[Tt]emporary)" ||
    t_fail "deferred message not retried against the missing tables: $(tail -n 5 "$PF_LOG")"
SINK_QUEUE_HELD=1 sink_expect_none "$t0" lena.berger@lrz.de
t_wait 10 queue_is 4
t_eq "queued messages during the outage" 4 "$(pf_queue_count)"

# fwdmapd back: everything goes where it belongs, once.
fw_fwdmapd_start
pf_wait_queue_empty 60 || t_fail "queue not empty after fwdmapd came back: $(pf_queue_count) message(s); $(tail -n 5 "$PF_LOG")"
sink_expect_only exchange lena.berger@lrz.de "$t0"
t_eq "copies for max (delivered before the outage)" 1 "$(sink_count mytum max.muster@mytum.de "$t0")"
sink_expect_only exchange jane.doe@tum.de "$t1"
sink_expect_only mytum max.muster@mytum.de "$t2"
sink_expect_only outside familie.alt@example.net "$t2"
sink_expect_only dept clara.chemie@ch.tum.de "$t3"
sink_expect_only exchange erika.mustermann@tum.de "$t3"
sink_expect_only outside erika.m@example.com "$t3"
sink_expect_only physics einstein@ph.tum.de "$t3"
! pf_log_grep 'status=bounced' >/dev/null || t_fail "Postfix bounced: $(pf_log_grep 'status=bounced')"
t_eq "messages at the stray sink" 0 "$(sink_total stray)"
exit 0

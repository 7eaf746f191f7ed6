#!/usr/bin/env bash
# 64-e2e-chroot-proxy.sh - the second way docs/install.md offers for
# Debian's chrooted Postfix: smtpd, cleanup and trivial-rewrite run
# chrooted in the queue directory, where fwdmapd's socket is not visible,
# and the four tables go through proxymap ("proxy:socketmap:..."), which
# never runs chrooted.  Routing, RCPT rejects and the 4xx during an
# fwdmapd outage must be the same as without the chroot.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/postfix.sh"
source "$TOP/tests/lib/sink.sh"
fw_start
pf_stop
sed -i -e 's/^\(127\.0\.0\.1:[0-9]* *inet *n *- *\)n/\1y/' \
       -e 's/^\(cleanup *unix *n *- *\)n/\1y/' \
       -e 's/^\(rewrite *unix *- *- *\)n/\1y/' "$PF_DIR/etc/master.cf"
t_eq "chrooted services" 3 "$(awk '$5 == "y"' "$PF_DIR/etc/master.cf" | wc -l)"
for m in relay_domains:domains relay_recipient_maps:recipients \
         virtual_alias_maps:virtual transport_maps:transport; do
    pf_conf "${m%%:*} = proxy:socketmap:unix:$FW_SOCK:${m#*:}"
done
pf_start
# The chroot is real: smtpd's root is the queue directory.
fw_send jane.doe@tum.de
pid=$(pgrep -P "$PF_MASTER_PID" smtpd | head -n 1)
[ -n "$pid" ] || t_fail "no smtpd process under the master $PF_MASTER_PID"
t_eq "smtpd root" "$(readlink -f "$PF_DIR/queue")" "$(readlink "/proc/$pid/root")"
sink_expect_only exchange jane.doe@tum.de "$PF_TOKEN"

fw_send j.doe@tum.de nobody@tum.de erika.mustermann@tum.de einstein@ph.tum.de
c=$(pf_rcpt_code nobody@tum.de); [[ $c == 5?? ]] || t_fail "RCPT nobody@tum.de: expected 5xx, got $c"
sink_expect_only exchange jane.doe@tum.de "$PF_TOKEN"
sink_expect_only exchange erika.mustermann@tum.de "$PF_TOKEN"
sink_expect_only outside erika.m@example.com "$PF_TOKEN"
sink_expect_only physics einstein@ph.tum.de "$PF_TOKEN"

fw_fwdmapd_stop
fw_send jane.doe@tum.de
c=$(pf_rcpt_code jane.doe@tum.de); [[ $c == 4?? ]] || t_fail "RCPT with fwdmapd down: expected 4xx, got $c"
fw_fwdmapd_start
fw_send jane.doe@tum.de
sink_expect_only exchange jane.doe@tum.de "$PF_TOKEN"

pf_wait_queue_empty 20 || t_fail "queue not empty: $(pf_queue_count) message(s)"
t_eq "messages at the stray sink" 0 "$(sink_total stray)"
exit 0

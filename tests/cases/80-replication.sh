#!/usr/bin/env bash
# 80-replication.sh - several forwarders, each next to a read-only replica
# (issue 4, "Going beyond one machine"): a provider slapd and a syncrepl
# consumer; ldapsync reads the consumer with the provider as its second URI.
# A change made on the provider reaches the forwarder through the replica;
# with the consumer stopped, ldapsync carries on from the provider.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/postfix.sh"
source "$TOP/tests/lib/sink.sh"
fw_need
fw_sinks

# Provider with the sample directory, consumer replicating it.
slapd_init provider
slapd_load provider "$(fw_ldif "127.0.0.1:$(sink_port dept)")"
slapd_start provider
slapd_consumer replica provider
slapd_wait_replicated replica provider 30 || t_fail "the replica did not catch up with the provider"
t_match "replica content" "max.muster@mytum.de" "$(slapd_search replica '(uid=max.muster)' mail)"

SLAPD_BIND_DN=$SLAPD_SYNCDN
SLAPD_PW_FILE=$(slapd_pwfile provider)
fw_run "$(slapd_uri replica)" "$(slapd_uri provider)"
ex="127\\.0\\.0\\.1\\]:$(sink_port exchange)\$"
my="127\\.0\\.0\\.1\\]:$(sink_port mytum)\$"

fw_send max.muster@mytum.de
sink_expect_only mytum max.muster@mytum.de "$PF_TOKEN"

# A change on the provider travels provider -> replica -> ldapsync -> fwdmapd.
fw_ldapmodify provider <<LDIF
dn: uid=max.muster,ou=tum,dc=example,dc=org
changetype: modify
replace: fwdMailboxLocation
fwdMailboxLocation: exchange
LDIF
slapd_wait_replicated replica provider 30 || t_fail "the change did not replicate"
fw_wait_query 20 transport max.muster@mytum.de "$ex" ||
    t_fail "change on the provider did not reach the forwarder: [$(fw_query transport max.muster@mytum.de)]"
fw_send max.muster@mytum.de
sink_expect_only exchange max.muster@mytum.de "$PF_TOKEN"

# The replica goes away: mail keeps flowing on the published tables, and
# ldapsync fails over to the provider for the next change.
slapd_stop replica
fw_send max.muster@mytum.de
sink_expect_only exchange max.muster@mytum.de "$PF_TOKEN"

fw_ldapmodify provider <<LDIF
dn: uid=max.muster,ou=tum,dc=example,dc=org
changetype: modify
replace: fwdMailboxLocation
fwdMailboxLocation: mytum

dn: uid=hans.alt,ou=tum,dc=example,dc=org
changetype: modify
add: fwdForwardAddress
fwdForwardAddress: hans.alt@example.com
LDIF
fw_wait_query 30 transport max.muster@mytum.de "$my" ||
    t_fail "with the replica down, ldapsync did not carry on from the provider: [$(fw_query transport max.muster@mytum.de)]; ldapsync log: $(tail -n 5 "$TEST_TMP/logs/ldapsync.log")"
fw_wait_query 20 virtual hans.alt@alumni.tum.de "hans\\.alt@example\\.com" ||
    t_fail "virtual hans.alt@alumni.tum.de: [$(fw_query virtual hans.alt@alumni.tum.de)]"
fw_send max.muster@mytum.de hans.alt@alumni.tum.de
sink_expect_only mytum max.muster@mytum.de "$PF_TOKEN"
sink_expect_only outside hans.alt@example.com "$PF_TOKEN"
sink_expect_only outside familie.alt@example.net "$PF_TOKEN"
kill -0 "$FW_LDAPSYNC_PID" 2>/dev/null || t_fail "ldapsync exited when the replica went away"

pf_wait_queue_empty 20 || t_fail "queue not empty: $(pf_queue_count) message(s)"
t_eq "messages at the stray sink" 0 "$(sink_total stray)"
exit 0

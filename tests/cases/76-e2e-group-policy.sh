#!/usr/bin/env bash
# 76-e2e-group-policy.sh - who may send to a group, through a real Postfix
# with check_policy_service pointing at fwdmapd.policy_listen:
#   a sender the group's policy refuses gets 5xx at RCPT naming the group,
#   and nothing is delivered; a member (any case, with an extension) is
#   accepted and the message reaches every member, nested groups and
#   external members included, each once; a group alias is the group;
#   without valid tables the policy service defers (4xx), never accepts.
# The tables are compiled with fwdmap compile (G and S records), as
# ldapsync writes them for groups.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/postfix.sh"
source "$TOP/tests/lib/sink.sh"
for p in smtp-sink swaks postfix; do
    command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || t_skip "$p not installed"
done
[ "$(id -u)" = 0 ] || t_skip "the throwaway Postfix needs root"

RUN=$T/run
mkdir -p "$RUN" "$T/maps" "$T/empty"
_fw_traversable "$RUN"
SOCK=$RUN/fwdmapd.sock
PSOCK=$RUN/policy.sock
sink_start exchange smtp
sink_start outside smtp
sink_start stray smtp
EX="smtp:[127.0.0.1]:$(sink_port exchange)"

conf() {	# conf FILE MAPS_DIR
    cat >"$1" <<JSON
{
  "maps_dir": "$2",
  "recipient_delimiter": "+",
  "ldap": {"uris": ["ldap://127.0.0.1:9"]},
  "stores": {"exchange": "$EX"},
  "tenants": {"tum": {"base": "ou=tum,dc=example,dc=org", "domains": ["tum.de"]},
              "lmu": {"base": "ou=lmu,dc=example,dc=org", "domains": ["lmu.de"]}},
  "fwdmapd": {"listen": "unix:$SOCK", "control": "$RUN/ctl.sock",
              "policy_listen": "unix:$PSOCK", "socket_mode": "0666",
              "reload_check_ms": 50}
}
JSON
}
conf "$T/fwdmap.json" "$T/maps"
conf "$T/empty.json" "$T/empty"

"$(t_bin fwdmap)" -d "$T/maps" compile -s 1 <<REC || t_fail "compile"
D tum.de tum reject
D lmu.de lmu reject
R jane.doe@tum.de tum
R bob@tum.de tum
R carl@tum.de tum
R team@tum.de tum
R team-list@tum.de tum
R faculty@tum.de tum
T jane.doe@tum.de $EX
T bob@tum.de $EX
T carl@tum.de $EX
V team@tum.de jane.doe@tum.de,bob@tum.de,ext.member@example.org
V team-list@tum.de jane.doe@tum.de,bob@tum.de,ext.member@example.org
V faculty@tum.de team@tum.de,carl@tum.de
G team@tum.de members team@tum.de tum
G team-list@tum.de members team@tum.de tum
G faculty@tum.de tenant faculty@tum.de tum
S team@tum.de jane.doe@tum.de member
S team@tum.de bob@tum.de member
S team@tum.de ext.member@example.org member
REC

FWPID=
fwdmapd_start() {	# fwdmapd_start CONF
    "$(t_bin fwdmapd)" -f -c "$1" >>"$T/logs/fwdmapd.log" 2>&1 &
    FWPID=$!
    t_track "$FWPID" fwdmapd
    t_wait 10 test -S "$PSOCK" || t_fail "no policy socket: $(tail -n 3 "$T/logs/fwdmapd.log")"
    t_wait 10 test -S "$SOCK" || t_fail "no socketmap socket"
}
fwdmapd_start "$T/fwdmap.json"

# Postfix as fwdmap postconf prints it for this configuration: the policy
# service comes after reject_unauth_destination.
PF_FWDMAP_CONF=$T/fwdmap.json pf_init "unix:$SOCK" "$(sink_port outside)" "$(sink_port stray)"
grep -qxF "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination, check_policy_service unix:$PSOCK" \
    "$PF_DIR/postconf.main" || t_fail "fwdmap postconf: $(grep smtpd_recipient_restrictions "$PF_DIR/postconf.main")"
grep -qxF "smtpd_policy_service_max_idle = 55s" "$PF_DIR/postconf.main" ||
    t_fail "fwdmap postconf: no smtpd_policy_service_max_idle below fwdmapd.idle_timeout"
# Clients are other hosts (XCLIENT): this host is in mynetworks, whose
# mail permit_mynetworks lets through before the policy is asked.
pf_conf "smtpd_authorized_xclient_hosts = 127.0.0.1"
pf_start
export PF_XCLIENT_ADDR=192.0.2.25

rcpt_is() {	# rcpt_is ADDR CODE-REGEX
    local c
    c=$(pf_rcpt_code "$1")
    [[ $c =~ ^$2$ ]] || t_fail "RCPT $1: expected $2, got [$c] ($(pf_rcpt_text "$1"))"
}

# A refused sender: 5xx at RCPT naming the group; DATA is never reached.
pf_smtp stranger@lmu.de team@tum.de
rcpt_is team@tum.de 554
t_match "reply names the group" '5\.7\.1 <team@tum\.de>: Recipient address rejected: group <team@tum\.de> accepts mail only from its members' \
    "$(pf_rcpt_text team@tum.de)"
t_eq "DATA" 000 "$(pf_data_code)"
sink_expect_none "$PF_TOKEN"
# Through the group's alias, with an extension: the group is named by its
# primary address.
pf_smtp stranger@lmu.de Team-List+x@tum.de
rcpt_is Team-List+x@tum.de 554
t_match "alias names the primary" 'group <team@tum\.de> accepts mail only from its members' "$(pf_rcpt_text Team-List+x@tum.de)"
# The null sender (a bounce) is refused by a restricted group.
pf_smtp '<>' team@tum.de
rcpt_is team@tum.de 554
t_match "null sender" 'null sender' "$(pf_rcpt_text team@tum.de)"
# One refused recipient does not spoil the others of the transaction.
pf_smtp stranger@lmu.de team@tum.de carl@tum.de
rcpt_is team@tum.de 554
rcpt_is carl@tum.de 250
t_eq "DATA with one accepted recipient" 250 "$(pf_data_code)"
sink_expect_only exchange carl@tum.de "$PF_TOKEN"
sink_expect_none "$PF_TOKEN" jane.doe@tum.de

# A member (any case, with an extension): accepted, delivered to every
# member once, the external member at the outside world.
pf_smtp JANE.Doe+lists@TUM.de team@tum.de
rcpt_is team@tum.de 250
t_eq "DATA" 250 "$(pf_data_code)"
sink_expect_only exchange jane.doe@tum.de "$PF_TOKEN"
sink_expect_only exchange bob@tum.de "$PF_TOKEN"
sink_expect_only outside ext.member@example.org "$PF_TOKEN"
# A nested group with the tenant policy: a TUM sender reaches the members
# of the nested members-only group too (the policy of the group addressed
# decides); an LMU sender is refused.
pf_smtp someone@tum.de faculty@tum.de
rcpt_is faculty@tum.de 250
t_eq "DATA faculty" 250 "$(pf_data_code)"
for m in jane.doe@tum.de bob@tum.de carl@tum.de; do sink_expect_only exchange "$m" "$PF_TOKEN"; done
sink_expect_only outside ext.member@example.org "$PF_TOKEN"
pf_smtp someone@lmu.de faculty@tum.de
rcpt_is faculty@tum.de 554
t_match "tenant policy" 'group <faculty@tum\.de> accepts mail only from senders of its own organisation' \
    "$(pf_rcpt_text faculty@tum.de)"
# People are not groups: anyone may write to them.
pf_smtp stranger@lmu.de bob@tum.de
rcpt_is bob@tum.de 250
# This host itself (mynetworks) is not asked about (documented).
PF_XCLIENT_ADDR= pf_smtp stranger@lmu.de team@tum.de
rcpt_is team@tum.de 250

# fwdmapd without valid tables: the policy service defers (4xx), never
# lets the sender through.  The socketmap tables stay on the valid
# generation here (a second fwdmapd is started for the policy alone), so
# the 4xx comes from the policy answer itself.
t_stop_pid "$FWPID"
cp "$T/empty.json" "$T/policy-only.json"
sed -i "s|\"listen\": \"unix:$SOCK\"|\"listen\": \"unix:$RUN/unused.sock\"|" "$T/policy-only.json"
conf "$T/tables-only.json" "$T/maps"
sed -i "s|\"policy_listen\": \"unix:$PSOCK\", ||; s|$RUN/ctl.sock|$RUN/ctl2.sock|" "$T/tables-only.json"
rm -f "$PSOCK"
"$(t_bin fwdmapd)" -f -c "$T/tables-only.json" >>"$T/logs/fwdmapd.log" 2>&1 &
t_track $! fwdmapd-tables
t_wait 10 test -S "$SOCK" || t_fail "no socketmap socket"
fwdmapd_start "$T/policy-only.json"
pf_smtp jane.doe@tum.de team@tum.de
rcpt_is team@tum.de 450
t_match "deferred by the policy" '4\.3\.0 <team@tum\.de>: Recipient address rejected: fwdmapd: no routing table loaded, try again later' \
    "$(pf_rcpt_text team@tum.de)"
t_eq "DATA not reached" 000 "$(pf_data_code)"
sink_expect_none "$PF_TOKEN"

pf_wait_queue_empty 20 || t_fail "queue not empty: $(pf_queue_count) message(s)"
t_eq "messages at the stray sink" 0 "$(sink_total stray)"
! pf_log_grep 'status=bounced' >/dev/null || t_fail "Postfix bounced: $(pf_log_grep 'status=bounced')"
exit 0

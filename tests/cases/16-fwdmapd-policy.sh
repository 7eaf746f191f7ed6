#!/usr/bin/env bash
# asan: yes
# fwdmapd's policy delegation service (fwdmapd.policy_listen), black box
# against the real binary: DEFER_IF_PERMIT without tables; REJECT naming
# the group for a refused sender, DUNNO otherwise; many requests on one
# connection, one at a time and pipelined; malformed requests answered
# and closed without harming the daemon; limits; statistics; -t; SIGHUP.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/fwdmapd.bash"
PSOCK="$T/policy.sock"
PC() { perl "$TOP/tests/lib/policy-client.pl" "unix:$PSOCK" "$@"; }
source "$TOP/tests/lib/prom.bash"
prom_need
PORT=$(t_port)
URL="http://127.0.0.1:$PORT/metrics"

fw_conf "\"policy_listen\": \"unix:$PSOCK\", \"metrics_listen\": \"inet:127.0.0.1:$PORT\""

# -t names the service; a bad endpoint is refused with the key's name.
out=$("$FWDMAPD" -c "$CONF" -t) || t_fail "-t: $out"
[[ $out == *"policy service on unix:$PSOCK "* ]] || t_fail "-t does not name the policy service: $out"
sed "s|\"policy_listen\": \"unix:$PSOCK\"|\"policy_listen\": \"inet:127.0.0.1:$(t_port)\"|" "$CONF" > "$T/inet.json"
"$FWDMAPD" -c "$T/inet.json" -t >/dev/null || t_fail "-t refuses an inet policy_listen"
sed "s|\"policy_listen\": \"unix:$PSOCK\"|\"policy_listen\": \"unix:relative.sock\"|" "$CONF" > "$T/bad.json"
out=$("$FWDMAPD" -c "$T/bad.json" -t 2>&1) && t_fail "-t accepted a relative policy socket"
t_match "-t: bad policy_listen" 'fwdmapd.policy_listen.*absolute path' "$out"
sed "s|\"policy_listen\": \"unix:$PSOCK\"|\"policy_listen\": \"unix:$SOCK\"|" "$CONF" > "$T/bad.json"
out=$("$FWDMAPD" -c "$T/bad.json" -t 2>&1) && t_fail "-t accepted policy_listen = listen"
t_match "-t: same socket" 'is also fwdmapd.listen' "$out"

# No tables yet: never a silent DUNNO.
fw_start
[ -S "$PSOCK" ] || t_fail "no policy socket"
t_eq "socket mode like the socketmap socket" "$(stat -c %a "$SOCK")" "$(stat -c %a "$PSOCK")"
t_eq "no tables" "action=DEFER_IF_PERMIT 4.3.0 fwdmapd: no routing table loaded, try again later" \
    "$(PC ask stranger@lmu.de team@tum.de)"

{ fw_gen_records 7; cat <<'REC'
D lmu.de lmu reject
R team@tum.de tum
R staff@tum.de tum
V team@tum.de jane.doe@tum.de,bob@example.org
V staff@tum.de jane.doe@tum.de
G team@tum.de members team@tum.de tum
G team-alias@tum.de members team@tum.de tum
G staff@tum.de tenant staff@tum.de tum
G all@tum.de anyone all@tum.de tum
S team@tum.de jane.doe@tum.de member
S team@tum.de bob@example.org member
S team@tum.de @partner.example allowed
REC
} | fw_compile 7
_loaded() { [ "$(PC ask x@tum.de team@tum.de)" != "${1}" ]; }
t_wait 10 _loaded "action=DEFER_IF_PERMIT 4.3.0 fwdmapd: no routing table loaded, try again later" ||
    t_fail "generation not picked up"

# The decisions, as smtpd would ask them.
REJ='action=REJECT 5.7.1 group <team@tum.de> accepts mail only from its members'
t_eq "outsider" "$REJ" "$(PC ask stranger@lmu.de team@tum.de)"
t_eq "outsider via the group's alias and an extension" "$REJ" "$(PC ask stranger@lmu.de Team-Alias+x@tum.de)"
t_eq "null sender" "action=REJECT 5.7.1 group <team@tum.de> accepts mail only from its members; it takes no mail from the null sender (bounces, auto-replies)" \
    "$(PC ask '' team@tum.de)"
t_eq "member, any case, extension" "action=DUNNO" "$(PC ask JANE.Doe+news@Tum.De team@tum.de)"
t_eq "external member" "action=DUNNO" "$(PC ask bob@example.org team@tum.de)"
t_eq "allowed domain" "action=DUNNO" "$(PC ask anyone@partner.example team@tum.de)"
t_eq "tenant: own domain" "action=DUNNO" "$(PC ask x@ph.tum.de staff@tum.de)"
t_eq "tenant: other tenant" "action=REJECT 5.7.1 group <staff@tum.de> accepts mail only from senders of its own organisation" \
    "$(PC ask x@lmu.de staff@tum.de)"
t_eq "anyone" "action=DUNNO" "$(PC ask '' all@tum.de)"
t_eq "not a group" "action=DUNNO" "$(PC ask stranger@lmu.de jane.doe@tum.de)"
t_eq "not RCPT" "action=DUNNO" "$(PC ask stranger@lmu.de team@tum.de DATA)"
grep -q 'policy: reject: from=<stranger@lmu.de> to=<team@tum.de>: group <team@tum.de> accepts mail only from its members (sender is not a member)' "$FWLOG" ||
    t_fail "refusal not logged"

# Many requests on one connection: one at a time, and pipelined.
t_eq "sequential on one connection" "ok 500" "$(PC seq 500)"
t_eq "pipelined on one connection" "ok 3000" "$(PC pipe 3000)"

# Malformed requests: a DEFER_IF_PERMIT naming why, then the connection
# is closed; the daemon keeps serving.
bad() {	# bad WHAT BYTES-for-printf REASON
    local out
    out=$(printf '%b' "$2" | SM "unix:$PSOCK" raw 3)
    t_eq "$1" "action=DEFER_IF_PERMIT 4.3.5 fwdmapd: malformed policy request: $3"$'\n\n<closed>' "$out"
}
bad "no '='" 'request=smtpd_access_policy\nno equals sign\n\n' "attribute line without '='"
bad "empty name" '=x\n\n' "attribute with an empty name"
bad "empty request" '\n' "empty request"
bad "NUL" 'sender=a\0b\n\n' "request contains a null byte"
bad "duplicate recipient" 'recipient=all@tum.de\nrecipient=team@tum.de\n\n' "an attribute fwdmapd reads is given twice"
# Limits, refused as soon as they are passed (no newline ever sent).
bad "line too long" "sender=$(printf 'a%.0s' $(seq 8190))" "attribute line too long"
out=$(perl -e 'print "x=" . ("y" x 8000) . "\n" for 1..9' | SM "unix:$PSOCK" raw 3)
t_eq "request too long" "action=DEFER_IF_PERMIT 4.3.5 fwdmapd: malformed policy request: request too long"$'\n\n<closed>' "$out"
out=$(perl -e 'print "a=$_\n" for 1..257; print "\n"' | SM "unix:$PSOCK" raw 3)
t_eq "too many attributes" "action=DEFER_IF_PERMIT 4.3.5 fwdmapd: malformed policy request: too many attributes"$'\n\n<closed>' "$out"
# Exactly at the limits is a request like any other.
out=$(perl -e 'print "a=$_\n" for 1..252; print "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=x\@lmu.de\nrecipient=team\@tum.de\n\n"' | SM "unix:$PSOCK" raw 2)
t_eq "256 attributes" "$REJ"$'\n\n<open>' "$out"
# A good request before a bad one is answered first; a partial request
# at the end of a connection is dropped quietly.
out=$(printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nsender=\nrecipient=all@tum.de\n\n=bad\n\n' | SM "unix:$PSOCK" raw 3)
t_match "good then bad" $'^action=DUNNO\n\naction=DEFER_IF_PERMIT 4.3.5 ' "$out"
printf 'request=smtpd_access_policy\nsender=a' | SM "unix:$PSOCK" raw 1 >/dev/null
# Still serving, both protocols.
t_eq "still serving" "$REJ" "$(PC ask stranger@lmu.de team@tum.de)"
t_eq "socketmap still serving" "OK tum" "$(fw_q domains tum.de)"
kill -0 "$FWPID" || t_fail "fwdmapd died"
grep -q "policy protocol error: attribute line without '='; answered DEFER_IF_PERMIT, closing" "$FWLOG" ||
    t_fail "protocol error not logged"

# Statistics.
t_eq "stats: protocol errors" 9 "$(fw_stat policy.protocol_errors)"
# 4 single refusals, 250 + 1500 from seq and pipe, 1 at 256 attributes,
# 1 "still serving", 1 from the probe that saw the tables arrive.
t_eq "stats: rejects" 1757 "$(fw_stat policy.reject)"
[ "$(fw_stat policy.requests)" -ge 3510 ] || t_fail "stats: requests $(fw_stat policy.requests)"
[ "$(fw_stat policy.not_rcpt)" = 1 ] || t_fail "stats: not_rcpt"
[ "$(fw_stat policy.defer)" -ge 1 ] || t_fail "stats: defer $(fw_stat policy.defer)"

# The same counters in the Prometheus metrics.
scrape
t_eq "metrics: rejects" 1757 "$(val 'fwdmap_policy_requests_total{action="reject"}')"
t_eq "metrics: protocol errors" 9 "$(val fwdmap_policy_protocol_errors_total)"
t_eq "metrics: dunno" "$(fw_stat policy.dunno)" "$(val 'fwdmap_policy_requests_total{action="dunno"}')"
[ "$(val fwdmap_policy_connections_accepted_total)" -ge 20 ] || t_fail "metrics: connections"

# SIGHUP: a new policy_listen needs a restart; the old socket keeps serving.
sed -i "s|\"policy_listen\": \"unix:$PSOCK\"|\"policy_listen\": \"unix:$T/other.sock\"|" "$CONF"
kill -HUP "$FWPID"
t_wait 5 grep -q 'SIGHUP: fwdmapd.policy_listen changed; that needs a restart, keeping the old value' "$FWLOG" ||
    t_fail "no SIGHUP warning"
t_eq "after SIGHUP" "$REJ" "$(PC ask stranger@lmu.de team@tum.de)"
[ -e "$T/other.sock" ] && t_fail "SIGHUP bound a new socket"
exit 0

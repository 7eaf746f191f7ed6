#!/usr/bin/env bash
# fwdmap postconf: the main.cf lines for a configuration are a complete and
# safe forwarder on their own.  Applied with "postconf -e" over a main.cf
# that makes an open relay (compatibility_level 0, a local subnet in
# mynetworks, no relay restrictions), a real Postfix refuses to relay for
# a client outside this host (XCLIENT from 192.0.2.7), accepts our
# addresses and rejects unknown ones; socket paths follow fwdmapd.listen.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/sink.sh"
source "$TOP/tests/lib/postfix.sh"
source "$TOP/tests/lib/fwdmapd.bash"	# its fw_start (fwdmapd alone) wins
FM=$(t_bin fwdmap)
for p in postfix swaks smtp-sink; do
    command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || t_skip "$p not installed"
done
[ "$(id -u)" = 0 ] || t_skip "the throwaway Postfix needs root"

fw_conf '"socket_mode": "0666"'
"$FM" postconf -c "$CONF" >"$T/main.out" || t_fail "fwdmap postconf failed"
"$FM" -c "$CONF" postconf >"$T/main2.out" || t_fail "fwdmap -c FILE postconf failed"
cmp -s "$T/main.out" "$T/main2.out" || t_fail "-c before and after the command differ"
has() { grep -qxF -- "$1" "$T/main.out" || t_fail "fwdmap postconf lacks the line [$1]; it printed:
$(cat "$T/main.out")"; }
has "compatibility_level = 3.6"
has "mynetworks = 127.0.0.0/8 [::1]/128"
has "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination"
has "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination"
has "mydestination ="
has "virtual_alias_domains ="
has "relay_domains = socketmap:unix:$SOCK:domains"
has "relay_recipient_maps = socketmap:unix:$SOCK:recipients"
has "virtual_alias_maps = socketmap:unix:$SOCK:virtual"
has "transport_maps = socketmap:unix:$SOCK:transport"
has "recipient_delimiter = +"
# Every line is a comment or "name = value" that postconf -e takes.
bad=$(grep -vE '^(#.*|[a-z_0-9]+ =( .*)?)$' "$T/main.out")
[ -z "$bad" ] || t_fail "lines that are not 'name = value': $bad"
"$FM" postconf -c "$CONF" -M >"$T/master.out" || t_fail "fwdmap postconf -M failed"
grep -q 'no extra services' "$T/master.out" || t_fail "-M without SRS: $(cat "$T/master.out")"
grep -q 'srs' "$T/main.out" && t_fail "SRS lines without an srs section"

# With an srs section: the SRS lines and the three services, at pass_address.
command -v jq >/dev/null || t_skip "jq not installed"
jq '. + {srs: {domain: "srs.example.org", secrets_file: "/etc/fwdmap/srs.secret", pass_address: "[::1]:10099"}}' \
    "$CONF" >"$T/srs.json"
"$FM" postconf -c "$T/srs.json" >"$T/srs.main" || t_fail "postconf with srs"
"$FM" postconf -c "$T/srs.json" -M >"$T/srs.master" || t_fail "postconf -M with srs"
grep -qxF "sender_dependent_default_transport_maps = pipemap:{socketmap:unix:$SOCK:srs_forward, static:fwdmap-srs:[::1]:10099}" "$T/srs.main" ||
    t_fail "SRS transport line: $(grep sender_dependent "$T/srs.main")"
grep -qxF "recipient_canonical_maps = socketmap:unix:$SOCK:srs_reverse" "$T/srs.main" || t_fail "no recipient_canonical_maps"
grep -qxF "recipient_canonical_classes = envelope_recipient" "$T/srs.main" || t_fail "no recipient_canonical_classes"
grep -q '^\[::1\]:10099 inet .* smtpd$' "$T/srs.master" || t_fail "no second smtpd on [::1]:10099: $(cat "$T/srs.master")"
grep -q '^fwdmap-srs unix .* smtp$' "$T/srs.master" || t_fail "no fwdmap-srs client"
grep -q '^fwdmap-srs-cleanup unix .* cleanup$' "$T/srs.master" || t_fail "no fwdmap-srs-cleanup"
grep -qxF "  -o sender_canonical_maps=socketmap:unix:$SOCK:srs_forward" "$T/srs.master" || t_fail "no sender_canonical_maps"
grep -qxF "  -o sender_canonical_classes=envelope_sender" "$T/srs.master" || t_fail "sender_canonical_classes not envelope_sender only"
grep -q 'no_address_mappings' "$T/srs.master" && t_fail "the second pass must not switch address mappings off"
jq '.srs.pass_address = "127.0.0.5:10027"' "$T/srs.json" >"$T/srs2.json"
"$FM" postconf -c "$T/srs2.json" | grep -qF 'static:fwdmap-srs:[127.0.0.5]:10027}' || t_fail "IPv4 pass not bracketed"

# Socket paths come from fwdmapd.listen.
sed "s|\"listen\": \"unix:$SOCK\"|\"listen\": \"inet:127.0.0.1:7777\"|" "$CONF" >"$T/inet.json"
"$FM" postconf -c "$T/inet.json" | grep -qxF "transport_maps = socketmap:inet:127.0.0.1:7777:transport" ||
    t_fail "inet listen not used: $("$FM" postconf -c "$T/inet.json" | grep transport_maps)"
# A bad configuration: exit 2, a message naming the key, nothing on stdout.
sed 's|"maps_dir"|"maps_dri"|' "$CONF" >"$T/bad.json"
out=$("$FM" postconf -c "$T/bad.json" 2>"$T/bad.err"); rc=$?
t_eq "bad config exit" 2 "$rc"
t_eq "bad config stdout" "" "$out"
t_match "bad config message" 'maps_dri' "$(cat "$T/bad.err")"
"$FM" postconf -c "$CONF" -x >/dev/null 2>&1; t_eq "unknown option exit" 2 $?

# A real Postfix: the tables, then a main.cf made unsafe on purpose, then
# the lines applied the way docs/install.md says.
fw_gen 4
_fw_traversable "$T"
fw_start
sink_start outside smtp
PF_FWDMAP_CONF=$CONF pf_init "unix:$SOCK" "$(sink_port outside)"
pf_conf "compatibility_level = 0" "mynetworks = 127.0.0.0/8 192.0.2.0/24" \
    "smtpd_relay_restrictions =" "smtpd_recipient_restrictions = permit_mynetworks" \
    "mydestination = \$myhostname, localhost" "relay_domains ="
sed '/^#/d' "$T/main.out" | xargs -d '\n' postconf -c "$PF_DIR/etc" -e ||
    t_fail "postconf -e of fwdmap postconf's lines failed"
_pf_settled "$PF_DIR/etc/main.cf"
t_eq "mynetworks after apply" "mynetworks = 127.0.0.0/8 [::1]/128" "$(postconf -c "$PF_DIR/etc" -h -n mynetworks | sed 's/^/mynetworks = /')"
pf_conf "smtpd_authorized_xclient_hosts = 127.0.0.1"
pf_start
postfix -c "$PF_DIR/etc" check 2>&1 | grep -i warning && t_fail "postfix check warns"

# xsmtp ADDR RCPT: one RCPT from client ADDR (XCLIENT); print the code.
xsmtp() {
    swaks --server 127.0.0.1 --port "$PF_PORT" --helo client.example.net \
        --xclient-addr "$1" --from sender@example.net --to "$2" --quit-after RCPT \
        >"$T/x.log" 2>&1
    awk '/ -> RCPT TO:/ { r = 1; next } r && /^ *<[-*~]+ / { sub(/^ *<[-*~]+ */, ""); print substr($0, 1, 3); exit }' "$T/x.log"
}
t_eq "outsider relays to the world" 554 "$(xsmtp 192.0.2.7 victim@example.com)"
grep -q 'Relay access denied' "$T/x.log" || t_fail "no 'Relay access denied': $(tail -n 3 "$T/x.log")"
t_eq "outsider to our address" 250 "$(xsmtp 192.0.2.7 jane.doe@tum.de)"
t_eq "outsider to an unknown address" 550 "$(xsmtp 192.0.2.7 nobody@tum.de)"
t_eq "outsider to a route domain" 250 "$(xsmtp 192.0.2.7 anyone@ph.tum.de)"
t_eq "this host relays" 250 "$(xsmtp 127.0.0.1 friend@example.com)"
t_eq "outsider to local postmaster" 554 "$(xsmtp 192.0.2.7 root@forwarder.fwdmap.invalid)"
echo "ok"

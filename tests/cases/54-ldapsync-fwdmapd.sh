#!/bin/bash
# 54-ldapsync-fwdmapd.sh - the tables ldapsync publishes (base and deltas)
# answered by a real fwdmapd over the socketmap protocol.  No fwdmapd.control
# in the configuration: `fwdmapd -S` uses the default next to the listen socket.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
FWDMAPD=$(t_bin fwdmapd)
[ -x "$FWDMAPD" ] || t_skip "fwdmapd not built"
SOCK=$T/fwdmapd.sock
slapd_init ldap conf
{
    person jane jane.doe@tum.de "fwdMailboxLocation: exchange" "fwdMailAlias: jd@tum.de" \
        "fwdForwardAddress: jane@gmail.com"
    person al al@tum.de "fwdMailboxLocation: none" "fwdForwardAddress: al@web.de"
} > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap
ls_conf ".fwdmapd = {\"listen\": \"unix:$SOCK\", \"reload_check_ms\": 50}"
ls_start
t_wait 10 test -s "$T/maps/fwdmap.cdb" || t_fail "no tables: $(cat "$LSLOG")"
"$FWDMAPD" -c "$CONF" -f >>"$T/logs/fwdmapd.log" 2>&1 &
t_track $!
t_wait 10 test -S "$SOCK" || t_fail "fwdmapd did not start: $(cat "$T/logs/fwdmapd.log")"
fq() { printf '%s %s\n' "$1" "$2" | perl "$TOP/tests/lib/sockmap-client.pl" "unix:$SOCK" query; }
fq_is() { [ "$(fq "$1" "$2")" = "$3" ]; }

t_wait 5 fq_is transport jane.doe@tum.de "OK smtp:[exchange.example.org]:25" ||
    t_fail "fwdmapd transport: [$(fq transport jane.doe@tum.de)]"
t_eq "virtual alias"   "OK jane.doe@tum.de" "$(fq virtual JD@tum.de)"
t_eq "virtual primary" "OK jane.doe@tum.de,jane@gmail.com" "$(fq virtual jane.doe@tum.de)"
t_eq "alumni"          "OK al@web.de" "$(fq virtual al@tum.de)"
t_eq "recipients"      "OK tum" "$(fq recipients jd+x@tum.de)"
t_eq "unknown"         "NOTFOUND " "$(fq recipients nobody@tum.de)"
t_eq "domains"         "OK tum" "$(fq domains tum.de)"

# Statistics through the default control socket ($T/fwdmapd.ctl, 0600).
t_eq "default control socket" "socket 600" "$(stat -c '%F %a' "$T/fwdmapd.ctl" | sed 's/^socket .* \([0-7]*\)$/socket \1/')"
"$FWDMAPD" -c "$CONF" -S > "$T/stats.json" 2>"$T/logs/stats.err" ||
    t_fail "fwdmapd -S without fwdmapd.control: $(cat "$T/logs/stats.err")"
jq -e 'type == "object"' "$T/stats.json" >/dev/null || t_fail "fwdmapd -S: not JSON: $(cat "$T/stats.json")"

# A change travels slapd -> ldapsync (delta) -> fwdmapd.
mod jane fwdMailboxLocation mytum
t_wait 10 fq_is transport jd@tum.de "OK lmtp:[mytum.example.org]:24" ||
    t_fail "fwdmapd did not follow the delta: [$(fq transport jd@tum.de)]"
printf 'dn: uid=al,ou=tum,%s\nchangetype: delete\n' "$SLAPD_SUFFIX" | slapd_modify ldap
t_wait 10 fq_is recipients al@tum.de "NOTFOUND " ||
    t_fail "fwdmapd did not follow the delete: [$(fq recipients al@tum.de)]"
ls_stop
exit 0

# tests/lib/ldapsync.bash - helpers for the ldapsync cases (tests/cases/4*.sh,
# 5*.sh).  Sourced after tests/lib/common.sh; not a test itself.
#
#   ls_setup [conf|cnconfig]  start slapd "ldap" (tests/lib/slapd.sh), write
#                             $CONF for it (two tenants: tum, lmu)
#   ls_conf [JQ-EXPR]         rewrite $CONF, applying a jq expression to the
#                             default (e.g. '.safety.max_removed = 1')
#   person UID MAIL [ATTR: VALUE]...   LDIF of one person under ou=tum
#   person_in OU UID MAIL [ATTR: VALUE]...
#   ls_once [ARGS]            ldapsync -c $CONF --once ARGS; rc in $LS_RC
#   ls_start / ls_stop        the continuous daemon (PID $LS_PID)
#   q MAP KEY                 `fwdmap query` on $T/maps, prints the answer
#   rep JQ                    jq -r on the last sync report
#   serial                    the published base serial (or "none")
#   mod UID ATTR VALUE        replace one attribute of uid=UID,ou=tum
#   csn / saved_csn           slapd's contextCSN / the one in ldapsync's cookie
#   cookie_current            (t_wait helper) the saved cookie has caught up

source "$TOP/tests/lib/slapd.sh"
LDAPSYNC=$(t_bin ldapsync)
FWDMAP=$(t_bin fwdmap)
CONF=$T/fwdmap.json
LSLOG=$T/logs/ldapsync.log
LS_PID=
mkdir -p "$T/maps"

ls_conf() {
    local expr=${1:-.}
    jq "$expr" > "$CONF" <<JSON || t_fail "ls_conf: bad jq expression $expr"
{
  "maps_dir": "$T/maps",
  "recipient_delimiter": "+",
  "ldap": { "uris": ["$(slapd_uri ldap)"], "bind_dn": "$SLAPD_SYNCDN",
            "bind_password_file": "$(slapd_pwfile ldap)", "starttls": false,
            "timeout": 10, "network_timeout": 2, "page_size": 100 },
  "stores": { "exchange": "smtp:[exchange.example.org]:25",
              "mytum": "lmtp:[mytum.example.org]:24" },
  "tenants": {
    "tum": { "base": "ou=tum,$SLAPD_SUFFIX", "domains": ["tum.de", "mytum.de", "ph.tum.de"] },
    "lmu": { "base": "ou=lmu,$SLAPD_SUFFIX", "domains": ["lmu.de"],
             "allowed_hosts": ["mx.lmu.de"], "default_location": "exchange" }
  },
  "domains": { "ph.tum.de": { "default_route": "smtp:[mail.ph.tum.de]:25",
                              "unknown_recipients": "route" } },
  "safety": { "max_removed": 500, "max_removed_percent": 100 },
  "ldapsync": { "batch_delay_ms": 100 }
}
JSON
}

ls_setup() {
    slapd_init ldap "${1:-conf}"
    slapd_start ldap
    ls_conf
}

person_in() {
    local ou=$1 uid=$2 mail=$3; shift 3
    printf 'dn: uid=%s,ou=%s,%s\nobjectClass: inetOrgPerson\nobjectClass: fwdMailRecipient\nuid: %s\ncn: %s\nsn: %s\n' \
        "$uid" "$ou" "$SLAPD_SUFFIX" "$uid" "$uid" "$uid"
    [ -n "$mail" ] && printf 'mail: %s\n' "$mail"
    local a
    for a in "$@"; do printf '%s\n' "$a"; done
    printf '\n'
}
person() { person_in tum "$@"; }

ls_once() {
    "$LDAPSYNC" -c "$CONF" --once "$@" >>"$LSLOG" 2>&1
    LS_RC=$?
}

_ls_published() { grep -q "result=published" "$LSLOG"; }
ls_start() {
    : > "$LSLOG.run"
    "$LDAPSYNC" -c "$CONF" "$@" >>"$LSLOG" 2>&1 &
    LS_PID=$!
    t_track "$LS_PID"
}
ls_stop() {
    [ -n "$LS_PID" ] && t_stop_pid "$LS_PID"
    wait "$LS_PID" 2>/dev/null
    LS_PID=
}

q() { "$FWDMAP" -d "$T/maps" query "$1" "$2" 2>&1; }
rep() { jq -r "$1" "$T/maps/ldapsync-report.json"; }
serial() {
    "$FWDMAP" -d "$T/maps" info 2>/dev/null | jq -r '.base.serial // "none"' 2>/dev/null || echo none
}
# t_wait helper: q MAP KEY answers exactly EXPECTED
q_is() { [ "$(q "$1" "$2")" = "$3" ]; }

mod() {	# mod UID ATTR VALUE
    printf 'dn: uid=%s,ou=tum,%s\nchangetype: modify\nreplace: %s\n%s: %s\n' \
        "$1" "$SLAPD_SUFFIX" "$2" "$2" "$3" | slapd_modify ldap
}
csn() { slapd_search ldap -s base contextCSN | sed -n 's/^contextCSN: //p'; }
saved_csn() { jq -r '.cookies.tum // ""' "$T/maps/ldapsync.cookie" 2>/dev/null | sed -n 's/.*csn=\([^,;]*\).*/\1/p'; }
cookie_current() { [ "$(saved_csn)" = "$(csn)" ]; }

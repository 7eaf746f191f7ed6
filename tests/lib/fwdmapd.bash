# tests/lib/fwdmapd.bash - helpers for the fwdmapd cases (tests/cases/2*.sh).
# Sourced after tests/lib/common.sh; not a test itself (run.sh runs *.sh).
#
#   fw_conf [JSON-MEMBERS]   write $T/fwdmap.json; the members are added to
#                            the "fwdmapd" object (e.g. '"max_connections": 3')
#   fw_compile SERIAL        publish stdin records (fwdmap compile syntax)
#   fw_start [ARGS]          start fwdmapd -f in the background, wait for it
#   fw_q MAP KEY             one lookup; prints the reply payload
#   fw_stat PATH             one value of `fwdmapd -S` (e.g. maps.virtual.hits)
#   SM ENDPOINT MODE ...     the protocol client (tests/lib/sockmap-client.pl)

FWDMAPD=$(t_bin fwdmapd)
FWDMAP=$(t_bin fwdmap)
SOCK="$T/fwdmapd.sock"
CTL="$T/ctl.sock"
CONF="$T/fwdmap.json"
FWLOG="$T/logs/fwdmapd.log"
FWPID=
mkdir -p "$T/maps"

SM() { perl "$TOP/tests/lib/sockmap-client.pl" "$@"; }

fw_conf() {
    local extra=${1:-}
    [ -n "$extra" ] && extra=", $extra"
    cat > "$CONF" <<JSON
{
  "maps_dir": "$T/maps",
  "recipient_delimiter": "${FW_DELIM:-+}",
  "ldap": {"uris": ["ldap://127.0.0.1:9"]},
  "stores": {"exchange": "smtp:[exchange.example.org]:25"},
  "tenants": {"tum": {"base": "ou=tum,dc=example,dc=org",
                      "domains": ["tum.de", "ph.tum.de"]}},
  "domains": {"ph.tum.de": {"unknown_recipients": "route",
                            "default_route": "smtp:[mail.ph.tum.de]:25"}},
  "fwdmapd": {"listen": "unix:$SOCK", "control": "$CTL",
              "reload_check_ms": 50$extra}
}
JSON
}

fw_compile() { "$FWDMAP" -d "$T/maps" compile -s "$1" || t_fail "fwdmap compile -s $1"; }

# The standard test generation, serial $1, transport of jane as $2.
fw_gen() { fw_gen_records "$@" | fw_compile "$1"; }
fw_gen_records() {
    cat <<REC
D tum.de tum reject
D ph.tum.de tum route smtp:[mail.ph.tum.de]:25
R jane.doe@tum.de tum
R j.doe@tum.de tum
V j.doe@tum.de jane.doe@tum.de
T jane.doe@tum.de ${2:-smtp:[exchange.example.org]:25}
T j.doe@tum.de ${2:-smtp:[exchange.example.org]:25}
REC
}

fw_listening() { [ "$(grep -c 'listening on' "$FWLOG" 2>/dev/null)" -gt "$1" ]; }
fw_start() {
    local before
    before=$(grep -c 'listening on' "$FWLOG" 2>/dev/null); before=${before:-0}
    "$FWDMAPD" -c "$CONF" -f "$@" >>"$FWLOG" 2>&1 &
    FWPID=$!
    t_track "$FWPID"
    t_wait 10 fw_listening "$before" || { cat "$FWLOG" >&2; t_fail "fwdmapd did not start"; }
}

fw_q() { printf '%s %s\n' "$1" "$2" | SM "unix:$SOCK" query; }

fw_stat() {
    "$FWDMAPD" -c "$CONF" -S | perl -MJSON::PP -e '
        my $j = decode_json(join "", <STDIN>);
        for my $k (split /\./, $ARGV[0]) { $j = $j->{$k}; }
        print ref($j) ? encode_json($j) : (JSON::PP::is_bool($j) ? ($j ? "true" : "false") : $j), "\n";' "$1"
}

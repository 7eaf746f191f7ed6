#!/usr/bin/env bash
# asan: yes
# fwdmapd's Prometheus endpoint (fwdmapd.metrics_listen): scraped from the
# real daemon and validated with the real Prometheus parser
# (prometheus_client, tests/lib/prom.py) and `promtool check metrics`;
# counters move as lookups, protocol errors, refusals and reloads happen;
# TEMP answers and "no generation" show without tables; other paths 404;
# fwdmapd -t checks the key; the listener is bound before privileges drop.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/fwdmapd.bash"

source "$TOP/tests/lib/prom.bash"
prom_need

PORT=$(t_port)
URL="http://127.0.0.1:$PORT/metrics"

# -t validates the key.
fw_conf '"metrics_listen": "unix:/tmp/x.sock"'
out=$("$FWDMAPD" -c "$CONF" -t 2>&1) && t_fail "-t accepted a unix: metrics_listen"
t_match "-t names the key" 'fwdmapd.metrics_listen: "unix:/tmp/x.sock": must be "inet:HOST:PORT"' "$out"
fw_conf '"metrics_listen": "inet:no-such-host.invalid:9489"'
out=$("$FWDMAPD" -c "$CONF" -t 2>&1) && t_fail "-t accepted an unresolvable metrics_listen"
t_match "-t resolves it" 'fwdmapd.metrics_listen: .*no-such-host.invalid' "$out"

# No tables yet: every answer TEMP, no generation.
fw_conf "\"metrics_listen\": \"inet:127.0.0.1:$PORT\", \"max_connections\": 2"
t_match "-t shows the endpoint" "metrics at http://127.0.0.1:$PORT/metrics" "$("$FWDMAPD" -c "$CONF" -t)"
fw_start
grep -q "metrics at http://127.0.0.1:$PORT/metrics" "$FWLOG" || t_fail "endpoint not logged"
scrape
t_eq "no generation" 0 "$(val fwdmap_generation_loaded)"
t_eq "no serial without a generation" absent "$(val fwdmap_generation_serial)"
t_eq "no lookups yet" 0 "$(val 'fwdmap_lookups_total{map="recipients",result="temp"}')"
t_match "TEMP without tables" '^TEMP ' "$(fw_q recipients jane.doe@tum.de)"
fw_q recipients jane.doe@tum.de >/dev/null
scrape
t_eq "TEMP answers counted" 2 "$(val 'fwdmap_lookups_total{map="recipients",result="temp"}')"

# Tables: serial 7.
fw_gen 7
t_wait 10 is fwdmap_generation_serial 7 || t_fail "serial 7 not shown: $(val fwdmap_generation_serial)"
t_eq "generation loaded" 1 "$(val fwdmap_generation_loaded)"
t_match "generation age" '^[0-3]$' "$(val fwdmap_generation_age_seconds)"
t_eq "one reload" 1 "$(val fwdmap_reloads_total)"

# Lookups move the counters of their map and result, and the histogram.
for i in 1 2 3; do t_eq "virtual" "OK jane.doe@tum.de" "$(fw_q virtual j.doe@tum.de)"; done
fw_q recipients nobody@tum.de >/dev/null
fw_q recipients nobody@tum.de >/dev/null
t_match "unknown map" '^PERM ' "$(fw_q bogus x)"
fw_q transport jane.doe@tum.de >/dev/null
scrape
t_eq "virtual ok" 3 "$(val 'fwdmap_lookups_total{map="virtual",result="ok"}')"
t_eq "recipients notfound" 2 "$(val 'fwdmap_lookups_total{map="recipients",result="notfound"}')"
t_eq "recipients temp unchanged" 2 "$(val 'fwdmap_lookups_total{map="recipients",result="temp"}')"
t_eq "unknown map name" 1 "$(val 'fwdmap_lookups_total{map="other",result="perm"}')"
t_eq "transport ok" 1 "$(val 'fwdmap_lookups_total{map="transport",result="ok"}')"
t_eq "virtual latencies" 3 "$(val 'fwdmap_lookup_duration_seconds_count{map="virtual"}')"
t_eq "recipients latencies" 4 "$(val 'fwdmap_lookup_duration_seconds_count{map="recipients"}')"
# Every counted map has its label, from fwdmapd's one table of map names
# (the SRS maps arrived after the metrics and are there without code).
for m in domains recipients virtual transport srs_forward srs_reverse; do
    t_eq "$m has its series" 0 "$(val "fwdmap_lookups_total{map=\"$m\",result=\"ok\"}" | sed 's/^[0-9]*$/0/')"
done
# The JSON statistics and the metrics agree.
t_eq "same as fwdmapd -S" "$(fw_stat maps.virtual.hits)" "$(val 'fwdmap_lookups_total{map="virtual",result="ok"}')"

# A protocol error.
t_match "garbage" 'PERM' "$(printf 'xyz' | SM "unix:$SOCK" raw 2)"
scrape
t_eq "protocol error" 1 "$(val fwdmap_protocol_errors_total)"

# Open connections and refusals at max_connections (2).
SM "unix:$SOCK" hold 2 3 > "$T/hold.out" &
hold=$!
t_wait 5 is fwdmap_connections 2 || t_fail "2 open connections not shown: $(val fwdmap_connections)"
wait "$hold"
t_eq "held" 2 "$(cat "$T/hold.out")"
t_eq "limit shown" 2 "$(val fwdmap_connections_max)"
t_eq "held 2 of 2" 2 "$(SM "unix:$SOCK" hold 4 0.3)"
scrape
t_match "refusals counted" '^[2-9]$' "$(val fwdmap_connections_refused_total)"

# A new generation, then a corrupt one.
fw_gen 8
t_wait 10 is fwdmap_generation_serial 8 || t_fail "serial 8 not shown"
t_eq "two reloads" 2 "$(val fwdmap_reloads_total)"
head -c 600 "$T/maps/fwdmap.cdb" > "$T/maps/.cut" && mv "$T/maps/.cut" "$T/maps/fwdmap.cdb"
t_wait 10 is fwdmap_reload_failures_total 1 || t_fail "reload failure not counted"
t_eq "old generation kept" 8 "$(val fwdmap_generation_serial)"

# Anything but /metrics answers 404; other methods 405.
t_eq "/" 404 "$(http_status "http://127.0.0.1:$PORT/")"
t_eq "/metrics/x" 404 "$(http_status "http://127.0.0.1:$PORT/metrics/x")"
t_eq "/metricsx" 404 "$(http_status "http://127.0.0.1:$PORT/metricsx")"
t_eq "POST" 405 "$(http_status "$URL" POST)"
t_eq "HEAD" 200 "$(http_status "$URL" HEAD)"

# SIGHUP keeps the endpoint (a new one needs a restart).
sed -i "s|\"inet:127.0.0.1:$PORT\"|\"inet:127.0.0.1:$(t_port)\"|" "$CONF"
kill -HUP "$FWPID"
t_wait 5 grep -q 'fwdmapd.metrics_listen changed; that needs a restart' "$FWLOG" ||
    t_fail "SIGHUP did not keep metrics_listen"
scrape
kill -TERM "$FWPID"; wait "$FWPID"; t_eq "exit 0" 0 $?
FWPID=

# Privileges: the metrics socket is bound as root, before the drop to
# nobody: a port below 1024 proves it.
[ "$(id -u)" = 0 ] || t_skip "not root: the privilege part needs root"
getent passwd nobody >/dev/null || t_skip "no user nobody for the privilege part"
low=
for p in $(seq 1023 -1 900); do
    grep -qi ":$(printf '%04X' "$p") " /proc/net/tcp /proc/net/tcp6 2>/dev/null || { low=$p; break; }
done
[ -n "$low" ] || t_fail "no free port below 1024"
P=$(mktemp -d /tmp/fwdmapd-metrics.XXXXXX)
t_on_exit "rm -rf '$P'"
chmod 755 "$P"; mkdir -p "$P/maps"
fw_gen_records 9 | "$FWDMAP" -d "$P/maps" compile -s 9 || t_fail "compile"
chmod 755 "$P/maps"; chmod 644 "$P/maps/fwdmap.cdb"
SOCK="$P/fwdmapd.sock" CTL="$P/ctl.sock"
fw_conf "\"user\": \"nobody\", \"metrics_listen\": \"inet:127.0.0.1:$low\""
sed -i "s|\"maps_dir\": \"$T/maps\"|\"maps_dir\": \"$P/maps\"|" "$CONF"
fw_start
URL="http://127.0.0.1:$low/metrics"
t_match "runs as nobody" "^Uid:[[:space:]]+$(id -u nobody)[[:space:]]" "$(grep '^Uid:' /proc/$FWPID/status)"
scrape
t_eq "serves metrics as nobody" 9 "$(val fwdmap_generation_serial)"

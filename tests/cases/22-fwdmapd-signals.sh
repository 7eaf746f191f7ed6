#!/usr/bin/env bash
# asan: yes
# fwdmapd connection management and signals: idle and request timeouts, the
# connection limit, SIGHUP (what may change, what may not, a broken file),
# and SIGTERM finishing a request in flight before exiting 0.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/fwdmapd.bash"

fw_conf '"idle_timeout": 1, "request_timeout": 2, "max_connections": 3'
fw_gen 1
fw_start

# Connection limit: of 5 connections 3 are kept, 2 refused at once.
t_eq "connection limit" 3 "$(SM "unix:$SOCK" hold 5 0.3)"
t_match "refusals counted" '^[2-9]' "$(fw_stat connections.rejected)"
t_wait 5 grep -q 'connection limit 3 reached' "$FWLOG" || t_fail "limit not logged"

# Idle connections are closed after idle_timeout.
t_eq "idle timeout" 0 "$(SM "unix:$SOCK" hold 2 2.5)"

# A request that is not finished within request_timeout: closed.
t_eq "request timeout" "<none>" "$(SM "unix:$SOCK" pending domains tum.de 3)"
t_wait 5 grep -q 'request not finished within 2 s' "$FWLOG" || t_fail "request timeout not logged"
# ... but one finished in time is answered.
t_eq "slow but in time" "OK tum" "$(SM "unix:$SOCK" pending domains tum.de 0.5)"

# An unmatched extension goes onto the virtual answer (default), and
# propagate_extensions false (re-read on SIGHUP) keeps it off.
# The extension keeps the case the sender used (issue 11).
t_eq "extension propagated" "OK jane.doe+X@tum.de" "$(fw_q virtual J.Doe+X@tum.de)"
t_eq "exact match: nothing to propagate" "OK jane.doe@tum.de" "$(fw_q virtual j.doe@tum.de)"
sed -i 's|"recipient_delimiter"|"propagate_extensions": false, "recipient_delimiter"|' "$CONF"
kill -HUP "$FWPID"
answer_is0() { [ "$(fw_q "$1" "$2")" = "$3" ]; }
t_wait 5 answer_is0 virtual j.doe+x@tum.de "OK jane.doe@tum.de" ||
    t_fail "propagate_extensions false not applied: $(fw_q virtual j.doe+x@tum.de)"

# SIGHUP: a new recipient_delimiter applies; a new listen address does not.
t_eq "before HUP" "NOTFOUND " "$(fw_q recipients jane.doe-x@tum.de)"
FW_DELIM=- fw_conf '"idle_timeout": 1, "request_timeout": 2, "max_connections": 3, "max_request": 2000'
sed -i "s|unix:$SOCK|unix:$T/other.sock|" "$CONF"
kill -HUP "$FWPID"
answer_is() { [ "$(fw_q "$1" "$2")" = "$3" ]; }
t_wait 5 answer_is recipients jane.doe-x@tum.de "OK tum" || t_fail "delimiter not reloaded"
t_wait 5 grep -q 'fwdmapd.listen changed; that needs a restart' "$FWLOG" || t_fail "listen change not refused"
t_eq "still on the old socket" "OK tum" "$(fw_q domains tum.de)"
[ -e "$T/other.sock" ] && t_fail "bound a new socket on SIGHUP"

# SIGHUP with another maps_dir: its generation is served at once.
mkdir -p "$T/maps2"
printf 'D tum.de tum reject\nR jane.doe@tum.de tum\nT jane.doe@tum.de smtp:[other.example.org]:25\n' |
    "$FWDMAP" -d "$T/maps2" compile -s 77 || t_fail "compile maps2"
FW_DELIM=- fw_conf '"idle_timeout": 1, "request_timeout": 2, "max_connections": 3'
sed -i "s|\"maps_dir\": \"$T/maps\"|\"maps_dir\": \"$T/maps2\"|" "$CONF"
kill -HUP "$FWPID"
t_wait 5 answer_is transport jane.doe@tum.de "OK smtp:[other.example.org]:25" || t_fail "new maps_dir not served"
t_eq "serial from new maps_dir" 77 "$(fw_stat generation.serial)"

# SIGHUP to a maps_dir where nothing is published yet: the old generation
# keeps serving; what is published there later is taken at once, even
# with a lower serial (serials belong to their directory).
mkdir -p "$T/maps3"
sed -i "s|\"maps_dir\": \"$T/maps2\"|\"maps_dir\": \"$T/maps3\"|" "$CONF"
kill -HUP "$FWPID"
t_wait 5 grep -q "maps3.*still serving serial 77" "$FWLOG" || t_fail "empty maps_dir not reported"
t_eq "empty maps_dir: old generation serves" "OK smtp:[other.example.org]:25" "$(fw_q transport jane.doe@tum.de)"
printf 'D tum.de tum reject\nR jane.doe@tum.de tum\nT jane.doe@tum.de smtp:[third.example.org]:25\n' |
    "$FWDMAP" -d "$T/maps3" compile -s 3 || t_fail "compile maps3"
t_wait 5 answer_is transport jane.doe@tum.de "OK smtp:[third.example.org]:25" ||
    t_fail "generation published in the new maps_dir not picked up: $(fw_q transport jane.doe@tum.de)"
t_eq "serial from the third maps_dir" 3 "$(fw_stat generation.serial)"

# SIGHUP with a broken file keeps the running configuration.
echo '{ "maps_dir": ' > "$CONF"
kill -HUP "$FWPID"
t_wait 5 grep -q 'keeping the running configuration' "$FWLOG" || t_fail "broken config not reported"
t_eq "broken config: still serving" "OK tum" "$(fw_q recipients jane.doe-x@tum.de)"
FW_DELIM=- fw_conf '"idle_timeout": 5, "request_timeout": 3'

# SIGTERM while a request is half sent: it is answered, then fwdmapd exits 0
# and accepts nobody new meanwhile.
SM "unix:$SOCK" pending domains tum.de 1 > "$T/inflight.out" & cl=$!
t_track $cl
busy_is() { "$FWDMAPD" -c "$CONF" -S | grep -q "\"busy\": $1,"; }
t_wait 5 busy_is 1 || t_fail "client's request not in flight"
kill -TERM "$FWPID"
t_wait 5 grep -q 'stopping: 1 connection' "$FWLOG" || t_fail "stop not logged: $(tail -3 "$FWLOG")"
fw_q domains tum.de 2>/dev/null | grep -q OK && t_fail "new connection accepted while stopping"
wait $cl
t_eq "in-flight request answered" "OK tum" "$(cat "$T/inflight.out")"
wait "$FWPID"; rc=$?
t_eq "exit status" 0 "$rc"
exit 0

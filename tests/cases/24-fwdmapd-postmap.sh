#!/usr/bin/env bash
# asan: yes
# Postfix's own socketmap client (postmap -q) against fwdmapd, over a UNIX
# socket and over TCP: answers, misses, TEMP without a table, PERM.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/fwdmapd.bash"
command -v postmap >/dev/null || t_skip "postmap not installed"

# postmap needs a readable main.cf; give it an empty private config dir.
mkdir -p "$T/pf"
: > "$T/pf/main.cf"
pm() { postmap -c "$T/pf" "$@"; }

fw_conf
fw_start
# No table: postmap reports a temporary error (exit != 0), never "not found".
out=$(pm -q jane.doe@tum.de "socketmap:unix:$SOCK:recipients" 2>&1); rc=$?
[ "$rc" != 0 ] || t_fail "TEMP looked like an answer: $out"
t_match "temporary error" 'temporary error' "$out"

fw_gen 4
answer_is() { [ "$(fw_q "$1" "$2")" = "$3" ]; }
t_wait 10 answer_is domains tum.de "OK tum" || t_fail "generation not loaded"

cat > "$T/keys" <<'K'
Jane.Doe@TUM.de
jane.doe+lists@tum.de
j.doe@tum.de
nobody@tum.de
someone@ph.tum.de
K
for ep in "unix:$SOCK" inet; do
    if [ "$ep" = inet ]; then
        kill -TERM "$FWPID"; wait "$FWPID"
        port=$(t_port)
        fw_conf; sed -i "s|\"listen\": \"unix:$SOCK\"|\"listen\": \"inet:127.0.0.1:$port\"|" "$CONF"
        fw_start
        ep="inet:127.0.0.1:$port"
    fi
    out=$(pm -q - "socketmap:$ep:transport" < "$T/keys")
    t_eq "transport via $ep" "Jane.Doe@TUM.de	smtp:[exchange.example.org]:25
jane.doe+lists@tum.de	smtp:[exchange.example.org]:25
j.doe@tum.de	smtp:[exchange.example.org]:25
someone@ph.tum.de	smtp:[mail.ph.tum.de]:25" "$out"
    out=$(pm -q - "socketmap:$ep:virtual" < "$T/keys")
    t_eq "virtual via $ep" "j.doe@tum.de	jane.doe@tum.de" "$out"
    out=$(pm -q - "socketmap:$ep:recipients" < "$T/keys")
    t_eq "recipients via $ep" "Jane.Doe@TUM.de	tum
jane.doe+lists@tum.de	tum
j.doe@tum.de	tum
someone@ph.tum.de	tum" "$out"
    t_eq "domains via $ep" "tum" "$(pm -q tum.de "socketmap:$ep:domains")"
    pm -q nobody@tum.de "socketmap:$ep:recipients"; t_eq "miss exit status" 1 $?
    out=$(pm -q x@tum.de "socketmap:$ep:nosuchmap" 2>&1) && t_fail "unknown map answered"
    t_match "perm via $ep" 'permanent error' "$out"
done
t_eq "lookups counted (second daemon)" $(( 3 * $(wc -l < "$T/keys") + 3 )) "$(fw_stat lookups)"
exit 0

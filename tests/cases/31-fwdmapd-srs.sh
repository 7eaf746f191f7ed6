#!/usr/bin/env bash
# asan: yes
# fwdmapd's SRS maps over the socketmap protocol: srs_forward (answers
# checked against an independent HMAC-SHA1/base64 implementation; our own
# domains, the SRS domain, the null sender and "@domain" are not
# rewritten), srs_reverse and recipients (valid, case-changed hash,
# forged, truncated, expired on the day after max_age_days), domains for
# the SRS domain; the secrets file refused when group-readable (clear
# error, the secret never logged), rotation on SIGHUP (the new first line
# signs, the old line verifies), a broken file on SIGHUP keeps the running
# secrets; SRS off answers PERM.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/fwdmapd.bash"
source "$TOP/tests/lib/srs.bash"
command -v jq >/dev/null || t_skip "jq not installed"

D=srs.example.org
SEC=$T/srs.secret
fw_conf
fw_gen 1
srs_conf_add "$CONF" "$D" "$SEC"
srs_secrets "$SEC" 'old-s3cret-LINE'
chmod 0640 "$SEC"

# Group-readable: refused by -t and at start, with the reason; no secret logged.
out=$("$FWDMAPD" -c "$CONF" -t 2>&1); rc=$?
t_eq "-t exit with a group-readable secrets file" 1 "$rc"
t_match "-t reason" 'mode 0640 is accessible by group or others; refused' "$out"
"$FWDMAPD" -c "$CONF" -f >"$T/logs/refused.log" 2>&1 &
pid=$!
t_track "$pid"
t_wait 10 bash -c "! kill -0 $pid 2>/dev/null" || t_fail "fwdmapd started with a group-readable secrets file"
wait "$pid"; rc=$?
[ "$rc" -ne 0 ] || t_fail "fwdmapd exit 0 with a group-readable secrets file"
grep -qF "srs.secrets_file $SEC: mode 0640 is accessible by group or others" "$T/logs/refused.log" ||
    t_fail "start refusal: $(cat "$T/logs/refused.log")"
chmod 0600 "$SEC"
t_match "-t with 0600" "SRS domain $D, 1 secret" "$("$FWDMAPD" -c "$CONF" -t 2>&1)"

fw_start
t_wait 5 grep -q "SRS domain $D, 1 secret(s) read from $SEC" "$FWLOG" || t_fail "start not logged"
answer_is() { [ "$(fw_q "$1" "$2")" = "$3" ]; }
t_wait 10 answer_is domains tum.de "OK tum" || t_fail "generation not loaded"

want=$(srs_mint old-s3cret-LINE "$D" Bob@bank.example)
t_eq "srs_forward" "OK $want" "$(fw_q srs_forward Bob@bank.example)"
t_eq "SRS0 of another forwarder becomes SRS1" "OK SRS1=" \
    "$(fw_q srs_forward 'SRS0=abcd=AB=orig.example=alice@fwd1.example' | cut -c1-8)"
for k in jane.doe@tum.de Someone@PH.TUM.DE "<>" "@bank.example" "x@$D" "$want" "nolocal"; do
    t_eq "srs_forward $k" "NOTFOUND " "$(fw_q srs_forward "$k")"
done
t_eq "srs_forward empty key" "NOTFOUND " "$(printf 'srs_forward \n' | SM "unix:$SOCK" query)"

t_eq "srs_reverse" "OK Bob@bank.example" "$(fw_q srs_reverse "$want")"
hash=${want:5:4}
upper=$(printf '%s' "$want" | tr a-z A-Z)
t_eq "srs_reverse, case changed" "OK BOB@BANK.EXAMPLE" "$(fw_q srs_reverse "$upper")"
forged=${want/=$hash=/=AAAA=}
[ "$hash" = AAAA ] && forged=${want/=$hash=/=BBBB=}
truncated=${want/=$hash=/=${hash:0:3}=}
expired=$(srs_mint old-s3cret-LINE "$D" Bob@bank.example 22)
oldest=$(srs_mint old-s3cret-LINE "$D" Bob@bank.example 21)
for k in "$forged" "$truncated" "$expired" "SRS0=$hash=$(srs_stamp)=bank.example=Mallory@$D" \
         "${want%@*}@other.example" "bob@$D"; do
    t_eq "srs_reverse $k" "NOTFOUND " "$(fw_q srs_reverse "$k")"
    t_eq "recipients $k" "NOTFOUND " "$(fw_q recipients "$k")"
done
t_eq "21 days old still valid" "OK Bob@bank.example" "$(fw_q srs_reverse "$oldest")"
t_eq "recipients valid SRS" "OK srs" "$(fw_q recipients "$want")"
t_eq "recipients valid SRS, upper case" "OK srs" "$(fw_q recipients "$upper")"
t_eq "domains SRS domain" "OK srs" "$(fw_q domains SRS.example.ORG)"
t_eq "tables still answer" "OK tum" "$(fw_q recipients jane.doe@tum.de)"
t_match "stats srs_forward" '^[1-9]' "$(fw_stat maps.srs_forward.hits)"
t_match "stats srs_reverse" '^[1-9]' "$(fw_stat maps.srs_reverse.misses)"

# The admin tool answers the same (it reads the secrets as root) and
# explains an SRS address to the helpdesk.
t_eq "fwdmap query srs_reverse" "OK Bob@bank.example" "$("$FWDMAP" -c "$CONF" query srs_reverse "$want")"
t_eq "fwdmap query srs_forward" "OK $want" "$("$FWDMAP" -c "$CONF" query srs_forward Bob@bank.example)"
t_eq "fwdmap query recipients" "OK srs" "$("$FWDMAP" -c "$CONF" query recipients "$want")"
t_match "fwdmap explain SRS" 'verdict +accepted: SRS address of a forwarded copy; mail to it \(bounces\) goes to Bob@bank.example' \
    "$("$FWDMAP" -c "$CONF" explain "$want")"
out=$("$FWDMAP" -c "$CONF" explain "$forged"); rc=$?
t_eq "fwdmap explain forged exit" 1 "$rc"
t_match "fwdmap explain forged" 'rejected at RCPT with 5xx: not a valid SRS address \(hash invalid\)' "$out"

# Rotation: a new first line signs, the old line still verifies.
srs_secrets "$SEC" 'new-s3cret-LINE' 'old-s3cret-LINE'
kill -HUP "$FWPID"
want2=$(srs_mint new-s3cret-LINE "$D" Bob@bank.example)
t_wait 5 answer_is srs_forward Bob@bank.example "OK $want2" ||
    t_fail "new secret does not sign after SIGHUP: $(fw_q srs_forward Bob@bank.example)"
t_eq "old address still valid" "OK Bob@bank.example" "$(fw_q srs_reverse "$want")"
t_wait 5 grep -q "SIGHUP: SRS domain $D, 2 secret(s)" "$FWLOG" || t_fail "rotation not logged"

# A broken file on SIGHUP: error logged, the running secrets stay.
chmod 0644 "$SEC"
kill -HUP "$FWPID"
t_wait 5 grep -q "keeping the running SRS settings and secrets" "$FWLOG" || t_fail "bad file on SIGHUP not logged"
t_eq "secrets kept" "OK $want2" "$(fw_q srs_forward Bob@bank.example)"
# The old line retired: its addresses are refused.
srs_secrets "$SEC" 'new-s3cret-LINE'
kill -HUP "$FWPID"
t_wait 5 answer_is srs_reverse "$want" "NOTFOUND " || t_fail "retired secret still verifies"
t_eq "new address valid" "OK Bob@bank.example" "$(fw_q srs_reverse "$want2")"

# Never a secret in the log.
if grep -q 's3cret' "$FWLOG" "$T/logs/refused.log"; then
    t_fail "a secret reached the log: $(grep s3cret "$FWLOG" "$T/logs/refused.log")"
fi

# SRS off (srs section removed, SIGHUP): the SRS maps answer PERM.
jq 'del(.srs)' "$CONF" >"$CONF.new" && mv "$CONF.new" "$CONF"
kill -HUP "$FWPID"
t_wait 5 answer_is srs_forward Bob@bank.example "PERM SRS is not configured (srs.domain)" ||
    t_fail "SRS off: $(fw_q srs_forward Bob@bank.example)"
t_eq "SRS domain no longer ours" "NOTFOUND " "$(fw_q domains $D)"
echo ok

#!/usr/bin/env bash
# asan: yes
# Interoperability with Debian's own postsrsd (1.10, its tcp_table
# interface), started here on loopback with the same secret and SRS
# domain: an address postsrsd makes decodes in fwdmapd (srs_reverse and
# recipients) and one fwdmapd makes decodes in postsrsd, for SRS0 and for
# SRS1 (another forwarder's SRS0 rewrapped); with rotated secrets (a
# postsrsd signing with the old secret, fwdmapd verifying with both);
# addresses minted 30 days ago (postsrsd under faketime, fwdmapd under
# faketime) are refused by the other side.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/fwdmapd.bash"
source "$TOP/tests/lib/srs.bash"
command -v jq >/dev/null || t_skip "jq not installed"
command -v faketime >/dev/null || t_skip "faketime not installed"

D=srs.example.org
SEC=$T/srs.secret
srs_secrets "$SEC" 'interop-S3cret'
fw_conf
fw_gen 1
srs_conf_add "$CONF" "$D" "$SEC"
fw_start
postsrsd_start "$SEC" "$D"
fwd_port=$PSRS_FWD rev_port=$PSRS_REV
answer_is() { [ "$(fw_q "$1" "$2")" = "$3" ]; }
t_wait 10 answer_is domains tum.de "OK tum" || t_fail "generation not loaded"

for sender in Bob@bank.example alice+tag@Example.COM \
              'SRS0=abcd=AB=orig.example=carol@fwd1.example'; do
    # postsrsd -> fwdmapd
    p=$(postsrsd_get "$fwd_port" "$sender")
    [[ $p == "200 SRS"* ]] || t_fail "postsrsd forward of $sender: [$p]"
    p=${p#200 }
    want=$sender
    [[ $sender == SRS0=* ]] && want="SRS0=${sender#SRS0=}" && want="${want%@*}@fwd1.example"
    t_eq "fwdmapd decodes postsrsd's $p" "OK $want" "$(fw_q srs_reverse "$p")"
    t_eq "recipients accepts postsrsd's $p" "OK srs" "$(fw_q recipients "$p")"
    # fwdmapd -> postsrsd; and both make the same address on the same day.
    f=$(fw_q srs_forward "$sender")
    [[ $f == "OK SRS"* ]] || t_fail "fwdmapd forward of $sender: [$f]"
    f=${f#OK }
    t_eq "same address from both" "$p" "$f"
    t_eq "postsrsd decodes fwdmapd's $f" "200 $want" "$(postsrsd_get "$rev_port" "$f")"
    # Case of the hash does not matter on either side.
    t_eq "postsrsd, upper case" "200 ${want^^}" "$(postsrsd_get "$rev_port" "${f^^}")"
done

# Rotation: postsrsd still signing with the old secret; fwdmapd signs with
# the new one and verifies both.
srs_secrets "$T/old.secret" 'interop-S3cret'
srs_secrets "$SEC" 'rotated-S3cret' 'interop-S3cret'
kill -HUP "$FWPID"
t_wait 5 grep -q "SIGHUP: SRS domain $D, 2 secret(s)" "$FWLOG" || t_fail "rotation not applied"
p=$(postsrsd_get "$fwd_port" dave@bank.example); p=${p#200 }
t_eq "old-secret address after rotation" "OK dave@bank.example" "$(fw_q srs_reverse "$p")"
f=$(fw_q srs_forward dave@bank.example); f=${f#OK }
[ "$f" != "$p" ] || t_fail "the new first secret does not sign"
t_match "postsrsd (old secret only) refuses the new one" '^500' "$(postsrsd_get "$rev_port" "$f")"

# Expired both ways: minted 30 days ago by postsrsd (faketime) ...
postsrsd_start "$T/old.secret" "$D" "-30d"
p=$(postsrsd_get "$PSRS_FWD" erin@bank.example); p=${p#200 }
[[ $p == SRS0=* ]] || t_fail "faked postsrsd forward: [$p]"
t_eq "postsrsd's 30-day-old address refused" "NOTFOUND " "$(fw_q srs_reverse "$p")"
t_eq "... and at RCPT" "NOTFOUND " "$(fw_q recipients "$p")"
t_eq "the same address is valid in the faked present" "200 erin@bank.example" \
    "$(postsrsd_get "$PSRS_REV" "$p")"
# ... and by fwdmapd (faketime, its own config and socket).
mkdir -p "$T/old"
jq --arg s "unix:$T/old/f.sock" --arg c "$T/old/c.sock" \
    '.fwdmapd.listen = $s | .fwdmapd.control = $c' "$CONF" >"$T/old/fwdmap.json"
# This fwdmapd only mints old addresses, so it is the plain build even in
# the ASan run: libfaketime preloaded into an ASan binary deadlocks in its
# start-up ("Unexpected recursive calls to clock_gettime()"), or not,
# depending on the binary's path and memory layout.
FAKED_FWDMAPD=$TOP/build/fwdmapd
[ -x "$FAKED_FWDMAPD" ] || FAKED_FWDMAPD=$FWDMAPD
FAKETIME_DONT_FAKE_MONOTONIC=1 faked -30d "$FAKED_FWDMAPD" -c "$T/old/fwdmap.json" -f \
    >"$T/logs/fwdmapd-old.log" 2>&1 &
t_track $! "fwdmapd under faketime"
oq() { printf '%s %s\n' "$1" "$2" | SM "unix:$T/old/f.sock" query; }
t_wait 10 test -S "$T/old/f.sock" || t_fail "faked fwdmapd did not start: $(cat "$T/logs/fwdmapd-old.log")"
o=$(oq srs_forward frank@bank.example); o=${o#OK }
[[ $o == SRS0=* ]] || t_fail "faked fwdmapd forward: [$o]"
t_eq "fwdmapd's 30-day-old address is valid in its own faked present" "OK frank@bank.example" "$(oq srs_reverse "$o")"
t_match "postsrsd refuses fwdmapd's 30-day-old address" '^500 Time stamp out of date' \
    "$(postsrsd_get "$rev_port" "$o")"
t_eq "fwdmapd (now) refuses it too" "NOTFOUND " "$(fw_q srs_reverse "$o")"
echo ok

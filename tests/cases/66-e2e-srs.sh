#!/usr/bin/env bash
# SRS end to end through a real Postfix whose main.cf and master.cf come
# from "fwdmap postconf" (and -M): only the copies that leave get the SRS
# sender.  Every combination: mailbox only (original sender at the
# store), alumnus (SRS sender outside, decoding to the original), mailbox
# plus external forward (store copy original, external copy SRS, one
# message), the null sender and a sender of our own domains (never
# rewritten); the copy outside is the message unchanged (the From: header
# is untouched, and a DKIM signature made by python3-dkim still verifies
# at the external sink); a bounce to the SRS address reaches the original
# sender; forged, truncated and expired SRS addresses are refused at RCPT
# with 5xx.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/sink.sh"
source "$TOP/tests/lib/postfix.sh"
source "$TOP/tests/lib/srs.bash"
command -v jq >/dev/null || t_skip "jq not installed"
/usr/bin/python3 -c 'import dkim' 2>/dev/null || t_skip "python3-dkim not installed"
command -v openssl >/dev/null || t_skip "openssl not installed"

D=srs.example.org
FW_SRS_DOMAIN=$D
fw_start
grep -q "^sender_dependent_default_transport_maps = pipemap:{socketmap:unix:$FW_SOCK:srs_forward" "$PF_DIR/etc/main.cf" ||
    t_fail "main.cf lacks the SRS lines of fwdmap postconf"
grep -q "^127.0.0.1:$FW_SRS_PASS inet" "$PF_DIR/etc/master.cf" || t_fail "master.cf lacks the SRS pass"
SECRET=$(head -n 1 "$FW_SRS_SECRETS")

# is_srs_of SENDER ADDR: ADDR is an SRS0 address in $D that decodes to SENDER.
is_srs_of() {
    [[ $2 =~ ^SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=[^=]+=.+@$D$ ]] ||
        t_fail "sender [$2] is not an SRS0 address in $D"
    t_eq "SRS sender decodes" "$1" "$(fw_query srs_reverse "$2")"
}

# 1. Mailbox only: the store gets the original sender.
s=$(fw_sender); pf_smtp "$s" jane.doe@tum.de >/dev/null
sink_expect_only exchange jane.doe@tum.de "$PF_TOKEN"
t_eq "mailbox only: sender at the store" "$s" "$(sink_sender exchange jane.doe@tum.de "$PF_TOKEN")"

# 2. Alumnus: forward only, outside: SRS sender, From: header as sent.
s=$(fw_sender); pf_smtp "$s" hans.alt@alumni.tum.de >/dev/null
sink_expect_only outside familie.alt@example.net "$PF_TOKEN"
srs=$(sink_sender outside familie.alt@example.net "$PF_TOKEN")
is_srs_of "$s" "$srs"
sink_message outside familie.alt@example.net "$PF_TOKEN" | grep -qx "From: $s" ||
    t_fail "From: header changed on the way out"
ALUMNUS_SENDER=$s ALUMNUS_SRS=$srs

# 3. Mailbox and external forward, one message: store original, outside SRS.
s=$(fw_sender); pf_smtp "$s" erika.mustermann@tum.de >/dev/null
sink_expect_only exchange erika.mustermann@tum.de "$PF_TOKEN"
sink_expect_only outside erika.m@example.com "$PF_TOKEN"
t_eq "store copy keeps the sender" "$s" "$(sink_sender exchange erika.mustermann@tum.de "$PF_TOKEN")"
is_srs_of "$s" "$(sink_sender outside erika.m@example.com "$PF_TOKEN")"

# 4. The null sender and a sender of our own domains are never rewritten.
pf_smtp "<>" hans.alt@alumni.tum.de >/dev/null
sink_expect_only outside familie.alt@example.net "$PF_TOKEN"
t_eq "null sender stays null" "" "$(sink_sender outside familie.alt@example.net "$PF_TOKEN")"
pf_smtp Lena.Berger@lrz.de erika.mustermann@tum.de >/dev/null
sink_expect_only outside erika.m@example.com "$PF_TOKEN"
t_eq "our own sender stays" "Lena.Berger@lrz.de" "$(sink_sender outside erika.m@example.com "$PF_TOKEN")"
# An SRS address of another forwarder is wrapped as SRS1.
pf_smtp "SRS0=abcd=AB=orig.example=alice@fwd1.example" hans.alt@alumni.tum.de >/dev/null
sink_expect_only outside familie.alt@example.net "$PF_TOKEN"
t_match "SRS1 for another forwarder's SRS0" "^SRS1=[^=]{4}=fwd1.example==abcd=AB=orig.example=alice@$D\$" \
    "$(sink_sender outside familie.alt@example.net "$PF_TOKEN")"

# 5. DKIM survives: sign with python3-dkim, forward to the alumnus, verify
# the copy that reached the external sink with the public key given directly.
openssl genrsa -out "$T/dkim.key" 2048 2>/dev/null || t_fail "openssl genrsa"
openssl rsa -in "$T/dkim.key" -pubout -outform DER 2>/dev/null | base64 -w0 >"$T/dkim.pub" ||
    t_fail "openssl rsa -pubout"
s=$(fw_sender)
tok="dkim-$$-$RANDOM"
/usr/bin/python3 - "$T/dkim.key" "$s" "$tok" >"$T/signed.eml" <<'PY' || t_fail "dkim.sign failed"
import sys, dkim
key, sender, tok = open(sys.argv[1], "rb").read(), sys.argv[2], sys.argv[3]
msg = ("From: Sender <%s>\r\nTo: hans.alt@alumni.tum.de\r\nSubject: signed %s\r\n"
       "Date: Fri, 04 Dec 2026 12:00:00 +0000\r\nMessage-ID: <%s@example.com>\r\n"
       "X-Fwdmap-Test: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
       "Gr\xc3\xbc\xc3\x9fe aus M\xc3\xbcnchen.\r\n  two spaces, a tab\there, and a trailing space \r\n"
       ".a line starting with a dot\r\n\r\n" % (sender, tok, tok, tok)).encode("latin-1")
sig = dkim.sign(msg, b"fwdtest", b"example.com", key,
                include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
sys.stdout.buffer.write(sig + msg)
PY
swaks --server 127.0.0.1 --port "$PF_PORT" --helo client.fwdmap.invalid --from "$s" \
    --to hans.alt@alumni.tum.de --data "$T/signed.eml" >"$T/dkim-smtp.log" 2>&1 ||
    t_fail "swaks with the signed message: $(tail -n 5 "$T/dkim-smtp.log")"
sink_expect_only outside familie.alt@example.net "$tok"
is_srs_of "$s" "$(sink_sender outside familie.alt@example.net "$tok")"
sink_message outside familie.alt@example.net "$tok" >"$T/received.eml"
/usr/bin/python3 - "$T/dkim.pub" "$T/received.eml" <<'PY' || t_fail "the DKIM signature does not verify at the external sink"
import sys, dkim
pub = open(sys.argv[1]).read().strip()
msg = open(sys.argv[2], "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
def dns(name, timeout=5):
    assert name == b"fwdtest._domainkey.example.com.", name
    return ("v=DKIM1; k=rsa; p=" + pub).encode()
ok = dkim.verify(msg, dnsfunc=dns)
print("dkim verify:", ok)
sys.exit(0 if ok else 1)
PY
# ...and the check can fail: one changed body byte breaks it.
sed 's/two spaces/two  spaces/' "$T/received.eml" >"$T/tampered.eml"
if /usr/bin/python3 -c '
import sys, dkim
pub = open(sys.argv[1]).read().strip()
msg = open(sys.argv[2], "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
sys.exit(0 if dkim.verify(msg, dnsfunc=lambda n, timeout=5: ("v=DKIM1; k=rsa; p=" + pub).encode()) else 1)' \
    "$T/dkim.pub" "$T/tampered.eml"; then
    t_fail "a tampered copy verified: the DKIM check cannot fail"
fi

# 6. Bounces come home: a DSN to the SRS address reaches the original sender.
cat >"$T/dsn.eml" <<EOF
From: MAILER-DAEMON@mx.example.net
To: $ALUMNUS_SRS
Subject: Undelivered Mail Returned to Sender
X-Fwdmap-Test: bounce-$$
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain

The mail system could not deliver your message.
--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; familie.alt@example.net
Action: failed
Status: 5.1.1
--b1--
EOF
swaks --server 127.0.0.1 --port "$PF_PORT" --helo mx.example.net --from '<>' \
    --to "$ALUMNUS_SRS" --data "$T/dsn.eml" >"$T/dsn-smtp.log" 2>&1 ||
    t_fail "the DSN to the SRS address was not accepted: $(grep -E '<[*~-]' "$T/dsn-smtp.log" | tail -n 3)"
sink_expect_only outside "$ALUMNUS_SENDER" "bounce-$$"
t_eq "the bounce keeps the null sender" "" "$(sink_sender outside "$ALUMNUS_SENDER" "bounce-$$")"
sink_message outside "$ALUMNUS_SENDER" "bounce-$$" | grep -qx "To: $ALUMNUS_SRS" ||
    t_fail "the bounce's To: header was changed"

# 7. Forged, truncated, expired and unknown SRS addresses: 5xx at RCPT.
hash=${ALUMNUS_SRS:5:4}
forged=${ALUMNUS_SRS/=$hash=/=AAAA=}
[ "$hash" = AAAA ] && forged=${ALUMNUS_SRS/=$hash=/=BBBB=}
truncated=${ALUMNUS_SRS/=$hash=/=${hash:0:3}=}
expired=$(srs_mint "$SECRET" "$D" "$ALUMNUS_SENDER" 22)
valid_old=$(srs_mint "$SECRET" "$D" "$ALUMNUS_SENDER" 20)
for r in "$forged" "$truncated" "$expired" "postmaster@$D"; do
    pf_smtp "<>" "$r" >/dev/null
    t_match "RCPT $r" '^5[0-9][0-9]$' "$(pf_rcpt_code "$r")"
done
pf_smtp "<>" "$valid_old" >/dev/null
t_eq "RCPT 20-day-old SRS address" 250 "$(pf_rcpt_code "$valid_old")"
sink_expect_only outside "$ALUMNUS_SENDER" "$PF_TOKEN"
echo ok

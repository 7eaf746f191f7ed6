#!/usr/bin/env bash
# asan: yes
# fwdmapd speaks the socketmap protocol exactly: answers, pipelining, partial
# requests, and PERM plus close for every kind of malformed request.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/fwdmapd.bash"

fw_conf '"max_request": 100'
fw_gen 7
fw_start

# The four maps, case and extension folding.
out=$(SM "unix:$SOCK" query <<'Q'
domains TUM.de
domains example.org
recipients Jane.Doe+Tag@tum.de
recipients nobody@tum.de
recipients anyone@ph.tum.de
virtual J.Doe@TUM.DE
virtual jane.doe@tum.de
virtual tum.de
transport jane.doe@tum.de
transport old@ph.tum.de
transport *
nosuchmap x@tum.de
domains tum.de
Q
)
expect='OK tum
NOTFOUND 
OK tum
NOTFOUND 
OK tum
OK jane.doe@tum.de
NOTFOUND 
NOTFOUND 
OK smtp:[exchange.example.org]:25
OK smtp:[mail.ph.tum.de]:25
NOTFOUND 
PERM unknown map name
OK tum'
t_eq "answers" "$expect" "$out"

# Several requests in one write are answered in order on one connection.
out=$(printf 'domains tum.de\nrecipients nobody@tum.de\nvirtual j.doe@tum.de\n' | SM "unix:$SOCK" query -p)
t_eq "pipelined" $'OK tum\nNOTFOUND \nOK jane.doe@tum.de' "$out"

# A client that pipelines 200,000 requests (~4 MB) and does not read for a
# second: fwdmapd stops reading while its answers are not taken, resumes,
# and every answer arrives, in order.
t_eq "flood without reading" "ok 200000" "$(SM "unix:$SOCK" flood 200000)"

# A request that trickles in byte by byte.
t_eq "slow" "OK tum" "$(SM "unix:$SOCK" slow domains tum.de)"

# Exactly max_request bytes is a request; one more is PERM and close.
# A request that fits is a lookup like any other: a key without "@" is no
# recipient, so NOTFOUND (PERM is only for malformed requests and unknown
# map names), and the connection stays open.
key=$(printf 'a%.0s' $(seq 89))	# "recipients " + 89 = 100 bytes
out=$(printf '100:recipients %s,' "$key" | SM "unix:$SOCK" raw 2)
t_eq "exact fit answered" "9:NOTFOUND ,<open>" "$out"
# The same size with a real address behind an extension: found.
key="jane.doe+$(printf 'x%.0s' $(seq 73))@tum.de"	# 11 + 89 = 100 bytes
t_eq "exact-fit key is 89 bytes" 89 "${#key}"
out=$(printf '100:recipients %s,' "$key" | SM "unix:$SOCK" raw 2)
t_eq "exact fit found" "6:OK tum,<open>" "$out"
out=$(printf '101:recipients %sa,' "$key" | SM "unix:$SOCK" raw 2)
t_match "one over" '^[0-9]+:PERM netstring too long,<closed>$' "$out"

# Malformed requests: PERM, then the connection is closed.
check_bad() {	# check_bad WHAT BYTES
    local out
    out=$(printf '%b' "$2" | SM "unix:$SOCK" raw 3)
    t_match "$1" '^[0-9]+:PERM [^,]*,<closed>$' "$out"
}
check_bad "no space" '7:domains,'
check_bad "empty name" '7: tum.de,'
check_bad "missing comma" '14:domains tum.de;'
check_bad "leading zero" '014:domains tum.de,'
check_bad "not a number" 'x:domains tum.de,'
check_bad "no length" ':domains tum.de,'
check_bad "negative" '-1:,'
check_bad "huge length" '99999999999999999999999999:'
check_bad "http" 'GET / HTTP/1.0\r\n\r\n'
check_bad "null byte" '16:domains tum.de\0x,'
# A good request before the bad one is still answered first.
out=$(printf '14:domains tum.de,7:domains,14:domains tum.de,' | SM "unix:$SOCK" raw 3)
t_match "good then bad" '^6:OK tum,[0-9]+:PERM [^,]*,<closed>$' "$out"

# Unknown map: PERM but the connection stays usable.
out=$(printf '13:nosuchmap x@y,14:domains tum.de,' | SM "unix:$SOCK" raw 1)
t_eq "unknown map keeps connection" "21:PERM unknown map name,6:OK tum,<open>" "$out"

# EOF in the middle of a request: logged, daemon unharmed.
printf '20:domains tu' | SM "unix:$SOCK" raw 0.2 >/dev/null
t_wait 5 grep -q 'end of file in the middle of a request' "$FWLOG" || t_fail "EOF mid-request not logged"
t_eq "still serving" "OK tum" "$(fw_q domains tum.de)"

# Statistics count what happened.
t_eq "stats serial" 7 "$(fw_stat generation.serial)"
t_eq "stats transport hits" 2 "$(fw_stat maps.transport.hits)"
t_eq "stats transport misses" 1 "$(fw_stat maps.transport.misses)"
t_eq "stats other perm" 2 "$(fw_stat maps.other.perm)"
# Protocol errors: "one over", the ten check_bad, "good then bad"; an
# unknown map name is no protocol error, nor is EOF mid-request.
t_eq "stats protocol errors" 12 "$(fw_stat protocol_errors)"

# Many clients at once.  fwdmapd answers the clients of one batch in a
# pipeline (server.c): it reads a client, prefetches the hash table slots
# its keys need, prefetches the records those slots point to while it
# answers the client before, and answers two reads later, each input in a
# buffer of its own.  300 clients, each with a key of its own, all ready
# in one epoll_wait (fwdmapd is stopped while they write): every one gets
# its own answer.
{ fw_gen_records 8
  awk 'BEGIN { for (i = 0; i < 300; i++) {
      print "R p" i "@tum.de tum"; print "T p" i "@tum.de smtp:[s" i ".example.org]:25" } }'
} | fw_compile 8
answer_is() { [ "$(fw_q "$1" "$2")" = "$3" ]; }
t_wait 10 answer_is transport p299@tum.de 'OK smtp:[s299.example.org]:25' ||
    t_fail "generation 8 not served"
awk 'BEGIN { for (i = 0; i < 300; i++) {
    if (i % 3 == 0) print "transport p" i "@tum.de"
    else if (i % 3 == 1) print "transport P" i "+x@TUM.de"
    else print "recipients nobody" i "@tum.de" } }' > "$T/many.txt"
expect=$(awk 'BEGIN { for (i = 0; i < 300; i++)
    print (i % 3 == 2) ? "NOTFOUND " : "OK smtp:[s" i ".example.org]:25" }')
t_eq "300 clients at once, each its own answer" "$expect" \
    "$(SM "unix:$SOCK" many "$FWPID" < "$T/many.txt")"

kill -0 "$FWPID" || t_fail "fwdmapd died"
kill -TERM "$FWPID"
wait "$FWPID"; rc=$?
t_eq "exit status after SIGTERM" 0 "$rc"
exit 0

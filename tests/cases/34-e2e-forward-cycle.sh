#!/usr/bin/env bash
# 34-e2e-forward-cycle.sh - issue 10 item 2: forward-only people who
# forward to each other, in a circle of any length and through aliases,
# are refused at RCPT (recipients and virtual NOTFOUND) and reported;
# a circle that passes through a mailbox keeps delivering.  Real slapd,
# ldapsync (continuous), fwdmapd and Postfix; the entries arrive as a
# directory change, and a later change that gives the circle an outside
# forward makes every address of it deliver again.
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/postfix.sh"
source "$TOP/tests/lib/sink.sh"
fw_start

alumnus() {	# alumnus UID MAIL FORWARD [ATTR: VALUE]...
    local uid=$1 mail=$2 fwd=$3; shift 3
    printf 'dn: uid=%s,ou=tum,dc=example,dc=org\nchangetype: add\nobjectClass: inetOrgPerson\nobjectClass: fwdMailRecipient\nuid: %s\ncn: %s\nsn: %s\nmail: %s\nfwdForwardAddress: %s\n' \
        "$uid" "$uid" "$uid" "$uid" "$mail" "$fwd"
    local a
    for a in "$@"; do printf '%s\n' "$a"; done
    printf '\n'
}

{
    # Two alumni forwarding to each other.
    alumnus cyc.a cyc.a@alumni.tum.de cyc.b@alumni.tum.de 'fwdMailboxLocation: none'
    alumnus cyc.b cyc.b@alumni.tum.de cyc.a@alumni.tum.de 'fwdMailboxLocation: none'
    # Three hops, closed through an alias of the first.
    alumnus ring.1 ring.1@alumni.tum.de ring.2@alumni.tum.de 'fwdMailboxLocation: none' \
        'fwdMailAlias: r1@alumni.tum.de'
    alumnus ring.2 ring.2@alumni.tum.de ring.3@alumni.tum.de 'fwdMailboxLocation: none'
    alumnus ring.3 ring.3@alumni.tum.de r1@alumni.tum.de 'fwdMailboxLocation: none'
    # A circle through a mailbox: keeps delivering.
    alumnus box.a box.a@tum.de box.b@alumni.tum.de 'fwdMailboxLocation: exchange'
    alumnus box.b box.b@alumni.tum.de box.a@tum.de 'fwdMailboxLocation: none'
} | fw_ldapmodify

fw_wait_query 15 recipients box.b@alumni.tum.de . || t_fail "box.b never became a recipient"
fw_wait_query 15 virtual box.a@tum.de 'box\.b@alumni' || t_fail "box.a's forward never published"

dead="cyc.a@alumni.tum.de cyc.b@alumni.tum.de ring.1@alumni.tum.de r1@alumni.tum.de ring.2@alumni.tum.de ring.3@alumni.tum.de"
for a in $dead; do
    fw_query recipients "$a" >/dev/null; rc=$?
    t_eq "recipients $a (1 = NOTFOUND)" 1 "$rc"
    fw_query virtual "$a" >/dev/null; rc=$?
    t_eq "virtual $a (1 = NOTFOUND)" 1 "$rc"
done

# At RCPT: 5xx for every address of the dead circles, 250 for the living one.
# shellcheck disable=SC2086
fw_send $dead box.b@alumni.tum.de
for a in $dead; do
    c=$(pf_rcpt_code "$a")
    [[ $c == 5?? ]] || t_fail "RCPT $a: expected 5xx, got [$c] ($(pf_rcpt_text "$a"))"
done
t_eq "RCPT box.b" 250 "$(pf_rcpt_code box.b@alumni.tum.de)"
sink_expect exchange box.a@tum.de "$PF_TOKEN"
t_eq "stray sink" 0 "$(sink_total stray)"

# Reported: the continuous ldapsync's log names the entries and the reason.
t_wait 5 grep -q "uid=cyc.a,ou=tum.*forwarding cycle" "$TEST_TMP/logs/ldapsync.log" ||
    t_fail "no report line for cyc.a: $(grep -i cycle "$TEST_TMP/logs/ldapsync.log" | head -3)"
# ring.3 gets an outside forward: the whole ring delivers again (a delta
# recompiles every address before it in the chain).
fw_ldapmodify <<LDIF
dn: uid=ring.3,ou=tum,dc=example,dc=org
changetype: modify
add: fwdForwardAddress
fwdForwardAddress: ring.outside@example.net
LDIF
for a in ring.1@alumni.tum.de r1@alumni.tum.de ring.2@alumni.tum.de ring.3@alumni.tum.de; do
    fw_wait_query 15 recipients "$a" . || t_fail "$a did not become a recipient again"
done
fw_send r1@alumni.tum.de
t_eq "RCPT r1" 250 "$(pf_rcpt_code r1@alumni.tum.de)"
sink_expect outside ring.outside@example.net "$PF_TOKEN"
pf_wait_queue_empty 20 || t_fail "queue not empty: $(pf_queue_count) message(s)"
t_eq "stray sink" 0 "$(sink_total stray)"
exit 0

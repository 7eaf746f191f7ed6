#!/bin/bash
# 42-ldapsync-validation.sh - every validation rule of issue 3: bad entries
# are skipped, reported with DN and reason and logged (capped per sync),
# the rest still syncs;
# conflicts follow the documented rule (primary beats alias, then the
# smallest entryUUID), stable from sync to sync; loops are reported.
# asan: yes
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
slapd_init ldap conf
u() { printf 'entryUUID: 00000000-0000-4000-8000-%012d' "$1"; }
{
    person ok ok@tum.de "fwdMailboxLocation: exchange"
    person x1 x1@lmu.de "fwdMailboxLocation: exchange"
    person x2 x2@tum.de "fwdMailAlias: x2@lmu.de" "fwdMailAlias: x2alias@tum.de" "fwdMailboxLocation: exchange"
    person x3 x3@tum.de "fwdMailboxLocation: imap"
    person x4 x4@tum.de "fwdMailboxLocation: external"
    person_in lmu y1 y1@lmu.de "fwdMailboxLocation: external" "fwdMailHost: evil.example.com"
    person_in lmu y2 y2@lmu.de "fwdMailboxLocation: external" "fwdMailHost: mx.lmu.de:25"
    # syntactically invalid hosts (tum allows any host; lmu allows mx.lmu.de)
    person x7 x7@tum.de "fwdMailboxLocation: external" "fwdMailHost: mail.ph.tum.de:70000"
    person x8 x8@tum.de "fwdMailboxLocation: external" "fwdMailHost: mail_host.tum.de"
    person_in lmu y3 y3@lmu.de "fwdMailboxLocation: external" "fwdMailHost: [mx.lmu.de"
    person x5 x5@tum.de "fwdMailboxLocation: exchange" "fwdForwardAddress: a@x.org, b@y.org" \
        "fwdForwardAddress: <c@x.org>" "fwdForwardAddress: ok5@x.org"
    person x6 x6@tum.de "fwdMailboxLocation: exchange" $(for i in $(seq 11); do echo "fwdForwardAddress:_f$i@x.org"; done)
    person c1 dup@tum.de "fwdMailboxLocation: exchange" "fwdMailAlias: c1alias@tum.de" "$(u 2)"
    person c2 dup2@tum.de "fwdMailboxLocation: mytum" "$(u 1)"
    person p1 shared@tum.de "fwdMailboxLocation: exchange" "$(u 255)"
    person p2 p2@tum.de "fwdMailboxLocation: mytum" "fwdMailAlias: shared@tum.de" "$(u 3)"
    person f1 f1@tum.de "fwdMailboxLocation: exchange" "fwdForwardAddress: ghost@tum.de" \
        "fwdForwardAddress: anyone@ph.tum.de"
    person l1 l1@tum.de "fwdMailboxLocation: none" "fwdForwardAddress: l2@tum.de"
    person l2 l2@tum.de "fwdMailboxLocation: none" "fwdForwardAddress: l1@tum.de"
    person n1 n1@tum.de "fwdMailboxLocation: none"
    person m1 m1@tum.de "mail: m1b@tum.de" "fwdMailboxLocation: exchange"
    person s1 "not an address" "fwdMailboxLocation: exchange"
    person d1 d1@tum.de "fwdMailboxLocation: none" "fwdForwardAddress: ghost2@tum.de"
    person b1 b1@tum.de "fwdMailboxLocation: none" "fwdForwardAddress: bad@example.com, spam@evil.example"
    # "evil@x.org<LF>warning: forged line": must not forge a log line
    person x9 x9@tum.de "fwdMailboxLocation: exchange" "fwdForwardAddress:: ZXZpbEB4Lm9yZwp3YXJuaW5nOiBmb3JnZWQgbGluZQ=="
} | sed 's/^fwdForwardAddress:_/fwdForwardAddress: /' > "$T/people.ldif"
# c2 claims dup@tum.de too, with the smaller entryUUID: it wins.
sed -i '/^uid: c2$/a mail: dup@tum.de' "$T/people.ldif"
sed -i '/^uid: c2$/,/^$/{/^mail: dup2@tum.de$/d}' "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap
ls_conf

ls_once
t_eq "exit" 0 "$LS_RC"
rejected=$(rep '.rejected[] | "\(.dn)|\(.reason)|\(.value // "")"')
has() { grep -qF -- "$1" <<<"$rejected" || t_fail "report lacks [$1]; has:
$rejected"; }

t_eq "good entry still syncs" "OK smtp:[exchange.example.org]:25" "$(q transport ok@tum.de)"
# tenant owns the domains it claims
has "uid=x1,ou=tum,dc=example,dc=org|mail in a domain the tenant does not own|x1@lmu.de"
t_eq "foreign primary" NOTFOUND "$(q recipients x1@lmu.de)"
has "uid=x2,ou=tum,dc=example,dc=org|alias in a domain the tenant does not own|x2@lmu.de"
t_eq "foreign alias not routed" NOTFOUND "$(q recipients x2@lmu.de)"
t_eq "rest of that entry routed" "OK x2@tum.de" "$(q virtual x2alias@tum.de)"
# stores, external hosts
has "uid=x3,ou=tum,dc=example,dc=org|unknown store in fwdMailboxLocation|imap"
t_eq "unknown store" NOTFOUND "$(q recipients x3@tum.de)"
has "uid=x4,ou=tum,dc=example,dc=org|location external without fwdMailHost"
has "uid=y1,ou=lmu,dc=example,dc=org|fwdMailHost not in the tenant's allowed_hosts|evil.example.com"
t_eq "host not allowed" NOTFOUND "$(q transport y1@lmu.de)"
t_eq "allowed host" "OK smtp:[mx.lmu.de]:25" "$(q transport y2@lmu.de)"
has "uid=x7,ou=tum,dc=example,dc=org|invalid fwdMailHost|mail.ph.tum.de:70000"
has "uid=x8,ou=tum,dc=example,dc=org|invalid fwdMailHost|mail_host.tum.de"
has "uid=y3,ou=lmu,dc=example,dc=org|invalid fwdMailHost|[mx.lmu.de"
for a in x7@tum.de x8@tum.de y3@lmu.de; do
    t_eq "invalid host: $a not routed" "NOTFOUND NOTFOUND" "$(q recipients $a) $(q transport $a)"
done
# forwards: one address per value, no injection, bounded count
has "uid=x5,ou=tum,dc=example,dc=org|invalid forward address (exactly one plain address per value)|a@x.org, b@y.org"
has "uid=x5,ou=tum,dc=example,dc=org|invalid forward address (exactly one plain address per value)|<c@x.org>"
t_eq "injection dropped, good forward kept" "OK x5@tum.de,ok5@x.org" "$(q virtual x5@tum.de)"
has "uid=x6,ou=tum,dc=example,dc=org|too many forward addresses"
t_eq "too many forwards" NOTFOUND "$(q recipients x6@tum.de)"
# forwards into our own domains must resolve
has "uid=f1,ou=tum,dc=example,dc=org|forward to an unknown address in our own domains|ghost@tum.de"
t_eq "unknown own forward dropped, route-domain forward kept" \
    "OK f1@tum.de,anyone@ph.tum.de" "$(q virtual f1@tum.de)"
has "uid=d1,ou=tum,dc=example,dc=org|no valid destination left"
t_eq "forward-only with nothing left" NOTFOUND "$(q recipients d1@tum.de)"
has "uid=n1,ou=tum,dc=example,dc=org|location none without a valid forward address"
# a rejected entry's report also names the value to fix
has "uid=b1,ou=tum,dc=example,dc=org|location none without a valid forward address"
has "uid=b1,ou=tum,dc=example,dc=org|invalid forward address (exactly one plain address per value)|bad@example.com, spam@evil.example"
has "uid=m1,ou=tum,dc=example,dc=org|more than one mail value"
has "uid=s1,ou=tum,dc=example,dc=org|invalid mail address|not an address"

# Every rejection is logged as well: one warning with DN, reason and value,
# deduplicated like the report, control characters masked, no secret.
logged() { grep -qF -- ": warning: rejected $1" "$LSLOG" || t_fail "log lacks [rejected $1]; has:
$(grep 'rejected' "$LSLOG")"; }
logged 'uid=x1,ou=tum,dc=example,dc=org: mail in a domain the tenant does not own: "x1@lmu.de"'
logged 'uid=x2,ou=tum,dc=example,dc=org: alias in a domain the tenant does not own: "x2@lmu.de"'
logged 'uid=x4,ou=tum,dc=example,dc=org: location external without fwdMailHost'
logged "uid=y1,ou=lmu,dc=example,dc=org: fwdMailHost not in the tenant's allowed_hosts: \"evil.example.com\""
logged 'uid=c1,ou=tum,dc=example,dc=org: entry lost its primary address to another entry: "dup@tum.de"'
logged 'uid=x9,ou=tum,dc=example,dc=org: invalid forward address (exactly one plain address per value): "evil@x.org?warning: forged line"'
grep -q '^warning: forged' "$LSLOG" && t_fail "a directory value forged a log line"
t_eq "one warning per rejection in the report" "$(rep '.counts.rejected')" \
    "$(grep -c ': warning: rejected ' "$LSLOG")"
grep -qF -- "$(cat "$(slapd_pwfile ldap)")" "$LSLOG" && t_fail "the bind password is in the log"
# conflicts: smallest entryUUID wins between two primaries ...
t_eq "primary conflict winner" "OK lmtp:[mytum.example.org]:24" "$(q transport dup@tum.de)"
t_match "conflict reported" "dup@tum.de uid=c2,ou=tum,dc=example,dc=org uid=c1,ou=tum,dc=example,dc=org smallest entryUUID wins" \
    "$(rep '.conflicts[] | "\(.address) \(.winner) \(.loser) \(.rule)"')"
# ... and the loser loses its aliases too
t_eq "loser's alias" NOTFOUND "$(q recipients c1alias@tum.de)"
has "uid=c1,ou=tum,dc=example,dc=org|entry lost its primary address to another entry"
# primary beats alias even against a smaller entryUUID
t_eq "primary beats alias" "OK smtp:[exchange.example.org]:25" "$(q transport shared@tum.de)"
t_match "primary-alias conflict" "shared@tum.de uid=p1,.* uid=p2,.* primary address beats alias" \
    "$(rep '.conflicts[] | "\(.address) \(.winner) \(.loser) \(.rule)"')"
t_match "X record explains" 'conflict: address routed to uid=p1' \
    "$("$FWDMAP" -d "$T/maps" dump | grep '^X shared@tum.de')"
# loops
t_match "loop reported" "l1@tum.de l2@tum.de" "$(rep '.loops[] | join(" ")')"
t_eq "forward-only loop: no recipient (issue 10)" NOTFOUND "$(q recipients l1@tum.de)"

# fwdmap explain on these tables names the owning entry and its tenant.
ex() { "$FWDMAP" -d "$T/maps" explain "$@"; }
out=$(ex ok@tum.de); rc=$?
t_eq "explain routed: exit" 0 "$rc"
t_match "explain: owner dn" $'\n  owner dn +uid=ok,ou=tum,dc=example,dc=org\n' "$out"
t_match "explain: tenant" $'\n  tenant +tum\n' "$out"
t_match "explain: destination" $'\n  delivered to +ok@tum.de -> smtp:\\[exchange.example.org\\]:25\n' "$out"
t_eq "explain -j: alias" "tum|tum|uid=x2,ou=tum,dc=example,dc=org|alias|x2@tum.de" \
    "$(ex -j x2alias@tum.de | jq -r '"\(.tenant)|\(.provenance.tenant)|\(.provenance.dn)|\(.provenance.role)|\(.provenance.primary)"')"
t_eq "explain -j: other tenant, external host" "lmu|uid=y2,ou=lmu,dc=example,dc=org|mx.lmu.de:25" \
    "$(ex -j y2@lmu.de | jq -r '"\(.provenance.tenant)|\(.provenance.dn)|\(.provenance.host)"')"
# A losing claim is named with its DN, the winner with its own.
t_eq "explain -j: conflict" "uid=p1,ou=tum,dc=example,dc=org|uid=p2,ou=tum,dc=example,dc=org" \
    "$(ex -j shared@tum.de | jq -r '"\(.provenance.dn)|\(.rejected_claim.dn)"')"
out=$(ex x2@lmu.de); rc=$?
t_eq "explain foreign claim: exit" 1 "$rc"
t_match "explain foreign claim" 'claimed by uid=x2,ou=tum,dc=example,dc=org: alias in a domain the tenant does not own' "$out"
t_match "explain foreign claim: tenant of the domain" $'\n  tenant +lmu\n' "$out"

# Stable from sync to sync.
before=$("$FWDMAP" -d "$T/maps" dump | grep -v '^#' | sort)
ls_once
t_eq "second exit" 0 "$LS_RC"
after=$("$FWDMAP" -d "$T/maps" dump | grep -v '^#' | sort)
[ "$before" = "$after" ] || t_fail "records changed between identical syncs: $(diff <(echo "$before") <(echo "$after") | head)"

# At most 100 rejections are logged per sync, then one line points to the
# report (a directory full of bad entries must not flood syslog).
for i in $(seq 150); do person "bad$i" "bad$i@lmu.de" "fwdMailboxLocation: exchange"; done > "$T/bad.ldif"
slapd_add ldap "$T/bad.ldif" || t_fail "ldapadd of 150 bad entries"
for mode in publish dry-run; do
    n0=$(wc -l < "$LSLOG")
    if [ $mode = publish ]; then ls_once; else ls_once --dry-run; fi
    t_eq "$mode: exit" 0 "$LS_RC"
    new=$(tail -n +$((n0 + 1)) "$LSLOG")
    total=$(rep '.counts.rejected')
    [ "$total" -gt 150 ] || t_fail "$mode: only $total rejections in the report"
    t_eq "$mode: rejections logged" 100 "$(grep -c ': warning: rejected ' <<<"$new")"
    if [ $mode = publish ]; then
        closing=", see the report $T/maps/ldapsync-report.json"
    else
        closing=" (dry run: no report written)"
    fi
    closing="]: warning: ... and $((total - 100)) more rejected entries$closing"
    # (fixed strings: $T may hold regex characters, e.g. "(asan)")
    grep -qF -- "$closing" <<<"$new" || t_fail "$mode: no closing line [$closing]:
$(grep -v 'warning: rejected' <<<"$new")"
    t_match "$mode: summary" "rejected=$total " "$new"
done
exit 0

#!/bin/bash
# 41-ldapsync-full.sh - one full sync (--once, paged search) against a real
# slapd: every routing rule of issue 3 answered by `fwdmap query`.
# asan: yes
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
slapd_init ldap conf
{
    # a person with a store, aliases and an extra forward
    person jane Jane.Doe@TUM.de "fwdMailAlias: jd@tum.de" "fwdMailAlias: jane@mytum.de" \
        "fwdMailboxLocation: exchange" "fwdForwardAddress: jane@gmail.com"
    # store mytum, no forwards
    person max max.muster@mytum.de "fwdMailboxLocation: mytum"
    # external with a port, and without
    person bob bob@ph.tum.de "fwdMailboxLocation: external" "fwdMailHost: mail.ph.tum.de:2525"
    person eve eve@tum.de "fwdMailboxLocation: external" "fwdMailHost: [10.1.2.3]"
    # alumni: forward-only; two of them forward to the same external address
    person al al@tum.de "fwdMailboxLocation: none" "fwdForwardAddress: al@web.de" \
        "fwdMailAlias: alumnus@tum.de"
    person al2 al2@tum.de "fwdMailboxLocation: none" "fwdForwardAddress: al@web.de" \
        "fwdForwardAddress: jane.doe@tum.de"
    # no location: tenant lmu has a default_location, tum has none
    person_in lmu ute ute@lmu.de
    person nol nol@tum.de
} > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap
ls_conf

t0=$(date +%s%N)
ls_once
wall_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
t_eq "ldapsync --once exit" 0 "$LS_RC"
t_eq "serial" 1 "$(serial)"

t_eq "store transport"   "OK smtp:[exchange.example.org]:25" "$(q transport jane.doe@tum.de)"
t_eq "alias transport"   "OK smtp:[exchange.example.org]:25" "$(q transport JD@tum.de)"
t_eq "alias expansion"   "OK jane.doe@tum.de" "$(q virtual jd@tum.de)"
t_eq "alias 2 expansion" "OK jane.doe@tum.de" "$(q virtual jane@mytum.de)"
t_eq "primary keeps copy + forward" "OK jane.doe@tum.de,jane@gmail.com" "$(q virtual jane.doe@tum.de)"
t_eq "extension"         "OK smtp:[exchange.example.org]:25" "$(q transport jane.doe+lists@tum.de)"
t_eq "mytum"             "OK lmtp:[mytum.example.org]:24" "$(q transport max.muster@mytum.de)"
t_eq "no forwards, no V" "NOTFOUND" "$(q virtual max.muster@mytum.de)"
t_eq "external port"     "OK smtp:[mail.ph.tum.de]:2525" "$(q transport bob@ph.tum.de)"
t_eq "external no port"  "OK smtp:[10.1.2.3]" "$(q transport eve@tum.de)"
t_eq "alumni forwards only" "OK al@web.de" "$(q virtual al@tum.de)"
t_eq "alumni alias"      "OK al@tum.de" "$(q virtual alumnus@tum.de)"
t_eq "alumni recipient"  "OK tum" "$(q recipients al@tum.de)"
t_eq "shared forward"    "OK al@web.de,jane.doe@tum.de" "$(q virtual al2@tum.de)"
t_eq "default_location"  "OK smtp:[exchange.example.org]:25" "$(q transport ute@lmu.de)"
t_eq "lmu tenant"        "OK lmu" "$(q recipients ute@lmu.de)"
t_eq "no location skipped" "NOTFOUND" "$(q recipients nol@tum.de)"
t_eq "unknown rejected"  "NOTFOUND" "$(q recipients nobody@tum.de)"
t_eq "route domain"      "OK tum" "$(q recipients whoever@ph.tum.de)"
t_eq "domains"           "OK tum" "$(q domains mytum.de)"

# The report names the skipped entry with its reason.
t_match "report rejected" "uid=nol,ou=tum.*no fwdMailboxLocation" \
    "$(rep '.rejected[] | "\(.dn) \(.reason)"')"
t_eq "report routes" 10 "$(rep .counts.routes)"
t_eq "report entries" 8 "$(rep .counts.entries)"
t_match "summary line" "full sync: serial=1 entries=8 routes=10 rejected=1 .*result=published" "$(cat "$LSLOG")"
# The report's timing: an integer, no longer than the run itself.
dur=$(rep .duration_ms)
[[ $dur =~ ^[0-9]+$ ]] || t_fail "duration_ms is not a whole number: [$dur]"
[ "$dur" -le "$wall_ms" ] || t_fail "duration_ms $dur > the ${wall_ms} ms ldapsync ran"
# The summary line takes its own reading just after the report is
# written, so it may be a few ms later, never earlier.
sdur=$(tail -n 1 "$LSLOG" | sed -n 's/.* duration=\([0-9]*\)ms result=published$/\1/p')
[ -n "$sdur" ] && [ "$sdur" -ge "$dur" ] && [ "$sdur" -le "$wall_ms" ] ||
    t_fail "summary line duration [$sdur] not within report's $dur .. wall ${wall_ms} ms"
t_eq "started <= finished" true "$(rep '.started <= .finished')"
# The changes lists: on a first sync every routed address is "added".
chg() { rep ".changes.$1 | sort | join(\" \")"; }
t_eq "changes.added (first sync)" \
    "al2@tum.de al@tum.de alumnus@tum.de bob@ph.tum.de eve@tum.de jane.doe@tum.de jane@mytum.de jd@tum.de max.muster@mytum.de ute@lmu.de" \
    "$(chg added)"
t_eq "changes.changed/removed (first sync)" "|" "$(chg changed)|$(chg removed)"
t_eq "counts.added = list" 10 "$(rep .counts.added)"

# Same directory again: same routes, a new serial, nothing changed.
ls_once
t_eq "second sync exit" 0 "$LS_RC"
t_eq "second serial" 2 "$(serial)"
t_eq "nothing changed" "0 0 0" "$(rep '"\(.counts.added) \(.counts.removed) \(.counts.changed)"')"
t_eq "changes lists empty" "||" "$(chg added)|$(chg changed)|$(chg removed)"

# One of each: max moves store (changed), al2 leaves (removed), neu is new
# with an alias (both added).
printf 'dn: uid=max,ou=tum,%s\nchangetype: modify\nreplace: fwdMailboxLocation\nfwdMailboxLocation: exchange\n\ndn: uid=al2,ou=tum,%s\nchangetype: delete\n' \
    "$SLAPD_SUFFIX" "$SLAPD_SUFFIX" | slapd_modify ldap
person neu neu@tum.de "fwdMailboxLocation: mytum" "fwdMailAlias: neu.alias@tum.de" > "$T/neu.ldif"
slapd_add ldap "$T/neu.ldif"
ls_once
t_eq "third sync exit" 0 "$LS_RC"
t_eq "changes.added" "neu.alias@tum.de neu@tum.de" "$(chg added)"
t_eq "changes.changed" "max.muster@mytum.de" "$(chg changed)"
t_eq "changes.removed" "al2@tum.de" "$(chg removed)"
t_eq "counts of changes" "2 1 1" "$(rep '"\(.counts.added) \(.counts.changed) \(.counts.removed)"')"
t_eq "changed route served" "OK smtp:[exchange.example.org]:25" "$(q transport max.muster@mytum.de)"
t_eq "removed route gone" "NOTFOUND" "$(q recipients al2@tum.de)"
t_eq "new alias served" "OK neu@tum.de" "$(q virtual neu.alias@tum.de)"

# The password never appears in logs, reports or the process list.
grep -q "$SLAPD_SYNCPW" "$LSLOG" "$T/maps/ldapsync-report.json" && t_fail "password leaked"

# The cn=config form of the schema works the same.
slapd_stop ldap
slapd_init ldap2 cnconfig
slapd_load ldap2 "$T/people.ldif"
slapd_start ldap2
ls_conf ".ldap.uris = [\"$(slapd_uri ldap2)\"]"
ls_once
t_eq "cn=config sync exit" 0 "$LS_RC"
t_eq "cn=config transport" "OK smtp:[mail.ph.tum.de]:2525" "$(q transport bob@ph.tum.de)"
routes=$(rep .counts.routes)

# Bases are compared RDN by RDN: written with spaces and in upper case
# they still hold every entry; a nested tenant (ou=ph under ou=tum) takes
# its entries, but not an entry whose RDN value only contains ",ou=ph".
{
    printf 'dn: ou=ph,ou=tum,%s\nobjectClass: organizationalUnit\nou: ph\n\n' "$SLAPD_SUFFIX"
    person_in "ph,ou=tum" pia pia@phys.example "fwdMailboxLocation: exchange"
    printf 'dn: uid=x\\,ou=ph,ou=tum,%s\nobjectClass: inetOrgPerson\nobjectClass: fwdMailRecipient\n' "$SLAPD_SUFFIX"
    printf 'uid: x,ou=ph\ncn: x\nsn: x\nmail: xcomma@tum.de\nfwdMailboxLocation: mytum\n\n'
} > "$T/ph.ldif"
slapd_add ldap2 "$T/ph.ldif" || t_fail "ldapadd ou=ph"
ls_conf ".ldap.uris = [\"$(slapd_uri ldap2)\"]
    | .tenants.tum.base = \"OU=TUM, DC=Example , dc=ORG\"
    | .tenants.lmu.base = \" ou=lmu,  dc=example,dc=org\"
    | .tenants.ph = {base: \"ou=PH, ou=tum, dc=example, dc=org\", domains: [\"phys.example\"]}"
"$LDAPSYNC" -c "$CONF" --check >>"$LSLOG" 2>&1
t_eq "--check accepts bases with spaces" 0 "$?"
ls_once
t_eq "spaced bases: exit" 0 "$LS_RC"
t_eq "spaced bases: every entry routed" "$((routes + 2)) 1" "$(rep '"\(.counts.routes) \(.counts.rejected)"')"
t_eq "spaced base, tum" "OK tum" "$(q recipients jane.doe@tum.de)"
t_eq "spaced base, lmu" "OK lmu" "$(q recipients ute@lmu.de)"
t_eq "nested tenant" "OK ph" "$(q recipients pia@phys.example)"
t_eq "escaped comma is not a separator" "OK tum" "$(q recipients xcomma@tum.de)"
t_eq "escaped comma: route" "OK lmtp:[mytum.example.org]:24" "$(q transport xcomma@tum.de)"
# An unparsable base is refused by --check with the reason.
ls_conf ".tenants.tum.base = \"ou=tum,,dc=example,dc=org\""
out=$("$LDAPSYNC" -c "$CONF" --check 2>&1); rc=$?
t_eq "--check: bad base exit" 1 "$rc"
t_match "--check: bad base reason" 'tenants.tum: base: "ou=tum,,dc=example,dc=org" is not a DN' "$out"
exit 0

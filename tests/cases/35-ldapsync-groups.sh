#!/bin/bash
# 35-ldapsync-groups.sh - issue 10 items 1-3 against a real slapd:
# groupOfNames / groupOfUniqueNames / groupOfURLs with fwdMailRecipient and
# fwdMailGroup compiled by ldapsync: nesting to 5 levels, a cycle broken
# and reported, unknown and cross-tenant member DNs, a memberURL reaching
# into another tenant rejected, a group without deliverable members
# refused, the policy records G/S; then incremental changes (a member's
# new primary address, a member moved, deleted; members added and
# removed; memberURL refresh within ldapsync.group_url_interval) through
# the running daemon.
# asan: yes
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
S=$SLAPD_SUFFIX
slapd_init ldap conf

group() {	# group OU CN MAIL CLASS [ATTR: VALUE]...
    local ou=$1 cn=$2 mail=$3 cls=$4; shift 4
    printf 'dn: cn=%s,ou=%s,%s\nobjectClass: %s\nobjectClass: fwdMailRecipient\nobjectClass: fwdMailGroup\ncn: %s\nmail: %s\n' \
        "$cn" "$ou" "$S" "$cls" "$cn" "$mail"
    local a
    for a in "$@"; do printf '%s\n' "$a"; done
    printf '\n'
}
m() { printf 'member: uid=%s,ou=tum,%s' "$1" "$S"; }
g() { printf 'member: cn=%s,ou=tum,%s' "$1" "$S"; }

{
    person p1 p1@tum.de "fwdMailboxLocation: exchange" "fwdMailAlias: peter1@tum.de" "employeeType: staff"
    person p2 p2@tum.de "fwdMailboxLocation: mytum" "employeeType: staff"
    person p3 p3@tum.de "fwdMailboxLocation: exchange"
    person p4 p4@mytum.de "fwdMailboxLocation: mytum"
    person p5 p5@tum.de "fwdMailboxLocation: exchange"
    person alum alum@tum.de "fwdMailboxLocation: none" "fwdForwardAddress: alum@web.de"
    person dead1 dead1@tum.de "fwdMailboxLocation: none" "fwdForwardAddress: dead2@tum.de"
    person dead2 dead2@tum.de "fwdMailboxLocation: none" "fwdForwardAddress: dead1@tum.de"
    person_in lmu ute ute@lmu.de "employeeType: staff"
    # A team list: people, a nested list, an external member, an unknown
    # DN, a member of another tenant (allowed), an alumnus.
    group tum team team@tum.de groupOfNames "fwdMailAlias: team-alias@tum.de" \
        "$(m p1)" "$(m p2)" "$(g sub)" "member: uid=ghost,ou=tum,$S" \
        "member: uid=ute,ou=lmu,$S" "$(m alum)" "$(m dead1)" \
        "fwdForwardAddress: partner@example.org" \
        "fwdGroupSenderPolicy: members" "fwdGroupAllowedSender: @lmu.de" \
        "fwdGroupAllowedSender: boss@example.com" "fwdGroupAllowedSender: uid=p5,ou=tum,$S"
    group tum sub sub@tum.de groupOfUniqueNames "uniqueMember: uid=p3,ou=tum,$S" \
        "uniqueMember: UID=p1 , OU=tum,$S"
    # Nesting five levels deep.
    group tum n1 n1@tum.de groupOfNames "$(g n2)" "fwdGroupSenderPolicy: tenant"
    group tum n2 n2@tum.de groupOfNames "$(g n3)"
    group tum n3 n3@tum.de groupOfNames "$(g n4)"
    group tum n4 n4@tum.de groupOfNames "$(g n5)"
    group tum n5 n5@tum.de groupOfNames "$(m p5)"
    # A cycle of groups.
    group tum c1 c1@tum.de groupOfNames "$(g c2)" "$(m p1)"
    group tum c2 c2@tum.de groupOfNames "$(g c1)" "$(m p2)"
    # Nobody deliverable.
    group tum empty empty@tum.de groupOfNames "member: uid=ghost,ou=tum,$S" "$(m dead2)"
    # Dynamic: the staff of tum; and one reaching into lmu (rejected).
    group tum staff staff@tum.de groupOfURLs "memberURL: ldap:///ou=tum,$S??sub?(employeeType=staff)" \
        "fwdGroupSenderPolicy: listed" "fwdGroupAllowedSender: cn=sub,ou=tum,$S"
    group tum grab grab@tum.de groupOfURLs "memberURL: ldap:///ou=lmu,$S??sub?(objectClass=*)" \
        "fwdForwardAddress: p4@mytum.de"
    # More memberURL groups than searches run at once (8), two URLs each:
    # every group gets the results of both.  ubad: its first URL is no
    # URL, its third a bad filter; the lowest-numbered failure is named.
    for i in 01 02 03 04 05 06 07 08 09 10 11 12; do
        group tum "u$i" "u$i@tum.de" groupOfURLs "memberURL: ldap:///ou=tum,$S??sub?(employeeType=staff)" \
            "memberURL: ldap:///ou=tum,$S??sub?(uid=p3)"
    done
    group tum ubad ubad@tum.de groupOfURLs "memberURL: not-a-url" \
        "memberURL: ldap:///ou=tum,$S??sub?(uid=p3)" "memberURL: ldap:///ou=tum,$S??sub?(uid=p1"
    # A groupOfNames that carries a memberURL (extensibleObject allows
    # it): a URL group that the listing beside the full search (of
    # groupOfURLs) does not find; evaluated after the full search.
    group tum xurl xurl@tum.de "$(printf 'groupOfNames\nobjectClass: extensibleObject')" \
        "memberURL: ldap:///ou=tum,$S??sub?(uid=p3)" "$(m p5)"
    # A group may not have a mailbox.
    group tum boxed boxed@tum.de groupOfNames "$(m p1)" "fwdMailboxLocation: exchange"
    # A members-only list of 300 (over the 256 extras from which a delta
    # compares its S records by fingerprint, not one lookup each).
    for i in $(seq -w 1 300); do
        person "b$i" "b$i@tum.de" "fwdMailboxLocation: exchange"
    done
    group tum big big@tum.de groupOfNames "fwdGroupSenderPolicy: members" \
        $(for i in $(seq -w 1 300); do printf 'member:uid=b%s,ou=tum,%s ' "$i" "$S"; done)
} > "$T/dir.ldif"
slapd_load ldap "$T/dir.ldif"
slapd_start ldap
ls_conf '.ldapsync.group_url_interval = 2 | .ldapsync.state_dir = "'"$T"'/maps"'

ls_once
t_eq "ldapsync --once exit" 0 "$LS_RC"

sorted() { q virtual "$1" | sed 's/^OK //' | tr , '\n' | sort | tr '\n' ' ' | sed 's/ $//'; }
dump() { "$FWDMAP" -d "$T/maps" dump; }
pjson() { dump | awk -v k="$1" '$1 == "P" && $2 == k { sub(/^P [^ ]* /, ""); print }'; }

# Expansion: each final address once; nested flattened; unknown skipped;
# other tenant's member kept; alumni as their address (their forward then
# applies); the dead forward cycle skipped.
t_eq "team expansion" "alum@tum.de p1@tum.de p2@tum.de p3@tum.de partner@example.org ute@lmu.de" "$(sorted team@tum.de)"
t_eq "team recipient" "OK tum" "$(q recipients team@tum.de)"
t_eq "team alias" "OK team@tum.de" "$(q virtual team-alias@tum.de)"
t_eq "team: no transport of its own" "NOTFOUND" "$(q transport team@tum.de)"
t_eq "members count" 6 "$(pjson team@tum.de | jq -r .members)"
t_eq "role" group "$(pjson team@tum.de | jq -r .role)"
t_match "skipped: ghost" "uid=ghost,ou=tum" "$(pjson team@tum.de | jq -r '.skipped[].dn')"
t_match "skipped: dead1" "no mailbox and no outside" "$(pjson team@tum.de | jq -r '.skipped[].reason')"
t_match "direct lists the nested group" "sub@tum.de" "$(pjson team@tum.de | jq -r '.direct[]')"
# Five levels.
t_eq "n1 (5 levels)" "OK p5@tum.de" "$(q virtual n1@tum.de)"
# Cycle broken, never deferred, reported.
t_eq "c1 (cycle)" "p1@tum.de p2@tum.de" "$(sorted c1@tum.de)"
t_eq "c2 (cycle)" "p1@tum.de p2@tum.de" "$(sorted c2@tum.de)"
t_match "cycle in P" "c1@tum.de" "$(pjson c1@tum.de | jq -r '.cycle[]')"
t_match "cycle in the report" "c1@tum.de" "$(rep '.loops[] | join(" ")')"
# No deliverable member: no recipient.
t_eq "empty group: recipients" NOTFOUND "$(q recipients empty@tum.de)"
t_eq "empty group: virtual" NOTFOUND "$(q virtual empty@tum.de)"
t_match "empty group reported" "group has no deliverable member" "$(rep '.rejected[] | select(.dn | test("cn=empty")) | .reason')"
# memberURL: evaluated; into another tenant: rejected and reported.
t_eq "staff (memberURL)" "p1@tum.de p2@tum.de" "$(sorted staff@tum.de)"
t_eq "grab: only its static member" "OK p4@mytum.de" "$(q virtual grab@tum.de)"
t_match "grab: URL rejected" "outside the group's tenant" "$(pjson grab@tum.de | jq -r '.skipped[].reason')"
for i in 01 02 03 04 05 06 07 08 09 10 11 12; do
    t_eq "u$i: both URLs" "p1@tum.de p2@tum.de p3@tum.de" "$(sorted "u$i@tum.de")"
done
t_eq "ubad: the good URL's member" "OK p3@tum.de" "$(q virtual ubad@tum.de)"
t_match "ubad: the first failure named" "not an LDAP URL" "$(pjson ubad@tum.de | jq -r '.skipped[].reason')"
t_match "grab: URL rejected in the report" "outside the group's tenant" "$(rep '.rejected[] | .value // empty')"
# The 15 groupOfURLs groups were evaluated beside the full search, on a
# connection of their own; xurl, which the listing does not find, after.
t_match "memberURLs beside the full search" "memberURLs of 15 groups evaluated beside the full search" "$(cat "$LSLOG")"
t_match "the rest after it" "memberURLs of 1 groups evaluated in" "$(cat "$LSLOG")"
t_eq "xurl: its URL's and its static member" "p3@tum.de p5@tum.de" "$(sorted xurl@tum.de)"
# A group with a mailbox is rejected.
t_eq "boxed" NOTFOUND "$(q recipients boxed@tum.de)"
# Policy records.
t_eq "G team" "G team@tum.de members team@tum.de tum" "$(dump | grep '^G team@tum.de ')"
t_eq "G team alias" "G team-alias@tum.de members team@tum.de tum" "$(dump | grep '^G team-alias@tum.de ')"
t_eq "G n1" "G n1@tum.de tenant n1@tum.de tum" "$(dump | grep '^G n1@tum.de ')"
t_eq "G n2 (default policy)" "G n2@tum.de anyone n2@tum.de tum" "$(dump | grep '^G n2@tum.de ')"
t_eq "S team" "$(printf '%s\n' \
    "S team@tum.de @lmu.de allowed" \
    "S team@tum.de alum@tum.de member" \
    "S team@tum.de boss@example.com allowed" \
    "S team@tum.de p1@tum.de member" \
    "S team@tum.de p2@tum.de member" \
    "S team@tum.de p3@tum.de member" \
    "S team@tum.de p5@tum.de allowed" \
    "S team@tum.de partner@example.org member" \
    "S team@tum.de peter1@tum.de member" \
    "S team@tum.de ute@lmu.de member")" "$(dump | grep '^S team@tum.de ' | sort)"
t_eq "S staff (listed: the allowed group's members)" "$(printf '%s\n' \
    "S staff@tum.de p1@tum.de allowed" "S staff@tum.de p3@tum.de allowed" \
    "S staff@tum.de peter1@tum.de allowed")" "$(dump | grep '^S staff@tum.de ' | sort)"
t_eq "no S for anyone" "" "$(dump | grep '^S n2@tum.de ')"

# ---- incremental, through the running daemon ----
ls_start
t_wait 15 grep -q "refresh done" "$LSLOG" || t_fail "ldapsync did not start: $(tail -5 "$LSLOG")"
# A member gets a new primary address.
mod p2 mail p2.new@tum.de
t_wait 10 eval '[ "$(sorted c1@tum.de)" = "p1@tum.de p2.new@tum.de" ]' || t_fail "c1 after p2's new address: $(sorted c1@tum.de)"
t_eq "c1 after p2's new address" "p1@tum.de p2.new@tum.de" "$(sorted c1@tum.de)"
t_eq "team after p2's new address" "alum@tum.de p1@tum.de p2.new@tum.de p3@tum.de partner@example.org ute@lmu.de" "$(sorted team@tum.de)"
t_eq "S follows" "S team@tum.de p2.new@tum.de member" "$(dump | grep '^S team@tum.de p2')"
# Members added and removed (a nested group's member: the parents follow).
printf 'dn: cn=n5,ou=tum,%s\nchangetype: modify\nadd: member\nmember: uid=p4,ou=tum,%s\n' "$S" "$S" | slapd_modify ldap
t_wait 10 q_is virtual n1@tum.de "OK p5@tum.de,p4@mytum.de" || t_fail "n1 after a member was added 4 levels down: $(q virtual n1@tum.de)"
printf 'dn: cn=sub,ou=tum,%s\nchangetype: modify\ndelete: uniqueMember\nuniqueMember: uid=p3,ou=tum,%s\n' "$S" "$S" | slapd_modify ldap
t_wait 10 eval '[ "$(sorted team@tum.de)" = "alum@tum.de p1@tum.de p2.new@tum.de partner@example.org ute@lmu.de" ]' ||
    t_fail "team after p3 left sub: $(sorted team@tum.de)"
t_eq "p3 can no longer send to team" "" "$(dump | grep '^S team@tum.de p3@')"
# A member moves to another tenant (modrdn + new superior): the group's
# DN no longer resolves; a member is deleted.
ldapmodrdn -x -H "$(slapd_uri ldap)" -D "$SLAPD_ROOTDN" -w "$SLAPD_ROOTPW" -s "ou=lmu,$S" \
    "uid=p5,ou=tum,$S" "uid=p5" >/dev/null || t_fail "modrdn p5"
t_wait 10 q_is virtual n1@tum.de "OK p4@mytum.de" ||
    t_fail "n1 after p5 moved away: $(q virtual n1@tum.de)"
printf 'dn: uid=p4,ou=tum,%s\nchangetype: delete\n' "$S" | slapd_modify ldap
t_wait 10 q_is recipients n1@tum.de NOTFOUND || t_fail "n1 without members: $(q recipients n1@tum.de) $(q virtual n1@tum.de)"
# The big members-only list: a member's new address replaces its S
# record, twice (the second delta compares against what the first
# published), and a change to another member leaves it.
mod b007 mail b007.x@tum.de
t_wait 10 eval 'dump | grep -q "^S big@tum.de b007.x@tum.de member$"' || t_fail "S for b007's new address: $(dump | grep '^S big@tum.de b007')"
t_eq "S of b007's old address gone" "" "$(dump | grep '^S big@tum.de b007@')"
mod b007 mail b007.y@tum.de
t_wait 10 eval 'dump | grep -q "^S big@tum.de b007.y@tum.de member$"' || t_fail "S for b007's next address: $(dump | grep '^S big@tum.de b007')"
mod b008 mail b008.x@tum.de
t_wait 10 eval 'dump | grep -q "^S big@tum.de b008.x@tum.de member$"' || t_fail "S for b008's new address: $(dump | grep '^S big@tum.de b008')"
t_eq "big's S records after three deltas" "S big@tum.de b007.y@tum.de member
S big@tum.de b008.x@tum.de member
300" "$(dump | grep -E '^S big@tum.de b00[78]'; dump | grep -c '^S big@tum.de ')"
# An address added and nothing gone (the delta that finds every S record
# it published before skips looking for removals), then that address
# removed again (it must go).
mod b009 fwdMailAlias b009-alias@tum.de
t_wait 10 eval 'dump | grep -q "^S big@tum.de b009-alias@tum.de member$"' || t_fail "S for b009's alias: $(dump | grep '^S big@tum.de b009')"
t_eq "big's S records with b009's alias" "S big@tum.de b009-alias@tum.de member
S big@tum.de b009@tum.de member
301" "$(dump | grep -E '^S big@tum.de b009'; dump | grep -c '^S big@tum.de ')"
printf 'dn: uid=b009,ou=tum,%s\nchangetype: modify\ndelete: fwdMailAlias\n' "$S" | slapd_modify ldap
t_wait 10 eval '[ -z "$(dump | grep "^S big@tum.de b009-alias@")" ]' || t_fail "S for b009's removed alias stays: $(dump | grep '^S big@tum.de b009')"
t_eq "big's S records without b009's alias" "S big@tum.de b009@tum.de member
300" "$(dump | grep -E '^S big@tum.de b009'; dump | grep -c '^S big@tum.de ')"
# memberURL refresh within the interval (2 s here), without a full sync.
mod p3 employeeType staff
t_wait 8 eval '[ "$(sorted staff@tum.de)" = "p1@tum.de p2.new@tum.de p3@tum.de" ]' ||
    t_fail "staff after p3 became staff: $(sorted staff@tum.de)"
t_eq "no full sync for it" 1 "$(grep -c 'refresh done' "$LSLOG")"
ls_stop
exit 0

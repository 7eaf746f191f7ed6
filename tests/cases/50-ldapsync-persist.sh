#!/bin/bash
# 50-ldapsync-persist.sh - continuous mode (RFC 4533 refreshAndPersist):
# add, modify, delete and modrdn applied incrementally as deltas; restart
# with the saved cookie resumes without a full reload and picks up what
# changed while ldapsync was down.
# asan: yes
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
slapd_init ldap conf
{
    person jane jane.doe@tum.de "fwdMailboxLocation: exchange" "fwdMailAlias: jd@tum.de"
    person max max@tum.de "fwdMailboxLocation: mytum"
    person_in lmu ute ute@lmu.de
} > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap
ls_conf
ls_start
t_wait 10 q_is transport jane.doe@tum.de "OK smtp:[exchange.example.org]:25" ||
    t_fail "initial refresh not published: $(cat "$LSLOG")"
t_match "full refresh first" "refresh done \(full\): 3 entries" "$(cat "$LSLOG")"
base=$(serial)

# add
person bob bob@tum.de "fwdMailboxLocation: external" "fwdMailHost: mx.bob.example" > "$T/add.ldif"
slapd_add ldap "$T/add.ldif"
t_wait 10 q_is transport bob@tum.de "OK smtp:[mx.bob.example]" || t_fail "add not applied"
# modify
slapd_modify ldap <<EOF2
dn: uid=jane,ou=tum,$SLAPD_SUFFIX
changetype: modify
replace: fwdMailboxLocation
fwdMailboxLocation: mytum
-
add: fwdForwardAddress
fwdForwardAddress: jane@gmail.com
EOF2
t_wait 10 q_is transport jd@tum.de "OK lmtp:[mytum.example.org]:24" || t_fail "modify not applied"
t_eq "forward added" "OK jane.doe@tum.de,jane@gmail.com" "$(q virtual jane.doe@tum.de)"
# modrdn keeps the entryUUID: same routes, new DN in the provenance
slapd_modify ldap <<EOF2
dn: uid=max,ou=tum,$SLAPD_SUFFIX
changetype: modrdn
newrdn: uid=maximilian
deleteoldrdn: 1
EOF2
t_wait 10 bash -c "'$FWDMAP' -d '$T/maps' dump | grep -q '^P max@tum.de .*uid=maximilian,ou=tum'" ||
    t_fail "modrdn not applied: $("$FWDMAP" -d "$T/maps" dump | grep '^P max@')"
t_eq "renamed still routed" "OK lmtp:[mytum.example.org]:24" "$(q transport max@tum.de)"
# delete
printf 'dn: uid=bob,ou=tum,%s\nchangetype: delete\n' "$SLAPD_SUFFIX" | slapd_modify ldap
t_wait 10 q_is recipients bob@tum.de NOTFOUND || t_fail "delete not applied"
# an entry that becomes invalid is withdrawn, with a report line
slapd_modify ldap <<EOF2
dn: uid=ute,ou=lmu,$SLAPD_SUFFIX
changetype: modify
replace: mail
mail: ute@tum.de
EOF2
t_wait 10 q_is recipients ute@lmu.de NOTFOUND || t_fail "rename of mail not applied"
t_eq "foreign domain rejected" NOTFOUND "$(q recipients ute@tum.de)"
t_match "delta report" "mail in a domain the tenant does not own" "$(rep '.rejected[].reason')"

# A move to another tenant's subtree: the old session deletes, the new one
# adds (in either order); the entry is now judged against the new tenant.
person mover mover@lmu.de "fwdMailboxLocation: exchange" > "$T/mover.ldif"
slapd_add ldap "$T/mover.ldif"
t_wait 10 bash -c "'$FWDMAP' -d '$T/maps' dump | grep -q '^X mover@lmu.de .*does not own'" ||
    t_fail "entry in the wrong tenant not reported"
slapd_modify ldap <<EOF2
dn: uid=mover,ou=tum,$SLAPD_SUFFIX
changetype: modrdn
newrdn: uid=mover
deleteoldrdn: 1
newsuperior: ou=lmu,$SLAPD_SUFFIX
EOF2
t_wait 10 q_is transport mover@lmu.de "OK smtp:[exchange.example.org]:25" ||
    t_fail "move to the lmu subtree not applied: $(q transport mover@lmu.de)"

# All of that went out as deltas over the first base.
t_eq "base unchanged" "$base" "$(serial)"
t_match "deltas published" "delta sync: serial=[0-9]+ .*result=published" "$(cat "$LSLOG")"
"$FWDMAP" -d "$T/maps" info | jq -e '.delta.kind == "delta"' >/dev/null || t_fail "no delta file"

# Restart: resumes from the cookie, no full reload; changes made while
# it was down arrive.
ls_stop
[ -s "$T/maps/ldapsync.cookie" ] || t_fail "no cookie saved"
jane_uuid=$(slapd_search ldap '(uid=jane)' entryUUID | sed -n 's/^entryUUID: //p')
t_match "jane's entryUUID" '^[0-9a-f-]{36}$' "$jane_uuid"
printf 'dn: uid=jane,ou=tum,%s\nchangetype: delete\n' "$SLAPD_SUFFIX" | slapd_modify ldap
slapd_modify ldap <<EOF2
dn: uid=maximilian,ou=tum,$SLAPD_SUFFIX
changetype: modify
replace: fwdMailboxLocation
fwdMailboxLocation: exchange
EOF2
person zoe zoe@tum.de "fwdMailboxLocation: exchange" > "$T/add2.ldif"
slapd_add ldap "$T/add2.ldif"
: > "$LSLOG"
ls_start -v
t_wait 10 q_is transport zoe@tum.de "OK smtp:[exchange.example.org]:25" ||
    t_fail "change made while down not applied: $(cat "$LSLOG")"
t_wait 10 q_is recipients jane.doe@tum.de NOTFOUND || t_fail "delete made while down not applied"
t_match "resumed" "resuming from saved cookie" "$(cat "$LSLOG")"
t_match "incremental refresh" "refresh done \(incremental\)" "$(cat "$LSLOG")"
grep -q "refresh done (full)" "$LSLOG" && t_fail "restart did a full reload"
# The delete made while down came as an RFC 4533 syncIdSet with
# refreshDeletes TRUE (slapd's session log), logged with -v, and was
# applied to jane's entryUUID only.
t_match "syncIdSet received" 'sync info: syncIdSet refreshDeletes=TRUE cookie=rid=' "$(cat "$LSLOG")"
t_match "syncIdSet names jane" "sync idset delete $jane_uuid" "$(cat "$LSLOG")"
t_eq "modified while down (not lost to the other tenant's session)" \
    "OK smtp:[exchange.example.org]:25" "$(q transport max@tum.de)"
t_eq "others unchanged" "OK smtp:[exchange.example.org]:25" "$(q transport mover@lmu.de)"
ls_stop
exit 0

#!/bin/bash
# 91-ldapsync-acl.sh - the directory settings of docs/install.md §4, taken
# out of the guide (tests/lib/guide.sh) and loaded into a real slapd that
# otherwise denies the sync account everything: the least-privilege ACL,
# the limits, the indexes and syncprov, in slapd.conf form and in
# cn=config form (the guide's LDIF applied with slapmodify).  With each,
# `ldapsync --once` publishes, and the daemon (refreshAndPersist) brings a
# new entry in incrementally.  Then the same ACL without entryUUID: the
# full sync fails, and its message names the likely cause (issue 12).
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
source "$TOP/tests/lib/guide.sh"

DENY_REST="access to * by * none"
people() {
    person jane jane.doe@tum.de "fwdMailAlias: jd@tum.de" "fwdMailboxLocation: exchange"
    person max max.muster@mytum.de "fwdMailboxLocation: mytum"
}
people > "$T/people.ldif"

# check_sync FORM: --once publishes; the daemon picks up an added entry.
check_sync() {
    local form=$1
    rm -rf "$T/maps"; mkdir -p "$T/maps"
    ls_conf
    # The sync account really sees nothing but the routing attributes.
    local seen
    seen=$(ldapsearch -x -LLL -o ldif-wrap=no -H "$(slapd_uri ldap)" -D "$SLAPD_SYNCDN" \
        -w "$SLAPD_SYNCPW" -b "uid=jane,ou=tum,$SLAPD_SUFFIX" -s base '*' '+' 2>&1)
    t_match "$form: sync account reads entryUUID" $'\nentryUUID: ' "$seen"
    [[ $seen == *$'\ncn: '* || $seen == *$'\nsn: '* ]] && t_fail "$form: sync account reads cn/sn: $seen"
    : > "$LSLOG"
    ls_once
    t_eq "$form: ldapsync --once exit" 0 "$LS_RC"
    t_eq "$form: transport" "OK smtp:[exchange.example.org]:25" "$(q transport jane.doe@tum.de)"
    t_eq "$form: alias" "OK jane.doe@tum.de" "$(q virtual jd@tum.de)"
    ls_start
    t_wait 15 grep -q "refresh done" "$LSLOG" || t_fail "$form: daemon did not sync: $(tail -n 5 "$LSLOG")"
    local before
    before=$(grep -c "result=published" "$LSLOG")
    person new new.person@tum.de "fwdMailboxLocation: mytum" | slapd_add ldap /dev/stdin >/dev/null ||
        t_fail "$form: ldapadd"
    t_wait 15 q_is transport new.person@tum.de "OK lmtp:[mytum.example.org]:24" ||
        t_fail "$form: incremental change not published: $(q transport new.person@tum.de); $(tail -n 5 "$LSLOG")"
    # ... as a change in the persist phase, not a new full refresh.
    [ "$(grep -c "refresh done" "$LSLOG")" = 1 ] || t_fail "$form: not incremental: $(tail -n 5 "$LSLOG")"
    [ "$(grep -c "result=published" "$LSLOG")" -gt "$before" ] || t_fail "$form: nothing published"
    ls_stop
    slapd_stop ldap
}

# 1. slapd.conf form: the guide's access rule, then its limits, indexes
#    and syncprov (SLAPD_GUIDE_DB leaves ours out), then "none" for the rest.
SLAPD_GUIDE_DB=1 SLAPD_ACCESS="$(guide_block acl-conf)
$DENY_REST
$(guide_block db-conf)" slapd_init ldap conf
slapd_load ldap "$T/people.ldif"
slapd_start ldap
check_sync slapd.conf

# 2. cn=config form: a running server without any of it (root may manage
#    cn=config over ldapi, as on Debian), the guide's LDIF applied with
#    the guide's ldapmodify command.
SLAPD_LDAPI=1 SLAPD_GUIDE_DB=1 SLAPD_OLCACCESS="to * by * none" slapd_init ldap cnconfig
slapd_load ldap "$T/people.ldif"
SLAPD_LDAPI=1 slapd_start ldap
guide_block db-cnconfig > "$T/fwdmap-config.ldif"
(cd "$T" && guide_run db-cnconfig-apply "s|ldapi:///|$(slapd_ldapi_uri ldap)|") >"$T/logs/ldapmodify.log" 2>&1 ||
    t_fail "the guide's cn=config LDIF does not apply: $(cat "$T/logs/ldapmodify.log")"
slapcat -n0 -F "$TEST_TMP/slapd-ldap/slapd.d" -o ldif-wrap=no > "$T/config.ldif"
grep -q '^olcAccess: {0}to dn.subtree="dc=example,dc=org" attrs=entry,objectClass,entryUUID' "$T/config.ldif" ||
    t_fail "the guide's olcAccess is not the first rule: $(grep olcAccess "$T/config.ldif")"
grep -q '^olcOverlay: {0}syncprov' "$T/config.ldif" || t_fail "no syncprov overlay after the guide's LDIF"
check_sync cn=config

# 3. The guide's rule without entryUUID: the paged full search (--dry-run;
# also poll mode and a server without syncprov) fails and says why.  (A
# plain --once reads with RFC 4533 refreshOnly, whose Sync State control
# carries the entryUUID, so it is not the path that shows the ACL.)
SLAPD_GUIDE_DB=1 SLAPD_ACCESS="$(guide_block acl-conf | sed 's/,entryUUID//')
$DENY_REST
$(guide_block db-conf)" slapd_init ldap conf
slapd_load ldap "$T/people.ldif"
slapd_start ldap
rm -rf "$T/maps"; mkdir -p "$T/maps"
ls_conf
: > "$LSLOG"
ls_once --dry-run
t_eq "no entryUUID: exit" 1 "$LS_RC"
t_match "no entryUUID: message" "full sync failed: uid=[a-z]+,ou=tum,dc=example,dc=org: no entryUUID: the bind DN may not read it \(a directory ACL .*entryUUID.*\); nothing published" \
    "$(cat "$LSLOG")"
[ -e "$T/maps/fwdmap.cdb" ] && t_fail "no entryUUID: something was published"
exit 0

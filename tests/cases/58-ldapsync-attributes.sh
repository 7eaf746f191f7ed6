#!/bin/bash
# 58-ldapsync-attributes.sh - ldap.attributes maps other sites' schemas:
# the same people written with LASER's inetLocalMailRecipient (misc.schema:
# mailLocalAddress = aliases, mailHost = host, mailRoutingAddress = forward)
# and with qmail-ldap's mailForwardingAddress (test-only subset schema,
# tests/lib/qmail-subset.schema) compile to exactly the tables their fwd* twins do.
# asan: yes
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
MISC=$SLAPD_SCHEMA_DIR/misc.schema
[ -r "$MISC" ] || t_skip "no $MISC"
SLAPD_EXTRA_SCHEMAS="$MISC $TOP/tests/lib/qmail-subset.schema" slapd_init ldap conf

ou() { printf 'dn: ou=%s,%s\nobjectClass: organizationalUnit\nou: %s\n\n' "$1" "$SLAPD_SUFFIX" "$1"; }
# entry OU UID MAIL EXTRA-OBJECTCLASS [ATTR: VALUE]...
entry() {
    local o=$1 uid=$2 mail=$3 oc=$4 a; shift 4
    printf 'dn: uid=%s,ou=%s,%s\nobjectClass: inetOrgPerson\n' "$uid" "$o" "$SLAPD_SUFFIX"
    for a in $oc; do printf 'objectClass: %s\n' "$a"; done
    printf 'uid: %s\ncn: %s\nsn: %s\nmail: %s\n' "$uid" "$uid" "$uid" "$mail"
    for a in "$@"; do printf '%s\n' "$a"; done
    printf '\n'
}
{
    ou fwd1; ou laser; ou fwd2; ou qmail
    # Own mail servers (external): fwd* form and LASER form.
    entry fwd1 jane jane.doe@tum.de fwdMailRecipient "fwdMailboxLocation: external" \
        "fwdMailHost: mx.jane.example:2525" "fwdMailAlias: jd@tum.de" "fwdMailAlias: j.doe@mytum.de" \
        "fwdForwardAddress: jane@gmail.com"
    entry fwd1 bob bob@tum.de fwdMailRecipient "fwdMailboxLocation: external" \
        "fwdMailHost: mail.bob.example" "fwdMailAlias: bobby@tum.de"
    entry fwd1 eve eve@tum.de fwdMailRecipient "fwdMailboxLocation: external"    # no host: skipped
    entry laser jane jane.doe@tum.de inetLocalMailRecipient \
        "mailHost: mx.jane.example:2525" "mailLocalAddress: jd@tum.de" "mailLocalAddress: j.doe@mytum.de" \
        "mailRoutingAddress: jane@gmail.com"
    entry laser bob bob@tum.de inetLocalMailRecipient \
        "mailHost: mail.bob.example" "mailLocalAddress: bobby@tum.de"
    entry laser eve eve@tum.de inetLocalMailRecipient
    # Not an inetLocalMailRecipient: outside the LASER filter.
    entry laser zed zed@tum.de fwdMailRecipient "fwdMailboxLocation: exchange"
    # Stores and alumni: fwd* form and qmail-ldap form of the forwards.
    entry fwd2 carl carl@tum.de fwdMailRecipient "fwdMailboxLocation: exchange" \
        "fwdMailAlias: c.meyer@tum.de" "fwdForwardAddress: carl@web.de" "fwdForwardAddress: carl@gmx.de"
    entry fwd2 al al@tum.de fwdMailRecipient "fwdMailboxLocation: none" \
        "fwdForwardAddress: al@alumni.example"
    entry fwd2 ann ann@tum.de fwdMailRecipient "fwdMailboxLocation: none"        # no forward: skipped
    entry qmail carl carl@tum.de "fwdMailRecipient qmailUser" "fwdMailboxLocation: exchange" \
        "fwdMailAlias: c.meyer@tum.de" "mailForwardingAddress: carl@web.de" "mailForwardingAddress: carl@gmx.de"
    entry qmail al al@tum.de "fwdMailRecipient qmailUser" "fwdMailboxLocation: none" \
        "mailForwardingAddress: al@alumni.example"
    entry qmail ann ann@tum.de "fwdMailRecipient qmailUser" "fwdMailboxLocation: none" \
        "fwdForwardAddress: ann@ignored.example"   # not the mapped attribute: still no forward
} > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap

# sync NAME OU [JQ]: one tenant over ou=OU into $T/maps-NAME, ldapsync --once.
sync() {
    local name=$1 o=$2 extra=${3:-.}
    mkdir -p "$T/maps-$name"
    ls_conf ".maps_dir = \"$T/maps-$name\" | .tenants = {\"tum\": {\"base\": \"ou=$o,$SLAPD_SUFFIX\",
             \"domains\": [\"tum.de\", \"mytum.de\"]}} | .domains = {} | $extra"
    ls_once
    [ "$LS_RC" = 0 ] || t_fail "ldapsync --once ($name) rc=$LS_RC: $(tail -5 "$LSLOG")"
    # Every record; the DN's ou and the entryUUID differ between twins.
    "$FWDMAP" -d "$T/maps-$name" dump > "$T/$name.raw" || t_fail "dump $name"
    sed 's/,ou=[a-z0-9]*,dc=/,ou=OU,dc=/; s/"uuid":"[^"]*"/"uuid":U/' "$T/$name.raw" | sort > "$T/$name.dump"
}
sync fwd1 fwd1
sync laser laser '.ldap.attributes = {"alias": "mailLocalAddress", "host": "mailHost",
    "forward": "mailRoutingAddress", "object_class": "inetLocalMailRecipient"}
    | .tenants.tum.default_location = "external"'
sync fwd2 fwd2
sync qmail qmail '.ldap.attributes = {"forward": "mailForwardingAddress"}'

lq() { "$FWDMAP" -d "$T/maps-$1" query "$2" "$3"; }
# LASER: absolute answers first (so that two empty tables cannot agree).
t_eq "laser transport" "OK smtp:[mx.jane.example]:2525" "$(lq laser transport JD@tum.de)"
t_eq "laser transport (mytum alias)" "OK smtp:[mx.jane.example]:2525" "$(lq laser transport j.doe@mytum.de)"
t_eq "laser virtual" "OK jane.doe@tum.de,jane@gmail.com" "$(lq laser virtual jane.doe@tum.de)"
t_eq "laser alias" "OK jane.doe@tum.de" "$(lq laser virtual jd@tum.de)"
t_eq "laser bob" "OK smtp:[mail.bob.example]" "$(lq laser transport bobby@tum.de)"
t_eq "laser: zed (not inetLocalMailRecipient)" NOTFOUND "$(lq laser recipients zed@tum.de)"
t_eq "laser: eve (no mailHost)" NOTFOUND "$(lq laser recipients eve@tum.de)"
grep -q 'eve' "$T/maps-laser/ldapsync-report.json" || t_fail "laser: eve not reported"
# qmail-ldap forwards.
t_eq "qmail virtual" "OK carl@tum.de,carl@web.de,carl@gmx.de" "$(lq qmail virtual carl@tum.de)"
t_eq "qmail transport" "OK smtp:[exchange.example.org]:25" "$(lq qmail transport C.Meyer@tum.de)"
t_eq "qmail alias" "OK carl@tum.de" "$(lq qmail virtual c.meyer@tum.de)"
t_eq "qmail alumni" "OK al@alumni.example" "$(lq qmail virtual al@tum.de)"
t_eq "qmail: ann (fwdForwardAddress is not the mapped attribute)" NOTFOUND "$(lq qmail recipients ann@tum.de)"

# And every route equals the fwd* twin's.
[ "$(grep -c '^T ' "$T/fwd1.dump")" = 5 ] || t_fail "fwd1 tables too small: $(cat "$T/fwd1.dump")"
diff -u "$T/fwd1.dump" "$T/laser.dump" >"$T/laser.diff" || t_fail "LASER tables differ from fwd*: $(cat "$T/laser.diff")"
diff -u "$T/fwd2.dump" "$T/qmail.dump" >"$T/qmail.diff" || t_fail "qmail tables differ from fwd*: $(cat "$T/qmail.diff")"
exit 0

#!/bin/bash
# 55-ldapsync-tls.sh - ldaps:// and StartTLS with certificate verification
# against a throwaway CA; a server the configured CA does not vouch for is
# refused (nothing published).
source "$TOP/tests/lib/common.sh"
source "$TOP/tests/lib/ldapsync.bash"
command -v openssl >/dev/null || t_skip "no openssl"
slapd_tls_ca "$T/tls"
slapd_tls_ca "$T/other"
SLAPD_TLS_DIR=$T/tls slapd_init ldap conf
person jane jane.doe@tum.de "fwdMailboxLocation: exchange" > "$T/people.ldif"
slapd_load ldap "$T/people.ldif"
slapd_start ldap

# ldaps with the right CA
ls_conf ".ldap.uris = [\"$(slapd_ldaps_uri ldap)\"] | .ldap.ca_file = \"$T/tls/ca.pem\""
"$LDAPSYNC" -c "$CONF" --check >/dev/null || t_fail "--check with ca_file"
ls_once
t_eq "ldaps" 0 "$LS_RC"
t_eq "served" "OK smtp:[exchange.example.org]:25" "$(q transport jane.doe@tum.de)"

# StartTLS with the right CA
ls_conf ".ldap.starttls = true | .ldap.ca_file = \"$T/tls/ca.pem\""
ls_once
t_eq "starttls" 0 "$LS_RC"
t_eq "starttls serial" 2 "$(serial)"

# The wrong CA: refused, nothing published.
ls_conf ".ldap.starttls = true | .ldap.ca_file = \"$T/other/ca.pem\""
ls_once
[ "$LS_RC" -ne 0 ] || t_fail "StartTLS accepted a certificate from an unknown CA"
t_match "tls error logged" "StartTLS" "$(tail -3 "$LSLOG")"
ls_conf ".ldap.uris = [\"$(slapd_ldaps_uri ldap)\"] | .ldap.ca_file = \"$T/other/ca.pem\""
ls_once
[ "$LS_RC" -ne 0 ] || t_fail "ldaps accepted a certificate from an unknown CA"
t_eq "still serial 2" 2 "$(serial)"
exit 0

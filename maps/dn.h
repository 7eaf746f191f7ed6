/*
 * dn.h - distinguished names: the canonical form of a configured base
 *	  and "is this entry inside that base".
 *
 * DESCRIPTION
 *	dn_normalize() parses an RFC 4514 DN (libldap's ldap_str2dn,
 *	LDAPv3 form) and returns it printed again by ldap_dn2str: no spaces
 *	around separators, escapes written the standard way.  The case of
 *	attribute types and values is kept.  Returns a malloc'ed string, or
 *	NULL when the DN does not parse or is empty.
 *
 *	dn_within() tells whether dn is base or lies below it, comparing the
 *	last RDNs of dn with the RDNs of base component by component:
 *	attribute types and values case-insensitively (ASCII; the naming
 *	attributes of directories, dc, ou, o, cn, uid, l, c, st, are
 *	caseIgnore), values as decoded from their escapes, so that
 *	"ou=tum, dc=org", "OU=TUM,DC=org" and "ou=tum,dc=org" are one base
 *	and "cn=x\,ou=ph,ou=tum,dc=org" is not below "ou=ph,ou=tum,dc=org".
 *	Returns the number of RDNs of base (at least 1) when dn is within
 *	it, 0 when not or when either does not parse.  Fast path: when both
 *	strings need no parsing (no escapes, quotes, '+', ';', spaces next to
 *	a separator), a case-insensitive suffix comparison at an RDN boundary
 *	gives the same answer without allocating; otherwise both are parsed.
 */
#ifndef FWDMAP_DN_H
#define FWDMAP_DN_H

char   *dn_normalize(const char *dn);
int	dn_within(const char *dn, const char *base);

#endif

/*
 * ldap_conn.h - LDAP connections (failover, TLS, bind) and the paged
 *		 full search that fills an ldapsync state.
 *
 * DESCRIPTION
 *	lc_connect() tries the configured URIs in order, starting at
 *	*index, each with the network timeout: initialise, LDAPv3,
 *	ldaps/StartTLS with certificate verification (ldap.ca_file or the
 *	system store), simple bind with the password read from
 *	bind_password_file (read anew on each connect, wiped after use,
 *	never logged).  On success *index names the URI that answered.
 *
 *	lc_keep_secret() reads bind_password_file once, now, into a
 *	locked, not-dumped buffer that every later connect uses instead
 *	of the file: ldapsync calls it as root before dropping to
 *	ldapsync.user, so that the file can stay readable by root only.
 *
 *	lc_full_search() runs one paged search (RFC 2696) per tenant base
 *	and puts every entry into st (validated with comp_validate).  Any
 *	failure (connection lost, an error result, a page cut short) is an
 *	error: the caller must publish nothing.
 *
 *	lc_entry() turns one search entry into a struct ent; uuid NULL
 *	means "take it from the entryUUID attribute".  lc_entry_ber() is
 *	its decoder, given the entry's DN and a BerElement positioned in
 *	its attribute list as ldap_get_dn_ber() leaves it; lc_entry_decode()
 *	does the same from the BER encoding of a SearchResultEntry
 *	(protocolOp) alone, without a server (the fuzz target's entry).
 *	An attribute list that does not decode is an error, never half an
 *	entry.
 */
#ifndef LDAPSYNC_LDAP_CONN_H
#define LDAPSYNC_LDAP_CONN_H

#include <ldap.h>

#include "conf.h"
#include "state.h"

LDAP   *lc_connect(const struct conf *c, size_t *index, char *err, size_t errlen);
int	lc_full_search(const struct conf *c, LDAP *ld, struct state *st,
		       char *err, size_t errlen);
struct ent *lc_entry(const struct conf *c, LDAP *ld, LDAPMessage *m,
		     const unsigned char *uuid, char *err, size_t errlen);
struct ent *lc_entry_ber(const struct conf *c, BerElement *ber,
			 const struct berval *dn, const unsigned char *uuid,
			 char *err, size_t errlen);
struct ent *lc_entry_decode(const struct conf *c, const struct berval *op,
			    const unsigned char *uuid, char *err, size_t errlen);
int	lc_keep_secret(const struct conf *c, char *err, size_t errlen);
/* Read ahead on ld's connection (for bulk searches; idempotent). */
void	lc_read_ahead(LDAP *ld);
char  **lc_attrs(const struct conf *c);	/* static, NULL-terminated */
char   *lc_filter(const struct conf *c, size_t tenant);	/* malloc'd */

#endif

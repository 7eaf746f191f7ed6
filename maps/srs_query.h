/*
 * srs_query.h - the SRS side of fwdmapd's socketmap maps.
 *
 * NAME
 *	srs_query - answer srs_forward, srs_reverse, and the SRS domain in
 *		    domains and recipients
 *
 * SYNOPSIS
 *	enum map_q srs_query(const struct srs *s, const struct conf *c,
 *			     const char *name, size_t nlen, const char *key,
 *			     size_t klen, time_t now, int *handled,
 *			     const char **val, size_t *vlen);
 *
 * DESCRIPTION
 *	srs_query() answers what SRS decides, and sets *handled to 0 for
 *	everything else (the caller then asks map_query_ext()).  s is NULL
 *	when SRS is off (no srs.domain).
 *
 *	srs_forward  key an envelope sender: "OK SRS0=...@<srs domain>" (or
 *		     SRS1 for another forwarder's SRS address); NOTFOUND for
 *		     the null sender ("" or "<>"), a key without local part
 *		     ("@domain", which Postfix asks after the address), a
 *		     sender in one of the configured domains or in the SRS
 *		     domain, and a sender too long to rewrite.
 *	srs_reverse  key an SRS0/SRS1 address in the SRS domain: "OK
 *		     <original>" when valid (hash, age); else NOTFOUND.
 *	domains	     the SRS domain: "OK srs".
 *	recipients   an address in the SRS domain: "OK srs" when it is a
 *		     valid SRS address, else NOTFOUND, so that Postfix
 *		     refuses a forged, truncated or expired one at RCPT.
 *
 *	When the SRS domain is also a tenant's domain, its ordinary
 *	addresses are left to the tables (*handled 0).  With SRS off,
 *	srs_forward and srs_reverse answer PERM.  Answers live in a static
 *	buffer, valid until the next call.
 */
#ifndef FWDMAP_SRS_QUERY_H
#define FWDMAP_SRS_QUERY_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "conf.h"
#include "query.h"
#include "srs.h"

enum map_q srs_query(const struct srs *s, const struct conf *c,
		     const char *name, size_t nlen, const char *key,
		     size_t klen, time_t now, int *handled,
		     const char **val, size_t *vlen);

/*
 * The SRS object for c->srs with its secrets read (srs_secrets_load, the
 * file owned by root or owner): NULL with err[0] == 0 when SRS is off,
 * NULL with the reason in err when it cannot be had.
 */
struct srs *srs_query_open(const struct conf *c, uid_t owner, char *err,
			   size_t errlen);

/* 1 for "srs_forward", 2 for "srs_reverse", else 0. */
int	srs_query_name(const char *name, size_t nlen);

#endif

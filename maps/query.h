/*
 * query.h - Postfix map semantics over one generation.
 *
 * NAME
 *	map_query - answer one socketmap request the way Postfix needs it
 *
 * DESCRIPTION
 *	map_query() answers a lookup of "key" in the Postfix-facing map
 *	"name" ("domains", "recipients", "virtual", "transport") against
 *	generation g (NULL means no table loaded).  Postfix sends the full
 *	key only, in any case; map_query folds case and tries the exact
 *	address, then the address without its recipient delimiter
 *	extension (delims, e.g. "+").  Semantics:
 *
 *	domains     a configured domain: OK, value the tenant.
 *	recipients  a known address: OK (value the tenant); in a domain with
 *		    policy "route": OK for any address; otherwise NOTFOUND.
 *	virtual     the expansion; a bare domain key or an address without
 *		    expansion: NOTFOUND.
 *	transport   the address's transport, else its domain's default route;
 *		    "*" and unknown: NOTFOUND.
 *
 *	map_query_ext() is map_query() with propagate: when a "virtual"
 *	answer was found for the address without its extension, the
 *	extension (delimiter included, in the case the sender used: only
 *	the lookup is case-insensitive) is inserted before the '@' of every
 *	address of the answer, as Postfix's own tables do with
 *	propagate_unmatched_extensions = virtual (its default): Postfix
 *	cannot do it for a socketmap table, which sees the full address and
 *	answers it "exactly".  Such an answer is built in a static buffer,
 *	valid until the next call; one that would not fit in MAP_Q_REPLY_MAX
 *	bytes (Postfix's socketmap_max_reply_size) is answered without the
 *	extension.
 *
 *	A key longer than any stored key (MAP_KEY_MAX) cannot be an address
 *	in the tables: only its domain's policy and default route apply.
 *
 *	Result codes: MAP_Q_OK (value in *val and *vlen, pointing into the mapped
 *	file or a static string), MAP_Q_NOTFOUND, MAP_Q_TEMP (no table, or
 *	lookup error; reason in *val), MAP_Q_PERM (unknown map name or a key
 *	that cannot be an address/domain; reason in *val).
 */
#ifndef FWDMAP_QUERY_H
#define FWDMAP_QUERY_H

#include <stddef.h>
#include "map.h"

enum map_q { MAP_Q_OK, MAP_Q_NOTFOUND, MAP_Q_TEMP, MAP_Q_PERM };

enum map_q map_query(struct map_gen *g, const char *name, size_t nlen,
		     const char *key, size_t klen, const char *delims,
		     const char **val, size_t *vlen);

#define MAP_Q_REPLY_MAX	100000

enum map_q map_query_ext(struct map_gen *g, const char *name, size_t nlen,
			 const char *key, size_t klen, const char *delims,
			 int propagate, const char **val, size_t *vlen);

/*
 * A hint before answering a batch: start fetching from memory what
 * map_query() of this request will read first (map_gen_prefetch()),
 * noting in pf[] (room for MAP_Q_PF_MAX) what a second step
 * (map_pf_record()) can fetch next; returns how many it noted.  Changes
 * nothing and reads no file; g may be NULL.
 */
#define MAP_Q_PF_MAX	2
int	map_query_prefetch(const struct map_gen *g, const char *name,
			   size_t nlen, const char *key, size_t klen,
			   const char *delims, struct map_pf *pf);

/* Index of a map name ("domains"=0 .. "transport"=3), -1 if unknown. */
int	map_query_name(const char *name, size_t nlen);

#define MAP_Q_NAMES	4

#endif

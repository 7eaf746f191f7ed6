/*
 * compile.h - directory entries to routing records, with validation.
 *
 * RULES (see ldapsync(8), "ROUTING RULES" and "CONFLICTS")
 *	comp_validate() checks one entry on its own: it belongs to the
 *	tenant with the deepest base its DN lies within (dn_within(), RDN
 *	by RDN); exactly one valid "mail" in a domain of that tenant; a
 *	known location (a store,
 *	"external" with a valid, allowed host, or "none" with forwards;
 *	absent: the tenant's default_location); at most max_forwards
 *	forwards, together with the mail address at most
 *	COMP_MAX_EXPANSION bytes.  A bad alias (syntax, foreign domain)
 *	rejects only that claim; a bad forward value only that forward.
 *
 *	comp_addr() compiles the records of one address from all claims
 *	on it.  The winner: a primary claim beats an alias claim; among
 *	equals the smallest entryUUID wins (stable across syncs and
 *	renames).  An entry that loses its primary address loses all its
 *	addresses.  Losers get a conflict line in the report and an X
 *	record.  Forwards into our own domains are kept only when they
 *	name a known recipient (or a domain with unknown_recipients
 *	"route"); forwards to the entry's own addresses are dropped.
 *	Forwarding loops through our own domains are reported.  A forward
 *	target is published with its local part as written in the
 *	directory (Postfix keeps the case of a table's result; a remote
 *	site may not fold it), its domain folded; duplicates, loops and
 *	the own-address test compare case-insensitively.
 */
#ifndef LDAPSYNC_COMPILE_H
#define LDAPSYNC_COMPILE_H

#include "conf.h"
#include "map.h"
#include "report.h"
#include "state.h"

/*
 * The longest expansion (V record) published: fwdmapd answers "OK " and
 * the value, and Postfix's socketmap_max_reply_size defaults to 100000.
 * comp_validate() rejects an entry whose mail and valid forwards with
 * their commas are longer.
 */
#define COMP_MAX_EXPANSION	99997
#define COMP_MAX_EXPANSION_STR	"99997"

/* Record values of one address, indexed by the position in MAP_TAGS. */
struct recs {
    char   *v[sizeof(MAP_TAGS) - 1];
};

#define REC_IDX(tag)	((int) (strchr(MAP_TAGS, (tag)) - MAP_TAGS))

int	comp_validate(const struct conf *c, struct ent *e);
int	comp_addr(const struct conf *c, struct state *st, const char *addr,
		  struct recs *out, struct report *rep);
void	recs_free(struct recs *r);
/* The D record value of configured domain i. */
char   *comp_domain_value(const struct conf *c, size_t i);

#endif

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
 *
 * GROUPS
 *	An entry with a group object class (groupOfNames, groupOfUniqueNames,
 *	groupOfURLs) and fwdMailRecipient is a distribution list: no mailbox
 *	(fwdMailboxLocation absent or "none"), members by DN (member,
 *	uniqueMember, evaluated memberURLs) and external members
 *	(fwdForwardAddress).  comp_addr() answers for a group address: V the
 *	final member addresses (people by their primary address, nested
 *	groups flattened, every address once; cycles broken and listed in
 *	P; unknown, rejected or undeliverable members skipped and listed in
 *	P), split into internal sub-lists over MAP_SUBLIST_BYTES; R only
 *	when at least one member delivers; G the sender policy; S (extra
 *	records, with the primary) the senders it lets send; P the group's
 *	provenance (map.h).
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

/* A record under a key of its own that belongs to one address: a
 * group's S records and the V records of its internal sub-lists (map.h),
 * compiled with the group's primary address. */
struct rec_extra {
    int	    tag;
    int	    owned;		/* key and val are malloc'd (else in ->blk
				 * and constant: a big list's S records) */
    char   *key;
    char   *val;
    uint32_t klen, vlen;
};

/* Record values of one address, indexed by the position in MAP_TAGS,
 * and the extra records that go with it. */
struct recs {
    char   *v[sizeof(MAP_TAGS) - 1];
    struct rec_extra *x;
    size_t  nx, cx;
    struct recs_blk *blk;	/* keys of the records not owned */
};

#define REC_IDX(tag)	((int) (strchr(MAP_TAGS, (tag)) - MAP_TAGS))

int	comp_validate(const struct conf *c, struct ent *e);
/* The tenant whose base is the deepest one dn lies within, -1 none. */
int	comp_tenant(const struct conf *c, const char *dn);
int	comp_addr(const struct conf *c, struct state *st, const char *addr,
		  struct recs *out, struct report *rep);
void	recs_free(struct recs *r);
/* Internal sub-list names (map.h): the secret they are keyed with, and
 * the 16 hex digits that name a group's sub-lists. */
void	comp_set_sublist_key(const unsigned char *key, size_t len);
void	comp_sublist_stem(const char *primary, char out[17]);
/* Groups of n direct members or more, met nested, are expanded once and
 * kept across compile passes (0: never; tests set 1 to keep every one). */
void	comp_set_gflat_min(size_t n);
/* Is addr the primary address of a group whose expansion is kept (a
 * delta compiles those first)? */
int	comp_addr_kept_group(struct state *st, const char *addr);
/* The D record value of configured domain i. */
char   *comp_domain_value(const struct conf *c, size_t i);

#endif

/*
 * explain.h - fwdmap explain: what the published tables do with an address.
 *
 * NAME
 *	explain - follow an address through the tables the way Postfix does
 *
 * SYNOPSIS
 *	#include "explain.h"
 *
 *	int	explain_one(struct map_gen *g, const char *addr,
 *			    const struct explain_opts *o);
 *
 * DESCRIPTION
 *	explain_one() prints, for one address, the verdict at RCPT, the
 *	owner (provenance), the group it is (policy, member count, direct
 *	members, skipped members and why, cycles broken), and every final
 *	destination with its transport.  Destinations are found as Postfix's
 *	virtual alias expansion finds them: every address of an expansion
 *	is looked up again, an address that expands to itself is final,
 *	an address met before is not followed twice, at most
 *	EXPLAIN_MAX_DEPTH levels (Postfix's virtual_alias_recursion_limit).
 *	With o->member, the path from the address to that member (through
 *	nested groups and internal sub-lists); with o->sender, whether that
 *	envelope sender may send to the address (senderpol_check(), as
 *	fwdmapd's policy service answers); with o->dot, a Graphviz digraph
 *	of the expansion instead of the text.  o->json prints JSON.
 *
 *	Returns 0 when the address is accepted, 1 when Postfix would
 *	refuse it (or the sender would be refused, or the member is not
 *	reached), 2 when the tables cannot tell (TEMP).
 */
#ifndef FWDMAP_EXPLAIN_H
#define FWDMAP_EXPLAIN_H

#include <jansson.h>

#include "map.h"
#include "query.h"

#define EXPLAIN_MAX_DEPTH	1000	/* virtual_alias_recursion_limit */
#define EXPLAIN_MAX_NODES	200000	/* addresses followed, at most */
#define EXPLAIN_TEXT_LIST	50	/* destinations listed without -a */
#define EXPLAIN_DOT_NODES	2000	/* addresses drawn, at most */
#define POSTFIX_EXPANSION_LIMIT	1000	/* virtual_alias_expansion_limit default */

/* A lookup as fwdmapd answers it (NULL: map_query_ext). */
typedef enum map_q (*explain_query_fn) (struct map_gen *g, const char *map,
					const char *key, const char **v,
					size_t *vl);

/* A verdict decided elsewhere (SRS addresses): -1 when addr is not its
 * business, else explain's exit status, the verdict written to buf. */
typedef int (*explain_verdict_fn) (const char *addr, char *buf, size_t len);

struct explain_opts {
    const char *delims;
    int     propagate;
    int     json;
    int     all;			/* list every destination */
    int     dot;
    const char *member;			/* -m */
    const char *sender;			/* -s, "" the null sender */
    explain_query_fn query;
    explain_verdict_fn special_verdict;	/* or NULL */
    /* What Postfix does with a destination the tables give no transport
     * (a forward target outside): a parenthesised text; NULL: "DNS MX". */
    const char *(*outside) (void);
};

int	explain_one(struct map_gen *g, const char *addr,
		    const struct explain_opts *o);

/* The generation's metadata as JSON (fwdmap/main.c). */
json_t *meta_json(const struct map_meta *m);

#endif

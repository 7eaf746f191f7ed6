/*
 * publish_int.h - what the parts of the publish module share; not for
 *		   use outside ldapsync/publish*.c.
 *
 * NAME
 *	publish_int - internals of full, delta and compaction publishing
 *
 * SYNOPSIS
 *	#include "publish_int.h"
 *
 *	extern char pub_tomb[1];
 *
 *	void	pub_delta_clear(struct pub *p);
 *	void	pub_delta_free_table(struct htab *h);
 *	int	pub_base_get(struct pub *p, int tag, const char *addr,
 *			     size_t alen, const char **v, size_t *vlen);
 *	int	pub_get(struct pub *p, int tag, const char *addr, size_t alen,
 *			const char **v, size_t *vlen);
 *	int	pub_guard(const struct pub *p, unsigned long routes,
 *			  unsigned long old_routes, unsigned long removed,
 *			  char *err, size_t errlen);
 *	int	pub_write_delta(struct pub *p, char *err, size_t errlen);
 *	int	pub_start_compaction(struct pub *p, struct state *st);
 *
 * DESCRIPTION
 *	The in-memory delta maps "T:addr" to its value (owned by the table)
 *	or to pub_tomb, the deletion marker.  pub_delta_clear() empties
 *	p->delta; pub_delta_free_table() frees such a table.
 *
 *	pub_base_get() looks tag:addr up in the base ldapsync wrote or
 *	adopted (p->base); pub_get() in the published view (the delta
 *	first, then the base).  Both return 1 found (value in *v, *vlen,
 *	not terminated), 0 not found.
 *
 *	pub_guard() is the safety guard of every publish, full or delta:
 *	-2 with the message in err when the result would have no routes at
 *	all, or would remove more than min(safety.max_removed,
 *	safety.max_removed_percent of old_routes) routes without p->force or
 *	safety.allow_mass_removal; else 0.
 *
 *	pub_write_delta() writes p->delta as MAPS_DIR/fwdmap.delta.cdb with
 *	serial p->serial + 1 over p->base_serial (publish_delta.c).
 *
 *	pub_start_compaction() forks the child that merges base and delta
 *	into a new base (publish_compact.c).
 *
 *	Groups (publish_groups.c): a group's primary address is compiled
 *	with extra records under keys of their own (S records, the V records
 *	of its internal sub-lists; see compile.h).  p->gext maps each group
 *	primary to the keys ("T:key", newline-separated: pub_extras_blob())
 *	of the extras published with it, so that a delta can remove those a
 *	recompiled group no longer has (pub_extras_changes()).  pub_full()
 *	builds it from what it writes, pub_load_extras() from the published
 *	files after a resume.  For a group of many extras (a big list with
 *	the "members" policy has an S record per member address), p->gfp
 *	keeps fingerprints of the keys and values a delta last published with
 *	it (pub_extras_set_fp()), so that pub_extras_changes() looks up in
 *	the tables only those that differ; anything else that sets a
 *	group's extras forgets them.  pub_add_change() adds one key's new value to a
 *	delta's change list unless the published view already has it: 1
 *	added, 0 already right, -1 out of memory.
 *
 * DIAGNOSTICS
 *	pub_write_delta() returns -1 with a message in err;
 *	pub_start_compaction() returns -1 with errno set (fork).
 */
#ifndef LDAPSYNC_PUBLISH_INT_H
#define LDAPSYNC_PUBLISH_INT_H

#include <cdb.h>

#include "compile.h"
#include "publish.h"

/* The per-address tables, and those whose change is a "changed" route. */
#define PUB_RECTAGS	((const char[]) {MAP_T_RECIPIENT, MAP_T_VIRTUAL, \
			  MAP_T_TRANSPORT, MAP_T_PROVENANCE, MAP_T_REJECTED, \
			  MAP_T_GROUP, 0})
#define PUB_VTTAGS	((const char[]) {MAP_T_VIRTUAL, MAP_T_TRANSPORT, 0})
#define PUB_NEXT_BASE	".fwdmap.next.cdb"	/* compaction output */

struct pub_base {
    int	    fd;
    struct cdb cdb;
};

extern char pub_tomb[1];

/* One change of a delta: "T:key" and its new delta value (pub_tomb:
 * deleted; NULL: back to the base's value, dropped from the delta). */
struct dchange {
    char   *key;
    char   *val;
};

struct dchanges {
    struct dchange *ch;
    size_t  n, cap;
};

/* publish_groups.c */
int	pub_add_change(struct pub *p, struct dchanges *d, int tag, const char *key,
		       size_t klen, const char *nv);
char   *pub_extras_blob(const struct recs *r);
int	pub_extras_set(struct pub *p, const char *addr, char *blob);
/* The fingerprints of r's extras (NULL: too few to keep, or no memory),
 * and making them the published ones of addr (taken; NULL: none). */
struct xfp *pub_extras_fp(const struct recs *r);
void	pub_extras_set_fp(struct pub *p, const char *addr, struct xfp *f);
void	pub_extras_clear(struct pub *p);
int	pub_extras_changes(struct pub *p, struct dchanges *d, const char *addr,
			   const struct recs *r, struct xfp **nfp);

void	pub_delta_clear(struct pub *p);
void	pub_delta_free_table(struct htab *h);
int	pub_base_get(struct pub *p, int tag, const char *addr, size_t alen,
		     const char **v, size_t *vlen);
int	pub_get(struct pub *p, int tag, const char *addr, size_t alen,
		const char **v, size_t *vlen);
int	pub_guard(const struct pub *p, unsigned long routes,
		  unsigned long old_routes, unsigned long removed, char *err,
		  size_t errlen);
int	pub_write_delta(struct pub *p, char *err, size_t errlen);
int	pub_start_compaction(struct pub *p, struct state *st);

#endif

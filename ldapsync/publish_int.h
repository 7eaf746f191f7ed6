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
 * DIAGNOSTICS
 *	pub_write_delta() returns -1 with a message in err;
 *	pub_start_compaction() returns -1 with errno set (fork).
 */
#ifndef LDAPSYNC_PUBLISH_INT_H
#define LDAPSYNC_PUBLISH_INT_H

#include <cdb.h>

#include "publish.h"

/* The per-address tables, and those whose change is a "changed" route. */
#define PUB_RECTAGS	((const char[]) {MAP_T_RECIPIENT, MAP_T_VIRTUAL, \
			  MAP_T_TRANSPORT, MAP_T_PROVENANCE, MAP_T_REJECTED, 0})
#define PUB_VTTAGS	((const char[]) {MAP_T_VIRTUAL, MAP_T_TRANSPORT, 0})
#define PUB_NEXT_BASE	".fwdmap.next.cdb"	/* compaction output */

struct pub_base {
    int	    fd;
    struct cdb cdb;
};

extern char pub_tomb[1];

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

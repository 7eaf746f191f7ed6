/*
 * publish.h - compile the state into a generation and publish it
 *	       (base or delta), with the safety guards.
 *
 * DESCRIPTION
 *	pub_full() compiles every address into a new base
 *	(MAPS_DIR/fwdmap.cdb), compares it with the published generation
 *	(changes go to the report), applies the guards and commits it; the
 *	old delta is removed.  pub_delta() recompiles only the dirty
 *	addresses, merges the differences into the in-memory delta over
 *	the current base and rewrites MAPS_DIR/fwdmap.delta.cdb; when the
 *	delta holds more than compact_records records it writes a new base
 *	instead.
 *
 *	Guards: nothing is published when the result has no routes at all;
 *	a generation removing more routes than min(max_removed,
 *	max_removed_percent of the published routes) is refused unless
 *	force or safety.allow_mass_removal.  A refused or failed publish
 *	leaves the published files untouched; pub_delta() then keeps the
 *	dirty set so that the changes are retried with the next batch.
 *
 *	Results: 1 published, 0 nothing to publish (no change) or dry run,
 *	-1 error, -2 refused by a guard (message in err).
 *
 *	The module is four files: publish.c (what the others share, see
 *	publish_int.h), publish_full.c (pub_full), publish_delta.c
 *	(pub_delta) and publish_compact.c (the background compaction).
 */
#ifndef LDAPSYNC_PUBLISH_H
#define LDAPSYNC_PUBLISH_H

#include <stdint.h>
#include <sys/types.h>

#include "conf.h"
#include "htab.h"
#include "map.h"
#include "report.h"
#include "state.h"

struct pub_base;

struct pub {
    const struct conf *conf;
    struct pub_base *base;	/* the base we wrote (or adopted), or NULL */
    uint64_t base_serial;
    uint64_t serial;		/* last serial published */
    unsigned long routes;	/* R records in the published view */
    struct htab delta;		/* "T:addr" -> value (owned), tombstone = &pub_tomb */
    char    source[256];
    int     force;		/* next publish ignores the removal guard */
    int     dry_run;		/* print changes, publish nothing */
    int     keep_base;		/* open the new base for later deltas (daemon) */
    int     skip_unchanged;	/* pub_full: no new base when nothing differs */
    int     bg_compact;		/* compact in a child process (daemon) */
    pid_t   child;		/* running compaction, 0 none */
    uint64_t child_serial;	/* the serial of the base it writes */
    long long child_t0;		/* when it started, CLOCK_MONOTONIC ms */
    struct htab since_fork;	/* delta keys changed since the fork */
    struct htab gext;		/* group primary -> keys of its extra records */
    struct htab gfp;		/* group primary -> fingerprints of the extras
				 * last published with it (big groups) */
};

int	pub_init(struct pub *p, const struct conf *c)
	__attribute__((warn_unused_result));
void	pub_free(struct pub *p);
int	pub_full(struct pub *p, struct state *st, struct report *rep,
		 char *err, size_t errlen);
/* The serial pub_full() will give the base it publishes next (unless
 * something else publishes first): one above the published view's. */
uint64_t pub_full_serial(const struct pub *p);
int	pub_delta(struct pub *p, struct state *st, struct report *rep,
		  char *err, size_t errlen);
size_t	pub_delta_size(const struct pub *p);

/* Open MAPS_DIR/fwdmap.cdb for lookups without verifying every record
 * (it is our own, fsync'd file); pages are touched only when looked up. */
int	pub_open_base(struct pub *p, char *err, size_t errlen);
void	pub_close_base(struct pub *p);
/* Background compaction: 1 a new base was installed, 0 nothing (yet),
 * -1 it failed (message in err; the delta simply keeps growing). */
int	pub_poll_child(struct pub *p, char *err, size_t errlen);
int	pub_compacting(const struct pub *p);
/* After a resume: the extra records (S, group sub-lists) of the published
 * generation, by group, read from the published files. */
int	pub_load_extras(struct pub *p, struct state *st, char *err, size_t errlen);
void	pub_abort_child(struct pub *p);
long long pub_child_ms(const struct pub *p);	/* since the compaction started */
/* Remove (and log) leftovers of ldapsync's own temporary names in
 * maps_dir and state_dir; startup: also those a publish can leave. */
unsigned pub_remove_stale(const struct conf *c, int startup);
/* Restart: read the published delta (over the open base) into p->delta;
 * *routes: the R records it adds minus those it removes.  0, or -1 with a
 * message in err (p->delta then empty). */
int	pub_adopt_delta(struct pub *p, long *routes, char *err, size_t errlen);

#endif

/*
 * gen.h - watch maps_dir for new generations and answer from the current one.
 *
 * NAME
 *	gen - the generation fwdmapd serves, and its replacement
 *
 * SYNOPSIS
 *	#include "gen.h"
 *
 *	void	gen_watch_init(struct gen_watch *w, struct stats *st);
 *	void	gen_watch_reload(struct gen_watch *w, const char *dir,
 *				 uint64_t now, int force);
 *	void	gen_watch_forget(struct gen_watch *w);
 *	size_t	gen_watch_answer(struct gen_watch *w, struct proto_ctx *ctx,
 *				 const char *in, size_t len, struct pbuf *out,
 *				 size_t high, int *status, const char **why);
 *	size_t	gen_watch_policy(struct gen_watch *w, struct policy_ctx *ctx,
 *				 const char *in, size_t len, struct pbuf *out,
 *				 size_t high, int *status, const char **why);
 *	void	gen_watch_free(struct gen_watch *w);
 *
 * DESCRIPTION
 *	A struct gen_watch holds the generation being served (gen, NULL when
 *	there is none: every lookup answers TEMP) and what is known about
 *	the files in maps_dir.  Its fields are read by the server for the
 *	admin socket and its timer; only these functions change them.
 *	st is the daemon's counters (reloads, reload_failures, the per-map
 *	counts of a request that is answered again).
 *
 *	gen_watch_reload() looks at dir (now in ms of the monotonic clock)
 *	unless the generation being served is still current and force is
 *	zero.  A new generation is opened and verified inside the SIGBUS
 *	bracket and switched to when it verifies; a bad one is logged, the
 *	old one kept, and the same files (same device, inode, size and
 *	modification time) are not tried again unless force is set.  A
 *	generation whose serial is lower than the one being served (a
 *	compacted base whose delta is not yet written) is held back as
 *	pending for up to GEN_REGRESS_MS while a newer one is awaited, so
 *	answers never briefly go back in time.
 *
 *	gen_watch_forget() forgets the last bad generation and the "no
 *	generation yet" warning: maps_dir changed.
 *
 *	gen_watch_answer() answers the requests in in[0..len) with
 *	proto_run() from the generation being served (it sets ctx->gen),
 *	with SIGBUS caught.  When a table file shrank under a lookup, the
 *	generation is dropped (logged, counted as a reload failure, next
 *	look at maps_dir due at once) and the same requests are answered
 *	again without it (TEMP), counted once.  It returns what proto_run()
 *	returns.  gen_watch_policy() does the same for policy delegation
 *	requests with policy_run() (a dropped generation: DEFER_IF_PERMIT).
 *
 *	gen_watch_free() closes the generations.
 */
#ifndef FWDMAPD_GEN_H
#define FWDMAPD_GEN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "map.h"
#include "policy.h"
#include "proto.h"
#include "stats.h"

#define GEN_REGRESS_MS	5000	/* wait for a newer generation than an older one */

/* Signature of the published files, to retry a bad one only if it changed. */
struct gen_sig {
    int     valid;
    struct stat base, delta;
    int     has_base, has_delta;
};

struct gen_watch {
    struct map_gen *gen;		/* being served; NULL: answer TEMP */
    uint64_t epoch;			/* changes whenever gen does */
    char   *gen_dir;			/* the maps_dir gen (and pending) came from */
    struct map_gen *pending;		/* verified, but older than gen: waiting */
    uint64_t pending_since;		/* ms */
    time_t  gen_loaded;
    struct gen_sig bad;			/* last generation that failed */
    char    last_error[512];
    int     said_missing;		/* logged "no generation yet" */
    uint64_t next_reload;		/* ms; 0 after a SIGBUS: look at once */
    struct stats *st;
};

void	gen_watch_init(struct gen_watch *w, struct stats *st);
void	gen_watch_reload(struct gen_watch *w, const char *dir, uint64_t now,
			 int force);
void	gen_watch_forget(struct gen_watch *w);
size_t	gen_watch_answer(struct gen_watch *w, struct proto_ctx *ctx,
			 const char *in, size_t len, struct pbuf *out,
			 size_t high, int *status, const char **why);
size_t	gen_watch_policy(struct gen_watch *w, struct policy_ctx *ctx,
			 const char *in, size_t len, struct pbuf *out,
			 size_t high, int *status, const char **why);
void	gen_watch_free(struct gen_watch *w);

#endif

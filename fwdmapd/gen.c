/*
 * gen.c - generation watching for fwdmapd (see gen.h).
 *
 * Everything that reads the mapped tables runs inside bus_guard(): the
 * verification of a new generation (refresh_job) and the answering of
 * requests (answer_job).  The generation is swapped only between two
 * calls of gen_watch_answer(), never inside one, so every request is
 * answered from exactly one generation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "gen.h"
#include "log.h"
#include "policy.h"

static void
gen_sig_take(const char *dir, struct gen_sig *g)
{
    char    path[4096];

    memset(g, 0, sizeof(*g));
    g->valid = 1;
    snprintf(path, sizeof(path), "%s/%s", dir, MAP_BASE_NAME);
    g->has_base = stat(path, &g->base) == 0;
    snprintf(path, sizeof(path), "%s/%s", dir, MAP_DELTA_NAME);
    g->has_delta = stat(path, &g->delta) == 0;
}

static int
gen_sig_same(const struct gen_sig *a, const struct gen_sig *b)
{
    if (!a->valid || !b->valid)
	return (0);
    if (a->has_base != b->has_base || a->has_delta != b->has_delta)
	return (0);
    if (a->has_base && !map_same_file(&a->base, &b->base))
	return (0);
    if (a->has_delta && !map_same_file(&a->delta, &b->delta))
	return (0);
    return (1);
}

/* Serial of what a generation answers from: its delta's, else its base's. */
static uint64_t
gen_serial(const struct map_gen *g)
{
    const struct map_meta *dm = map_gen_delta_meta(g);

    return (dm ? dm->serial : map_gen_meta(g)->serial);
}

struct refresh_job {
    const char *dir;
    struct map_gen *prev, **out;
    struct map_gen *volatile building;	/* half-built, if cut short */
    char   *err;
    size_t  errlen;
    int     ret;
};

static void
refresh_job(void *arg)
{
    struct refresh_job *j = arg;

    j->ret = map_gen_refresh_track(j->dir, j->prev, j->out, &j->building,
				   j->err, j->errlen);
}

struct answer_job {
    const struct proto_ctx *ctx;
    const struct policy_ctx *pctx;	/* policy requests instead */
    const char *data;
    size_t  len;
    struct pbuf *out;
    size_t  high;
    int     status;
    const char *why;
    size_t  used;
};

static void
answer_job(void *arg)
{
    struct answer_job *j = arg;

    j->out->len = 0;
    if (j->pctx)
	j->used = policy_run(j->pctx, j->data, j->len, j->out, j->high,
			     &j->status, &j->why);
    else
	j->used = proto_run(j->ctx, j->data, j->len, j->out, j->high,
			    &j->status, &j->why);
}

void
gen_watch_init(struct gen_watch *w, struct stats *st)
{
    memset(w, 0, sizeof(*w));
    w->st = st;
}

/* A mapped table file shrank under us: stop using the generation. */
static void
gen_watch_lost(struct gen_watch *w)
{
    w->st->reload_failures++;
    snprintf(w->last_error, sizeof(w->last_error), "%s",
	     "a table file was truncated or overwritten in place while in use");
    log_error("SIGBUS reading the tables in %s: %s (publish by rename, never"
	      " copy over a live file); answering TEMP until a good generation"
	      " is published", w->gen_dir ? w->gen_dir : "maps_dir",
	      w->last_error);
    if (w->pending) {
	map_gen_close(w->pending);
	w->pending = NULL;
    }
    if (w->gen) {
	map_gen_close(w->gen);
	w->gen = NULL;
	w->epoch++;
    }
    memset(&w->bad, 0, sizeof(w->bad));
    w->next_reload = 0;			/* look again at once */
}

/* Look for a new generation; switch to it when it verifies and is not
 * older than the one being served. */
void
gen_watch_reload(struct gen_watch *w, const char *dir, uint64_t now,
		 int force)
{
    struct map_gen *ng = NULL, *ref;
    struct gen_sig sig;
    int     same_dir;
    char   *ndir;
    struct refresh_job rj;
    const struct map_meta *m, *dm;
    char    err[512];

    same_dir = w->gen_dir != NULL && strcmp(w->gen_dir, dir) == 0;
    if (!same_dir && w->pending) {	/* maps_dir changed (SIGHUP) */
	map_gen_close(w->pending);
	w->pending = NULL;
    }
    ref = w->pending ? w->pending : w->gen;
    if (ref && same_dir && !force && !map_gen_stale(ref)
	&& (w->pending == NULL || now < w->pending_since + GEN_REGRESS_MS))
	return;
    gen_sig_take(dir, &sig);
    if (!force && gen_sig_same(&sig, &w->bad))
	return;					/* known bad, unchanged */
    if (!sig.has_base && !w->gen) {
	if (!w->said_missing)
	    log_warn("no generation in %s yet (%s missing): answering TEMP"
		     " until one is published", dir, MAP_BASE_NAME);
	w->said_missing = 1;
	w->bad = sig;
	snprintf(w->last_error, sizeof(w->last_error),
		 "no generation in %s", dir);
	return;
    }
    err[0] = 0;
    rj.dir = dir;
    rj.prev = same_dir ? ref : NULL;
    rj.out = &ng;
    rj.err = err;
    rj.errlen = sizeof(err);
    rj.building = NULL;
    if (bus_guard(refresh_job, &rj) < 0) {
	/* A file shrank while being verified: close what was built so
	 * far (its files, mappings and its reference on a shared base).
	 * The generation being served is not touched here; if its own
	 * files shrank, its next lookup finds out. */
	map_gen_close(rj.building);
	w->st->reload_failures++;
	w->bad = sig;
	snprintf(w->last_error, sizeof(w->last_error), "%s",
		 "a table file shrank while being read (SIGBUS)");
	log_warn("new generation in %s rejected: %s", dir, w->last_error);
	return;
    }
    if (rj.ret < 0) {
	w->st->reload_failures++;
	w->bad = sig;
	snprintf(w->last_error, sizeof(w->last_error), "%s",
		 err[0] ? err : "cannot open generation");
	if (w->gen)
	    log_warn("new generation in %s rejected: %s; still serving"
		     " serial %llu", dir, w->last_error,
		     (unsigned long long) map_gen_meta(w->gen)->serial);
	else
	    log_warn("cannot load a generation from %s: %s; answering TEMP",
		     dir, w->last_error);
	return;
    }
    /*
     * Never go back in time on a glimpse: ldapsync's compaction renames
     * the new base into place and then writes the delta of what changed
     * meanwhile.  Between the two, the new base alone is older than the
     * base and delta being served.  Keep serving those until the new
     * delta is there; switch anyway after GEN_REGRESS_MS (tables
     * restored from a backup, or republished from scratch).
     */
    if (w->gen && same_dir && gen_serial(ng) < gen_serial(w->gen)) {
	if (w->pending == NULL) {
	    w->pending_since = now;
	    log_info("generation serial %llu in %s is older than serial %llu"
		     " being served: waiting up to %d ms for a newer one",
		     (unsigned long long) gen_serial(ng), dir,
		     (unsigned long long) gen_serial(w->gen), GEN_REGRESS_MS);
	}
	if (now < w->pending_since + GEN_REGRESS_MS) {
	    if (w->pending)
		map_gen_close(w->pending);
	    w->pending = ng;
	    return;
	}
	log_warn("serial in %s went back from %llu to %llu and stayed"
		 " (tables restored or republished from scratch?): switching",
		 dir, (unsigned long long) gen_serial(w->gen),
		 (unsigned long long) gen_serial(ng));
    }
    if (w->pending) {
	map_gen_close(w->pending);
	w->pending = NULL;
    }
    m = map_gen_meta(ng);
    dm = map_gen_delta_meta(ng);
    if (dm)
	log_info("loaded generation serial %llu + delta serial %llu from %s"
		 " (domains %lu, recipients %lu, virtual %lu, transport %lu)",
		 (unsigned long long) m->serial,
		 (unsigned long long) dm->serial, dir,
		 m->counts[0], m->counts[1], m->counts[2], m->counts[3]);
    else
	log_info("loaded generation serial %llu from %s (domains %lu,"
		 " recipients %lu, virtual %lu, transport %lu)",
		 (unsigned long long) m->serial, dir,
		 m->counts[0], m->counts[1], m->counts[2], m->counts[3]);
    if ((ndir = strdup(dir)) == NULL) {
	log_error("out of memory switching generations; still serving the old one");
	map_gen_close(ng);
	return;
    }
    free(w->gen_dir);
    w->gen_dir = ndir;
    if (w->gen)
	map_gen_close(w->gen);
    w->gen = ng;
    w->epoch++;
    w->gen_loaded = time(NULL);
    w->st->reloads++;
    w->said_missing = 0;
    w->last_error[0] = 0;
    memset(&w->bad, 0, sizeof(w->bad));
}

void
gen_watch_forget(struct gen_watch *w)
{
    memset(&w->bad, 0, sizeof(w->bad));
    w->said_missing = 0;
}

/* Run j from the generation being served (*genp), with SIGBUS caught. */
static size_t
gen_watch_run(struct gen_watch *w, struct answer_job *j, struct map_gen **genp,
	      int *status, const char **why)
{
    struct stats_map saved[STATS_NMAPS];
    struct metrics_hist saved_lat[STATS_NMAPS];
    struct stats_policy saved_pol = w->st->policy;
    uint64_t saved_perr = w->st->proto_errors;
    int     timing = w->st->timing;

    *genp = w->gen;
    /* The counters on every request (280 bytes); the histograms (1 KB)
     * only when they are kept. */
    memcpy(saved, w->st->map, sizeof(saved));
    if (timing)
	memcpy(saved_lat, w->st->lat, sizeof(saved_lat));
    if (bus_guard(answer_job, j) < 0) {
	/* SIGBUS in a lookup: answer these requests again without the
	 * generation (TEMP), from the same input, counting them once. */
	memcpy(w->st->map, saved, sizeof(saved));
	if (timing)
	    memcpy(w->st->lat, saved_lat, sizeof(saved_lat));
	w->st->proto_errors = saved_perr;
	w->st->policy = saved_pol;
	gen_watch_lost(w);
	*genp = NULL;
	answer_job(j);
    }
    *status = j->status;
    *why = j->why;
    return (j->used);
}

size_t
gen_watch_answer(struct gen_watch *w, struct proto_ctx *ctx, const char *in,
		 size_t len, struct pbuf *out, size_t high, int *status,
		 const char **why)
{
    struct answer_job j = {ctx, NULL, in, len, out, high, 0, NULL, 0};

    return (gen_watch_run(w, &j, &ctx->gen, status, why));
}

size_t
gen_watch_policy(struct gen_watch *w, struct policy_ctx *ctx, const char *in,
		 size_t len, struct pbuf *out, size_t high, int *status,
		 const char **why)
{
    struct answer_job j = {NULL, ctx, in, len, out, high, 0, NULL, 0};

    return (gen_watch_run(w, &j, &ctx->gen, status, why));
}

void
gen_watch_free(struct gen_watch *w)
{
    if (w->gen)
	map_gen_close(w->gen);
    if (w->pending)
	map_gen_close(w->pending);
    free(w->gen_dir);
    memset(w, 0, sizeof(*w));
}

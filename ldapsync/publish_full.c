/*
 * publish_full.c - a new base from the whole state (see publish.h).
 *
 * pub_full() reads the published view (base and matching delta) once,
 * sequentially, to find what is added, changed and removed, writes every
 * record of the state into a new base and commits it unless a guard
 * refuses; the old delta goes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compile.h"
#include "log.h"
#include "mono.h"
#include "publish.h"
#include "publish_int.h"

/*
 * The published view, read sequentially with a bounded buffer (not
 * mmap'd, so that a big old generation does not count against our
 * memory): for every address the new state knows, remember whether it
 * had an R record and an order-independent hash of its V and T values;
 * R records of addresses the state no longer knows are removals.
 */
struct scanctx {
    struct state *st;
    struct report *rep;
    struct htab *skip;		/* keys already taken from the delta */
    unsigned long old_routes, removed;
    int	    dry;
    uint64_t allhash;		/* order-independent hash of every record */
    unsigned long nrec;
    int     want_hash;		/* compute allhash (skip_unchanged) */
    int     is_delta;		/* the file being read is the delta */
};

/* Hash of one whole record, combined by XOR (order does not matter). */
static uint64_t
whole_hash(int tag, const char *k, size_t klen, const char *v, size_t vlen)
{
    return ((htab_hash(k, klen) + (uint64_t) tag * 0x9e3779b97f4a7c15ULL)
	^ (htab_hash(v, vlen) * 0xff51afd7ed558ccdULL));
}

static uint32_t
rec_hash(int tag, const char *v, size_t vlen)
{
    uint64_t h = htab_hash(v, vlen);

    return ((uint32_t) (h ^ (h >> 32)) * (tag == MAP_T_VIRTUAL ? 2654435761U : 40503U) + (uint32_t) tag);
}

static void
scan_rec(struct scanctx *x, const char *k, size_t klen, const char *v, size_t vlen)
{
    struct anode *a;
    int     tag;

    if (klen < 3 || k[1] != ':')
	return;
    if (vlen == MAP_TOMBSTONE_LEN && v[0] == 0)
	return;
    if (x->want_hash)
	x->allhash ^= whole_hash(k[0], k + 2, klen - 2, v, vlen);
    x->nrec++;
    if (k[0] != MAP_T_RECIPIENT && k[0] != MAP_T_VIRTUAL
	&& k[0] != MAP_T_TRANSPORT)
	return;
    tag = k[0];
    a = state_addr(x->st, k + 2, klen - 2);
    if (tag == MAP_T_RECIPIENT)
	x->old_routes++;
    if (a == NULL) {
	if (tag == MAP_T_RECIPIENT) {
	    char    buf[MAP_KEY_MAX + 1];
	    size_t  n = klen - 2 < MAP_KEY_MAX ? klen - 2 : MAP_KEY_MAX;

	    memcpy(buf, k + 2, n);
	    buf[n] = 0;
	    x->removed++;
	    report_change(x->rep, REP_REMOVED, buf);
	    if (x->dry)
		printf("- %s\n", buf);
	}
	return;
    }
    if (tag == MAP_T_RECIPIENT)
	a->old_r = 1;
    else
	a->old_vt ^= rec_hash(tag, v, vlen);
}

/* One record of the published view: the delta's first (noted in skip),
 * then the base's that the delta does not override. */
static int
scan_each(void *ctx, const char *k, size_t klen, const char *v, size_t vlen)
{
    struct scanctx *x = ctx;

    if (x->is_delta) {
	char   *kd = strndup(k, klen);

	if (kd == NULL || htab_put(x->skip, kd, klen, x) < 0) {
	    free(kd);
	    return (-1);
	}
    } else if (x->skip->n && htab_get(x->skip, k, klen))
	return (0);
    scan_rec(x, k, klen, v, vlen);
    return (0);
}

/*
 * The published view: 0 none (valid), 1 a base, 2 a base and its delta
 * (bpath and dpath, 4096 bytes each, are set).  *serial is raised to the
 * view's serial.
 */
static int
published_view(const struct conf *c, char *bpath, char *dpath,
	       uint64_t *serial)
{
    struct map_meta bm, dm;

    snprintf(bpath, 4096, "%s/%s", c->maps_dir, MAP_BASE_NAME);
    snprintf(dpath, 4096, "%s/%s", c->maps_dir, MAP_DELTA_NAME);
    if (map_read_meta(bpath, &bm, NULL, 0) < 0 || bm.is_delta)
	return (0);		/* nothing (valid) published yet */
    if (bm.serial > *serial)
	*serial = bm.serial;
    if (map_read_meta(dpath, &dm, NULL, 0) < 0 || !dm.is_delta
	|| dm.base_serial != bm.serial)
	return (1);
    if (dm.serial > *serial)
	*serial = dm.serial;
    return (2);
}

uint64_t
pub_full_serial(const struct pub *p)
{
    char    bpath[4096], dpath[4096];
    uint64_t serial = p->serial;

    (void) published_view(p->conf, bpath, dpath, &serial);
    return (serial + 1);
}

/* Scan base + matching delta; returns 1 if there was a published view. */
static int
scan_published(const struct conf *c, struct scanctx *x, uint64_t *serial,
	       char *err, size_t errlen)
{
    char    bpath[4096], dpath[4096];
    struct htab skip;
    int     ret = 0, view = published_view(c, bpath, dpath, serial);

    if (view == 0)
	return (0);
    if (htab_init(&skip, 1024) < 0) {
	snprintf(err, errlen, "out of memory");
	return (-1);
    }
    x->skip = &skip;
    if (view == 2) {
	x->is_delta = 1;
	if (map_scan(dpath, scan_each, x, err, errlen) < 0 && errno != ENOENT)
	    ret = -1;
	x->is_delta = 0;
    }
    if (ret == 0 && map_scan(bpath, scan_each, x, err, errlen) < 0
	&& errno != ENOENT)
	ret = -1;
    htab_free_keys(&skip);
    return (ret < 0 ? -1 : 1);
}

static int
put_recs(struct map_writer *mw, const char *addr, struct recs *r,
	 uint64_t *hash, unsigned long *nrec)
{
    const char *t;
    size_t  alen = strlen(addr), i;

    for (i = 0; i < r->nx; i++) {	/* a group's S and sub-list records */
	const struct rec_extra *x = &r->x[i];
	size_t  kl = x->klen, vl = x->vlen;

	if (hash)
	    *hash ^= whole_hash(x->tag, x->key, kl, x->val, vl);
	(*nrec)++;
	if (mw && map_writer_put(mw, x->tag, x->key, kl, x->val, vl) < 0)
	    return (-1);
    }
    for (t = PUB_RECTAGS; *t; t++) {
	const char *v = r->v[REC_IDX(*t)];

	if (v == NULL)
	    continue;
	if (hash)
	    *hash ^= whole_hash(*t, addr, alen, v, strlen(v));
	(*nrec)++;
	if (mw && map_writer_put(mw, *t, addr, alen, v, strlen(v)) < 0)
	    return (-1);
    }
    return (0);
}

/* The group extras just written become the published ones, with the
 * fingerprints of big groups' (fp: address (a key of g) -> struct xfp);
 * *g is left empty (and valid), fp's values are taken. */
static void
install_extras(struct pub *p, struct htab *g, struct htab *fp)
{
    size_t  pos = 0;
    const char *k;
    void   *v;

    pub_extras_clear(p);
    htab_free(&p->gext);
    p->gext = *g;
    memset(g, 0, sizeof(*g));	/* empty; htab_free and htab_put take it */
    while (htab_next(fp, &pos, &k, NULL, &v))
	pub_extras_set_fp(p, k, v);
    htab_free(fp);		/* its keys were gext's */
}

int
pub_full(struct pub *p, struct state *st, struct report *rep,
	 char *err, size_t errlen)
{
    const struct conf *c = p->conf;
    struct map_writer *mw = NULL;
    struct map_meta meta;
    struct scanctx w;
    int     have_old;
    size_t  pos = 0, i;
    void   *v;
    unsigned long routes = 0, added = 0, changed = 0, nrec = 0;
    long long t0;
    uint64_t newhash = 0;
    uint64_t old_serial = p->serial;
    int     ret = -1;
    struct htab gext;		/* the group extras of this generation */
    struct htab gfp;		/* ... and the fingerprints of big groups' */

    /* Not every caller has expanded the dirty set that would tell which
     * kept group expansions still hold: this pass walks them anew. */
    state_gflat_drop(st);
    if (htab_init(&gfp, 16) < 0)
	memset(&gfp, 0, sizeof(gfp));	/* htab_put grows it */
    if (htab_init(&gext, 64) < 0) {
	snprintf(err, errlen, "out of memory");
	return (-1);
    }

    pub_abort_child(p);
    memset(&w, 0, sizeof(w));
    w.want_hash = p->skip_unchanged;
    w.st = st;
    w.rep = rep;
    w.dry = p->dry_run;
    pos = 0;
    while (htab_next(&st->addrs, &pos, NULL, NULL, &v)) {
	struct anode *a = v;

	a->old_r = 0;
	a->old_vt = 0;
    }
    pos = 0;
    t0 = mono_ms();
    if ((have_old = scan_published(c, &w, &old_serial, err, errlen)) < 0)
	goto out;
    if (have_old)
	log_debug("published view read: %lu records in %lld ms", w.nrec, mono_ms() - t0);
    if (!p->dry_run && (mw = map_writer_open(c->maps_dir, MAP_BASE_NAME, err, errlen)) == NULL)
	goto out;
    /* A base of a million people is written while the next records are
     * compiled (the writer's thread); without it, in line. */
    if (mw && map_writer_background(mw) < 0)
	log_debug("writing %s in line: %s", MAP_BASE_NAME, strerror(errno));
    for (i = 0; i < c->ndomains; i++) {
	char   *dv = comp_domain_value(c, i);

	if (dv != NULL) {
	    newhash ^= whole_hash(MAP_T_DOMAIN, c->domains[i].name,
				  strlen(c->domains[i].name), dv, strlen(dv));
	    nrec++;
	}
	if (dv == NULL || (mw && map_writer_put(mw, MAP_T_DOMAIN, c->domains[i].name,
						strlen(c->domains[i].name), dv,
						strlen(dv)) < 0)) {
	    free(dv);
	    snprintf(err, errlen, "writing the base failed");
	    goto out;
	}
	free(dv);
    }
    while (htab_next(&st->addrs, &pos, NULL, NULL, &v)) {
	struct anode *a = v;
	struct recs r;
	const char *nv;

	a->routed = 0;
	if (a->nc == 0) {
	    if (a->old_r) {
		w.removed++;
		report_change(rep, REP_REMOVED, a->addr);
		if (p->dry_run)
		    printf("- %s\n", a->addr);
	    }
	    continue;
	}
	if (comp_addr(c, st, a->addr, &r, rep) < 0) {
	    recs_free(&r);
	    snprintf(err, errlen, "out of memory compiling %s", a->addr);
	    goto out;
	}
	if (r.v[REC_IDX(MAP_T_RECIPIENT)]) {
	    uint32_t vt = 0;
	    const char *t;

	    a->routed = 1;
	    routes++;
	    for (t = PUB_VTTAGS; *t; t++)
		if ((nv = r.v[REC_IDX(*t)]) != NULL)
		    vt ^= rec_hash(*t, nv, strlen(nv));
	    if (!a->old_r) {
		added++;
		report_change(rep, REP_ADDED, a->addr);
		if (p->dry_run)
		    printf("+ %s\n", a->addr);
	    } else if (vt != a->old_vt) {
		changed++;
		report_change(rep, REP_CHANGED, a->addr);
		if (p->dry_run)
		    printf("~ %s\n", a->addr);
	    }
	} else if (a->old_r) {
	    w.removed++;
	    report_change(rep, REP_REMOVED, a->addr);
	    if (p->dry_run)
		printf("- %s\n", a->addr);
	}
	if (put_recs(mw, a->addr, &r, p->skip_unchanged ? &newhash : NULL, &nrec) < 0) {
	    recs_free(&r);
	    snprintf(err, errlen, "writing the base failed: %s", strerror(errno));
	    goto out;
	}
	if (r.nx) {
	    char   *blob = pub_extras_blob(&r), *k = strdup(a->addr);

	    struct xfp *fp = pub_extras_fp(&r);

	    if (blob == NULL || k == NULL || htab_put(&gext, k, strlen(k), blob) < 0) {
		free(blob);
		free(k);
		free(fp);
		recs_free(&r);
		snprintf(err, errlen, "out of memory");
		goto out;
	    }
	    /* Only a shortcut for the next delta: none when short of memory. */
	    if (fp && htab_put(&gfp, k, strlen(k), fp) < 0)
		free(fp);
	}
	recs_free(&r);
    }
    report_set(rep, "entries", (long long) st->nents);
    report_set(rep, "routes", (long long) routes);
    report_set(rep, "previous_routes", (long long) w.old_routes);
    if ((ret = pub_guard(p, routes, w.old_routes, w.removed, err, errlen)) < 0)
	goto out;
    ret = -1;
    if (p->dry_run) {
	ret = 0;
	goto out;
    }
    if (p->skip_unchanged && have_old == 1 && nrec == w.nrec && newhash == w.allhash) {
	report_set(rep, "serial", (long long) old_serial);
	ret = 0;		/* the published generation says the same */
	install_extras(p, &gext, &gfp);
	goto out;
    }
    memset(&meta, 0, sizeof(meta));
    meta.format = MAP_FORMAT;
    meta.is_delta = 0;
    meta.serial = old_serial + 1;
    meta.created = time(NULL);
    snprintf(meta.source, sizeof(meta.source), "%s", p->source);
    if (map_writer_commit(mw, &meta, err, errlen) < 0) {
	mw = NULL;
	goto out;
    }
    mw = NULL;
    {
	char    dpath[4096];

	snprintf(dpath, sizeof(dpath), "%s/%s", c->maps_dir, MAP_DELTA_NAME);
	if (unlink(dpath) < 0 && errno != ENOENT) {
	    snprintf(err, errlen, "remove %s: %s", dpath, strerror(errno));
	    goto out;
	}
    }
    p->serial = p->base_serial = meta.serial;
    p->routes = routes;
    p->force = 0;
    pub_delta_clear(p);
    install_extras(p, &gext, &gfp);
    pub_close_base(p);
    if (p->keep_base && pub_open_base(p, err, errlen) < 0)
	goto out;
    report_set(rep, "serial", (long long) meta.serial);
    ret = 1;
out:
    {
	size_t  gp = 0;
	const char *gk;
	void   *gv;

	while (htab_next(&gext, &gp, &gk, NULL, &gv)) {
	    free((char *) (uintptr_t) gk);
	    free(gv);
	}
	htab_free(&gext);
	gp = 0;
	while (htab_next(&gfp, &gp, NULL, NULL, &gv))
	    free(gv);
	htab_free(&gfp);
    }
    (void) added;
    (void) changed;
    if (mw)
	map_writer_abort(mw);
    (void) have_old;
    return (ret);
}

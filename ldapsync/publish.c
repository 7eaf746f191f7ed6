/*
 * publish.c - base and delta generations with safety guards
 *	       (see publish.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compile.h"
#include "publish.h"

static char pub_tomb[1];

#define RECTAGS	"RVTPX"		/* per-address tables */

int
pub_init(struct pub *p, const struct conf *c)
{
    memset(p, 0, sizeof(*p));
    p->conf = c;
    snprintf(p->source, sizeof(p->source), "ldapsync %s",
	     c->ldap.nuris ? c->ldap.uris[0] : "");
    return htab_init(&p->delta, 1024);
}

static void
delta_clear(struct pub *p)
{
    size_t  pos = 0;
    const char *k;
    void   *v;

    while (htab_next(&p->delta, &pos, &k, NULL, &v)) {
	free((char *) (uintptr_t) k);
	if (v != pub_tomb)
	    free(v);
    }
    htab_free(&p->delta);
    htab_init(&p->delta, 1024);
}

void
pub_free(struct pub *p)
{
    delta_clear(p);
    htab_free(&p->delta);
    map_gen_close(p->base);
    p->base = NULL;
}

size_t
pub_delta_size(const struct pub *p)
{
    return p->delta.n;
}

static unsigned long
limit_of(const struct conf *c, unsigned long total)
{
    double  pct = c->safety.max_removed_percent * (double) total / 100.0;
    unsigned long lim = (unsigned long) c->safety.max_removed;

    if ((unsigned long) pct < lim)
	lim = (unsigned long) pct;
    return lim;
}

/* Published value of one key: delta first, then the base. */
static int
pub_get(struct pub *p, int tag, const char *addr, size_t alen,
	const char **v, size_t *vlen)
{
    char    k[MAP_KEY_MAX + 2];
    void   *d;

    if (alen + 2 > MAP_KEY_MAX)
	return 0;
    k[0] = (char) tag;
    k[1] = ':';
    memcpy(k + 2, addr, alen);
    if ((d = htab_get(&p->delta, k, alen + 2)) != NULL) {
	if (d == pub_tomb)
	    return 0;
	*v = d;
	*vlen = strlen(d);
	return 1;
    }
    if (p->base == NULL)
	return 0;
    return map_gen_get(p->base, tag, addr, alen, v, vlen) == 1;
}

static int
same(const char *a, size_t alen, const char *b)
{
    return b && strlen(b) == alen && memcmp(a, b, alen) == 0;
}

/* ---- full generation ---- */

struct walkctx {
    struct state *st;
    struct report *rep;
    unsigned long old_routes, removed;
    int     dry;
};

static int
walk_old(int tag, const char *key, size_t klen, const char *val, size_t vlen,
	 void *vctx)
{
    struct walkctx *w = vctx;
    struct anode *a;
    char    buf[MAP_KEY_MAX + 1];

    (void) val;
    (void) vlen;
    if (tag != MAP_T_RECIPIENT || klen >= sizeof(buf))
	return 0;
    w->old_routes++;
    a = state_addr(w->st, key, klen);
    if (a == NULL || !a->routed) {
	w->removed++;
	memcpy(buf, key, klen);
	buf[klen] = 0;
	report_change(w->rep, REP_REMOVED, buf);
	if (w->dry)
	    printf("- %s\n", buf);
    }
    return 0;
}

static int
put_recs(struct map_writer *mw, const char *addr, struct recs *r)
{
    const char *t;
    size_t  alen = strlen(addr);

    for (t = RECTAGS; *t; t++) {
	const char *v = r->v[REC_IDX(*t)];

	if (v && map_writer_put(mw, *t, addr, alen, v, strlen(v)) < 0)
	    return -1;
    }
    return 0;
}

int
pub_full(struct pub *p, struct state *st, struct report *rep,
	 char *err, size_t errlen)
{
    const struct conf *c = p->conf;
    struct map_gen *old = NULL;
    struct map_writer *mw = NULL;
    struct map_meta meta;
    struct walkctx w;
    size_t  pos = 0, i;
    void   *v;
    unsigned long routes = 0, added = 0, changed = 0, lim;
    uint64_t old_serial = p->serial;
    char    e2[512];
    int     ret = -1;

    memset(&w, 0, sizeof(w));
    if (map_gen_open(c->maps_dir, &old, e2, sizeof(e2)) == 0) {
	const struct map_meta *m = map_gen_meta(old);
	const struct map_meta *dm = map_gen_delta_meta(old);

	if (m->serial > old_serial)
	    old_serial = m->serial;
	if (dm && dm->serial > old_serial)
	    old_serial = dm->serial;
    } else
	old = NULL;
    if (!p->dry_run && (mw = map_writer_open(c->maps_dir, MAP_BASE_NAME, err, errlen)) == NULL)
	goto out;
    for (i = 0; i < c->ndomains; i++) {
	char   *dv = comp_domain_value(c, i);

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
	const char *ov, *nv;
	size_t  ol, alen = strlen(a->addr);

	a->routed = 0;
	if (a->nc == 0)
	    continue;
	if (comp_addr(c, st, a->addr, &r, rep) < 0) {
	    recs_free(&r);
	    snprintf(err, errlen, "out of memory compiling %s", a->addr);
	    goto out;
	}
	if (r.v[REC_IDX('R')]) {
	    a->routed = 1;
	    routes++;
	    if (old) {
		if (map_gen_get(old, MAP_T_RECIPIENT, a->addr, alen, &ov, &ol) != 1) {
		    added++;
		    report_change(rep, REP_ADDED, a->addr);
		    if (p->dry_run)
			printf("+ %s\n", a->addr);
		} else {
		    int     diff = 0;
		    const char *t;

		    for (t = "VT"; *t && !diff; t++) {
			int     f = map_gen_get(old, *t, a->addr, alen, &ov, &ol) == 1;

			nv = r.v[REC_IDX(*t)];
			diff = f ? !same(ov, ol, nv) : nv != NULL;
		    }
		    if (diff) {
			changed++;
			report_change(rep, REP_CHANGED, a->addr);
			if (p->dry_run)
			    printf("~ %s\n", a->addr);
		    }
		}
	    } else {
		report_change(rep, REP_ADDED, a->addr);
		if (p->dry_run)
		    printf("+ %s\n", a->addr);
	    }
	}
	if (mw && put_recs(mw, a->addr, &r) < 0) {
	    recs_free(&r);
	    snprintf(err, errlen, "writing the base failed: %s", strerror(errno));
	    goto out;
	}
	recs_free(&r);
    }
    if (old) {
	w.st = st;
	w.rep = rep;
	w.dry = p->dry_run;
	if (map_gen_walk(old, walk_old, &w) < 0) {
	    snprintf(err, errlen, "reading the published generation failed");
	    goto out;
	}
    }
    report_set(rep, "entries", (long long) st->nents);
    report_set(rep, "routes", (long long) routes);
    report_set(rep, "previous_routes", (long long) w.old_routes);
    if (routes == 0) {
	snprintf(err, errlen, "refusing to publish: the directory yields no routes at all");
	ret = -2;
	goto out;
    }
    lim = limit_of(c, w.old_routes);
    if (w.removed > lim && !p->force && !c->safety.allow_mass_removal) {
	snprintf(err, errlen, "refusing to publish: %lu of %lu routes would be removed"
		 " (limit %lu: safety.max_removed %ld, max_removed_percent %g);"
		 " use --force if this is intended",
		 w.removed, w.old_routes, lim, c->safety.max_removed,
		 c->safety.max_removed_percent);
	ret = -2;
	goto out;
    }
    if (p->dry_run) {
	ret = 0;
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
    delta_clear(p);
    map_gen_close(p->base);
    p->base = NULL;
    if (map_gen_open(c->maps_dir, &p->base, err, errlen) < 0)
	goto out;
    report_set(rep, "serial", (long long) meta.serial);
    ret = 1;
out:
    (void) added;
    (void) changed;
    if (mw)
	map_writer_abort(mw);
    map_gen_close(old);
    return ret;
}

/* ---- delta ---- */

struct dchange {
    char   *key;		/* "T:addr" */
    char   *val;		/* new delta value, pub_tomb, or NULL = drop from delta */
};

static int
write_delta(struct pub *p, char *err, size_t errlen)
{
    struct map_writer *mw;
    struct map_meta meta;
    size_t  pos = 0;
    const char *k;
    size_t  klen;
    void   *v;

    if ((mw = map_writer_open(p->conf->maps_dir, MAP_DELTA_NAME, err, errlen)) == NULL)
	return -1;
    while (htab_next(&p->delta, &pos, &k, &klen, &v)) {
	int     r = (v == pub_tomb)
	    ? map_writer_del(mw, k[0], k + 2, klen - 2)
	    : map_writer_put(mw, k[0], k + 2, klen - 2, v, strlen(v));

	if (r < 0) {
	    snprintf(err, errlen, "writing the delta failed: %s", strerror(errno));
	    map_writer_abort(mw);
	    return -1;
	}
    }
    memset(&meta, 0, sizeof(meta));
    meta.format = MAP_FORMAT;
    meta.is_delta = 1;
    meta.serial = p->serial + 1;
    meta.base_serial = p->base_serial;
    meta.created = time(NULL);
    snprintf(meta.source, sizeof(meta.source), "%s", p->source);
    if (map_writer_commit(mw, &meta, err, errlen) < 0)
	return -1;
    p->serial = meta.serial;
    return 0;
}

int
pub_delta(struct pub *p, struct state *st, struct report *rep,
	  char *err, size_t errlen)
{
    const struct conf *c = p->conf;
    struct dchange *ch = NULL;
    size_t  nch = 0, cch = 0, pos = 0, i;
    const char *addr;
    size_t  alen;
    unsigned long removed = 0, added = 0, lim;
    int     ret = -1;

    if (p->base == NULL) {
	snprintf(err, errlen, "no base generation to apply a delta to");
	return -1;
    }
    if (state_dirty_expand(st) < 0) {
	snprintf(err, errlen, "out of memory");
	return -1;
    }
    while (htab_next(&st->dirty, &pos, &addr, &alen, NULL)) {
	struct recs r;
	const char *t;
	int     had_r, has_r, diff = 0;
	const char *ov;
	size_t  ol;

	if (comp_addr(c, st, addr, &r, rep) < 0) {
	    recs_free(&r);
	    snprintf(err, errlen, "out of memory compiling %s", addr);
	    goto out;
	}
	had_r = pub_get(p, 'R', addr, alen, &ov, &ol);
	has_r = r.v[REC_IDX('R')] != NULL;
	for (t = RECTAGS; *t; t++) {
	    const char *nv = r.v[REC_IDX(*t)];
	    int     pf = pub_get(p, *t, addr, alen, &ov, &ol);
	    const char *bv = NULL;
	    size_t  bl = 0;
	    int     bf;
	    char   *dv;

	    if (pf ? same(ov, ol, nv) : nv == NULL)
		continue;	/* published view already right */
	    if (*t == 'V' || *t == 'T')
		diff = 1;
	    bf = map_gen_get(p->base, *t, addr, alen, &bv, &bl) == 1;
	    if (bf ? same(bv, bl, nv) : nv == NULL)
		dv = NULL;	/* back to the base's value */
	    else if (nv == NULL)
		dv = pub_tomb;
	    else if ((dv = strdup(nv)) == NULL)
		goto oom;
	    if (nch == cch) {
		size_t  n = cch ? cch * 2 : 64;
		struct dchange *x = realloc(ch, n * sizeof(*x));

		if (x == NULL)
		    goto oom;
		ch = x;
		cch = n;
	    }
	    if (asprintf(&ch[nch].key, "%c:%s", *t, addr) < 0)
		goto oom;
	    ch[nch++].val = dv;
	    continue;
    oom:
	    recs_free(&r);
	    snprintf(err, errlen, "out of memory");
	    goto out;
	}
	recs_free(&r);
	if (had_r && !has_r) {
	    removed++;
	    report_change(rep, REP_REMOVED, addr);
	} else if (!had_r && has_r) {
	    added++;
	    report_change(rep, REP_ADDED, addr);
	} else if (has_r && diff)
	    report_change(rep, REP_CHANGED, addr);
    }
    report_set(rep, "entries", (long long) st->nents);
    report_set(rep, "routes", (long long) (p->routes + added - removed));
    report_set(rep, "previous_routes", (long long) p->routes);
    if (nch == 0) {
	state_dirty_clear(st);
	ret = 0;
	goto out;
    }
    if (p->routes + added - removed == 0) {
	snprintf(err, errlen, "refusing to publish: the directory would yield no routes at all");
	ret = -2;
	goto out;
    }
    lim = limit_of(c, p->routes);
    if (removed > lim && !p->force && !c->safety.allow_mass_removal) {
	snprintf(err, errlen, "refusing to publish: %lu of %lu routes would be removed"
		 " (limit %lu); restart with --force if this is intended",
		 removed, p->routes, lim);
	ret = -2;
	goto out;
    }
    /* Apply to the in-memory delta. */
    for (i = 0; i < nch; i++) {
	size_t  kl = strlen(ch[i].key);
	const char *ok;
	void   *ov;

	if (htab_take(&p->delta, ch[i].key, kl, &ok, &ov)) {
	    free((char *) (uintptr_t) ok);
	    if (ov != pub_tomb)
		free(ov);
	}
	if (ch[i].val) {
	    if (htab_put(&p->delta, ch[i].key, kl, ch[i].val) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	    }
	    ch[i].key = NULL;
	    ch[i].val = NULL;
	}
    }
    p->routes = p->routes + added - removed;
    p->force = 0;
    if (p->delta.n > (size_t) c->ldapsync.compact_records) {
	report_set_str(rep, "mode", "full");
	ret = pub_full(p, st, rep, err, errlen);
	if (ret == 1)
	    state_dirty_clear(st);
	goto out;
    }
    if (write_delta(p, err, errlen) < 0)
	goto out;
    state_dirty_clear(st);
    report_set(rep, "serial", (long long) p->serial);
    ret = 1;
out:
    for (i = 0; i < nch; i++) {
	free(ch[i].key);
	if (ch[i].val && ch[i].val != pub_tomb)
	    free(ch[i].val);
    }
    free(ch);
    return ret;
}

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
#include <fcntl.h>
#include <signal.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cdb.h>
#include <jansson.h>

#include "compile.h"
#include "log.h"
#include "publish.h"

static char pub_tomb[1];

static void extras_clear(struct pub *p);

#define RECTAGS	"RVTPXG"	/* per-address tables */

int
pub_init(struct pub *p, const struct conf *c)
{
    memset(p, 0, sizeof(*p));
    p->conf = c;
    snprintf(p->source, sizeof(p->source), "ldapsync %s",
	     c->ldap.nuris ? c->ldap.uris[0] : "");
    if (htab_init(&p->gext, 64) < 0)
	return -1;
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

struct pub_base {
    int	    fd;
    struct cdb cdb;
};

void
pub_close_base(struct pub *p)
{
    if (p->base == NULL)
	return;
    cdb_free(&p->base->cdb);
    close(p->base->fd);
    free(p->base);
    p->base = NULL;
}

int
pub_open_base(struct pub *p, char *err, size_t errlen)
{
    char    path[4096];
    struct pub_base *b;

    pub_close_base(p);
    snprintf(path, sizeof(path), "%s/%s", p->conf->maps_dir, MAP_BASE_NAME);
    if ((b = calloc(1, sizeof(*b))) == NULL) {
	snprintf(err, errlen, "out of memory");
	return -1;
    }
    if ((b->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || cdb_init(&b->cdb, b->fd) < 0) {
	snprintf(err, errlen, "open %s: %s", path, strerror(errno));
	if (b->fd >= 0)
	    close(b->fd);
	free(b);
	return -1;
    }
    p->base = b;
    return 0;
}

/* One base lookup; 1 found (value in *v, *vlen), 0 not found. */
static int
base_get(struct pub *p, int tag, const char *addr, size_t alen,
	 const char **v, size_t *vlen)
{
    char    k[MAP_KEY_MAX + 2];

    if (p->base == NULL || alen + 2 > MAP_KEY_MAX)
	return 0;
    k[0] = (char) tag;
    k[1] = ':';
    memcpy(k + 2, addr, alen);
    if (cdb_find(&p->base->cdb, k, (unsigned) (alen + 2)) <= 0
	|| (*v = cdb_getdata(&p->base->cdb)) == NULL)
	return 0;
    *vlen = cdb_datalen(&p->base->cdb);
    return 1;
}

static void
delta_free_table(struct htab *h)
{
    size_t  pos = 0;
    const char *k;
    void   *v;

    while (htab_next(h, &pos, &k, NULL, &v)) {
	free((char *) (uintptr_t) k);
	if (v != pub_tomb)
	    free(v);
    }
    htab_free(h);
}

void
pub_free(struct pub *p)
{
    pub_abort_child(p);
    delta_clear(p);
    htab_free(&p->delta);
    extras_clear(p);
    htab_free(&p->gext);
    pub_close_base(p);
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
    return base_get(p, tag, addr, alen, v, vlen);
}

static int
same(const char *a, size_t alen, const char *b)
{
    return b && strlen(b) == alen && memcmp(a, b, alen) == 0;
}

/* ---- full generation ---- */

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
    /* Instead of the above: hand every record to each(). */
    int     (*each)(void *ctx, const char *k, size_t klen, const char *v, size_t vlen);
    void   *each_ctx;
};

/* Hash of one whole record, combined by XOR (order does not matter). */
static uint64_t
whole_hash(int tag, const char *k, size_t klen, const char *v, size_t vlen)
{
    return (htab_hash(k, klen) + (uint64_t) tag * 0x9e3779b97f4a7c15ULL)
	^ (htab_hash(v, vlen) * 0xff51afd7ed558ccdULL);
}

static uint32_t
rec_hash(int tag, const char *v, size_t vlen)
{
    uint64_t h = htab_hash(v, vlen);

    return (uint32_t) (h ^ (h >> 32)) * (tag == 'V' ? 2654435761U : 40503U) + (uint32_t) tag;
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
    if (k[0] != 'R' && k[0] != 'V' && k[0] != 'T')
	return;
    tag = k[0];
    a = state_addr(x->st, k + 2, klen - 2);
    if (tag == 'R')
	x->old_routes++;
    if (a == NULL) {
	if (tag == 'R') {
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
    if (tag == 'R')
	a->old_r = 1;
    else
	a->old_vt ^= rec_hash(tag, v, vlen);
}

static uint32_t
le32(const unsigned char *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

/* Read the records of one CDB file in order; -1 on a damaged file. */
static int
scan_file(const char *path, struct scanctx *x, int is_delta, char *err, size_t errlen)
{
    FILE   *f = fopen(path, "r");
    unsigned char hdr[2048], lens[8];
    char   *buf = NULL;
    size_t  cap = 0;
    long    pos = 2048, dend, fsize;
    int     ret = -1;

    if (f == NULL)
	return errno == ENOENT ? 0 : -1;
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    if (fread(hdr, 1, sizeof(hdr), f) != sizeof(hdr) || fseek(f, 0, SEEK_END) < 0
	|| (fsize = ftell(f)) < 2048 || fseek(f, 2048, SEEK_SET) < 0) {
	snprintf(err, errlen, "%s: too short", path);
	goto out;
    }
    dend = (long) le32(hdr);
    if (dend < 2048 || dend > fsize) {
	snprintf(err, errlen, "%s: bad header", path);
	goto out;
    }
    while (pos + 8 <= dend) {
	uint32_t kl, vl;

	if (fread(lens, 1, 8, f) != 8)
	    break;
	kl = le32(lens);
	vl = le32(lens + 4);
	if ((uint64_t) pos + 8 + kl + vl > (uint64_t) dend) {
	    snprintf(err, errlen, "%s: record beyond the data", path);
	    goto out;
	}
	if ((size_t) kl + vl + 1 > cap) {
	    char   *nb = realloc(buf, (size_t) kl + vl + 1);

	    if (nb == NULL)
		goto out;
	    buf = nb;
	    cap = (size_t) kl + vl + 1;
	}
	if (fread(buf, 1, (size_t) kl + vl, f) != (size_t) kl + vl) {
	    snprintf(err, errlen, "%s: short read", path);
	    goto out;
	}
	pos += 8 + (long) kl + (long) vl;
	if (x->each) {
	    if (x->each(x->each_ctx, buf, kl, buf + kl, vl) < 0)
		goto out;
	    continue;
	}
	if (is_delta) {
	    char   *k = strndup(buf, kl);

	    if (k == NULL || htab_put(x->skip, k, kl, x) < 0) {
		free(k);
		goto out;
	    }
	} else if (x->skip->n && htab_get(x->skip, buf, kl))
	    continue;
	scan_rec(x, buf, kl, buf + kl, vl);
    }
    ret = 0;
out:
    free(buf);
    fclose(f);
    return ret;
}

/*
 * Serial, kind and base serial of a published file from its #meta
 * record alone (map_file_meta would verify, and so touch, every record
 * of a big base); the sequential scan checks the records' bounds.
 */
int
pub_quick_meta(const char *path, struct map_meta *m)
{
    struct cdb cdb;
    int     fd = open(path, O_RDONLY | O_CLOEXEC), ret = -1;
    json_t *j = NULL;
    json_error_t je;
    const char *kind;

    memset(m, 0, sizeof(*m));
    if (fd < 0)
	return -1;
    if (cdb_init(&cdb, fd) < 0) {
	close(fd);
	return -1;
    }
    if (cdb_find(&cdb, MAP_META_KEY, sizeof(MAP_META_KEY) - 1) > 0
	&& cdb_getdata(&cdb) != NULL
	&& (j = json_loadb(cdb_getdata(&cdb), cdb_datalen(&cdb), 0, &je)) != NULL
	&& json_is_integer(json_object_get(j, "serial"))
	&& (kind = json_string_value(json_object_get(j, "kind"))) != NULL) {
	m->serial = (uint64_t) json_integer_value(json_object_get(j, "serial"));
	m->is_delta = strcmp(kind, "delta") == 0;
	m->base_serial = (uint64_t) json_integer_value(json_object_get(j, "base_serial"));
	ret = 0;
    }
    json_decref(j);
    cdb_free(&cdb);
    close(fd);
    return ret;
}

/* Scan base + matching delta; returns 1 if there was a published view. */
static int
scan_published(const struct conf *c, struct scanctx *x, uint64_t *serial,
	       char *err, size_t errlen)
{
    char    bpath[4096], dpath[4096];
    struct map_meta bm, dm;
    struct htab skip;
    size_t  pos = 0;
    const char *k;
    int     ret = 0;

    snprintf(bpath, sizeof(bpath), "%s/%s", c->maps_dir, MAP_BASE_NAME);
    snprintf(dpath, sizeof(dpath), "%s/%s", c->maps_dir, MAP_DELTA_NAME);
    if (pub_quick_meta(bpath, &bm) < 0 || bm.is_delta)
	return 0;		/* nothing (valid) published yet */
    htab_init(&skip, 1024);
    x->skip = &skip;
    if (bm.serial > *serial)
	*serial = bm.serial;
    if (pub_quick_meta(dpath, &dm) == 0 && dm.is_delta
	&& dm.base_serial == bm.serial) {
	if (dm.serial > *serial)
	    *serial = dm.serial;
	if (scan_file(dpath, x, 1, err, errlen) < 0)
	    ret = -1;
    }
    if (ret == 0 && scan_file(bpath, x, 0, err, errlen) < 0)
	ret = -1;
    while (htab_next(&skip, &pos, &k, NULL, NULL))
	free((char *) (uintptr_t) k);
    htab_free(&skip);
    return ret < 0 ? -1 : 1;
}

/* ---- the extra records of groups (S, sub-list V) ---- */

/*
 * For every group primary address: the keys ("T:key") of the extra
 * records published with it, newline-separated, so that a delta can
 * remove those a recompiled group no longer has.  Built by pub_full()
 * from what it writes, by pub_load_extras() from the published files
 * after a resume, and kept up to date by pub_delta().
 */
static char *
extras_blob(const struct recs *r)
{
    size_t  need = 1, i;
    char   *b, *o;

    for (i = 0; i < r->nx; i++)
	need += strlen(r->x[i].key) + 3;
    if ((b = malloc(need)) == NULL)
	return NULL;
    o = b;
    for (i = 0; i < r->nx; i++) {
	size_t  l = strlen(r->x[i].key);

	*o++ = (char) r->x[i].tag;
	*o++ = ':';
	memcpy(o, r->x[i].key, l);
	o += l;
	*o++ = '\n';
    }
    *o = 0;
    return b;
}

/* Replace the extras of addr (blob owned by the table; NULL removes). */
static int
extras_set(struct pub *p, const char *addr, char *blob)
{
    const char *ok;
    void   *ov;
    char   *k;

    if (htab_take(&p->gext, addr, strlen(addr), &ok, &ov)) {
	free((char *) (uintptr_t) ok);
	free(ov);
    }
    if (blob == NULL || blob[0] == 0) {
	free(blob);
	return 0;
    }
    if ((k = strdup(addr)) == NULL || htab_put(&p->gext, k, strlen(k), blob) < 0) {
	free(k);
	free(blob);
	return -1;
    }
    return 0;
}

static void
extras_clear(struct pub *p)
{
    size_t  pos = 0;
    const char *k;
    void   *v;

    while (htab_next(&p->gext, &pos, &k, NULL, &v)) {
	free((char *) (uintptr_t) k);
	free(v);
    }
    htab_free(&p->gext);
    htab_init(&p->gext, 64);
}

static int
put_recs(struct map_writer *mw, const char *addr, struct recs *r,
	 uint64_t *hash, unsigned long *nrec)
{
    const char *t;
    size_t  alen = strlen(addr), i;

    for (i = 0; i < r->nx; i++) {
	const struct rec_extra *x = &r->x[i];
	size_t  kl = strlen(x->key), vl = strlen(x->val);

	if (hash)
	    *hash ^= whole_hash(x->tag, x->key, kl, x->val, vl);
	(*nrec)++;
	if (mw && map_writer_put(mw, x->tag, x->key, kl, x->val, vl) < 0)
	    return -1;
    }

    for (t = RECTAGS; *t; t++) {
	const char *v = r->v[REC_IDX(*t)];

	if (v == NULL)
	    continue;
	if (hash)
	    *hash ^= whole_hash(*t, addr, alen, v, strlen(v));
	(*nrec)++;
	if (mw && map_writer_put(mw, *t, addr, alen, v, strlen(v)) < 0)
	    return -1;
    }
    return 0;
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
    unsigned long routes = 0, added = 0, changed = 0, lim, nrec = 0;
    uint64_t newhash = 0;
    uint64_t old_serial = p->serial;
    int     ret = -1;
    struct htab gext;		/* the extras of this generation */

    htab_init(&gext, 64);
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
    if ((have_old = scan_published(c, &w, &old_serial, err, errlen)) < 0)
	goto out;
    if (!p->dry_run && (mw = map_writer_open(c->maps_dir, MAP_BASE_NAME, err, errlen)) == NULL)
	goto out;
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
	if (r.v[REC_IDX('R')]) {
	    uint32_t vt = 0;
	    const char *t;

	    a->routed = 1;
	    routes++;
	    for (t = "VT"; *t; t++)
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
	    char   *blob = extras_blob(&r), *k = strdup(a->addr);

	    if (blob == NULL || k == NULL || htab_put(&gext, k, strlen(k), blob) < 0) {
		free(blob);
		free(k);
		recs_free(&r);
		snprintf(err, errlen, "out of memory");
		goto out;
	    }
	}
	recs_free(&r);
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
    if (p->skip_unchanged && have_old == 1 && nrec == w.nrec && newhash == w.allhash) {
	report_set(rep, "serial", (long long) old_serial);
	ret = 0;		/* the published generation says the same */
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
    extras_clear(p);
    htab_free(&p->gext);
    p->gext = gext;
    htab_init(&gext, 16);
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
    }
    (void) added;
    (void) changed;
    if (mw)
	map_writer_abort(mw);
    (void) have_old;
    return ret;
}

static int write_delta(struct pub *p, char *err, size_t errlen);

/* ---- background compaction ---- */

/*
 * When the delta outgrows compact_records, a child process (fork: a
 * copy-on-write snapshot of everything) merges the published base and the
 * delta into a new base under a hidden name and writes a state snapshot,
 * while the parent keeps publishing deltas over the old base and notes
 * every key it changes.  When the child is done, pub_poll_child()
 * installs the new base and re-expresses the changes made since the fork
 * as the new delta.  Between the two renames a reader may see the new
 * base without those few changes for a moment: an older complete
 * generation, never a partial one.
 */
#define NEXT_BASE	".fwdmap.next.cdb"

struct mergectx {
    struct pub *p;
    struct map_writer *mw;
    int     fd;			/* the writer's temporary file, read-only */
    size_t  bytes, flushed;
};

/* Start writeback of what has been written so far (asynchronously), so
 * that the commit's fsync is not one burst that stalls slapd's own
 * commits on the same disk. */
static void
merge_writeback(struct mergectx *m, int force)
{
    if (m->fd >= 0 && (force || m->bytes - m->flushed >= (8u << 20))) {
	(void) sync_file_range(m->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	m->flushed = m->bytes;
    }
}

/* The writer's temporary file: MAPS_DIR/.NAME.XXXXXX (see map.h). */
static int
open_writer_tmp(const char *dir, const char *name)
{
    DIR    *d = opendir(dir);
    struct dirent *de;
    char    prefix[256], path[4096];
    int     fd = -1;

    if (d == NULL)
	return -1;
    snprintf(prefix, sizeof(prefix), ".%s.", name);
    while ((de = readdir(d)) != NULL)
	if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
	    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
	    fd = open(path, O_RDONLY | O_CLOEXEC);
	    break;
	}
    closedir(d);
    return fd;
}

static int
merge_rec(void *vctx, const char *k, size_t klen, const char *v, size_t vlen)
{
    struct mergectx *m = vctx;

    if (klen < 3 || k[1] != ':')
	return 0;		/* #meta */
    if (htab_get(&m->p->delta, k, klen))
	return 0;		/* the delta has the current value */
    m->bytes += klen + vlen + 8;
    merge_writeback(m, 0);
    return map_writer_put(m->mw, k[0], k + 2, klen - 2, v, vlen);
}

/* In the child: base + delta -> MAPS_DIR/.fwdmap.next.cdb. */
static int
child_merge(struct pub *p, uint64_t serial)
{
    struct mergectx m;
    struct scanctx x;
    struct map_meta meta;
    char    path[4096], err[512];
    size_t  pos = 0, klen;
    const char *k;
    void   *v;

    m.p = p;
    m.bytes = m.flushed = 0;
    if ((m.mw = map_writer_open(p->conf->maps_dir, NEXT_BASE, err, sizeof(err))) == NULL)
	return -1;
    m.fd = open_writer_tmp(p->conf->maps_dir, NEXT_BASE);
    memset(&x, 0, sizeof(x));
    x.each = merge_rec;
    x.each_ctx = &m;
    snprintf(path, sizeof(path), "%s/%s", p->conf->maps_dir, MAP_BASE_NAME);
    if (scan_file(path, &x, 0, err, sizeof(err)) < 0)
	goto fail;
    while (htab_next(&p->delta, &pos, &k, &klen, &v))
	if (v != pub_tomb && map_writer_put(m.mw, k[0], k + 2, klen - 2, v, strlen(v)) < 0)
	    goto fail;
    merge_writeback(&m, 1);
    memset(&meta, 0, sizeof(meta));
    meta.format = MAP_FORMAT;
    meta.serial = serial;
    meta.created = time(NULL);
    snprintf(meta.source, sizeof(meta.source), "%s", p->source);
    if (m.fd >= 0)
	close(m.fd);
    return map_writer_commit(m.mw, &meta, err, sizeof(err));
fail:
    if (m.fd >= 0)
	close(m.fd);
    map_writer_abort(m.mw);
    return -1;
}

/* ---- leftovers of a crash ---- */

/*
 * The names ldapsync writes under and renames away (map_writer's
 * .NAME.XXXXXX temporaries, mkstemp's six letters or digits; the
 * compaction's output before it is installed; the state module's
 * snapshot temporary and .next files; the cookie's temporary).  A process
 * that dies between creating one and renaming it leaves it behind.
 * "startup" names are only removed at startup: during a run nothing of
 * ours can be half-written there, and an administrator's `fwdmap compile`
 * uses the same temporary names.
 */
static const struct stale_pat {
    int	    state_dir;		/* 0 maps_dir, 1 state_dir */
    int	    startup_only;
    int	    tmp;		/* prefix + 6 mkstemp characters; else exact */
    const char *name;
} stale_pats[] = {
    {0, 1, 1, "." MAP_BASE_NAME "."},
    {0, 1, 1, "." MAP_DELTA_NAME "."},
    {0, 0, 1, "." NEXT_BASE "."},
    {0, 0, 0, NEXT_BASE},
    {1, 0, 1, ".ldapsync.state."},		/* state.c STATE_FILE */
    {1, 0, 0, "ldapsync.state.next"},
    {1, 0, 0, "ldapsync.journal.next"},
    {1, 1, 0, "ldapsync.cookie.tmp"},		/* main.c COOKIE_FILE */
};

static int
stale_match(const struct stale_pat *sp, const char *name)
{
    size_t  n = strlen(sp->name), i;

    if (!sp->tmp)
	return strcmp(name, sp->name) == 0;
    if (strncmp(name, sp->name, n) != 0 || strlen(name) != n + 6)
	return 0;
    for (i = n; i < n + 6; i++)
	if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z')
	      || (name[i] >= '0' && name[i] <= '9')))
	    return 0;
    return 1;
}

static unsigned
remove_stale_in(const char *dir, int maps, int state, int startup)
{
    DIR    *d = opendir(dir);
    struct dirent *de;
    char    path[4096];
    unsigned n = 0;
    size_t  i;

    if (d == NULL)
	return 0;
    while ((de = readdir(d)) != NULL) {
	for (i = 0; i < sizeof(stale_pats) / sizeof(stale_pats[0]); i++) {
	    const struct stale_pat *sp = &stale_pats[i];

	    if ((sp->state_dir ? !state : !maps) || (sp->startup_only && !startup)
		|| !stale_match(sp, de->d_name))
		continue;
	    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
	    if (unlink(path) == 0) {
		log_info("removed stale temporary file %s", path);
		n++;
	    } else if (errno != ENOENT)
		log_warn_errno("remove stale temporary file %s", path);
	    break;
	}
    }
    closedir(d);
    return n;
}

/* The report's temporary (report.c: REPORT.tmp.PID), left by a process
 * that is gone. */
static unsigned
remove_stale_report(const char *report)
{
    const char *slash = strrchr(report, '/');
    char    dir[4096], path[4096 + 256];
    size_t  blen;
    DIR    *d;
    struct dirent *de;
    unsigned n = 0;

    if (slash == NULL || (size_t) (slash - report) >= sizeof(dir))
	return 0;
    memcpy(dir, report, (size_t) (slash - report));
    dir[slash - report] = 0;
    blen = strlen(slash + 1);
    if ((d = opendir(dir[0] ? dir : "/")) == NULL)
	return 0;
    while ((de = readdir(d)) != NULL) {
	const char *p = de->d_name + blen + 5;
	char   *end;
	long    pid;

	if (strncmp(de->d_name, slash + 1, blen) != 0
	    || strncmp(de->d_name + blen, ".tmp.", 5) != 0 || *p < '1' || *p > '9')
	    continue;
	pid = strtol(p, &end, 10);
	if (*end || pid <= 0 || (kill((pid_t) pid, 0) == 0 || errno != ESRCH))
	    continue;			/* not ours, or its writer still runs */
	snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
	if (unlink(path) == 0) {
	    log_info("removed stale temporary file %s", path);
	    n++;
	}
    }
    closedir(d);
    return n;
}

unsigned
pub_remove_stale(const struct conf *c, int startup)
{
    const char *sd = c->ldapsync.state_dir;
    unsigned n = 0;

    if (startup && c->ldapsync.report_file)
	n = remove_stale_report(c->ldapsync.report_file);

    if (strcmp(sd, c->maps_dir) == 0)
	return n + remove_stale_in(c->maps_dir, 1, 1, startup);
    return n + remove_stale_in(c->maps_dir, 1, 0, startup)
	+ remove_stale_in(sd, 0, 1, startup);
}

static long long
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long
pub_child_ms(const struct pub *p)
{
    return mono_ms() - p->child_t0;
}

static int
start_compaction(struct pub *p, struct state *st)
{
    uint64_t serial = p->serial + 1;
    pid_t   pid, parent = getpid();

    /* A compaction killed with an earlier ldapsync left these. */
    pub_remove_stale(p->conf, 0);
    fflush(NULL);
    if ((pid = fork()) < 0)
	return -1;
    if (pid == 0) {
	char    err[512];
	int     ok;

	/* Die with the parent: an orphan would install nothing, but it
	 * would go on writing and could race a restarted ldapsync.  The
	 * parent may have died before prctl(): check it afterwards. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
	    _exit(1);
	/* Stay out of the way of slapd and of the parent's deltas: lowest
	 * CPU priority, idle I/O class where the scheduler honours it. */
	if (nice(19) == -1)
	    errno = 0;
	(void) syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0,
		       (3 << 13) /* IOPRIO_CLASS_IDLE */);
	ok = child_merge(p, serial) == 0
	    && state_save_next(st, p->conf->ldapsync.state_dir, serial, err, sizeof(err)) == 0;

	_exit(ok ? 0 : 1);
    }
    p->serial = serial;		/* reserved for the new base */
    p->child = pid;
    p->child_t0 = mono_ms();
    log_info("background compaction started: pid %ld, %zu delta records over base"
	     " serial %llu, new base serial %llu", (long) pid, p->delta.n,
	     (unsigned long long) p->base_serial, (unsigned long long) serial);
    p->child_serial = serial;
    htab_init(&p->since_fork, 1024);
    return 0;
}

static void
since_fork_clear(struct pub *p)
{
    size_t  pos = 0;
    const char *k;

    while (htab_next(&p->since_fork, &pos, &k, NULL, NULL))
	free((char *) (uintptr_t) k);
    htab_free(&p->since_fork);
}

void
pub_abort_child(struct pub *p)
{
    char    path[4096];
    int     status;

    if (p->child == 0)
	return;
    kill(p->child, SIGKILL);
    waitpid(p->child, &status, 0);
    p->child = 0;
    since_fork_clear(p);
    snprintf(path, sizeof(path), "%s/%s", p->conf->maps_dir, NEXT_BASE);
    unlink(path);
    state_drop_next(p->conf->ldapsync.state_dir);
    pub_remove_stale(p->conf, 0);	/* the child's temporaries */
    log_info("background compaction abandoned after %lld ms", pub_child_ms(p));
}

int
pub_poll_child(struct pub *p, char *err, size_t errlen)
{
    struct pub_base *nb = NULL;
    struct htab nd;
    char    next[4096], final[4096];
    size_t  pos = 0, klen;
    const char *k;
    int     status;
    pid_t   r;

    if (p->child == 0 || (r = waitpid(p->child, &status, WNOHANG)) == 0)
	return 0;
    snprintf(next, sizeof(next), "%s/%s", p->conf->maps_dir, NEXT_BASE);
    snprintf(final, sizeof(final), "%s/%s", p->conf->maps_dir, MAP_BASE_NAME);
    p->child = 0;
    if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
	snprintf(err, errlen, "background compaction failed after %lld ms; the delta keeps growing",
		 pub_child_ms(p));
	goto fail;
    }
    if ((nb = calloc(1, sizeof(*nb))) == NULL
	|| (nb->fd = open(next, O_RDONLY | O_CLOEXEC)) < 0 || cdb_init(&nb->cdb, nb->fd) < 0) {
	snprintf(err, errlen, "open %s: %s", next, strerror(errno));
	goto fail;
    }
    /* The new delta: what changed since the fork, against the new base. */
    htab_init(&nd, 1024);
    while (htab_next(&p->since_fork, &pos, &k, &klen, NULL)) {
	const char *cv = NULL, *bv = NULL;
	size_t  cl = 0, bl = 0;
	int     cf = pub_get(p, k[0], k + 2, klen - 2, &cv, &cl);
	int     bf = cdb_find(&nb->cdb, k, (unsigned) klen) > 0
	    && (bv = cdb_getdata(&nb->cdb)) != NULL;
	char   *dv, *key;

	if (bf)
	    bl = cdb_datalen(&nb->cdb);
	if (cf ? (bf && cl == bl && memcmp(cv, bv, cl) == 0) : !bf)
	    continue;
	if ((key = strndup(k, klen)) == NULL)
	    continue;
	dv = cf ? strndup(cv, cl) : pub_tomb;
	if (dv == NULL || htab_put(&nd, key, klen, dv) < 0) {
	    free(key);
	    continue;
	}
    }
    if (rename(next, final) < 0) {
	snprintf(err, errlen, "rename %s: %s", next, strerror(errno));
	p->child = 0;
	delta_free_table(&nd);
	goto fail;
    }
    {
	int     dfd = open(p->conf->maps_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd >= 0) {
	    fsync(dfd);
	    close(dfd);
	}
    }
    delta_clear(p);
    htab_free(&p->delta);
    p->delta = nd;
    pub_close_base(p);
    p->base = nb;
    nb = NULL;
    p->base_serial = p->child_serial;
    since_fork_clear(p);
    /* Without changes since the fork the new base is the newest state.
     * With deltas published since (serials above the new base's), an
     * empty delta must follow anyway: readers serving one of those hold
     * the older base back until a newer serial appears. */
    if (p->delta.n == 0 && p->serial == p->child_serial) {
	char    dpath[4096];

	snprintf(dpath, sizeof(dpath), "%s/%s", p->conf->maps_dir, MAP_DELTA_NAME);
	unlink(dpath);
    } else if (write_delta(p, err, errlen) < 0)
	return -1;
    if (state_install_next(p->conf->ldapsync.state_dir) < 0) {
	snprintf(err, errlen, "install the state snapshot: %s", strerror(errno));
	return -1;
    }
    return 1;
fail:
    if (nb) {
	if (nb->fd >= 0)
	    close(nb->fd);
	free(nb);
    }
    since_fork_clear(p);
    unlink(next);
    state_drop_next(p->conf->ldapsync.state_dir);
    return -1;
}

int
pub_compacting(const struct pub *p)
{
    return p->child != 0;
}

/* ---- delta ---- */

struct dchange {
    char   *key;		/* "T:addr" */
    char   *val;		/* new delta value, pub_tomb, or NULL = drop from delta */
};

struct dchanges {
    struct dchange *ch;
    size_t  n, cap;
};

/*
 * One key's new value nv (NULL: absent) against the published view: 0
 * already right, 1 a change was added, -1 out of memory.
 */
static int
add_change(struct pub *p, struct dchanges *d, int tag, const char *key,
	   size_t klen, const char *nv)
{
    const char *ov, *bv = NULL;
    size_t  ol, bl = 0;
    int     pf = pub_get(p, tag, key, klen, &ov, &ol), bf;
    char   *dv;

    if (pf ? same(ov, ol, nv) : nv == NULL)
	return 0;		/* published view already right */
    bf = base_get(p, tag, key, klen, &bv, &bl);
    if (bf ? same(bv, bl, nv) : nv == NULL)
	dv = NULL;		/* back to the base's value */
    else if (nv == NULL)
	dv = pub_tomb;
    else if ((dv = strdup(nv)) == NULL)
	return -1;
    if (d->n == d->cap) {
	size_t  n = d->cap ? d->cap * 2 : 64;
	struct dchange *x = realloc(d->ch, n * sizeof(*x));

	if (x == NULL)
	    goto oom;
	d->ch = x;
	d->cap = n;
    }
    if (asprintf(&d->ch[d->n].key, "%c:%.*s", tag, (int) klen, key) < 0)
	goto oom;
    d->ch[d->n++].val = dv;
    return 1;
oom:
    if (dv && dv != pub_tomb)
	free(dv);
    return -1;
}

/* The extra records of a recompiled address against those published
 * with it: changes for the new ones, removals for the ones gone. */
static int
extras_changes(struct pub *p, struct dchanges *d, const char *addr,
	       const struct recs *r)
{
    const char *old = htab_get(&p->gext, addr, strlen(addr));
    struct htab now;
    size_t  i;
    int     ret = -1;

    if (r->nx == 0 && old == NULL)
	return 0;
    if (htab_init(&now, r->nx + 16) < 0)
	return -1;
    for (i = 0; i < r->nx; i++) {
	const struct rec_extra *x = &r->x[i];

	if (add_change(p, d, x->tag, x->key, strlen(x->key), x->val) < 0)
	    goto out;
	if (htab_put(&now, x->key, strlen(x->key), (void *) (uintptr_t) x) < 0)
	    goto out;
    }
    while (old && *old) {
	const char *nl = strchr(old, '\n');
	size_t  l = nl ? (size_t) (nl - old) : strlen(old);

	if (l > 2) {
	    const struct rec_extra *x = htab_get(&now, old + 2, l - 2);

	    if ((x == NULL || x->tag != old[0])
		&& add_change(p, d, old[0], old + 2, l - 2, NULL) < 0)
		goto out;
	}
	old += l + (nl != NULL);
    }
    ret = 0;
out:
    htab_free(&now);
    return ret;
}

/* A scan callback of pub_load_extras(). */
struct loadx {
    struct pub *p;
    struct htab stems;		/* sub-list stem -> group primary */
    struct htab acc;		/* group primary (owned) -> struct sbuf-like growing blob */
    int	    oom;
};

struct xblob {
    char   *b;
    size_t  n, cap;
};

static int
loadx_rec(void *vctx, const char *k, size_t klen, const char *v, size_t vlen)
{
    struct loadx *lx = vctx;
    const char *owner = NULL, *tab;
    size_t  olen = 0;
    struct xblob *xb;

    (void) v;
    if (vlen == MAP_TOMBSTONE_LEN && v[0] == 0)
	return 0;
    if (klen < 3 || k[1] != ':')
	return 0;
    if (k[0] == 'S' && (tab = memchr(k + 2, '\t', klen - 2)) != NULL) {
	owner = k + 2;
	olen = (size_t) (tab - owner);
    } else if (k[0] == 'V' && klen > 2 + sizeof(MAP_SUBLIST_PREFIX) - 1 + 16
	       && memcmp(k + 2, MAP_SUBLIST_PREFIX, sizeof(MAP_SUBLIST_PREFIX) - 1) == 0) {
	owner = htab_get(&lx->stems, k + 2 + sizeof(MAP_SUBLIST_PREFIX) - 1, 16);
	if (owner == NULL)
	    return 0;		/* no such group any more: left as it is */
	olen = strlen(owner);
    } else
	return 0;
    if ((xb = htab_get(&lx->acc, owner, olen)) == NULL) {
	char   *ok = strndup(owner, olen);

	if (ok == NULL || (xb = calloc(1, sizeof(*xb))) == NULL
	    || htab_put(&lx->acc, ok, olen, xb) < 0) {
	    free(ok);
	    free(xb);
	    lx->oom = 1;
	    return -1;
	}
    }
    if (xb->n + klen + 2 > xb->cap) {
	size_t  nc = xb->cap ? xb->cap * 2 : 256;
	char   *nb;

	while (nc < xb->n + klen + 2)
	    nc *= 2;
	if ((nb = realloc(xb->b, nc)) == NULL) {
	    lx->oom = 1;
	    return -1;
	}
	xb->b = nb;
	xb->cap = nc;
    }
    memcpy(xb->b + xb->n, k, klen);
    xb->n += klen;
    xb->b[xb->n++] = '\n';
    xb->b[xb->n] = 0;
    return 0;
}

int
pub_load_extras(struct pub *p, struct state *st, char *err, size_t errlen)
{
    struct loadx lx;
    struct scanctx x;
    char    path[4096];
    size_t  pos = 0;
    const char *k;
    void   *v;
    int     ret = -1;

    memset(&lx, 0, sizeof(lx));
    lx.p = p;
    htab_init(&lx.stems, 64);
    htab_init(&lx.acc, 64);
    while (htab_next(&st->ents, &pos, NULL, NULL, &v)) {
	struct ent *e = v;
	uint64_t h = 0xcbf29ce484222325ULL;
	const unsigned char *c;
	char   *stem;

	if (!ENT_IS_GROUP(e) || e->v[V_MAIL].n == 0)
	    continue;
	for (c = (const unsigned char *) e->v[V_MAIL].s[0]; *c; c++) {
	    h ^= *c;
	    h *= 0x100000001b3ULL;
	}
	if (asprintf(&stem, "%016llx", (unsigned long long) h) < 0
	    || htab_put(&lx.stems, stem, 16, e->v[V_MAIL].s[0]) < 0)
	    goto out;
    }
    memset(&x, 0, sizeof(x));
    x.each = loadx_rec;
    x.each_ctx = &lx;
    snprintf(path, sizeof(path), "%s/%s", p->conf->maps_dir, MAP_DELTA_NAME);
    if (scan_file(path, &x, 1, err, errlen) < 0)
	goto out;
    snprintf(path, sizeof(path), "%s/%s", p->conf->maps_dir, MAP_BASE_NAME);
    if (scan_file(path, &x, 0, err, errlen) < 0)
	goto out;
    extras_clear(p);
    pos = 0;
    while (htab_next(&lx.acc, &pos, &k, NULL, &v)) {
	struct xblob *xb = v;

	if (extras_set(p, k, xb->b) < 0)
	    goto out;
	xb->b = NULL;
    }
    ret = 0;
out:
    if (lx.oom || ret < 0)
	snprintf(err, errlen, "reading the published group records failed");
    pos = 0;
    while (htab_next(&lx.stems, &pos, &k, NULL, NULL))
	free((char *) (uintptr_t) k);
    htab_free(&lx.stems);
    pos = 0;
    while (htab_next(&lx.acc, &pos, &k, NULL, &v)) {
	free((char *) (uintptr_t) k);
	free(((struct xblob *) v)->b);
	free(v);
    }
    htab_free(&lx.acc);
    return ret;
}

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
    struct dchanges dc = {NULL, 0, 0};
    struct dchange *ch;
    size_t  nch, pos = 0, i;
    const char *addr;
    size_t  alen;
    unsigned long removed = 0, added = 0, lim;
    int     ret = -1;
    struct xupd {
	const char *addr;	/* a dirty key */
	char   *blob;
    } *xu = NULL;
    size_t  nxu = 0, cxu = 0;

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
	int     had_r, has_r, diff = 0, cr;
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
	    if ((cr = add_change(p, &dc, *t, addr, alen, r.v[REC_IDX(*t)])) < 0)
		goto oom;
	    if (cr && (*t == 'V' || *t == 'T'))
		diff = 1;
	}
	if (extras_changes(p, &dc, addr, &r) < 0)
	    goto oom;
	if (r.nx || htab_get(&p->gext, addr, alen)) {
	    char   *blob = r.nx ? extras_blob(&r) : NULL;

	    if (r.nx && blob == NULL)
		goto oom;
	    if (nxu == cxu) {
		size_t  n = cxu ? cxu * 2 : 16;
		struct xupd *xx = realloc(xu, n * sizeof(*xx));

		if (xx == NULL) {
		    free(blob);
		    goto oom;
		}
		xu = xx;
		cxu = n;
	    }
	    xu[nxu].addr = addr;
	    xu[nxu++].blob = blob;
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
	continue;
oom:
	recs_free(&r);
	snprintf(err, errlen, "out of memory");
	goto out;
    }
    report_set(rep, "entries", (long long) st->nents);
    report_set(rep, "routes", (long long) (p->routes + added - removed));
    report_set(rep, "previous_routes", (long long) p->routes);
    ch = dc.ch;
    nch = dc.n;
    /* The extras now published with each recompiled address (kept also
     * when the publish below is refused: it is retried with the same
     * published view, and the comparison is against that view). */
    if (nch == 0) {
	for (i = 0; i < nxu; i++) {
	    extras_set(p, xu[i].addr, xu[i].blob);
	    xu[i].blob = NULL;
	}

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
    for (i = 0; i < nxu; i++) {
	extras_set(p, xu[i].addr, xu[i].blob);
	xu[i].blob = NULL;
    }
    for (i = 0; i < nch; i++) {
	size_t  kl = strlen(ch[i].key);
	const char *ok;
	void   *ov;

	if (p->child && !htab_get(&p->since_fork, ch[i].key, kl)) {
	    char   *sk = strdup(ch[i].key);

	    if (sk && htab_put(&p->since_fork, sk, kl, p) < 0)
		free(sk);
	}
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
    if (p->delta.n > (size_t) c->ldapsync.compact_records && !p->bg_compact) {
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
    /* Fork after this delta is out, so that the new base's serial is
     * above every delta whose changes it holds (readers never take a
     * base older than what they serve). */
    if (p->delta.n > (size_t) c->ldapsync.compact_records && p->child == 0
	&& start_compaction(p, st) == 0)
	report_set(rep, "compaction_started", 1);
out:
    for (i = 0; i < dc.n; i++) {
	free(dc.ch[i].key);
	if (dc.ch[i].val && dc.ch[i].val != pub_tomb)
	    free(dc.ch[i].val);
    }
    free(dc.ch);
    for (i = 0; i < nxu; i++)
	free(xu[i].blob);
    free(xu);
    return ret;
}

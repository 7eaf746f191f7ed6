/*
 * publish_groups.c - the extra records of groups (S, the V records of
 *		      internal sub-lists) in full and delta publishing,
 *		      and the change list of a delta (see publish_int.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "publish.h"
#include "publish_int.h"

static int
same(const char *a, size_t alen, const char *b)
{
    return (b && strlen(b) == alen && memcmp(a, b, alen) == 0);
}

/*
 * For every group primary address: the keys ("T:key") of the extra
 * records published with it, newline-separated, so that a delta can
 * remove those a recompiled group no longer has.  Built by pub_full()
 * from what it writes, by pub_load_extras() from the published files
 * after a resume, and kept up to date by pub_delta().
 */
char   *
pub_extras_blob(const struct recs *r)
{
    size_t  need = 1, i;
    char   *b, *o;

    for (i = 0; i < r->nx; i++)
	need += r->x[i].klen + 3;
    if ((b = malloc(need)) == NULL)
	return (NULL);
    o = b;
    for (i = 0; i < r->nx; i++) {
	size_t  l = r->x[i].klen;

	*o++ = (char) r->x[i].tag;
	*o++ = ':';
	memcpy(o, r->x[i].key, l);
	o += l;
	*o++ = '\n';
    }
    *o = 0;
    return (b);
}

/*
 * Fingerprints of a group's extras (tag, key and value), in an open
 * hash set: kept for groups of XFP_MIN extras or more, whose comparison
 * with the published tables (a CDB lookup per record) was most of a
 * batch that recompiled a big "members" list (issue 10).
 */
#define XFP_MIN	256

struct xfp {
    size_t  cap;		/* a power of two; 0 marks an empty slot */
    size_t  n;			/* fingerprints held */
    uint64_t s[];
};

/* The key's and the value's htab_hash() and the tag, mixed. */
static uint64_t
xfp_of(const struct rec_extra *x)
{
    uint64_t h = htab_hash(x->key, x->klen) * 0x9e3779b97f4a7c15ULL
	^ htab_hash(x->val, x->vlen) ^ (unsigned char) x->tag;

    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return (h ? h : 1);
}

static int
xfp_has(const struct xfp *f, uint64_t h)
{
    size_t  i;

    for (i = (size_t) h & (f->cap - 1); f->s[i]; i = (i + 1) & (f->cap - 1))
	if (f->s[i] == h)
	    return (1);
    return (0);
}

/* An empty set for n fingerprints (NULL: too few to keep, or no memory). */
static struct xfp *
xfp_new(size_t n)
{
    struct xfp *f;
    size_t  cap = 16;

    if (n < XFP_MIN)
	return (NULL);
    while (cap < n * 2)
	cap *= 2;
    if ((f = calloc(1, sizeof(*f) + cap * sizeof(f->s[0]))) == NULL)
	return (NULL);
    f->cap = cap;
    return (f);
}

/* 1 added, 0 held already. */
static int
xfp_add(struct xfp *f, uint64_t h)
{
    size_t  j;

    for (j = (size_t) h & (f->cap - 1); f->s[j] && f->s[j] != h; j = (j + 1) & (f->cap - 1))
	;
    if (f->s[j])
	return (0);
    f->s[j] = h;
    f->n++;
    return (1);
}

struct xfp *
pub_extras_fp(const struct recs *r)
{
    struct xfp *f = xfp_new(r->nx);
    size_t  i;

    for (i = 0; f && i < r->nx; i++)
	xfp_add(f, xfp_of(&r->x[i]));
    return (f);
}

void
pub_extras_set_fp(struct pub *p, const char *addr, struct xfp *f)
{
    const char *ok;
    void   *ov;
    char   *k;

    if (htab_take(&p->gfp, addr, strlen(addr), &ok, &ov)) {
	free((char *) (uintptr_t) ok);
	free(ov);
    }
    if (f == NULL)
	return;
    if ((k = strdup(addr)) == NULL || htab_put(&p->gfp, k, strlen(k), f) < 0) {
	free(k);
	free(f);			/* only a shortcut: compared the long way */
    }
}

/* Replace the extras of addr (blob owned by the table; NULL removes).
 * Their fingerprints are forgotten (pub_extras_set_fp() sets new ones). */
int
pub_extras_set(struct pub *p, const char *addr, char *blob)
{
    const char *ok;
    void   *ov;
    char   *k;

    pub_extras_set_fp(p, addr, NULL);
    if (htab_take(&p->gext, addr, strlen(addr), &ok, &ov)) {
	free((char *) (uintptr_t) ok);
	free(ov);
    }
    if (blob == NULL || blob[0] == 0) {
	free(blob);
	return (0);
    }
    if ((k = strdup(addr)) == NULL || htab_put(&p->gext, k, strlen(k), blob) < 0) {
	free(k);
	free(blob);
	return (-1);
    }
    return (0);
}

void
pub_extras_clear(struct pub *p)
{
    size_t  pos = 0;
    const char *k;
    void   *v;

    while (htab_next(&p->gext, &pos, &k, NULL, &v)) {
	free((char *) (uintptr_t) k);
	free(v);
    }
    htab_free(&p->gext);
    if (htab_init(&p->gext, 64) < 0)
	memset(&p->gext, 0, sizeof(p->gext));	/* htab_put grows it */
    pos = 0;
    while (htab_next(&p->gfp, &pos, NULL, NULL, &v))
	free(v);
    htab_free_keys(&p->gfp);		/* the keys; an empty table, allocated on use */
}

/*
 * One key's new value nv (NULL: absent) against the published view: 0
 * already right, 1 a change was added, -1 out of memory.
 */
int
pub_add_change(struct pub *p, struct dchanges *d, int tag, const char *key,
	   size_t klen, const char *nv)
{
    const char *ov, *bv = NULL;
    size_t  ol, bl = 0;
    int     pf = pub_get(p, tag, key, klen, &ov, &ol), bf;
    char   *dv;

    if (pf ? same(ov, ol, nv) : nv == NULL)
	return (0);		/* published view already right */
    bf = pub_base_get(p, tag, key, klen, &bv, &bl);
    if (bf ? same(bv, bl, nv) : nv == NULL)
	dv = NULL;		/* back to the base's value */
    else if (nv == NULL)
	dv = pub_tomb;
    else if ((dv = strdup(nv)) == NULL)
	return (-1);
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
    return (1);
oom:
    if (dv && dv != pub_tomb)
	free(dv);
    return (-1);
}

/*
 * The extra records of a recompiled address against those published
 * with it: changes for the new ones, removals for the ones gone.  *nfp
 * gets the fingerprints of r's extras (NULL: too few to keep, or no
 * memory).
 */
int
pub_extras_changes(struct pub *p, struct dchanges *d, const char *addr,
		   const struct recs *r, struct xfp **nfp)
{
    const char *old = htab_get(&p->gext, addr, strlen(addr));
    const struct xfp *fp = htab_get(&p->gfp, addr, strlen(addr));
    struct xfp *nf;
    struct htab now;
    size_t  i, hits = 0;
    int     ret = -1;

    *nfp = NULL;
    if (r->nx == 0 && old == NULL)
	return (0);
    nf = xfp_new(r->nx);
    for (i = 0; i < r->nx; i++) {
	const struct rec_extra *x = &r->x[i];
	uint64_t h = fp || nf ? xfp_of(x) : 0;
	int     added = nf ? xfp_add(nf, h) : 0;

	/* The same key and value as the delta that last published this
	 * group's extras: the published view has it. */
	if (fp && xfp_has(fp, h))
	    hits += added;
	else if (pub_add_change(p, d, x->tag, x->key, x->klen, x->val) < 0)
	    goto fail;
    }
    /* Every one published before is among them: none has gone. */
    if (fp && nf && hits == fp->n) {
	*nfp = nf;
	return (0);
    }
    if (htab_init(&now, r->nx + 16) < 0)
	goto fail;
    for (i = 0; i < r->nx; i++)
	if (htab_put(&now, r->x[i].key, r->x[i].klen, (void *) (uintptr_t) &r->x[i]) < 0)
	    goto out;
    while (old && *old) {
	const char *nl = strchr(old, '\n');
	size_t  l = nl ? (size_t) (nl - old) : strlen(old);

	if (l > 2) {
	    const struct rec_extra *x = htab_get(&now, old + 2, l - 2);

	    if ((x == NULL || x->tag != old[0])
		&& pub_add_change(p, d, old[0], old + 2, l - 2, NULL) < 0)
		goto out;
	}
	old += l + (nl != NULL);
    }
    ret = 0;
    *nfp = nf;
    nf = NULL;
out:
    htab_free(&now);
fail:
    free(nf);
    return (ret);
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
	return (0);
    if (klen < 3 || k[1] != ':')
	return (0);
    if (k[0] == MAP_T_SENDER && (tab = memchr(k + 2, '\t', klen - 2)) != NULL) {
	owner = k + 2;
	olen = (size_t) (tab - owner);
    } else if (k[0] == MAP_T_VIRTUAL && klen > 2 + sizeof(MAP_SUBLIST_PREFIX) - 1 + 16
	       && memcmp(k + 2, MAP_SUBLIST_PREFIX, sizeof(MAP_SUBLIST_PREFIX) - 1) == 0) {
	owner = htab_get(&lx->stems, k + 2 + sizeof(MAP_SUBLIST_PREFIX) - 1, 16);
	if (owner == NULL)
	    return (0);		/* no such group any more: left as it is */
	olen = strlen(owner);
    } else
	return (0);
    if ((xb = htab_get(&lx->acc, owner, olen)) == NULL) {
	char   *ok = strndup(owner, olen);

	if (ok == NULL || (xb = calloc(1, sizeof(*xb))) == NULL
	    || htab_put(&lx->acc, ok, olen, xb) < 0) {
	    free(ok);
	    free(xb);
	    lx->oom = 1;
	    return (-1);
	}
    }
    if (xb->n + klen + 2 > xb->cap) {
	size_t  nc = xb->cap ? xb->cap * 2 : 256;
	char   *nb;

	while (nc < xb->n + klen + 2)
	    nc *= 2;
	if ((nb = realloc(xb->b, nc)) == NULL) {
	    lx->oom = 1;
	    return (-1);
	}
	xb->b = nb;
	xb->cap = nc;
    }
    memcpy(xb->b + xb->n, k, klen);
    xb->n += klen;
    xb->b[xb->n++] = '\n';
    xb->b[xb->n] = 0;
    return (0);
}

int
pub_load_extras(struct pub *p, struct state *st, char *err, size_t errlen)
{
    struct loadx lx;
    char    path[4096];
    size_t  pos = 0, ngroups = 0;
    const char *k;
    void   *v;
    int     ret = -1;

    memset(&lx, 0, sizeof(lx));
    lx.p = p;
    if (htab_init(&lx.stems, 64) < 0 || htab_init(&lx.acc, 64) < 0) {
	htab_free(&lx.stems);
	snprintf(err, errlen, "out of memory");
	return (-1);
    }
    while (htab_next(&st->ents, &pos, NULL, NULL, &v)) {
	struct ent *e = v;
	char   *stem;

	if (ENT_IS_GROUP(e))
	    ngroups++;
	if (!ENT_IS_GROUP(e) || e->v[V_MAIL].n == 0)
	    continue;
	if ((stem = malloc(17)) == NULL)
	    goto out;
	comp_sublist_stem(e->v[V_MAIL].s[0], stem);
	if (htab_put(&lx.stems, stem, 16, e->v[V_MAIL].s[0]) < 0) {
	    free(stem);
	    goto out;
	}
    }
    /*
     * No groups: the published view (what the state was saved from, and
     * the journal brought up to date) has no group records either, and
     * reading half a gigabyte of tables at a million people to find none
     * would hold up the first change after a restart.
     */
    if (ngroups == 0) {
	pub_extras_clear(p);
	ret = 0;
	goto out;
    }
    snprintf(path, sizeof(path), "%s/%s", p->conf->maps_dir, MAP_DELTA_NAME);
    if (map_scan(path, loadx_rec, &lx, err, errlen) < 0 && (lx.oom || errno != ENOENT))
	goto out;
    snprintf(path, sizeof(path), "%s/%s", p->conf->maps_dir, MAP_BASE_NAME);
    if (map_scan(path, loadx_rec, &lx, err, errlen) < 0 && (lx.oom || errno != ENOENT))
	goto out;
    pub_extras_clear(p);
    pos = 0;
    while (htab_next(&lx.acc, &pos, &k, NULL, &v)) {
	struct xblob *xb = v;

	if (pub_extras_set(p, k, xb->b) < 0)
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
    return (ret);
}

/*
 * query.c - the Postfix-facing map semantics over one generation.
 *
 * Exports map_query() and map_query_name(); see query.h.  Postfix sends
 * socketmap tables the full key in the case the sender used, so case
 * folding, extension stripping and the domain fallbacks happen here.
 */
#include <string.h>

#include "addr.h"
#include "map.h"
#include "query.h"

#define Q_TEMP(s)	do { *val = (s); *vlen = strlen(s); return (MAP_Q_TEMP); } while (0)
#define Q_PERM(s)	do { *val = (s); *vlen = strlen(s); return (MAP_Q_PERM); } while (0)

static const struct {
    const char *name;
    size_t  len;
}       map_q_names[MAP_Q_NAMES] = {
#define MAP_Q_NAME(s) { s, sizeof(s) - 1 }
    MAP_Q_NAME("domains"), MAP_Q_NAME("recipients"), MAP_Q_NAME("virtual"),
    MAP_Q_NAME("transport"),
};

int
map_query_name(const char *name, size_t nlen)
{
    int     i;

    for (i = 0; i < MAP_Q_NAMES; i++)
	if (map_q_names[i].len == nlen
	    && memcmp(map_q_names[i].name, name, nlen) == 0)
	    return (i);
    return (-1);
}

/* Split a domain record "tenant\tpolicy\troute" into its fields. */
struct dom_rec {
    const char *tenant;	size_t tlen;
    int	    route;
    const char *dflt;	size_t dlen;
};

static int
dom_parse(const char *v, size_t vlen, struct dom_rec *d)
{
    const char *t1 = memchr(v, '\t', vlen), *t2, *end = v + vlen;

    if (t1 == NULL || (t2 = memchr(t1 + 1, '\t', (size_t) (end - t1 - 1))) == NULL)
	return (-1);
    d->tenant = v;
    d->tlen = (size_t) (t1 - v);
    d->route = (size_t) (t2 - t1 - 1) == 5 && memcmp(t1 + 1, "route", 5) == 0;
    d->dflt = t2 + 1;
    d->dlen = (size_t) (end - t2 - 1);
    return (0);
}

/* Look up the domain record: 1 found (parsed), 0 not, -1 error. */
static int
dom_get(struct map_gen *g, const char *dom, size_t dlen, struct dom_rec *d)
{
    const char *v;
    size_t  vl;
    int     r = map_gen_get(g, MAP_T_DOMAIN, dom, dlen, &v, &vl);

    if (r <= 0)
	return (r);
    return (dom_parse(v, vl, d) < 0 ? -1 : 1);
}

/*
 * Exact address, then without extension: 1, 0 or -1 like map_gen_get.
 * With ext non-NULL, a match without extension sets *ext and *extlen to
 * the extension (delimiter included) within key; else *ext is NULL.
 */
static int
addr_get(struct map_gen *g, int tag, const char *key, size_t klen,
	 const char *delims, const char **val, size_t *vlen,
	 const char **ext, size_t *extlen)
{
    char    stripped[MAP_KEY_MAX];
    size_t  slen;
    int     r = 0;

    /* "user+ext@domain" is seldom a key of its own: skip the probe when
     * no stored address has a '+' (or whatever else this key holds). */
    if (map_gen_may_hold(g, key, klen))
	r = map_gen_get(g, tag, key, klen, val, vlen);

    if (ext)
	*ext = NULL;
    if (r != 0)
	return (r);
    if (addr_strip_ext(key, klen, delims, stripped, sizeof(stripped),
		       &slen) != 1)
	return (0);
    r = map_gen_get(g, tag, stripped, slen, val, vlen);
    if (r > 0 && ext) {
	/* stripped = key[0..i) + key[i+extlen..klen): the common prefix
	 * is the local part before the delimiter. */
	size_t  i = 0;

	while (i < slen && stripped[i] == key[i])
	    i++;
	*ext = key + i;
	*extlen = klen - slen;
    }
    return (r);
}

int
map_query_prefetch(const struct map_gen *g, const char *name, size_t nlen,
		   const char *key, size_t klen, const char *delims,
		   struct map_pf *pf)
{
    static const char tags[MAP_Q_NAMES] = {
	0, MAP_T_RECIPIENT, MAP_T_VIRTUAL, MAP_T_TRANSPORT,
    };
    char    k[MAP_KEY_MAX], stripped[MAP_KEY_MAX];
    size_t  slen;
    int     which = map_query_name(name, nlen), n = 0;

    /* The domain records are few and stay in the cache. */
    if (g == NULL || which < 0 || tags[which] == 0 || klen == 0
	|| klen >= sizeof(k) - 2 || memchr(key, '@', klen) == NULL)
	return (0);
    memcpy(k, key, klen);
    addr_fold(k, klen);
    if (map_gen_may_hold(g, k, klen))
	n += map_gen_prefetch(g, tags[which], k, klen, pf + n);
    if (addr_strip_ext(k, klen, delims, stripped, sizeof(stripped),
		       &slen) == 1)
	n += map_gen_prefetch(g, tags[which], stripped, slen, pf + n);
    return (n);
}

/* "a@x,b@y" with ext inserted before each '@'; 0 ok, -1 no room. */
static int
add_ext(const char *v, size_t vlen, const char *ext, size_t extlen,
	char *out, size_t outsz, size_t *outlen)
{
    size_t  n = 0, i, start = 0;

    for (i = 0; i <= vlen; i++) {
	const char *at;
	size_t  alen;

	if (i < vlen && v[i] != ',')
	    continue;
	alen = i - start;
	at = memrchr(v + start, '@', alen);
	if (at == NULL) {			/* not an address: as it is */
	    if (n + alen + 1 > outsz)
		return (-1);
	    memcpy(out + n, v + start, alen);
	    n += alen;
	} else {
	    size_t  lp = (size_t) (at - (v + start));

	    if (n + alen + extlen + 1 > outsz)
		return (-1);
	    memcpy(out + n, v + start, lp);
	    memcpy(out + n + lp, ext, extlen);
	    memcpy(out + n + lp + extlen, at, alen - lp);
	    n += alen + extlen;
	}
	if (i < vlen)
	    out[n++] = ',';
	start = i + 1;
    }
    *outlen = n;
    return (0);
}

enum map_q
map_query(struct map_gen *g, const char *name, size_t nlen, const char *key,
	  size_t klen, const char *delims, const char **val, size_t *vlen)
{
    return (map_query_ext(g, name, nlen, key, klen, delims, 0, val, vlen));
}

enum map_q
map_query_ext(struct map_gen *g, const char *name, size_t nlen,
	      const char *key, size_t klen, const char *delims, int propagate,
	      const char **val, size_t *vlen)
{
    static char qbuf[MAP_Q_REPLY_MAX - 3];	/* "OK " + value: Postfix's limit */
    const char *ext = NULL;
    size_t  extlen = 0, qlen;
    char    k[MAP_KEY_MAX];
    const char *dom;
    size_t  domlen;
    struct dom_rec d;
    int     which = map_query_name(name, nlen), r, too_long = 0;

    if (which < 0)
	Q_PERM("unknown map name");
    if (g == NULL)
	Q_TEMP("no routing table loaded");
    if (klen == 0)
	Q_PERM("empty key");
    if (klen >= sizeof(k) - 2) {
	/*
	 * Longer than any stored key: no address lookup can find it, but
	 * its domain's policy still applies (a domain that passes unknown
	 * recipients on).  Keep only "@domain" and skip address lookups.
	 */
	if (addr_domain(key, klen, &dom, &domlen) < 0
	    || domlen + 1 >= sizeof(k) - 2)
	    return (MAP_Q_NOTFOUND);
	too_long = 1;
	k[0] = '@';
	memcpy(k + 1, dom, domlen);
	klen = domlen + 1;
    } else
	memcpy(k, key, klen);
    addr_fold(k, klen);
    if (addr_domain(k, klen, &dom, &domlen) < 0) {
	dom = k;			/* a bare domain (or "*") */
	domlen = klen;
    }

    switch (which) {
    case 0:				/* domains */
	if (dom != k)
	    return (MAP_Q_NOTFOUND);
	if ((r = dom_get(g, k, klen, &d)) < 0)
	    Q_TEMP("routing table lookup error");
	if (r == 0)
	    return (MAP_Q_NOTFOUND);
	*val = d.tenant;
	*vlen = d.tlen;
	return (MAP_Q_OK);

    case 1:				/* recipients */
	/* An internal sub-list of a large group (map.h): never a recipient
	 * from outside, not even in a domain that routes unknown users on. */
	if (dom != k && (size_t) (dom - k) > sizeof(MAP_SUBLIST_PREFIX) - 1
	    && memcmp(k, MAP_SUBLIST_PREFIX, sizeof(MAP_SUBLIST_PREFIX) - 1) == 0)
	    return (MAP_Q_NOTFOUND);
	if (dom != k && dom - k > 1 && !too_long) {
	    r = addr_get(g, MAP_T_RECIPIENT, k, klen, delims, val, vlen, NULL, NULL);
	    if (r < 0)
		Q_TEMP("routing table lookup error");
	    if (r > 0)
		return (MAP_Q_OK);
	}
	if (dom == k)			/* a bare domain is no recipient */
	    return (MAP_Q_NOTFOUND);
	if ((r = dom_get(g, dom, domlen, &d)) < 0)
	    Q_TEMP("routing table lookup error");
	if (r > 0 && d.route) {		/* unknown users pass on */
	    *val = d.tenant;
	    *vlen = d.tlen;
	    return (MAP_Q_OK);
	}
	return (MAP_Q_NOTFOUND);

    case 2:				/* virtual */
	if (dom == k || too_long)
	    return (MAP_Q_NOTFOUND);
	r = addr_get(g, MAP_T_VIRTUAL, k, klen, delims, val, vlen,
		     propagate ? &ext : NULL, &extlen);
	if (r < 0)
	    Q_TEMP("routing table lookup error");
	if (r == 0)
	    return (MAP_Q_NOTFOUND);
	if (ext != NULL)		/* the extension as the sender wrote it */
	    ext = key + (ext - k);
	if (ext != NULL && add_ext(*val, *vlen, ext, extlen, qbuf,
				   sizeof(qbuf), &qlen) == 0) {
	    *val = qbuf;
	    *vlen = qlen;
	}
	return (MAP_Q_OK);

    default:				/* transport */
	if (klen == 1 && k[0] == '*')
	    return (MAP_Q_NOTFOUND);
	if (dom != k && !too_long) {
	    r = addr_get(g, MAP_T_TRANSPORT, k, klen, delims, val, vlen, NULL, NULL);
	    if (r < 0)
		Q_TEMP("routing table lookup error");
	    if (r > 0)
		return (MAP_Q_OK);
	}
	if ((r = dom_get(g, dom, domlen, &d)) < 0)
	    Q_TEMP("routing table lookup error");
	if (r > 0 && d.dlen > 0) {
	    *val = d.dflt;
	    *vlen = d.dlen;
	    return (MAP_Q_OK);
	}
	return (MAP_Q_NOTFOUND);
    }
}

/*
 * compile.c - validation and per-address compilation of routes
 *	       (see compile.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "compile.h"
#include "dn.h"

#define MAX_LOOP_DEPTH	16

/* Tenant whose base is the deepest one dn lies within (compared RDN by
 * RDN, see dn.h). */
static int
dn_tenant(const struct conf *c, const char *dn)
{
    size_t  i;
    int     best = -1, best_depth = 0, depth;

    for (i = 0; i < c->ntenants; i++)
	if ((depth = dn_within(dn, c->tenants[i].base)) > best_depth) {
	    best = (int) i;
	    best_depth = depth;
	}
    return best;
}

static int
owns_domain(const struct conf *c, int tenant, const char *addr)
{
    const char *dom = strrchr(addr, '@');
    const struct conf_domain *d;

    if (dom == NULL || (d = conf_domain(c, dom + 1)) == NULL)
	return 0;
    return strcmp(d->tenant, c->tenants[tenant].name) == 0;
}

static const char *
effective_location(const struct conf *c, const struct ent *e)
{
    if (e->v[V_LOC].n)
	return e->v[V_LOC].s[0];
    if (e->tenant >= 0)
	return c->tenants[e->tenant].default_location;
    return NULL;
}

static int
host_allowed(const struct conf_tenant *t, const char *h, size_t hl)
{
    size_t  i, s, l;
    unsigned port;

    if (t->allowed_hosts == NULL)
	return 1;
    for (i = 0; i < t->nallowed_hosts; i++) {
	const char *a = t->allowed_hosts[i];

	if (addr_valid_host(a, strlen(a), &s, &l, &port, NULL) == 0
	    && l == hl && strncasecmp(a + s, h, hl) == 0)
	    return 1;
    }
    return 0;
}

#define BAD(r, a) do { e->invalid = (r); e->invalid_arg = (a); return 0; } while (0)

int
comp_validate(const struct conf *c, struct ent *e)
{
    const char *why, *loc, *mail;
    size_t  i, nf = 0, fwd_len = 0;

    e->invalid = NULL;
    e->invalid_arg = NULL;
    e->tenant = dn_tenant(c, e->dn);
    for (i = 0; i < e->v[V_ALIAS].n; i++) {
	const char *a = e->v[V_ALIAS].s[i];

	e->alias_bad[i] = NULL;
	if (addr_valid(a, strlen(a), &why) < 0)
	    e->alias_bad[i] = "invalid alias address";
	else if (e->tenant >= 0 && !owns_domain(c, e->tenant, a))
	    e->alias_bad[i] = "alias in a domain the tenant does not own";
    }
    for (i = 0; i < e->v[V_FWD].n; i++) {
	const char *f = e->v[V_FWD].s[i];

	e->fwd_bad[i] = NULL;
	if (addr_valid(f, strlen(f), &why) < 0)
	    e->fwd_bad[i] = "invalid forward address (exactly one plain address per value)";
	else {
	    nf++;
	    fwd_len += 1 + strlen(f);
	}
    }
    if (e->tenant < 0)
	BAD("entry is outside every tenant's base", NULL);
    if (e->v[V_MAIL].n == 0)
	BAD("no mail attribute", NULL);
    if (e->v[V_MAIL].n > 1)
	BAD("more than one mail value", e->v[V_MAIL].s[1]);
    mail = e->v[V_MAIL].s[0];
    if (addr_valid(mail, strlen(mail), &why) < 0)
	BAD("invalid mail address", mail);
    if (!owns_domain(c, e->tenant, mail))
	BAD("mail in a domain the tenant does not own", mail);
    if (e->v[V_LOC].n > 1)
	BAD("more than one fwdMailboxLocation value", NULL);
    if (e->v[V_HOST].n > 1)
	BAD("more than one fwdMailHost value", NULL);
    if ((loc = effective_location(c, e)) == NULL)
	BAD("no fwdMailboxLocation and no default_location for the tenant", NULL);
    if (e->v[V_FWD].n > (size_t) c->ldapsync.max_forwards)
	BAD("too many forward addresses", NULL);
    /* Safety net: max_forwards (at most CONF_MAX_FORWARDS) keeps the
     * expansion short enough, but never publish a reply Postfix refuses. */
    if (strlen(mail) + fwd_len > COMP_MAX_EXPANSION)
	BAD("forward addresses too long together (virtual reply over "
	    COMP_MAX_EXPANSION_STR " bytes)", NULL);
    if (strcmp(loc, "external") == 0) {
	size_t  hs, hl;
	unsigned port;
	const char *h;

	if (e->v[V_HOST].n == 0)
	    BAD("location external without fwdMailHost", NULL);
	h = e->v[V_HOST].s[0];
	if (addr_valid_host(h, strlen(h), &hs, &hl, &port, &why) < 0)
	    BAD("invalid fwdMailHost", h);
	if (!host_allowed(&c->tenants[e->tenant], h + hs, hl))
	    BAD("fwdMailHost not in the tenant's allowed_hosts", h);
    } else if (strcmp(loc, "none") == 0) {
	if (nf == 0)
	    BAD("location none without a valid forward address", NULL);
    } else {
	size_t  k;

	for (k = 0; k < c->nstores; k++)
	    if (strcasecmp(c->stores[k].name, loc) == 0)
		break;
	if (k == c->nstores)
	    BAD("unknown store in fwdMailboxLocation", loc);
    }
    return 0;
}

static const char *
ent_tenant(const struct conf *c, const struct ent *e)
{
    return e->tenant >= 0 ? c->tenants[e->tenant].name : "";
}

static const char *
loc_of(const struct conf *c, const struct ent *e)
{
    return effective_location(c, e);
}

/* Among the acceptable primary claims of addr: the smallest uuid. */
static const struct claim *
primary_winner(struct state *st, const char *addr)
{
    struct anode *a = state_addr(st, addr, strlen(addr));
    const struct claim *w = NULL;
    uint32_t i;

    for (i = 0; a && i < a->nc; i++) {
	const struct claim *cl = &a->c[i];

	if (cl->role != ROLE_PRIMARY || cl->bad || cl->e->invalid)
	    continue;
	if (w == NULL || memcmp(cl->e->uuid, w->e->uuid, 16) < 0)
	    w = cl;
    }
    return w;
}

static int
wins_primary(struct state *st, const struct ent *e)
{
    const struct claim *w;

    if (e->invalid || e->v[V_MAIL].n != 1)
	return 0;
    w = primary_winner(st, e->v[V_MAIL].s[0]);
    return w && w->e == e;
}

/* A claim that could win: acceptable, and an alias only of an entry
 * that holds its primary. */
static int
claim_ok(struct state *st, const struct claim *cl)
{
    if (cl->bad || cl->e->invalid)
	return 0;
    return cl->role == ROLE_PRIMARY || wins_primary(st, cl->e);
}

static const struct claim *
winner(struct state *st, const char *addr)
{
    struct anode *a = state_addr(st, addr, strlen(addr));
    const struct claim *w = NULL;
    uint32_t i;

    if (a == NULL)
	return NULL;
    if ((w = primary_winner(st, addr)) != NULL)
	return w;
    for (i = 0; i < a->nc; i++) {
	const struct claim *cl = &a->c[i];

	if (!claim_ok(st, cl))
	    continue;
	if (w == NULL || memcmp(cl->e->uuid, w->e->uuid, 16) < 0)
	    w = cl;
    }
    return w;
}

/* Is f one of our own domains' addresses, and is it deliverable? */
static const char *
fwd_check(const struct conf *c, struct state *st, const struct ent *e,
	  const char *f)
{
    const char *at = strrchr(f, '@');
    const struct conf_domain *d = at ? conf_domain(c, at + 1) : NULL;
    const struct claim *w;

    if (strcmp(f, e->v[V_MAIL].s[0]) == 0)
	return "forward to the entry's own address";
    if (d == NULL)
	return NULL;		/* foreign: fine */
    w = winner(st, f);
    if (w && w->e == e)
	return "forward to the entry's own address";
    if (w)
	return NULL;
    if (d->unknown == CONF_UNKNOWN_ROUTE)
	return NULL;
    return "forward to an unknown address in our own domains";
}

/*
 * Kept forwards of a valid entry, in order, deduplicated: their indexes
 * into e->v[V_FWD] (folded: the key) and e->fwd_pub (as published).
 * Two values that differ only in case are one forward, the first kept.
 */
static size_t
kept_fwds(const struct conf *c, struct state *st, const struct ent *e,
	  size_t *out, size_t max, struct report *rep)
{
    size_t  i, j, n = 0;
    const char *why;

    for (i = 0; i < e->v[V_FWD].n && n < max; i++) {
	const char *f = e->v[V_FWD].s[i];
	int     dup = 0;

	if (e->fwd_bad[i]) {
	    report_reject(rep, e->dn, NULL, e->fwd_bad[i], f);
	    continue;
	}
	for (j = 0; j < n && !dup; j++)
	    dup = strcmp(e->v[V_FWD].s[out[j]], f) == 0;
	if (dup)
	    continue;
	if ((why = fwd_check(c, st, e, f)) != NULL) {
	    if (rep && strcmp(why, "forward to the entry's own address") != 0)
		report_reject(rep, e->dn, NULL, why, f);
	    continue;
	}
	out[n++] = i;
    }
    return n;
}

/* JSON string escaping into a growing buffer. */
struct sbuf {
    char   *p;
    size_t  n, cap;
    int     oom;
};

static void
sb_add(struct sbuf *b, const char *s, size_t l)
{
    if (b->oom)
	return;
    if (b->n + l + 1 > b->cap) {
	size_t  cap = b->cap ? b->cap : 256;
	char   *p;

	while (cap < b->n + l + 1)
	    cap *= 2;
	if ((p = realloc(b->p, cap)) == NULL) {
	    b->oom = 1;
	    return;
	}
	b->p = p;
	b->cap = cap;
    }
    memcpy(b->p + b->n, s, l);
    b->n += l;
    b->p[b->n] = 0;
}

static void
sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void
sb_json(struct sbuf *b, const char *s)
{
    char    tmp[8];

    if (s == NULL) {
	sb_str(b, "null");
	return;
    }
    sb_add(b, "\"", 1);
    for (; *s; s++) {
	unsigned char ch = (unsigned char) *s;

	if (ch == '"' || ch == '\\') {
	    tmp[0] = '\\';
	    tmp[1] = (char) ch;
	    sb_add(b, tmp, 2);
	} else if (ch < 0x20) {
	    snprintf(tmp, sizeof(tmp), "\\u%04x", ch);
	    sb_add(b, tmp, 6);
	} else
	    sb_add(b, s, 1);
    }
    sb_add(b, "\"", 1);
}

static char *
xjson(const char *dn, const char *tenant, const char *reason)
{
    struct sbuf b = {0};

    sb_str(&b, "{\"dn\":");
    sb_json(&b, dn);
    sb_str(&b, ",\"tenant\":");
    sb_json(&b, tenant);
    sb_str(&b, ",\"reason\":");
    sb_json(&b, reason);
    sb_str(&b, "}");
    if (b.oom) {
	free(b.p);
	return NULL;
    }
    return b.p;
}

static char *
transport_of(const struct conf *c, const struct ent *e)
{
    const char *loc = loc_of(c, e);
    char   *t = NULL;
    size_t  k;

    if (strcmp(loc, "none") == 0)
	return NULL;
    if (strcmp(loc, "external") == 0) {
	const char *h = e->v[V_HOST].s[0];
	size_t  hs, hl;
	unsigned port;

	if (addr_valid_host(h, strlen(h), &hs, &hl, &port, NULL) < 0)
	    return NULL;
	if (port)
	    (void) !asprintf(&t, "smtp:[%.*s]:%u", (int) hl, h + hs, port);
	else
	    (void) !asprintf(&t, "smtp:[%.*s]", (int) hl, h + hs);
	return t;
    }
    for (k = 0; k < c->nstores; k++)
	if (strcasecmp(c->stores[k].name, loc) == 0)
	    return strdup(c->stores[k].transport);
    return NULL;
}

/* Follow own-domain forwards from addr; 1 if they come back to it. */
static int
loop_dfs(const struct conf *c, struct state *st, const char *start,
	 const char *cur, const char **path, size_t depth, size_t *plen)
{
    const struct claim *w = winner(st, cur);
    const struct ent *e;
    size_t  kept[64], n, i, j;

    if (w == NULL || depth >= MAX_LOOP_DEPTH)
	return 0;
    e = w->e;
    cur = e->v[V_MAIL].s[0];		/* aliases lead to the primary */
    path[depth] = cur;
    if (depth > 0 && strcmp(cur, start) == 0) {
	*plen = depth;
	return 1;
    }
    for (j = 0; j < depth; j++)
	if (strcmp(path[j], cur) == 0)
	    return 0;		/* a loop not through start */
    n = kept_fwds(c, st, e, kept, 64, NULL);
    for (i = 0; i < n; i++) {
	const char *f = e->v[V_FWD].s[kept[i]];
	const char *at = strrchr(f, '@');

	if (at == NULL || conf_domain(c, at + 1) == NULL)
	    continue;
	if (loop_dfs(c, st, start, f, path, depth + 1, plen))
	    return 1;
    }
    return 0;
}

/* The values of a rejected entry that are bad on their own, so that the
 * report names every value to fix, not only the reason of the rejection. */
static void
report_bad_values(struct report *rep, const struct ent *e)
{
    size_t  i;

    if (rep == NULL)
	return;
    for (i = 0; i < e->v[V_FWD].n; i++)
	if (e->fwd_bad[i])
	    report_reject(rep, e->dn, NULL, e->fwd_bad[i], e->v[V_FWD].s[i]);
    for (i = 0; i < e->v[V_ALIAS].n; i++)
	if (e->alias_bad[i])
	    report_reject(rep, e->dn, e->v[V_ALIAS].s[i], e->alias_bad[i], e->v[V_ALIAS].s[i]);
}

int
comp_addr(const struct conf *c, struct state *st, const char *addr,
	  struct recs *out, struct report *rep)
{
    struct anode *a = state_addr(st, addr, strlen(addr));
    const struct claim *w, *first = NULL, *loser = NULL;
    const struct ent *e;
    size_t  kept[1000], nk = 0, i;
    uint32_t j;
    struct sbuf b = {0};
    const char *loc, *primary;
    int     is_primary;

    memset(out, 0, sizeof(*out));
    if (a == NULL || a->nc == 0)
	return 0;
    w = winner(st, addr);
    /* Report rejected claims and conflicts. */
    for (j = 0; j < a->nc; j++) {
	const struct claim *cl = &a->c[j];

	if (first == NULL || memcmp(cl->e->uuid, first->e->uuid, 16) < 0)
	    first = cl;
	if (cl == w)
	    continue;
	if (cl->e->invalid) {
	    report_reject(rep, cl->e->dn, NULL, cl->e->invalid, cl->e->invalid_arg);
	    report_bad_values(rep, cl->e);
	} else if (cl->bad) {
	    report_reject(rep, cl->e->dn, addr, cl->bad, addr);
	} else if (!claim_ok(st, cl)) {
	    report_reject(rep, cl->e->dn, addr,
			  "entry lost its primary address to another entry",
			  cl->e->v[V_MAIL].s[0]);
	} else if (w) {
	    report_conflict(rep, addr, w->e->dn, cl->e->dn,
			    (w->role == ROLE_PRIMARY && cl->role == ROLE_ALIAS)
			    ? "primary address beats alias"
			    : "smallest entryUUID wins");
	    if (loser == NULL || memcmp(cl->e->uuid, loser->e->uuid, 16) < 0)
		loser = cl;
	}
    }
    if (w == NULL) {
	const char *why = first->e->invalid ? first->e->invalid
	    : first->bad ? first->bad
	    : "entry lost its primary address to another entry";

	out->v[REC_IDX(MAP_T_REJECTED)] = xjson(first->e->dn, ent_tenant(c, first->e), why);
	return out->v[REC_IDX(MAP_T_REJECTED)] ? 0 : -1;
    }
    e = w->e;
    primary = e->v[V_MAIL].s[0];
    is_primary = strcmp(addr, primary) == 0;
    loc = loc_of(c, e);
    nk = kept_fwds(c, st, e, kept, sizeof(kept) / sizeof(kept[0]),
		   is_primary ? rep : NULL);
    if (strcmp(loc, "none") == 0 && nk == 0) {
	report_reject(rep, e->dn, NULL, "no valid destination left (all forwards dropped)", NULL);
	out->v[REC_IDX(MAP_T_REJECTED)] = xjson(e->dn, ent_tenant(c, e),
				     "no valid destination left (all forwards dropped)");
	return out->v[REC_IDX(MAP_T_REJECTED)] ? 0 : -1;
    }
    if (loser) {
	char   *why = NULL;

	(void) !asprintf(&why, "conflict: address routed to %s (%s)", e->dn,
			 (w->role == ROLE_PRIMARY && loser->role == ROLE_ALIAS)
			 ? "primary address beats alias" : "smallest entryUUID wins");
	out->v[REC_IDX(MAP_T_REJECTED)] = why ? xjson(loser->e->dn, ent_tenant(c, loser->e), why) : NULL;
	free(why);
    }
    out->v[REC_IDX(MAP_T_RECIPIENT)] = strdup(ent_tenant(c, e));
    out->v[REC_IDX(MAP_T_TRANSPORT)] = transport_of(c, e);
    /* Expansion. */
    if (!is_primary) {
	out->v[REC_IDX(MAP_T_VIRTUAL)] = strdup(primary);
    } else if (nk) {
	struct sbuf v = {0};

	if (strcmp(loc, "none") != 0) {
	    sb_str(&v, primary);
	    for (i = 0; i < nk; i++) {
		sb_str(&v, ",");
		sb_str(&v, e->fwd_pub[kept[i]]);
	    }
	} else {
	    for (i = 0; i < nk; i++) {
		if (i)
		    sb_str(&v, ",");
		sb_str(&v, e->fwd_pub[kept[i]]);
	    }
	}
	out->v[REC_IDX(MAP_T_VIRTUAL)] = v.p;
	/* Loops through our own domains (reported, not altered). */
	if (rep) {
	    const char *path[MAX_LOOP_DEPTH + 1];
	    size_t  plen = 0;

	    if (loop_dfs(c, st, primary, primary, path, 0, &plen))
		report_loop(rep, (char *const *) (uintptr_t) path, plen);
	}
    }
    /* Provenance. */
    sb_str(&b, "{\"dn\":");
    sb_json(&b, e->dn);
    sb_str(&b, ",\"tenant\":");
    sb_json(&b, ent_tenant(c, e));
    sb_str(&b, ",\"role\":");
    sb_json(&b, is_primary ? "primary" : "alias");
    sb_str(&b, ",\"primary\":");
    sb_json(&b, primary);
    sb_str(&b, ",\"location\":");
    sb_json(&b, loc);
    sb_str(&b, ",\"host\":");
    sb_json(&b, e->v[V_HOST].n && strcmp(loc, "external") == 0 ? e->v[V_HOST].s[0] : NULL);
    sb_str(&b, ",\"forwards\":[");
    for (i = 0; i < nk; i++) {
	if (i)
	    sb_str(&b, ",");
	sb_json(&b, e->fwd_pub[kept[i]]);
    }
    {
	char    u[37];

	uuid_str(e->uuid, u);
	sb_str(&b, "],\"uuid\":");
	sb_json(&b, u);
	sb_str(&b, "}");
    }
    out->v[REC_IDX(MAP_T_PROVENANCE)] = b.p;
    if (b.oom || out->v[REC_IDX(MAP_T_RECIPIENT)] == NULL)
	return -1;
    return 0;
}

void
recs_free(struct recs *r)
{
    size_t  i;

    for (i = 0; i < sizeof(r->v) / sizeof(r->v[0]); i++) {
	free(r->v[i]);
	r->v[i] = NULL;
    }
}

char   *
comp_domain_value(const struct conf *c, size_t i)
{
    const struct conf_domain *d = &c->domains[i];
    char   *v = NULL;

    if (asprintf(&v, "%s\t%s\t%s", d->tenant,
		 d->unknown == CONF_UNKNOWN_ROUTE ? "route" : "reject",
		 d->default_route ? d->default_route : "") < 0)
	return NULL;
    return v;
}

/*
 * compile.c - validation and per-address compilation of routes
 *	       (see compile.h).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <nettle/hmac.h>

#include "addr.h"
#include "compile.h"
#include "dn.h"

#define MAX_LOOP_DEPTH	16

/* Tenant whose base is the deepest one dn lies within (compared RDN by
 * RDN, see dn.h). */
int
comp_tenant(const struct conf *c, const char *dn)
{
    size_t  i;
    int     best = -1, best_depth = 0, depth;

    for (i = 0; i < c->ntenants; i++)
	if ((depth = dn_within(dn, c->tenants[i].base)) > best_depth) {
	    best = (int) i;
	    best_depth = depth;
	}
    return (best);
}

static int
owns_domain(const struct conf *c, int tenant, const char *addr)
{
    const char *dom = strrchr(addr, '@');
    const struct conf_domain *d;

    if (dom == NULL || (d = conf_domain(c, dom + 1)) == NULL)
	return (0);
    return (strcmp(d->tenant, c->tenants[tenant].name) == 0);
}

static const char *
effective_location(const struct conf *c, const struct ent *e)
{
    if (ENT_IS_GROUP(e))
	return ("none");		/* a group has no mailbox */
    if (e->v[V_LOC].n)
	return (e->v[V_LOC].s[0]);
    if (e->tenant >= 0)
	return (c->tenants[e->tenant].default_location);
    return (NULL);
}

static int
host_allowed(const struct conf_tenant *t, const char *h, size_t hl)
{
    size_t  i, s, l;
    unsigned port;

    if (t->allowed_hosts == NULL)
	return (1);
    for (i = 0; i < t->nallowed_hosts; i++) {
	const char *a = t->allowed_hosts[i];

	if (addr_valid_host(a, strlen(a), &s, &l, &port, NULL) == 0
	    && l == hl && strncasecmp(a + s, h, hl) == 0)
	    return (1);
    }
    return (0);
}

#define RESERVED_REASON	"address in the form reserved for internal group sub-lists (" \
			MAP_SUBLIST_PREFIX "*)"

/* The group's sender policy, NULL when the value is unknown. */
static const char *
group_policy(const struct ent *e)
{
    static const char *const pol[] = {"anyone", "tenant", "members", "listed"};
    size_t  i;

    if (e->v[V_POLICY].n == 0)
	return ("anyone");
    for (i = 0; i < sizeof(pol) / sizeof(pol[0]); i++)
	if (strcmp(e->v[V_POLICY].s[0], pol[i]) == 0)
	    return (pol[i]);
    return (NULL);
}

#define BAD(r, a) do { e->invalid = (r); e->invalid_arg = (a); return (0); } while (0)

int
comp_validate(const struct conf *c, struct ent *e)
{
    const char *why, *loc, *mail;
    size_t  i, nf = 0, fwd_len = 0;

    e->invalid = NULL;
    e->invalid_arg = NULL;
    e->tenant = comp_tenant(c, e->dn);
    for (i = 0; i < e->v[V_ALIAS].n; i++) {
	const char *a = e->v[V_ALIAS].s[i];

	e->alias_bad[i] = NULL;
	if (addr_valid(a, strlen(a), &why) < 0)
	    e->alias_bad[i] = "invalid alias address";
	else if (strncmp(a, MAP_SUBLIST_PREFIX, sizeof(MAP_SUBLIST_PREFIX) - 1) == 0)
	    e->alias_bad[i] = RESERVED_REASON;
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
    if (e->v[V_MAIL].n == 0 && ENT_IS_GROUP(e) && e->v[V_ALIAS].n == 0) {
	/* A group without an address of its own: only a nested member. */
	if (e->v[V_POLICY].n > 1)
	    BAD("more than one fwdGroupSenderPolicy value", NULL);
	return (0);
    }
    if (e->v[V_MAIL].n == 0)
	BAD("no mail attribute", NULL);
    if (e->v[V_MAIL].n > 1)
	BAD("more than one mail value", e->v[V_MAIL].s[1]);
    mail = e->v[V_MAIL].s[0];
    if (addr_valid(mail, strlen(mail), &why) < 0)
	BAD("invalid mail address", mail);
    if (!owns_domain(c, e->tenant, mail))
	BAD("mail in a domain the tenant does not own", mail);
    if (strncmp(mail, MAP_SUBLIST_PREFIX, sizeof(MAP_SUBLIST_PREFIX) - 1) == 0)
	BAD(RESERVED_REASON, mail);
    if (ENT_IS_GROUP(e)) {
	if (e->v[V_LOC].n > 1 || (e->v[V_LOC].n == 1 && strcmp(e->v[V_LOC].s[0], "none") != 0))
	    BAD("a group has no mailbox: fwdMailboxLocation must be absent or none",
		e->v[V_LOC].n ? e->v[V_LOC].s[0] : NULL);
	if (e->v[V_POLICY].n > 1)
	    BAD("more than one fwdGroupSenderPolicy value", NULL);
	if (e->v[V_POLICY].n == 1 && group_policy(e) == NULL)
	    BAD("unknown fwdGroupSenderPolicy (anyone, tenant, members or listed)",
		e->v[V_POLICY].s[0]);
	return (0);
    }
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
    return (0);
}

static const char *
ent_tenant(const struct conf *c, const struct ent *e)
{
    return (e->tenant >= 0 ? c->tenants[e->tenant].name : "");
}

static const char *
loc_of(const struct conf *c, const struct ent *e)
{
    return (effective_location(c, e));
}

/* Among the acceptable primary claims of addr (its node a, NULL: look
 * it up): the smallest uuid. */
static const struct claim *
primary_winner_of(struct state *st, const char *addr, const struct anode *a)
{
    const struct claim *w = NULL;
    uint32_t i;

    if (a == NULL)
	a = state_addr(st, addr, strlen(addr));
    for (i = 0; a && i < a->nc; i++) {
	const struct claim *cl = &a->c[i];

	if (cl->role != ROLE_PRIMARY || cl->bad || cl->e->invalid)
	    continue;
	if (w == NULL || memcmp(cl->e->uuid, w->e->uuid, 16) < 0)
	    w = cl;
    }
    return (w);
}

static const struct claim *
primary_winner(struct state *st, const char *addr)
{
    return (primary_winner_of(st, addr, NULL));
}

static int
wins_primary(struct state *st, const struct ent *e)
{
    const struct claim *w;

    if (e->invalid || e->v[V_MAIL].n != 1)
	return (0);
    w = primary_winner_of(st, e->v[V_MAIL].s[0], e->pa);
    return (w && w->e == e);
}

/* A claim that could win: acceptable, and an alias only of an entry
 * that holds its primary. */
static int
claim_ok(struct state *st, const struct claim *cl)
{
    if (cl->bad || cl->e->invalid)
	return (0);
    return (cl->role == ROLE_PRIMARY || wins_primary(st, cl->e));
}

static const struct claim *
winner(struct state *st, const char *addr)
{
    struct anode *a = state_addr(st, addr, strlen(addr));
    const struct claim *w = NULL;
    uint32_t i;

    if (a == NULL)
	return (NULL);
    if ((w = primary_winner(st, addr)) != NULL)
	return (w);
    for (i = 0; i < a->nc; i++) {
	const struct claim *cl = &a->c[i];

	if (!claim_ok(st, cl))
	    continue;
	if (w == NULL || memcmp(cl->e->uuid, w->e->uuid, 16) < 0)
	    w = cl;
    }
    return (w);
}

/*
 * The expansion graph: an address leads to the entry that wins it (an
 * alias to its entry), an entry without a mailbox to its forwards.  The
 * ends ("sinks") are entries with a mailbox (written as their primary
 * address: Postfix expands that on to the entry's own forwards and
 * store), addresses outside our domains, and unknown addresses of a
 * domain whose unknown recipients are routed on.  An entry without a
 * mailbox is passed through.  A walk visits every entry once: a cycle
 * through entries without a mailbox is met (w->cycle) and broken, never
 * followed twice.  Postfix itself follows such a cycle until
 * virtual_alias_recursion_limit and then defers the mail, so an address
 * whose expansion runs through one is published flattened: the sinks
 * themselves.  After WALK_BUDGET entries a walk gives up and counts as
 * reaching a sink: never refuse what was not checked to the end.
 */
#define WALK_BUDGET	100000

struct walk {
    struct htab seen;		/* uuid -> WALK_ON_STACK / WALK_DONE */
    struct htab out;		/* sinks collected (keys owned by the state) */
    const char **sinks;		/* in the order met */
    size_t  nsinks, csinks;
    size_t  visited;
    int	    init;
    int	    collect;		/* gather the sinks, else stop at the first */
    int	    found;		/* a sink was met */
    int	    cycle;		/* an entry on the current path was met again */
    int	    over;		/* budget exhausted or out of memory */
    const struct ent *self;	/* not a sink of its own (its primary) */
};

#define WALK_ON_STACK	((void *) 1)
#define WALK_DONE	((void *) 2)

static void walk_ent(const struct conf *, struct state *, const struct ent *,
		     struct walk *);

static int
walk_init(struct walk *w)
{
    if (w->init)
	return (0);
    if (htab_init(&w->seen, 16) < 0 || htab_init(&w->out, 16) < 0) {
	w->over = 1;
	return (-1);
    }
    w->init = 1;
    return (0);
}

static void
walk_sink(struct walk *w, const char *addr)
{
    size_t  l = strlen(addr);

    if (w->self && strcmp(addr, w->self->v[V_MAIL].s[0]) == 0)
	return;
    w->found = 1;
    if (!w->collect || walk_init(w) < 0 || htab_get(&w->out, addr, l))
	return;
    if (w->nsinks == w->csinks) {
	size_t  n = w->csinks ? w->csinks * 2 : 16;
	const char **x = realloc(w->sinks, n * sizeof(*x));

	if (x == NULL) {
	    w->over = 1;
	    return;
	}
	w->sinks = x;
	w->csinks = n;
    }
    if (htab_put(&w->out, addr, l, w) < 0) {
	w->over = 1;
	return;
    }
    w->sinks[w->nsinks++] = addr;
}

/* addr folded (the key), pub as published (a forward's local part as
 * written in the directory). */
static void
walk_addr(const struct conf *c, struct state *st, const char *addr,
	  const char *pub, struct walk *w)
{
    const char *at = strrchr(addr, '@');
    const struct conf_domain *d = at ? conf_domain(c, at + 1) : NULL;
    const struct claim *cl;

    if (d == NULL)
	walk_sink(w, pub);		/* outside */
    else if ((cl = winner(st, addr)) != NULL)
	walk_ent(c, st, cl->e, w);
    else if (d->unknown == CONF_UNKNOWN_ROUTE)
	walk_sink(w, addr);		/* passed on by the domain's route */
}


static void
walk_ent(const struct conf *c, struct state *st, const struct ent *e,
	 struct walk *w)
{
    const char *k = (const char *) e->uuid;
    void   *mark;
    size_t  i;

    if ((w->found && !w->collect) || w->over)
	return;
    if (strcmp(loc_of(c, e), "none") != 0) {
	walk_sink(w, e->v[V_MAIL].s[0]);	/* a mailbox */
	return;
    }
    if (walk_init(w) < 0)
	return;
    if ((mark = htab_get(&w->seen, k, 16)) != NULL) {
	if (mark == WALK_ON_STACK)
	    w->cycle = 1;
	return;
    }
    if (++w->visited > WALK_BUDGET || htab_put(&w->seen, k, 16, WALK_ON_STACK) < 0) {
	w->over = 1;
	return;
    }
    if (ENT_IS_GROUP(e)) {		/* its members, by DN */
	struct urlres *u = state_urls(st, e);
	size_t  n = e->v[V_MEMBER].n + (u ? u->n : 0);

	for (i = 0; i < n && !w->over && !(w->found && !w->collect); i++) {
	    const char *dn = i < e->v[V_MEMBER].n ? e->v[V_MEMBER].s[i]
		: u->dns[i - e->v[V_MEMBER].n];
	    const struct ent *m = htab_get(&st->dns, dn, strlen(dn));

	    if (m == NULL || m->invalid)
		continue;
	    if (ENT_IS_GROUP(m) || wins_primary(st, m))
		walk_ent(c, st, m, w);
	}
    }
    for (i = 0; i < e->v[V_FWD].n; i++) {
	const char *f = e->v[V_FWD].s[i];
	const struct claim *cl;

	if (e->fwd_bad[i] || (e->v[V_MAIL].n && strcmp(f, e->v[V_MAIL].s[0]) == 0))
	    continue;
	if ((cl = winner(st, f)) != NULL && cl->e == e)
	    continue;
	walk_addr(c, st, f, e->fwd_pub[i], w);
    }
    htab_put(&w->seen, k, 16, WALK_DONE);
}

static void
walk_done(struct walk *w)
{
    if (w->init) {
	htab_free(&w->seen);
	htab_free(&w->out);
    }
    free(w->sinks);
    memset(w, 0, sizeof(*w));
}

/* Does mail to entry e end somewhere? */
static int
ent_delivers(const struct conf *c, struct state *st, const struct ent *e)
{
    struct walk w = {0};
    int     ok;

    walk_ent(c, st, e, &w);
    ok = w.found || w.over;
    walk_done(&w);
    return (ok);
}

#define NO_SINK_REASON	"forwards reach no mailbox and no outside address" \
			" (a forwarding cycle within our domains)"
#define NO_SINK_FWD	"forward to an address that reaches no mailbox and no" \
			" outside address (a forwarding cycle)"

/* Is f one of our own domains' addresses, and is it deliverable? */
static const char *
fwd_check(const struct conf *c, struct state *st, const struct ent *e,
	  const char *f)
{
    const char *at = strrchr(f, '@');
    const struct conf_domain *d = at ? conf_domain(c, at + 1) : NULL;
    const struct claim *w;

    if (strcmp(f, e->v[V_MAIL].s[0]) == 0)
	return ("forward to the entry's own address");
    if (d == NULL)
	return (NULL);		/* foreign: fine */
    w = winner(st, f);
    if (w && w->e == e)
	return ("forward to the entry's own address");
    if (w)
	return (ent_delivers(c, st, w->e) ? NULL : NO_SINK_FWD);
    if (d->unknown == CONF_UNKNOWN_ROUTE)
	return (NULL);
    return ("forward to an unknown address in our own domains");
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
    return (n);
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
	return (NULL);
    }
    return (b.p);
}

static char *
transport_of(const struct conf *c, const struct ent *e)
{
    const char *loc = loc_of(c, e);
    char   *t = NULL;
    size_t  k;

    if (strcmp(loc, "none") == 0)
	return (NULL);
    if (strcmp(loc, "external") == 0) {
	const char *h = e->v[V_HOST].s[0];
	size_t  hs, hl;
	unsigned port;

	if (addr_valid_host(h, strlen(h), &hs, &hl, &port, NULL) < 0)
	    return (NULL);
	if (port)
	    (void) !asprintf(&t, "smtp:[%.*s]:%u", (int) hl, h + hs, port);
	else
	    (void) !asprintf(&t, "smtp:[%.*s]", (int) hl, h + hs);
	return (t);
    }
    for (k = 0; k < c->nstores; k++)
	if (strcasecmp(c->stores[k].name, loc) == 0)
	    return (strdup(c->stores[k].transport));
    return (NULL);
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
	return (0);
    e = w->e;
    cur = e->v[V_MAIL].s[0];		/* aliases lead to the primary */
    path[depth] = cur;
    if (depth > 0 && strcmp(cur, start) == 0) {
	*plen = depth;
	return (1);
    }
    for (j = 0; j < depth; j++)
	if (strcmp(path[j], cur) == 0)
	    return (0);		/* a loop not through start */
    /* Every valid forward: one dropped for leading into a cycle without
     * a mailbox is part of the loop. */
    for (i = n = 0; i < e->v[V_FWD].n && n < 64; i++)
	if (!e->fwd_bad[i])
	    kept[n++] = i;
    for (i = 0; i < n; i++) {
	const char *f = e->v[V_FWD].s[kept[i]];
	const char *at = strrchr(f, '@');

	if (at == NULL || conf_domain(c, at + 1) == NULL)
	    continue;
	if (loop_dfs(c, st, start, f, path, depth + 1, plen))
	    return (1);
    }
    return (0);
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

/* ---- groups ---- */

/*
 * The expansion of one group: nested groups flattened (each once; a
 * group met again while it is being expanded closes a cycle, which is
 * broken there and listed), people as their primary address, external
 * members as they are, every final address once.
 */
struct gexp {
    const struct conf *c;
    struct state *st;
    struct htab seen;		/* group uuid -> WALK_ON_STACK / WALK_DONE */
    struct htab out;		/* final addresses not of a person */
    unsigned gen;		/* people taken: ent->gexp_gen[slot] == gen */
    int	    slot;		/* 1: runs inside another (gflat_build()) */
    int	    depth;		/* of the group being expanded (0: the top) */
    json_t *direct;		/* the top group's direct members (P record),
				 * at most MAP_P_LIST_MAX; NULL: not wanted */
    size_t  ndirect;
    const char **addrs;		/* final addresses, in the order met */
    const struct ent **who;	/* per address: the person, or NULL */
    uint64_t *mh;		/* per address: its member_hash() */
    size_t  n, cap;
    json_t *skipped;		/* [{"dn","reason"}], at most MAP_P_LIST_MAX */
    size_t  nskipped;
    json_t *cycle;		/* group primaries where a cycle was broken */
    int	    oom;
};

static void
gexp_skip(struct gexp *x, const char *dn, const char *reason, const char *arg)
{
    char   *r = NULL;

    x->nskipped++;
    if (json_array_size(x->skipped) >= MAP_P_LIST_MAX)
	return;
    if (arg && asprintf(&r, "%s: %s", reason, arg) < 0)
	r = NULL;
    json_array_append_new(x->skipped, json_pack("{s:s, s:s}", "dn", dn,
						 "reason", r ? r : reason));
    free(r);
}

/*
 * Which first-level sub-list a final member address goes to: a hash of
 * a key that stays when the member changes (a person's entryUUID, else
 * the address itself), so that one member's new address, or one member
 * more or less, changes one sub-list record and leaves the others and
 * the group's own V as they are (issue 10: a change to a big group is a
 * small delta).
 */
static uint64_t
member_hash(const char *addr, const struct ent *who)
{
    const unsigned char *p = who ? who->uuid : (const unsigned char *) addr;
    size_t  l = who ? sizeof(who->uuid) : strlen(addr);
    uint64_t h = 14695981039346656037ULL;	/* FNV-1a */

    while (l--) {
	h ^= *p++;
	h *= 1099511628211ULL;
    }
    h ^= h >> 33;			/* mix the high bits into the low */
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (h);
}

/* A final address (who: its person, or NULL) with its member_hash() h. */
static void
gexp_add_h(struct gexp *x, const char *addr, const struct ent *who, uint64_t h)
{
    size_t  l = strlen(addr);

    /* A person by a mark on the entry (no table lookup: a big group's
     * expansion is mostly people); other addresses by the table.  A
     * person's primary address is in our domains and won by them alone,
     * so it never equals an address of the other kind. */
    if (who) {
	if (who->gexp_gen[x->slot] == x->gen)
	    return;
    } else if (htab_get(&x->out, addr, l))
	return;
    if (x->n == x->cap) {
	size_t  nc = x->cap ? x->cap * 2 : 64;
	const char **a = realloc(x->addrs, nc * sizeof(*a));
	const struct ent **w;
	uint64_t *hh;

	if (a == NULL) {
	    x->oom = 1;
	    return;
	}
	x->addrs = a;
	if ((w = realloc(x->who, nc * sizeof(*w))) == NULL) {
	    x->oom = 1;
	    return;
	}
	x->who = w;
	if ((hh = realloc(x->mh, nc * sizeof(*hh))) == NULL) {
	    x->oom = 1;
	    return;
	}
	x->mh = hh;
	x->cap = nc;
    }
    if (who)
	((struct ent *) (uintptr_t) who)->gexp_gen[x->slot] = x->gen;
    else if (htab_put(&x->out, addr, l, x) < 0) {
	x->oom = 1;
	return;
    }
    x->addrs[x->n] = addr;
    x->mh[x->n] = h;
    x->who[x->n++] = who;
}

static void
gexp_add(struct gexp *x, const char *addr, const struct ent *who)
{
    /* A person's entry is at hand now; group_value() would fetch it. */
    gexp_add_h(x, addr, who, member_hash(addr, who));
}

static void gexp_group(struct gexp *x, const struct ent *g);

/*
 * A direct member of the top group, for its P record: an entry that can
 * be a member (a recipient or a group; others are listed as skipped) by
 * its primary address or DN, or an external address as written.
 */
static void
gexp_direct(struct gexp *x, const struct ent *m, const char *addr)
{
    if (x->direct == NULL || x->depth != 1)
	return;
    if (m) {
	if (m->invalid || (m->v[V_MAIL].n == 0 && !ENT_IS_GROUP(m)))
	    return;
	addr = m->v[V_MAIL].n ? m->v[V_MAIL].s[0] : m->dn;
    }
    if (addr == NULL)
	return;
    x->ndirect++;
    if (json_array_size(x->direct) < MAP_P_LIST_MAX)
	json_array_append_new(x->direct, json_string(addr));
}

static void
gexp_person(struct gexp *x, const struct ent *p)
{
    if (!wins_primary(x->st, p))
	gexp_skip(x, p->dn, "member lost its primary address to another entry",
		  p->v[V_MAIL].n ? p->v[V_MAIL].s[0] : NULL);
    else if (!ent_delivers(x->c, x->st, p))
	gexp_skip(x, p->dn, "member reaches no mailbox and no outside address", NULL);
    else
	gexp_add(x, p->v[V_MAIL].s[0], p);
}

/* A member DN and its entry m (NULL: there is none); returns m. */
static const struct ent *
gexp_member(struct gexp *x, const char *dn, const struct ent *m)
{
    if (m == NULL)
	gexp_skip(x, dn, "no such entry among the synced recipients (missing, outside"
		  " every tenant's search, or no fwdMailRecipient)", NULL);
    else if (m->invalid)
	gexp_skip(x, m->dn, "member entry rejected", m->invalid);
    else if (ENT_IS_GROUP(m))
	gexp_group(x, m);
    else
	gexp_person(x, m);
    return (m);
}

/* An external member (fwdForwardAddress of group g). */
static void
gexp_addr(struct gexp *x, const struct ent *g, const char *f, const char *pub)
{
    const char *at = strrchr(f, '@');
    const struct conf_domain *d = at ? conf_domain(x->c, at + 1) : NULL;
    const struct claim *w;

    if (d == NULL)
	gexp_add(x, pub, NULL);	/* its local part as written */
    else if ((w = winner(x->st, f)) != NULL) {
	if (ENT_IS_GROUP(w->e))
	    gexp_group(x, w->e);
	else
	    gexp_person(x, w->e);
    } else if (d->unknown == CONF_UNKNOWN_ROUTE)
	gexp_add(x, f, NULL);
    else
	gexp_skip(x, g->dn, "member address unknown in our own domains", f);
}

static void
gexp_cycle(struct gexp *x, const struct ent *g)
{
    const char *p = g->v[V_MAIL].n ? g->v[V_MAIL].s[0] : g->dn;
    size_t  i;

    for (i = 0; i < json_array_size(x->cycle); i++)
	if (strcmp(json_string_value(json_array_get(x->cycle, i)), p) == 0)
	    return;
    if (json_array_size(x->cycle) < MAP_P_LIST_MAX)
	json_array_append_new(x->cycle, json_string(p));
}

/*
 * Member DNs in a row.  A big group's walk waits on memory (the DN table
 * of a million entries, then each entry): the slot of the DN GEXP_AHEAD
 * members ahead is fetched early, its key and entry half as far ahead.
 */
#define GEXP_AHEAD	8

/*
 * A group's member list (which: 'M' its member DNs, 'U' its memberURL
 * results) resolved, kept in st->gmemo while the state has not changed:
 * in one compile pass a big group nested in several others (or in a
 * chain of them) is walked once per parent, and resolving its DNs was
 * much of the walk.  Lists shorter than GMEMO_MIN are not kept.
 */
#define GMEMO_MIN	64

struct gmemo {
    size_t  n;
    const struct ent *m[];
};

/* The kept resolution of g's list, or NULL; then *fill is a new one to
 * fill in (NULL: none wanted or no memory) and store with gmemo_put(). */
static const struct ent *const *
gmemo_get(struct state *st, const struct ent *g, int which, size_t n,
	  struct gmemo **fill)
{
    char    key[17];
    struct gmemo *gm;

    *fill = NULL;
    if (n < GMEMO_MIN)
	return (NULL);
    if (st->gmemo_ver != st->version) {
	state_gmemo_reset(st);
	st->gmemo_ver = st->version;
    }
    memcpy(key, g->uuid, 16);
    key[16] = (char) which;
    if ((gm = htab_get(&st->gmemo, key, sizeof(key))) != NULL)
	return (gm->n == n ? gm->m : NULL);
    if ((gm = malloc(sizeof(*gm) + n * sizeof(gm->m[0]))) != NULL)
	gm->n = n;
    *fill = gm;
    return (NULL);
}

static void
gmemo_put(struct state *st, const struct ent *g, int which, struct gmemo *gm)
{
    char   *k;

    if ((k = malloc(17)) == NULL) {
	free(gm);
	return;
    }
    memcpy(k, g->uuid, 16);
    k[16] = (char) which;
    if (htab_get(&st->gmemo, k, 17) != NULL	/* kept meanwhile (a nested walk) */
	|| htab_put(&st->gmemo, k, 17, gm) < 0) {
	free(k);
	free(gm);
    }
}

/* A group's member list: each DN resolved (the slot of the DN GEXP_AHEAD
 * members ahead fetched early, its key and entry half as far ahead) and
 * walked, or walked from what gmemo_get() kept. */
static void
gexp_dns(struct gexp *x, const struct ent *g, int which,
	 const char *const *dns, size_t n)
{
    const struct htab *h = &x->st->dns;
    struct gmemo *fill;
    const struct ent *const *memo = gmemo_get(x->st, g, which, n, &fill);
    uint64_t hs[GEXP_AHEAD];
    size_t  i;

    if (memo) {
	for (i = 0; i < n; i++) {
	    if (i + GEXP_AHEAD < n && memo[i + GEXP_AHEAD])
		__builtin_prefetch(memo[i + GEXP_AHEAD]);
	    gexp_direct(x, gexp_member(x, dns[i], memo[i]), NULL);
	}
	return;
    }
    for (i = 0; i < n && i < GEXP_AHEAD; i++) {
	hs[i] = htab_hash(dns[i], strlen(dns[i]));
	htab_prefetch_hashed(h, hs[i]);
    }
    for (i = 0; i < n; i++) {
	uint64_t hash = hs[i % GEXP_AHEAD];
	const struct ent *m;

	if (i + GEXP_AHEAD / 2 < n)
	    htab_prefetch_entry(h, hs[(i + GEXP_AHEAD / 2) % GEXP_AHEAD]);
	if (i + GEXP_AHEAD < n) {
	    hs[i % GEXP_AHEAD] = htab_hash(dns[i + GEXP_AHEAD], strlen(dns[i + GEXP_AHEAD]));
	    htab_prefetch_hashed(h, hs[i % GEXP_AHEAD]);
	}
	m = htab_get_hashed(h, dns[i], strlen(dns[i]), hash);
	if (fill)
	    fill->m[i] = m;
	gexp_direct(x, gexp_member(x, dns[i], m), NULL);
    }
    if (fill)
	gmemo_put(x->st, g, which, fill);
}

/*
 * The expansion of a big group on its own (gflat), kept in st->gflat
 * across compile passes.  A change to one member of a small group that
 * is nested, with a big one, in several lists recompiles each of those
 * lists; each walked the big group again, member by member, and a batch
 * took over a second at a million people (issue 10).  Walked once on
 * its own, the big group is then taken into every list that names it as
 * a whole, and kept while the changes do not reach it:
 *
 *	a dirty group's (state_dirty_expand() marks every group whose
 *	expansion can have changed) is dropped by gflat_check();
 *	one that names an entry replaced meanwhile (st->gfreed) points to
 *	the new one instead: the group is not dirty, so what it says of
 *	that member has not changed;
 *	one that met a cycle is not taken whole (a cycle is reported from
 *	where the walk meets it), nor is one whose groups the list has
 *	already walked: those lists walk it as before.
 *
 * Kept for groups of GFLAT_MIN direct members or more, found nested.
 */
#define GFLAT_MIN	1024

static size_t gflat_min = GFLAT_MIN;

struct gflat {
    const struct ent *g;	/* the group it is of */
    size_t  n;			/* final addresses */
    const char **addrs;		/* in strs, in a row: read in that order */
    const struct ent **who;
    uint64_t *mh;
    char   *strs;
    json_t *skipped;		/* as gexp's, at most MAP_P_LIST_MAX */
    size_t  nskipped;
    const struct ent **groups;	/* every group the walk took */
    size_t  ng;
    int	    whole;		/* 0: met a cycle, walk it */
};

void
comp_set_gflat_min(size_t n)
{
    gflat_min = n;
}

static int gexp_init(struct gexp *x, const struct conf *c, struct state *st,
		     size_t members);
static void gexp_free(struct gexp *x);

static void
gflat_free(struct gflat *fl)
{
    free(fl->addrs);
    free(fl->who);
    free(fl->mh);
    free(fl->strs);
    json_decref(fl->skipped);
    free(fl->groups);
    free(fl);
}

/* The note of a freed pointer (the first time it was freed), or NULL:
 * not freed.  By the table fh of them when there are many. */
static const struct gfreed *
gflat_freed(const struct state *st, const struct htab *fh, const struct ent *e)
{
    size_t  i;

    if (fh)
	return (htab_get(fh, (const char *) &e, sizeof(e)));
    for (i = 0; i < st->ngfreed; i++)
	if (st->gfreed[i].e == e)
	    return (&st->gfreed[i]);
    return (NULL);
}

/* Is fl still right after the changes state_dirty_expand() saw?  Repoints
 * members whose entries were replaced. */
static int
gflat_valid(struct state *st, const struct htab *fh, struct gflat *fl,
	    const unsigned char *uuid)
{
    const struct ent *g = htab_get(&st->ents, (const char *) uuid, 16);
    const struct gfreed *f;
    size_t  i;

    if (g != fl->g || g->v[V_MAIL].n == 0
	|| htab_get(&st->dirty, g->v[V_MAIL].s[0], strlen(g->v[V_MAIL].s[0])))
	return (0);
    if (st->ngfreed == 0)
	return (1);
    for (i = 0; i < fl->ng; i++)
	if (gflat_freed(st, fh, fl->groups[i]))
	    return (0);
    for (i = 0; i < fl->n; i++) {
	const struct ent *e;

	if (fl->who[i] == NULL || (f = gflat_freed(st, fh, fl->who[i])) == NULL)
	    continue;
	e = htab_get(&st->ents, (const char *) f->uuid, 16);
	if (e == NULL || e->invalid || ENT_IS_GROUP(e) || e->v[V_MAIL].n != 1
	    || strcmp(e->v[V_MAIL].s[0], fl->addrs[i]) != 0)
	    return (0);			/* the group would be dirty */
	fl->who[i] = e;
    }
    return (1);
}

/* st->gflat_check (state.h). */
static void
gflat_check(struct state *st, int drop_all)
{
    size_t  pos = 0, nd = 0, i;
    const char *k;
    void   *v;
    char  **drop = NULL;
    struct htab fh, *fhp = NULL;

    if (st->no_dirty || st->gfreed_over)
	drop_all = 1;
    if (!drop_all && st->ngfreed > 8) {	/* many: by a table */
	if (htab_init(&fh, st->ngfreed) < 0)
	    drop_all = 1;
	else
	    fhp = &fh;
	for (i = 0; fhp && i < st->ngfreed; i++) {
	    const char *pk = (const char *) &st->gfreed[i].e;

	    if (htab_get(fhp, pk, sizeof(st->gfreed[i].e)) == NULL
		&& htab_put(fhp, pk, sizeof(st->gfreed[i].e), &st->gfreed[i]) < 0)
		drop_all = 1;
	}
    }
    if (!drop_all && (drop = malloc((st->gflat.n + 1) * sizeof(*drop))) == NULL)
	drop_all = 1;
    if (drop_all) {
	while (htab_next(&st->gflat, &pos, NULL, NULL, &v))
	    gflat_free(v);
	htab_free_keys(&st->gflat);	/* an empty table, allocated on use */
    } else {
	while (htab_next(&st->gflat, &pos, &k, NULL, &v))
	    if (!gflat_valid(st, fhp, v, (const unsigned char *) k))
		drop[nd++] = (char *) (uintptr_t) k;
	for (i = 0; i < nd; i++) {
	    const char *ok;

	    if (htab_take(&st->gflat, drop[i], 16, &ok, &v)) {
		gflat_free(v);
		free((char *) (uintptr_t) ok);
	    }
	}
	free(drop);
    }
    if (fhp)
	htab_free(fhp);
    st->ngfreed = 0;
    st->gfreed_over = 0;
}

/* Keep the finished walk y of group g (its arrays taken, or copied when
 * the caller still needs them); NULL when out of memory. */
static struct gflat *
gflat_keep(struct state *st, const struct ent *g, struct gexp *y, int copy)
{
    struct gflat *fl = calloc(1, sizeof(*fl));
    size_t  pos = 0, total = 1, i, l;
    const char *k;
    char   *key = NULL, *o;

    if (fl == NULL || (fl->groups = malloc((y->seen.n + 1) * sizeof(*fl->groups))) == NULL)
	goto fail;
    while (htab_next(&y->seen, &pos, &k, NULL, NULL))	/* keys: ent->uuid */
	fl->groups[fl->ng++] = (const struct ent *) (const void *) (k - offsetof(struct ent, uuid));
    fl->g = g;
    fl->n = y->n;
    if (copy) {
	if ((fl->addrs = malloc((y->n + 1) * sizeof(*fl->addrs))) == NULL
	    || (fl->who = malloc((y->n + 1) * sizeof(*fl->who))) == NULL
	    || (fl->mh = malloc((y->n + 1) * sizeof(*fl->mh))) == NULL)
	    goto fail;
	if (y->n) {		/* else the walk's arrays are NULL */
	    memcpy(fl->addrs, y->addrs, y->n * sizeof(*fl->addrs));
	    memcpy(fl->who, y->who, y->n * sizeof(*fl->who));
	    memcpy(fl->mh, y->mh, y->n * sizeof(*fl->mh));
	}
    } else {
	fl->addrs = y->addrs;
	fl->who = y->who;
	fl->mh = y->mh;
	y->addrs = NULL;
	y->who = NULL;
	y->mh = NULL;
    }
    for (i = 0; i < fl->n; i++)
	total += strlen(fl->addrs[i]) + 1;
    if ((fl->strs = malloc(total)) == NULL)
	goto fail;
    for (i = 0, o = fl->strs; i < fl->n; i++, o += l + 1) {
	l = strlen(fl->addrs[i]);
	memcpy(o, fl->addrs[i], l + 1);
	fl->addrs[i] = o;
    }
    fl->skipped = json_incref(y->skipped);
    fl->nskipped = y->nskipped;
    fl->whole = json_array_size(y->cycle) == 0;
    if ((key = malloc(16)) == NULL)
	goto fail;
    memcpy(key, g->uuid, 16);
    if (htab_put(&st->gflat, key, 16, fl) < 0)
	goto fail;
    st->gflat_check = gflat_check;
    return (fl);
fail:
    free(key);
    if (fl)
	gflat_free(fl);
    return (NULL);
}

/* Is g a group whose expansion is kept (when met nested)? */
static int
gflat_wanted(struct state *st, const struct ent *g)
{
    struct urlres *u;

    if (gflat_min == 0 || g->v[V_MAIL].n == 0)
	return (0);
    u = state_urls(st, g);
    return (g->v[V_MEMBER].n + (u ? u->n : 0) >= gflat_min);
}

/* g walked on its own (inside the walk x, with the other marks), kept;
 * NULL when out of memory. */
static struct gflat *
gflat_build(struct gexp *x, const struct ent *g)
{
    struct urlres *u = state_urls(x->st, g);
    struct gexp y;
    struct gflat *fl = NULL;

    if (gexp_init(&y, x->c, x->st, g->v[V_MEMBER].n + (u ? u->n : 0)) == 0) {
	y.slot = 1;
	gexp_group(&y, g);
	if (!y.oom)
	    fl = gflat_keep(x->st, g, &y, 0);
    }
    gexp_free(&y);
    return (fl);
}

int
comp_addr_kept_group(struct state *st, const char *addr)
{
    const struct anode *a = state_addr(st, addr, strlen(addr));
    uint32_t j;

    for (j = 0; a && j < a->nc; j++)
	if (ENT_IS_GROUP(a->c[j].e) && a->c[j].role == ROLE_PRIMARY
	    && gflat_wanted(st, a->c[j].e))
	    return (1);
    return (0);
}

/*
 * Group g, met in walk x below its top, taken whole from what is kept
 * (built now when x may): 1 done, 0 walk it member by member.
 */
static int
gflat_take(struct gexp *x, const struct ent *g)
{
    struct gflat *fl;
    size_t  i;

    if (x->depth == 0 || !gflat_wanted(x->st, g))
	return (0);
    if ((fl = htab_get(&x->st->gflat, (const char *) g->uuid, 16)) == NULL
	&& (x->slot != 0 || (fl = gflat_build(x, g)) == NULL))
	return (0);
    if (!fl->whole)
	return (0);
    for (i = 0; i < fl->ng; i++)
	if (htab_get(&x->seen, (const char *) fl->groups[i]->uuid, 16))
	    return (0);
    for (i = 0; i < fl->ng; i++)
	if (htab_put(&x->seen, (const char *) fl->groups[i]->uuid, 16, WALK_DONE) < 0) {
	    x->oom = 1;
	    return (1);
	}
    for (i = 0; i < fl->n && !x->oom; i++)
	gexp_add_h(x, fl->addrs[i], fl->who[i], fl->mh[i]);
    for (i = 0; i < fl->nskipped; i++) {
	x->nskipped++;
	if (json_array_size(x->skipped) < MAP_P_LIST_MAX)
	    json_array_append(x->skipped, json_array_get(fl->skipped, i));
    }
    return (1);
}

static void
gexp_group(struct gexp *x, const struct ent *g)
{
    const char *k = (const char *) g->uuid;
    struct urlres *u;
    void   *mark;
    size_t  i;

    if (x->oom)
	return;
    if ((mark = htab_get(&x->seen, k, 16)) != NULL) {
	if (mark == WALK_ON_STACK)
	    gexp_cycle(x, g);
	return;
    }
    if (gflat_take(x, g))
	return;
    if (htab_put(&x->seen, k, 16, WALK_ON_STACK) < 0) {
	x->oom = 1;
	return;
    }
    x->depth++;
    gexp_dns(x, g, 'M', (const char *const *) g->v[V_MEMBER].s, g->v[V_MEMBER].n);
    if ((u = state_urls(x->st, g)) != NULL) {
	gexp_dns(x, g, 'U', (const char *const *) u->dns, u->n);
	if (u->why)
	    gexp_skip(x, g->dn, u->why, u->bad_url);
    }
    for (i = 0; i < g->v[V_FWD].n; i++) {
	if (g->fwd_bad[i])
	    gexp_skip(x, g->dn, g->fwd_bad[i], g->v[V_FWD].s[i]);
	else {
	    gexp_addr(x, g, g->v[V_FWD].s[i], g->fwd_pub[i]);
	    gexp_direct(x, NULL, g->v[V_FWD].s[i]);
	}
    }
    x->depth--;
    htab_put(&x->seen, k, 16, WALK_DONE);
}

/* Forget every mark (the generation counter wrapped). */
static void
gexp_gen_reset(struct state *st)
{
    size_t  pos = 0;
    void   *v;

    while (htab_next(&st->ents, &pos, NULL, NULL, &v))
	((struct ent *) v)->gexp_gen[0] = ((struct ent *) v)->gexp_gen[1] = 0;
}

/* Ready to expand a group of about members direct members (the table of
 * final addresses sized once: a big group's grew a dozen times). */
static int
gexp_init(struct gexp *x, const struct conf *c, struct state *st, size_t members)
{
    static unsigned gen;

    memset(x, 0, sizeof(*x));
    x->c = c;
    x->st = st;
    if (++gen == 0) {		/* wrapped: a mark left from 2^32 ago could match */
	gexp_gen_reset(st);
	gen = 1;
    }
    x->gen = gen;
    x->skipped = json_array();
    x->cycle = json_array();
    if (htab_init(&x->seen, 16) < 0 || htab_init(&x->out, members > 64 ? members : 64) < 0
	|| x->skipped == NULL || x->cycle == NULL)
	return (-1);
    return (0);
}

static void
gexp_free(struct gexp *x)
{
    json_decref(x->direct);
    htab_free(&x->seen);
    htab_free(&x->out);
    free(x->addrs);
    free(x->who);
    free(x->mh);
    json_decref(x->skipped);
    json_decref(x->cycle);
}

/* Room for one more extra record in r: 0, or -1 out of memory. */
static int
recs_room(struct recs *r)
{
    if (r->nx == r->cx) {
	size_t  n = r->cx ? r->cx * 2 : 16;
	struct rec_extra *x = realloc(r->x, n * sizeof(*x));

	if (x == NULL)
	    return (-1);
	r->x = x;
	r->cx = n;
    }
    return (0);
}

/* Add an extra record; key and val (malloc'd) are r's now, or freed. */
static int
recs_extra(struct recs *r, int tag, char *key, char *val)
{
    struct rec_extra *x;

    if (key == NULL || val == NULL || recs_room(r) < 0) {
	free(key);
	free(val);
	return (-1);
    }
    x = &r->x[r->nx++];
    x->tag = tag;
    x->owned = 1;
    x->key = key;
    x->val = val;
    x->klen = (uint32_t) strlen(key);
    x->vlen = (uint32_t) strlen(val);
    return (0);
}

/*
 * Blocks that hold the keys of a big list's S records one after the
 * other: a malloc() and a free() for each of 100,000 small keys, and
 * the walks over them scattered across the heap, were most of the
 * batch that recompiled such a list (issue 10).
 */
#define RECS_BLK	(64 * 1024)

struct recs_blk {
    struct recs_blk *next;
    size_t  used, cap;
    char    b[];
};

/* Add an extra record with a copy of key (klen bytes) and the constant
 * string val: 0, or -1 out of memory. */
static int
recs_extra_const(struct recs *r, int tag, const char *key, size_t klen,
		 const char *val)
{
    struct recs_blk *k = r->blk;
    struct rec_extra *x;

    if (k == NULL || k->cap - k->used < klen + 1) {
	size_t  cap = klen + 1 > RECS_BLK ? klen + 1 : RECS_BLK;

	if ((k = malloc(sizeof(*k) + cap)) == NULL)
	    return (-1);
	k->next = r->blk;
	k->used = 0;
	k->cap = cap;
	r->blk = k;
    }
    if (recs_room(r) < 0)
	return (-1);
    x = &r->x[r->nx++];
    x->tag = tag;
    x->owned = 0;
    x->key = memcpy(k->b + k->used, key, klen);
    x->key[klen] = 0;
    k->used += klen + 1;
    x->val = (char *) (uintptr_t) val;
    x->klen = (uint32_t) klen;
    x->vlen = (uint32_t) strlen(val);
    return (0);
}

/* The key of the sub-list names (comp_set_sublist_key()). */
static unsigned char sub_key[64];
static size_t sub_key_len;

void
comp_set_sublist_key(const unsigned char *key, size_t len)
{
    sub_key_len = len < sizeof(sub_key) ? len : sizeof(sub_key);
    memcpy(sub_key, key, sub_key_len);
}

void
comp_sublist_stem(const char *primary, char out[17])
{
    uint8_t d[SHA256_DIGEST_SIZE];
    struct hmac_sha256_ctx ctx;
    size_t  i;

    hmac_sha256_set_key(&ctx, sub_key_len, sub_key);
    hmac_sha256_update(&ctx, strlen(primary), (const uint8_t *) primary);
    hmac_sha256_digest(&ctx, sizeof(d), d);
    for (i = 0; i < 8; i++)
	snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/*
 * The first-level sub-lists of n final addresses (total bytes with their
 * commas): nb buckets, a power of two.  The count the group had when it
 * was last compiled (prev, 0: none) is kept while no bucket is over
 * MAP_SUBLIST_BYTES and they are filled an eighth on average or more;
 * else nb fills them about half.  Doubled until none is over.  A group
 * thus keeps its sub-lists as it grows and shrinks, and changes them all
 * only when it has doubled or shrunk to a quarter.  Sets bucket[i] for
 * every address and returns nb, or 0 when out of memory.
 */
static size_t
sublist_buckets(const char **addrs, const uint64_t *mh, size_t n,
		size_t total, size_t prev, size_t *bucket)
{
    size_t  nb = 2, i, *fill;

    if (prev >= 2 && (prev & (prev - 1)) == 0 && prev * (MAP_SUBLIST_BYTES / 8) < total)
	nb = prev;
    else
	while (nb * (MAP_SUBLIST_BYTES / 2) < total)
	    nb *= 2;
    for (;;) {
	int     over = 0;

	if ((fill = calloc(nb, sizeof(*fill))) == NULL)
	    return (0);
	for (i = 0; i < n; i++) {
	    bucket[i] = (size_t) (mh[i] & (nb - 1));
	    fill[bucket[i]] += strlen(addrs[i]) + 1;
	    if (fill[bucket[i]] > MAP_SUBLIST_BYTES + 1)
		over = 1;
	}
	free(fill);
	if (!over || nb >= n)
	    return (nb);
	nb *= 2;
    }
}

/* The first-level sub-list count group g had when last compiled (0:
 * none), and setting it. */
static size_t
gsub_get(struct state *st, const struct ent *g)
{
    return ((size_t) (uintptr_t) htab_get(&st->gsub, (const char *) g->uuid, 16));
}

static void
gsub_set(struct state *st, const struct ent *g, size_t nb)
{
    const char *ok;
    void   *ov;
    char   *k;

    if (htab_take(&st->gsub, (const char *) g->uuid, 16, &ok, &ov))
	free((char *) (uintptr_t) ok);
    if (nb == 0 || (k = malloc(16)) == NULL)
	return;			/* only a hint */
    memcpy(k, g->uuid, 16);
    if (htab_put(&st->gsub, k, 16, (void *) (uintptr_t) nb) < 0)
	free(k);
}

/*
 * The group's V value from its final addresses: as it is when it fits
 * MAP_SUBLIST_BYTES, else split into sub-lists (extra V records) by
 * member_hash(), and when the list of those is too long itself, that
 * list cut into further sub-lists, as often as needed.  Returns the
 * value (malloc'ed) or NULL (out of memory); *nsub counts the sub-list
 * records.
 */
static char *
group_value(struct state *st, const struct ent *g, const char **addrs,
	    const uint64_t *mh, size_t n, struct recs *r, size_t *nsub)
{
    const char *primary = g->v[V_MAIL].s[0];
    size_t  prev = gsub_get(st, g);
    char    stem[17];
    char  **items = NULL;
    size_t  ni = 0, i, total = 0, nb = 0, b, id;
    size_t *bucket = NULL;
    struct sbuf v = {0}, *ch = NULL;

    *nsub = 0;
    for (i = 0; i < n; i++)
	total += strlen(addrs[i]) + 1;
    /* Inline when it fits, unless it was split and is not much smaller. */
    if (n <= 1 || (total <= MAP_SUBLIST_BYTES + 1
		   && !(prev && prev * (MAP_SUBLIST_BYTES / 8) < total))) {
	for (i = 0; i < n; i++) {
	    if (i)
		sb_str(&v, ",");
	    sb_str(&v, addrs[i]);
	}
	gsub_set(st, g, 0);
	goto done;
    }
    comp_sublist_stem(primary, stem);
    if ((bucket = malloc(n * sizeof(*bucket))) == NULL
	|| (nb = sublist_buckets(addrs, mh, n, total, prev, bucket)) == 0
	|| (ch = calloc(nb, sizeof(*ch))) == NULL || (items = calloc(nb, sizeof(*items))) == NULL)
	goto oom;
    gsub_set(st, g, nb);
    for (i = 0; i < n; i++) {
	if (ch[bucket[i]].n)
	    sb_str(&ch[bucket[i]], ",");
	sb_str(&ch[bucket[i]], addrs[i]);
    }
    /* Sub-list b is named b + 1, empty ones left out. */
    for (b = 0; b < nb; b++) {
	char   *key = NULL;

	if (ch[b].oom)
	    goto oom;
	if (ch[b].n == 0)
	    continue;
	if (asprintf(&key, MAP_SUBLIST_PREFIX "%s.%zu@" MAP_SUBLIST_DOMAIN, stem, b + 1) < 0)
	    goto oom;
	items[ni++] = key;
	++*nsub;
	if (recs_extra(r, MAP_T_VIRTUAL, strdup(key), ch[b].p) < 0) {
	    ch[b].p = NULL;
	    goto oom;
	}
	ch[b].p = NULL;
    }
    /* The list of sub-lists, cut in order when it is too long (above
     * about a thousand sub-lists, some 30 MB of addresses). */
    id = nb;
    for (;;) {
	size_t  nout = 0;
	char  **next;

	total = 0;
	for (i = 0; i < ni; i++)
	    total += strlen(items[i]) + 1;
	if (total <= MAP_SUBLIST_BYTES + 1 || ni <= 1) {
	    for (i = 0; i < ni; i++) {
		if (i)
		    sb_str(&v, ",");
		sb_str(&v, items[i]);
	    }
	    break;
	}
	if ((next = calloc(ni, sizeof(char *))) == NULL)
	    goto oom;
	for (i = 0; i < ni;) {
	    struct sbuf c = {0};
	    char   *key = NULL;

	    while (i < ni) {
		if (c.n && c.n + 1 + strlen(items[i]) > MAP_SUBLIST_BYTES)
		    break;
		if (c.n)
		    sb_str(&c, ",");
		sb_str(&c, items[i]);
		i++;
	    }
	    ++*nsub;
	    if (c.oom || asprintf(&key, MAP_SUBLIST_PREFIX "%s.%zu@" MAP_SUBLIST_DOMAIN,
				  stem, ++id) < 0) {
		free(c.p);
		key = NULL;
	    }
	    if (key == NULL || (next[nout++] = key,
				recs_extra(r, MAP_T_VIRTUAL, strdup(key), c.p) < 0)) {
		for (b = 0; b < nout; b++)
		    free(next[b]);
		free(next);
		goto oom;
	    }
	}
	for (i = 0; i < ni; i++)
	    free(items[i]);
	free(items);
	items = next;
	ni = nout;
    }
done:
    for (i = 0; i < ni; i++)
	free(items[i]);
    free(items);
    free(bucket);
    free(ch);
    if (v.oom) {
	free(v.p);
	return (NULL);
    }
    return (v.p ? v.p : strdup(""));
oom:
    for (i = 0; i < ni; i++)
	free(items[i]);
    free(items);
    if (ch)
	for (b = 0; b < nb; b++)
	    free(ch[b].p);
    free(ch);
    free(bucket);
    free(v.p);
    return (NULL);
}

/* Add S:primary\tsender = why (a constant), once per sender ("member"
 * first). */
static int
sender_rec(struct htab *done, struct recs *r, const char *primary,
	   const char *sender, const char *why)
{
    size_t  pl = strlen(primary), sl = strlen(sender), kl = pl + 1 + sl;
    char    key[MAP_KEY_MAX];

    if (kl + 2 > MAP_KEY_MAX)
	return (0);
    memcpy(key, primary, pl);
    key[pl] = '\t';
    memcpy(key + pl + 1, sender, sl);
    if (htab_get(done, key, kl))
	return (0);
    if (recs_extra_const(r, MAP_T_SENDER, key, kl, why) < 0)
	return (-1);
    return (htab_put(done, r->x[r->nx - 1].key, kl, r) < 0 ? -1 : 0);
}

/* Every address of a person (primary and acceptable aliases). */
static int
sender_person(struct htab *done, struct recs *r, const char *primary,
	      const struct ent *p, const char *why)
{
    size_t  i;

    if (p->v[V_MAIL].n && sender_rec(done, r, primary, p->v[V_MAIL].s[0], why) < 0)
	return (-1);
    for (i = 0; i < p->v[V_ALIAS].n; i++)
	if (!p->alias_bad[i] && sender_rec(done, r, primary, p->v[V_ALIAS].s[i], why) < 0)
	    return (-1);
    return (0);
}

/* The S records of group g (map.h); the members are in x. */
static int
group_senders(const struct conf *c, struct state *st, const struct ent *g,
	      const char *policy, struct gexp *x, struct recs *r, json_t *skipped)
{
    struct htab done;
    const char *primary = g->v[V_MAIL].s[0];
    size_t  i, j;
    int     ret = -1;

    if (strcmp(policy, "anyone") == 0)
	return (0);
    /* Sized for a members-only list's every member (a big one grew it a
     * dozen times). */
    if (htab_init(&done, strcmp(policy, "members") == 0 ? x->n + 64 : 64) < 0)
	return (-1);
    if (strcmp(policy, "members") == 0)
	for (i = 0; i < x->n; i++) {
	    /* Members' entries are spread over the heap: fetch the ones a
	     * few members on, level by level, so that the misses overlap. */
	    if (i + 12 < x->n && x->who[i + 12])
		__builtin_prefetch(&x->who[i + 12]->v[V_MAIL]);
	    if (i + 6 < x->n && x->who[i + 6] && x->who[i + 6]->v[V_MAIL].n)
		__builtin_prefetch(x->who[i + 6]->v[V_MAIL].s);
	    if (i + 3 < x->n && x->who[i + 3] && x->who[i + 3]->v[V_MAIL].n)
		__builtin_prefetch(x->who[i + 3]->v[V_MAIL].s[0]);
	    if ((x->who[i] ? sender_person(&done, r, primary, x->who[i], "member")
		 : sender_rec(&done, r, primary, x->addrs[i], "member")) < 0)
		goto out;
	}
    for (i = 0; i < g->v[V_ALLOWED].n; i++) {
	const char *a = g->v[V_ALLOWED].s[i];
	const char *why;

	if (a[0] == '@') {
	    if (addr_valid_domain(a + 1, strlen(a + 1), &why) < 0) {
		json_array_append_new(skipped, json_pack("{s:s, s:s}", "dn", g->dn,
		    "reason", "fwdGroupAllowedSender: invalid @domain"));
		continue;
	    }
	    if (sender_rec(&done, r, primary, a, "allowed") < 0)
		goto out;
	} else if (strchr(a, '=') && strchr(a, '@') == NULL) {
	    const struct ent *e = htab_get(&st->dns, a, strlen(a));

	    if (e == NULL || e->invalid) {
		json_array_append_new(skipped, json_pack("{s:s, s:s}", "dn", a,
		    "reason", "fwdGroupAllowedSender: no such (valid) entry"));
	    } else if (ENT_IS_GROUP(e)) {
		struct gexp ax;

		if (gexp_init(&ax, c, st, e->v[V_MEMBER].n) < 0) {
		    gexp_free(&ax);
		    goto out;
		}
		gexp_group(&ax, e);
		for (j = 0; j < ax.n; j++)
		    if ((ax.who[j] ? sender_person(&done, r, primary, ax.who[j], "allowed")
			 : sender_rec(&done, r, primary, ax.addrs[j], "allowed")) < 0) {
			gexp_free(&ax);
			goto out;
		    }
		gexp_free(&ax);
	    } else if (sender_person(&done, r, primary, e, "allowed") < 0)
		goto out;
	} else if (addr_valid(a, strlen(a), &why) == 0) {
	    if (sender_rec(&done, r, primary, a, "allowed") < 0)
		goto out;
	} else
	    json_array_append_new(skipped, json_pack("{s:s, s:s}", "dn", g->dn,
		"reason", "fwdGroupAllowedSender: neither a DN, an address nor @domain"));
    }
    ret = 0;
out:
    htab_free(&done);
    return (ret);
}

static int
comp_group(const struct conf *c, struct state *st, const struct ent *g,
	   const char *addr, int is_primary, struct recs *out, struct report *rep)
{
    const char *primary = g->v[V_MAIL].s[0];
    const char *policy = group_policy(g);
    const char *tenant = ent_tenant(c, g);
    struct gexp x;
    json_t *p = NULL, *urls;
    size_t  nsub = 0, i;
    char   *pj;
    int     ret = -1;

    (void) addr;		/* any address of g: the same records but V */
    if (policy == NULL)
	policy = "anyone";
    {
	struct urlres *u = state_urls(st, g);

	if (gexp_init(&x, c, st, g->v[V_MEMBER].n + (u ? u->n : 0)) < 0
	    || (x.direct = json_array()) == NULL)
	    goto out;
    }
    gexp_group(&x, g);
    if (x.oom)
	goto out;
    /* The walk of a group whose expansion is kept is kept too: the lists
     * that name it, compiled after it (pub_delta() takes such groups
     * first), need not walk it again. */
    if (gflat_wanted(st, g) && htab_get(&st->gflat, (const char *) g->uuid, 16) == NULL
	&& htab_get(&st->refs, g->dnkey, strlen(g->dnkey)) != NULL)	/* nested */
	(void) gflat_keep(st, g, &x, 1);
    if (is_primary && rep) {
	for (i = 0; i < json_array_size(x.skipped); i++) {
	    json_t *s = json_array_get(x.skipped, i);

	    report_reject(rep, json_string_value(json_object_get(s, "dn")), primary,
			  "group member skipped",
			  json_string_value(json_object_get(s, "reason")));
	}
	if (json_array_size(x.cycle)) {
	    char   *path[MAP_P_LIST_MAX + 1];
	    size_t  n = json_array_size(x.cycle);

	    path[0] = (char *) (uintptr_t) primary;
	    for (i = 0; i < n; i++)
		path[i + 1] = (char *) (uintptr_t) json_string_value(json_array_get(x.cycle, i));
	    report_loop(rep, path, n + 1);
	}
    }
    if (x.n == 0) {
	if (is_primary)
	    report_reject(rep, g->dn, NULL, "group has no deliverable member", primary);
	/* The address's own refusal replaces a conflict's record (what
	 * RCPT answers is that the group delivers nowhere). */
	free(out->v[REC_IDX(MAP_T_REJECTED)]);
	out->v[REC_IDX(MAP_T_REJECTED)] = xjson(g->dn, tenant, "group has no deliverable member");
	ret = out->v[REC_IDX(MAP_T_REJECTED)] ? 0 : -1;
	goto out;
    }
    out->v[REC_IDX(MAP_T_RECIPIENT)] = strdup(tenant);
    if (asprintf(&out->v[REC_IDX(MAP_T_GROUP)], "%s\t%s\t%s", policy, primary, tenant) < 0)
	out->v[REC_IDX(MAP_T_GROUP)] = NULL;
    if (is_primary) {
	out->v[REC_IDX(MAP_T_VIRTUAL)] = group_value(st, g, x.addrs, x.mh, x.n, out, &nsub);
	if (out->v[REC_IDX(MAP_T_VIRTUAL)] == NULL
	    || group_senders(c, st, g, policy, &x, out, x.skipped) < 0)
	    goto out;
    } else
	out->v[REC_IDX(MAP_T_VIRTUAL)] = strdup(primary);
    urls = json_array();
    for (i = 0; i < g->v[V_URL].n; i++)
	json_array_append_new(urls, json_string(g->v[V_URL].s[i]));
    {
	char    u[37];

	uuid_str(g->uuid, u);
	p = json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:I, s:O, s:I, s:O, s:I, s:o,"
		      " s:I, s:s}",
		      "dn", g->dn, "tenant", tenant, "role", "group", "alias", !is_primary,
		      "primary", primary, "policy", policy, "members", (json_int_t) x.n,
		      "direct", x.direct, "direct_total", (json_int_t) x.ndirect,
		      "skipped", x.skipped, "skipped_total", (json_int_t) x.nskipped,
		      "urls", urls, "sublists", (json_int_t) nsub, "uuid", u);
    }
    if (p && json_array_size(x.cycle))
	json_object_set(p, "cycle", x.cycle);
    if (p == NULL || (pj = json_dumps(p, JSON_COMPACT)) == NULL)
	goto out;
    out->v[REC_IDX(MAP_T_PROVENANCE)] = pj;
    ret = (out->v[REC_IDX(MAP_T_RECIPIENT)] && out->v[REC_IDX(MAP_T_GROUP)] && out->v[REC_IDX(MAP_T_VIRTUAL)]) ? 0 : -1;
out:
    json_decref(p);
    gexp_free(&x);
    return (ret);
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
	return (0);
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
	return (out->v[REC_IDX(MAP_T_REJECTED)] ? 0 : -1);
    }
    e = w->e;
    primary = e->v[V_MAIL].s[0];
    is_primary = strcmp(addr, primary) == 0;
    if (ENT_IS_GROUP(e)) {
	if (loser) {
	    char   *why = NULL;

	    (void) !asprintf(&why, "conflict: address routed to %s (%s)", e->dn,
			     (w->role == ROLE_PRIMARY && loser->role == ROLE_ALIAS)
			     ? "primary address beats alias" : "smallest entryUUID wins");
	    out->v[REC_IDX(MAP_T_REJECTED)] = why ? xjson(loser->e->dn, ent_tenant(c, loser->e), why) : NULL;
	    free(why);
	}
	return (comp_group(c, st, e, addr, is_primary, out, rep));
    }
    loc = loc_of(c, e);
    nk = kept_fwds(c, st, e, kept, sizeof(kept) / sizeof(kept[0]),
		   is_primary ? rep : NULL);
    if (strcmp(loc, "none") == 0 && nk == 0) {
	report_reject(rep, e->dn, NULL, "no valid destination left (all forwards dropped)", NULL);
	if (rep && is_primary) {
	    const char *path[MAX_LOOP_DEPTH + 1];
	    size_t  plen = 0;

	    if (loop_dfs(c, st, primary, primary, path, 0, &plen))
		report_loop(rep, (char *const *) (uintptr_t) path, plen);
	}
	out->v[REC_IDX(MAP_T_REJECTED)] = xjson(e->dn, ent_tenant(c, e),
				     "no valid destination left (all forwards dropped)");
	return (out->v[REC_IDX(MAP_T_REJECTED)] ? 0 : -1);
    }
    if (strcmp(loc, "none") == 0 && !ent_delivers(c, st, e)) {
	if (is_primary)
	    report_reject(rep, e->dn, NULL, NO_SINK_REASON, primary);
	out->v[REC_IDX(MAP_T_REJECTED)] = xjson(e->dn, ent_tenant(c, e), NO_SINK_REASON);
	return (out->v[REC_IDX(MAP_T_REJECTED)] ? 0 : -1);
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
	struct walk fw = {0};

	/* Through a cycle of entries without a mailbox: the sinks. */
	fw.collect = 1;
	fw.self = e;
	for (i = 0; i < nk && !fw.over; i++)
	    walk_addr(c, st, e->v[V_FWD].s[kept[i]], e->fwd_pub[kept[i]], &fw);
	if (fw.cycle && !fw.over) {
	    if (strcmp(loc, "none") != 0)
		sb_str(&v, primary);
	    for (i = 0; i < fw.nsinks; i++) {
		if (v.n)
		    sb_str(&v, ",");
		sb_str(&v, fw.sinks[i]);
	    }
	    if (v.n > COMP_MAX_EXPANSION) {
		free(v.p);
		memset(&v, 0, sizeof(v));
	    }
	}
	walk_done(&fw);
	if (v.p != NULL)
	    ;
	else if (strcmp(loc, "none") != 0) {
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
	return (-1);
    return (0);
}

void
recs_free(struct recs *r)
{
    size_t  i;

    for (i = 0; i < sizeof(r->v) / sizeof(r->v[0]); i++) {
	free(r->v[i]);
	r->v[i] = NULL;
    }
    for (i = 0; i < r->nx; i++)
	if (r->x[i].owned) {
	    free(r->x[i].key);
	    free(r->x[i].val);
	}
    free(r->x);
    r->x = NULL;
    r->nx = r->cx = 0;
    while (r->blk) {
	struct recs_blk *k = r->blk;

	r->blk = k->next;
	free(k);
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
	return (NULL);
    return (v);
}

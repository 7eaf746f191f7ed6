/*
 * state.c - ldapsync's in-memory directory copy, indexes, snapshot and
 *	     journal (see state.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"

#define STATE_FILE	"ldapsync.state"
#define JOURNAL_FILE	"ldapsync.journal"
/* 3: group attributes (issue 10); 2: forwards as written (1 held them
 * folded: resuming from it would publish them folded until each entry
 * changed).  An older snapshot is refused and a full refresh rebuilds the
 * state. */
#define STATE_MAGIC	"fwdmap-ldapsync-state 3"

static void
fold(char *s)
{
    for (; *s; s++)
	if (*s >= 'A' && *s <= 'Z')
	    *s = (char) (*s - 'A' + 'a');
}

/* Upper-case letters before the last '@' (or anywhere without one)? */
static int
local_has_upper(const char *s)
{
    const char *at = strrchr(s, '@'), *p;

    for (p = s; *p && p != at; p++)
	if (*p >= 'A' && *p <= 'Z')
	    return (1);
    return (0);
}

void
state_dn_canon(const char *in, char *out)
{
    char   *o = out;

    while (*in == ' ')
	in++;
    for (; *in; in++) {
	char    ch = *in;

	if (ch == '\\' && in[1]) {
	    *o++ = ch;
	    ch = *++in;
	    *o++ = (ch >= 'A' && ch <= 'Z') ? (char) (ch - 'A' + 'a') : ch;
	    continue;
	}
	if (ch == ',' || ch == '=' || ch == '+') {
	    while (o > out && o[-1] == ' ')
		o--;
	    *o++ = ch;
	    while (in[1] == ' ')
		in++;
	    continue;
	}
	*o++ = (ch >= 'A' && ch <= 'Z') ? (char) (ch - 'A' + 'a') : ch;
    }
    while (o > out && o[-1] == ' ' && (o - 1 == out || o[-2] != '\\'))
	o--;
    *o = 0;
}

/*
 * The load arena: a snapshot's million entries and address nodes are
 * carved from a few large zeroed mappings (on transparent huge pages
 * where the system grants them on request) instead of millions of
 * mallocs, each a page fault and a cache miss more.  What is carved is
 * never freed alone: an entry or node of the arena that is replaced or
 * deleted later just stays behind (the arena is at most what the load
 * made) until the state is freed.
 */
#define CHUNK_MIN	(64UL << 10)
#define CHUNK_SIZE	(64UL << 20)

/* st->loading: not loading, loading on one thread, loading into an empty
 * state on two (every entry is then the reader's arena's). */
enum { LOAD_NONE, LOAD_SEQ, LOAD_PIPE };

struct state_chunk {
    struct state_chunk *next;
    char   *base, *cur, *end;
};

/* n zeroed bytes from the arena; NULL when out of memory. */
static void *
arena_alloc(struct state_chunk **head, size_t n)
{
    struct state_chunk *c = *head;
    void   *p;

    n = (n + 7) & ~(size_t) 7;		/* pointers are the widest members */
    if (c == NULL || (size_t) (c->end - c->cur) < n) {
	/* 64 kB first, doubling up to CHUNK_SIZE: a small state takes
	 * little, a million entries a dozen mappings. */
	size_t  sz = c == NULL ? CHUNK_MIN : (size_t) (c->end - c->base) * 2;

	if (sz > CHUNK_SIZE)
	    sz = CHUNK_SIZE;
	if (n > sz / 4)
	    sz = n;

	if ((c = malloc(sizeof(*c))) == NULL)
	    return (NULL);
	p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
	    free(c);
	    return (NULL);
	}
	htab_advise_huge(p, sz);
	c->base = c->cur = p;
	c->end = c->base + sz;
	if (*head && (size_t) ((*head)->end - (*head)->cur) >= sz / 4) {
	    c->next = (*head)->next;	/* a big one-off: keep filling the other */
	    (*head)->next = c;
	    c->cur = c->end;
	    return (p);
	}
	c->next = *head;
	*head = c;
    }
    p = c->cur;
    c->cur += n;
    return (p);
}

static int
arena_owns(const struct state_chunk *c, const void *p)
{
    for (; c; c = c->next)
	if ((const char *) p >= c->base && (const char *) p < c->end)
	    return (1);
    return (0);
}

static void
arena_free(struct state_chunk **head)
{
    struct state_chunk *c, *next;

    for (c = *head; c; c = next) {
	next = c->next;
	munmap(c->base, (size_t) (c->end - c->base));
	free(c);
    }
    *head = NULL;
}

/* Free an entry the state held (not one of the arena). */
static void
drop_ent(struct state *st, struct ent *e)
{
    if (st->loading != LOAD_PIPE && !arena_owns(st->arena, e))
	ent_free(e);
}

static void
drop_anode(struct state *st, struct anode *a)
{
    if (a->c != &a->c1)
	free(a->c);
    free(a->f);
    if (!arena_owns(st->arena, a))
	free(a);
}

static struct ent *
ent_build(const unsigned char uuid[16], const char *dn, char **const vals[V_NUM],
	  const size_t nvals[V_NUM], struct state_chunk **arena);

struct ent *
ent_new(const unsigned char uuid[16], const char *dn,
	char **const vals[V_NUM], const size_t nvals[V_NUM])
{
    return (ent_build(uuid, dn, vals, nvals, NULL));
}

/* ent_new(), from the arena when one is given. */
static struct ent *
ent_build(const unsigned char uuid[16], const char *dn, char **const vals[V_NUM],
	  const size_t nvals[V_NUM], struct state_chunk **arena)
{
    size_t  need = sizeof(struct ent), ptrs = 0, i, k, dl = strlen(dn);
    struct ent *e;
    char  **pp, *sp, canon[512];
    /* A DN already in canonical form (the usual case) is its own key. */
    int     same_key = dl < sizeof(canon)
	&& (state_dn_canon(dn, canon), strcmp(canon, dn) == 0);

    need += (same_key ? 1 : 2) * (dl + 1);
    for (k = 0; k < V_NUM; k++) {
	ptrs += nvals[k];
	for (i = 0; i < nvals[k]; i++)
	    need += strlen(vals[k][i]) + 1;
    }
    for (i = 0; i < nvals[V_FWD]; i++)	/* the forwards as written */
	if (local_has_upper(vals[V_FWD][i]))
	    need += strlen(vals[V_FWD][i]) + 1;
    ptrs += nvals[V_ALIAS] + 2 * nvals[V_FWD];	/* *_bad, fwd_pub */
    need += ptrs * sizeof(char *);
    if ((e = arena ? arena_alloc(arena, need) : calloc(1, need)) == NULL)
	return (NULL);
    memcpy(e->uuid, uuid, 16);
    e->tenant = -1;
    pp = (char **) (e + 1);
    sp = (char *) (pp + ptrs);
    for (k = 0; k < V_NUM; k++) {
	e->v[k].s = pp;
	e->v[k].n = (uint32_t) nvals[k];
	for (i = 0; i < nvals[k]; i++) {
	    size_t  l = strlen(vals[k][i]) + 1;

	    memcpy(sp, vals[k][i], l);
	    *pp++ = sp;
	    if (k == V_MEMBER || (k == V_ALLOWED && strchr(sp, '=') != NULL))
		state_dn_canon(vals[k][i], sp);
	    else if (k != V_URL)
		fold(sp);
	    sp += l;
	}
    }
    e->alias_bad = (const char **) (void *) pp;
    pp += nvals[V_ALIAS];
    e->fwd_bad = (const char **) (void *) pp;
    pp += nvals[V_FWD];
    e->fwd_pub = (const char **) (void *) pp;
    for (i = 0; i < nvals[V_FWD]; i++) {
	if (local_has_upper(vals[V_FWD][i])) {
	    size_t  l = strlen(vals[V_FWD][i]) + 1;
	    char   *at;

	    memcpy(sp, vals[V_FWD][i], l);
	    if ((at = strrchr(sp, '@')) != NULL)
		fold(at + 1);
	    pp[i] = sp;
	    sp += l;
	} else
	    pp[i] = e->v[V_FWD].s[i];
    }
    pp += nvals[V_FWD];
    memcpy(sp, dn, dl + 1);
    e->dn = sp;
    sp += dl + 1;
    if (same_key)
	e->dnkey = e->dn;
    else {
	state_dn_canon(dn, sp);
	e->dnkey = sp;
    }
    return (e);
}

void
ent_free(struct ent *e)
{
    free(e);
}

void
uuid_str(const unsigned char u[16], char out[37])
{
    static const char hx[] = "0123456789abcdef";
    size_t  i, o = 0;

    for (i = 0; i < 16; i++) {
	if (i == 4 || i == 6 || i == 8 || i == 10)
	    out[o++] = '-';
	out[o++] = hx[u[i] >> 4];
	out[o++] = hx[u[i] & 15];
    }
    out[o] = 0;
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
	return (c - '0');
    if (c >= 'a' && c <= 'f')
	return (c - 'a' + 10);
    if (c >= 'A' && c <= 'F')
	return (c - 'A' + 10);
    return (-1);
}

/* Parse "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (dashes optional). */
int
uuid_parse(const char *s, unsigned char u[16])
{
    size_t  n = 0;
    int     hi, lo;

    while (*s && n < 16) {
	if (*s == '-') {
	    s++;
	    continue;
	}
	if ((hi = hexval(s[0])) < 0 || (lo = hexval(s[1])) < 0)
	    return (-1);
	u[n++] = (unsigned char) (hi << 4 | lo);
	s += 2;
    }
    return ((n == 16 && *s == 0) ? 0 : -1);
}

static void
urlres_free(struct urlres *u)
{
    size_t  i;

    if (u == NULL)
	return;
    for (i = 0; i < u->n; i++)
	free(u->dns[i]);
    free(u->dns);
    free(u->why);
    free(u->bad_url);
    free(u);
}

int
state_init(struct state *st)
{
    return (state_init_hint(st, 1024));
}

int
state_init_hint(struct state *st, size_t entries)
{
    memset(st, 0, sizeof(*st));
    if (htab_init(&st->ents, entries) < 0 || htab_init(&st->addrs, entries) < 0
	|| htab_init(&st->dirty, entries / 4) < 0 || htab_init(&st->dns, entries) < 0
	|| htab_init(&st->refs, 256) < 0 || htab_init(&st->urls, 16) < 0
	|| htab_init(&st->url_pending, 16) < 0 || htab_init(&st->grel, 16) < 0
	|| htab_init(&st->gsub, 16) < 0 || htab_init(&st->gmemo, 16) < 0
	|| htab_init(&st->gflat, 16) < 0)
	return (-1);
    return (0);
}

/*
 * What compile.c keeps of big groups across passes (st->gflat) names
 * entries by pointer: a replaced or deleted one is noted here, so that
 * the next check repoints or drops what named it.  A change that is not
 * tracked as dirty (a full refresh) drops everything kept.
 */
#define GFREED_MAX	65536

static void
gflat_note(struct state *st, const struct ent *old)
{
    if (st->gflat.n == 0 || st->gflat_check == NULL)
	return;
    if (st->no_dirty) {
	st->gflat_check(st, 1);
	return;
    }
    if (old == NULL || st->gfreed_over)
	return;
    if (st->ngfreed == st->cgfreed) {
	size_t  n = st->cgfreed ? st->cgfreed * 2 : 16;
	struct gfreed *f = n <= GFREED_MAX ? realloc(st->gfreed, n * sizeof(*f)) : NULL;

	if (f == NULL) {
	    st->gfreed_over = 1;
	    return;
	}
	st->gfreed = f;
	st->cgfreed = n;
    }
    st->gfreed[st->ngfreed].e = old;
    memcpy(st->gfreed[st->ngfreed++].uuid, old->uuid, 16);
}

void
state_gmemo_reset(struct state *st)
{
    size_t  pos = 0;
    void   *v;

    while (htab_next(&st->gmemo, &pos, NULL, NULL, &v))
	free(v);
    htab_free_keys(&st->gmemo);		/* an empty table, allocated on use */
}

void
state_gflat_drop(struct state *st)
{
    if (st->gflat_check)
	st->gflat_check(st, 1);
}

void
state_free(struct state *st)
{
    size_t  pos = 0;
    void   *v;

    while (htab_next(&st->ents, &pos, NULL, NULL, &v))
	drop_ent(st, v);
    pos = 0;
    while (htab_next(&st->addrs, &pos, NULL, NULL, &v))
	drop_anode(st, v);
    pos = 0;
    while (htab_next(&st->refs, &pos, NULL, NULL, &v)) {
	free(((struct rnode *) v)->g);
	free(v);
    }
    pos = 0;
    while (htab_next(&st->urls, &pos, NULL, NULL, &v))
	urlres_free(v);
    htab_free_keys(&st->urls);
    htab_free(&st->ents);
    htab_free(&st->addrs);
    htab_free_keys(&st->dirty);
    htab_free(&st->dns);
    htab_free(&st->refs);
    htab_free_keys(&st->url_pending);
    htab_free_keys(&st->grel);
    htab_free_keys(&st->gsub);
    state_gmemo_reset(st);
    state_gflat_drop(st);
    htab_free(&st->gflat);
    free(st->gfreed);
    arena_free(&st->arena);
}

struct ent *
state_dn(struct state *st, const char *dn)
{
    char    buf[1024];
    char   *k = strlen(dn) < sizeof(buf) ? buf : malloc(strlen(dn) + 1);
    struct ent *e;

    if (k == NULL)
	return (NULL);
    state_dn_canon(dn, k);
    e = htab_get(&st->dns, k, strlen(k));
    if (k != buf)
	free(k);
    return (e);
}

/* ---- reverse index: DN -> groups naming it ---- */

static int
ref_add(struct state *st, const char *dn, struct ent *g)
{
    size_t  len = strlen(dn);
    struct rnode *r = htab_get(&st->refs, dn, len);
    uint32_t i;

    if (r == NULL) {
	if ((r = calloc(1, sizeof(*r) + len + 1)) == NULL)
	    return (-1);
	memcpy(r->key, dn, len + 1);
	if (htab_put(&st->refs, r->key, len, r) < 0) {
	    free(r);
	    return (-1);
	}
    }
    for (i = 0; i < r->n; i++)
	if (r->g[i] == g)
	    return (0);
    if (r->n == r->cap) {
	uint32_t nc = r->cap ? r->cap * 2 : 2;
	struct ent **x = realloc(r->g, nc * sizeof(*x));

	if (x == NULL)
	    return (-1);
	r->g = x;
	r->cap = nc;
    }
    r->g[r->n++] = g;
    return (0);
}

static void
ref_del(struct state *st, const char *dn, const struct ent *g)
{
    size_t  len = strlen(dn);
    struct rnode *r = htab_get(&st->refs, dn, len);
    uint32_t i;

    if (r == NULL)
	return;
    for (i = 0; i < r->n; i++)
	if (r->g[i] == g) {
	    r->g[i] = r->g[--r->n];
	    break;
	}
    if (r->n == 0) {
	htab_del(&st->refs, r->key, len);
	free(r->g);
	free(r);
    }
}

/* The DN-valued references of group g (members, allowed DNs, URL results). */
static int
refs_of(struct state *st, struct ent *g, int add)
{
    struct urlres *u = htab_get(&st->urls, (const char *) g->uuid, 16);
    size_t  i;
    int     r = 0;

    for (i = 0; i < g->v[V_MEMBER].n; i++)
	r |= add ? ref_add(st, g->v[V_MEMBER].s[i], g) : (ref_del(st, g->v[V_MEMBER].s[i], g), 0);
    for (i = 0; i < g->v[V_ALLOWED].n; i++)
	if (strchr(g->v[V_ALLOWED].s[i], '='))
	    r |= add ? ref_add(st, g->v[V_ALLOWED].s[i], g)
		: (ref_del(st, g->v[V_ALLOWED].s[i], g), 0);
    for (i = 0; u && i < u->n; i++)
	r |= add ? ref_add(st, u->dns[i], g) : (ref_del(st, u->dns[i], g), 0);
    return (r ? -1 : 0);
}

struct urlres *
state_urls(struct state *st, const struct ent *g)
{
    return (htab_get(&st->urls, (const char *) g->uuid, 16));
}

struct ent *
state_get(struct state *st, const unsigned char uuid[16])
{
    return (htab_get(&st->ents, (const char *) uuid, 16));
}

struct anode *
state_addr(struct state *st, const char *addr, size_t len)
{
    return (htab_get(&st->addrs, addr, len));
}

int
state_mark_dirty(struct state *st, const char *addr, size_t len)
{
    char   *k;

    if (st->no_dirty || htab_get(&st->dirty, addr, len) != NULL)
	return (0);
    if ((k = strndup(addr, len)) == NULL)
	return (-1);
    if (htab_put(&st->dirty, k, len, st) < 0) {
	free(k);
	return (-1);
    }
    return (0);
}

static struct anode *
anode_get(struct state *st, const char *addr)
{
    size_t  len = strlen(addr);
    struct anode *a = htab_get(&st->addrs, addr, len);

    if (a)
	return (a);
    if ((a = st->loading ? arena_alloc(&st->arena, sizeof(*a) + len + 1)
	 : calloc(1, sizeof(*a) + len + 1)) == NULL)
	return (NULL);
    memcpy(a->addr, addr, len + 1);
    a->c = &a->c1;
    if (htab_put(&st->addrs, a->addr, len, a) < 0) {
	drop_anode(st, a);
	return (NULL);
    }
    return (a);
}

static void
anode_maybe_free(struct state *st, struct anode *a)
{
    if (a->nc || a->nf)
	return;
    htab_del(&st->addrs, a->addr, strlen(a->addr));
    drop_anode(st, a);
}

static int
index_claim(struct state *st, struct ent *e, const char *addr, int role,
	    const char *bad)
{
    struct anode *a = anode_get(st, addr);

    if (a == NULL)
	return (-1);
    if (a->cc == 0)
	a->cc = 1;		/* the inline claim */
    if (a->nc == a->cc) {
	uint32_t nc = a->cc * 2;
	struct claim *c;

	if (a->c == &a->c1) {
	    if ((c = malloc(nc * sizeof(*c))) != NULL)
		c[0] = a->c1;
	} else
	    c = realloc(a->c, nc * sizeof(*c));
	if (c == NULL)
	    return (-1);
	a->c = c;
	a->cc = nc;
    }
    a->c[a->nc].e = e;
    a->c[a->nc].role = role;
    a->c[a->nc].bad = bad;
    a->nc++;
    return (state_mark_dirty(st, addr, strlen(addr)));
}

static int
index_fwd(struct state *st, struct ent *e, const char *addr)
{
    struct anode *a = anode_get(st, addr);

    if (a == NULL)
	return (-1);
    if (a->nf == a->cf) {
	uint32_t nf = a->cf ? a->cf * 2 : 1;
	struct ent **f = realloc(a->f, nf * sizeof(*f));

	if (f == NULL)
	    return (-1);
	a->f = f;
	a->cf = nf;
    }
    a->f[a->nf++] = e;
    return (0);
}

/* Mark every address of e dirty. */
static int
mark_addrs(struct state *st, const struct ent *e)
{
    size_t  i;

    for (i = 0; i < e->v[V_MAIL].n; i++)
	if (state_mark_dirty(st, e->v[V_MAIL].s[i], strlen(e->v[V_MAIL].s[i])) < 0)
	    return (-1);
    for (i = 0; i < e->v[V_ALIAS].n; i++)
	if (state_mark_dirty(st, e->v[V_ALIAS].s[i], strlen(e->v[V_ALIAS].s[i])) < 0)
	    return (-1);
    return (0);
}

/* Groups that name dnkey: their addresses are dirty (a member that
 * appears, goes, or is renamed away). */
static int
mark_refs(struct state *st, const char *dnkey)
{
    struct rnode *r = htab_get(&st->refs, dnkey, strlen(dnkey));
    uint32_t i;

    for (i = 0; r && i < r->n; i++)
	if (mark_addrs(st, r->g[i]) < 0)
	    return (-1);
    return (0);
}

static int grel_add(struct state *st, const unsigned char uuid[16]);

static void
unindex(struct state *st, struct ent *e)
{
    size_t  k, i;
    uint32_t j;

    e->pa = NULL;		/* its claim goes, and the node may too */
    if (htab_get(&st->dns, e->dnkey, strlen(e->dnkey)) == e)
	htab_del(&st->dns, e->dnkey, strlen(e->dnkey));
    if (ENT_IS_GROUP(e))
	refs_of(st, e, 0);
    if (ENT_IS_GROUP(e) && e->v[V_URL].n)
	st->nurlgroups--;

    for (k = 0; k < V_NUM; k++) {
	if (k != V_MAIL && k != V_ALIAS && k != V_FWD)
	    continue;
	for (i = 0; i < e->v[k].n; i++) {
	    const char *addr = e->v[k].s[i];
	    struct anode *a = htab_get(&st->addrs, addr, strlen(addr));

	    if (a == NULL)
		continue;
	    if (k == V_FWD) {
		for (j = 0; j < a->nf; j++)
		    if (a->f[j] == e) {
			a->f[j] = a->f[--a->nf];
			break;
		    }
	    } else {
		for (j = 0; j < a->nc; j++)
		    if (a->c[j].e == e) {
			a->c[j] = a->c[--a->nc];
			j--;
		    }
		/* Who wins a contested address can change with this: the
		 * groups naming the other claimants see it (once the
		 * address is no longer contested, nothing else tells). */
		for (j = 0; j < a->nc; j++)
		    (void) grel_add(st, a->c[j].e->uuid);
		state_mark_dirty(st, addr, strlen(addr));
	    }
	    anode_maybe_free(st, a);
	}
    }
}

static int
reindex(struct state *st, struct ent *e)
{
    size_t  i, j;

    if (htab_put(&st->dns, e->dnkey, strlen(e->dnkey), e) < 0)
	return (-1);
    if (ENT_IS_GROUP(e) && refs_of(st, e, 1) < 0)
	return (-1);
    if (ENT_IS_GROUP(e) && e->v[V_URL].n)
	st->nurlgroups++;

    for (i = 0; i < e->v[V_MAIL].n; i++)
	if (index_claim(st, e, e->v[V_MAIL].s[i], ROLE_PRIMARY, NULL) < 0)
	    return (-1);
    if (e->v[V_MAIL].n == 1)
	e->pa = state_addr(st, e->v[V_MAIL].s[0], strlen(e->v[V_MAIL].s[0]));
    for (i = 0; i < e->v[V_ALIAS].n; i++) {
	/* An alias repeating the entry's own mail or another alias is
	 * not a second claim. */
	int     dup = 0;

	for (j = 0; j < e->v[V_MAIL].n && !dup; j++)
	    dup = strcmp(e->v[V_MAIL].s[j], e->v[V_ALIAS].s[i]) == 0;
	for (j = 0; j < i && !dup; j++)
	    dup = strcmp(e->v[V_ALIAS].s[j], e->v[V_ALIAS].s[i]) == 0;
	if (dup)
	    continue;
	if (index_claim(st, e, e->v[V_ALIAS].s[i], ROLE_ALIAS, e->alias_bad[i]) < 0)
	    return (-1);
    }
    for (i = 0; i < e->v[V_FWD].n; i++) {
	int     dup = 0;

	for (j = 0; j < i && !dup; j++)
	    dup = strcmp(e->v[V_FWD].s[j], e->v[V_FWD].s[i]) == 0;
	if (!dup && index_fwd(st, e, e->v[V_FWD].s[i]) < 0)
	    return (-1);
    }
    return (0);
}

int
vals_same(const struct vals *a, const struct vals *b)
{
    uint32_t i;

    if (a->n != b->n)
	return (0);
    for (i = 0; i < a->n; i++)
	if (strcmp(a->s[i], b->s[i]) != 0)
	    return (0);
    return (1);
}

static void
url_pending_del(struct state *st, const unsigned char uuid[16])
{
    const char *k;
    void   *v;

    if (htab_take(&st->url_pending, (const char *) uuid, 16, &k, &v))
	free((char *) (uintptr_t) k);
}

/* Remember that groups naming entry uuid must be recompiled. */
static int
grel_add(struct state *st, const unsigned char uuid[16])
{
    char   *k;

    if (st->no_dirty || htab_get(&st->grel, (const char *) uuid, 16))
	return (0);
    if ((k = malloc(16)) == NULL)
	return (-1);
    memcpy(k, uuid, 16);
    if (htab_put(&st->grel, k, 16, st) < 0) {
	free(k);
	return (-1);
    }
    return (0);
}

static int
loc_none(const struct ent *e)
{
    return (e->v[V_LOC].n == 0 || strcmp(e->v[V_LOC].s[0], "none") == 0);
}

/*
 * Does what groups say about a member depend on the change from old to
 * e?  Its addresses (V and S), whether it is valid, and whether it
 * delivers (forwards matter only without a mailbox) do; its store does
 * not, so that moving a person between stores does not recompile every
 * list they are on.  Group attributes do (a nested group).
 */
static int
group_relevant(const struct ent *old, const struct ent *e)
{
    size_t  k;

    if (old->tenant != e->tenant || (old->invalid == NULL) != (e->invalid == NULL)
	|| !vals_same(&old->v[V_MAIL], &e->v[V_MAIL])
	|| !vals_same(&old->v[V_ALIAS], &e->v[V_ALIAS]))
	return (1);
    if (!vals_same(&old->v[V_LOC], &e->v[V_LOC]) && (loc_none(old) || loc_none(e)))
	return (1);
    if (!vals_same(&old->v[V_FWD], &e->v[V_FWD]) && (loc_none(old) || loc_none(e)))
	return (1);
    for (k = V_MEMBER; k < V_NUM; k++)
	if (!vals_same(&old->v[k], &e->v[k]))
	    return (1);
    return (0);
}

int
state_put(struct state *st, struct ent *e)
{
    struct ent *old = htab_get(&st->ents, (const char *) e->uuid, 16);
    /* Groups naming the DN: a new entry, a rename or move (the old DN's
     * groups lose it, the new DN's gain it), or a change they see. */
    int     refs = old == NULL || strcmp(old->dnkey, e->dnkey) != 0
	|| group_relevant(old, e);

    gflat_note(st, old);
    if (refs && grel_add(st, e->uuid) < 0)
	return (-1);
    if (old) {
	if (!st->no_dirty && refs && mark_refs(st, old->dnkey) < 0)
	    return (-1);
	unindex(st, old);
	e->mark = old->mark;
    }
    /* A group whose memberURLs are new or changed: evaluate them soon. */
    if (ENT_IS_GROUP(e) && e->v[V_URL].n
	&& (old == NULL || !vals_same(&old->v[V_URL], &e->v[V_URL]))
	&& htab_get(&st->url_pending, (const char *) e->uuid, 16) == NULL) {
	char   *k = malloc(16);

	if (k == NULL)
	    return (-1);
	memcpy(k, e->uuid, 16);
	if (htab_put(&st->url_pending, k, 16, st) < 0) {
	    free(k);
	    return (-1);
	}
    }
    /* Without memberURLs (any more): no URL results either. */
    if (!(ENT_IS_GROUP(e) && e->v[V_URL].n)) {
	const char *uk;
	void   *uv;

	if (htab_take(&st->urls, (const char *) e->uuid, 16, &uk, &uv)) {
	    urlres_free(uv);
	    free((char *) (uintptr_t) uk);
	}
    }
    if (htab_put(&st->ents, (const char *) e->uuid, 16, e) < 0)
	return (-1);
    if (old)
	drop_ent(st, old);
    else
	st->nents++;
    st->changes++;
    st->version++;
    if (reindex(st, e) < 0)
	return (-1);
    return (st->no_dirty || !refs ? 0 : mark_refs(st, e->dnkey));
}

int
state_del(struct state *st, const unsigned char uuid[16])
{
    struct ent *old = htab_get(&st->ents, (const char *) uuid, 16);
    const char *k;
    void   *v;

    if (old == NULL)
	return (0);
    gflat_note(st, old);
    if (!st->no_dirty)
	mark_refs(st, old->dnkey);
    (void) grel_add(st, uuid);
    unindex(st, old);
    if (htab_take(&st->urls, (const char *) uuid, 16, &k, &v)) {
	urlres_free(v);
	free((char *) (uintptr_t) k);
    }
    url_pending_del(st, uuid);
    if (htab_take(&st->gsub, (const char *) uuid, 16, &k, &v))
	free((char *) (uintptr_t) k);
    htab_del(&st->ents, (const char *) uuid, 16);
    drop_ent(st, old);
    st->nents--;
    st->changes++;
    st->version++;
    return (1);
}

int
state_set_urls(struct state *st, struct ent *g, char **dns, size_t n,
	       char *why, char *bad_url)
{
    struct urlres *u = htab_get(&st->urls, (const char *) g->uuid, 16), *nu;
    size_t  i;
    char   *k;

    url_pending_del(st, g->uuid);
    if (u && u->n == n && ((u->why == NULL) == (why == NULL))
	&& (why == NULL || strcmp(u->why, why) == 0)) {
	for (i = 0; i < n && strcmp(u->dns[i], dns[i]) == 0; i++)
	    ;
	if (i == n) {
	    for (i = 0; i < n; i++)
		free(dns[i]);
	    free(dns);
	    free(why);
	    free(bad_url);
	    return (0);
	}
    }
    gflat_note(st, NULL);
    if ((nu = calloc(1, sizeof(*nu))) == NULL) {
	for (i = 0; i < n; i++)		/* taken over on every path */
	    free(dns[i]);
	free(dns);
	free(why);
	free(bad_url);
	return (-1);
    }
    nu->dns = dns;
    nu->n = n;
    nu->why = why;
    nu->bad_url = bad_url;
    refs_of(st, g, 0);
    if (u) {
	const char *ok;
	void   *ov;

	if (htab_take(&st->urls, (const char *) g->uuid, 16, &ok, &ov))
	    free((char *) (uintptr_t) ok);
	urlres_free(u);
    }
    if ((k = malloc(16)) == NULL) {
	urlres_free(nu);
	return (-1);
    }
    memcpy(k, g->uuid, 16);
    if (htab_put(&st->urls, k, 16, nu) < 0) {
	free(k);
	urlres_free(nu);
	return (-1);
    }
    if (refs_of(st, g, 1) < 0)
	return (-1);
    st->changes++;
    st->version++;
    st->url_gen++;
    if (mark_addrs(st, g) < 0)
	return (-1);
    return (1);
}

/* Mark addr dirty; a newly marked address is appended to the work list
 * (its key as the dirty table owns it). */
static int
mark_new(struct state *st, const char *addr, const char ***wl, size_t *n,
	 size_t *cap)
{
    size_t  len = strlen(addr);
    char   *k;

    if (st->no_dirty || htab_get(&st->dirty, addr, len) != NULL)
	return (0);
    if ((k = strndup(addr, len)) == NULL)
	return (-1);
    if (htab_put(&st->dirty, k, len, st) < 0) {
	free(k);
	return (-1);
    }
    if (wl == NULL)
	return (0);
    if (*n == *cap) {
	size_t  nc = *cap ? *cap * 2 : 64;
	const char **x = realloc(*wl, nc * sizeof(*x));

	if (x == NULL)
	    return (-1);
	*wl = x;
	*cap = nc;
    }
    (*wl)[(*n)++] = k;
    return (0);
}

static int
mark_ent(struct state *st, struct ent *e, const char ***wl, size_t *n, size_t *cap)
{
    size_t  i;

    for (i = 0; i < e->v[V_MAIL].n; i++)
	if (mark_new(st, e->v[V_MAIL].s[i], wl, n, cap) < 0)
	    return (-1);
    for (i = 0; i < e->v[V_ALIAS].n; i++)
	if (mark_new(st, e->v[V_ALIAS].s[i], wl, n, cap) < 0)
	    return (-1);
    return (0);
}

/* The keys of the dirty set now (a copy of the pointers: marking adds to
 * the set while the caller walks the list); NULL when out of memory. */
static char **
dirty_keys(struct state *st, size_t *n)
{
    size_t  pos = 0;
    const char *k;
    char  **list;

    *n = 0;
    if ((list = calloc(st->dirty.n + 1, sizeof(char *))) == NULL)
	return (NULL);
    while (htab_next(&st->dirty, &pos, &k, NULL, NULL))
	list[(*n)++] = (char *) (uintptr_t) k;
    return (list);
}

/*
 * Addresses whose records can depend on the dirty ones: every address
 * of an entry claiming a dirty address (its primary may have been won
 * or lost, and its aliases with it), then, transitively, every address
 * of an entry forwarding to any dirty address, and of every group that
 * names (as a member or allowed sender) an entry claiming one: a forward into our
 * domains is kept only when its target is a known recipient that
 * reaches a mailbox or the outside, and an entry whose forwards all run
 * in a circle within our domains is no recipient, so a change anywhere
 * along a chain of forwards can change every address before it.
 */
int
state_dirty_expand(struct state *st)
{
    size_t  n = 0, cap, i, pos;
    const char **list;
    uint32_t j;

    if ((list = (const char **) (void *) dirty_keys(st, &n)) == NULL)
	return (-1);
    cap = n + 1;		/* what dirty_keys allocated; mark_new grows it */
    /* Pass 1: claimants' entries. */
    for (i = 0, pos = n; i < pos; i++) {
	struct anode *a = htab_get(&st->addrs, list[i], strlen(list[i]));

	for (j = 0; a && j < a->nc; j++)
	    if (mark_ent(st, a->c[j].e, &list, &n, &cap) < 0)
		goto fail;
    }
    /* Pass 2: forwarders, to the end of every chain (the work list
     * grows while it is walked). */
    for (i = 0; i < n; i++) {
	struct anode *a = htab_get(&st->addrs, list[i], strlen(list[i]));

	for (j = 0; a && j < a->nf; j++)
	    if (mark_ent(st, a->f[j], &list, &n, &cap) < 0
		|| grel_add(st, a->f[j]->uuid) < 0)	/* may deliver no more */
		goto fail;
	/*
	 * Groups naming an entry that claims it (nested groups too: a
	 * group's own addresses come through here in turn), when what they
	 * see of it can have changed: a group, an entry changed that way
	 * (grel), or any claimant of a contested address (who wins it may
	 * have changed).
	 */
	for (j = 0; a && j < a->nc; j++) {
	    const struct ent *ce = a->c[j].e;
	    struct rnode *r;
	    uint32_t g;

	    if (!ENT_IS_GROUP(ce) && a->nc < 2
		&& htab_get(&st->grel, (const char *) ce->uuid, 16) == NULL)
		continue;
	    r = htab_get(&st->refs, ce->dnkey, strlen(ce->dnkey));
	    for (g = 0; r && g < r->n; g++)
		if (mark_ent(st, r->g[g], &list, &n, &cap) < 0)
		    goto fail;
	}
    }
    free(list);
    if (st->gflat.n && st->gflat_check)
	st->gflat_check(st, 0);
    return (0);
fail:
    free(list);
    return (-1);
}

void
state_dirty_clear(struct state *st)
{
    htab_free_keys(&st->dirty);		/* an empty table, allocated on use */
    htab_free_keys(&st->grel);
    st->changes = 0;
}

/*
 * Text form of one entry: fields separated by TAB, values of one
 * attribute by 0x1f; TAB, LF, CR, 0x1f and backslash escaped as \xHH.
 * Runs of plain bytes go in one write: a snapshot of a million people
 * and 100,000 groups is 330 MB, and a locked putc() per byte took 6 s
 * of it.  The stream is the caller's alone (unlocked calls).
 */
static void
put_esc(FILE *f, const char *s)
{
    static const char special[] = "\t\n\r\x1f\\";

    for (;;) {
	size_t  n = strcspn(s, special);

	if (n)
	    fwrite_unlocked(s, 1, n, f);
	if (s[n] == 0)
	    return;
	fprintf(f, "\\x%02x", (unsigned char) s[n]);
	s += n + 1;
    }
}

static void
put_ent(FILE *f, const struct ent *e)
{
    char    u[37];
    size_t  k, i;

    uuid_str(e->uuid, u);
    fwrite_unlocked(u, 1, 36, f);
    putc_unlocked('\t', f);
    put_esc(f, e->dn);
    for (k = 0; k < V_NUM; k++) {
	putc_unlocked('\t', f);
	for (i = 0; i < e->v[k].n; i++) {
	    if (i)
		putc_unlocked(0x1f, f);
	    put_esc(f, k == V_FWD ? e->fwd_pub[i] : e->v[k].s[i]);
	}
    }
    putc_unlocked('\n', f);
}

static void
unesc(char *s)
{
    char   *o = s;

    while (*s) {
	if (s[0] == '\\' && s[1] == 'x' && hexval(s[2]) >= 0 && hexval(s[3]) >= 0) {
	    *o++ = (char) (hexval(s[2]) << 4 | hexval(s[3]));
	    s += 4;
	} else
	    *o++ = *s++;
    }
    *o = 0;
}

/*
 * Pointers into one line being parsed, reused from line to line (a
 * snapshot's million lines allocate nothing but their entries).
 */
struct parse_buf {
    char  **p;
    size_t  cap;
};

/* Parse one line (modified in place) into a new entry. */
static struct ent *
parse_ent(char *line, struct parse_buf *pb, struct state_chunk **arena)
{
    char   *fld[2 + V_NUM], *p = line;
    char  **vals[V_NUM] = {0};
    size_t  nvals[V_NUM] = {0}, k, i, total = 0, at = 0;
    unsigned char u[16];

    for (k = 0; k < 2 + V_NUM; k++) {
	fld[k] = p;
	if ((p = strchr(p, '\t')) == NULL) {
	    if (k != 1 + V_NUM)
		return (NULL);
	} else
	    *p++ = 0;
    }
    if (uuid_parse(fld[0], u) < 0)
	return (NULL);
    unesc(fld[1]);
    for (k = 0; k < V_NUM; k++) {
	char   *q;

	nvals[k] = *fld[2 + k] ? 1 : 0;
	for (q = fld[2 + k]; *q; q++)
	    nvals[k] += (*q == 0x1f);
	total += nvals[k];
    }
    if (pb->p == NULL || total > pb->cap) {	/* never NULL + 0 below */
	size_t  nc = total < 64 ? 64 : total;
	char  **x = realloc(pb->p, nc * sizeof(*x));

	if (x == NULL)
	    return (NULL);
	pb->p = x;
	pb->cap = nc;
    }
    for (k = 0; k < V_NUM; k++) {
	char   *s = fld[2 + k], *q;

	vals[k] = pb->p + at;
	for (i = 0; i < nvals[k]; i++) {
	    vals[k][i] = s;
	    if ((q = strchr(s, 0x1f)) != NULL) {
		*q = 0;
		s = q + 1;
	    }
	    unesc(vals[k][i]);
	}
	at += nvals[k];
    }
    return (ent_build(u, fld[1], (char **const *) vals, nvals, arena));
}

static int
fsync_dir(const char *dir)
{
    int     fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

    if (fd < 0)
	return (-1);
    r = fsync(fd);
    close(fd);
    return (r);
}

/*
 * The atomic file write of the snapshot and the memberURL results: a
 * temporary .NAME.XXXXXX in DIR, written through stdio, then flushed,
 * fsynced, renamed over DIR/NAME and the directory synced.
 */
FILE   *
state_file_open(const char *dir, const char *name, char *tmp, size_t tmpsz,
		char *err, size_t errlen)
{
    FILE   *f;
    int     fd;

    snprintf(tmp, tmpsz, "%s/.%s.XXXXXX", dir, name);
    if ((fd = mkstemp(tmp)) < 0) {
	snprintf(err, errlen, "create %s: %s", tmp, strerror(errno));
	return (NULL);
    }
    if ((f = fdopen(fd, "w")) == NULL) {
	snprintf(err, errlen, "fdopen %s: %s", tmp, strerror(errno));
	close(fd);
	unlink(tmp);
	return (NULL);
    }
    return (f);
}

int
state_file_commit(FILE *f, const char *tmp, const char *dir, const char *name,
		  char *err, size_t errlen)
{
    char    path[4096];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0 || ferror(f)) {
	snprintf(err, errlen, "write %s: %s", tmp, strerror(errno));
	fclose(f);
	unlink(tmp);
	return (-1);
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
	snprintf(err, errlen, "publish %s: %s", path, strerror(errno));
	unlink(tmp);
	return (-1);
    }
    (void) fsync_dir(dir);
    return (0);
}

static int
save_as(struct state *st, const char *dir, const char *name, int truncate_journal,
	uint64_t base_serial, char *err, size_t errlen);

int
state_save(struct state *st, const char *dir, uint64_t base_serial,
	   char *err, size_t errlen)
{
    return (save_as(st, dir, STATE_FILE, 1, base_serial, err, errlen));
}

int
state_save_next(struct state *st, const char *dir, uint64_t base_serial,
		char *err, size_t errlen)
{
    return (save_as(st, dir, STATE_FILE ".next", 0, base_serial, err, errlen));
}

static int
save_as(struct state *st, const char *dir, const char *name, int truncate_journal,
	uint64_t base_serial, char *err, size_t errlen)
{
    char    tmp[4096], jpath[4096];
    FILE   *f;
    size_t  pos = 0;
    void   *v;

    snprintf(jpath, sizeof(jpath), "%s/%s", dir, JOURNAL_FILE);
    /* The temporary is named after STATE_FILE whatever NAME is. */
    if ((f = state_file_open(dir, STATE_FILE, tmp, sizeof(tmp), err, errlen)) == NULL)
	return (-1);
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    /* The counts let a load size its tables once (no rehashing). */
    fprintf(f, "%s %llu %zu %zu\n", STATE_MAGIC, (unsigned long long) base_serial,
	    st->nents, st->addrs.n);
    {
	unsigned long n = 0;

	while (htab_next(&st->ents, &pos, NULL, NULL, &v)) {
	    put_ent(f, v);
	    /* Start writeback as we go: no single burst at the fsync. */
	    if (++n % 50000 == 0 && fflush(f) == 0)
		(void) sync_file_range(fileno(f), 0, 0, SYNC_FILE_RANGE_WRITE);
	}
    }
    fputs(".\n", f);
    if (state_file_commit(f, tmp, dir, name, err, errlen) < 0)
	return (-1);
    if (truncate_journal && truncate(jpath, 0) < 0 && errno != ENOENT) {
	snprintf(err, errlen, "truncate %s: %s", jpath, strerror(errno));
	return (-1);
    }
    return (0);
}

static int
journal_to(const char *dir, const char *name, uint64_t serial, struct ent **puts,
	   size_t nputs, unsigned char (*dels)[16], size_t ndels,
	   char *err, size_t errlen);

int
state_journal(const char *dir, uint64_t serial, struct ent **puts,
	      size_t nputs, unsigned char (*dels)[16], size_t ndels,
	      char *err, size_t errlen)
{
    return (journal_to(dir, JOURNAL_FILE, serial, puts, nputs, dels, ndels, err, errlen));
}

int
state_journal_next(const char *dir, uint64_t serial, struct ent **puts,
		   size_t nputs, unsigned char (*dels)[16], size_t ndels,
		   char *err, size_t errlen)
{
    return (journal_to(dir, JOURNAL_FILE ".next", serial, puts, nputs, dels, ndels,
		      err, errlen));
}

/* The next snapshot (taken at a compaction's fork) becomes the current
 * one, and the journal of the batches since the fork the journal. */
int
state_install_next(const char *dir)
{
    char    a[4096], b[4096];
    int     fd;

    snprintf(a, sizeof(a), "%s/%s.next", dir, JOURNAL_FILE);
    snprintf(b, sizeof(b), "%s/%s", dir, JOURNAL_FILE);
    if ((fd = open(a, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0)
	return (-1);
    fsync(fd);
    close(fd);
    snprintf(a, sizeof(a), "%s/%s.next", dir, STATE_FILE);
    snprintf(b, sizeof(b), "%s/%s", dir, STATE_FILE);
    if (rename(a, b) < 0)
	return (-1);
    snprintf(a, sizeof(a), "%s/%s.next", dir, JOURNAL_FILE);
    snprintf(b, sizeof(b), "%s/%s", dir, JOURNAL_FILE);
    if (rename(a, b) < 0)
	return (-1);
    return (fsync_dir(dir));
}

void
state_drop_next(const char *dir)
{
    char    a[4096];

    snprintf(a, sizeof(a), "%s/%s.next", dir, STATE_FILE);
    unlink(a);
    snprintf(a, sizeof(a), "%s/%s.next", dir, JOURNAL_FILE);
    unlink(a);
}

static int
journal_to(const char *dir, const char *name, uint64_t serial, struct ent **puts,
	   size_t nputs, unsigned char (*dels)[16], size_t ndels,
	   char *err, size_t errlen)
{
    char    path[4096], u[37];
    FILE   *f;
    size_t  i;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((f = fopen(path, "a")) == NULL) {
	snprintf(err, errlen, "open %s: %s", path, strerror(errno));
	return (-1);
    }
    fprintf(f, "@%llu\n", (unsigned long long) serial);
    for (i = 0; i < nputs; i++) {
	putc('+', f);
	put_ent(f, puts[i]);
    }
    for (i = 0; i < ndels; i++) {
	uuid_str(dels[i], u);
	fprintf(f, "-%s\n", u);
    }
    fprintf(f, "$%llu\n", (unsigned long long) serial);
    /* Not fsync'd here: state_journal_sync() runs before a cookie that
     * depends on these lines is saved. */
    if (fflush(f) != 0 || ferror(f)) {
	snprintf(err, errlen, "write %s: %s", path, strerror(errno));
	fclose(f);
	return (-1);
    }
    if (fclose(f) != 0) {
	snprintf(err, errlen, "close %s: %s", path, strerror(errno));
	return (-1);
    }
    return (0);
}

static int
load_line(struct state *st, char *line, struct parse_buf *pb, state_validate_fn fn,
	  void *ctx)
{
    struct ent *e = parse_ent(line, pb, &st->arena);

    if (e == NULL)
	return (-1);
    if (fn && fn(e, ctx) < 0) {
	drop_ent(st, e);
	return (-1);
    }
    return (state_put(st, e));
}

int
state_load(struct state *st, const char *dir, uint64_t *base_serial,
	   uint64_t *last_serial, state_validate_fn fn, void *ctx,
	   char *err, size_t errlen)
{
    char    spath[4096], jpath[4096];
    FILE   *snap, *journal;
    int     ret;

    snprintf(spath, sizeof(spath), "%s/%s", dir, STATE_FILE);
    snprintf(jpath, sizeof(jpath), "%s/%s", dir, JOURNAL_FILE);
    if ((snap = fopen(spath, "r")) == NULL) {
	snprintf(err, errlen, "open %s: %s", spath, strerror(errno));
	return (-1);
    }
    setvbuf(snap, NULL, _IOFBF, 1 << 20);	/* 112 MB at a million people */
    journal = fopen(jpath, "r");	/* none: nothing to replay */
    ret = state_load_files(st, snap, spath, journal, jpath, base_serial,
			   last_serial, fn, ctx, err, errlen);
    fclose(snap);
    if (journal)
	fclose(journal);
    return (ret);
}

/*
 * A large snapshot loads on two threads: a reader reads, parses and
 * validates its lines into entries (from an arena of its own), while
 * the caller indexes them (state_put) in the order of the file.  At a
 * million entries each half is about half the work.  The reader blocks
 * every signal (the daemon's handlers run on the caller's thread, and a
 * read is never cut short by one); it never touches the state.
 */
#define PIPE_MIN	4096		/* entries (the header's count) worth it */
#define PIPE_BATCH	256
#define PIPE_SLOTS	64
#define PIPE_AHEAD	6		/* entries: prefetch_ent() distance */

struct pipe_batch {
    size_t  n;
    struct ent *e[PIPE_BATCH];
};

/* The reader's end: 1 read up to ".", 0 stopped by the caller, -1 a bad
 * line (or no memory for one), -2 the end of the file before ".". */
struct loadpipe {
    pthread_mutex_t mu;
    pthread_cond_t can_put, can_get;
    struct pipe_batch q[PIPE_SLOTS];
    size_t  head, tail;			/* batches taken, batches queued */
    int	    done, end, cancel;
    FILE   *f;
    state_validate_fn fn;
    void   *ctx;
    struct state_chunk *arena;		/* the reader's */
    struct htab tabs[3];		/* pipe_populate()'s */
};

static int
pipe_push(struct loadpipe *lp, const struct pipe_batch *b)
{
    int     ok;

    pthread_mutex_lock(&lp->mu);
    while (lp->tail - lp->head == PIPE_SLOTS && !lp->cancel)
	pthread_cond_wait(&lp->can_put, &lp->mu);
    if ((ok = !lp->cancel)) {
	lp->q[lp->tail % PIPE_SLOTS] = *b;
	lp->tail++;
	pthread_cond_signal(&lp->can_get);
    }
    pthread_mutex_unlock(&lp->mu);
    return (ok ? 0 : -1);
}

/* The next batch into b: 1, or 0 when the reader is done (lp->end). */
static int
pipe_pop(struct loadpipe *lp, struct pipe_batch *b)
{
    int     got;

    pthread_mutex_lock(&lp->mu);
    while (lp->head == lp->tail && !lp->done)
	pthread_cond_wait(&lp->can_get, &lp->mu);
    if ((got = lp->head != lp->tail)) {
	*b = lp->q[lp->head % PIPE_SLOTS];
	lp->head++;
	pthread_cond_signal(&lp->can_put);
    }
    pthread_mutex_unlock(&lp->mu);
    return (got);
}

static void *
pipe_reader(void *arg)
{
    struct loadpipe *lp = arg;
    struct parse_buf pb = {NULL, 0};
    struct pipe_batch b;
    char   *line = NULL;
    size_t  cap = 0;
    ssize_t n;
    int     end = -2;

    b.n = 0;
    while ((n = getline(&line, &cap, lp->f)) > 0) {
	struct ent *e;

	if (line[n - 1] == '\n')
	    line[--n] = 0;
	if (strcmp(line, ".") == 0) {
	    end = 1;
	    break;
	}
	if ((e = parse_ent(line, &pb, &lp->arena)) == NULL
	    || (lp->fn && lp->fn(e, lp->ctx) < 0)) {
	    end = -1;
	    break;
	}
	b.e[b.n++] = e;
	if (b.n == PIPE_BATCH) {
	    if (pipe_push(lp, &b) < 0) {
		end = 0;
		break;
	    }
	    b.n = 0;
	}
    }
    if (end != 0 && b.n > 0 && pipe_push(lp, &b) < 0)
	end = 0;
    free(line);
    free(pb.p);
    pthread_mutex_lock(&lp->mu);
    lp->end = end;
    lp->done = 1;
    pthread_cond_signal(&lp->can_get);
    pthread_mutex_unlock(&lp->mu);
    return (NULL);
}

/* A third thread while a snapshot loads: the first touch of the
 * presized tables' pages (hundreds of MB at a million entries: the
 * kernel zeroes each) off the indexing thread, which is the busier. */
static void *
pipe_populate(void *arg)
{
    const struct htab *t = arg;	/* copies: the tables may grow meanwhile */

    htab_populate(&t[0]);
    htab_populate(&t[1]);
    htab_populate(&t[2]);
    return (NULL);
}

/* The table slots state_put(st, e) will look at first. */
static void
prefetch_ent(struct state *st, const struct ent *e)
{
    static const int kinds[] = {V_MAIL, V_ALIAS, V_FWD};
    size_t  k;
    uint32_t i;

    htab_prefetch(&st->ents, (const char *) e->uuid, 16);
    htab_prefetch(&st->dns, e->dnkey, strlen(e->dnkey));
    for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
	for (i = 0; i < e->v[kinds[k]].n; i++)
	    htab_prefetch(&st->addrs, e->v[kinds[k]].s[i], strlen(e->v[kinds[k]].s[i]));
}

/*
 * The body of a snapshot (up to ".") into the empty state st on two
 * threads: 1 loaded, -1 a bad line, -2 truncated, -3 no thread (the
 * caller reads it on one).
 */
static int
load_piped(struct state *st, FILE *f, state_validate_fn fn, void *ctx)
{
    struct loadpipe *lp;
    struct pipe_batch b;
    pthread_t th, pth;
    sigset_t all, old;
    int     r, failed = 0, populating;
    size_t  i;
    struct state_chunk *c;

    if ((lp = calloc(1, sizeof(*lp))) == NULL)
	return (-3);
    lp->f = f;
    lp->fn = fn;
    lp->ctx = ctx;
    pthread_mutex_init(&lp->mu, NULL);
    pthread_cond_init(&lp->can_put, NULL);
    pthread_cond_init(&lp->can_get, NULL);
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    r = pthread_create(&th, NULL, pipe_reader, lp);
    /* Not touching the tables' contents: it runs beside the indexing. */
    lp->tabs[0] = st->addrs;
    lp->tabs[1] = st->ents;
    lp->tabs[2] = st->dns;
    populating = r == 0 && pthread_create(&pth, NULL, pipe_populate, lp->tabs) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
	free(lp);
	return (-3);
    }
    st->loading = LOAD_PIPE;
    while (!failed && pipe_pop(lp, &b))
	for (i = 0; i < b.n; i++) {
	    if (i + PIPE_AHEAD < b.n)
		prefetch_ent(st, b.e[i + PIPE_AHEAD]);
	    if (state_put(st, b.e[i]) < 0) {
		failed = 1;
		break;
	    }
	}
    if (failed) {
	pthread_mutex_lock(&lp->mu);
	lp->cancel = 1;
	pthread_cond_signal(&lp->can_put);
	pthread_mutex_unlock(&lp->mu);
    }
    pthread_join(th, NULL);
    if (populating)
	pthread_join(pth, NULL);
    st->loading = LOAD_SEQ;
    /* The reader's arena is the state's now (what it queued and was not
     * indexed goes with it). */
    if ((c = lp->arena) != NULL) {
	while (c->next)
	    c = c->next;
	c->next = st->arena;
	st->arena = lp->arena;
    }
    r = failed ? -1 : lp->end == 1 ? 1 : lp->end == -2 ? -2 : -1;
    pthread_cond_destroy(&lp->can_put);
    pthread_cond_destroy(&lp->can_get);
    pthread_mutex_destroy(&lp->mu);
    free(lp);
    return (r);
}

/* The bytes of f after its position (0: not a regular file). */
static unsigned long long
bytes_left(FILE *f)
{
    struct stat sb;
    long    pos;
    int     fd = fileno(f);

    if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (pos = ftell(f)) < 0
	|| sb.st_size <= pos)
	return (0);
    return ((unsigned long long) (sb.st_size - pos));
}

/* An empty table h, sized for n items when there is memory for it. */
static void
presize(struct htab *h, size_t n)
{
    struct htab h2;

    if (h->cap >= 2 * n || htab_init(&h2, n) < 0)
	return;
    htab_free(h);
    *h = h2;
}

int
state_load_files(struct state *st, FILE *f, const char *path, FILE *jf,
		 const char *jpath, uint64_t *base_serial,
		 uint64_t *last_serial, state_validate_fn fn, void *ctx,
		 char *err, size_t errlen)
{
    char   *line = NULL;
    size_t  cap = 0;
    ssize_t n;
    unsigned long long s, ne = 0, na = 0;
    int     ok = 0, ret = -1, nf;
    struct parse_buf pb = {NULL, 0};

    if ((n = getline(&line, &cap, f)) <= 0
	|| (nf = sscanf(line, STATE_MAGIC " %llu %llu %llu", &s, &ne, &na)) < 1) {
	snprintf(err, errlen, "%s: bad header", path);
	goto out;
    }
    *base_serial = *last_serial = s;
    st->loading = LOAD_SEQ;
    /*
     * Size the empty tables for what comes.  The header is not trusted
     * for that: no more than the rest of the file can hold (an entry's
     * line takes 48 bytes at least, and few addresses take under 16 with
     * their separator; a stream that is no file is not sized at all).
     * The tables still grow as needed.
     */
    if (nf == 3 && st->nents == 0 && st->ents.n == 0 && st->addrs.n == 0
	&& st->dns.n == 0) {
	unsigned long long left = bytes_left(f);

	presize(&st->ents, (size_t) (ne < left / 48 ? ne : left / 48));
	presize(&st->dns, (size_t) (ne < left / 48 ? ne : left / 48));
	presize(&st->addrs, (size_t) (na < left / 16 ? na : left / 16));
    }
    if (nf == 3 && ne >= PIPE_MIN && st->nents == 0 && st->ents.n == 0
	&& st->addrs.n == 0 && st->dns.n == 0) {
	switch (load_piped(st, f, fn, ctx)) {
	case 1:
	    ok = 1;
	    break;
	case -1:
	    snprintf(err, errlen, "%s: bad entry line", path);
	    goto out;
	case -2:
	    snprintf(err, errlen, "%s: truncated", path);
	    goto out;
	default:			/* no thread: on this one */
	    break;
	}
    }
    while (!ok && (n = getline(&line, &cap, f)) > 0) {
	if (line[n - 1] == '\n')
	    line[--n] = 0;
	if (strcmp(line, ".") == 0) {
	    ok = 1;
	    break;
	}
	if (load_line(st, line, &pb, fn, ctx) < 0) {
	    snprintf(err, errlen, "%s: bad entry line", path);
	    goto out;
	}
    }
    if (!ok) {
	snprintf(err, errlen, "%s: truncated", path);
	goto out;
    }
    if (jf == NULL) {
	ret = 0;
	goto out;
    }
    /* Replay complete batches only ("@N" ... "$N"). */
    {
	long    start = 0;
	int     inbatch = 0;

	while ((n = getline(&line, &cap, jf)) > 0) {
	    if (line[n - 1] != '\n')
		break;		/* torn last line */
	    line[--n] = 0;
	    if (line[0] == '@') {
		inbatch = 1;
		start = ftell(jf);
	    } else if (line[0] == '$' && inbatch) {
		long    end = ftell(jf);

		/* Second pass over the batch now that it is complete. */
		if (fseek(jf, start, SEEK_SET) < 0)
		    break;
		while (ftell(jf) < end && (n = getline(&line, &cap, jf)) > 0) {
		    if (line[n - 1] == '\n')
			line[--n] = 0;
		    if (line[0] == '+') {
			if (load_line(st, line + 1, &pb, fn, ctx) < 0) {
			    snprintf(err, errlen, "%s: bad entry line", jpath);
			    goto out;
			}
		    } else if (line[0] == '-') {
			unsigned char u[16];

			if (uuid_parse(line + 1, u) == 0)
			    state_del(st, u);
		    } else if (line[0] == '$')
			*last_serial = strtoull(line + 1, NULL, 10);
		}
		inbatch = 0;
	    }
	}
    }
    ret = 0;
out:
    st->loading = LOAD_NONE;
    free(line);
    free(pb.p);
    return (ret);
}

int
state_journal_sync(const char *dir)
{
    char    path[4096];
    int     fd, r;

    snprintf(path, sizeof(path), "%s/%s", dir, JOURNAL_FILE);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
	return (errno == ENOENT ? 0 : -1);
    r = fsync(fd);
    close(fd);
    return (r);
}

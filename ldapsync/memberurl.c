/*
 * memberurl.c - the memberURL searches of groupOfURLs groups
 *		 (see memberurl.h).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldap.h>

#include "compile.h"
#include "dn.h"
#include "ldap_conn.h"
#include "memberurl.h"
#include "mono.h"

static int
cmp_str(const void *a, const void *b)
{
    return (strcmp(*(char *const *) a, *(char *const *) b));
}

/* Connection-level failures: keep the old results and try again later. */
static int
conn_lost(int rc)
{
    return (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT
	|| rc == LDAP_UNAVAILABLE || rc == LDAP_BUSY);
}

/*
 * memberURL searches, pipelined: up to URL_WINDOW searches are outstanding
 * on the connection at once, so that slapd works on several (its thread
 * pool) while the entries of the others are read, instead of one search,
 * then its results, then the next.  Groups are started in the source's
 * order; a group's DNs are gathered from all its URLs, sorted and made
 * unique, and stored when its last search is done.  The connection is
 * one of the evaluation's own (no other operation is read from it).
 */
#define URL_WINDOW	8

struct url_acc {			/* one group being evaluated */
    struct ent *g;			/* the group, when read from the state */
    const struct ent *e;		/* its URLs, tenant and DN */
    void   *ctx;			/* the source's own record of it */
    char  **dns;
    size_t  n, cap;
    char   *why, *bad;			/* the first failing URL's reason */
    size_t  why_at;			/* ... and its index among the URLs */
    size_t  next_url;			/* the next URL to search */
    int     inflight;			/* its searches outstanding */
    int     state;			/* 0 not started, 1 started, 2 done */
};

struct url_op {
    int     msgid;
    size_t  acc, url;
};

/*
 * Where the groups come from and their results go: start() fills in a->e
 * (and a->g) for the i-th group and returns 1, or 0 when it has no URL
 * to search (then it is done), or -1 out of memory; store() takes over
 * a->dns[0..n-1] (sorted, unique), a->why and a->bad and returns 1 when
 * the group's members changed, 0 when not, -1 out of memory.
 */
struct url_src {
    int     (*start) (void *arg, size_t i, struct url_acc *a);
    int     (*store) (void *arg, struct url_acc *a, size_t n);
    void   *arg;
    const atomic_int *stop;		/* set: give up soon (or NULL) */
};

/*
 * ldap_result() for up to timeout seconds; with a stop flag in slices of
 * a second, so that the flag is seen soon (then 0, as on a timeout).
 */
static int
result_wait(LDAP *ld, int msgid, int timeout, const atomic_int *stop,
	    LDAPMessage **m)
{
    struct timeval tv = {stop ? 1 : timeout, 0};
    int     left = timeout, r;

    for (;;) {
	r = ldap_result(ld, msgid, LDAP_MSG_ONE, &tv, m);
	if (r != 0 || stop == NULL || --left <= 0
	    || atomic_load_explicit(stop, memory_order_relaxed))
	    return (r);
    }
}

static int
stopped(const atomic_int *stop)
{
    return (stop != NULL && atomic_load_explicit(stop, memory_order_relaxed));
}

/* Remember why URL number at of a group failed, reason and (unless
 * NULL) the server's word (the lowest number wins: the same directory
 * gives the same reason, whatever order the searches end in). */
static void
acc_why(struct url_acc *a, size_t at, const char *url, const char *reason,
	const char *detail)
{
    char   *w;

    if (a->why && a->why_at <= at)
	return;
    if (asprintf(&w, "%s%s%s", reason, detail ? ": " : "", detail ? detail : "") < 0)
	return;
    free(a->why);
    free(a->bad);
    a->why = w;
    a->bad = strdup(url);
    a->why_at = at;
}

static void
acc_free(struct url_acc *a)
{
    size_t  i;

    for (i = 0; i < a->n; i++)
	free(a->dns[i]);
    free(a->dns);
    free(a->why);
    free(a->bad);
    a->dns = NULL;
    a->why = a->bad = NULL;
    a->n = a->cap = 0;
}

/* One DN found for a group: canonical, appended; -1 out of memory. */
static int
acc_add(struct url_acc *a, const char *dn)
{
    char   *k;

    if (a->n == a->cap) {
	size_t  nc = a->cap ? a->cap * 2 : 64;
	char  **x = realloc(a->dns, nc * sizeof(*x));

	if (x == NULL)
	    return (-1);
	a->dns = x;
	a->cap = nc;
    }
    if ((k = malloc(strlen(dn) + 1)) == NULL)
	return (-1);
    state_dn_canon(dn, k);
    a->dns[a->n++] = k;
    return (0);
}

/* All of a group's searches are done: store its members; 1 changed,
 * 0 same, -1 out of memory. */
static int
acc_finish(const struct url_src *src, struct url_acc *a)
{
    size_t  i, j;
    int     r;

    /* Sorted and each once: the same directory gives the same list. */
    if (a->n)
	qsort(a->dns, a->n, sizeof(*a->dns), cmp_str);
    for (i = j = 0; i < a->n; i++) {
	if (j && strcmp(a->dns[j - 1], a->dns[i]) == 0) {
	    free(a->dns[i]);
	    continue;
	}
	a->dns[j++] = a->dns[i];
    }
    a->state = 2;
    r = src->store(src->arg, a, j);
    a->dns = NULL;
    a->why = a->bad = NULL;
    a->n = a->cap = 0;
    return (r < 0 ? -1 : r);
}

/*
 * Start the next search of group a (URLs that cannot be searched are
 * recorded as its reason and skipped): 1 a search is outstanding, 0 the
 * group has no URL left, -1 the connection failed.
 */
static int
acc_issue(const struct conf *c, LDAP *ld, struct url_acc *a, size_t ai,
	  struct url_op *op, char *err, size_t errlen)
{
    struct timeval tv = {c->ldap.timeout, 0};
    char   *noattrs[] = {(char *) (uintptr_t) LDAP_NO_ATTRS, NULL};

    while (a->next_url < a->e->v[V_URL].n) {
	size_t  at = a->next_url++;
	const char *url = a->e->v[V_URL].s[at];
	LDAPURLDesc *lud = NULL;
	const char *base;
	int     rc, scope, msgid;

	if (ldap_url_parse(url, &lud) != LDAP_URL_SUCCESS) {
	    acc_why(a, at, url, "memberURL rejected: not an LDAP URL", NULL);
	    continue;
	}
	base = lud->lud_dn ? lud->lud_dn : "";
	if (a->e->tenant < 0 || dn_within(base, c->tenants[a->e->tenant].base) == 0) {
	    acc_why(a, at, url, "memberURL rejected: its base lies outside the group's tenant's base", NULL);
	    ldap_free_urldesc(lud);
	    continue;
	}
	scope = lud->lud_scope == LDAP_SCOPE_DEFAULT ? LDAP_SCOPE_BASE : lud->lud_scope;
	rc = ldap_search_ext(ld, base, scope, lud->lud_filter ? lud->lud_filter
			     : "(objectClass=*)", noattrs, 0, NULL, NULL, &tv,
			     LDAP_NO_LIMIT, &msgid);
	ldap_free_urldesc(lud);
	if (rc != LDAP_SUCCESS && conn_lost(rc)) {
	    snprintf(err, errlen, "memberURL search of %s: %s", a->e->dn, ldap_err2string(rc));
	    return (-1);
	}
	if (rc != LDAP_SUCCESS) {
	    acc_why(a, at, url, "memberURL search failed", ldap_err2string(rc));
	    continue;
	}
	op->msgid = msgid;
	op->acc = ai;
	op->url = at;
	a->inflight++;
	return (1);
    }
    return (0);
}

/*
 * Evaluate groups 0..n-1 of src, stopping once budget_ms (> 0) have
 * passed or *src->stop is set: the number of groups whose members
 * changed, -1 (message in err) when the connection failed or memory ran
 * short; *done as for lc_eval_url_list().
 */
static int
eval_groups(const struct conf *c, LDAP *ld, const struct url_src *src, size_t n,
	    long long budget_ms, size_t *done, size_t *evaluated, char *err,
	    size_t errlen)
{
    long long t0 = mono_ms();
    struct url_acc *accs;
    struct url_op ops[URL_WINDOW];
    size_t  nops = 0, started = 0, cur = 0, i;
    int     changed = 0, r, ret = -1, stop = 0;

    *done = 0;
    *evaluated = 0;
    err[0] = 0;
    if (n == 0)
	return (0);
    if ((accs = calloc(n, sizeof(*accs))) == NULL) {
	snprintf(err, errlen, "out of memory");
	return (-1);
    }
    for (;;) {
	/* Fill the window: the started groups' next URLs first, in order. */
	while (nops < URL_WINDOW) {
	    struct url_acc *a;

	    while (cur < started && (accs[cur].state == 2
			|| accs[cur].next_url >= accs[cur].e->v[V_URL].n))
		cur++;
	    if (cur == started) {		/* start the next group */
		if (stop || started == n)
		    break;
		if ((budget_ms > 0 && started > 0 && mono_ms() - t0 >= budget_ms)
		    || stopped(src->stop)) {
		    stop = 1;
		    break;
		}
		a = &accs[started++];
		a->state = 1;
		if ((r = src->start(src->arg, started - 1, a)) < 0)
		    goto oom;
		if (r == 0) {
		    a->state = 2;
		    continue;
		}
		++*evaluated;
	    }
	    a = &accs[cur];
	    if ((r = acc_issue(c, ld, a, cur, &ops[nops], err, errlen)) < 0)
		goto out;
	    if (r > 0)
		nops++;
	    else if (a->inflight == 0) {	/* no URL could be searched */
		if ((r = acc_finish(src, a)) < 0)
		    goto oom;
		changed += r;
	    }
	}
	if (nops == 0)
	    break;
	/* One message of any outstanding search. */
	{
	    LDAPMessage *m = NULL;
	    struct url_acc *a;
	    int     type, rc, msgid;

	    type = result_wait(ld, LDAP_RES_ANY, c->ldap.timeout, src->stop, &m);
	    if (type <= 0) {
		(void) ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &rc);
		snprintf(err, errlen, "memberURL search: %s", type < 0 ? ldap_err2string(rc)
			 : stopped(src->stop) ? "stopped" : "timed out");
		ldap_msgfree(m);
		goto out;
	    }
	    msgid = ldap_msgid(m);
	    for (i = 0; i < nops && ops[i].msgid != msgid; i++)
		;
	    if (i == nops) {		/* not ours: nothing else runs here */
		ldap_msgfree(m);
		continue;
	    }
	    a = &accs[ops[i].acc];
	    if (type == LDAP_RES_SEARCH_ENTRY) {
		char   *dn = ldap_get_dn(ld, m);

		r = dn ? acc_add(a, dn) : 0;
		ldap_memfree(dn);
		ldap_msgfree(m);
		if (r < 0)
		    goto oom;
		continue;
	    }
	    if (type != LDAP_RES_SEARCH_RESULT) {	/* a reference: not followed */
		ldap_msgfree(m);
		continue;
	    }
	    if (ldap_parse_result(ld, m, &rc, NULL, NULL, NULL, NULL, 1) != LDAP_SUCCESS)
		(void) ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &rc);
	    if (rc != LDAP_SUCCESS && conn_lost(rc)) {
		snprintf(err, errlen, "memberURL search of %s: %s", a->e->dn, ldap_err2string(rc));
		ops[i] = ops[--nops];
		goto out;
	    }
	    if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED)
		acc_why(a, ops[i].url, a->e->v[V_URL].s[ops[i].url],
			"memberURL search failed", ldap_err2string(rc));
	    ops[i] = ops[--nops];
	    if (--a->inflight == 0 && a->next_url >= a->e->v[V_URL].n) {
		if ((r = acc_finish(src, a)) < 0)
		    goto oom;
		changed += r;
	    }
	}
    }
    ret = changed;
    goto out;
oom:
    snprintf(err, errlen, "out of memory");
    ret = -1;
out:
    /* Searches still outstanding (connection failed): abandoned; their
     * groups keep what they had. */
    for (i = 0; i < nops; i++)
	(void) ldap_abandon_ext(ld, ops[i].msgid, NULL, NULL);
    for (i = 0; i < started && accs[i].state == 2; i++)
	;
    *done = ret < 0 ? i : started;
    for (i = 0; i < started; i++)
	if (accs[i].state != 2)
	    acc_free(&accs[i]);
    free(accs);
    return (ret);
}

/* The groups of lc_eval_url_list(), read from the state. */
struct state_src {
    struct state *st;
    unsigned char (*ids)[16];
};

static int
state_start(void *arg, size_t i, struct url_acc *a)
{
    struct state_src *s = arg;
    struct ent *g = state_get(s->st, s->ids[i]);

    if (g == NULL || !ENT_IS_GROUP(g) || g->v[V_URL].n == 0) {
	if (g && state_set_urls(s->st, g, NULL, 0, NULL, NULL) < 0)
	    return (-1);
	return (0);
    }
    a->g = g;
    a->e = g;
    return (1);
}

static int
state_store(void *arg, struct url_acc *a, size_t n)
{
    struct state_src *s = arg;

    return (state_set_urls(s->st, a->g, a->dns, n, a->why, a->bad));
}

int
lc_eval_url_list(const struct conf *c, LDAP *ld, struct state *st,
		 unsigned char (*ids)[16], size_t n, long long budget_ms,
		 size_t *done, size_t *evaluated, char *err, size_t errlen)
{
    struct state_src s = {st, ids};
    struct url_src src = {state_start, state_store, &s, NULL};

    return (eval_groups(c, ld, &src, n, budget_ms, done, evaluated, err, errlen));
}

/* Append a 16-byte id to *ids; -1 out of memory. */
static int
push_id(unsigned char (**ids)[16], size_t *n, size_t *cap, const void *id)
{
    if (*n == *cap) {
	size_t  nc = *cap ? *cap * 2 : 16;
	unsigned char (*x)[16] = realloc(*ids, nc * 16);

	if (x == NULL)
	    return (-1);
	*ids = x;
	*cap = nc;
    }
    memcpy((*ids)[(*n)++], id, 16);
    return (0);
}

int
lc_eval_urls(const struct conf *c, LDAP *ld, struct state *st, int pending_only,
	     size_t *evaluated, char *err, size_t errlen)
{
    unsigned char (*ids)[16] = NULL;
    size_t  n = 0, cap = 0, pos = 0, done;
    const char *k;
    void   *v;
    int     changed;

    *evaluated = 0;
    err[0] = 0;
    if (pending_only) {
	while (htab_next(&st->url_pending, &pos, &k, NULL, NULL))
	    if (push_id(&ids, &n, &cap, k) < 0)
		goto oom;
    } else {
	while (htab_next(&st->ents, &pos, NULL, NULL, &v)) {
	    struct ent *e = v;

	    if (ENT_IS_GROUP(e) && e->v[V_URL].n && push_id(&ids, &n, &cap, e->uuid) < 0)
		goto oom;
	}
    }
    changed = lc_eval_url_list(c, ld, st, ids, n, 0, &done, evaluated, err, errlen);
    free(ids);
    return (changed);
oom:
    free(ids);
    snprintf(err, errlen, "out of memory");
    return (-1);
}

/* ---- beside the full search ---- */

/*
 * During a full sync slapd sends the entries at one core for the first
 * half of the full search and then waits for ldapsync, which decodes
 * the group entries; the memberURL searches after it kept slapd at one
 * core and ldapsync nearly idle.  So they run beside it: a thread with
 * a connection of its own lists the groupOfURLs groups (a small search:
 * objectClass is indexed) and evaluates their URLs as they were then,
 * keeping the results apart (the state is not the thread's); after the
 * full search they are given to the groups whose entry still has
 * exactly those URLs and that tenant.  Whatever the thread could not do
 * (a group new or changed in between, a failed connection) is evaluated
 * after the full search, as before: the thread only saves time.
 */
struct ahead_grp {
    struct ent *e;			/* UUID, DN, tenant and URLs as listed */
    struct urlres res;			/* its results, when done */
    int     done;
};

struct url_ahead {
    const struct conf *c;
    size_t  uri;			/* the URI to try first */
    pthread_t tid;
    int     joined;
    atomic_int stop;
    struct ahead_grp *g;
    size_t  n, cap;
    size_t  evaluated;
    int     ret;			/* 0: every listed group evaluated */
    long long ms;
    char    err[512];
};

static int
ahead_start(void *arg, size_t i, struct url_acc *a)
{
    struct url_ahead *ua = arg;

    a->e = ua->g[i].e;			/* listed only with URLs */
    a->ctx = &ua->g[i];
    return (1);
}

static int
ahead_store(void *arg, struct url_acc *a, size_t n)
{
    struct ahead_grp *g = a->ctx;

    (void) arg;
    g->res.dns = a->dns;
    g->res.n = n;
    g->res.why = a->why;
    g->res.bad_url = a->bad;
    g->done = 1;
    return (1);
}

/* List tenant t's groupOfURLs groups; -1 (message in err) when the
 * search failed; a size limit cuts the list short (and says so). */
static int
ahead_list(struct url_ahead *ua, LDAP *ld, size_t t, char *err, size_t errlen)
{
    const struct conf *c = ua->c;
    char   *attrs[] = {(char *) (uintptr_t) "entryUUID", (char *) (uintptr_t) "memberURL", NULL};
    char   *f = lc_filter(c, t), *filter = NULL;
    struct timeval tv = {c->ldap.timeout, 0};
    int     rc = LDAP_OTHER, msgid, type, ret = -1;
    LDAPMessage *m = NULL;
    char    e1[256];

    if (f == NULL || asprintf(&filter, "(&(objectClass=groupOfURLs)(memberURL=*)%s)", f) < 0) {
	filter = NULL;
	snprintf(err, errlen, "out of memory");
	goto out;
    }
    rc = ldap_search_ext(ld, c->tenants[t].base, LDAP_SCOPE_SUBTREE, filter, attrs, 0,
			 NULL, NULL, &tv, LDAP_NO_LIMIT, &msgid);
    if (rc != LDAP_SUCCESS) {
	snprintf(err, errlen, "search %s: %s", c->tenants[t].base,
		 ldap_err2string(rc));
	goto out;
    }
    while ((type = result_wait(ld, msgid, c->ldap.timeout, &ua->stop, &m)) > 0) {
	if (type == LDAP_RES_SEARCH_ENTRY) {
	    struct ent *e = lc_entry(c, ld, m, NULL, e1, sizeof(e1));

	    ldap_msgfree(m);
	    m = NULL;
	    if (e == NULL)		/* the full search reports it */
		continue;
	    /* Under a deeper tenant's base too: listed by that one. */
	    if ((e->tenant = comp_tenant(c, e->dn)) != (int) t || e->v[V_URL].n == 0) {
		ent_free(e);
		continue;
	    }
	    if (ua->n == ua->cap) {
		size_t  nc = ua->cap ? ua->cap * 2 : 64;
		struct ahead_grp *x = realloc(ua->g, nc * sizeof(*x));

		if (x == NULL) {
		    ent_free(e);
		    snprintf(err, errlen, "out of memory");
		    goto out;
		}
		ua->g = x;
		ua->cap = nc;
	    }
	    memset(&ua->g[ua->n], 0, sizeof(ua->g[0]));
	    ua->g[ua->n++].e = e;
	    continue;
	}
	if (type == LDAP_RES_SEARCH_RESULT) {
	    int     code = LDAP_OTHER;

	    (void) ldap_parse_result(ld, m, &code, NULL, NULL, NULL, NULL, 1);
	    m = NULL;
	    if (code == LDAP_SIZELIMIT_EXCEEDED)
		snprintf(err, errlen, "the listing of %s's groupOfURLs groups was cut"
			 " short by a size limit", c->tenants[t].base);
	    else if (code != LDAP_SUCCESS) {
		snprintf(err, errlen, "search %s: %s", c->tenants[t].base,
			 ldap_err2string(code));
		goto out;
	    }
	    ret = 0;
	    goto out;
	}
	ldap_msgfree(m);		/* a reference: not followed */
	m = NULL;
    }
    (void) ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &rc);
    snprintf(err, errlen, "search %s: %s", c->tenants[t].base,
	     type < 0 ? ldap_err2string(rc) : stopped(&ua->stop) ? "stopped" : "timed out");
out:
    free(f);
    free(filter);
    return (ret);
}

static void *
ahead_run(void *arg)
{
    struct url_ahead *ua = arg;
    struct url_src src = {ahead_start, ahead_store, ua, &ua->stop};
    long long t0 = mono_ms();
    size_t  idx = ua->uri, done, t;
    char    lerr[256] = "";
    LDAP   *ld;

    ua->ret = -1;
    /* (A connect is not cut short by a stop: at most the timeouts of one
     * try of every URI.) */
    if ((ld = lc_connect(ua->c, &idx, ua->err, sizeof(ua->err))) != NULL) {
	for (t = 0; t < ua->c->ntenants && !stopped(&ua->stop); t++)
	    if (ahead_list(ua, ld, t, lerr, sizeof(lerr)) < 0)
		break;
	/* What was listed is evaluated, even when a listing failed. */
	if (eval_groups(ua->c, ld, &src, ua->n, 0, &done, &ua->evaluated, ua->err,
			sizeof(ua->err)) >= 0 && done == ua->n && lerr[0] == 0
	    && t == ua->c->ntenants)
	    ua->ret = 0;
	if (lerr[0] && ua->err[0] == 0)
	    snprintf(ua->err, sizeof(ua->err), "%s", lerr);
	ldap_unbind_ext_s(ld, NULL, NULL);
    }
    ua->ms = mono_ms() - t0;
    return (NULL);
}

struct url_ahead *
lc_urls_ahead_start(const struct conf *c, size_t uri)
{
    struct url_ahead *ua = calloc(1, sizeof(*ua));
    sigset_t all, old;
    int     r;

    if (ua == NULL)
	return (NULL);
    ua->c = c;
    ua->uri = uri;
    atomic_init(&ua->stop, 0);
    /* Signals stay with the main thread, whose waits they interrupt. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    r = pthread_create(&ua->tid, NULL, ahead_run, ua);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
	free(ua);
	return (NULL);
    }
    return (ua);
}

long
lc_urls_ahead_apply(struct url_ahead *ua, struct state *st, size_t *listed,
		    long long *ms, char *why, size_t whylen)
{
    size_t  i;
    long    applied = 0;
    int     r;

    if (!ua->joined)
	pthread_join(ua->tid, NULL);
    ua->joined = 1;
    *listed = ua->n;
    *ms = ua->ms;
    why[0] = 0;
    if (ua->ret < 0)
	snprintf(why, whylen, "%s", ua->err[0] ? ua->err : "stopped");
    for (i = 0; i < ua->n; i++) {
	struct ahead_grp *a = &ua->g[i];
	struct ent *g;

	if (!a->done || (g = state_get(st, a->e->uuid)) == NULL || !ENT_IS_GROUP(g)
	    || g->tenant != a->e->tenant || !vals_same(&g->v[V_URL], &a->e->v[V_URL]))
	    continue;
	a->done = 0;
	r = state_set_urls(st, g, a->res.dns, a->res.n, a->res.why, a->res.bad_url);
	memset(&a->res, 0, sizeof(a->res));	/* the state's now, on every path */
	if (r < 0)
	    return (-1);
	applied++;
    }
    return (applied);
}

void
lc_urls_ahead_free(struct url_ahead *ua)
{
    size_t  i, k;

    if (ua == NULL)
	return;
    atomic_store_explicit(&ua->stop, 1, memory_order_relaxed);
    if (!ua->joined)
	pthread_join(ua->tid, NULL);
    for (i = 0; i < ua->n; i++) {
	for (k = 0; k < ua->g[i].res.n; k++)
	    free(ua->g[i].res.dns[k]);
	free(ua->g[i].res.dns);
	free(ua->g[i].res.why);
	free(ua->g[i].res.bad_url);
	ent_free(ua->g[i].e);
    }
    free(ua->g);
    free(ua);
}

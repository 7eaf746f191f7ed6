/*
 * memberurl.c - the memberURL searches of groupOfURLs groups
 *		 (see memberurl.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldap.h>

#include "dn.h"
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
 * then its results, then the next.  Groups are started in the order of
 * ids; a group's DNs are gathered from all its URLs, sorted and made
 * unique, and stored when its last search is done.  The connection is
 * one of the evaluation's own (no other operation is read from it).
 */
#define URL_WINDOW	8

struct url_acc {			/* one group being evaluated */
    struct ent *g;
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
acc_finish(struct state *st, struct url_acc *a)
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
    r = state_set_urls(st, a->g, a->dns, j, a->why, a->bad);
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

    while (a->next_url < a->g->v[V_URL].n) {
	size_t  at = a->next_url++;
	const char *url = a->g->v[V_URL].s[at];
	LDAPURLDesc *lud = NULL;
	const char *base;
	int     rc, scope, msgid;

	if (ldap_url_parse(url, &lud) != LDAP_URL_SUCCESS) {
	    acc_why(a, at, url, "memberURL rejected: not an LDAP URL", NULL);
	    continue;
	}
	base = lud->lud_dn ? lud->lud_dn : "";
	if (a->g->tenant < 0 || dn_within(base, c->tenants[a->g->tenant].base) == 0) {
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
	    snprintf(err, errlen, "memberURL search of %s: %s", a->g->dn, ldap_err2string(rc));
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

int
lc_eval_url_list(const struct conf *c, LDAP *ld, struct state *st,
		 unsigned char (*ids)[16], size_t n, long long budget_ms,
		 size_t *done, size_t *evaluated, char *err, size_t errlen)
{
    long long t0 = mono_ms();
    struct url_acc *accs;
    struct url_op ops[URL_WINDOW];
    struct timeval tv = {c->ldap.timeout, 0};
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
			|| accs[cur].next_url >= accs[cur].g->v[V_URL].n))
		cur++;
	    if (cur == started) {		/* start the next group */
		struct ent *g;

		if (stop || started == n)
		    break;
		if (budget_ms > 0 && started > 0 && mono_ms() - t0 >= budget_ms) {
		    stop = 1;
		    break;
		}
		a = &accs[started++];
		a->state = 1;
		g = state_get(st, ids[started - 1]);
		if (g == NULL || !ENT_IS_GROUP(g) || g->v[V_URL].n == 0) {
		    if (g)
			(void) state_set_urls(st, g, NULL, 0, NULL, NULL);
		    a->state = 2;
		    continue;
		}
		a->g = g;
		++*evaluated;
	    }
	    a = &accs[cur];
	    if ((r = acc_issue(c, ld, a, cur, &ops[nops], err, errlen)) < 0)
		goto out;
	    if (r > 0)
		nops++;
	    else if (a->inflight == 0) {	/* no URL could be searched */
		if ((r = acc_finish(st, a)) < 0)
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

	    type = ldap_result(ld, LDAP_RES_ANY, LDAP_MSG_ONE, &tv, &m);
	    if (type <= 0) {
		(void) ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &rc);
		snprintf(err, errlen, "memberURL search: %s",
			 type == 0 ? "timed out" : ldap_err2string(rc));
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
		snprintf(err, errlen, "memberURL search of %s: %s", a->g->dn, ldap_err2string(rc));
		ops[i] = ops[--nops];
		goto out;
	    }
	    if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED)
		acc_why(a, ops[i].url, a->g->v[V_URL].s[ops[i].url],
			"memberURL search failed", ldap_err2string(rc));
	    ops[i] = ops[--nops];
	    if (--a->inflight == 0 && a->next_url >= a->g->v[V_URL].n) {
		if ((r = acc_finish(st, a)) < 0)
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
	while (htab_next(&st->url_pending, &pos, &k, NULL, NULL)) {
	    if (n == cap) {
		size_t  nc = cap ? cap * 2 : 16;
		unsigned char (*x)[16] = realloc(ids, nc * 16);

		if (x == NULL)
		    goto oom;
		ids = x;
		cap = nc;
	    }
	    memcpy(ids[n++], k, 16);
	}
    } else {
	while (htab_next(&st->ents, &pos, NULL, NULL, &v)) {
	    struct ent *e = v;

	    if (!ENT_IS_GROUP(e) || e->v[V_URL].n == 0)
		continue;
	    if (n == cap) {
		size_t  nc = cap ? cap * 2 : 16;
		unsigned char (*x)[16] = realloc(ids, nc * 16);

		if (x == NULL)
		    goto oom;
		ids = x;
		cap = nc;
	    }
	    memcpy(ids[n++], e->uuid, 16);
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

/*
 * explain.c - fwdmap explain (see explain.h).
 *
 * The expansion is walked depth first over "virtual" answers exactly as
 * fwdmapd gives them to Postfix (map_query_ext: case folding, extension
 * stripping and propagation), so that what is shown is what Postfix
 * does: an alias of a person with a mailbox and forwards reaches the
 * mailbox and every forward, a group reaches every member through nested
 * groups and internal sub-lists.  Every address is followed once (Postfix
 * delivers each recipient once); the walk keeps, for each address, the
 * address it was first reached from, which gives the path to a member and
 * the edges of the --dot graph.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "addr.h"
#include "explain.h"
#include "map.h"
#include "query.h"
#include "senderpol.h"

/* Internal sub-lists of large groups (map.h, MAP_SUBLIST_PREFIX). */
#ifdef MAP_SUBLIST_PREFIX
#define SUBLIST_PREFIX	MAP_SUBLIST_PREFIX
#else
#define SUBLIST_PREFIX	"fwdmap.sub."
#endif

struct xnode {
    char   *addr;			/* folded */
    int     parent;			/* first reached from; -1 for the root */
    int     depth;
    int     final;			/* delivered to as it is */
    int     expanded;			/* has a "virtual" answer */
};

struct xedge {
    int     from, to;
};

struct xwalk {
    struct map_gen *g;
    const struct explain_opts *o;
    struct xnode *n;
    size_t  nn, ncap;
    struct xedge *e;
    size_t  ne, ecap;
    json_t *seen;			/* folded address -> node index */
    size_t  nfinal;
    int     temp;			/* a lookup failed */
    int     truncated;			/* EXPLAIN_MAX_NODES reached */
    int     too_deep;			/* EXPLAIN_MAX_DEPTH reached */
};

/* Query one map for key; "OK value" as a JSON string, NOTFOUND as null. */
static enum map_q
xquery(struct map_gen *g, const struct explain_opts *o, const char *map,
       const char *key, const char **v, size_t *vl)
{
    if (o->query)
	return (o->query(g, map, key, v, vl));
    return (map_query_ext(g, map, strlen(map), key, strlen(key), o->delims,
			  o->propagate, v, vl));
}

static json_t *
xq(struct map_gen *g, const struct explain_opts *o, const char *map,
   const char *key, enum map_q *qp)
{
    const char *v;
    size_t  vl;
    enum map_q q = xquery(g, o, map, key, &v, &vl);

    if (qp)
	*qp = q;
    switch (q) {
    case MAP_Q_OK:
	return (json_stringn(v, vl));
    case MAP_Q_NOTFOUND:
	return (json_null());
    default:
	return (json_sprintf("%s: %.*s", q == MAP_Q_TEMP ? "TEMP" : "PERM",
			     (int) vl, v));
    }
}

/* The record of tag for key as stored: exact, or without extension. */
static int
xget(struct map_gen *g, const struct explain_opts *o, int tag, const char *key,
     char *found, const char **v, size_t *vl)
{
    char    k[MAP_KEY_MAX];
    size_t  n = strlen(key), sl;

    if (n >= sizeof(k))
	return (0);
    memcpy(k, key, n + 1);
    addr_fold(k, n);
    if (map_gen_get(g, tag, k, n, v, vl) > 0) {
	strcpy(found, k);
	return (1);
    }
    if (addr_strip_ext(k, n, o->delims, found, MAP_KEY_MAX - 1, &sl) == 1) {
	found[sl] = 0;
	return (map_gen_get(g, tag, found, sl, v, vl) > 0);
    }
    return (0);
}

static json_t *
xjson_record(struct map_gen *g, const struct explain_opts *o, int tag,
	     const char *key)
{
    char    found[MAP_KEY_MAX];
    const char *v;
    size_t  vl;

    if (!xget(g, o, tag, key, found, &v, &vl))
	return (NULL);
    return (json_loadb(v, vl, 0, NULL));
}

/*
 * The walk.
 */
static int
x_node(struct xwalk *w, const char *addr, size_t len, int parent, int depth)
{
    struct xnode *n;
    char   *a;

    if (w->nn >= EXPLAIN_MAX_NODES) {
	w->truncated = 1;
	return (-1);
    }
    if (w->nn == w->ncap) {
	size_t  cap = w->ncap ? w->ncap * 2 : 64;

	if ((n = realloc(w->n, cap * sizeof(*n))) == NULL)
	    return (-1);
	w->n = n;
	w->ncap = cap;
    }
    if ((a = strndup(addr, len)) == NULL)
	return (-1);
    addr_fold(a, len);
    n = &w->n[w->nn];
    memset(n, 0, sizeof(*n));
    n->addr = a;
    n->parent = parent;
    n->depth = depth;
    json_object_set_new(w->seen, a, json_integer((json_int_t) w->nn));
    return ((int) w->nn++);
}

static void
x_edge(struct xwalk *w, int from, int to)
{
    struct xedge *e;

    if (w->ne == w->ecap) {
	size_t  cap = w->ecap ? w->ecap * 2 : 64;

	if ((e = realloc(w->e, cap * sizeof(*e))) == NULL)
	    return;
	w->e = e;
	w->ecap = cap;
    }
    w->e[w->ne].from = from;
    w->e[w->ne].to = to;
    w->ne++;
}

static void
x_final(struct xwalk *w, int i)
{
    if (!w->n[i].final) {
	w->n[i].final = 1;
	w->nfinal++;
    }
}

/* Follow node i: its "virtual" answer, each address of it in turn. */
static void
x_walk(struct xwalk *w, int i)
{
    const char *v;
    size_t  vl, start, k;
    char   *list;
    enum map_q q;

    q = xquery(w->g, w->o, "virtual", w->n[i].addr, &v, &vl);
    if (q == MAP_Q_TEMP || q == MAP_Q_PERM) {
	w->temp = 1;
	return;
    }
    if (q == MAP_Q_NOTFOUND) {
	x_final(w, i);
	return;
    }
    w->n[i].expanded = 1;
    if ((list = strndup(v, vl)) == NULL) {	/* v may be a static buffer */
	w->temp = 1;
	return;
    }
    for (start = 0, k = 0; k <= vl; k++) {
	const char *item = list + start;
	size_t  len = k - start;
	char    key[MAP_KEY_MAX];
	json_t *seen;
	int     j;

	if (k < vl && list[k] != ',')
	    continue;
	start = k + 1;
	if (len == 0 || len >= sizeof(key))
	    continue;
	memcpy(key, item, len);
	key[len] = 0;
	addr_fold(key, len);
	if (strcmp(key, w->n[i].addr) == 0) {	/* expands to itself: final */
	    x_final(w, i);
	    continue;
	}
	if ((seen = json_object_get(w->seen, key)) != NULL) {
	    x_edge(w, i, (int) json_integer_value(seen));
	    continue;				/* each address once */
	}
	if ((j = x_node(w, key, len, i, w->n[i].depth + 1)) < 0)
	    break;
	x_edge(w, i, j);
	if (w->n[j].depth >= EXPLAIN_MAX_DEPTH) {
	    w->too_deep = 1;			/* Postfix stops expanding */
	    x_final(w, j);
	    continue;
	}
	x_walk(w, j);
    }
    free(list);
}

static void
x_free(struct xwalk *w)
{
    size_t  i;

    for (i = 0; i < w->nn; i++)
	free(w->n[i].addr);
    free(w->n);
    free(w->e);
    json_decref(w->seen);
}

/* The node of member (as given, or the primary address it is an alias
 * of), or -1. */
static int
x_find_member(struct xwalk *w, const char *member)
{
    char    k[MAP_KEY_MAX], s[MAP_KEY_MAX];
    json_t *hit, *prov;
    size_t  n = strlen(member), sl;
    const char *prim;

    if (n >= sizeof(k))
	return (-1);
    memcpy(k, member, n + 1);
    addr_fold(k, n);
    if ((hit = json_object_get(w->seen, k)) != NULL)
	return ((int) json_integer_value(hit));
    if (addr_strip_ext(k, n, w->o->delims, s, sizeof(s) - 1, &sl) == 1) {
	s[sl] = 0;
	if ((hit = json_object_get(w->seen, s)) != NULL)
	    return ((int) json_integer_value(hit));
    }
    prov = xjson_record(w->g, w->o, MAP_T_PROVENANCE, member);
    prim = json_string_value(json_object_get(prov, "primary"));
    hit = prim ? json_object_get(w->seen, prim) : NULL;
    json_decref(prov);
    return (hit ? (int) json_integer_value(hit) : -1);
}

/*
 * The path through the directory's nesting: a group's provenance lists its
 * direct members ("direct": people by their primary address, nested
 * groups by theirs; ldapsync flattens the expansion itself).  Depth first
 * from addr to an address in targets; the path (a JSON array) or NULL.
 */
static json_t *
x_direct_path(struct map_gen *g, const struct explain_opts *o,
	      const char *addr, json_t *targets, json_t *seen, int depth)
{
    json_t *prov, *direct, *d, *path = NULL;
    size_t  i;
    char    k[MAP_KEY_MAX];
    const char *v;
    size_t  vl;

    if (depth > 64 || strlen(addr) >= sizeof(k))
	return (NULL);
    snprintf(k, sizeof(k), "%s", addr);
    addr_fold(k, strlen(k));
    if (json_object_get(seen, k))
	return (NULL);
    json_object_set_new(seen, k, json_true());
    if (!xget(g, o, MAP_T_GROUP, k, k, &v, &vl))
	return (NULL);				/* not a group */
    prov = xjson_record(g, o, MAP_T_PROVENANCE, addr);
    direct = json_object_get(prov, "direct");
    json_array_foreach(direct, i, d) {
	const char *a = json_string_value(d);

	if (a && json_object_get(targets, a)) {
	    path = json_array();
	    json_array_append_new(path, json_string(a));
	    break;
	}
    }
    for (i = 0; path == NULL && i < json_array_size(direct); i++) {
	const char *a = json_string_value(json_array_get(direct, i));

	if (a)
	    path = x_direct_path(g, o, a, targets, seen, depth + 1);
    }
    if (path)
	json_array_insert_new(path, 0, json_string(k));
    json_decref(prov);
    return (path);
}

/* The addresses that stand for member: as given, without extension, and
 * the primary address it is an alias of. */
static json_t *
x_member_targets(struct map_gen *g, const struct explain_opts *o,
		 const char *member)
{
    json_t *t = json_object(), *prov;
    char    k[MAP_KEY_MAX], s[MAP_KEY_MAX];
    size_t  n = strlen(member), sl;
    const char *prim;

    if (n >= sizeof(k))
	return (t);
    memcpy(k, member, n + 1);
    addr_fold(k, n);
    json_object_set_new(t, k, json_true());
    if (addr_strip_ext(k, n, o->delims, s, sizeof(s) - 1, &sl) == 1) {
	s[sl] = 0;
	json_object_set_new(t, s, json_true());
    }
    prov = xjson_record(g, o, MAP_T_PROVENANCE, member);
    if ((prim = json_string_value(json_object_get(prov, "primary"))) != NULL)
	json_object_set_new(t, prim, json_true());
    json_decref(prov);
    return (t);
}

/* ["root", ..., "member"] */
static json_t *
x_path(const struct xwalk *w, int i)
{
    json_t *p = json_array();

    for (; i >= 0; i = w->n[i].parent)
	json_array_insert_new(p, 0, json_string(w->n[i].addr));
    return (p);
}

/* What a node is, for the graph: group (and policy), person, sub-list. */
static void
x_kind(struct xwalk *w, int i, char *buf, size_t len, int *is_group)
{
    char    found[MAP_KEY_MAX];
    const char *v;
    size_t  vl;
    struct senderpol_result r;
    json_t *prov;
    const char *role;

    *is_group = 0;
    if (xget(w->g, w->o, MAP_T_GROUP, w->n[i].addr, found, &v, &vl)
	&& senderpol_parse_group(v, vl, &r) == 0) {
	*is_group = 1;
	snprintf(buf, len, "group, %s may send", strcmp(r.policy, "anyone") == 0
		 ? "anyone" : strcmp(r.policy, "tenant") == 0 ? "its tenant"
		 : strcmp(r.policy, "members") == 0 ? "members" : "listed");
	return;
    }
    prov = xjson_record(w->g, w->o, MAP_T_PROVENANCE, w->n[i].addr);
    role = json_string_value(json_object_get(prov, "role"));
    if (role && strcmp(role, "group") == 0) {
	*is_group = 1;
	snprintf(buf, len, "group");
    } else if (role && strcmp(role, "alias") == 0)
	snprintf(buf, len, "alias");
    else if (role)
	snprintf(buf, len, "%s", w->n[i].expanded ? "person, forwards" :
		 "person");
    else if (strncmp(w->n[i].addr, SUBLIST_PREFIX, strlen(SUBLIST_PREFIX)) == 0)
	snprintf(buf, len, "internal sub-list");
    else if (w->n[i].expanded)
	snprintf(buf, len, "list");
    else
	buf[0] = 0;
    json_decref(prov);
}

/* A label in a DOT string: quotes and backslashes escaped. */
static void
dot_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
	if (*s == '"' || *s == '\\')
	    putchar('\\');
	if (*s == '\n') {
	    fputs("\\n", stdout);
	    continue;
	}
	putchar((unsigned char) *s < 0x20 ? '?' : *s);
    }
    putchar('"');
}

static void
x_dot(struct xwalk *w)
{
    json_t *tnodes = json_object();
    size_t  i, shown = w->nn < EXPLAIN_DOT_NODES ? w->nn : EXPLAIN_DOT_NODES;
    int     nt = 0;

    printf("digraph fwdmap {\n  rankdir=LR;\n"
	   "  node [shape=ellipse, fontname=\"Helvetica\", fontsize=10];\n");
    for (i = 0; i < shown; i++) {
	char    kind[128], label[MAP_KEY_MAX + 160];
	int     is_group;

	x_kind(w, (int) i, kind, sizeof(kind), &is_group);
	snprintf(label, sizeof(label), "%s%s%s", w->n[i].addr,
		 kind[0] ? "\n" : "", kind);
	printf("  n%zu [label=", i);
	dot_str(label);
	if (is_group)
	    printf(", shape=box, style=filled, fillcolor=\"#cfe2ff\"");
	else if (i == 0)
	    printf(", style=bold");
	printf("];\n");
    }
    for (i = 0; i < w->ne; i++)
	if ((size_t) w->e[i].from < shown && (size_t) w->e[i].to < shown)
	    printf("  n%d -> n%d;\n", w->e[i].from, w->e[i].to);
    /* Final destinations: where Postfix sends them. */
    for (i = 0; i < shown; i++) {
	json_t *tr, *id;
	enum map_q tq;
	const char *t;
	char    dom[MAP_KEY_MAX];
	const char *d;
	size_t  dl;

	if (!w->n[i].final)
	    continue;
	tr = xq(w->g, w->o, "transport", w->n[i].addr, &tq);
	t = json_is_string(tr) ? json_string_value(tr) : NULL;
	if (t == NULL) {
	    enum map_q dq = MAP_Q_NOTFOUND;

	    if (addr_domain(w->n[i].addr, strlen(w->n[i].addr), &d, &dl) == 0) {
		snprintf(dom, sizeof(dom), "%.*s", (int) dl, d);
		json_decref(xq(w->g, w->o, "domains", dom, &dq));
	    }
	    if (dq == MAP_Q_OK)
		t = "Postfix default transport";
	    else {
		snprintf(dom, sizeof(dom), "Internet\n%s", w->o->outside ?
			 w->o->outside() : "(DNS MX)");
		t = dom;
	    }
	}
	if ((id = json_object_get(tnodes, t)) == NULL) {
	    id = json_integer(nt++);
	    json_object_set_new(tnodes, t, id);
	    printf("  t%d [label=", (int) json_integer_value(id));
	    dot_str(t);
	    printf(", shape=%s];\n", strncmp(t, "Internet\n", 9) == 0
		   ? "octagon" : "cylinder");
	}
	printf("  n%zu -> t%d;\n", i, (int) json_integer_value(id));
	json_decref(tr);
    }
    if (w->nn > shown)
	printf("  more [label=\"... %zu more addresses not drawn\","
	       " shape=note];\n", w->nn - shown);
    printf("}\n");
    json_decref(tnodes);
}

static void
print_field(const char *label, json_t *v)
{
    if (json_is_string(v))
	printf("  %-14s %s\n", label, json_string_value(v));
    else if (v && !json_is_null(v)) {
	char   *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	printf("  %-14s %s\n", label, s);
	free(s);
    }
}

static const char *
policy_words(const char *policy)
{
    if (strcmp(policy, "anyone") == 0)
	return ("anyone may send");
    if (strcmp(policy, "tenant") == 0)
	return ("only senders in its tenant's domains and listed senders"
		" may send");
    if (strcmp(policy, "members") == 0)
	return ("only its members and listed senders may send");
    return ("only its listed senders may send");
}

int
explain_one(struct map_gen *g, const char *addr, const struct explain_opts *o)
{
    json_t *out = json_object(), *targets = json_array(), *prov = NULL,
	   *rej = NULL, *tv, *grp = NULL;
    const char *v, *dom;
    size_t  vl, domlen, i;
    char    found[MAP_KEY_MAX], domain[MAP_KEY_MAX], verdict[512];
    enum map_q rq, vq, dq;
    int     ret = 0, member_node = -2;
    struct xwalk w;
    struct senderpol_result sres;

    memset(&w, 0, sizeof(w));
    w.g = g;
    w.o = o;
    w.seen = json_object();
    json_object_set_new(out, "address", json_string(addr));
    if (addr_domain(addr, strlen(addr), &dom, &domlen) < 0) {
	dom = addr;
	domlen = strlen(addr);
    }
    snprintf(domain, sizeof(domain), "%.*s", (int) domlen, dom);
    addr_fold(domain, strlen(domain));
    json_object_set_new(out, "domain", json_string(domain));
    json_object_set_new(out, "tenant", xq(g, o, "domains", domain, &dq));
    json_object_set_new(out, "recipient", xq(g, o, "recipients", addr, &rq));
    json_object_set_new(out, "virtual", tv = xq(g, o, "virtual", addr, &vq));
    json_object_set_new(out, "transport", xq(g, o, "transport", addr, NULL));
    if (xget(g, o, MAP_T_PROVENANCE, addr, found, &v, &vl)) {
	json_object_set_new(out, "key", json_string(found));
	prov = json_loadb(v, vl, 0, NULL);
    }
    json_object_set_new(out, "provenance", prov ? prov : json_null());
    if (xget(g, o, MAP_T_REJECTED, addr, found, &v, &vl))
	rej = json_loadb(v, vl, 0, NULL);
    json_object_set_new(out, "rejected_claim", rej ? rej : json_null());

    /* A group: its policy from G, the rest from its provenance. */
    if (xget(g, o, MAP_T_GROUP, addr, found, &v, &vl)) {
	struct senderpol_result r;

	grp = json_object();
	if (senderpol_parse_group(v, vl, &r) == 0) {
	    json_object_set_new(grp, "policy", json_string(r.policy));
	    json_object_set_new(grp, "primary", json_string(r.group));
	    json_object_set_new(grp, "tenant", json_string(r.tenant));
	} else
	    json_object_set_new(grp, "error", json_string("unreadable group"
							  " record"));
	if (prov) {
	    static const char *const keys[] = {"members", "direct",
		"direct_total", "skipped", "skipped_total", "cycle", "urls",
	    "sublists", NULL};
	    int     k;

	    for (k = 0; keys[k]; k++)
		if (json_object_get(prov, keys[k]))
		    json_object_set(grp, keys[k], json_object_get(prov, keys[k]));
	}
    }
    json_object_set_new(out, "group", grp ? grp : json_null());

    /* Every final destination, as Postfix's expansion reaches them. */
    if (rq == MAP_Q_OK && x_node(&w, addr, strlen(addr), -1, 0) == 0) {
	x_walk(&w, 0);
	for (i = 0; i < w.nn; i++) {
	    json_t *e, *tr;
	    enum map_q dq2 = MAP_Q_NOTFOUND;
	    const char *td;
	    size_t  tdl;

	    if (!w.n[i].final)
		continue;
	    e = json_object();
	    tr = xq(g, o, "transport", w.n[i].addr, NULL);
	    json_object_set_new(e, "address", json_string(w.n[i].addr));
	    if (addr_domain(w.n[i].addr, strlen(w.n[i].addr), &td, &tdl) == 0) {
		char    d2[MAP_KEY_MAX];

		snprintf(d2, sizeof(d2), "%.*s", (int) tdl, td);
		json_decref(xq(g, o, "domains", d2, &dq2));
		json_object_set_new(e, "ours", json_boolean(dq2 == MAP_Q_OK));
	    }
	    json_object_set_new(e, "transport", json_is_null(tr) ?
				json_string(o->outside ? o->outside() :
					    "(Postfix default: DNS MX)") : tr);
	    if (w.n[i].depth > 1) {
		json_t *p = x_path(&w, w.n[i].parent);

		json_array_remove(p, 0);
		json_object_set_new(e, "via", p);
	    }
	    json_array_append_new(targets, e);
	}
	if (w.too_deep)
	    json_object_set_new(out, "note", json_string("expansion deeper"
				" than Postfix's virtual_alias_recursion_limit"));
	else if (w.nfinal > POSTFIX_EXPANSION_LIMIT)
	    json_object_set_new(out, "note", json_sprintf("%zu destinations:"
				" more than Postfix's default virtual_alias_"
				"expansion_limit (%d); see fwdmap postconf",
				w.nfinal, POSTFIX_EXPANSION_LIMIT));
	if (w.truncated)
	    json_object_set_new(out, "truncated", json_true());
    }
    json_object_set_new(out, "destinations", targets);

    if (o->member) {
	json_t *m = json_object();

	json_t *want = x_member_targets(g, o, o->member), *seen = json_object(),
	       *path;

	member_node = w.nn ? x_find_member(&w, o->member) : -1;
	/* The directory's nesting first; else the path the expansion takes
	 * (internal sub-lists, or a group too large for its direct list). */
	path = member_node >= 0 ? x_direct_path(g, o, addr, want, seen, 0)
	    : NULL;
	if (path == NULL && member_node >= 0)
	    path = x_path(&w, member_node);
	json_decref(want);
	json_decref(seen);
	json_object_set_new(m, "member", json_string(o->member));
	json_object_set_new(m, "reached", json_boolean(member_node >= 0));
	json_object_set_new(m, "path", path ? path : json_null());
	json_object_set_new(out, "member", m);
    }
    if (o->sender) {
	json_t *s = json_object();
	const char *says;

	senderpol_check(g, addr, strlen(addr), o->sender, strlen(o->sender),
			o->delims, &sres);
	says = sres.verdict == SENDERPOL_DUNNO ? "may send"
	    : sres.verdict == SENDERPOL_REJECT ? "refused at RCPT"
	    : "deferred at RCPT";
	json_object_set_new(s, "sender", json_string(o->sender));
	json_object_set_new(s, "verdict", json_string(says));
	json_object_set_new(s, "why", json_string(sres.why));
	if (sres.verdict != SENDERPOL_DUNNO)
	    json_object_set_new(s, "reply", json_sprintf("%s %s",
			       sres.verdict == SENDERPOL_REJECT ? "5.7.1" : "4.3.0",
							 sres.text));
	json_object_set_new(out, "sender", s);
    }

    if (o->special_verdict
	&& (ret = o->special_verdict(addr, verdict, sizeof(verdict))) >= 0) {
	/* decided there (an SRS address) */
    } else if ((ret = 0, dq == MAP_Q_TEMP || rq == MAP_Q_TEMP
		|| vq == MAP_Q_TEMP || w.temp)) {
	snprintf(verdict, sizeof(verdict), "deferred (4xx): tables not usable");
	ret = 2;
    } else if (dq != MAP_Q_OK) {
	snprintf(verdict, sizeof(verdict), "not our domain: Postfix does "
		 "not relay it (unless configured elsewhere)");
	ret = 1;
    } else if (rq != MAP_Q_OK) {
	snprintf(verdict, sizeof(verdict), "rejected at RCPT with 5xx: unknown "
		 "recipient in a domain that rejects unknown recipients");
	ret = 1;
    } else if (!xget(g, o, MAP_T_RECIPIENT, addr, found, &v, &vl))
	snprintf(verdict, sizeof(verdict), "accepted: unknown address in a "
		 "domain that passes unknown recipients to its default route");
    else if (!prov)
	snprintf(verdict, sizeof(verdict), "accepted and routed (no "
		 "provenance recorded)");
    else
	snprintf(verdict, sizeof(verdict), "accepted and routed");
    json_object_set_new(out, "verdict", json_string(verdict));
    json_object_set_new(out, "generation", meta_json(map_gen_meta(g)));
    if (ret == 0 && o->sender && sres.verdict != SENDERPOL_DUNNO)
	ret = sres.verdict == SENDERPOL_TEMP ? 2 : 1;
    if (ret == 0 && o->member && member_node < 0)
	ret = 1;

    if (o->dot) {
	if (w.nn == 0)
	    x_node(&w, addr, strlen(addr), -1, 0);
	x_dot(&w);
    } else if (o->json) {
	json_dumpf(out, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	putchar('\n');
    } else {
	json_t *e;
	size_t  n = 0, total = json_array_size(targets);

	printf("%s\n", addr);
	printf("  %-14s %s\n", "verdict", verdict);
	print_field("tenant", json_object_get(out, "tenant"));
	if (grp) {
	    const char *pol = json_string_value(json_object_get(grp, "policy"));
	    json_t *sk = json_object_get(grp, "skipped"), *x;

	    printf("  %-14s %s: %s\n", "group",
		   pol ? pol : "?", pol ? policy_words(pol) : "unreadable");
	    print_field("primary", json_object_get(grp, "primary"));
	    if (json_object_get(grp, "members"))
		print_field("members", json_object_get(grp, "members"));
	    else
		printf("  %-14s %zu (destinations reached)\n", "members", total);
	    print_field("direct", json_object_get(grp, "direct"));
	    if (json_integer_value(json_object_get(grp, "direct_total"))
		> (json_int_t) json_array_size(json_object_get(grp, "direct")))
		printf("  %-14s %lld in all\n", "",
		       (long long) json_integer_value(json_object_get(grp,
							       "direct_total")));
	    if (json_array_size(json_object_get(grp, "urls")))
		print_field("member urls", json_object_get(grp, "urls"));
	    if (json_integer_value(json_object_get(grp, "sublists")) > 0)
		print_field("sub-lists", json_object_get(grp, "sublists"));
	    json_array_foreach(sk, i, x) {
		printf("  %-14s %s: %s\n", i ? "" : "skipped",
		       json_string_value(json_object_get(x, "dn")) ?
		       json_string_value(json_object_get(x, "dn")) : "?",
		       json_string_value(json_object_get(x, "reason")) ?
		       json_string_value(json_object_get(x, "reason")) : "?");
	    }
	    if (json_integer_value(json_object_get(grp, "skipped_total"))
		> (json_int_t) json_array_size(sk))
		printf("  %-14s %lld skipped in all (ldapsync's report lists"
		       " them)\n", "", (long long) json_integer_value(
				   json_object_get(grp, "skipped_total")));
	    if (json_array_size(json_object_get(grp, "cycle")))
		print_field("cycle broken", json_object_get(grp, "cycle"));
	    print_field("owner dn", prov ? json_object_get(prov, "dn") : NULL);
	} else if (prov) {
	    print_field("owner dn", json_object_get(prov, "dn"));
	    print_field("role", json_object_get(prov, "role"));
	    print_field("primary", json_object_get(prov, "primary"));
	    print_field("location", json_object_get(prov, "location"));
	    print_field("host", json_object_get(prov, "host"));
	    print_field("forwards", json_object_get(prov, "forwards"));
	    print_field("note", json_object_get(prov, "note"));
	}
	print_field("expands to", json_object_get(out, "virtual"));
	json_array_foreach(targets, i, e) {
	    if (!o->all && n++ >= EXPLAIN_TEXT_LIST) {
		printf("  %-14s ... and %zu more (-a lists all, -j as JSON)\n",
		       "", total - EXPLAIN_TEXT_LIST);
		break;
	    }
	    printf("  %-14s %s -> %s\n", i ? "" : "delivered to",
		   json_string_value(json_object_get(e, "address")),
		   json_string_value(json_object_get(e, "transport")));
	}
	print_field("note", json_object_get(out, "note"));
	if (o->member) {
	    json_t *m = json_object_get(out, "member"), *p = json_object_get(m,
								     "path"), *x;

	    if (json_is_array(p)) {
		printf("  %-14s ", "path");
		json_array_foreach(p, i, x)
		    printf("%s%s", i ? " -> " : "", json_string_value(x));
		putchar('\n');
	    } else
		printf("  %-14s %s is not reached from %s\n", "path", o->member,
		       addr);
	}
	if (o->sender) {
	    json_t *s = json_object_get(out, "sender");

	    printf("  %-14s <%s> %s: %s%s%s\n", "sender", o->sender,
		   json_string_value(json_object_get(s, "verdict")),
		   json_string_value(json_object_get(s, "why")),
		   json_object_get(s, "reply") ? "; " : "",
		   json_object_get(s, "reply") ?
		   json_string_value(json_object_get(s, "reply")) : "");
	}
	if (rej) {
	    printf("  %-14s claimed by %s: %s\n", "rejected claim",
		   json_string_value(json_object_get(rej, "dn")),
		   json_string_value(json_object_get(rej, "reason")));
	}
	printf("  %-14s serial %llu%s, created %s", "generation",
	       (unsigned long long) map_gen_meta(g)->serial,
	       map_gen_delta_meta(g) ? " + delta" : "",
	       ctime(&map_gen_meta(g)->created));
    }
    json_decref(out);
    x_free(&w);
    return (ret);
}

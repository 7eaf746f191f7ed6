/*
 * urlcache.c - the last evaluated memberURL results, kept across
 *		restarts (see urlcache.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "urlcache.h"

#define URLCACHE_MAGIC	"fwdmap-urls 1"
#define URLCACHE_LINE_MAX 65536

static int
has_nl(const char *s)
{
    return (s && strchr(s, '\n') != NULL);
}

/* Can group g's results be written (no value with a newline)? */
static int
writable(const struct ent *g, const struct urlres *u)
{
    size_t  i;

    for (i = 0; i < g->v[V_URL].n; i++)
	if (has_nl(g->v[V_URL].s[i]))
	    return (0);
    for (i = 0; i < u->n; i++)
	if (has_nl(u->dns[i]))
	    return (0);
    return (!has_nl(u->why) && !has_nl(u->bad_url));
}

int
urlcache_save(struct state *st, const char *dir, time_t evaluated,
	      char *err, size_t errlen)
{
    char    tmp[4096];
    FILE   *f;
    size_t  pos = 0, i;
    const char *k;
    void   *v;

    if ((f = state_file_open(dir, URLCACHE_FILE, tmp, sizeof(tmp), err, errlen)) == NULL)
	return (-1);
    fprintf(f, "%s %lld\n", URLCACHE_MAGIC, (long long) evaluated);
    while (htab_next(&st->urls, &pos, &k, NULL, &v)) {
	struct ent *g = state_get(st, (const unsigned char *) k);
	struct urlres *u = v;
	char    us[37];

	if (g == NULL || !ENT_IS_GROUP(g) || !writable(g, u))
	    continue;
	uuid_str(g->uuid, us);
	fprintf(f, "g %s %u %zu\n", us, (unsigned) g->v[V_URL].n, u->n);
	for (i = 0; i < g->v[V_URL].n; i++)
	    fprintf(f, "u %s\n", g->v[V_URL].s[i]);
	for (i = 0; i < u->n; i++)
	    fprintf(f, "d %s\n", u->dns[i]);
	if (u->why)
	    fprintf(f, "w %s\nb %s\n", u->why, u->bad_url ? u->bad_url : "");
    }
    fputs(".\n", f);
    return (state_file_commit(f, tmp, dir, URLCACHE_FILE, err, errlen));
}

/* One group as read, before it is applied. */
struct ugroup {
    unsigned char uuid[16];
    char  **urls, **dns, *why, *bad;
    size_t  nurls, ndns, curls, cdns;
};

static void
ugroup_free(struct ugroup *g)
{
    size_t  i;

    for (i = 0; i < g->nurls; i++)
	free(g->urls[i]);
    for (i = 0; i < g->ndns; i++)
	free(g->dns[i]);
    free(g->urls);
    free(g->dns);
    free(g->why);
    free(g->bad);
    memset(g, 0, sizeof(*g));
}

static int
push(char ***a, size_t *n, size_t *cap, const char *s)
{
    char   *d;

    if (*n == *cap) {
	size_t  nc = *cap ? *cap * 2 : 8;
	char  **x = realloc(*a, nc * sizeof(*x));

	if (x == NULL)
	    return (-1);
	*a = x;
	*cap = nc;
    }
    if ((d = strdup(s)) == NULL)
	return (-1);
    (*a)[(*n)++] = d;
    return (0);
}

/* Does g still have exactly the memberURLs the results were found for? */
static int
same_urls(const struct ent *g, const struct ugroup *ug)
{
    size_t  i;

    if (g->v[V_URL].n != ug->nurls)
	return (0);
    for (i = 0; i < ug->nurls; i++)
	if (strcmp(g->v[V_URL].s[i], ug->urls[i]) != 0)
	    return (0);
    return (1);
}

long
urlcache_load(struct state *st, const char *dir, time_t *evaluated,
	      char *err, size_t errlen)
{
    char    path[4096];
    FILE   *f;
    long    r;

    *evaluated = 0;
    snprintf(path, sizeof(path), "%s/%s", dir, URLCACHE_FILE);
    if ((f = fopen(path, "re")) == NULL) {
	if (errno == ENOENT)
	    return (0);
	snprintf(err, errlen, "open %s: %s", path, strerror(errno));
	return (-1);
    }
    r = urlcache_load_file(st, f, path, evaluated, err, errlen);
    fclose(f);
    return (r);
}

long
urlcache_load_file(struct state *st, FILE *f, const char *path, time_t *evaluated,
		   char *err, size_t errlen)
{
    char   *line = NULL;
    size_t  cap = 0, ng = 0, cg = 0, i;
    ssize_t len;
    struct ugroup *gs = NULL, *cur = NULL;
    size_t  want_urls = 0, want_dns = 0;
    long long t;
    long    applied = 0;
    unsigned long lineno = 0;
    int     ended = 0;

    *evaluated = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
	lineno++;
	if (len == 0 || line[len - 1] != '\n' || len > URLCACHE_LINE_MAX || ended)
	    goto bad;
	line[--len] = 0;
	if (lineno == 1) {
	    if (sscanf(line, URLCACHE_MAGIC " %lld", &t) != 1)
		goto bad;
	    *evaluated = (time_t) t;
	    continue;
	}
	if (strcmp(line, ".") == 0) {
	    ended = 1;
	    continue;
	}
	if (len < 2 || line[1] != ' ')
	    goto bad;
	if (line[0] == 'g') {
	    char    us[37];
	    unsigned nu;
	    size_t  nd;

	    if (cur && (cur->nurls != want_urls || cur->ndns != want_dns))
		goto bad;
	    if (sscanf(line + 2, "%36s %u %zu", us, &nu, &nd) != 3)
		goto bad;
	    if (ng == cg) {
		size_t  nc = cg ? cg * 2 : 16;
		struct ugroup *x = realloc(gs, nc * sizeof(*x));

		if (x == NULL)
		    goto oom;
		gs = x;
		cg = nc;
	    }
	    cur = &gs[ng++];
	    memset(cur, 0, sizeof(*cur));
	    if (uuid_parse(us, cur->uuid) < 0)
		goto bad;
	    want_urls = nu;
	    want_dns = nd;
	} else if (cur == NULL)
	    goto bad;
	else if (line[0] == 'u') {
	    if (cur->ndns)
		goto bad;
	    if (push(&cur->urls, &cur->nurls, &cur->curls, line + 2) < 0)
		goto oom;
	} else if (line[0] == 'd') {
	    if (push(&cur->dns, &cur->ndns, &cur->cdns, line + 2) < 0)
		goto oom;
	} else if (line[0] == 'w') {
	    if (cur->why)
		goto bad;
	    if ((cur->why = strdup(line + 2)) == NULL)
		goto oom;
	} else if (line[0] == 'b') {
	    if (cur->bad)
		goto bad;
	    if ((cur->bad = strdup(line + 2)) == NULL)
		goto oom;
	} else
	    goto bad;
    }
    if (ferror(f) || !ended || (cur && (cur->nurls != want_urls || cur->ndns != want_dns)))
	goto bad;
    /* All read: give each group that still has these URLs its results. */
    for (i = 0; i < ng; i++) {
	struct ent *g = state_get(st, gs[i].uuid);

	if (g == NULL || !ENT_IS_GROUP(g) || !same_urls(g, &gs[i]))
	    continue;
	if (state_set_urls(st, g, gs[i].dns, gs[i].ndns, gs[i].why, gs[i].bad) < 0) {
	    gs[i].dns = NULL;
	    gs[i].ndns = 0;
	    gs[i].why = gs[i].bad = NULL;
	    goto oom;
	}
	gs[i].dns = NULL;	/* owned by the state now */
	gs[i].ndns = 0;
	gs[i].why = gs[i].bad = NULL;
	applied++;
    }
    goto out;
bad:
    snprintf(err, errlen, "%s: malformed at line %lu", path, lineno);
    applied = -1;
    goto out;
oom:
    snprintf(err, errlen, "%s: out of memory", path);
    applied = -1;
out:
    for (i = 0; i < ng; i++)
	ugroup_free(&gs[i]);
    free(gs);
    free(line);
    return (applied);
}

/*
 * publish.c - what the full, delta and compaction paths share
 *	       (see publish.h and publish_int.h).
 *
 * The in-memory delta (p->delta: "T:addr" -> value, pub_tomb for a
 * deletion) over the base ldapsync wrote or adopted (p->base); lookups in
 * the published view; the mass-removal limit; the sequential reader of
 * published files; the removal of leftovers of a crash.  The three ways
 * of publishing are publish_full.c, publish_delta.c and
 * publish_compact.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#include <dirent.h>

#include <cdb.h>
#include <jansson.h>

#include "log.h"
#include "publish.h"
#include "publish_int.h"

char    pub_tomb[1];

int
pub_init(struct pub *p, const struct conf *c)
{
    memset(p, 0, sizeof(*p));
    p->conf = c;
    snprintf(p->source, sizeof(p->source), "ldapsync %s",
	     c->ldap.nuris ? c->ldap.uris[0] : "");
    if (htab_init(&p->gext, 64) < 0 || htab_init(&p->gfp, 16) < 0)
	return (-1);
    return (htab_init(&p->delta, 1024));
}

void
pub_delta_clear(struct pub *p)
{
    pub_delta_free_table(&p->delta);	/* an empty table, allocated on use */
}

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
	return (-1);
    }
    if ((b->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || cdb_init(&b->cdb, b->fd) < 0) {
	snprintf(err, errlen, "open %s: %s", path, strerror(errno));
	if (b->fd >= 0)
	    close(b->fd);
	free(b);
	return (-1);
    }
    p->base = b;
    return (0);
}

/* One base lookup; 1 found (value in *v, *vlen), 0 not found. */
int
pub_base_get(struct pub *p, int tag, const char *addr, size_t alen,
	 const char **v, size_t *vlen)
{
    char    k[MAP_KEY_MAX + 2];

    if (p->base == NULL || alen + 2 > MAP_KEY_MAX)
	return (0);
    k[0] = (char) tag;
    k[1] = ':';
    memcpy(k + 2, addr, alen);
    if (cdb_find(&p->base->cdb, k, (unsigned) (alen + 2)) <= 0
	|| (*v = cdb_getdata(&p->base->cdb)) == NULL)
	return (0);
    *vlen = cdb_datalen(&p->base->cdb);
    return (1);
}

void
pub_delta_free_table(struct htab *h)
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
    pub_delta_clear(p);
    htab_free(&p->delta);
    pub_extras_clear(p);
    htab_free(&p->gext);
    htab_free(&p->gfp);
    pub_close_base(p);
}

size_t
pub_delta_size(const struct pub *p)
{
    return (p->delta.n);
}

/* How many of total routes one publish may remove. */
static unsigned long
removal_limit(const struct conf *c, unsigned long total)
{
    double  pct = c->safety.max_removed_percent * (double) total / 100.0;
    unsigned long lim = (unsigned long) c->safety.max_removed;

    if ((unsigned long) pct < lim)
	lim = (unsigned long) pct;
    return (lim);
}

int
pub_guard(const struct pub *p, unsigned long routes, unsigned long old_routes,
	  unsigned long removed, char *err, size_t errlen)
{
    const struct conf *c = p->conf;
    unsigned long lim;

    if (routes == 0) {
	snprintf(err, errlen, "refusing to publish: the directory would yield"
		 " no routes at all");
	return (-2);
    }
    lim = removal_limit(c, old_routes);
    if (removed > lim && !p->force && !c->safety.allow_mass_removal) {
	snprintf(err, errlen, "refusing to publish: %lu of %lu routes would be removed"
		 " (limit %lu: safety.max_removed %ld, max_removed_percent %g);"
		 " if this is intended, confirm it with --force (ldapsync --once"
		 " --force, or the daemon restarted with --force)",
		 removed, old_routes, lim, c->safety.max_removed,
		 c->safety.max_removed_percent);
	return (-2);
    }
    return (0);
}

/* Published value of one key: delta first, then the base. */
int
pub_get(struct pub *p, int tag, const char *addr, size_t alen,
	const char **v, size_t *vlen)
{
    char    k[MAP_KEY_MAX + 2];
    void   *d;

    if (alen + 2 > MAP_KEY_MAX)
	return (0);
    k[0] = (char) tag;
    k[1] = ':';
    memcpy(k + 2, addr, alen);
    if ((d = htab_get(&p->delta, k, alen + 2)) != NULL) {
	if (d == pub_tomb)
	    return (0);
	*v = d;
	*vlen = strlen(d);
	return (1);
    }
    return (pub_base_get(p, tag, addr, alen, v, vlen));
}

/* ---- adopting a published delta (restart) ---- */

struct adopt {
    struct pub *p;
    long    routes;		/* R records the delta adds minus removes */
};

static int
adopt_one(void *ctx, const char *k, size_t klen, const char *v, size_t vlen)
{
    struct adopt *a = ctx;
    const char *bv;
    size_t  bl;
    char   *key, *val;
    int     in_base;

    if (klen < 3 || k[1] != ':' || k[0] == 0 || strchr(PUB_RECTAGS, k[0]) == NULL)
	return (0);		/* #meta */
    if (htab_get(&a->p->delta, k, klen) != NULL)
	return (-1);		/* a key twice: a damaged file */
    if ((key = malloc(klen + 1)) == NULL)
	return (-1);
    memcpy(key, k, klen);
    key[klen] = 0;
    if (vlen == MAP_TOMBSTONE_LEN && memcmp(v, MAP_TOMBSTONE, MAP_TOMBSTONE_LEN) == 0)
	val = pub_tomb;
    else if ((val = malloc(vlen + 1)) == NULL) {
	free(key);
	return (-1);
    } else {
	memcpy(val, v, vlen);
	val[vlen] = 0;
    }
    if (k[0] == MAP_T_RECIPIENT) {
	in_base = pub_base_get(a->p, MAP_T_RECIPIENT, k + 2, klen - 2, &bv, &bl);
	if (val == pub_tomb && in_base)
	    a->routes--;
	else if (val != pub_tomb && !in_base)
	    a->routes++;
    }
    if (htab_put(&a->p->delta, key, klen, val) < 0) {
	free(key);
	if (val != pub_tomb)
	    free(val);
	return (-1);
    }
    return (0);
}

int
pub_adopt_delta(struct pub *p, long *routes, char *err, size_t errlen)
{
    char    path[4096];
    struct adopt a = {p, 0};

    *routes = 0;
    if (errlen)
	err[0] = 0;
    snprintf(path, sizeof(path), "%s/%s", p->conf->maps_dir, MAP_DELTA_NAME);
    pub_delta_clear(p);
    if (p->base == NULL || map_scan(path, adopt_one, &a, err, errlen) < 0) {
	if (p->base == NULL)
	    snprintf(err, errlen, "no base open");
	else if (err[0] == 0)
	    snprintf(err, errlen, "%s: out of memory or a key twice", path);
	pub_delta_clear(p);
	return (-1);
    }
    *routes = a.routes;
    return (0);
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
    {0, 0, 1, "." PUB_NEXT_BASE "."},
    {0, 0, 0, PUB_NEXT_BASE},
    {1, 0, 1, ".ldapsync.state."},		/* state.c STATE_FILE */
    {1, 0, 0, "ldapsync.state.next"},
    {1, 0, 0, "ldapsync.journal.next"},
    {1, 1, 0, "ldapsync.cookie.tmp"},		/* daemon.c COOKIE_FILE */
};

static int
stale_match(const struct stale_pat *sp, const char *name)
{
    size_t  n = strlen(sp->name), i;

    if (!sp->tmp)
	return (strcmp(name, sp->name) == 0);
    if (strncmp(name, sp->name, n) != 0 || strlen(name) != n + 6)
	return (0);
    for (i = n; i < n + 6; i++)
	if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z')
	      || (name[i] >= '0' && name[i] <= '9')))
	    return (0);
    return (1);
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
	return (0);
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
    return (n);
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
	return (0);
    memcpy(dir, report, (size_t) (slash - report));
    dir[slash - report] = 0;
    blen = strlen(slash + 1);
    if ((d = opendir(dir[0] ? dir : "/")) == NULL)
	return (0);
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
    return (n);
}

unsigned
pub_remove_stale(const struct conf *c, int startup)
{
    const char *sd = c->ldapsync.state_dir;
    unsigned n = 0;

    if (startup && c->ldapsync.report_file)
	n = remove_stale_report(c->ldapsync.report_file);

    if (strcmp(sd, c->maps_dir) == 0)
	return (n + remove_stale_in(c->maps_dir, 1, 1, startup));
    return (n + remove_stale_in(c->maps_dir, 1, 0, startup)
	+ remove_stale_in(sd, 0, 1, startup));
}

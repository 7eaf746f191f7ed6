/*
 * daemon.c - ldapsync's sync loops: one full sync, the RFC 4533 daemon
 *	      and its poll fall-back (see daemon.h).
 *
 * The daemon resumes from its saved cookies, state snapshot and journal
 * when they match the published base, runs refreshAndPersist per tenant,
 * batches the changes of batch_delay_ms into one delta, journals them and
 * saves the cookie that depends on the journal.  Option parsing, the
 * configuration check, the lock and the privilege drop are main.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "compile.h"
#include "conf.h"
#include "daemon.h"
#include "ldap_conn.h"
#include "log.h"
#include "lsmetrics.h"
#include "map.h"
#include "memberurl.h"
#include "mono.h"
#include "publish.h"
#include "report.h"
#include "state.h"
#include "syncrepl.h"
#include "urlcache.h"

/*
 * Freeing a million entries one by one at exit costs seconds; a normal
 * build lets the kernel reclaim them, a sanitizer build frees everything
 * so that leak checking stays meaningful.
 */
#if defined(__SANITIZE_ADDRESS__)
#define FREE_AT_EXIT	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FREE_AT_EXIT	1
#endif
#endif
#ifndef FREE_AT_EXIT
#define FREE_AT_EXIT	0
#endif
#define COOKIE_FILE	"ldapsync.cookie"

static char cfg_hash[17];	/* config_hash() of the running configuration */

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
    (void) sig;
    stop_flag = 1;
}

void
daemon_catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

/* Sleep up to ms, returning early on a signal. */
static void
nap(long long ms)
{
    long long end = mono_ms() + ms;

    while (!stop_flag && mono_ms() < end) {
	struct timespec ts = {0, 50 * 1000000L};

	nanosleep(&ts, NULL);
    }
}

/* The closing line after the REPORT_MAX_LOGGED rejections logged. */
static void
log_unlogged(const struct conf *c, const struct report *rep, const char *why_no_file)
{
    unsigned long more = report_unlogged(rep);

    if (more == 0)
	return;
    if (why_no_file)
	log_warn("... and %lu more rejected entries (%s)", more, why_no_file);
    else
	log_warn("... and %lu more rejected entries, see the report %s", more,
		 c->ldapsync.report_file);
}

static void
finish_report(const struct conf *c, struct report *rep, const char *result,
	      int write)
{
    char    line[1024], err[512];

    report_set_str(rep, "result", result);
    if (write && report_write(rep, c->ldapsync.report_file, err, sizeof(err)) < 0)
	log_warn("%s", err);
    log_unlogged(c, rep, write ? NULL : "dry run: no report written");
    report_summary(rep, line, sizeof(line));
    log_info("%s", line);
    lsm_report(rep, result);
}

static void config_hash(const struct conf *c, char out[17]);
static int save_cookies(const struct conf *c, struct syncer *sy, uint64_t base_serial);
static void remove_cookies(const struct conf *c);

static unsigned long saved_url_gen = ~0UL;	/* st->url_gen in ldapsync.urls */

/*
 * Empty the state for a full refresh.  A state_init() that finds memory
 * short leaves empty tables that allocate as entries arrive (and report
 * failure then), so this only says so.
 */
static void
state_reset(struct state *st)
{
    saved_url_gen = ~0UL;
    state_free(st);
    if (state_init(st) < 0)
	log_warn("out of memory emptying the in-memory state; it grows as"
		 " entries arrive");
}

/* pub_init() for the daemon; the same on a short memory. */
static void
daemon_pub_init(struct pub *pub, const struct conf *c, int force)
{
    if (pub_init(pub, c) < 0)
	log_warn("out of memory setting up the delta table; it grows as"
		 " changes arrive");
    pub->force = force;
    pub->keep_base = 1;
    pub->bg_compact = 1;
}

/* ---- one full sync ---- */

/*
 * The secret that keys the names of groups' internal sub-lists
 * (STATE_DIR/ldapsync.sublist.key, 32 random bytes, mode 0600, made once).
 * Without it the names stay correct but guessable: log and go on.
 */
#define SUBLIST_KEY_FILE	"ldapsync.sublist.key"

static void
load_sublist_key(const struct conf *c)
{
    char    path[4096];
    unsigned char key[32];
    ssize_t n = -1;
    int     fd;

    snprintf(path, sizeof(path), "%s/%s", c->ldapsync.state_dir, SUBLIST_KEY_FILE);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
	n = read(fd, key, sizeof(key));
	close(fd);
    } else if (errno == ENOENT
	       && getrandom(key, sizeof(key), 0) == (ssize_t) sizeof(key)
	       && (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) >= 0) {
	n = write(fd, key, sizeof(key));
	if (fsync(fd) < 0 || close(fd) < 0)
	    n = -1;
	if (n == (ssize_t) sizeof(key))
	    log_info("created %s (the key of group sub-list names)", path);
    }
    if (n != (ssize_t) sizeof(key)) {
	log_warn("%s: cannot read or create it (%s); group sub-list names are"
		 " not keyed", path, n < 0 ? strerror(errno) : "short file");
	return;
    }
    comp_set_sublist_key(key, sizeof(key));
    explicit_bzero(key, sizeof(key));
}

/*
 * The state snapshot a daemon resumes from is written by a thread while
 * the base is compiled and published (2 s of a 40 s --once at a million
 * people and 100,000 groups): it reads only what the full search left
 * (an entry's UUID, DN and values) and pub_full() changes none of that.
 * It is written as the next snapshot, for the serial the base will get,
 * and installed only once that base is published.
 */
struct snap_job {
    struct state *st;
    const char *dir;
    uint64_t serial;
    long long ms;
    int     ret;
    char    err[1024];
};

static void *
snap_job_run(void *arg)
{
    struct snap_job *j = arg;
    long long t0 = mono_ms();

    j->ret = state_save_next(j->st, j->dir, j->serial, j->err, sizeof(j->err));
    j->ms = mono_ms() - t0;
    return (NULL);
}

/* The snapshot for the base just published (serial): the thread's,
 * installed (1), or written now (0).  -1 with a message in err. */
static int
snap_finish(const struct conf *c, struct state *st, struct snap_job *j,
	    int started, uint64_t serial, long long *ms, char *err,
	    size_t errlen)
{
    const char *dir = c->ldapsync.state_dir;
    long long t0 = mono_ms();

    if (started && j->ret == 0 && j->serial == serial
	&& state_install_next(dir) == 0) {
	*ms = j->ms;
	return (1);
    }
    if (started) {
	if (j->ret < 0)
	    log_warn("%s; writing it again", j->err);
	state_drop_next(dir);
    }
    if (state_save(st, dir, serial, err, errlen) < 0)
	return (-1);
    *ms = mono_ms() - t0;
    return (0);
}

int
daemon_full_once(const struct conf *c, int dry_run, int force, int exiting)
{
    struct state st;
    struct pub pub;
    struct report *rep = report_new("full");
    char    err[1024];
    size_t  idx = 0;
    LDAP   *ld = NULL;
    int     r, tries, ret = 1, synced;
    long long t0;
    struct syncer sy;
    struct snap_job snap;
    pthread_t snap_tid;
    int     snap_started = 0;
    struct url_ahead *ahead = NULL;
    time_t  url_t0 = 0;			/* when the memberURLs were evaluated */

    load_sublist_key(c);
    memset(&snap, 0, sizeof(snap));
    memset(&pub, 0, sizeof(pub));
    memset(&sy, 0, sizeof(sy));		/* sy_free() at out: is harmless */
    if (state_init(&st) < 0 || pub_init(&pub, c) < 0) {
	log_error("full sync failed: out of memory; nothing published");
	goto out;
    }
    st.no_dirty = 1;
    pub.dry_run = dry_run;
    pub.force = force;
    pub.skip_unchanged = !exiting;	/* periodic syncs: no identical bases */
    /*
     * --once against a server with syncprov reads the directory with
     * RFC 4533's refreshOnly, which ends with a cookie for exactly what
     * was read, and leaves cookie + snapshot beside the base: the daemon
     * started next resumes from them instead of reloading everything.
     * Periodic full syncs (poll mode) and dry runs read with a paged
     * search as before, and so does --once when the server refuses the
     * sync control (or caps the search: nothing truncated is published).
     */
    synced = exiting && !dry_run && strcmp(c->ldap.sync, "poll") != 0;
    if (sy_init(&sy, c, &st) < 0)
	synced = 0;		/* out of memory: the paged search */
    sy.refresh_only = 1;
    sy.no_changed = 1;
    config_hash(c, cfg_hash);
    for (tries = 0; tries < 3 && ld == NULL && !stop_flag; tries++) {
	if ((ld = lc_connect(c, &idx, err, sizeof(err))) == NULL) {
	    log_warn("connect: %s", err);
	    if (tries < 2)
		nap(1000LL << tries);
	}
    }
    lsm_directory(ld != NULL);
    if (ld == NULL) {
	log_error("full sync failed: no LDAP server accepted the connection and"
		  " bind (last: %s); nothing published", err);
	finish_report(c, rep, "failed", !dry_run);
	goto out;
    }
    if (err[0])
	log_warn("failed over to %s after: %s", c->ldap.uris[idx], err);
    report_set_str(rep, "uri", c->ldap.uris[idx]);
    url_t0 = time(NULL);
    ahead = lc_urls_ahead_start(c, idx);	/* the memberURLs, beside the search */
    t0 = mono_ms();
    if (synced) {
	/* Read with the sync control, so that a daemon can resume. */
	ldap_unbind_ext_s(ld, NULL, NULL);
	ld = NULL;
	if ((r = sy_start(&sy)) == 0) {
	    sy_stop(&sy);		/* keeps the cookies */
	    if (sy.err[0])
		log_warn("failed over to %s after: %s", c->ldap.uris[sy.uri_index], sy.err);
	    report_set_str(rep, "uri", c->ldap.uris[sy.uri_index]);
	} else {
	    log_info("no sync cookie for a daemon to resume from (%s); reading"
		     " with a paged search", sy.err);
	    synced = 0;
	    sy_clear_cookies(&sy);
	    state_reset(&st);
	    st.no_dirty = 1;
	    idx = 0;
	    if ((ld = lc_connect(c, &idx, err, sizeof(err))) == NULL) {
		lsm_directory(0);
		log_error("full sync failed: %s; nothing published", err);
		report_set_str(rep, "error", err);
		finish_report(c, rep, "failed", !dry_run);
		goto out;
	    }
	}
    }
    if (!synced && lc_full_search(c, ld, &st, err, sizeof(err)) < 0) {
	lsm_directory(0);
	log_error("full sync failed: %s; nothing published", err);
	report_set_str(rep, "error", err);
	finish_report(c, rep, "failed", !dry_run);
	goto out;
    }
    (exiting ? log_info : log_debug)("full search: %zu entries in %lld ms", st.nents,
				     mono_ms() - t0);
    {
	size_t  ng = 0, listed = 0;
	long long ahead_ms = 0;
	long    na = 0;
	char    why[512];

	if (ahead) {
	    if ((na = lc_urls_ahead_apply(ahead, &st, &listed, &ahead_ms, why,
					  sizeof(why))) < 0) {
		log_error("full sync failed: out of memory; nothing published");
		report_set_str(rep, "error", "out of memory");
		finish_report(c, rep, "failed", !dry_run);
		goto out;
	    }
	    if (why[0])
		log_warn("memberURL evaluation beside the full search: %s; the rest"
			 " after it", why);
	    if (listed)
		(exiting ? log_info : log_debug)("memberURLs of %ld groups evaluated beside"
						 " the full search (%lld ms)", na, ahead_ms);
	}
	t0 = mono_ms();
	/* Read through the sync control, the search left no connection. */
	if (ld == NULL && st.url_pending.n > 0) {
	    idx = 0;
	    ld = lc_connect(c, &idx, err, sizeof(err));
	}
	/* A fresh state: every groupOfURLs group not done beside is pending. */
	if (st.url_pending.n > 0
	    && (ld == NULL || lc_eval_urls(c, ld, &st, 1, &ng, err, sizeof(err)) < 0)) {
	    log_error("full sync failed: %s; nothing published", err);
	    report_set_str(rep, "error", err);
	    finish_report(c, rep, "failed", !dry_run);
	    goto out;
	}
	if (ng)
	    (exiting ? log_info : log_debug)("memberURLs of %zu groups evaluated in %lld ms",
					     ng, mono_ms() - t0);
    }
    t0 = mono_ms();
    if (synced) {
	snap.st = &st;
	snap.dir = c->ldapsync.state_dir;
	snap.serial = pub_full_serial(&pub);
	state_drop_next(snap.dir);
	snap_started = pthread_create(&snap_tid, NULL, snap_job_run, &snap) == 0;
    }
    r = pub_full(&pub, &st, rep, err, sizeof(err));
    (exiting ? log_info : log_debug)("compile and publish: %lld ms", mono_ms() - t0);
    if (snap_started) {
	pthread_join(snap_tid, NULL);
	if (r != 1)
	    state_drop_next(c->ldapsync.state_dir);
    }
    if (r == -2) {
	log_error("%s", err);
	report_set_str(rep, "error", err);
	finish_report(c, rep, "refused", !dry_run);
	ret = DAEMON_EXIT_REFUSED;
    } else if (r < 0) {
	log_error("publish failed: %s", err);
	report_set_str(rep, "error", err);
	finish_report(c, rep, "failed", !dry_run);
    } else {
	ret = 0;
	if (synced && r == 1) {
	    long long ms = 0;
	    int     how = snap_finish(c, &st, &snap, snap_started,
				      pub.base_serial, &ms, err, sizeof(err));

	    if (how < 0) {
		log_warn("%s; the next daemon start does a full refresh", err);
		remove_cookies(c);
	    } else if (save_cookies(c, &sy, pub.base_serial) == 0)
		log_info("state snapshot (written in %lld ms%s) and sync cookie"
			 " saved: a daemon resumes from them", ms,
			 how == 1 ? ", beside the publication" : "");
	    if (st.nurlgroups
		&& urlcache_save(&st, c->ldapsync.state_dir, url_t0, err, sizeof(err)) < 0)
		log_warn("%s; a daemon evaluates the memberURLs again at its start", err);
	} else if (!dry_run)
	    remove_cookies(c);	/* a cookie of an older base is no use */
	finish_report(c, rep, dry_run ? "dry-run" : r == 0 ? "unchanged" : "published", !dry_run);
    }
out:
    lc_urls_ahead_free(ahead);
    if (ld)
	ldap_unbind_ext_s(ld, NULL, NULL);
    sy_free(&sy);
    report_free(rep);
    pub_free(&pub);
    if (FREE_AT_EXIT || !exiting)
	state_free(&st);
    return (ret);
}

/* ---- configuration fingerprint ---- */

static json_t *
strv_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    size_t  i;

    for (i = 0; i < n; i++)
	json_array_append_new(a, json_string(v[i]));
    return (a);
}

static json_t *
str_or_null(const char *s)
{
    return (s ? json_string(s) : json_null());
}

/*
 * A fingerprint of everything in the configuration that decides what the
 * tables say for a given directory: stores, tenants (base, filter,
 * domains, allowed hosts, default location), domain policies, the
 * attribute mapping and max_forwards.  Taken from the loaded (defaulted)
 * configuration, serialised canonically (sorted keys, compact) and hashed
 * with 64-bit FNV-1a; 16 hex digits in out.  A resumed sync only
 * re-examines entries that changed in the directory, so a restart under a
 * different fingerprint must start with a full refresh.
 */
static void
config_hash(const struct conf *c, char out[17])
{
    json_t *o = json_object(), *st = json_object(), *te = json_object(),
	   *dm = json_object(), *at = json_object();
    const struct conf_attrs *a = &c->ldap.attrs;
    uint64_t h = 0xcbf29ce484222325ULL;
    char   *dump;
    size_t  i;

    for (i = 0; i < c->nstores; i++)
	json_object_set_new(st, c->stores[i].name, json_string(c->stores[i].transport));
    for (i = 0; i < c->ntenants; i++) {
	const struct conf_tenant *t = &c->tenants[i];

	json_object_set_new(te, t->name, json_pack("{s:s, s:o, s:o, s:o, s:o}",
	    "base", t->base, "filter", str_or_null(t->filter),
	    "domains", strv_json(t->domains, t->ndomains),
	    "allowed_hosts", t->allowed_hosts
		? strv_json(t->allowed_hosts, t->nallowed_hosts) : json_null(),
	    "default_location", str_or_null(t->default_location)));
    }
    for (i = 0; i < c->ndomains; i++) {
	const struct conf_domain *d = &c->domains[i];

	json_object_set_new(dm, d->name, json_pack("{s:o, s:o, s:i}",
	    "tenant", str_or_null(d->tenant), "default_route", str_or_null(d->default_route),
	    "unknown", (int) d->unknown));
    }
    json_object_set_new(at, "mail", str_or_null(a->mail));
    json_object_set_new(at, "alias", str_or_null(a->alias));
    json_object_set_new(at, "location", str_or_null(a->location));
    json_object_set_new(at, "host", str_or_null(a->host));
    json_object_set_new(at, "forward", str_or_null(a->forward));
    json_object_set_new(at, "object_class", str_or_null(a->object_class));
    json_object_set_new(o, "stores", st);
    json_object_set_new(o, "tenants", te);
    json_object_set_new(o, "domains", dm);
    json_object_set_new(o, "attributes", at);
    json_object_set_new(o, "max_forwards", json_integer(c->ldapsync.max_forwards));
    /* Since issue 10 groups are read and compiled: a state from before
     * has no group attributes, so a restart must refresh in full. */
    json_object_set_new(o, "groups", json_integer(1));
    if ((dump = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT)) != NULL) {
	const unsigned char *p;

	for (p = (const unsigned char *) dump; *p; p++) {
	    h ^= *p;
	    h *= 0x100000001b3ULL;
	}
	free(dump);
    } else
	h = 0;			/* never matches a saved one: full refresh */
    json_decref(o);
    snprintf(out, 17, "%016llx", (unsigned long long) h);
}

/* ---- cookies ---- */

static int
save_cookies(const struct conf *c, struct syncer *sy, uint64_t base_serial)
{
    json_t *o = json_object(), *ck = json_object();
    char    path[4096], tmp[4200];
    size_t  t;
    int     ret;

    for (t = 0; t < sy->nsess; t++)
	if (sy_cookie(sy, t))
	    json_object_set_new(ck, c->tenants[t].name, json_string(sy_cookie(sy, t)));
    json_object_set_new(o, "base_serial", json_integer((json_int_t) base_serial));
    json_object_set_new(o, "config_hash", json_string(cfg_hash));
    json_object_set_new(o, "cookies", ck);
    snprintf(path, sizeof(path), "%s/%s", c->ldapsync.state_dir, COOKIE_FILE);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    ret = json_dump_file(o, tmp, JSON_COMPACT);
    json_decref(o);
    if (ret == 0) {
	int     fd = open(tmp, O_RDONLY);

	if (fd >= 0) {
	    fsync(fd);
	    close(fd);
	}
	ret = rename(tmp, path);
    }
    if (ret < 0)
	log_warn_errno("save %s", path);
    else
	lsm_cookie_saved();
    return (ret);
}

static void
remove_cookies(const struct conf *c)
{
    char    path[4096];

    snprintf(path, sizeof(path), "%s/%s", c->ldapsync.state_dir, COOKIE_FILE);
    unlink(path);
}

static int
validate_cb(struct ent *e, void *ctx)
{
    return (comp_validate(ctx, e));
}

/*
 * memberURL results across restarts (urlcache.h): saved after the
 * publish that includes them, loaded on a resume.  A restarted daemon
 * answers with them and evaluates the URLs again when the interval since
 * the saved evaluation is over, after its first publish; only the groups
 * without saved results (new, or other URLs now) are evaluated before.
 */
static long long last_url_eval;	/* mono_ms() of the last full evaluation */
static time_t url_eval_wall;	/* its wall-clock time */

static void
load_url_results(const struct conf *c, struct state *st)
{
    char    err[512];
    time_t  t, now = time(NULL);
    long    n;
    long long age;

    if (st->nurlgroups == 0)
	return;
    if ((n = urlcache_load(st, c->ldapsync.state_dir, &t, err, sizeof(err))) < 0) {
	log_warn("%s; the memberURLs are evaluated again", err);
	return;
    }
    if (n == 0)
	return;
    saved_url_gen = st->url_gen;
    url_eval_wall = t;
    age = now >= t ? (long long) (now - t) : 0;
    if (age > c->ldapsync.group_url_interval)
	age = c->ldapsync.group_url_interval;
    last_url_eval = mono_ms() - age * 1000;
    log_info("memberURL results of %ld of %zu groups loaded (evaluated %lld s ago);"
	     " evaluated again in %lld s", n, st->nurlgroups, (long long) (now - t),
	     (long long) c->ldapsync.group_url_interval - age);
}

/*
 * After a publish: save the memberURL results it includes, at most once
 * per group_url_interval (at a million people the file holds millions of
 * DNs; one that is older only makes a restart evaluate sooner).
 */
static void
save_url_results(const struct conf *c, struct state *st)
{
    static long long last_save;
    char    err[512];

    if (st->url_gen == saved_url_gen || (st->nurlgroups == 0 && st->urls.n == 0)
	|| (last_save && mono_ms() - last_save < (long long) c->ldapsync.group_url_interval * 1000))
	return;
    last_save = mono_ms();
    if (urlcache_save(st, c->ldapsync.state_dir, url_eval_wall, err, sizeof(err)) < 0) {
	log_warn("%s; a restart evaluates the memberURLs again", err);
	return;
    }
    saved_url_gen = st->url_gen;
}

/* Resume from cookie + snapshot + journal when they match the published base. */
static int
try_resume(const struct conf *c, struct state *st, struct syncer *sy, struct pub *pub)
{
    char    path[4096], err[512];
    json_t *o, *ck;
    json_error_t je;
    uint64_t cs, bs = 0, ls = 0;
    struct map_meta bm, dm;
    size_t  t;
    long    routes, dr = 0;
    long long t0 = mono_ms(), t_snap;

    snprintf(path, sizeof(path), "%s/%s", c->ldapsync.state_dir, COOKIE_FILE);
    if ((o = json_load_file(path, 0, &je)) == NULL)
	return (0);
    st->no_dirty = 1;
    {
	const char *h = json_string_value(json_object_get(o, "config_hash"));

	if (h == NULL || strcmp(h, cfg_hash) != 0) {
	    log_info("configuration changed since the last sync: full refresh"
		     " (fingerprint %s, now %s)", h ? h : "none", cfg_hash);
	    json_decref(o);
	    return (0);
	}
    }
    cs = (uint64_t) json_integer_value(json_object_get(o, "base_serial"));
    ck = json_object_get(o, "cookies");
    snprintf(path, sizeof(path), "%s/%s", c->maps_dir, MAP_BASE_NAME);
    if (map_read_meta(path, &bm, NULL, 0) < 0 || bm.is_delta || bm.serial != cs) {
	log_info("saved cookie does not match the published base; full refresh");
	json_decref(o);
	return (0);
    }
    if (state_load(st, c->ldapsync.state_dir, &bs, &ls, validate_cb, (void *) (uintptr_t) c,
		   err, sizeof(err)) < 0 || bs != cs) {
	log_info("state snapshot unusable (%s); full refresh", err);
	json_decref(o);
	state_reset(st);
	return (0);
    }
    t_snap = mono_ms() - t0;
    for (t = 0; t < sy->nsess; t++) {
	json_t *v = json_object_get(ck, c->tenants[t].name);

	if (!json_is_string(v)) {
	    log_info("no saved cookie for tenant %s; full refresh", c->tenants[t].name);
	    json_decref(o);
	    state_reset(st);
	    sy_clear_cookies(sy);
	    return (0);
	}
	sy_set_cookie(sy, t, json_string_value(v));
    }
    json_decref(o);
    /* Adopt the published base (and delta serial) as our own. */
    if (pub_open_base(pub, err, sizeof(err)) < 0) {
	log_info("cannot open published tables (%s); full refresh", err);
	state_reset(st);
	sy_clear_cookies(sy);
	return (0);
    }
    /*
     * Adopt the published delta too (its records become the in-memory
     * delta over the base), so that the next change is a small delta
     * again, not a full base.  The routes of the published view are the
     * base's R records (its #meta counts them) plus what the delta adds
     * and removes: nothing is compiled here, at a million people that
     * took longer than the load itself.
     */
    pub->base_serial = pub->serial = bm.serial;
    routes = (long) bm.counts[REC_IDX(MAP_T_RECIPIENT)];
    snprintf(path, sizeof(path), "%s/%s", c->maps_dir, MAP_DELTA_NAME);
    if (map_file_meta(path, &dm, err, sizeof(err)) == 0 && dm.base_serial == bm.serial) {
	pub->serial = dm.serial;
	if (pub_adopt_delta(pub, &dr, err, sizeof(err)) == 0)
	    routes += dr;
	else {
	    /* Still correct: a fresh base on the first batch. */
	    log_warn("cannot adopt the published delta (%s); the next publish"
		     " writes a new base", err);
	    pub_close_base(pub);
	}
    }
    pub->routes = routes > 0 ? (unsigned long) routes : 0;
    st->changes = 0;
    if (pub->base && pub_load_extras(pub, st, err, sizeof(err)) < 0) {
	log_info("%s; full refresh", err);
	pub_close_base(pub);
	state_reset(st);
	sy_clear_cookies(sy);
	return (0);
    }
    load_url_results(c, st);
    state_dirty_clear(st);
    st->no_dirty = 0;
    log_info("resuming from saved cookie: %zu entries, base serial %llu,"
	     " state loaded in %lld ms (snapshot and journal %lld ms)", st->nents,
	     (unsigned long long) bm.serial, mono_ms() - t0, t_snap);
    return (1);
}

/* Journal the changed entries of a published delta. */
static void
journal_changes(const struct conf *c, struct syncer *sy, struct state *st, uint64_t serial,
		int compacting)
{
    size_t  pos = 0, np = 0, nd = 0;
    const char *k;
    struct ent **puts = calloc(sy->changed.n + 1, sizeof(*puts));
    unsigned char (*dels)[16] = calloc(sy->changed.n + 1, 16);
    char    err[512];

    if (puts == NULL || dels == NULL) {
	free(puts);
	free(dels);
	return;
    }
    while (htab_next(&sy->changed, &pos, &k, NULL, NULL)) {
	struct ent *e = state_get(st, (const unsigned char *) k);

	if (e)
	    puts[np++] = e;
	else
	    memcpy(dels[nd++], k, 16);
    }
    if (state_journal(c->ldapsync.state_dir, serial, puts, np, dels, nd, err, sizeof(err)) < 0)
	log_warn("%s", err);
    /* A compaction is running: its snapshot will need these too. */
    if (compacting
	&& state_journal_next(c->ldapsync.state_dir, serial, puts, np, dels, nd, err,
			      sizeof(err)) < 0)
	log_warn("%s", err);
    free(puts);
    free(dels);
}

#define COOKIE_SAVE_MS	2000
static long long last_cookie;
static int cookie_lags;		/* the sessions' cookies are newer than the saved one */

/* Make the journal durable, then save the cookie that depends on it. */
static void
flush_cookie(const struct conf *c, struct syncer *sy, struct pub *pub)
{
    if (state_journal_sync(c->ldapsync.state_dir) < 0) {
	log_warn_errno("fsync journal");
	return;
    }
    if (save_cookies(c, sy, pub->base_serial) == 0)
	cookie_lags = 0;
    last_cookie = mono_ms();
}

/*
 * Publish what the state holds now: a full base after a full refresh,
 * otherwise a delta.  Returns 1 published (cookie saved), 0 nothing to
 * do, -1 failed or refused (cookie not saved).
 */
static int
publish_now(const struct conf *c, struct state *st, struct pub *pub,
	    struct syncer *sy, int full)
{
    struct report *rep = report_new(full ? "full" : "delta");
    char    err[1024];
    uint64_t old_base = pub->base_serial;
    int     r;

    if (full || pub->base == NULL)
	r = pub_full(pub, st, rep, err, sizeof(err));
    else
	r = pub_delta(pub, st, rep, err, sizeof(err));
    if (r == -2) {
	log_error("%s", err);
	report_set_str(rep, "error", err);
	finish_report(c, rep, "refused", 1);
    } else if (r < 0) {
	log_error("publish failed: %s", err);
	report_set_str(rep, "error", err);
	finish_report(c, rep, "failed", 1);
    } else if (r == 0) {
	log_unlogged(c, rep, "nothing published: no report written");
	lsm_report(rep, "unchanged");
	report_free(rep);
	/*
	 * Nothing to publish, but the state did change (an attribute that
	 * does not alter the compiled records, an entry that stays
	 * invalid): journal it like any other batch, or a restart from a
	 * cookie that covers it would go on with the old entry.
	 */
	if (sy->changed.n)
	    journal_changes(c, sy, st, pub->serial, pub_compacting(pub));
	sy_changed_clear(sy);
	cookie_lags = 1;
	if (mono_ms() - last_cookie >= COOKIE_SAVE_MS)
	    flush_cookie(c, sy, pub);
	return (0);
    } else {
	finish_report(c, rep, "published", 1);
    }
    report_free(rep);
    if (r < 0)
	return (-1);
    if (pub->base_serial != old_base || full) {
	long long t0 = mono_ms();

	if (state_save(st, c->ldapsync.state_dir, pub->base_serial, err, sizeof(err)) < 0) {
	    log_warn("%s", err);
	    remove_cookies(c);
	    sy_changed_clear(sy);
	    return (1);
	}
	log_info("state snapshot saved: %zu entries in %lld ms", st->nents, mono_ms() - t0);
	sy_changed_clear(sy);
	cookie_lags = save_cookies(c, sy, pub->base_serial) < 0;
	last_cookie = mono_ms();
	return (1);
    }
    journal_changes(c, sy, st, pub->serial, pub_compacting(pub));
    sy_changed_clear(sy);
    cookie_lags = 1;
    /*
     * The cookie may lag behind the published deltas (a restart then
     * replays a few changes, which is harmless); saving it, and the
     * fsync of the journal it depends on, is kept off the per-batch path.
     */
    if (mono_ms() - last_cookie >= COOKIE_SAVE_MS)
	flush_cookie(c, sy, pub);
    return (1);
}

static int
poll_mode(const struct conf *c, int force)
{
    int     first = 1;

    log_info("periodic full syncs every %d s", c->ldap.poll_interval);
    while (!stop_flag) {
	int     r = daemon_full_once(c, 0, force && first, 0);

	first = 0;
	(void) r;
	nap((long long) c->ldap.poll_interval * 1000);
    }
    return (0);
}

/*
 * memberURL groups: every ldapsync.group_url_interval seconds all of
 * them, and soon after a change the groups whose URLs are new or
 * changed, on a connection of their own.  Returns the number of groups
 * whose members changed.
 */
static void url_round_end(void);

static int
eval_urls(const struct conf *c, struct state *st, int pending_only)
{
    char    err[1024];
    size_t  idx = 0, ng = 0;
    LDAP   *ld;
    int     r;
    long long t0 = mono_ms();

    if (!pending_only) {
	url_round_end();	/* this one evaluates them all */
	last_url_eval = t0;
	url_eval_wall = time(NULL);
    }
    if ((st->nurlgroups == 0 || pending_only) && st->url_pending.n == 0)
	return (0);		/* nothing to evaluate: no connection */
    if ((ld = lc_connect(c, &idx, err, sizeof(err))) == NULL) {
	log_warn("memberURL evaluation: %s; the groups keep their members until the next try", err);
	return (0);
    }
    r = lc_eval_urls(c, ld, st, pending_only, &ng, err, sizeof(err));
    ldap_unbind_ext_s(ld, NULL, NULL);
    if (r < 0) {
	log_warn("memberURL evaluation: %s; the groups keep their members until the next try", err);
	return (0);
    }
    if (r > 0 || (ng && !pending_only && mono_ms() - t0 > 1000))
	log_info("memberURLs of %zu groups evaluated in %lld ms: %d changed", ng,
		 mono_ms() - t0, r);
    return (r);
}

/*
 * The periodic evaluation of every group runs in slices of URL_SLICE_MS
 * between the batches, so that a thousand memberURL groups (seconds of
 * searches) never hold up the changes arriving meanwhile: a round takes
 * the groups there are when it starts and goes on where the last slice
 * stopped.
 */
#define URL_SLICE_MS	100

static struct {
    unsigned char (*ids)[16];
    size_t  n, pos, evaluated;
    int     changed;
    long long t0;
} url_round;

static void
url_round_end(void)
{
    free(url_round.ids);
    memset(&url_round, 0, sizeof(url_round));
}

static int
url_groups_due(const struct conf *c, const struct state *st)
{
    return (st->url_pending.n > 0 || url_round.ids != NULL
	|| (st->nurlgroups > 0
	    && mono_ms() - last_url_eval >= (long long) c->ldapsync.group_url_interval * 1000));
}

/* Start a round: every groupOfURLs group now. */
static void
url_round_start(struct state *st)
{
    size_t  pos = 0;
    void   *v;

    url_round_end();
    last_url_eval = url_round.t0 = mono_ms();
    url_eval_wall = time(NULL);
    if ((url_round.ids = calloc(st->nurlgroups + 1, 16)) == NULL)
	return;			/* at the next interval */
    while (htab_next(&st->ents, &pos, NULL, NULL, &v) && url_round.n < st->nurlgroups) {
	struct ent *e = v;

	if (ENT_IS_GROUP(e) && e->v[V_URL].n)
	    memcpy(url_round.ids[url_round.n++], e->uuid, 16);
    }
}

/*
 * In the persist loop: the groups whose URLs are new or changed at once,
 * then a slice of the periodic round (started when the interval is
 * over).  Returns the number of groups whose members changed.
 */
static int
url_step(const struct conf *c, struct state *st)
{
    char    err[1024];
    size_t  idx = 0, done = 0, ev = 0;
    LDAP   *ld;
    int     r = 0, rs;

    if (st->url_pending.n > 0)
	r = eval_urls(c, st, 1);
    if (url_round.ids == NULL) {
	if (st->nurlgroups == 0
	    || mono_ms() - last_url_eval < (long long) c->ldapsync.group_url_interval * 1000)
	    return (r);
	url_round_start(st);
	if (url_round.ids == NULL)
	    return (r);
    }
    if ((ld = lc_connect(c, &idx, err, sizeof(err))) == NULL) {
	log_warn("memberURL evaluation: %s; the groups keep their members until the next try", err);
	url_round_end();
	return (r);
    }
    rs = lc_eval_url_list(c, ld, st, url_round.ids + url_round.pos,
			  url_round.n - url_round.pos, URL_SLICE_MS, &done, &ev,
			  err, sizeof(err));
    ldap_unbind_ext_s(ld, NULL, NULL);
    if (rs < 0) {
	log_warn("memberURL evaluation: %s; the groups keep their members until the next try", err);
	url_round_end();
	return (r);
    }
    url_round.pos += done;
    url_round.evaluated += ev;
    url_round.changed += rs;
    if (url_round.pos >= url_round.n) {
	long long ms = mono_ms() - url_round.t0;

	if (url_round.changed > 0 || ms > 1000)
	    log_info("memberURLs of %zu groups evaluated in %lld ms: %d changed",
		     url_round.evaluated, ms, url_round.changed);
	url_round_end();
    }
    return (r + rs);
}

int
daemon_run(const struct conf *c, int force)
{
    struct state st;
    struct pub pub;
    struct syncer sy;
    long long backoff = 1000, first_pending = 0;
    int     resumed, r;

    if (strcmp(c->ldap.sync, "poll") == 0)
	return (poll_mode(c, force));
    config_hash(c, cfg_hash);
    load_sublist_key(c);
    memset(&pub, 0, sizeof(pub));
    memset(&sy, 0, sizeof(sy));
    if (state_init(&st) < 0 || pub_init(&pub, c) < 0 || sy_init(&sy, c, &st) < 0) {
	log_error("out of memory starting the sync");
	sy_free(&sy);
	pub_free(&pub);
	state_free(&st);
	return (1);
    }
    pub.force = force;
    pub.keep_base = 1;
    pub.bg_compact = 1;
    resumed = try_resume(c, &st, &sy, &pub);
    while (!stop_flag) {
	int     full = !resumed;

	st.no_dirty = full;
	lsm_refresh_begin();
	r = sy_start(&sy);
	if (r == SY_NO_SYNCPROV) {
	    log_warn("%s: falling back to periodic full syncs", sy.err);
	    sy_free(&sy);
	    pub_free(&pub);
	    state_free(&st);
	    return (poll_mode(c, force));
	}
	if (r == SY_REFRESH_REQUIRED) {
	    log_warn("%s: reloading everything", sy.err);
	    state_reset(&st);
	    sy_changed_clear(&sy);
	    resumed = 0;
	    continue;
	}
	if (r < 0) {
	    /* A refresh cut short: never publish it; start over from the
	     * last saved state. */
	    lsm_directory(0);
	    log_warn("sync: %s; retrying in %lld s", sy.err, backoff / 1000);
	    state_reset(&st);
	    sy_changed_clear(&sy);
	    sy_clear_cookies(&sy);
	    pub_free(&pub);
	    daemon_pub_init(&pub, c, force);
	    resumed = try_resume(c, &st, &sy, &pub);
	    nap(backoff);
	    if (backoff < 60000)
		backoff *= 2;
	    continue;
	}
	backoff = 1000;
	lsm_directory(1);
	if (sy.err[0])
	    log_warn("failed over to %s after: %s", c->ldap.uris[sy.uri_index], sy.err);
	log_info("refresh done (%s): %zu entries from %s", full ? "full" : "incremental",
		 st.nents, c->ldap.uris[sy.uri_index]);
	/* The groups without results (all after a full refresh) before
	 * publishing; the others on the interval. */
	eval_urls(c, &st, st.url_pending.n < st.nurlgroups);
	if (publish_now(c, &st, &pub, &sy, full) >= 0) {
	    resumed = 1;
	    save_url_results(c, &st);
	}
	st.no_dirty = 0;
	/* Persist phase. */
	first_pending = 0;
	while (!stop_flag) {
	    int     wait_ms = 1000, n;

	    if (first_pending) {
		long long left = first_pending + c->ldapsync.batch_delay_ms - mono_ms();

		wait_ms = left > 0 ? (int) left : 0;
	    } else if (cookie_lags) {
		long long left = last_cookie + COOKIE_SAVE_MS - mono_ms();

		wait_ms = left > 0 ? (left < wait_ms ? (int) left : wait_ms) : 0;
	    }
	    if (url_round.ids && wait_ms > 10)
		wait_ms = 10;	/* the next slice of memberURL searches */
	    n = sy_poll(&sy, pub_compacting(&pub) && wait_ms > 100 ? 100 : wait_ms);
	    if (pub_compacting(&pub)) {
		char    err[512];
		int     cr = pub_poll_child(&pub, err, sizeof(err));

		if (cr > 0) {
		    log_info("background compaction finished in %lld ms:"
			     " new base serial %llu installed",
			     pub_child_ms(&pub), (unsigned long long) pub.base_serial);
		    if (sy.changed.n == 0)
			flush_cookie(c, &sy, &pub);
		} else if (cr < 0)
		    log_warn("%s", err);
	    }
	    if (n > 0 && first_pending == 0)
		first_pending = mono_ms();
	    if (n >= 0 && url_groups_due(c, &st) && url_step(c, &st) > 0
		&& first_pending == 0)
		first_pending = mono_ms();
	    if (first_pending && (mono_ms() - first_pending >= c->ldapsync.batch_delay_ms || n < 0)) {
		long long t0 = mono_ms(), waited = t0 - first_pending;
		int     pr = publish_now(c, &st, &pub, &sy, 0);

		if (pr >= 0)
		    save_url_results(c, &st);

		if (mono_ms() - t0 > 300 || waited > 2LL * c->ldapsync.batch_delay_ms + 100)
		    log_warn("slow batch: waited %lld ms, published in %lld ms",
			     waited, mono_ms() - t0);
		if (pr != 0 || sy.changed.n == 0)
		    first_pending = 0;
		if (first_pending)	/* refused: retry after another delay */
		    first_pending = mono_ms();
	    }
	    /* The stream went quiet with the saved cookie behind what is
	     * journaled and published: save it now, not at the next change. */
	    if (cookie_lags && n == 0 && first_pending == 0 && sy.changed.n == 0
		&& mono_ms() - last_cookie >= COOKIE_SAVE_MS)
		flush_cookie(c, &sy, &pub);
	    /* Session up, nothing pending: the tables match the directory. */
	    if (n >= 0 && first_pending == 0 && sy.changed.n == 0)
		lsm_in_sync();
	    if (n == SY_REFRESH_REQUIRED) {
		log_warn("server requires a full refresh");
		sy_stop(&sy);
		state_reset(&st);
		sy_changed_clear(&sy);
		resumed = 0;
		break;
	    }
	    if (n < 0) {
		lsm_directory(0);
		log_warn("sync: %s; reconnecting in %lld s", sy.err, backoff / 1000);
		sy_stop(&sy);
		resumed = 1;	/* continue from the in-memory cookie */
		nap(backoff);
		if (backoff < 60000)
		    backoff *= 2;
		break;
	    }
	}
    }
    /* Only when everything the cookie covers has been published. */
    if (resumed && pub.base_serial && sy.changed.n == 0)
	flush_cookie(c, &sy, &pub);
    sy_free(&sy);
    pub_free(&pub);
    if (FREE_AT_EXIT)		/* a million entries: seconds; the exit frees them */
	state_free(&st);
    log_info("stopped");
    return (0);
}

/*
 * lsmetrics.c - ldapsync's Prometheus metrics (see lsmetrics.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "listen.h"
#include "lsmetrics.h"
#include "metrics.h"
#include "metrics_http.h"
#include "mono.h"

enum { LSM_FULL, LSM_DELTA, LSM_NMODES };
enum { LSM_PUBLISHED, LSM_UNCHANGED, LSM_FAILED, LSM_REFUSED, LSM_NRESULTS };

static const char *const lsm_modes[LSM_NMODES] = {"full", "delta"};
static const char *const lsm_results[LSM_NRESULTS] = {
    "published", "unchanged", "failed", "refused",
};
static const char *const lsm_changes[3] = {"added", "removed", "changed"};

struct lsm_vals {
    time_t  started;
    time_t  last_publish;		/* 0: nothing published yet */
    uint64_t serial;
    time_t  in_sync;			/* 0: never */
    time_t  cookie_saved;		/* 0: never */
    int     directory_up;
    int     have_full;			/* a full sync's rejections are known */
    unsigned long entries;
    uint64_t rejected[REPORT_NREASONS];
    uint64_t delta_rejections[REPORT_NREASONS];
    uint64_t changes[3];
    uint64_t syncs[LSM_NMODES][LSM_NRESULTS];
    uint64_t guard_refusals;
    struct metrics_hist dur[LSM_NMODES];
};

static struct lsm_vals lv;
static struct metrics_snap lsnap;
static int lfds[MHTTP_MAX_SOCKETS], nlfds;
static struct mhttp *lhttp;
static uint64_t refresh_t0;	/* mono_ns() when a full refresh began; 0 none */

static int lsm_render_cb(void *snap, struct mbuf *b);

static void
lsm_publish(void)
{
    if (lhttp)
	metrics_snap_put(&lsnap, &lv, 1);
}

int
lsm_bind(const struct conf *c, char *err, size_t errlen)
{
    char    e[512];
    int     n;

    lv.started = time(NULL);
    if (c->ldapsync.metrics_listen == NULL)
	return (0);
    n = listen_open(c->ldapsync.metrics_listen, 0, (uid_t) -1, (gid_t) -1,
		    lfds, MHTTP_MAX_SOCKETS, e, sizeof(e));
    if (n < 0) {
	snprintf(err, errlen, "ldapsync.metrics_listen: %s", e);
	return (-1);
    }
    nlfds = n;
    return (0);
}

int
lsm_start(char *err, size_t errlen)
{
    if (nlfds == 0)
	return (0);
    if (metrics_snap_init(&lsnap, sizeof(lv)) < 0) {
	snprintf(err, errlen, "ldapsync.metrics_listen: out of memory");
	return (-1);
    }
    metrics_snap_put(&lsnap, &lv, 1);
    if ((lhttp = mhttp_start(lfds, nlfds, lsm_render_cb, &lsnap, err, errlen)) == NULL)
	return (-1);
    nlfds = 0;				/* the HTTP threads own them */
    return (0);
}

void
lsm_stop(void)
{
    if (lhttp == NULL)
	return;
    mhttp_stop(lhttp);
    lhttp = NULL;
    metrics_snap_free(&lsnap);
}

void
lsm_refresh_begin(void)
{
    refresh_t0 = mono_ns();
}

void
lsm_report(const struct report *rep, const char *result)
{
    int     mode = strcmp(report_mode(rep), "delta") == 0 ? LSM_DELTA : LSM_FULL;
    int     res, i;
    uint64_t ns = (uint64_t) report_elapsed_ms(rep) * 1000000ULL;

    if (strcmp(result, "published") == 0)
	res = LSM_PUBLISHED;
    else if (strcmp(result, "refused") == 0)
	res = LSM_REFUSED;
    else if (strcmp(result, "failed") == 0)
	res = LSM_FAILED;
    else
	res = LSM_UNCHANGED;
    /* A refresh's first report: from the start of the refresh.  Only
     * that one: later deltas time their own compile and publish. */
    if (mode == LSM_FULL && refresh_t0)
	ns = mono_ns() - refresh_t0;
    refresh_t0 = 0;
    lv.syncs[mode][res]++;
    metrics_hist_observe(&lv.dur[mode], ns);
    if (res == LSM_REFUSED)
	lv.guard_refusals++;
    if (res == LSM_PUBLISHED || res == LSM_UNCHANGED || res == LSM_REFUSED) {
	if (report_get(rep, "entries") > 0 || res != LSM_UNCHANGED)
	    lv.entries = (unsigned long) report_get(rep, "entries");
	for (i = 0; i < REPORT_NREASONS; i++) {
	    if (mode == LSM_FULL)
		lv.rejected[i] = report_rejected_by(rep, i);
	    else
		lv.delta_rejections[i] += report_rejected_by(rep, i);
	}
	if (mode == LSM_FULL)
	    lv.have_full = 1;
    }
    if (res == LSM_PUBLISHED) {
	lv.last_publish = time(NULL);
	lv.serial = (uint64_t) report_get(rep, "serial");
	lv.changes[0] += report_count(rep, "added");
	lv.changes[1] += report_count(rep, "removed");
	lv.changes[2] += report_count(rep, "changed");
    }
    if (res == LSM_PUBLISHED || res == LSM_UNCHANGED)
	lv.in_sync = time(NULL);
    lsm_publish();
}

void
lsm_directory(int up)
{
    if (lv.directory_up == up)
	return;
    lv.directory_up = up;
    lsm_publish();
}

void
lsm_in_sync(void)
{
    time_t  t = time(NULL);

    if (lv.in_sync == t)
	return;
    lv.in_sync = t;
    lsm_publish();
}

void
lsm_cookie_saved(void)
{
    lv.cookie_saved = time(NULL);
    lsm_publish();
}

/*
 * Rendering, in the HTTP thread, from a copy of the snapshot.
 */

static void
one(struct mbuf *b, const char *name, const char *type, const char *help,
    double v)
{
    metrics_family(b, name, type, help);
    metrics_sample(b, name, NULL, 0, v);
}

/* One family with a sample per rejection reason code. */
static void
by_reason(struct mbuf *b, const char *name, const char *type,
	  const char *help, const uint64_t *v)
{
    struct metrics_label l = {"reason", NULL};
    int     i;

    metrics_family(b, name, type, help);
    for (i = 0; i < REPORT_NREASONS; i++) {
	l.value = report_reason_name(i);
	metrics_sample(b, name, &l, 1, (double) v[i]);
    }
}

static int
lsm_render_cb(void *snap, struct mbuf *b)
{
    struct lsm_vals v;
    struct metrics_label l[2];
    time_t  now = time(NULL);
    int     i, j;

    metrics_snap_get(snap, &v);
    metrics_family(b, "fwdmap_ldapsync_syncs_total", "counter",
		   "Syncs finished, by mode (full: paged search or RFC 4533"
		   " refresh; delta: a batch of changes) and result.");
    for (i = 0; i < LSM_NMODES; i++)
	for (j = 0; j < LSM_NRESULTS; j++) {
	    l[0].name = "mode";
	    l[0].value = lsm_modes[i];
	    l[1].name = "result";
	    l[1].value = lsm_results[j];
	    metrics_sample(b, "fwdmap_ldapsync_syncs_total", l, 2,
			   (double) v.syncs[i][j]);
	}
    metrics_family(b, "fwdmap_ldapsync_sync_duration_seconds", "histogram",
		   "Duration of a sync: full from its start (connect or"
		   " refresh) to the published generation, delta the compile"
		   " and publish of one batch.");
    for (i = 0; i < LSM_NMODES; i++) {
	l[0].name = "mode";
	l[0].value = lsm_modes[i];
	metrics_hist_render(b, "fwdmap_ldapsync_sync_duration_seconds", l, 1,
			    &v.dur[i]);
    }
    if (v.last_publish) {
	one(b, "fwdmap_ldapsync_last_publish_timestamp_seconds", "gauge",
	    "When this ldapsync last published a generation, Unix time.",
	    (double) v.last_publish);
	one(b, "fwdmap_ldapsync_published_serial", "gauge",
	    "Serial of the generation this ldapsync last published.",
	    (double) v.serial);
    }
    if (v.in_sync)
	one(b, "fwdmap_ldapsync_in_sync_timestamp_seconds", "gauge",
	    "The last time ldapsync knew the published tables matched the"
	    " directory (a sync finished, or a persist session was up with"
	    " nothing pending), Unix time.", (double) v.in_sync);
    one(b, "fwdmap_ldapsync_entries", "gauge",
	"Directory entries ldapsync holds (after the last sync).",
	(double) v.entries);
    if (v.have_full)
	by_reason(b, "fwdmap_ldapsync_rejected_entries", "gauge",
		  "Rejections (entry or value, by DN) found by the last full"
		  " sync, by reason; see the sync report for which.",
		  v.rejected);
    by_reason(b, "fwdmap_ldapsync_delta_rejections_total", "counter",
	      "Rejections found while compiling changed entries (deltas), by"
	      " reason.", v.delta_rejections);
    metrics_family(b, "fwdmap_ldapsync_changes_applied_total", "counter",
		   "Address routes added, removed or changed by published"
		   " generations.");
    for (i = 0; i < 3; i++) {
	l[0].name = "change";
	l[0].value = lsm_changes[i];
	metrics_sample(b, "fwdmap_ldapsync_changes_applied_total", l, 1,
		       (double) v.changes[i]);
    }
    one(b, "fwdmap_ldapsync_guard_refusals_total", "counter",
	"Generations refused by a safety guard (mass removal, no routes);"
	" an operator must look (ldapsync --force).", (double) v.guard_refusals);
    one(b, "fwdmap_ldapsync_directory_up", "gauge",
	"1 while ldapsync holds a working directory connection (poll mode:"
	" the last sync connected), else 0.", v.directory_up ? 1 : 0);
    if (v.cookie_saved)
	one(b, "fwdmap_ldapsync_cookie_age_seconds", "gauge",
	    "Seconds since the RFC 4533 sync cookie was last saved.",
	    (double) (now - v.cookie_saved));
    one(b, "fwdmap_ldapsync_start_time_seconds", "gauge",
	"When this ldapsync started, Unix time.", (double) v.started);
    return (b->failed ? -1 : 0);
}

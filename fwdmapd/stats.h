/*
 * stats.h - fwdmapd counters and their JSON form.
 *
 * NAME
 *	stats - per-map and per-daemon counters for the admin command
 *
 * DESCRIPTION
 *	One struct stats lives in the daemon.  proto_request() counts every
 *	answer per map (index from map_query_name(), STATS_OTHER for a name
 *	no map has); the server counts connections and reloads.
 *	stats_json() renders everything, plus what the caller knows about
 *	the loaded generation, as one JSON object, the policy service's
 *	counters under "policy" (a malloc'ed string the
 *	caller frees, or NULL when out of memory).
 *
 *	stats_map_name() gives each counted map's name from one table (the
 *	map_query_name() maps, "other", the SRS maps): the JSON members and
 *	the Prometheus "map" label come from it, so a map given a slot there
 *	is exported without further code.  With timing set, proto_run() also records
 *	each answer's latency in the map's histogram (metrics only).
 *
 *	Prometheus (fwdmapd.metrics_listen): the event loop calls
 *	stats_publish() after each batch of events; it copies the counters
 *	and the view into snap without ever waiting (0 when the HTTP
 *	thread was reading it: call again soon).  stats_render() is the
 *	HTTP thread's renderer (mhttp_render_fn, ctx the snapshot): it
 *	renders a copy of the snapshot, never the live counters.
 */
#ifndef FWDMAPD_STATS_H
#define FWDMAPD_STATS_H

#include <stdint.h>
#include <time.h>

#include "metrics.h"
#include "query.h"

#define STATS_OTHER	MAP_Q_NAMES		/* unknown map names */
#define STATS_SRS_FORWARD (MAP_Q_NAMES + 1)	/* srs_forward (srs_query.h) */
#define STATS_SRS_REVERSE (MAP_Q_NAMES + 2)	/* srs_reverse */
#define STATS_NMAPS	(MAP_Q_NAMES + 3)

struct stats_map {
    uint64_t lookups;
    uint64_t ok;			/* hits */
    uint64_t notfound;			/* misses */
    uint64_t temp;
    uint64_t perm;
};

/* The policy service (policy.c): who may send to a group. */
struct stats_policy {
    uint64_t requests;			/* complete requests answered */
    uint64_t dunno;			/* allowed, or not a restricted group */
    uint64_t reject;			/* refused by a group's policy */
    uint64_t defer;			/* DEFER_IF_PERMIT: tables, bad request */
    uint64_t not_rcpt;			/* protocol_state other than RCPT */
    uint64_t errors;			/* malformed requests (closed) */
    uint64_t conn_accepted;
};

struct stats {
    struct stats_map map[STATS_NMAPS];
    struct metrics_hist lat[STATS_NMAPS];	/* answer latency, with timing */
    struct stats_policy policy;
    uint64_t conn_accepted;
    uint64_t conn_rejected;		/* over max_connections */
    uint64_t conn_timeouts;		/* idle or request timeouts */
    uint64_t proto_errors;		/* malformed requests (PERM + close) */
    uint64_t reloads;			/* generations switched to */
    uint64_t reload_failures;		/* bad generations kept out */
    time_t  started;
    int     timing;			/* measure latencies (metrics on) */
};

/* What the server knows right now, for stats_json(). */
struct stats_view {
    unsigned conn_current;
    unsigned conn_busy;			/* with a request in flight */
    unsigned conn_max;
    int     gen_loaded;			/* 0: no generation, answering TEMP */
    uint64_t serial;
    uint64_t delta_serial;		/* 0 without delta */
    int     has_delta;
    time_t  created;			/* base creation time */
    time_t  delta_created;
    time_t  loaded;			/* when fwdmapd switched to it */
    const char *maps_dir;
    const char *last_error;		/* last reload error, or NULL */
};

const char *stats_map_name(int idx);
char   *stats_json(const struct stats *st, const struct stats_view *v,
		   time_t now);
int	stats_publish(struct metrics_snap *snap, const struct stats *st,
		      const struct stats_view *v);
size_t	stats_snap_size(void);
int	stats_render(void *snap, struct mbuf *out);

#endif

/*
 * stats.c - JSON and Prometheus rendering of the fwdmapd counters (see
 *	     stats.h).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "stats.h"

/*
 * The one table of map names: every map fwdmapd counts has its slot here,
 * and the JSON statistics and the Prometheus "map" label are rendered
 * from it, so a map added to it is exported without further code.
 */
static const char *const stats_names[STATS_NMAPS] = {
    "domains", "recipients", "virtual", "transport", "other",
    "srs_forward", "srs_reverse",
};

const char *
stats_map_name(int idx)
{
    if (idx < 0 || idx >= STATS_NMAPS)
	return ("other");
    return (stats_names[idx]);
}

/* Build one JSON object; jansson's packers absorb NULL members as errors,
 * so everything is checked once at the end. */
char   *
stats_json(const struct stats *st, const struct stats_view *v, time_t now)
{
    json_t *root = NULL, *maps = NULL, *gen = NULL, *conns = NULL;
    char   *out = NULL;
    int     i;
    uint64_t total = 0;

    if ((maps = json_object()) == NULL)
	goto done;
    for (i = 0; i < STATS_NMAPS; i++) {
	const struct stats_map *m = &st->map[i];

	total += m->lookups;
	if (json_object_set_new(maps, stats_map_name(i),
				json_pack("{sIsIsIsIsI}",
				      "lookups", (json_int_t) m->lookups,
				      "hits", (json_int_t) m->ok,
				      "misses", (json_int_t) m->notfound,
				      "temp", (json_int_t) m->temp,
				      "perm", (json_int_t) m->perm)) < 0)
	    goto done;
    }
    if (v->gen_loaded) {
	gen = json_pack("{sbsIsIsIsI}",
			"loaded", 1,
			"serial", (json_int_t) v->serial,
			"created", (json_int_t) v->created,
			"age", (json_int_t) (now - v->created),
			"loaded_at", (json_int_t) v->loaded);
	if (gen && v->has_delta)
	    if (json_object_set_new(gen, "delta",
				    json_pack("{sIsIsI}",
					      "serial", (json_int_t) v->delta_serial,
					      "created", (json_int_t) v->delta_created,
					      "age", (json_int_t) (now - v->delta_created))) < 0) {
		json_decref(gen);
		gen = NULL;
	    }
    } else {
	gen = json_pack("{sb}", "loaded", 0);
    }
    if (gen == NULL)
	goto done;
    if (v->last_error && json_object_set_new(gen, "last_error",
					     json_string(v->last_error)) < 0)
	goto done;
    conns = json_pack("{sIsIsIsIsIsI}",
		      "current", (json_int_t) v->conn_current,
		      "busy", (json_int_t) v->conn_busy,
		      "max", (json_int_t) v->conn_max,
		      "accepted", (json_int_t) st->conn_accepted,
		      "rejected", (json_int_t) st->conn_rejected,
		      "timeouts", (json_int_t) st->conn_timeouts);
    if (conns == NULL)
	goto done;
    root = json_pack("{sssIsIsIsosososIsIsI}",
		     "maps_dir", v->maps_dir ? v->maps_dir : "",
		     "pid", (json_int_t) getpid(),
		     "started", (json_int_t) st->started,
		     "uptime", (json_int_t) (now - st->started),
		     "generation", gen,
		     "connections", conns,
		     "maps", maps,
		     "lookups", (json_int_t) total,
		     "protocol_errors", (json_int_t) st->proto_errors,
		     "reloads", (json_int_t) st->reloads);
    gen = conns = maps = NULL;			/* owned by root ("o") */
    if (root == NULL)
	goto done;
    if (json_object_set_new(root, "reload_failures",
			    json_integer((json_int_t) st->reload_failures)) < 0)
	goto done;
    if (json_object_set_new(root, "policy",
			    json_pack("{sIsIsIsIsIsIsI}",
				      "connections", (json_int_t) st->policy.conn_accepted,
				      "requests", (json_int_t) st->policy.requests,
				      "dunno", (json_int_t) st->policy.dunno,
				      "reject", (json_int_t) st->policy.reject,
				      "defer", (json_int_t) st->policy.defer,
				      "not_rcpt", (json_int_t) st->policy.not_rcpt,
				      "protocol_errors", (json_int_t) st->policy.errors)) < 0)
	goto done;
    out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
done:
    json_decref(root);
    json_decref(gen);
    json_decref(conns);
    json_decref(maps);
    return (out);
}

/*
 * Prometheus.
 */

struct stats_snap {
    struct stats st;
    struct stats_view v;		/* pointers not kept */
};

size_t
stats_snap_size(void)
{
    return (sizeof(struct stats_snap));
}

int
stats_publish(struct metrics_snap *snap, const struct stats *st,
	      const struct stats_view *v)
{
    struct stats_snap ss;

    ss.st = *st;
    ss.v = *v;
    ss.v.maps_dir = NULL;
    ss.v.last_error = NULL;
    return (metrics_snap_put(snap, &ss, 0));
}

/* One counter family over every map, by result. */
static void
prom_lookups(struct mbuf *b, const struct stats *st)
{
    static const char *const res[4] = {"ok", "notfound", "temp", "perm"};
    struct metrics_label l[2];
    int     i, r;

    metrics_family(b, "fwdmap_lookups_total", "counter",
		   "Socketmap lookups answered, by map and result (ok,"
		   " notfound, temp, perm); map \"other\" is a name no map has.");
    for (i = 0; i < STATS_NMAPS; i++) {
	const struct stats_map *m = &st->map[i];
	const uint64_t v[4] = {m->ok, m->notfound, m->temp, m->perm};

	l[0].name = "map";
	l[0].value = stats_map_name(i);
	for (r = 0; r < 4; r++) {
	    l[1].name = "result";
	    l[1].value = res[r];
	    metrics_sample(b, "fwdmap_lookups_total", l, 2, (double) v[r]);
	}
    }
    metrics_family(b, "fwdmap_lookup_duration_seconds", "histogram",
		   "Time fwdmapd took to answer one socketmap request, by map.");
    for (i = 0; i < STATS_NMAPS; i++) {
	l[0].name = "map";
	l[0].value = stats_map_name(i);
	metrics_hist_render(b, "fwdmap_lookup_duration_seconds", l, 1,
			    &st->lat[i]);
    }
}

static void
prom_one(struct mbuf *b, const char *name, const char *type,
	 const char *help, double v)
{
    metrics_family(b, name, type, help);
    metrics_sample(b, name, NULL, 0, v);
}

/* The policy service: answers by action, and its own errors. */
static void
prom_policy(struct mbuf *b, const struct stats *st)
{
    static const char *const act[3] = {"dunno", "reject", "defer"};
    const uint64_t v[3] = {st->policy.dunno, st->policy.reject,
    st->policy.defer};
    struct metrics_label l;
    int     i;

    metrics_family(b, "fwdmap_policy_requests_total", "counter",
		   "Policy delegation requests answered (fwdmapd.policy_listen),"
		   " by action: dunno (not a restricted group, or the sender"
		   " may send), reject (a group's policy refuses the sender),"
		   " defer (no tables, or a request fwdmapd cannot judge).");
    for (i = 0; i < 3; i++) {
	l.name = "action";
	l.value = act[i];
	metrics_sample(b, "fwdmap_policy_requests_total", &l, 1, (double) v[i]);
    }
    prom_one(b, "fwdmap_policy_protocol_errors_total", "counter",
	     "Malformed or oversized policy requests (answered"
	     " DEFER_IF_PERMIT, connection closed).", (double) st->policy.errors);
    prom_one(b, "fwdmap_policy_connections_accepted_total", "counter",
	     "Policy service connections accepted.",
	     (double) st->policy.conn_accepted);
}

int
stats_render(void *snap, struct mbuf *b)
{
    struct stats_snap ss;
    const struct stats *st = &ss.st;
    const struct stats_view *v = &ss.v;
    time_t  now = time(NULL), created;

    metrics_snap_get(snap, &ss);
    prom_lookups(b, st);
    prom_one(b, "fwdmap_connections", "gauge",
	     "Open socketmap client connections.", v->conn_current);
    prom_one(b, "fwdmap_connections_max", "gauge",
	     "The connection limit (fwdmapd.max_connections).", v->conn_max);
    prom_one(b, "fwdmap_connections_accepted_total", "counter",
	     "Socketmap connections accepted.", (double) st->conn_accepted);
    prom_one(b, "fwdmap_connections_refused_total", "counter",
	     "Connections closed at once because max_connections were open"
	     " (the Postfix client defers).", (double) st->conn_rejected);
    prom_one(b, "fwdmap_connection_timeouts_total", "counter",
	     "Connections closed for idle_timeout or request_timeout.",
	     (double) st->conn_timeouts);
    prom_one(b, "fwdmap_protocol_errors_total", "counter",
	     "Malformed or oversized requests (answered PERM, connection"
	     " closed).", (double) st->proto_errors);
    prom_one(b, "fwdmap_reloads_total", "counter",
	     "Generations switched to.", (double) st->reloads);
    prom_one(b, "fwdmap_reload_failures_total", "counter",
	     "Generations refused (corrupt, truncated, unreadable) and tables"
	     " lost while in use; the previous generation keeps serving.",
	     (double) st->reload_failures);
    prom_one(b, "fwdmap_generation_loaded", "gauge",
	     "1 while a generation is served, 0 while every lookup answers"
	     " TEMP for want of one.", v->gen_loaded ? 1 : 0);
    if (v->gen_loaded) {
	created = v->has_delta ? v->delta_created : v->created;
	prom_one(b, "fwdmap_generation_serial", "gauge",
		 "Serial of the generation served (its delta's when it has"
		 " one).", (double) (v->has_delta ? v->delta_serial : v->serial));
	prom_one(b, "fwdmap_generation_created_timestamp_seconds", "gauge",
		 "When ldapsync wrote the generation served (its delta's"
		 " time when it has one), Unix time.", (double) created);
	prom_one(b, "fwdmap_generation_age_seconds", "gauge",
		 "Seconds since ldapsync wrote the generation served (its"
		 " delta when it has one).", (double) (now - created));
	prom_one(b, "fwdmap_generation_loaded_timestamp_seconds", "gauge",
		 "When fwdmapd switched to the generation served, Unix time.",
		 (double) v->loaded);
    }
    prom_policy(b, st);
    prom_one(b, "fwdmap_start_time_seconds", "gauge",
	     "When this fwdmapd started, Unix time.", (double) st->started);
    return (b->failed ? -1 : 0);
}

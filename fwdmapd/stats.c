/*
 * stats.c - JSON rendering of the fwdmapd counters (see stats.h).
 */
#include <stdlib.h>
#include <unistd.h>
#include <jansson.h>

#include "stats.h"

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
	if (json_object_set_new(maps, stats_names[i],
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

/*
 * gen_fixture.h - a real generation for tests: a few records written with
 * the map writer into a directory and opened the way fwdmapd opens one.
 * Used by the unit tests and (through tests/fuzz/fuzz_gen.h) the fuzz
 * targets of fwdmapd's request and policy sides.
 */
#ifndef FWDMAP_GEN_FIXTURE_H
#define FWDMAP_GEN_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "map.h"

struct fix_rec {
    int     tag;			/* MAP_T_* */
    const char *key;
    const char *val;
};

#define FIX_N(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * Write recs[0..n) into DIR as generation SERIAL (source NAME) and open
 * it.  NULL, with the reason on stderr, when any step fails.
 */
static inline struct map_gen *
fix_gen(const char *dir, uint64_t serial, const char *name,
	const struct fix_rec *recs, size_t n)
{
    struct map_writer *w;
    struct map_meta m;
    struct map_gen *g = NULL;
    char    err[512];
    size_t  i;

    if ((w = map_writer_open(dir, MAP_BASE_NAME, err, sizeof(err))) == NULL) {
	fprintf(stderr, "%s: writer: %s\n", name, err);
	return (NULL);
    }
    for (i = 0; i < n; i++) {
	if (map_writer_put(w, recs[i].tag, recs[i].key, strlen(recs[i].key),
			   recs[i].val, strlen(recs[i].val)) < 0) {
	    fprintf(stderr, "%s: put %s failed\n", name, recs[i].key);
	    map_writer_abort(w);
	    return (NULL);
	}
    }
    memset(&m, 0, sizeof(m));
    m.format = MAP_FORMAT;
    m.serial = serial;
    m.created = time(NULL);
    snprintf(m.source, sizeof(m.source), "%s", name);
    if (map_writer_commit(w, &m, err, sizeof(err)) < 0) {
	fprintf(stderr, "%s: commit: %s\n", name, err);
	return (NULL);
    }
    if (map_gen_open(dir, &g, err, sizeof(err)) < 0) {
	fprintf(stderr, "%s: open: %s\n", name, err);
	return (NULL);
    }
    return (g);
}

#endif

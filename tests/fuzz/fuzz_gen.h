/*
 * fuzz_gen.h - shared set-up of fwdmapd's fuzz targets: a real generation
 * of a few records, written once with the map writer into a temporary
 * directory (removed at exit) and opened the way fwdmapd opens one.
 */
#ifndef FWDMAP_FUZZ_GEN_H
#define FWDMAP_FUZZ_GEN_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../unit/gen_fixture.h"
#include "map.h"

static struct map_gen *fz_gen;
static char fz_dir[PATH_MAX];

static void
fz_gen_cleanup(void)
{
    char    p[PATH_MAX + 32];

    if (fz_gen)
	map_gen_close(fz_gen);
    fz_gen = NULL;
    snprintf(p, sizeof(p), "%s/%s", fz_dir, MAP_BASE_NAME);
    unlink(p);
    rmdir(fz_dir);
}

/* Write recs[0..n) as generation 1 (source NAME) and open it as fz_gen. */
static inline void
fz_gen_build(const char *name, const struct fix_rec *recs, size_t n)
{
    snprintf(fz_dir, sizeof(fz_dir), "/tmp/%s.XXXXXX", name);
    if (mkdtemp(fz_dir) == NULL)
	abort();
    atexit(fz_gen_cleanup);
    if ((fz_gen = fix_gen(fz_dir, 1, name, recs, n)) == NULL)
	abort();
}

#endif

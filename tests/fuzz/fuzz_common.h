/*
 * fuzz_common.h - shared set-up of the ldapsync fuzz targets: one
 * configuration (two tenants, stores, a "route" domain, small
 * max_forwards) loaded once, and the compilation of every address of a
 * state into records, so that what a decoder produced also goes through
 * validation and the compiler.
 */
#ifndef FWDMAP_FUZZ_COMMON_H
#define FWDMAP_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compile.h"
#include "conf.h"
#include "report.h"
#include "state.h"

static const char fz_conf_text[] =
"{ \"maps_dir\": \"/tmp\",\n"
"  \"ldap\": { \"uris\": [\"ldap://127.0.0.1/\"] },\n"
"  \"stores\": { \"exchange\": \"smtp:[ex.example.org]:25\", \"mytum\": \"lmtp:[my.example.org]:24\" },\n"
"  \"tenants\": { \"tum\": { \"base\": \"ou=tum,dc=ex\", \"domains\": [\"tum.de\", \"ph.tum.de\"] },\n"
"               \"lmu\": { \"base\": \"ou=lmu,dc=ex\", \"domains\": [\"lmu.de\"],\n"
"                        \"allowed_hosts\": [\"mx.lmu.de\"], \"default_location\": \"exchange\" } },\n"
"  \"domains\": { \"ph.tum.de\": { \"default_route\": \"smtp:[ph]:25\", \"unknown_recipients\": \"route\" } },\n"
"  \"ldapsync\": { \"max_forwards\": 4 } }\n";

static inline struct conf *
fz_conf(void)
{
    static struct conf *c;
    char    path[] = "/tmp/fuzz_ldapsync.XXXXXX", err[512];
    int     fd;

    if (c != NULL)
	return (c);
    if ((fd = mkstemp(path)) < 0
	|| write(fd, fz_conf_text, sizeof(fz_conf_text) - 1)
	!= (ssize_t) (sizeof(fz_conf_text) - 1) || close(fd) < 0)
	abort();
    c = conf_load(path, err, sizeof(err));
    unlink(path);
    if (c == NULL) {
	fprintf(stderr, "fuzz: %s\n", err);
	abort();
    }
    return (c);
}

static inline int
fz_validate(struct ent *e, void *ctx)
{
    return (comp_validate(ctx, e));
}

/* Compile every address of st (records are built, then dropped). */
static inline void
fz_compile_all(const struct conf *c, struct state *st)
{
    struct report *rep = report_new("full");
    size_t  pos = 0;
    void   *v;

    if (state_dirty_expand(st) < 0)
	abort();
    while (htab_next(&st->addrs, &pos, NULL, NULL, &v)) {
	struct anode *a = v;
	struct recs r;

	(void) comp_addr(c, st, a->addr, &r, rep);
	recs_free(&r);
    }
    report_free(rep);
}

#endif

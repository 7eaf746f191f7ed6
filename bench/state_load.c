/*
 * state_load.c - time ldapsync's state_load() alone (issue 11, item 6:
 * a restart with a cookie waits for it).
 *
 * SYNOPSIS
 *	state_load [-n runs] [-V] [-w dir] -c fwdmap.json [state_dir]
 *
 * DESCRIPTION
 *	Loads STATE_DIR/ldapsync.state (+ journal) the way the daemon does
 *	(with comp_validate on every entry unless -V), runs times, and
 *	prints the wall and CPU time of each run, the entries and addresses
 *	loaded and the peak RSS.  state_dir defaults to the configuration's
 *	ldapsync.state_dir.  bench/ldapsync.sh KEEP_STATE=DIR leaves a
 *	million-entry state and its configuration to run this on.
 *	With -w DIR, each run then times state_save() of what it loaded
 *	into DIR (a snapshot as --once and a compaction write it).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "compile.h"
#include "conf.h"
#include "state.h"

static double
now_s(int clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return ((double) ts.tv_sec + (double) ts.tv_nsec / 1e9);
}

static int
validate(struct ent *e, void *ctx)
{
    return (comp_validate(ctx, e));
}

int
main(int argc, char **argv)
{
    const char *cpath = NULL, *dir, *wdir = NULL;
    int     ch, runs = 1, novalidate = 0, i;
    struct conf *c;
    char    err[512];
    struct rusage ru;

    while ((ch = getopt(argc, argv, "c:n:Vw:")) != -1) {
	switch (ch) {
	case 'c':
	    cpath = optarg;
	    break;
	case 'n':
	    runs = atoi(optarg);
	    break;
	case 'V':
	    novalidate = 1;
	    break;
	case 'w':
	    wdir = optarg;
	    break;
	default:
	    fprintf(stderr, "usage: state_load [-n runs] [-V] [-w dir] -c fwdmap.json [state_dir]\n");
	    return (2);
	}
    }
    if (cpath == NULL || (c = conf_load(cpath, err, sizeof(err))) == NULL) {
	fprintf(stderr, "state_load: %s\n", cpath ? err : "no -c fwdmap.json");
	return (2);
    }
    dir = optind < argc ? argv[optind] : c->ldapsync.state_dir;
    for (i = 0; i < runs; i++) {
	struct state st;
	uint64_t bs = 0, ls = 0;
	double  w0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	int     r;

	if (state_init(&st) < 0) {
	    fprintf(stderr, "state_load: out of memory\n");
	    return (1);
	}
	st.no_dirty = 1;		/* as the daemon's resume */
	r = state_load(&st, dir, &bs, &ls, novalidate ? NULL : validate, c,
		       err, sizeof(err));
	printf("run %d: %s%s: %.0f ms wall, %.0f ms cpu, %zu entries, %zu addresses,"
	       " base serial %llu, last %llu\n", i + 1, r < 0 ? "FAILED " : "",
	       r < 0 ? err : "loaded", (now_s(CLOCK_MONOTONIC) - w0) * 1000,
	       (now_s(CLOCK_PROCESS_CPUTIME_ID) - c0) * 1000, st.nents, st.addrs.n,
	       (unsigned long long) bs, (unsigned long long) ls);
	fflush(stdout);
	if (r == 0 && wdir) {
	    w0 = now_s(CLOCK_MONOTONIC);
	    c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	    r = state_save(&st, wdir, bs, err, sizeof(err));
	    printf("run %d: %s%s: %.0f ms wall, %.0f ms cpu\n", i + 1, r < 0 ? "FAILED " : "",
		   r < 0 ? err : "saved", (now_s(CLOCK_MONOTONIC) - w0) * 1000,
		   (now_s(CLOCK_PROCESS_CPUTIME_ID) - c0) * 1000);
	    fflush(stdout);
	}
	state_free(&st);
	if (r < 0)
	    return (1);
    }
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %ld MiB\n", ru.ru_maxrss / 1024);
    conf_free(c);
    return (0);
}

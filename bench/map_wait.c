/*
 * map_wait.c - wait until a published table answers a key with a value,
 * for the latency figures of bench/ldapsync.sh.
 *
 * SYNOPSIS
 *	map_wait -m MAPS_DIR -k KEY -s WANT [-t TABLE] [-T TIMEOUT]
 *
 * DESCRIPTION
 *	Opens the tables in MAPS_DIR the way fwdmapd does (map_gen_open
 *	once; then map_gen_stale and map_gen_refresh, which shares the base
 *	file while only the delta changes), prints "ready" and waits for a
 *	line on standard input.  From that line on it looks KEY up in TABLE
 *	(a letter, default V: virtual) every millisecond until the value
 *	contains WANT, then prints the milliseconds since the line and exits
 *	0; after TIMEOUT seconds (default 30) it prints -1 and exits 1.
 *
 *	`fwdmap query` opens and checks the whole base on every call (half
 *	a second at 1,000,000 people and 100,000 groups), so a loop of it
 *	measures itself more than the change; this probe does not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "map.h"
#include "mono.h"

int	main(int, char **);

int
main(int argc, char **argv)
{
    const char *maps = NULL, *key = NULL, *want = NULL;
    int     tag = MAP_T_VIRTUAL, timeout = 30, ch;
    struct map_gen *g = NULL;
    char    err[512], line[64];
    long long t0;

    while ((ch = getopt(argc, argv, "m:k:s:t:T:")) != -1) {
	switch (ch) {
	case 'm':
	    maps = optarg;
	    break;
	case 'k':
	    key = optarg;
	    break;
	case 's':
	    want = optarg;
	    break;
	case 't':
	    tag = optarg[0];
	    break;
	case 'T':
	    timeout = atoi(optarg);
	    break;
	default:
	    goto usage;
	}
    }
    if (maps == NULL || key == NULL || want == NULL || timeout <= 0) {
usage:
	fprintf(stderr, "usage: map_wait -m MAPS_DIR -k KEY -s WANT [-t TABLE] [-T TIMEOUT]\n");
	return (2);
    }
    if (map_gen_open(maps, &g, err, sizeof(err)) < 0) {
	fprintf(stderr, "map_wait: %s\n", err);
	return (2);
    }
    printf("ready\n");
    fflush(stdout);
    if (fgets(line, sizeof(line), stdin) == NULL)
	return (2);
    t0 = mono_ms();
    for (;;) {
	const char *val;
	size_t  vlen;

	if (map_gen_stale(g)) {
	    struct map_gen *ng;

	    if (map_gen_refresh(maps, g, &ng, err, sizeof(err)) == 0) {
		map_gen_close(g);
		g = ng;
	    }
	}
	if (map_gen_get(g, tag, key, strlen(key), &val, &vlen) == 1
	    && memmem(val, vlen, want, strlen(want)) != NULL)
	    break;
	if (mono_ms() - t0 > (long long) timeout * 1000) {
	    printf("-1\n");
	    map_gen_close(g);
	    return (1);
	}
	usleep(1000);
    }
    printf("%lld\n", mono_ms() - t0);
    map_gen_close(g);
    return (0);
}

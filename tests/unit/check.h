/*
 * check.h - the smallest test framework: CHECK() counts failures, DONE()
 * prints a summary and returns the exit status.
 */
#ifndef FWDMAP_CHECK_H
#define FWDMAP_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures, check_count;

#define CHECK(cond) do { \
	check_count++; \
	if (!(cond)) { \
	    check_failures++; \
	    fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
	} \
    } while (0)

#define CHECK_STR(got, gotlen, want) do { \
	check_count++; \
	if ((gotlen) != strlen(want) || memcmp((got), (want), (gotlen)) != 0) { \
	    check_failures++; \
	    fprintf(stderr, "%s:%d: got [%.*s], want [%s]\n", __FILE__, __LINE__, \
		    (int) (gotlen), (got), (want)); \
	} \
    } while (0)

#define DONE() (printf("%s: %d checks, %d failed\n", __FILE__, check_count, \
		       check_failures), check_failures ? 1 : 0)

#endif

/*
 * urlcache.h - the last evaluated memberURL results, kept across restarts.
 *
 * NAME
 *	urlcache - save and load the memberURL results of groupOfURLs groups
 *
 * SYNOPSIS
 *	#include "urlcache.h"
 *
 *	int	urlcache_save(struct state *st, const char *dir, time_t evaluated,
 *			      char *err, size_t errlen);
 *	long	urlcache_load(struct state *st, const char *dir, time_t *evaluated,
 *			      char *err, size_t errlen);
 *	long	urlcache_load_file(struct state *st, FILE *f, const char *path,
 *				   time_t *evaluated, char *err, size_t errlen);
 *
 * DESCRIPTION
 *	The members a group's memberURLs found are not in the directory
 *	entry, so the state snapshot and journal (state.h) do not hold
 *	them.  urlcache_save() writes every group's results (st->urls),
 *	with the memberURLs they were found for and the time of the full
 *	evaluation they come from, to DIR/ldapsync.urls atomically
 *	(temporary file, fsync, rename, fsync of the directory).  The
 *	daemon saves them after the delta that publishes them, never
 *	before: results on disk are never newer than the published tables.
 *
 *	urlcache_load() gives the groups of a loaded state their saved
 *	results (state_set_urls()), where the group still has exactly the
 *	memberURLs they were found for; others stay pending (evaluated
 *	soon).  It returns the number of groups given results, 0 when
 *	there is no file, -1 with a message in err when it is unreadable or
 *	malformed (then nothing is applied: the groups are evaluated as
 *	after a start without the file) or memory ran short; *evaluated is
 *	the saved time.  urlcache_load_file() does the same on an open
 *	stream (path only names it in messages; for the fuzz target).
 *
 * FILE FORMAT
 *	"fwdmap-urls 1 TIME\n", then per group "g UUID NURLS NDNS\n", its
 *	memberURLs as "u URL\n", the DNs found as "d DN\n", and, when a URL
 *	was rejected or failed, "w REASON\n" and "b URL\n"; ".\n" ends the
 *	file.  A group with a value holding a newline is left out.
 */
#ifndef LDAPSYNC_URLCACHE_H
#define LDAPSYNC_URLCACHE_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "state.h"

#define URLCACHE_FILE	"ldapsync.urls"

int	urlcache_save(struct state *st, const char *dir, time_t evaluated,
		      char *err, size_t errlen);
long	urlcache_load(struct state *st, const char *dir, time_t *evaluated,
		      char *err, size_t errlen);
long	urlcache_load_file(struct state *st, FILE *f, const char *path,
			   time_t *evaluated, char *err, size_t errlen);

#endif

/*
 * lsmetrics.h - ldapsync's Prometheus metrics (ldapsync.metrics_listen).
 *
 * NAME
 *	lsm - what ldapsync did, for /metrics
 *
 * SYNOPSIS
 *	#include "lsmetrics.h"
 *
 *	int	lsm_bind(const struct conf *c, char *err, size_t errlen);
 *	int	lsm_start(char *err, size_t errlen);
 *	void	lsm_stop(void);
 *
 *	void	lsm_refresh_begin(void);
 *	void	lsm_report(const struct report *rep, const char *result);
 *	void	lsm_directory(int up);
 *	void	lsm_in_sync(void);
 *	void	lsm_cookie_saved(void);
 *
 * DESCRIPTION
 *	One set of metrics per process.  lsm_bind() binds
 *	ldapsync.metrics_listen (as root, before privileges are dropped;
 *	nothing when the key is absent); lsm_start() starts the HTTP
 *	threads (metrics_http.c) on those sockets.
 *
 *	The sync loop reports what happened; each call updates the live
 *	values (main thread only) and copies them into the snapshot the
 *	HTTP thread renders from (a memcpy under a mutex the HTTP thread
 *	holds for a memcpy too).  Without metrics_listen the calls only
 *	update the live values.
 *
 *	lsm_report() takes a finished sync's report and its result
 *	("published", "unchanged", "failed", "refused", "nothing"): syncs by
 *	mode and result, the duration histogram (a full sync from
 *	lsm_refresh_begin() or the report's start, a delta from the
 *	report's start), entries, rejections by reason (the full picture
 *	from a full sync; deltas count what they found), address changes
 *	applied, guard refusals, the last publish time and serial.
 *	lsm_directory() says whether ldapsync holds a working directory
 *	connection; lsm_in_sync() that the published tables match the
 *	directory now (a persist session is up with nothing pending);
 *	lsm_cookie_saved() that the sync cookie was saved.
 *
 *	The background compaction forks while the HTTP threads run: the
 *	child only merges files and calls _exit(); it touches neither the
 *	snapshot nor libmicrohttpd, and the HTTP threads hold no lock the
 *	child needs (they never log; glibc resets malloc's locks in the
 *	child).
 */
#ifndef LDAPSYNC_LSMETRICS_H
#define LDAPSYNC_LSMETRICS_H

#include <stddef.h>

#include "conf.h"
#include "report.h"

int	lsm_bind(const struct conf *c, char *err, size_t errlen);
int	lsm_start(char *err, size_t errlen);
void	lsm_stop(void);

void	lsm_refresh_begin(void);
void	lsm_report(const struct report *rep, const char *result);
void	lsm_directory(int up);
void	lsm_in_sync(void);
void	lsm_cookie_saved(void);

#endif

/*
 * daemon.h - ldapsync's sync loops.
 *
 * NAME
 *	daemon - one full sync, or run until stopped
 *
 * SYNOPSIS
 *	#include "daemon.h"
 *
 *	void	daemon_catch_signals(void);
 *	int	daemon_full_once(const struct conf *c, int dry_run, int force,
 *				 int exiting);
 *	int	daemon_run(const struct conf *c, int force);
 *
 * DESCRIPTION
 *	daemon_catch_signals() makes SIGTERM and SIGINT end the loops at the
 *	next safe point (and cut a nap short).
 *
 *	daemon_full_once() connects (three tries, failing over between
 *	ldap.uris), reads every entry with a paged search, compiles and
 *	publishes a new base (pub_full()) and writes the report.  dry_run
 *	prints the changes and publishes nothing; force lets this publish
 *	pass the mass-removal guard; exiting says the process ends after it
 *	(log the timings at info level, do not free the state).
 *
 *	daemon_run() syncs until stopped: RFC 4533 refreshAndPersist per
 *	tenant, resuming from the saved cookies, state snapshot and journal
 *	when they match the published base (and the configuration
 *	fingerprint is the same), batching changes into deltas; with
 *	ldap.sync "poll", or against a server without syncprov, periodic
 *	full syncs every ldap.poll_interval seconds.  force applies to the
 *	first publish.
 *
 * DIAGNOSTICS
 *	daemon_full_once() returns 0 (published, unchanged or dry run), 1
 *	error (nothing published) or DAEMON_EXIT_REFUSED (a guard refused;
 *	nothing published): the process exit status.  daemon_run() returns
 *	0 when stopped.
 */
#ifndef LDAPSYNC_DAEMON_H
#define LDAPSYNC_DAEMON_H

#include "conf.h"

#define DAEMON_EXIT_REFUSED	3

void	daemon_catch_signals(void);
int	daemon_full_once(const struct conf *c, int dry_run, int force,
			 int exiting);
int	daemon_run(const struct conf *c, int force);

#endif

/*
 * server.h - the fwdmapd event loop.
 *
 * NAME
 *	server - serve socketmap requests from one epoll loop
 *
 * SYNOPSIS
 *	#include "server.h"
 *
 *	struct server *server_create(struct conf *conf, int sigfd,
 *				     char *err, size_t errlen);
 *	int	server_add_listener(struct server *s, int fd, int kind);
 *	void	server_set_metrics(struct server *s, struct metrics_snap *snap);
 *	void	server_set_srs(struct server *s, struct srs *srs);
 *	int	server_run(struct server *s);
 *	void	server_free(struct server *s);
 *
 * DESCRIPTION
 *	server_create() takes ownership of conf (it is replaced on SIGHUP)
 *	and of sigfd, a signalfd(2) for SIGHUP, SIGTERM and SIGINT.  It loads
 *	the newest valid generation from maps_dir if there is one; without
 *	one every lookup answers TEMP.
 *
 *	server_set_srs() hands over the SRS object (secrets already read
 *	while privileged), or NULL for SRS off.  On SIGHUP the srs section
 *	and the secrets file are read again; when that fails the running
 *	SRS settings and secrets are kept and an error is logged.
 *
 *	server_add_listener() adds a listening, non-blocking socket: a
 *	socketmap endpoint (kind SERVER_L_SOCKETMAP), the admin socket that
 *	answers every connection with the statistics as JSON and closes
 *	(SERVER_L_CONTROL), or the policy delegation endpoint for Postfix's
 *	check_policy_service (SERVER_L_POLICY, policy.c): its connections
 *	count against max_connections and follow the same idle and request
 *	timeouts; refusals are logged ("policy: reject: from=<...>
 *	to=<...>: ..."), other answers at debug level.
 *
 *	server_set_metrics() turns the Prometheus counters on: answer
 *	latencies are measured, and after every batch of events the
 *	counters and the generation's state are copied into snap (stats.h),
 *	without waiting: when the HTTP thread holds snap at that instant the
 *	copy is retried 10 ms later.
 *
 *	server_run() serves until SIGTERM or SIGINT, then stops accepting,
 *	lets started requests finish (at most request_timeout seconds) and
 *	returns 0.  Several requests in one read are answered in order;
 *	partial reads and writes are resumed; a connection without a started
 *	request is closed after idle_timeout seconds, one that does not
 *	finish a request (or read its answer) within request_timeout
 *	seconds is closed too; above max_connections a new connection is
 *	closed at once (the Postfix client then defers).  Every
 *	reload_check_ms the server looks for a newly published generation,
 *	opens and verifies it and switches to it between two requests; a
 *	bad generation is logged and the old one kept.  A generation whose
 *	serial is lower than the one being served (a compacted base whose
 *	delta is not yet written) is held back for up to 5 seconds while a
 *	newer one is awaited, so answers never briefly go back in time.  SIGHUP re-reads the
 *	configuration file; settings that need a new socket or other
 *	privileges (listen, control, policy_listen, user, socket_group,
 *	socket_mode, metrics_listen) are kept and a warning says so.
 *
 * DIAGNOSTICS
 *	server_create() returns NULL with a message in err.  server_run()
 *	returns -1 only on a broken environment (epoll failure).
 */
#ifndef FWDMAPD_SERVER_H
#define FWDMAPD_SERVER_H

#include <stddef.h>

#include "conf.h"
#include "srs.h"

struct server;

struct server *server_create(struct conf *conf, int sigfd, char *err,
			     size_t errlen);
#define SERVER_L_SOCKETMAP	0
#define SERVER_L_CONTROL	1
#define SERVER_L_POLICY		2

int	server_add_listener(struct server *s, int fd, int kind);
struct metrics_snap;
void	server_set_metrics(struct server *s, struct metrics_snap *snap);
void	server_set_srs(struct server *s, struct srs *srs);
int	server_run(struct server *s);
void	server_free(struct server *s);

#endif

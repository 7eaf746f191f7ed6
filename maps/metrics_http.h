/*
 * metrics_http.h - serve /metrics over HTTP with libmicrohttpd.
 *
 * NAME
 *	mhttp - the Prometheus endpoint of fwdmapd and ldapsync
 *
 * SYNOPSIS
 *	#include "metrics_http.h"
 *
 *	typedef int (*mhttp_render_fn)(void *ctx, struct mbuf *out);
 *
 *	struct mhttp *mhttp_start(const int *fds, int nfds,
 *				  mhttp_render_fn render, void *ctx,
 *				  char *err, size_t errlen);
 *	void	mhttp_stop(struct mhttp *h);
 *
 * DESCRIPTION
 *	The daemon binds its metrics_listen sockets itself (listen_open(),
 *	as root, before it drops privileges) and hands them to
 *	mhttp_start(), which runs one libmicrohttpd daemon per socket, each
 *	with its own internal thread (epoll), so that nothing about HTTP
 *	ever runs in the daemon's own loop.  Every signal is blocked in
 *	those threads: signals stay with the daemon's main thread.
 *
 *	GET or HEAD of /metrics (a query string is ignored) calls render()
 *	in the HTTP thread; render() appends the text exposition to out
 *	(reading a snapshot, never the live counters) and returns 0, or -1
 *	(500 Internal Server Error).  Any other path answers 404, any other
 *	method 405.  At most 16 connections are served at a time per
 *	socket, each for at most 10 seconds.
 *
 *	mhttp_stop() stops the threads and closes the sockets.
 *
 * DIAGNOSTICS
 *	mhttp_start() returns NULL with a message in err; the sockets are
 *	then closed.  Nothing is printed.
 */
#ifndef FWDMAP_METRICS_HTTP_H
#define FWDMAP_METRICS_HTTP_H

#include <stddef.h>

#include "metrics.h"

#define MHTTP_MAX_SOCKETS	8
#define MHTTP_CONTENT_TYPE	"text/plain; version=0.0.4; charset=utf-8"

typedef int (*mhttp_render_fn) (void *ctx, struct mbuf *out);

struct mhttp;

struct mhttp *mhttp_start(const int *fds, int nfds, mhttp_render_fn render,
			  void *ctx, char *err, size_t errlen);
void	mhttp_stop(struct mhttp *h);

#endif

/*
 * metrics_http.c - /metrics over libmicrohttpd (see metrics_http.h).
 *
 * Why an internal MHD thread rather than MHD's external mode inside the
 * daemon's epoll loop: rendering, and a slow or hostile HTTP client, then
 * cost the lookup loop nothing at all; the loop's only share is copying
 * its counters into a snapshot (metrics_snap_put(), which never waits).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "metrics_http.h"

struct mhttp {
    struct MHD_Daemon *d[MHTTP_MAX_SOCKETS];
    int     fd[MHTTP_MAX_SOCKETS];
    int     n;
    mhttp_render_fn render;
    void   *ctx;
};

static enum MHD_Result
mhttp_reply(struct MHD_Connection *conn, unsigned int status,
	    const char *text, const char *allow)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(strlen(text), (void *) (uintptr_t) text,
					MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
	return (MHD_NO);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
			    "text/plain; charset=utf-8");
    if (allow)
	MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return (ret);
}

static enum MHD_Result
mhttp_handler(void *cls, struct MHD_Connection *conn, const char *url,
	      const char *method, const char *version, const char *upload,
	      size_t *upload_size, void **con_cls)
{
    struct mhttp *h = cls;
    struct MHD_Response *r;
    struct mbuf b = {0};
    enum MHD_Result ret;

    (void) version;
    (void) upload;
    (void) con_cls;
    if (strcmp(url, "/metrics") != 0)
	return (mhttp_reply(conn, MHD_HTTP_NOT_FOUND, "404 not found: the"
			    " metrics are at /metrics\n", NULL));
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0
	&& strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
	*upload_size = 0;
	return (mhttp_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
			    "405 method not allowed\n", "GET, HEAD"));
    }
    if (h->render(h->ctx, &b) < 0 || b.failed) {
	mbuf_free(&b);
	return (mhttp_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
			    "500 cannot render the metrics\n", NULL));
    }
    r = MHD_create_response_from_buffer(b.len, b.p ? b.p : (void *) (uintptr_t) "",
					b.p ? MHD_RESPMEM_MUST_FREE
					: MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
	mbuf_free(&b);
	return (MHD_NO);
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
			    MHTTP_CONTENT_TYPE);
    ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return (ret);
}

struct mhttp *
mhttp_start(const int *fds, int nfds, mhttp_render_fn render, void *ctx,
	    char *err, size_t errlen)
{
    struct mhttp *h;
    sigset_t all, old;
    int     i;

    if (nfds < 1 || nfds > MHTTP_MAX_SOCKETS) {
	snprintf(err, errlen, "metrics: %d sockets (1 to %d allowed)", nfds,
		 MHTTP_MAX_SOCKETS);
	goto close_fds;
    }
    if ((h = calloc(1, sizeof(*h))) == NULL) {
	snprintf(err, errlen, "metrics: out of memory");
	goto close_fds;
    }
    h->render = render;
    h->ctx = ctx;
    for (i = 0; i < nfds; i++)
	h->fd[i] = fds[i];
    /* The threads MHD starts inherit this mask: no signal goes there. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (i = 0; i < nfds; i++) {
	h->d[i] = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL,
				   mhttp_handler, h,
				   MHD_OPTION_LISTEN_SOCKET, (MHD_socket) fds[i],
				   MHD_OPTION_CONNECTION_LIMIT, (unsigned int) 16,
				   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 10,
				   MHD_OPTION_END);
	if (h->d[i] == NULL) {
	    snprintf(err, errlen, "metrics: cannot start the HTTP server"
		     " (libmicrohttpd) on socket %d", fds[i]);
	    break;
	}
	h->n++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (h->n < nfds) {
	for (i = h->n; i < nfds; i++)
	    close(fds[i]);
	mhttp_stop(h);
	return (NULL);
    }
    return (h);

close_fds:
    for (i = 0; i < nfds; i++)
	close(fds[i]);
    return (NULL);
}

void
mhttp_stop(struct mhttp *h)
{
    int     i;

    if (h == NULL)
	return;
    for (i = 0; i < h->n; i++)
	MHD_stop_daemon(h->d[i]);		/* closes its listen socket */
    free(h);
}

/*
 * t_metrics.c - unit tests for maps/metrics.c (text exposition, label
 *		 escaping, histogram buckets at their exact bounds, the
 *		 snapshot's never-waiting put) and maps/metrics_http.c (a
 *		 real libmicrohttpd server on loopback: 200 on /metrics,
 *		 404 elsewhere, 405 for POST, the socket closed on stop).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "listen.h"
#include "metrics.h"
#include "metrics_http.h"

static void
t_render(void)
{
    struct mbuf b = {0};
    struct metrics_label l[2] = {{"map", "virtual"}, {"result", "a\"b\\c\nd"}};

    metrics_family(&b, "fwdmap_x_total", "counter", "Things.\nMore \\ text.");
    metrics_sample(&b, "fwdmap_x_total", l, 2, 42);
    metrics_sample(&b, "fwdmap_y", NULL, 0, 0.25);
    metrics_sample(&b, "fwdmap_z", NULL, 0, 18446744073709551615.0);
    CHECK(!b.failed);
    CHECK_STR(b.p, b.len,
	      "# HELP fwdmap_x_total Things.\\nMore \\\\ text.\n"
	      "# TYPE fwdmap_x_total counter\n"
	      "fwdmap_x_total{map=\"virtual\",result=\"a\\\"b\\\\c\\nd\"} 42\n"
	      "fwdmap_y 0.25\n"
	      "fwdmap_z 1.8446744073709552e+19\n");
    mbuf_free(&b);
}

static void
t_hist(void)
{
    struct metrics_hist h;
    struct mbuf b = {0};
    struct metrics_label l = {"map", "domains"};

    memset(&h, 0, sizeof(h));
    metrics_hist_observe(&h, 0);		/* first bucket */
    metrics_hist_observe(&h, 5000);		/* exactly 5 us: le="5e-06" */
    metrics_hist_observe(&h, 5001);		/* next bucket */
    metrics_hist_observe(&h, 60000000000ULL);	/* last finite bound */
    metrics_hist_observe(&h, 60000000001ULL);	/* +Inf */
    CHECK(h.bucket[0] == 2 && h.bucket[1] == 1);
    CHECK(h.bucket[METRICS_NBOUNDS - 1] == 1 && h.bucket[METRICS_NBOUNDS] == 1);
    metrics_hist_render(&b, "fwdmap_lookup_duration_seconds", &l, 1, &h);
    CHECK(!b.failed);
    CHECK(strstr(b.p, "fwdmap_lookup_duration_seconds_bucket{map=\"domains\",le=\"5e-06\"} 2\n") != NULL);
    CHECK(strstr(b.p, "fwdmap_lookup_duration_seconds_bucket{map=\"domains\",le=\"1e-05\"} 3\n") != NULL);
    CHECK(strstr(b.p, "fwdmap_lookup_duration_seconds_bucket{map=\"domains\",le=\"30\"} 3\n") != NULL);
    CHECK(strstr(b.p, "fwdmap_lookup_duration_seconds_bucket{map=\"domains\",le=\"60\"} 4\n") != NULL);
    CHECK(strstr(b.p, "fwdmap_lookup_duration_seconds_bucket{map=\"domains\",le=\"+Inf\"} 5\n") != NULL);
    CHECK(strstr(b.p, "fwdmap_lookup_duration_seconds_count{map=\"domains\"} 5\n") != NULL);
    CHECK(strstr(b.p, "fwdmap_lookup_duration_seconds_sum{map=\"domains\"} 120.000010002\n") != NULL);
    mbuf_free(&b);
}

struct holder {
    struct metrics_snap *s;
    pthread_mutex_t go;
    int     locked;
};

static void
t_snap(void)
{
    struct metrics_snap s;
    uint64_t v[4] = {1, 2, 3, 4}, out[4];

    CHECK(metrics_snap_init(&s, sizeof(v)) == 0);
    CHECK(metrics_snap_put(&s, v, 0) == 1);
    metrics_snap_get(&s, out);
    CHECK(memcmp(v, out, sizeof(v)) == 0);
    /* While the reader holds it, a non-waiting put skips, and returns. */
    pthread_mutex_lock(&s.mu);
    v[0] = 9;
    CHECK(metrics_snap_put(&s, v, 0) == 0);
    pthread_mutex_unlock(&s.mu);
    metrics_snap_get(&s, out);
    CHECK(out[0] == 1);
    CHECK(metrics_snap_put(&s, v, 1) == 1);
    metrics_snap_get(&s, out);
    CHECK(out[0] == 9 && s.puts == 2);
    metrics_snap_free(&s);
}

static int renders;

static int
render(void *ctx, struct mbuf *out)
{
    struct metrics_label l = {"who", ctx};

    renders++;
    metrics_family(out, "fwdmap_test_total", "counter", "A test.");
    metrics_sample(out, "fwdmap_test_total", &l, 1, renders);
    return (0);
}

/* One HTTP/1.0 exchange; the whole answer in buf. */
static size_t
http(int port, const char *req, char *buf, size_t len)
{
    struct sockaddr_in sin;
    int     fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t  got = 0;
    ssize_t n;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t) port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *) &sin, sizeof(sin)) < 0
	|| write(fd, req, strlen(req)) != (ssize_t) strlen(req)) {
	if (fd >= 0)
	    close(fd);
	buf[0] = 0;
	return (0);
    }
    while (got < len - 1 && (n = read(fd, buf + got, len - 1 - got)) > 0)
	got += (size_t) n;
    buf[got] = 0;
    close(fd);
    return (got);
}

static void
t_http(void)
{
    char    err[256], spec[64], buf[8192];
    int     fds[4], n, port = 0, i;
    struct mhttp *h;
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);

    n = listen_open("inet:127.0.0.1:0", 0, (uid_t) -1, (gid_t) -1, fds, 4,
		    err, sizeof(err));
    if (n < 0) {
	/* port 0 is refused by listen_check: pick one */
	for (i = 0; i < 50 && n < 0; i++) {
	    port = 30000 + (getpid() * 7 + i * 13) % 20000;
	    snprintf(spec, sizeof(spec), "inet:127.0.0.1:%d", port);
	    n = listen_open(spec, 0, (uid_t) -1, (gid_t) -1, fds, 4, err,
			    sizeof(err));
	}
    }
    CHECK(n == 1);
    if (n != 1)
	return;
    if (getsockname(fds[0], (struct sockaddr *) &sin, &sl) == 0)
	port = ntohs(sin.sin_port);
    static char who[] = "t";

    h = mhttp_start(fds, 1, render, who, err, sizeof(err));
    CHECK(h != NULL);
    if (h == NULL) {
	fprintf(stderr, "%s\n", err);
	return;
    }
    http(port, "GET /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf));
    CHECK(strncmp(buf, "HTTP/1.0 200", 12) == 0 || strncmp(buf, "HTTP/1.1 200", 12) == 0);
    CHECK(strstr(buf, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n") != NULL);
    CHECK(strstr(buf, "\r\n\r\n# HELP fwdmap_test_total A test.\n"
		 "# TYPE fwdmap_test_total counter\n"
		 "fwdmap_test_total{who=\"t\"} 1\n") != NULL);
    http(port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n", buf, sizeof(buf));
    CHECK(strstr(buf, "fwdmap_test_total{who=\"t\"} 2\n") != NULL);
    http(port, "GET / HTTP/1.0\r\n\r\n", buf, sizeof(buf));
    CHECK(strstr(buf, " 404 ") != NULL && strstr(buf, "fwdmap_test") == NULL);
    http(port, "GET /metrics/x HTTP/1.0\r\n\r\n", buf, sizeof(buf));
    CHECK(strstr(buf, " 404 ") != NULL);
    http(port, "POST /metrics HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc", buf, sizeof(buf));
    CHECK(strstr(buf, " 405 ") != NULL && strstr(buf, "Allow: GET, HEAD") != NULL);
    http(port, "HEAD /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf));
    CHECK(strstr(buf, " 200 ") != NULL && strstr(buf, "fwdmap_test") == NULL);
    http(port, "garbage\r\n\r\n", buf, sizeof(buf));
    CHECK(strstr(buf, " 200 ") == NULL);
    CHECK(renders == 3);
    mhttp_stop(h);
    /* The listening socket went with it. */
    CHECK(fcntl(fds[0], F_GETFD) < 0 && errno == EBADF);
    CHECK(http(port, "GET /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf)) == 0);
}

int
main(void)
{
    t_render();
    t_hist();
    t_snap();
    t_http();
    return (DONE());
}

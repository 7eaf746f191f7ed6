/*
 * loadgen.c - socketmap load generator for fwdmapd benchmarks.
 *
 * SYNOPSIS
 *	loadgen -s ENDPOINT [-c CONNS] [-n REQUESTS] [-t THREADS] [-p DEPTH]
 *		[-r RATE] [-k KEYFILE] [-m MAP] [-H IDLE -D SECS] [-q]
 *
 * DESCRIPTION
 *	Opens CONNS connections to ENDPOINT (unix:PATH or inet:HOST:PORT)
 *	and sends REQUESTS socketmap lookups in total, DEPTH outstanding per
 *	connection (1, like a Postfix process), spread over THREADS threads
 *	with one epoll loop each; with DEPTH > 1 the requests a connection
 *	may have outstanding go out in one write (pipelining).  With -r the
 *	load is an open loop instead: RATE requests/s in total, request i
 *	going to connection i % CONNS, latency counted from when the request
 *	was due (a connection still waiting queues it; one whose queue of 63
 *	is full drops the request, and dropped requests count as unanswered,
 *	i.e. slower than any answer, in the percentiles).  The open loop also
 *	reports how late the load generator itself sent requests against the
 *	schedule ("send lag"): a large send lag means the client, not the
 *	server, could not keep the rate.  Keys come from KEYFILE, one per
 *	line, either "map key" or just "key" (then MAP is used, default
 *	"recipients"); a mix of known and unknown keys gives hits and
 *	misses.  Every reply is checked to be a netstring starting with OK,
 *	NOTFOUND, TEMP or PERM.  Prints requests/s, latency percentiles
 *	(p50, p90, p99, p99.9, max), the count of each reply kind, and the
 *	CPU time the load generator used (user + system) per request, so
 *	that a run shows what the client itself costs.
 *
 *	With -H IDLE, it instead opens IDLE connections, proves each one is
 *	served with one lookup, holds them all open for -D SECS seconds,
 *	then proves again that every one still answers, and reports how
 *	many did.
 *
 *	-Z prints what one trivial system call costs on this machine.
 *
 *	Exit status 0 when every request got a well-formed reply, 1
 *	otherwise.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LG_BUF		8192

struct lg_key {
    char   *req;			/* encoded netstring */
    size_t  len;
};

struct lg_conn {
    int     fd;
    unsigned next_key;
    int     outstanding;
    uint64_t sent_at[64];		/* ring of send (or, with -r, scheduled) times */
    unsigned head, tail;
    int     backlog;			/* -r: scheduled, not yet sent */
    uint64_t sched[64];		/* -r: their scheduled times */
    unsigned bhead, btail;
    char    buf[LG_BUF];
    size_t  blen;
};

struct lg_thread {
    pthread_t tid;
    int     id;
    int     nconns;
    struct lg_conn *conns;
    uint64_t target;			/* requests this thread sends */
    uint64_t sent, done;
    uint32_t *lat;			/* ns per request */
    uint64_t nlat;
    uint32_t *lag;			/* -r: ns a send was late against its due time */
    uint64_t nlag;
    uint64_t ok, notfound, temp, perm, bad;
    uint64_t overflow;			/* -r: schedule fell too far behind */
    int     failed;
};

static const char *lg_endpoint;
static struct lg_key *lg_keys;
static size_t lg_nkeys;
static int lg_depth = 1;
static double lg_rate;			/* -r: requests/s in total, 0: closed loop */
static int lg_nthreads = 1;

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec);
}

static int
lg_connect(void)
{
    int     fd = -1;

    if (strncmp(lg_endpoint, "unix:", 5) == 0) {
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(lg_endpoint + 5) >= sizeof(sun.sun_path))
	    return (-1);
	strcpy(sun.sun_path, lg_endpoint + 5);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
	    return (-1);
	if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0) {
	    close(fd);
	    return (-1);
	}
	return (fd);
    } else if (strncmp(lg_endpoint, "inet:", 5) == 0) {
	char    host[256], *port;
	struct addrinfo hints, *res, *ai;

	snprintf(host, sizeof(host), "%s", lg_endpoint + 5);
	if ((port = strrchr(host, ':')) == NULL)
	    return (-1);
	*port++ = 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0)
	    return (-1);
	for (ai = res; ai; ai = ai->ai_next) {
	    if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			     ai->ai_protocol)) < 0)
		continue;
	    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		break;
	    close(fd);
	    fd = -1;
	}
	freeaddrinfo(res);
	return (fd);
    }
    return (-1);
}

static int
lg_load_keys(const char *path, const char *map)
{
    FILE   *fp;
    char    line[2048], req[2200];
    size_t  cap = 0;
    int     n;

    if ((fp = fopen(path, "r")) == NULL) {
	perror(path);
	return (-1);
    }
    while (fgets(line, sizeof(line), fp)) {
	char    payload[2100];

	line[strcspn(line, "\r\n")] = 0;
	if (line[0] == 0 || line[0] == '#')
	    continue;
	if (strchr(line, ' '))
	    snprintf(payload, sizeof(payload), "%s", line);
	else
	    snprintf(payload, sizeof(payload), "%s %s", map, line);
	n = snprintf(req, sizeof(req), "%zu:%s,", strlen(payload), payload);
	if (lg_nkeys == cap) {
	    cap = cap ? cap * 2 : 1024;
	    if ((lg_keys = realloc(lg_keys, cap * sizeof(*lg_keys))) == NULL)
		return (-1);
	}
	lg_keys[lg_nkeys].req = strdup(req);
	lg_keys[lg_nkeys].len = (size_t) n;
	lg_nkeys++;
    }
    fclose(fp);
    return (lg_nkeys ? 0 : -1);
}

/* Send one request, remembering when it was sent (or was due: at). */
static int
lg_send(struct lg_thread *t, struct lg_conn *c, uint64_t at)
{
    struct lg_key *k = &lg_keys[c->next_key];
    ssize_t n;
    uint64_t now = now_ns();

    c->next_key = (c->next_key + 1) % (unsigned) lg_nkeys;
    c->sent_at[c->head] = at ? at : now;
    if (at && t->nlag < t->target)
	t->lag[t->nlag++] = (uint32_t) (now > at ? (now - at > UINT32_MAX ?
						   UINT32_MAX : now - at) : 0);
    c->head = (c->head + 1) % 64;
    n = send(c->fd, k->req, k->len, MSG_NOSIGNAL);
    if (n != (ssize_t) k->len) {
	fprintf(stderr, "loadgen: send: %s\n", n < 0 ? strerror(errno) : "short");
	return (-1);
    }
    c->outstanding++;
    t->sent++;
    return (0);
}

/* Fill the connection up to DEPTH outstanding requests with one write. */
static int
lg_fill(struct lg_thread *t, struct lg_conn *c)
{
    char    buf[LG_BUF];
    size_t  len = 0;
    ssize_t n;
    uint64_t now = now_ns();

    while (c->outstanding < lg_depth && t->sent < t->target) {
	struct lg_key *k = &lg_keys[c->next_key];

	if (len + k->len > sizeof(buf))
	    break;
	memcpy(buf + len, k->req, k->len);
	len += k->len;
	c->next_key = (c->next_key + 1) % (unsigned) lg_nkeys;
	c->sent_at[c->head] = now;
	c->head = (c->head + 1) % 64;
	c->outstanding++;
	t->sent++;
    }
    if (len == 0)
	return (0);
    n = send(c->fd, buf, len, MSG_NOSIGNAL);
    if (n != (ssize_t) len) {
	fprintf(stderr, "loadgen: send: %s\n", n < 0 ? strerror(errno) : "short");
	return (-1);
    }
    return (0);
}

/* Take complete replies out of c->buf; -1 on a malformed reply. */
static int
lg_replies(struct lg_thread *t, struct lg_conn *c, uint64_t now)
{
    size_t  off = 0;

    for (;;) {
	size_t  i = off, n = 0;
	const char *d;

	while (i < c->blen && c->buf[i] >= '0' && c->buf[i] <= '9' && i - off < 7)
	    n = n * 10 + (size_t) (c->buf[i++] - '0');
	if (i == c->blen)
	    break;
	if (c->buf[i] != ':' || i == off)
	    return (-1);
	if (c->blen - i - 1 < n + 1)
	    break;
	if (c->buf[i + 1 + n] != ',')
	    return (-1);
	d = c->buf + i + 1;
	if (n >= 3 && memcmp(d, "OK ", 3) == 0)
	    t->ok++;
	else if (n >= 9 && memcmp(d, "NOTFOUND ", 9) == 0)
	    t->notfound++;
	else if (n >= 5 && memcmp(d, "TEMP ", 5) == 0)
	    t->temp++;
	else if (n >= 5 && memcmp(d, "PERM ", 5) == 0)
	    t->perm++;
	else
	    t->bad++;
	if (c->outstanding <= 0)
	    return (-1);
	if (t->nlat < t->target)
	    t->lat[t->nlat++] = (uint32_t) ((now - c->sent_at[c->tail]) > UINT32_MAX ?
					    UINT32_MAX : now - c->sent_at[c->tail]);
	c->tail = (c->tail + 1) % 64;
	c->outstanding--;
	t->done++;
	off = i + 1 + n + 1;
    }
    if (off) {
	memmove(c->buf, c->buf + off, c->blen - off);
	c->blen -= off;
    }
    return (0);
}

/*
 * Open loop (-r): request number i of this thread is due at start + i /
 * rate and goes to connection i % nconns; a connection still waiting for
 * an answer queues it.  Latency counts from the due time, so a server
 * that falls behind shows it (no coordinated omission).
 */
static void
lg_run_rate(struct lg_thread *t, int ep)
{
    struct epoll_event evs[256];
    double  rate = lg_rate / lg_nthreads;
    uint64_t start = now_ns(), issued = 0;
    int     n, i;

    while (t->done + t->overflow < t->target) {
	uint64_t now = now_ns();
	uint64_t due = (uint64_t) ((double) (now - start) * rate / 1e9) + 1;

	if (due > t->target)
	    due = t->target;
	while (issued < due) {
	    struct lg_conn *c = &t->conns[issued % (uint64_t) t->nconns];
	    uint64_t at = start + (uint64_t) ((double) issued * 1e9 / rate);

	    issued++;
	    if (c->outstanding == 0) {
		if (lg_send(t, c, at) < 0) {
		    t->failed = 1;
		    return;
		}
	    } else if (c->backlog < 63) {
		c->sched[c->bhead] = at;
		c->bhead = (c->bhead + 1) % 64;
		c->backlog++;
	    } else {
		t->overflow++;
	    }
	}
	if (issued < t->target) {
	    /* Sleep until the next request is due: a spinning client would
	     * steal the CPU the server needs on a small machine. */
	    uint64_t next = start + (uint64_t) ((double) issued * 1e9 / rate);
	    struct timespec ts = {0, 0};

	    now = now_ns();
	    if (next > now + 20000)
		ts.tv_nsec = (long) (next - now);
	    n = epoll_pwait2(ep, evs, 256, &ts, NULL);
	} else {
	    n = epoll_wait(ep, evs, 256, 5000);
	}
	if (n < 0) {
	    if (errno == EINTR)
		continue;
	    t->failed = 1;
	    return;
	}
	if (n == 0 && issued >= t->target) {
	    fprintf(stderr, "loadgen: no reply for 5 s\n");
	    t->failed = 1;
	    return;
	}
	now = now_ns();
	for (i = 0; i < n; i++) {
	    struct lg_conn *c = evs[i].data.ptr;
	    ssize_t r = read(c->fd, c->buf + c->blen, LG_BUF - c->blen);

	    if (r <= 0) {
		if (r < 0 && errno == EINTR)
		    continue;
		fprintf(stderr, "loadgen: connection closed by server\n");
		t->failed = 1;
		return;
	    }
	    c->blen += (size_t) r;
	    if (lg_replies(t, c, now) < 0 || c->blen == LG_BUF) {
		fprintf(stderr, "loadgen: malformed reply\n");
		t->failed = 1;
		return;
	    }
	    if (c->outstanding == 0 && c->backlog > 0) {
		uint64_t at = c->sched[c->btail];

		c->btail = (c->btail + 1) % 64;
		c->backlog--;
		if (lg_send(t, c, at) < 0) {
		    t->failed = 1;
		    return;
		}
	    }
	}
    }
}

static void *
lg_run(void *arg)
{
    struct lg_thread *t = arg;
    struct epoll_event ev, evs[256];
    int     ep, i, n, d;

    if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
	t->failed = 1;
	return (NULL);
    }
    for (i = 0; i < t->nconns; i++) {
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = &t->conns[i];
	if (epoll_ctl(ep, EPOLL_CTL_ADD, t->conns[i].fd, &ev) < 0) {
	    t->failed = 1;
	    goto done;
	}
    }
    (void) d;
    if (lg_rate > 0) {
	lg_run_rate(t, ep);
	goto done;
    }
    for (i = 0; i < t->nconns && t->sent < t->target; i++)
	if (lg_fill(t, &t->conns[i]) < 0) {
	    t->failed = 1;
	    goto done;
	}
    while (t->done < t->target) {
	n = epoll_wait(ep, evs, 256, 5000);
	if (n <= 0) {
	    if (n < 0 && errno == EINTR)
		continue;
	    fprintf(stderr, "loadgen: thread %d: no reply for 5 s (%llu of %llu done)\n",
		    t->id, (unsigned long long) t->done,
		    (unsigned long long) t->target);
	    t->failed = 1;
	    goto done;
	}
	for (i = 0; i < n; i++) {
	    struct lg_conn *c = evs[i].data.ptr;
	    ssize_t r = read(c->fd, c->buf + c->blen, LG_BUF - c->blen);
	    uint64_t now = now_ns();

	    if (r <= 0) {
		if (r < 0 && errno == EINTR)
		    continue;
		fprintf(stderr, "loadgen: connection closed by server\n");
		t->failed = 1;
		goto done;
	    }
	    c->blen += (size_t) r;
	    if (lg_replies(t, c, now) < 0 || c->blen == LG_BUF) {
		fprintf(stderr, "loadgen: malformed reply\n");
		t->failed = 1;
		goto done;
	    }
	    if (lg_fill(t, c) < 0) {
		t->failed = 1;
		goto done;
	    }
	}
    }
done:
    close(ep);
    return (NULL);
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

    return (x < y ? -1 : x > y);
}

/* One blocking lookup on fd; 0 when a well-formed reply came. */
static int
lg_probe(int fd, size_t k)
{
    char    buf[4096];
    size_t  got = 0;
    ssize_t r;

    if (send(fd, lg_keys[k].req, lg_keys[k].len, MSG_NOSIGNAL)
	!= (ssize_t) lg_keys[k].len)
	return (-1);
    while (got < sizeof(buf)) {
	char   *colon;

	if ((r = read(fd, buf + got, sizeof(buf) - got)) <= 0)
	    return (-1);
	got += (size_t) r;
	if ((colon = memchr(buf, ':', got)) != NULL) {
	    size_t  n = strtoul(buf, NULL, 10);

	    if (got >= (size_t) (colon - buf) + 1 + n + 1)
		return (0);
	}
    }
    return (-1);
}

static int
lg_idle(int nidle, int secs)
{
    int    *fds = calloc((size_t) nidle, sizeof(int));
    int     i, opened = 0, ok1 = 0, ok2 = 0;
    uint64_t t0 = now_ns();

    if (fds == NULL)
	return (1);
    for (i = 0; i < nidle; i++) {
	if ((fds[i] = lg_connect()) < 0) {
	    fprintf(stderr, "loadgen: connection %d: %s\n", i, strerror(errno));
	    break;
	}
	opened++;
    }
    for (i = 0; i < opened; i++)
	if (lg_probe(fds[i], (size_t) i % lg_nkeys) == 0)
	    ok1++;
    printf("idle: opened %d connections in %.2f s, %d answered a lookup\n",
	   opened, (double) (now_ns() - t0) / 1e9, ok1);
    fflush(stdout);
    sleep((unsigned) secs);
    for (i = 0; i < opened; i++)
	if (lg_probe(fds[i], (size_t) i % lg_nkeys) == 0)
	    ok2++;
    printf("idle: after %d s idle, %d of %d connections still answered\n",
	   secs, ok2, opened);
    for (i = 0; i < opened; i++)
	close(fds[i]);
    free(fds);
    return (opened == nidle && ok1 == nidle && ok2 == nidle ? 0 : 1);
}

/* -Z: what one trivial system call costs here (context for the numbers). */
static int
lg_syscall_cost(void)
{
    uint64_t t0 = now_ns();
    int     i;

    for (i = 0; i < 1000000; i++)
	(void) getppid();
    printf("null system call (getppid): %.0f ns\n", (double) (now_ns() - t0) / 1e6);
    return (0);
}

/* A latency in ns as microseconds; a dropped request shows as such. */
static const char *
lg_us(uint32_t ns, char *buf)
{
    if (ns == UINT32_MAX)
	return ("dropped");
    snprintf(buf, 32, "%.1f", ns / 1000.0);
    return (buf);
}

static void
usage(void)
{
    fprintf(stderr, "usage: loadgen -s ENDPOINT [-c CONNS] [-n REQUESTS] [-t THREADS]"
	    " [-p DEPTH] [-r RATE] [-k KEYFILE] [-m MAP] [-H IDLE -D SECS] [-q]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    int     ch, nconns = 100, nthreads = 1, nidle = 0, idle_secs = 5, quiet = 0;
    uint64_t nreq = 100000, total = 0, i;
    const char *keyfile = NULL, *map = "recipients";
    struct lg_thread *th;
    uint32_t *all, *lags;
    uint64_t nlags = 0;
    struct rusage ru0, ru;
    char    b1[32], b2[32], b3[32], b4[32], b5[32];
    double  cpu, ucpu, scpu;
    uint64_t t0, t1, ok = 0, nf = 0, tmp = 0, perm = 0, bad = 0, over = 0;
    int     failed = 0, j;
    double  secs;

    while ((ch = getopt(argc, argv, "s:c:n:t:p:k:m:H:D:qr:Z")) != -1) {
	switch (ch) {
	case 's': lg_endpoint = optarg; break;
	case 'c': nconns = atoi(optarg); break;
	case 'n': nreq = strtoull(optarg, NULL, 10); break;
	case 't': nthreads = atoi(optarg); break;
	case 'p': lg_depth = atoi(optarg); break;
	case 'k': keyfile = optarg; break;
	case 'm': map = optarg; break;
	case 'H': nidle = atoi(optarg); break;
	case 'D': idle_secs = atoi(optarg); break;
	case 'q': quiet = 1; break;
	case 'r': lg_rate = atof(optarg); break;
	case 'Z': return (lg_syscall_cost());
	default: usage();
	}
    }
    if (!lg_endpoint || nconns < 1 || nthreads < 1 || nthreads > nconns
	|| lg_depth < 1 || lg_depth > 63 || nreq < 1)
	usage();
    if (keyfile) {
	if (lg_load_keys(keyfile, map) < 0) {
	    fprintf(stderr, "loadgen: no keys in %s\n", keyfile);
	    return (1);
	}
    } else {
	char    tmpl[] = "/tmp/loadgen-keys.XXXXXX";
	int     fd = mkstemp(tmpl);

	if (fd < 0 || write(fd, "postmaster@example.org\n", 23) != 23
	    || lg_load_keys(tmpl, map) < 0)
	    return (1);
	close(fd);
	unlink(tmpl);
    }
    if (nidle)
	return (lg_idle(nidle, idle_secs));
    lg_nthreads = nthreads;
    if (lg_rate > 0 && lg_depth != 1) {
	fprintf(stderr, "loadgen: -r works with depth 1 only\n");
	return (2);
    }

    if ((th = calloc((size_t) nthreads, sizeof(*th))) == NULL)
	return (1);
    for (j = 0; j < nthreads; j++) {
	int     k, per = nconns / nthreads + (j < nconns % nthreads);

	th[j].id = j;
	th[j].nconns = per;
	th[j].target = nreq / (uint64_t) nthreads
	    + ((uint64_t) j < nreq % (uint64_t) nthreads);
	th[j].conns = calloc((size_t) per, sizeof(struct lg_conn));
	th[j].lat = calloc(th[j].target ? th[j].target : 1, sizeof(uint32_t));
	th[j].lag = calloc(lg_rate > 0 && th[j].target ? th[j].target : 1,
			   sizeof(uint32_t));
	if (!th[j].conns || !th[j].lat || !th[j].lag)
	    return (1);
	for (k = 0; k < per; k++) {
	    struct lg_conn *c = &th[j].conns[k];

	    if ((c->fd = lg_connect()) < 0) {
		fprintf(stderr, "loadgen: connect %s: %s\n", lg_endpoint,
			strerror(errno));
		return (1);
	    }
	    c->next_key = (unsigned) (((uint64_t) (j * 7919 + k) * 104729u) % lg_nkeys);
	}
    }
    getrusage(RUSAGE_SELF, &ru0);
    t0 = now_ns();
    for (j = 0; j < nthreads; j++)
	if (pthread_create(&th[j].tid, NULL, lg_run, &th[j]) != 0)
	    return (1);
    for (j = 0; j < nthreads; j++)
	pthread_join(th[j].tid, NULL);
    t1 = now_ns();
    for (j = 0; j < nthreads; j++) {
	total += th[j].nlat;
	ok += th[j].ok;
	nf += th[j].notfound;
	tmp += th[j].temp;
	perm += th[j].perm;
	bad += th[j].bad;
	over += th[j].overflow;
	failed |= th[j].failed;
    }
    /* Dropped requests (-r) count as unanswered: slower than any answer. */
    if ((all = malloc((total + over ? total + over : 1) * sizeof(uint32_t))) == NULL)
	return (1);
    for (i = 0, j = 0; j < nthreads; j++) {
	memcpy(all + i, th[j].lat, th[j].nlat * sizeof(uint32_t));
	i += th[j].nlat;
	nlags += th[j].nlag;
    }
    for (; i < total + over; i++)
	all[i] = UINT32_MAX;
    if ((lags = malloc((nlags ? nlags : 1) * sizeof(uint32_t))) == NULL)
	return (1);
    for (i = 0, j = 0; j < nthreads; j++) {
	memcpy(lags + i, th[j].lag, th[j].nlag * sizeof(uint32_t));
	i += th[j].nlag;
    }
    qsort(all, total + over, sizeof(uint32_t), cmp_u32);
    qsort(lags, nlags, sizeof(uint32_t), cmp_u32);
    secs = (double) (t1 - t0) / 1e9;
    getrusage(RUSAGE_SELF, &ru);
#define TV(tv) ((double) (tv).tv_sec + (double) (tv).tv_usec / 1e6)
    ucpu = TV(ru.ru_utime) - TV(ru0.ru_utime);
    scpu = TV(ru.ru_stime) - TV(ru0.ru_stime);
    cpu = ucpu + scpu;
#define PCT(p) (total + over ? all[(uint64_t) ((double) (total + over - 1) * (p))] : 0)
#define LAG(p) (nlags ? lags[(uint64_t) ((double) (nlags - 1) * (p))] / 1000.0 : 0.0)
    if (lg_rate > 0)
	printf("%soffered %.0f req/s (open loop); dropped (a connection's queue"
	       " was full) %llu; send lag us p50 %.1f p99 %.1f max %.1f\n",
	       quiet ? "" : "loadgen: ", lg_rate, (unsigned long long) over,
	       LAG(0.50), LAG(0.99), nlags ? lags[nlags - 1] / 1000.0 : 0.0);
    printf("%s%llu requests over %d connections (%d thread%s, depth %d) in %.3f s:"
	   " %.0f req/s; latency us p50 %s p90 %s p99 %s p99.9 %s max %s;"
	   " OK %llu NOTFOUND %llu TEMP %llu PERM %llu bad %llu\n",
	   quiet ? "" : "loadgen: ", (unsigned long long) total, nconns, nthreads,
	   nthreads == 1 ? "" : "s", lg_depth, secs,
	   secs > 0 ? (double) total / secs : 0.0,
	   lg_us(PCT(0.50), b1), lg_us(PCT(0.90), b2), lg_us(PCT(0.99), b3),
	   lg_us(PCT(0.999), b4), lg_us(total + over ? all[total + over - 1] : 0, b5),
	   (unsigned long long) ok, (unsigned long long) nf,
	   (unsigned long long) tmp, (unsigned long long) perm,
	   (unsigned long long) bad);
    printf("%sclient CPU %.2f s (user %.2f, sys %.2f): %.1f us per request\n",
	   quiet ? "" : "loadgen: ", cpu, ucpu, scpu,
	   total ? cpu * 1e6 / (double) total : 0.0);
    for (j = 0; j < nthreads; j++) {
	free(th[j].lat);
	free(th[j].lag);
	free(th[j].conns);
    }
    free(th);
    free(all);
    free(lags);
    return (failed || bad || total + over != nreq ? 1 : 0);
}

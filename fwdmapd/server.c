/*
 * server.c - the fwdmapd event loop (see server.h).
 *
 * One process, one level-triggered epoll set.  A connection costs a small
 * struct while idle: input is read into one shared buffer and answered
 * from there; only a partial request, or output the client has not yet
 * taken, is copied into per-connection buffers.  While a connection has
 * unsent output it is not read from (back-pressure), so a client that
 * pipelines without reading cannot make the daemon buffer without bound.
 *
 * The generation served, its replacement and the SIGBUS bracket around
 * every lookup live in gen.c and bus.c; this file is the connection loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "conf.h"
#include "gen.h"
#include "log.h"
#include "map.h"
#include "mono.h"
#include "netstr.h"
#include "policy.h"
#include "proto.h"
#include "server.h"
#include "metrics.h"
#include "srs.h"
#include "srs_query.h"
#include "stats.h"

#define EV_LISTEN	1
#define EV_CONN		2
#define EV_SIGNAL	3
#define EV_DEAD		4	/* closed; freed after the current batch */
#define EV_TIMER	5

#define SERVER_MAX_LISTEN	16
#define SERVER_READ_EXTRA	65536	/* read buffer beyond one request */
#define SERVER_HELD		3	/* inputs read, not yet answered (server_run) */
#define SERVER_OUT_HIGH		65536	/* stop answering above this */
#define SERVER_MAX_CONTROL	16
#define SERVER_SCAN_MS		1000	/* timeout scan interval */
#define SERVER_SNAP_RETRY_MS	10	/* metrics snapshot busy: retry after */
#define SERVER_WARN_EVERY	10	/* seconds between repeated warnings */

struct evsrc {
    int     type;
};

struct listener {
    struct evsrc ev;
    int     fd;
    int     control;
    int     policy;		/* policy delegation (policy.c) */
    int     paused;
};

struct conn {
    struct evsrc ev;
    int     fd;
    int     control;
    int     policy;		/* speaks policy delegation, not socketmap */
    int     closing;		/* close once out is sent */
    uint32_t events;		/* registered epoll events */
    struct conn *prev, *next;
    struct pbuf in;		/* unanswered input */
    struct pbuf out;		/* unsent output */
    size_t  outoff;
    uint64_t last;		/* ms, last activity */
    uint64_t busy;		/* ms, since when a request is open; 0 idle */
    char    peer[96];		/* "client 192.0.2.1:4711 (fd 9)", for logs */
};

struct server {
    struct conf *conf;
    struct srs *srs;		/* NULL: SRS off (srs.domain unset) */
    int     ep;
    struct evsrc sigev;
    int     sigfd;
    struct evsrc tev;		/* the timer of scans and reload checks */
    int     tfd;		/* its timerfd, or -1: epoll_wait's timeout */
    uint64_t armed;		/* the deadline tfd is armed for (mono_ms) */
    struct listener lis[SERVER_MAX_LISTEN];
    int     nlis;
    struct conn *conns;		/* list of all connections */
    struct conn *dead;		/* closed, to free after this batch */
    unsigned nconns;		/* socketmap and policy clients */
    unsigned ncontrol;		/* admin clients */
    char   *rbuf;		/* SERVER_HELD parts of rbufsz bytes (server_run) */
    size_t  rbufsz;
    struct pbuf obuf;		/* replies being built */
    struct gen_watch gw;	/* the generation served (gen.c) */
    struct metrics_snap *snap;	/* metrics for the HTTP thread, or NULL */
    int     snap_retry;		/* the last put was skipped: retry soon */
    struct stats st;
    uint64_t now;
    uint64_t next_scan;
    uint64_t resume_accept;	/* ms; 0 when accepting */
    time_t  last_limit_warn;
    int     stopping;
    uint64_t stop_deadline;
};

/* Size the shared read buffer for max_request and a policy request. */
static int
server_rbuf(struct server *s)
{
    size_t  need = (size_t) s->conf->fwdmapd.max_request + NETSTR_MAX_DIGITS
	+ 2;
    char   *p;

    if (need < POLICY_MAX_REQUEST)
	need = POLICY_MAX_REQUEST;
    need += SERVER_READ_EXTRA;

    if (need <= s->rbufsz)
	return (0);
    if ((p = realloc(s->rbuf, SERVER_HELD * need)) == NULL)
	return (-1);
    s->rbuf = p;
    s->rbufsz = need;
    return (0);
}

/*
 * Connections.
 */

static const char *
conn_name(const struct conn *c)
{
    return (c->peer);
}

/* Describe the client for log lines. */
static void
conn_peer(struct conn *c, const struct sockaddr_storage *ss, socklen_t len)
{
    char    host[INET6_ADDRSTRLEN], port[8];

    if (len > 0 && (ss->ss_family == AF_INET || ss->ss_family == AF_INET6)
	&& getnameinfo((const struct sockaddr *) ss, len, host, sizeof(host),
		       port, sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
	snprintf(c->peer, sizeof(c->peer), "client %s:%s (fd %d)", host, port,
		 c->fd);
    else
	snprintf(c->peer, sizeof(c->peer), "client fd %d", c->fd);
}

static int
conn_want(struct server *s, struct conn *c, uint32_t events)
{
    struct epoll_event ev;

    if (c->events == events)
	return (0);
    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.ptr = c;
    if (epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
	log_warn_errno("epoll_ctl fd %d", c->fd);
	return (-1);
    }
    c->events = events;
    return (0);
}

static void
conn_close(struct server *s, struct conn *c)
{
    epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->prev)
	c->prev->next = c->next;
    else
	s->conns = c->next;
    if (c->next)
	c->next->prev = c->prev;
    if (c->control)
	s->ncontrol--;
    else
	s->nconns--;
    pbuf_free(&c->in);
    pbuf_free(&c->out);
    /* Events already fetched may still point here: free it later. */
    c->ev.type = EV_DEAD;
    c->fd = -1;
    c->next = s->dead;
    s->dead = c;
}

static void
conn_reap(struct server *s)
{
    struct conn *c;

    while ((c = s->dead) != NULL) {
	s->dead = c->next;
	free(c);
    }
}

/* Keep bytes for later (partial request, or requests held back). */
static int
conn_keep_in(struct conn *c, const char *p, size_t n)
{
    if (n == 0) {
	/* Release the buffer: idle connections should cost little. */
	pbuf_free(&c->in);
	return (0);
    }
    if (p == c->in.p) {
	c->in.len = n;
	return (0);
    }
    if (c->in.p && p > c->in.p && p < c->in.p + c->in.cap) {
	memmove(c->in.p, p, n);
	c->in.len = n;
	return (0);
    }
    c->in.len = 0;
    if (pbuf_reserve(&c->in, n) < 0)
	return (-1);
    memcpy(c->in.p, p, n);
    c->in.len = n;
    return (0);
}

/* Send what is in obuf, keep the rest in c->out. 0 ok, -1 close. */
static int
conn_send(struct server *s, struct conn *c)
{
    ssize_t n = 0;
    size_t  len = s->obuf.len;

    if (len == 0)
	return (0);
    if (c->out.len == c->outoff) {
	n = send(c->fd, s->obuf.p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0) {
	    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		log_debug("%s: write: %s", conn_name(c), strerror(errno));
		return (-1);
	    }
	    n = 0;
	}
	if (c->out.len == c->outoff)
	    c->out.len = c->outoff = 0;
    }
    if ((size_t) n < len) {
	if (pbuf_reserve(&c->out, len - (size_t) n) < 0)
	    return (-1);
	memcpy(c->out.p + c->out.len, s->obuf.p + n, len - (size_t) n);
	c->out.len += len - (size_t) n;
    }
    s->obuf.len = 0;
    return (0);
}

/* Decide what to wait for next; close when done.  0 kept, -1 closed. */
static int
conn_settle(struct server *s, struct conn *c)
{
    int     pending = c->out.len > c->outoff;

    if (!pending && c->closing) {
	conn_close(s, c);
	return (-1);
    }
    if (!pending && c->out.p)
	pbuf_free(&c->out);
    if (pending || c->in.len > 0) {
	if (c->busy == 0)
	    c->busy = s->now;
    } else {
	c->busy = 0;
	if (s->stopping) {			/* nothing in flight: done */
	    conn_close(s, c);
	    return (-1);
	}
    }
    if (conn_want(s, c, pending ? EPOLLOUT : EPOLLIN) < 0) {
	conn_close(s, c);
	return (-1);
    }
    return (0);
}

/* A client-given string for a log line: printable, bounded. */
static void
log_safe(char *out, size_t outsz, const char *s, size_t len)
{
    size_t  i;

    if (len > outsz - 1)
	len = outsz - 1;
    for (i = 0; i < len; i++)
	out[i] = (unsigned char) s[i] < 0x20 || (unsigned char) s[i] >= 0x7f
	    ? '?' : s[i];
    out[len] = 0;
}

/* Every judged policy request: refusals at info level, the rest debug. */
static void
policy_note(void *arg, const struct policy_req *req,
	    const struct senderpol_result *res)
{
    struct conn *c = arg;
    char    snd[300], rcpt[300];

    if (res->verdict == SENDERPOL_DUNNO && log_verbose == 0)
	return;
    log_safe(snd, sizeof(snd), req->sender, req->has_sender ?
	     req->sender_len : 0);
    log_safe(rcpt, sizeof(rcpt), req->recipient, req->recipient_len);
    if (res->verdict == SENDERPOL_REJECT)
	log_info("policy: reject: from=<%s> to=<%s>: %s (%s)", snd, rcpt,
		 res->text, res->why);
    else if (res->verdict == SENDERPOL_TEMP)
	log_debug("%s: policy: defer: from=<%s> to=<%s>: %s", conn_name(c),
		  snd, rcpt, res->text);
    else
	log_debug("%s: policy: dunno: from=<%s> to=<%s>: %s", conn_name(c),
		  snd, rcpt, res->why);
}

/*
 * Reads are answered two events late, so that what their lookups read
 * comes from memory in two steps while the CPU does other work: at a
 * million people nearly every lookup misses the caches twice, at the
 * hash table slot and at the record it points to.  A client's input is
 * read and the slots its requests need are prefetched (proto_prefetch());
 * while the client read before it is answered, inside the SIGBUS
 * bracket, the records those slots point to are prefetched
 * (map_pf_record()); the input is answered after the next two clients are
 * read.  Each input held lives in its own part of rbuf.  Nothing in a
 * batch swaps the generation (gen_watch_reload() runs after held_flush());
 * only a SIGBUS drops it, which changes the epoch, and map_pf_record() is
 * then skipped.
 */
struct held {
    struct conn *c;			/* NULL: free */
    size_t  len;
    uint64_t epoch;			/* pf[] are from the generation of this
					 * epoch (gen_watch) */
    struct map_pf pf[PROTO_PF_MAX];
    size_t  npf;
};

struct held_queue {
    struct held q[SERVER_HELD];
    int     head;			/* the oldest */
    int     n;
};

/*
 * Answer the requests in data[0..len); keep the rest.  0 ok, -1 closed.
 * ahead: the slots noted by the prefetch of the next input to answer,
 * whose records are fetched first (proto_run()), or NULL.
 */
static int
conn_process(struct server *s, struct conn *c, const char *data, size_t len,
	     const struct held *ahead)
{
    struct proto_ctx ctx;
    struct policy_ctx pctx;
    size_t  used;
    int     status;
    const char *why;

    memset(&ctx, 0, sizeof(ctx));
    ctx.gen = NULL;			/* set by gen_watch_answer() */
    ctx.conf = s->conf;
    ctx.srs = s->srs;
    ctx.delims = s->conf->recipient_delimiter;
    ctx.propagate = s->conf->propagate_extensions;
    ctx.max_request = (size_t) s->conf->fwdmapd.max_request;
    ctx.st = &s->st;
    /* Only from the generation being served: a generation dropped
     * after a SIGBUS is unmapped. */
    if (ahead != NULL && ahead->epoch == s->gw.epoch && s->gw.gen != NULL) {
	ctx.ahead = ahead->pf;
	ctx.nahead = ahead->npf;
    }
    pctx.gen = NULL;			/* set by gen_watch_policy() */
    pctx.delims = s->conf->recipient_delimiter;
    pctx.st = &s->st;
    pctx.note = policy_note;
    pctx.note_arg = c;
    for (;;) {
	if (c->policy)
	    used = gen_watch_policy(&s->gw, &pctx, data, len, &s->obuf,
				    SERVER_OUT_HIGH, &status, &why);
	else
	    used = gen_watch_answer(&s->gw, &ctx, data, len, &s->obuf,
				    SERVER_OUT_HIGH, &status, &why);
	if (status == PROTO_NOMEM) {
	    log_warn("%s: out of memory; closing", conn_name(c));
	    s->obuf.len = 0;
	    conn_close(s, c);
	    return (-1);
	}
	if (status == PROTO_CLOSE) {
	    log_warn("%s: %sprotocol error: %s; answered %s, closing",
		     conn_name(c), c->policy ? "policy " : "", why,
		     c->policy ? "DEFER_IF_PERMIT" : "PERM");
	    c->closing = 1;
	    used = len;
	}
	ctx.nahead = 0;				/* fetched once is enough */
	data += used;
	len -= used;
	if (conn_keep_in(c, data, c->closing ? 0 : len) < 0
	    || conn_send(s, c) < 0) {
	    s->obuf.len = 0;
	    conn_close(s, c);
	    return (-1);
	}
	data = c->in.p;
	/* Go on only with requests held back by the high-water mark. */
	if (c->closing || len == 0 || used == 0 || c->out.len > c->outoff)
	    break;
    }
    return (conn_settle(s, c));
}

/*
 * Read what c sent into buf (rbufsz bytes), after what was kept of its
 * input.  Returns the bytes now in buf to answer, or 0: nothing to do
 * (no data yet, or the connection was closed).
 */
static size_t
conn_fill(struct server *s, struct conn *c, char *buf)
{
    size_t  off = c->in.len;
    ssize_t n;

    if (off >= s->rbufsz) {			/* cannot happen */
	log_warn("%s: input buffer overrun; closing", conn_name(c));
	conn_close(s, c);
	return (0);
    }
    if (off)
	memcpy(buf, c->in.p, off);
    n = read(c->fd, buf + off, s->rbufsz - off);
    if (n < 0) {
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
	    return (0);
	log_debug("%s: read: %s", conn_name(c), strerror(errno));
	conn_close(s, c);
	return (0);
    }
    if (n == 0) {
	if (off)
	    log_warn("%s: end of file in the middle of a request", conn_name(c));
	conn_close(s, c);
	return (0);
    }
    c->last = s->now;
    c->in.len = 0;
    return (off + (size_t) n);
}

static void
conn_write(struct server *s, struct conn *c)
{
    ssize_t n;

    n = send(c->fd, c->out.p + c->outoff, c->out.len - c->outoff,
	     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
	    return;
	log_debug("%s: write: %s", conn_name(c), strerror(errno));
	conn_close(s, c);
	return;
    }
    c->last = s->now;
    c->outoff += (size_t) n;
    if (c->outoff < c->out.len)
	return;
    c->out.len = c->outoff = 0;
    if (c->in.len > 0 && !c->closing) {
	/* Requests held back while the client was not reading. */
	size_t  len = c->in.len;

	c->in.len = 0;
	conn_process(s, c, c->in.p, len, NULL);
	return;
    }
    conn_settle(s, c);
}

/* Watch fd for input, with src as what epoll_wait() reports. */
static int
server_watch(struct server *s, int fd, void *src)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = src;
    return (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev));
}

static struct conn *
conn_new(struct server *s, int fd, int control)
{
    struct conn *c;

    if ((c = calloc(1, sizeof(*c))) == NULL)
	return (NULL);
    c->ev.type = EV_CONN;
    c->fd = fd;
    c->control = control;
    c->last = s->now;
    c->events = EPOLLIN;
    if (server_watch(s, fd, c) < 0) {
	free(c);
	return (NULL);
    }
    c->next = s->conns;
    if (s->conns)
	s->conns->prev = c;
    s->conns = c;
    if (control)
	s->ncontrol++;
    else
	s->nconns++;
    return (c);
}

/* The admin socket: statistics as JSON, then close. */
/* What the server knows now; busy: count connections in a request
 * (a walk over all of them, for the admin socket only). */
static void
server_view(struct server *s, struct stats_view *v, int busy)
{
    const struct map_meta *m, *dm;
    struct conn *o;

    memset(v, 0, sizeof(*v));
    v->conn_current = s->nconns;
    for (o = busy ? s->conns : NULL; o; o = o->next)
	if (!o->control && o->busy)
	    v->conn_busy++;
    v->conn_max = (unsigned) s->conf->fwdmapd.max_connections;
    v->maps_dir = s->conf->maps_dir;
    v->last_error = s->gw.last_error[0] ? s->gw.last_error : NULL;
    if (s->gw.gen) {
	m = map_gen_meta(s->gw.gen);
	v->gen_loaded = 1;
	v->serial = m->serial;
	v->created = m->created;
	v->loaded = s->gw.gen_loaded;
	if ((dm = map_gen_delta_meta(s->gw.gen)) != NULL) {
	    v->has_delta = 1;
	    v->delta_serial = dm->serial;
	    v->delta_created = dm->created;
	}
    }
}

/* Copy the counters for the metrics thread; never waits. */
static void
server_metrics_publish(struct server *s)
{
    struct stats_view v;

    if (s->snap == NULL)
	return;
    server_view(s, &v, 0);
    s->snap_retry = !stats_publish(s->snap, &s->st, &v);
}

void
server_set_metrics(struct server *s, struct metrics_snap *snap)
{
    s->snap = snap;
    s->st.timing = snap != NULL;
    server_metrics_publish(s);
}

static void
control_answer(struct server *s, struct conn *c)
{
    struct stats_view v;
    char   *js;

    server_view(s, &v, 1);
    s->obuf.len = 0;
    if ((js = stats_json(&s->st, &v, time(NULL))) == NULL
	|| pbuf_reserve(&s->obuf, strlen(js) + 1) < 0) {
	free(js);
	conn_close(s, c);
	return;
    }
    memcpy(s->obuf.p, js, strlen(js));
    s->obuf.p[strlen(js)] = '\n';
    s->obuf.len = strlen(js) + 1;
    free(js);
    c->closing = 1;
    if (conn_send(s, c) < 0) {
	s->obuf.len = 0;
	conn_close(s, c);
	return;
    }
    conn_settle(s, c);
}

static void
listener_pause(struct server *s, int on)
{
    struct epoll_event ev;
    int     i;

    for (i = 0; i < s->nlis; i++) {
	if (s->lis[i].fd < 0 || s->lis[i].paused == on)
	    continue;
	memset(&ev, 0, sizeof(ev));
	ev.events = on ? 0 : EPOLLIN;
	ev.data.ptr = &s->lis[i];
	if (epoll_ctl(s->ep, EPOLL_CTL_MOD, s->lis[i].fd, &ev) == 0)
	    s->lis[i].paused = on;
    }
    s->resume_accept = on ? s->now + 100 : 0;
}

static void
listener_accept(struct server *s, struct listener *l)
{
    int     i, fd;
    struct conn *c;
    time_t  t;
    struct sockaddr_storage ss;
    socklen_t sslen;

    for (i = 0; i < 64; i++) {
	sslen = sizeof(ss);
	fd = accept4(l->fd, (struct sockaddr *) &ss, &sslen,
		     SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
	    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
		|| errno == ECONNABORTED)
		return;
	    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS
		|| errno == ENOMEM) {
		t = time(NULL);
		if (t - s->last_limit_warn >= SERVER_WARN_EVERY) {
		    log_warn_errno("accept (raise the open file limit, or"
				   " lower fwdmapd.max_connections)");
		    s->last_limit_warn = t;
		}
		listener_pause(s, 1);
		return;
	    }
	    log_warn_errno("accept");
	    return;
	}
	if (l->control) {
	    if (s->ncontrol >= SERVER_MAX_CONTROL
		|| (c = conn_new(s, fd, 1)) == NULL) {
		close(fd);
		continue;
	    }
	    snprintf(c->peer, sizeof(c->peer), "control fd %d", fd);
	    control_answer(s, c);
	    continue;
	}
	if (s->nconns >= (unsigned) s->conf->fwdmapd.max_connections) {
	    s->st.conn_rejected++;
	    close(fd);
	    t = time(NULL);
	    if (t - s->last_limit_warn >= SERVER_WARN_EVERY) {
		log_warn("connection limit %d reached: refusing connections"
			 " (fwdmapd.max_connections)",
			 s->conf->fwdmapd.max_connections);
		s->last_limit_warn = t;
	    }
	    continue;
	}
	if ((c = conn_new(s, fd, 0)) == NULL) {
	    log_warn_errno("cannot register connection");
	    close(fd);
	    continue;
	}
	conn_peer(c, &ss, sslen);
	c->policy = l->policy;
	s->st.conn_accepted++;
	if (l->policy)
	    s->st.policy.conn_accepted++;
    }
}

/* Close connections that are idle too long or stuck in a request. */
static void
server_scan(struct server *s)
{
    struct conn *c, *next;
    uint64_t idle = (uint64_t) s->conf->fwdmapd.idle_timeout * 1000;
    uint64_t req = (uint64_t) s->conf->fwdmapd.request_timeout * 1000;

    for (c = s->conns; c; c = next) {
	next = c->next;
	if (c->busy && s->now - c->busy >= req) {
	    log_warn("%s: request not finished within %d s; closing",
		     conn_name(c), s->conf->fwdmapd.request_timeout);
	    s->st.conn_timeouts++;
	    conn_close(s, c);
	} else if (!c->busy && s->now - c->last >= idle) {
	    log_debug("%s: idle for %d s; closing", conn_name(c),
		      s->conf->fwdmapd.idle_timeout);
	    s->st.conn_timeouts++;
	    conn_close(s, c);
	}
    }
}

static int
str_differs(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
	return (a != b);
    return (strcmp(a, b) != 0);
}

/*
 * SIGHUP, SRS: the srs section and the secrets file again (rotation: a new
 * first line signs, the old ones still verify).  On failure the running
 * SRS object stays.  Secrets never reach the log.
 */
static void
server_reload_srs(struct server *s)
{
    struct srs *ns;
    char    err[1024];

    ns = srs_query_open(s->conf, geteuid(), err, sizeof(err));
    if (ns == NULL && err[0]) {
	log_error("SIGHUP: %s; keeping the running SRS settings and secrets%s",
		  err, s->srs ? "" : " (none: SRS stays off)");
	return;
    }
    if (ns == NULL && s->srs)
	log_info("SIGHUP: srs.domain unset: SRS off");
    else if (ns)
	log_info("SIGHUP: SRS domain %s, %zu secret(s) read from %s",
		 srs_domain(ns), srs_nsecrets(ns), s->conf->srs.secrets_file);
    srs_free(s->srs);
    s->srs = ns;
}

void
server_set_srs(struct server *s, struct srs *srs)
{
    srs_free(s->srs);
    s->srs = srs;
}

/* SIGHUP: take what can change without a new socket or new privileges. */
static void
server_reconfigure(struct server *s)
{
    struct conf *nc, *oc = s->conf;
    char    err[1024];
    int     dir_changed;

    if ((nc = conf_load(oc->path, err, sizeof(err))) == NULL) {
	log_error("SIGHUP: %s; keeping the running configuration", err);
	return;
    }
#define KEEP_STR(f) do { \
	if (str_differs(oc->fwdmapd.f, nc->fwdmapd.f)) \
	    log_warn("SIGHUP: fwdmapd." #f " changed; that needs a restart," \
		     " keeping the old value"); \
	free(nc->fwdmapd.f); \
	nc->fwdmapd.f = oc->fwdmapd.f; \
	oc->fwdmapd.f = NULL; \
    } while (0)
    KEEP_STR(listen);
    KEEP_STR(control);
    KEEP_STR(policy_listen);
    KEEP_STR(user);
    KEEP_STR(socket_group);
    KEEP_STR(metrics_listen);
    if (oc->fwdmapd.socket_mode != nc->fwdmapd.socket_mode) {
	log_warn("SIGHUP: fwdmapd.socket_mode changed; that needs a restart,"
		 " keeping the old value");
	nc->fwdmapd.socket_mode = oc->fwdmapd.socket_mode;
    }
#undef KEEP_STR
    dir_changed = strcmp(oc->maps_dir, nc->maps_dir) != 0;
    s->conf = nc;
    if (server_rbuf(s) < 0) {
	log_error("SIGHUP: out of memory; keeping max_request");
	nc->fwdmapd.max_request = oc->fwdmapd.max_request;
    }
    conf_free(oc);
    log_info("SIGHUP: configuration %s re-read", nc->path);
    server_reload_srs(s);
    if (dir_changed) {
	gen_watch_forget(&s->gw);
	gen_watch_reload(&s->gw, s->conf->maps_dir, s->now, 1);
    }
}

static void
server_stop(struct server *s)
{
    struct conn *c, *next;
    int     i;
    uint64_t grace = (uint64_t) s->conf->fwdmapd.request_timeout * 1000;

    if (s->stopping)
	return;
    s->stopping = 1;
    s->stop_deadline = s->now + (grace < 10000 ? grace : 10000);
    for (i = 0; i < s->nlis; i++) {
	if (s->lis[i].fd >= 0) {
	    epoll_ctl(s->ep, EPOLL_CTL_DEL, s->lis[i].fd, NULL);
	    close(s->lis[i].fd);
	    s->lis[i].fd = -1;
	}
    }
    for (c = s->conns; c; c = next) {
	next = c->next;
	if (c->in.len == 0 && c->out.len == c->outoff)
	    conn_close(s, c);
    }
    log_info("stopping: %u connection(s) with requests in flight",
	     s->nconns + s->ncontrol);
}

static void
server_signal(struct server *s)
{
    struct signalfd_siginfo si;

    while (read(s->sigfd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
	switch (si.ssi_signo) {
	case SIGHUP:
	    server_reconfigure(s);
	    break;
	case SIGTERM:
	case SIGINT:
	    log_info("%s received", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
	    server_stop(s);
	    break;
	default:
	    break;
	}
    }
}

struct server *
server_create(struct conf *conf, int sigfd, char *err, size_t errlen)
{
    struct server *s;

    if ((s = calloc(1, sizeof(*s))) == NULL) {
	snprintf(err, errlen, "out of memory");
	return (NULL);
    }
    if (bus_install() < 0) {
	snprintf(err, errlen, "sigaction SIGBUS: %s", strerror(errno));
	free(s);
	return (NULL);
    }
    s->conf = conf;
    gen_watch_init(&s->gw, &s->st);
    s->sigfd = sigfd;
    s->sigev.type = EV_SIGNAL;
    s->tev.type = EV_TIMER;
    s->tfd = -1;
    s->st.started = time(NULL);
    s->now = (uint64_t) mono_ms();
    if ((s->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
	snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
	free(s);
	return (NULL);
    }
    if (server_rbuf(s) < 0) {
	snprintf(err, errlen, "out of memory");
	goto bad;
    }
    if (sigfd >= 0 && server_watch(s, sigfd, &s->sigev) < 0) {
	snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
	goto bad;
    }
    /* Without a timerfd, epoll_wait() sleeps with a timeout instead. */
    if ((s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) >= 0
	&& server_watch(s, s->tfd, &s->tev) < 0) {
	close(s->tfd);
	s->tfd = -1;
    }
    gen_watch_reload(&s->gw, conf->maps_dir, s->now, 1);
    s->next_scan = s->now + SERVER_SCAN_MS;
    s->gw.next_reload = s->now + (uint64_t) conf->fwdmapd.reload_check_ms;
    return (s);

bad:
    s->conf = NULL;				/* stays the caller's */
    server_free(s);
    return (NULL);
}

int
server_add_listener(struct server *s, int fd, int kind)
{
    struct listener *l;

    if (s->nlis >= SERVER_MAX_LISTEN) {
	errno = EMFILE;
	return (-1);
    }
    l = &s->lis[s->nlis];
    l->ev.type = EV_LISTEN;
    l->fd = fd;
    l->control = kind == SERVER_L_CONTROL;
    l->policy = kind == SERVER_L_POLICY;
    if (server_watch(s, fd, l) < 0)
	return (-1);
    s->nlis++;
    return (0);
}

/*
 * How long epoll_wait() may sleep: until the next timeout scan, reload
 * check, resumed accept, stop deadline or snapshot retry.  A timeout
 * given to epoll_wait() arms and cancels a kernel timer on every sleep,
 * that is for every request of a client that sends one at a time (as
 * Postfix does): measured on this project's VM, nullmap with a 100 ms
 * timeout used 4-7% more CPU per sequential request than without.  So
 * the deadline goes to a timerfd, re-armed only when it moves (about
 * ten times a second), and epoll_wait() sleeps without a timeout.
 */
static int
server_timeout(struct server *s)
{
    uint64_t next = s->next_scan;

    if (s->gw.next_reload < next)
	next = s->gw.next_reload;
    if (s->resume_accept && s->resume_accept < next)
	next = s->resume_accept;
    if (s->stopping && s->stop_deadline < next)
	next = s->stop_deadline;
    if (s->snap_retry && s->now + SERVER_SNAP_RETRY_MS < next)
	next = s->now + SERVER_SNAP_RETRY_MS;
    if (next <= s->now)
	return (0);
    if (s->tfd >= 0) {
	struct itimerspec its;

	if (next == s->armed)
	    return (-1);
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t) (next / 1000);
	its.it_value.tv_nsec = (long) (next % 1000) * 1000000L;
	if (timerfd_settime(s->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0) {
	    s->armed = next;
	    return (-1);
	}
	log_warn("timerfd_settime: %s; waiting with timeouts", strerror(errno));
	close(s->tfd);
	s->tfd = -1;
    }
    return ((int) (next - s->now));
}

/* Answer the oldest input held. */
static void
held_pop(struct server *s, struct held_queue *hq)
{
    struct held *h = &hq->q[hq->head];
    const struct held *next = hq->n > 1 ?
    &hq->q[(hq->head + 1) % SERVER_HELD] : NULL;

    /* Defensive: nothing closes a held client before it is answered
     * (signals flush first), but a closed one has nothing due. */
    if (h->c != NULL && h->c->ev.type == EV_CONN)
	conn_process(s, h->c, s->rbuf + (size_t) hq->head * s->rbufsz, h->len,
		     next);
    h->c = NULL;
    hq->head = (hq->head + 1) % SERVER_HELD;
    hq->n--;
}

/* Answer every input held (before anything that may resize rbuf). */
static void
held_flush(struct server *s, struct held_queue *hq)
{
    while (hq->n > 0)
	held_pop(s, hq);
}

/* more: other events follow in this batch. */
static void
conn_read(struct server *s, struct conn *c, struct held_queue *hq, int more)
{
    int     part = (hq->head + hq->n) % SERVER_HELD;
    char   *buf = s->rbuf + (size_t) part * s->rbufsz;
    struct held *h = &hq->q[part];
    size_t  len;

    if ((len = conn_fill(s, c, buf)) == 0)
	return;
    /* Alone (one client asking at a time), there is nothing to overlap:
     * answer at once, without the cost of the hints. */
    if (hq->n == 0 && !more) {
	conn_process(s, c, buf, len, NULL);
	return;
    }
    h->c = c;
    h->len = len;
    h->epoch = s->gw.epoch;
    h->npf = c->policy ? 0 : proto_prefetch(s->gw.gen,
					    s->conf->recipient_delimiter,
					    (size_t) s->conf->fwdmapd.max_request,
					    buf, len, h->pf);
    if (++hq->n == SERVER_HELD)
	held_pop(s, hq);
}

int
server_run(struct server *s)
{
    struct epoll_event evs[256];
    struct held_queue hq;
    int     n, i;

    memset(&hq, 0, sizeof(hq));

    for (;;) {
	if (s->stopping && (s->conns == NULL || s->now >= s->stop_deadline))
	    break;
	n = epoll_wait(s->ep, evs, (int) (sizeof(evs) / sizeof(evs[0])),
		       server_timeout(s));
	if (n < 0) {
	    if (errno == EINTR)
		continue;
	    log_error("epoll_wait: %s", strerror(errno));
	    return (-1);
	}
	s->now = (uint64_t) mono_ms();
	for (i = 0; i < n; i++) {
	    struct evsrc *src = evs[i].data.ptr;

	    /* A signal may resize rbuf: answer the held clients first. */
	    if (src->type != EV_CONN && src->type != EV_DEAD)
		held_flush(s, &hq);
	    if (src->type == EV_SIGNAL) {
		server_signal(s);
	    } else if (src->type == EV_TIMER) {
		uint64_t ticks;

		/* Only to clear it: the deadlines are checked below. */
		if (read(s->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		    log_warn("timerfd read: %s", strerror(errno));
		s->armed = 0;
	    } else if (src->type == EV_LISTEN) {
		struct listener *l = (struct listener *) src;

		if (l->fd >= 0)
		    listener_accept(s, l);
	    } else if (src->type == EV_CONN) {
		struct conn *c = (struct conn *) src;

		if (evs[i].events & EPOLLOUT)
		    conn_write(s, c);
		else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		    conn_read(s, c, &hq, i + 1 < n);
	    }
	}
	held_flush(s, &hq);
	conn_reap(s);
	if (s->now >= s->next_scan) {
	    server_scan(s);
	    s->next_scan = s->now + SERVER_SCAN_MS;
	}
	if (s->now >= s->gw.next_reload) {
	    gen_watch_reload(&s->gw, s->conf->maps_dir, s->now, 0);
	    s->gw.next_reload = s->now + (uint64_t) s->conf->fwdmapd.reload_check_ms;
	}
	if (s->resume_accept && s->now >= s->resume_accept && !s->stopping)
	    listener_pause(s, 0);
	conn_reap(s);
	server_metrics_publish(s);
    }
    if (s->conns)
	log_warn("stopping with %u unfinished connection(s)",
		 s->nconns + s->ncontrol);
    log_info("stopped");
    return (0);
}

void
server_free(struct server *s)
{
    int     i;

    if (s == NULL)
	return;
    while (s->conns)
	conn_close(s, s->conns);
    conn_reap(s);
    for (i = 0; i < s->nlis; i++)
	if (s->lis[i].fd >= 0)
	    close(s->lis[i].fd);
    gen_watch_free(&s->gw);
    if (s->ep >= 0)
	close(s->ep);
    if (s->sigfd >= 0)
	close(s->sigfd);
    if (s->tfd >= 0)
	close(s->tfd);
    free(s->rbuf);
    pbuf_free(&s->obuf);
    if (s->conf)
	conf_free(s->conf);
    srs_free(s->srs);
    free(s);
}

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
 * The generation is swapped only between two calls of proto_run(), never
 * inside one, so every request is answered from exactly one generation.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <setjmp.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "map.h"
#include "netstr.h"
#include "proto.h"
#include "server.h"
#include "stats.h"

#define EV_LISTEN	1
#define EV_CONN		2
#define EV_SIGNAL	3
#define EV_DEAD		4	/* closed; freed after the current batch */

#define SERVER_MAX_LISTEN	16
#define SERVER_READ_EXTRA	65536	/* read buffer beyond one request */
#define SERVER_OUT_HIGH		65536	/* stop answering above this */
#define SERVER_MAX_CONTROL	16
#define SERVER_SCAN_MS		1000	/* timeout scan interval */
#define SERVER_WARN_EVERY	10	/* seconds between repeated warnings */
#define SERVER_REGRESS_MS	5000	/* wait for a newer generation than an older one */

struct evsrc {
    int     type;
};

struct listener {
    struct evsrc ev;
    int     fd;
    int     control;
    int     paused;
};

struct conn {
    struct evsrc ev;
    int     fd;
    int     control;
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

/* Signature of the published files, to retry a bad one only if it changed. */
struct gen_sig {
    int     valid;
    struct stat base, delta;
    int     has_base, has_delta;
};

struct server {
    struct conf *conf;
    int     ep;
    struct evsrc sigev;
    int     sigfd;
    struct listener lis[SERVER_MAX_LISTEN];
    int     nlis;
    struct conn *conns;		/* list of all connections */
    struct conn *dead;		/* closed, to free after this batch */
    unsigned nconns;		/* socketmap clients */
    unsigned ncontrol;		/* admin clients */
    char   *rbuf;
    size_t  rbufsz;
    struct pbuf obuf;		/* replies being built */
    struct map_gen *gen;
    char   *gen_dir;		/* the maps_dir gen (and pending) came from */
    struct map_gen *pending;	/* verified, but older than gen: waiting */
    uint64_t pending_since;	/* ms */
    time_t  gen_loaded;
    struct gen_sig bad;		/* last generation that failed */
    char    last_error[512];
    int     said_missing;	/* logged "no generation yet" */
    struct stats st;
    uint64_t now;
    uint64_t next_scan;
    uint64_t next_reload;
    uint64_t resume_accept;	/* ms; 0 when accepting */
    time_t  last_limit_warn;
    int     stopping;
    uint64_t stop_deadline;
};

static uint64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000);
}

/* Size the shared read buffer for max_request. */
static int
server_rbuf(struct server *s)
{
    size_t  need = (size_t) s->conf->fwdmapd.max_request + NETSTR_MAX_DIGITS
	+ 2 + SERVER_READ_EXTRA;
    char   *p;

    if (need <= s->rbufsz)
	return (0);
    if ((p = realloc(s->rbuf, need)) == NULL)
	return (-1);
    s->rbuf = p;
    s->rbufsz = need;
    return (0);
}

/*
 * SIGBUS.  The tables are mapped files; a file truncated or overwritten in
 * place while mapped (cp over it, a full disk, an editor) makes the next
 * access to a page beyond its new end raise SIGBUS.  Accesses to the maps
 * are bracketed: the handler jumps back to the bracket, which drops the
 * generation (answering TEMP until a good one is published) instead of
 * letting the daemon die.  A SIGBUS outside a bracket is a bug: default
 * action.  Nothing in a bracket holds a lock or allocates.
 */
static sigjmp_buf bus_env;
static volatile sig_atomic_t bus_armed;

static void
on_sigbus(int sig)
{
    if (bus_armed) {
	bus_armed = 0;
	siglongjmp(bus_env, 1);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Run fn(arg) with SIGBUS caught: 0, or -1 when fn was cut short. */
static int
bus_guard(void (*fn) (void *), void *arg)
{
    void    (*volatile vfn) (void *) = fn;
    void   *volatile varg = arg;

    if (sigsetjmp(bus_env, 1) != 0)
	return (-1);
    bus_armed = 1;
    vfn(varg);
    bus_armed = 0;
    return (0);
}

static int
bus_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigbus;
    sigemptyset(&sa.sa_mask);
    return (sigaction(SIGBUS, &sa, NULL));
}

/*
 * Generations.
 */

static void
gen_sig_take(const char *dir, struct gen_sig *g)
{
    char    path[4096];

    memset(g, 0, sizeof(*g));
    g->valid = 1;
    snprintf(path, sizeof(path), "%s/%s", dir, MAP_BASE_NAME);
    g->has_base = stat(path, &g->base) == 0;
    snprintf(path, sizeof(path), "%s/%s", dir, MAP_DELTA_NAME);
    g->has_delta = stat(path, &g->delta) == 0;
}

static int
stat_same(const struct stat *a, const struct stat *b)
{
    return (a->st_dev == b->st_dev && a->st_ino == b->st_ino
	    && a->st_size == b->st_size
	    && a->st_mtim.tv_sec == b->st_mtim.tv_sec
	    && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec);
}

static int
gen_sig_same(const struct gen_sig *a, const struct gen_sig *b)
{
    if (!a->valid || !b->valid)
	return (0);
    if (a->has_base != b->has_base || a->has_delta != b->has_delta)
	return (0);
    if (a->has_base && !stat_same(&a->base, &b->base))
	return (0);
    if (a->has_delta && !stat_same(&a->delta, &b->delta))
	return (0);
    return (1);
}

/* Serial of what a generation answers from: its delta's, else its base's. */
static uint64_t
gen_serial(const struct map_gen *g)
{
    const struct map_meta *dm = map_gen_delta_meta(g);

    return (dm ? dm->serial : map_gen_meta(g)->serial);
}

struct refresh_job {
    const char *dir;
    struct map_gen *prev, **out;
    struct map_gen *volatile building;	/* half-built, if cut short */
    char   *err;
    size_t  errlen;
    int     ret;
};

static void
refresh_job(void *arg)
{
    struct refresh_job *j = arg;

    j->ret = map_gen_refresh_track(j->dir, j->prev, j->out, &j->building,
				   j->err, j->errlen);
}

struct answer_job {
    struct proto_ctx *ctx;
    const char *data;
    size_t  len;
    struct pbuf *out;
    int     status;
    const char *why;
    size_t  used;
};

static void
answer_job(void *arg)
{
    struct answer_job *j = arg;

    j->out->len = 0;
    j->used = proto_run(j->ctx, j->data, j->len, j->out, SERVER_OUT_HIGH,
			&j->status, &j->why);
}

/* A mapped table file shrank under us: stop using the generation. */
static void
server_gen_lost(struct server *s)
{
    s->st.reload_failures++;
    snprintf(s->last_error, sizeof(s->last_error), "%s",
	     "a table file was truncated or overwritten in place while in use");
    log_error("SIGBUS reading the tables in %s: %s (publish by rename, never"
	      " copy over a live file); answering TEMP until a good generation"
	      " is published", s->gen_dir ? s->gen_dir : s->conf->maps_dir,
	      s->last_error);
    if (s->pending) {
	map_gen_close(s->pending);
	s->pending = NULL;
    }
    if (s->gen) {
	map_gen_close(s->gen);
	s->gen = NULL;
    }
    memset(&s->bad, 0, sizeof(s->bad));
    s->next_reload = 0;			/* look again at once */
}

/* Look for a new generation; switch to it when it verifies and is not
 * older than the one being served. */
static void
server_reload_gen(struct server *s, int force)
{
    struct map_gen *ng = NULL, *ref;
    struct gen_sig sig;
    int     same_dir;
    char   *ndir;
    struct refresh_job rj;
    const struct map_meta *m, *dm;
    char    err[512];
    const char *dir = s->conf->maps_dir;

    same_dir = s->gen_dir != NULL && strcmp(s->gen_dir, dir) == 0;
    if (!same_dir && s->pending) {	/* maps_dir changed (SIGHUP) */
	map_gen_close(s->pending);
	s->pending = NULL;
    }
    ref = s->pending ? s->pending : s->gen;
    if (ref && same_dir && !force && !map_gen_stale(ref)
	&& (s->pending == NULL || s->now < s->pending_since + SERVER_REGRESS_MS))
	return;
    gen_sig_take(dir, &sig);
    if (!force && gen_sig_same(&sig, &s->bad))
	return;					/* known bad, unchanged */
    if (!sig.has_base && !s->gen) {
	if (!s->said_missing)
	    log_warn("no generation in %s yet (%s missing): answering TEMP"
		     " until one is published", dir, MAP_BASE_NAME);
	s->said_missing = 1;
	s->bad = sig;
	snprintf(s->last_error, sizeof(s->last_error),
		 "no generation in %s", dir);
	return;
    }
    err[0] = 0;
    rj.dir = dir;
    rj.prev = same_dir ? ref : NULL;
    rj.out = &ng;
    rj.err = err;
    rj.errlen = sizeof(err);
    rj.building = NULL;
    if (bus_guard(refresh_job, &rj) < 0) {
	/* A file shrank while being verified: close what was built so
	 * far (its files, mappings and its reference on a shared base).
	 * The generation being served is not touched here; if its own
	 * files shrank, its next lookup finds out. */
	map_gen_close(rj.building);
	s->st.reload_failures++;
	s->bad = sig;
	snprintf(s->last_error, sizeof(s->last_error), "%s",
		 "a table file shrank while being read (SIGBUS)");
	log_warn("new generation in %s rejected: %s", dir, s->last_error);
	return;
    }
    if (rj.ret < 0) {
	s->st.reload_failures++;
	s->bad = sig;
	snprintf(s->last_error, sizeof(s->last_error), "%s",
		 err[0] ? err : "cannot open generation");
	if (s->gen)
	    log_warn("new generation in %s rejected: %s; still serving"
		     " serial %llu", dir, s->last_error,
		     (unsigned long long) map_gen_meta(s->gen)->serial);
	else
	    log_warn("cannot load a generation from %s: %s; answering TEMP",
		     dir, s->last_error);
	return;
    }
    /*
     * Never go back in time on a glimpse: ldapsync's compaction renames
     * the new base into place and then writes the delta of what changed
     * meanwhile.  Between the two, the new base alone is older than the
     * base and delta being served.  Keep serving those until the new
     * delta is there; switch anyway after SERVER_REGRESS_MS (tables
     * restored from a backup, or republished from scratch).
     */
    if (s->gen && same_dir && gen_serial(ng) < gen_serial(s->gen)) {
	if (s->pending == NULL) {
	    s->pending_since = s->now;
	    log_info("generation serial %llu in %s is older than serial %llu"
		     " being served: waiting up to %d ms for a newer one",
		     (unsigned long long) gen_serial(ng), dir,
		     (unsigned long long) gen_serial(s->gen), SERVER_REGRESS_MS);
	}
	if (s->now < s->pending_since + SERVER_REGRESS_MS) {
	    if (s->pending)
		map_gen_close(s->pending);
	    s->pending = ng;
	    return;
	}
	log_warn("serial in %s went back from %llu to %llu and stayed"
		 " (tables restored or republished from scratch?): switching",
		 dir, (unsigned long long) gen_serial(s->gen),
		 (unsigned long long) gen_serial(ng));
    }
    if (s->pending) {
	map_gen_close(s->pending);
	s->pending = NULL;
    }
    m = map_gen_meta(ng);
    dm = map_gen_delta_meta(ng);
    if (dm)
	log_info("loaded generation serial %llu + delta serial %llu from %s"
		 " (domains %lu, recipients %lu, virtual %lu, transport %lu)",
		 (unsigned long long) m->serial,
		 (unsigned long long) dm->serial, dir,
		 m->counts[0], m->counts[1], m->counts[2], m->counts[3]);
    else
	log_info("loaded generation serial %llu from %s (domains %lu,"
		 " recipients %lu, virtual %lu, transport %lu)",
		 (unsigned long long) m->serial, dir,
		 m->counts[0], m->counts[1], m->counts[2], m->counts[3]);
    if ((ndir = strdup(dir)) == NULL) {
	log_error("out of memory switching generations; still serving the old one");
	map_gen_close(ng);
	return;
    }
    free(s->gen_dir);
    s->gen_dir = ndir;
    if (s->gen)
	map_gen_close(s->gen);
    s->gen = ng;
    s->gen_loaded = time(NULL);
    s->st.reloads++;
    s->said_missing = 0;
    s->last_error[0] = 0;
    memset(&s->bad, 0, sizeof(s->bad));
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

/* Answer the requests in data[0..len); keep the rest.  0 ok, -1 closed. */
static int
conn_process(struct server *s, struct conn *c, const char *data, size_t len)
{
    struct proto_ctx ctx;
    size_t  used;
    int     status;
    const char *why;

    ctx.gen = s->gen;
    ctx.delims = s->conf->recipient_delimiter;
    ctx.propagate = s->conf->propagate_extensions;
    ctx.max_request = (size_t) s->conf->fwdmapd.max_request;
    ctx.st = &s->st;
    for (;;) {
	struct answer_job j = {&ctx, data, len, &s->obuf, 0, NULL, 0};
	struct stats_map saved[STATS_NMAPS];
	uint64_t saved_perr = s->st.proto_errors;

	memcpy(saved, s->st.map, sizeof(saved));
	if (bus_guard(answer_job, &j) < 0) {
	    /* SIGBUS in a lookup: answer these requests again without the
	     * generation (TEMP), from the same input, counting them once. */
	    memcpy(s->st.map, saved, sizeof(saved));
	    s->st.proto_errors = saved_perr;
	    server_gen_lost(s);
	    ctx.gen = NULL;
	    answer_job(&j);
	}
	used = j.used;
	status = j.status;
	why = j.why;
	if (status == PROTO_NOMEM) {
	    log_warn("%s: out of memory; closing", conn_name(c));
	    s->obuf.len = 0;
	    conn_close(s, c);
	    return (-1);
	}
	if (status == PROTO_CLOSE) {
	    log_warn("%s: protocol error: %s; answered PERM, closing",
		     conn_name(c), why);
	    c->closing = 1;
	    used = len;
	}
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

static void
conn_read(struct server *s, struct conn *c)
{
    size_t  off = c->in.len;
    ssize_t n;

    if (off >= s->rbufsz) {			/* cannot happen */
	log_warn("%s: input buffer overrun; closing", conn_name(c));
	conn_close(s, c);
	return;
    }
    if (off)
	memcpy(s->rbuf, c->in.p, off);
    n = read(c->fd, s->rbuf + off, s->rbufsz - off);
    if (n < 0) {
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
	    return;
	log_debug("%s: read: %s", conn_name(c), strerror(errno));
	conn_close(s, c);
	return;
    }
    if (n == 0) {
	if (off)
	    log_warn("%s: end of file in the middle of a request", conn_name(c));
	conn_close(s, c);
	return;
    }
    c->last = s->now;
    c->in.len = 0;
    conn_process(s, c, s->rbuf, off + (size_t) n);
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
	conn_process(s, c, c->in.p, len);
	return;
    }
    conn_settle(s, c);
}

static struct conn *
conn_new(struct server *s, int fd, int control)
{
    struct conn *c;
    struct epoll_event ev;

    if ((c = calloc(1, sizeof(*c))) == NULL)
	return (NULL);
    c->ev.type = EV_CONN;
    c->fd = fd;
    c->control = control;
    c->last = s->now;
    c->events = EPOLLIN;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = c;
    if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
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
static void
control_answer(struct server *s, struct conn *c)
{
    struct stats_view v;
    const struct map_meta *m, *dm;
    char   *js;

    struct conn *o;

    memset(&v, 0, sizeof(v));
    v.conn_current = s->nconns;
    for (o = s->conns; o; o = o->next)
	if (!o->control && o->busy)
	    v.conn_busy++;
    v.conn_max = (unsigned) s->conf->fwdmapd.max_connections;
    v.maps_dir = s->conf->maps_dir;
    v.last_error = s->last_error[0] ? s->last_error : NULL;
    if (s->gen) {
	m = map_gen_meta(s->gen);
	v.gen_loaded = 1;
	v.serial = m->serial;
	v.created = m->created;
	v.loaded = s->gen_loaded;
	if ((dm = map_gen_delta_meta(s->gen)) != NULL) {
	    v.has_delta = 1;
	    v.delta_serial = dm->serial;
	    v.delta_created = dm->created;
	}
    }
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
	s->st.conn_accepted++;
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
    KEEP_STR(user);
    KEEP_STR(socket_group);
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
    if (dir_changed) {
	memset(&s->bad, 0, sizeof(s->bad));
	s->said_missing = 0;
	server_reload_gen(s, 1);
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
    struct epoll_event ev;

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
    s->sigfd = sigfd;
    s->sigev.type = EV_SIGNAL;
    s->st.started = time(NULL);
    s->now = mono_ms();
    if ((s->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
	snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
	free(s);
	return (NULL);
    }
    if (server_rbuf(s) < 0) {
	snprintf(err, errlen, "out of memory");
	goto bad;
    }
    if (sigfd >= 0) {
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = &s->sigev;
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, sigfd, &ev) < 0) {
	    snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
	    goto bad;
	}
    }
    server_reload_gen(s, 1);
    s->next_scan = s->now + SERVER_SCAN_MS;
    s->next_reload = s->now + (uint64_t) conf->fwdmapd.reload_check_ms;
    return (s);

bad:
    s->conf = NULL;				/* stays the caller's */
    server_free(s);
    return (NULL);
}

int
server_add_listener(struct server *s, int fd, int control)
{
    struct listener *l;
    struct epoll_event ev;

    if (s->nlis >= SERVER_MAX_LISTEN) {
	errno = EMFILE;
	return (-1);
    }
    l = &s->lis[s->nlis];
    l->ev.type = EV_LISTEN;
    l->fd = fd;
    l->control = control;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = l;
    if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
	return (-1);
    s->nlis++;
    return (0);
}

static int
server_timeout(struct server *s)
{
    uint64_t next = s->next_scan;

    if (s->next_reload < next)
	next = s->next_reload;
    if (s->resume_accept && s->resume_accept < next)
	next = s->resume_accept;
    if (s->stopping && s->stop_deadline < next)
	next = s->stop_deadline;
    return (next <= s->now ? 0 : (int) (next - s->now));
}

int
server_run(struct server *s)
{
    struct epoll_event evs[256];
    int     n, i;

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
	s->now = mono_ms();
	for (i = 0; i < n; i++) {
	    struct evsrc *src = evs[i].data.ptr;

	    if (src->type == EV_SIGNAL) {
		server_signal(s);
	    } else if (src->type == EV_LISTEN) {
		struct listener *l = (struct listener *) src;

		if (l->fd >= 0)
		    listener_accept(s, l);
	    } else if (src->type == EV_CONN) {
		struct conn *c = (struct conn *) src;

		if (evs[i].events & EPOLLOUT)
		    conn_write(s, c);
		else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		    conn_read(s, c);
	    }
	}
	conn_reap(s);
	if (s->now >= s->next_scan) {
	    server_scan(s);
	    s->next_scan = s->now + SERVER_SCAN_MS;
	}
	if (s->now >= s->next_reload) {
	    server_reload_gen(s, 0);
	    s->next_reload = s->now + (uint64_t) s->conf->fwdmapd.reload_check_ms;
	}
	if (s->resume_accept && s->now >= s->resume_accept && !s->stopping)
	    listener_pause(s, 0);
	conn_reap(s);
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
    if (s->gen)
	map_gen_close(s->gen);
    if (s->pending)
	map_gen_close(s->pending);
    free(s->gen_dir);
    if (s->ep >= 0)
	close(s->ep);
    if (s->sigfd >= 0)
	close(s->sigfd);
    free(s->rbuf);
    pbuf_free(&s->obuf);
    if (s->conf)
	conf_free(s->conf);
    free(s);
}

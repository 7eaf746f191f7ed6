/*
 * nullmap.c - the floor for any socketmap server: answers NOTFOUND to
 * every request without looking anything up.
 *
 * SYNOPSIS
 *	nullmap -s ENDPOINT [-s ENDPOINT ...] [-c MAXCONNS] [-T MS] [-t CDB]
 *
 * DESCRIPTION
 *	Listens on each ENDPOINT (unix:PATH or inet:HOST:PORT, the socket
 *	types fwdmapd serves: non-blocking SOCK_STREAM sockets, accepted
 *	with accept4) and runs one level-triggered epoll loop in one
 *	process, like fwdmapd: epoll_wait, then for each ready connection
 *	one read into a shared buffer and one send with the replies to every
 *	complete request in it.  Each request must be a netstring
 *	("LEN:name key,", at most 100,000 bytes, as Postfix's socketmap
 *	client sends); its reply is "9:NOTFOUND ,".  A malformed request gets
 *	"5:PERM ," and the connection is closed.  Output the client does not
 *	take is kept and the connection is not read until it is sent.
 *
 *	-T MS gives epoll_wait a timeout of MS milliseconds (default: none),
 *	as fwdmapd always has one (its next timeout scan or generation check,
 *	at most fwdmapd.reload_check_ms, 100 ms by default, ahead); so the
 *	cost of the kernel arming and cancelling that timer on every wait can
 *	be measured on its own.
 *
 *	-t CDB makes it the floor of a server that looks its keys up: each
 *	request's key (the text after the first space, as received) is
 *	looked up once in the CDB file with tinycdb (cdb_find() on the
 *	mapped file, as fwdmapd does), and the answer is "OK " and the
 *	value, or NOTFOUND.  No tags, no folding, no delta, no checks: the
 *	cost of one table lookup and a longer reply, nothing else.
 *
 *	So the difference between a benchmark against fwdmapd and the same
 *	benchmark against nullmap is what fwdmapd's lookups, bookkeeping and
 *	protocol checks cost; what is left against nullmap is the cost of
 *	the client, the kernel and the machine.
 *
 *	On SIGTERM or SIGINT it removes its UNIX sockets, prints the number
 *	of requests answered and connections accepted on stderr, and exits 0.
 *	For benchmarks only: no privilege drop, no timeouts.
 */
#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define NM_MAX_LISTEN	16
#define NM_MAX_REQUEST	100000		/* Postfix's socketmap limit */
#define NM_RBUF		(NM_MAX_REQUEST + 16 + 65536)
#define NM_REPLY	"9:NOTFOUND ,"
#define NM_PERM		"5:PERM ,"

#define NM_LISTEN	1
#define NM_CONN		2
#define NM_SIGNAL	3

struct nm_src {
    int     type;
    int     fd;
};

struct nm_conn {
    struct nm_src src;
    char   *in;				/* partial request, if any */
    size_t  inlen;
    char   *out;			/* output not yet taken, if any */
    size_t  outlen, outoff;
    int     closing;
};

static int nm_ep;
static char *nm_rbuf, *nm_obuf;
static size_t nm_obufcap;
static unsigned long long nm_requests, nm_accepted;
static unsigned nm_conns, nm_maxconns = 100000;
static int nm_timeout = -1;
static const char *nm_paths[NM_MAX_LISTEN];
static int nm_npaths;
static struct cdb nm_cdb;		/* -t: the table looked up */
static int nm_lookup;

static void
nm_fatal(const char *what)
{
    fprintf(stderr, "nullmap: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int
nm_listen_unix(const char *path)
{
    struct sockaddr_un sun;
    int     fd;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun.sun_path)) {
	errno = ENAMETOOLONG;
	return (-1);
    }
    strcpy(sun.sun_path, path);
    (void) unlink(path);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
	return (-1);
    if (bind(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0
	|| chmod(path, 0666) < 0 || listen(fd, 4096) < 0) {
	close(fd);
	return (-1);
    }
    nm_paths[nm_npaths++] = path;
    return (fd);
}

static int
nm_listen_inet(const char *spec)
{
    char    host[256], *port;
    struct addrinfo hints, *res, *ai;
    int     fd = -1, on = 1;

    snprintf(host, sizeof(host), "%s", spec);
    if ((port = strrchr(host, ':')) == NULL) {
	errno = EINVAL;
	return (-1);
    }
    *port++ = 0;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host, port, &hints, &res) != 0) {
	errno = EINVAL;
	return (-1);
    }
    for (ai = res; ai; ai = ai->ai_next) {
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0)
	    continue;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == 0
	    && bind(fd, ai->ai_addr, ai->ai_addrlen) == 0
	    && listen(fd, 4096) == 0)
	    break;
	close(fd);
	fd = -1;
    }
    freeaddrinfo(res);
    return (fd);
}

static void
nm_add(struct nm_src *src, uint32_t events)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.ptr = src;
    if (epoll_ctl(nm_ep, EPOLL_CTL_ADD, src->fd, &ev) < 0)
	nm_fatal("epoll_ctl");
}

static void
nm_want(struct nm_conn *c, uint32_t events)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.ptr = c;
    (void) epoll_ctl(nm_ep, EPOLL_CTL_MOD, c->src.fd, &ev);
}

static void
nm_close(struct nm_conn *c)
{
    /* Closing the descriptor removes it from the epoll set. */
    close(c->src.fd);
    free(c->in);
    free(c->out);
    free(c);
    nm_conns--;
}

static void
nm_accept(struct nm_src *l)
{
    int     i, fd;
    struct nm_conn *c;

    for (i = 0; i < 64; i++) {
	if ((fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0)
	    return;
	if (nm_conns >= nm_maxconns || (c = calloc(1, sizeof(*c))) == NULL) {
	    close(fd);
	    continue;
	}
	c->src.type = NM_CONN;
	c->src.fd = fd;
	nm_add(&c->src, EPOLLIN);
	nm_conns++;
	nm_accepted++;
    }
}

/* Append n bytes to the shared output buffer. */
static void
nm_emit(size_t *len, const char *p, size_t n)
{
    if (*len + n > nm_obufcap) {
	while (*len + n > nm_obufcap)
	    nm_obufcap *= 2;
	if ((nm_obuf = realloc(nm_obuf, nm_obufcap)) == NULL)
	    nm_fatal("realloc");
    }
    memcpy(nm_obuf + *len, p, n);
    *len += n;
}

/* -t: answer one request ("name key") from the table. */
static void
nm_find(const char *req, size_t n, size_t *olen)
{
    const char *sp = memchr(req, ' ', n);
    char    head[32];
    size_t  klen, vlen;
    int     hl;

    if (sp == NULL) {
	nm_emit(olen, NM_REPLY, sizeof(NM_REPLY) - 1);
	return;
    }
    klen = n - (size_t) (sp + 1 - req);
    if (cdb_find(&nm_cdb, sp + 1, (unsigned) klen) <= 0) {
	nm_emit(olen, NM_REPLY, sizeof(NM_REPLY) - 1);
	return;
    }
    vlen = cdb_datalen(&nm_cdb);
    hl = snprintf(head, sizeof(head), "%zu:OK ", vlen + 3);
    nm_emit(olen, head, (size_t) hl);
    nm_emit(olen, cdb_getdata(&nm_cdb), vlen);
    nm_emit(olen, ",", 1);
}

/*
 * Answer the complete requests in p[0..len); return how many bytes they
 * took, or -1 (after a PERM reply) when the input is not a netstring.
 */
static long
nm_answer(const char *p, size_t len, size_t *olen)
{
    size_t  off = 0;

    while (off < len) {
	size_t  i = off, n = 0;

	while (i < len && p[i] >= '0' && p[i] <= '9' && i - off < 6)
	    n = n * 10 + (size_t) (p[i++] - '0');
	if (i == len)
	    break;				/* length not complete yet */
	if (p[i] != ':' || i == off || n > NM_MAX_REQUEST) {
	    nm_emit(olen, NM_PERM, sizeof(NM_PERM) - 1);
	    return (-1);
	}
	if (len - i - 1 < n + 1)
	    break;				/* payload not complete yet */
	if (p[i + 1 + n] != ',') {
	    nm_emit(olen, NM_PERM, sizeof(NM_PERM) - 1);
	    return (-1);
	}
	if (nm_lookup)
	    nm_find(p + i + 1, n, olen);
	else
	    nm_emit(olen, NM_REPLY, sizeof(NM_REPLY) - 1);
	nm_requests++;
	off = i + 1 + n + 1;
    }
    return ((long) off);
}

/* Send the shared output; keep what the client did not take. */
static int
nm_send(struct nm_conn *c, size_t len)
{
    ssize_t n;

    if (len == 0)
	return (0);
    n = send(c->src.fd, nm_obuf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
	    return (-1);
	n = 0;
    }
    if ((size_t) n < len) {
	if ((c->out = malloc(len - (size_t) n)) == NULL)
	    return (-1);
	memcpy(c->out, nm_obuf + n, len - (size_t) n);
	c->outlen = len - (size_t) n;
	c->outoff = 0;
	nm_want(c, EPOLLOUT);
    }
    return (0);
}

static void
nm_read(struct nm_conn *c)
{
    size_t  have = c->inlen, olen = 0, rest;
    ssize_t n;
    long    used;

    if (have)
	memcpy(nm_rbuf, c->in, have);
    n = read(c->src.fd, nm_rbuf + have, NM_RBUF - have);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
	return;
    if (n <= 0) {
	nm_close(c);
	return;
    }
    have += (size_t) n;
    used = nm_answer(nm_rbuf, have, &olen);
    if (used < 0) {
	c->closing = 1;
	used = (long) have;
    }
    rest = have - (size_t) used;
    if (rest == 0) {
	free(c->in);
	c->in = NULL;
    } else {
	char   *p = realloc(c->in, rest);

	if (p == NULL) {
	    nm_close(c);
	    return;
	}
	memcpy(p, nm_rbuf + used, rest);
	c->in = p;
    }
    c->inlen = rest;
    if (nm_send(c, olen) < 0 || (c->closing && c->out == NULL))
	nm_close(c);
}

static void
nm_write(struct nm_conn *c)
{
    ssize_t n;

    n = send(c->src.fd, c->out + c->outoff, c->outlen - c->outoff,
	     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
	    return;
	nm_close(c);
	return;
    }
    c->outoff += (size_t) n;
    if (c->outoff < c->outlen)
	return;
    free(c->out);
    c->out = NULL;
    c->outlen = c->outoff = 0;
    if (c->closing) {
	nm_close(c);
	return;
    }
    nm_want(c, EPOLLIN);
}

static void
usage(void)
{
    fprintf(stderr, "usage: nullmap -s unix:PATH|inet:HOST:PORT [-s ...] [-c MAXCONNS] [-T MS] [-t CDB]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    struct nm_src lis[NM_MAX_LISTEN], sig;
    struct epoll_event evs[256];
    sigset_t mask;
    int     ch, nlis = 0, n, i, fd;

    if ((nm_ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
	nm_fatal("epoll_create1");
    while ((ch = getopt(argc, argv, "s:c:T:t:")) != -1) {
	switch (ch) {
	case 's':
	    if (nlis == NM_MAX_LISTEN)
		usage();
	    lis[nlis].type = NM_LISTEN;
	    if (strncmp(optarg, "unix:", 5) == 0)
		lis[nlis].fd = nm_listen_unix(optarg + 5);
	    else if (strncmp(optarg, "inet:", 5) == 0)
		lis[nlis].fd = nm_listen_inet(optarg + 5);
	    else
		usage();
	    if (lis[nlis].fd < 0)
		nm_fatal(optarg);
	    nlis++;
	    break;
	case 'c':
	    nm_maxconns = (unsigned) strtoul(optarg, NULL, 10);
	    break;
	case 'T':
	    nm_timeout = atoi(optarg);
	    break;
	case 't':
	    if ((fd = open(optarg, O_RDONLY | O_CLOEXEC)) < 0
		|| cdb_init(&nm_cdb, fd) < 0)
		nm_fatal(optarg);
	    nm_lookup = 1;
	    break;
	default:
	    usage();
	}
    }
    if (nlis == 0 || optind != argc)
	usage();
    if ((nm_rbuf = malloc(NM_RBUF)) == NULL
	|| (nm_obuf = malloc(nm_obufcap = 65536)) == NULL)
	nm_fatal("malloc");
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    sig.type = NM_SIGNAL;
    if ((sig.fd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0)
	nm_fatal("signalfd");
    nm_add(&sig, EPOLLIN);
    for (i = 0; i < nlis; i++)
	nm_add(&lis[i], EPOLLIN);

    for (;;) {
	if ((n = epoll_wait(nm_ep, evs, 256, nm_timeout)) < 0) {
	    if (errno == EINTR)
		continue;
	    nm_fatal("epoll_wait");
	}
	for (i = 0; i < n; i++) {
	    struct nm_src *src = evs[i].data.ptr;

	    if (src->type == NM_SIGNAL)
		goto done;
	    else if (src->type == NM_LISTEN)
		nm_accept(src);
	    else if (evs[i].events & EPOLLOUT)
		nm_write((struct nm_conn *) src);
	    else
		nm_read((struct nm_conn *) src);
	}
    }
done:
    for (i = 0; i < nm_npaths; i++)
	(void) unlink(nm_paths[i]);
    fprintf(stderr, "nullmap: answered %llu requests on %llu connections\n",
	    nm_requests, nm_accepted);
    return (0);
}

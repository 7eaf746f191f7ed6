/*
 * listen.c - bind listening sockets: fwdmapd endpoints and the metrics
 *	      listeners of both daemons (see listen.h).
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "listen.h"

#define LISTEN_BACKLOG	4096

/* Split "inet:HOST:PORT" into host and port (both in buf). */
static int
listen_split_inet(const char *spec, char *buf, size_t buflen,
		  const char **host, const char **port, char *err,
		  size_t errlen)
{
    char   *colon, *h;

    if (strlen(spec) >= buflen) {
	snprintf(err, errlen, "\"%s\": too long", spec);
	return (-1);
    }
    strcpy(buf, spec + 5);
    if ((colon = strrchr(buf, ':')) == NULL || colon[1] == 0) {
	snprintf(err, errlen, "\"%s\": expected inet:HOST:PORT", spec);
	return (-1);
    }
    *colon = 0;
    *port = colon + 1;
    h = buf;
    if (*h == '[') {
	size_t  n = strlen(h);

	if (n < 3 || h[n - 1] != ']') {
	    snprintf(err, errlen, "\"%s\": bad [address]", spec);
	    return (-1);
	}
	h[n - 1] = 0;
	h++;
    }
    if (*h == 0) {
	snprintf(err, errlen, "\"%s\": the host is missing (use 127.0.0.1"
		 " or [::1], not all addresses)", spec);
	return (-1);
    }
    if (strspn(*port, "0123456789") != strlen(*port)
	|| atoi(*port) < 1 || atoi(*port) > 65535) {
	snprintf(err, errlen, "\"%s\": bad port", spec);
	return (-1);
    }
    *host = h;
    return (0);
}

int
listen_check(const char *spec, char *err, size_t errlen)
{
    struct sockaddr_un sun;
    char    buf[1024];
    const char *host, *port;

    if (strncmp(spec, "unix:", 5) == 0) {
	if (spec[5] != '/') {
	    snprintf(err, errlen, "\"%s\": the path must be absolute", spec);
	    return (-1);
	}
	if (strlen(spec + 5) >= sizeof(sun.sun_path)) {
	    snprintf(err, errlen, "\"%s\": path longer than %zu bytes", spec,
		     sizeof(sun.sun_path) - 1);
	    return (-1);
	}
	return (0);
    }
    if (strncmp(spec, "inet:", 5) == 0)
	return (listen_split_inet(spec, buf, sizeof(buf), &host, &port,
				  err, errlen));
    snprintf(err, errlen, "\"%s\": expected unix:PATH or inet:HOST:PORT",
	     spec);
    return (-1);
}

/* The addresses of "inet:HOST:PORT" to bind, or -1 with a message. */
static int
listen_addrinfo(const char *spec, struct addrinfo **res, char *err,
		size_t errlen)
{
    char    buf[1024];
    const char *host, *port;
    struct addrinfo hints;
    int     r;

    if (listen_split_inet(spec, buf, sizeof(buf), &host, &port, err,
			  errlen) < 0)
	return (-1);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if ((r = getaddrinfo(host, port, &hints, res)) != 0) {
	snprintf(err, errlen, "\"%s\": %s", spec, gai_strerror(r));
	return (-1);
    }
    return (0);
}

int
listen_resolve(const char *spec, char *err, size_t errlen)
{
    struct addrinfo *res;

    if (listen_check(spec, err, errlen) < 0)
	return (-1);
    if (strncmp(spec, "inet:", 5) != 0)
	return (0);
    if (listen_addrinfo(spec, &res, err, errlen) < 0)
	return (-1);
    freeaddrinfo(res);
    return (0);
}

static int
listen_unix(const char *path, mode_t mode, uid_t uid, gid_t gid, int *fdp,
	    char *err, size_t errlen)
{
    struct sockaddr_un sun;
    struct stat st;
    int     fd = -1, probe;
    mode_t  old;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if (lstat(path, &st) == 0) {
	if (!S_ISSOCK(st.st_mode)) {
	    snprintf(err, errlen, "%s exists and is not a socket", path);
	    return (-1);
	}
	/* A stale socket of an earlier run, or a live daemon? */
	if ((probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0) {
	    int     live = connect(probe, (struct sockaddr *) &sun,
				   sizeof(sun)) == 0;

	    close(probe);
	    if (live) {
		snprintf(err, errlen, "%s: another server is listening"
			 " there", path);
		return (-1);
	    }
	}
	if (unlink(path) < 0) {
	    snprintf(err, errlen, "unlink stale socket %s: %s", path,
		     strerror(errno));
	    return (-1);
	}
    }
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		     0)) < 0) {
	snprintf(err, errlen, "socket: %s", strerror(errno));
	return (-1);
    }
    old = umask(0177);			/* nobody else until chmod below */
    if (bind(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0) {
	umask(old);
	snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
	goto bad;
    }
    umask(old);
    if ((uid != (uid_t) -1 || gid != (gid_t) -1) && chown(path, uid, gid) < 0) {
	snprintf(err, errlen, "chown %s: %s", path, strerror(errno));
	goto bad;
    }
    if (chmod(path, mode) < 0) {
	snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
	goto bad;
    }
    if (listen(fd, LISTEN_BACKLOG) < 0) {
	snprintf(err, errlen, "listen %s: %s", path, strerror(errno));
	goto bad;
    }
    *fdp = fd;
    return (0);

bad:
    close(fd);
    unlink(path);
    return (-1);
}

static int
listen_inet(const char *spec, int *fds, int maxfds, char *err, size_t errlen)
{
    struct addrinfo *res = NULL, *ai;
    int     n = 0, fd, on = 1;

    if (listen_addrinfo(spec, &res, err, errlen) < 0)
	return (-1);
    for (ai = res; ai && n < maxfds; ai = ai->ai_next) {
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK
		    | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0) {
	    snprintf(err, errlen, "socket: %s", strerror(errno));
	    goto bad;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0
	    || (ai->ai_family == AF_INET6
		&& setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
			      sizeof(on)) < 0)) {
	    snprintf(err, errlen, "setsockopt: %s", strerror(errno));
	    close(fd);
	    goto bad;
	}
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0
	    || listen(fd, LISTEN_BACKLOG) < 0) {
	    snprintf(err, errlen, "bind %s: %s", spec, strerror(errno));
	    close(fd);
	    goto bad;
	}
	fds[n++] = fd;
    }
    freeaddrinfo(res);
    if (n == 0) {
	snprintf(err, errlen, "\"%s\": no address", spec);
	return (-1);
    }
    return (n);

bad:
    freeaddrinfo(res);
    while (n > 0)
	close(fds[--n]);
    return (-1);
}

int
listen_open(const char *spec, mode_t mode, uid_t uid, gid_t gid, int *fds,
	    int maxfds, char *err, size_t errlen)
{
    if (listen_check(spec, err, errlen) < 0)
	return (-1);
    if (maxfds < 1) {
	snprintf(err, errlen, "no room for sockets");
	return (-1);
    }
    if (strncmp(spec, "unix:", 5) == 0)
	return (listen_unix(spec + 5, mode, uid, gid, fds, err, errlen) < 0 ?
		-1 : 1);
    return (listen_inet(spec, fds, maxfds, err, errlen));
}

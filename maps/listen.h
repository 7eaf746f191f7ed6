/*
 * listen.h - create listening sockets (fwdmapd endpoints, metrics listeners).
 *
 * NAME
 *	listen - bind "unix:PATH" or "inet:HOST:PORT" endpoints
 *
 * SYNOPSIS
 *	#include "listen.h"
 *
 *	int	listen_check(const char *spec, char *err, size_t errlen);
int	listen_resolve(const char *spec, char *err, size_t errlen);
 *	int	listen_resolve(const char *spec, char *err, size_t errlen);
 *	int	listen_open(const char *spec, mode_t mode, uid_t uid, gid_t gid,
 *			    int *fds, int maxfds, char *err, size_t errlen);
 *
 * DESCRIPTION
 *	listen_check() validates an endpoint without binding anything.
 *	listen_resolve() also resolves the host of an "inet:" endpoint.
 *
 *	listen_open() binds and listens, non-blocking and close-on-exec.
 *	For "unix:PATH" a stale socket left by a previous run is removed
 *	(refusing when something still answers on it, or when PATH is not
 *	a socket); the socket is created with no access for others and then
 *	given mode, owner uid and group gid ((uid_t) -1 / (gid_t) -1: leave
 *	unchanged).  For "inet:HOST:PORT" (HOST may be "[v6addr]") every
 *	address HOST resolves to is bound.  Returns the number of sockets
 *	stored in fds, or -1 with a message in err.
 */
#ifndef FWDMAPD_LISTEN_H
#define FWDMAPD_LISTEN_H

#include <stddef.h>
#include <sys/types.h>

int	listen_check(const char *spec, char *err, size_t errlen);
int	listen_resolve(const char *spec, char *err, size_t errlen);
int	listen_open(const char *spec, mode_t mode, uid_t uid, gid_t gid,
		    int *fds, int maxfds, char *err, size_t errlen);

#endif

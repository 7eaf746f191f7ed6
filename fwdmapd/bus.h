/*
 * bus.h - survive SIGBUS while reading mapped tables.
 *
 * NAME
 *	bus - bracket accesses to mapped files against SIGBUS
 *
 * SYNOPSIS
 *	#include "bus.h"
 *
 *	int	bus_install(void);
 *	int	bus_guard(void (*fn)(void *), void *arg);
 *
 * DESCRIPTION
 *	The tables are mapped files; a file truncated or overwritten in
 *	place while mapped (cp over it, a full disk, an editor) makes the
 *	next access to a page beyond its new end raise SIGBUS.
 *
 *	bus_install() installs the SIGBUS handler, once, at start-up.
 *
 *	bus_guard() runs fn(arg) with SIGBUS caught: when fn touches a page
 *	that is gone, the handler jumps back out of fn and bus_guard()
 *	returns -1; the caller then drops what fn was reading (the
 *	generation) instead of letting the daemon die.  fn must hold no lock
 *	and allocate nothing it cannot find again from arg (see
 *	map_gen_refresh_track()).  Brackets do not nest.  A SIGBUS outside
 *	a bracket is a bug: it takes the default action.
 *
 * DIAGNOSTICS
 *	bus_install() returns -1 with errno set (sigaction(2)).  bus_guard()
 *	returns 0 when fn ran to its end, -1 when a SIGBUS cut it short.
 */
#ifndef FWDMAPD_BUS_H
#define FWDMAPD_BUS_H

int	bus_install(void);
int	bus_guard(void (*fn) (void *), void *arg);

#endif

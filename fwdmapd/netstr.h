/*
 * netstr.h - netstring reader and writer for the socketmap protocol.
 *
 * NAME
 *	netstr - parse and build "len:data," netstrings (djb, Postfix)
 *
 * SYNOPSIS
 *	#include "netstr.h"
 *
 *	int	netstr_parse(const char *buf, size_t len, size_t max,
 *			     const char **data, size_t *dlen, size_t *used,
 *			     const char **why);
 *	size_t	netstr_size(size_t dlen);
 *	size_t	netstr_put(char *out, size_t outsz, const char *data,
 *			   size_t dlen);
 *
 * DESCRIPTION
 *	netstr_parse() looks at the first netstring in buf (len bytes).  It
 *	returns 1 when a complete netstring is there: *data and *dlen
 *	describe its payload (pointing into buf), *used the bytes it takes
 *	including length, colon and comma.  It returns 0 when the bytes so
 *	far are a valid beginning of a netstring and more input is needed.
 *	It returns -1 and a static reason in *why when the input can never
 *	become a valid netstring of at most max payload bytes: a non-digit
 *	where the length belongs, a leading zero, a length above max (found
 *	as soon as the digits say so, without waiting for the payload, so
 *	digits cannot overflow), a missing colon or a missing comma.
 *	Reading ends at the comma; what follows belongs to the next one.
 *
 *	A caller that reaches end of file with unparsed bytes has a
 *	truncated request ("EOF mid-request").
 *
 *	netstr_size() is the encoded size of a payload of dlen bytes.
 *	netstr_put() writes that encoding to out and returns its size, or 0
 *	when it does not fit in outsz bytes.
 *
 * DIAGNOSTICS
 *	Nothing is printed; results as described above.
 */
#ifndef FWDMAPD_NETSTR_H
#define FWDMAPD_NETSTR_H

#include <stddef.h>

/* Digits in the length of a netstring whose payload fits in size_t. */
#define NETSTR_MAX_DIGITS	20

int	netstr_parse(const char *buf, size_t len, size_t max,
		     const char **data, size_t *dlen, size_t *used,
		     const char **why);
size_t	netstr_size(size_t dlen);
size_t	netstr_put(char *out, size_t outsz, const char *data, size_t dlen);

#endif

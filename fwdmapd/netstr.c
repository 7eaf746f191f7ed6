/*
 * netstr.c - netstring reader and writer (see netstr.h).
 *
 * The reader is stateless: it parses from the start of the buffer each
 * time, which is cheap because a request is at most a few kilobytes and
 * the length prefix is found in the first few bytes.  The length is
 * checked against the limit digit by digit, so neither an over-long
 * number nor a huge claimed length can overflow or make anyone wait for
 * data that will never be accepted.
 */
#include <stdio.h>
#include <string.h>

#include "netstr.h"

int
netstr_parse(const char *buf, size_t len, size_t max, const char **data,
	     size_t *dlen, size_t *used, const char **why)
{
    size_t  i = 0;
    size_t  n = 0;
    size_t  lim = max / 10;		/* one division, not one a digit */

    *why = NULL;
    for (i = 0; i < len && buf[i] != ':'; i++) {
	unsigned char c = (unsigned char) buf[i];

	if (c < '0' || c > '9') {
	    *why = "netstring length is not a number";
	    return (-1);
	}
	if (i == 1 && buf[0] == '0') {
	    *why = "netstring length has a leading zero";
	    return (-1);
	}
	/* n * 10 + d > max, without overflow: max < SIZE_MAX holds. */
	if (n > lim || n * 10 + (size_t) (c - '0') > max) {
	    *why = "netstring too long";
	    return (-1);
	}
	n = n * 10 + (size_t) (c - '0');
    }
    if (i == len)
	return (0);				/* length not yet complete */
    if (i == 0) {
	*why = "netstring length is missing";
	return (-1);
    }
    /* buf[i] is the colon; payload is buf[i+1 .. i+n], comma at i+n+1. */
    if (len - i - 1 <= n)
	return (0);
    if (buf[i + 1 + n] != ',') {
	*why = "netstring is not terminated by a comma";
	return (-1);
    }
    *data = buf + i + 1;
    *dlen = n;
    *used = i + n + 2;
    return (1);
}

size_t
netstr_size(size_t dlen)
{
    size_t  digits = 1;
    size_t  v;

    for (v = dlen; v >= 10; v /= 10)
	digits++;
    return (digits + 1 + dlen + 1);
}

size_t
netstr_put(char *out, size_t outsz, const char *data, size_t dlen)
{
    size_t  need = netstr_size(dlen);
    int     hl;

    if (need > outsz)
	return (0);
    hl = snprintf(out, outsz, "%zu:", dlen);
    if (hl < 0 || (size_t) hl + dlen + 1 != need)
	return (0);
    if (dlen > 0)
	memcpy(out + hl, data, dlen);
    out[hl + dlen] = ',';
    return (need);
}

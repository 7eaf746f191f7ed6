/*
 * addr.c - address rules: folding, extension stripping, validation.
 *
 * Exports addr_fold(), addr_strip_ext(), addr_valid(), addr_valid_domain(),
 * addr_valid_host() and addr_domain(); see addr.h.
 */
#include <stdint.h>
#include <string.h>

#include "addr.h"

#define WHY(s)	do { if (why) *why = (s); } while (0)

void
addr_fold(char *buf, size_t len)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    unsigned char *p = (unsigned char *) buf;
    size_t  i = 0;

    /*
     * Eight bytes at a time (this runs on every key of every request):
     * for each byte b below 0x80, b + (0x80 - 'A') has its high bit set
     * when b >= 'A', and b + (0x80 - 'Z' - 1) when b > 'Z'; neither sum
     * carries into the next byte.  The bytes with the first bit and not
     * the second get 0x20 added (the high bit shifted down twice).
     */
    for (; i + 8 <= len; i += 8) {
	uint64_t x, low, upper;

	memcpy(&x, p + i, 8);
	low = x & ~high;
	upper = (low + (0x80 - 'A') * ones) & ~(low + (0x80 - 'Z' - 1) * ones)
	    & ~x & high;
	x |= upper >> 2;
	memcpy(p + i, &x, 8);
    }
    for (; i < len; i++)
	if (p[i] >= 'A' && p[i] <= 'Z')
	    p[i] = (unsigned char) (p[i] - 'A' + 'a');
}

int
addr_domain(const char *s, size_t len, const char **dom, size_t *domlen)
{
    const char *at = memrchr(s, '@', len);

    if (at == NULL)
	return (-1);
    *dom = at + 1;
    *domlen = len - (size_t) (at + 1 - s);
    return (0);
}

int
addr_strip_ext(const char *in, size_t len, const char *delims, char *out,
	       size_t outsz, size_t *outlen)
{
    const char *at, *d;
    size_t  i, n, nd;

    if (delims == NULL || (nd = strlen(delims)) == 0)
	return (0);
    if ((at = memrchr(in, '@', len)) == NULL)
	at = in + len;			/* a bare local part */
    if (at - in < 2)
	return (0);
    /* The first delimiter after a non-empty prefix starts the extension.
     * One delimiter (the usual "+"): one memchr(), no call per byte. */
    if (nd == 1) {
	if ((d = memchr(in + 1, delims[0], (size_t) (at - in - 1))) == NULL)
	    return (0);
	i = (size_t) (d - in);
    } else {
	for (i = 1; in + i < at; i++)
	    if (memchr(delims, in[i], nd) != NULL)
		break;
	if (in + i >= at)
	    return (0);
    }
    n = i + (size_t) (in + len - at);
    if (n > outsz)
	return (-1);
    memcpy(out, in, i);
    memcpy(out + i, at, (size_t) (in + len - at));
    *outlen = n;
    return (1);
}

/* Atom characters of RFC 5322 that are safe in a Postfix table result:
 * letters, digits and these specials.  Everything else (space, comma,
 * quotes, parentheses, angle brackets, backslash, ';', ':', controls,
 * non-ASCII) is refused. */
static int
addr_atext(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	|| (c >= '0' && c <= '9'))
	return (1);
    return (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

int
addr_valid_domain(const char *s, size_t len, const char **why)
{
    size_t  i, label = 0, labels = 1;

    if (len == 0) {
	WHY("empty domain");
	return (-1);
    }
    if (len > ADDR_DOMAIN_MAX) {
	WHY("domain longer than 253 octets");
	return (-1);
    }
    for (i = 0; i < len; i++) {
	unsigned char c = (unsigned char) s[i];

	if (c == '.') {
	    if (label == 0 || s[i - 1] == '-') {
		WHY("empty domain label or label ending in '-'");
		return (-1);
	    }
	    label = 0;
	    labels++;
	    continue;
	}
	if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
	      || (c >= '0' && c <= '9') || c == '-')) {
	    WHY("invalid character in domain");
	    return (-1);
	}
	if (c == '-' && label == 0) {
	    WHY("domain label starts with '-'");
	    return (-1);
	}
	if (++label > 63) {
	    WHY("domain label longer than 63 octets");
	    return (-1);
	}
    }
    if (label == 0 || s[len - 1] == '-') {
	WHY("empty domain label or label ending in '-'");
	return (-1);
    }
    if (labels < 2) {
	WHY("domain has only one label");
	return (-1);
    }
    return (0);
}

int
addr_valid(const char *s, size_t len, const char **why)
{
    const char *at;
    size_t  i, llen;

    if (len == 0) {
	WHY("empty address");
	return (-1);
    }
    if (len > ADDR_MAX) {
	WHY("address longer than 254 octets");
	return (-1);
    }
    if ((at = memchr(s, '@', len)) == NULL) {
	WHY("no '@' in address");
	return (-1);
    }
    if (memchr(at + 1, '@', len - (size_t) (at + 1 - s)) != NULL) {
	WHY("more than one '@' in address");
	return (-1);
    }
    llen = (size_t) (at - s);
    if (llen == 0) {
	WHY("empty local part");
	return (-1);
    }
    if (llen > ADDR_LOCAL_MAX) {
	WHY("local part longer than 64 octets");
	return (-1);
    }
    /* Dot-atom only: no quoted strings, no leading, trailing or double dot. */
    if (s[0] == '.' || s[llen - 1] == '.') {
	WHY("local part starts or ends with '.'");
	return (-1);
    }
    for (i = 0; i < llen; i++) {
	unsigned char c = (unsigned char) s[i];

	if (c == '.') {
	    if (s[i + 1] == '.') {
		WHY("'..' in local part");
		return (-1);
	    }
	    continue;
	}
	if (!addr_atext(c)) {
	    WHY("invalid character in local part (space, comma, quote, "
		"control or other special)");
	    return (-1);
	}
    }
    return (addr_valid_domain(at + 1, len - llen - 1, why));
}

/* An IPv4 dotted quad. */
static int
addr_ipv4(const char *s, size_t len)
{
    size_t  i, digits = 0, dots = 0;
    unsigned val = 0;

    for (i = 0; i < len; i++) {
	if (s[i] == '.') {
	    if (digits == 0 || ++dots > 3)
		return (0);
	    digits = 0;
	    val = 0;
	} else if (s[i] >= '0' && s[i] <= '9') {
	    val = val * 10 + (unsigned) (s[i] - '0');
	    if (++digits > 3 || val > 255)
		return (0);
	} else
	    return (0);
    }
    return (dots == 3 && digits > 0);
}

/* Digits and dots only. */
static int
addr_dotted_digits(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++)
	if (s[i] != '.' && (s[i] < '0' || s[i] > '9'))
	    return (0);
    return (len > 0);
}

/* An IPv6 literal, loosely: hex digits, ':' and '.', bounded length. */
static int
addr_ipv6(const char *s, size_t len)
{
    size_t  i, colons = 0;

    if (len < 2 || len > 45)
	return (0);
    for (i = 0; i < len; i++) {
	unsigned char c = (unsigned char) s[i];

	if (c == ':')
	    colons++;
	else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
		   || (c >= 'A' && c <= 'F') || c == '.'))
	    return (0);
    }
    return (colons >= 2);
}

int
addr_valid_host(const char *s, size_t len, size_t *hoststart,
		size_t *hostlen, unsigned *port, const char **why)
{
    const char *h = s, *end = s + len, *colon;
    size_t  hl;
    unsigned p = 0;
    int     v6 = 0;

    if (len == 0) {
	WHY("empty host");
	return (-1);
    }
    if (*s == '[') {
	const char *rb = memchr(s, ']', len);

	if (rb == NULL) {
	    WHY("'[' without ']' in host");
	    return (-1);
	}
	h = s + 1;
	hl = (size_t) (rb - h);
	colon = rb + 1 < end ? rb + 1 : NULL;
	if (colon && *colon != ':') {
	    WHY("text after ']' in host");
	    return (-1);
	}
	v6 = memchr(h, ':', hl) != NULL;
    } else {
	colon = memchr(s, ':', len);
	if (colon && memchr(colon + 1, ':', (size_t) (end - colon - 1))) {
	    WHY("IPv6 host must be enclosed in []");
	    return (-1);
	}
	hl = colon ? (size_t) (colon - s) : len;
    }
    if (colon) {
	const char *d;

	if (colon + 1 == end) {
	    WHY("empty port");
	    return (-1);
	}
	for (d = colon + 1; d < end; d++) {
	    if (*d < '0' || *d > '9' || p > 6553) {
		WHY("invalid port");
		return (-1);
	    }
	    p = p * 10 + (unsigned) (*d - '0');
	}
	if (p == 0 || p > 65535) {
	    WHY("port out of range");
	    return (-1);
	}
    }
    if (v6 ? !addr_ipv6(h, hl)
	: !addr_ipv4(h, hl) && addr_valid_domain(h, hl, why) < 0) {
	if (v6)
	    WHY("invalid IPv6 address");
	return (-1);
    }
    /* Digits and dots only is meant as an IPv4 address (RFC 1123 2.1: a
     * host name is never dotted-decimal): 999.999.999.999 is none. */
    if (!v6 && addr_dotted_digits(h, hl) && !addr_ipv4(h, hl)) {
	WHY("invalid IPv4 address");
	return (-1);
    }
    if (hoststart)
	*hoststart = (size_t) (h - s);
    if (hostlen)
	*hostlen = hl;
    if (port)
	*port = p;
    return (0);
}

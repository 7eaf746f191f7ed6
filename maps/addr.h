/*
 * addr.h - address rules shared by ldapsync and fwdmapd.
 *
 * NAME
 *	addr - case folding, extension stripping and validation of addresses
 *
 * DESCRIPTION
 *	Every buffer is pointer plus length; nothing here allocates, prints
 *	or exits.  Functions that can fail return -1 and, when "why" is not
 *	NULL, point *why at a static, human-readable reason.
 *
 *	addr_fold() lower-cases ASCII letters in place.  Mail addresses are
 *	treated case-insensitively everywhere in fwdmap (local parts too:
 *	that is what sites running one namespace per person expect).
 *
 *	addr_strip_ext() removes a recipient delimiter extension:
 *	"user+tag@dom" becomes "user@dom".  "delims" is the set of delimiter
 *	characters (Postfix recipient_delimiter semantics: any one of them
 *	starts the extension).  An empty local part before the delimiter
 *	("+tag@dom") is not stripped.  Returns 1 when something was
 *	stripped (the result is written to out), 0 when the address has no
 *	extension, -1 when out is too small.
 *
 *	addr_valid() checks one address taken from the directory: exactly
 *	one RFC 5321 mailbox "local@domain" without quotes, comments, spaces,
 *	commas, control characters, angle brackets or any other character
 *	that Postfix could read as a second address or a special form, at
 *	most ADDR_MAX octets, with a syntactically valid domain name (LDH
 *	labels of at most 63 octets, at least two labels).
 *
 *	addr_valid_domain() checks a domain name alone.
 *
 *	addr_valid_host() checks a mail host as configured or as found in
 *	fwdMailHost: a domain name or an IPv4/IPv6 literal, optionally
 *	enclosed in [], optionally followed by ":port" (1-65535).  A host
 *	of digits and dots only must be a valid IPv4 address (each of its
 *	four parts at most 255).  On success
 *	*hostlen and *port (0 when absent) describe the parts.
 *
 *	addr_domain() finds the domain part (after the last '@').
 */
#ifndef FWDMAP_ADDR_H
#define FWDMAP_ADDR_H

#include <stddef.h>

#define ADDR_MAX	254		/* RFC 5321 path limit minus <> */
#define ADDR_LOCAL_MAX	64
#define ADDR_DOMAIN_MAX	253

void	addr_fold(char *buf, size_t len);
int	addr_strip_ext(const char *in, size_t len, const char *delims,
		       char *out, size_t outsz, size_t *outlen);
int	addr_valid(const char *s, size_t len, const char **why);
int	addr_valid_domain(const char *s, size_t len, const char **why);
int	addr_valid_host(const char *s, size_t len, size_t *hoststart,
			size_t *hostlen, unsigned *port, const char **why);
int	addr_domain(const char *s, size_t len, const char **dom,
		    size_t *domlen);

#endif

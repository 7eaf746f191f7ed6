/*
 * srs.h - Sender Rewriting Scheme addresses, compatible with postsrsd 1.x.
 *
 * NAME
 *	srs - make and check SRS0/SRS1 addresses in one SRS domain
 *
 * SYNOPSIS
 *	struct srs *srs_create(const char *domain, int hash_length,
 *			       int max_age_days);
 *	int	srs_secrets_parse(struct srs *s, const char *buf, size_t len,
 *				  char *err, size_t errlen);
 *	int	srs_secrets_load(struct srs *s, const char *path, uid_t owner,
 *				 char *err, size_t errlen);
 *	int	srs_forward(const struct srs *s, const char *addr, size_t len,
 *			    time_t now, char *out, size_t outsz, size_t *outlen);
 *	int	srs_reverse(const struct srs *s, const char *addr, size_t len,
 *			    time_t now, char *out, size_t outsz, size_t *outlen,
 *			    const char **why);
 *	int	srs_in_domain(const struct srs *s, const char *addr, size_t len);
 *	int	srs_looks_srs(const char *addr, size_t len);
 *	void	srs_free(struct srs *s);
 *
 * DESCRIPTION
 *	The address format, hash and timestamp are those of libsrs2 as
 *	postsrsd 1.x uses it (separator '='), so that an address made by
 *	either decodes in the other given the same secret and domain:
 *
 *	    SRS0=HHHH=TT=orig.host=orig.user@srs.domain
 *	    SRS1=HHHH=fwd.host==HHHH=TT=orig.host=orig.user@srs.domain
 *
 *	TT is the day number (time / 86400) modulo 1024 in two base32
 *	characters (A-Z, 2-7); HHHH the first hash_length characters of the
 *	base64 of HMAC-SHA1(secret, the lower-cased parts concatenated):
 *	TT, host and user for SRS0; host and user for SRS1.  Hashes compare
 *	without regard to case, as postsrsd's do.
 *
 *	srs_create() returns an object without secrets (NULL when out of
 *	memory).  srs_secrets_parse() takes the secrets file's contents: one
 *	secret per line (CR LF or LF), empty lines skipped; the first signs,
 *	every one verifies.  It replaces the secrets only when the new ones
 *	are good (at least one, none longer than SRS_SECRET_MAX, no NUL
 *	byte): 0, or -1 with the reason in err and the old secrets kept.
 *	srs_secrets_load() reads the file: it must be a regular file owned
 *	by root or by owner (pass (uid_t) -1 for root only) and neither
 *	readable nor writable by group or others, like ssh's private keys.
 *	Nothing here ever puts a secret into err.
 *
 *	srs_forward() rewrites an envelope sender into the SRS domain: 1 and
 *	the address in out (NUL-terminated, *outlen bytes), or 0 when it is
 *	not rewritten (the null sender, no local part or domain, control
 *	characters or white space, a '=' in the domain, which would make the
 *	address irreversible, already in the SRS domain), or -1 when the
 *	result does not fit outsz or there is no secret.  A sender that is an
 *	SRS0 address of another forwarder becomes SRS1 (its host and the
 *	rest kept, a new hash), one that is SRS1 keeps its first forwarder
 *	and gets a new hash, as the SRS specification says.  Senders in the
 *	tenants' domains are the caller's business.
 *
 *	srs_reverse() checks an SRS0 or SRS1 address in the SRS domain: 1
 *	and the address it stands for in out when the hash matches one of
 *	the secrets (exactly hash_length characters) and, for SRS0, the
 *	timestamp is at most max_age_days old; else 0 with a static reason
 *	in *why (when why is not NULL), or -1 when out is too small.
 *
 *	srs_in_domain() is 1 when the address's domain is the SRS domain.
 *	srs_looks_srs() is 1 when the local part starts with SRS0 or SRS1
 *	and a separator (=, - or +), in any case.
 */
#ifndef FWDMAP_SRS_H
#define FWDMAP_SRS_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define SRS_SECRET_MAX	1023		/* bytes per line, postsrsd's buffer */
#define SRS_FILE_MAX	65536		/* secrets file size limit */
#define SRS_ADDR_MAX	1024		/* an output buffer that always does */

struct srs;

struct srs *srs_create(const char *domain, int hash_length, int max_age_days);
int	srs_secrets_parse(struct srs *s, const char *buf, size_t len,
			  char *err, size_t errlen);
int	srs_secrets_load(struct srs *s, const char *path, uid_t owner,
			 char *err, size_t errlen);
size_t	srs_nsecrets(const struct srs *s);
const char *srs_domain(const struct srs *s);
int	srs_forward(const struct srs *s, const char *addr, size_t len,
		    time_t now, char *out, size_t outsz, size_t *outlen);
int	srs_reverse(const struct srs *s, const char *addr, size_t len,
		    time_t now, char *out, size_t outsz, size_t *outlen,
		    const char **why);
int	srs_in_domain(const struct srs *s, const char *addr, size_t len);
int	srs_looks_srs(const char *addr, size_t len);
void	srs_free(struct srs *s);

#endif

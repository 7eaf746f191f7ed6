/*
 * srs.c - SRS0/SRS1 addresses, postsrsd 1.x compatible (see srs.h).
 *
 * HMAC-SHA1 and base64 come from nettle.  Each secret is kept only as
 * its keyed HMAC state (the raw secret is wiped once the key is set);
 * a lookup copies that state, so a hash costs the two SHA-1 blocks of
 * the message, not the four of setting the key again.  Everything that
 * held key material is wiped before it is freed.  Nothing here prints,
 * logs or exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/base64.h>
#include <nettle/hmac.h>
#include <nettle/sha1.h>

#include "srs.h"

#define SRS_DAY		86400
#define SRS_STAMP_SLOTS	1024		/* two base32 characters */
#define SRS_B64_LEN	BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE)

static const char srs_b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

struct srs_key {
    struct hmac_sha1_ctx ctx;		/* keyed, nothing hashed yet */
};

struct srs {
    char   *domain;			/* folded */
    size_t  dlen;
    int     hash_length;
    int     max_age_days;
    struct srs_key *keys;		/* keys[0] signs */
    size_t  nkeys;
};

static char
lower(char c)
{
    return ((c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c);
}

static void
keys_free(struct srs_key *k, size_t n)
{
    if (k == NULL)
	return;
    explicit_bzero(k, n * sizeof(*k));
    free(k);
}

struct srs *
srs_create(const char *domain, int hash_length, int max_age_days)
{
    struct srs *s;
    size_t  i;

    if (hash_length < 1 || hash_length > SRS_B64_LEN - 1 || max_age_days < 0) {
	errno = EINVAL;
	return (NULL);
    }
    if ((s = calloc(1, sizeof(*s))) == NULL)
	return (NULL);
    if ((s->domain = strdup(domain)) == NULL) {
	free(s);
	return (NULL);
    }
    s->dlen = strlen(s->domain);
    for (i = 0; i < s->dlen; i++)
	s->domain[i] = lower(s->domain[i]);
    s->hash_length = hash_length;
    s->max_age_days = max_age_days;
    return (s);
}

void
srs_free(struct srs *s)
{
    if (s == NULL)
	return;
    keys_free(s->keys, s->nkeys);
    free(s->domain);
    free(s);
}

size_t
srs_nsecrets(const struct srs *s)
{
    return (s->nkeys);
}

const char *
srs_domain(const struct srs *s)
{
    return (s->domain);
}

/*
 * Secrets.
 */
int
srs_secrets_parse(struct srs *s, const char *buf, size_t len, char *err,
		  size_t errlen)
{
    struct srs_key *keys = NULL;
    size_t  nkeys = 0, cap = 0, off = 0, lineno = 0;

    if (memchr(buf, '\0', len) != NULL) {
	snprintf(err, errlen, "contains a NUL byte");
	return (-1);
    }
    while (off < len) {
	const char *line = buf + off, *nl = memchr(line, '\n', len - off);
	size_t  ll = nl ? (size_t) (nl - line) : len - off, sl;

	off += ll + (nl ? 1 : 0);
	lineno++;
	/* postsrsd: the secret is the line up to the first CR or LF. */
	for (sl = 0; sl < ll && line[sl] != '\r'; sl++)
	    ;
	if (sl == 0)
	    continue;
	if (sl > SRS_SECRET_MAX) {
	    snprintf(err, errlen, "line %zu is longer than %d bytes", lineno,
		     SRS_SECRET_MAX);
	    keys_free(keys, cap);
	    return (-1);
	}
	if (nkeys == cap) {
	    size_t  ncap = cap ? 2 * cap : 4;
	    struct srs_key *n = calloc(ncap, sizeof(*n));

	    if (n == NULL) {
		snprintf(err, errlen, "out of memory");
		keys_free(keys, cap);
		return (-1);
	    }
	    if (keys)
		memcpy(n, keys, nkeys * sizeof(*n));
	    keys_free(keys, cap);
	    keys = n;
	    cap = ncap;
	}
	hmac_sha1_set_key(&keys[nkeys].ctx, sl, (const uint8_t *) line);
	nkeys++;
    }
    if (nkeys == 0) {
	snprintf(err, errlen, "holds no secret");
	keys_free(keys, cap);
	return (-1);
    }
    keys_free(s->keys, s->nkeys);
    s->keys = keys;
    s->nkeys = nkeys;
    if (cap > nkeys)
	explicit_bzero(keys + nkeys, (cap - nkeys) * sizeof(*keys));
    return (0);
}

int
srs_secrets_load(struct srs *s, const char *path, uid_t owner, char *err,
		 size_t errlen)
{
    struct stat st;
    char   *buf = NULL;
    size_t  got = 0;
    int     fd, ret = -1;
    char    why[256];

    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
	snprintf(err, errlen, "srs.secrets_file %s: %s", path, strerror(errno));
	return (-1);
    }
    if (fstat(fd, &st) < 0) {
	snprintf(err, errlen, "srs.secrets_file %s: %s", path, strerror(errno));
	goto out;
    }
    if (!S_ISREG(st.st_mode)) {
	snprintf(err, errlen, "srs.secrets_file %s: not a regular file", path);
	goto out;
    }
    if ((st.st_mode & 077) != 0) {
	snprintf(err, errlen, "srs.secrets_file %s: mode %04o is accessible "
		 "by group or others; refused (chmod 0600, owner the user "
		 "fwdmapd runs as)", path, (unsigned) (st.st_mode & 07777));
	goto out;
    }
    if (st.st_uid != 0 && st.st_uid != owner) {
	snprintf(err, errlen, "srs.secrets_file %s: owned by uid %ld, neither "
		 "root nor the user fwdmapd runs as; refused", path,
		 (long) st.st_uid);
	goto out;
    }
    if (st.st_size > SRS_FILE_MAX) {
	snprintf(err, errlen, "srs.secrets_file %s: larger than %d bytes",
		 path, SRS_FILE_MAX);
	goto out;
    }
    if ((buf = malloc((size_t) st.st_size + 1)) == NULL) {
	snprintf(err, errlen, "srs.secrets_file %s: out of memory", path);
	goto out;
    }
    while (got <= (size_t) st.st_size) {
	ssize_t n = read(fd, buf + got, (size_t) st.st_size + 1 - got);

	if (n < 0 && errno == EINTR)
	    continue;
	if (n < 0) {
	    snprintf(err, errlen, "srs.secrets_file %s: %s", path,
		     strerror(errno));
	    goto out;
	}
	if (n == 0)
	    break;
	got += (size_t) n;
    }
    if (got > (size_t) st.st_size) {
	snprintf(err, errlen, "srs.secrets_file %s: grew while read", path);
	goto out;
    }
    if (srs_secrets_parse(s, buf, got, why, sizeof(why)) < 0) {
	snprintf(err, errlen, "srs.secrets_file %s: %s", path, why);
	goto out;
    }
    ret = 0;
out:
    if (buf) {
	explicit_bzero(buf, (size_t) st.st_size + 1);
	free(buf);
    }
    close(fd);
    return (ret);
}

/*
 * The hash: HMAC-SHA1 over the lower-cased parts, base64, the first
 * hash_length characters.
 */
static void
srs_hash(const struct srs *s, size_t key, const char *const *part,
	 const size_t *plen, int nparts, char *out)
{
    struct hmac_sha1_ctx ctx = s->keys[key].ctx;
    uint8_t chunk[256], digest[SHA1_DIGEST_SIZE];
    char    b64[SRS_B64_LEN];
    int     i;

    for (i = 0; i < nparts; i++) {
	size_t  off = 0;

	while (off < plen[i]) {
	    size_t  n = plen[i] - off, j;

	    if (n > sizeof(chunk))
		n = sizeof(chunk);
	    for (j = 0; j < n; j++)
		chunk[j] = (uint8_t) lower(part[i][off + j]);
	    hmac_sha1_update(&ctx, n, chunk);
	    off += n;
	}
    }
    hmac_sha1_digest(&ctx, SHA1_DIGEST_SIZE, digest);
    base64_encode_raw(b64, SHA1_DIGEST_SIZE, digest);
    memcpy(out, b64, (size_t) s->hash_length);
    explicit_bzero(&ctx, sizeof(ctx));
    explicit_bzero(digest, sizeof(digest));
    explicit_bzero(chunk, sizeof(chunk));
}

/* Does hash (hlen chars) match one of the secrets, regardless of case? */
static int
srs_hash_ok(const struct srs *s, const char *hash, size_t hlen,
	    const char *const *part, const size_t *plen, int nparts)
{
    char    want[SRS_B64_LEN];
    size_t  k;
    int     i, ok = 0;

    if (hlen != (size_t) s->hash_length)
	return (0);
    for (k = 0; k < s->nkeys && !ok; k++) {
	unsigned diff = 0;

	srs_hash(s, k, part, plen, nparts, want);
	for (i = 0; i < s->hash_length; i++)
	    diff |= (unsigned char) (lower(want[i]) ^ lower(hash[i]));
	ok = (diff == 0);
    }
    explicit_bzero(want, sizeof(want));
    return (ok);
}

static void
stamp_make(time_t now, char *out)
{
    unsigned long day = (unsigned long) (now / SRS_DAY);

    out[0] = srs_b32[(day >> 5) & 31];
    out[1] = srs_b32[day & 31];
}

/* 1 when the two-character stamp is at most max_age_days old. */
static int
stamp_ok(const struct srs *s, const char *st, size_t len, time_t now)
{
    long    then = 0, today;
    size_t  i;

    if (len != 2)
	return (0);
    for (i = 0; i < 2; i++) {
	char    c = st[i];
	int     v;

	if (c >= 'a' && c <= 'z')
	    c = (char) (c - 'a' + 'A');
	if (c >= 'A' && c <= 'Z')
	    v = c - 'A';
	else if (c >= '2' && c <= '7')
	    v = c - '2' + 26;
	else
	    return (0);
	then = (then << 5) | v;
    }
    today = (long) ((now / SRS_DAY) % SRS_STAMP_SLOTS);
    while (today < then)
	today += SRS_STAMP_SLOTS;
    return (today <= then + s->max_age_days);
}

/* Split addr at its last '@': local part and domain, both non-empty. */
static int
split(const char *addr, size_t len, size_t *ulen, const char **dom,
      size_t *dlen)
{
    const char *at = memrchr(addr, '@', len);

    if (at == NULL || at == addr || at == addr + len - 1)
	return (0);
    *ulen = (size_t) (at - addr);
    *dom = at + 1;
    *dlen = len - *ulen - 1;
    return (1);
}

int
srs_in_domain(const struct srs *s, const char *addr, size_t len)
{
    size_t  ulen, dlen;
    const char *dom;

    return (split(addr, len, &ulen, &dom, &dlen) && dlen == s->dlen
	    && strncasecmp(dom, s->domain, dlen) == 0);
}

static int
srs_tag(const char *u, size_t ulen, char which)
{
    return (ulen >= 5 && (u[0] == 'S' || u[0] == 's')
	    && (u[1] == 'R' || u[1] == 'r') && (u[2] == 'S' || u[2] == 's')
	    && u[3] == which && strchr("=-+", u[4]) != NULL && u[4] != 0);
}

int
srs_looks_srs(const char *addr, size_t len)
{
    return (srs_tag(addr, len, '0') || srs_tag(addr, len, '1'));
}

/* The next '='-terminated field of [*p, end): non-empty, or 0. */
static int
field(const char **p, const char *end, const char **f, size_t *flen)
{
    const char *eq = memchr(*p, '=', (size_t) (end - *p));

    if (eq == NULL || eq == *p)
	return (0);
    *f = *p;
    *flen = (size_t) (eq - *p);
    *p = eq + 1;
    return (1);
}

/* Append n bytes to out; 0 when it does not fit (one byte kept for NUL). */
static int
put(char *out, size_t outsz, size_t *at, const char *p, size_t n)
{
    if (*at + n >= outsz)
	return (0);
    memcpy(out + *at, p, n);
    *at += n;
    out[*at] = 0;
    return (1);
}

int
srs_forward(const struct srs *s, const char *addr, size_t len, time_t now,
	    char *out, size_t outsz, size_t *outlen)
{
    const char *dom, *part[3], *p, *end;
    size_t  ulen, dlen, plen[3], i, at = 0;
    char    hash[SRS_B64_LEN], stamp[2];
    const char *hh, *h1, *u1;
    size_t  hhl, h1l, u1l;
    int     ok;

    if (s->nkeys == 0 || outsz == 0)
	return (-1);
    for (i = 0; i < len; i++)
	if ((unsigned char) addr[i] <= ' ' || addr[i] == 0x7f)
	    return (0);
    if (!split(addr, len, &ulen, &dom, &dlen))
	return (0);			/* "<>", "@domain", no domain */
    if (dlen == s->dlen && strncasecmp(dom, s->domain, dlen) == 0)
	return (0);
    if (memchr(dom, '=', dlen) != NULL)
	return (0);			/* no domain has one; not reversible */
    p = addr + 5;
    end = addr + ulen;
    if (srs_tag(addr, ulen, '1') && field(&p, end, &hh, &hhl)
	&& field(&p, end, &h1, &h1l) && p < end) {
	/* SRS1=HHHH=first.forwarder=rest: keep its first forwarder. */
	(void) hh;
	(void) hhl;
	u1 = p;
	u1l = (size_t) (end - p);
	part[0] = h1;
	plen[0] = h1l;
	part[1] = u1;
	plen[1] = u1l;
	srs_hash(s, 0, part, plen, 2, hash);
	ok = put(out, outsz, &at, "SRS1=", 5)
	    && put(out, outsz, &at, hash, (size_t) s->hash_length)
	    && put(out, outsz, &at, "=", 1) && put(out, outsz, &at, h1, h1l)
	    && put(out, outsz, &at, "=", 1) && put(out, outsz, &at, u1, u1l);
    } else if (srs_tag(addr, ulen, '0')) {
	/* SRS0 of another forwarder: SRS1=HHHH=its.host==HHHH=TT=... */
	part[0] = dom;
	plen[0] = dlen;
	part[1] = addr + 4;
	plen[1] = ulen - 4;
	srs_hash(s, 0, part, plen, 2, hash);
	ok = put(out, outsz, &at, "SRS1=", 5)
	    && put(out, outsz, &at, hash, (size_t) s->hash_length)
	    && put(out, outsz, &at, "=", 1) && put(out, outsz, &at, dom, dlen)
	    && put(out, outsz, &at, "=", 1)
	    && put(out, outsz, &at, addr + 4, ulen - 4);
    } else {
	stamp_make(now, stamp);
	part[0] = stamp;
	plen[0] = 2;
	part[1] = dom;
	plen[1] = dlen;
	part[2] = addr;
	plen[2] = ulen;
	srs_hash(s, 0, part, plen, 3, hash);
	ok = put(out, outsz, &at, "SRS0=", 5)
	    && put(out, outsz, &at, hash, (size_t) s->hash_length)
	    && put(out, outsz, &at, "=", 1) && put(out, outsz, &at, stamp, 2)
	    && put(out, outsz, &at, "=", 1) && put(out, outsz, &at, dom, dlen)
	    && put(out, outsz, &at, "=", 1) && put(out, outsz, &at, addr, ulen);
    }
    ok = ok && put(out, outsz, &at, "@", 1)
	&& put(out, outsz, &at, s->domain, s->dlen);
    explicit_bzero(hash, sizeof(hash));
    if (!ok) {
	out[0] = 0;
	return (-1);
    }
    *outlen = at;
    return (1);
}

#define WHY(s)	do { if (why) *why = (s); return (0); } while (0)

int
srs_reverse(const struct srs *s, const char *addr, size_t len, time_t now,
	    char *out, size_t outsz, size_t *outlen, const char **why)
{
    const char *dom, *p, *end, *hash, *stamp, *host, *user, *part[3];
    size_t  ulen, dlen, hl, sl, hol, usl, plen[3], at = 0;
    int     ok;

    if (!split(addr, len, &ulen, &dom, &dlen))
	WHY("not an address");
    if (dlen != s->dlen || strncasecmp(dom, s->domain, dlen) != 0)
	WHY("not in the SRS domain");
    if (s->nkeys == 0)
	WHY("no secret");
    p = addr + 5;
    end = addr + ulen;
    if (srs_tag(addr, ulen, '0')) {
	if (!field(&p, end, &hash, &hl) || !field(&p, end, &stamp, &sl)
	    || !field(&p, end, &host, &hol) || p >= end)
	    WHY("malformed SRS0 address");
	user = p;
	usl = (size_t) (end - p);
	if (!stamp_ok(s, stamp, sl, now))
	    WHY("timestamp expired or invalid");
	part[0] = stamp;
	plen[0] = sl;
	part[1] = host;
	plen[1] = hol;
	part[2] = user;
	plen[2] = usl;
	if (!srs_hash_ok(s, hash, hl, part, plen, 3))
	    WHY("hash invalid");
	ok = put(out, outsz, &at, user, usl) && put(out, outsz, &at, "@", 1)
	    && put(out, outsz, &at, host, hol);
    } else if (srs_tag(addr, ulen, '1')) {
	if (!field(&p, end, &hash, &hl) || !field(&p, end, &host, &hol)
	    || p >= end)
	    WHY("malformed SRS1 address");
	user = p;
	usl = (size_t) (end - p);
	part[0] = host;
	plen[0] = hol;
	part[1] = user;
	plen[1] = usl;
	if (!srs_hash_ok(s, hash, hl, part, plen, 2))
	    WHY("hash invalid");
	ok = put(out, outsz, &at, "SRS0", 4) && put(out, outsz, &at, user, usl)
	    && put(out, outsz, &at, "@", 1) && put(out, outsz, &at, host, hol);
    } else
	WHY("not an SRS address");
    if (!ok) {
	if (outsz)
	    out[0] = 0;
	return (-1);
    }
    *outlen = at;
    return (1);
}

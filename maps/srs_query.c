/*
 * srs_query.c - srs_forward, srs_reverse and the SRS domain in the
 *		 domains and recipients maps (see srs_query.h).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "query.h"
#include "srs.h"
#include "srs_query.h"

#define ANSWER(q, s)	do { *val = (s); *vlen = strlen(s); return (q); } while (0)

struct srs *
srs_query_open(const struct conf *c, uid_t owner, char *err, size_t errlen)
{
    struct srs *s;

    if (errlen)
	err[0] = 0;
    if (c->srs.domain == NULL)
	return (NULL);
    s = srs_create(c->srs.domain, c->srs.hash_length, c->srs.max_age_days);
    if (s == NULL) {
	snprintf(err, errlen, "srs: out of memory");
	return (NULL);
    }
    if (srs_secrets_load(s, c->srs.secrets_file, owner, err, errlen) < 0) {
	srs_free(s);
	return (NULL);
    }
    return (s);
}

int
srs_query_name(const char *name, size_t nlen)
{
    if (nlen == 11 && memcmp(name, "srs_forward", 11) == 0)
	return (1);
    if (nlen == 11 && memcmp(name, "srs_reverse", 11) == 0)
	return (2);
    return (0);
}

/* Is the domain (dlen bytes, any case) one of the configured domains? */
static int
conf_has_domain(const struct conf *c, const char *dom, size_t dlen)
{
    size_t  i;

    for (i = 0; i < c->ndomains; i++)
	if (strlen(c->domains[i].name) == dlen
	    && strncasecmp(c->domains[i].name, dom, dlen) == 0)
	    return (1);
    return (0);
}

enum map_q
srs_query(const struct srs *s, const struct conf *c, const char *name,
	  size_t nlen, const char *key, size_t klen, time_t now, int *handled,
	  const char **val, size_t *vlen)
{
    static char out[SRS_ADDR_MAX];
    const char *at, *sd;
    size_t  olen = 0;
    int     which = srs_query_name(name, nlen), r;

    *handled = 1;
    if (which && s == NULL)
	ANSWER(MAP_Q_PERM, "SRS is not configured (srs.domain)");
    if (which == 1) {
	if (klen == 0 || (klen == 2 && memcmp(key, "<>", 2) == 0))
	    return (MAP_Q_NOTFOUND);
	at = memrchr(key, '@', klen);
	if (at && conf_has_domain(c, at + 1, (size_t) (key + klen - at - 1)))
	    return (MAP_Q_NOTFOUND);
	r = srs_forward(s, key, klen, now, out, sizeof(out), &olen);
	if (r <= 0)
	    return (MAP_Q_NOTFOUND);	/* too long: leaves unrewritten */
	*val = out;
	*vlen = olen;
	return (MAP_Q_OK);
    }
    if (which == 2) {
	if (srs_reverse(s, key, klen, now, out, sizeof(out), &olen, NULL) <= 0)
	    return (MAP_Q_NOTFOUND);
	*val = out;
	*vlen = olen;
	return (MAP_Q_OK);
    }
    if (s == NULL) {
	*handled = 0;
	return (MAP_Q_NOTFOUND);
    }
    sd = srs_domain(s);
    if (nlen == 7 && memcmp(name, "domains", 7) == 0) {
	if (klen == strlen(sd) && strncasecmp(key, sd, klen) == 0
	    && !conf_has_domain(c, key, klen))
	    ANSWER(MAP_Q_OK, "srs");
    } else if (nlen == 10 && memcmp(name, "recipients", 10) == 0
	       && srs_in_domain(s, key, klen)) {
	if (srs_looks_srs(key, klen)) {
	    if (srs_reverse(s, key, klen, now, out, sizeof(out), &olen, NULL) > 0)
		ANSWER(MAP_Q_OK, "srs");
	    return (MAP_Q_NOTFOUND);
	}
	if (!conf_has_domain(c, sd, strlen(sd)))
	    return (MAP_Q_NOTFOUND);
    }
    *handled = 0;
    return (MAP_Q_NOTFOUND);
}

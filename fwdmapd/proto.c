/*
 * proto.c - socketmap requests to replies (see proto.h).
 *
 * Only framing and bookkeeping happen here; what a key means is decided
 * by map_query() in maps/query.c.  Nothing from the client can make this
 * module allocate without bound: a request is at most max_request bytes
 * and the output stops growing at the caller's high-water mark.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mono.h"
#include "netstr.h"
#include "proto.h"
#include "query.h"
#include "srs_query.h"

int
pbuf_reserve(struct pbuf *b, size_t n)
{
    size_t  cap;
    char   *np;

    if (b->cap - b->len >= n)
	return (0);
    cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) {
	if (cap > ((size_t) -1) / 2)
	    return (-1);
	cap *= 2;
    }
    if ((np = realloc(b->p, cap)) == NULL)
	return (-1);
    b->p = np;
    b->cap = cap;
    return (0);
}

void
pbuf_free(struct pbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Append one reply "word<SP>data" as a netstring. */
static int
proto_reply(struct pbuf *out, const char *word, const char *data, size_t dlen)
{
    size_t  wlen = strlen(word);
    size_t  plen = wlen + 1 + dlen;
    size_t  need = netstr_size(plen);
    char    digits[NETSTR_MAX_DIGITS];
    size_t  nd = 0, v;
    char   *p;

    if (pbuf_reserve(out, need) < 0)
	return (-1);
    v = plen;
    do {
	digits[nd++] = (char) ('0' + v % 10);
	v /= 10;
    } while (v);
    p = out->p + out->len;
    while (nd > 0)
	*p++ = digits[--nd];
    *p++ = ':';
    memcpy(p, word, wlen);
    p += wlen;
    *p++ = ' ';
    if (dlen)
	memcpy(p, data, dlen);
    p += dlen;
    *p = ',';
    out->len += need;
    return (0);
}

size_t
proto_prefetch(const struct map_gen *gen, const char *delims,
	       size_t max_request, const char *in, size_t len,
	       struct map_pf *pf)
{
    const char *req, *sp, *why;
    size_t  rlen, used, done = 0, npf = 0;
    int     n;

    for (n = 0; gen != NULL && n < PROTO_PREFETCH_MAX && done < len; n++) {
	if (netstr_parse(in + done, len - done, max_request, &req, &rlen,
			 &used, &why) != 1)
	    break;
	done += used;
	if ((sp = memchr(req, ' ', rlen)) != NULL)
	    npf += (size_t) map_query_prefetch(gen, req, (size_t) (sp - req),
					       sp + 1, rlen - (size_t) (sp - req) - 1,
					       delims, pf + npf);
    }
    return (npf);
}

size_t
proto_run(const struct proto_ctx *ctx, const char *in, size_t len,
	  struct pbuf *out, size_t high, int *status, const char **why)
{
    size_t  done = 0;
    int     timing = ctx->st != NULL && ctx->st->timing;
    uint64_t t0, t1;

    *status = PROTO_GO_ON;
    *why = NULL;
    /* The second step of the next client's prefetch (after a SIGBUS,
     * answering again without the generation, there is none). */
    if (ctx->gen != NULL) {
	size_t  i;

	for (i = 0; i < ctx->nahead; i++)
	    (void) map_pf_record(&ctx->ahead[i]);
    }
    t0 = timing ? mono_ns() : 0;		/* not counting the above */
    while (done < len && out->len < high) {
	const char *req, *sp, *val = NULL;
	size_t  rlen, used, vlen = 0, nlen;
	int     r, idx, handled = 0;
	enum map_q q = MAP_Q_TEMP;
	struct stats_map *sm;

	r = netstr_parse(in + done, len - done, ctx->max_request,
			 &req, &rlen, &used, why);
	if (r == 0)
	    break;
	if (r < 0)
	    goto bad;
	done += used;
	if (memchr(req, '\0', rlen) != NULL) {
	    *why = "request contains a null byte";
	    goto bad;
	}
	if ((sp = memchr(req, ' ', rlen)) == NULL || sp == req) {
	    *why = "request is not \"name key\"";
	    goto bad;
	}
	nlen = (size_t) (sp - req);
	if (ctx->conf)
	    q = srs_query(ctx->srs, ctx->conf, req, nlen, sp + 1,
			  rlen - nlen - 1, time(NULL), &handled, &val, &vlen);
	if (!handled)
	    q = map_query_ext(ctx->gen, req, nlen, sp + 1, rlen - nlen - 1,
			      ctx->delims, ctx->propagate, &val, &vlen);
	if (val == NULL)
	    vlen = 0;
	if ((idx = map_query_name(req, nlen)) < 0) {
	    r = srs_query_name(req, nlen);
	    idx = r == 1 ? STATS_SRS_FORWARD : r == 2 ? STATS_SRS_REVERSE :
		STATS_OTHER;
	}
	sm = ctx->st ? &ctx->st->map[idx] : NULL;
	if (sm)
	    sm->lookups++;
	switch (q) {
	case MAP_Q_OK:
	    r = proto_reply(out, "OK", val, vlen);
	    if (sm)
		sm->ok++;
	    break;
	case MAP_Q_NOTFOUND:
	    r = proto_reply(out, "NOTFOUND", "", 0);
	    if (sm)
		sm->notfound++;
	    break;
	case MAP_Q_PERM:
	    r = proto_reply(out, "PERM", val, vlen);
	    if (sm)
		sm->perm++;
	    break;
	case MAP_Q_TEMP:
	default:
	    if (val == NULL) {
		val = "internal error";
		vlen = strlen(val);
	    }
	    r = proto_reply(out, "TEMP", val, vlen);
	    if (sm)
		sm->temp++;
	    break;
	}
	if (r < 0) {
	    *status = PROTO_NOMEM;
	    return (done);
	}
	/* One clock read per answer: each answer's time runs from the
	 * end of the previous one (or the start of the batch). */
	if (timing && sm) {
	    t1 = mono_ns();
	    metrics_hist_observe(&ctx->st->lat[idx], t1 - t0);
	    t0 = t1;
	}
    }
    return (done);

bad:
    if (ctx->st)
	ctx->st->proto_errors++;
    *status = proto_reply(out, "PERM", *why, strlen(*why)) < 0 ?
	PROTO_NOMEM : PROTO_CLOSE;
    return (len);				/* the rest is discarded */
}

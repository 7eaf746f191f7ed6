/*
 * proto.h - the Postfix socketmap protocol, server side.
 *
 * NAME
 *	proto - turn socketmap requests into replies
 *
 * SYNOPSIS
 *	#include "proto.h"
 *
 *	size_t	proto_run(const struct proto_ctx *ctx, const char *in,
 *			  size_t len, struct pbuf *out, size_t high,
 *			  int *status, const char **why);
 *	size_t	proto_prefetch(const struct map_gen *gen, const char *delims,
 *			       size_t max_request, const char *in,
 *			       size_t len, struct map_pf *pf);
 *
 * DESCRIPTION
 *	A request is one netstring "name<SP>key" (socketmap_table(5),
 *	Postfix dict_sockmap.c), split at the first space.  The reply is one
 *	netstring: "OK <data>", "NOTFOUND ", "TEMP <reason>" or
 *	"PERM <reason>"; the answer itself comes from srs_query() for what
 *	SRS decides (srs_forward, srs_reverse, the SRS domain), else from
 *	map_query().
 *
 *	proto_run() answers every complete request at the start of in (len
 *	bytes), in order, appending the replies to out, and returns how many
 *	input bytes it consumed.  It stops early once out holds high bytes
 *	or more (back-pressure on a client that does not read).  *status is
 *	PROTO_GO_ON normally; PROTO_CLOSE after a malformed or oversized
 *	request, whose "PERM" reply is the last thing appended (the caller
 *	sends it and closes; *why says what was wrong); PROTO_NOMEM when out
 *	could not grow (the caller closes at once).
 *
 *	proto_prefetch() is a hint given before proto_run() of the same
 *	input, while the caller has other work to do (reading the next
 *	client): for the first PROTO_PREFETCH_MAX complete requests in in,
 *	it asks the CPU to start loading from memory the table slots their
 *	lookups in gen (NULL: none) will read first (map_query_prefetch()).
 *	It changes nothing, answers nothing and reads no file.  It notes in
 *	pf[] (room for PROTO_PF_MAX) where those lookups go next, and
 *	returns how many it noted: given to the proto_run() that comes
 *	before this input's own (ctx->ahead; the caller makes sure they were
 *	taken from ctx->gen, a generation that has not changed since), they
 *	are fetched in a second step (map_pf_record()), so that both the
 *	slot and the record it points to are in the caches when this input
 *	is answered.
 *
 *	pbuf_reserve() makes room for n more bytes; pbuf_free() releases.
 */
#ifndef FWDMAPD_PROTO_H
#define FWDMAPD_PROTO_H

#include <stddef.h>

#include "conf.h"
#include "map.h"
#include "query.h"
#include "srs.h"
#include "stats.h"

struct pbuf {
    char   *p;
    size_t  len;
    size_t  cap;
};

int	pbuf_reserve(struct pbuf *b, size_t n);
void	pbuf_free(struct pbuf *b);

struct proto_ctx {
    struct map_gen *gen;		/* NULL: no generation, answer TEMP */
    const char *delims;			/* recipient_delimiter */
    int     propagate;			/* propagate_extensions */
    size_t  max_request;		/* payload limit, bytes */
    struct stats *st;			/* counters, or NULL */
    const struct conf *conf;		/* for srs_query(); NULL: no SRS maps */
    const struct srs *srs;		/* NULL: SRS off */
    const struct map_pf *ahead;		/* proto_prefetch() of the next input,
					 * from gen */
    size_t  nahead;
};

#define PROTO_GO_ON	0
#define PROTO_CLOSE	1
#define PROTO_NOMEM	(-1)

size_t	proto_run(const struct proto_ctx *ctx, const char *in, size_t len,
		  struct pbuf *out, size_t high, int *status,
		  const char **why);

#define PROTO_PREFETCH_MAX	16
#define PROTO_PF_MAX		(PROTO_PREFETCH_MAX * MAP_Q_PF_MAX)

size_t	proto_prefetch(const struct map_gen *gen, const char *delims,
		       size_t max_request, const char *in, size_t len,
		       struct map_pf *pf);

#endif

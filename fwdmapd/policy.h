/*
 * policy.h - Postfix's SMTP access policy delegation protocol, server side.
 *
 * NAME
 *	policy - turn policy requests into "action=..." replies
 *
 * SYNOPSIS
 *	#include "policy.h"
 *
 *	int	policy_parse(const char *buf, size_t len, struct policy_req *req,
 *			     size_t *used, const char **why);
 *	size_t	policy_run(const struct policy_ctx *ctx, const char *in,
 *			   size_t len, struct pbuf *out, size_t high,
 *			   int *status, const char **why);
 *
 * DESCRIPTION
 *	A request (SMTPD_POLICY_README) is a sequence of "name=value" lines,
 *	each ended by a newline, and is ended by an empty line; the client
 *	(Postfix's smtpd, check_policy_service) keeps the connection open
 *	and sends many requests on it.  A reply is one "action=..." line
 *	and an empty line.
 *
 *	policy_parse() looks at the first request in buf (len bytes): 1 when
 *	it is complete (the attributes fwdmapd reads point into buf; *used
 *	is its size including the empty line), 0 when the bytes so far may
 *	still become a valid request, -1 with a static reason in *why when
 *	they never can: a line longer than POLICY_MAX_LINE, a request longer
 *	than POLICY_MAX_REQUEST or with more than POLICY_MAX_ATTRS
 *	attributes, a NUL byte, a line without '=' or with an empty name, an
 *	empty request, or one of the attributes fwdmapd reads given twice.
 *	A carriage return before a newline is ignored (people test with
 *	telnet).  Limits are checked as bytes arrive, never after reading
 *	without bound.
 *
 *	policy_run() answers every complete request at the start of in, in
 *	order, appending replies to out, and returns the input bytes it
 *	consumed; it stops once out holds high bytes.  The answer:
 *
 *	request other than smtpd_access_policy
 *		action=DEFER_IF_PERMIT 4.3.5 (fwdmapd cannot judge it)
 *	protocol_state other than RCPT
 *		action=DUNNO (fwdmapd judges recipients only; counted apart)
 *	RCPT without a recipient
 *		action=DEFER_IF_PERMIT 4.3.5
 *	otherwise senderpol_check() of recipient and sender:
 *		DUNNO -> action=DUNNO
 *		REJECT -> action=REJECT 5.7.1 <text naming the group>
 *		TEMP -> action=DEFER_IF_PERMIT 4.3.0 <what is wrong>
 *
 *	*status is PROTO_GO_ON normally; PROTO_CLOSE after a malformed
 *	request, whose reply (action=DEFER_IF_PERMIT 4.3.5 naming what was
 *	wrong) is the last thing appended: the caller sends it and closes;
 *	PROTO_NOMEM when out could not grow.  ctx->note, when set, is called
 *	for every judged RCPT request (for logging).
 */
#ifndef FWDMAPD_POLICY_H
#define FWDMAPD_POLICY_H

#include <stddef.h>

#include "map.h"
#include "proto.h"
#include "senderpol.h"
#include "stats.h"

#define POLICY_MAX_LINE		8192	/* bytes of one "name=value" */
#define POLICY_MAX_REQUEST	65536	/* bytes of one request */
#define POLICY_MAX_ATTRS	256

struct policy_req {
    const char *request;	size_t request_len;
    const char *state;		size_t state_len;	/* protocol_state */
    const char *sender;		size_t sender_len;
    const char *recipient;	size_t recipient_len;
    int     has_request, has_state, has_sender, has_recipient;
    unsigned nattrs;
};

typedef void (*policy_note_fn) (void *arg, const struct policy_req *req,
				const struct senderpol_result *res);

struct policy_ctx {
    struct map_gen *gen;		/* NULL: no generation, DEFER */
    const char *delims;			/* recipient_delimiter */
    struct stats *st;			/* counters, or NULL */
    policy_note_fn note;		/* or NULL */
    void   *note_arg;
};

int	policy_parse(const char *buf, size_t len, struct policy_req *req,
		     size_t *used, const char **why);
size_t	policy_run(const struct policy_ctx *ctx, const char *in, size_t len,
		   struct pbuf *out, size_t high, int *status,
		   const char **why);

#endif

/*
 * policy.c - policy delegation requests to replies (see policy.h).
 *
 * Framing, limits and bookkeeping happen here; who may send to a group is
 * decided by senderpol_check() in maps/senderpol.c.  Nothing from the
 * client can make this module allocate without bound: a request is at
 * most POLICY_MAX_REQUEST bytes and the output stops growing at the
 * caller's high-water mark.
 */
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "senderpol.h"
#include "stats.h"

/* Remember one attribute fwdmapd reads; -1 when it came twice. */
static int
take(const char *name, size_t nlen, const char *want, const char *val,
     size_t vlen, const char **dst, size_t *dlen, int *seen, int *match)
{
    if (nlen != strlen(want) || memcmp(name, want, nlen) != 0)
	return (0);
    *match = 1;
    if (*seen)
	return (-1);
    *seen = 1;
    *dst = val;
    *dlen = vlen;
    return (0);
}

int
policy_parse(const char *buf, size_t len, struct policy_req *req,
	     size_t *used, const char **why)
{
    size_t  pos = 0;

    memset(req, 0, sizeof(*req));
    for (;;) {
	size_t  avail = len - pos, scan, llen, nlen;
	const char *line = buf + pos, *nl, *eq;
	int     match = 0, dup = 0;

	/* Look no further than one line may be, nor past the request. */
	scan = avail < POLICY_MAX_LINE + 2 ? avail : POLICY_MAX_LINE + 2;
	if (pos + scan > POLICY_MAX_REQUEST)
	    scan = POLICY_MAX_REQUEST - pos;
	if ((nl = memchr(line, '\n', scan)) == NULL) {
	    if (memchr(line, '\0', scan) != NULL) {
		*why = "request contains a null byte";
		return (-1);
	    }
	    if (scan >= POLICY_MAX_LINE + 2) {
		*why = "attribute line too long";
		return (-1);
	    }
	    if (scan < avail || pos + scan >= POLICY_MAX_REQUEST) {
		*why = "request too long";
		return (-1);
	    }
	    return (0);
	}
	llen = (size_t) (nl - line);
	if (memchr(line, '\0', llen) != NULL) {
	    *why = "request contains a null byte";
	    return (-1);
	}
	if (llen > 0 && line[llen - 1] == '\r')
	    llen--;
	if (llen > POLICY_MAX_LINE) {
	    *why = "attribute line too long";
	    return (-1);
	}
	pos += (size_t) (nl - line) + 1;
	if (llen == 0) {
	    if (req->nattrs == 0) {
		*why = "empty request";
		return (-1);
	    }
	    *used = pos;
	    return (1);
	}
	if (++req->nattrs > POLICY_MAX_ATTRS) {
	    *why = "too many attributes";
	    return (-1);
	}
	if ((eq = memchr(line, '=', llen)) == NULL) {
	    *why = "attribute line without '='";
	    return (-1);
	}
	if (eq == line) {
	    *why = "attribute with an empty name";
	    return (-1);
	}
	nlen = (size_t) (eq - line);
#define TAKE(n, f, s) \
	(!match && take(line, nlen, n, eq + 1, llen - nlen - 1, &req->f, \
			&req->f##_len, &req->s, &match) < 0)
	dup = TAKE("request", request, has_request)
	    || TAKE("protocol_state", state, has_state)
	    || TAKE("sender", sender, has_sender)
	    || TAKE("recipient", recipient, has_recipient);
#undef TAKE
	if (dup) {
	    *why = "an attribute fwdmapd reads is given twice";
	    return (-1);
	}
    }
}

/* Append "action=WORD[ text]\n\n". */
static int
reply(struct pbuf *out, const char *word, const char *text)
{
    size_t  wl = strlen(word), tl = text ? strlen(text) : 0;
    size_t  need = 7 + wl + (tl ? 1 + tl : 0) + 2;
    char   *p;

    if (pbuf_reserve(out, need) < 0)
	return (-1);
    p = out->p + out->len;
    memcpy(p, "action=", 7);
    p += 7;
    memcpy(p, word, wl);
    p += wl;
    if (tl) {
	*p++ = ' ';
	memcpy(p, text, tl);
	p += tl;
    }
    *p++ = '\n';
    *p = '\n';
    out->len += need;
    return (0);
}

static int
is(const char *v, size_t vl, const char *want)
{
    return (vl == strlen(want) && memcmp(v, want, vl) == 0);
}

/* Judge one complete request; append its reply. 0, or -1 out of memory. */
static int
answer(const struct policy_ctx *ctx, const struct policy_req *req,
       struct pbuf *out)
{
    struct stats_policy *sp = ctx->st ? &ctx->st->policy : NULL;
    struct senderpol_result res;
    char    text[600];

    if (sp)
	sp->requests++;
    if (!req->has_request
	|| !is(req->request, req->request_len, "smtpd_access_policy")) {
	if (sp)
	    sp->defer++;
	return (reply(out, "DEFER_IF_PERMIT", "4.3.5 fwdmapd: not an"
		      " smtpd_access_policy request"));
    }
    if (!req->has_state || !is(req->state, req->state_len, "RCPT")) {
	if (sp) {
	    sp->not_rcpt++;
	    sp->dunno++;
	}
	return (reply(out, "DUNNO", NULL));
    }
    if (!req->has_recipient || req->recipient_len == 0) {
	if (sp)
	    sp->defer++;
	return (reply(out, "DEFER_IF_PERMIT", "4.3.5 fwdmapd: RCPT request"
		      " without a recipient"));
    }
    senderpol_check(ctx->gen, req->recipient, req->recipient_len,
		    req->has_sender ? req->sender : "",
		    req->has_sender ? req->sender_len : 0, ctx->delims, &res);
    if (ctx->note)
	ctx->note(ctx->note_arg, req, &res);
    switch (res.verdict) {
    case SENDERPOL_DUNNO:
	if (sp)
	    sp->dunno++;
	return (reply(out, "DUNNO", NULL));
    case SENDERPOL_REJECT:
	if (sp)
	    sp->reject++;
	snprintf(text, sizeof(text), "5.7.1 %s", res.text);
	return (reply(out, "REJECT", text));
    case SENDERPOL_TEMP:
    default:
	if (sp)
	    sp->defer++;
	snprintf(text, sizeof(text), "4.3.0 fwdmapd: %s, try again later",
		 res.text);
	return (reply(out, "DEFER_IF_PERMIT", text));
    }
}

size_t
policy_run(const struct policy_ctx *ctx, const char *in, size_t len,
	   struct pbuf *out, size_t high, int *status, const char **why)
{
    size_t  done = 0;

    *status = PROTO_GO_ON;
    *why = NULL;
    while (done < len && out->len < high) {
	struct policy_req req;
	size_t  used = 0;
	int     r = policy_parse(in + done, len - done, &req, &used, why);

	if (r == 0)
	    break;
	if (r < 0)
	    goto bad;
	done += used;
	if (answer(ctx, &req, out) < 0) {
	    *status = PROTO_NOMEM;
	    return (done);
	}
    }
    return (done);

bad:
    {
	char    text[200];

	if (ctx->st)
	    ctx->st->policy.errors++;
	snprintf(text, sizeof(text), "4.3.5 fwdmapd: malformed policy"
		 " request: %s", *why);
	*status = reply(out, "DEFER_IF_PERMIT", text) < 0 ?
	    PROTO_NOMEM : PROTO_CLOSE;
    }
    return (len);				/* the rest is discarded */
}

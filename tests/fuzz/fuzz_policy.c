/*
 * fuzz_policy.c - libFuzzer target for fwdmapd's policy delegation side:
 * policy_parse() and policy_run() over a real generation with groups
 * (built once with the map writer) and without one.
 *
 * Invariants checked on every input: no crash or overrun; the output is a
 * sequence of complete replies "action=WORD[ text]\n\n" with WORD one of
 * DUNNO, REJECT, DEFER_IF_PERMIT and a text without newline; REJECT
 * carries 5.7.1 and names a group; a close is always preceded by a
 * DEFER_IF_PERMIT and a reason; without a generation nothing is REJECTed
 * and nothing about a recipient is DUNNO except outside RCPT; the input
 * consumed never exceeds the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_gen.h"
#include "map.h"
#include "policy.h"
#include "proto.h"
#include "stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fz_ready;

static const struct fix_rec fz_recs[] = {
    { MAP_T_DOMAIN, "tum.de", "tum\treject\t" },
    { MAP_T_DOMAIN, "lmu.de", "lmu\treject\t" },
    { MAP_T_RECIPIENT, "jane.doe@tum.de", "tum" },
    { MAP_T_GROUP, "team@tum.de", "members\tteam@tum.de\ttum" },
    { MAP_T_GROUP, "staff@tum.de", "tenant\tstaff@tum.de\ttum" },
    { MAP_T_GROUP, "board@tum.de", "listed\tboard@tum.de\ttum" },
    { MAP_T_GROUP, "all@tum.de", "anyone\tall@tum.de\ttum" },
    { MAP_T_GROUP, "bad@tum.de", "members" },
    { MAP_T_SENDER, "team@tum.de\tjane.doe@tum.de", "member" },
    { MAP_T_SENDER, "board@tum.de\t@lmu.de", "allowed" },
};

static void
fz_init(void)
{
    fz_ready = 1;
    fz_gen_build("fuzz_policy", fz_recs, FIX_N(fz_recs));
}

/* Check the replies in out; returns the kind of the last one (0: none). */
static int
fz_check_out(const struct pbuf *out, int have_gen)
{
    size_t  off = 0;
    int     last = 0;

    while (off < out->len) {
	const char *p = out->p + off, *end = out->p + out->len, *nl;
	size_t  ll;

	if ((nl = memchr(p, '\n', (size_t) (end - p))) == NULL
	    || nl + 1 >= end || nl[1] != '\n')
	    abort();
	ll = (size_t) (nl - p);
	if (ll >= 12 && memcmp(p, "action=DUNNO", 12) == 0 && ll == 12)
	    last = 'D';
	else if (ll > 27 && memcmp(p, "action=REJECT 5.7.1 group <", 27) == 0)
	    last = 'R';
	else if (ll > 29 && memcmp(p, "action=DEFER_IF_PERMIT 4.3.", 27) == 0)
	    last = 'T';
	else
	    abort();
	if (!have_gen && last == 'R')
	    abort();
	off += ll + 2;
    }
    return (last);
}

/* Feed data the way the server does: in rounds until nothing moves. */
static void
fz_run(const uint8_t *data, size_t size, struct map_gen *g, size_t high)
{
    struct stats st;
    struct policy_ctx ctx;
    struct pbuf out = {NULL, 0, 0};
    size_t  off = 0, used;
    int     status = PROTO_GO_ON, last;
    const char *why;

    memset(&st, 0, sizeof(st));
    memset(&ctx, 0, sizeof(ctx));
    ctx.gen = g;
    ctx.delims = "+-";
    ctx.st = &st;
    while (off < size) {
	out.len = 0;
	used = policy_run(&ctx, (const char *) data + off, size - off, &out,
			  high, &status, &why);
	if (used > size - off)
	    abort();
	last = fz_check_out(&out, g != NULL);
	if (status == PROTO_CLOSE && (last != 'T' || why == NULL))
	    abort();
	if (status != PROTO_GO_ON || used == 0)
	    break;
	off += used;
    }
    if (st.policy.requests != st.policy.dunno + st.policy.reject
	+ st.policy.defer)
	abort();
    pbuf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz_ready)
	fz_init();
    fz_run(data, size, fz_gen, 65536);
    fz_run(data, size, fz_gen, 1);		/* one reply per round */
    fz_run(data, size, NULL, 65536);
    return (0);
}

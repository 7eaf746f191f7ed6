/*
 * fuzz_request.c - libFuzzer target for fwdmapd's request side: the
 * netstring reader and proto_run() over a real generation (built once
 * with the map writer) and without one.
 *
 * Invariants checked on every input: no crash or overrun; the output is a
 * sequence of complete netstrings, each "OK ...", "NOTFOUND ", "TEMP ..."
 * or "PERM ..."; a close is always preceded by a PERM reply; without a
 * generation nothing answers OK or NOTFOUND; the input consumed never
 * exceeds the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_gen.h"
#include "map.h"
#include "netstr.h"
#include "proto.h"
#include "stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fz_ready;

static const struct fix_rec fz_recs[] = {
    { MAP_T_DOMAIN, "tum.de", "tum\treject\t" },
    { MAP_T_DOMAIN, "ph.tum.de", "tum\troute\tsmtp:[mail.ph.tum.de]:25" },
    { MAP_T_RECIPIENT, "jane.doe@tum.de", "tum" },
    { MAP_T_VIRTUAL, "j.doe@tum.de", "jane.doe@tum.de" },
    { MAP_T_TRANSPORT, "jane.doe@tum.de", "smtp:[exchange.example.org]:25" },
};

static void
fz_init(void)
{
    fz_ready = 1;
    fz_gen_build("fuzz_request", fz_recs, FIX_N(fz_recs));
}

/* Check the replies in out; returns the kind of the last one (0: none). */
static int
fz_check_out(const struct pbuf *out, int have_gen)
{
    size_t  off = 0, dl, used;
    const char *d, *why;
    int     last = 0;

    while (off < out->len) {
	if (netstr_parse(out->p + off, out->len - off, 1 << 20, &d, &dl,
			 &used, &why) != 1)
	    abort();
	if (dl >= 3 && memcmp(d, "OK ", 3) == 0)
	    last = 'O';
	else if (dl == 9 && memcmp(d, "NOTFOUND ", 9) == 0)
	    last = 'N';
	else if (dl >= 5 && memcmp(d, "TEMP ", 5) == 0)
	    last = 'T';
	else if (dl >= 5 && memcmp(d, "PERM ", 5) == 0)
	    last = 'P';
	else
	    abort();
	if (!have_gen && (last == 'O' || last == 'N'))
	    abort();
	off += used;
    }
    return (last);
}

/* Feed data the way the server does: in rounds until nothing moves. */
static void
fz_run(const uint8_t *data, size_t size, struct map_gen *g, size_t high)
{
    struct stats st;
    struct proto_ctx ctx;
    struct pbuf out = {NULL, 0, 0};
    size_t  off = 0, used;
    int     status = PROTO_GO_ON, last;
    const char *why;

    memset(&st, 0, sizeof(st));
    memset(&ctx, 0, sizeof(ctx));
    ctx.gen = g;
    ctx.delims = "+-";
    ctx.propagate = 1;
    ctx.max_request = 1024;
    ctx.st = &st;
    while (off < size) {
	out.len = 0;
	used = proto_run(&ctx, (const char *) data + off, size - off, &out,
			 high, &status, &why);
	if (used > size - off)
	    abort();
	last = fz_check_out(&out, g != NULL);
	if (status == PROTO_CLOSE && (last != 'P' || why == NULL))
	    abort();
	if (status != PROTO_GO_ON || used == 0)
	    break;
	off += used;
    }
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

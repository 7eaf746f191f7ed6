/*
 * t_fwdmapd_proto.c - socketmap framing of fwdmapd: replies, ordering of
 * pipelined requests, PERM-and-close on malformed input, TEMP without a
 * table, back-pressure.  The generation is built with the real writer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "gen_fixture.h"
#include "map.h"
#include "netstr.h"
#include "proto.h"
#include "stats.h"

static char dir[] = "/tmp/t_fwdmapd_proto.XXXXXX";

static const struct fix_rec recs[] = {
    { MAP_T_DOMAIN, "tum.de", "tum\treject\t" },
    { MAP_T_RECIPIENT, "jane.doe@tum.de", "tum" },
    { MAP_T_TRANSPORT, "jane.doe@tum.de", "smtp:[exchange.example.org]:25" },
    { MAP_T_VIRTUAL, "j.doe@tum.de", "jane.doe@tum.de" },
};

static struct map_gen *
build(void)
{
    return (fix_gen(dir, 42, "t_fwdmapd_proto", recs, FIX_N(recs)));
}

/* Append the netstring of s to buf (lengths computed, not typed in). */
static char *
ns(char *buf, const char *s)
{
    size_t  n = strlen(buf);

    n += netstr_put(buf + n, 4096, s, strlen(s));
    buf[n] = 0;
    return (buf);
}

/* Run proto_run over s; the output text goes to out (NUL-terminated). */
static size_t
run(struct proto_ctx *ctx, const char *s, size_t len, char *out,
    size_t outsz, size_t high, int *status)
{
    struct pbuf b = {NULL, 0, 0};
    const char *why;
    size_t  used = proto_run(ctx, s, len, &b, high, status, &why);
    size_t  n = b.len < outsz - 1 ? b.len : outsz - 1;

    if (n)
	memcpy(out, b.p, n);
    out[n] = 0;
    pbuf_free(&b);
    return (used);
}

int
main(void)
{
    struct map_gen *g;
    struct stats st;
    struct proto_ctx ctx;
    char    out[8192], in[4096], want[4096];
    int     status;
    size_t  used;

    if (mkdtemp(dir) == NULL) {
	perror("mkdtemp");
	return (1);
    }
    g = build();
    CHECK(g != NULL);
    memset(&st, 0, sizeof(st));
    memset(&ctx, 0, sizeof(ctx));
    ctx.gen = g;
    ctx.delims = "+";
    ctx.propagate = 1;
    ctx.max_request = 100;
    ctx.st = &st;

    /* The four answers, in order, from one buffer; then a partial one. */
    in[0] = want[0] = 0;
    ns(in, "transport Jane.Doe+news@TUM.de");
    ns(in, "recipients nobody@tum.de");
    ns(in, "virtual J.DOE@tum.de");
    ns(in, "domains tum.de");
    ns(in, "bogus x@y.z");
    strcat(in, "10:transp");
    ns(want, "OK smtp:[exchange.example.org]:25");
    ns(want, "NOTFOUND ");
    ns(want, "OK jane.doe@tum.de");
    ns(want, "OK tum");
    ns(want, "PERM unknown map name");
    used = run(&ctx, in, strlen(in), out, sizeof(out), 65536, &status);
    CHECK(status == PROTO_GO_ON);
    CHECK(used == strlen(in) - strlen("10:transp"));
    CHECK_STR(out, strlen(out), want);
    CHECK(st.map[3].lookups == 1 && st.map[3].ok == 1);
    CHECK(st.map[1].notfound == 1);
    CHECK(st.map[STATS_OTHER].perm == 1);

    /* The prefetch of the same input notes the slots of the probes that
     * can hit: "jane.doe" without "+news" (no stored address has a '+')
     * and "j.doe" ("nobody" has bytes no stored address has; no probe
     * for "domains" or an unknown map).  Given as the next input's to a
     * run, the answers are the same. */
    {
	struct map_pf pf[PROTO_PF_MAX];
	size_t	npf = proto_prefetch(g, "+", 100, in, strlen(in), pf);
	char	out2[8192];

	CHECK(npf == 2);
	CHECK(map_pf_record(&pf[0]) == 1 && map_pf_record(&pf[1]) == 1);
	ctx.ahead = pf;
	ctx.nahead = npf;
	used = run(&ctx, in, strlen(in), out2, sizeof(out2), 65536, &status);
	CHECK(status == PROTO_GO_ON && used == strlen(in) - strlen("10:transp"));
	CHECK(strcmp(out, out2) == 0);
	/* Without a generation they are not read (proto_run() skips them). */
	ctx.gen = NULL;
	used = run(&ctx, in, strlen(in), out2, sizeof(out2), 65536, &status);
	want[0] = 0;
	ns(want, "TEMP no routing table loaded");
	CHECK(strncmp(out2, want, strlen(want)) == 0);
	ctx.gen = g;
	ctx.ahead = NULL;
	ctx.nahead = 0;
	memset(&st, 0, sizeof(st));
    }

    /* Malformed: PERM as the last reply, status CLOSE, rest discarded. */
    in[0] = 0;
    ns(in, "domains tum.de");
    ns(in, "nospace");
    ns(in, "domains tum.de");
    want[0] = 0;
    ns(want, "OK tum");
    ns(want, "PERM request is not \"name key\"");
    used = run(&ctx, in, strlen(in), out, sizeof(out), 65536, &status);
    CHECK(status == PROTO_CLOSE);
    CHECK(used == strlen(in));
    CHECK_STR(out, strlen(out), want);
    CHECK(st.proto_errors == 1);

    /* Oversized (one over max_request), bad length, NUL, empty name. */
    used = run(&ctx, "101:", 4, out, sizeof(out), 65536, &status);
    CHECK(status == PROTO_CLOSE);
    want[0] = 0;
    ns(want, "PERM netstring too long");
    CHECK_STR(out, strlen(out), want);
    used = run(&ctx, "x:", 2, out, sizeof(out), 65536, &status);
    CHECK(status == PROTO_CLOSE);
    want[0] = 0;
    ns(want, "PERM netstring length is not a number");
    CHECK_STR(out, strlen(out), want);
    used = run(&ctx, "10:domains \0a,", 14, out, sizeof(out), 65536, &status);
    CHECK(status == PROTO_CLOSE);
    want[0] = 0;
    ns(want, "PERM request contains a null byte");
    CHECK_STR(out, strlen(out), want);
    used = run(&ctx, "7: tum.de,", 10, out, sizeof(out), 65536, &status);
    CHECK(status == PROTO_CLOSE);
    want[0] = 0;
    ns(want, "PERM request is not \"name key\"");
    CHECK_STR(out, strlen(out), want);
    CHECK(st.proto_errors == 5);

    /*
     * Exactly max_request bytes is still a request: an unknown key gets
     * NOTFOUND, a known address (behind an extension) OK; neither is a
     * protocol error.
     */
    {
	char    big[200];
	int     n = snprintf(big, sizeof(big), "100:recipients ");

	memset(big + n, 'a', 100 - 11);
	big[n + 89] = ',';
	used = run(&ctx, big, (size_t) n + 90, out, sizeof(out), 65536, &status);
	CHECK(status == PROTO_GO_ON);
	CHECK(used == (size_t) n + 90);
	CHECK_STR(out, strlen(out), "9:NOTFOUND ,");

	n = snprintf(big, sizeof(big), "100:recipients jane.doe+");
	memset(big + n, 'x', 100 - 11 - 9 - 7);
	n += 100 - 11 - 9 - 7;
	n += snprintf(big + n, sizeof(big) - (size_t) n, "@tum.de,");
	CHECK(n == 4 + 100 + 1);
	used = run(&ctx, big, (size_t) n, out, sizeof(out), 65536, &status);
	CHECK(status == PROTO_GO_ON);
	CHECK(used == (size_t) n);
	CHECK_STR(out, strlen(out), "6:OK tum,");
	CHECK(st.proto_errors == 5);
    }

    /* Back-pressure: stop once the output reaches the high-water mark. */
    in[0] = 0;
    ns(in, "domains tum.de");
    ns(in, "domains tum.de");
    ns(in, "domains tum.de");
    used = run(&ctx, in, strlen(in), out, sizeof(out), 5, &status);
    CHECK(status == PROTO_GO_ON);
    CHECK(used == strlen(in) / 3);
    CHECK(strcmp(out, "6:OK tum,") == 0);

    /* No generation: TEMP, never NOTFOUND. */
    ctx.gen = NULL;
    in[0] = 0;
    ns(in, "recipients nobody@tum.de");
    used = run(&ctx, in, strlen(in), out, sizeof(out), 65536, &status);
    CHECK(status == PROTO_GO_ON);
    want[0] = 0;
    ns(want, "TEMP no routing table loaded");
    CHECK_STR(out, strlen(out), want);
    CHECK(st.map[1].temp == 1);

    if (g)
	map_gen_close(g);
    {
	char    p[sizeof(dir) + 32];

	snprintf(p, sizeof(p), "%s/%s", dir, MAP_BASE_NAME);
	unlink(p);
	rmdir(dir);
    }
    return (DONE());
}

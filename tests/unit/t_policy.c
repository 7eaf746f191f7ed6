/*
 * t_policy.c - who may send to a group: senderpol_check() over a real
 * generation (built with the map writer), and fwdmapd's policy delegation
 * framing: answers, pipelining, partial requests, every limit at its exact
 * boundary and one byte over, malformed input answered and closed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "gen_fixture.h"
#include "map.h"
#include "policy.h"
#include "proto.h"
#include "senderpol.h"
#include "stats.h"

static char dir[] = "/tmp/t_policy.XXXXXX";

static const struct fix_rec recs[] = {
    { MAP_T_DOMAIN, "tum.de", "tum\treject\t" },
    { MAP_T_DOMAIN, "ph.tum.de", "tum\troute\tsmtp:[mail.ph.tum.de]:25" },
    { MAP_T_DOMAIN, "lmu.de", "lmu\treject\t" },
    { MAP_T_RECIPIENT, "jane.doe@tum.de", "tum" },
    { MAP_T_GROUP, "team@tum.de", "members\tteam@tum.de\ttum" },
    { MAP_T_GROUP, "team-alias@tum.de", "members\tteam@tum.de\ttum" },
    { MAP_T_GROUP, "staff@tum.de", "tenant\tstaff@tum.de\ttum" },
    { MAP_T_GROUP, "board@tum.de", "listed\tboard@tum.de\ttum" },
    { MAP_T_GROUP, "all@tum.de", "anyone\tall@tum.de\ttum" },
    { MAP_T_GROUP, "broken@tum.de", "members only" },
    { MAP_T_GROUP, "odd@tum.de", "members\todd@tum.de\ttum" },
    { MAP_T_SENDER, "team@tum.de\tjane.doe@tum.de", "member" },
    { MAP_T_SENDER, "team@tum.de\tboss@example.org", "allowed" },
    { MAP_T_SENDER, "board@tum.de\t@partner.org", "allowed" },
    { MAP_T_SENDER, "board@tum.de\tjane.doe@tum.de", "member" },
    { MAP_T_SENDER, "staff@tum.de\tguest@lmu.de", "allowed" },
    { MAP_T_SENDER, "odd@tum.de\tx@tum.de", "maybe" },
};

static struct map_gen *
build(void)
{
    return (fix_gen(dir, 7, "t_policy", recs, FIX_N(recs)));
}

static struct senderpol_result res;

static enum senderpol_verdict
judge(struct map_gen *g, const char *rcpt, const char *sender)
{
    return (senderpol_check(g, rcpt, strlen(rcpt), sender, strlen(sender),
			    "+", &res));
}

static void
test_decision(struct map_gen *g)
{
    char    longaddr[3000];

    /* members: a member (any case, with an extension), an allowed
     * outsider; an outsider, the null sender and a member's domain are
     * refused; the group is named by its primary address. */
    CHECK(judge(g, "team@tum.de", "jane.doe@tum.de") == SENDERPOL_DUNNO);
    CHECK(strcmp(res.why, "sender is a member") == 0);
    CHECK(judge(g, "Team@TUM.de", "JANE.Doe+lists@Tum.DE") == SENDERPOL_DUNNO);
    CHECK(judge(g, "team+x@tum.de", "jane.doe@tum.de") == SENDERPOL_DUNNO);
    CHECK(judge(g, "team@tum.de", "Boss@example.org") == SENDERPOL_DUNNO);
    CHECK(strcmp(res.why, "sender is allowed") == 0);
    CHECK(judge(g, "team@tum.de", "other@tum.de") == SENDERPOL_REJECT);
    CHECK(strcmp(res.text, "group <team@tum.de> accepts mail only from its"
		 " members") == 0);
    CHECK(strcmp(res.policy, "members") == 0 && res.is_group);
    CHECK(judge(g, "team-alias@tum.de", "other@tum.de") == SENDERPOL_REJECT);
    CHECK(strcmp(res.group, "team@tum.de") == 0);
    CHECK(judge(g, "team-alias+x@tum.de", "other@tum.de") == SENDERPOL_REJECT);
    CHECK(judge(g, "team@tum.de", "") == SENDERPOL_REJECT);
    CHECK(strcmp(res.why, "null sender") == 0);
    CHECK(strstr(res.text, "null sender") != NULL);
    CHECK(judge(g, "team@tum.de", "jane.doe") == SENDERPOL_REJECT);
    CHECK(judge(g, "team@tum.de", "@tum.de") == SENDERPOL_REJECT);
    CHECK(judge(g, "team@tum.de", "jane.doe@tum.de.evil.org") == SENDERPOL_REJECT);
    CHECK(judge(g, "team@tum.de", "jane.doe@") == SENDERPOL_REJECT);

    /* tenant: any domain of the tenant; another tenant's domain is out
     * unless the sender is allowed; a sub-domain is not the domain. */
    CHECK(judge(g, "staff@tum.de", "x@ph.tum.de") == SENDERPOL_DUNNO);
    CHECK(judge(g, "staff@tum.de", "X@TUM.DE") == SENDERPOL_DUNNO);
    CHECK(judge(g, "staff@tum.de", "x@lmu.de") == SENDERPOL_REJECT);
    CHECK(strstr(res.text, "own organisation") != NULL);
    CHECK(judge(g, "staff@tum.de", "guest+a@lmu.de") == SENDERPOL_DUNNO);
    CHECK(judge(g, "staff@tum.de", "x@sub.tum.de") == SENDERPOL_REJECT);
    CHECK(judge(g, "staff@tum.de", "") == SENDERPOL_REJECT);

    /* listed: "member" entries do not count, an allowed domain does. */
    CHECK(judge(g, "board@tum.de", "jane.doe@tum.de") == SENDERPOL_REJECT);
    CHECK(judge(g, "board@tum.de", "Anyone@PARTNER.org") == SENDERPOL_DUNNO);
    CHECK(strcmp(res.why, "sender's domain is allowed") == 0);

    /* anyone, and addresses that are no group. */
    CHECK(judge(g, "all@tum.de", "") == SENDERPOL_DUNNO);
    CHECK(judge(g, "jane.doe@tum.de", "") == SENDERPOL_DUNNO);
    CHECK(res.is_group == 0);
    CHECK(judge(g, "nobody@nowhere.example", "x@y.z") == SENDERPOL_DUNNO);

    /* Over-long recipient or sender: never found, never an overrun. */
    memset(longaddr, 'a', sizeof(longaddr) - 1);
    longaddr[sizeof(longaddr) - 1] = 0;
    CHECK(judge(g, longaddr, "x@y.z") == SENDERPOL_DUNNO);
    CHECK(judge(g, "team@tum.de", longaddr) == SENDERPOL_REJECT);
    memcpy(longaddr + sizeof(longaddr) - 10, "@tum.de", 8);
    CHECK(judge(g, "staff@tum.de", longaddr) == SENDERPOL_REJECT);

    /* Unsure is TEMP: no tables, a broken record, an unknown S value. */
    CHECK(judge(NULL, "team@tum.de", "x@y.z") == SENDERPOL_TEMP);
    CHECK(strcmp(res.text, "no routing table loaded") == 0);
    CHECK(judge(g, "broken@tum.de", "x@y.z") == SENDERPOL_TEMP);
    CHECK(judge(g, "odd@tum.de", "x@tum.de") == SENDERPOL_TEMP);
    CHECK(judge(g, "odd@tum.de", "y@tum.de") == SENDERPOL_REJECT);

    /* G values. */
    {
	struct senderpol_result r;

	CHECK(senderpol_parse_group("anyone\ta@b.c\tt", 14, &r) == 0);
	CHECK(senderpol_parse_group("nobody\ta@b.c\tt", 14, &r) < 0);
	CHECK(senderpol_parse_group("anyone\ta b@c\tt", 14, &r) < 0);
	CHECK(senderpol_parse_group("anyone\ta@b.c\t", 13, &r) < 0);
	CHECK(senderpol_parse_group("anyone\ta@b.c\tt\tx", 16, &r) < 0);
    }
}

/* policy_run over s; the output text goes to out (NUL-terminated). */
static size_t
run(struct policy_ctx *ctx, const char *s, size_t len, char *out,
    size_t outsz, size_t high, int *status)
{
    struct pbuf b = {NULL, 0, 0};
    const char *why;
    size_t  used = policy_run(ctx, s, len, &b, high, status, &why);
    size_t  n = b.len < outsz - 1 ? b.len : outsz - 1;

    if (n)
	memcpy(out, b.p, n);
    out[n] = 0;
    pbuf_free(&b);
    return (used);
}

#define RCPT(s, r) "request=smtpd_access_policy\nprotocol_state=RCPT\n" \
	"protocol_name=ESMTP\nclient_address=192.0.2.1\nsender=" s "\n" \
	"recipient=" r "\n\n"

static int notes;

static void
note(void *arg, const struct policy_req *req, const struct senderpol_result *r)
{
    (void) arg;
    (void) req;
    (void) r;
    notes++;
}

static void
test_framing(struct map_gen *g)
{
    struct stats st;
    struct policy_ctx ctx;
    struct policy_req req;
    static char in[3 * POLICY_MAX_REQUEST], out[8192];
    const char *why, *s;
    size_t  used, n;
    int     status, i;

    memset(&st, 0, sizeof(st));
    ctx.gen = g;
    ctx.delims = "+";
    ctx.st = &st;
    ctx.note = note;
    ctx.note_arg = NULL;

    /* Three requests and a partial fourth, answered in order. */
    snprintf(in, sizeof(in), "%s%s%s%s", RCPT("other@tum.de", "team@tum.de"),
	     RCPT("jane.doe@tum.de", "team@tum.de"),
	     "request=smtpd_access_policy\nprotocol_state=DATA\nsender=\n"
	     "recipient=\n\n", "request=smtpd_acc");
    used = run(&ctx, in, strlen(in), out, sizeof(out), 65536, &status);
    CHECK(status == PROTO_GO_ON);
    CHECK(used == strlen(in) - strlen("request=smtpd_acc"));
    CHECK_STR(out, strlen(out), "action=REJECT 5.7.1 group <team@tum.de>"
	      " accepts mail only from its members\n\naction=DUNNO\n\n"
	      "action=DUNNO\n\n");
    CHECK(st.policy.requests == 3 && st.policy.reject == 1
	  && st.policy.dunno == 2 && st.policy.not_rcpt == 1);
    CHECK(notes == 2);

    /* Byte by byte: nothing until the empty line. */
    s = RCPT("", "team@tum.de");
    for (n = 1; n < strlen(s); n++)
	CHECK(policy_parse(s, n, &req, &used, &why) == 0);
    CHECK(policy_parse(s, n, &req, &used, &why) == 1 && used == strlen(s));
    CHECK(req.has_sender && req.sender_len == 0);
    CHECK_STR(req.recipient, req.recipient_len, "team@tum.de");

    /* CRLF as typed in telnet. */
    s = "request=smtpd_access_policy\r\nprotocol_state=RCPT\r\n"
	"sender=x@lmu.de\r\nrecipient=staff@tum.de\r\n\r\n";
    used = run(&ctx, s, strlen(s), out, sizeof(out), 65536, &status);
    CHECK(status == PROTO_GO_ON && used == strlen(s));
    CHECK(strncmp(out, "action=REJECT 5.7.1 group <staff@tum.de>", 40) == 0);

    /* Request type, missing recipient, no tables. */
    s = "request=junk\nprotocol_state=RCPT\nrecipient=team@tum.de\n\n";
    run(&ctx, s, strlen(s), out, sizeof(out), 65536, &status);
    CHECK(status == PROTO_GO_ON);
    CHECK(strncmp(out, "action=DEFER_IF_PERMIT 4.3.5 ", 29) == 0);
    s = "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=a@b.c\n\n";
    run(&ctx, s, strlen(s), out, sizeof(out), 65536, &status);
    CHECK(status == PROTO_GO_ON);
    CHECK(strncmp(out, "action=DEFER_IF_PERMIT 4.3.5 ", 29) == 0);
    ctx.gen = NULL;
    s = RCPT("a@b.c", "jane.doe@tum.de");
    run(&ctx, s, strlen(s), out, sizeof(out), 65536, &status);
    CHECK(status == PROTO_GO_ON);
    CHECK_STR(out, strlen(out), "action=DEFER_IF_PERMIT 4.3.0 fwdmapd: no"
	      " routing table loaded, try again later\n\n");
    ctx.gen = g;

    /* Malformed: the last reply is a DEFER naming why; status CLOSE. */
    {
	static const struct {
	    const char *in;
	    size_t  len;
	    const char *why;
	} bad[] = {
	    {"sender=a@b.c\nno equals sign\n\n", 29, "attribute line without '='"},
	    {"=x\n\n", 4, "attribute with an empty name"},
	    {"\n", 1, "empty request"},
	    {"sender=a\0b\n\n", 12, "request contains a null byte"},
	    {"sender=a\0b", 10, "request contains a null byte"},
	    {"recipient=a@b.c\nrecipient=team@tum.de\n\n", 39,
	     "an attribute fwdmapd reads is given twice"},
	};

	for (i = 0; i < (int) (sizeof(bad) / sizeof(bad[0])); i++) {
	    char    want[256];

	    CHECK(policy_parse(bad[i].in, bad[i].len, &req, &used, &why) == -1);
	    CHECK(strcmp(why, bad[i].why) == 0);
	    used = run(&ctx, bad[i].in, bad[i].len, out, sizeof(out), 65536,
		       &status);
	    CHECK(status == PROTO_CLOSE && used == bad[i].len);
	    snprintf(want, sizeof(want), "action=DEFER_IF_PERMIT 4.3.5 fwdmapd:"
		     " malformed policy request: %s\n\n", bad[i].why);
	    CHECK_STR(out, strlen(out), want);
	}
	/* A good request before a bad one is answered first. */
	snprintf(in, sizeof(in), "%s=oops\n\n", RCPT("jane.doe@tum.de",
						    "team@tum.de"));
	run(&ctx, in, strlen(in), out, sizeof(out), 65536, &status);
	CHECK(status == PROTO_CLOSE);
	CHECK(strncmp(out, "action=DUNNO\n\naction=DEFER_IF_PERMIT 4.3.5 ", 43)
	      == 0);
	/* Attributes fwdmapd does not read may repeat. */
	s = "request=smtpd_access_policy\nx=1\nx=2\nprotocol_state=RCPT\n"
	    "recipient=all@tum.de\n\n";
	run(&ctx, s, strlen(s), out, sizeof(out), 65536, &status);
	CHECK(status == PROTO_GO_ON);
	CHECK_STR(out, strlen(out), "action=DUNNO\n\n");
    }

    /* A line of exactly POLICY_MAX_LINE bytes; one more is refused as
     * soon as it is seen, without waiting for its newline. */
    n = (size_t) snprintf(in, sizeof(in), "request=smtpd_access_policy\n"
			  "protocol_state=RCPT\nrecipient=team@tum.de\n"
			  "sender=");
    memset(in + n, 'a', POLICY_MAX_LINE - 7);
    n += POLICY_MAX_LINE - 7;
    in[n++] = '\n';
    in[n++] = '\n';
    CHECK(policy_parse(in, n, &req, &used, &why) == 1 && used == n);
    CHECK(req.sender_len == POLICY_MAX_LINE - 7);
    run(&ctx, in, n, out, sizeof(out), 65536, &status);
    CHECK(status == PROTO_GO_ON);
    CHECK(strncmp(out, "action=REJECT 5.7.1 ", 20) == 0);
    /* The same with CR before the newline still fits. */
    memmove(in + n - 2, "\r\n\n", 3);
    CHECK(policy_parse(in, n + 1, &req, &used, &why) == 1 && used == n + 1);
    /* One byte more. */
    memset(in + n - 2, 'a', 1);
    in[n - 1] = '\n';
    in[n] = '\n';
    CHECK(policy_parse(in, n + 1, &req, &used, &why) == -1);
    CHECK(strcmp(why, "attribute line too long") == 0);
    CHECK(policy_parse(in, n - 1, &req, &used, &why) == 0);
    CHECK(policy_parse(in, n, &req, &used, &why) == -1);

    /* POLICY_MAX_ATTRS attributes; one more is refused. */
    n = 0;
    for (i = 0; i < POLICY_MAX_ATTRS; i++)
	n += (size_t) snprintf(in + n, sizeof(in) - n, "a=%d\n", i);
    in[n++] = '\n';
    CHECK(policy_parse(in, n, &req, &used, &why) == 1);
    n--;
    n += (size_t) snprintf(in + n, sizeof(in) - n, "b=x\n\n");
    CHECK(policy_parse(in, n, &req, &used, &why) == -1);
    CHECK(strcmp(why, "too many attributes") == 0);

    /* A request of exactly POLICY_MAX_REQUEST bytes; one more is refused
     * as soon as the limit is passed. */
    n = 0;
    while (n + 4000 < POLICY_MAX_REQUEST - 100) {
	memcpy(in + n, "x=", 2);
	memset(in + n + 2, 'y', 3997);
	in[n + 3999] = '\n';
	n += 4000;
    }
    {
	size_t  rest = POLICY_MAX_REQUEST - n - 1;	/* then "\n" */

	memcpy(in + n, "z=", 2);
	memset(in + n + 2, 'y', rest - 3);
	in[n + rest - 1] = '\n';
	n += rest;
	in[n++] = '\n';
    }
    CHECK(n == POLICY_MAX_REQUEST);
    CHECK(policy_parse(in, n, &req, &used, &why) == 1 && used == n);
    in[n - 1] = 'y';		/* the empty line becomes more attribute */
    in[n - 2] = 'y';
    in[n - 3] = 'y';
    CHECK(policy_parse(in, n, &req, &used, &why) == -1);
    CHECK(strcmp(why, "request too long") == 0);
    CHECK(policy_parse(in, n - 1, &req, &used, &why) == 0);
    memset(in + n, 'y', 10);
    CHECK(policy_parse(in, n + 10, &req, &used, &why) == -1);

    /* Back-pressure: stop once the output reaches the high-water mark. */
    snprintf(in, sizeof(in), "%s%s", RCPT("", "all@tum.de"),
	     RCPT("", "all@tum.de"));
    used = run(&ctx, in, strlen(in), out, sizeof(out), 5, &status);
    CHECK(status == PROTO_GO_ON && used == strlen(in) / 2);
    CHECK_STR(out, strlen(out), "action=DUNNO\n\n");
    CHECK(st.policy.errors == 7);
}

int
main(void)
{
    struct map_gen *g;

    if (mkdtemp(dir) == NULL) {
	perror("mkdtemp");
	return (1);
    }
    g = build();
    CHECK(g != NULL);
    if (g) {
	test_decision(g);
	test_framing(g);
	map_gen_close(g);
    }
    {
	char    p[sizeof(dir) + 32];

	snprintf(p, sizeof(p), "%s/%s", dir, MAP_BASE_NAME);
	unlink(p);
	rmdir(dir);
    }
    return (DONE());
}

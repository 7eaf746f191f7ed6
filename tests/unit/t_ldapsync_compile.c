/*
 * t_ldapsync_compile.c - unit tests of ldapsync's compiler and state
 *	without a directory: routing rules, validation, the conflict rule,
 *	dirty-set expansion for deltas, snapshot + journal round trip, and
 *	the hash table at growth boundaries.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "check.h"
#include "compile.h"
#include "conf.h"
#include "dn.h"
#include "htab.h"
#include "ldap_conn.h"
#include "syncrepl.h"
#include "state.h"


static char dir[] = "/tmp/t_ldapsync.XXXXXX";
static struct conf *conf;

static const char *conf_text =
"{ \"maps_dir\": \"/tmp\",\n"
"  \"ldap\": { \"uris\": [\"ldap://127.0.0.1/\"] },\n"
"  \"stores\": { \"exchange\": \"smtp:[ex.example.org]:25\", \"mytum\": \"lmtp:[my.example.org]:24\" },\n"
"  \"tenants\": { \"tum\": { \"base\": \"ou=tum,dc=ex\", \"domains\": [\"tum.de\", \"ph.tum.de\"] },\n"
"               \"lmu\": { \"base\": \"ou=lmu,dc=ex\", \"domains\": [\"lmu.de\"],\n"
"                        \"allowed_hosts\": [\"mx.lmu.de\"], \"default_location\": \"exchange\" },\n"
"               \"ph\": { \"base\": \"OU=Ph, OU=TUM , dc=ex\", \"domains\": [\"phys.de\"] } },\n"
"  \"domains\": { \"ph.tum.de\": { \"default_route\": \"smtp:[ph]:25\", \"unknown_recipients\": \"route\" } },\n"
"  \"ldapsync\": { \"max_forwards\": 3 } }\n";

/* Build an entry: vals as "m:addr", "a:alias", "l:loc", "h:host", "f:fwd";
 * groups: "G:groupofnames", "M:member dn", "P:policy", "A:allowed". */
static struct ent *
mk(int id, const char *dn, ...)
{
    char   *vals[V_NUM][8];
    size_t  n[V_NUM] = {0};
    char  **vp[V_NUM];
    unsigned char u[16] = {0};
    const char *s;
    va_list ap;
    int     k;
    struct ent *e;

    u[15] = (unsigned char) id;
    u[14] = (unsigned char) (id >> 8);
    va_start(ap, dn);
    while ((s = va_arg(ap, const char *)) != NULL) {
	k = s[0] == 'm' ? V_MAIL : s[0] == 'a' ? V_ALIAS : s[0] == 'l' ? V_LOC
	    : s[0] == 'h' ? V_HOST : s[0] == 'M' ? V_MEMBER : s[0] == 'P' ? V_POLICY
	    : s[0] == 'A' ? V_ALLOWED : s[0] == 'G' ? V_GROUP : V_FWD;
	vals[k][n[k]++] = (char *) (uintptr_t) (s + 2);
    }
    va_end(ap);
    for (k = 0; k < V_NUM; k++)
	vp[k] = vals[k];
    e = ent_new(u, dn, (char **const *) vp, n);
    comp_validate(conf, e);
    return (e);
}

/* The value of table tag for addr, or "-" when absent. */
static char out[110000];
static const char *
rec(struct state *st, const char *addr, int tag)
{
    struct recs r;

    if (comp_addr(conf, st, addr, &r, NULL) < 0) {
	snprintf(out, sizeof(out), "ERROR");
	return (out);
    }
    snprintf(out, sizeof(out), "%s", r.v[REC_IDX(tag)] ? r.v[REC_IDX(tag)] : "-");
    recs_free(&r);
    return (out);
}

#define REC_EQ(st, addr, tag, want) do { const char *got_ = rec(st, addr, tag); \
    check_count++; \
    if (strcmp(got_, want) != 0) { fprintf(stderr, "%s:%d: %c:%s = [%s], want [%s]\n", \
	__FILE__, __LINE__, tag, addr, got_, want); check_failures++; } } while (0)

static int
dirty_has(struct state *st, const char *a)
{
    return (htab_get(&st->dirty, a, strlen(a)) != NULL);
}

static void
test_rules(void)
{
    struct state st;

    CHECK(state_init(&st) == 0);
    state_put(&st, mk(1, "uid=jane,ou=tum,dc=ex", "m:Jane.Doe@TUM.de", "a:jd@tum.de",
		      "l:exchange", "f:jane@gmail.com", NULL));
    state_put(&st, mk(2, "uid=bob,ou=tum,dc=ex", "m:bob@tum.de", "l:external",
		      "h:mx.bob.example:2525", NULL));
    state_put(&st, mk(3, "uid=al,ou=tum,dc=ex", "m:al@tum.de", "l:none", "f:al@web.de",
		      "f:jane.doe@tum.de", NULL));
    state_put(&st, mk(4, "uid=ute,ou=lmu,dc=ex", "m:ute@lmu.de", NULL));
    state_put(&st, mk(5, "uid=nol,ou=tum,dc=ex", "m:nol@tum.de", NULL));
    state_put(&st, mk(6, "uid=inj,ou=tum,dc=ex", "m:inj@tum.de", "l:mytum",
		      "f:a@x.org, b@y.org", "f:ghost@tum.de", "f:any@ph.tum.de", NULL));
    state_put(&st, mk(7, "uid=many,ou=tum,dc=ex", "m:many@tum.de", "l:mytum",
		      "f:1@x.org", "f:2@x.org", "f:3@x.org", "f:4@x.org", NULL));
    state_put(&st, mk(8, "uid=far,ou=lmu,dc=ex", "m:far@lmu.de", "l:external", "h:evil.org", NULL));
    state_put(&st, mk(9, "uid=for,ou=tum,dc=ex", "m:for@lmu.de", "l:exchange", NULL));

    REC_EQ(&st, "jane.doe@tum.de", 'R', "tum");
    REC_EQ(&st, "jane.doe@tum.de", 'T', "smtp:[ex.example.org]:25");
    REC_EQ(&st, "jane.doe@tum.de", 'V', "jane.doe@tum.de,jane@gmail.com");
    REC_EQ(&st, "jd@tum.de", 'V', "jane.doe@tum.de");
    REC_EQ(&st, "jd@tum.de", 'T', "smtp:[ex.example.org]:25");
    REC_EQ(&st, "bob@tum.de", 'T', "smtp:[mx.bob.example]:2525");
    REC_EQ(&st, "bob@tum.de", 'V', "-");
    REC_EQ(&st, "al@tum.de", 'V', "al@web.de,jane.doe@tum.de");
    REC_EQ(&st, "al@tum.de", 'T', "-");
    REC_EQ(&st, "ute@lmu.de", 'T', "smtp:[ex.example.org]:25");
    REC_EQ(&st, "ute@lmu.de", 'R', "lmu");
    REC_EQ(&st, "nol@tum.de", 'R', "-");
    CHECK(strstr(rec(&st, "nol@tum.de", 'X'), "no fwdMailboxLocation") != NULL);
    REC_EQ(&st, "inj@tum.de", 'V', "inj@tum.de,any@ph.tum.de");
    REC_EQ(&st, "many@tum.de", 'R', "-");
    CHECK(strstr(rec(&st, "many@tum.de", 'X'), "too many forward") != NULL);
    CHECK(strstr(rec(&st, "far@lmu.de", 'X'), "allowed_hosts") != NULL);
    CHECK(strstr(rec(&st, "for@lmu.de", 'X'), "does not own") != NULL);
    CHECK(strstr(rec(&st, "jd@tum.de", 'P'), "\"role\":\"alias\"") != NULL);
    state_free(&st);
}

static void
test_conflicts(void)
{
    struct state st;

    CHECK(state_init(&st) == 0);
    /* Two primaries: the smaller uuid (2) wins, whatever the order. */
    state_put(&st, mk(7, "uid=a,ou=tum,dc=ex", "m:dup@tum.de", "a:a-alias@tum.de", "l:exchange", NULL));
    state_put(&st, mk(2, "uid=b,ou=tum,dc=ex", "m:dup@tum.de", "l:mytum", NULL));
    REC_EQ(&st, "dup@tum.de", 'T', "lmtp:[my.example.org]:24");
    CHECK(strstr(rec(&st, "dup@tum.de", 'X'), "uid=a,ou=tum") != NULL);
    /* The loser loses its aliases too. */
    REC_EQ(&st, "a-alias@tum.de", 'R', "-");
    /* Primary beats alias even with a larger uuid. */
    state_put(&st, mk(200, "uid=p,ou=tum,dc=ex", "m:shared@tum.de", "l:exchange", NULL));
    state_put(&st, mk(1, "uid=q,ou=tum,dc=ex", "m:q@tum.de", "a:shared@tum.de", "l:mytum", NULL));
    REC_EQ(&st, "shared@tum.de", 'T', "smtp:[ex.example.org]:25");
    REC_EQ(&st, "q@tum.de", 'R', "tum");
    /* Delete the winner: the other claim takes over (incrementally). */
    state_dirty_clear(&st);
    {
	unsigned char u[16] = {0};

	u[15] = 2;
	CHECK(state_del(&st, u) == 1);
    }
    CHECK(dirty_has(&st, "dup@tum.de"));
    CHECK(state_dirty_expand(&st) == 0);
    CHECK(dirty_has(&st, "a-alias@tum.de"));	/* claimant's other address */
    REC_EQ(&st, "dup@tum.de", 'T', "smtp:[ex.example.org]:25");
    REC_EQ(&st, "a-alias@tum.de", 'V', "dup@tum.de");
    state_free(&st);
}

static void
test_dirty_forwarders(void)
{
    struct state st;

    CHECK(state_init(&st) == 0);
    state_put(&st, mk(1, "uid=f,ou=tum,dc=ex", "m:f@tum.de", "l:exchange", "f:t@tum.de", NULL));
    REC_EQ(&st, "f@tum.de", 'V', "-");		/* t unknown: forward dropped */
    state_dirty_clear(&st);
    state_put(&st, mk(2, "uid=t,ou=tum,dc=ex", "m:t@tum.de", "l:exchange", NULL));
    CHECK(state_dirty_expand(&st) == 0);
    CHECK(dirty_has(&st, "f@tum.de"));		/* forwarder recompiled */
    REC_EQ(&st, "f@tum.de", 'V', "f@tum.de,t@tum.de");
    /* A loop through a mailbox is found (reported) but keeps delivering. */
    state_put(&st, mk(3, "uid=l1,ou=tum,dc=ex", "m:l1@tum.de", "l:exchange", "f:l2@tum.de", NULL));
    state_put(&st, mk(4, "uid=l2,ou=tum,dc=ex", "m:l2@tum.de", "l:none", "f:l1@tum.de", NULL));
    {
	struct report *rep = report_new("full");
	struct recs r;

	CHECK(comp_addr(conf, &st, "l1@tum.de", &r, rep) == 0);
	CHECK(report_count(rep, "loops") == 1);
	recs_free(&r);
	report_free(rep);
    }
    REC_EQ(&st, "l1@tum.de", 'V', "l1@tum.de,l2@tum.de");
    REC_EQ(&st, "l2@tum.de", 'V', "l1@tum.de");
    REC_EQ(&st, "l2@tum.de", 'R', "tum");
    state_free(&st);
}

/*
 * Forward-only entries forwarding to each other (issue 10 item 2): no
 * mailbox and no outside address anywhere along the way, so no
 * recipient; through aliases and over three hops too.  A change at the
 * end of the chain reaches every address before it in the dirty set.
 */
static void
test_dead_cycles(void)
{
    struct state st;
    struct report *rep = report_new("full");
    struct recs r;

    CHECK(state_init(&st) == 0);
    state_put(&st, mk(1, "uid=c1,ou=tum,dc=ex", "m:c1@tum.de", "l:none", "f:c2@tum.de", NULL));
    state_put(&st, mk(2, "uid=c2,ou=tum,dc=ex", "m:c2@tum.de", "l:none", "f:c1@tum.de", NULL));
    REC_EQ(&st, "c1@tum.de", 'R', "-");
    REC_EQ(&st, "c1@tum.de", 'V', "-");
    REC_EQ(&st, "c2@tum.de", 'R', "-");
    CHECK(comp_addr(conf, &st, "c1@tum.de", &r, rep) == 0);
    CHECK(r.v[REC_IDX('X')] && strstr(r.v[REC_IDX('X')], "no valid destination"));
    CHECK(report_count(rep, "rejected") >= 2);	/* the entry and its forward */
    CHECK(report_count(rep, "loops") == 1);
    recs_free(&r);
    /* Three hops, the last one through an alias of the first. */
    state_put(&st, mk(3, "uid=d1,ou=tum,dc=ex", "m:d1@tum.de", "a:dd1@tum.de", "l:none",
		      "f:d2@tum.de", NULL));
    state_put(&st, mk(4, "uid=d2,ou=tum,dc=ex", "m:d2@tum.de", "l:none", "f:d3@tum.de", NULL));
    state_put(&st, mk(5, "uid=d3,ou=tum,dc=ex", "m:d3@tum.de", "l:none", "f:dd1@tum.de", NULL));
    REC_EQ(&st, "d1@tum.de", 'R', "-");
    REC_EQ(&st, "dd1@tum.de", 'R', "-");
    REC_EQ(&st, "d2@tum.de", 'R', "-");
    REC_EQ(&st, "d3@tum.de", 'R', "-");
    /* A forward into the dead cycle is dropped from a mailbox owner. */
    state_put(&st, mk(6, "uid=m,ou=tum,dc=ex", "m:m@tum.de", "l:exchange", "f:d2@tum.de", NULL));
    REC_EQ(&st, "m@tum.de", 'V', "-");
    REC_EQ(&st, "m@tum.de", 'R', "tum");
    /* d3 gets an outside forward: the whole chain delivers again, and
     * every address of it is recompiled by a delta. */
    state_dirty_clear(&st);
    state_put(&st, mk(5, "uid=d3,ou=tum,dc=ex", "m:d3@tum.de", "l:none", "f:dd1@tum.de",
		      "f:x@example.com", NULL));
    CHECK(state_dirty_expand(&st) == 0);
    CHECK(dirty_has(&st, "d1@tum.de"));
    CHECK(dirty_has(&st, "dd1@tum.de"));
    CHECK(dirty_has(&st, "d2@tum.de"));
    CHECK(dirty_has(&st, "m@tum.de"));
    /* Postfix would follow the cycle until its recursion limit and defer
     * the mail: what runs through one is published as its ends. */
    REC_EQ(&st, "d1@tum.de", 'V', "x@example.com");
    REC_EQ(&st, "dd1@tum.de", 'V', "d1@tum.de");
    REC_EQ(&st, "dd1@tum.de", 'R', "tum");
    REC_EQ(&st, "d2@tum.de", 'R', "tum");
    REC_EQ(&st, "d3@tum.de", 'V', "x@example.com");
    REC_EQ(&st, "m@tum.de", 'V', "m@tum.de,x@example.com");
    report_free(rep);
    state_free(&st);
}

/* An entry with n forwards of 254 octets each. */
static struct ent *
mk_long(int id, const char *dn, const char *mail, size_t n)
{
    static char fwd[400][256];
    char   *fp[400], *mp[1], *lp[1];
    char  **vp[V_NUM] = {mp, NULL, lp, NULL, fp};
    size_t  nv[V_NUM] = {1, 0, 1, 0, 0}, i;
    unsigned char u[16] = {0};
    struct ent *e;

    mp[0] = (char *) (uintptr_t) mail;
    lp[0] = (char *) (uintptr_t) "exchange";
    for (i = 0; i < n && i < 400; i++) {
	/* 64 + 1 + 189 = 254 octets */
	snprintf(fwd[i], sizeof(fwd[i]), "f%03zu%.60s@%.63s.%.63s.%.58s.de", i,
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		 "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
	fp[i] = fwd[i];
    }
    nv[V_FWD] = i;
    u[15] = (unsigned char) id;
    e = ent_new(u, dn, (char **const *) vp, nv);
    comp_validate(conf, e);
    return (e);
}

/* The largest max_forwards gives a reply Postfix accepts; a longer
 * expansion (max_forwards raised behind the configuration's back) is
 * refused, not published. */
static void
test_expansion(void)
{
    struct state st;
    int     saved = conf->ldapsync.max_forwards;
    struct recs r;
    struct ent *one = mk_long(0, "uid=t,ou=tum,dc=ex", "t@tum.de", 1);

    CHECK(strlen(one->v[V_FWD].s[0]) == 254);
    ent_free(one);
    CHECK(state_init(&st) == 0);
    conf->ldapsync.max_forwards = CONF_MAX_FORWARDS;
    state_put(&st, mk_long(1, "uid=max,ou=tum,dc=ex", "max@tum.de", CONF_MAX_FORWARDS));
    CHECK(comp_addr(conf, &st, "max@tum.de", &r, NULL) == 0);
    CHECK(r.v[REC_IDX('V')] != NULL && strlen(r.v[REC_IDX('V')])
	  == strlen("max@tum.de") + CONF_MAX_FORWARDS * 255);
    CHECK(r.v[REC_IDX('V')] && strlen(r.v[REC_IDX('V')]) + 3 <= 100000);
    recs_free(&r);
    conf->ldapsync.max_forwards = 1000;
    /* 10 + 392 * 255 = 99970 bytes: still published; one more is not. */
    state_put(&st, mk_long(3, "uid=edge,ou=tum,dc=ex", "edge@tum.de", 392));
    CHECK(strlen(rec(&st, "edge@tum.de", 'V')) == 11 + 392 * 255);
    state_put(&st, mk_long(2, "uid=big,ou=tum,dc=ex", "big@tum.de", 393));
    REC_EQ(&st, "big@tum.de", 'V', "-");
    REC_EQ(&st, "big@tum.de", 'R', "-");
    CHECK(strstr(rec(&st, "big@tum.de", 'X'), "forward addresses too long together") != NULL);
    conf->ldapsync.max_forwards = saved;
    state_free(&st);
}

/* Entries against bases RDN by RDN: spaces, case and escapes do not
 * matter, a string suffix that is not an ancestor does not count. */
static void
test_dn(void)
{
    struct state st;
    const struct conf_tenant *ph = conf_tenant(conf, "ph");

    CHECK(ph && strcmp(ph->base, "OU=Ph,OU=TUM,dc=ex") == 0);	/* normalised */
    /* plain strings (no parsing) */
    CHECK(dn_within("uid=a,ou=tum,dc=ex", "ou=tum,dc=ex") == 2);
    CHECK(dn_within("uid=a,OU=Tum,DC=EX", "ou=tum,dc=ex") == 2);
    CHECK(dn_within("ou=tum,dc=ex", "ou=tum,dc=ex") == 2);
    CHECK(dn_within("dc=ex", "ou=tum,dc=ex") == 0);
    CHECK(dn_within("uid=a,ou=tum2,dc=ex", "ou=tum,dc=ex") == 0);
    CHECK(dn_within("uid=a,xou=tum,dc=ex", "ou=tum,dc=ex") == 0);
    CHECK(dn_within("uid=a,ou=xtum,dc=ex", "ou=tum,dc=ex") == 0);
    CHECK(dn_within("a=b,c=d", "ou=longer,dc=example") == 0);
    CHECK(dn_within("uid=a,ou=tum,dc=ex", "dc=ex") == 1);
    /* spaces around separators, in the base or in the entry */
    CHECK(dn_within("uid=a,ou=tum,dc=ex", "ou=tum, dc=ex") == 2);
    CHECK(dn_within("uid=a,ou=tum,dc=ex", " OU = TUM ,DC=Ex ") == 2);
    CHECK(dn_within("uid=a, ou=tum, dc=ex", "ou=tum,dc=ex") == 2);
    CHECK(dn_within("uid=a,ou=tum2, dc=ex", "ou=tum,dc=ex") == 0);
    /* escapes: an escaped comma is part of a value, not a separator */
    CHECK(dn_within("cn=x\\,ou=ph,ou=tum,dc=ex", "ou=ph,ou=tum,dc=ex") == 0);
    CHECK(dn_within("cn=x\\,ou=ph,ou=tum,dc=ex", "ou=tum,dc=ex") == 2);
    CHECK(dn_within("cn=x\\2Cou=ph,ou=tum,dc=ex", "ou=ph,ou=tum,dc=ex") == 0);
    CHECK(dn_within("cn=x\\\\,ou=ph,ou=tum,dc=ex", "ou=ph,ou=tum,dc=ex") == 3);	/* x\\ */
    CHECK(dn_within("uid=a,ou=t\\75m,dc=ex", "ou=tum,dc=ex") == 2);		/* \75 = u */
    CHECK(dn_within("uid=a,o=A\\2C B,dc=ex", "o=a\\, b,dc=ex") == 2);
    CHECK(dn_within("uid=a,o=A\\2C B,dc=ex", "o=a,dc=ex") == 0);
    CHECK(dn_within("cn=a+uid=b,ou=tum,dc=ex", "ou=tum,dc=ex") == 2);
    /* unparsable: never within */
    CHECK(dn_within("uid=a,,ou=tum,dc=ex", "ou=tum, dc=ex") == 0);
    CHECK(dn_within("uid=a,ou=tum,dc=ex", "ou=tum,,dc=ex") == 0);
    CHECK(dn_normalize("ou=tum,dc") == NULL && dn_normalize("") == NULL);

    /* The deepest base wins, whatever its spelling. */
    CHECK(state_init(&st) == 0);
    state_put(&st, mk(1, "uid=p,ou=ph,ou=tum,dc=ex", "m:p@phys.de", "l:exchange", NULL));
    state_put(&st, mk(2, "uid=q, OU=PH ,ou=Tum,DC=ex", "m:q@phys.de", "l:exchange", NULL));
    state_put(&st, mk(3, "cn=r\\,ou=ph,ou=tum,dc=ex", "m:r@phys.de", "l:exchange", NULL));
    state_put(&st, mk(4, "cn=s\\,ou=ph,ou=tum,dc=ex", "m:s@tum.de", "l:exchange", NULL));
    state_put(&st, mk(5, "uid=t,ou=ph2,ou=tum,dc=ex", "m:t@tum.de", "l:exchange", NULL));
    REC_EQ(&st, "p@phys.de", 'R', "ph");
    REC_EQ(&st, "q@phys.de", 'R', "ph");
    CHECK(strstr(rec(&st, "r@phys.de", 'X'), "\"tenant\":\"tum\"") != NULL);
    REC_EQ(&st, "s@tum.de", 'R', "tum");
    REC_EQ(&st, "t@tum.de", 'R', "tum");
    state_free(&st);
}

static int
validate_cb(struct ent *e, void *ctx)
{
    (void) ctx;
    return (comp_validate(conf, e));
}

static void
test_snapshot(void)
{
    struct state st, st2;
    char    err[256];
    uint64_t bs = 0, ls = 0;
    struct ent *puts[1];
    unsigned char dels[1][16] = {{0}};

    CHECK(state_init(&st) == 0);
    state_put(&st, mk(1, "uid=x\ty,ou=tum,dc=ex", "m:x@tum.de", "l:exchange", "a:x2@tum.de", NULL));
    state_put(&st, mk(2, "uid=z,ou=tum,dc=ex", "m:z@tum.de", "l:mytum", NULL));
    CHECK(state_save(&st, dir, 7, err, sizeof(err)) == 0);
    puts[0] = mk(3, "uid=w,ou=tum,dc=ex", "m:w@tum.de", "l:mytum", NULL);
    dels[0][15] = 2;
    CHECK(state_journal(dir, 8, puts, 1, dels, 1, err, sizeof(err)) == 0);
    ent_free(puts[0]);
    CHECK(state_init(&st2) == 0);
    CHECK(state_load(&st2, dir, &bs, &ls, validate_cb, NULL, err, sizeof(err)) == 0);
    CHECK(bs == 7 && ls == 8);
    CHECK(st2.nents == 2);
    REC_EQ(&st2, "x2@tum.de", 'V', "x@tum.de");
    REC_EQ(&st2, "w@tum.de", 'R', "tum");
    REC_EQ(&st2, "z@tum.de", 'R', "-");
    CHECK(strstr(rec(&st2, "x@tum.de", 'P'), "uid=x\\u0009y") != NULL);	/* JSON-escaped TAB */
    state_free(&st);
    state_free(&st2);
}

/*
 * A forward target keeps the case of its local part as written in the
 * directory (Postfix keeps the case of a table's result); its domain is
 * folded.  Duplicates, the own-address test and loops compare folded.
 */
static void
test_forward_case(void)
{
    struct state st, st2;
    char    err[256];
    uint64_t bs = 0, ls = 0;

    CHECK(state_init(&st) == 0);
    state_put(&st, mk(1, "uid=c,ou=tum,dc=ex", "m:Carl@tum.de", "l:exchange",
		      "f:Carl.Family@Example.NET", "f:carl.family@example.net",
		      "f:Lena@TUM.de", NULL));
    state_put(&st, mk(2, "uid=l,ou=tum,dc=ex", "m:lena@tum.de", "l:none",
		      "f:CARL@tum.de", "f:LENA@Tum.de", "f:Out@x.org", NULL));
    REC_EQ(&st, "carl@tum.de", 'V', "carl@tum.de,Carl.Family@example.net,Lena@tum.de");
    REC_EQ(&st, "lena@tum.de", 'V', "CARL@tum.de,Out@x.org");
    CHECK(strstr(rec(&st, "carl@tum.de", 'P'),
		 "\"forwards\":[\"Carl.Family@example.net\",\"Lena@tum.de\"]") != NULL);
    /* The loop carl -> lena -> carl is found through the folded keys. */
    {
	struct report *rep = report_new("full");
	struct recs r;

	CHECK(comp_addr(conf, &st, "carl@tum.de", &r, rep) == 0);
	CHECK(report_count(rep, "loops") == 1);
	recs_free(&r);
	report_free(rep);
    }
    /* The index is folded: a change of the target marks its forwarders. */
    state_dirty_clear(&st);
    state_put(&st, mk(3, "uid=o,ou=tum,dc=ex", "m:other@tum.de", "a:lena@tum.de",
		      "l:exchange", NULL));
    CHECK(state_dirty_expand(&st) == 0);
    CHECK(dirty_has(&st, "carl@tum.de"));
    /* The case survives the snapshot. */
    CHECK(state_save(&st, dir, 9, err, sizeof(err)) == 0);
    CHECK(state_init(&st2) == 0);
    CHECK(state_load(&st2, dir, &bs, &ls, validate_cb, NULL, err, sizeof(err)) == 0);
    REC_EQ(&st2, "carl@tum.de", 'V', "carl@tum.de,Carl.Family@example.net,Lena@tum.de");
    state_free(&st);
    state_free(&st2);
}

/*
 * lc_entry_decode(): the BER of a SearchResultEntry, as the server sends
 * it, into an entry - every occurrence of an attribute, entryUUID from
 * the attribute or given; a cut-off or empty encoding is an error.
 */
static void
test_entry_decode(void)
{
    BerElement *b = ber_alloc_t(LBER_USE_DER);
    struct berval bv, cut;
    struct ent *e;
    char    err[256];
    static const unsigned char given[16] = {9};

    CHECK(b != NULL);
    if (b == NULL)
	return;
    CHECK(ber_printf(b, "t{s{", (ber_tag_t) LDAP_RES_SEARCH_ENTRY, "uid=j,ou=tum,dc=ex") >= 0);
    CHECK(ber_printf(b, "{s[s]}", "mail", "J@TUM.de") >= 0);
    CHECK(ber_printf(b, "{s[ss]}", "fwdMailAlias", "a1@tum.de", "a2@tum.de") >= 0);
    CHECK(ber_printf(b, "{s[s]}", "entryUUID", "00000000-0000-0000-0000-0000000000ab") >= 0);
    CHECK(ber_printf(b, "{s[s]}", "FWDMAILALIAS", "a3@tum.de") >= 0);
    CHECK(ber_printf(b, "{s[s]}", "fwdForwardAddress", "Out@X.org") >= 0);
    CHECK(ber_printf(b, "}}") >= 0);
    CHECK(ber_flatten2(b, &bv, 0) == 0);
    e = lc_entry_decode(conf, &bv, NULL, err, sizeof(err));
    CHECK(e != NULL);
    if (e) {
	CHECK(strcmp(e->dn, "uid=j,ou=tum,dc=ex") == 0);
	CHECK(e->uuid[15] == 0xab);
	CHECK(e->v[V_MAIL].n == 1 && strcmp(e->v[V_MAIL].s[0], "j@tum.de") == 0);
	CHECK(e->v[V_ALIAS].n == 3 && strcmp(e->v[V_ALIAS].s[2], "a3@tum.de") == 0);
	CHECK(e->v[V_FWD].n == 1 && strcmp(e->fwd_pub[0], "Out@x.org") == 0);
	ent_free(e);
    }
    e = lc_entry_decode(conf, &bv, given, err, sizeof(err));
    CHECK(e != NULL && e->uuid[0] == 9);
    ent_free(e);
    cut = bv;
    cut.bv_len -= 5;		/* the last attribute cut off */
    CHECK(lc_entry_decode(conf, &cut, NULL, err, sizeof(err)) == NULL);
    cut.bv_len = 0;
    CHECK(lc_entry_decode(conf, &cut, NULL, err, sizeof(err)) == NULL);
    ber_free(b, 1);
    /* An attribute without its set of values: never half an entry. */
    b = ber_alloc_t(LBER_USE_DER);
    CHECK(ber_printf(b, "t{s{", (ber_tag_t) LDAP_RES_SEARCH_ENTRY, "uid=j,ou=tum,dc=ex") >= 0);
    CHECK(ber_printf(b, "{s[s]}", "entryUUID", "00000000-0000-0000-0000-0000000000ab") >= 0);
    CHECK(ber_printf(b, "{s[s]}", "mail", "j@tum.de") >= 0);
    CHECK(ber_printf(b, "{s}", "fwdMailAlias") >= 0);
    CHECK(ber_printf(b, "}}") >= 0);
    CHECK(ber_flatten2(b, &bv, 0) == 0);
    CHECK(lc_entry_decode(conf, &bv, NULL, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "undecodable attribute list") != NULL);
    ber_free(b, 1);
}

/* The sync control decoders; an empty value is refused before liblber
 * sees it (it would read through a NULL buffer). */
static void
test_sync_decode(void)
{
    static const char u[16] = {1, 2, 3};
    BerElement *b, *r;
    struct berval bv, uuid, cookie, empty = {0, NULL};
    struct sy_info in;
    int     state = 0, deletes = 0;

    CHECK(sy_ber_init(&empty) == NULL);
    b = ber_alloc_t(LBER_USE_DER);
    CHECK(ber_printf(b, "{eoo}", (ber_int_t) LDAP_SYNC_ADD, u, (ber_len_t) 16,
		     "rid=1", (ber_len_t) 5) >= 0 && ber_flatten2(b, &bv, 0) == 0);
    r = sy_ber_init(&bv);
    CHECK(r != NULL && sy_scan_state(r, &state, &uuid, &cookie) == 0);
    CHECK(state == LDAP_SYNC_ADD && uuid.bv_len == 16 && uuid.bv_val[2] == 3);
    CHECK(cookie.bv_len == 5 && memcmp(cookie.bv_val, "rid=1", 5) == 0);
    ber_free(r, 1);
    ber_free(b, 1);
    /* A uuid that is not 16 bytes is no state control. */
    b = ber_alloc_t(LBER_USE_DER);
    CHECK(ber_printf(b, "{eo}", (ber_int_t) LDAP_SYNC_ADD, u, (ber_len_t) 15) >= 0
	  && ber_flatten2(b, &bv, 0) == 0);
    r = sy_ber_init(&bv);
    CHECK(r != NULL && sy_scan_state(r, &state, &uuid, &cookie) < 0);
    ber_free(r, 1);
    ber_free(b, 1);
    /* syncIdSet with refreshDeletes TRUE. */
    b = ber_alloc_t(LBER_USE_DER);
    CHECK(ber_printf(b, "t{ob[oo]}", (ber_tag_t) LDAP_TAG_SYNC_ID_SET, "c", (ber_len_t) 1,
		     (ber_int_t) 1, u, (ber_len_t) 16, u, (ber_len_t) 16) >= 0
	  && ber_flatten2(b, &bv, 0) == 0);
    r = sy_ber_init(&bv);
    CHECK(r != NULL && sy_scan_info(r, &in) == 0);
    CHECK(in.kind == SY_INFO_ID_SET && in.refresh_deletes == 1 && in.cookie.bv_len == 1);
    CHECK(in.uuids && in.uuids[1].bv_len == 16 && in.uuids[2].bv_val == NULL);
    ber_bvarray_free(in.uuids);
    ber_free(r, 1);
    ber_free(b, 1);
    /* refreshPresent without fields: refreshDone defaults to TRUE. */
    b = ber_alloc_t(LBER_USE_DER);
    CHECK(ber_printf(b, "t{}", (ber_tag_t) LDAP_TAG_SYNC_REFRESH_PRESENT) >= 0
	  && ber_flatten2(b, &bv, 0) == 0);
    r = sy_ber_init(&bv);
    CHECK(r != NULL && sy_scan_info(r, &in) == 0);
    CHECK(in.kind == SY_INFO_REFRESH_PRESENT && in.refresh_done == 1 && in.uuids == NULL);
    ber_free(r, 1);
    ber_free(b, 1);
    /* syncDone. */
    b = ber_alloc_t(LBER_USE_DER);
    CHECK(ber_printf(b, "{ob}", "cc", (ber_len_t) 2, (ber_int_t) 1) >= 0
	  && ber_flatten2(b, &bv, 0) == 0);
    r = sy_ber_init(&bv);
    CHECK(r != NULL && sy_scan_done(r, &cookie, &deletes) == 0);
    CHECK(cookie.bv_len == 2 && deletes == 1);
    ber_free(r, 1);
    ber_free(b, 1);
}

static void
test_htab(void)
{
    struct htab h;
    char    keys[5000][12];
    int     i, ok = 1;
    size_t  pos = 0, n = 0;

    CHECK(htab_init(&h, 1) == 0);
    for (i = 0; i < 5000; i++) {
	snprintf(keys[i], sizeof(keys[i]), "k%d", i);
	if (htab_put(&h, keys[i], strlen(keys[i]), keys[i]) != 1)
	    ok = 0;
    }
    for (i = 0; i < 5000; i += 2)
	if (htab_del(&h, keys[i], strlen(keys[i])) != 1)
	    ok = 0;
    for (i = 0; i < 5000; i++)
	if ((htab_get(&h, keys[i], strlen(keys[i])) != NULL) != (i % 2 == 1))
	    ok = 0;
    while (htab_next(&h, &pos, NULL, NULL, NULL))
	n++;
    CHECK(ok);
    CHECK(n == 2500 && h.n == 2500);
    htab_free(&h);
}

/*
 * Groups (issue 10): nesting, a cycle of groups, a forward-only member
 * forwarding back to its group, a group reaching nobody, and a large
 * expansion split into sub-lists that each fit, together holding every
 * member once; the reverse index marks the groups of a changed member.
 */
/* ---- kept expansions of nested groups (gflat) ---- */

/* Every record of addr, as one string (the extras in order). */
static char *
recs_text(struct state *st, const char *addr)
{
    struct recs r;
    char   *buf = NULL;
    size_t  len = 0, i;
    FILE   *f = open_memstream(&buf, &len);

    if (f == NULL)
	return (NULL);
    if (comp_addr(conf, st, addr, &r, NULL) < 0)
	fputs("ERROR", f);
    else {
	for (i = 0; i < sizeof(r.v) / sizeof(r.v[0]); i++)
	    fprintf(f, "%c=%s\n", MAP_TAGS[i], r.v[i] ? r.v[i] : "-");
	for (i = 0; i < r.nx; i++)
	    fprintf(f, "%c:%s=%s\n", r.x[i].tag, r.x[i].key, r.x[i].val);
	recs_free(&r);
    }
    fclose(f);
    return (buf);
}

static unsigned gf_seed = 4711;

static unsigned
gf_rand(unsigned n)
{
    gf_seed = gf_seed * 1103515245u + 12345u;
    return ((gf_seed >> 16) % n);
}

#define GF_PEOPLE	40
#define GF_GROUPS	14

/* Person i, variant v: its address, alias, forwards change with v, its
 * store with v and moved (a move alone changes no group). */
static struct ent *
gf_person(int i, unsigned v, unsigned moved)
{
    char    dn[64], m[64], a[64], f[64];
    const char *loc = v % 5 == 4 ? "l:none" : (v + moved) % 2 ? "l:mytum" : "l:exchange";

    snprintf(dn, sizeof(dn), "uid=p%d,ou=tum,dc=ex", i);
    snprintf(m, sizeof(m), "m:p%d.%u@tum.de", i, v % 3);
    snprintf(a, sizeof(a), "a:alias%d.%u@tum.de", i, v % 2);
    /* Forward-only people forward to another person (chains, cycles)
     * or outside; v % 7 == 6 takes another's address (a conflict). */
    if (v % 7 == 6)
	snprintf(m, sizeof(m), "m:p%d.0@tum.de", (i + 1) % GF_PEOPLE);
    if (v % 3 == 0)
	snprintf(f, sizeof(f), "f:p%d.0@tum.de", (int) ((i + 1 + v) % GF_PEOPLE));
    else
	snprintf(f, sizeof(f), "f:out%d@example.net", i);
    return (mk(100 + i, dn, m, a, loc, v % 5 == 4 || v % 4 == 1 ? f : NULL, NULL));
}

/* Group j with a random member list: people, groups (cycles too), a
 * missing DN, an external member now and then. */
static struct ent *
gf_group(int j)
{
    char    dn[64], m[64], mem[12][64], *vals[V_NUM][16];
    char  **vp[V_NUM];
    size_t  n[V_NUM] = {0}, k, nm = 1 + gf_rand(8);
    unsigned char u[16] = {0};
    static const char *pol[] = {"anyone", "members", "tenant", "listed"};
    struct ent *e;

    snprintf(dn, sizeof(dn), "cn=g%d,ou=tum,dc=ex", j);
    snprintf(m, sizeof(m), "g%d@tum.de", j);
    vals[V_MAIL][n[V_MAIL]++] = m;
    vals[V_GROUP][n[V_GROUP]++] = (char *) (uintptr_t) "groupofnames";
    vals[V_POLICY][n[V_POLICY]++] = (char *) (uintptr_t) pol[gf_rand(4)];
    for (k = 0; k < nm; k++) {
	unsigned r = gf_rand(10);

	if (r < 6)
	    snprintf(mem[k], sizeof(mem[k]), "uid=p%u,ou=tum,dc=ex", gf_rand(GF_PEOPLE));
	else if (r < 9)
	    snprintf(mem[k], sizeof(mem[k]), "cn=g%u,ou=tum,dc=ex", gf_rand(GF_GROUPS));
	else
	    snprintf(mem[k], sizeof(mem[k]), "uid=nobody%u,ou=tum,dc=ex", gf_rand(3));
	vals[V_MEMBER][n[V_MEMBER]++] = mem[k];
    }
    if (gf_rand(4) == 0)
	vals[V_FWD][n[V_FWD]++] = (char *) (uintptr_t) "Ext.Member@example.net";
    for (k = 0; k < V_NUM; k++)
	vp[k] = vals[k];
    u[15] = (unsigned char) (200 + j);
    e = ent_new(u, dn, (char **const *) vp, n);
    comp_validate(conf, e);
    return (e);
}

static void
gf_differ(int round, const char *what, const char *addr, const char *got,
	  const char *want)
{
    check_count++;
    if (got && want && strcmp(got, want) == 0)
	return;
    fprintf(stderr, "%s: round %d: %s %s:\n%s\nfresh:\n%s\n", __FILE__, round,
	    what, addr, got ? got : "NULL", want ? want : "NULL");
    check_failures++;
}

/*
 * After a batch (dirty set expanded): the dirty addresses recompiled
 * with kept expansions (every nested group kept, across passes) into
 * pub, as a delta publishes them; then every address's records, kept
 * and published, against walking afresh.
 */
static void
gf_compare(struct state *st, json_t *pub, int round)
{
    size_t  pos = 0, kl;
    const char *k;
    char    addr[256], *none;
    void   *it;

    comp_set_gflat_min(1);
    while (htab_next(&st->dirty, &pos, &k, &kl, NULL)) {
	char   *t;

	snprintf(addr, sizeof(addr), "%.*s", (int) kl, k);
	if ((t = recs_text(st, addr)) != NULL)
	    json_object_set_new(pub, addr, json_string(t));
	free(t);
    }
    comp_set_gflat_min(0);
    none = recs_text(st, "nobody-at-all@example.invalid");
    pos = 0;
    while (htab_next(&st->addrs, &pos, &k, &kl, NULL)) {
	char   *kept, *fresh;
	const char *p;

	snprintf(addr, sizeof(addr), "%.*s", (int) kl, k);
	comp_set_gflat_min(1);
	kept = recs_text(st, addr);
	comp_set_gflat_min(0);
	fresh = recs_text(st, addr);
	gf_differ(round, "kept", addr, kept, fresh);
	p = json_string_value(json_object_get(pub, addr));
	gf_differ(round, "published", addr, p ? p : none, fresh);
	free(kept);
	free(fresh);
    }
    /* Addresses gone: what is published for them is nothing. */
    for (it = json_object_iter(pub); it; it = json_object_iter_next(pub, it)) {
	const char *a = json_object_iter_key(it);

	if (htab_get(&st->addrs, a, strlen(a)) == NULL)
	    gf_differ(round, "published (gone)", a,
		      json_string_value(json_object_iter_value(it)), none);
    }
    free(none);
}

static void
test_gflat(void)
{
    struct state st;
    unsigned var[GF_PEOPLE] = {0}, moved[GF_PEOPLE] = {0};
    int     i, round, fails = check_failures, kept_rounds = 0;
    unsigned char u[16];
    json_t *pub = json_object();

    if (getenv("T_GFLAT_SEED"))		/* other runs: T_GFLAT_SEED=N */
	gf_seed = (unsigned) strtoul(getenv("T_GFLAT_SEED"), NULL, 10);

    CHECK(state_init(&st) == 0);
    for (i = 0; i < GF_PEOPLE; i++)
	CHECK(state_put(&st, gf_person(i, 0, 0)) == 0);
    for (i = 0; i < GF_GROUPS; i++)
	CHECK(state_put(&st, gf_group(i)) == 0);
    for (round = 0; round < 400 && check_failures == fails; round++) {
	int     nch = 1 + (int) gf_rand(3), c;

	CHECK(state_dirty_expand(&st) == 0);
	gf_compare(&st, pub, round);
	kept_rounds += st.gflat.n > 0;
	state_dirty_clear(&st);
	for (c = 0; c < nch; c++) {
	    unsigned what = gf_rand(10);

	    if (what < 4) {		/* a person changes */
		i = (int) gf_rand(GF_PEOPLE);
		CHECK(state_put(&st, gf_person(i, ++var[i], moved[i])) == 0);
	    } else if (what < 6) {	/* a person moves to another store */
		i = (int) gf_rand(GF_PEOPLE);
		CHECK(state_put(&st, gf_person(i, var[i], ++moved[i])) == 0);
	    } else if (what < 7) {	/* ... or goes (a change brings it back) */
		memset(u, 0, sizeof(u));
		u[15] = (unsigned char) (100 + gf_rand(GF_PEOPLE));
		CHECK(state_del(&st, u) >= 0);
	    } else if (what < 9) {	/* a group's members change (or it is back) */
		CHECK(state_put(&st, gf_group((int) gf_rand(GF_GROUPS))) == 0);
	    } else {			/* a group goes */
		memset(u, 0, sizeof(u));
		u[15] = (unsigned char) (200 + gf_rand(GF_GROUPS));
		CHECK(state_del(&st, u) >= 0);
	    }
	}
    }
    CHECK(round >= 400);
    CHECK(kept_rounds >= 100);		/* kept: the test tests something */
    comp_set_gflat_min(1024);
    json_decref(pub);
    state_free(&st);
}

static void
test_groups(void)
{
    struct state st;
    struct recs r;
    char    dn[64], mail[64];
    size_t  i, nsub = 0, nseen = 0;
    int     id;

    CHECK(state_init(&st) == 0);
    state_put(&st, mk(1, "uid=p1,ou=tum,dc=ex", "m:p1@tum.de", "l:exchange", NULL));
    state_put(&st, mk(2, "uid=p2,ou=tum,dc=ex", "m:p2@tum.de", "l:exchange", "a:pp2@tum.de", NULL));
    state_put(&st, mk(3, "uid=fo,ou=tum,dc=ex", "m:fo@tum.de", "l:none", "f:g1@tum.de", NULL));
    state_put(&st, mk(10, "cn=g1,ou=tum,dc=ex", "G:groupofnames", "m:g1@tum.de",
		      "M:uid=p1,ou=tum,dc=ex", "M:cn=g2,ou=tum,dc=ex", "M:uid=fo,ou=tum,dc=ex",
		      "M:uid=nobody,ou=tum,dc=ex", "P:members", NULL));
    state_put(&st, mk(11, "cn=g2,ou=tum,dc=ex", "G:groupofnames", "m:g2@tum.de",
		      "M:UID=p2, OU=tum,dc=ex", "M:cn=g1,ou=tum,dc=ex", NULL));
    state_put(&st, mk(12, "cn=lonely,ou=tum,dc=ex", "G:groupofnames", "m:lonely@tum.de",
		      "M:uid=nobody,ou=tum,dc=ex", NULL));
    REC_EQ(&st, "g1@tum.de", 'V', "p1@tum.de,p2@tum.de,fo@tum.de");
    REC_EQ(&st, "g2@tum.de", 'V', "p2@tum.de,p1@tum.de,fo@tum.de");
    REC_EQ(&st, "g1@tum.de", 'R', "tum");
    REC_EQ(&st, "g1@tum.de", 'G', "members\tg1@tum.de\ttum");
    REC_EQ(&st, "g1@tum.de", 'T', "-");
    /* fo forwards to g1, which contains fo: Postfix would loop, so fo's
     * own answer is the group's other members. */
    REC_EQ(&st, "fo@tum.de", 'V', "p1@tum.de,p2@tum.de");
    REC_EQ(&st, "lonely@tum.de", 'R', "-");
    /* A nested group without an address of its own still expands. */
    state_put(&st, mk(13, "cn=anon,ou=tum,dc=ex", "G:groupofnames", "M:uid=p1,ou=tum,dc=ex", NULL));
    state_put(&st, mk(14, "cn=outer,ou=tum,dc=ex", "G:groupofnames", "m:outer@tum.de",
		      "M:cn=anon,ou=tum,dc=ex", NULL));
    REC_EQ(&st, "outer@tum.de", 'V', "p1@tum.de");
    CHECK(comp_addr(conf, &st, "g1@tum.de", &r, NULL) == 0);
    CHECK(strstr(r.v[REC_IDX('P')], "\"cycle\":[\"g1@tum.de\"]") != NULL);
    CHECK(strstr(r.v[REC_IDX('P')], "uid=nobody,ou=tum,dc=ex") != NULL);
    for (i = 0; i < r.nx; i++)		/* S: every address of every member */
	nseen += r.x[i].tag == 'S' && (strcmp(r.x[i].key, "g1@tum.de\tpp2@tum.de") == 0
				     || strcmp(r.x[i].key, "g1@tum.de\tfo@tum.de") == 0);
    CHECK(nseen == 2);
    recs_free(&r);
    /* A member changes: the groups naming it (and their parents) are dirty. */
    state_dirty_clear(&st);
    state_put(&st, mk(2, "uid=p2,ou=tum,dc=ex", "m:p2new@tum.de", "l:exchange", NULL));
    CHECK(state_dirty_expand(&st) == 0);
    CHECK(dirty_has(&st, "g2@tum.de"));
    CHECK(dirty_has(&st, "g1@tum.de"));
    CHECK(!dirty_has(&st, "lonely@tum.de"));
    /* A member moved to another store: what its groups say of it stays,
     * so they are not recompiled (a big list would be, for every move). */
    state_dirty_clear(&st);
    state_put(&st, mk(1, "uid=p1,ou=tum,dc=ex", "m:p1@tum.de", "l:mytum", NULL));
    CHECK(state_dirty_expand(&st) == 0);
    CHECK(dirty_has(&st, "p1@tum.de"));
    CHECK(!dirty_has(&st, "g1@tum.de"));
    CHECK(!dirty_has(&st, "g2@tum.de"));
    /* ... but one that stops delivering is. */
    state_dirty_clear(&st);
    state_put(&st, mk(1, "uid=p1,ou=tum,dc=ex", "m:p1@tum.de", "l:none", "f:p1x@tum.de", NULL));
    CHECK(state_dirty_expand(&st) == 0);
    CHECK(dirty_has(&st, "g1@tum.de"));
    state_put(&st, mk(1, "uid=p1,ou=tum,dc=ex", "m:p1@tum.de", "l:exchange", NULL));
    /* 4000 members of 30 bytes: over MAP_SUBLIST_BYTES, so sub-lists. */
    {
	for (id = 0; id < 4000; id++) {
	    snprintf(dn, sizeof(dn), "uid=big%05d,ou=tum,dc=ex", id);
	    snprintf(mail, sizeof(mail), "a.rather.long.name.%05d@tum.de", id);
	    {
		char    mm[80];

		snprintf(mm, sizeof(mm), "m:%s", mail);
		state_put(&st, mk(1000 + id, dn, mm, "l:exchange", NULL));
	    }
	}
	{
	    char  **mv = calloc(4001, sizeof(char *)), *gv[1] = {(char *) (uintptr_t) "groupofnames"},
		   *ml[1] = {(char *) (uintptr_t) "big@tum.de"};
	    char  **vp[V_NUM] = {0};
	    size_t  nv[V_NUM] = {0};
	    unsigned char u[16] = {0};
	    struct ent *g;

	    for (id = 0; id < 4000; id++) {
		mv[id] = malloc(40);
		snprintf(mv[id], 40, "uid=big%05d,ou=tum,dc=ex", id);
	    }
	    vp[V_MAIL] = ml;
	    nv[V_MAIL] = 1;
	    vp[V_GROUP] = gv;
	    nv[V_GROUP] = 1;
	    vp[V_MEMBER] = mv;
	    nv[V_MEMBER] = 4000;
	    u[0] = 0x77;
	    g = ent_new(u, "cn=big,ou=tum,dc=ex", (char **const *) vp, nv);
	    comp_validate(conf, g);
	    state_put(&st, g);
	    for (id = 0; id < 4000; id++)
		free(mv[id]);
	    free(mv);
	}
    }
    CHECK(comp_addr(conf, &st, "big@tum.de", &r, NULL) == 0);
    CHECK(r.v[REC_IDX('V')] && strncmp(r.v[REC_IDX('V')], MAP_SUBLIST_PREFIX, strlen(MAP_SUBLIST_PREFIX)) == 0);
    nseen = 0;
    for (i = 0; i < r.nx; i++) {
	if (r.x[i].tag != 'V')
	    continue;
	nsub++;
	CHECK(strlen(r.x[i].val) <= MAP_SUBLIST_BYTES);
	CHECK(strstr(r.v[REC_IDX('V')], r.x[i].key) != NULL);
	{
	    const char *q = r.x[i].val;

	    nseen++;
	    while ((q = strchr(q, ',')) != NULL) {
		nseen++;
		q++;
	    }
	}
    }
    CHECK(nsub >= 2);	/* 4000 x 31 bytes */
    CHECK(nseen == 4000);
    /*
     * A member's new primary address changes one sub-list record, not
     * the group's V nor the other sub-lists (members go to sub-lists by
     * their entryUUID); one member more changes one sub-list too.
     */
    {
	struct recs r2;
	size_t  j, ndiff = 0, nsub2 = 0;

	state_put(&st, mk(1000 + 1234, "uid=big01234,ou=tum,dc=ex",
			  "m:a.much.longer.renamed.member.address@tum.de", "l:exchange", NULL));
	CHECK(comp_addr(conf, &st, "big@tum.de", &r2, NULL) == 0);
	CHECK(r2.v[REC_IDX('V')] && strcmp(r2.v[REC_IDX('V')], r.v[REC_IDX('V')]) == 0);
	for (i = 0; i < r2.nx; i++) {
	    int     found = 0;

	    if (r2.x[i].tag != 'V')
		continue;
	    nsub2++;
	    for (j = 0; j < r.nx; j++)
		if (r.x[j].tag == 'V' && strcmp(r.x[j].key, r2.x[i].key) == 0) {
		    found = 1;
		    ndiff += strcmp(r.x[j].val, r2.x[i].val) != 0;
		}
	    CHECK(found);
	    CHECK(strlen(r2.x[i].val) <= MAP_SUBLIST_BYTES);
	    /* the new address once, the old one nowhere */
	    if (strstr(r2.x[i].val, "a.much.longer.renamed.member.address@tum.de"))
		CHECK(strstr(strstr(r2.x[i].val, "a.much.longer.renamed.member.address@tum.de") + 1,
			     "a.much.longer.renamed.member.address@tum.de") == NULL);
	    CHECK(strstr(r2.x[i].val, "a.rather.long.name.01234@tum.de") == NULL);
	}
	CHECK(nsub2 == nsub);
	CHECK(ndiff == 1);
	nseen = 0;
	for (i = 0; i < r2.nx; i++)
	    if (r2.x[i].tag == 'V' && strstr(r2.x[i].val, "a.much.longer.renamed.member.address@tum.de"))
		nseen++;
	CHECK(nseen == 1);
	recs_free(&r2);
    }
    recs_free(&r);
    state_free(&st);
}

int
main(void)
{
    char    path[256], err[512];
    FILE   *f;

    if (mkdtemp(dir) == NULL)
	return (1);
    snprintf(path, sizeof(path), "%s/fwdmap.json", dir);
    if ((f = fopen(path, "w")) == NULL || fputs(conf_text, f) == EOF || fclose(f) != 0)
	return (1);
    if ((conf = conf_load(path, err, sizeof(err))) == NULL) {
	fprintf(stderr, "%s\n", err);
	return (1);
    }
    test_rules();
    test_conflicts();
    test_dirty_forwarders();
    test_dead_cycles();
    test_groups();
    test_gflat();
    test_expansion();
    test_dn();
    test_snapshot();
    test_forward_case();
    test_entry_decode();
    test_sync_decode();
    test_htab();
    conf_free(conf);
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    if (system(path) != 0)
	check_failures++;
    return (DONE());
}

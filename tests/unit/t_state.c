/*
 * t_state.c - unit tests of ldapsync's snapshot + journal loader
 *	(state_load, state_load_files) at a size that takes its two-thread
 *	path and at one that does not: what loads is what was saved
 *	(entries, validation results, the address and DN indexes, group
 *	references), a damaged snapshot is refused with the reason on both
 *	paths, and a loaded state (its entries from the load arena) can be
 *	changed and freed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "compile.h"
#include "conf.h"
#include "state.h"

#define N_BIG	6000		/* over the loader's two-thread threshold */

static char dir[] = "/tmp/t_state.XXXXXX";
static struct conf *conf;

static const char *conf_text =
"{ \"maps_dir\": \"/tmp\",\n"
"  \"ldap\": { \"uris\": [\"ldap://127.0.0.1/\"] },\n"
"  \"stores\": { \"exchange\": \"smtp:[ex.example.org]:25\", \"mytum\": \"lmtp:[my.example.org]:24\" },\n"
"  \"tenants\": { \"tum\": { \"base\": \"ou=tum,dc=ex\", \"domains\": [\"tum.de\", \"mytum.de\"] } },\n"
"  \"ldapsync\": { \"max_forwards\": 3 } }\n";

static int
validate_cb(struct ent *e, void *ctx)
{
    return (comp_validate(ctx, e));
}

/* The entryUUID of entry number i. */
static void
uid_of(unsigned i, unsigned char u[16])
{
    memset(u, 0, 16);
    u[0] = 0x5a;
    u[12] = (unsigned char) (i >> 24);
    u[13] = (unsigned char) (i >> 16);
    u[14] = (unsigned char) (i >> 8);
    u[15] = (unsigned char) i;
}

/* Entry number i of the test directory (variant v changes its mail). */
static struct ent *
mk(unsigned i, unsigned v)
{
    char    dn[128], mail[64], alias[64], fwd[64], fwd2[64], member[128];
    char   *vals[V_NUM][4];
    char  **vp[V_NUM];
    size_t  n[V_NUM] = {0}, k;
    unsigned char u[16];
    struct ent *e;

    uid_of(i, u);
    /* Escapes in the text form: a TAB in every 97th DN, a newline in every 89th. */
    snprintf(dn, sizeof(dn), "uid=U%u%s,ou=tum,dc=ex", i,
	     i % 97 == 0 ? "\tx" : i % 89 == 0 ? "\nx" : "");
    snprintf(mail, sizeof(mail), "u%u%s@tum.de", i, v ? "new" : "");
    vals[V_MAIL][n[V_MAIL]++] = mail;
    if (i % 3 == 0) {
	/* Every 300th alias is contested by the next entry too. */
	snprintf(alias, sizeof(alias), "a%u@mytum.de", i % 300 == 0 ? i : i - i % 3);
	vals[V_ALIAS][n[V_ALIAS]++] = alias;
    }
    if (i % 300 == 1) {
	snprintf(alias, sizeof(alias), "a%u@mytum.de", i - 1);
	vals[V_ALIAS][n[V_ALIAS]++] = alias;
    }
    if (i % 20 == 0) {
	vals[V_LOC][n[V_LOC]++] = (char *) (uintptr_t) "none";
	snprintf(fwd, sizeof(fwd), "Carl.U%u@Example.NET", i);	/* case kept */
	vals[V_FWD][n[V_FWD]++] = fwd;
	snprintf(fwd2, sizeof(fwd2), "u%u@tum.de", i + 1);	/* a chain */
	vals[V_FWD][n[V_FWD]++] = fwd2;
    } else
	vals[V_LOC][n[V_LOC]++] = (char *) (uintptr_t) (i % 2 ? "exchange" : "mytum");
    if (i % 500 == 7) {		/* a group naming the entry before it */
	n[V_LOC] = 0;
	vals[V_GROUP][n[V_GROUP]++] = (char *) (uintptr_t) "groupofnames";
	snprintf(member, sizeof(member), "UID=U%u, ou=tum,dc=ex", i - 1);
	vals[V_MEMBER][n[V_MEMBER]++] = member;
	vals[V_POLICY][n[V_POLICY]++] = (char *) (uintptr_t) "members";
    }
    if (i % 1000 == 999)	/* outside every tenant: invalid */
	snprintf(dn, sizeof(dn), "uid=U%u,ou=elsewhere,dc=ex", i);
    for (k = 0; k < V_NUM; k++)
	vp[k] = vals[k];
    e = ent_new(u, dn, (char **const *) vp, n);
    if (e)
	comp_validate(conf, e);
    return (e);
}

static int
same_reason(const char *a, const char *b)
{
    return (a == b || (a && b && strcmp(a, b) == 0));
}

/* Does b hold what a holds (entries, their validation, the indexes)? */
static int
same_state(struct state *a, struct state *b)
{
    size_t  pos = 0, k;
    void   *v;
    uint32_t i, j;
    int     bad = 0;

    if (a->nents != b->nents || a->addrs.n != b->addrs.n || a->dns.n != b->dns.n
	|| a->refs.n != b->refs.n) {
	fprintf(stderr, "counts differ: %zu/%zu entries, %zu/%zu addresses, %zu/%zu dns,"
		" %zu/%zu refs\n", a->nents, b->nents, a->addrs.n, b->addrs.n,
		a->dns.n, b->dns.n, a->refs.n, b->refs.n);
	return (0);
    }
    while (!bad && htab_next(&a->ents, &pos, NULL, NULL, &v)) {
	struct ent *x = v, *y = state_get(b, x->uuid);

	if (y == NULL || strcmp(x->dn, y->dn) != 0 || strcmp(x->dnkey, y->dnkey) != 0
	    || x->tenant != y->tenant || !same_reason(x->invalid, y->invalid)
	    || state_dn(b, x->dn) != y) {
	    bad = 1;
	    break;
	}
	for (k = 0; k < V_NUM && !bad; k++) {
	    bad |= x->v[k].n != y->v[k].n;
	    for (i = 0; !bad && i < x->v[k].n; i++)
		bad |= strcmp(x->v[k].s[i], y->v[k].s[i]) != 0;
	}
	for (i = 0; i < x->v[V_ALIAS].n; i++)
	    bad |= !same_reason(x->alias_bad[i], y->alias_bad[i]);
	for (i = 0; i < x->v[V_FWD].n; i++)
	    bad |= !same_reason(x->fwd_bad[i], y->fwd_bad[i])
		|| strcmp(x->fwd_pub[i], y->fwd_pub[i]) != 0;
	if (bad)
	    fprintf(stderr, "entry %s differs\n", x->dn);
    }
    pos = 0;
    while (!bad && htab_next(&a->addrs, &pos, NULL, NULL, &v)) {
	struct anode *x = v, *y = state_addr(b, x->addr, strlen(x->addr));

	if (y == NULL || x->nc != y->nc || x->nf != y->nf) {
	    fprintf(stderr, "address %s differs\n", x->addr);
	    bad = 1;
	    break;
	}
	for (i = 0; i < x->nc; i++) {
	    int     found = 0;

	    for (j = 0; j < y->nc; j++)
		found |= memcmp(x->c[i].e->uuid, y->c[j].e->uuid, 16) == 0
		    && x->c[i].role == y->c[j].role && same_reason(x->c[i].bad, y->c[j].bad);
	    bad |= !found;
	}
	for (i = 0; i < x->nf; i++) {
	    int     found = 0;

	    for (j = 0; j < y->nf; j++)
		found |= memcmp(x->f[i]->uuid, y->f[j]->uuid, 16) == 0;
	    bad |= !found;
	}
	if (bad)
	    fprintf(stderr, "claims or forwarders of %s differ\n", x->addr);
    }
    return (!bad);
}

/* Read path into memory; *len its length. */
static char *
slurp(const char *path, size_t *len)
{
    FILE   *f = fopen(path, "r");
    char   *b = NULL;
    long    n;

    if (f == NULL)
	return (NULL);
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0
	&& (b = malloc((size_t) n + 1)) != NULL && fread(b, 1, (size_t) n, f) == (size_t) n) {
	b[n] = 0;
	*len = (size_t) n;
    } else {
	free(b);
	b = NULL;
    }
    fclose(f);
    return (b);
}

/* Load snapshot text snap (and journal text jr, or NULL) into a new
 * state st: state_load_files()'s result, err its reason. */
static int
load_text(struct state *st, const char *snap, size_t slen, const char *jr,
	  char *err, size_t errlen)
{
    FILE   *f, *j = NULL;
    uint64_t bs = 0, ls = 0;
    int     r;

    if (state_init(st) < 0 || (f = fmemopen((void *) (uintptr_t) snap, slen, "r")) == NULL)
	return (-2);
    if (jr && (j = fmemopen((void *) (uintptr_t) jr, strlen(jr), "r")) == NULL) {
	fclose(f);
	return (-2);
    }
    st->no_dirty = 1;
    r = state_load_files(st, f, "snap", j, "journal", &bs, &ls, validate_cb, conf,
			 err, errlen);
    fclose(f);
    if (j)
	fclose(j);
    return (r);
}

/* A copy of snap with its header's entry and address counts removed (the
 * form a loader cannot size for: it reads on one thread). */
static char *
no_counts(const char *snap, size_t *len)
{
    const char *nl = strchr(snap, '\n');
    char   *c = malloc(*len + 1), *p;
    size_t  hl = (size_t) (nl - snap);

    memcpy(c, snap, hl);
    c[hl] = 0;
    /* "fwdmap-ldapsync-state V SERIAL NE NA": keep four fields. */
    p = strrchr(c, ' ');
    *p = 0;
    p = strrchr(c, ' ');
    *p = 0;
    hl = strlen(c);
    memcpy(c + hl, nl, *len - (size_t) (nl - snap) + 1);
    *len = hl + *len - (size_t) (nl - snap);
    return (c);
}

static void
test_round_trip(unsigned nents)
{
    struct state a, b, c;
    char    path[256], err[256];
    char   *snap, *snap1, *jr;
    size_t  slen, slen1, jlen, i;
    struct ent *puts[12];
    unsigned char dels[5][16];
    uint64_t bs = 0, ls = 0;

    CHECK(state_init(&a) == 0);
    for (i = 1; i <= nents; i++)
	CHECK(state_put(&a, mk((unsigned) i, 0)) == 0);
    CHECK(state_save(&a, dir, 5, err, sizeof(err)) == 0);
    /* A journal: ten changed, one new, five gone. */
    for (i = 0; i < 10; i++)
	puts[i] = mk((unsigned) (i * 7 + 3), 1);
    puts[10] = mk(nents + 1, 0);
    for (i = 0; i < 5; i++)
	uid_of((unsigned) (i * 11 + 2), dels[i]);
    CHECK(state_journal(dir, 6, puts, 11, dels, 5, err, sizeof(err)) == 0);
    for (i = 0; i < 11; i++)
	CHECK(state_put(&a, puts[i]) == 0);
    for (i = 0; i < 5; i++)
	CHECK(state_del(&a, dels[i]) == 1);

    /* state_load: the two-thread path at N_BIG, one thread below. */
    CHECK(state_init(&b) == 0);
    CHECK(state_load(&b, dir, &bs, &ls, validate_cb, conf, err, sizeof(err)) == 0);
    CHECK(bs == 5 && ls == 6);
    CHECK(same_state(&a, &b));
    /* The same snapshot without the counts: one thread, the same state. */
    snprintf(path, sizeof(path), "%s/ldapsync.state", dir);
    CHECK((snap = slurp(path, &slen)) != NULL);
    snprintf(path, sizeof(path), "%s/ldapsync.journal", dir);
    CHECK((jr = slurp(path, &jlen)) != NULL);
    if (snap == NULL || jr == NULL)
	return;
    slen1 = slen;
    snap1 = no_counts(snap, &slen1);
    CHECK(load_text(&c, snap1, slen1, jr, err, sizeof(err)) == 0);
    CHECK(same_state(&a, &c));
    state_free(&c);

    /* A loaded state changes and frees like any: entries of the load
     * arena replaced, deleted, and new ones beside them. */
    {
	size_t  want = b.nents + 1;
	unsigned char u[16];

	for (i = 1; i <= 40; i++) {
	    uid_of((unsigned) i, u);
	    want += state_get(&b, u) == NULL;
	    CHECK(state_put(&b, mk((unsigned) i, 1)) == 0);
	}
	for (i = 41; i <= 60; i++) {
	    uid_of((unsigned) i, u);
	    want -= state_del(&b, u) == 1;
	}
	CHECK(state_put(&b, mk(nents + 100, 0)) == 0);
	CHECK(b.nents == want);
    }
    state_free(&b);

    /* A damaged snapshot is refused, with the reason, on both paths. */
    {
	const char *txt[2] = {snap, snap1};
	size_t  len[2] = {slen, slen1}, p;

	for (p = 0; p < 2; p++) {
	    char   *bad = malloc(len[p] + 32), *mid;
	    size_t  cut;

	    /* Cut off before the end mark (after a whole line). */
	    cut = (size_t) (strchr(txt[p] + len[p] / 2, '\n') + 1 - txt[p]);
	    CHECK(load_text(&c, txt[p], cut, NULL, err, sizeof(err)) == -1);
	    CHECK(strstr(err, "truncated") != NULL);
	    state_free(&c);
	    /* No end mark at all. */
	    CHECK(load_text(&c, txt[p], len[p] - 2, NULL, err, sizeof(err)) == -1);
	    CHECK(strstr(err, "truncated") != NULL);
	    state_free(&c);
	    /* A line that is no entry, in the middle and as the last one. */
	    memcpy(bad, txt[p], len[p] + 1);
	    mid = strchr(bad + len[p] / 2, '\n') + 1;
	    memcpy(mid, "garbage", 7);
	    CHECK(load_text(&c, bad, len[p], NULL, err, sizeof(err)) == -1);
	    CHECK(strstr(err, "snap: bad entry line") != NULL);
	    state_free(&c);
	    memcpy(bad, txt[p], len[p] + 1);
	    memcpy(bad + len[p] - 2, "x\n.\n", 5);	/* "x" ends the last line */
	    bad[len[p] - 3] = '\n';
	    CHECK(load_text(&c, bad, len[p] + 2, NULL, err, sizeof(err)) == -1);
	    CHECK(strstr(err, "bad entry line") != NULL);
	    state_free(&c);
	    /* A header that is none. */
	    memcpy(bad, txt[p], len[p] + 1);
	    bad[0] = 'X';
	    CHECK(load_text(&c, bad, len[p], NULL, err, sizeof(err)) == -1);
	    CHECK(strstr(err, "bad header") != NULL);
	    state_free(&c);
	    free(bad);
	}
    }
    /* A header whose counts lie: loads what is there. */
    {
	const char *body = strchr(snap, '\n');
	char   *lie = malloc(slen + 64);
	size_t  ll = (size_t) snprintf(lie, 64, "fwdmap-ldapsync-state 3 5 %u 7",
					nents > 100 ? 10 : 40000);

	memcpy(lie + ll, body, slen - (size_t) (body - snap) + 1);
	ll += slen - (size_t) (body - snap);
	CHECK(load_text(&c, lie, ll, NULL, err, sizeof(err)) == 0);
	CHECK(c.nents == nents);
	state_free(&c);
	/* Every line twice (the same entries again): the later wins. */
	{
	    size_t  bl = slen - (size_t) (body - snap) - 3;	/* without ".\n" */
	    char   *twice = malloc(ll + bl + 8);

	    memcpy(twice, lie, ll - 2);
	    memcpy(twice + ll - 2, body + 1, bl);
	    memcpy(twice + ll - 2 + bl, ".\n", 3);
	    CHECK(load_text(&c, twice, ll + bl, NULL, err, sizeof(err)) == 0);
	    CHECK(c.nents == nents);
	    state_free(&c);
	    free(twice);
	}
	free(lie);
    }
    state_free(&a);
    free(snap);
    free(snap1);
    free(jr);
}

int
main(void)
{
    char    cpath[] = "/tmp/t_state_conf.XXXXXX", err[512], cmd[300];
    int     fd;

    if (mkdtemp(dir) == NULL || (fd = mkstemp(cpath)) < 0
	|| write(fd, conf_text, strlen(conf_text)) != (ssize_t) strlen(conf_text)
	|| close(fd) < 0) {
	perror("t_state: set-up");
	return (1);
    }
    conf = conf_load(cpath, err, sizeof(err));
    unlink(cpath);
    if (conf == NULL) {
	fprintf(stderr, "t_state: %s\n", err);
	return (1);
    }
    test_round_trip(N_BIG);
    test_round_trip(50);
    conf_free(conf);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
	fprintf(stderr, "t_state: cannot remove %s\n", dir);
    return (DONE());
}

/*
 * t_map.c - unit tests for maps/map.c and maps/query.c: publication,
 * verification of untrusted files, deltas, and the Postfix map semantics.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "check.h"
#include "map.h"
#include "query.h"

static char dir[256];
static char err[1024];

#define PUT(w, t, k, v) map_writer_put((w), (t), (k), strlen(k), (v), strlen(v))

static int
publish_base(uint64_t serial, int variant)
{
    struct map_writer *w = map_writer_open(dir, MAP_BASE_NAME, err, sizeof(err));
    struct map_meta m;

    if (w == NULL)
	return (-1);
    PUT(w, MAP_T_DOMAIN, "tum.de", "tum\treject\t");
    PUT(w, MAP_T_DOMAIN, "ph.tum.de", "tum\troute\tsmtp:[mail.ph.tum.de]:25");
    PUT(w, MAP_T_RECIPIENT, "jane@tum.de", "tum");
    PUT(w, MAP_T_RECIPIENT, "j.doe@tum.de", "tum");
    PUT(w, MAP_T_VIRTUAL, "j.doe@tum.de", "jane@tum.de");
    PUT(w, MAP_T_VIRTUAL, "max@ph.tum.de", "max@ph.tum.de,max@web.de,list");
    PUT(w, MAP_T_TRANSPORT, "jane@tum.de", variant ? "lmtp:[mytum]:24"
	: "smtp:[exchange]:25");
    PUT(w, MAP_T_TRANSPORT, "j.doe@tum.de", "smtp:[exchange]:25");
    PUT(w, MAP_T_RECIPIENT, "max@ph.tum.de", "tum");
    PUT(w, MAP_T_TRANSPORT, "max@ph.tum.de", "lmtp:[mytum]:24");
    PUT(w, MAP_T_PROVENANCE, "jane@tum.de", "{\"dn\":\"uid=jane\"}");
    memset(&m, 0, sizeof(m));
    m.serial = serial;
    m.created = 1;
    strcpy(m.source, "t_map");
    return (map_writer_commit(w, &m, err, sizeof(err)));
}

/* Commit w as a delta with this serial over base serial base. */
static int
commit_delta(struct map_writer *w, uint64_t serial, uint64_t base)
{
    struct map_meta m;

    memset(&m, 0, sizeof(m));
    m.is_delta = 1;
    m.serial = serial;
    m.base_serial = base;
    return (map_writer_commit(w, &m, err, sizeof(err)));
}

static enum map_q
q(struct map_gen *g, const char *map, const char *key, char *out)
{
    const char *v;
    size_t  vl;
    enum map_q r = map_query(g, map, strlen(map), key, strlen(key), "+", &v,
			     &vl);

    if (out) {
	if (r == MAP_Q_NOTFOUND)
	    strcpy(out, "-");
	else
	    snprintf(out, 256, "%.*s", (int) vl, v);
    }
    return (r);
}

/* map_query_ext with propagation on. */
static enum map_q
qp(struct map_gen *g, const char *map, const char *key, const char *delims,
   char *out)
{
    const char *v;
    size_t  vl;
    enum map_q r = map_query_ext(g, map, strlen(map), key, strlen(key),
				 delims, 1, &v, &vl);

    if (r == MAP_Q_NOTFOUND)
	strcpy(out, "-");
    else
	snprintf(out, 256, "%.*s", (int) vl, v);
    return (r);
}

static int
count_files(void)
{
    DIR    *d = opendir(dir);
    struct dirent *e;
    int     n = 0;

    while ((e = readdir(d)) != NULL)
	if (e->d_name[0] != '.' || strncmp(e->d_name, ".fwdmap", 7) == 0)
	    n++;
    closedir(d);
    return (n);
}

static void
test_semantics(void)
{
    struct map_gen *g;
    char    v[256];

    CHECK(publish_base(7, 0) == 0);
    CHECK(map_gen_open(dir, &g, err, sizeof(err)) == 0);
    CHECK(map_gen_meta(g)->serial == 7);
    CHECK(map_gen_meta(g)->counts[1] == 3);	/* R */

    CHECK(q(g, "domains", "tum.de", v) == MAP_Q_OK && strcmp(v, "tum") == 0);
    CHECK(q(g, "domains", "TUM.De", v) == MAP_Q_OK);
    CHECK(q(g, "domains", "lmu.de", v) == MAP_Q_NOTFOUND);
    CHECK(q(g, "domains", "jane@tum.de", v) == MAP_Q_NOTFOUND);

    CHECK(q(g, "recipients", "jane@tum.de", v) == MAP_Q_OK);
    CHECK(q(g, "recipients", "Jane+Tag@TUM.de", v) == MAP_Q_OK);
    CHECK(q(g, "recipients", "nobody@tum.de", v) == MAP_Q_NOTFOUND);
    CHECK(q(g, "recipients", "nobody@ph.tum.de", v) == MAP_Q_OK);
    CHECK(q(g, "recipients", "tum.de", v) == MAP_Q_NOTFOUND);
    CHECK(q(g, "recipients", "nobody@other.org", v) == MAP_Q_NOTFOUND);
    /* Internal sub-lists of groups: never recipients, also in a route domain. */
    CHECK(q(g, "recipients", "fwdmap.sub.0123456789abcdef.1@ph.tum.de", v) == MAP_Q_NOTFOUND);
    CHECK(q(g, "recipients", "FWDMAP.Sub.0123456789abcdef.1@tum.de", v) == MAP_Q_NOTFOUND);
    CHECK(q(g, "recipients", "fwdmap.subx@ph.tum.de", v) == MAP_Q_OK);

    CHECK(q(g, "virtual", "j.doe@tum.de", v) == MAP_Q_OK
	  && strcmp(v, "jane@tum.de") == 0);
    CHECK(q(g, "virtual", "J.Doe+x@Tum.DE", v) == MAP_Q_OK
	  && strcmp(v, "jane@tum.de") == 0);
    CHECK(q(g, "virtual", "jane@tum.de", v) == MAP_Q_NOTFOUND);
    CHECK(q(g, "virtual", "tum.de", v) == MAP_Q_NOTFOUND);

    /* Propagation of an unmatched extension (Postfix's
     * propagate_unmatched_extensions = virtual): only for a match
     * without the extension, onto every address of the answer, with the
     * delimiter that was used and the extension in the case the sender
     * used (only the lookup folds case, as Postfix's own tables do). */
    CHECK(qp(g, "virtual", "J.Doe+News@Tum.DE", "+", v) == MAP_Q_OK
	  && strcmp(v, "jane+News@tum.de") == 0);
    CHECK(qp(g, "virtual", "MAX+A+b@PH.tum.de", "+", v) == MAP_Q_OK
	  && strcmp(v, "max+A+b@ph.tum.de,max+A+b@web.de,list") == 0);
    CHECK(qp(g, "virtual", "j.doe@tum.de", "+", v) == MAP_Q_OK
	  && strcmp(v, "jane@tum.de") == 0);
    CHECK(qp(g, "virtual", "max+a+b@ph.tum.de", "+", v) == MAP_Q_OK
	  && strcmp(v, "max+a+b@ph.tum.de,max+a+b@web.de,list") == 0);
    CHECK(qp(g, "virtual", "max-x@ph.tum.de", "+-", v) == MAP_Q_OK
	  && strcmp(v, "max-x@ph.tum.de,max-x@web.de,list") == 0);
    CHECK(qp(g, "virtual", "max-x@ph.tum.de", "+", v) == MAP_Q_NOTFOUND);
    CHECK(qp(g, "virtual", "jane+x@tum.de", "+", v) == MAP_Q_NOTFOUND);
    CHECK(q(g, "virtual", "max+a@ph.tum.de", v) == MAP_Q_OK	/* off */
	  && strcmp(v, "max@ph.tum.de,max@web.de,list") == 0);
    CHECK(qp(g, "transport", "j.doe+x@tum.de", "+", v) == MAP_Q_OK
	  && strcmp(v, "smtp:[exchange]:25") == 0);

    CHECK(q(g, "transport", "jane@tum.de", v) == MAP_Q_OK
	  && strcmp(v, "smtp:[exchange]:25") == 0);
    CHECK(q(g, "transport", "JANE+foo@tum.de", v) == MAP_Q_OK
	  && strcmp(v, "smtp:[exchange]:25") == 0);
    CHECK(q(g, "transport", "max@ph.tum.de", v) == MAP_Q_OK
	  && strcmp(v, "lmtp:[mytum]:24") == 0);
    CHECK(q(g, "transport", "old@ph.tum.de", v) == MAP_Q_OK
	  && strcmp(v, "smtp:[mail.ph.tum.de]:25") == 0);
    CHECK(q(g, "transport", "nobody@tum.de", v) == MAP_Q_NOTFOUND);
    CHECK(q(g, "transport", "*", v) == MAP_Q_NOTFOUND);
    CHECK(q(g, "transport", "x@gmail.com", v) == MAP_Q_NOTFOUND);

    /* A '+' address whose stripped form is unknown; a leading '+'. */
    CHECK(q(g, "recipients", "+jane@tum.de", v) == MAP_Q_NOTFOUND);
    CHECK(q(g, "bogus", "jane@tum.de", v) == MAP_Q_PERM);
    CHECK(q(g, "recipients", "", v) == MAP_Q_PERM);
    {
	char    big[2000];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	CHECK(q(g, "recipients", big, v) == MAP_Q_NOTFOUND);
	CHECK(q(g, "domains", big, v) == MAP_Q_NOTFOUND);
	/* Too long to be stored: the domain's policy still answers. */
	strcpy(big + sizeof(big) - 20, "@Ph.tum.de");
	CHECK(q(g, "recipients", big, v) == MAP_Q_OK);
	CHECK(q(g, "transport", big, v) == MAP_Q_OK
	      && strcmp(v, "smtp:[mail.ph.tum.de]:25") == 0);
	CHECK(q(g, "virtual", big, v) == MAP_Q_NOTFOUND);
	strcpy(big + sizeof(big) - 20, "@tum.de");
	CHECK(q(g, "recipients", big, v) == MAP_Q_NOTFOUND);
	CHECK(q(g, "transport", big, v) == MAP_Q_NOTFOUND);
    }
    /* No table: TEMP, never NOTFOUND. */
    CHECK(q(NULL, "recipients", "jane@tum.de", v) == MAP_Q_TEMP);
    CHECK(q(NULL, "domains", "tum.de", v) == MAP_Q_TEMP);
    CHECK(q(NULL, "nosuchmap", "tum.de", v) == MAP_Q_PERM);

    /* Republish: the open generation goes stale, a new open sees it. */
    CHECK(!map_gen_stale(g));
    CHECK(publish_base(8, 1) == 0);
    CHECK(map_gen_stale(g));
    CHECK(q(g, "transport", "jane@tum.de", v) == MAP_Q_OK
	  && strcmp(v, "smtp:[exchange]:25") == 0);	/* old one intact */
    {
	struct map_gen *g2;

	CHECK(map_gen_open(dir, &g2, err, sizeof(err)) == 0);
	CHECK(q(g2, "transport", "jane@tum.de", v) == MAP_Q_OK
	      && strcmp(v, "lmtp:[mytum]:24") == 0);
	CHECK(!map_gen_stale(g2));
	map_gen_close(g2);
    }
    map_gen_close(g);
}

static void
test_delta(void)
{
    struct map_gen *g;
    struct map_writer *w;
    struct map_meta m;
    char    v[256];

    CHECK(publish_base(20, 0) == 0);
    w = map_writer_open(dir, MAP_DELTA_NAME, err, sizeof(err));
    CHECK(w != NULL);
    PUT(w, MAP_T_TRANSPORT, "jane@tum.de", "lmtp:[mytum]:24");
    PUT(w, MAP_T_RECIPIENT, "new@tum.de", "tum");
    CHECK(map_writer_del(w, MAP_T_RECIPIENT, "j.doe@tum.de", 12) == 0);
    CHECK(map_writer_del(w, MAP_T_VIRTUAL, "j.doe@tum.de", 12) == 0);
    CHECK(commit_delta(w, 21, 20) == 0);

    CHECK(map_gen_open(dir, &g, err, sizeof(err)) == 0);
    CHECK(map_gen_delta_meta(g) != NULL
	  && map_gen_delta_meta(g)->serial == 21
	  && map_gen_delta_meta(g)->tombstones == 2);
    CHECK(q(g, "transport", "jane@tum.de", v) == MAP_Q_OK
	  && strcmp(v, "lmtp:[mytum]:24") == 0);
    CHECK(q(g, "recipients", "new@tum.de", v) == MAP_Q_OK);
    CHECK(q(g, "recipients", "j.doe@tum.de", v) == MAP_Q_NOTFOUND);
    CHECK(q(g, "virtual", "j.doe@tum.de", v) == MAP_Q_NOTFOUND);
    CHECK(q(g, "recipients", "jane@tum.de", v) == MAP_Q_OK);	/* from base */
    CHECK(!map_gen_stale(g));
    map_gen_close(g);

    /* A new base makes the old delta irrelevant (base_serial mismatch). */
    CHECK(publish_base(30, 0) == 0);
    CHECK(map_gen_open(dir, &g, err, sizeof(err)) == 0);
    CHECK(map_gen_delta_meta(g) == NULL);
    CHECK(q(g, "recipients", "j.doe@tum.de", v) == MAP_Q_OK);
    CHECK(q(g, "recipients", "new@tum.de", v) == MAP_Q_NOTFOUND);
    CHECK(!map_gen_stale(g));			/* ignored delta: no reload loop */
    {
	char    p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, MAP_DELTA_NAME);
	CHECK(unlink(p) == 0);
	CHECK(map_gen_stale(g));
    }
    map_gen_close(g);

    /* Tombstones in a base are refused. */
    w = map_writer_open(dir, MAP_BASE_NAME, err, sizeof(err));
    CHECK(map_writer_del(w, MAP_T_RECIPIENT, "x@tum.de", 8) == 0);
    memset(&m, 0, sizeof(m));
    m.serial = 31;
    CHECK(map_writer_commit(w, &m, err, sizeof(err)) == 0);
    CHECK(map_gen_open(dir, &g, err, sizeof(err)) < 0);
}

/*
 * map_gen_may_hold(): a local part with a byte that no stored local part
 * has cannot be a key; a '+' that only a delta brings counts too.  The
 * answers with and without the probe it saves stay the same, and a
 * prefetch before them changes nothing.
 */
static void
test_may_hold(void)
{
    struct map_gen *g;
    struct map_writer *w;
    char    v[256];
    struct map_pf pf[MAP_Q_PF_MAX];
    int     n;

    CHECK(publish_base(40, 0) == 0);
    CHECK(map_gen_open(dir, &g, err, sizeof(err)) == 0);
    CHECK(map_gen_may_hold(g, "j.doe@tum.de", 12) == 1);
    CHECK(map_gen_may_hold(g, "jane+x@tum.de", 13) == 0);	/* no '+' stored */
    CHECK(map_gen_may_hold(g, "zed@tum.de", 10) == 0);	/* no 'z' either */
    CHECK(map_gen_may_hold(g, "tum.de", 6) == 1);		/* no local part */
    /* Domains never count: '.', 'p', 'h' and 'u' come from local parts
     * here, but "x@y" tests only "x". */
    CHECK(map_gen_may_hold(g, "max@zzz.example", 15) == 1);
    /* Prefetch in two steps: the second finds the record of a key that
     * is there, nothing for one that is not. */
    CHECK(map_query_prefetch(g, "transport", 9, "Jane+X@TUM.de", 13, "+",
			     pf) == 1);	/* only the key without "+x" */
    CHECK(map_pf_record(&pf[0]) == 1);
    CHECK(map_query_prefetch(g, "virtual", 7, "j.doe@tum.de", 12, "+",
			     pf) == 1);
    CHECK(map_pf_record(&pf[0]) == 1);
    n = map_query_prefetch(g, "transport", 9, "j.nobody@tum.de", 15, "+", pf);
    CHECK(n <= 1 && (n == 0 || map_pf_record(&pf[0]) == 0));
    CHECK(map_query_prefetch(g, "domains", 7, "tum.de", 6, "+", pf) == 0);
    CHECK(map_query_prefetch(NULL, "recipients", 10, "jane@tum.de", 11, "+",
			     pf) == 0);
    CHECK(q(g, "transport", "Jane+X@TUM.de", v) == MAP_Q_OK
	  && strcmp(v, "smtp:[exchange]:25") == 0);
    CHECK(q(g, "recipients", "jane+x@tum.de", v) == MAP_Q_OK);
    CHECK(q(g, "recipients", "zed@tum.de", v) == MAP_Q_NOTFOUND);
    map_gen_close(g);

    /* A delta with a '+' address: that exact key is found again. */
    w = map_writer_open(dir, MAP_DELTA_NAME, err, sizeof(err));
    CHECK(w != NULL);
    PUT(w, MAP_T_RECIPIENT, "jane+x@tum.de", "tum");
    PUT(w, MAP_T_TRANSPORT, "jane+x@tum.de", "lmtp:[list]:24");
    CHECK(commit_delta(w, 41, 40) == 0);
    CHECK(map_gen_open(dir, &g, err, sizeof(err)) == 0);
    CHECK(map_gen_may_hold(g, "jane+x@tum.de", 13) == 1);
    CHECK(map_gen_may_hold(g, "zed@tum.de", 10) == 0);
    /* The key with "+x" (in the delta; the base may have no slot for it)
     * and the one without, last, whose record is in the base. */
    n = map_query_prefetch(g, "transport", 9, "jane+x@tum.de", 13, "+", pf);
    CHECK(n >= 1 && n <= 2 && map_pf_record(&pf[n - 1]) == 1);
    CHECK(q(g, "transport", "jane+x@tum.de", v) == MAP_Q_OK
	  && strcmp(v, "lmtp:[list]:24") == 0);
    CHECK(q(g, "transport", "jane+y@tum.de", v) == MAP_Q_OK
	  && strcmp(v, "smtp:[exchange]:25") == 0);
    map_gen_close(g);
    {
	char    p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, MAP_DELTA_NAME);
	CHECK(unlink(p) == 0);
    }
}

/* map_gen_refresh shares an unchanged base and sees a new delta. */
static void
test_refresh(void)
{
    struct map_gen *g1, *g2, *g3;
    struct map_writer *w;
    char    v[256];

    CHECK(publish_base(60, 0) == 0);
    CHECK(map_gen_open(dir, &g1, err, sizeof(err)) == 0);
    w = map_writer_open(dir, MAP_DELTA_NAME, err, sizeof(err));
    PUT(w, MAP_T_TRANSPORT, "jane@tum.de", "lmtp:[mytum]:24");
    CHECK(commit_delta(w, 61, 60) == 0);
    CHECK(map_gen_stale(g1));
    CHECK(map_gen_refresh(dir, g1, &g2, err, sizeof(err)) == 0);
    CHECK(q(g2, "transport", "jane@tum.de", v) == MAP_Q_OK
	  && strcmp(v, "lmtp:[mytum]:24") == 0);
    CHECK(q(g1, "transport", "jane@tum.de", v) == MAP_Q_OK
	  && strcmp(v, "smtp:[exchange]:25") == 0);
    map_gen_close(g1);
    CHECK(q(g2, "recipients", "j.doe@tum.de", v) == MAP_Q_OK);
    CHECK(!map_gen_stale(g2));
    CHECK(publish_base(62, 1) == 0);
    CHECK(map_gen_refresh(dir, g2, &g3, err, sizeof(err)) == 0);
    map_gen_close(g2);
    CHECK(map_gen_meta(g3)->serial == 62 && map_gen_delta_meta(g3) == NULL);
    map_gen_close(g3);
    {
	char    p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, MAP_DELTA_NAME);
	unlink(p);
    }
}

static int
copy_file(const char *from, const char *to, off_t len, off_t flip)
{
    char    buf[1 << 16];
    int     in = open(from, O_RDONLY), out;
    ssize_t n;

    out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    n = read(in, buf, sizeof(buf));
    close(in);
    if (n < 0 || out < 0)
	return (-1);
    if (len > n)
	len = n;
    if (flip >= 0 && flip < len)
	buf[flip] = (char) (buf[flip] ^ 0x5a);
    if (write(out, buf, (size_t) len) != len)
	return (-1);
    close(out);
    return ((int) n);
}

static void
test_corrupt(void)
{
    char    good[512], base[512];
    struct map_gen *g;
    int     size, len, opened = 0, failed = 0, i;

    CHECK(publish_base(40, 0) == 0);
    snprintf(base, sizeof(base), "%s/%s", dir, MAP_BASE_NAME);
    snprintf(good, sizeof(good), "%s/good.cdb", dir);
    rename(base, good);
    size = copy_file(good, base, 1 << 20, -1);
    CHECK(size > 2048);

    /* Every truncation is refused, cleanly. */
    for (len = 0; len < size; len += (len < 2100 ? 1 : 7)) {
	copy_file(good, base, len, -1);
	if (map_gen_open(dir, &g, err, sizeof(err)) == 0) {
	    opened++;
	    map_gen_close(g);
	}
    }
    CHECK(opened == 0);

    /* Flipped bytes: open fails or, if the damage is in an unused or
     * harmless place, lookups still behave; never a crash (ASan). */
    for (i = 0; i < size; i += 3) {
	copy_file(good, base, size, i);
	if (map_gen_open(dir, &g, err, sizeof(err)) == 0) {
	    char    v[256];

	    opened++;
	    (void) q(g, "recipients", "jane@tum.de", v);
	    (void) q(g, "transport", "jane+x@tum.de", v);
	    (void) q(g, "domains", "ph.tum.de", v);
	    map_gen_close(g);
	} else
	    failed++;
    }
    CHECK(failed > 0);

    /* Not a CDB file at all; a CDB file without metadata. */
    {
	int     fd = open(base, O_WRONLY | O_TRUNC);

	CHECK(write(fd, "hello\n", 6) == 6);
	close(fd);
	CHECK(map_gen_open(dir, &g, err, sizeof(err)) < 0);
	CHECK(strstr(err, "not a CDB") != NULL);
    }
    unlink(base);
    CHECK(map_gen_open(dir, &g, err, sizeof(err)) < 0);
    CHECK(strstr(err, "No such file") != NULL);
    unlink(good);
}

/* map_scan's callback: count records per kind; stop at "stop" records. */
struct scan_count {
    int     recs, meta, tombs, stop;
    char    first[64];
};

static int
scan_count(void *ctx, const char *k, size_t klen, const char *v, size_t vlen)
{
    struct scan_count *sc = ctx;

    if (sc->recs == 0 && sc->meta == 0)
	snprintf(sc->first, sizeof(sc->first), "%.*s", (int) klen, k);
    if (klen == strlen(MAP_META_KEY) && memcmp(k, MAP_META_KEY, klen) == 0)
	sc->meta++;
    else if (vlen == MAP_TOMBSTONE_LEN && v[0] == 0)
	sc->tombs++;
    else
	sc->recs++;
    return (sc->stop && sc->recs >= sc->stop ? -1 : 0);
}

/* map_read_meta (the #meta record alone) and map_scan (every record in
 * file order, bounded buffer), on good, damaged and missing files. */
static void
test_scan(void)
{
    struct map_meta m;
    struct scan_count sc;
    struct map_writer *w;
    char    base[512], delta[512];
    int     size, len, scanned = 0;

    CHECK(publish_base(60, 0) == 0);
    snprintf(base, sizeof(base), "%s/%s", dir, MAP_BASE_NAME);
    snprintf(delta, sizeof(delta), "%s/%s", dir, MAP_DELTA_NAME);
    CHECK(map_read_meta(base, &m, err, sizeof(err)) == 0);
    CHECK(m.serial == 60 && !m.is_delta && m.counts[1] == 3);
    memset(&sc, 0, sizeof(sc));
    CHECK(map_scan(base, scan_count, &sc, err, sizeof(err)) == 0);
    CHECK(sc.recs == 11 && sc.meta == 1 && sc.tombs == 0);
    CHECK(strcmp(sc.first, "D:tum.de") == 0);	/* file order */
    /* The callback stops the scan. */
    memset(&sc, 0, sizeof(sc));
    sc.stop = 2;
    CHECK(map_scan(base, scan_count, &sc, err, sizeof(err)) < 0 && sc.recs == 2);

    w = map_writer_open(dir, MAP_DELTA_NAME, err, sizeof(err));
    CHECK(w != NULL);
    PUT(w, MAP_T_RECIPIENT, "new@tum.de", "tum");
    CHECK(map_writer_del(w, MAP_T_RECIPIENT, "jane@tum.de", 11) == 0);
    CHECK(commit_delta(w, 61, 60) == 0);
    CHECK(map_read_meta(delta, &m, err, sizeof(err)) == 0);
    CHECK(m.is_delta && m.serial == 61 && m.base_serial == 60);
    memset(&sc, 0, sizeof(sc));
    CHECK(map_scan(delta, scan_count, &sc, err, sizeof(err)) == 0);
    CHECK(sc.recs == 1 && sc.tombs == 1 && sc.meta == 1);
    unlink(delta);

    /* Missing: -1, ENOENT, a message naming the file. */
    errno = 0;
    CHECK(map_read_meta(delta, &m, err, sizeof(err)) < 0 && errno == ENOENT
	  && strstr(err, MAP_DELTA_NAME) != NULL);
    errno = 0;
    CHECK(map_scan(delta, scan_count, &sc, err, sizeof(err)) < 0
	  && errno == ENOENT && strstr(err, MAP_DELTA_NAME) != NULL);

    /* Every truncation: an error or (cut in the hash tables, after the
     * data) the same records; never a record beyond the cut (ASan). */
    {
	char    good[512];

	snprintf(good, sizeof(good), "%s/good.cdb", dir);
	rename(base, good);
	size = copy_file(good, base, 1 << 20, -1);
	for (len = 0; len < size; len += (len < 2100 ? 1 : 5)) {
	    copy_file(good, base, len, -1);
	    memset(&sc, 0, sizeof(sc));
	    if (map_scan(base, scan_count, &sc, err, sizeof(err)) == 0) {
		scanned++;
		CHECK(sc.recs == 11 && sc.meta == 1);
	    }
	    if (map_read_meta(base, &m, err, sizeof(err)) == 0)
		CHECK(m.serial == 60);
	}
	CHECK(scanned < size / 5);
	/* Not a CDB file at all. */
	copy_file(good, base, 0, -1);
	CHECK(map_read_meta(base, &m, err, sizeof(err)) < 0
	      && strstr(err, "not a CDB") != NULL);
	rename(good, base);
    }
}

static void
test_atomic(void)
{
    struct map_writer *w;
    struct map_gen *g;
    char    v[256];
    int     before;

    CHECK(publish_base(50, 0) == 0);
    before = count_files();
    w = map_writer_open(dir, MAP_BASE_NAME, err, sizeof(err));
    PUT(w, MAP_T_DOMAIN, "lmu.de", "lmu\treject\t");
    CHECK(count_files() == before + 1);		/* the temporary */
    /* Not visible before commit. */
    CHECK(map_gen_open(dir, &g, err, sizeof(err)) == 0);
    CHECK(q(g, "domains", "lmu.de", v) == MAP_Q_NOTFOUND);
    map_gen_close(g);
    map_writer_abort(w);
    CHECK(count_files() == before);		/* temporary removed */
    CHECK(map_gen_open(dir, &g, err, sizeof(err)) == 0);
    CHECK(map_gen_meta(g)->serial == 50);
    map_gen_close(g);
    /* A writer in a directory that does not exist fails with a message. */
    CHECK(map_writer_open("/nonexistent/dir", MAP_BASE_NAME, err,
			  sizeof(err)) == NULL && strstr(err, "/nonexistent"));
    /* Bad tags and oversized keys are refused. */
    w = map_writer_open(dir, MAP_BASE_NAME, err, sizeof(err));
    CHECK(map_writer_put(w, 'Q', "k", 1, "v", 1) < 0);
    {
	char    big[MAP_KEY_MAX];

	memset(big, 'k', sizeof(big));
	CHECK(map_writer_put(w, MAP_T_RECIPIENT, big, sizeof(big), "v", 1) < 0);
    }
    map_writer_abort(w);
}

/*
 * map_writer_background(): the thread writes what the caller puts, in
 * order, big values included; a write error (here the file size limit)
 * fails a later put or the commit, and nothing is published.
 */
static void
test_background(void)
{
    struct map_writer *w;
    struct map_gen *g;
    struct map_meta m;
    struct rlimit old, lim;
    char    k[64], v[256], *big;
    const char *bv;
    size_t  bl, i;
    int     bad = 0, r;

    w = map_writer_open(dir, MAP_BASE_NAME, err, sizeof(err));
    CHECK(w != NULL && map_writer_background(w) == 0);
    CHECK(map_writer_background(w) == 0);	/* once is enough */
    PUT(w, MAP_T_DOMAIN, "tum.de", "tum\treject\t");
    for (i = 0; i < 200000; i++) {
	snprintf(k, sizeof(k), "p%zu@tum.de", i);
	snprintf(v, sizeof(v), "smtp:[store%zu]:25", i % 7);
	if (PUT(w, MAP_T_TRANSPORT, k, v) < 0)
	    bad++;
    }
    CHECK(bad == 0);
    big = malloc(3 << 20);			/* larger than a block */
    memset(big, 'x', 3 << 20);
    CHECK(map_writer_put(w, MAP_T_VIRTUAL, "big@tum.de", 10, big, 3 << 20) == 0);
    memset(&m, 0, sizeof(m));
    m.serial = 70;
    CHECK(map_writer_commit(w, &m, err, sizeof(err)) == 0);
    CHECK(map_gen_open(dir, &g, err, sizeof(err)) == 0);
    CHECK(map_gen_meta(g)->counts[3] == 200000);	/* T, counted */
    CHECK(q(g, "transport", "p199999@tum.de", v) == MAP_Q_OK
	  && strcmp(v, "smtp:[store2]:25") == 0);
    CHECK(q(g, "transport", "p0@tum.de", v) == MAP_Q_OK
	  && strcmp(v, "smtp:[store0]:25") == 0);
    CHECK(map_gen_get(g, MAP_T_VIRTUAL, "big@tum.de", 10, &bv, &bl) == 1
	  && bl == (3u << 20) && bv[0] == 'x' && bv[bl - 1] == 'x');
    map_gen_close(g);

    /* Writes that fail: EFBIG past a 2 MB limit. */
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 2 << 20;
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    w = map_writer_open(dir, MAP_BASE_NAME, err, sizeof(err));
    CHECK(w != NULL && map_writer_background(w) == 0);
    for (i = 0, r = 0; i < 1000 && r == 0; i++)
	r = map_writer_put(w, MAP_T_VIRTUAL, "big@tum.de", 10, big, 1 << 20);
    memset(&m, 0, sizeof(m));
    m.serial = 71;
    CHECK(map_writer_commit(w, &m, err, sizeof(err)) < 0
	  && strstr(err, strerror(EFBIG)) != NULL);
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, SIG_DFL);
    CHECK(r < 0);				/* a put said so first */
    CHECK(map_gen_open(dir, &g, err, sizeof(err)) == 0);
    CHECK(map_gen_meta(g)->serial == 70);	/* the failed one never shows */
    map_gen_close(g);
    free(big);
}

int
main(void)
{
    snprintf(dir, sizeof(dir), "%s/t_map.XXXXXX",
	     getenv("TEST_TMP") ? getenv("TEST_TMP") : "/tmp");
    if (mkdtemp(dir) == NULL) {
	perror("mkdtemp");
	return (2);
    }
    test_semantics();
    test_delta();
    test_may_hold();
    test_refresh();
    test_corrupt();
    test_scan();
    test_atomic();
    test_background();
    if (check_failures == 0) {
	char    cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	(void) system(cmd);
    } else
	fprintf(stderr, "last error: %s\n", err);
    return (DONE());
}

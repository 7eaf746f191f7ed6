/*
 * publish_delta.c - publish only what changed, as a delta over the base
 *		     (see publish.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compile.h"
#include "log.h"
#include "publish.h"
#include "publish_int.h"

int
pub_write_delta(struct pub *p, char *err, size_t errlen)
{
    struct map_writer *mw;
    struct map_meta meta;
    size_t  pos = 0;
    const char *k;
    size_t  klen;
    void   *v;

    if ((mw = map_writer_open(p->conf->maps_dir, MAP_DELTA_NAME, err, errlen)) == NULL)
	return (-1);
    while (htab_next(&p->delta, &pos, &k, &klen, &v)) {
	int     r = (v == pub_tomb)
	    ? map_writer_del(mw, k[0], k + 2, klen - 2)
	    : map_writer_put(mw, k[0], k + 2, klen - 2, v, strlen(v));

	if (r < 0) {
	    snprintf(err, errlen, "writing the delta failed: %s", strerror(errno));
	    map_writer_abort(mw);
	    return (-1);
	}
    }
    memset(&meta, 0, sizeof(meta));
    meta.format = MAP_FORMAT;
    meta.is_delta = 1;
    meta.serial = p->serial + 1;
    meta.base_serial = p->base_serial;
    meta.created = time(NULL);
    snprintf(meta.source, sizeof(meta.source), "%s", p->source);
    if (map_writer_commit(mw, &meta, err, errlen) < 0)
	return (-1);
    p->serial = meta.serial;
    return (0);
}

int
pub_delta(struct pub *p, struct state *st, struct report *rep,
	  char *err, size_t errlen)
{
    const struct conf *c = p->conf;
    struct dchanges dc = {NULL, 0, 0};
    struct dchange *ch;
    size_t  nch, pos = 0, i;
    const char *addr;
    size_t  alen;
    unsigned long removed = 0, added = 0;
    int     ret = -1;
    struct xupd {
	const char *addr;	/* a dirty key */
	char   *blob;		/* its extras after this delta */
	struct xfp *fp;		/* their fingerprints (big groups) */
    } *xu = NULL;
    size_t  nxu = 0, cxu = 0;
    int     phase;

    if (p->base == NULL) {
	snprintf(err, errlen, "no base generation to apply a delta to");
	return (-1);
    }
    if (state_dirty_expand(st) < 0) {
	snprintf(err, errlen, "out of memory");
	return (-1);
    }
    /* Groups whose expansion is kept first: the lists that name them
     * then take them whole (compile.c). */
    for (phase = 0; phase < 2; phase++)
    for (pos = 0; htab_next(&st->dirty, &pos, &addr, &alen, NULL);) {
	struct recs r;
	struct xfp *nfp;
	const char *t;
	int     had_r, has_r, diff = 0, cr;
	const char *ov;
	size_t  ol;

	if (comp_addr_kept_group(st, addr) != (phase == 0))
	    continue;
	if (comp_addr(c, st, addr, &r, rep) < 0) {
	    recs_free(&r);
	    snprintf(err, errlen, "out of memory compiling %s", addr);
	    goto out;
	}
	had_r = pub_get(p, MAP_T_RECIPIENT, addr, alen, &ov, &ol);
	has_r = r.v[REC_IDX(MAP_T_RECIPIENT)] != NULL;
	for (t = PUB_RECTAGS; *t; t++) {
	    if ((cr = pub_add_change(p, &dc, *t, addr, alen, r.v[REC_IDX(*t)])) < 0)
		goto oom;
	    if (cr && (*t == MAP_T_VIRTUAL || *t == MAP_T_TRANSPORT))
		diff = 1;
	}
	/* A group's S and sub-list records, and those it no longer has. */
	if (pub_extras_changes(p, &dc, addr, &r, &nfp) < 0)
	    goto oom;
	if (r.nx || htab_get(&p->gext, addr, alen)) {
	    char   *blob = r.nx ? pub_extras_blob(&r) : NULL;

	    if (r.nx && blob == NULL) {
		free(nfp);
		goto oom;
	    }
	    if (nxu == cxu) {
		size_t  n = cxu ? cxu * 2 : 16;
		struct xupd *xx = realloc(xu, n * sizeof(*xx));

		if (xx == NULL) {
		    free(blob);
		    free(nfp);
		    goto oom;
		}
		xu = xx;
		cxu = n;
	    }
	    xu[nxu].addr = addr;
	    xu[nxu].fp = nfp;
	    xu[nxu++].blob = blob;
	} else
	    free(nfp);
	recs_free(&r);
	if (had_r && !has_r) {
	    removed++;
	    report_change(rep, REP_REMOVED, addr);
	} else if (!had_r && has_r) {
	    added++;
	    report_change(rep, REP_ADDED, addr);
	} else if (has_r && diff)
	    report_change(rep, REP_CHANGED, addr);
	continue;
oom:
	recs_free(&r);
	snprintf(err, errlen, "out of memory");
	goto out;
    }
    ch = dc.ch;
    nch = dc.n;
    report_set(rep, "entries", (long long) st->nents);
    report_set(rep, "routes", (long long) (p->routes + added - removed));
    report_set(rep, "previous_routes", (long long) p->routes);
    /* The extras now published with each recompiled address: recorded
     * only when the published view takes this delta's changes (a refused
     * delta is recompiled against the same view next time). */
    if (nch == 0) {
	for (i = 0; i < nxu; i++) {
	    pub_extras_set(p, xu[i].addr, xu[i].blob);
	    pub_extras_set_fp(p, xu[i].addr, xu[i].fp);
	    xu[i].blob = NULL;
	    xu[i].fp = NULL;
	}
	state_dirty_clear(st);
	ret = 0;
	goto out;
    }
    /* Only R records count: removing a group of 50,000 members removes
     * its own addresses' routes, not its members'. */
    if ((ret = pub_guard(p, p->routes + added - removed, p->routes, removed,
			 err, errlen)) < 0)
	goto out;
    ret = -1;
    for (i = 0; i < nxu; i++) {
	pub_extras_set(p, xu[i].addr, xu[i].blob);
	pub_extras_set_fp(p, xu[i].addr, xu[i].fp);
	xu[i].blob = NULL;
	xu[i].fp = NULL;
    }
    /* Apply to the in-memory delta. */
    for (i = 0; i < nch; i++) {
	size_t  kl = strlen(ch[i].key);
	const char *ok;
	void   *ov;

	if (p->child && !htab_get(&p->since_fork, ch[i].key, kl)) {
	    char   *sk = strdup(ch[i].key);

	    if (sk && htab_put(&p->since_fork, sk, kl, p) < 0)
		free(sk);
	}
	if (htab_take(&p->delta, ch[i].key, kl, &ok, &ov)) {
	    free((char *) (uintptr_t) ok);
	    if (ov != pub_tomb)
		free(ov);
	}
	if (ch[i].val) {
	    if (htab_put(&p->delta, ch[i].key, kl, ch[i].val) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	    }
	    ch[i].key = NULL;
	    ch[i].val = NULL;
	}
    }
    p->routes = p->routes + added - removed;
    p->force = 0;
    if (p->delta.n > (size_t) c->ldapsync.compact_records && !p->bg_compact) {
	report_set_str(rep, "mode", "full");
	ret = pub_full(p, st, rep, err, errlen);
	if (ret == 1)
	    state_dirty_clear(st);
	goto out;
    }
    if (pub_write_delta(p, err, errlen) < 0)
	goto out;
    state_dirty_clear(st);
    report_set(rep, "serial", (long long) p->serial);
    ret = 1;
    /* Fork after this delta is out, so that the new base's serial is
     * above every delta whose changes it holds (readers never take a
     * base older than what they serve). */
    if (p->delta.n > (size_t) c->ldapsync.compact_records && p->child == 0
	&& pub_start_compaction(p, st) == 0)
	report_set(rep, "compaction_started", 1);
out:
    for (i = 0; i < dc.n; i++) {
	free(dc.ch[i].key);
	if (dc.ch[i].val && dc.ch[i].val != pub_tomb)
	    free(dc.ch[i].val);
    }
    free(dc.ch);
    for (i = 0; i < nxu; i++) {
	free(xu[i].blob);
	free(xu[i].fp);
    }
    free(xu);
    return (ret);
}

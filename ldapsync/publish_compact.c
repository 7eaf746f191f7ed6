/*
 * publish_compact.c - background compaction of base and delta
 *		       (see publish.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cdb.h>

#include "log.h"
#include "mono.h"
#include "publish.h"
#include "publish_int.h"

/*
 * When the delta outgrows compact_records, a child process (fork: a
 * copy-on-write snapshot of everything) merges the published base and the
 * delta into a new base under a hidden name and writes a state snapshot,
 * while the parent keeps publishing deltas over the old base and notes
 * every key it changes.  When the child is done, pub_poll_child()
 * installs the new base and re-expresses the changes made since the fork
 * as the new delta.  Between the two renames a reader may see the new
 * base without those few changes for a moment: an older complete
 * generation, never a partial one.
 */

struct mergectx {
    struct pub *p;
    struct map_writer *mw;
    int     fd;			/* the writer's temporary file, read-only */
    size_t  bytes, flushed;
};

/* Start writeback of what has been written so far (asynchronously), so
 * that the commit's fsync is not one burst that stalls slapd's own
 * commits on the same disk. */
static void
merge_writeback(struct mergectx *m, int force)
{
    if (m->fd >= 0 && (force || m->bytes - m->flushed >= (8u << 20))) {
	(void) sync_file_range(m->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	m->flushed = m->bytes;
    }
}

/* The writer's temporary file: MAPS_DIR/.NAME.XXXXXX (see map.h). */
static int
open_writer_tmp(const char *dir, const char *name)
{
    DIR    *d = opendir(dir);
    struct dirent *de;
    char    prefix[256], path[4096];
    int     fd = -1;

    if (d == NULL)
	return (-1);
    snprintf(prefix, sizeof(prefix), ".%s.", name);
    while ((de = readdir(d)) != NULL)
	if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
	    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
	    fd = open(path, O_RDONLY | O_CLOEXEC);
	    break;
	}
    closedir(d);
    return (fd);
}

static int
merge_rec(void *vctx, const char *k, size_t klen, const char *v, size_t vlen)
{
    struct mergectx *m = vctx;

    if (klen < 3 || k[1] != ':')
	return (0);		/* #meta */
    if (htab_get(&m->p->delta, k, klen))
	return (0);		/* the delta has the current value */
    m->bytes += klen + vlen + 8;
    merge_writeback(m, 0);
    return (map_writer_put(m->mw, k[0], k + 2, klen - 2, v, vlen));
}

/* In the child: base + delta -> MAPS_DIR/.fwdmap.next.cdb. */
static int
child_merge(struct pub *p, uint64_t serial)
{
    struct mergectx m;
    struct map_meta meta;
    char    path[4096], err[512];
    size_t  pos = 0, klen;
    const char *k;
    void   *v;

    m.p = p;
    m.bytes = m.flushed = 0;
    if ((m.mw = map_writer_open(p->conf->maps_dir, PUB_NEXT_BASE, err, sizeof(err))) == NULL)
	return (-1);
    m.fd = open_writer_tmp(p->conf->maps_dir, PUB_NEXT_BASE);
    snprintf(path, sizeof(path), "%s/%s", p->conf->maps_dir, MAP_BASE_NAME);
    if (map_scan(path, merge_rec, &m, err, sizeof(err)) < 0)
	goto fail;
    while (htab_next(&p->delta, &pos, &k, &klen, &v))
	if (v != pub_tomb && map_writer_put(m.mw, k[0], k + 2, klen - 2, v, strlen(v)) < 0)
	    goto fail;
    merge_writeback(&m, 1);
    memset(&meta, 0, sizeof(meta));
    meta.format = MAP_FORMAT;
    meta.serial = serial;
    meta.created = time(NULL);
    snprintf(meta.source, sizeof(meta.source), "%s", p->source);
    if (m.fd >= 0)
	close(m.fd);
    return (map_writer_commit(m.mw, &meta, err, sizeof(err)));
fail:
    if (m.fd >= 0)
	close(m.fd);
    map_writer_abort(m.mw);
    return (-1);
}

long long
pub_child_ms(const struct pub *p)
{
    return (mono_ms() - p->child_t0);
}

int
pub_start_compaction(struct pub *p, struct state *st)
{
    uint64_t serial = p->serial + 1;
    pid_t   pid, parent = getpid();

    /* A compaction killed with an earlier ldapsync left these. */
    pub_remove_stale(p->conf, 0);
    /* The keys changed while the child runs; ready before it exists. */
    if (htab_init(&p->since_fork, 1024) < 0)
	return (-1);
    fflush(NULL);
    if ((pid = fork()) < 0) {
	htab_free(&p->since_fork);
	return (-1);
    }
    if (pid == 0) {
	char    err[512];
	int     ok;

	/* Die with the parent: an orphan would install nothing, but it
	 * would go on writing and could race a restarted ldapsync.  The
	 * parent may have died before prctl(): check it afterwards. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
	    _exit(1);
	/* Stay out of the way of slapd and of the parent's deltas: lowest
	 * CPU priority, idle I/O class where the scheduler honours it. */
	if (nice(19) == -1)
	    errno = 0;
	(void) syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0,
		       (3 << 13) /* IOPRIO_CLASS_IDLE */);
	ok = child_merge(p, serial) == 0
	    && state_save_next(st, p->conf->ldapsync.state_dir, serial, err, sizeof(err)) == 0;

	_exit(ok ? 0 : 1);
    }
    p->serial = serial;		/* reserved for the new base */
    p->child = pid;
    p->child_t0 = mono_ms();
    log_info("background compaction started: pid %ld, %zu delta records over base"
	     " serial %llu, new base serial %llu", (long) pid, p->delta.n,
	     (unsigned long long) p->base_serial, (unsigned long long) serial);
    p->child_serial = serial;
    return (0);
}

static void
since_fork_clear(struct pub *p)
{
    htab_free_keys(&p->since_fork);
}

void
pub_abort_child(struct pub *p)
{
    char    path[4096];
    int     status;

    if (p->child == 0)
	return;
    kill(p->child, SIGKILL);
    waitpid(p->child, &status, 0);
    p->child = 0;
    since_fork_clear(p);
    snprintf(path, sizeof(path), "%s/%s", p->conf->maps_dir, PUB_NEXT_BASE);
    unlink(path);
    state_drop_next(p->conf->ldapsync.state_dir);
    pub_remove_stale(p->conf, 0);	/* the child's temporaries */
    log_info("background compaction abandoned after %lld ms", pub_child_ms(p));
}

int
pub_poll_child(struct pub *p, char *err, size_t errlen)
{
    struct pub_base *nb = NULL;
    struct htab nd;
    char    next[4096], final[4096];
    size_t  pos = 0, klen;
    const char *k;
    int     status;
    pid_t   r;

    if (p->child == 0 || (r = waitpid(p->child, &status, WNOHANG)) == 0)
	return (0);
    snprintf(next, sizeof(next), "%s/%s", p->conf->maps_dir, PUB_NEXT_BASE);
    snprintf(final, sizeof(final), "%s/%s", p->conf->maps_dir, MAP_BASE_NAME);
    p->child = 0;
    if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
	snprintf(err, errlen, "background compaction failed after %lld ms; the delta keeps growing",
		 pub_child_ms(p));
	goto fail;
    }
    if ((nb = calloc(1, sizeof(*nb))) == NULL
	|| (nb->fd = open(next, O_RDONLY | O_CLOEXEC)) < 0 || cdb_init(&nb->cdb, nb->fd) < 0) {
	snprintf(err, errlen, "open %s: %s", next, strerror(errno));
	goto fail;
    }
    /* The new delta: what changed since the fork, against the new base. */
    if (htab_init(&nd, 1024) < 0) {
	snprintf(err, errlen, "out of memory installing the compacted base");
	goto fail;
    }
    while (htab_next(&p->since_fork, &pos, &k, &klen, NULL)) {
	const char *cv = NULL, *bv = NULL;
	size_t  cl = 0, bl = 0;
	int     cf = pub_get(p, k[0], k + 2, klen - 2, &cv, &cl);
	int     bf = cdb_find(&nb->cdb, k, (unsigned) klen) > 0
	    && (bv = cdb_getdata(&nb->cdb)) != NULL;
	char   *dv, *key;

	if (bf)
	    bl = cdb_datalen(&nb->cdb);
	if (cf ? (bf && cl == bl && memcmp(cv, bv, cl) == 0) : !bf)
	    continue;
	if ((key = strndup(k, klen)) == NULL)
	    continue;
	dv = cf ? strndup(cv, cl) : pub_tomb;
	if (dv == NULL || htab_put(&nd, key, klen, dv) < 0) {
	    free(key);
	    continue;
	}
    }
    if (rename(next, final) < 0) {
	snprintf(err, errlen, "rename %s: %s", next, strerror(errno));
	p->child = 0;
	pub_delta_free_table(&nd);
	goto fail;
    }
    {
	int     dfd = open(p->conf->maps_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd >= 0) {
	    fsync(dfd);
	    close(dfd);
	}
    }
    pub_delta_clear(p);
    htab_free(&p->delta);
    p->delta = nd;
    pub_close_base(p);
    p->base = nb;
    nb = NULL;
    p->base_serial = p->child_serial;
    since_fork_clear(p);
    /* Without changes since the fork the new base is the newest state.
     * With deltas published since (serials above the new base's), an
     * empty delta must follow anyway: readers serving one of those hold
     * the older base back until a newer serial appears. */
    if (p->delta.n == 0 && p->serial == p->child_serial) {
	char    dpath[4096];

	snprintf(dpath, sizeof(dpath), "%s/%s", p->conf->maps_dir, MAP_DELTA_NAME);
	unlink(dpath);
    } else if (pub_write_delta(p, err, errlen) < 0)
	return (-1);
    if (state_install_next(p->conf->ldapsync.state_dir) < 0) {
	snprintf(err, errlen, "install the state snapshot: %s", strerror(errno));
	return (-1);
    }
    return (1);
fail:
    if (nb) {
	cdb_free(&nb->cdb);		/* nothing mapped: a no-op */
	if (nb->fd >= 0)
	    close(nb->fd);
	free(nb);
    }
    since_fork_clear(p);
    unlink(next);
    state_drop_next(p->conf->ldapsync.state_dir);
    return (-1);
}

int
pub_compacting(const struct pub *p)
{
    return (p->child != 0);
}

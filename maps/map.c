/*
 * map.c - write and read generations of compiled tables (see map.h).
 *
 * Exports the map_writer_* (atomic publication of one CDB file) and the
 * map_gen_* (verified, read-only view of a base plus optional delta)
 * functions.  Nothing here prints or exits; errors come back as -1 with
 * a message in the caller's buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cdb.h>
#include <jansson.h>

#include "map.h"

#define NTAGS	(sizeof(MAP_TAGS) - 1)

/* Write a formatted message into err, if there is one. */
static void __attribute__((format(printf, 3, 4)))
map_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
	return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int
map_tag_index(int tag)
{
    const char *p = strchr(MAP_TAGS, tag);

    return (tag != 0 && p != NULL ? (int) (p - MAP_TAGS) : -1);
}

/* Build "T:key" in buf; returns its length or 0 when it does not fit. */
static size_t
map_key(char *buf, int tag, const char *key, size_t klen)
{
    if (klen + 2 > MAP_KEY_MAX)
	return (0);
    buf[0] = (char) tag;
    buf[1] = ':';
    memcpy(buf + 2, key, klen);
    return (klen + 2);
}

/*
 * Writer.
 */
struct map_writer {
    int	    fd;
    char   *tmppath;
    char   *path;
    char   *dir;
    struct cdb_make cm;
    unsigned long counts[NTAGS];
    unsigned long tombstones;
    int	    failed;
    int	    finished;		/* cdb_make_finish() was called */
    unsigned long nput;		/* records added */
    off_t   flushed;		/* writeback started up to here */
    struct map_bg *bg;		/* a thread adds the records, or NULL */
};

/*
 * Writing in the background (map_writer_background()): the caller's
 * records are copied into blocks of about WB_BLOCK bytes, and a thread
 * adds them to the CDB (cdb_make_add(): hashing, buffering, writing)
 * while the caller computes the next ones.  At most WB_QUEUE blocks wait;
 * a caller that is faster than the disk waits for one to be written.
 * Each record in a block: key length and value length (4 bytes each,
 * host order), the key "T:key", the value.
 */
#define WB_BLOCK	(1 << 20)
#define WB_QUEUE	8

struct map_block {
    struct map_block *next;
    size_t  len, cap;
    char    data[];
};

struct map_bg {
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t more;	/* a block queued, or done */
    pthread_cond_t room;	/* a block written */
    struct map_block *fill;	/* the caller's */
    struct map_block *head, *tail;	/* queued for the thread */
    struct map_block *spare;	/* written, for reuse */
    int	    queued;
    int	    done;		/* no more blocks will come */
    int	    err;		/* errno of a failed write, 0 */
};

/*
 * Writeback of a big generation (a base of a million people and their
 * groups is 800 MB) is started as it is written, every WB_CHUNK bytes,
 * so that the fsync() before the rename finds little left to write:
 * measured at 828 MB, that fsync() alone took 1.0 s.  The kernel writes
 * meanwhile; sync_file_range() does not wait.
 */
#define WB_EVERY	16384		/* records between checks */
#define WB_CHUNK	(32L << 20)

static void
map_writer_kick(struct map_writer *w)
{
    off_t   end = lseek(w->fd, 0, SEEK_CUR);

    if (end >= w->flushed + WB_CHUNK) {
	(void) sync_file_range(w->fd, w->flushed, end - w->flushed,
			       SYNC_FILE_RANGE_WRITE);
	w->flushed = end;
    }
}

/* Add one record from a block to the CDB: 0, or -1 with errno. */
static int
map_writer_add(struct map_writer *w, const char *k, size_t klen,
	       const char *v, size_t vlen)
{
    if (cdb_make_add(&w->cm, k, (unsigned) klen, v, (unsigned) vlen) < 0)
	return (-1);
    if (++w->nput % WB_EVERY == 0)
	map_writer_kick(w);
    return (0);
}

static void *
map_bg_run(void *arg)
{
    struct map_writer *w = arg;
    struct map_bg *bg = w->bg;
    struct map_block *b;
    size_t  off;
    uint32_t kl, vl;
    int     e = 0;

    for (;;) {
	pthread_mutex_lock(&bg->mu);
	while (bg->head == NULL && !bg->done)
	    pthread_cond_wait(&bg->more, &bg->mu);
	if ((b = bg->head) == NULL) {
	    pthread_mutex_unlock(&bg->mu);
	    return (NULL);
	}
	bg->head = b->next;
	if (bg->head == NULL)
	    bg->tail = NULL;
	pthread_mutex_unlock(&bg->mu);

	for (off = 0; e == 0 && off < b->len; off += 8 + kl + vl) {
	    memcpy(&kl, b->data + off, 4);
	    memcpy(&vl, b->data + off + 4, 4);
	    if (map_writer_add(w, b->data + off + 8, kl, b->data + off + 8 + kl,
			       vl) < 0)
		e = errno ? errno : EIO;
	}

	pthread_mutex_lock(&bg->mu);
	if (e && bg->err == 0)
	    bg->err = e;
	bg->queued--;
	if (b->cap == WB_BLOCK && bg->spare == NULL) {
	    b->len = 0;
	    bg->spare = b;
	} else
	    free(b);
	pthread_cond_signal(&bg->room);
	pthread_mutex_unlock(&bg->mu);
    }
}

/* Queue the caller's block (if it holds anything).  0, or -1 with
 * errno when the thread has failed to write (the block is kept). */
static int
map_bg_queue(struct map_bg *bg)
{
    struct map_block *b = bg->fill;

    if (b == NULL || b->len == 0)
	return (0);
    pthread_mutex_lock(&bg->mu);
    while (bg->queued >= WB_QUEUE && bg->err == 0)
	pthread_cond_wait(&bg->room, &bg->mu);
    if (bg->err != 0) {
	errno = bg->err;
	pthread_mutex_unlock(&bg->mu);
	return (-1);
    }
    bg->fill = NULL;
    b->next = NULL;
    if (bg->tail)
	bg->tail->next = b;
    else
	bg->head = b;
    bg->tail = b;
    bg->queued++;
    pthread_cond_signal(&bg->more);
    pthread_mutex_unlock(&bg->mu);
    return (0);
}

/* Copy one record into the caller's block: 0, or -1 with errno. */
static int
map_bg_put(struct map_bg *bg, const char *k, size_t klen, const char *v,
	   size_t vlen)
{
    size_t  need = 8 + klen + vlen;
    uint32_t kl = (uint32_t) klen, vl = (uint32_t) vlen;
    struct map_block *b = bg->fill;

    if (b != NULL && b->cap - b->len < need && map_bg_queue(bg) < 0)
	return (-1);
    if ((b = bg->fill) == NULL) {
	size_t  cap = need > WB_BLOCK ? need : WB_BLOCK;

	pthread_mutex_lock(&bg->mu);
	if (cap == WB_BLOCK && (b = bg->spare) != NULL)
	    bg->spare = NULL;
	pthread_mutex_unlock(&bg->mu);
	if (b == NULL && (b = malloc(sizeof(*b) + cap)) == NULL)
	    return (-1);
	b->len = 0;
	b->cap = cap;
	bg->fill = b;
    }
    memcpy(b->data + b->len, &kl, 4);
    memcpy(b->data + b->len + 4, &vl, 4);
    memcpy(b->data + b->len + 8, k, klen);
    memcpy(b->data + b->len + 8 + klen, v, vlen);
    b->len += need;
    return (0);
}

/* Free the state of a thread that is not running (any more). */
static void
map_bg_free(struct map_bg *bg)
{
    free(bg->fill);
    free(bg->spare);
    pthread_mutex_destroy(&bg->mu);
    pthread_cond_destroy(&bg->more);
    pthread_cond_destroy(&bg->room);
    free(bg);
}

/*
 * Stop the thread once it has written what is queued (all of it, so
 * that the CDB is complete; an abort removes the file anyway).  Returns
 * its error (an errno), or 0.
 */
static int
map_bg_stop(struct map_writer *w)
{
    struct map_bg *bg = w->bg;
    int     e;

    if (bg == NULL)
	return (0);
    (void) map_bg_queue(bg);		/* else bg->err says why */
    pthread_mutex_lock(&bg->mu);
    bg->done = 1;
    pthread_cond_signal(&bg->more);
    pthread_mutex_unlock(&bg->mu);
    pthread_join(bg->tid, NULL);
    e = bg->err;
    map_bg_free(bg);
    w->bg = NULL;
    return (e);
}

int
map_writer_background(struct map_writer *w)
{
    struct map_bg *bg;
    int     e;

    if (w->bg != NULL)
	return (0);
    if ((bg = calloc(1, sizeof(*bg))) == NULL)
	return (-1);
    pthread_mutex_init(&bg->mu, NULL);
    pthread_cond_init(&bg->more, NULL);
    pthread_cond_init(&bg->room, NULL);
    w->bg = bg;
    if ((e = pthread_create(&bg->tid, NULL, map_bg_run, w)) != 0) {
	map_bg_free(bg);
	w->bg = NULL;
	errno = e;
	return (-1);
    }
    return (0);
}

struct map_writer *
map_writer_open(const char *dir, const char *name, char *err, size_t errlen)
{
    struct map_writer *w;

    if ((w = calloc(1, sizeof(*w))) == NULL
	|| asprintf(&w->tmppath, "%s/.%s.XXXXXX", dir, name) < 0
	|| asprintf(&w->path, "%s/%s", dir, name) < 0
	|| (w->dir = strdup(dir)) == NULL) {
	map_err(err, errlen, "out of memory");
	goto fail;
    }
    if ((w->fd = mkostemp(w->tmppath, O_CLOEXEC)) < 0) {
	map_err(err, errlen, "create %s: %s", w->tmppath, strerror(errno));
	goto fail;
    }
    if (fchmod(w->fd, 0644) < 0 || cdb_make_start(&w->cm, w->fd) < 0) {
	map_err(err, errlen, "prepare %s: %s", w->tmppath, strerror(errno));
	unlink(w->tmppath);
	close(w->fd);
	goto fail;
    }
    return (w);

fail:
    if (w) {
	free(w->tmppath);
	free(w->path);
	free(w->dir);
	free(w);
    }
    return (NULL);
}

int
map_writer_put(struct map_writer *w, int tag, const char *key, size_t klen,
	       const char *val, size_t vlen)
{
    char    kbuf[MAP_KEY_MAX];
    size_t  n;
    int     ti = map_tag_index(tag);

    if (ti < 0 || (n = map_key(kbuf, tag, key, klen)) == 0) {
	errno = EINVAL;
	return (-1);
    }
    if (vlen > 0xffffff) {
	errno = E2BIG;
	return (-1);
    }
    if (w->bg ? map_bg_put(w->bg, kbuf, n, val, vlen) < 0
	: map_writer_add(w, kbuf, n, val, vlen) < 0) {
	w->failed = errno ? errno : EIO;
	return (-1);
    }
    if (vlen == MAP_TOMBSTONE_LEN && val[0] == 0)
	w->tombstones++;
    else
	w->counts[ti]++;
    return (0);
}

int
map_writer_del(struct map_writer *w, int tag, const char *key, size_t klen)
{
    return (map_writer_put(w, tag, key, klen, MAP_TOMBSTONE,
			   MAP_TOMBSTONE_LEN));
}

/* Serialize meta (with the writer's counts) as JSON; caller frees. */
static char *
map_meta_json(const struct map_meta *m, const unsigned long *counts,
	      unsigned long tombstones)
{
    json_t *o = json_object(), *c = json_object();
    char   *s;
    size_t  i;

    for (i = 0; i < NTAGS; i++) {
	char    k[2] = {MAP_TAGS[i], 0};

	json_object_set_new(c, k, json_integer((json_int_t) counts[i]));
    }
    json_object_set_new(o, "format", json_integer(MAP_FORMAT));
    json_object_set_new(o, "kind", json_string(m->is_delta ? "delta" : "base"));
    json_object_set_new(o, "serial", json_integer((json_int_t) m->serial));
    if (m->is_delta) {
	json_object_set_new(o, "base_serial",
			    json_integer((json_int_t) m->base_serial));
	json_object_set_new(o, "tombstones",
			    json_integer((json_int_t) tombstones));
    }
    json_object_set_new(o, "created", json_integer((json_int_t) m->created));
    json_object_set_new(o, "source", json_string(m->source));
    json_object_set_new(o, "counts", c);
    s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return (s);
}

int
map_writer_commit(struct map_writer *w, const struct map_meta *meta,
		  char *err, size_t errlen)
{
    char   *js = NULL;
    int     dfd = -1, ret = -1, e;

    if ((e = map_bg_stop(w)) != 0 && !w->failed)
	w->failed = e;
    if (w->failed) {
	map_err(err, errlen, "write %s: %s", w->tmppath, strerror(w->failed));
	goto out;
    }
    if ((js = map_meta_json(meta, w->counts, w->tombstones)) == NULL) {
	map_err(err, errlen, "out of memory");
	goto out;
    }
    if (cdb_make_add(&w->cm, MAP_META_KEY, sizeof(MAP_META_KEY) - 1, js,
		     (unsigned) strlen(js)) < 0) {
	map_err(err, errlen, "write %s: %s", w->tmppath, strerror(errno));
	goto out;
    }
    w->finished = 1;
    if (cdb_make_finish(&w->cm) < 0) {
	map_err(err, errlen, "write %s: %s", w->tmppath, strerror(errno));
	goto out;
    }
    if (fsync(w->fd) < 0) {
	map_err(err, errlen, "fsync %s: %s", w->tmppath, strerror(errno));
	goto out;
    }
    if (close(w->fd) < 0) {
	w->fd = -1;
	map_err(err, errlen, "close %s: %s", w->tmppath, strerror(errno));
	goto out;
    }
    w->fd = -1;
    if (rename(w->tmppath, w->path) < 0) {
	map_err(err, errlen, "rename %s to %s: %s", w->tmppath, w->path,
		strerror(errno));
	goto out;
    }
    /* The rename is durable only once the directory is. */
    if ((dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0
	|| fsync(dfd) < 0) {
	map_err(err, errlen, "fsync directory %s: %s", w->dir, strerror(errno));
	goto out;
    }
    ret = 0;

out:
    if (dfd >= 0)
	close(dfd);
    free(js);
    if (ret < 0)
	map_writer_abort(w);
    else {
	free(w->tmppath);
	free(w->path);
	free(w->dir);
	free(w);
    }
    return (ret);
}

void
map_writer_abort(struct map_writer *w)
{
    if (w == NULL)
	return;
    (void) map_bg_stop(w);
    if (w->fd >= 0) {
	/* tinycdb frees its index only in cdb_make_finish(). */
	if (!w->finished)
	    (void) cdb_make_finish(&w->cm);
	close(w->fd);
    }
    unlink(w->tmppath);
    free(w->tmppath);
    free(w->path);
    free(w->dir);
    free(w);
}

/*
 * Reader.
 */
struct map_file {
    int	    refs;		/* generations sharing this base */
    int	    fd;			/* -1: not open */
    struct cdb cdb;
    struct stat st;
    struct map_meta meta;
    uint64_t lpset[4];		/* bytes in the local parts of its keys */
    uint32_t heads[512];	/* the CDB's 256 (position, slots) pairs */
};

struct map_gen {
    char   *base_path;
    char   *delta_path;
    struct map_file *base;	/* shared with the previous generation */
    struct map_file delta;
    int	    delta_seen;		/* a delta file existed at open time */
    struct stat delta_st;	/* its stat, used or ignored */
    unsigned char lpok[256];	/* base's and delta's lpset together, a
				 * byte each (map_gen_may_hold) */
};

/*
 * Note in set every byte of the local part of a stored key "T:local@domain"
 * (a key without '@' has none), for the tables of addresses (R, V, T).
 * A looked-up address whose local part holds a byte that no stored local
 * part holds cannot be in them: a key "user+ext@domain" where no stored
 * address has a '+' needs no probe (map_gen_may_hold).  Collected during
 * the walk that verifies the file.
 */
static void
map_lpset_add(uint64_t *set, const char *k, size_t klen)
{
    const unsigned char *p = (const unsigned char *) k + 2;
    const unsigned char *at = memrchr(p, '@', klen - 2);

    for (; at != NULL && p < at; p++)
	set[*p >> 6] |= (uint64_t) 1 << (*p & 63);
}

/* Parse a #meta JSON value. */
static int
map_meta_parse(const char *s, size_t len, struct map_meta *m, char *err,
	       size_t errlen)
{
    json_error_t je;
    json_t *o = json_loadb(s, len, 0, &je), *v, *c;
    const char *kind, *src;
    size_t  i;
    int     ret = -1;

    memset(m, 0, sizeof(*m));
    if (o == NULL || !json_is_object(o)) {
	map_err(err, errlen, "metadata is not a JSON object");
	goto out;
    }
    v = json_object_get(o, "format");
    if (!json_is_integer(v) || json_integer_value(v) != MAP_FORMAT) {
	map_err(err, errlen, "unknown table format (want %d)", MAP_FORMAT);
	goto out;
    }
    m->format = MAP_FORMAT;
    kind = json_string_value(json_object_get(o, "kind"));
    if (kind == NULL || (strcmp(kind, "base") && strcmp(kind, "delta"))) {
	map_err(err, errlen, "metadata: bad or missing \"kind\"");
	goto out;
    }
    m->is_delta = strcmp(kind, "delta") == 0;
    v = json_object_get(o, "serial");
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
	map_err(err, errlen, "metadata: bad or missing \"serial\"");
	goto out;
    }
    m->serial = (uint64_t) json_integer_value(v);
    if (m->is_delta) {
	v = json_object_get(o, "base_serial");
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
	    map_err(err, errlen, "metadata: bad or missing \"base_serial\"");
	    goto out;
	}
	m->base_serial = (uint64_t) json_integer_value(v);
	v = json_object_get(o, "tombstones");
	m->tombstones = json_is_integer(v) ?
	    (unsigned long) json_integer_value(v) : 0;
    }
    v = json_object_get(o, "created");
    m->created = json_is_integer(v) ? (time_t) json_integer_value(v) : 0;
    if ((src = json_string_value(json_object_get(o, "source"))) != NULL)
	snprintf(m->source, sizeof(m->source), "%s", src);
    c = json_object_get(o, "counts");
    if (!json_is_object(c)) {
	map_err(err, errlen, "metadata: bad or missing \"counts\"");
	goto out;
    }
    for (i = 0; i < NTAGS; i++) {
	char    k[2] = {MAP_TAGS[i], 0};

	v = json_object_get(c, k);
	if (v == NULL && strchr(MAP_TAGS_FORMAT1, k[0]) == NULL) {
	    m->counts[i] = 0;		/* a table newer than the file */
	    continue;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
	    map_err(err, errlen, "metadata: bad count for table %s", k);
	    goto out;
	}
	m->counts[i] = (unsigned long) json_integer_value(v);
    }
    ret = 0;

out:
    json_decref(o);
    return (ret);
}

static void
map_file_close(struct map_file *f)
{
    if (f->fd >= 0) {
	cdb_free(&f->cdb);
	close(f->fd);
	f->fd = -1;
    }
}

static unsigned
map_le32(const unsigned char *p)
{
    return (p[0] | (p[1] << 8) | (p[2] << 16) | ((unsigned) p[3] << 24));
}

/*
 * Copy the CDB header (the 256 hash tables' position and slot count) into
 * f->heads and check it: each table must lie within the file, and the
 * last one must end exactly where the file ends (a file cut short in its
 * index would otherwise pass the record walk).
 */
static int
map_check_index(struct map_file *f, unsigned long long size)
{
    const unsigned char *h = cdb_get(&f->cdb, 2048, 0);
    unsigned long long end = 2048, tend;
    int     i;

    if (h == NULL)
	return (-1);
    for (i = 0; i < 512; i++)
	f->heads[i] = map_le32(h + i * 4);
    for (i = 0; i < 256; i++) {
	unsigned pos = f->heads[i * 2], n = f->heads[i * 2 + 1];

	if (n == 0)
	    continue;
	tend = (unsigned long long) pos + (unsigned long long) n * 8;
	if (pos < 2048 || tend > size)
	    return (-1);
	if (tend > end)
	    end = tend;
    }
    return (end == size ? 0 : -1);
}

/* Find and parse the #meta record of an open CDB file. */
static int
map_cdb_meta(const char *path, struct cdb *c, struct map_meta *m, char *err,
	     size_t errlen)
{
    int     r = cdb_find(c, MAP_META_KEY, sizeof(MAP_META_KEY) - 1);

    if (r <= 0 || cdb_getdata(c) == NULL) {
	map_err(err, errlen, "%s: %s", path, r != 0 ?
		"corrupt CDB file" : "no metadata record (not an fwdmap table)");
	return (-1);
    }
    if (map_meta_parse(cdb_getdata(c), cdb_datalen(c), m, err, errlen) < 0) {
	size_t  n = err ? strlen(err) : 0;

	if (err && n + 1 < errlen) {
	    char    tmp[512];

	    snprintf(tmp, sizeof(tmp), "%s", err);
	    map_err(err, errlen, "%s: %s", path, tmp);
	}
	return (-1);
    }
    return (0);
}

/*
 * Open one file, read its metadata and walk every record: each must lie
 * within the file (tinycdb checks this and fails with EPROTO), and the
 * per-table counts must equal the metadata's.  Returns 0, or -1 with
 * errno ENOENT when the file does not exist.
 */
static int
map_file_open(const char *path, struct map_file *f, char *err, size_t errlen)
{
    unsigned long counts[NTAGS] = {0}, tomb = 0;
    unsigned pos;
    size_t  i;
    int     r;

    f->fd = -1;
    memset(f->lpset, 0, sizeof(f->lpset));
    if ((f->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
	int     e = errno;

	map_err(err, errlen, "open %s: %s", path, strerror(e));
	errno = e;
	return (-1);
    }
    if (fstat(f->fd, &f->st) < 0 || !S_ISREG(f->st.st_mode)) {
	map_err(err, errlen, "%s: not a regular file", path);
	goto fail;
    }
    if (f->st.st_size < 2048 || f->st.st_size > 0xffffffffLL
	|| cdb_init(&f->cdb, f->fd) < 0) {
	map_err(err, errlen, "%s: not a CDB file (truncated or corrupt)", path);
	goto fail_fd;
    }
    if (map_check_index(f, (unsigned long long) f->st.st_size) < 0) {
	map_err(err, errlen, "%s: corrupt CDB index (truncated file?)", path);
	goto fail_cdb;
    }
    if (map_cdb_meta(path, &f->cdb, &f->meta, err, errlen) < 0)
	goto fail_cdb;
    cdb_seqinit(&pos, &f->cdb);
    while ((r = cdb_seqnext(&pos, &f->cdb)) > 0) {
	const char *k = cdb_getkey(&f->cdb);
	unsigned klen = cdb_keylen(&f->cdb);
	int     ti;

	if (k == NULL || cdb_getdata(&f->cdb) == NULL) {
	    r = -1;
	    break;
	}
	if (klen == sizeof(MAP_META_KEY) - 1
	    && memcmp(k, MAP_META_KEY, klen) == 0)
	    continue;
	if (klen < 2 || k[1] != ':' || (ti = map_tag_index(k[0])) < 0) {
	    map_err(err, errlen, "%s: record with unknown table tag", path);
	    goto fail_cdb;
	}
	if (cdb_datalen(&f->cdb) == MAP_TOMBSTONE_LEN
	    && *(const char *) cdb_getdata(&f->cdb) == 0)
	    tomb++;
	else
	    counts[ti]++;
	if (k[0] == MAP_T_RECIPIENT || k[0] == MAP_T_VIRTUAL
	    || k[0] == MAP_T_TRANSPORT)
	    map_lpset_add(f->lpset, k, klen);
    }
    if (r < 0) {
	map_err(err, errlen, "%s: corrupt CDB file (record outside the file)",
		path);
	goto fail_cdb;
    }
    for (i = 0; i < NTAGS; i++) {
	if (counts[i] != f->meta.counts[i]) {
	    map_err(err, errlen, "%s: table %c has %lu records, metadata says "
		    "%lu (corrupt or incomplete file)", path, MAP_TAGS[i],
		    counts[i], f->meta.counts[i]);
	    goto fail_cdb;
	}
    }
    if (tomb && !f->meta.is_delta) {
	map_err(err, errlen, "%s: deletion records in a base file", path);
	goto fail_cdb;
    }
    return (0);

fail_cdb:
    cdb_free(&f->cdb);
fail_fd:
fail:
    close(f->fd);
    f->fd = -1;
    errno = EINVAL;
    return (-1);
}

int
map_file_meta(const char *path, struct map_meta *meta, char *err,
	      size_t errlen)
{
    struct map_file f;

    if (map_file_open(path, &f, err, errlen) < 0)
	return (-1);
    *meta = f.meta;
    map_file_close(&f);
    return (0);
}

int
map_read_meta(const char *path, struct map_meta *meta, char *err,
	      size_t errlen)
{
    struct cdb cdb;
    struct stat st;
    int     fd, e, ret;

    memset(meta, 0, sizeof(*meta));
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
	e = errno;
	map_err(err, errlen, "open %s: %s", path, strerror(e));
	errno = e;
	return (-1);
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 2048
	|| st.st_size > 0xffffffffLL || cdb_init(&cdb, fd) < 0) {
	map_err(err, errlen, "%s: not a CDB file (truncated or corrupt)", path);
	close(fd);
	errno = EINVAL;
	return (-1);
    }
    ret = map_cdb_meta(path, &cdb, meta, err, errlen);
    cdb_free(&cdb);
    close(fd);
    if (ret < 0)
	errno = EINVAL;
    return (ret);
}

/*
 * Read one CDB file front to back through a bounded buffer, checking
 * every record against the end of the data section.
 */
int
map_scan(const char *path, map_scan_fn fn, void *ctx, char *err,
	 size_t errlen)
{
    FILE   *f;
    unsigned char hdr[2048], lens[8];
    char   *buf = NULL;
    size_t  cap = 0;
    long    pos = 2048, dend, fsize;
    int     ret = -1, e;

    if ((f = fopen(path, "re")) == NULL) {
	e = errno;
	map_err(err, errlen, "open %s: %s", path, strerror(e));
	errno = e;
	return (-1);
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    if (fread(hdr, 1, sizeof(hdr), f) != sizeof(hdr) || fseek(f, 0, SEEK_END) < 0
	|| (fsize = ftell(f)) < 2048 || fseek(f, 2048, SEEK_SET) < 0) {
	map_err(err, errlen, "%s: too short", path);
	goto out;
    }
    dend = (long) map_le32(hdr);
    if (dend < 2048 || dend > fsize) {
	map_err(err, errlen, "%s: bad header", path);
	goto out;
    }
    while (pos + 8 <= dend) {
	unsigned kl, vl;

	if (fread(lens, 1, 8, f) != 8)
	    break;
	kl = map_le32(lens);
	vl = map_le32(lens + 4);
	if ((unsigned long long) pos + 8 + kl + vl > (unsigned long long) dend) {
	    map_err(err, errlen, "%s: record beyond the data", path);
	    goto out;
	}
	if ((size_t) kl + vl + 1 > cap) {
	    char   *nb = realloc(buf, (size_t) kl + vl + 1);

	    if (nb == NULL) {
		map_err(err, errlen, "%s: out of memory", path);
		goto out;
	    }
	    buf = nb;
	    cap = (size_t) kl + vl + 1;
	}
	if (fread(buf, 1, (size_t) kl + vl, f) != (size_t) kl + vl) {
	    map_err(err, errlen, "%s: short read", path);
	    goto out;
	}
	pos += 8 + (long) kl + (long) vl;
	if (fn(ctx, buf, kl, buf + kl, vl) < 0)
	    goto out;
    }
    ret = 0;
out:
    free(buf);
    fclose(f);
    if (ret < 0)
	errno = EINVAL;
    return (ret);
}

int
map_same_file(const struct stat *a, const struct stat *b)
{
    return (a->st_dev == b->st_dev && a->st_ino == b->st_ino
	    && a->st_size == b->st_size
	    && a->st_mtim.tv_sec == b->st_mtim.tv_sec
	    && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec);
}

/* Drop one reference to a (shared) base file. */
static void
map_base_release(struct map_file *f)
{
    if (f != NULL && --f->refs == 0) {
	map_file_close(f);
	free(f);
    }
}

int
map_gen_refresh(const char *dir, struct map_gen *prev, struct map_gen **out,
		char *err, size_t errlen)
{
    return (map_gen_refresh_track(dir, prev, out, NULL, err, errlen));
}

int
map_gen_refresh_track(const char *dir, struct map_gen *prev,
		      struct map_gen **out, struct map_gen *volatile *building,
		      char *err, size_t errlen)
{
    struct map_gen *g;
    struct stat st;
    int     tries, i;

    *out = NULL;
    if (building)
	*building = NULL;
    g = calloc(1, sizeof(*g));
    if (building)
	*building = g;
    if (g == NULL
	|| asprintf(&g->base_path, "%s/%s", dir, MAP_BASE_NAME) < 0
	|| asprintf(&g->delta_path, "%s/%s", dir, MAP_DELTA_NAME) < 0) {
	map_err(err, errlen, "out of memory");
	goto fail;
    }
    g->delta.fd = -1;
    for (tries = 0; tries < 5; tries++) {
	/* An unchanged base was verified already: share it. */
	if (prev && prev->base && stat(g->base_path, &st) == 0
	    && map_same_file(&st, &prev->base->st)) {
	    g->base = prev->base;
	    g->base->refs++;
	} else {
	    if ((g->base = calloc(1, sizeof(*g->base))) == NULL) {
		map_err(err, errlen, "out of memory");
		goto fail;
	    }
	    g->base->refs = 1;
	    if (map_file_open(g->base_path, g->base, err, errlen) < 0)
		goto fail;
	    if (g->base->meta.is_delta) {
		map_err(err, errlen, "%s: is a delta, not a base", g->base_path);
		goto fail;
	    }
	}
	g->delta_seen = 0;
	if (stat(g->delta_path, &g->delta_st) == 0) {
	    g->delta_seen = 1;
	    if (map_file_open(g->delta_path, &g->delta, err, errlen) < 0) {
		if (errno == ENOENT)	/* removed meanwhile: look again */
		    goto retry;
		goto fail;
	    }
	    g->delta_st = g->delta.st;
	    if (!g->delta.meta.is_delta) {
		map_err(err, errlen, "%s: is a base, not a delta",
			g->delta_path);
		goto fail;
	    }
	    if (g->delta.meta.base_serial != g->base->meta.serial)
		map_file_close(&g->delta);	/* belongs to another base */
	}
	/* Consistent only if the base was not replaced while we looked. */
	if (stat(g->base_path, &st) == 0 && map_same_file(&st, &g->base->st)) {
	    for (i = 0; i < 256; i++)
		g->lpok[i] = ((g->base->lpset[i >> 6]
			       | (g->delta.fd >= 0 ? g->delta.lpset[i >> 6] : 0))
			      >> (i & 63)) & 1;
	    *out = g;
	    if (building)
		*building = NULL;
	    return (0);
	}
retry:
	map_base_release(g->base);
	g->base = NULL;
	map_file_close(&g->delta);
    }
    map_err(err, errlen, "%s: tables kept changing while being opened", dir);

fail:
    if (building)
	*building = NULL;
    if (g)
	map_gen_close(g);
    return (-1);
}

int
map_gen_open(const char *dir, struct map_gen **out, char *err, size_t errlen)
{
    return (map_gen_refresh(dir, NULL, out, err, errlen));
}

int
map_gen_stale(const struct map_gen *g)
{
    struct stat st;

    if (stat(g->base_path, &st) < 0 || !map_same_file(&st, &g->base->st))
	return (1);
    if (stat(g->delta_path, &st) < 0)
	return (g->delta_seen);
    return (!g->delta_seen || !map_same_file(&st, &g->delta_st));
}

/*
 * Look one key up in one file, h its cdb_hash(): 1 found, 0 not, -1
 * corrupt.  This is
 * tinycdb's cdb_find() (cdb(5)), with the same checks, inline and with
 * the table of contents read from the copy in f->heads: at a million
 * people a lookup took 155-170 ns this way against 225-285 ns through
 * cdb_find() (which reads every four bytes through cdb_unpack(), a call
 * into the library).  Everything else still goes through tinycdb.
 */
static int
map_file_get(struct map_file *f, const char *k, size_t klen, unsigned h,
	     const char **val, size_t *vlen)
{
    const unsigned char *mem = f->cdb.cdb_mem, *slot, *rec;
    unsigned dend = f->cdb.cdb_dend, fsize = f->cdb.cdb_fsize;
    unsigned tpos, n, i, left, pos, vl;

    if (klen >= dend)
	return (0);
    tpos = f->heads[(h & 255) * 2];
    if ((n = f->heads[(h & 255) * 2 + 1]) == 0)
	return (0);
    if (n > (fsize >> 3) || tpos < dend || tpos > fsize || (n << 3) > fsize - tpos)
	return (-1);
    for (i = (h >> 8) % n, left = n; left > 0; left--) {
	slot = mem + tpos + (size_t) i * 8;
	if ((pos = map_le32(slot + 4)) == 0)
	    return (0);
	if (map_le32(slot) == h) {
	    if (pos > dend - 8)
		return (-1);
	    rec = mem + pos;
	    if (map_le32(rec) == klen) {
		if (dend - klen < pos + 8)
		    return (-1);
		if (memcmp(k, rec + 8, klen) == 0) {
		    vl = map_le32(rec + 4);
		    if (dend < vl || dend - vl < pos + 8 + klen)
			return (-1);
		    *val = (const char *) rec + 8 + klen;
		    *vlen = vl;
		    return (1);
		}
	    }
	}
	if (++i == n)
	    i = 0;
    }
    return (0);
}

int
map_gen_get(struct map_gen *g, int tag, const char *key, size_t klen,
	    const char **val, size_t *vlen)
{
    char    kbuf[MAP_KEY_MAX];
    size_t  n;
    unsigned h;
    int     r;

    if ((n = map_key(kbuf, tag, key, klen)) == 0)
	return (0);			/* longer than any stored key */
    h = cdb_hash(kbuf, (unsigned) n);	/* once, for both files */
    if (g->delta.fd >= 0) {
	r = map_file_get(&g->delta, kbuf, n, h, val, vlen);
	if (r != 0) {
	    if (r > 0 && *vlen == MAP_TOMBSTONE_LEN && **val == 0)
		return (0);
	    return (r);
	}
    }
    return (map_file_get(g->base, kbuf, n, h, val, vlen));
}

/*
 * Ask the CPU to fetch the hash table slot where tinycdb's search for a
 * key of hash h will start (its layout: cdb(5)), and note it in *pf for the second
 * step (map_pf_record()).  Only the copy of the heads taken at open time
 * is read, and a prefetch never faults, so this is safe outside the
 * SIGBUS bracket, even on a file that has shrunk.
 */
static void
map_file_prefetch(const struct map_file *f, unsigned h, struct map_pf *pf)
{
    uint32_t tpos = f->heads[(h & 255) * 2], n = f->heads[(h & 255) * 2 + 1];
    const void *slot = NULL;

    if (n != 0 && (slot = cdb_get(&f->cdb, 8, tpos + ((h >> 8) % n) * 8)))
	__builtin_prefetch(slot);
    pf->f = f;
    pf->slot = slot;
    pf->h = h;
}

int
map_gen_prefetch(const struct map_gen *g, int tag, const char *key,
		 size_t klen, struct map_pf *pf)
{
    char    kbuf[MAP_KEY_MAX];
    size_t  n;
    unsigned h;

    if ((n = map_key(kbuf, tag, key, klen)) == 0)
	return (0);
    h = cdb_hash(kbuf, (unsigned) n);
    /* The delta is small and stays in the caches: one step is enough,
     * and *pf notes the base's slot. */
    if (g->delta.fd >= 0)
	map_file_prefetch(&g->delta, h, pf);
    map_file_prefetch(g->base, h, pf);
    return (pf->slot != NULL);
}

/*
 * The second step: the slot has had time to arrive; if it holds the
 * key's hash, start loading the record it points to: the cache lines of
 * its first 64 bytes (its key and, most often, its value).  Reads the
 * mapped file: inside the SIGBUS bracket only.
 */
int
map_pf_record(const struct map_pf *pf)
{
    const struct map_file *f = pf->f;
    const unsigned char *rec;
    unsigned pos;

    if (pf->slot == NULL || map_le32(pf->slot) != pf->h)
	return (0);
    pos = map_le32(pf->slot + 4);
    if (pos == 0 || f->cdb.cdb_dend < 8 || pos > f->cdb.cdb_dend - 8)
	return (0);
    rec = (const unsigned char *) f->cdb.cdb_mem + pos;
    __builtin_prefetch(rec);
    if (pos + 64 <= f->cdb.cdb_dend)
	__builtin_prefetch(rec + 63);
    return (1);
}

int
map_gen_may_hold(const struct map_gen *g, const char *key, size_t klen)
{
    const unsigned char *p = (const unsigned char *) key;
    const unsigned char *at = memrchr(p, '@', klen);

    /* A byte a byte (this runs on every key of every request): one load
     * and one test each. */
    for (; at != NULL && p < at; p++)
	if (g->lpok[*p] == 0)
	    return (0);
    return (1);
}

const struct map_meta *
map_gen_meta(const struct map_gen *g)
{
    return (&g->base->meta);
}

const struct map_meta *
map_gen_delta_meta(const struct map_gen *g)
{
    return (g->delta.fd >= 0 ? &g->delta.meta : NULL);
}

/* Walk one file's records, skipping #meta and (if skip) keys in skip. */
static int
map_file_walk(struct map_file *f, struct map_file *skip, int tombs,
	      map_walk_fn fn, void *ctx)
{
    unsigned pos;
    int     r, ret;

    cdb_seqinit(&pos, &f->cdb);
    while ((r = cdb_seqnext(&pos, &f->cdb)) > 0) {
	const char *k = cdb_getkey(&f->cdb), *v = cdb_getdata(&f->cdb);
	unsigned klen = cdb_keylen(&f->cdb), vlen = cdb_datalen(&f->cdb);

	if (k == NULL || v == NULL)
	    return (-1);
	if (klen < 2 || k[1] != ':')
	    continue;
	if (!tombs && vlen == MAP_TOMBSTONE_LEN && *v == 0)
	    continue;
	if (skip && skip->fd >= 0) {
	    int     s = cdb_find(&skip->cdb, k, klen);

	    if (s < 0)
		return (-1);
	    if (s > 0)
		continue;
	}
	if ((ret = fn(k[0], k + 2, klen - 2, v, vlen, ctx)) != 0)
	    return (ret);
    }
    return (r < 0 ? -1 : 0);
}

int
map_gen_walk(struct map_gen *g, map_walk_fn fn, void *ctx)
{
    int     r;

    if (g->delta.fd >= 0 && (r = map_file_walk(&g->delta, NULL, 0, fn, ctx)))
	return (r);
    return (map_file_walk(g->base, &g->delta, 0, fn, ctx));
}

void
map_gen_close(struct map_gen *g)
{
    if (g == NULL)
	return;
    map_base_release(g->base);
    map_file_close(&g->delta);
    free(g->base_path);
    free(g->delta_path);
    free(g);
}

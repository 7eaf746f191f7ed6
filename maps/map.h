/*
 * map.h - the compiled table format shared by ldapsync (writer) and
 *	   fwdmapd (reader).
 *
 * NAME
 *	map - one generation of routing tables in tinycdb files
 *
 * FILES
 *	All tables of one directory state live in one CDB file, so that
 *	what "virtual" and "transport" say always belongs to the same
 *	generation:
 *
 *	MAPS_DIR/fwdmap.cdb		the base generation (full sync)
 *	MAPS_DIR/fwdmap.delta.cdb	optional delta over that base
 *					(incremental sync); ignored unless
 *					its base_serial equals the base's
 *					serial
 *
 * RECORDS
 *	Keys are a one-letter table tag, a colon and the key proper, e.g.
 *	"V:jane.doe@tum.de".  Keys are stored case-folded, without
 *	extension.  Values are text:
 *
 *	D:domain	"tenant\tpolicy\tdefault_route"; policy is "reject"
 *			or "route"; default_route may be empty
 *	R:address	the owning tenant (the address is a valid recipient)
 *	V:address	the expansion, comma separated ("a@x,b@y"); only
 *			present when it differs from the address itself.
 *			For a group: every final member address once
 *			(people as their primary address, nested groups
 *			flattened, external members as they are).  An
 *			expansion longer than MAP_SUBLIST_BYTES is split
 *			into internal sub-lists (below) and the group's V
 *			lists those instead; Postfix expands them again.
 *	V:MAP_SUBLIST_PREFIX stem "." n "@" MAP_SUBLIST_DOMAIN
 *			an internal sub-list of a large expansion:
 *			"fwdmap.sub.<stem>.<n>@fwdmap-sublist.invalid", n
 *			from 1, stem 16 hex digits: HMAC-SHA256 of the
 *			group's primary address under ldapsync's secret
 *			(STATE_DIR/ldapsync.sublist.key), truncated, so
 *			that nobody outside can name one; values at most
 *			MAP_SUBLIST_BYTES bytes.  The domain is none of
 *			ours (RFC 2606 .invalid): Postfix's smtpd refuses
 *			it as a relay destination from every client outside
 *			mynetworks, even though it accepts any address it
 *			finds in virtual_alias_maps.  Never an R record:
 *			fwdmapd's "recipients" answers NOTFOUND for every
 *			address whose local part starts with
 *			MAP_SUBLIST_PREFIX (also in a "route" domain);
 *			ldapsync rejects directory addresses of that form.
 *	T:address	the transport ("smtp:[host]:25", "lmtp:[h]:24")
 *	P:address	provenance, JSON: {"dn","tenant","role" ("primary"
 *			or "alias"), "primary","location","host",
 *			"forwards":[...] }.  For a group address: {"dn",
 *			"tenant","role":"group","alias":true|false,
 *			"primary","policy","members" (count of final
 *			member addresses),"direct":[addresses and nested
 *			group primaries, at most MAP_P_LIST_MAX],
 *			"direct_total":n,"skipped":[{"dn","reason"}, at
 *			most MAP_P_LIST_MAX],"skipped_total":n,"cycle":
 *			[group primaries on a broken cycle] (only when
 *			one was broken),"urls":[memberURLs],"sublists":n}
 *	X:address	a rejected claim, JSON: {"dn","tenant","reason"};
 *			for explanations only, never used for routing
 *	G:address	an address of a group (primary or alias):
 *			"policy\tprimary\ttenant"; policy is "anyone",
 *			"tenant", "members" or "listed"
 *	S:primary\tsender
 *			a sender the group (by its primary address) lets
 *			send beyond its policy's rule: an address (case-
 *			folded, without extension) or "@domain"; the value
 *			says why ("member" or "allowed").  Written for
 *			policy "members": every address (primary and
 *			aliases) of every member, nested members included,
 *			and the external members; for "members", "listed"
 *			and "tenant": the allowed senders; for "anyone":
 *			none.  An address both member and allowed says
 *			"member".
 *	#meta		JSON: {"format":1,"kind":"base"|"delta","serial":N,
 *			"base_serial":N (delta only),"created":unix time,
 *			"source":"...","counts":{"D":n,"R":n,...}}
 *
 *	In a delta file, a value of exactly one NUL byte (MAP_TOMBSTONE) means
 *	"deleted since the base"; any other value replaces the base's.
 *
 * DESCRIPTION
 *	Writer: map_writer_open() creates MAPS_DIR/.NAME.XXXXXX exclusively;
 *	map_writer_put() adds records (the caller never adds a key twice);
 *	map_writer_commit() writes #meta, fsyncs, closes (checked), renames
 *	over MAPS_DIR/NAME and fsyncs the directory.  map_writer_abort()
 *	removes the temporary file.  Nothing is visible until commit.
 *
 *	Reader: map_gen_open() opens the base and, when it matches, the
 *	delta, maps them read-only and verifies them (every record within
 *	the file, #meta present and well-formed, format known, record
 *	counts equal to #meta's counts).  A truncated or corrupt file is an
 *	error (-1 and a message in err), never a crash.  map_gen_get()
 *	looks up one key of one table: delta first, then base; 1 found,
 *	0 not found, -1 error.  map_gen_stale() tells (by stat on the
 *	paths against the open files' device, inode, size and mtime)
 *	whether a newer generation has been published.
 *
 *	All functions return 0 (or 1/0 where stated) on success and -1 on
 *	error, writing a message to err (errlen bytes) where one is taken.
 *	The library never prints and never exits.
 */
#ifndef FWDMAP_MAP_H
#define FWDMAP_MAP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define MAP_FORMAT		1
#define MAP_BASE_NAME		"fwdmap.cdb"
#define MAP_DELTA_NAME		"fwdmap.delta.cdb"
#define MAP_META_KEY		"#meta"
#define MAP_TOMBSTONE		"\0"
#define MAP_TOMBSTONE_LEN	1
#define MAP_KEY_MAX		1024	/* tag + ':' + key, bytes */
/* Internal sub-lists of large group expansions (see RECORDS). */
#define MAP_SUBLIST_PREFIX	"fwdmap.sub."
#define MAP_SUBLIST_DOMAIN	"fwdmap-sublist.invalid"
#define MAP_SUBLIST_BYTES	64000	/* room for +extension propagation */
#define MAP_P_LIST_MAX		100	/* list items kept in a group's P */

/* Table tags. */
#define MAP_T_DOMAIN		'D'
#define MAP_T_RECIPIENT		'R'
#define MAP_T_VIRTUAL		'V'
#define MAP_T_TRANSPORT		'T'
#define MAP_T_PROVENANCE	'P'
#define MAP_T_REJECTED		'X'
#define MAP_T_GROUP		'G'
#define MAP_T_SENDER		'S'
#define MAP_TAGS		"DRVTPXGS"
/* Tables a file written before they existed may lack in its #meta counts
 * (read as 0 there): the first six were there from format 1 on. */
#define MAP_TAGS_FORMAT1	"DRVTPX"

/* Writer. */
struct map_writer;

struct map_writer *map_writer_open(const char *dir, const char *name,
				   char *err, size_t errlen);
int	map_writer_put(struct map_writer *w, int tag, const char *key,
		       size_t klen, const char *val, size_t vlen);
int	map_writer_del(struct map_writer *w, int tag, const char *key,
		       size_t klen);	/* delta tombstone */
/* From now on, records are added to the file by a thread of the writer
 * while the caller goes on (a big base: the caller computes the next
 * records meanwhile); a write error is reported by a later put or the
 * commit.  0, or -1 with errno (the writer then goes on as before). */
int	map_writer_background(struct map_writer *w)
	__attribute__((warn_unused_result));

/* Metadata given to commit; counts are computed by the writer. */
struct map_meta {
    int	    format;
    int	    is_delta;
    uint64_t serial;
    uint64_t base_serial;	/* delta only */
    time_t  created;
    char    source[256];
    unsigned long counts[sizeof(MAP_TAGS)];	/* indexed like MAP_TAGS */
    unsigned long tombstones;
};

int	map_writer_commit(struct map_writer *w, const struct map_meta *meta,
			  char *err, size_t errlen);	/* frees w */
void	map_writer_abort(struct map_writer *w);	/* frees w */

/* Reader. */
struct map_gen;

int	map_gen_open(const char *dir, struct map_gen **out,
		     char *err, size_t errlen);
/* Like map_gen_open, but shares prev's base when that file is unchanged,
 * so that a new delta is picked up without verifying the base again.
 * prev stays valid and must still be closed by the caller. */
int	map_gen_refresh(const char *dir, struct map_gen *prev,
			struct map_gen **out, char *err, size_t errlen);
/* The same; while it runs, *building is the generation being built (NULL
 * before and after), so that a caller that jumps out of it (SIGBUS on a
 * file that shrank while being verified) can map_gen_close() it. */
int	map_gen_refresh_track(const char *dir, struct map_gen *prev,
			      struct map_gen **out,
			      struct map_gen *volatile *building,
			      char *err, size_t errlen);
int	map_gen_get(struct map_gen *g, int tag, const char *key, size_t klen,
		    const char **val, size_t *vlen);
int	map_gen_stale(const struct map_gen *g);
/* 0 when no key of the address tables (R, V, T) can equal this address
 * (its local part has a byte that no stored local part has; see map.c),
 * else 1: a cheap test before map_gen_get() of a key that is probably
 * not there. */
int	map_gen_may_hold(const struct map_gen *g, const char *key,
			 size_t klen);
/*
 * A hint, before a batch of lookups, in two steps.  map_gen_prefetch()
 * starts loading from memory the hash table slot where map_gen_get(g,
 * tag, key, klen) will look first, and notes it in *pf; it reads nothing
 * from the files (safe outside the SIGBUS bracket) and returns 1 when
 * there is a second step to take.  map_pf_record(), some time later (the
 * slot is then in the caches), reads that slot and starts loading the
 * record it points to when it holds the key's hash (then it returns 1).
 * It reads the mapped file: only inside the SIGBUS bracket, and only
 * while g is still open.
 */
struct map_file;
struct map_pf {
    const struct map_file *f;
    const unsigned char *slot;		/* NULL: no second step */
    unsigned h;				/* the key's hash */
};
int	map_gen_prefetch(const struct map_gen *g, int tag, const char *key,
			 size_t klen, struct map_pf *pf);
int	map_pf_record(const struct map_pf *pf);
const struct map_meta *map_gen_meta(const struct map_gen *g);	/* base */
const struct map_meta *map_gen_delta_meta(const struct map_gen *g); /* or NULL */
void	map_gen_close(struct map_gen *g);

/* 1 when a and b describe the same, unchanged file (device, inode, size
 * and modification time), else 0: how readers tell a newly published file. */
struct stat;
int	map_same_file(const struct stat *a, const struct stat *b);

/* Open a single CDB file (base or delta) and read its #meta, verifying it. */
int	map_file_meta(const char *path, struct map_meta *meta,
		      char *err, size_t errlen);

/*
 * Read only the #meta record of one file (no verification of the other
 * records: cheap on a big base).  -1 with a message in err; errno ENOENT
 * when the file does not exist.
 */
int	map_read_meta(const char *path, struct map_meta *meta,
		      char *err, size_t errlen);

/*
 * Read every record of one file in file order, sequentially through a
 * bounded buffer (nothing is mapped, so a big file does not count
 * against the caller's memory), checking each against the end of the
 * data.  fn gets the key as stored ("T:key", or "#meta") and the value
 * (tombstones included); it returns -1 to stop (map_scan then returns
 * -1 and leaves err alone).  -1 with a message in err on a file that
 * cannot be read or is damaged; errno ENOENT when it does not exist.
 */
typedef int (*map_scan_fn)(void *ctx, const char *k, size_t klen,
			   const char *v, size_t vlen);
int	map_scan(const char *path, map_scan_fn fn, void *ctx,
		 char *err, size_t errlen);

/* Iterate all records of the generation's base file (for dumps/diffs).
 * The callback returns 0 to go on, non-zero to stop (returned). */
typedef int (*map_walk_fn)(int tag, const char *key, size_t klen,
			   const char *val, size_t vlen, void *ctx);
int	map_gen_walk(struct map_gen *g, map_walk_fn fn, void *ctx);

#endif

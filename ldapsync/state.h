/*
 * state.h - ldapsync's in-memory copy of the directory, keyed by
 *	     entryUUID, with the address and forward indexes the compiler
 *	     needs, and its on-disk snapshot + journal for restarts.
 *
 * DESCRIPTION
 *	An entry (struct ent) holds the attribute values that matter for
 *	routing, folded to lower case (addresses, location, host), in one
 *	allocation.  A forward target is also kept as written (fwd_pub: its
 *	local part in the directory's case, its domain folded), which is
 *	what the tables publish; the folded form is the key every
 *	comparison (duplicates, loops, the address index) uses.  The address index maps every address that any entry
 *	claims (mail or alias) to its claims, and every forward target to
 *	the entries forwarding to it.  Every change (state_put, state_del)
 *	marks the addresses it touches dirty; state_dirty_expand() adds the
 *	addresses whose compiled records can depend on them (other claimants'
 *	entries, entries forwarding to them), so that a delta recompiles
 *	only what can have changed.
 *
 *	Snapshot (STATE_DIR/ldapsync.state) and journal
 *	(STATE_DIR/ldapsync.journal) are text files with one entry per
 *	line; state_save() writes a snapshot for a base serial atomically
 *	and truncates the journal, state_journal() appends the changes of
 *	one published delta, state_load() rebuilds the state from both.
 */
#ifndef LDAPSYNC_STATE_H
#define LDAPSYNC_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "htab.h"

/*
 * Attribute slots.  Groups: V_MEMBER holds member and uniqueMember DNs,
 * V_URL memberURL (case kept), V_POLICY fwdGroupSenderPolicy, V_ALLOWED
 * fwdGroupAllowedSender, V_GROUP the entry's group object classes
 * (groupofnames, groupofuniquenames, groupofurls; empty for a person).
 * DN values (members, DN-like allowed senders) are kept in canonical form
 * (state_dn_canon).
 */
enum { V_MAIL, V_ALIAS, V_LOC, V_HOST, V_FWD, V_MEMBER, V_URL, V_POLICY,
       V_ALLOWED, V_GROUP, V_NUM };

#define ENT_IS_GROUP(e)	((e)->v[V_GROUP].n > 0)

struct vals {
    char  **s;
    uint32_t n;
};

struct ent {
    unsigned char uuid[16];
    int	    tenant;		/* index into conf->tenants, -1 none */
    unsigned mark;		/* present-phase generation */
    unsigned gexp_gen[2];	/* compile.c: the group expansion that last
				 * took this person's address (each once);
				 * [1] for one that runs inside another */
    struct anode *pa;		/* the address node of its (only) mail while
				 * it is indexed, else NULL: no lookup to
				 * tell whether it wins it */
    const char *invalid;	/* static reason the entry is rejected */
    const char *invalid_arg;	/* offending value, or NULL */
    const char **alias_bad;	/* per alias: reason or NULL */
    const char **fwd_bad;	/* per forward: reason or NULL */
    const char **fwd_pub;	/* per forward: as published (local part as
				 * written, domain folded); the same pointer
				 * as v[V_FWD].s[i] when that is equal */
    char   *dn;
    char   *dnkey;		/* canonical DN (state_dn_canon) */
    struct vals v[V_NUM];
};

/* Entries that name a DN (as a member, an allowed sender, or a memberURL
 * result): the reverse index, so that a change to that DN's entry
 * recompiles only the groups that name it. */
struct rnode {
    uint32_t n, cap;
    struct ent **g;
    char    key[];
};

/* The evaluated memberURLs of one group. */
struct urlres {
    char  **dns;		/* canonical DNs of the entries found */
    size_t  n;
    char   *why;		/* a URL rejected or failed: the reason, else NULL */
    char   *bad_url;		/* the URL it was about */
};

enum { ROLE_PRIMARY = 0, ROLE_ALIAS = 1 };

struct claim {
    struct ent *e;
    int	    role;
    const char *bad;		/* claim-level reason, NULL if acceptable */
};

struct anode {
    uint32_t nc, cc;		/* claims (c points to c1 while cc <= 1) */
    struct claim *c;
    uint32_t nf, cf;		/* entries forwarding to addr */
    struct ent **f;
    struct claim c1;		/* the usual single claim, inline */
    uint32_t old_vt;		/* hash of the published V and T (full sync) */
    unsigned char routed;	/* has an R record in the last full compile */
    unsigned char old_r;	/* had an R record in the published view */
    char    addr[];		/* the address, folded */
};

struct state_chunk;

struct state {
    struct htab ents;		/* 16-byte uuid -> struct ent */
    struct htab addrs;		/* address -> struct anode */
    struct htab dirty;		/* address -> NULL (keys owned) */
    struct htab dns;		/* canonical DN -> struct ent */
    struct htab refs;		/* canonical DN -> struct rnode (groups naming it) */
    struct htab urls;		/* group uuid -> struct urlres */
    struct htab url_pending;	/* group uuid (owned) -> NULL: evaluate soon */
    struct htab grel;		/* uuid (owned) of entries changed since the
				 * last delta in a way groups naming them see */
    struct htab gsub;		/* group uuid (owned) -> its first-level
				 * sub-lists when last compiled (uintptr_t):
				 * kept while they fit, so that a big group
				 * changes one sub-list at a time (compile.c) */
    size_t  nurlgroups;		/* groups with memberURLs */
    unsigned long url_gen;	/* counts changes of memberURL results */
    size_t  nents;
    unsigned long changes;	/* puts and deletes since last take */
    unsigned long version;	/* counts every put, delete and change of
				 * memberURL results (never reset): what
				 * compile.c caches is valid while it stays */
    struct htab gmemo;		/* compile.c: group uuid + list (owned) ->
				 * its member DNs resolved (malloc'd), for
				 * gmemo_ver */
    unsigned long gmemo_ver;
    /*
     * compile.c: the expansions of big nested groups kept across
     * compile passes (group uuid (owned) -> its struct gflat), and what
     * checks them: gflat_check(st, 0) after each state_dirty_expand()
     * drops those of dirty groups and repoints those that name an entry
     * freed meanwhile (gfreed, first free of a pointer first);
     * gflat_check(st, 1) drops them all (changes not tracked, the state
     * freed, too many frees to follow).
     */
    struct htab gflat;
    struct gfreed {
	const struct ent *e;	/* freed or replaced (not to be read) */
	unsigned char uuid[16];	/* its entryUUID */
    }      *gfreed;
    size_t  ngfreed, cgfreed;
    int	    gfreed_over;	/* more than GFREED_MAX: drop them all */
    void    (*gflat_check)(struct state *st, int drop_all);
    int	    no_dirty;		/* full load: do not track dirty addresses */
    struct state_chunk *arena;	/* entries and address nodes a snapshot
				 * load made: freed with the state */
    int	    loading;		/* state_load() runs: allocate from arena */
};

/* Build an entry from attribute values (copied, folded; forwards also as
 * written, see fwd_pub). */
struct ent *ent_new(const unsigned char uuid[16], const char *dn,
		    char **const vals[V_NUM], const size_t nvals[V_NUM]);
void	ent_free(struct ent *e);

void	uuid_str(const unsigned char u[16], char out[37]);
int	uuid_parse(const char *s, unsigned char u[16]);

int	state_init(struct state *st) __attribute__((warn_unused_result));
/* Sized for about that many entries (the tables grow as needed): a
 * fuzz target's tiny states need not clear a large table each time. */
int	state_init_hint(struct state *st, size_t entries)
	__attribute__((warn_unused_result));
void	state_free(struct state *st);
/* Forget what compile.c cached in st->gmemo (frees it; the table stays). */
void	state_gmemo_reset(struct state *st);
/* Forget every group expansion compile.c keeps across passes. */
void	state_gflat_drop(struct state *st);
struct ent *state_get(struct state *st, const unsigned char uuid[16]);

/* Take ownership of e (replacing the entry with the same uuid); the
 * caller must have validated e (comp_validate) before. */
int	state_put(struct state *st, struct ent *e);
int	state_del(struct state *st, const unsigned char uuid[16]);

struct anode *state_addr(struct state *st, const char *addr, size_t len);

/* Canonical DN: lower case, no spaces around ',', '=' and '+' (escapes
 * kept); out has room for strlen(in) + 1 bytes. */
void	state_dn_canon(const char *in, char *out);
/* The same values in the same order? */
int	vals_same(const struct vals *a, const struct vals *b);
/* The entry with this DN (any form), or NULL. */
struct ent *state_dn(struct state *st, const char *dn);
/* The memberURL results of group g (NULL: not evaluated yet). */
struct urlres *state_urls(struct state *st, const struct ent *g);
/* Replace them (takes dns, why and bad_url); 1 when they changed (the
 * group's addresses are then dirty), 0 same, -1 out of memory. */
int	state_set_urls(struct state *st, struct ent *g, char **dns, size_t n,
		       char *why, char *bad_url);
int	state_mark_dirty(struct state *st, const char *addr, size_t len);
int	state_dirty_expand(struct state *st);
void	state_dirty_clear(struct state *st);

/* Snapshot and journal. */
/* Atomic file writes in DIR (the snapshot, the memberURL results): open
 * a temporary (its path into tmp), write to it, then commit: flush, fsync,
 * rename over DIR/NAME, sync DIR.  NULL / -1 with err; a failed commit
 * removes the temporary. */
FILE   *state_file_open(const char *dir, const char *name, char *tmp,
			size_t tmpsz, char *err, size_t errlen);
int	state_file_commit(FILE *f, const char *tmp, const char *dir,
			  const char *name, char *err, size_t errlen)
	__attribute__((warn_unused_result));

int	state_save(struct state *st, const char *dir, uint64_t base_serial,
		   char *err, size_t errlen);
int	state_journal(const char *dir, uint64_t serial, struct ent **puts,
		      size_t nputs, unsigned char (*dels)[16], size_t ndels,
		      char *err, size_t errlen);
int	state_journal_sync(const char *dir);
/* Background compaction: a snapshot and a journal under ".next" names
 * that replace the current ones when the new base is installed. */
int	state_save_next(struct state *st, const char *dir, uint64_t base_serial,
			char *err, size_t errlen);
int	state_journal_next(const char *dir, uint64_t serial, struct ent **puts,
			   size_t nputs, unsigned char (*dels)[16], size_t ndels,
			   char *err, size_t errlen);
int	state_install_next(const char *dir);
void	state_drop_next(const char *dir);
/*
 * state_load() validates every entry it reads with fn (-1: refuse the
 * files).  A snapshot of many entries (its header's count) loaded into
 * an empty state is read, parsed and validated on a second thread while
 * the caller's indexes the entries, so fn must be safe to call from
 * another thread (comp_validate() is: it reads the configuration only).
 * What a load allocates comes from a few large mappings freed with the
 * state (st->arena).  A damaged snapshot or journal entry fails the load
 * with the reason in err; the caller discards the state.
 */
typedef int (*state_validate_fn)(struct ent *e, void *ctx);
int	state_load(struct state *st, const char *dir, uint64_t *base_serial,
		   uint64_t *last_serial, state_validate_fn fn, void *ctx,
		   char *err, size_t errlen);
/* state_load() on open streams (journal NULL: none); path and jpath
 * only name them in messages.  For tests and the fuzz target. */
int	state_load_files(struct state *st, FILE *snap, const char *path,
			 FILE *journal, const char *jpath, uint64_t *base_serial,
			 uint64_t *last_serial, state_validate_fn fn, void *ctx,
			 char *err, size_t errlen);

#endif

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

enum { V_MAIL, V_ALIAS, V_LOC, V_HOST, V_FWD, V_NUM };

struct vals {
    char  **s;
    uint32_t n;
};

struct ent {
    unsigned char uuid[16];
    int	    tenant;		/* index into conf->tenants, -1 none */
    unsigned mark;		/* present-phase generation */
    const char *invalid;	/* static reason the entry is rejected */
    const char *invalid_arg;	/* offending value, or NULL */
    const char **alias_bad;	/* per alias: reason or NULL */
    const char **fwd_bad;	/* per forward: reason or NULL */
    const char **fwd_pub;	/* per forward: as published (local part as
				 * written, domain folded); the same pointer
				 * as v[V_FWD].s[i] when that is equal */
    char   *dn;
    struct vals v[V_NUM];
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

struct state {
    struct htab ents;		/* 16-byte uuid -> struct ent */
    struct htab addrs;		/* address -> struct anode */
    struct htab dirty;		/* address -> NULL (keys owned) */
    size_t  nents;
    unsigned long changes;	/* puts and deletes since last take */
    int	    no_dirty;		/* full load: do not track dirty addresses */
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
struct ent *state_get(struct state *st, const unsigned char uuid[16]);

/* Take ownership of e (replacing the entry with the same uuid); the
 * caller must have validated e (comp_validate) before. */
int	state_put(struct state *st, struct ent *e);
int	state_del(struct state *st, const unsigned char uuid[16]);

struct anode *state_addr(struct state *st, const char *addr, size_t len);
int	state_mark_dirty(struct state *st, const char *addr, size_t len);
int	state_dirty_expand(struct state *st);
void	state_dirty_clear(struct state *st);

/* Snapshot and journal. */
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

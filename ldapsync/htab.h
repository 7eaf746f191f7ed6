/*
 * htab.h - a string-keyed hash table for ldapsync's in-memory state.
 *
 * DESCRIPTION
 *	Open addressing with linear probing over keys given as pointer
 *	plus length.  The table stores the key pointer it is given (the
 *	caller keeps the key alive as long as the item) and one value.
 *	htab_init() presizes a table for hint items: 0, or -1 when memory
 *	is short (the table is then empty and still valid: a zeroed struct
 *	htab is an empty table, and htab_put() allocates it).  htab_free()
 *	leaves such an empty table behind.
 *	htab_get() returns the value or NULL; htab_put() inserts or
 *	replaces (1 new, 0 replaced, -1 out of memory or a key of 4 GB); htab_del() removes
 *	(1 removed, 0 absent).  htab_next() iterates: start with *pos = 0.
 */
#ifndef LDAPSYNC_HTAB_H
#define LDAPSYNC_HTAB_H

#include <stddef.h>
#include <stdint.h>

/* 24 bytes: a million-entry table is probed at random, so its size is
 * what the cache and the first touch of its pages pay for. */
struct htab_slot {
    const char *key;
    void   *val;
    uint32_t hash;		/* htab_hash(), its low 32 bits */
    uint32_t klen;
};

struct htab {
    struct htab_slot *slots;
    size_t  cap;		/* power of two */
    size_t  n;
    size_t  tombs;
};

uint64_t htab_hash(const char *key, size_t klen);
int	htab_init(struct htab *h, size_t hint)
	__attribute__((warn_unused_result));
void	htab_free(struct htab *h);
/* htab_free() for a table that owns its keys (malloc'd): frees them too. */
void	htab_free_keys(struct htab *h);
void   *htab_get(const struct htab *h, const char *key, size_t klen);
/* htab_get() with the key's htab_hash() computed before. */
void   *htab_get_hashed(const struct htab *h, const char *key, size_t klen,
			uint64_t hash);
/*
 * Hints for a walk that looks many keys up in a row (memory-bound on a
 * big table): htab_prefetch_hashed() the slot of a key some lookups ahead,
 * then htab_prefetch_entry() its key and value a few lookups later, then
 * htab_get_hashed().  They change nothing and can be left out.
 */
void	htab_prefetch_hashed(const struct htab *h, uint64_t hash);
void	htab_prefetch_entry(const struct htab *h, uint64_t hash);
int	htab_put(struct htab *h, const char *key, size_t klen, void *val);
int	htab_del(struct htab *h, const char *key, size_t klen);
/* Like htab_del, and hands back the stored key pointer and value. */
int	htab_take(struct htab *h, const char *key, size_t klen,
		  const char **okey, void **oval);
int	htab_next(const struct htab *h, size_t *pos, const char **key,
		  size_t *klen, void **val);
/* Start fetching the slot where key's search begins (a hint: a loop
 * over many keys issues it a few keys ahead, so that their cache misses
 * overlap instead of following one another). */
void	htab_prefetch(const struct htab *h, const char *key, size_t klen);
/* Fault in the slot array of a large table now, writable, without
 * changing it (safe while another thread uses the table): the first
 * touch of its pages is then paid by the caller's thread. */
void	htab_populate(const struct htab *h);
/* Ask for transparent huge pages on the 2 MB-aligned part of a large
 * allocation not touched yet (a hint: nothing happens where the system
 * does not allow it). */
void	htab_advise_huge(void *p, size_t len);

#endif

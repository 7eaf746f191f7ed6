/*
 * htab.c - string-keyed open-addressing hash table (see htab.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "htab.h"

static const char htab_tomb[1];

#define IS_TOMB(s)	((s)->key == htab_tomb)

/* FNV-1a, 64 bit. */
uint64_t
htab_hash(const char *key, size_t klen)
{
    uint64_t h = 1469598103934665603ULL;
    size_t  i;

    for (i = 0; i < klen; i++) {
	h ^= (unsigned char) key[i];
	h *= 1099511628211ULL;
    }
    return (h ^ (h >> 29));
}

/*
 * A large slot array (a million entries: 64 MB and more, probed at
 * random) on transparent huge pages where the system allows them on
 * request: a lookup then costs a cache miss, not also a TLB miss and a
 * page walk, and filling it takes a fault per 2 MB, not per 4 kB.  The
 * memory is calloc's: only its 2 MB-aligned interior is advised.
 */
#define HTAB_HUGE	(2UL << 20)

void
htab_advise_huge(void *p, size_t len)
{
#ifdef MADV_HUGEPAGE
    uintptr_t a = ((uintptr_t) p + HTAB_HUGE - 1) & ~(uintptr_t) (HTAB_HUGE - 1);
    uintptr_t b = ((uintptr_t) p + len) & ~(uintptr_t) (HTAB_HUGE - 1);

    if (len >= 2 * HTAB_HUGE && b > a)
	(void) madvise((void *) a, b - a, MADV_HUGEPAGE);
#else
    (void) p;
    (void) len;
#endif
}

void
htab_populate(const struct htab *h)
{
#ifdef MADV_POPULATE_WRITE
    uintptr_t pg = 4096;
    uintptr_t a = ((uintptr_t) h->slots + pg - 1) & ~(pg - 1);
    uintptr_t b = ((uintptr_t) (h->slots + h->cap)) & ~(pg - 1);

    if (h->slots && b > a)
	(void) madvise((void *) a, b - a, MADV_POPULATE_WRITE);
#else
    (void) h;
#endif
}

int
htab_init(struct htab *h, size_t hint)
{
    size_t  cap = 16;

    while (cap < hint * 2)
	cap <<= 1;
    memset(h, 0, sizeof(*h));
    if ((h->slots = calloc(cap, sizeof(*h->slots))) == NULL)
	return (-1);
    htab_advise_huge(h->slots, cap * sizeof(*h->slots));
    h->cap = cap;
    return (0);
}

void
htab_free(struct htab *h)
{
    free(h->slots);
    memset(h, 0, sizeof(*h));
}

void
htab_free_keys(struct htab *h)
{
    size_t  pos = 0;
    const char *k;

    while (htab_next(h, &pos, &k, NULL, NULL))
	free((char *) (uintptr_t) k);
    htab_free(h);
}

static struct htab_slot *
htab_find(const struct htab *h, const char *key, size_t klen, uint32_t hash)
{
    size_t  i = (size_t) hash & (h->cap - 1);
    struct htab_slot *s;

    for (;;) {
	s = &h->slots[i];
	if (s->key == NULL)
	    return (NULL);
	if (!IS_TOMB(s) && s->hash == hash && s->klen == klen
	    && memcmp(s->key, key, klen) == 0)
	    return (s);
	i = (i + 1) & (h->cap - 1);
    }
}

void
htab_prefetch(const struct htab *h, const char *key, size_t klen)
{
    if (h->cap)
	__builtin_prefetch(&h->slots[(size_t) (uint32_t) htab_hash(key, klen) & (h->cap - 1)], 1);
}

void   *
htab_get(const struct htab *h, const char *key, size_t klen)
{
    struct htab_slot *s;

    if (h->cap == 0)
	return (NULL);
    s = htab_find(h, key, klen, (uint32_t) htab_hash(key, klen));
    return (s ? s->val : NULL);
}

void   *
htab_get_hashed(const struct htab *h, const char *key, size_t klen, uint64_t hash)
{
    struct htab_slot *s;

    if (h->cap == 0)
	return (NULL);
    s = htab_find(h, key, klen, hash);
    return (s ? s->val : NULL);
}

void
htab_prefetch_hashed(const struct htab *h, uint64_t hash)
{
    if (h->cap)
	__builtin_prefetch(&h->slots[(size_t) hash & (h->cap - 1)]);
}

void
htab_prefetch_entry(const struct htab *h, uint64_t hash)
{
    size_t  i, n;

    if (h->cap == 0)
	return;
    /* The first few slots of the probe: the one whose hash matches. */
    for (i = (size_t) hash & (h->cap - 1), n = 0; n < 4; i = (i + 1) & (h->cap - 1), n++) {
	const struct htab_slot *s = &h->slots[i];

	if (s->key == NULL)
	    return;
	if (s->hash == hash) {
	    __builtin_prefetch(s->key);
	    __builtin_prefetch(s->val);
	    return;
	}
    }
}

static int
htab_grow(struct htab *h)
{
    struct htab_slot *old = h->slots, *s;
    size_t  oldcap = h->cap, i, j, cap = h->cap;

    if ((h->n + 1) * 4 >= cap * 3)
	cap *= 2;
    if ((h->slots = calloc(cap, sizeof(*h->slots))) == NULL) {
	h->slots = old;
	return (-1);
    }
    htab_advise_huge(h->slots, cap * sizeof(*h->slots));
    h->cap = cap;
    h->tombs = 0;
    for (i = 0; i < oldcap; i++) {
	s = &old[i];
	if (s->key == NULL || IS_TOMB(s))
	    continue;
	for (j = (size_t) s->hash & (cap - 1); h->slots[j].key; j = (j + 1) & (cap - 1))
	     /* void */ ;
	h->slots[j] = *s;
    }
    free(old);
    return (0);
}

int
htab_put(struct htab *h, const char *key, size_t klen, void *val)
{
    uint32_t hash = (uint32_t) htab_hash(key, klen);
    struct htab_slot *s;
    size_t  i;

    if (klen > UINT32_MAX || (h->cap == 0 && htab_init(h, 16) < 0))
	return (-1);
    if ((s = htab_find(h, key, klen, hash)) != NULL) {
	s->key = key;
	s->val = val;
	return (0);
    }
    if ((h->n + h->tombs + 1) * 4 >= h->cap * 3 && htab_grow(h) < 0)
	return (-1);
    for (i = (size_t) hash & (h->cap - 1); h->slots[i].key && !IS_TOMB(&h->slots[i]);
	 i = (i + 1) & (h->cap - 1))
	 /* void */ ;
    s = &h->slots[i];
    if (IS_TOMB(s))
	h->tombs--;
    s->key = key;
    s->klen = (uint32_t) klen;
    s->hash = hash;
    s->val = val;
    h->n++;
    return (1);
}

int
htab_del(struct htab *h, const char *key, size_t klen)
{
    const char *k;
    void   *v;

    return (htab_take(h, key, klen, &k, &v));
}

int
htab_take(struct htab *h, const char *key, size_t klen, const char **okey,
	  void **oval)
{
    struct htab_slot *s;

    if (h->cap == 0
	|| (s = htab_find(h, key, klen, (uint32_t) htab_hash(key, klen))) == NULL)
	return (0);
    *okey = s->key;
    *oval = s->val;
    s->key = htab_tomb;
    s->val = NULL;
    h->n--;
    h->tombs++;
    return (1);
}

int
htab_next(const struct htab *h, size_t *pos, const char **key, size_t *klen,
	  void **val)
{
    while (*pos < h->cap) {
	const struct htab_slot *s = &h->slots[(*pos)++];

	if (s->key == NULL || IS_TOMB(s))
	    continue;
	if (key)
	    *key = s->key;
	if (klen)
	    *klen = s->klen;
	if (val)
	    *val = s->val;
	return (1);
    }
    return (0);
}

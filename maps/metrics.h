/*
 * metrics.h - Prometheus text exposition, latency histograms, and the
 *	       counter snapshot a scraper thread reads.
 *
 * NAME
 *	metrics - render fwdmap_* metrics for /metrics
 *
 * SYNOPSIS
 *	#include "metrics.h"
 *
 *	void	metrics_hist_observe(struct metrics_hist *h, uint64_t ns);
 *
 *	void	metrics_family(struct mbuf *b, const char *name,
 *			       const char *type, const char *help);
 *	void	metrics_sample(struct mbuf *b, const char *name,
 *			       const struct metrics_label *l, size_t nl,
 *			       double v);
 *	void	metrics_hist_render(struct mbuf *b, const char *name,
 *				    const struct metrics_label *l, size_t nl,
 *				    const struct metrics_hist *h);
 *	void	mbuf_free(struct mbuf *b);
 *
 *	int	metrics_snap_init(struct metrics_snap *s, size_t size);
 *	int	metrics_snap_put(struct metrics_snap *s, const void *src,
 *				 int wait);
 *	void	metrics_snap_get(struct metrics_snap *s, void *dst);
 *	void	metrics_snap_free(struct metrics_snap *s);
 *
 * DESCRIPTION
 *	A histogram keeps non-cumulative counts per bucket, in nanoseconds,
 *	over the fixed bounds METRICS_BOUNDS_NS (5 us to 60 s, chosen to
 *	cover a table lookup as well as a full directory sync); the last
 *	bucket is +Inf.  metrics_hist_observe() is a short scan and two
 *	additions: cheap enough for the lookup path.  Rendering makes the
 *	counts cumulative and derives _count from the same buckets, so a
 *	rendered histogram is always consistent (le="+Inf" == _count).
 *
 *	The renderers append Prometheus text format 0.0.4 to a growing
 *	buffer: a # HELP and # TYPE pair per family, one line per sample,
 *	label values escaped (backslash, double quote, newline).  Values
 *	are printed exactly for integers up to 2^53 and with %.17g
 *	otherwise.  A failed allocation sets b->failed; the caller checks
 *	it once at the end.
 *
 *	A snapshot decouples the daemon's loop, which owns the live
 *	counters, from the HTTP thread that renders them: the loop copies
 *	its counters into the snapshot with metrics_snap_put() (with wait 0
 *	it never blocks: when the reader holds the snapshot at that moment
 *	it returns 0 and the loop tries again later), the HTTP thread copies
 *	the snapshot out with metrics_snap_get() and renders from its own
 *	copy.  The lock is held only for one memcpy on either side.
 *
 * DIAGNOSTICS
 *	metrics_snap_init() returns -1 when out of memory.
 *	metrics_snap_put() returns 1 when copied, 0 when skipped.
 */
#ifndef FWDMAP_METRICS_H
#define FWDMAP_METRICS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_NBOUNDS	16

/* Upper bounds of the buckets, nanoseconds (+Inf follows). */
#define METRICS_BOUNDS_NS { \
    5000ULL, 10000ULL, 25000ULL, 50000ULL, 100000ULL, 250000ULL, \
    500000ULL, 1000000ULL, 2500000ULL, 10000000ULL, 100000000ULL, \
    1000000000ULL, 5000000000ULL, 15000000000ULL, 30000000000ULL, \
    60000000000ULL }

struct metrics_hist {
    uint64_t bucket[METRICS_NBOUNDS + 1];	/* not cumulative; last: +Inf */
    uint64_t sum_ns;
};

struct metrics_label {
    const char *name;
    const char *value;
};

struct mbuf {
    char   *p;
    size_t  len;
    size_t  cap;
    int     failed;
};

struct metrics_snap {
    pthread_mutex_t mu;
    void   *data;
    size_t  size;
    uint64_t puts;			/* copies made, for tests */
};

void	metrics_hist_observe(struct metrics_hist *h, uint64_t ns);

void	metrics_family(struct mbuf *b, const char *name, const char *type,
		       const char *help);
void	metrics_sample(struct mbuf *b, const char *name,
		       const struct metrics_label *l, size_t nl, double v);
void	metrics_hist_render(struct mbuf *b, const char *name,
			    const struct metrics_label *l, size_t nl,
			    const struct metrics_hist *h);
void	mbuf_free(struct mbuf *b);

int	metrics_snap_init(struct metrics_snap *s, size_t size)
	__attribute__((warn_unused_result));
int	metrics_snap_put(struct metrics_snap *s, const void *src, int wait);
void	metrics_snap_get(struct metrics_snap *s, void *dst);
void	metrics_snap_free(struct metrics_snap *s);

#endif

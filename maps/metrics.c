/*
 * metrics.c - Prometheus text rendering, histograms and the counter
 *	       snapshot (see metrics.h).  Never prints, never exits.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static const uint64_t metrics_bounds[METRICS_NBOUNDS] = METRICS_BOUNDS_NS;

void
metrics_hist_observe(struct metrics_hist *h, uint64_t ns)
{
    int     i;

    for (i = 0; i < METRICS_NBOUNDS && ns > metrics_bounds[i]; i++)
	;
    h->bucket[i]++;
    h->sum_ns += ns;
}

static void
mbuf_add(struct mbuf *b, const char *s, size_t n)
{
    size_t  cap;
    char   *np;

    if (b->failed)
	return;
    if (b->cap - b->len < n + 1) {
	cap = b->cap ? b->cap : 4096;
	while (cap - b->len < n + 1)
	    cap *= 2;
	if ((np = realloc(b->p, cap)) == NULL) {
	    b->failed = 1;
	    return;
	}
	b->p = np;
	b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void
mbuf_str(struct mbuf *b, const char *s)
{
    mbuf_add(b, s, strlen(s));
}

static void
mbuf_printf(struct mbuf *b, const char *fmt,...)
    __attribute__((format(printf, 2, 3)));

static void
mbuf_printf(struct mbuf *b, const char *fmt,...)
{
    char    tmp[64];
    va_list ap;
    int     n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= sizeof(tmp)) {
	b->failed = 1;
	return;
    }
    mbuf_add(b, tmp, (size_t) n);
}

void
mbuf_free(struct mbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

/* HELP text escaping: backslash and newline. */
void
metrics_family(struct mbuf *b, const char *name, const char *type,
	       const char *help)
{
    const char *p;

    mbuf_str(b, "# HELP ");
    mbuf_str(b, name);
    mbuf_str(b, " ");
    for (p = help; *p; p++) {
	if (*p == '\\')
	    mbuf_str(b, "\\\\");
	else if (*p == '\n')
	    mbuf_str(b, "\\n");
	else
	    mbuf_add(b, p, 1);
    }
    mbuf_str(b, "\n# TYPE ");
    mbuf_str(b, name);
    mbuf_str(b, " ");
    mbuf_str(b, type);
    mbuf_str(b, "\n");
}

/* {a="x",b="y"} plus an optional extra label (le for buckets). */
static void
metrics_labels(struct mbuf *b, const struct metrics_label *l, size_t nl,
	       const char *xname, const char *xvalue)
{
    size_t  i;
    const char *p;

    if (nl == 0 && xname == NULL)
	return;
    mbuf_str(b, "{");
    for (i = 0; i <= nl; i++) {
	const char *n = i < nl ? l[i].name : xname;
	const char *v = i < nl ? l[i].value : xvalue;

	if (n == NULL)
	    break;
	if (i > 0)
	    mbuf_str(b, ",");
	mbuf_str(b, n);
	mbuf_str(b, "=\"");
	for (p = v ? v : ""; *p; p++) {
	    if (*p == '\\')
		mbuf_str(b, "\\\\");
	    else if (*p == '"')
		mbuf_str(b, "\\\"");
	    else if (*p == '\n')
		mbuf_str(b, "\\n");
	    else
		mbuf_add(b, p, 1);
	}
	mbuf_str(b, "\"");
    }
    mbuf_str(b, "}");
}

static void
metrics_value(struct mbuf *b, double v)
{
    if (isnan(v))
	mbuf_str(b, "NaN");
    else if (isinf(v))
	mbuf_str(b, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) <= 9007199254740992.0)
	mbuf_printf(b, "%.0f", v);
    else {
	/* The shortest of %.15g and %.17g that reads back as v. */
	char    tmp[40];

	snprintf(tmp, sizeof(tmp), "%.15g", v);
	if (strtod(tmp, NULL) == v)
	    mbuf_str(b, tmp);
	else
	    mbuf_printf(b, "%.17g", v);
    }
}

void
metrics_sample(struct mbuf *b, const char *name,
	       const struct metrics_label *l, size_t nl, double v)
{
    mbuf_str(b, name);
    metrics_labels(b, l, nl, NULL, NULL);
    mbuf_str(b, " ");
    metrics_value(b, v);
    mbuf_str(b, "\n");
}

void
metrics_hist_render(struct mbuf *b, const char *name,
		    const struct metrics_label *l, size_t nl,
		    const struct metrics_hist *h)
{
    char    le[32], series[128];
    uint64_t cum = 0;
    int     i;

    snprintf(series, sizeof(series), "%s_bucket", name);
    for (i = 0; i <= METRICS_NBOUNDS; i++) {
	cum += h->bucket[i];
	if (i < METRICS_NBOUNDS)
	    snprintf(le, sizeof(le), "%.9g", (double) metrics_bounds[i] / 1e9);
	else
	    snprintf(le, sizeof(le), "+Inf");
	mbuf_str(b, series);
	metrics_labels(b, l, nl, "le", le);
	mbuf_str(b, " ");
	metrics_value(b, (double) cum);
	mbuf_str(b, "\n");
    }
    snprintf(series, sizeof(series), "%s_sum", name);
    metrics_sample(b, series, l, nl, (double) h->sum_ns / 1e9);
    snprintf(series, sizeof(series), "%s_count", name);
    metrics_sample(b, series, l, nl, (double) cum);
}

int
metrics_snap_init(struct metrics_snap *s, size_t size)
{
    memset(s, 0, sizeof(*s));
    if ((s->data = calloc(1, size)) == NULL)
	return (-1);
    s->size = size;
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
	free(s->data);
	s->data = NULL;
	return (-1);
    }
    return (0);
}

int
metrics_snap_put(struct metrics_snap *s, const void *src, int wait)
{
    if (wait ? pthread_mutex_lock(&s->mu) != 0
	: pthread_mutex_trylock(&s->mu) != 0)
	return (0);
    memcpy(s->data, src, s->size);
    s->puts++;
    pthread_mutex_unlock(&s->mu);
    return (1);
}

void
metrics_snap_get(struct metrics_snap *s, void *dst)
{
    pthread_mutex_lock(&s->mu);
    memcpy(dst, s->data, s->size);
    pthread_mutex_unlock(&s->mu);
}

void
metrics_snap_free(struct metrics_snap *s)
{
    if (s->data == NULL)
	return;
    pthread_mutex_destroy(&s->mu);
    free(s->data);
    s->data = NULL;
}

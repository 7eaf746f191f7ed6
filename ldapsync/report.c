/*
 * report.c - JSON sync report and one-line summary (see report.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "htab.h"
#include "log.h"
#include "report.h"

struct report {
    json_t *root;
    json_t *counts;
    json_t *rejected, *conflicts, *loops, *added, *removed, *changed;
    unsigned long n_rejected, n_conflicts, n_loops, n_added, n_removed, n_changed;
    unsigned long n_logged;	/* rejections logged (REPORT_MAX_LOGGED) */
    unsigned long n_by_reason[REPORT_NREASONS];
    struct htab seen;		/* dedupe keys (owned) */
    struct timeval start;
};

/*
 * Short codes for the rejection reasons compile.c reports (matched by the
 * start of the reason), for a metrics label with a small value set.
 */
static const struct {
    const char *prefix;
    int     idx;
} reason_codes[] = {
    {"entry is outside every tenant's base", 0},
    {"no mail attribute", 1},
    {"more than one mail value", 2},
    {"invalid mail address", 3},
    {"mail in a domain the tenant does not own", 4},
    {"alias in a domain the tenant does not own", 4},
    {"invalid alias address", 5},
    {"invalid forward address", 6},
    {"more than one fwdMailboxLocation value", 7},
    {"more than one fwdMailHost value", 8},
    {"no fwdMailboxLocation and no default_location", 9},
    {"too many forward addresses", 10},
    {"forward addresses too long together", 11},
    {"location external without fwdMailHost", 12},
    {"invalid fwdMailHost", 13},
    {"fwdMailHost not in the tenant's allowed_hosts", 14},
    {"location none without a valid forward address", 15},
    {"no valid destination left", 15},
    {"unknown store in fwdMailboxLocation", 16},
    {"forward to an unknown address in our own domains", 17},
    {"entry lost its primary address to another entry", 18},
};

static const char *const reason_names[REPORT_NREASONS] = {
    "outside_base", "no_mail", "multiple_mail", "invalid_mail",
    "foreign_domain", "invalid_alias", "invalid_forward",
    "multiple_location", "multiple_host", "no_location",
    "too_many_forwards", "forwards_too_long", "external_without_host",
    "invalid_host", "host_not_allowed", "no_destination", "unknown_store",
    "unknown_forward", "lost_primary", "other",
};

const char *
report_reason_name(int idx)
{
    if (idx < 0 || idx >= REPORT_NREASONS)
	return ("other");
    return (reason_names[idx]);
}

int
report_reason_index(const char *reason)
{
    size_t  i;

    for (i = 0; reason && i < sizeof(reason_codes) / sizeof(reason_codes[0]); i++)
	if (strncmp(reason, reason_codes[i].prefix, strlen(reason_codes[i].prefix)) == 0)
	    return (reason_codes[i].idx);
    return (REPORT_REASON_OTHER);
}

unsigned long
report_rejected_by(const struct report *r, int idx)
{
    if (r == NULL || idx < 0 || idx >= REPORT_NREASONS)
	return (0);
    return (r->n_by_reason[idx]);
}

const char *
report_mode(const struct report *r)
{
    const char *m = json_string_value(json_object_get(r->root, "mode"));

    return (m ? m : "full");
}

struct report *
report_new(const char *mode)
{
    struct report *r = calloc(1, sizeof(*r));

    if (r == NULL)
	return (NULL);
    gettimeofday(&r->start, NULL);
    r->root = json_object();
    r->counts = json_object();
    r->rejected = json_array();
    r->conflicts = json_array();
    r->loops = json_array();
    r->added = json_array();
    r->removed = json_array();
    r->changed = json_array();
    if (htab_init(&r->seen, 64) < 0) {
	report_free(r);
	return (NULL);
    }
    json_object_set_new(r->root, "mode", json_string(mode));
    json_object_set_new(r->root, "started", json_integer((json_int_t) r->start.tv_sec));
    return (r);
}

void
report_free(struct report *r)
{
    if (r == NULL)
	return;
    htab_free_keys(&r->seen);
    json_decref(r->root);
    json_decref(r->counts);
    json_decref(r->rejected);
    json_decref(r->conflicts);
    json_decref(r->loops);
    json_decref(r->added);
    json_decref(r->removed);
    json_decref(r->changed);
    free(r);
}

/* 1 if the key was seen before (and remembers it). */
static int
seen(struct report *r, const char *a, const char *b, const char *c, const char *d)
{
    char   *k;
    size_t  len;

    if (asprintf(&k, "%s\x1f%s\x1f%s\x1f%s", a ? a : "", b ? b : "", c ? c : "",
		 d ? d : "") < 0)
	return (0);
    len = strlen(k);
    if (htab_get(&r->seen, k, len)) {
	free(k);
	return (1);
    }
    if (htab_put(&r->seen, k, len, r) < 0)
	free(k);
    return (0);
}

/*
 * A directory value for a log line: control characters (a newline would
 * forge a log line) become '?', and a long value is cut at 256 bytes.
 */
static const char *
log_safe(char *buf, size_t len, const char *s)
{
    size_t  i;

    for (i = 0; s[i] && i + 4 < len && i < 256; i++)
	buf[i] = (unsigned char) s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    if (s[i]) {
	memcpy(buf + i, "...", 3);
	i += 3;
    }
    buf[i] = 0;
    return (buf);
}

/* One warning per rejection (no secret: DN, reason, the directory value). */
static void
log_reject(const char *dn, const char *addr, const char *reason, const char *arg)
{
    char    d[264], a[264], v[264];

    log_warn("rejected %s: %s%s%s%s%s%s", log_safe(d, sizeof(d), dn), reason,
	     arg ? ": \"" : "", arg ? log_safe(v, sizeof(v), arg) : "", arg ? "\"" : "",
	     addr && (arg == NULL || strcmp(addr, arg) != 0) ? " for address " : "",
	     addr && (arg == NULL || strcmp(addr, arg) != 0)
	     ? log_safe(a, sizeof(a), addr) : "");
}

void
report_reject(struct report *r, const char *dn, const char *addr,
	      const char *reason, const char *arg)
{
    json_t *o;

    if (r == NULL || seen(r, "R", dn, reason, arg))
	return;
    r->n_rejected++;
    r->n_by_reason[report_reason_index(reason)]++;
    if (r->n_logged < REPORT_MAX_LOGGED) {
	r->n_logged++;
	log_reject(dn, addr, reason, arg);
    }
    if (json_array_size(r->rejected) >= REPORT_MAX_ITEMS)
	return;
    o = json_object();
    json_object_set_new(o, "dn", json_string(dn));
    if (addr)
	json_object_set_new(o, "address", json_string(addr));
    json_object_set_new(o, "reason", json_string(reason));
    if (arg)
	json_object_set_new(o, "value", json_string(arg));
    json_array_append_new(r->rejected, o);
}

void
report_conflict(struct report *r, const char *addr, const char *winner,
		const char *loser, const char *rule)
{
    json_t *o;

    if (r == NULL || seen(r, "C", addr, winner, loser))
	return;
    r->n_conflicts++;
    if (json_array_size(r->conflicts) >= REPORT_MAX_ITEMS)
	return;
    o = json_object();
    json_object_set_new(o, "address", json_string(addr));
    json_object_set_new(o, "winner", json_string(winner));
    json_object_set_new(o, "loser", json_string(loser));
    json_object_set_new(o, "rule", json_string(rule));
    json_array_append_new(r->conflicts, o);
}

void
report_loop(struct report *r, char *const *addrs, size_t n)
{
    json_t *a;
    size_t  i, m = 0;

    /* A loop is reported once, keyed by its smallest member. */
    for (i = 1; i < n; i++)
	if (strcmp(addrs[i], addrs[m]) < 0)
	    m = i;
    if (r == NULL || n == 0 || seen(r, "L", addrs[m], NULL, NULL))
	return;
    r->n_loops++;
    if (json_array_size(r->loops) >= REPORT_MAX_ITEMS)
	return;
    a = json_array();
    for (i = 0; i < n; i++)
	json_array_append_new(a, json_string(addrs[(m + i) % n]));
    json_array_append_new(r->loops, a);
}

void
report_change(struct report *r, enum rep_change kind, const char *addr)
{
    json_t *list;
    unsigned long *n;

    if (r == NULL)
	return;
    switch (kind) {
    case REP_ADDED:
	list = r->added;
	n = &r->n_added;
	break;
    case REP_REMOVED:
	list = r->removed;
	n = &r->n_removed;
	break;
    default:
	list = r->changed;
	n = &r->n_changed;
	break;
    }
    (*n)++;
    if (json_array_size(list) < REPORT_MAX_ITEMS)
	json_array_append_new(list, json_string(addr));
}

void
report_set(struct report *r, const char *key, long long value)
{
    if (r)
	json_object_set_new(r->counts, key, json_integer(value));
}

void
report_set_str(struct report *r, const char *key, const char *value)
{
    if (r)
	json_object_set_new(r->root, key, value ? json_string(value) : json_null());
}

long long
report_get(const struct report *r, const char *key)
{
    json_t *v = json_object_get(r->counts, key);

    return (v ? json_integer_value(v) : 0);
}

unsigned long
report_unlogged(const struct report *r)
{
    return (r->n_rejected - r->n_logged);
}

unsigned long
report_count(const struct report *r, const char *list)
{
    if (strcmp(list, "rejected") == 0)
	return (r->n_rejected);
    if (strcmp(list, "conflicts") == 0)
	return (r->n_conflicts);
    if (strcmp(list, "loops") == 0)
	return (r->n_loops);
    if (strcmp(list, "added") == 0)
	return (r->n_added);
    if (strcmp(list, "removed") == 0)
	return (r->n_removed);
    if (strcmp(list, "changed") == 0)
	return (r->n_changed);
    return (0);
}

long
report_elapsed_ms(const struct report *r)
{
    struct timeval now;

    gettimeofday(&now, NULL);
    return ((now.tv_sec - r->start.tv_sec) * 1000L + (now.tv_usec - r->start.tv_usec) / 1000);
}

int
report_write(struct report *r, const char *path, char *err, size_t errlen)
{
    char    tmp[4096];
    json_t *ch;
    int     ret;

    report_set(r, "rejected", (long long) r->n_rejected);
    report_set(r, "conflicts", (long long) r->n_conflicts);
    report_set(r, "loops", (long long) r->n_loops);
    report_set(r, "added", (long long) r->n_added);
    report_set(r, "removed", (long long) r->n_removed);
    report_set(r, "changed", (long long) r->n_changed);
    json_object_set_new(r->root, "finished", json_integer((json_int_t) time(NULL)));
    json_object_set_new(r->root, "duration_ms", json_integer(report_elapsed_ms(r)));
    json_object_set(r->root, "counts", r->counts);
    json_object_set(r->root, "rejected", r->rejected);
    json_object_set(r->root, "conflicts", r->conflicts);
    json_object_set(r->root, "loops", r->loops);
    ch = json_object();
    json_object_set(ch, "added", r->added);
    json_object_set(ch, "removed", r->removed);
    json_object_set(ch, "changed", r->changed);
    json_object_set_new(r->root, "changes", ch);
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long) getpid());
    ret = json_dump_file(r->root, tmp, JSON_INDENT(1) | JSON_SORT_KEYS);
    if (ret == 0 && rename(tmp, path) < 0)
	ret = -1;
    if (ret < 0) {
	snprintf(err, errlen, "write report %s: %s", path, strerror(errno));
	unlink(tmp);
	return (-1);
    }
    return (0);
}

void
report_summary(const struct report *r, char *buf, size_t len)
{
    json_t *p = json_object_get(r->root, "result");

    snprintf(buf, len, "%s sync: serial=%lld entries=%lld routes=%lld rejected=%lu"
	     " conflicts=%lu loops=%lu added=%lu removed=%lu changed=%lu"
	     " duration=%ldms result=%s",
	     json_string_value(json_object_get(r->root, "mode")),
	     report_get(r, "serial"), report_get(r, "entries"),
	     report_get(r, "routes"), r->n_rejected, r->n_conflicts,
	     r->n_loops, r->n_added, r->n_removed, r->n_changed, report_elapsed_ms(r),
	     p ? json_string_value(p) : "?");
}

/*
 * report.h - the JSON sync report and the one-line summary.
 *
 * DESCRIPTION
 *	A report collects, for one sync (full or delta): counts, rejected
 *	entries and claims with their DN and reason, address conflicts,
 *	forwarding loops and the changed addresses.  Lists are capped at
 *	REPORT_MAX_ITEMS entries each (counts stay exact) and deduplicated.
 *	report_reject() also logs a warning per (deduplicated) rejection,
 *	the first REPORT_MAX_LOGGED of a sync; report_unlogged() counts the
 *	rest, for one closing line.
 *	report_write() writes it atomically as JSON; report_summary()
 *	formats the one-line log summary.
 *
 *	For the metrics, every rejection is also counted under a short
 *	reason code (report_reason_name(): "foreign_domain",
 *	"unknown_store", ...; REPORT_REASON_OTHER for a reason the table
 *	does not know); report_rejected_by() gives the count of one code.
 *	report_mode() is "full" or "delta"; report_elapsed_ms() the time
 *	since report_new().
 */
#ifndef LDAPSYNC_REPORT_H
#define LDAPSYNC_REPORT_H

#include <stddef.h>
#include <stdint.h>

#define REPORT_MAX_ITEMS	10000
/* Rejections logged per sync, one warning each; the rest only counted. */
#define REPORT_MAX_LOGGED	100

enum rep_change { REP_ADDED, REP_REMOVED, REP_CHANGED };

#define REPORT_NREASONS		20
#define REPORT_REASON_OTHER	(REPORT_NREASONS - 1)

struct report;

struct report *report_new(const char *mode);
void	report_free(struct report *r);
void	report_reject(struct report *r, const char *dn, const char *addr,
		      const char *reason, const char *arg);
void	report_conflict(struct report *r, const char *addr, const char *winner,
			const char *loser, const char *rule);
void	report_loop(struct report *r, char *const *addrs, size_t n);
void	report_change(struct report *r, enum rep_change kind, const char *addr);
void	report_set(struct report *r, const char *key, long long value);
void	report_set_str(struct report *r, const char *key, const char *value);
long long report_get(const struct report *r, const char *key);
unsigned long report_count(const struct report *r, const char *list);
/* Rejections beyond the REPORT_MAX_LOGGED that were logged. */
unsigned long report_unlogged(const struct report *r);
int	report_write(struct report *r, const char *path, char *err, size_t errlen);
const char *report_reason_name(int idx);
int	report_reason_index(const char *reason);
unsigned long report_rejected_by(const struct report *r, int idx);
const char *report_mode(const struct report *r);
long	report_elapsed_ms(const struct report *r);
void	report_summary(const struct report *r, char *buf, size_t len);

#endif

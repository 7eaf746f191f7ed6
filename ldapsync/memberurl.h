/*
 * memberurl.h - the memberURL searches of groupOfURLs groups.
 *
 * DESCRIPTION
 *	The members a groupOfURLs group's memberURLs find are not in the
 *	directory entry: ldapsync searches for them, pipelined on one
 *	connection (up to eight searches outstanding), and stores the
 *	sorted, unique DNs found in the state (state_set_urls()), or,
 *	beside a full search, keeps them until the search is done.
 */
#ifndef LDAPSYNC_MEMBERURL_H
#define LDAPSYNC_MEMBERURL_H

#include <ldap.h>

#include "conf.h"
#include "state.h"

/*
 * Evaluate the memberURLs of every group (pending_only: of the groups
 * whose URLs are new or changed) and store the DNs found in the state;
 * a URL whose base lies outside the group's tenant's base is rejected
 * (the group's P record and the report name it).  Returns the number of
 * groups whose members changed (their addresses are marked dirty), -1
 * when the connection failed (message in err; nothing changed).
 */
/*
 * The same for the groups ids[0..n-1] (those no longer groupOfURLs are
 * skipped), stopping once budget_ms (> 0) have passed: *done says how
 * many of ids were dealt with, so that the caller goes on from there.
 */
int	lc_eval_url_list(const struct conf *c, LDAP *ld, struct state *st,
			 unsigned char (*ids)[16], size_t n, long long budget_ms,
			 size_t *done, size_t *evaluated, char *err, size_t errlen);
int	lc_eval_urls(const struct conf *c, LDAP *ld, struct state *st,
		     int pending_only, size_t *evaluated, char *err, size_t errlen);

/*
 * Beside the full search (memberurl.c tells why):
 * lc_urls_ahead_start() starts a thread that connects on its own (trying
 * URI number uri first: the one the full search uses), lists the
 * groupOfURLs groups and evaluates their memberURLs; NULL when no thread
 * could be started.  lc_urls_ahead_apply() waits for it and gives
 * its results to the groups of st that still have the URLs and tenant
 * they were found for (they leave st->url_pending; what is left there is
 * for lc_eval_urls() to do): the number of groups given results, or -1
 * out of memory; *listed the groups the thread found, *ms its time, and
 * why (empty when it did all it listed) the reason it stopped early.
 * lc_urls_ahead_free() stops the thread if it still runs (within about
 * a second of waiting for the server; a connect under way ends first)
 * and frees what is left.
 */
struct url_ahead;

struct url_ahead *lc_urls_ahead_start(const struct conf *c, size_t uri);
long	lc_urls_ahead_apply(struct url_ahead *ua, struct state *st, size_t *listed,
			    long long *ms, char *why, size_t whylen);
void	lc_urls_ahead_free(struct url_ahead *ua);

#endif

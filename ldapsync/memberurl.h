/*
 * memberurl.h - the memberURL searches of groupOfURLs groups.
 *
 * DESCRIPTION
 *	The members a groupOfURLs group's memberURLs find are not in the
 *	directory entry: ldapsync searches for them, pipelined on one
 *	connection (up to eight searches outstanding), and stores the
 *	sorted, unique DNs found in the state (state_set_urls()).
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

#endif

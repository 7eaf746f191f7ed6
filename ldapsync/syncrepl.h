/*
 * syncrepl.h - RFC 4533 refreshAndPersist through libldap's ldap_sync_*
 *		API, one session per tenant base, applied to an ldapsync
 *		state keyed by entryUUID.
 *
 * DESCRIPTION
 *	sy_start() connects one session per tenant (lc_connect, failover)
 *	and runs the refresh phase, starting from the session's cookie when
 *	there is one.  The search parameters and the cookie live in libldap's
 *	ldap_sync_t (ldap_sync_initialize/ldap_sync_destroy); the messages are
 *	read one at a time and their sync controls parsed here rather than by
 *	ldap_sync_init/ldap_sync_poll (see syncrepl.c for why).  A session's
 *	deletions apply only to entries inside its own subtree, so that an
 *	entry moving between tenants is deleted by one session and added by
 *	the other in either order.  Entries
 *	added or modified (a rename is a modify with the same entryUUID)
 *	are put into the state, deleted ones removed; in a present phase
 *	(present messages and syncIdSets) every entry of the session's
 *	subtree that was not named present is deleted when the phase ends.
 *	With s->refresh_only, sy_start() runs RFC 4533's refreshOnly mode
 *	instead: each session's search ends with its content and a Sync Done
 *	control carrying the cookie (ldapsync --once, so that a daemon can
 *	resume from what it read).
 *	sy_poll() waits up to timeout_ms for persist-phase changes on all
 *	sessions and applies them.  Every applied change records its uuid
 *	in s->changed (for the journal).
 *
 *	Results: >= 0 success (sy_poll: number of changes applied),
 *	SY_NO_SYNCPROV the server does not support the sync control,
 *	SY_REFRESH_REQUIRED the server wants a full reload (cookies
 *	cleared), -1 error (connection lost, ...; message in s->err).
 */
#ifndef LDAPSYNC_SYNCREPL_H
#define LDAPSYNC_SYNCREPL_H

#include <ldap.h>

#include "conf.h"
#include "htab.h"
#include "state.h"

#define SY_NO_SYNCPROV		(-2)
#define SY_REFRESH_REQUIRED	(-3)

struct syncer;

struct sy_sess {
    ldap_sync_t ls;
    struct syncer *owner;
    size_t  tenant;
    int	    started;
    int	    present_phase;	/* a refreshPresent phase is running */
    int	    refresh_required;
    int	    result;		/* code of the searchResultDone, 0 */
    unsigned gen;		/* present-phase mark */
};

struct syncer {
    const struct conf *c;
    struct state *st;
    struct sy_sess *sess;	/* one per tenant */
    size_t  nsess;
    size_t  uri_index;		/* the URI that answered last */
    struct htab changed;	/* uuid (16 bytes, owned) -> 1 */
    unsigned long events;
    int	    refresh_only;	/* sy_start: RFC 4533 refreshOnly, ends at syncDone */
    int	    no_changed;		/* do not record changed uuids (--once) */
    int	    failed;
    char    err[512];
};

/*
 * Decoders of RFC 4533's Sync State control (sy_scan_state: the entry's
 * state, its 16-byte entryUUID, an optional cookie), syncInfo message
 * (sy_scan_info) and Sync Done control (sy_scan_done), each on a
 * BerElement made from the value (sy_ber_init); returned bervals point into
 * it, sy_info.uuids is the caller's (ber_bvarray_free).  -1: it does not
 * decode.  Absent optional fields take the RFC's defaults.
 */
enum { SY_INFO_OTHER, SY_INFO_NEW_COOKIE, SY_INFO_REFRESH_DELETE,
       SY_INFO_REFRESH_PRESENT, SY_INFO_ID_SET };

struct sy_info {
    int	    kind;
    struct berval cookie;	/* bv_val NULL: none */
    int	    refresh_done;	/* refreshDelete/refreshPresent */
    int	    refresh_deletes;	/* syncIdSet */
    BerVarray uuids;		/* syncIdSet */
};

/* ber_init() of a control's or message's value; NULL for an empty one
 * (liblber 2.5 reads through a NULL buffer decoding an empty value: a
 * server sending an empty sync control crashed ldapsync, found by
 * fuzz_syncinfo). */
BerElement *sy_ber_init(const struct berval *v);
int	sy_scan_state(BerElement *ber, int *state, struct berval *uuid,
		      struct berval *cookie);
int	sy_scan_info(BerElement *ber, struct sy_info *in);
int	sy_scan_done(BerElement *ber, struct berval *cookie, int *refresh_deletes);

int	sy_init(struct syncer *s, const struct conf *c, struct state *st)
	__attribute__((warn_unused_result));
void	sy_set_cookie(struct syncer *s, size_t tenant, const char *cookie);
const char *sy_cookie(const struct syncer *s, size_t tenant);	/* or NULL */
void	sy_clear_cookies(struct syncer *s);
int	sy_start(struct syncer *s);
int	sy_poll(struct syncer *s, int timeout_ms);
void	sy_stop(struct syncer *s);	/* close sessions, keep cookies */
void	sy_free(struct syncer *s);
void	sy_changed_clear(struct syncer *s);

#endif

/*
 * syncrepl.c - RFC 4533 sessions via ldap_sync_* (see syncrepl.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldap.h>

#include "compile.h"
#include "dn.h"
#include "log.h"
#include "ldap_conn.h"
#include "syncrepl.h"

static void
note_changed(struct syncer *s, const unsigned char *uuid)
{
    unsigned char *k;

    s->events++;
    if (s->no_changed || htab_get(&s->changed, (const char *) uuid, 16))
	return;
    if ((k = malloc(16)) == NULL)
	return;
    memcpy(k, uuid, 16);
    if (htab_put(&s->changed, (const char *) k, 16, s) < 0)
	free(k);
}

/* Is dn inside the subtree of this session's base? */
static int
in_scope(const char *dn, const char *base)
{
    return (dn_within(dn, base) > 0);
}

/* Delete every entry of the session's subtree not marked present. */
static void
end_present(struct sy_sess *ss)
{
    struct syncer *s = ss->owner;
    const char *base = s->c->tenants[ss->tenant].base;
    size_t  pos = 0, n = 0, i;
    void   *v;
    unsigned char (*gone)[16] = NULL;

    while (htab_next(&s->st->ents, &pos, NULL, NULL, &v)) {
	struct ent *e = v;

	if (e->mark != ss->gen && in_scope(e->dn, base)) {
	    unsigned char (*g)[16] = realloc(gone, (n + 1) * 16);

	    if (g == NULL)
		break;
	    gone = g;
	    memcpy(gone[n++], e->uuid, 16);
	}
    }
    for (i = 0; i < n; i++) {
	state_del(s->st, gone[i]);
	note_changed(s, gone[i]);
    }
    free(gone);
    ss->present_phase = 0;
}

/* An entry with its sync state: present, add, modify (rename), delete. */
static void
on_entry(struct sy_sess *ss, LDAPMessage *msg, const unsigned char *u, int state)
{
    struct syncer *s = ss->owner;
    struct ent *e, *old;

    if (log_verbose) {
	char    us[37];

	uuid_str(u, us);
	log_debug("sync entry %s state %d", us, state);
    }
    switch (state) {
    case LDAP_SYNC_PRESENT:
	if ((old = state_get(s->st, u)) != NULL)
	    old->mark = ss->gen;
	break;
    case LDAP_SYNC_ADD:
    case LDAP_SYNC_MODIFY:
	if ((e = lc_entry(s->c, ss->ls.ls_ld, msg, u, s->err, sizeof(s->err))) == NULL) {
	    s->failed = 1;
	    return;
	}
	comp_validate(s->c, e);
	if (state_put(s->st, e) < 0) {
	    snprintf(s->err, sizeof(s->err), "out of memory");
	    s->failed = 1;
	    return;
	}
	e->mark = ss->gen;
	note_changed(s, u);
	break;
    case LDAP_SYNC_DELETE:
	/* A session speaks for its own subtree only: an entry that moved
	 * to another tenant's subtree is deleted here but added there, in
	 * either order. */
	if ((old = state_get(s->st, u)) != NULL
	    && in_scope(old->dn, s->c->tenants[ss->tenant].base)
	    && state_del(s->st, u) > 0)
	    note_changed(s, u);
	break;
    default:
	break;
    }
}

/*
 * Deletions announced by a syncIdSet are checked against the directory
 * before they are applied: syncprov replays its session log by putting
 * every logged modification it cannot find within *this* session's base
 * and filter into the delete set (observed: an entry modified in ou=tum
 * was announced deleted by the ou=lmu session).  Deletions outside the
 * session's subtree are ignored by the caller; of the rest, an entry the
 * server still returns is kept (and refreshed), the others are deleted.
 */
#define VERIFY_BATCH	50

static void
verify_deletes(struct sy_sess *ss, unsigned char (*u)[16], size_t n)
{
    struct syncer *s = ss->owner;
    LDAP   *ld = ss->ls.ls_ld;
    char   *filter = NULL, us[37], *ocf = lc_filter(s->c, ss->tenant);
    size_t  i, off = 0, cap;
    LDAPMessage *res = NULL, *m;
    struct timeval tv = {s->c->ldap.timeout, 0};
    unsigned char *keep = calloc(n ? n : 1, 1);
    int     rc;

    cap = 64 + strlen(ocf ? ocf : "") + n * 50;
    if (ocf == NULL || keep == NULL || (filter = malloc(cap)) == NULL)
	goto apply;		/* out of memory: trust the server */
    off = (size_t) snprintf(filter, cap, "(&%s(|", ocf);
    for (i = 0; i < n; i++) {
	uuid_str(u[i], us);
	off += (size_t) snprintf(filter + off, cap - off, "(entryUUID=%s)", us);
    }
    snprintf(filter + off, cap - off, "))");
    rc = ldap_search_ext_s(ld, s->c->tenants[ss->tenant].base, LDAP_SCOPE_SUBTREE, filter,
			   lc_attrs(s->c), 0, NULL, NULL, &tv, 0, &res);
    if (rc != LDAP_SUCCESS) {
	log_warn("%s: cannot verify %zu deletions (%s); applying them",
		 s->c->tenants[ss->tenant].base, n, ldap_err2string(rc));
	goto apply;
    }
    for (m = ldap_first_entry(ld, res); m; m = ldap_next_entry(ld, m)) {
	struct ent *e = lc_entry(s->c, ld, m, NULL, s->err, sizeof(s->err));

	if (e == NULL)
	    continue;
	for (i = 0; i < n; i++)
	    if (memcmp(u[i], e->uuid, 16) == 0)
		keep[i] = 1;
	uuid_str(e->uuid, us);
	log_debug("sync delete of %s not applied: the entry exists", us);
	comp_validate(s->c, e);
	if (state_put(s->st, e) == 0) {
	    e->mark = ss->gen;
	    note_changed(s, e->uuid);
	}
    }
apply:
    for (i = 0; i < n; i++)
	if (!(keep && keep[i]) && state_del(s->st, u[i]) > 0)
	    note_changed(s, u[i]);
    if (res)
	ldap_msgfree(res);
    free(filter);
    free(ocf);
    free(keep);
}

/* A syncIdSet: uuids present, or deleted. */
static void
on_idset(struct sy_sess *ss, BerVarray uuids, int deletes)
{
    struct syncer *s = ss->owner;
    unsigned char batch[VERIFY_BATCH][16];
    size_t  i, nb = 0;

    for (i = 0; uuids && uuids[i].bv_val; i++) {
	const unsigned char *u = (const unsigned char *) uuids[i].bv_val;
	struct ent *e;

	if (uuids[i].bv_len != 16)
	    continue;
	if (log_verbose) {
	    char    us[37];

	    uuid_str(u, us);
	    log_debug("sync idset %s %s", deletes ? "delete" : "present", us);
	}
	if (deletes) {
	    if ((e = state_get(s->st, u)) == NULL
		|| !in_scope(e->dn, s->c->tenants[ss->tenant].base))
		continue;	/* nothing to delete in this session's subtree */
	    memcpy(batch[nb++], u, 16);
	    if (nb == VERIFY_BATCH) {
		verify_deletes(ss, batch, nb);
		nb = 0;
	    }
	} else if ((e = state_get(s->st, u)) != NULL)
	    e->mark = ss->gen;
    }
    if (nb)
	verify_deletes(ss, batch, nb);
    if (!deletes)
	ss->present_phase = 1;
}

/* The end of a refresh phase; after a present phase every entry of the
 * session's subtree the server did not name is gone. */
static void
on_phase_end(struct sy_sess *ss, int present)
{
    log_debug("sync phase end: %s", present ? "present" : "delete");
    if (present)
	end_present(ss);
    ss->present_phase = 0;
}

static void
set_cookie_bv(struct sy_sess *ss, struct berval *c)
{
    if (c->bv_val != NULL && c->bv_len > 0)
	ber_bvreplace(&ss->ls.ls_cookie, c);
}

/*
 * Decoders of the sync controls and the syncInfo message (RFC 4533
 * sections 2.2, 2.4, 2.5), on a BerElement made from the control's or
 * message's value; the bervals they return point into it.
 */
BerElement *
sy_ber_init(const struct berval *v)
{
    if (v == NULL || v->bv_val == NULL || v->bv_len == 0)
	return (NULL);
    return (ber_init((struct berval *) (uintptr_t) v));
}

int
sy_scan_state(BerElement *ber, int *state, struct berval *uuid,
	      struct berval *cookie)
{
    ber_int_t st = -1;
    ber_len_t len;

    uuid->bv_val = cookie->bv_val = NULL;
    uuid->bv_len = cookie->bv_len = 0;
    if (ber_scanf(ber, "{em", &st, uuid) == LBER_ERROR || uuid->bv_len != 16)
	return (-1);
    if (ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_COOKIE
	&& ber_scanf(ber, "m", cookie) == LBER_ERROR)
	cookie->bv_val = NULL, cookie->bv_len = 0;
    *state = st;
    return (0);
}

/*
 * "{ cookie OPTIONAL, flag BOOLEAN DEFAULT dflt" of refreshDelete,
 * refreshPresent, syncIdSet and syncDone: *flag is dflt when absent;
 * -1 when the sequence or the flag does not decode.
 */
static int
scan_cookie_flag(BerElement *ber, ber_tag_t flag_tag, struct berval *cookie,
		 ber_int_t dflt, ber_int_t *flag)
{
    ber_len_t len;

    *flag = dflt;
    if (ber_scanf(ber, "{") == LBER_ERROR)
	return (-1);
    if (ber_peek_tag(ber, &len) == LDAP_TAG_SYNC_COOKIE
	&& ber_scanf(ber, "m", cookie) == LBER_ERROR)
	cookie->bv_val = NULL, cookie->bv_len = 0;
    if (ber_peek_tag(ber, &len) == flag_tag && ber_scanf(ber, "b", flag) == LBER_ERROR)
	return (-1);
    return (0);
}

int
sy_scan_info(BerElement *ber, struct sy_info *in)
{
    ber_tag_t tag;
    ber_len_t len;
    ber_int_t flag;

    memset(in, 0, sizeof(*in));
    in->kind = SY_INFO_OTHER;
    tag = ber_peek_tag(ber, &len);
    if (tag == LDAP_TAG_SYNC_NEW_COOKIE) {
	in->kind = SY_INFO_NEW_COOKIE;
	if (ber_scanf(ber, "m", &in->cookie) == LBER_ERROR)
	    in->cookie.bv_val = NULL, in->cookie.bv_len = 0;
	return (0);
    }
    if (tag == LDAP_TAG_SYNC_REFRESH_DELETE || tag == LDAP_TAG_SYNC_REFRESH_PRESENT) {
	in->kind = tag == LDAP_TAG_SYNC_REFRESH_PRESENT ? SY_INFO_REFRESH_PRESENT
	    : SY_INFO_REFRESH_DELETE;
	/* refreshDone defaults to TRUE */
	if (scan_cookie_flag(ber, LDAP_TAG_REFRESHDONE, &in->cookie, 1, &flag) < 0)
	    return (-1);
	in->refresh_done = flag != 0;
	return (0);
    }
    if (tag == LDAP_TAG_SYNC_ID_SET) {
	in->kind = SY_INFO_ID_SET;
	/* refreshDeletes defaults to FALSE */
	if (scan_cookie_flag(ber, LDAP_TAG_REFRESHDELETES, &in->cookie, 0, &flag) < 0)
	    return (-1);
	if (ber_scanf(ber, "[W]}", &in->uuids) == LBER_ERROR) {
	    in->uuids = NULL;
	    return (-1);
	}
	in->refresh_deletes = flag != 0;
	return (0);
    }
    return (0);
}

int
sy_scan_done(BerElement *ber, struct berval *cookie, int *refresh_deletes)
{
    ber_int_t flag = 0;
    int     r;

    cookie->bv_val = NULL;
    cookie->bv_len = 0;
    /* A refreshDeletes that does not decode reads as FALSE; the cookie
     * before it still counts. */
    r = scan_cookie_flag(ber, LDAP_TAG_REFRESHDELETES, cookie, 0, &flag);
    *refresh_deletes = r == 0 && flag != 0;
    return (r < 0 && cookie->bv_val == NULL ? -1 : 0);
}

#define MSG_GO_ON	0
#define MSG_REFRESHED	1	/* refreshDone */
#define MSG_ENDED	2	/* searchResultDone */
#define MSG_ERROR	(-1)

/*
 * Handle one message of the sync search (RFC 4533 section 2.5 ff.).
 * libldap 2.5's ldap_sync_init()/ldap_sync_poll() fetch messages with
 * LDAP_MSG_RECEIVED and, in the source, hand the head of the received
 * chain (res) rather than each message to the handlers; they also block
 * in the refresh without a timeout.  ldapsync therefore reads one message
 * at a time (LDAP_MSG_ONE, with the configured timeout) and parses the
 * sync controls itself, keeping the ldap_sync_t structure for the search
 * parameters and the cookie.
 */
static int
sync_message(struct sy_sess *ss, LDAPMessage *m)
{
    struct syncer *s = ss->owner;
    LDAP   *ld = ss->ls.ls_ld;
    LDAPControl **ctrls = NULL, *ctrl;
    BerElement *ber = NULL;
    struct berval uuid = {0, NULL}, cookie = {0, NULL};
    char   *oid = NULL;
    struct berval *data = NULL;
    struct sy_info in;
    int     ret = MSG_ERROR, code = 0, state = -1, deletes = 0;

    switch (ldap_msgtype(m)) {
    case LDAP_RES_SEARCH_ENTRY:
	if (ldap_get_entry_controls(ld, m, &ctrls) != LDAP_SUCCESS || ctrls == NULL
	    || (ctrl = ldap_control_find(LDAP_CONTROL_SYNC_STATE, ctrls, NULL)) == NULL
	    || (ber = sy_ber_init(&ctrl->ldctl_value)) == NULL
	    || sy_scan_state(ber, &state, &uuid, &cookie) < 0) {
	    snprintf(s->err, sizeof(s->err), "entry without a valid sync state control");
	    break;
	}
	set_cookie_bv(ss, &cookie);
	on_entry(ss, m, (const unsigned char *) uuid.bv_val, state);
	ret = s->failed ? MSG_ERROR : MSG_GO_ON;
	break;
    case LDAP_RES_SEARCH_REFERENCE:
	ret = MSG_GO_ON;	/* referrals are not followed */
	break;
    case LDAP_RES_INTERMEDIATE:
	if (ldap_parse_intermediate(ld, m, &oid, &data, NULL, 0) != LDAP_SUCCESS
	    || oid == NULL || strcmp(oid, LDAP_SYNC_INFO) != 0 || data == NULL
	    || (ber = sy_ber_init(data)) == NULL) {
	    ret = MSG_GO_ON;	/* not ours */
	    break;
	}
	if (sy_scan_info(ber, &in) < 0) {
	    ber_bvarray_free(in.uuids);
	    break;
	}
	set_cookie_bv(ss, &in.cookie);
	ret = MSG_GO_ON;
	if (in.kind == SY_INFO_REFRESH_DELETE || in.kind == SY_INFO_REFRESH_PRESENT) {
	    log_debug("sync info: refresh%s done=%d cookie=%.*s",
		      in.kind == SY_INFO_REFRESH_PRESENT ? "Present" : "Delete",
		      in.refresh_done, (int) in.cookie.bv_len,
		      in.cookie.bv_val ? in.cookie.bv_val : "");
	    on_phase_end(ss, in.kind == SY_INFO_REFRESH_PRESENT);
	    ret = in.refresh_done ? MSG_REFRESHED : MSG_GO_ON;
	} else if (in.kind == SY_INFO_ID_SET) {
	    log_debug("sync info: syncIdSet refreshDeletes=%s cookie=%.*s",
		      in.refresh_deletes ? "TRUE" : "FALSE", (int) in.cookie.bv_len,
		      in.cookie.bv_val ? in.cookie.bv_val : "");
	    on_idset(ss, in.uuids, in.refresh_deletes);
	    ret = s->failed ? MSG_ERROR : MSG_GO_ON;
	}
	ber_bvarray_free(in.uuids);
	break;
    case LDAP_RES_SEARCH_RESULT:
	if (ldap_parse_result(ld, m, &code, NULL, NULL, NULL, &ctrls, 0) != LDAP_SUCCESS) {
	    snprintf(s->err, sizeof(s->err), "unparsable search result");
	    break;
	}
	ss->result = code;
	if (code == LDAP_SYNC_REFRESH_REQUIRED) {
	    ss->refresh_required = 1;
	    ret = MSG_ENDED;
	    break;
	}
	if (code != LDAP_SUCCESS) {
	    snprintf(s->err, sizeof(s->err), "%s: %s", s->c->tenants[ss->tenant].base,
		     ldap_err2string(code));
	    break;
	}
	/* refreshOnly-style end: syncDone control with cookie and mode. */
	if (ctrls && (ctrl = ldap_control_find(LDAP_CONTROL_SYNC_DONE, ctrls, NULL)) != NULL
	    && (ber = sy_ber_init(&ctrl->ldctl_value)) != NULL
	    && sy_scan_done(ber, &cookie, &deletes) == 0)
	    set_cookie_bv(ss, &cookie);
	on_phase_end(ss, deletes == 0);
	ret = MSG_ENDED;
	break;
    default:
	ret = MSG_GO_ON;
	break;
    }
    if (ber)
	ber_free(ber, 1);
    if (ctrls)
	ldap_controls_free(ctrls);
    if (oid)
	ldap_memfree(oid);
    if (data)
	ber_bvfree(data);
    return (ret);
}

/* Send the sync request control with the session's cookie. */
static int
sync_request(struct sy_sess *ss)
{
    ldap_sync_t *ls = &ss->ls;
    BerElement *ber = ber_alloc_t(LBER_USE_DER);
    LDAPControl ctrl, *ctrls[2] = {&ctrl, NULL};
    int     rc;
    ber_int_t mode = ss->owner->refresh_only ? LDAP_SYNC_REFRESH_ONLY
	: LDAP_SYNC_REFRESH_AND_PERSIST;

    if (ber == NULL)
	return (LDAP_NO_MEMORY);
    if (ls->ls_cookie.bv_val)
	rc = ber_printf(ber, "{eOb}", mode, &ls->ls_cookie, (ber_int_t) 0);
    else
	rc = ber_printf(ber, "{eb}", mode, (ber_int_t) 0);
    memset(&ctrl, 0, sizeof(ctrl));
    if (rc < 0 || ber_flatten2(ber, &ctrl.ldctl_value, 0) < 0) {
	ber_free(ber, 1);
	return (LDAP_ENCODING_ERROR);
    }
    ctrl.ldctl_oid = (char *) (uintptr_t) LDAP_CONTROL_SYNC;
    ctrl.ldctl_iscritical = 1;
    rc = ldap_search_ext(ls->ls_ld, ls->ls_base, ls->ls_scope, ls->ls_filter,
			 ls->ls_attrs, 0, ctrls, NULL, NULL, 0, &ls->ls_msgid);
    ber_free(ber, 1);
    return (rc);
}

int
sy_init(struct syncer *s, const struct conf *c, struct state *st)
{
    size_t  t;

    memset(s, 0, sizeof(*s));
    s->c = c;
    s->st = st;
    s->nsess = c->ntenants;
    if ((s->sess = calloc(s->nsess, sizeof(*s->sess))) == NULL) {
	s->nsess = 0;			/* sy_free() stays safe */
	return (-1);
    }
    for (t = 0; t < s->nsess; t++) {
	ldap_sync_initialize(&s->sess[t].ls);
	s->sess[t].owner = s;
	s->sess[t].tenant = t;
    }
    return (htab_init(&s->changed, 256));
}

void
sy_set_cookie(struct syncer *s, size_t t, const char *cookie)
{
    struct berval *bv = &s->sess[t].ls.ls_cookie;

    if (bv->bv_val)
	ber_memfree(bv->bv_val);
    bv->bv_val = NULL;
    bv->bv_len = 0;
    if (cookie && *cookie)
	ber_str2bv(cookie, 0, 1, bv);
}

const char *
sy_cookie(const struct syncer *s, size_t t)
{
    return (s->sess[t].ls.ls_cookie.bv_val);
}

void
sy_clear_cookies(struct syncer *s)
{
    size_t  t;

    for (t = 0; t < s->nsess; t++)
	sy_set_cookie(s, t, NULL);
}

/* Close the LDAP side of a session but keep its cookie. */
static void
sess_close(struct sy_sess *ss)
{
    ldap_sync_t *ls = &ss->ls;
    struct berval keep = ls->ls_cookie;

    ls->ls_cookie.bv_val = NULL;
    ls->ls_cookie.bv_len = 0;
    ldap_sync_destroy(ls, 0);	/* frees base, filter, attrs, unbinds */
    ldap_sync_initialize(ls);
    ls->ls_cookie = keep;
    ss->started = 0;
}

int
sy_start(struct syncer *s)
{
    size_t  t, i;
    char  **attrs = lc_attrs(s->c);
    static unsigned gen;

    s->failed = 0;
    s->err[0] = 0;
    for (t = 0; t < s->nsess; t++) {
	struct sy_sess *ss = &s->sess[t];
	ldap_sync_t *ls = &ss->ls;
	LDAP   *ld;
	int     rc, had_cookie;

	if ((ld = lc_connect(s->c, &s->uri_index, s->err, sizeof(s->err))) == NULL)
	    goto fail;
	lc_read_ahead(ld);		/* the refresh is a bulk search */
	ls->ls_ld = ld;
	ls->ls_base = strdup(s->c->tenants[t].base);
	ls->ls_scope = LDAP_SCOPE_SUBTREE;
	ls->ls_filter = lc_filter(s->c, t);
	for (i = 0; attrs[i]; i++)
	     /* void */ ;
	ls->ls_attrs = calloc(i + 1, sizeof(char *));
	for (i = 0; attrs[i] && ls->ls_attrs; i++)
	    ls->ls_attrs[i] = strdup(attrs[i]);
	ls->ls_private = ss;
	ss->gen = ++gen;
	ss->present_phase = 0;
	ss->refresh_required = 0;
	ss->result = 0;
	ss->started = 1;
	had_cookie = ls->ls_cookie.bv_val != NULL && ls->ls_cookie.bv_len > 0;
	if ((rc = sync_request(ss)) != LDAP_SUCCESS) {
	    snprintf(s->err, sizeof(s->err), "%s: sync search: %s",
		     s->c->tenants[t].base, ldap_err2string(rc));
	    goto fail;
	}
	/* The refresh phase, one message at a time. */
	for (;;) {
	    LDAPMessage *m = NULL;
	    struct timeval tv = {s->c->ldap.timeout, 0};
	    int     r;

	    rc = ldap_result(ld, ls->ls_msgid, LDAP_MSG_ONE, &tv, &m);
	    if (rc <= 0) {
		snprintf(s->err, sizeof(s->err), "%s: refresh %s", s->c->tenants[t].base,
			 rc == 0 ? "timed out" : "failed: connection lost");
		if (m)
		    ldap_msgfree(m);
		goto fail;
	    }
	    r = sync_message(ss, m);
	    ldap_msgfree(m);
	    if (r == MSG_REFRESHED && !s->refresh_only)
		break;
	    if (r == MSG_REFRESHED)
		continue;	/* refreshOnly ends with searchResultDone */
	    if (r == MSG_ENDED && s->refresh_only && !ss->refresh_required)
		break;		/* syncDone: the content and its cookie */
	    /* A refused cookie is not a missing syncprov: slapd's syncprov
	     * answers unwillingToPerform ("consumer state is newer than
	     * provider") when it restarts after a crash with an older
	     * contextCSN than the one it last sent us, or when a replica
	     * lags behind the provider we read before.  Start over without
	     * the cookie; only a cookie-less refusal means no syncprov. */
	    if (r == MSG_ERROR && had_cookie
		&& (ss->result == LDAP_UNWILLING_TO_PERFORM
		    || ss->result == LDAP_PROTOCOL_ERROR)) {
		snprintf(s->err, sizeof(s->err), "%s: the server refused our sync"
			 " cookie (%s)", s->c->tenants[t].base,
			 ldap_err2string(ss->result));
		sy_stop(s);
		sy_clear_cookies(s);
		return (SY_REFRESH_REQUIRED);
	    }
	    if (r == MSG_ERROR && (ss->result == LDAP_UNAVAILABLE_CRITICAL_EXTENSION
				   || ss->result == LDAP_UNWILLING_TO_PERFORM
				   || ss->result == LDAP_PROTOCOL_ERROR)) {
		snprintf(s->err, sizeof(s->err), "%s: sync control not supported (%s)",
			 s->c->tenants[t].base, ldap_err2string(ss->result));
		sy_stop(s);
		return (SY_NO_SYNCPROV);
	    }
	    if (r == MSG_ERROR)
		goto fail;
	    if (r == MSG_ENDED) {
		if (ss->refresh_required) {
		    snprintf(s->err, sizeof(s->err), "%s: server requires a full refresh",
			     s->c->tenants[t].base);
		    sy_stop(s);
		    sy_clear_cookies(s);
		    return (SY_REFRESH_REQUIRED);
		}
		/* A sync search that ended with success is over: the
		 * server does not persist; treat as an error to retry. */
		snprintf(s->err, sizeof(s->err), "%s: sync search ended by the server",
			 s->c->tenants[t].base);
		goto fail;
	    }
	}
    }
    return (0);
fail:
    sy_stop(s);
    return (-1);
}

int
sy_poll(struct syncer *s, int timeout_ms)
{
    struct pollfd *pf;
    size_t  t;
    unsigned long before = s->events, msgs = 0;
    int     rc, again = 1;

    while (again) {
	again = 0;
	for (t = 0; t < s->nsess; t++) {
	    struct sy_sess *ss = &s->sess[t];
	    LDAPMessage *m = NULL;
	    struct timeval zero = {0, 0};
	    int     r;

	    rc = ldap_result(ss->ls.ls_ld, ss->ls.ls_msgid, LDAP_MSG_ONE, &zero, &m);
	    if (rc == 0)
		continue;
	    if (rc < 0) {
		snprintf(s->err, sizeof(s->err), "%s: connection lost",
			 s->c->tenants[t].base);
		return (-1);
	    }
	    r = sync_message(ss, m);
	    ldap_msgfree(m);
	    msgs++;
	    if (r == MSG_ERROR)
		return (-1);
	    if (r == MSG_ENDED) {
		if (ss->refresh_required) {
		    sy_clear_cookies(s);
		    return (SY_REFRESH_REQUIRED);
		}
		snprintf(s->err, sizeof(s->err), "%s: sync search ended by the server",
			 s->c->tenants[t].base);
		return (-1);
	    }
	    again = 1;
	}
	if (s->events - before > 10000)
	    break;		/* let the caller publish */
    }
    if (msgs || timeout_ms <= 0)
	return ((int) (s->events - before));
    if ((pf = calloc(s->nsess, sizeof(*pf))) == NULL)
	return (-1);
    for (t = 0; t < s->nsess; t++) {
	int     fd = -1;

	ldap_get_option(s->sess[t].ls.ls_ld, LDAP_OPT_DESC, &fd);
	pf[t].fd = fd;
	pf[t].events = POLLIN;
    }
    rc = poll(pf, (nfds_t) s->nsess, timeout_ms);
    free(pf);
    if (rc < 0 && errno != EINTR) {
	snprintf(s->err, sizeof(s->err), "poll: %s", strerror(errno));
	return (-1);
    }
    if (rc > 0)
	return (sy_poll(s, 0));
    return (0);
}

void
sy_stop(struct syncer *s)
{
    size_t  t;

    for (t = 0; t < s->nsess; t++)
	if (s->sess[t].started || s->sess[t].ls.ls_ld)
	    sess_close(&s->sess[t]);
}

void
sy_changed_clear(struct syncer *s)
{
    htab_free_keys(&s->changed);	/* an empty table, allocated on use */
}

void
sy_free(struct syncer *s)
{
    size_t  t;

    sy_stop(s);
    for (t = 0; t < s->nsess; t++)
	sy_set_cookie(s, t, NULL);
    sy_changed_clear(s);
    htab_free(&s->changed);
    free(s->sess);
}

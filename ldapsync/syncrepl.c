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
#include "ldap_conn.h"
#include "syncrepl.h"

static void
note_changed(struct syncer *s, const unsigned char *uuid)
{
    unsigned char *k;

    s->events++;
    if (htab_get(&s->changed, (const char *) uuid, 16))
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
    size_t  dl = strlen(dn), bl = strlen(base);

    if (bl > dl || strcasecmp(dn + dl - bl, base) != 0)
	return 0;
    return bl == dl || dn[dl - bl - 1] == ',';
}

static int
cb_entry(ldap_sync_t *ls, LDAPMessage *msg, struct berval *uuid,
	 ldap_sync_refresh_t phase)
{
    struct sy_sess *ss = ls->ls_private;
    struct syncer *s = ss->owner;
    unsigned char u[16];
    struct ent *e, *old;

    if (uuid == NULL || uuid->bv_len != 16)
	return 0;
    memcpy(u, uuid->bv_val, 16);
    switch (phase) {
    case LDAP_SYNC_CAPI_PRESENT:
	if ((old = state_get(s->st, u)) != NULL)
	    old->mark = ss->gen;
	break;
    case LDAP_SYNC_CAPI_ADD:
    case LDAP_SYNC_CAPI_MODIFY:
	if ((e = lc_entry(s->c, ls->ls_ld, msg, u, s->err, sizeof(s->err))) == NULL) {
	    s->failed = 1;
	    return 0;
	}
	comp_validate(s->c, e);
	e->mark = ss->gen;
	if (state_put(s->st, e) < 0) {
	    snprintf(s->err, sizeof(s->err), "out of memory");
	    s->failed = 1;
	    return 0;
	}
	e->mark = ss->gen;
	note_changed(s, u);
	break;
    case LDAP_SYNC_CAPI_DELETE:
	if (state_del(s->st, u) > 0)
	    note_changed(s, u);
	break;
    default:
	break;
    }
    return 0;
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

static int
cb_intermediate(ldap_sync_t *ls, LDAPMessage *msg, BerVarray uuids,
		ldap_sync_refresh_t phase)
{
    struct sy_sess *ss = ls->ls_private;
    struct syncer *s = ss->owner;
    size_t  i;

    switch (phase) {
    case LDAP_SYNC_CAPI_PRESENTS_IDSET:
	for (i = 0; uuids && uuids[i].bv_val; i++) {
	    struct ent *e;

	    if (uuids[i].bv_len == 16
		&& (e = state_get(s->st, (unsigned char *) uuids[i].bv_val)) != NULL)
		e->mark = ss->gen;
	}
	ss->present_phase = 1;
	break;
    case LDAP_SYNC_CAPI_DELETES_IDSET:
	for (i = 0; uuids && uuids[i].bv_val; i++)
	    if (uuids[i].bv_len == 16
		&& state_del(s->st, (unsigned char *) uuids[i].bv_val) > 0)
		note_changed(s, (unsigned char *) uuids[i].bv_val);
	break;
    case LDAP_SYNC_CAPI_PRESENTS:
    case LDAP_SYNC_CAPI_DELETES:
    case LDAP_SYNC_CAPI_DONE:{
	    /* Which phase just ended?  Look at the syncInfo tag. */
	    char   *oid = NULL;
	    struct berval *data = NULL;
	    int     was_present = 0;

	    if (ldap_parse_intermediate(ls->ls_ld, msg, &oid, &data, NULL, 0) == LDAP_SUCCESS
		&& data && data->bv_len > 0
		&& (unsigned char) data->bv_val[0] == LDAP_TAG_SYNC_REFRESH_PRESENT)
		was_present = 1;
	    if (oid)
		ldap_memfree(oid);
	    if (data)
		ber_bvfree(data);
	    if (was_present && (ss->present_phase || ls->ls_cookie.bv_val))
		end_present(ss);
	    ss->present_phase = 0;
	    break;
	}
    default:
	break;
    }
    return 0;
}

static int
cb_result(ldap_sync_t *ls, LDAPMessage *msg, int refreshDeletes)
{
    struct sy_sess *ss = ls->ls_private;
    int     code = 0;

    (void) refreshDeletes;
    if (ldap_parse_result(ls->ls_ld, msg, &code, NULL, NULL, NULL, NULL, 0) == LDAP_SUCCESS
	&& code == LDAP_SYNC_REFRESH_REQUIRED)
	ss->refresh_required = 1;
    return 0;
}

int
sy_init(struct syncer *s, const struct conf *c, struct state *st)
{
    size_t  t;

    memset(s, 0, sizeof(*s));
    s->c = c;
    s->st = st;
    s->nsess = c->ntenants;
    if ((s->sess = calloc(s->nsess, sizeof(*s->sess))) == NULL)
	return -1;
    for (t = 0; t < s->nsess; t++) {
	ldap_sync_initialize(&s->sess[t].ls);
	s->sess[t].owner = s;
	s->sess[t].tenant = t;
    }
    return htab_init(&s->changed, 256);
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
    return s->sess[t].ls.ls_cookie.bv_val;
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
	int     rc;

	if ((ld = lc_connect(s->c, &s->uri_index, s->err, sizeof(s->err))) == NULL)
	    goto fail;
	ls->ls_ld = ld;
	ls->ls_base = strdup(s->c->tenants[t].base);
	ls->ls_scope = LDAP_SCOPE_SUBTREE;
	ls->ls_filter = lc_filter(s->c, t);
	for (i = 0; attrs[i]; i++)
	     /* void */ ;
	ls->ls_attrs = calloc(i + 1, sizeof(char *));
	for (i = 0; attrs[i] && ls->ls_attrs; i++)
	    ls->ls_attrs[i] = strdup(attrs[i]);
	ls->ls_timelimit = 0;
	ls->ls_sizelimit = 0;
	ls->ls_timeout = 0;
	ls->ls_search_entry = cb_entry;
	ls->ls_intermediate = cb_intermediate;
	ls->ls_search_result = cb_result;
	ls->ls_private = ss;
	ss->gen = ++gen;
	ss->present_phase = 0;
	ss->refresh_required = 0;
	ss->started = 1;
	rc = ldap_sync_init_refresh_and_persist(ls);
	if (s->failed)
	    goto fail;
	if (rc == LDAP_SYNC_REFRESH_REQUIRED || ss->refresh_required) {
	    snprintf(s->err, sizeof(s->err), "%s: server requires a full refresh",
		     s->c->tenants[t].base);
	    sy_stop(s);
	    sy_clear_cookies(s);
	    return SY_REFRESH_REQUIRED;
	}
	if (rc == LDAP_UNAVAILABLE_CRITICAL_EXTENSION || rc == LDAP_UNWILLING_TO_PERFORM
	    || rc == LDAP_PROTOCOL_ERROR) {
	    snprintf(s->err, sizeof(s->err), "%s: sync control not supported (%s)",
		     s->c->tenants[t].base, ldap_err2string(rc));
	    sy_stop(s);
	    return SY_NO_SYNCPROV;
	}
	if (rc != LDAP_SUCCESS) {
	    snprintf(s->err, sizeof(s->err), "%s: refresh failed: %s",
		     s->c->tenants[t].base, rc < 0 ? "connection lost" : ldap_err2string(rc));
	    goto fail;
	}
    }
    return 0;
fail:
    sy_stop(s);
    return -1;
}

/* Has libldap already read bytes that poll() on the socket cannot see? */
static int
buffered(LDAP *ld)
{
    Sockbuf *sb = NULL;

    if (ld == NULL || ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS
	|| sb == NULL)
	return 0;
    return ber_sockbuf_ctrl(sb, LBER_SB_OPT_DATA_READY, NULL) > 0;
}

int
sy_poll(struct syncer *s, int timeout_ms)
{
    struct pollfd *pf;
    size_t  t;
    unsigned long before = s->events;
    int     rc, any = 1;

    if ((pf = calloc(s->nsess, sizeof(*pf))) == NULL)
	return -1;
    /* First drain whatever libldap already buffered. */
    while (any) {
	any = 0;
	for (t = 0; t < s->nsess; t++) {
	    unsigned long ev = s->events;

	    rc = ldap_sync_poll(&s->sess[t].ls);
	    if (s->failed) {
		free(pf);
		return -1;
	    }
	    if (rc == LDAP_SYNC_REFRESH_REQUIRED || s->sess[t].refresh_required) {
		free(pf);
		sy_clear_cookies(s);
		return SY_REFRESH_REQUIRED;
	    }
	    if (rc < 0 || (rc > 0 && rc != LDAP_SUCCESS)) {
		snprintf(s->err, sizeof(s->err), "%s: %s", s->c->tenants[t].base,
			 rc < 0 ? "connection lost" : ldap_err2string(rc));
		free(pf);
		return -1;
	    }
	    if (s->events != ev || buffered(s->sess[t].ls.ls_ld))
		any = 1;
	}
	if (s->events - before > 10000)
	    break;		/* let the caller publish */
    }
    if (s->events != before || timeout_ms <= 0) {
	free(pf);
	return (int) (s->events - before);
    }
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
	return -1;
    }
    if (rc > 0)
	return sy_poll(s, 0);
    return 0;
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
    size_t  pos = 0;
    const char *k;

    while (htab_next(&s->changed, &pos, &k, NULL, NULL))
	free((char *) (uintptr_t) k);
    htab_free(&s->changed);
    htab_init(&s->changed, 256);
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

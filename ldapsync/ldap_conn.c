/*
 * ldap_conn.c - LDAP connect/failover/bind and paged full search
 *		 (see ldap_conn.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#include <ldap.h>

#include "compile.h"
#include "dn.h"
#include "ldap_conn.h"
#include "mono.h"

/* Read the bind password; strip one trailing newline. */
static int
read_secret(const char *path, char *buf, size_t len, char *err, size_t errlen)
{
    int     fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
	snprintf(err, errlen, "open bind_password_file %s: %s", path, strerror(errno));
	return (-1);
    }
    n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0) {
	snprintf(err, errlen, "read bind_password_file %s: %s", path, strerror(errno));
	return (-1);
    }
    buf[n] = 0;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
	buf[--n] = 0;
    return (0);
}

/* The secret read before the privilege drop (lc_keep_secret), if any. */
static char *kept_secret;

int
lc_keep_secret(const struct conf *c, char *err, size_t errlen)
{
    enum { SECRET_MAX = 1024 };
    void   *p;

    if (c->ldap.bind_dn == NULL || c->ldap.bind_password_file == NULL)
	return (0);
    if (kept_secret == NULL) {
	p = mmap(NULL, SECRET_MAX, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
	    snprintf(err, errlen, "mmap: %s", strerror(errno));
	    return (-1);
	}
	(void) mlock(p, SECRET_MAX);		/* best effort: not to swap */
	(void) madvise(p, SECRET_MAX, MADV_DONTDUMP);
	kept_secret = p;
    }
    return (read_secret(c->ldap.bind_password_file, kept_secret, SECRET_MAX,
		       err, errlen));
}

/*
 * libldap reads a message from a plain TCP connection with two read(2)s,
 * its header and then the rest, each after a poll(2): a full search of a
 * million entries costs three million system calls.  liblber's own
 * read-ahead layer (what libldap puts on CLDAP sockets) under the
 * protocol (and under TLS, when there is TLS) reads what has arrived, up
 * to READ_AHEAD bytes at a time, and tells libldap that buffered data is
 * ready.  Only for the bulk searches (the full search, the sync search's
 * refresh): on the memberURL connection, where small results trickle in
 * from several searches at once, it made the evaluation slower (100
 * groups at 100,000 people: 80-120 ms without, 125-150 ms with).
 * Without the layer everything still works, one read at a time.
 */
#define READ_AHEAD	(256 * 1024)

void
lc_read_ahead(LDAP *ld)
{
    Sockbuf *sb = NULL;
    int     size = READ_AHEAD;

    if (ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS || sb == NULL
	|| ber_sockbuf_ctrl(sb, LBER_SB_OPT_HAS_IO, &ber_sockbuf_io_readahead) > 0)
	return;
    (void) ber_sockbuf_add_io(sb, &ber_sockbuf_io_readahead, LBER_SBIOD_LEVEL_PROVIDER,
			      &size);
}

static LDAP *
connect_one(const struct conf *c, const char *uri, char *err, size_t errlen)
{
    LDAP   *ld = NULL;
    int     v3 = LDAP_VERSION3, rc, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0;
    struct timeval nt = {c->ldap.network_timeout, 0}, ot = {c->ldap.timeout, 0};
    char    pw[1024];
    struct berval cred;

    if ((rc = ldap_initialize(&ld, uri)) != LDAP_SUCCESS) {
	snprintf(err, errlen, "%s: %s", uri, ldap_err2string(rc));
	return (NULL);
    }
    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &nt);
    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &ot);
    ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
    if (c->ldap.ca_file)
	ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, c->ldap.ca_file);
    ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
    if (c->ldap.starttls && strncasecmp(uri, "ldaps:", 6) != 0) {
	if ((rc = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS) {
	    char   *diag = NULL;

	    ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	    if (diag && *diag == '(')
		*diag = 0;	/* "(unknown error code)" says nothing */
	    snprintf(err, errlen, "%s: StartTLS: %s%s%s%s", uri, ldap_err2string(rc),
		     diag && *diag ? " (" : "", diag && *diag ? diag : "",
		     diag && *diag ? ")" : "");
	    ldap_memfree(diag);
	    goto fail;
	}
    }
    if (c->ldap.bind_dn) {
	pw[0] = 0;
	if (kept_secret)
	    snprintf(pw, sizeof(pw), "%s", kept_secret);
	else if (c->ldap.bind_password_file
	    && read_secret(c->ldap.bind_password_file, pw, sizeof(pw), err, errlen) < 0)
	    goto fail;
	cred.bv_val = pw;
	cred.bv_len = strlen(pw);
	rc = ldap_sasl_bind_s(ld, c->ldap.bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	explicit_bzero(pw, sizeof(pw));
	if (rc != LDAP_SUCCESS) {
	    char   *diag = NULL;

	    ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	    if (diag && *diag == '(')
		*diag = 0;	/* "(unknown error code)" says nothing */
	    snprintf(err, errlen, "%s: bind as %s: %s%s%s", uri, c->ldap.bind_dn,
		     ldap_err2string(rc), diag && *diag ? " (" : "",
		     diag && *diag ? diag : "");
	    if (diag && *diag)
		strncat(err, ")", errlen - strlen(err) - 1);
	    ldap_memfree(diag);
	    goto fail;
	}
    } else {
	/* Anonymous: still check that the server answers. */
	cred.bv_val = NULL;
	cred.bv_len = 0;
	rc = ldap_sasl_bind_s(ld, NULL, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (rc != LDAP_SUCCESS) {
	    snprintf(err, errlen, "%s: anonymous bind: %s", uri, ldap_err2string(rc));
	    goto fail;
	}
    }
    return (ld);
fail:
    ldap_unbind_ext_s(ld, NULL, NULL);
    return (NULL);
}

LDAP   *
lc_connect(const struct conf *c, size_t *index, char *err, size_t errlen)
{
    size_t  i, k;
    LDAP   *ld;
    char    e1[512];
    size_t  off = 0;

    err[0] = 0;
    for (k = 0; k < c->ldap.nuris; k++) {
	i = (*index + k) % c->ldap.nuris;
	if ((ld = connect_one(c, c->ldap.uris[i], e1, sizeof(e1))) != NULL) {
	    *index = i;
	    return (ld);
	}
	if (off < errlen) {
	    int     n = snprintf(err + off, errlen - off, "%s%s", off ? "; " : "", e1);

	    if (n > 0)
		off += (size_t) n;
	}
    }
    return (NULL);
}

/* The group attributes (fixed names: the standard group classes and
 * fwdMailGroup) and their slots; objectClass only to tell groups apart. */
static const struct {
    const char *name;
    int	    slot;
} lc_group_attrs[] = {
    {"member", V_MEMBER},
    {"uniqueMember", V_MEMBER},
    {"memberURL", V_URL},
    {"fwdGroupSenderPolicy", V_POLICY},
    {"fwdGroupAllowedSender", V_ALLOWED},
    {"objectClass", V_GROUP},
};
#define LC_NGROUP_ATTRS	(sizeof(lc_group_attrs) / sizeof(lc_group_attrs[0]))

static int
is_group_class(const struct berval *bv)
{
    static const char *const cls[] = {"groupOfNames", "groupOfUniqueNames", "groupOfURLs"};
    size_t  i;

    for (i = 0; i < sizeof(cls) / sizeof(cls[0]); i++)
	if (bv->bv_len == strlen(cls[i]) && strncasecmp(bv->bv_val, cls[i], bv->bv_len) == 0)
	    return (1);
    return (0);
}

char  **
lc_attrs(const struct conf *c)
{
    static char *attrs[16];
    size_t  n = 0, i;

    attrs[n++] = c->ldap.attrs.mail;
    attrs[n++] = c->ldap.attrs.alias;
    attrs[n++] = c->ldap.attrs.location;
    attrs[n++] = c->ldap.attrs.host;
    attrs[n++] = c->ldap.attrs.forward;
    attrs[n++] = (char *) (uintptr_t) "entryUUID";
    for (i = 0; i < LC_NGROUP_ATTRS; i++)
	attrs[n++] = (char *) (uintptr_t) lc_group_attrs[i].name;
    attrs[n] = NULL;
    return (attrs);
}

char   *
lc_filter(const struct conf *c, size_t t)
{
    char   *f = NULL;

    if (c->tenants[t].filter)
	(void) !asprintf(&f, "(&(objectClass=%s)%s)", c->ldap.attrs.object_class,
			 c->tenants[t].filter);
    else
	(void) !asprintf(&f, "(objectClass=%s)", c->ldap.attrs.object_class);
    return (f);
}

/* A value as a C string; NUL bytes make it invalid (replaced by 0x01). */
static char *
bv_str(const struct berval *bv)
{
    char   *s = malloc(bv->bv_len + 1);
    size_t  i;

    if (s == NULL)
	return (NULL);
    for (i = 0; i < bv->bv_len; i++)
	s[i] = bv->bv_val[i] ? bv->bv_val[i] : '\x01';
    s[bv->bv_len] = 0;
    return (s);
}

struct ent *
lc_entry(const struct conf *c, LDAP *ld, LDAPMessage *m,
	 const unsigned char *uuid, char *err, size_t errlen)
{
    struct berval bdn = {0, NULL};
    BerElement *ber = NULL;
    struct ent *e;

    if (ldap_get_dn_ber(ld, m, &ber, &bdn) != LDAP_SUCCESS || bdn.bv_val == NULL) {
	snprintf(err, errlen, "entry without DN");
	if (ber)
	    ber_free(ber, 0);
	return (NULL);
    }
    e = lc_entry_ber(c, ber, &bdn, uuid, err, errlen);
    ber_free(ber, 0);
    return (e);
}

struct ent *
lc_entry_decode(const struct conf *c, const struct berval *op,
		const unsigned char *uuid, char *err, size_t errlen)
{
    struct berval bdn = {0, NULL};
    BerElement *ber;
    ber_len_t len = 0;
    struct ent *e = NULL;

    if (op->bv_len == 0 || op->bv_val == NULL) {	/* see sy_ber_init() */
	snprintf(err, errlen, "entry without DN");
	return (NULL);
    }
    if ((ber = ber_init((struct berval *) (uintptr_t) op)) == NULL) {
	snprintf(err, errlen, "out of memory");
	return (NULL);
    }
    /* Where ldap_get_dn_ber() leaves an entry: inside its attribute
     * list, which is all that remains to be read. */
    if (ber_scanf(ber, "{ml{", &bdn, &len) == LBER_ERROR || bdn.bv_val == NULL
	|| ber_set_option(ber, LBER_OPT_REMAINING_BYTES, &len) != LBER_OPT_SUCCESS)
	snprintf(err, errlen, "entry without DN");
    else
	e = lc_entry_ber(c, ber, &bdn, uuid, err, errlen);
    ber_free(ber, 1);
    return (e);
}

struct ent *
lc_entry_ber(const struct conf *c, BerElement *ber, const struct berval *bdn,
	     const unsigned char *uuid, char *err, size_t errlen)
{
    const char *names[V_FWD + 1] = {c->ldap.attrs.mail, c->ldap.attrs.alias,
	c->ldap.attrs.location, c->ldap.attrs.host, c->ldap.attrs.forward};
    char  **vals[V_NUM] = {0};
    size_t  nvals[V_NUM] = {0}, k, i;
    unsigned char u[16];
    char   *dn = NULL;
    struct berval attr, *bv = NULL;
    struct ent *e = NULL;
    int     have_uuid = uuid != NULL, bad = 0;
    ber_len_t len;

    if (uuid)
	memcpy(u, uuid, 16);
    if ((dn = bv_str(bdn)) == NULL) {
	snprintf(err, errlen, "out of memory");
	return (NULL);
    }
    /*
     * Walk the attributes in the order the server sent them, reading each
     * one's own values.  An entry may carry the same attribute twice (slapd
     * keeps what slapadd was given, e.g. an LDIF with its fwdMailAlias
     * lines apart): the values of every occurrence count.  (Looking the
     * values up by name, as ldap_get_values_len() does, finds only the
     * first occurrence.)  Each PartialAttribute is read as
     * ldap_get_attribute_ber() reads it, up to the end of the list.
     */
    while (ber_peek_tag(ber, &len) != LBER_DEFAULT) {
	size_t  n = 0;

	if (ber_scanf(ber, "{mW}", &attr, &bv) == LBER_ERROR) {
	    bad = 1;
	    break;
	}
	while (bv && bv[n].bv_val != NULL)
	    n++;
	if (attr.bv_len == 9 && strncasecmp(attr.bv_val, "entryUUID", 9) == 0) {
	    if (!uuid && n == 1) {
		char   *s = bv_str(&bv[0]);

		if (s && uuid_parse(s, u) == 0)
		    have_uuid = 1;
		free(s);
	    }
	} else {
	    size_t  slot = V_NUM, gi;

	    for (k = 0; k < V_FWD + 1; k++)
		if (strlen(names[k]) == attr.bv_len
		    && strncasecmp(attr.bv_val, names[k], attr.bv_len) == 0)
		    slot = k;
	    for (gi = 0; slot == V_NUM && gi < LC_NGROUP_ATTRS; gi++)
		if (strlen(lc_group_attrs[gi].name) == attr.bv_len
		    && strncasecmp(attr.bv_val, lc_group_attrs[gi].name, attr.bv_len) == 0)
		    slot = (size_t) lc_group_attrs[gi].slot;
	    for (k = slot; k < V_NUM; k = V_NUM) {
		char  **nv;

		if ((nv = realloc(vals[k], (nvals[k] + n + 1) * sizeof(char *))) == NULL)
		    break;
		vals[k] = nv;
		for (i = 0; i < n; i++)
		    if ((k != V_GROUP || is_group_class(&bv[i]))
			&& (vals[k][nvals[k]] = bv_str(&bv[i])) != NULL)
			nvals[k]++;
		vals[k][nvals[k]] = NULL;
		break;
	    }
	}
	ber_bvarray_free(bv);
	bv = NULL;
    }
    if (bad)			/* never half an entry */
	snprintf(err, errlen, "%s: undecodable attribute list: %s", dn,
		 ldap_err2string(LDAP_DECODING_ERROR));
    else if (!have_uuid)
	snprintf(err, errlen, "%s: no entryUUID: the bind DN may not read it"
		 " (a directory ACL that grants the routing attributes must"
		 " also grant entryUUID, entryCSN and entry; see install.md)", dn);
    else if ((e = ent_new(u, dn, (char **const *) vals, nvals)) == NULL)
	snprintf(err, errlen, "out of memory");
    for (k = 0; k < V_NUM; k++) {
	for (i = 0; i < nvals[k]; i++)
	    free(vals[k][i]);
	free(vals[k]);
    }
    free(dn);
    return (e);
}

static int
search_tenant(const struct conf *c, LDAP *ld, size_t t, struct state *st,
	      char *err, size_t errlen)
{
    struct berval *cookie = NULL;
    char   *filter = lc_filter(c, t);
    int     ret = -1, rc, msgid, done = 0;
    struct timeval tv = {c->ldap.timeout, 0};

    if (filter == NULL) {
	snprintf(err, errlen, "out of memory");
	return (-1);
    }
    while (!done) {
	LDAPControl *pc = NULL, *sctrls[2] = {NULL, NULL}, **rctrls = NULL;
	LDAPMessage *res = NULL, *m;
	int     err_code = 0, finished = 0;
	ber_int_t total;
	struct berval *nc = NULL;

	if ((rc = ldap_create_page_control(ld, c->ldap.page_size, cookie, 1, &pc)) != LDAP_SUCCESS) {
	    snprintf(err, errlen, "paged results control: %s", ldap_err2string(rc));
	    goto out;
	}
	sctrls[0] = pc;
	rc = ldap_search_ext(ld, c->tenants[t].base, LDAP_SCOPE_SUBTREE, filter,
			     lc_attrs(c), 0, sctrls, NULL, NULL, LDAP_NO_LIMIT, &msgid);
	ldap_control_free(pc);
	if (rc != LDAP_SUCCESS) {
	    snprintf(err, errlen, "search %s: %s", c->tenants[t].base, ldap_err2string(rc));
	    goto out;
	}
	while (!finished) {
	    rc = ldap_result(ld, msgid, LDAP_MSG_ONE, &tv, &res);
	    if (rc <= 0) {
		if (rc == 0)
		    ldap_abandon_ext(ld, msgid, NULL, NULL);
		snprintf(err, errlen, "search %s: %s", c->tenants[t].base,
			 rc == 0 ? "timed out" : "connection lost");
		goto out;
	    }
	    for (m = ldap_first_message(ld, res); m; m = ldap_next_message(ld, m)) {
		int     type = ldap_msgtype(m);

		if (type == LDAP_RES_SEARCH_ENTRY) {
		    struct ent *e = lc_entry(c, ld, m, NULL, err, errlen);

		    if (e == NULL) {
			ldap_msgfree(res);
			goto out;
		    }
		    comp_validate(c, e);
		    if (state_put(st, e) < 0) {
			snprintf(err, errlen, "out of memory");
			ldap_msgfree(res);
			goto out;
		    }
		} else if (type == LDAP_RES_SEARCH_RESULT) {
		    finished = 1;
		    rc = ldap_parse_result(ld, m, &err_code, NULL, NULL, NULL, &rctrls, 0);
		    if (rc != LDAP_SUCCESS || err_code != LDAP_SUCCESS) {
			snprintf(err, errlen, "search %s: %s", c->tenants[t].base,
				 ldap_err2string(rc != LDAP_SUCCESS ? rc : err_code));
			ldap_controls_free(rctrls);
			ldap_msgfree(res);
			goto out;
		    }
		}
	    }
	    ldap_msgfree(res);
	    res = NULL;
	}
	{
	    LDAPControl *prc = rctrls ? ldap_control_find(LDAP_CONTROL_PAGEDRESULTS,
							  rctrls, NULL) : NULL;
	    struct berval cv = {0, NULL};

	    if (prc && ldap_parse_pageresponse_control(ld, prc, &total, &cv) == LDAP_SUCCESS) {
		if ((nc = ber_memalloc(sizeof(*nc))) != NULL)
		    *nc = cv;
		else
		    ber_memfree(cv.bv_val);
	    } else
		prc = NULL;
	    if (prc == NULL) {
		ldap_controls_free(rctrls);
		snprintf(err, errlen, "search %s: server did not return a paged results"
			 " control", c->tenants[t].base);
		goto out;
	    }
	}
	ldap_controls_free(rctrls);
	if (cookie)
	    ber_bvfree(cookie);
	cookie = nc;
	done = (cookie == NULL || cookie->bv_len == 0);
    }
    ret = 0;
out:
    if (cookie)
	ber_bvfree(cookie);
    free(filter);
    return (ret);
}

int
lc_full_search(const struct conf *c, LDAP *ld, struct state *st,
	       char *err, size_t errlen)
{
    size_t  t;

    lc_read_ahead(ld);
    for (t = 0; t < c->ntenants; t++)
	if (search_tenant(c, ld, t, st, err, errlen) < 0)
	    return (-1);
    return (0);
}

/*
 * conf.c - load and validate the fwdmap.json configuration (see conf.h
 *	    and fwdmap.json(5)).
 *
 * DESCRIPTION
 *	The file is parsed with jansson.  Every object is checked against
 *	the list of keys it may hold: an unknown key is an error naming the
 *	file and the full key path ("ldap.atributes"), so that a typo never
 *	silently turns into a default.  Values are type- and range-checked,
 *	defaults are filled in, and the cross-references are validated:
 *	domains belong to exactly one tenant, every "domains" entry names an
 *	owned domain, default locations name configured stores, transports
 *	and listen addresses are well-formed.
 *
 * DIAGNOSTICS
 *	conf_load() returns NULL and writes one message to err.  Nothing
 *	here prints or exits.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "addr.h"
#include "conf.h"
#include "dn.h"

struct cctx {
    const char *path;
    char   *err;
    size_t  errlen;
    int     failed;
};

/* Record the first error: "FILE: KEY: message". */
static void __attribute__((format(printf, 3, 4)))
conf_err(struct cctx *x, const char *key, const char *fmt, ...)
{
    va_list ap;
    size_t  n;
    int     r;

    if (x->failed)
	return;
    x->failed = 1;
    if (x->err == NULL || x->errlen == 0)
	return;
    r = snprintf(x->err, x->errlen, "%s: %s%s", x->path, key ? key : "",
		 key ? ": " : "");
    n = (r < 0) ? 0 : (size_t) r;
    if (n >= x->errlen)
	return;
    va_start(ap, fmt);
    vsnprintf(x->err + n, x->errlen - n, fmt, ap);
    va_end(ap);
}

/* Join a key path: "ldap" + "uris" -> "ldap.uris". */
static void
kpath(char *buf, size_t len, const char *prefix, const char *key)
{
    if (prefix && *prefix)
	snprintf(buf, len, "%s.%s", prefix, key);
    else
	snprintf(buf, len, "%s", key);
}

static char *
xstrdup(struct cctx *x, const char *s)
{
    char   *p;

    if (s == NULL)
	return (NULL);
    if ((p = strdup(s)) == NULL)
	conf_err(x, NULL, "out of memory");
    return (p);
}

static void
fold(char *s)
{
    for (; s && *s; s++)
	if (*s >= 'A' && *s <= 'Z')
	    *s = (char) (*s - 'A' + 'a');
}

/* Reject keys of obj that are not in the NULL-terminated list. */
static void
check_keys(struct cctx *x, json_t *obj, const char *prefix,
	   const char *const *allowed)
{
    const char *key;
    json_t *val;
    size_t  i;
    char    kp[512];

    json_object_foreach(obj, key, val) {
	for (i = 0; allowed[i]; i++)
	    if (strcmp(allowed[i], key) == 0)
		break;
	if (allowed[i] == NULL) {
	    kpath(kp, sizeof(kp), prefix, key);
	    conf_err(x, kp, "unknown key");
	    return;
	}
    }
}

/* Optional object member; error when present but not an object. */
static json_t *
get_obj(struct cctx *x, json_t *obj, const char *prefix, const char *key)
{
    json_t *v = json_object_get(obj, key);
    char    kp[512];

    if (v == NULL || json_is_null(v))
	return (NULL);
    if (!json_is_object(v)) {
	kpath(kp, sizeof(kp), prefix, key);
	conf_err(x, kp, "must be an object");
	return (NULL);
    }
    return (v);
}

/* String member: *out = copy, or copy of dflt when absent. */
static void
get_str(struct cctx *x, json_t *obj, const char *prefix, const char *key,
	int required, const char *dflt, char **out)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    char    kp[512];

    kpath(kp, sizeof(kp), prefix, key);
    if (v == NULL || json_is_null(v)) {
	if (required)
	    conf_err(x, kp, "required key is missing");
	*out = xstrdup(x, dflt);
	return;
    }
    if (!json_is_string(v)) {
	conf_err(x, kp, "must be a string");
	return;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
	conf_err(x, kp, "must not contain NUL characters");
	return;
    }
    *out = xstrdup(x, json_string_value(v));
}

static void
get_int(struct cctx *x, json_t *obj, const char *prefix, const char *key,
	long min, long max, long dflt, long *out)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    char    kp[512];
    json_int_t n;

    *out = dflt;
    if (v == NULL || json_is_null(v))
	return;
    kpath(kp, sizeof(kp), prefix, key);
    if (!json_is_integer(v)) {
	conf_err(x, kp, "must be an integer");
	return;
    }
    n = json_integer_value(v);
    if (n < min || n > max) {
	conf_err(x, kp, "must be between %ld and %ld", min, max);
	return;
    }
    *out = (long) n;
}

static void
get_iint(struct cctx *x, json_t *obj, const char *prefix, const char *key,
	 long min, long max, long dflt, int *out)
{
    long    l;

    get_int(x, obj, prefix, key, min, max, dflt, &l);
    *out = (int) l;
}

static void
get_bool(struct cctx *x, json_t *obj, const char *prefix, const char *key,
	 int dflt, int *out)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    char    kp[512];

    *out = dflt;
    if (v == NULL || json_is_null(v))
	return;
    if (!json_is_boolean(v)) {
	kpath(kp, sizeof(kp), prefix, key);
	conf_err(x, kp, "must be true or false");
	return;
    }
    *out = json_is_true(v);
}

/* Array of strings. */
static void
get_strv(struct cctx *x, json_t *obj, const char *prefix, const char *key,
	 int required, char ***out, size_t *n)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    json_t *e;
    size_t  i;
    char    kp[512];

    *out = NULL;
    *n = 0;
    kpath(kp, sizeof(kp), prefix, key);
    if (v == NULL || json_is_null(v)) {
	if (required)
	    conf_err(x, kp, "required key is missing");
	return;
    }
    if (!json_is_array(v)) {
	conf_err(x, kp, "must be an array of strings");
	return;
    }
    if (json_array_size(v) == 0) {
	if (required)
	    conf_err(x, kp, "must not be empty");
	return;
    }
    if ((*out = calloc(json_array_size(v), sizeof(char *))) == NULL) {
	conf_err(x, NULL, "out of memory");
	return;
    }
    json_array_foreach(v, i, e) {
	if (!json_is_string(e)
	    || strlen(json_string_value(e)) != json_string_length(e)) {
	    conf_err(x, kp, "element %zu must be a string", i);
	    return;
	}
	(*out)[i] = xstrdup(x, json_string_value(e));
	*n = i + 1;
    }
}

/*
 * Syntax checks.  Domains and hosts are addr.c's rules (addr_valid_domain,
 * addr_valid_host), the same that ldapsync applies to the directory.
 */

/*
 * A Postfix transport "name:nexthop": name of [a-z0-9_-], nexthop
 * non-empty printable without spaces or commas (commas and spaces would
 * let a value smuggle extra entries into a Postfix list).
 */
int
conf_transport_valid(const char *s, const char **why)
{
    const char *colon = strchr(s, ':');
    const char *p;

    if (colon == NULL || colon == s) {
	if (why)
	    *why = "transport must look like \"name:nexthop\"";
	return (0);
    }
    for (p = s; p < colon; p++)
	if (!(isalnum((unsigned char) *p) || *p == '-' || *p == '_')) {
	    if (why)
		*why = "bad character in transport name";
	    return (0);
	}
    if (colon[1] == '\0') {
	if (why)
	    *why = "transport next hop is empty";
	return (0);
    }
    for (p = colon + 1; *p; p++)
	if (!isgraph((unsigned char) *p) || *p == ',') {
	    if (why)
		*why = "bad character in transport next hop";
	    return (0);
	}
    if (strlen(s) > 512) {
	if (why)
	    *why = "transport too long";
	return (0);
    }
    return (1);
}

/* "unix:/abs/path" or "inet:host:port". */
static int
valid_listen(const char *s, const char **why)
{
    if (strncmp(s, "unix:", 5) == 0) {
	if (s[5] != '/') {
	    *why = "unix: needs an absolute path";
	    return (0);
	}
	if (strlen(s + 5) >= 108) {
	    *why = "unix socket path too long";
	    return (0);
	}
	return (1);
    }
    if (strncmp(s, "inet:", 5) == 0) {
	const char *hp = s + 5;
	const char *colon = strrchr(hp, ':');
	char   *e;
	long    port;

	if (colon == NULL || colon == hp) {
	    *why = "inet: needs host:port";
	    return (0);
	}
	errno = 0;
	port = strtol(colon + 1, &e, 10);
	if (colon[1] == 0 || *e || errno || port < 1 || port > 65535) {
	    *why = "inet: port must be 1-65535";
	    return (0);
	}
	if (addr_valid_host(hp, strlen(hp), NULL, NULL, NULL, NULL) < 0
	    && !(colon - hp == 9 && strncmp(hp, "localhost", 9) == 0)) {
	    *why = "inet: bad host (an IP address, [IPv6] or a domain name)";
	    return (0);
	}
	return (1);
    }
    *why = "must be \"unix:/path\" or \"inet:host:port\"";
    return (0);
}

/* SECTION.metrics_listen: absent (no metrics), or "inet:HOST:PORT". */
static void
get_metrics_listen(struct cctx *x, json_t *s, const char *section, char **out)
{
    const char *why;
    char    key[64];

    get_str(x, s, section, "metrics_listen", 0, NULL, out);
    if (x->failed || *out == NULL)
	return;
    snprintf(key, sizeof(key), "%s.metrics_listen", section);
    if (strncmp(*out, "inet:", 5) != 0)
	conf_err(x, key, "\"%s\": must be \"inet:HOST:PORT\" (Prometheus"
		 " scrapes over TCP), e.g. \"inet:127.0.0.1:9489\"", *out);
    else if (!valid_listen(*out, &why))
	conf_err(x, key, "\"%s\": %s", *out, why);
}

/* An LDAP attribute description or object class name. */
static int
valid_attr(const char *s)
{
    const char *p;

    if (!isalpha((unsigned char) *s))
	return (0);
    for (p = s; *p; p++)
	if (!(isalnum((unsigned char) *p) || *p == '-'))
	    return (0);
    return (p - s < 128);
}

/* An LDAP filter: starts with '(' and its parentheses balance. */
static int
valid_filter(const char *s)
{
    int     depth = 0;
    const char *p;

    if (*s != '(')
	return (0);
    for (p = s; *p; p++) {
	if (*p == '(')
	    depth++;
	else if (*p == ')') {
	    if (--depth < 0)
		return (0);
	    if (depth == 0 && p[1] != 0)
		return (0);
	} else if (*p == '\\') {
	    if (!isxdigit((unsigned char) p[1]) || !isxdigit((unsigned char) p[2]))
		return (0);
	    p += 2;
	}
    }
    return (depth == 0);
}

static const char *const top_keys[] = {
    "maps_dir", "recipient_delimiter", "propagate_extensions", "ldap", "stores",
    "tenants", "domains", "safety", "ldapsync", "fwdmapd", "srs", "comment", NULL
};
static const char *const ldap_keys[] = {
    "uris", "bind_dn", "bind_password_file", "starttls", "ca_file",
    "timeout", "network_timeout", "page_size", "sync", "poll_interval",
    "attributes", NULL
};
static const char *const attr_keys[] = {
    "mail", "alias", "location", "host", "forward", "object_class", NULL
};
static const char *const tenant_keys[] = {
    "base", "filter", "domains", "allowed_hosts", "default_location", NULL
};
static const char *const domain_keys[] = {
    "default_route", "unknown_recipients", NULL
};
static const char *const safety_keys[] = {
    "max_removed", "max_removed_percent", "allow_mass_removal", NULL
};
static const char *const ldapsync_keys[] = {
    "state_dir", "report_file", "batch_delay_ms", "max_forwards",
    "compact_records", "user", "group_url_interval", "metrics_listen", NULL
};
static const char *const fwdmapd_keys[] = {
    "listen", "user", "socket_group", "socket_mode", "control",
    "max_connections", "idle_timeout", "request_timeout", "max_request",
    "reload_check_ms", "metrics_listen",
    "policy_listen",
    NULL
};

static const char *const srs_keys[] = {
    "domain", "secrets_file", "max_age_days", "hash_length", "pass_address",
    NULL
};

static void
load_ldap(struct cctx *x, struct conf *c, json_t *root)
{
    json_t *l = get_obj(x, root, "", "ldap");
    json_t *a;
    struct conf_ldap *L = &c->ldap;
    size_t  i;
    char    kp[64];

    if (l == NULL && !x->failed) {
	conf_err(x, "ldap", "required key is missing");
	return;
    }
    if (x->failed)
	return;
    check_keys(x, l, "ldap", ldap_keys);
    get_strv(x, l, "ldap", "uris", 1, &L->uris, &L->nuris);
    for (i = 0; !x->failed && i < L->nuris; i++) {
	const char *u = L->uris[i];

	if (strncmp(u, "ldap://", 7) && strncmp(u, "ldaps://", 8)
	    && strncmp(u, "ldapi://", 8)) {
	    snprintf(kp, sizeof(kp), "ldap.uris[%zu]", i);
	    conf_err(x, kp, "\"%s\" is not an ldap://, ldaps:// or ldapi:// URI", u);
	}
	if (strpbrk(u, " \t,")) {
	    snprintf(kp, sizeof(kp), "ldap.uris[%zu]", i);
	    conf_err(x, kp, "one URI per element, without spaces or commas");
	}
    }
    get_str(x, l, "ldap", "bind_dn", 0, NULL, &L->bind_dn);
    get_str(x, l, "ldap", "bind_password_file", 0, NULL, &L->bind_password_file);
    if (!x->failed && L->bind_password_file && L->bind_password_file[0] != '/')
	conf_err(x, "ldap.bind_password_file", "must be an absolute path");
    if (!x->failed && L->bind_password_file && L->bind_dn == NULL)
	conf_err(x, "ldap.bind_password_file", "needs ldap.bind_dn");
    if (!x->failed && L->bind_dn && L->bind_password_file == NULL)
	conf_err(x, "ldap.bind_dn", "needs ldap.bind_password_file (a simple"
		 " bind with a DN and no password is an unauthenticated bind;"
		 " leave both out for an anonymous bind)");
    get_bool(x, l, "ldap", "starttls", 0, &L->starttls);
    get_str(x, l, "ldap", "ca_file", 0, NULL, &L->ca_file);
    get_iint(x, l, "ldap", "timeout", 1, 3600, 30, &L->timeout);
    get_iint(x, l, "ldap", "network_timeout", 1, 600, 5, &L->network_timeout);
    get_iint(x, l, "ldap", "page_size", 1, 1000000, 1000, &L->page_size);
    get_str(x, l, "ldap", "sync", 0, "auto", &L->sync);
    if (!x->failed && strcmp(L->sync, "auto") && strcmp(L->sync, "refreshAndPersist")
	&& strcmp(L->sync, "poll"))
	conf_err(x, "ldap.sync", "must be \"auto\", \"refreshAndPersist\" or \"poll\"");
    get_iint(x, l, "ldap", "poll_interval", 1, 86400, 300, &L->poll_interval);

    a = get_obj(x, l, "ldap", "attributes");
    if (a)
	check_keys(x, a, "ldap.attributes", attr_keys);
    get_str(x, a, "ldap.attributes", "mail", 0, "mail", &L->attrs.mail);
    get_str(x, a, "ldap.attributes", "alias", 0, "fwdMailAlias", &L->attrs.alias);
    get_str(x, a, "ldap.attributes", "location", 0, "fwdMailboxLocation", &L->attrs.location);
    get_str(x, a, "ldap.attributes", "host", 0, "fwdMailHost", &L->attrs.host);
    get_str(x, a, "ldap.attributes", "forward", 0, "fwdForwardAddress", &L->attrs.forward);
    get_str(x, a, "ldap.attributes", "object_class", 0, "fwdMailRecipient",
	    &L->attrs.object_class);
    if (!x->failed) {
	const char *names[] = {"mail", "alias", "location", "host", "forward",
	"object_class"};
	char   *vals[] = {L->attrs.mail, L->attrs.alias, L->attrs.location,
	L->attrs.host, L->attrs.forward, L->attrs.object_class};

	for (i = 0; i < 6; i++)
	    if (!valid_attr(vals[i])) {
		snprintf(kp, sizeof(kp), "ldap.attributes.%s", names[i]);
		conf_err(x, kp, "\"%s\" is not an LDAP attribute name", vals[i]);
	    }
    }
}

static void
load_stores(struct cctx *x, struct conf *c, json_t *root)
{
    json_t *s = get_obj(x, root, "", "stores");
    const char *key, *why;
    json_t *v;
    char    kp[512];

    if (s == NULL || x->failed)
	return;
    if ((c->stores = calloc(json_object_size(s) + 1, sizeof(*c->stores))) == NULL) {
	conf_err(x, NULL, "out of memory");
	return;
    }
    json_object_foreach(s, key, v) {
	struct conf_store *st = &c->stores[c->nstores];

	kpath(kp, sizeof(kp), "stores", key);
	if (!valid_attr(key) || strcmp(key, "external") == 0
	    || strcmp(key, "none") == 0) {
	    conf_err(x, kp, "bad store name (letters, digits, '-'; not \"external\" or \"none\")");
	    return;
	}
	if (!json_is_string(v)) {
	    conf_err(x, kp, "must be a transport string");
	    return;
	}
	if (!conf_transport_valid(json_string_value(v), &why)) {
	    conf_err(x, kp, "%s", why);
	    return;
	}
	st->name = xstrdup(x, key);
	st->transport = xstrdup(x, json_string_value(v));
	c->nstores++;
    }
}

static int
domain_owner(const struct conf *c, size_t upto, const char *dom, size_t *ti)
{
    size_t  i, j;

    for (i = 0; i < upto; i++)
	for (j = 0; j < c->tenants[i].ndomains; j++)
	    if (c->tenants[i].domains[j] && strcmp(c->tenants[i].domains[j], dom) == 0) {
		if (ti)
		    *ti = i;
		return (1);
	    }
    return (0);
}

static void
load_tenants(struct cctx *x, struct conf *c, json_t *root)
{
    json_t *t = get_obj(x, root, "", "tenants");
    const char *key, *why = NULL;
    json_t *v;
    size_t  j, k, owner;
    char    kp[512];

    if (x->failed)
	return;
    if (t == NULL || json_object_size(t) == 0) {
	conf_err(x, "tenants", "at least one tenant is required");
	return;
    }
    if ((c->tenants = calloc(json_object_size(t), sizeof(*c->tenants))) == NULL) {
	conf_err(x, NULL, "out of memory");
	return;
    }
    json_object_foreach(t, key, v) {
	struct conf_tenant *tn = &c->tenants[c->ntenants];

	kpath(kp, sizeof(kp), "tenants", key);
	if (!json_is_object(v)) {
	    conf_err(x, kp, "must be an object");
	    return;
	}
	if (!valid_attr(key)) {
	    conf_err(x, kp, "bad tenant name (letters, digits, '-')");
	    return;
	}
	check_keys(x, v, kp, tenant_keys);
	tn->name = xstrdup(x, key);
	c->ntenants++;
	get_str(x, v, kp, "base", 1, NULL, &tn->base);
	if (!x->failed) {
	    /* One spelling, so that entries compare against it and the
	     * configuration fingerprint does not depend on spaces. */
	    char   *n = dn_normalize(tn->base);

	    if (n == NULL)
		conf_err(x, kp, "base: \"%s\" is not a DN (RFC 4514, e.g."
			 " \"ou=people,dc=example,dc=org\")", tn->base);
	    free(tn->base);
	    tn->base = n;
	}
	get_str(x, v, kp, "filter", 0, NULL, &tn->filter);
	if (!x->failed && tn->filter && !valid_filter(tn->filter))
	    conf_err(x, kp, "filter: \"%s\" is not a parenthesised LDAP filter",
		     tn->filter);
	get_strv(x, v, kp, "domains", 1, &tn->domains, &tn->ndomains);
	for (j = 0; !x->failed && j < tn->ndomains; j++) {
	    fold(tn->domains[j]);
	    if (addr_valid_domain(tn->domains[j], strlen(tn->domains[j]), &why) < 0) {
		conf_err(x, kp, "domains: \"%s\" is not a domain name (%s)",
			 tn->domains[j], why);
		break;
	    }
	    for (k = 0; k < j; k++)
		if (strcmp(tn->domains[k], tn->domains[j]) == 0)
		    conf_err(x, kp, "domains: \"%s\" listed twice", tn->domains[j]);
	    /* Disjoint ownership: look at the tenants loaded before. */
	    if (domain_owner(c, c->ntenants - 1, tn->domains[j], &owner))
		conf_err(x, kp, "domains: \"%s\" is already owned by tenant \"%s\""
			 " (tenants must own disjoint domains)",
			 tn->domains[j], c->tenants[owner].name);
	}
	get_strv(x, v, kp, "allowed_hosts", 0, &tn->allowed_hosts, &tn->nallowed_hosts);
	for (j = 0; !x->failed && j < tn->nallowed_hosts; j++) {
	    fold(tn->allowed_hosts[j]);
	    if (addr_valid_host(tn->allowed_hosts[j], strlen(tn->allowed_hosts[j]),
				NULL, NULL, NULL, &why) < 0)
		conf_err(x, kp, "allowed_hosts: \"%s\" is not a host name (%s)",
			 tn->allowed_hosts[j], why);
	}
	get_str(x, v, kp, "default_location", 0, NULL, &tn->default_location);
	/* "external" (LASER sites: mailHost alone routes) and "none" too */
	if (!x->failed && tn->default_location
	    && strcmp(tn->default_location, "external") != 0
	    && strcmp(tn->default_location, "none") != 0
	    && conf_store(c, tn->default_location) == NULL)
	    conf_err(x, kp, "default_location: \"%s\" is not a configured store,"
		     " \"external\" or \"none\"", tn->default_location);
	if (x->failed)
	    return;
    }
}

static void
load_domains(struct cctx *x, struct conf *c, json_t *root)
{
    json_t *d = get_obj(x, root, "", "domains");
    const char *key, *why;
    json_t *v;
    size_t  i, j, n = 0, ti;
    char    kp[512], *un = NULL, *name;

    if (x->failed)
	return;
    for (i = 0; i < c->ntenants; i++)
	n += c->tenants[i].ndomains;
    if ((c->domains = calloc(n + 1, sizeof(*c->domains))) == NULL) {
	conf_err(x, NULL, "out of memory");
	return;
    }
    for (i = 0; i < c->ntenants; i++)
	for (j = 0; j < c->tenants[i].ndomains; j++) {
	    struct conf_domain *cd = &c->domains[c->ndomains++];

	    cd->name = xstrdup(x, c->tenants[i].domains[j]);
	    cd->tenant = xstrdup(x, c->tenants[i].name);
	    cd->unknown = CONF_UNKNOWN_REJECT;
	}
    if (d == NULL)
	return;
    json_object_foreach(d, key, v) {
	struct conf_domain *cd;

	kpath(kp, sizeof(kp), "domains", key);
	if (!json_is_object(v)) {
	    conf_err(x, kp, "must be an object");
	    return;
	}
	check_keys(x, v, kp, domain_keys);
	if (x->failed)
	    return;
	if ((name = xstrdup(x, key)) == NULL)
	    return;
	fold(name);
	if (!domain_owner(c, c->ntenants, name, &ti)) {
	    conf_err(x, kp, "domain is not owned by any tenant (add it to a tenant's \"domains\")");
	    free(name);
	    return;
	}
	for (cd = c->domains; strcmp(cd->name, name) != 0; cd++)
	     /* void */ ;
	free(name);
	get_str(x, v, kp, "default_route", 0, NULL, &cd->default_route);
	if (!x->failed && cd->default_route
	    && !conf_transport_valid(cd->default_route, &why))
	    conf_err(x, kp, "default_route: %s", why);
	get_str(x, v, kp, "unknown_recipients", 0, "reject", &un);
	if (!x->failed) {
	    if (strcmp(un, "reject") == 0)
		cd->unknown = CONF_UNKNOWN_REJECT;
	    else if (strcmp(un, "route") == 0)
		cd->unknown = CONF_UNKNOWN_ROUTE;
	    else
		conf_err(x, kp, "unknown_recipients: must be \"reject\" or \"route\"");
	}
	free(un);
	un = NULL;
	if (!x->failed && cd->unknown == CONF_UNKNOWN_ROUTE && cd->default_route == NULL)
	    conf_err(x, kp, "unknown_recipients \"route\" needs a default_route");
	if (x->failed)
	    return;
    }
}

static void
load_safety(struct cctx *x, struct conf *c, json_t *root)
{
    json_t *s = get_obj(x, root, "", "safety");
    json_t *p;

    if (s)
	check_keys(x, s, "safety", safety_keys);
    get_int(x, s, "safety", "max_removed", 0, LONG_MAX, 500, &c->safety.max_removed);
    c->safety.max_removed_percent = 10;
    p = s ? json_object_get(s, "max_removed_percent") : NULL;
    if (p && !json_is_null(p)) {
	if (!json_is_number(p))
	    conf_err(x, "safety.max_removed_percent", "must be a number");
	else if (json_number_value(p) < 0 || json_number_value(p) > 100)
	    conf_err(x, "safety.max_removed_percent", "must be between 0 and 100");
	else
	    c->safety.max_removed_percent = json_number_value(p);
    }
    get_bool(x, s, "safety", "allow_mass_removal", 0, &c->safety.allow_mass_removal);
}

static void
load_ldapsync(struct cctx *x, struct conf *c, json_t *root)
{
    json_t *s = get_obj(x, root, "", "ldapsync");
    struct conf_ldapsync *L = &c->ldapsync;
    char    buf[4096];

    if (s)
	check_keys(x, s, "ldapsync", ldapsync_keys);
    get_str(x, s, "ldapsync", "state_dir", 0, c->maps_dir, &L->state_dir);
    if (!x->failed && L->state_dir && L->state_dir[0] != '/')
	conf_err(x, "ldapsync.state_dir", "must be an absolute path");
    if (!x->failed && L->state_dir) {
	snprintf(buf, sizeof(buf), "%s/ldapsync-report.json", L->state_dir);
	get_str(x, s, "ldapsync", "report_file", 0, buf, &L->report_file);
    }
    get_iint(x, s, "ldapsync", "batch_delay_ms", 0, 600000, 200, &L->batch_delay_ms);
    /*
     * 300: the primary and 300 forwards of 254 octets with their commas
     * (76,754 bytes) stay under Postfix's socketmap_max_reply_size
     * (100,000); a longer virtual reply fails every delivery.
     */
    get_iint(x, s, "ldapsync", "max_forwards", 1, CONF_MAX_FORWARDS, 10,
	     &L->max_forwards);
    get_iint(x, s, "ldapsync", "compact_records", 1, 100000000, 50000,
	     &L->compact_records);
    get_str(x, s, "ldapsync", "user", 0, NULL, &L->user);
    get_iint(x, s, "ldapsync", "group_url_interval", 1, 86400, 60,
	     &L->group_url_interval);
    get_metrics_listen(x, s, "ldapsync", &L->metrics_listen);
}

/*
 * The statistics socket when fwdmapd.control is absent: next to a unix
 * listen socket (/DIR/NAME -> /DIR/fwdmapd.ctl, a directory the daemon
 * already creates sockets in), else /run/fwdmap/fwdmapd.ctl.
 */
static char *
default_control(struct cctx *x, const char *listen)
{
    const char *path, *slash;
    char   *out;
    int     dirlen;

    if (strncmp(listen, "unix:", 5) != 0)
	path = CONF_CONTROL_DEFAULT;
    else
	path = listen + 5;
    slash = strrchr(path, '/');			/* valid_listen: absolute */
    dirlen = (int) (slash - path);
    if (asprintf(&out, "%.*s/%s", dirlen, path, CONF_CONTROL_NAME) < 0) {
	conf_err(x, "fwdmapd.control", "out of memory");
	return (NULL);
    }
    return (out);
}

static void
load_fwdmapd(struct cctx *x, struct conf *c, json_t *root)
{
    json_t *s = get_obj(x, root, "", "fwdmapd");
    struct conf_fwdmapd *F = &c->fwdmapd;
    const char *why;
    char   *mode = NULL, *e;
    long    m;

    if (s)
	check_keys(x, s, "fwdmapd", fwdmapd_keys);
    get_str(x, s, "fwdmapd", "listen", 0, "unix:/run/fwdmap/fwdmapd.sock", &F->listen);
    if (!x->failed && !valid_listen(F->listen, &why))
	conf_err(x, "fwdmapd.listen", "\"%s\": %s", F->listen, why);
    get_str(x, s, "fwdmapd", "user", 0, NULL, &F->user);
    get_str(x, s, "fwdmapd", "socket_group", 0, NULL, &F->socket_group);
    get_str(x, s, "fwdmapd", "socket_mode", 0, "0660", &mode);
    if (!x->failed && mode) {
	errno = 0;
	m = strtol(mode, &e, 8);
	if (mode[0] == 0 || *e || errno || m < 0 || m > 0777
	    || strspn(mode, "01234567") != strlen(mode))
	    conf_err(x, "fwdmapd.socket_mode", "\"%s\" is not an octal mode"
		     " string such as \"0660\"", mode);
	else
	    F->socket_mode = (mode_t) m;
    }
    free(mode);
    get_str(x, s, "fwdmapd", "control", 0, NULL, &F->control);
    if (!x->failed && F->control == NULL)
	F->control = default_control(x, F->listen);
    if (!x->failed && F->control[0] != '/')
	conf_err(x, "fwdmapd.control", "must be an absolute path");
    else if (!x->failed && strlen(F->control) >= 108)
	conf_err(x, "fwdmapd.control", "unix socket path too long");
    else if (!x->failed && strncmp(F->listen, "unix:", 5) == 0
	     && strcmp(F->listen + 5, F->control) == 0)
	conf_err(x, "fwdmapd.control", "\"%s\" is also the listen socket",
		 F->control);
    get_iint(x, s, "fwdmapd", "max_connections", 1, 1000000, 10000, &F->max_connections);
    get_iint(x, s, "fwdmapd", "idle_timeout", 1, 86400, 60, &F->idle_timeout);
    get_iint(x, s, "fwdmapd", "request_timeout", 1, 3600, 10, &F->request_timeout);
    get_iint(x, s, "fwdmapd", "max_request", 64, 1048576, 1024, &F->max_request);
    get_iint(x, s, "fwdmapd", "reload_check_ms", 10, 600000, 100, &F->reload_check_ms);
    get_str(x, s, "fwdmapd", "policy_listen", 0, NULL, &F->policy_listen);
    if (!x->failed && F->policy_listen) {
	if (!valid_listen(F->policy_listen, &why))
	    conf_err(x, "fwdmapd.policy_listen", "\"%s\": %s",
		     F->policy_listen, why);
	else if (strcmp(F->policy_listen, F->listen) == 0)
	    conf_err(x, "fwdmapd.policy_listen", "\"%s\" is also"
		     " fwdmapd.listen: the policy service needs its own socket",
		     F->policy_listen);
	else if (strncmp(F->policy_listen, "unix:", 5) == 0
		 && strcmp(F->policy_listen + 5, F->control) == 0)
	    conf_err(x, "fwdmapd.policy_listen", "\"%s\" is also the control"
		     " socket", F->policy_listen);
    }
    get_metrics_listen(x, s, "fwdmapd", &F->metrics_listen);
}

/* "127.0.0.1:PORT" (any 127/8 address) or "[::1]:PORT": addr.c's host
 * rules, then loopback only and a port required. */
static int
valid_loopback_port(const char *s)
{
    size_t  len = strlen(s), hs, hl;
    unsigned port;
    const char *why;

    if (addr_valid_host(s, len, &hs, &hl, &port, &why) < 0 || port == 0)
	return (0);
    if (hl == 3 && memcmp(s + hs, "::1", 3) == 0)
	return (s[0] == '[');
    return (hl >= 7 && strncmp(s + hs, "127.", 4) == 0
	    && strspn(s + hs, "0123456789.") >= hl);
}

/*
 * srs: off without "domain".  The secrets file is only named here: the
 * daemon reads it (srs_secrets_load), conf_load never opens it.
 */
static void
load_srs(struct cctx *x, struct conf *c, json_t *root)
{
    json_t *s = get_obj(x, root, "", "srs");
    struct conf_srs *S = &c->srs;
    const char *why = NULL;

    if (s)
	check_keys(x, s, "srs", srs_keys);
    get_str(x, s, "srs", "domain", 0, NULL, &S->domain);
    get_str(x, s, "srs", "secrets_file", 0, NULL, &S->secrets_file);
    get_iint(x, s, "srs", "max_age_days", 1, 1000, 21, &S->max_age_days);
    get_iint(x, s, "srs", "hash_length", 4, 26, 4, &S->hash_length);
    get_str(x, s, "srs", "pass_address", 0, CONF_SRS_PASS_DEFAULT, &S->pass_address);
    if (x->failed)
	return;
    if (S->domain == NULL) {
	if (S->secrets_file)
	    conf_err(x, "srs.secrets_file", "set, but srs.domain is not (SRS "
		     "is on only with a domain)");
	return;
    }
    fold(S->domain);
    if (addr_valid_domain(S->domain, strlen(S->domain), &why) < 0)
	conf_err(x, "srs.domain", "\"%s\" is not a domain name: %s",
		 S->domain, why);
    else if (S->secrets_file == NULL)
	conf_err(x, "srs.secrets_file", "required when srs.domain is set");
    else if (S->secrets_file[0] != '/')
	conf_err(x, "srs.secrets_file", "must be an absolute path");
    else if (!valid_loopback_port(S->pass_address))
	conf_err(x, "srs.pass_address", "\"%s\" must be a loopback address "
		 "and port, such as \"127.0.0.1:10027\" or \"[::1]:10027\"",
		 S->pass_address);
}

struct conf *
conf_load(const char *path, char *err, size_t errlen)
{
    struct cctx x = {path, err, errlen, 0};
    struct conf *c = NULL;
    json_t *root = NULL;
    json_error_t je;

    if (err && errlen)
	err[0] = 0;
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
	if (je.line > 0)
	    snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
	else
	    snprintf(err, errlen, "%s: %s", path, je.text);
	return (NULL);
    }
    if (!json_is_object(root)) {
	conf_err(&x, NULL, "the top level must be a JSON object");
	goto out;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL) {
	conf_err(&x, NULL, "out of memory");
	goto out;
    }
    c->path = xstrdup(&x, path);
    check_keys(&x, root, "", top_keys);
    get_str(&x, root, "", "maps_dir", 0, "/var/lib/fwdmap", &c->maps_dir);
    if (!x.failed && c->maps_dir[0] != '/')
	conf_err(&x, "maps_dir", "must be an absolute path");
    get_str(&x, root, "", "recipient_delimiter", 0, "+", &c->recipient_delimiter);
    if (!x.failed && strpbrk(c->recipient_delimiter, "@,: \t\"<>()[]\\;"))
	conf_err(&x, "recipient_delimiter", "must not contain address punctuation");
    get_bool(&x, root, "", "propagate_extensions", 1, &c->propagate_extensions);
    load_ldap(&x, c, root);
    load_stores(&x, c, root);
    load_tenants(&x, c, root);
    load_domains(&x, c, root);
    load_safety(&x, c, root);
    load_ldapsync(&x, c, root);
    load_fwdmapd(&x, c, root);
    load_srs(&x, c, root);
out:
    json_decref(root);
    if (x.failed) {
	conf_free(c);
	return (NULL);
    }
    return (c);
}

static void
strv_free(char **v, size_t n)
{
    size_t  i;

    for (i = 0; v && i < n; i++)
	free(v[i]);
    free(v);
}

void
conf_free(struct conf *c)
{
    size_t  i;

    if (c == NULL)
	return;
    free(c->path);
    free(c->maps_dir);
    free(c->recipient_delimiter);
    for (i = 0; i < c->nstores; i++) {
	free(c->stores[i].name);
	free(c->stores[i].transport);
    }
    free(c->stores);
    for (i = 0; i < c->ntenants; i++) {
	struct conf_tenant *t = &c->tenants[i];

	free(t->name);
	free(t->base);
	free(t->filter);
	strv_free(t->domains, t->ndomains);
	strv_free(t->allowed_hosts, t->nallowed_hosts);
	free(t->default_location);
    }
    free(c->tenants);
    for (i = 0; i < c->ndomains; i++) {
	free(c->domains[i].name);
	free(c->domains[i].tenant);
	free(c->domains[i].default_route);
    }
    free(c->domains);
    strv_free(c->ldap.uris, c->ldap.nuris);
    free(c->ldap.bind_dn);
    free(c->ldap.bind_password_file);
    free(c->ldap.ca_file);
    free(c->ldap.sync);
    free(c->ldap.attrs.mail);
    free(c->ldap.attrs.alias);
    free(c->ldap.attrs.location);
    free(c->ldap.attrs.host);
    free(c->ldap.attrs.forward);
    free(c->ldap.attrs.object_class);
    free(c->ldapsync.state_dir);
    free(c->ldapsync.report_file);
    free(c->ldapsync.user);
    free(c->ldapsync.metrics_listen);
    free(c->srs.domain);
    free(c->srs.secrets_file);
    free(c->srs.pass_address);
    free(c->fwdmapd.listen);
    free(c->fwdmapd.user);
    free(c->fwdmapd.socket_group);
    free(c->fwdmapd.control);
    free(c->fwdmapd.policy_listen);
    free(c->fwdmapd.metrics_listen);
    free(c);
}

const struct conf_store *
conf_store(const struct conf *c, const char *name)
{
    size_t  i;

    for (i = 0; name && i < c->nstores; i++)
	if (strcmp(c->stores[i].name, name) == 0)
	    return (&c->stores[i]);
    return (NULL);
}

const struct conf_tenant *
conf_tenant(const struct conf *c, const char *name)
{
    size_t  i;

    for (i = 0; name && i < c->ntenants; i++)
	if (strcmp(c->tenants[i].name, name) == 0)
	    return (&c->tenants[i]);
    return (NULL);
}

/* Domain lookup, case-insensitive. */
const struct conf_domain *
conf_domain(const struct conf *c, const char *name)
{
    size_t  i;

    for (i = 0; name && i < c->ndomains; i++)
	if (strcasecmp(c->domains[i].name, name) == 0)
	    return (&c->domains[i]);
    return (NULL);
}

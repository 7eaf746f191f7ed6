/*
 * postconf.c - the Postfix settings for a fwdmap forwarder, built per feature
 *		(see postconf.h, fwdmap(1) "postconf").
 *
 * DESCRIPTION
 *	The output must be a complete and safe main.cf for a forwarder on
 *	its own: an administrator applies it with "postconf -e" over a
 *	distribution's main.cf, which may say inet_interfaces = all and
 *	mynetworks = every local subnet.  So the base feature pins what
 *	makes a forwarder an open relay or a local delivery agent when left
 *	to defaults.
 *
 *	Each feature is one function in pc_features[] below; a feature sets
 *	parameters with pc_set(), adds restrictions to a list parameter with
 *	pc_list_add() and adds master.cf services with pc_master().  A new
 *	feature is one function and one line in the table.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "postconf.h"

struct pc_param {
    const char *feature;		/* heading it is printed under */
    char   *name;
    char   *value;
};

struct pc {
    const struct conf *conf;
    const char *feature;		/* the feature running now */
    struct pc_param *params;
    size_t  nparams, capparams;
    char  **master;			/* master.cf entries, one string each */
    size_t  nmaster, capmaster;
    int     oom;
};

static struct pc_param *
pc_find(struct pc *p, const char *name)
{
    size_t  i;

    for (i = 0; i < p->nparams; i++)
	if (strcmp(p->params[i].name, name) == 0)
	    return (&p->params[i]);
    return (NULL);
}

/* Set main.cf parameter NAME; a later setting replaces an earlier one. */
static void __attribute__((format(printf, 3, 4)))
pc_set(struct pc *p, const char *name, const char *fmt, ...)
{
    struct pc_param *pp;
    va_list ap;
    char   *v;
    int     r;

    va_start(ap, fmt);
    r = vasprintf(&v, fmt, ap);
    va_end(ap);
    if (r < 0) {
	p->oom = 1;
	return;
    }
    if ((pp = pc_find(p, name)) != NULL) {
	free(pp->value);
	pp->value = v;
	return;
    }
    if (p->nparams == p->capparams) {
	size_t  ncap = p->capparams ? 2 * p->capparams : 32;
	struct pc_param *n = realloc(p->params, ncap * sizeof(*n));

	if (n == NULL) {
	    free(v);
	    p->oom = 1;
	    return;
	}
	p->params = n;
	p->capparams = ncap;
    }
    pp = &p->params[p->nparams];
    if ((pp->name = strdup(name)) == NULL) {
	free(v);
	p->oom = 1;
	return;
    }
    pp->feature = p->feature;
    pp->value = v;
    p->nparams++;
}

/* Where the comma-separated list holds item (same spelling), or NULL. */
static const char *
list_item(const char *list, const char *item)
{
    size_t  n = strlen(item);
    const char *s = list;

    while (*s) {
	size_t  len;

	s += strspn(s, ", \t");
	len = strcspn(s, ",");
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
	    len--;
	if (len == n && strncmp(s, item, n) == 0)
	    return (s);
	s += strcspn(s, ",");
    }
    return (NULL);
}

/*
 * Add ITEM to the comma-separated list parameter NAME: before the item
 * BEFORE when the list holds it, else at the end.  An item already in the
 * list is not added twice.
 */
static void
pc_list_add(struct pc *p, const char *name, const char *item,
	    const char *before)
{
    struct pc_param *pp = pc_find(p, name);
    const char *at;

    if (pp == NULL || pp->value[strspn(pp->value, " \t")] == 0) {
	pc_set(p, name, "%s", item);
	return;
    }
    if (list_item(pp->value, item))
	return;
    if (before && (at = list_item(pp->value, before)) != NULL) {
	char   *old = pp->value;

	pc_set(p, name, "%.*s%s, %s", (int) (at - old), old, item, at);
	return;
    }
    pc_set(p, name, "%s, %s", pp->value, item);
}

/* Add one master.cf entry (the first line and its "  -o" lines). */
static void __attribute__((format(printf, 2, 3)))
pc_master(struct pc *p, const char *fmt, ...)
{
    va_list ap;
    char   *v;
    int     r;

    va_start(ap, fmt);
    r = vasprintf(&v, fmt, ap);
    va_end(ap);
    if (r < 0) {
	p->oom = 1;
	return;
    }
    if (p->nmaster == p->capmaster) {
	size_t  ncap = p->capmaster ? 2 * p->capmaster : 8;
	char  **n = realloc(p->master, ncap * sizeof(*n));

	if (n == NULL) {
	    free(v);
	    p->oom = 1;
	    return;
	}
	p->master = n;
	p->capmaster = ncap;
    }
    p->master[p->nmaster++] = v;
}

/*
 * "socketmap:unix:/run/fwdmap/fwdmapd.sock:NAME" for fwdmapd.listen
 * ("unix:/path" or "inet:host:port", already socketmap's own syntax).
 */
static const char *
pc_map(struct pc *p, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "socketmap:%s:%s", p->conf->fwdmapd.listen, name);
    return (buf);
}

/*
 * Features.
 */

/*
 * A forwarder on its own: nothing is delivered locally, only this host
 * may relay outward (mail to our domains is accepted from anywhere by
 * relay_domains), unknown recipients are refused at RCPT.
 */
static void
pc_base(struct pc *p)
{
    pc_set(p, "compatibility_level", "3.6");
    pc_set(p, "mydestination", "%s", "");
    pc_set(p, "local_recipient_maps", "%s", "");
    pc_set(p, "local_transport", "error:5.1.1 this forwarder delivers no mail locally");
    pc_set(p, "alias_maps", "%s", "");
    pc_set(p, "alias_database", "%s", "");
    pc_set(p, "mynetworks", "127.0.0.0/8 [::1]/128");
    pc_list_add(p, "smtpd_relay_restrictions", "permit_mynetworks", NULL);
    pc_list_add(p, "smtpd_relay_restrictions", "reject_unauth_destination", NULL);
    pc_list_add(p, "smtpd_recipient_restrictions", "permit_mynetworks", NULL);
    pc_list_add(p, "smtpd_recipient_restrictions", "reject_unauth_destination", NULL);
    pc_set(p, "smtpd_reject_unlisted_recipient", "yes");
    pc_set(p, "unknown_relay_recipient_reject_code", "550");
    pc_set(p, "disable_vrfy_command", "yes");
    pc_set(p, "biff", "no");
    pc_set(p, "append_dot_mydomain", "no");
}

/*
 * Who may send to a group (issue 10): with fwdmapd.policy_listen set,
 * smtpd asks fwdmapd's policy service at RCPT, after
 * reject_unauth_destination (only mail for our domains reaches it).
 * fwdmapd closes a connection idle for fwdmapd.idle_timeout seconds;
 * smtpd keeps its policy connection up to smtpd_policy_service_max_idle
 * (default 300 s), so it is set below that and smtpd does not find it
 * closed under it.
 */
static void
pc_policy(struct pc *p)
{
    const struct conf_fwdmapd *f = &p->conf->fwdmapd;
    char    item[600];

    if (f->policy_listen == NULL)
	return;
    snprintf(item, sizeof(item), "check_policy_service %s", f->policy_listen);
    pc_list_add(p, "smtpd_recipient_restrictions", item, NULL);
    if (f->idle_timeout <= 300)
	pc_set(p, "smtpd_policy_service_max_idle", "%ds",
	       f->idle_timeout > 5 ? f->idle_timeout - 5 : 1);
}

/* The four lookups that route every message (docs/architecture.md). */
static void
pc_tables(struct pc *p)
{
    char    m[512];

    pc_set(p, "relay_domains", "%s", pc_map(p, "domains", m, sizeof(m)));
    pc_set(p, "relay_recipient_maps", "%s", pc_map(p, "recipients", m, sizeof(m)));
    pc_set(p, "virtual_alias_domains", "%s", "");
    pc_set(p, "virtual_alias_maps", "%s", pc_map(p, "virtual", m, sizeof(m)));
    pc_set(p, "transport_maps", "%s", pc_map(p, "transport", m, sizeof(m)));
    pc_set(p, "recipient_delimiter", "%s", p->conf->recipient_delimiter);
}

/*
 * Groups (issue 10): a group answer lists up to 100,000 members (through
 * internal sub-lists, ldapsync flattens nesting), and Postfix defers the
 * mail of any original recipient that expands into more than
 * virtual_alias_expansion_limit (default 1000) addresses.  The
 * recursion stays within the default virtual_alias_recursion_limit.
 */
static void
pc_groups(struct pc *p)
{
    pc_set(p, "virtual_alias_expansion_limit", "200000");
}

/*
 * SRS, only for the copies that leave (srs section; nothing without
 * srs.domain).  A copy that would go out by default_transport, i.e. to a
 * domain that is not ours and has no transport answer, goes instead
 * through a second smtpd on loopback when srs_forward would rewrite its
 * sender: sender_dependent_default_transport_maps is srs_forward piped
 * into a constant transport, so senders of our domains, of the SRS
 * domain (the second pass) and the null sender keep default_transport.
 * Copies for our stores have a transport answer, which takes precedence,
 * and keep their sender.  The second smtpd's own cleanup rewrites the
 * envelope sender only (sender_canonical_classes = envelope_sender; the
 * loopback client is no local_header_rewrite_client), so headers and
 * body stay as they were and DKIM signatures survive.  It must not say
 * no_address_mappings, which would switch the rewrite off.  Bounces to
 * the SRS domain are turned back into the original sender by
 * recipient_canonical_maps (envelope recipients only); recipients
 * refuses forged and expired SRS addresses at RCPT.
 */
static void
pc_srs(struct pc *p)
{
    const struct conf_srs *S = &p->conf->srs;
    char    fwd[512], rev[512], host[300];
    const char *colon;

    if (S->domain == NULL)
	return;
    colon = strrchr(S->pass_address, ':');	/* conf: host:port */
    if (S->pass_address[0] == '[')
	snprintf(host, sizeof(host), "%s", S->pass_address);
    else
	snprintf(host, sizeof(host), "[%.*s]%s",
		 (int) (colon - S->pass_address), S->pass_address, colon);
    pc_map(p, "srs_forward", fwd, sizeof(fwd));
    pc_map(p, "srs_reverse", rev, sizeof(rev));
    pc_set(p, "sender_dependent_default_transport_maps",
	   "pipemap:{%s, static:fwdmap-srs:%s}", fwd, host);
    pc_set(p, "recipient_canonical_maps", "%s", rev);
    pc_set(p, "recipient_canonical_classes", "envelope_recipient");

    pc_master(p, "# fwdmap: SRS for copies that leave (srs.domain %s): the"
	      " client that hands them\n# to the second pass, which rewrites"
	      " their envelope sender and nothing else", S->domain);
    pc_master(p, "fwdmap-srs unix  -       -       n       -       -       smtp\n"
	      "  -o syslog_name=postfix/fwdmap-srs\n"
	      "  -o smtp_tls_security_level=none\n"
	      "  -o smtp_sasl_auth_enable=no\n"
	      "  -o smtp_generic_maps=\n"
	      "  -o smtp_header_checks=\n"
	      "  -o smtp_mime_header_checks=\n"
	      "  -o smtp_body_checks=\n"
	      "  -o smtp_send_xforward_command=no");
    pc_master(p, "%s inet  n       -       n       -       -       smtpd\n"
	      "  -o syslog_name=postfix/fwdmap-srs\n"
	      "  -o cleanup_service_name=fwdmap-srs-cleanup\n"
	      "  -o mynetworks=127.0.0.0/8,[::1]/128\n"
	      "  -o smtpd_client_restrictions=\n"
	      "  -o smtpd_helo_restrictions=\n"
	      "  -o smtpd_sender_restrictions=\n"
	      "  -o smtpd_relay_restrictions=permit_mynetworks,reject\n"
	      "  -o smtpd_recipient_restrictions=permit_mynetworks,reject\n"
	      "  -o smtpd_data_restrictions=\n"
	      "  -o smtpd_end_of_data_restrictions=\n"
	      "  -o smtpd_milters=\n"
	      "  -o smtpd_proxy_filter=\n"
	      "  -o content_filter=\n"
	      "  -o smtpd_tls_security_level=none\n"
	      "  -o smtpd_sasl_auth_enable=no\n"
	      "  -o local_header_rewrite_clients=\n"
	      "  -o receive_override_options=no_unknown_recipient_checks,"
	      "no_header_body_checks,no_milters", S->pass_address);
    pc_master(p, "fwdmap-srs-cleanup unix n -       n       -       0       cleanup\n"
	      "  -o syslog_name=postfix/fwdmap-srs\n"
	      "  -o sender_canonical_maps=%s\n"
	      "  -o sender_canonical_classes=envelope_sender\n"
	      "  -o canonical_maps=\n"
	      "  -o recipient_canonical_maps=\n"
	      "  -o virtual_alias_maps=\n"
	      "  -o always_bcc=\n"
	      "  -o sender_bcc_maps=\n"
	      "  -o recipient_bcc_maps=", fwd);
}

static const struct pc_feature {
    const char *name;			/* the "# fwdmap: ..." heading */
    void    (*fn) (struct pc *);
} pc_features[] = {
    {"a safe base: nothing delivered locally, only this host relays outward",
     pc_base},
    {"group sender policies: fwdmapd's policy service at RCPT", pc_policy},
    {"every routing decision comes from fwdmapd", pc_tables},
    {"distribution lists of up to 100,000 members expand in one go", pc_groups},
    {"SRS for the copies that leave, bounces back to the sender", pc_srs},
    {NULL, NULL},
};

struct pc *
pc_build(const struct conf *c)
{
    struct pc *p = calloc(1, sizeof(*p));
    const struct pc_feature *f;

    if (p == NULL)
	return (NULL);
    p->conf = c;
    for (f = pc_features; f->name; f++) {
	p->feature = f->name;
	f->fn(p);
    }
    if (p->oom) {
	pc_free(p);
	return (NULL);
    }
    return (p);
}

int
pc_print_main(const struct pc *p, FILE *out)
{
    const char *feature = NULL;
    size_t  i;

    fprintf(out, "# fwdmap postconf: main.cf for %s\n", p->conf->path);
    for (i = 0; i < p->nparams; i++) {
	if (p->params[i].feature != feature) {
	    feature = p->params[i].feature;
	    fprintf(out, "# fwdmap: %s\n", feature);
	}
	fprintf(out, "%s =%s%s\n", p->params[i].name,
		*p->params[i].value ? " " : "", p->params[i].value);
    }
    return (fflush(out) == 0 && !ferror(out) ? 0 : -1);
}

int
pc_print_master(const struct pc *p, FILE *out)
{
    size_t  i;

    fprintf(out, "# fwdmap postconf -M: master.cf services for %s\n",
	    p->conf->path);
    fprintf(out, "# smtpd, cleanup and trivial-rewrite must run without chroot"
	    " (5th column n)\n# to reach %s (docs/install.md)\n",
	    p->conf->fwdmapd.listen);
    if (p->nmaster == 0)
	fprintf(out, "# (no extra services for this configuration)\n");
    for (i = 0; i < p->nmaster; i++)
	fprintf(out, "%s\n", p->master[i]);
    return (fflush(out) == 0 && !ferror(out) ? 0 : -1);
}

void
pc_free(struct pc *p)
{
    size_t  i;

    if (p == NULL)
	return;
    for (i = 0; i < p->nparams; i++) {
	free(p->params[i].name);
	free(p->params[i].value);
    }
    free(p->params);
    for (i = 0; i < p->nmaster; i++)
	free(p->master[i]);
    free(p->master);
    free(p);
}

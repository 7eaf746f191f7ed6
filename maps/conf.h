/*
 * conf.h - the one JSON configuration file read by ldapsync and fwdmapd.
 *
 * NAME
 *	conf - load and validate fwdmap.json (see fwdmap.json(5))
 *
 * DESCRIPTION
 *	conf_load() parses FILE with jansson, checks every key (unknown keys
 *	are an error, so that typos are caught), fills in defaults and
 *	returns a struct conf, or NULL with a message naming the file, the
 *	key and what is wrong in err.  It never prints or exits.
 *	conf_free() releases it.  Lookup helpers return NULL when absent.
 */
#ifndef FWDMAP_CONF_H
#define FWDMAP_CONF_H

#include <stddef.h>
#include <sys/types.h>

struct conf_store {
    char   *name;		/* "exchange" */
    char   *transport;		/* "smtp:[exchange.example.org]:25" */
};

struct conf_tenant {
    char   *name;		/* "tum" */
    char   *base;		/* search base DN */
    char   *filter;		/* optional extra LDAP filter, NULL if none */
    char  **domains;		/* domains this tenant owns, folded */
    size_t  ndomains;
    char  **allowed_hosts;	/* external hosts allowed, NULL = any */
    size_t  nallowed_hosts;
    char   *default_location;	/* store used when fwdMailboxLocation is absent */
};

enum conf_unknown { CONF_UNKNOWN_REJECT = 0, CONF_UNKNOWN_ROUTE = 1 };

struct conf_domain {
    char   *name;		/* folded */
    char   *tenant;		/* owning tenant's name (derived) */
    char   *default_route;	/* transport, NULL if none */
    enum conf_unknown unknown;
};

/* Directory attribute names (configurable, for sites with other schemas). */
struct conf_attrs {
    char   *mail;		/* "mail" */
    char   *alias;		/* "fwdMailAlias" */
    char   *location;		/* "fwdMailboxLocation" */
    char   *host;		/* "fwdMailHost" */
    char   *forward;		/* "fwdForwardAddress" */
    char   *object_class;	/* "fwdMailRecipient" (used in the filter) */
};

struct conf_ldap {
    char  **uris;		/* tried in order */
    size_t  nuris;
    char   *bind_dn;		/* NULL: anonymous */
    char   *bind_password_file;
    int     starttls;		/* 0 or 1: StartTLS required */
    char   *ca_file;		/* TLS CA certificates, NULL: system */
    int     timeout;		/* seconds, operation timeout */
    int     network_timeout;	/* seconds, connect timeout */
    int     page_size;		/* RFC 2696 page size */
    char   *sync;		/* "auto", "refreshAndPersist", "poll" */
    int     poll_interval;	/* seconds between full syncs without syncprov */
    struct conf_attrs attrs;
};

struct conf_safety {
    long    max_removed;	/* default 500 */
    double  max_removed_percent; /* default 10 */
    int     allow_mass_removal;	/* default 0 */
};

struct conf_ldapsync {
    char   *state_dir;		/* cookie and reports; default maps_dir */
    char   *report_file;	/* default state_dir/ldapsync-report.json */
    int     batch_delay_ms;	/* upper bound on delay of a change, default 200 */
    int     max_forwards;	/* per person, default 10, at most
				 * CONF_MAX_FORWARDS */
    int     compact_records;	/* delta size that triggers a new base */
    char   *user;		/* run as, NULL: do not change */
    int     group_url_interval;	/* seconds between memberURL evaluations,
				 * default 60 */
    char   *metrics_listen;	/* "inet:HOST:PORT" for /metrics, NULL: off */
};

/* The configuration file of all three programs unless -c names another. */
#define CONF_DEFAULT_PATH	"/etc/fwdmap/fwdmap.json"

/* 301 addresses of 254 octets and their commas fit a socketmap reply. */
#define CONF_MAX_FORWARDS	300

#define CONF_CONTROL_NAME	"fwdmapd.ctl"
#define CONF_CONTROL_DEFAULT	"/run/fwdmap/" CONF_CONTROL_NAME

struct conf_fwdmapd {
    char   *listen;		/* "unix:/run/fwdmap/fwdmapd.sock" or "inet:127.0.0.1:9999" */
    char   *user;		/* NULL: do not change user */
    char   *socket_group;	/* NULL: do not change */
    mode_t  socket_mode;	/* default 0660 */
    char   *control;		/* admin (stats) socket path, never NULL:
				 * default CONF_CONTROL_NAME next to a unix
				 * listen socket, else CONF_CONTROL_DEFAULT */
    int     max_connections;	/* default 10000 */
    int     idle_timeout;	/* seconds, default 60 */
    int     request_timeout;	/* seconds to finish a started request, default 10 */
    int     max_request;	/* bytes, default 1024 */
    int     reload_check_ms;	/* how often to look for a new generation */
    char   *policy_listen;	/* policy delegation endpoint ("unix:PATH" or
				 * "inet:HOST:PORT"), NULL: no policy service */
    char   *metrics_listen;	/* "inet:HOST:PORT" for /metrics, NULL: off */
};

/* SRS (the srs section); off when domain is NULL. */
#define CONF_SRS_PASS_DEFAULT	"127.0.0.1:10027"

struct conf_srs {
    char   *domain;		/* the SRS domain, folded; NULL: SRS off */
    char   *secrets_file;	/* one secret per line, the first signs */
    int     max_age_days;	/* default 21 */
    int     hash_length;	/* default 4 */
    char   *pass_address;	/* loopback host:port of the second smtpd
				 * pass (fwdmap postconf) */
};

struct conf {
    char   *path;
    char   *maps_dir;
    char   *recipient_delimiter;	/* "" disables */
    int     propagate_extensions;	/* +ext of a stripped match onto virtual results */
    struct conf_store  *stores;   size_t nstores;
    struct conf_tenant *tenants;  size_t ntenants;
    struct conf_domain *domains;  size_t ndomains;	/* every owned domain */
    struct conf_ldap    ldap;
    struct conf_safety  safety;
    struct conf_ldapsync ldapsync;
    struct conf_fwdmapd fwdmapd;
    struct conf_srs     srs;
};

struct conf *conf_load(const char *path, char *err, size_t errlen);
void	conf_free(struct conf *c);

const struct conf_store  *conf_store(const struct conf *c, const char *name);
const struct conf_tenant *conf_tenant(const struct conf *c, const char *name);
const struct conf_domain *conf_domain(const struct conf *c, const char *name);

/* 1 when s is a Postfix transport "name:nexthop" without spaces or
 * commas, else 0 with a static reason in *why (when not NULL). */
int	conf_transport_valid(const char *s, const char **why);

#endif

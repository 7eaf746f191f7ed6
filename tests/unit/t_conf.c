/*
 * t_conf.c - unit tests for conf_load(): the example from issue 3,
 *	      defaults, and one broken file per validation rule (each must
 *	      fail with a message naming the file and the key).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "conf.h"

static char dir[] = "/tmp/t_conf.XXXXXX";
static char path[256];

static const char *example =
"{\n"
"  \"maps_dir\": \"/var/lib/fwdmap\",\n"
"  \"recipient_delimiter\": \"+\",\n"
"  \"ldap\": { \"uris\": [\"ldap://127.0.0.1:389/\"], \"bind_dn\": \"cn=fwdmap,dc=example,dc=org\",\n"
"            \"bind_password_file\": \"/etc/fwdmap/ldap.secret\", \"starttls\": false },\n"
"  \"stores\": { \"exchange\": \"smtp:[exchange.example.org]:25\", \"mytum\": \"lmtp:[mytum.example.org]:24\" },\n"
"  \"tenants\": { \"tum\": { \"base\": \"ou=tum,dc=example,dc=org\", \"domains\": [\"tum.de\", \"mytum.de\", \"ph.tum.de\"] } },\n"
"  \"domains\": { \"ph.tum.de\": { \"default_route\": \"smtp:[mail.ph.tum.de]:25\", \"unknown_recipients\": \"route\" } },\n"
"  \"safety\": { \"max_removed\": 500, \"max_removed_percent\": 10 },\n"
"  \"fwdmapd\": { \"listen\": \"unix:/run/fwdmap/fwdmapd.sock\", \"user\": \"fwdmap\",\n"
"               \"socket_group\": \"postfix\", \"socket_mode\": \"0660\" }\n"
"}\n";

static void
write_file(const char *text)
{
    FILE   *f = fopen(path, "w");

    if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0) {
	perror(path);
	exit(1);
    }
}

/* Replace the first occurrence of "from" in the example with "to". */
static char *
edit(const char *from, const char *to)
{
    static char buf[8192];
    const char *p = strstr(example, from);

    if (p == NULL) {
	fprintf(stderr, "edit: \"%s\" not in example\n", from);
	exit(1);
    }
    snprintf(buf, sizeof(buf), "%.*s%s%s", (int) (p - example), example, to,
	     p + strlen(from));
    return (buf);
}

/* The text must fail to load, with "needle" in the message. */
static void
bad(int line, const char *text, const char *needle)
{
    char    err[512];
    struct conf *c;

    check_count++;
    write_file(text);
    c = conf_load(path, err, sizeof(err));
    if (c != NULL) {
	fprintf(stderr, "line %d: loaded, expected error with \"%s\"\n", line, needle);
	check_failures++;
	conf_free(c);
	return;
    }
    if (strstr(err, needle) == NULL || strstr(err, path) == NULL) {
	fprintf(stderr, "line %d: error \"%s\" lacks \"%s\" or the file name\n",
		line, err, needle);
	check_failures++;
    }
}

static struct conf *
good(int line, const char *text)
{
    char    err[512];
    struct conf *c;

    check_count++;
    write_file(text);
    if ((c = conf_load(path, err, sizeof(err))) == NULL) {
	fprintf(stderr, "line %d: unexpected error: %s\n", line, err);
	check_failures++;
    }
    return (c);
}

#define BAD(text, needle) bad(__LINE__, text, needle)
#define GOOD(text) good(__LINE__, text)

int
main(void)
{
    struct conf *c;
    const struct conf_domain *d;
    const struct conf_tenant *t;
    char    err[512];

    if (mkdtemp(dir) == NULL) {
	perror("mkdtemp");
	return (1);
    }
    snprintf(path, sizeof(path), "%s/fwdmap.json", dir);

    /* The example from the issue, and its defaults. */
    c = GOOD(example);
    if (c) {
	CHECK(strcmp(c->maps_dir, "/var/lib/fwdmap") == 0);
	CHECK(strcmp(c->recipient_delimiter, "+") == 0);
	CHECK(c->ldap.nuris == 1);
	CHECK(strcmp(c->ldap.bind_dn, "cn=fwdmap,dc=example,dc=org") == 0);
	CHECK(c->propagate_extensions == 1);	/* default, like Postfix */
	CHECK(c->ldap.starttls == 0);
	CHECK(c->ldap.page_size == 1000);
	CHECK(strcmp(c->ldap.sync, "auto") == 0);
	CHECK(strcmp(c->ldap.attrs.alias, "fwdMailAlias") == 0);
	CHECK(strcmp(c->ldap.attrs.location, "fwdMailboxLocation") == 0);
	CHECK(strcmp(c->ldap.attrs.host, "fwdMailHost") == 0);
	CHECK(strcmp(c->ldap.attrs.forward, "fwdForwardAddress") == 0);
	CHECK(strcmp(c->ldap.attrs.object_class, "fwdMailRecipient") == 0);
	CHECK(c->nstores == 2);
	CHECK(conf_store(c, "mytum") != NULL
	      && strcmp(conf_store(c, "mytum")->transport, "lmtp:[mytum.example.org]:24") == 0);
	CHECK(conf_store(c, "nope") == NULL);
	CHECK(c->ntenants == 1);
	t = conf_tenant(c, "tum");
	CHECK(t && t->ndomains == 3 && t->filter == NULL && t->default_location == NULL);
	CHECK(c->ndomains == 3);
	d = conf_domain(c, "PH.tum.de");
	CHECK(d && d->unknown == CONF_UNKNOWN_ROUTE
	      && strcmp(d->default_route, "smtp:[mail.ph.tum.de]:25") == 0
	      && strcmp(d->tenant, "tum") == 0);
	d = conf_domain(c, "tum.de");
	CHECK(d && d->unknown == CONF_UNKNOWN_REJECT && d->default_route == NULL);
	CHECK(conf_domain(c, "example.org") == NULL);
	CHECK(c->safety.max_removed == 500 && c->safety.max_removed_percent == 10);
	CHECK(c->safety.allow_mass_removal == 0);
	CHECK(c->fwdmapd.socket_mode == 0660);
	CHECK(strcmp(c->fwdmapd.listen, "unix:/run/fwdmap/fwdmapd.sock") == 0);
	CHECK(strcmp(c->fwdmapd.user, "fwdmap") == 0);
	/* fwdmapd -S works with the example: control next to the listen socket */
	CHECK(c->fwdmapd.control != NULL
	      && strcmp(c->fwdmapd.control, "/run/fwdmap/fwdmapd.ctl") == 0);
	CHECK(c->fwdmapd.max_request == 1024);
	CHECK(strcmp(c->ldapsync.state_dir, "/var/lib/fwdmap") == 0);
	CHECK(strcmp(c->ldapsync.report_file, "/var/lib/fwdmap/ldapsync-report.json") == 0);
	CHECK(c->ldapsync.batch_delay_ms == 200);
	CHECK(c->ldapsync.max_forwards == 10);
	/* metrics are off unless configured */
	CHECK(c->fwdmapd.metrics_listen == NULL);
	CHECK(c->ldapsync.metrics_listen == NULL);
	conf_free(c);
    }
    c = GOOD(edit("\"socket_mode\": \"0660\"", "\"socket_mode\": \"0660\", \"metrics_listen\": \"inet:127.0.0.1:9489\""));
    if (c)
	CHECK(c->fwdmapd.metrics_listen
	      && strcmp(c->fwdmapd.metrics_listen, "inet:127.0.0.1:9489") == 0);
    conf_free(c);
    c = GOOD(edit("\"safety\": {", "\"ldapsync\": {\"metrics_listen\": \"inet:[::1]:9490\"}, \"safety\": {"));
    if (c)
	CHECK(c->ldapsync.metrics_listen
	      && strcmp(c->ldapsync.metrics_listen, "inet:[::1]:9490") == 0);
    conf_free(c);

    /* Minimal file: defaults everywhere. */
    c = GOOD("{\"ldap\":{\"uris\":[\"ldap://h/\"]},\"tenants\":{\"a\":{\"base\":\"dc=a\",\"domains\":[\"A.Example\"]}}}");
    if (c) {
	CHECK(strcmp(c->maps_dir, "/var/lib/fwdmap") == 0);
	CHECK(c->ldap.bind_dn == NULL);
	CHECK(c->fwdmapd.socket_mode == 0660);
	CHECK(c->ndomains == 1 && strcmp(c->domains[0].name, "a.example") == 0);
	conf_free(c);
    }

    /* Attribute mapping and the other optional keys. */
    c = GOOD(edit("\"starttls\": false }",
		  "\"starttls\": true, \"ca_file\": \"/etc/ssl/ca.pem\", \"timeout\": 5,"
		  " \"page_size\": 200, \"sync\": \"poll\", \"poll_interval\": 60,"
		  " \"attributes\": {\"alias\": \"mailLocalAddress\", \"host\": \"mailHost\","
		  " \"forward\": \"mailRoutingAddress\", \"object_class\": \"inetLocalMailRecipient\"} }"));
    if (c) {
	CHECK(c->ldap.starttls == 1 && c->ldap.timeout == 5 && c->ldap.page_size == 200);
	CHECK(strcmp(c->ldap.attrs.alias, "mailLocalAddress") == 0);
	CHECK(strcmp(c->ldap.attrs.host, "mailHost") == 0);
	CHECK(strcmp(c->ldap.attrs.mail, "mail") == 0);
	CHECK(strcmp(c->ldap.sync, "poll") == 0 && c->ldap.poll_interval == 60);
	conf_free(c);
    }
    c = GOOD(edit("\"domains\": [\"tum.de\", \"mytum.de\", \"ph.tum.de\"] }",
		  "\"domains\": [\"tum.de\", \"mytum.de\", \"ph.tum.de\"], \"filter\": \"(!(ou=x))\","
		  " \"allowed_hosts\": [\"mail.ph.tum.de\", \"[10.0.0.1]:2525\"],"
		  " \"default_location\": \"exchange\" },"
		  " \"lmu\": { \"base\": \"ou=lmu,dc=example,dc=org\", \"domains\": [\"lmu.de\"] }"));
    if (c) {
	t = conf_tenant(c, "tum");
	CHECK(t && t->nallowed_hosts == 2 && strcmp(t->default_location, "exchange") == 0);
	CHECK(c->ntenants == 2 && c->ndomains == 4);
	CHECK(conf_domain(c, "lmu.de") && strcmp(conf_domain(c, "lmu.de")->tenant, "lmu") == 0);
	conf_free(c);
    }
    c = GOOD(edit("\"unix:/run/fwdmap/fwdmapd.sock\"", "\"inet:127.0.0.1:9999\""));
    if (c)
	CHECK(strcmp(c->fwdmapd.control, CONF_CONTROL_DEFAULT) == 0
	      && strcmp(c->fwdmapd.control, "/run/fwdmap/fwdmapd.ctl") == 0);
    conf_free(c);

    c = GOOD(edit("\"unix:/run/fwdmap/fwdmapd.sock\"", "\"inet:localhost:9999\""));
    conf_free(c);
    c = GOOD(edit("\"unix:/run/fwdmap/fwdmapd.sock\"", "\"inet:[::1]:9999\""));
    conf_free(c);

    /* The default control socket follows the listen socket's directory. */
    c = GOOD(edit("\"unix:/run/fwdmap/fwdmapd.sock\"", "\"unix:/var/spool/postfix/private/fwdmap\""));
    if (c)
	CHECK(strcmp(c->fwdmapd.control, "/var/spool/postfix/private/fwdmapd.ctl") == 0);
    conf_free(c);
    c = GOOD(edit("\"unix:/run/fwdmap/fwdmapd.sock\"", "\"unix:/fwdmap.sock\""));
    if (c)
	CHECK(strcmp(c->fwdmapd.control, "/fwdmapd.ctl") == 0);
    conf_free(c);
    c = GOOD(edit("\"socket_mode\": \"0660\"", "\"control\": \"/run/admin/stats.sock\""));
    if (c)
	CHECK(strcmp(c->fwdmapd.control, "/run/admin/stats.sock") == 0);
    conf_free(c);
    /* fwdmapd.policy_listen: off by default; an endpoint of its own. */
    c = GOOD(example);
    if (c)
	CHECK(c->fwdmapd.policy_listen == NULL);
    conf_free(c);
    c = GOOD(edit("\"socket_mode\": \"0660\"",
		  "\"policy_listen\": \"unix:/run/fwdmap/policy.sock\""));
    if (c)
	CHECK(strcmp(c->fwdmapd.policy_listen, "unix:/run/fwdmap/policy.sock") == 0);
    conf_free(c);
    c = GOOD(edit("\"socket_mode\": \"0660\"",
		  "\"policy_listen\": \"inet:127.0.0.1:10040\""));
    conf_free(c);
    BAD(edit("\"socket_mode\": \"0660\"", "\"policy_listen\": \"policy.sock\""),
	"fwdmapd.policy_listen");
    BAD(edit("\"socket_mode\": \"0660\"", "\"policy_listen\": \"unix:policy.sock\""),
	"absolute path");
    BAD(edit("\"socket_mode\": \"0660\"", "\"policy_listen\": \"inet:127.0.0.1\""),
	"fwdmapd.policy_listen");
    BAD(edit("\"socket_mode\": \"0660\"",
	     "\"policy_listen\": \"unix:/run/fwdmap/fwdmapd.sock\""),
	"is also fwdmapd.listen");
    BAD(edit("\"socket_mode\": \"0660\"",
	     "\"policy_listen\": \"unix:/run/fwdmap/fwdmapd.ctl\""),
	"is also the control socket");
    BAD(edit("\"socket_mode\": \"0660\"", "\"policy_listen\": 5"),
	"fwdmapd.policy_listen");
    /* Minimal file: no fwdmapd section at all. */
    c = GOOD("{\"ldap\":{\"uris\":[\"ldap://h/\"]},\"tenants\":{\"a\":{\"base\":\"dc=a\",\"domains\":[\"a.example\"]}}}");
    if (c)
	CHECK(strcmp(c->fwdmapd.control, "/run/fwdmap/fwdmapd.ctl") == 0);
    conf_free(c);
    c = GOOD(edit("\"socket_mode\": \"0660\"", "\"socket_mode\": \"600\""));
    if (c)
	CHECK(c->fwdmapd.socket_mode == 0600);
    conf_free(c);

    /* Syntax and unknown keys. */
    BAD("{\"maps_dir\": ", "");
    BAD("[1,2]", "top level");
    BAD(edit("\"maps_dir\"", "\"map_dir\""), "map_dir: unknown key");
    BAD(edit("\"starttls\"", "\"starttsl\""), "ldap.starttsl: unknown key");
    BAD(edit("\"starttls\": false", "\"attributes\": {\"mial\": \"x\"}"),
	"ldap.attributes.mial: unknown key");
    BAD(edit("\"max_removed\"", "\"max_remove\""), "safety.max_remove: unknown key");
    BAD(edit("\"socket_group\"", "\"group\""), "fwdmapd.group: unknown key");
    BAD(edit("\"base\"", "\"basedn\""), "tenants.tum.basedn: unknown key");
    BAD(edit("\"unknown_recipients\"", "\"unknown\""), "domains.ph.tum.de.unknown: unknown key");
    BAD(edit("\"maps_dir\": \"/var/lib/fwdmap\",", "\"maps_dir\": 1,"), "maps_dir: must be a string");
    BAD(edit("\"maps_dir\": \"/var/lib/fwdmap\",", "\"maps_dir\": \"rel\","), "maps_dir: must be an absolute path");
    BAD(edit("\"recipient_delimiter\": \"+\"", "\"recipient_delimiter\": \"@\""), "recipient_delimiter");
    BAD(edit("\"maps_dir\"", "\"maps_dir\": \"/x\", \"maps_dir\""), "duplicate");

    BAD(edit("\"recipient_delimiter\": \"+\",", "\"recipient_delimiter\": \"+\", \"propagate_extensions\": \"yes\","),
	"propagate_extensions: must be true or false");
    c = GOOD(edit("\"recipient_delimiter\": \"+\",", "\"recipient_delimiter\": \"+\", \"propagate_extensions\": false,"));
    if (c)
	CHECK(c->propagate_extensions == 0);
    conf_free(c);

    /* ldap */
    BAD(edit("\"uris\": [\"ldap://127.0.0.1:389/\"]", "\"uris\": []"), "ldap.uris: must not be empty");
    BAD(edit("\"uris\": [\"ldap://127.0.0.1:389/\"]", "\"uris\": \"ldap://h/\""), "ldap.uris: must be an array");
    BAD(edit("\"ldap://127.0.0.1:389/\"", "\"http://h/\""), "ldap.uris[0]");
    BAD(edit("\"ldap://127.0.0.1:389/\"", "\"ldap://a/ ldap://b/\""), "ldap.uris[0]");
    BAD(edit("\"starttls\": false", "\"starttls\": \"no\""), "ldap.starttls: must be true or false");
    BAD(edit("\"starttls\": false", "\"page_size\": 0"), "ldap.page_size: must be between");
    BAD(edit("\"starttls\": false", "\"timeout\": 1.5"), "ldap.timeout: must be an integer");
    BAD(edit("\"starttls\": false", "\"sync\": \"persist\""), "ldap.sync");
    BAD(edit("\"/etc/fwdmap/ldap.secret\"", "\"ldap.secret\""), "ldap.bind_password_file: must be an absolute path");
    BAD(edit("\"bind_dn\": \"cn=fwdmap,dc=example,dc=org\",", ""), "needs ldap.bind_dn");
    BAD(edit("\"bind_password_file\": \"/etc/fwdmap/ldap.secret\",", ""), "ldap.bind_dn: needs ldap.bind_password_file");
    BAD(edit("\"unix:/run/fwdmap/fwdmapd.sock\"", "\"inet:mailhost:99\""), "fwdmapd.listen");
    BAD(edit("\"starttls\": false", "\"attributes\": {\"alias\": \"bad attr\"}"), "ldap.attributes.alias");
    BAD(edit("\"ldap\": {", "\"xldap\": {"), "xldap: unknown key");

    /* stores */
    BAD(edit("\"smtp:[exchange.example.org]:25\"", "\"exchange.example.org\""), "stores.exchange: transport must look like");
    BAD(edit("\"smtp:[exchange.example.org]:25\"", "\"smtp:a, b\""), "stores.exchange: bad character");
    BAD(edit("\"smtp:[exchange.example.org]:25\"", "\"smtp:\""), "stores.exchange: transport next hop is empty");
    BAD(edit("\"smtp:[exchange.example.org]:25\"", "25"), "stores.exchange: must be a transport string");
    BAD(edit("\"exchange\": \"smtp", "\"external\": \"smtp"), "stores.external: bad store name");
    BAD(edit("\"exchange\": \"smtp", "\"none\": \"smtp"), "stores.none: bad store name");

    /* tenants */
    BAD("{\"ldap\":{\"uris\":[\"ldap://h/\"]},\"tenants\":{}}", "tenants: at least one tenant");
    BAD(edit("\"base\": \"ou=tum,dc=example,dc=org\", ", ""), "tenants.tum.base: required key is missing");
    BAD(edit("\"ou=tum,dc=example,dc=org\"", "\"tum\""), "is not a DN");
    /* The base is parsed (RFC 4514) and kept in one spelling. */
    BAD(edit("\"ou=tum,dc=example,dc=org\"", "\"ou=tum,,dc=example\""),
	"tenants.tum: base: \"ou=tum,,dc=example\" is not a DN");
    BAD(edit("\"ou=tum,dc=example,dc=org\"", "\"ou=tum,dc\""), "is not a DN");
    BAD(edit("\"ou=tum,dc=example,dc=org\"", "\"ou=tum,dc=example,\""), "is not a DN");
    BAD(edit("\"ou=tum,dc=example,dc=org\"", "\"ou=tum;dc=example\""), "is not a DN");
    c = GOOD(edit("\"ou=tum,dc=example,dc=org\"", "\" OU=TUM , dc=example,  dc=org\""));
    if (c)
	CHECK(strcmp(c->tenants[0].base, "OU=TUM,dc=example,dc=org") == 0);
    conf_free(c);
    c = GOOD(edit("\"ou=tum,dc=example,dc=org\"", "\"o=A\\\\, B,dc=example\""));
    if (c)
	CHECK(strcmp(c->tenants[0].base, "o=A\\2C B,dc=example") == 0);
    conf_free(c);
    BAD(edit("\"domains\": [\"tum.de\", \"mytum.de\", \"ph.tum.de\"]", "\"domains\": []"), "tenants.tum.domains: must not be empty");
    BAD(edit("\"mytum.de\"", "\"my tum.de\""), "is not a domain name");
    BAD(edit("\"mytum.de\"", "\"localhost\""), "is not a domain name");
    BAD(edit("\"mytum.de\"", "\"TUM.de\""), "listed twice");
    BAD(edit("\"domains\": [\"tum.de\", \"mytum.de\", \"ph.tum.de\"] }",
	     "\"domains\": [\"tum.de\", \"mytum.de\", \"ph.tum.de\"] }, \"lmu\": {\"base\": \"dc=lmu\", \"domains\": [\"lmu.de\", \"Tum.DE\"]}"),
	"already owned by tenant \"tum\"");
    BAD(edit("\"domains\": [\"tum.de\",", "\"filter\": \"uid=x\", \"domains\": [\"tum.de\","), "tenants.tum: filter");
    BAD(edit("\"domains\": [\"tum.de\",", "\"filter\": \"(a=b))(\", \"domains\": [\"tum.de\","), "tenants.tum: filter");
    BAD(edit("\"domains\": [\"tum.de\",", "\"default_location\": \"imap\", \"domains\": [\"tum.de\","), "is not a configured store");
    BAD(edit("\"domains\": [\"tum.de\",", "\"default_location\": \"External\", \"domains\": [\"tum.de\","), "is not a configured store");
    c = GOOD(edit("\"domains\": [\"tum.de\",", "\"default_location\": \"external\", \"domains\": [\"tum.de\","));
    if (c)
	CHECK(strcmp(conf_tenant(c, "tum")->default_location, "external") == 0);
    conf_free(c);
    c = GOOD(edit("\"domains\": [\"tum.de\",", "\"default_location\": \"none\", \"domains\": [\"tum.de\","));
    conf_free(c);
    BAD(edit("\"domains\": [\"tum.de\",", "\"allowed_hosts\": [\"a b\"], \"domains\": [\"tum.de\","), "allowed_hosts");
    BAD(edit("\"domains\": [\"tum.de\",", "\"allowed_hosts\": [\"h.example:99999\"], \"domains\": [\"tum.de\","), "allowed_hosts");
    /* Hosts follow addr_valid_host(): digits and dots are an IPv4 address. */
    BAD(edit("\"domains\": [\"tum.de\",", "\"allowed_hosts\": [\"999.999.999.999:25\"], \"domains\": [\"tum.de\","),
	"allowed_hosts: \"999.999.999.999:25\" is not a host name (invalid IPv4 address)");
    BAD(edit("\"domains\": [\"tum.de\",", "\"allowed_hosts\": [\"[999.999.999.999]:25\"], \"domains\": [\"tum.de\","), "allowed_hosts");
    BAD(edit("\"domains\": [\"tum.de\",", "\"allowed_hosts\": [\"1.2.3.4.5\"], \"domains\": [\"tum.de\","), "allowed_hosts");
    BAD(edit("\"unix:/run/fwdmap/fwdmapd.sock\"", "\"inet:999.999.999.999:25\""), "fwdmapd.listen");
    c = GOOD(edit("\"domains\": [\"tum.de\",", "\"allowed_hosts\": [\"10.1.2.3:25\", \"[2001:db8::1]\"], \"domains\": [\"tum.de\","));
    conf_free(c);
    BAD(edit("\"domains\": [\"tum.de\",", "\"domains\": [1,"), "element 0 must be a string");

    /* domains */
    BAD(edit("\"ph.tum.de\": {", "\"lmu.de\": {"), "domains.lmu.de: domain is not owned by any tenant");
    BAD(edit("\"unknown_recipients\": \"route\"", "\"unknown_recipients\": \"accept\""), "must be \"reject\" or \"route\"");
    BAD(edit("\"default_route\": \"smtp:[mail.ph.tum.de]:25\", ", ""), "needs a default_route");
    BAD(edit("\"smtp:[mail.ph.tum.de]:25\"", "\"mail.ph.tum.de\""), "domains.ph.tum.de: default_route");

    /* safety */
    BAD(edit("\"max_removed\": 500", "\"max_removed\": -1"), "safety.max_removed: must be between");
    BAD(edit("\"max_removed_percent\": 10", "\"max_removed_percent\": 101"), "safety.max_removed_percent");
    BAD(edit("\"max_removed_percent\": 10", "\"max_removed_percent\": \"10\""), "safety.max_removed_percent: must be a number");
    c = GOOD(edit("\"max_removed_percent\": 10", "\"max_removed_percent\": 2.5, \"allow_mass_removal\": true"));
    if (c)
	CHECK(c->safety.max_removed_percent == 2.5 && c->safety.allow_mass_removal == 1);
    conf_free(c);

    /* ldapsync */
    BAD(edit("\"safety\"", "\"ldapsync\": {\"state_dir\": \"x\"}, \"safety\""), "ldapsync.state_dir: must be an absolute path");
    BAD(edit("\"safety\"", "\"ldapsync\": {\"batch_ms\": 1}, \"safety\""), "ldapsync.batch_ms: unknown key");
    BAD(edit("\"safety\"", "\"ldapsync\": {\"max_forwards\": 0}, \"safety\""), "ldapsync.max_forwards");
    /* A virtual reply of max_forwards + 1 addresses must fit Postfix's
     * socketmap_max_reply_size (100000): 300 is the largest allowed. */
    BAD(edit("\"safety\"", "\"ldapsync\": {\"max_forwards\": 301}, \"safety\""),
	"ldapsync.max_forwards: must be between 1 and 300");
    BAD(edit("\"safety\"", "\"ldapsync\": {\"max_forwards\": 1000}, \"safety\""),
	"ldapsync.max_forwards: must be between 1 and 300");
    c = GOOD(edit("\"safety\"", "\"ldapsync\": {\"max_forwards\": 300}, \"safety\""));
    if (c)
	CHECK(c->ldapsync.max_forwards == 300);
    conf_free(c);

    /* fwdmapd */
    BAD(edit("\"socket_mode\": \"0660\"", "\"socket_mode\": 660"), "fwdmapd.socket_mode: must be a string");
    BAD(edit("\"socket_mode\": \"0660\"", "\"socket_mode\": \"0868\""), "fwdmapd.socket_mode");
    BAD(edit("\"socket_mode\": \"0660\"", "\"socket_mode\": \"01777\""), "fwdmapd.socket_mode");
    BAD(edit("\"socket_mode\": \"0660\"", "\"socket_mode\": \"\""), "fwdmapd.socket_mode");
    BAD(edit("\"unix:/run/fwdmap/fwdmapd.sock\"", "\"unix:run/x.sock\""), "fwdmapd.listen");
    BAD(edit("\"unix:/run/fwdmap/fwdmapd.sock\"", "\"inet:127.0.0.1\""), "fwdmapd.listen");
    BAD(edit("\"unix:/run/fwdmap/fwdmapd.sock\"", "\"inet:127.0.0.1:0\""), "fwdmapd.listen");
    BAD(edit("\"unix:/run/fwdmap/fwdmapd.sock\"", "\"tcp:127.0.0.1:99\""), "fwdmapd.listen");
    BAD(edit("\"socket_mode\": \"0660\"", "\"control\": \"run/x.ctl\""), "fwdmapd.control: must be an absolute path");
    BAD(edit("\"socket_mode\": \"0660\"", "\"metrics_listen\": \"unix:/run/fwdmap/m.sock\""), "fwdmapd.metrics_listen: \"unix:/run/fwdmap/m.sock\": must be \"inet:HOST:PORT\"");
    BAD(edit("\"socket_mode\": \"0660\"", "\"metrics_listen\": \"inet:127.0.0.1\""), "fwdmapd.metrics_listen");
    BAD(edit("\"socket_mode\": \"0660\"", "\"metrics_listen\": \"inet:127.0.0.1:70000\""), "fwdmapd.metrics_listen");
    BAD(edit("\"socket_mode\": \"0660\"", "\"metrics_listen\": 9489"), "fwdmapd.metrics_listen");
    BAD(edit("\"safety\": {", "\"ldapsync\": {\"metrics_listen\": \"9490\"}, \"safety\": {"), "ldapsync.metrics_listen");
    BAD(edit("\"safety\": {", "\"ldapsync\": {\"metric_listen\": \"inet:127.0.0.1:9490\"}, \"safety\": {"), "ldapsync.metric_listen: unknown key");
    BAD(edit("\"socket_mode\": \"0660\"", "\"control\": \"/run/fwdmap/fwdmapd.sock\""), "is also the listen socket");
    BAD(edit("\"unix:/run/fwdmap/fwdmapd.sock\"", "\"unix:/run/fwdmap/fwdmapd.ctl\""), "fwdmapd.control: \"/run/fwdmap/fwdmapd.ctl\" is also the listen socket");
    {
	char    longdir[200], big[400];

	/* listen fits in sun_path, the derived control path does not */
	memset(longdir, 'd', 97);
	longdir[97] = 0;
	snprintf(big, sizeof(big), "\"unix:/%s/f.sock\"", longdir);
	BAD(edit("\"unix:/run/fwdmap/fwdmapd.sock\"", big), "fwdmapd.control: unix socket path too long");
    }

    /* A file that does not exist. */
    CHECK(conf_load("/nonexistent/fwdmap.json", err, sizeof(err)) == NULL
	  && strstr(err, "/nonexistent/fwdmap.json") != NULL);

    unlink(path);
    rmdir(dir);
    return (DONE());
}

/*
 * t_srs_query.c - the srs configuration section (each rule's refusal names
 * the key) and srs_query(): what SRS answers and what it leaves to the
 * tables, with a dedicated SRS domain and with one that is also a tenant's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "conf.h"
#include "srs.h"
#include "srs_query.h"

static char dir[] = "/tmp/t_srs_query.XXXXXX";
static char path[512], secpath[512];

static struct conf *
load(const char *srs, char *err, size_t errlen)
{
    FILE   *f = fopen(path, "w");

    if (f == NULL)
	return (NULL);
    fprintf(f, "{ \"ldap\": {\"uris\": [\"ldap://127.0.0.1/\"]},\n"
	    "  \"tenants\": {\"tum\": {\"base\": \"ou=tum,dc=example,dc=org\","
	    " \"domains\": [\"tum.de\", \"srs.tum.de\"]}}%s%s }\n",
	    srs ? ", \"srs\": " : "", srs ? srs : "");
    fclose(f);
    return (conf_load(path, err, errlen));
}

/* srs_query as Postfix would see it: "OK value", "NOTFOUND", "PERM ...",
 * or "TABLES" when SRS leaves the key to the tables. */
static const char *
q(const struct srs *s, const struct conf *c, const char *map, const char *key)
{
    static char buf[SRS_ADDR_MAX + 16];
    const char *v = NULL;
    size_t  vl = 0;
    int     handled;
    enum map_q r = srs_query(s, c, map, strlen(map), key, strlen(key),
			     time(NULL), &handled, &v, &vl);

    if (!handled)
	return ("TABLES");
    if (r == MAP_Q_OK)
	snprintf(buf, sizeof(buf), "OK %.*s", (int) vl, v);
    else if (r == MAP_Q_NOTFOUND)
	snprintf(buf, sizeof(buf), "NOTFOUND");
    else
	snprintf(buf, sizeof(buf), "%s %.*s", r == MAP_Q_PERM ? "PERM" : "TEMP",
		 (int) vl, v);
    return (buf);
}

#define SRSCONF(dom) "{\"domain\": \"" dom "\", \"secrets_file\": \"%s\"}"

int
main(void)
{
    struct conf *c;
    struct srs *s;
    char    err[1024], js[1024], fwd[SRS_ADDR_MAX];
    FILE   *f;

    if (mkdtemp(dir) == NULL)
	return (1);
    snprintf(path, sizeof(path), "%s/fwdmap.json", dir);
    snprintf(secpath, sizeof(secpath), "%s/srs.secret", dir);
    f = fopen(secpath, "w");
    fputs("s3cret\n", f);
    fclose(f);
    chmod(secpath, 0600);

    /* The section: off by default, defaults, each refusal names its key. */
    c = load(NULL, err, sizeof(err));
    CHECK(c && c->srs.domain == NULL);
    CHECK(c && srs_query_open(c, getuid(), err, sizeof(err)) == NULL && err[0] == 0);
    CHECK(c && strcmp(q(NULL, c, "srs_forward", "a@b.example"),
		      "PERM SRS is not configured (srs.domain)") == 0);
    CHECK(c && strcmp(q(NULL, c, "domains", "tum.de"), "TABLES") == 0);
    conf_free(c);
    snprintf(js, sizeof(js), SRSCONF("SRS.Example.ORG"), secpath);
    c = load(js, err, sizeof(err));
    CHECK(c && strcmp(c->srs.domain, "srs.example.org") == 0);
    CHECK(c && c->srs.max_age_days == 21 && c->srs.hash_length == 4);
    CHECK(c && strcmp(c->srs.pass_address, "127.0.0.1:10027") == 0);
    conf_free(c);
#define BAD(text, key) do { \
	CHECK(load(text, err, sizeof(err)) == NULL); \
	CHECK(strstr(err, key) != NULL); \
	if (strstr(err, key) == NULL) fprintf(stderr, "  message: %s\n", err); \
    } while (0)
    BAD("{\"domain\": \"srs.example.org\"}", "srs.secrets_file: required");
    BAD("{\"domain\": \"srs.example.org\", \"secrets_file\": \"rel/x\"}", "srs.secrets_file: must be an absolute");
    BAD("{\"secrets_file\": \"/x\"}", "srs.secrets_file: set, but srs.domain is not");
    BAD("{\"domain\": \"nodot\", \"secrets_file\": \"/x\"}", "srs.domain");
    BAD("{\"domain\": \"a.example\", \"secrets_file\": \"/x\", \"hash_length\": 3}", "srs.hash_length");
    BAD("{\"domain\": \"a.example\", \"secrets_file\": \"/x\", \"hash_length\": 27}", "srs.hash_length");
    BAD("{\"domain\": \"a.example\", \"secrets_file\": \"/x\", \"max_age_days\": 0}", "srs.max_age_days");
    BAD("{\"domain\": \"a.example\", \"secrets_file\": \"/x\", \"pass_address\": \"192.0.2.1:25\"}", "srs.pass_address");
    BAD("{\"domain\": \"a.example\", \"secrets_file\": \"/x\", \"pass_address\": \"127.0.0.1\"}", "srs.pass_address");
    BAD("{\"domain\": \"a.example\", \"secrets_file\": \"/x\", \"pass_address\": \"127.0.0.1:0\"}", "srs.pass_address");
    BAD("{\"domain\": \"a.example\", \"secrets_file\": \"/x\", \"secret\": \"x\"}", "srs.secret: unknown key");
    c = load("{\"domain\": \"a.example\", \"secrets_file\": \"/x\", \"pass_address\": \"[::1]:10099\"}",
	     err, sizeof(err));
    CHECK(c != NULL);
    conf_free(c);

    /* A dedicated SRS domain. */
    snprintf(js, sizeof(js), SRSCONF("srs.example.org"), secpath);
    c = load(js, err, sizeof(err));
    s = c ? srs_query_open(c, getuid(), err, sizeof(err)) : NULL;
    CHECK(s != NULL);
    if (c == NULL || s == NULL)
	return (DONE());
    snprintf(fwd, sizeof(fwd), "%s", q(s, c, "srs_forward", "Bob@bank.example"));
    CHECK(strncmp(fwd, "OK SRS0=", 8) == 0);
    CHECK(strcmp(q(s, c, "srs_reverse", fwd + 3), "OK Bob@bank.example") == 0);
    CHECK(strcmp(q(s, c, "recipients", fwd + 3), "OK srs") == 0);
    CHECK(strcmp(q(s, c, "srs_forward", "jane@TUM.de"), "NOTFOUND") == 0);
    CHECK(strcmp(q(s, c, "srs_forward", "jane@srs.tum.de"), "NOTFOUND") == 0);
    CHECK(strcmp(q(s, c, "srs_forward", "<>"), "NOTFOUND") == 0);
    CHECK(strcmp(q(s, c, "srs_forward", ""), "NOTFOUND") == 0);
    CHECK(strcmp(q(s, c, "srs_forward", "@bank.example"), "NOTFOUND") == 0);
    CHECK(strcmp(q(s, c, "srs_reverse", "bob@bank.example"), "NOTFOUND") == 0);
    CHECK(strcmp(q(s, c, "domains", "srs.example.org"), "OK srs") == 0);
    CHECK(strcmp(q(s, c, "domains", "tum.de"), "TABLES") == 0);
    CHECK(strcmp(q(s, c, "recipients", "postmaster@srs.example.org"), "NOTFOUND") == 0);
    CHECK(strcmp(q(s, c, "recipients", "SRS0=xxxx=AA=b.example=u@srs.example.org"), "NOTFOUND") == 0);
    CHECK(strcmp(q(s, c, "recipients", "jane@tum.de"), "TABLES") == 0);
    CHECK(strcmp(q(s, c, "virtual", fwd + 3), "TABLES") == 0);
    CHECK(strcmp(q(s, c, "transport", fwd + 3), "TABLES") == 0);
    srs_free(s);
    conf_free(c);

    /* An SRS domain that is also a tenant's: its other addresses are the
     * tables' business, its SRS addresses SRS's. */
    snprintf(js, sizeof(js), SRSCONF("srs.tum.de"), secpath);
    c = load(js, err, sizeof(err));
    s = c ? srs_query_open(c, getuid(), err, sizeof(err)) : NULL;
    CHECK(s != NULL);
    if (c == NULL || s == NULL)
	return (DONE());
    snprintf(fwd, sizeof(fwd), "%s", q(s, c, "srs_forward", "Bob@bank.example"));
    CHECK(strncmp(fwd, "OK SRS0=", 8) == 0 && strstr(fwd, "@srs.tum.de") != NULL);
    CHECK(strcmp(q(s, c, "recipients", fwd + 3), "OK srs") == 0);
    CHECK(strcmp(q(s, c, "recipients", "SRS0=xxxx=AA=b.example=u@srs.tum.de"), "NOTFOUND") == 0);
    CHECK(strcmp(q(s, c, "recipients", "someone@srs.tum.de"), "TABLES") == 0);
    CHECK(strcmp(q(s, c, "domains", "srs.tum.de"), "TABLES") == 0);
    srs_free(s);
    conf_free(c);

    /* The file's rules through srs_query_open. */
    chmod(secpath, 0640);
    c = load(js, err, sizeof(err));
    CHECK(c && srs_query_open(c, getuid(), err, sizeof(err)) == NULL);
    CHECK(strstr(err, "accessible by group or others") != NULL);
    conf_free(c);

    unlink(secpath);
    unlink(path);
    rmdir(dir);
    return (DONE());
}

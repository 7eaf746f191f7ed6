/*
 * ldapsync_latency.c - change-latency probe for bench/ldapsync.sh.
 *
 * SYNOPSIS
 *	ldapsync_latency -H URI -D BINDDN -y PWFILE -b BASE -m MAPS_DIR
 *			 [-r RATE] [-d SECONDS] [-n PEOPLE] [-t TIMEOUT]
 *
 * DESCRIPTION
 *	Sends RATE modifications per second for SECONDS (asynchronous LDAP
 *	modify operations, paced on a fixed schedule), each replacing
 *	fwdForwardAddress of a different person uid=uNNNNNNN,BASE with a
 *	unique value, and measures for each how long it takes from sending
 *	the modify until the published tables (read exactly as fwdmapd
 *	reads them: map_gen_open, map_gen_stale, map_gen_get on the
 *	virtual table) answer with the new forward.  Prints count, p50,
 *	p90, p99, max and how many never showed up within TIMEOUT seconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ldap.h>

#include "map.h"

struct probe {
    char    addr[64];
    char    want[64];
    long long sent_us;
    long long seen_us;		/* 0: not yet */
    long long ack_us;		/* modify result received */
    int     msgid;
};

int	main(int, char **);

static long long
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

static int
cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *) a, y = *(const long long *) b;

    return ((x > y) - (x < y));
}

int
main(int argc, char **argv)
{
    const char *uri = NULL, *binddn = NULL, *pwfile = NULL, *base = NULL, *maps = NULL;
    int     rate = 100, secs = 60, people = 1000000, timeout = 10, ch, v3 = LDAP_VERSION3;
    LDAP   *ld;
    char    pw[256], err[256];
    struct berval cred;
    FILE   *f;
    struct probe *pr;
    int     total, sent = 0, done = 0, missing = 0, i, outstanding = 0;
    long long start, *lat;
    struct map_gen *g = NULL;
    unsigned tag = (unsigned) time(NULL);

    while ((ch = getopt(argc, argv, "H:D:y:b:m:r:d:n:t:")) != -1) {
	switch (ch) {
	case 'H': uri = optarg; break;
	case 'D': binddn = optarg; break;
	case 'y': pwfile = optarg; break;
	case 'b': base = optarg; break;
	case 'm': maps = optarg; break;
	case 'r': rate = atoi(optarg); break;
	case 'd': secs = atoi(optarg); break;
	case 'n': people = atoi(optarg); break;
	case 't': timeout = atoi(optarg); break;
	default: goto usage;
	}
    }
    if (!uri || !binddn || !pwfile || !base || !maps || rate <= 0 || secs <= 0 || people <= 0) {
usage:
	fprintf(stderr, "usage: ldapsync_latency -H URI -D BINDDN -y PWFILE -b BASE -m MAPS_DIR"
		" [-r RATE] [-d SECONDS] [-n PEOPLE] [-t TIMEOUT]\n");
	return (2);
    }
    if ((f = fopen(pwfile, "r")) == NULL || fgets(pw, sizeof(pw), f) == NULL) {
	perror(pwfile);
	return (1);
    }
    fclose(f);
    pw[strcspn(pw, "\r\n")] = 0;
    if (ldap_initialize(&ld, uri) != LDAP_SUCCESS)
	return (1);
    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
    cred.bv_val = pw;
    cred.bv_len = strlen(pw);
    if (ldap_sasl_bind_s(ld, binddn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL) != LDAP_SUCCESS) {
	fprintf(stderr, "bind failed\n");
	return (1);
    }
    total = rate * secs;
    pr = calloc((size_t) total, sizeof(*pr));
    lat = calloc((size_t) total, sizeof(*lat));
    if (pr == NULL || lat == NULL)
	return (1);
    if (map_gen_open(maps, &g, err, sizeof(err)) < 0) {
	fprintf(stderr, "%s\n", err);
	return (1);
    }
    start = now_us();
    while (done + missing < total) {
	long long now = now_us();
	LDAPMessage *res;
	struct timeval zero = {0, 0};

	/* Send what is due. */
	while (sent < total && now >= start + (long long) sent * 1000000 / rate) {
	    struct probe *p = &pr[sent];
	    long    k = (long) (((long long) sent * 7919) % people);
	    char    dn[256], *vals[2];
	    LDAPMod mod, *mods[2];
	    int     msgid;

	    snprintf(p->addr, sizeof(p->addr), "u%07ld@tum.de", k);
	    snprintf(p->want, sizeof(p->want), "lat%u-%d@bench.example", tag, sent);
	    snprintf(dn, sizeof(dn), "uid=u%07ld,%s", k, base);
	    vals[0] = p->want;
	    vals[1] = NULL;
	    mod.mod_op = LDAP_MOD_REPLACE;
	    mod.mod_type = (char *) (uintptr_t) "fwdForwardAddress";
	    mod.mod_values = vals;
	    mods[0] = &mod;
	    mods[1] = NULL;
	    p->sent_us = now_us();
	    if (ldap_modify_ext(ld, dn, mods, NULL, NULL, &msgid) != LDAP_SUCCESS) {
		fprintf(stderr, "modify %s failed\n", dn);
		return (1);
	    }
	    p->msgid = msgid;
	    outstanding++;
	    sent++;
	}
	/* Reap modify results. */
	while (outstanding > 0 && ldap_result(ld, LDAP_RES_ANY, LDAP_MSG_ALL, &zero, &res) > 0) {
	    int     code = 0, id = ldap_msgid(res), j;

	    for (j = sent - 1; j >= 0 && j >= sent - 100000; j--)
		if (pr[j].msgid == id && pr[j].ack_us == 0) {
		    pr[j].ack_us = now_us() - pr[j].sent_us;
		    break;
		}
	    ldap_parse_result(ld, res, &code, NULL, NULL, NULL, NULL, 1);
	    if (code != LDAP_SUCCESS)
		fprintf(stderr, "modify: %s\n", ldap_err2string(code));
	    outstanding--;
	}
	/* Look at the tables the way fwdmapd does. */
	if (map_gen_stale(g)) {
	    struct map_gen *ng;

	    if (map_gen_refresh(maps, g, &ng, err, sizeof(err)) == 0) {
		map_gen_close(g);
		g = ng;
	    }
	}
	now = now_us();
	for (i = done + missing; i < sent; i++) {
	    struct probe *p = &pr[i];
	    const char *val;
	    size_t  vlen;

	    if (p->seen_us)
		continue;
	    if (map_gen_get(g, 'V', p->addr, strlen(p->addr), &val, &vlen) == 1
		&& memmem(val, vlen, p->want, strlen(p->want)) != NULL)
		p->seen_us = now;
	    else if (now - p->sent_us > (long long) timeout * 1000000)
		p->seen_us = -1;
	}
	while (done + missing < sent && pr[done + missing].seen_us) {
	    struct probe *p = &pr[done + missing];

	    if (p->seen_us < 0)
		missing++;
	    else {
		lat[done] = p->seen_us - p->sent_us;
		if (getenv("LATENCY_TRACE") && lat[done] > 400000)
		    fprintf(stderr, "slow: change %d sent at +%.3fs seen after %.0fms\n",
			    done + missing, (p->sent_us - start) / 1e6, lat[done] / 1000.0);
		done++;
	    }
	}
	usleep(1000);
    }
    qsort(lat, (size_t) done, sizeof(*lat), cmp_ll);
    printf("changes=%d rate=%d/s seen=%d missing=%d", total, rate, done, missing);
    if (done)
	printf(" p50=%.1fms p90=%.1fms p99=%.1fms max=%.1fms",
	       lat[done / 2] / 1000.0, lat[done * 9 / 10] / 1000.0,
	       lat[(done * 99) / 100 < done ? (done * 99) / 100 : done - 1] / 1000.0,
	       lat[done - 1] / 1000.0);
    for (i = 0; i < total; i++)
	lat[i] = pr[i].ack_us;
    qsort(lat, (size_t) total, sizeof(*lat), cmp_ll);
    printf(" | ldap modify acknowledged: p50=%.1fms p99=%.1fms max=%.1fms",
	   lat[total / 2] / 1000.0, lat[(total * 99) / 100] / 1000.0, lat[total - 1] / 1000.0);
    printf("\n");
    map_gen_close(g);
    ldap_unbind_ext_s(ld, NULL, NULL);
    return (missing ? 1 : 0);
}

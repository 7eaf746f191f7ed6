/*
 * t_srs.c - SRS addresses at their boundaries: known answers computed
 * independently (Python's hmac/base64), age limits on the day, the
 * 1024-day wrap, hash length and case, SRS1 rewrapping, secrets parsing
 * and the file's permission rules, output buffers that just fit.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "srs.h"

#define DAY	86400L
#define NOW	1764806400L		/* 2025-12-04 00:00 UTC, stamp "6K" */
#define DOM	"srs.example.org"

static char out[SRS_ADDR_MAX];
static size_t outlen;

static int
fwd(const struct srs *s, const char *a, time_t now)
{
    outlen = 0;
    return (srs_forward(s, a, strlen(a), now, out, sizeof(out), &outlen));
}

static int
rev(const struct srs *s, const char *a, time_t now)
{
    outlen = 0;
    return (srs_reverse(s, a, strlen(a), now, out, sizeof(out), &outlen, NULL));
}

static struct srs *
mk(const char *secrets, int hl, int age)
{
    struct srs *s = srs_create("SRS.Example.ORG", hl, age);
    char    err[256];

    if (s && srs_secrets_parse(s, secrets, strlen(secrets), err, sizeof(err)) < 0) {
	fprintf(stderr, "secrets: %s\n", err);
	srs_free(s);
	return (NULL);
    }
    return (s);
}

int
main(void)
{
    struct srs *s = mk("tops3cr3t\n", 4, 21), *s8 = mk("tops3cr3t", 8, 21);
    struct srs *rot = mk("second\r\n\ntops3cr3t\r\n", 4, 21), *other = mk("second", 4, 21);
    char    err[256], a[SRS_ADDR_MAX], big[2048], path[] = "/tmp/t_srs.XXXXXX";
    const char *why = NULL;
    int     fd;
    size_t  n;

    CHECK(s && s8 && rot && other);
    if (!s || !s8 || !rot || !other)
	return (1);
    CHECK(strcmp(srs_domain(s), DOM) == 0);
    CHECK(srs_nsecrets(rot) == 2);

    /* Known answers (independent HMAC-SHA1 + base64). */
    CHECK(fwd(s, "Bob@bank.example", NOW) == 1);
    CHECK_STR(out, outlen, "SRS0=bLeW=6K=bank.example=Bob@srs.example.org");
    CHECK(fwd(s8, "Bob@bank.example", NOW) == 1);
    CHECK_STR(out, outlen, "SRS0=bLeW3uS2=6K=bank.example=Bob@srs.example.org");
    /* Another forwarder's SRS0 becomes SRS1; an SRS1 keeps its first hop. */
    CHECK(fwd(s, "SRS0=abcd=AB=orig.example=alice@fwd1.example", NOW) == 1);
    CHECK_STR(out, outlen, "SRS1=AUng=fwd1.example==abcd=AB=orig.example=alice@srs.example.org");
    CHECK(fwd(s, "SRS1=zzzz=fwd1.example==abcd=AB=orig.example=alice@fwd2.example", NOW) == 1);
    CHECK_STR(out, outlen, "SRS1=AUng=fwd1.example==abcd=AB=orig.example=alice@srs.example.org");
    /* A malformed SRS1 is an ordinary sender. */
    CHECK(fwd(s, "SRS1=x@fwd2.example", NOW) == 1);
    CHECK(strncmp(out, "SRS0=", 5) == 0);

    /* Not rewritten. */
    CHECK(fwd(s, "", NOW) == 0);
    CHECK(fwd(s, "<>", NOW) == 0);
    CHECK(fwd(s, "@bank.example", NOW) == 0);
    CHECK(fwd(s, "bob@", NOW) == 0);
    CHECK(fwd(s, "bob", NOW) == 0);
    CHECK(fwd(s, "b ob@bank.example", NOW) == 0);
    CHECK(fwd(s, "bob@bank.example\n", NOW) == 0);
    CHECK(fwd(s, "SRS0=bLeW=6K=bank.example=Bob@SRS.example.org", NOW) == 0);
    CHECK(fwd(s, "anyone@srs.example.org", NOW) == 0);
    CHECK(fwd(s, "u@h=x.example", NOW) == 0);
    CHECK(fwd(s, "SRS0=abcd=AB=o.example=a@h=x.example", NOW) == 0);

    /* Round trip, case of the hash and of the whole address. */
    CHECK(fwd(s, "Bob@bank.example", NOW) == 1);
    CHECK(rev(s, "SRS0=bLeW=6K=bank.example=Bob@srs.example.org", NOW) == 1);
    CHECK_STR(out, outlen, "Bob@bank.example");
    CHECK(rev(s, "srs0=BLEW=6k=bank.example=Bob@SRS.EXAMPLE.ORG", NOW) == 1);
    CHECK_STR(out, outlen, "Bob@bank.example");
    CHECK(rev(s, "SRS0+bLeW=6K=bank.example=Bob@srs.example.org", NOW) == 1);
    /* SRS1 reverses to the first forwarder's SRS0. */
    CHECK(rev(s, "SRS1=AUng=fwd1.example==abcd=AB=orig.example=alice@srs.example.org", NOW) == 1);
    CHECK_STR(out, outlen, "SRS0=abcd=AB=orig.example=alice@fwd1.example");
    CHECK(rev(s, "SRS1=AUnh=fwd1.example==abcd=AB=orig.example=alice@srs.example.org", NOW) == 0);

    /* Forged, truncated, longer, wrong domain, malformed. */
    CHECK(srs_reverse(s, "SRS0=bLeX=6K=bank.example=Bob@srs.example.org", 45, NOW,
		      out, sizeof(out), &outlen, &why) == 0);
    CHECK(why && strcmp(why, "hash invalid") == 0);
    CHECK(rev(s, "SRS0=bLe=6K=bank.example=Bob@srs.example.org", NOW) == 0);
    CHECK(rev(s, "SRS0=bLeWx=6K=bank.example=Bob@srs.example.org", NOW) == 0);
    CHECK(rev(s, "SRS0=bLeW=6K=bank.example=Bob@srs.example.com", NOW) == 0);
    CHECK(rev(s, "SRS0=bLeW=6K=bank.example=Mallory@srs.example.org", NOW) == 0);
    CHECK(rev(s, "SRS0=bLeW=6K=bank.example=@srs.example.org", NOW) == 0);
    CHECK(rev(s, "SRS0=bLeW=6K=bank.example@srs.example.org", NOW) == 0);
    CHECK(rev(s, "SRS0==6K=bank.example=Bob@srs.example.org", NOW) == 0);
    CHECK(rev(s, "SRS0=bLeW=6=bank.example=Bob@srs.example.org", NOW) == 0);
    CHECK(rev(s, "SRS0=bLeW=6K1=bank.example=Bob@srs.example.org", NOW) == 0);
    CHECK(rev(s, "SRS0=bLeW=1K=bank.example=Bob@srs.example.org", NOW) == 0);
    CHECK(rev(s, "SRS0@srs.example.org", NOW) == 0);
    CHECK(rev(s, "SRS2=bLeW=6K=bank.example=Bob@srs.example.org", NOW) == 0);
    CHECK(rev(s, "SRS0=", NOW) == 0);
    CHECK(rev(s, "bob@srs.example.org", NOW) == 0);
    CHECK(rev(s8, "SRS0=bLeW=6K=bank.example=Bob@srs.example.org", NOW) == 0);
    CHECK(rev(s8, "SRS0=BLEW3US2=6K=bank.example=Bob@srs.example.org", NOW) == 1);

    /* Age: valid through day max_age, refused the day after. */
    CHECK(fwd(s, "bob@bank.example", NOW) == 1);
    memcpy(a, out, outlen + 1);
    CHECK(rev(s, a, NOW + 21 * DAY + DAY - 1) == 1);
    CHECK(rev(s, a, NOW + 22 * DAY) == 0);
    CHECK(srs_reverse(s, a, strlen(a), NOW + 22 * DAY, out, sizeof(out), &outlen, &why) == 0);
    CHECK(why && strcmp(why, "timestamp expired or invalid") == 0);
    CHECK(rev(s, a, NOW - DAY) == 0);		/* from the "future": ~1023 days old */
    /* Across the 1024-day wrap: minted on day 1023 of a cycle ("77"). */
    {
	time_t  d1023 = (time_t) ((NOW / DAY / 1024 + 1) * 1024 - 1) * DAY;

	CHECK(fwd(s, "bob@bank.example", d1023) == 1);
	CHECK(strstr(out, "=77=") != NULL);
	memcpy(a, out, outlen + 1);
	CHECK(rev(s, a, d1023 + 5 * DAY) == 1);
	CHECK(rev(s, a, d1023 + 22 * DAY) == 0);
    }

    /* Rotation: the first secret signs, every one verifies. */
    CHECK(fwd(rot, "bob@bank.example", NOW) == 1);
    memcpy(a, out, outlen + 1);
    CHECK(rev(other, a, NOW) == 1);
    CHECK(rev(s, a, NOW) == 0);
    CHECK(rev(rot, "SRS0=bLeW=6K=bank.example=Bob@srs.example.org", NOW) == 1);
    CHECK(rev(other, "SRS0=bLeW=6K=bank.example=Bob@srs.example.org", NOW) == 0);

    /* Output buffers: exactly enough, one byte short. */
    CHECK(srs_forward(s, "Bob@bank.example", 16, NOW, out, 46, &outlen) == 1);
    CHECK(outlen == 45);
    CHECK(srs_forward(s, "Bob@bank.example", 16, NOW, out, 45, &outlen) == -1);
    CHECK(srs_reverse(s, "SRS0=bLeW=6K=bank.example=Bob@srs.example.org", 45, NOW,
		      out, 17, &outlen, NULL) == 1);
    CHECK(outlen == 16);
    CHECK(srs_reverse(s, "SRS0=bLeW=6K=bank.example=Bob@srs.example.org", 45, NOW,
		      out, 16, &outlen, NULL) == -1);
    /* A long sender still fits SRS_ADDR_MAX or is refused, never cut. */
    memset(big, 'x', sizeof(big));
    memcpy(big + 900, "@bank.example", 14);
    CHECK(srs_forward(s, big, strlen(big), NOW, out, sizeof(out), &outlen) == 1);
    CHECK(outlen == strlen(big) + strlen("SRS0=HHHH=6K==") + strlen(DOM));
    memset(big, 'x', sizeof(big));
    memcpy(big + 1000, "@bank.example", 14);
    CHECK(srs_forward(s, big, strlen(big), NOW, out, sizeof(out), &outlen) == -1);

    /* Secrets parsing: postsrsd's rules, refusals keep the old secrets. */
    CHECK(srs_secrets_parse(s, "", 0, err, sizeof(err)) == -1);
    CHECK(srs_secrets_parse(s, "\n\r\n\n", 4, err, sizeof(err)) == -1);
    CHECK(strcmp(err, "holds no secret") == 0);
    CHECK(srs_secrets_parse(s, "a\0b\n", 4, err, sizeof(err)) == -1);
    memset(big, 'k', sizeof(big));
    CHECK(srs_secrets_parse(s, big, SRS_SECRET_MAX, err, sizeof(err)) == 0);
    CHECK(srs_secrets_parse(s, big, SRS_SECRET_MAX + 1, err, sizeof(err)) == -1);
    CHECK(strstr(err, "kkk") == NULL);
    CHECK(srs_secrets_parse(s, "tops3cr3t", 9, err, sizeof(err)) == 0);
    CHECK(srs_secrets_parse(s, "\n", 1, err, sizeof(err)) == -1);
    CHECK(rev(s, "SRS0=bLeW=6K=bank.example=Bob@srs.example.org", NOW) == 1);

    /* The file: group- or other-accessible refused, 0600 read. */
    fd = mkstemp(path);
    CHECK(fd >= 0);
    n = strlen("second\ntops3cr3t\n");
    CHECK(write(fd, "second\ntops3cr3t\n", n) == (ssize_t) n);
    close(fd);
    CHECK(chmod(path, 0640) == 0);
    CHECK(srs_secrets_load(s, path, getuid(), err, sizeof(err)) == -1);
    CHECK(strstr(err, "accessible by group or others") != NULL);
    CHECK(strstr(err, "tops3cr3t") == NULL && strstr(err, "second") == NULL);
    CHECK(chmod(path, 0604) == 0);
    CHECK(srs_secrets_load(s, path, getuid(), err, sizeof(err)) == -1);
    CHECK(chmod(path, 0600) == 0);
    CHECK(srs_secrets_load(s, path, getuid(), err, sizeof(err)) == 0);
    CHECK(srs_nsecrets(s) == 2);
    CHECK(rev(s, "SRS0=bLeW=6K=bank.example=Bob@srs.example.org", NOW) == 1);
    CHECK(srs_secrets_load(s, "/nonexistent/srs.secret", getuid(), err, sizeof(err)) == -1);
    CHECK(srs_secrets_load(s, "/tmp", getuid(), err, sizeof(err)) == -1);
    CHECK(strstr(err, "not a regular file") != NULL);
    unlink(path);

    CHECK(srs_in_domain(s, "x@SRS.example.org", 17) == 1);
    CHECK(srs_in_domain(s, "x@srs.example.org.", 18) == 0);
    CHECK(srs_looks_srs("srs1-x", 6) == 1);
    CHECK(srs_looks_srs("SRS0x", 5) == 0);
    CHECK(srs_create("x.example", 0, 21) == NULL);
    CHECK(srs_create("x.example", 28, 21) == NULL);

    srs_free(s);
    srs_free(s8);
    srs_free(rot);
    srs_free(other);
    return (DONE());
}

/*
 * fuzz_srs.c - libFuzzer target for SRS (maps/srs.c): no crash on any
 * input; what srs_forward makes, srs_reverse takes back (an SRS0 address
 * to exactly the sender it was made from); nothing is accepted by
 * srs_reverse whose output is not a NUL-terminated address that fits;
 * any secrets file content is parsed or refused, never crashes.
 *
 * Input: byte 0 picks the age in days at which to reverse (0..63), the
 * rest is the address (also tried as a secrets file).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "srs.h"

#define NOW	1764806400L
#define DAY	86400L

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct srs *s;
    struct srs *t;
    char    out[SRS_ADDR_MAX], back[SRS_ADDR_MAX], err[256];
    const char *a;
    size_t  n, olen = 0, blen = 0;
    time_t  when;
    int     r;

    if (s == NULL) {
	s = srs_create("srs.example.org", 4, 21);
	if (s == NULL || srs_secrets_parse(s, "fuzz-secret\nold-secret\n", 23,
					   err, sizeof(err)) < 0)
	    abort();
    }
    if (size < 1)
	return (0);
    when = NOW + (time_t) (data[0] & 63) * DAY;
    a = (const char *) data + 1;
    n = size - 1;

    /* Anything as an SRS address. */
    r = srs_reverse(s, a, n, when, out, sizeof(out), &olen, NULL);
    if (r == 1 && (olen >= sizeof(out) || out[olen] != 0 || memchr(out, '@', olen) == NULL))
	abort();
    (void) srs_in_domain(s, a, n);
    (void) srs_looks_srs(a, n);

    /* Anything as a sender: what is made is taken back. */
    r = srs_forward(s, a, n, NOW, out, sizeof(out), &olen);
    if (r == 1) {
	if (olen >= sizeof(out) || out[olen] != 0 || strlen(out) != olen
	    || !srs_in_domain(s, out, olen) || !srs_looks_srs(out, olen))
	    abort();
	if (srs_reverse(s, out, olen, NOW + 21 * DAY, back, sizeof(back), &blen, NULL) != 1)
	    abort();
	if (strncmp(out, "SRS0=", 5) == 0 && (blen != n || memcmp(back, a, n) != 0))
	    abort();
	if (srs_reverse(s, out, olen, NOW + 22 * DAY, back, sizeof(back), &blen, NULL) == 1
	    && strncmp(out, "SRS0=", 5) == 0)
	    abort();
    }

    /* Anything as a secrets file. */
    if ((t = srs_create("srs.example.org", 4, 21)) == NULL)
	abort();
    if (srs_secrets_parse(t, a, n, err, sizeof(err)) == 0 && srs_nsecrets(t) == 0)
	abort();
    srs_free(t);
    return (0);
}

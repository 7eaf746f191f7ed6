/*
 * t_addr.c - unit tests for maps/addr.c at the boundaries.
 */
#include <string.h>

#include "addr.h"
#include "check.h"

static int
valid(const char *s)
{
    return (addr_valid(s, strlen(s), NULL) == 0);
}

static int
vhost(const char *s, unsigned *port)
{
    size_t  hs, hl;

    return (addr_valid_host(s, strlen(s), &hs, &hl, port, NULL) == 0);
}

/* Strip and compare; want NULL means "nothing stripped". */
static int
strip(const char *in, const char *delims, const char *want)
{
    char    out[300];
    size_t  n;
    int     r = addr_strip_ext(in, strlen(in), delims, out, sizeof(out), &n);

    if (want == NULL)
	return (r == 0);
    return (r == 1 && n == strlen(want) && memcmp(out, want, n) == 0);
}

int
main(void)
{
    char    buf[400];
    unsigned port = 99;
    const char *why = NULL, *dom;
    size_t  dl;

    /* Folding touches ASCII letters only. */
    strcpy(buf, "Jane.DOE+Tag@TUM.De\xc4");
    addr_fold(buf, strlen(buf));
    CHECK(strcmp(buf, "jane.doe+tag@tum.de\xc4") == 0);
    /* Every byte value, at every offset of a word and in the tail, folds
     * as tolower() in the C locale would. */
    {
	int	c, off, bad = 0;

	for (off = 0; off < 19; off++)
	    for (c = 0; c < 256; c++) {
		memset(buf, 'Q', 20);
		buf[off] = (char) c;
		addr_fold(buf, 20);
		if ((unsigned char) buf[off] != (c >= 'A' && c <= 'Z' ? c + 32 : c)
		    || buf[off == 0 ? 1 : 0] != 'q' || buf[19] != 'q')
		    bad++;
	    }
	CHECK(bad == 0);
    }

    /* Extension stripping. */
    CHECK(strip("user+tag@dom.de", "+", "user@dom.de"));
    CHECK(strip("user+a+b@dom.de", "+", "user@dom.de"));
    CHECK(strip("user-tag@dom.de", "+-", "user@dom.de"));
    CHECK(strip("user@dom.de", "+", NULL));
    CHECK(strip("+tag@dom.de", "+", NULL));	/* empty prefix stays */
    CHECK(strip("user+tag@dom.de", "", NULL));
    CHECK(strip("user@dom+x.de", "+", NULL));	/* '+' in the domain */
    CHECK(strip("user+tag", "+", "user"));
    CHECK(strip("++tag@dom.de", "+", "+@dom.de"));	/* prefix "+" */
    CHECK(strip("a-b+c@dom.de", "+-", "a@dom.de"));	/* first of either */
    CHECK(strip("a+b-c@dom.de", "-+", "a@dom.de"));
    CHECK(strip("u+@dom.de", "+", "u@dom.de"));
    CHECK(strip("a@dom.de", "+-", NULL));
    {
	char    small[5];
	size_t  n;

	CHECK(addr_strip_ext("user+tag@dom.de", 15, "+", small, sizeof(small),
			     &n) == -1);
    }

    /* Validation: good addresses. */
    CHECK(valid("jane.doe@tum.de"));
    CHECK(valid("a@b.c"));
    CHECK(valid("o'brien+x@lmu.de"));
    CHECK(valid("x@sub-1.example.org"));

    /* Validation: one address only, no injection. */
    CHECK(!valid(""));
    CHECK(!valid("jane"));
    CHECK(!valid("@tum.de"));
    CHECK(!valid("jane@"));
    CHECK(!valid("jane@tum"));			/* one label */
    CHECK(!valid("a@b@c.de"));
    CHECK(!valid("a@tum.de,b@evil.org"));
    CHECK(!valid("a,b@tum.de"));
    CHECK(!valid("a b@tum.de"));
    CHECK(!valid("a@tum.de b@evil.org"));
    CHECK(!valid("\"a b\"@tum.de"));
    CHECK(!valid("<a@tum.de>"));
    CHECK(!valid("a@tum.de\n"));
    CHECK(!valid("a\r@tum.de"));
    CHECK(!valid("a@tum.de\t"));
    CHECK(!valid("a;b@tum.de"));
    CHECK(!valid("a:b@tum.de"));
    CHECK(!valid("a\\b@tum.de"));
    CHECK(!valid("(c)a@tum.de"));
    CHECK(!valid(".a@tum.de"));
    CHECK(!valid("a.@tum.de"));
    CHECK(!valid("a..b@tum.de"));
    CHECK(!valid("a@-tum.de"));
    CHECK(!valid("a@tum-.de"));
    CHECK(!valid("a@tum..de"));
    CHECK(!valid("a@tum.de."));
    CHECK(!valid("a@t_m.de"));
    CHECK(!valid("j\xc3\xa4@tum.de"));		/* non-ASCII */
    /* A NUL byte inside the buffer is refused. */
    CHECK(addr_valid("a\0b@tum.de", 10, NULL) < 0);

    /* Length limits: local part 64, label 63, whole 254. */
    memset(buf, 'a', 64);
    strcpy(buf + 64, "@tum.de");
    CHECK(valid(buf));
    memset(buf, 'a', 65);
    strcpy(buf + 65, "@tum.de");
    CHECK(!valid(buf));
    {
	char    b[400];
	size_t  n;

	/* "a@" + 3 labels of 63 + 3 dots + a label of 60 = 254 exactly */
	strcpy(b, "a@");
	for (n = 0; n < 3; n++) {
	    memset(b + strlen(b), 'x', 63);
	    b[2 + n * 64 + 63] = 0;
	    strcat(b, ".");
	}
	memset(b + strlen(b), 'y', 60);
	b[254] = 0;
	CHECK(strlen(b) == 254);
	CHECK(valid(b));
	strcat(b, "e");
	CHECK(strlen(b) == 255);
	CHECK(!valid(b));
	memset(b, 0, sizeof(b));
	strcpy(b, "a@");
	memset(b + 2, 'x', 63);
	strcpy(b + 65, ".de");
	CHECK(valid(b));
	memset(b + 2, 'x', 64);
	strcpy(b + 66, ".de");
	CHECK(!valid(b));
    }
    CHECK(addr_valid("a b@x.de", 8, &why) < 0 && why != NULL);

    /* Hosts. */
    CHECK(vhost("mail.ph.tum.de", &port) && port == 0);
    CHECK(vhost("mail.ph.tum.de:2525", &port) && port == 2525);
    CHECK(vhost("[mail.ph.tum.de]:25", &port) && port == 25);
    CHECK(vhost("127.0.0.1:65535", &port) && port == 65535);
    CHECK(vhost("[::1]:25", &port) && port == 25);
    CHECK(!vhost("127.0.0.1:65536", &port));
    CHECK(!vhost("127.0.0.1:0", &port));
    CHECK(!vhost("host:", &port));
    CHECK(!vhost("host:2x", &port));
    CHECK(!vhost("::1", &port));
    CHECK(!vhost("[::1", &port));
    CHECK(!vhost("[::1]x", &port));
    CHECK(!vhost("mail host.de", &port));
    CHECK(!vhost("mail.de,evil.org", &port));
    CHECK(!vhost("", &port));
    CHECK(!vhost("localhost", &port));		/* one label */
    CHECK(!vhost("host:99999999999", &port));
    /* Digits and dots only: an IPv4 address, or nothing. */
    CHECK(!vhost("999.999.999.999:25", &port));
    CHECK(!vhost("[999.999.999.999]", &port));
    CHECK(!vhost("10.0.0.256", &port));
    CHECK(!vhost("1.2.3", &port));
    CHECK(!vhost("1.2.3.4.5", &port));
    CHECK(vhost("[10.0.0.1]:2525", &port) && port == 2525);
    CHECK(vhost("255.255.255.255", &port));
    CHECK(vhost("mx1.1and1.de", &port));

    CHECK(addr_domain("a@b.de", 6, &dom, &dl) == 0 && dl == 4
	  && memcmp(dom, "b.de", 4) == 0);
    CHECK(addr_domain("b.de", 4, &dom, &dl) < 0);
    return (DONE());
}

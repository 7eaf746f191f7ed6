/*
 * t_netstr.c - the netstring reader and writer at their boundaries.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "netstr.h"

/* Parse s (strlen) with limit max; return the result, fill the outputs. */
static int
parse(const char *s, size_t max, const char **d, size_t *dl, size_t *used,
      const char **why)
{
    return (netstr_parse(s, strlen(s), max, d, dl, used, why));
}

int
main(void)
{
    const char *d = NULL, *why = NULL;
    size_t  dl = 0, used = 0, off;
    char    buf[4096], big[2100];
    int     n;

    /* Plain, and empty payload. */
    CHECK(parse("5:hello,", 10, &d, &dl, &used, &why) == 1);
    CHECK_STR(d, dl, "hello");
    CHECK(used == 8);
    CHECK(parse("0:,", 10, &d, &dl, &used, &why) == 1);
    CHECK(dl == 0 && used == 3);

    /* Exact fit and one over the limit (found from the digits alone). */
    memset(big, 'x', sizeof(big));
    n = snprintf(buf, sizeof(buf), "1024:");
    memcpy(buf + n, big, 1024);
    buf[n + 1024] = ',';
    CHECK(netstr_parse(buf, (size_t) n + 1025, 1024, &d, &dl, &used, &why) == 1);
    CHECK(dl == 1024 && used == (size_t) n + 1025);
    CHECK(netstr_parse(buf, (size_t) n + 1025, 1023, &d, &dl, &used, &why) == -1);
    CHECK(why && strstr(why, "too long"));
    CHECK(parse("1025", 1024, &d, &dl, &used, &why) == -1);
    CHECK(parse("1024", 1024, &d, &dl, &used, &why) == 0);
    CHECK(parse("10", 9, &d, &dl, &used, &why) == -1);
    CHECK(parse("9", 9, &d, &dl, &used, &why) == 0);

    /* Digit overflow: rejected early, never wraps around to a small number. */
    CHECK(parse("18446744073709551617:x,", 1024, &d, &dl, &used, &why) == -1);
    CHECK(parse("99999999999999999999999999999999:", (size_t) -1 - 1, &d, &dl,
		&used, &why) == -1);
    CHECK(why && strstr(why, "too long"));

    /* Leading zeros, non-digits, missing length, missing colon/comma. */
    CHECK(parse("05:hello,", 10, &d, &dl, &used, &why) == -1);
    CHECK(why && strstr(why, "leading zero"));
    CHECK(parse("00:,", 10, &d, &dl, &used, &why) == -1);
    CHECK(parse("-1:x,", 10, &d, &dl, &used, &why) == -1);
    CHECK(parse(" 5:hello,", 10, &d, &dl, &used, &why) == -1);
    CHECK(parse("5x", 10, &d, &dl, &used, &why) == -1);
    CHECK(parse("+5:hello,", 10, &d, &dl, &used, &why) == -1);
    CHECK(parse(":hello,", 10, &d, &dl, &used, &why) == -1);
    CHECK(why && strstr(why, "missing"));
    CHECK(parse("5:hello;", 10, &d, &dl, &used, &why) == -1);
    CHECK(why && strstr(why, "comma"));
    CHECK(parse("5:hello world", 10, &d, &dl, &used, &why) == -1);
    CHECK(parse("GET / HTTP/1.0\r\n", 1024, &d, &dl, &used, &why) == -1);

    /* EOF mid-request: every proper prefix asks for more. */
    {
	const char *full = "11:hello world,";
	size_t  i;
	int     all_more = 1;

	for (i = 0; i < strlen(full); i++)
	    if (netstr_parse(full, i, 1024, &d, &dl, &used, &why) != 0)
		all_more = 0;
	CHECK(all_more);
	CHECK(parse(full, 1024, &d, &dl, &used, &why) == 1);
	CHECK(used == strlen(full));
    }

    /* Several requests in one buffer, then a partial one. */
    {
	const char *many = "3:a b,3:c d,0:,5:e";
	const char *want[] = {"a b", "c d", ""};
	int     k = 0;

	off = 0;
	while ((n = netstr_parse(many + off, strlen(many) - off, 64, &d, &dl,
				 &used, &why)) == 1) {
	    if (k < 3)
		CHECK_STR(d, dl, want[k]);
	    k++;
	    off += used;
	}
	CHECK(k == 3);
	CHECK(n == 0);
	CHECK(strcmp(many + off, "5:e") == 0);
    }

    /* Payload bytes are opaque: NUL, comma and colon inside. */
    {
	const char raw[] = "5:a\0,:b,";

	CHECK(netstr_parse(raw, sizeof(raw) - 1, 10, &d, &dl, &used, &why) == 1);
	CHECK(dl == 5 && memcmp(d, "a\0,:b", 5) == 0);
    }

    /* Writer: sizes and encodings, too-small buffers, round trip. */
    CHECK(netstr_size(0) == 3);
    CHECK(netstr_size(9) == 12);
    CHECK(netstr_size(10) == 14);
    CHECK(netstr_size(1024) == 1030);
    CHECK(netstr_put(buf, sizeof(buf), "OK x", 4) == 7);
    CHECK(memcmp(buf, "4:OK x,", 7) == 0);
    CHECK(netstr_put(buf, 6, "OK x", 4) == 0);
    CHECK(netstr_put(buf, 7, "OK x", 4) == 7);
    CHECK(netstr_put(buf, sizeof(buf), big, 1000) == 1006);
    CHECK(netstr_parse(buf, 1006, 1000, &d, &dl, &used, &why) == 1);
    CHECK(dl == 1000 && used == 1006 && memcmp(d, big, 1000) == 0);

    return (DONE());
}

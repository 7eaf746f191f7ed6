/*
 * fuzz_addr.c - libFuzzer target for the address rules (maps/addr.c):
 * no crash on any input, and the invariants that keep a directory value
 * from smuggling a second recipient into Postfix.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *) data, *dom;
    char    out[512];
    size_t  n, hs, hl, dl, i;
    unsigned port;

    if (addr_valid(s, size, NULL) == 0) {
	if (size > ADDR_MAX)
	    abort();
	for (i = 0; i < size; i++)
	    if (strchr(" ,\t\r\n\"<>()[]\\;:", s[i]) || (unsigned char) s[i] < 32
		|| (unsigned char) s[i] > 126)
		abort();
	if (addr_domain(s, size, &dom, &dl) < 0 || dl == 0)
	    abort();
    }
    if (addr_valid_host(s, size, &hs, &hl, &port, NULL) == 0) {
	if (hs + hl > size || port > 65535)
	    abort();
	for (i = 0; i < size; i++)
	    if (strchr(" ,\t\r\n\"<>()\\;", s[i]) || (unsigned char) s[i] < 32)
		abort();
    }
    if (addr_strip_ext(s, size, "+-", out, sizeof(out), &n) == 1 && n >= size)
	abort();
    if (size <= sizeof(out)) {
	memcpy(out, s, size);
	addr_fold(out, size);
    }
    return (0);
}

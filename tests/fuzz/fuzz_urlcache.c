/*
 * fuzz_urlcache.c - libFuzzer target for the memberURL results file
 * (urlcache_load_file(), what a resuming daemon runs on
 * STATE_DIR/ldapsync.urls).  The file is untrusted: it loads or is
 * refused with an error, never crashes, and groups given results from it
 * compile.
 *
 * The input is the results file; the groups it applies to come from a
 * fixed snapshot (two people, a groupOfURLs group, a group nesting it).
 */
#include <stdint.h>

#include "fuzz_common.h"
#include "urlcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char snapshot[] =
    "fwdmap-ldapsync-state 3 1 5 5\n"
    "00000000-0000-0000-0000-000000000001\tuid=p1,ou=tum,dc=ex\tp1@tum.de\t\texchange\t\t\t\t\t\t\t\n"
    "00000000-0000-0000-0000-000000000002\tuid=p2,ou=tum,dc=ex\tp2@tum.de\t\tmytum\t\t\t\t\t\t\t\n"
    "00000000-0000-0000-0000-000000000003\tuid=p3,ou=lmu,dc=ex\tp3@lmu.de\t\t\t\t\t\t\t\t\t\n"
    "00000000-0000-0000-0000-0000000000a1\tcn=staff,ou=tum,dc=ex\tstaff@tum.de\t\t\t\t\t\t"
    "ldap:///ou=tum,dc=ex??sub?(employeeType=staff)\t\t\tgroupofurls\n"
    "00000000-0000-0000-0000-0000000000a2\tcn=all,ou=tum,dc=ex\tall@tum.de\t\t\t\t\t"
    "cn=staff,ou=tum,dc=ex\x1fuid=p3,ou=lmu,dc=ex\t\t\t\tgroupofnames\n"
    ".\n";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct conf *c = fz_conf();
    char   *sbuf, *ubuf, err[512];
    FILE   *snap, *urls;
    struct state st;
    uint64_t bs = 0, ls = 0;
    time_t  t;

    if (size == 0)
	return (0);		/* fmemopen needs a size */
    if ((sbuf = strdup(snapshot)) == NULL || (ubuf = malloc(size)) == NULL)
	abort();
    memcpy(ubuf, data, size);
    if ((snap = fmemopen(sbuf, strlen(sbuf), "r")) == NULL
	|| (urls = fmemopen(ubuf, size, "r")) == NULL)
	abort();
    if (state_init_hint(&st, 8) < 0)
	abort();
    st.no_dirty = 1;
    if (state_load_files(&st, snap, "snapshot", NULL, "journal", &bs, &ls,
			 fz_validate, (void *) (uintptr_t) c, err, sizeof(err)) < 0)
	abort();		/* the fixed snapshot loads */
    if (urlcache_load_file(&st, urls, "urls", &t, err, sizeof(err)) >= 0)
	fz_compile_all(c, &st);
    state_free(&st);
    fclose(snap);
    fclose(urls);
    free(sbuf);
    free(ubuf);
    return (0);
}

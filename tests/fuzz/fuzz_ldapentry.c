/*
 * fuzz_ldapentry.c - libFuzzer target for the decoding of an LDAP search
 * entry into ldapsync's records: lc_entry_decode() reads the BER of a
 * SearchResultEntry the way lc_entry() reads one from the server (DN,
 * every occurrence of every attribute, entryUUID), then the entry is
 * validated, put into a state beside a few fixed entries and every
 * address is compiled.  An entry from the directory is untrusted input:
 * it decodes or is refused with an error, never half of it, never a crash.
 */
#include <stdint.h>

#include <lber.h>

#include "fuzz_common.h"
#include "ldap_conn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ent *
fz_fixed(int id, const char *dn, const char *mail, const char *alias,
	 const char *fwd)
{
    char   *m[1] = {(char *) (uintptr_t) mail}, *a[1] = {(char *) (uintptr_t) alias};
    char   *f[1] = {(char *) (uintptr_t) fwd}, *l[1] = {(char *) (uintptr_t) "exchange"};
    char  **v[V_NUM] = {m, a, l, NULL, f};
    size_t  n[V_NUM] = {1, alias != NULL, 1, 0, fwd != NULL};
    unsigned char u[16] = {0};
    struct ent *e;

    u[15] = (unsigned char) id;
    if ((e = ent_new(u, dn, (char **const *) v, n)) == NULL)
	abort();
    comp_validate(fz_conf(), e);
    return (e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct conf *c = fz_conf();
    struct berval op = {(ber_len_t) size, (char *) (uintptr_t) data};
    static const unsigned char given[16] = {0xfe, 1, 2, 3};
    char    err[512];
    struct state st;
    struct ent *e;
    int     pass;

    for (pass = 0; pass < 2; pass++) {
	if (state_init_hint(&st, 8) < 0)
	    abort();
	if (state_put(&st, fz_fixed(1, "uid=a,ou=tum,dc=ex", "a@tum.de", "x@tum.de",
				    "b@tum.de")) < 0
	    || state_put(&st, fz_fixed(2, "uid=b,ou=tum,dc=ex", "b@tum.de", NULL,
				       "Ext@Example.org")) < 0)
	    abort();
	/* uuid from the entryUUID attribute (full search), or given by the
	 * Sync State control (syncrepl). */
	e = lc_entry_decode(c, &op, pass ? given : NULL, err, sizeof(err));
	if (e != NULL) {
	    comp_validate(c, e);
	    if (state_put(&st, e) < 0)
		abort();
	    fz_compile_all(c, &st);
	}
	state_free(&st);
    }
    return (0);
}

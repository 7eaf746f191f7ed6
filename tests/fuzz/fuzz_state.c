/*
 * fuzz_state.c - libFuzzer target for ldapsync's state snapshot and
 * journal reader (state_load_files(), what state_load() runs on
 * STATE_DIR/ldapsync.state and ldapsync.journal).  Both files are
 * untrusted: a restart must load them or refuse them with an error,
 * never crash, and what loads is validated and compiled.
 *
 * The input is the snapshot, then (after the first NUL byte, if any) the
 * journal.
 */
#include <stdint.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct conf *c = fz_conf();
    const uint8_t *nul = memchr(data, 0, size);
    size_t  slen = nul ? (size_t) (nul - data) : size;
    size_t  jlen = nul ? size - slen - 1 : 0;
    char   *sbuf, *jbuf = NULL, err[512];
    FILE   *snap, *journal = NULL;
    struct state st;
    uint64_t bs = 0, ls = 0;

    if (slen == 0)
	return (0);		/* fmemopen needs a size; empty is "bad header" */
    if ((sbuf = malloc(slen)) == NULL)
	abort();
    memcpy(sbuf, data, slen);
    if ((snap = fmemopen(sbuf, slen, "r")) == NULL)
	abort();
    if (jlen > 0) {
	if ((jbuf = malloc(jlen)) == NULL)
	    abort();
	memcpy(jbuf, nul + 1, jlen);
	if ((journal = fmemopen(jbuf, jlen, "r")) == NULL)
	    abort();
    }
    if (state_init_hint(&st, 8) < 0)
	abort();
    if (state_load_files(&st, snap, "snapshot", journal, "journal", &bs, &ls,
			 fz_validate, (void *) (uintptr_t) c, err, sizeof(err)) == 0)
	fz_compile_all(c, &st);
    state_free(&st);
    fclose(snap);
    if (journal)
	fclose(journal);
    free(sbuf);
    free(jbuf);
    return (0);
}

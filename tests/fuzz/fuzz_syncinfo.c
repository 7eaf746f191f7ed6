/*
 * fuzz_syncinfo.c - libFuzzer target for the decoders of RFC 4533's sync
 * controls and messages as ldapsync reads them from the server: the Sync
 * State control of an entry (sy_scan_state), the syncInfo intermediate
 * message (sy_scan_info: new cookie, refreshDelete/refreshPresent,
 * syncIdSet) and the Sync Done control (sy_scan_done).  The same input is
 * given to each.  What decodes is applied the way syncrepl.c applies it
 * to a state: the uuid of a state control, every 16-byte uuid of an id
 * set looked up (and, for a delete set, deleted).
 */
#include <stdint.h>

#include <lber.h>

#include "fuzz_common.h"
#include "syncrepl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static BerElement *
fz_ber(const uint8_t *data, size_t size)
{
    struct berval bv = {(ber_len_t) size, (char *) (uintptr_t) data};

    return (sy_ber_init(&bv));	/* NULL: empty, or out of memory */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct berval uuid, cookie;
    struct sy_info in;
    static struct state st;
    static int ready;
    BerElement *ber;
    int     state, deletes;
    size_t  i;
    volatile size_t sink = 0;

    if (!ready && state_init(&st) < 0)
	abort();
    ready = 1;			/* empty, and kept so: nothing is ever put */
    if ((ber = fz_ber(data, size)) == NULL)
	return (0);
    if (sy_scan_state(ber, &state, &uuid, &cookie) == 0) {
	if (uuid.bv_len != 16)
	    abort();		/* the decoder promises 16 bytes */
	(void) state_get(&st, (const unsigned char *) uuid.bv_val);
	sink += cookie.bv_len + (size_t) state;
    }
    ber_free(ber, 1);

    ber = fz_ber(data, size);
    if (sy_scan_info(ber, &in) == 0) {
	if (in.kind == SY_INFO_ID_SET)
	    for (i = 0; in.uuids && in.uuids[i].bv_val; i++) {
		if (in.uuids[i].bv_len != 16)
		    continue;
		if (in.refresh_deletes)
		    (void) state_del(&st, (const unsigned char *) in.uuids[i].bv_val);
		else
		    (void) state_get(&st, (const unsigned char *) in.uuids[i].bv_val);
	    }
	sink += in.cookie.bv_len;
    }
    ber_bvarray_free(in.uuids);
    ber_free(ber, 1);

    ber = fz_ber(data, size);
    if (sy_scan_done(ber, &cookie, &deletes) == 0)
	sink += cookie.bv_len + (size_t) deletes;
    ber_free(ber, 1);
    (void) sink;
    return (0);
}

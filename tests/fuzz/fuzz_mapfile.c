/*
 * fuzz_mapfile.c - libFuzzer target for the table reader (maps/map.c):
 * a table file is untrusted input; any content must open cleanly or fail
 * with an error, and lookups on what opened must not crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

#include "map.h"
#include "query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char    path[128], err[256];
    struct map_gen *g;
    int     fd;
    static const char *const keys[] = {
	"tum.de", "jane@tum.de", "Jane+x@TUM.de", "*", "x@ph.tum.de",
    };
    static const char *const maps[] = {
	"domains", "recipients", "virtual", "transport",
    };
    size_t  i, j;

    if (dir[0] == 0) {
	/* tmpfs when there is one: a file is written for every input */
	snprintf(dir, sizeof(dir), "%s/fuzz_mapfile.XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(dir) == NULL)
	    abort();
    }
    snprintf(path, sizeof(path), "%s/%s", dir, MAP_BASE_NAME);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
	abort();
    if (write(fd, data, size) != (ssize_t) size)
	abort();
    close(fd);
    if (map_gen_open(dir, &g, err, sizeof(err)) == 0) {
	for (i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
	    for (j = 0; j < sizeof(keys) / sizeof(keys[0]); j++) {
		const char *v;
		size_t  vl;

		(void) map_query_ext(g, maps[i], strlen(maps[i]), keys[j],
				     strlen(keys[j]), "+", 1, &v, &vl);
	    }
	map_gen_close(g);
    }
    return (0);
}

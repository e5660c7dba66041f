/* fuzz_cookie.c - the node's cookie file (".cookie": "__cookie__:<hex>")
 * as rpc/client.c reads it: the bytes are written to a file and a client
 * is created on it (rpc_client_new reads the cookie once).  The parser is
 * static in client.c, so this goes through the public API; any content
 * must be accepted or refused without a crash or a leak.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../rpc/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void cleanup(void)
{
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rpc_config cfg = {0};
	struct rpc_client *c = NULL;
	FILE *f;

	if (!path[0]) {
		int fd;

		snprintf(path, sizeof(path), "/tmp/sd-fuzz-cookie-XXXXXX");
		fd = mkstemp(path);
		if (fd < 0)
			abort();
		close(fd);
		atexit(cleanup);
	}
	f = fopen(path, "wb");
	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	cfg.url = "http://127.0.0.1:1";
	cfg.cookie_path = path;
	/* a bad cookie is not fatal: the node may rewrite it */
	if (rpc_client_new(&cfg, &c) != SD_OK)
		abort();
	rpc_client_free(c);
	return 0;
}

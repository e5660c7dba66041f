/* fuzz_status_json.c - the node JSON the /status poller reads
 * (getblockchaininfo, getblockheader, getnetworkinfo, getmempoolinfo; the
 * first byte picks which): any bytes must parse to facts whose numbers are
 * in range (no double->int64 or narrowing overflow), or be refused.
 *
 * status.c lives in sd_daemon, which fuzz targets do not link: it is
 * compiled in here, with mempool.c (its /metrics counters).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "signetd/mempool.c"
#include "signetd/status.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {
		"getblockchaininfo", "getblockheader", "getnetworkinfo",
		"getmempoolinfo",
	};
	struct sd_node_facts n;
	int rc;

	if (size < 1)
		return 0;
	memset(&n, 0, sizeof(n));
	n.blocks = n.headers = -1;
	rc = sd_status_parse_node(methods[data[0] % 4],
				  (const char *)data + 1, size - 1, &n);
	if (rc != SD_OK && rc != SD_EPARSE)
		abort();
	if (n.blocks < -1 || n.headers < -1 || n.tip_time > UINT32_MAX ||
	    n.peers < 0 || n.mempool_txs < 0 || n.mempool_bytes < 0 ||
	    !(n.verification_progress >= 0 && n.verification_progress <= 1))
		abort();
	if (strnlen(n.chain, sizeof(n.chain)) == sizeof(n.chain) ||
	    strnlen(n.best_hash, sizeof(n.best_hash)) ==
		    sizeof(n.best_hash) ||
	    strnlen(n.subversion, sizeof(n.subversion)) ==
		    sizeof(n.subversion))
		abort();
	return 0;
}

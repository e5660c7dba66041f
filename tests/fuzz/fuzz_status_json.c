/* fuzz_status_json.c - the node JSON the /status poller reads through
 * rpc_get_node_info() (getblockchaininfo, getblockheader, getnetworkinfo,
 * getmempoolinfo; the first byte picks which): any bytes must parse to
 * facts whose numbers are in range (no double->int64 or narrowing
 * overflow), or be refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {
		"getblockchaininfo", "getblockheader", "getnetworkinfo",
		"getmempoolinfo",
	};
	struct rpc_node_info n;
	int rc;

	if (size < 1)
		return 0;
	memset(&n, 0, sizeof(n));
	n.blocks = n.headers = -1;
	rc = rpc_parse_node_info(methods[data[0] % 4],
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

/* fuzz_zmq_endpoint.c - ZMQ endpoint discovery: the getzmqnotifications
 * answer (JSON from the node) and the wildcard-host rewrite.
 * Input: "<rpc url>\n<getzmqnotifications JSON>". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/zmqdisc.h"
#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = sd_xmalloc(size + 1), *nl, *json;
	char hb[RPC_ZMQ_EP_LEN], tx[RPC_ZMQ_EP_LEN], small[12];

	memcpy(buf, data, size);
	buf[size] = '\0';
	nl = strchr(buf, '\n');
	json = nl ? nl + 1 : buf;
	if (nl)
		*nl = '\0';
	if (rpc_zmq_parse_notifications(json, buf, hb, tx) == SD_OK) {
		if (strlen(hb) >= RPC_ZMQ_EP_LEN || strlen(tx) >= RPC_ZMQ_EP_LEN)
			abort();
	}
	/* the whole input as an endpoint, with a tight output buffer */
	if (rpc_zmq_rewrite_host(json, buf, small, sizeof(small)) == SD_OK &&
	    strlen(small) >= sizeof(small))
		abort();
	if (rpc_zmq_rewrite_host(json, buf, hb, sizeof(hb)) == SD_OK &&
	    strlen(hb) >= sizeof(hb))
		abort();
	free(buf);
	return 0;
}

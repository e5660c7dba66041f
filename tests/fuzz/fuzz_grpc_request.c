/* fuzz_grpc_request.c - the gRPC request path after the transport:
 * oracle_grpc_rpc_by_path() on the method path and oracle_grpc_decode()
 * (protobuf-c) on the request bytes.  The first byte picks the rpc (or,
 * with bit 7, treats the rest as a method path).  Checks: a decode either
 * fails or fills the request; it is deterministic; a path resolves only to
 * a known rpc whose name round-trips. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../oracle/grpc/grpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oracle_grpc_request a, b;
	enum oracle_grpc_rpc rpc;
	uint8_t *p;
	int ra, rb;

	if (size == 0)
		return 0;
	/* copy so that reads past size are caught by ASan */
	p = malloc(size - 1 ? size - 1 : 1);
	memcpy(p, data + 1, size - 1);
	if (data[0] & 0x80) {
		char path[128];

		rpc = oracle_grpc_rpc_by_path((const char *)p, size - 1);
		if (rpc != ORACLE_GRPC_UNKNOWN) {
			snprintf(path, sizeof(path),
				 "/blindbit.oracle.v1.OracleService/%s",
				 oracle_grpc_rpc_name(rpc));
			if (strlen(path) != size - 1 ||
			    memcmp(path, p, size - 1))
				abort();
		}
		free(p);
		return 0;
	}
	rpc = (enum oracle_grpc_rpc)(data[0] % 8);
	ra = oracle_grpc_decode(rpc, p, size - 1, &a);
	rb = oracle_grpc_decode(rpc, p, size - 1, &b);
	if (ra != rb || memcmp(&a, &b, sizeof(a)))
		abort();
	if (ra != SD_OK && ra != SD_EPARSE)
		abort();
	if (rpc == ORACLE_GRPC_UNKNOWN && ra == SD_OK)
		abort();
	if (ra == SD_OK && !oracle_grpc_rpc_streams(rpc) &&
	    (a.start || a.end || a.dustlimit || a.cut_through))
		abort();
	free(p);
	return 0;
}

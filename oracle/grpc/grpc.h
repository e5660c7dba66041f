/* grpc.h - blindbit-oracle v2's gRPC service
 * blindbit.oracle.v1.OracleService (oracle/grpc/proto/oracle_service.proto) on
 * gRPC core (libgrpc, C API), messages by protobuf-c, data from the index's
 * v2 records (oracle_v2.h).  docs/compat.md says what it answers.
 *
 * One completion-queue thread serves every call.  A stream sends one
 * message at a time (the next is read and packed only when the previous
 * one was written to the transport: gRPC flow control holds a slow
 * client's stream, never the server), each from its own short read view
 * (no LMDB read txn is held while a client is slow), so a stream's memory
 * is one message.  A cancelled stream is dropped at its next step.
 */
#ifndef SIGNETD_ORACLE_ORACLE_GRPC_H
#define SIGNETD_ORACLE_ORACLE_GRPC_H

#include "../index/oracle.h"

/* A stream's end may lie at most this far past the index tip (upstream
 * streams empty items past the tip; a range to 2^64 would never end). */
#define ORACLE_GRPC_MAX_PAST_TIP 1000u

struct oracle_grpc_config {
	const char *host;     /* "127.0.0.1:7001" */
};

struct oracle_grpc;

/* Listen and serve.  SD_EIO (message in err) when the address cannot be
 * bound. */
int oracle_grpc_start(const struct oracle_grpc_config *cfg,
		      struct oracle_index *idx, struct oracle_grpc **out,
		      char *err) SD_WARN_UNUSED;
/* Cancel every call, stop, free.  NULL: no-op. */
void oracle_grpc_stop(struct oracle_grpc *g);

/* ---- request decoding and message packing (grpc_msgs.c; fuzzed) ---- */

enum oracle_grpc_rpc {
	ORACLE_GRPC_UNKNOWN = 0,
	ORACLE_GRPC_GET_INFO,
	ORACLE_GRPC_GET_BEST_BLOCK_HEIGHT,
	ORACLE_GRPC_GET_BLOCK_HASH_BY_HEIGHT,
	ORACLE_GRPC_STREAM_COMPUTE_INDEX,
	ORACLE_GRPC_STREAM_BLOCK_SCAN_DATA_SHORT,
	ORACLE_GRPC_GET_FULL_BLOCK,
	ORACLE_GRPC_GET_SPENT_OUTPUTS_SHORT,
};

/* "/blindbit.oracle.v1.OracleService/GetInfo" -> rpc (UNKNOWN if none). */
enum oracle_grpc_rpc oracle_grpc_rpc_by_path(const char *path, size_t len);
const char *oracle_grpc_rpc_name(enum oracle_grpc_rpc rpc);
bool oracle_grpc_rpc_streams(enum oracle_grpc_rpc rpc);

struct oracle_grpc_request {
	uint64_t height;                  /* BlockHeightRequest */
	uint64_t start, end, dustlimit;   /* RangedBlockHeightRequestFiltered */
	bool cut_through;
};

/* Decode the request message of rpc (protobuf-c).  SD_EPARSE when the
 * bytes are not a valid message of the rpc's request type. */
int oracle_grpc_decode(enum oracle_grpc_rpc rpc, const uint8_t *buf,
		       size_t len, struct oracle_grpc_request *out)
	SD_WARN_UNUSED;

/* gRPC status codes used. */
#define ORACLE_GRPC_OK 0
#define ORACLE_GRPC_UNKNOWN_CODE 2
#define ORACLE_GRPC_INVALID_ARGUMENT 3
#define ORACLE_GRPC_ABORTED 10
#define ORACLE_GRPC_OUT_OF_RANGE 11
#define ORACLE_GRPC_UNIMPLEMENTED 12
#define ORACLE_GRPC_INTERNAL 13

/* A stream's view of the chain it has sent (oracle_grpc_pack, streams):
 * in: the last block it sent (last_height -1: none yet); out: the block
 * of this message (known false past the tip) and whether the sent block
 * is still the index's at its height (diverged: a reorg since). */
struct oracle_grpc_chain {
	int64_t last_height;
	uint8_t last_hash[32];
	bool known;
	uint8_t hash[32];
	bool diverged;
};

/* The packed response of a unary rpc, or of one stream message at
 * `height` (req->height for unary height rpcs), read in one short read
 * view.  *out (malloc'd, caller frees) on SD_OK; else *status and msg
 * (SD_ERRLEN bytes) say what to answer.  chk: NULL, or for streams see
 * above (checked in the same read view). */
int oracle_grpc_pack(struct oracle_index *idx, enum oracle_grpc_rpc rpc,
		     uint64_t height, uint8_t **out, size_t *len,
		     struct oracle_grpc_chain *chk, int *status, char *msg)
	SD_WARN_UNUSED;

#endif

/* mempool.h - unconfirmed tweaks: a ZMQ rawtx transaction gets its prevouts
 * from the node and goes into the index's mempool table; after blocks the
 * table is trimmed to what the node's mempool still holds.
 *
 * Not thread-safe: call from one thread (the follower's callbacks).
 */
#ifndef SIGNETD_SIGNETD_MEMPOOL_H
#define SIGNETD_SIGNETD_MEMPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "../oracle/oracle.h"
#include "../rpc/rpc.h"
#include "err.h"

struct sd_mempool;

int sd_mempool_new(const struct rpc_config *rpc, struct oracle_index *idx,
		   struct sd_mempool **out) SD_WARN_UNUSED;
void sd_mempool_free(struct sd_mempool *m);

/* A raw transaction from the node's mempool.  Transactions without a
 * taproot output are skipped without asking the node anything. */
void sd_mempool_tx(struct sd_mempool *m, const uint8_t *raw, size_t raw_len);

/* getrawmempool, then drop index entries no longer in it. */
void sd_mempool_prune(struct sd_mempool *m);

#endif

/* mempool.h - unconfirmed tweaks: a ZMQ rawtx transaction gets its prevouts
 * and goes into the index's mempool table; the table is trimmed to what the
 * node's mempool still holds after tip blocks and on a timer.
 *
 * All node traffic and tweak work runs on the mempool's own thread, fed by
 * a queue bounded in transactions and bytes: the follower only copies the
 * raw tx in (or drops it, counted), so mempool work never delays a block.
 *
 * Thread-safety: sd_mempool_tx, _prune, _note_change, _generation and
 * _stats may be called from any thread; _new/_free from one.
 */
#ifndef SIGNETD_SIGNETD_MEMPOOL_H
#define SIGNETD_SIGNETD_MEMPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "../oracle/index/oracle.h"
#include "../rpc/rpc.h"
#include "../common/err.h"

/* Bounds (0 -> the default in brackets). */
struct sd_mempool_limits {
	size_t queue_txs;       /* queued raw txs [10000] */
	size_t queue_bytes;     /* queued raw bytes [32 MiB] */
	size_t max_tx_bytes;    /* bigger txs are not queued [400000: a
				 * standard tx weighs <= 400000 WU] */
	size_t max_inputs;      /* per tx [2500] */
	size_t max_outputs;     /* per tx [10000] */
	size_t max_parents;     /* unconfirmed parents fetched per tx [64] */
	size_t max_fetch_bytes; /* parent bytes fetched per tx [4 MiB] */
	size_t map_entries;     /* tweaks held in the index table [100000] */
	size_t cache_bytes;     /* outputs of recent txs kept to resolve
				 * their children locally [16 MiB] */
	unsigned prune_s;       /* getrawmempool refresh period [30] */
};

struct sd_mempool_stats {
	uint64_t generation;     /* changes whenever the table may have */
	size_t queue_txs, queue_bytes, cache_bytes;
	size_t map_limit;
	uint64_t queued, processed, added;
	/* dropped before any work: queue full, over a size cap (tx bytes,
	 * inputs, outputs), table full, per-tx fetch budget exhausted */
	uint64_t drop_queue_full, drop_too_big, drop_map_full, drop_budget;
	/* processed without a tweak entry: not in the node's mempool (e.g.
	 * a block's txs), a prevout nowhere, a node or compute error */
	uint64_t skip_not_in_mempool, skip_no_prevout, skip_error;
	uint64_t cache_hits, txout_lookups, parent_fetches, parent_bytes;
	uint64_t prunes;
};

struct sd_mempool;

/* Starts the mempool thread (its own rpc_client from rpc; calls time out
 * after at most 10 s).  lim may be NULL (defaults). */
int sd_mempool_new(const struct rpc_config *rpc, struct oracle_index *idx,
		   const struct sd_mempool_limits *lim,
		   struct sd_mempool **out) SD_WARN_UNUSED;
/* Stops and joins the thread (after its current node call, <= 10 s). */
void sd_mempool_free(struct sd_mempool *m);

/* A raw transaction from ZMQ rawtx: copied into the queue, or dropped
 * (counted) when the queue is full or the tx is over max_tx_bytes. */
void sd_mempool_tx(struct sd_mempool *m, const uint8_t *raw, size_t raw_len);

/* Ask the thread for a getrawmempool refresh now (after a tip block). */
void sd_mempool_prune(struct sd_mempool *m);

/* The table changed outside this module (a block connected): bump the
 * generation.  Call after the change. */
void sd_mempool_note_change(struct sd_mempool *m);

/* Monotonic; bumped after every change of the mempool table (add, prune,
 * note_change).  A reader that reads it before rendering the table may
 * cache its rendering under that number.  m NULL -> 0. */
uint64_t sd_mempool_generation(struct sd_mempool *m);

void sd_mempool_stats(struct sd_mempool *m, struct sd_mempool_stats *out);

#endif

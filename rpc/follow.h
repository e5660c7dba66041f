/* follow.h - chain follower: sync from a start height to the node's tip,
 * pipelined, then follow the tip (ZMQ hashblock, else 1 s polling), emitting
 * disconnect/connect events in order on reorgs.
 *
 * The follower owns no chain state: it asks its consumer (the index) what it
 * has through the `tip` and `hash_at` callbacks, compares with the node and
 * emits events until both agree.  That way a restart resumes exactly where
 * the consumer's durable state is.
 *
 * Threading: rpc_follower_run() blocks in the calling thread until
 * rpc_follower_stop() (any thread, async-signal-unsafe; use a flag from the
 * signal handler and call stop from the main thread).  Fetch-ahead runs on
 * internal threads, each with its own rpc_client.  Callbacks are called from
 * the rpc_follower_run() thread, one at a time, in chain order.
 */
#ifndef SIGNETD_RPC_FOLLOW_H
#define SIGNETD_RPC_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/err.h"
#include "../bitcoin/block.h"
#include "node_watch.h"
#include "rpc.h"

struct rpc_follower_cb {
	void *ctx;
	/* The consumer's tip: *height = -1 and SD_OK when it has nothing. */
	int (*tip)(void *ctx, int32_t *height, uint8_t hash[32]);
	/* Hash the consumer has at height (<= its tip). SD_ENOTFOUND if none. */
	int (*hash_at)(void *ctx, int32_t height, uint8_t hash[32]);
	/* Apply a block on top of the consumer tip (b->height == tip+1).  Must
	 * be durable on return, or at `flush` when the consumer has one.  A
	 * non-OK return stops the follower's current pass; it retries later
	 * with backoff.  prepared: what `prepare` returned for this block
	 * (NULL when it did not run, and on every retry); connect owns it,
	 * whatever it returns. */
	int (*connect)(void *ctx, const struct btc_block *b, void *prepared);
	/* Undo the consumer's tip block (height, hash). */
	int (*disconnect)(void *ctx, int32_t height, const uint8_t hash[32]);
	/* Optional (may be NULL): a mempool transaction from ZMQ rawtx,
	 * parsed with prevouts NOT attached (blk->n_tx == 1). */
	void (*mempool_tx)(void *ctx, const struct btc_block *txblk,
			   const uint8_t *raw, size_t raw_len);
	/* Optional (may be NULL): called on a fetch thread for each block
	 * of a multi-block sync pass, before `connect` gets it, possibly
	 * for several blocks at once (and for blocks that are then never
	 * connected, after a reorg): per-block work that overlaps with
	 * connecting the earlier blocks.  Its result (NULL: none) travels
	 * with the block to `connect`, or to `discard`.  Must not touch
	 * consumer state that connect uses without its own locking. */
	void *(*prepare)(void *ctx, const struct btc_block *b);
	/* With prepare: free what prepare returned for a block that is
	 * never connected (a reorg, a failed or stopped pass); any thread. */
	void (*discard)(void *ctx, void *prepared);
	/* Optional (may be NULL): called after the last block of every sync
	 * pass (before its `synced` log line) and at the end of the pass.  A
	 * consumer may then defer durability: blocks connected in a pass are
	 * durable once flush returns SD_OK (a consumer that loses them on a
	 * failed flush answers `tip` from its durable state; the next pass
	 * fetches them again). */
	int (*flush)(void *ctx);
};

struct rpc_follower_config {
	struct rpc_config rpc;
	enum rpc_block_source source; /* AUTO to detect */
	int32_t start_height;         /* first height to index (>= 0) */
	unsigned fetch_ahead;         /* blocks fetched ahead; 0 -> 8 */
	unsigned fetch_threads;       /* parallel fetchers; 0 -> 2 */
	const char *zmq_hashblock;    /* NULL: ask getzmqnotifications; "" off */
	const char *zmq_rawtx;        /* same */
	unsigned poll_ms;             /* tip polling interval; 0 -> 1000,
				       * or 15000 with ZMQ hashblock (a
				       * safety poll: ZMQ is lossy) */
	/* The node watch (node_watch.h) the follower owns: the node facts
	 * for /status, refreshed every node_poll_ms on the watch's own
	 * thread (0: not polled; reachability then comes from the
	 * follower's own calls), with calls of node_poll_timeout_ms
	 * (0 -> 5000). */
	unsigned node_poll_ms;
	long node_poll_timeout_ms;
	/* Expected chain ("main", "signet", "regtest", "testnet"; NULL: any):
	 * against a node on another chain the follower indexes nothing and
	 * the watch logs chain_mismatch once. */
	const char *chain;
};

struct rpc_follower;

int rpc_follower_new(const struct rpc_follower_config *cfg,
		     const struct rpc_follower_cb *cb,
		     struct rpc_follower **out) SD_WARN_UNUSED;
void rpc_follower_free(struct rpc_follower *f);
/* Blocks until stopped.  Returns SD_OK after stop. */
int rpc_follower_run(struct rpc_follower *f);
void rpc_follower_stop(struct rpc_follower *f);

/* Poll the node once now, then start the watch's thread (no-op without
 * node_poll_ms).  Before the first /status answer, so that it never says
 * "not polled yet".  SD_OK or SD_EIO. */
int rpc_follower_watch_start(struct rpc_follower *f) SD_WARN_UNUSED;
/* The watch's snapshot: node facts, reachability, chain check (any
 * thread, never waits on the node). */
void rpc_follower_node_get(struct rpc_follower *f,
			   struct rpc_node_snapshot *out);

/* Snapshot for /status and /metrics. */
struct rpc_follower_status {
	bool node_reachable;
	int32_t node_height;
	uint8_t node_hash[32];
	uint64_t node_tip_time;       /* header time of node tip */
	enum rpc_block_source source; /* in use */
	bool zmq_on;
	char zmq_hashblock[128], zmq_rawtx[128];
	uint64_t zmq_msgs, zmq_gaps;
	uint64_t zmq_last_msg_ms;     /* wall ms, 0 if never */
	uint64_t blocks_connected, blocks_disconnected, reorgs;
	int32_t last_reorg_depth;
	uint64_t last_reorg_ms;       /* wall ms, 0 if never */
	uint64_t bytes_fetched;
	double sync_blocks_per_s;     /* recent rate */
	/* live blocks connected by the ZMQ fast path (also counted in
	 * blocks_connected), and hashblocks it left to the sync pass */
	uint64_t blocks_fast_path, fast_path_misses;
};
void rpc_follower_status_get(struct rpc_follower *f,
			     struct rpc_follower_status *out);

#endif

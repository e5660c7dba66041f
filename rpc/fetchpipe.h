/* fetchpipe.h - internal to rpc/: fetch-ahead for the chain follower.
 *
 * Worker threads (each with its own rpc_client) fetch and parse blocks by
 * height inside a window of `ahead` blocks past the next one the follower
 * will take; the follower takes them strictly in height order.  The
 * follower feeds the hashes (batched getblockhash) as the window advances.
 * A pass is [first, last]; rpc_fetchpipe_start() begins one and drops any
 * previous pass (in-flight fetches of an old pass are discarded).
 *
 * All functions except the workers' are called from one thread (the
 * follower's); rpc_fetchpipe_quit() may be called from any thread.
 */
#ifndef SIGNETD_RPC_FETCHPIPE_H
#define SIGNETD_RPC_FETCHPIPE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "../bitcoin/block.h"
#include "rpc.h"

struct rpc_fetchpipe;

/* Start `threads` workers.  Returns SD_OK or the rpc_client_new error. */
int rpc_fetchpipe_new(const struct rpc_config *rpc, unsigned threads,
		      unsigned ahead,
		      struct rpc_fetchpipe **out) SD_WARN_UNUSED;
/* Quit and join the workers; NULL is a no-op. */
void rpc_fetchpipe_free(struct rpc_fetchpipe *p);

/* Optional work on each fetched block, run on the worker thread right
 * after the fetch (e.g. the index's tweak computation, so it overlaps
 * with the consumer writing earlier blocks); fn NULL = none.  Its result
 * comes out of rpc_fetchpipe_take with the block; the pipe hands the
 * result of a block it drops to discard.  Takes effect for fetches
 * claimed after the call. */
void rpc_fetchpipe_set_prepare(struct rpc_fetchpipe *p,
			       void *(*fn)(void *ctx,
					   const struct btc_block *b),
			       void (*discard)(void *ctx, void *prepared),
			       void *ctx);

/* Begin a pass over heights [first, last] fetched via source. */
void rpc_fetchpipe_start(struct rpc_fetchpipe *p,
			 enum rpc_block_source source, int32_t first,
			 int32_t last);
/* Append the hashes of the next n heights (in order) of the pass. */
void rpc_fetchpipe_add_hashes(struct rpc_fetchpipe *p,
			      const uint8_t (*hashes)[32], size_t n);
/* First height of the pass whose hash is not known yet. */
int32_t rpc_fetchpipe_hash_end(struct rpc_fetchpipe *p);
/* Wait for the block at height (the next one in order) and take it with
 * its prepared work (NULL when none).  Returns SD_OK (*out and *prepared
 * owned by the caller), the fetch error (the pass is then dead: start a
 * new one), or SD_ESTATE after rpc_fetchpipe_quit(). */
int rpc_fetchpipe_take(struct rpc_fetchpipe *p, int32_t height,
		       struct btc_block **out,
		       void **prepared) SD_WARN_UNUSED;
/* Drop the current pass (fetched blocks are freed). */
void rpc_fetchpipe_reset(struct rpc_fetchpipe *p);
/* Make every wait return: take() returns SD_ESTATE from now on. */
void rpc_fetchpipe_quit(struct rpc_fetchpipe *p);

#endif

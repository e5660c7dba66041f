/* follow_fast.c - the follower's fast path for a live block.  When ZMQ
 * announces block H, the follower does not first ask the node for its tip
 * (getblockchaininfo, getblockheader, getblockhash: a round trip each) and
 * then hand H to the fetch-ahead pipe: it fetches H by hash at once on its
 * own keep-alive client (REST: /rest/block and /rest/spenttxouts requested
 * in parallel; RPC source: getblock <hash> 3), and when H's parent is the
 * consumer tip it connects H at tip + 1 through the pass's connect path and
 * flushes.  The sync pass that follows finds nothing left to do and keeps
 * the bookkeeping (node tip and time, reorgs, status) off the critical path.
 *
 * Anything unexpected - H does not extend the consumer tip (reorg, gap, a
 * missed or stale message), the consumer is empty, the fetch fails - and
 * the fast path gives up quietly (debug log, status counter): the sync pass
 * does the work and reports real trouble.  It never connects a block whose
 * parent is not the consumer tip.  A hashblock for the consumer tip or a
 * block connected lately (queued while a sync pass took it) costs no fetch.
 *
 * Debug log: block_fast_path height= ... ms_fetch= (ms_http= of it on the
 * wire, the rest parsing) ms_connect= ms_flush= ms_total= (from the
 * hashblock's arrival), or block_fast_path_skip reason= err=.
 */
#include <string.h>

#include "../common/log.h"
#include "../common/util.h"
#include "client_priv.h"
#include "follow_priv.h"

static double ms_since(uint64_t t0_ns, uint64_t t1_ns)
{
	return (double)(t1_ns - t0_ns) / 1e6;
}

static bool connected_lately(const struct rpc_follower *f,
			     const uint8_t hash[32])
{
	for (unsigned i = 0; i < RECENT_BLOCKS; i++)
		if (memcmp(f->recent[i], hash, 32) == 0)
			return true;
	return false;
}

/* Leave H to the sync pass. */
static void miss(struct rpc_follower *f, const char *reason, int rc,
		 const char hex[65], double ms)
{
	const char *err = rc == SD_OK ? "" : sd_strerror(rc);
	char eq[64];

	if (strcmp(reason, "have_it") != 0) { /* (a sync pass took it) */
		pthread_mutex_lock(&f->smu);
		f->st.fast_path_misses++;
		pthread_mutex_unlock(&f->smu);
	}
	sd_log_debug("rpc", "block_fast_path_skip",
		     "reason=%s err=%s hash=%s ms=%.2f", reason,
		     sd_log_q(eq, sizeof(eq), err), hex, ms);
}

void rpc_follow_fast_path(struct rpc_follower *f, const uint8_t hash[32])
{
	uint64_t t0 = sd_mono_ns(), t_fetch, t_conn, t_end, io_ns = 0;
	struct btc_block *b = NULL;
	uint8_t tip_hash[32];
	int32_t tip = -1;
	char hex[65];
	int rc;

	sd_hex_encode_rev(hex, hash, 32);
	if (f->source != RPC_SOURCE_REST && f->source != RPC_SOURCE_RPC) {
		miss(f, "no_source", SD_OK, hex, 0);
		return;
	}
	rc = f->cb.tip(f->cb.ctx, &tip, tip_hash);
	if (rc != SD_OK || tip < 0) {
		miss(f, rc != SD_OK ? "consumer_tip" : "consumer_empty", rc,
		     hex, ms_since(t0, sd_mono_ns()));
		return;
	}
	if (memcmp(tip_hash, hash, 32) == 0 || connected_lately(f, hash)) {
		miss(f, "have_it", SD_OK, hex, ms_since(t0, sd_mono_ns()));
		return;
	}
	rc = rpc_fetch_block_timed(f->fast_client, f->source, hash, tip + 1,
				   &b, &io_ns);
	t_fetch = sd_mono_ns();
	if (rc == SD_OK && memcmp(b->hash, hash, 32) != 0)
		rc = SD_EPARSE; /* (rpc_fetch_block checks it too) */
	if (rc != SD_OK) {
		btc_block_free(b);
		miss(f, "fetch", rc, hex, ms_since(t0, t_fetch));
		return;
	}
	if (memcmp(b->hdr.prev_hash, tip_hash, 32) != 0) {
		btc_block_free(b);
		miss(f, "not_on_tip", SD_OK, hex, ms_since(t0, t_fetch));
		return;
	}
	rc = rpc_follow_connect_block(f, b, NULL);
	if (rc != SD_OK) { /* stopping, or the consumer's tip went back */
		btc_block_free(b);
		return;
	}
	t_conn = sd_mono_ns();
	if (f->cb.flush && (rc = f->cb.flush(f->cb.ctx)) != SD_OK) {
		/* the consumer dropped the block: the sync pass fetches it
		 * again (and counts it) and reports a lasting failure */
		char eq[64];

		sd_log_warn("rpc", "block_fast_path_flush_failed",
			    "height=%d err=%s", b->height,
			    sd_log_q(eq, sizeof(eq), sd_strerror(rc)));
		btc_block_free(b);
		return;
	}
	rpc_follow_count_block(f, b);
	pthread_mutex_lock(&f->smu);
	f->st.blocks_fast_path++;
	pthread_mutex_unlock(&f->smu);
	t_end = sd_mono_ns();
	sd_log_debug("rpc", "block_fast_path",
		     "height=%d hash=%s ntx=%zu bytes=%zu ms_fetch=%.2f "
		     "ms_http=%.2f ms_connect=%.2f ms_flush=%.2f ms_total=%.2f",
		     b->height, hex, b->n_tx, b->size_bytes,
		     ms_since(t0, t_fetch), (double)io_ns / 1e6,
		     ms_since(t_fetch, t_conn),
		     ms_since(t_conn, t_end), ms_since(t0, t_end));
	btc_block_free(b);
}

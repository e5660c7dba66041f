/* follow_sync.c - one sync pass of the follower: read the node tip, find
 * where the consumer's chain forks from the node's (walking down with
 * batched getblockhash), disconnect the consumer's blocks above the fork
 * (tip first), then fetch the missing blocks through the fetch-ahead pipe
 * and connect them strictly in height order.  A fetched block whose parent
 * is not the consumer tip means the node reorganized mid-pass: the pass is
 * dropped (PASS_RESTART) and the caller runs it again.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/util.h"
#include "follow_priv.h"

/* ---- node tip ---------------------------------------------------------- */

/* Header time of the node tip, for status (best effort). */
static void refresh_tip_time(struct rpc_follower *f, const uint8_t hash[32])
{
	char params[80], hex[65], *res = NULL;
	int code = 0;
	json_t *j;
	uint64_t t = 0;

	if (memcmp(hash, f->hdr_time_hash, 32) == 0)
		return;
	sd_hex_encode_rev(hex, hash, 32);
	snprintf(params, sizeof(params), "[\"%s\"]", hex);
	if (rpc_call(f->client, "getblockheader", params, &res, &code, NULL) !=
	    SD_OK)
		return;
	j = json_loads(res, 0, NULL);
	free(res);
	if (j && json_is_integer(json_object_get(j, "time")))
		t = (uint64_t)json_integer_value(json_object_get(j, "time"));
	json_decref(j);
	if (!t)
		return;
	memcpy(f->hdr_time_hash, hash, 32);
	pthread_mutex_lock(&f->smu);
	if (memcmp(f->st.node_hash, hash, 32) == 0)
		f->st.node_tip_time = t;
	pthread_mutex_unlock(&f->smu);
}

static int node_tip(struct rpc_follower *f, struct rpc_chain_info *ci)
{
	int rc = rpc_get_chain_info(f->client, ci);

	if (rc != SD_OK)
		return rpc_follow_fail(f, "getblockchaininfo", rc);
	rpc_follow_note_node_ok(f, ci);
	pthread_mutex_lock(&f->smu);
	f->st.node_height = ci->blocks;
	memcpy(f->st.node_hash, ci->best_hash, 32);
	pthread_mutex_unlock(&f->smu);
	refresh_tip_time(f, ci->best_hash);
	return SD_OK;
}

/* Node hashes for heights [lo, lo+n). */
static int node_hashes(struct rpc_follower *f, int32_t lo, size_t n,
		       uint8_t (*out)[32])
{
	int rc = n == 1 ? rpc_get_block_hash(f->client, lo, out[0]) :
			  rpc_get_block_hashes(f->client, lo, n, out);

	if (rc == SD_ENOTFOUND)
		return PASS_RESTART; /* the node's chain got shorter */
	return rc == SD_OK ? SD_OK : rpc_follow_fail(f, "getblockhash", rc);
}

/* ---- fork search and disconnects --------------------------------------- */

struct fork {
	int32_t keep;          /* consumer keeps heights <= keep */
	int32_t tip;           /* consumer tip after disconnects, -1 empty */
	uint8_t tip_hash[32];
};

/* Walk down from min(ch, nh) comparing the consumer with the node. */
static int find_fork(struct rpc_follower *f, int32_t ch, int32_t nh,
		     struct fork *fk)
{
	int32_t k = ch < nh ? ch : nh;
	size_t batch = 1;
	uint8_t mine[32];
	int rc;

	fk->keep = -1;
	fk->tip = -1;
	while (k >= 0 && !rpc_follow_stopping(f)) {
		int32_t lo = k - (int32_t)batch + 1 < 0 ?
				     0 :
				     k - (int32_t)batch + 1;

		rc = node_hashes(f, lo, (size_t)(k - lo + 1), f->hashbuf);
		if (rc != SD_OK)
			return rc;
		for (int32_t x = k; x >= lo; x--) {
			rc = f->cb.hash_at(f->cb.ctx, x, mine);
			if (rc == SD_ENOTFOUND) {
				/* below the consumer's first block */
				fk->keep = x;
				return SD_OK;
			}
			if (rc != SD_OK)
				return rpc_follow_fail(f, "consumer_hash_at",
						       rc);
			if (memcmp(mine, f->hashbuf[x - lo], 32) == 0) {
				fk->keep = x;
				fk->tip = x;
				memcpy(fk->tip_hash, mine, 32);
				return SD_OK;
			}
		}
		k = lo - 1;
		batch = batch * 8 > HASH_CHUNK ? HASH_CHUNK : batch * 8;
	}
	return SD_OK;
}

static int disconnect_above(struct rpc_follower *f, int32_t ch,
			    const uint8_t chash[32], const struct fork *fk,
			    const struct rpc_chain_info *ci)
{
	char old_hex[65], new_hex[65];
	int32_t depth = ch - fk->keep;
	uint8_t h[32];
	int rc;

	if (f->reorg_said_fork != fk->keep ||
	    memcmp(f->reorg_said_tip, ci->best_hash, 32) != 0) {
		sd_hex_encode_rev(old_hex, chash, 32);
		sd_hex_encode_rev(new_hex, ci->best_hash, 32);
		sd_log_warn("rpc", "reorg",
			    "depth=%d fork_height=%d old_height=%d old_tip=%s "
			    "new_height=%d new_tip=%s",
			    depth, fk->keep, ch, old_hex, ci->blocks, new_hex);
		f->reorg_said_fork = fk->keep;
		memcpy(f->reorg_said_tip, ci->best_hash, 32);
		pthread_mutex_lock(&f->smu);
		f->st.reorgs++;
		f->st.last_reorg_depth = depth;
		f->st.last_reorg_ms = sd_wall_ms();
		pthread_mutex_unlock(&f->smu);
	}
	for (int32_t x = ch; x > fk->keep; x--) {
		if (rpc_follow_stopping(f))
			return SD_OK;
		rc = f->cb.hash_at(f->cb.ctx, x, h);
		if (rc != SD_OK)
			return rpc_follow_fail(f, "consumer_hash_at", rc);
		rc = f->cb.disconnect(f->cb.ctx, x, h);
		if (rc != SD_OK)
			return rpc_follow_fail(f, "consumer_disconnect", rc);
		pthread_mutex_lock(&f->smu);
		f->st.blocks_disconnected++;
		pthread_mutex_unlock(&f->smu);
	}
	f->reorg_said_fork = -1;  /* done: the next one is news */
	return SD_OK;
}

/* ---- forward sync ------------------------------------------------------ */

void rpc_follow_count_block(struct rpc_follower *f, const struct btc_block *b)
{
	pthread_mutex_lock(&f->smu);
	f->st.blocks_connected++;
	f->st.bytes_fetched += b->size_bytes;
	pthread_mutex_unlock(&f->smu);
	memcpy(f->recent[f->recent_next++ % RECENT_BLOCKS], b->hash, 32);
}

static void progress(struct rpc_follower *f, int32_t height, int32_t tip,
		     uint64_t connected, const struct btc_block *b)
{
	uint64_t now = sd_mono_ms();

	rpc_follow_count_block(f, b);
	pthread_mutex_lock(&f->smu);
	if (now - f->rate_t_ms >= RATE_WINDOW_MS) {
		f->st.sync_blocks_per_s =
			(double)(connected - f->rate_blocks) * 1000.0 /
			(double)(now - f->rate_t_ms);
		f->rate_t_ms = now;
		f->rate_blocks = connected;
	}
	pthread_mutex_unlock(&f->smu);
	if (now - f->log_t_ms >= PROGRESS_LOG_MS && height < tip) {
		f->log_t_ms = now;
		sd_log_info("rpc", "sync_progress",
			    "height=%d tip=%d blocks_per_s=%.1f", height, tip,
			    f->st.sync_blocks_per_s);
	}
}

/* Make sure the pipe knows the hashes up to height + ahead. */
static int feed_hashes(struct rpc_follower *f, int32_t height, int32_t last,
		       const struct rpc_chain_info *ci)
{
	int32_t end = rpc_fetchpipe_hash_end(f->pipe);
	int rc;

	if (end > last || end > height + (int32_t)f->cfg.fetch_ahead)
		return SD_OK;
	while (end <= last && end <= height + (int32_t)f->cfg.fetch_ahead) {
		int32_t n = last - end + 1;

		if (n > HASH_CHUNK)
			n = HASH_CHUNK;
		if (n == 1 && end == ci->blocks) {
			memcpy(f->hashbuf[0], ci->best_hash, 32);
		} else {
			rc = node_hashes(f, end, (size_t)n, f->hashbuf);
			if (rc != SD_OK)
				return rc;
		}
		rpc_fetchpipe_add_hashes(f->pipe,
					 (const uint8_t(*)[32])f->hashbuf,
					 (size_t)n);
		end += n;
	}
	return SD_OK;
}

/* Is b's parent still the consumer's tip?  A consumer that batches
 * blocks in one write (group commit) drops the whole batch when a write
 * fails, and its tip goes back to the last durable block. */
static bool parent_is_consumer_tip(struct rpc_follower *f,
				   const struct btc_block *b)
{
	uint8_t hash[32];
	int32_t tip;

	if (f->cb.tip(f->cb.ctx, &tip, hash) != SD_OK)
		return true;    /* unknown: keep retrying b */
	return tip == b->height - 1 &&
	       memcmp(hash, b->hdr.prev_hash, 32) == 0;
}

/* Hand b to the consumer; on error retry with backoff (never skip).
 * PASS_RESTART when the consumer's tip went back meanwhile (it lost
 * uncommitted blocks): the next pass fetches them again.  The backoff
 * carries over to that pass (a full disk: one try every 5 s, not a
 * refetch loop), until a block connects. */
int rpc_follow_connect_block(struct rpc_follower *f, const struct btc_block *b,
			     void *prepared)
{
	uint64_t backoff = f->consumer_backoff ? f->consumer_backoff :
						 BACKOFF_MIN_MS;
	int rc;

	for (;;) {
		rc = f->cb.connect(f->cb.ctx, b, prepared);
		prepared = NULL; /* the consumer's now */
		if (rc == SD_OK)
			break;
		f->err_where = "consumer_connect";
		rpc_follow_note_error(f, rc, backoff);
		rpc_follow_sleep_ms(f, backoff);
		if (rpc_follow_stopping(f))
			return SD_ESTATE;
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
							 backoff * 2;
		f->consumer_backoff = backoff;
		if (!parent_is_consumer_tip(f, b)) {
			sd_log_info("rpc", "consumer_tip_back",
				    "height=%d note=refetching", b->height);
			return PASS_RESTART;
		}
	}
	f->consumer_backoff = 0;
	if (f->logged_where && strcmp(f->logged_where, "consumer_connect") ==
				       0) {
		sd_log_info("rpc", "consumer_ok", "height=%d", b->height);
		f->logged_rc = 0;
		f->logged_where = NULL;
	}
	return SD_OK;
}

static int sync_forward(struct rpc_follower *f, int32_t first, int32_t last,
			const struct fork *fk, const struct rpc_chain_info *ci)
{
	uint8_t prev[32];
	bool check_prev = fk->tip >= 0;
	uint64_t t0 = sd_mono_ms(), bytes = 0, n = 0;
	int rc = SD_OK;

	memcpy(prev, fk->tip_hash, 32);
	/* Catching up: let the fetch threads do the consumer's per-block
	 * work too (overlapped with connect).  A single new block at the tip
	 * is better served by the consumer's own worker pool. */
	rpc_fetchpipe_set_prepare(f->pipe, last > first ? f->cb.prepare : NULL,
				  f->cb.discard, f->cb.ctx);
	rpc_fetchpipe_start(f->pipe, f->source, first, last);
	f->rate_t_ms = f->log_t_ms = t0;
	f->rate_blocks = 0;
	for (int32_t h = first; h <= last && !rpc_follow_stopping(f); h++) {
		struct btc_block *b;
		void *prep;

		rc = feed_hashes(f, h, last, ci);
		if (rc != SD_OK)
			break;
		rc = rpc_fetchpipe_take(f->pipe, h, &b, &prep);
		if (rc != SD_OK) {
			if (!rpc_follow_stopping(f))
				rpc_follow_fail(f, "fetch_block", rc);
			break;
		}
		if (check_prev && memcmp(b->hdr.prev_hash, prev, 32) != 0) {
			char hx[65];

			sd_hex_encode_rev(hx, b->hash, 32);
			sd_log_info("rpc", "reorg_during_sync",
				    "height=%d hash=%s", h, hx);
			btc_block_free(b);
			if (prep)
				f->cb.discard(f->cb.ctx, prep);
			rc = PASS_RESTART;
			break;
		}
		rc = rpc_follow_connect_block(f, b, prep);
		if (rc != SD_OK) {
			btc_block_free(b);
			break;
		}
		memcpy(prev, b->hash, 32);
		check_prev = true;
		bytes += b->size_bytes;
		n++;
		progress(f, h, last, n, b);
		btc_block_free(b);
		rpc_follow_drain_rawtx(f);
		if ((n & 63) == 0)
			rpc_zmqsub_service(f->zmq);
	}
	rpc_fetchpipe_reset(f->pipe);
	/* make the pass durable before saying so (group commit) */
	if (n > 0 && f->cb.flush) {
		int frc = f->cb.flush(f->cb.ctx);

		if (frc != SD_OK) {
			rpc_follow_fail(f, "consumer_flush", frc);
			return rpc_follow_stopping(f) ? SD_OK : frc;
		}
	}
	if (n > 1) {
		uint64_t ms = sd_mono_ms() - t0;
		double s = ms ? (double)ms / 1000.0 : 0.001;

		/* synced: reached the tip seen at the start of the pass */
		bool done = first + (int32_t)n - 1 == last;

		sd_log_info("rpc", done ? "synced" : "sync_progress",
			    "height=%d tip=%d blocks=%llu ms=%llu "
			    "blocks_per_s=%.1f mb_per_s=%.2f",
			    first + (int32_t)n - 1, last, (unsigned long long)n,
			    (unsigned long long)ms, (double)n / s,
			    (double)bytes / 1e6 / s);
	}
	if (rpc_follow_stopping(f))
		return SD_OK;
	return rc;
}

/* One pass: bring the consumer to the node's tip.  *did: something
 * changed (run another pass right away). */
int rpc_follow_sync_pass(struct rpc_follower *f, bool *did)
{
	struct rpc_chain_info ci;
	struct fork fk;
	uint8_t chash[32];
	int32_t ch = -1, first;
	int rc;

	*did = false;
	rc = node_tip(f, &ci);
	if (rc != SD_OK)
		return rc;
	if (f->cfg.chain && !rpc_chain_matches(f->cfg.chain, ci.chain))
		return SD_OK; /* another network: index nothing, wait (the
			       * watch logged chain_mismatch) */
	rc = f->cb.tip(f->cb.ctx, &ch, chash);
	if (rc != SD_OK)
		return rpc_follow_fail(f, "consumer_tip", rc);
	if (ch >= 0 && ch == ci.blocks && memcmp(chash, ci.best_hash, 32) == 0)
		return SD_OK;
	if (ch > ci.blocks && ci.headers > ci.blocks) {
		/* The node is catching up (restart, IBD): wait for it rather
		 * than unwinding blocks it still has. */
		if (!f->node_behind_logged)
			sd_log_info("rpc", "node_behind",
				    "node_height=%d headers=%d our_height=%d",
				    ci.blocks, ci.headers, ch);
		f->node_behind_logged = true;
		return SD_OK;
	}
	f->node_behind_logged = false;
	if (ch >= 0) {
		rc = find_fork(f, ch, ci.blocks, &fk);
		if (rc != SD_OK)
			return rc;
		if (fk.keep < ch) {
			rc = disconnect_above(f, ch, chash, &fk, &ci);
			if (rc != SD_OK)
				return rc;
			*did = true;
		}
	} else {
		fk.keep = fk.tip = -1;
	}
	if (rpc_follow_stopping(f))
		return SD_OK;
	first = fk.tip >= 0 ? fk.tip + 1 : f->cfg.start_height;
	if (first > ci.blocks) {
		/* an empty consumer and a node below the start height (a
		 * mainnet node still syncing towards 842579): wait, say so
		 * once */
		if (fk.tip < 0 && !f->below_start_logged)
			sd_log_info("rpc", "waiting_for_start_height",
				    "start_height=%d node_height=%d "
				    "headers=%d", first, ci.blocks,
				    ci.headers);
		f->below_start_logged = fk.tip < 0;
		return SD_OK;
	}
	f->below_start_logged = false;
	*did = true;
	return sync_forward(f, first, ci.blocks, &fk, &ci);
}

/* status.c - /status (JSON), /health and /metrics (Prometheus text).
 *
 * Reads only: the node facts are the follower's node watch snapshot
 * (rpc/node_watch.h: polled on the watch's own thread, so an HTTP thread
 * never waits on bitcoind), the follower and the index give their counters
 * directly (all three snapshots are cheap and thread-safe).  One function,
 * evaluate(), decides ok/degraded/down for all three answers so they can
 * never disagree.
 */
#include "status.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/buf.h"
#include "../common/log.h"
#include "../common/util.h"

struct sd_status {
	const struct sd_config *cfg;
	uint64_t start_ms;

	pthread_mutex_t mu; /* the attached parts */
	struct oracle_index *idx;
	struct rpc_follower *fol;
	struct sd_mempool *mempool;
};

int sd_status_new(const struct sd_config *cfg, struct sd_status **out)
{
	struct sd_status *s = sd_xcalloc(1, sizeof(*s));

	s->cfg = cfg;
	s->start_ms = sd_wall_ms();
	pthread_mutex_init(&s->mu, NULL);
	*out = s;
	return SD_OK;
}

void sd_status_free(struct sd_status *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->mu);
	free(s);
}

void sd_status_attach(struct sd_status *s, struct oracle_index *idx,
		      struct rpc_follower *fol)
{
	pthread_mutex_lock(&s->mu);
	s->idx = idx;
	s->fol = fol;
	pthread_mutex_unlock(&s->mu);
}

void sd_status_attach_mempool(struct sd_status *s, struct sd_mempool *m)
{
	pthread_mutex_lock(&s->mu);
	s->mempool = m;
	pthread_mutex_unlock(&s->mu);
}

/* The node watch's snapshot; without a follower: never reached. */
static void node_snapshot(struct rpc_follower *fol,
			  struct rpc_node_snapshot *n)
{
	if (fol) {
		rpc_follower_node_get(fol, n);
		return;
	}
	memset(n, 0, sizeof(*n));
	n->chain_ok = true;
	n->info.blocks = n->info.headers = -1;
	snprintf(n->error, sizeof(n->error), "not polled yet");
}

/* ---- one view, one verdict ---------------------------------------------- */

#define MAX_REASONS 8

struct view {
	uint64_t now_ms;
	struct rpc_node_snapshot node;
	bool have_fol, have_idx;
	struct rpc_follower_status fs;
	struct oracle_stats os;
	bool have_mp;
	struct sd_mempool_stats ms;
	int32_t idx_height;
	char idx_hash[65];
	int32_t node_height; /* best of node watch and follower */
	int64_t lag;         /* node - index, >= 0 */
	int64_t tip_age_s;   /* -1 unknown */
	const char *state;
	const char *reasons[MAX_REASONS];
	int n_reasons;
};

static void add_reason(struct view *v, const char *r)
{
	if (v->n_reasons < MAX_REASONS)
		v->reasons[v->n_reasons++] = r;
}

static void gather(struct sd_status *s, struct view *v)
{
	struct oracle_index *idx;
	struct rpc_follower *fol;
	struct sd_mempool *mp;
	bool down = false, degraded = false;

	memset(v, 0, sizeof(*v));
	v->now_ms = sd_wall_ms();
	pthread_mutex_lock(&s->mu);
	idx = s->idx;
	fol = s->fol;
	mp = s->mempool;
	pthread_mutex_unlock(&s->mu);
	node_snapshot(fol, &v->node);
	if (mp) {
		sd_mempool_stats(mp, &v->ms);
		v->have_mp = true;
	}

	v->idx_height = -1;
	if (fol) {
		rpc_follower_status_get(fol, &v->fs);
		v->have_fol = true;
	}
	if (idx) {
		struct oracle_read *r;
		uint8_t h[32];

		oracle_index_stats(idx, &v->os);
		v->have_idx = true;
		v->idx_height = v->os.tip_height;
		if (oracle_read_begin(idx, &r) == SD_OK) {
			if (oracle_read_tip(r, &v->idx_height, h) == SD_OK &&
			    v->idx_height >= 0)
				sd_hex_encode_rev(v->idx_hash, h, 32);
			oracle_read_end(r);
		}
	}

	v->node_height = v->node.info.blocks;
	if (v->have_fol && v->fs.node_reachable &&
	    v->fs.node_height > v->node_height)
		v->node_height = v->fs.node_height;
	v->lag = v->node_height >= 0 && v->node_height > v->idx_height
			 ? (int64_t)v->node_height - v->idx_height
			 : 0;
	v->tip_age_s = -1;
	if (v->node.info.tip_time) {
		int64_t age = (int64_t)(v->now_ms / 1000) -
			      (int64_t)v->node.info.tip_time;
		v->tip_age_s = age < 0 ? 0 : age;
	}

	if (!v->node.reachable) {
		add_reason(v, "node_unreachable");
		down = true;
	} else if (!v->node.chain_ok) {
		add_reason(v, "chain_mismatch");
		down = true;
	}
	if (v->node.reachable && v->node.info.ibd) {
		add_reason(v, "node_ibd");
		degraded = true;
	}
	if (s->cfg->health_max_tip_age > 0 && v->tip_age_s >= 0 &&
	    v->tip_age_s > s->cfg->health_max_tip_age) {
		add_reason(v, "tip_too_old");
		degraded = true;
	}
	if (v->lag > s->cfg->health_max_index_lag) {
		add_reason(v, "index_lag");
		degraded = true;
	}
	if (v->have_idx && v->os.disk_full) {
		add_reason(v, "disk_full");
		degraded = true;
	}
	if (v->have_idx && v->os.reorg_too_deep) {
		add_reason(v, "reorg_too_deep");  /* stuck: reindex */
		down = true;
	}
	if (!v->have_idx) {
		add_reason(v, "index_closed");
		down = true;
	}
	v->state = down ? "down" : degraded ? "degraded" : "ok";
}

static json_t *reasons_json(const struct view *v)
{
	json_t *a = json_array();

	for (int i = 0; i < v->n_reasons; i++)
		json_array_append_new(a, json_string(v->reasons[i]));
	return a;
}

static int dump(json_t *o, char **body, size_t *len)
{
	*body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!*body)
		return SD_EINVAL;
	*len = strlen(*body);
	return SD_OK;
}

/* Seconds since a wall-ms instant, or JSON null if never. */
static json_t *age_json(uint64_t now_ms, uint64_t then_ms)
{
	if (!then_ms)
		return json_null();
	return json_real(now_ms > then_ms ? (double)(now_ms - then_ms) / 1000.0
					  : 0.0);
}

static json_t *str_or_null(const char *s)
{
	return s && s[0] ? json_string(s) : json_null();
}

int sd_status_json(struct sd_status *s, char **body, size_t *len)
{
	struct view v;
	json_t *o, *node, *zmq, *index, *reorg = json_null();

	gather(s, &v);
	o = json_object();
	json_object_set_new(o, "status", json_string(v.state));
	json_object_set_new(o, "reasons", reasons_json(&v));
	json_object_set_new(o, "version", json_string(SIGNETD_VERSION));
	json_object_set_new(o, "uptime_s",
			    json_integer((json_int_t)((v.now_ms -
						       s->start_ms) / 1000)));
	json_object_set_new(o, "chain", json_string(s->cfg->chain));

	node = json_object();
	json_object_set_new(node, "reachable", json_boolean(v.node.reachable));
	json_object_set_new(node, "error", str_or_null(v.node.error));
	json_object_set_new(node, "last_seen_age_s",
			    age_json(v.now_ms, v.node.last_ok_ms));
	json_object_set_new(node, "chain", str_or_null(v.node.info.chain));
	json_object_set_new(node, "version", str_or_null(v.node.info.subversion));
	json_object_set_new(node, "height", json_integer(v.node_height));
	json_object_set_new(node, "headers", json_integer(v.node.info.headers));
	json_object_set_new(node, "hash", str_or_null(v.node.info.best_hash));
	json_object_set_new(node, "time", v.node.info.tip_time ?
				  json_integer((json_int_t)v.node.info.tip_time) :
				  json_null());
	json_object_set_new(node, "tip_age_s", v.tip_age_s >= 0 ?
				  json_integer(v.tip_age_s) : json_null());
	json_object_set_new(node, "ibd", json_boolean(v.node.info.ibd));
	json_object_set_new(node, "verification_progress",
			    json_real(v.node.info.verification_progress));
	json_object_set_new(node, "peers", json_integer(v.node.info.peers));
	json_object_set_new(node, "mempool",
			    json_pack("{s:I,s:I}", "txs",
				      (json_int_t)v.node.info.mempool_txs, "bytes",
				      (json_int_t)v.node.info.mempool_bytes));
	json_object_set_new(o, "node", node);

	zmq = json_object();
	json_object_set_new(zmq, "enabled", json_boolean(v.fs.zmq_on));
	json_object_set_new(zmq, "hashblock", str_or_null(v.fs.zmq_hashblock));
	json_object_set_new(zmq, "rawtx", str_or_null(v.fs.zmq_rawtx));
	json_object_set_new(zmq, "messages",
			    json_integer((json_int_t)v.fs.zmq_msgs));
	json_object_set_new(zmq, "gaps",
			    json_integer((json_int_t)v.fs.zmq_gaps));
	json_object_set_new(zmq, "last_message_age_s",
			    age_json(v.now_ms, v.fs.zmq_last_msg_ms));
	json_object_set_new(zmq, "fast_path_blocks",
			    json_integer((json_int_t)v.fs.blocks_fast_path));
	json_object_set_new(zmq, "fast_path_misses",
			    json_integer((json_int_t)v.fs.fast_path_misses));
	json_object_set_new(o, "zmq", zmq);

	json_object_set_new(o, "block_source",
			    v.have_fol ? json_string(rpc_block_source_name(
						 v.fs.source))
				       : json_null());

	index = json_object();
	json_object_set_new(index, "height", json_integer(v.idx_height));
	json_object_set_new(index, "hash", str_or_null(v.idx_hash));
	json_object_set_new(index, "lag", json_integer(v.lag));
	json_object_set_new(index, "sync_rate_blocks_per_s",
			    json_real(isfinite(v.fs.sync_blocks_per_s) ?
					      v.fs.sync_blocks_per_s : 0.0));
	json_object_set_new(index, "blocks_connected",
			    json_integer((json_int_t)v.os.blocks_connected));
	json_object_set_new(index, "blocks_disconnected",
			    json_integer((json_int_t)v.os.blocks_disconnected));
	json_object_set_new(index, "tweaks_indexed",
			    json_integer((json_int_t)v.os.tweaks_indexed));
	json_object_set_new(index, "mempool_tweaks",
			    json_integer((json_int_t)v.os.mempool_tweaks));
	json_object_set_new(index, "db_bytes",
			    json_integer((json_int_t)v.os.db_bytes));
	json_object_set_new(index, "disk_full", json_boolean(v.os.disk_full));
	json_object_set_new(index, "outpoint_map", json_pack(
		"{s:b,s:I,s:I,s:I,s:I}",
		"loading", (int)v.os.outmap_loading,
		"entries", (json_int_t)v.os.outmap_entries,
		"bytes", (json_int_t)v.os.outmap_bytes,
		"snapshot_height", (json_int_t)v.os.outmap_snapshot_height,
		"snapshot_failures",
		(json_int_t)v.os.outmap_snapshot_failures));
	json_object_set_new(o, "index", index);
	if (v.have_mp)
		json_object_set_new(o, "mempool", json_pack(
			"{s:I,s:I,s:I,s:I,s:I,s:I}",
			"generation", (json_int_t)v.ms.generation,
			"queue_txs", (json_int_t)v.ms.queue_txs,
			"queue_bytes", (json_int_t)v.ms.queue_bytes,
			"added", (json_int_t)v.ms.added,
			"dropped", (json_int_t)(v.ms.drop_queue_full +
				v.ms.drop_too_big + v.ms.drop_map_full +
				v.ms.drop_budget),
			"parent_fetches", (json_int_t)v.ms.parent_fetches));

	json_object_set_new(o, "reorgs", json_integer((json_int_t)v.fs.reorgs));
	if (v.fs.last_reorg_ms) {
		json_decref(reorg);
		reorg = json_pack("{s:i,s:I,s:o}", "depth",
				  (int)v.fs.last_reorg_depth, "time",
				  (json_int_t)(v.fs.last_reorg_ms / 1000),
				  "age_s",
				  age_json(v.now_ms, v.fs.last_reorg_ms));
	}
	json_object_set_new(o, "last_reorg", reorg);
	json_object_set_new(o, "miner", json_null());
	return dump(o, body, len);
}

int sd_status_health(struct sd_status *s, bool *ok, char **body, size_t *len)
{
	struct view v;
	json_t *o;

	gather(s, &v);
	*ok = strcmp(v.state, "ok") == 0;
	o = json_object();
	json_object_set_new(o, "status", json_string(v.state));
	if (!*ok) {
		json_object_set_new(o, "reasons", reasons_json(&v));
		json_object_set_new(o, "node_height",
				    json_integer(v.node_height));
		json_object_set_new(o, "index_height",
				    json_integer(v.idx_height));
		json_object_set_new(o, "tip_age_s", v.tip_age_s >= 0 ?
					  json_integer(v.tip_age_s) :
					  json_null());
	}
	return dump(o, body, len);
}

/* ---- Prometheus text ---------------------------------------------------- */

static void metric(struct sd_buf *t, const char *name, const char *type,
		   const char *help, double value)
{
	if (!isfinite(value))
		value = 0;
	sd_buf_printf(t, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name,
		type, name, value);
}

static void labelled(struct sd_buf *t, const char *name, const char *help,
		     const char *const *labels, const uint64_t *values, int n)
{
	sd_buf_printf(t, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (int i = 0; i < n; i++)
		sd_buf_printf(t, "%s{reason=\"%s\"} %lu\n", name, labels[i],
			(unsigned long)values[i]);
}

static void mempool_metrics(struct sd_buf *t, const struct sd_mempool_stats *m)
{
	static const char *const drops[] = {"queue_full", "too_big",
					    "map_full", "fetch_budget"};
	static const char *const skips[] = {"not_in_mempool",
					    "prevout_not_found", "error"};
	const uint64_t dv[] = {m->drop_queue_full, m->drop_too_big,
			       m->drop_map_full, m->drop_budget};
	const uint64_t sv[] = {m->skip_not_in_mempool, m->skip_no_prevout,
			       m->skip_error};

	metric(t, "signetd_mempool_queue_transactions", "gauge",
	       "Raw txs waiting for the mempool thread.",
	       (double)m->queue_txs);
	metric(t, "signetd_mempool_queue_bytes", "gauge",
	       "Bytes of raw txs waiting for the mempool thread.",
	       (double)m->queue_bytes);
	metric(t, "signetd_mempool_queued_total", "counter",
	       "ZMQ rawtx txs queued for the mempool thread.",
	       (double)m->queued);
	metric(t, "signetd_mempool_processed_total", "counter",
	       "Queued txs the mempool thread took.", (double)m->processed);
	metric(t, "signetd_mempool_added_total", "counter",
	       "Mempool txs whose tweak was computed.", (double)m->added);
	labelled(t, "signetd_mempool_dropped_total",
		 "Mempool txs shed without their tweak, by reason.", drops, dv,
		 4);
	labelled(t, "signetd_mempool_skipped_total",
		 "Mempool txs processed without a tweak entry, by reason.",
		 skips, sv, 3);
	metric(t, "signetd_mempool_prevout_cache_hits_total", "counter",
	       "Inputs resolved from recently seen txs.",
	       (double)m->cache_hits);
	metric(t, "signetd_mempool_prevout_cache_bytes", "gauge",
	       "Bytes of recent tx outputs kept for their children.",
	       (double)m->cache_bytes);
	metric(t, "signetd_mempool_txout_lookups_total", "counter",
	       "Inputs looked up with (batched) gettxout.",
	       (double)m->txout_lookups);
	metric(t, "signetd_mempool_parent_fetches_total", "counter",
	       "Unconfirmed parents fetched from the node.",
	       (double)m->parent_fetches);
	metric(t, "signetd_mempool_parent_fetch_bytes_total", "counter",
	       "Bytes of unconfirmed parents fetched from the node.",
	       (double)m->parent_bytes);
	metric(t, "signetd_mempool_prunes_total", "counter",
	       "getrawmempool refreshes of the mempool tweaks.",
	       (double)m->prunes);
	metric(t, "signetd_mempool_tweaks_limit", "gauge",
	       "Most mempool tweaks held.", (double)m->map_limit);
	metric(t, "signetd_mempool_generation", "gauge",
	       "Changes whenever the mempool tweaks may have.",
	       (double)m->generation);
}

int sd_status_metrics(struct sd_status *s, char **body, size_t *len)
{
	static const char *const lvl[] = {"trace", "debug", "info", "warn",
					  "error"};
	static const char *const states[] = {"ok", "degraded", "down"};
	struct sd_buf t = {0};
	struct rpc_stats rs;
	struct view v;

	gather(s, &v);
	rpc_stats_get(&rs);

	sd_buf_printf(&t, "# HELP signetd_build_info signetd version.\n"
		    "# TYPE signetd_build_info gauge\n"
		    "signetd_build_info{version=\"%s\"} 1\n", SIGNETD_VERSION);
	metric(&t, "signetd_start_time_seconds", "gauge",
	       "Start time of the process since the epoch.",
	       (double)s->start_ms / 1000.0);
	sd_buf_printf(&t, "# HELP signetd_health_status Overall state (1 = current)."
		    "\n# TYPE signetd_health_status gauge\n");
	for (int i = 0; i < 3; i++)
		sd_buf_printf(&t, "signetd_health_status{status=\"%s\"} %d\n",
			states[i], strcmp(v.state, states[i]) == 0);
	metric(&t, "signetd_node_up", "gauge",
	       "1 when the last node poll succeeded.", v.node.reachable);
	metric(&t, "signetd_node_height", "gauge", "Node block height.",
	       v.node_height);
	metric(&t, "signetd_node_headers", "gauge", "Node header height.",
	       v.node.info.headers);
	metric(&t, "signetd_node_peers", "gauge", "Node peer connections.",
	       (double)v.node.info.peers);
	metric(&t, "signetd_node_ibd", "gauge",
	       "1 while the node is in initial block download.", v.node.info.ibd);
	metric(&t, "signetd_node_verification_progress", "gauge",
	       "Node verification progress (0..1).",
	       v.node.info.verification_progress);
	metric(&t, "signetd_mempool_transactions", "gauge",
	       "Transactions in the node mempool.",
	       (double)v.node.info.mempool_txs);
	metric(&t, "signetd_mempool_bytes", "gauge",
	       "Size of the node mempool (virtual bytes).",
	       (double)v.node.info.mempool_bytes);
	metric(&t, "signetd_tip_age_seconds", "gauge",
	       "Age of the node tip block (header time).",
	       v.tip_age_s >= 0 ? (double)v.tip_age_s : 0);
	metric(&t, "signetd_index_height", "gauge", "Indexed tip height.",
	       v.idx_height);
	metric(&t, "signetd_index_lag_blocks", "gauge",
	       "Blocks the index trails the node.", (double)v.lag);
	metric(&t, "signetd_sync_rate_blocks_per_second", "gauge",
	       "Recent indexing rate.", v.fs.sync_blocks_per_s);
	metric(&t, "signetd_blocks_connected_total", "counter",
	       "Blocks connected to the index.",
	       (double)v.os.blocks_connected);
	metric(&t, "signetd_blocks_disconnected_total", "counter",
	       "Blocks disconnected from the index (reorgs).",
	       (double)v.os.blocks_disconnected);
	metric(&t, "signetd_reorgs_total", "counter", "Chain reorganisations.",
	       (double)v.fs.reorgs);
	metric(&t, "signetd_last_reorg_depth", "gauge",
	       "Depth of the last reorg (blocks).",
	       (double)v.fs.last_reorg_depth);
	metric(&t, "signetd_last_reorg_timestamp_seconds", "gauge",
	       "Time of the last reorg (0 if none).",
	       (double)(v.fs.last_reorg_ms / 1000));
	metric(&t, "signetd_tweaks_indexed_total", "counter",
	       "Tweaks written to the index since start.",
	       (double)v.os.tweaks_indexed);
	metric(&t, "signetd_mempool_tweaks", "gauge",
	       "Unconfirmed tweaks held.", (double)v.os.mempool_tweaks);
	metric(&t, "signetd_db_size_bytes", "gauge", "Index data file size.",
	       (double)v.os.db_bytes);
	metric(&t, "signetd_db_map_size_bytes", "gauge", "LMDB map size.",
	       (double)v.os.map_bytes);
	metric(&t, "signetd_disk_full", "gauge",
	       "1 when the last index write hit a full disk.", v.os.disk_full);
	metric(&t, "signetd_outpoint_map_loading", "gauge",
	       "1 while the outpoint map loads (indexing waits, reads do not).",
	       v.os.outmap_loading);
	metric(&t, "signetd_outpoint_map_entries", "gauge",
	       "Tracked unspent taproot outputs in the outpoint map.",
	       (double)v.os.outmap_entries);
	metric(&t, "signetd_outpoint_map_bytes", "gauge",
	       "Memory of the outpoint map's tables.",
	       (double)v.os.outmap_bytes);
	metric(&t, "signetd_outpoint_map_snapshot_height", "gauge",
	       "Tip of the outpoint map's newest snapshot on disk (-1: none; "
	       "a restart after a crash replays the blocks above it).",
	       (double)v.os.outmap_snapshot_height);
	metric(&t, "signetd_outpoint_map_snapshot_failures_total", "counter",
	       "Background snapshots of the outpoint map that failed.",
	       (double)v.os.outmap_snapshot_failures);
	metric(&t, "signetd_last_block_connect_seconds", "gauge",
	       "Compute and write time of the last block.",
	       v.os.last_connect_ms / 1000.0);
	metric(&t, "signetd_rpc_calls_total", "counter",
	       "Requests made to bitcoind.", (double)rs.calls);
	metric(&t, "signetd_rpc_errors_total", "counter",
	       "Failed requests to bitcoind.", (double)rs.errors);
	metric(&t, "signetd_rpc_received_bytes_total", "counter",
	       "Bytes received from bitcoind.", (double)rs.bytes_in);
	metric(&t, "signetd_block_fetch_bytes_total", "counter",
	       "Block bytes fetched by the follower.",
	       (double)v.fs.bytes_fetched);
	metric(&t, "signetd_zmq_up", "gauge", "1 when ZMQ is subscribed.",
	       v.fs.zmq_on);
	metric(&t, "signetd_zmq_messages_total", "counter",
	       "ZMQ messages received.", (double)v.fs.zmq_msgs);
	metric(&t, "signetd_zmq_gaps_total", "counter",
	       "ZMQ sequence gaps seen.", (double)v.fs.zmq_gaps);
	metric(&t, "signetd_fast_path_blocks_total", "counter",
	       "Live blocks connected straight from their ZMQ hashblock.",
	       (double)v.fs.blocks_fast_path);
	metric(&t, "signetd_fast_path_misses_total", "counter",
	       "ZMQ hashblocks left to a sync pass (reorg, gap, fetch error).",
	       (double)v.fs.fast_path_misses);
	metric(&t, "signetd_zmq_last_message_timestamp_seconds", "gauge",
	       "Time of the last ZMQ message (0 if none).",
	       (double)(v.fs.zmq_last_msg_ms / 1000));
	if (v.have_mp)
		mempool_metrics(&t, &v.ms);
	sd_buf_printf(&t, "# HELP signetd_log_messages_total Log lines written, by "
		    "level.\n# TYPE signetd_log_messages_total counter\n");
	for (int i = SD_LOG_TRACE; i <= SD_LOG_ERROR; i++)
		sd_buf_printf(&t, "signetd_log_messages_total{level=\"%s\"} %lu\n",
			lvl[i], sd_log_count((enum sd_log_level)i));

	/* oracle/http appends its own (requests, latency) after this text */
	*body = t.s;
	*len = t.len;
	return SD_OK;
}

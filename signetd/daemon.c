/* daemon.c - wiring and lifecycle (daemon.h).
 *
 * Threads: main runs the follower (which calls back into the index, one
 * event at a time, and queues ZMQ rawtx for the mempool thread, which does
 * all mempool node traffic and tweak work); a signal thread waits in
 * sigwait() for INT/TERM (stop the follower) and HUP (reopen the log file);
 * the HTTP server and the follower's node watch (the node facts /status
 * reads) have their own.  All signals are
 * blocked before any thread starts, so no handler ever runs in a random
 * thread and nothing async-signal-unsafe happens in a handler.
 */
#include "daemon.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../oracle/grpc/grpc.h"
#include "../oracle/http/http.h"
#include "../oracle/index/oracle.h"
#include "../rpc/follow.h"
#include "../common/log.h"
#include "mempool.h"
#include "status.h"
#include "../common/util.h"

/* Blocks fetched (and prepared: tweaks, filters, spent index, by
 * cb_prepare on the fetch threads) ahead of the writer during a sync, at
 * most (the pipe also caps their bytes): deep enough that the EC work of
 * the next big blocks runs while the writer is busy with
 * cheap-to-compute, costly-to-write ones or a group commit.  The prepared
 * work travels with its block to cb_connect (or cb_discard). */
#define FETCH_AHEAD 32

struct daemon {
	const struct sd_config *cfg;
	struct oracle_index *idx;
	struct oracle_http *http;
	struct oracle_http *http2;     /* v2 routes on http_host */
	struct oracle_grpc *grpc;      /* OracleService on grpc_host */
	struct rpc_follower *fol;
	struct sd_status *status;
	struct sd_mempool *mempool;
	bool prune_due;           /* follower thread: a tip block connected */
	bool deep_reorg_logged;   /* follower thread: reorg_too_deep said */

	struct rpc_client *fwd;   /* /forward-tx, shared by HTTP threads */
	pthread_mutex_t fwd_mu;

	pthread_mutex_t stop_mu;  /* stop_requested, fol while running */
	bool stop_requested;
};

/* ---- follower callbacks -> index ---------------------------------------- */

/* Blocks of one sync pass share a write txn, committed every
 * GROUP_COMMIT_BLOCKS blocks and at the end of the pass (cb_flush): one
 * commit (pages written + fdatasync) for many blocks during a catch-up;
 * at the tip a pass is one block, committed before it is announced.
 * tip/hash_at flush first, so the follower always sees durable state. */
#define GROUP_COMMIT_BLOCKS 16

static int cb_flush(void *ctx)
{
	struct daemon *d = ctx;
	int rc = oracle_index_flush(d->idx);

	/* After the commit (the block is served already): have the mempool
	 * thread drop the tweaks the new tip conflicted out (getrawmempool
	 * there; nothing here waits for it). */
	if (rc == SD_OK && d->prune_due) {
		d->prune_due = false;
		sd_mempool_prune(d->mempool);
	}
	return rc;
}

static int cb_tip(void *ctx, int32_t *height, uint8_t hash[32])
{
	struct daemon *d = ctx;
	int rc = oracle_index_flush(d->idx);

	return rc != SD_OK ? rc : oracle_index_tip(d->idx, height, hash);
}

static int cb_hash_at(void *ctx, int32_t height, uint8_t hash[32])
{
	struct daemon *d = ctx;
	int rc = oracle_index_flush(d->idx);

	return rc != SD_OK ? rc : oracle_index_hash_at(d->idx, height, hash);
}

/* Fetch thread: compute the block's tweaks and filters while the
 * follower thread connects earlier blocks (the EC work overlaps the LMDB
 * writes; the writer only writes).  NULL on failure: connect computes
 * (and reports) it again. */
static void *cb_prepare(void *ctx, const struct btc_block *b)
{
	struct daemon *d = ctx;
	struct oracle_prepared *p = sd_xmalloc(sizeof(*p));

	if (oracle_block_prepare(b, !d->cfg->tweaks_only, p) != SD_OK) {
		free(p);
		return NULL;
	}
	return p;
}

static void cb_discard(void *ctx, void *prepared)
{
	(void)ctx;
	oracle_prepared_free(prepared);
	free(prepared);
}

static int cb_connect(void *ctx, const struct btc_block *b, void *prepared)
{
	struct daemon *d = ctx;
	struct oracle_prepared *pre = prepared;
	struct rpc_node_snapshot node;
	int32_t node_height;
	int rc;

	/* Never write another network's blocks into this index.  The
	 * follower already checks the node's chain (fcfg.chain) before each
	 * pass and its node watch logged chain_mismatch: belt and braces for
	 * a node swapped under a pass, refused without a second log line. */
	rpc_follower_node_get(d->fol, &node);
	if (!node.chain_ok) {
		if (pre)
			cb_discard(d, pre);
		return SD_ESTATE;
	}
	if (pre) {
		rc = oracle_index_connect_prepared(d->idx, b, pre);
		cb_discard(d, pre);
	} else {
		rc = oracle_index_connect(d->idx, b);
	}
	if (rc == SD_OK)
		d->deep_reorg_logged = false;
	if (rc != SD_OK || !d->mempool)
		return rc;
	/* the connect took the block's txs out of the mempool table */
	sd_mempool_note_change(d->mempool);
	/* At the tip (never during the initial sync): prune the mempool
	 * tweaks once the block is committed (cb_flush).  Those it confirmed
	 * left with the connect already. */
	rpc_follower_node_get(d->fol, &node); /* as of now, after the write */
	node_height = node.reachable || node.ever ? node.info.blocks : -1;
	if (node_height >= 0 && b->height >= node_height)
		d->prune_due = true;
	return rc;
}

/* A reorg deeper than the undo rows kept (undo_depth) cannot be undone:
 * the index stays on the old chain, /health says down (reason
 * reorg_too_deep), the follower retries with its capped backoff, and
 * this says so once, with what to do. */
static int cb_disconnect(void *ctx, int32_t height, const uint8_t hash[32])
{
	struct daemon *d = ctx;
	int rc = oracle_index_disconnect(d->idx, height, hash);
	struct rpc_follower_status fs;

	if (rc == SD_OK) {
		d->deep_reorg_logged = false;
	} else if (rc == SD_ENOTFOUND && !d->deep_reorg_logged) {
		rpc_follower_status_get(d->fol, &fs);
		sd_log_error("daemon", "reorg_too_deep",
			     "depth=%d height=%d undo_depth=%lld "
			     "action=\"reindex: stop signetd, delete "
			     "<datadir>/index, start it (or raise undo_depth "
			     "for the next time)\"",
			     fs.last_reorg_depth, height,
			     (long long)d->cfg->undo_depth);
		d->deep_reorg_logged = true;
	}
	return rc;
}

static void cb_mempool_tx(void *ctx, const struct btc_block *txblk,
			  const uint8_t *raw, size_t raw_len)
{
	struct daemon *d = ctx;

	/* Only queued here (bounded, drops counted): the mempool thread
	 * re-parses it and asks the node for its prevouts. */
	(void)txblk;
	if (d->mempool)
		sd_mempool_tx(d->mempool, raw, raw_len);
}

/* ---- HTTP hooks --------------------------------------------------------- */

static int hook_status(void *ctx, char **body, size_t *len)
{
	struct daemon *d = ctx;

	return sd_status_json(d->status, body, len);
}

static int hook_health(void *ctx, bool *ok, char **body, size_t *len)
{
	struct daemon *d = ctx;

	return sd_status_health(d->status, ok, body, len);
}

static int hook_metrics(void *ctx, char **body, size_t *len)
{
	struct daemon *d = ctx;

	return sd_status_metrics(d->status, body, len);
}

/* sendrawtransaction through the node (upstream posts to a public site).
 * Runs on oracle/http's forward workers, never on an HTTP thread: one
 * client (keep-alive curl handle) per worker, made on its first relay
 * with the server's short timeout; calls on one worker never overlap, so
 * there is no lock.  oracle/http logs the outcome (rate limited). */
static struct rpc_client *fwd_clients[ORACLE_HTTP_MAX_FORWARD_WORKERS];

static void rpc_config_of(const struct sd_config *cfg, struct rpc_config *rc,
			  long timeout_ms);

static int hook_forward_tx(void *ctx, unsigned worker, long timeout_ms,
			   const char *hex, char txid_hex[65], char *err)
{
	struct daemon *d = ctx;
	int rc;

	if (worker >= ORACLE_HTTP_MAX_FORWARD_WORKERS)
		return SD_EINVAL;
	if (!fwd_clients[worker]) {
		struct rpc_config rcfg;

		rpc_config_of(d->cfg, &rcfg, timeout_ms);
		rc = rpc_client_new(&rcfg, &fwd_clients[worker]);
		if (rc != SD_OK) {
			snprintf(err, SD_ERRLEN, "node unavailable: %s",
				 sd_strerror(rc));
			return rc;
		}
	}
	return rpc_send_raw_tx(fwd_clients[worker], hex, txid_hex, err);
}

static void hook_forward_tx_release(void *ctx, unsigned worker)
{
	(void)ctx;
	if (worker >= ORACLE_HTTP_MAX_FORWARD_WORKERS)
		return;
	rpc_client_free(fwd_clients[worker]);
	fwd_clients[worker] = NULL;
}

/* ---- signals ------------------------------------------------------------ */

static sigset_t handled_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	return set;
}

static void request_stop(struct daemon *d)
{
	pthread_mutex_lock(&d->stop_mu);
	d->stop_requested = true;
	if (d->fol)
		rpc_follower_stop(d->fol);
	pthread_mutex_unlock(&d->stop_mu);
}

static void *signal_main(void *arg)
{
	struct daemon *d = arg;
	sigset_t set = handled_signals();

	for (;;) {
		int sig = 0;

		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			sd_log_reopen();
			sd_log_info("daemon", "log_reopened", NULL);
			continue;
		}
		sd_log_info("daemon", "shutdown_requested", "signal=%s",
			    sig == SIGINT ? "SIGINT" : "SIGTERM");
		request_stop(d);
		if (sig == SIGTERM || sig == SIGINT)
			return NULL;
	}
}

/* ---- lifecycle ---------------------------------------------------------- */

static void rpc_config_of(const struct sd_config *cfg, struct rpc_config *rc,
			  long timeout_ms)
{
	memset(rc, 0, sizeof(*rc));
	rc->url = cfg->rpc_endpoint;
	if (cfg->cookie_path[0]) {
		rc->cookie_path = cfg->cookie_path;
	} else {
		rc->user = cfg->rpc_user;
		rc->pass = cfg->rpc_pass;
	}
	rc->timeout_ms = timeout_ms;
}

static enum rpc_block_source source_of(const char *name)
{
	if (strcmp(name, "rest") == 0)
		return RPC_SOURCE_REST;
	if (strcmp(name, "rpc") == 0)
		return RPC_SOURCE_RPC;
	return RPC_SOURCE_AUTO;
}

static int open_log_file(const struct sd_config *cfg, const char *datadir)
{
	char *path;
	char q[300], q2[100];
	int rc;

	if (!cfg->log_file[0])
		return SD_OK;
	if (cfg->log_file[0] == '/') {
		path = sd_xstrdup(cfg->log_file);
	} else {
		size_t n = strlen(datadir) + strlen(cfg->log_file) + 2;

		path = sd_xmalloc(n);
		snprintf(path, n, "%s/%s", datadir, cfg->log_file);
	}
	rc = sd_log_open_file(path);
	if (rc != SD_OK) {
		int e = errno;

		sd_log_error("daemon", "log_file_failed", "path=%s err=%s",
			     sd_log_q(q, sizeof(q), path),
			     sd_log_q(q2, sizeof(q2), strerror(e)));
	}
	free(path);
	return rc;
}

int sd_daemon_run(const struct sd_config *cfg, const char *datadir)
{
	static struct daemon d; /* the signal thread may outlive this call */
	struct oracle_config ocfg = {0};
	struct oracle_http_config hcfg = {0};
	struct oracle_http_hooks hooks = {0};
	struct rpc_follower_config fcfg = {0};
	struct rpc_follower_cb cb = {0};
	struct rpc_config rpc_main;
	struct sd_mempool_limits mp_lim = {0};
	sigset_t set = handled_signals();
	pthread_t sig_thread;
	char err[SD_ERRLEN] = "", q[300], q2[100], qe[40];
	int exit_code = SD_EXIT_FAIL, rc;

	d.cfg = cfg;
	pthread_mutex_init(&d.fwd_mu, NULL);
	pthread_mutex_init(&d.stop_mu, NULL);
	/* Before any thread exists: every thread inherits this mask. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (pthread_create(&sig_thread, NULL, signal_main, &d) != 0) {
		sd_log_error("daemon", "startup_failed",
			     "err=no_signal_thread");
		return SD_EXIT_FAIL;
	}

	if (sd_mkdir_p(datadir) != SD_OK) {
		int e = errno;

		sd_log_error("daemon", "startup_failed",
			     "err=mkdir_datadir path=%s detail=%s",
			     sd_log_q(q, sizeof(q), datadir),
			     sd_log_q(q2, sizeof(q2), strerror(e)));
		goto out;
	}
	if (open_log_file(cfg, datadir) != SD_OK)
		goto out;
	sd_log_info("daemon", "starting",
		    "version=%s datadir=%s chain=%s host=%s", SIGNETD_VERSION,
		    sd_log_q(q, sizeof(q), datadir), cfg->chain,
		    sd_log_q(q2, sizeof(q2), cfg->host));
	sd_config_log_warnings(cfg); /* after the log file: it gets them too */

	rpc_config_of(cfg, &rpc_main, 30000);

	ocfg.datadir = datadir;
	ocfg.network = cfg->chain;
	ocfg.tweaks_only = cfg->tweaks_only;
	ocfg.tweaks_full_basic = cfg->tweaks_full_basic;
	ocfg.tweaks_full_with_dust_filter = cfg->tweaks_full_with_dust_filter;
	ocfg.tweaks_cut_through_with_dust_filter =
		cfg->tweaks_cut_through_with_dust_filter;
	ocfg.tweak_threads = (unsigned)cfg->max_parallel_tweak_computations;
	ocfg.start_height = (int32_t)cfg->sync_start_height;
	ocfg.undo_depth = (uint32_t)cfg->undo_depth;
	rc = oracle_index_open(&ocfg, &d.idx, err);
	if (rc != SD_OK) {
		sd_log_error("daemon", "index_open_failed", "err=%s detail=%s",
			     sd_log_q(qe, sizeof(qe), sd_strerror(rc)),
			     sd_log_q(q, sizeof(q), err));
		goto out;
	}
	{
		/* env SIGNETD_GROUP_COMMIT_BLOCKS: for benchmarks and tests
		 * (1 = one txn a block) */
		const char *gc = getenv("SIGNETD_GROUP_COMMIT_BLOCKS");
		long n = gc ? strtol(gc, NULL, 10) : GROUP_COMMIT_BLOCKS;

		oracle_index_set_group_commit(d.idx, n >= 1 && n <= 1024 ?
					      (unsigned)n : GROUP_COMMIT_BLOCKS);
	}

	mp_lim.queue_txs = (size_t)cfg->mempool_queue_txs;
	mp_lim.queue_bytes = (size_t)cfg->mempool_queue_bytes;
	mp_lim.max_tx_bytes = (size_t)cfg->mempool_max_tx_bytes;
	mp_lim.max_inputs = (size_t)cfg->mempool_max_inputs;
	mp_lim.max_outputs = (size_t)cfg->mempool_max_outputs;
	mp_lim.max_parents = (size_t)cfg->mempool_max_parents;
	mp_lim.max_fetch_bytes = (size_t)cfg->mempool_max_fetch_bytes;
	mp_lim.map_entries = (size_t)cfg->mempool_max_tweaks;
	mp_lim.cache_bytes = (size_t)cfg->mempool_cache_bytes;
	mp_lim.prune_s = (unsigned)cfg->mempool_prune_interval_s;
	rc = rpc_client_new(&rpc_main, &d.fwd);
	if (rc == SD_OK)
		rc = sd_mempool_new(&rpc_main, d.idx, &mp_lim, &d.mempool);
	if (rc == SD_OK)
		rc = sd_status_new(cfg, &d.status);
	if (rc != SD_OK) {
		sd_log_error("daemon", "startup_failed",
			     "err=rpc_client detail=%s",
			     sd_log_q(qe, sizeof(qe), sd_strerror(rc)));
		goto out;
	}

	fcfg.rpc = rpc_main;
	fcfg.source = source_of(cfg->block_source);
	fcfg.start_height = (int32_t)cfg->sync_start_height;
	fcfg.fetch_threads = (unsigned)cfg->max_parallel_requests;
	fcfg.fetch_ahead = FETCH_AHEAD;
	fcfg.zmq_hashblock = cfg->zmq_hashblock;
	fcfg.zmq_rawtx = cfg->zmq_rawtx;
	fcfg.node_poll_ms = 2000;        /* /status node facts */
	fcfg.node_poll_timeout_ms = 5000;
	fcfg.chain = cfg->chain;
	cb.ctx = &d;
	cb.tip = cb_tip;
	cb.hash_at = cb_hash_at;
	cb.connect = cb_connect;
	cb.disconnect = cb_disconnect;
	cb.mempool_tx = cb_mempool_tx;
	cb.prepare = cb_prepare;
	cb.discard = cb_discard;
	cb.flush = cb_flush;
	rc = rpc_follower_new(&fcfg, &cb, &d.fol);
	if (rc != SD_OK) {
		sd_log_error("daemon", "startup_failed",
			     "err=follower detail=%s",
			     sd_log_q(qe, sizeof(qe), sd_strerror(rc)));
		goto out;
	}
	sd_status_attach(d.status, d.idx, d.fol);
	sd_status_attach_mempool(d.status, d.mempool);

	/* First node poll before the first HTTP answer: /health is never
	 * "down" just because it asked too early. */
	if (rpc_follower_watch_start(d.fol) != SD_OK) {
		sd_log_error("daemon", "startup_failed", "err=node_watch_thread");
		goto out;
	}

	hcfg.host = cfg->host;
	hcfg.api_version = (unsigned)cfg->api_version;
	hcfg.threads = (unsigned)cfg->http_threads;
	hcfg.max_connections = (unsigned)cfg->http_max_connections;
	hcfg.max_connections_per_ip = cfg->http_max_connections_per_ip < 0 ?
		ORACLE_HTTP_NO_IP_CAP :
		(unsigned)cfg->http_max_connections_per_ip;
	hcfg.request_timeout_s = (unsigned)cfg->http_request_timeout;
	hcfg.forward_workers = (unsigned)cfg->http_forward_workers;
	hcfg.forward_queue = (unsigned)cfg->http_forward_queue;
	hcfg.forward_timeout_ms = (unsigned)cfg->http_forward_timeout_ms;
	hcfg.forward_rate_per_min = (unsigned)cfg->http_forward_rate_per_min;
	hcfg.forward_burst = (unsigned)cfg->http_forward_burst;
	hcfg.forward_cors = cfg->http_forward_cors;
	hcfg.immutable_depth = (unsigned)cfg->immutable_depth;
	hooks.ctx = &d;
	hooks.status_json = hook_status;
	hooks.health_json = hook_health;
	hooks.metrics_text = hook_metrics;
	hooks.forward_tx = hook_forward_tx;
	hooks.forward_tx_release = hook_forward_tx_release;
	err[0] = '\0';
	rc = oracle_http_start(&hcfg, d.idx, &hooks, &d.http, err);
	if (rc != SD_OK) {
		sd_log_error("daemon", "http_start_failed",
			     "host=%s err=%s detail=%s",
			     sd_log_q(q2, sizeof(q2), cfg->host),
			     sd_log_q(qe, sizeof(qe), sd_strerror(rc)),
			     sd_log_q(q, sizeof(q), err));
		goto out;
	}

	if (cfg->http_host) {   /* upstream v2's listener beside host */
		struct oracle_http_hooks h2 = hooks;

		h2.forward_tx = NULL;   /* v2 has no /forward-tx */
		h2.forward_tx_release = NULL;
		hcfg.host = cfg->http_host;
		hcfg.api_version = 2;
		err[0] = '\0';
		rc = oracle_http_start(&hcfg, d.idx, &h2, &d.http2, err);
		if (rc != SD_OK) {
			sd_log_error("daemon", "http_start_failed",
				     "host=%s err=%s detail=%s",
				     sd_log_q(q2, sizeof(q2), cfg->http_host),
				     sd_log_q(qe, sizeof(qe), sd_strerror(rc)),
				     sd_log_q(q, sizeof(q), err));
			goto out;
		}
	}

	if (cfg->grpc_host[0]) {   /* upstream v2's gRPC service */
		struct oracle_grpc_config gcfg = { .host = cfg->grpc_host };

		err[0] = '\0';
		rc = oracle_grpc_start(&gcfg, d.idx, &d.grpc, err);
		if (rc != SD_OK) {
			sd_log_error("daemon", "grpc_start_failed",
				     "host=%s err=%s detail=%s",
				     sd_log_q(q2, sizeof(q2), cfg->grpc_host),
				     sd_log_q(qe, sizeof(qe), sd_strerror(rc)),
				     sd_log_q(q, sizeof(q), err));
			goto out;
		}
	}

	pthread_mutex_lock(&d.stop_mu);
	if (d.stop_requested)
		rpc_follower_stop(d.fol);
	pthread_mutex_unlock(&d.stop_mu);
	sd_log_info("daemon", "started", "host=%s",
		    sd_log_q(q2, sizeof(q2), cfg->host));
	rc = rpc_follower_run(d.fol);
	if (rc != SD_OK) {
		sd_log_error("daemon", "follower_failed", "err=%s",
			     sd_log_q(qe, sizeof(qe), sd_strerror(rc)));
		goto out;
	}
	exit_code = SD_EXIT_OK;

out:
	/* Reverse order; every step copes with the ones that never ran.
	 * The node watch (the follower's) runs until the follower is freed,
	 * after the servers that read it. */
	oracle_grpc_stop(d.grpc);
	if (d.http2)
		oracle_http_stop(d.http2);
	if (d.http)
		oracle_http_stop(d.http);
	sd_status_free(d.status);
	pthread_mutex_lock(&d.stop_mu);
	if (d.fol)
		rpc_follower_free(d.fol);
	d.fol = NULL;
	pthread_mutex_unlock(&d.stop_mu);
	sd_mempool_free(d.mempool);
	rpc_client_free(d.fwd);
	if (d.idx)
		oracle_index_close(d.idx);
	sd_log_info("daemon", "stopped", "exit_code=%d", exit_code);
	/* After a stop signal the signal thread has returned; after a
	 * startup failure it may still wait: the process exits right after
	 * us (d is static, so it stays valid until then). */
	pthread_mutex_lock(&d.stop_mu);
	if (d.stop_requested) {
		pthread_mutex_unlock(&d.stop_mu);
		pthread_join(sig_thread, NULL);
	} else {
		pthread_mutex_unlock(&d.stop_mu);
		pthread_detach(sig_thread);
	}
	return exit_code;
}

/* follow.c - the chain follower's lifecycle and main loop: make the
 * consumer's chain equal the node's (a sync pass, follow_sync.c), then wait
 * for the next block (ZMQ hashblock, else tip polling) and do it again;
 * a hashblock first goes through the live-block fast path (follow_fast.c).
 * Also: block-source and ZMQ endpoint setup, stop/wake-up, and the status
 * snapshot.  Errors (node down, RPC errors,
 * consumer errors) end a pass; the loop retries with capped exponential
 * backoff and logs only state changes (follow_report.c).
 */
#include "follow_priv.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "zmqdisc.h"

static char *dup_or_null(const char *s)
{
	return s ? sd_xstrdup(s) : NULL;
}

int rpc_follower_new(const struct rpc_follower_config *cfg,
		     const struct rpc_follower_cb *cb,
		     struct rpc_follower **out)
{
	struct rpc_node_watch_config wcfg = {0};
	struct rpc_follower *f;
	int rc;

	*out = NULL;
	if (!cfg || !cb || !cb->tip || !cb->hash_at || !cb->connect ||
	    !cb->disconnect || !cfg->rpc.url || cfg->start_height < 0)
		return SD_EINVAL;
	f = sd_xcalloc(1, sizeof(*f));
	f->reorg_said_fork = -1;
	f->cfg = *cfg;
	f->cb = *cb;
	f->s_url = dup_or_null(cfg->rpc.url);
	f->s_cookie = dup_or_null(cfg->rpc.cookie_path);
	f->s_user = dup_or_null(cfg->rpc.user);
	f->s_pass = dup_or_null(cfg->rpc.pass);
	f->s_wallet = dup_or_null(cfg->rpc.wallet);
	f->s_hb = dup_or_null(cfg->zmq_hashblock);
	f->s_tx = dup_or_null(cfg->zmq_rawtx);
	f->s_chain = dup_or_null(cfg->chain);
	f->cfg.rpc.url = f->s_url;
	f->cfg.rpc.cookie_path = f->s_cookie;
	f->cfg.rpc.user = f->s_user;
	f->cfg.rpc.pass = f->s_pass;
	f->cfg.rpc.wallet = f->s_wallet;
	f->cfg.zmq_hashblock = f->s_hb;
	f->cfg.zmq_rawtx = f->s_tx;
	f->cfg.chain = f->s_chain;
	if (!f->cfg.fetch_threads)
		f->cfg.fetch_threads = 2;
	if (!f->cfg.fetch_ahead)
		f->cfg.fetch_ahead = 8;
	if (f->cfg.fetch_ahead < f->cfg.fetch_threads)
		f->cfg.fetch_ahead = f->cfg.fetch_threads;
	f->source = cfg->source;
	f->wake[0] = f->wake[1] = -1;
	atomic_init(&f->stop, false);
	pthread_mutex_init(&f->smu, NULL);
	f->st.node_height = -1;
	f->st.source = cfg->source;
	f->hashbuf = sd_xmalloc(HASH_CHUNK * sizeof(*f->hashbuf));
	if (pipe2(f->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		rpc_follower_free(f);
		return SD_EIO;
	}
	wcfg.rpc = f->cfg.rpc;
	wcfg.rpc.timeout_ms = cfg->node_poll_timeout_ms ?
				      cfg->node_poll_timeout_ms : 5000;
	wcfg.poll_ms = cfg->node_poll_ms;
	wcfg.chain = f->cfg.chain;
	rc = rpc_client_new(&f->cfg.rpc, &f->client);
	if (rc == SD_OK)
		rc = rpc_client_new(&f->cfg.rpc, &f->fast_client);
	if (rc == SD_OK)
		rc = rpc_node_watch_new(&wcfg, &f->watch);
	if (rc != SD_OK) {
		rpc_follower_free(f);
		return rc;
	}
	*out = f;
	return SD_OK;
}

void rpc_follower_free(struct rpc_follower *f)
{
	if (!f)
		return;
	rpc_node_watch_free(f->watch); /* joins its thread */
	rpc_fetchpipe_free(f->pipe);
	rpc_zmqsub_free(f->zmq);
	rpc_client_free(f->client);
	rpc_client_free(f->fast_client);
	if (f->wake[0] >= 0)
		close(f->wake[0]);
	if (f->wake[1] >= 0)
		close(f->wake[1]);
	pthread_mutex_destroy(&f->smu);
	free(f->hashbuf);
	free(f->s_url);
	free(f->s_cookie);
	free(f->s_user);
	free(f->s_pass);
	free(f->s_wallet);
	free(f->s_hb);
	free(f->s_tx);
	free(f->s_chain);
	free(f);
}

void rpc_follower_stop(struct rpc_follower *f)
{
	ssize_t n;

	atomic_store(&f->stop, true);
	n = write(f->wake[1], "x", 1);
	(void)n; /* a full pipe already wakes the reader */
	pthread_mutex_lock(&f->smu);
	if (f->pipe)
		rpc_fetchpipe_quit(f->pipe);
	pthread_mutex_unlock(&f->smu);
	rpc_node_watch_stop(f->watch);
}

int rpc_follower_watch_start(struct rpc_follower *f)
{
	return rpc_node_watch_start(f->watch);
}

void rpc_follower_node_get(struct rpc_follower *f,
			   struct rpc_node_snapshot *out)
{
	rpc_node_watch_get(f->watch, out);
}

void rpc_follower_status_get(struct rpc_follower *f,
			     struct rpc_follower_status *out)
{
	pthread_mutex_lock(&f->smu);
	*out = f->st;
	pthread_mutex_unlock(&f->smu);
}

/* ---- setup: block source and ZMQ endpoints ----------------------------- */

/* Tip polling interval: as configured, else 1 s without ZMQ hashblock and
 * a slower safety poll with it (ZMQ drops messages, and bitcoind announces
 * no hashblock when its tip only goes back, e.g. invalidateblock). */
static unsigned poll_interval_ms(const struct rpc_follower *f)
{
	if (f->cfg.poll_ms)
		return f->cfg.poll_ms;
	return rpc_zmqsub_has(f->zmq, RPC_ZMQ_HASHBLOCK) ? SAFETY_POLL_MS :
							   DEFAULT_POLL_MS;
}

static void setup_zmq(struct rpc_follower *f, const char *hb, const char *tx)
{
	const char *eps[RPC_ZMQ_NTOPICS] = { hb, tx };
	char q1[300], q2[300], eq[64];
	int rc = rpc_zmqsub_new(eps, &f->zmq);

	if (rc != SD_OK) {
		sd_log_error("rpc", "zmq_error", "err=%s hashblock=%s rawtx=%s",
			     sd_log_q(eq, sizeof(eq), sd_strerror(rc)),
			     sd_log_q(q1, sizeof(q1), hb),
			     sd_log_q(q2, sizeof(q2), tx));
		f->zmq = NULL;
	}
	pthread_mutex_lock(&f->smu);
	f->st.zmq_on = rpc_zmqsub_has(f->zmq, RPC_ZMQ_HASHBLOCK) ||
		       rpc_zmqsub_has(f->zmq, RPC_ZMQ_RAWTX);
	snprintf(f->st.zmq_hashblock, sizeof(f->st.zmq_hashblock), "%s",
		 rpc_zmqsub_has(f->zmq, RPC_ZMQ_HASHBLOCK) ? hb : "");
	snprintf(f->st.zmq_rawtx, sizeof(f->st.zmq_rawtx), "%s",
		 rpc_zmqsub_has(f->zmq, RPC_ZMQ_RAWTX) ? tx : "");
	pthread_mutex_unlock(&f->smu);
	sd_log_info("rpc", "zmq_setup", "hashblock=%s rawtx=%s tip_poll_ms=%u",
		    sd_log_q(q1, sizeof(q1), f->st.zmq_hashblock),
		    sd_log_q(q2, sizeof(q2), f->st.zmq_rawtx),
		    poll_interval_ms(f));
}

static int ensure_setup(struct rpc_follower *f)
{
	int rc;

	if (f->source == RPC_SOURCE_AUTO) {
		enum rpc_block_source s;

		rc = rpc_detect_block_source(f->client, &s);
		if (rc != SD_OK)
			return rpc_follow_fail(f, "detect_block_source", rc);
		f->source = s; /* rpc_detect_block_source logs the choice */
		pthread_mutex_lock(&f->smu);
		f->st.source = s;
		pthread_mutex_unlock(&f->smu);
	}
	if (!f->zmq_ready) {
		char hb[RPC_ZMQ_EP_LEN] = "", tx[RPC_ZMQ_EP_LEN] = "";

		if (!f->cfg.zmq_hashblock || !f->cfg.zmq_rawtx) {
			rc = rpc_zmq_discover(f->client, f->cfg.rpc.url, hb,
					      tx);
			if (rc != SD_OK)
				return rpc_follow_fail(
					f, "getzmqnotifications", rc);
		}
		setup_zmq(f, f->cfg.zmq_hashblock ? f->cfg.zmq_hashblock : hb,
			  f->cfg.zmq_rawtx ? f->cfg.zmq_rawtx : tx);
		f->zmq_ready = true;
	}
	return SD_OK;
}

/* ---- waiting for the next block ---------------------------------------- */

/* Idle until a block notification, a gap, stop, or the poll interval.
 * Returns true with *hash when woken by a hashblock that came without a
 * sequence gap (a candidate for the fast path). */
static bool wait_idle(struct rpc_follower *f, uint8_t hash[32])
{
	uint64_t end = sd_mono_ms() + poll_interval_ms(f), now;
	struct rpc_zmq_event ev;

	pthread_mutex_lock(&f->smu);
	f->st.sync_blocks_per_s = 0; /* caught up: no sync going on */
	pthread_mutex_unlock(&f->smu);
	sd_log_debug("rpc", "follower_idle", NULL);

	while (!rpc_follow_stopping(f) && (now = sd_mono_ms()) < end) {
		if (rpc_zmqsub_wait(f->zmq, f->wake[0], (int)(end - now),
				    &ev) != SD_OK) {
			rpc_follow_sleep_ms(f, 100);
			continue;
		}
		if (ev.kind == RPC_ZMQ_EV_HASHBLOCK ||
		    ev.kind == RPC_ZMQ_EV_RAWTX)
			rpc_follow_note_zmq(f, true);
		if (ev.gap)
			return false; /* lost something: full resync pass */
		if (ev.kind == RPC_ZMQ_EV_HASHBLOCK) {
			memcpy(hash, ev.hash, 32);
			return true;
		}
		if (ev.kind == RPC_ZMQ_EV_WAKE)
			return false;
		if (ev.kind == RPC_ZMQ_EV_RAWTX)
			rpc_follow_handle_rawtx(f, &ev);
	}
	return false;
}

/* ---- main loop --------------------------------------------------------- */

int rpc_follower_run(struct rpc_follower *f)
{
	uint64_t backoff = 0;
	int restarts = 0, rc;
	char q[300];
	struct rpc_fetchpipe *pipe = NULL;
	uint8_t hb[32];

	if (f->ran)
		return SD_ESTATE;
	f->ran = true;
	sd_log_info("rpc", "follower_start",
		    "url=%s source=%s start_height=%d fetch_threads=%u "
		    "fetch_ahead=%u poll_ms=%u", /* 0: default */
		    sd_log_q(q, sizeof(q), f->cfg.rpc.url),
		    rpc_block_source_name(f->cfg.source), f->cfg.start_height,
		    f->cfg.fetch_threads, f->cfg.fetch_ahead, f->cfg.poll_ms);
	rc = rpc_fetchpipe_new(&f->cfg.rpc, f->cfg.fetch_threads,
			       f->cfg.fetch_ahead, &pipe);
	if (rc != SD_OK) {
		char eq[64];

		sd_log_error("rpc", "follower_error", "err=%s",
			     sd_log_q(eq, sizeof(eq), sd_strerror(rc)));
		return rc;
	}
	pthread_mutex_lock(&f->smu);
	f->pipe = pipe;
	if (rpc_follow_stopping(f))
		rpc_fetchpipe_quit(pipe);
	pthread_mutex_unlock(&f->smu);

	while (!rpc_follow_stopping(f)) {
		bool did = false;

		f->err_where = NULL;
		rc = ensure_setup(f);
		if (rc == SD_OK)
			rc = rpc_follow_sync_pass(f, &did);
		if (f->cb.flush) {
			/* (sync_forward flushed already; this covers a pass that
			 * failed between connect and its own flush) */
			int frc = f->cb.flush(f->cb.ctx);

			if (frc != SD_OK && (rc == SD_OK || rc == PASS_RESTART))
				rc = rpc_follow_fail(f, "consumer_flush", frc);
		}
		if (rpc_follow_stopping(f))
			break;
		if (rc == PASS_RESTART) {
			/* the node reorged under us: search again now, but
			 * do not spin if it keeps changing */
			if (++restarts >= 4) {
				rpc_follow_sleep_ms(f, 200);
				restarts = 0;
			}
			continue;
		}
		if (rc == SD_OK) {
			backoff = 0;
			restarts = 0;
			if (f->logged_rc && rc == SD_OK) {
				sd_log_info("rpc", "rpc_ok", NULL);
				f->logged_rc = 0;
				f->logged_where = NULL;
			}
			if (did)
				continue;
			if (wait_idle(f, hb) && !rpc_follow_stopping(f))
				rpc_follow_fast_path(f, hb);
			continue;
		}
		backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
		if (backoff > BACKOFF_MAX_MS)
			backoff = BACKOFF_MAX_MS;
		rpc_follow_note_error(f, rc, backoff);
		rpc_follow_sleep_ms(f, backoff);
	}

	pthread_mutex_lock(&f->smu);
	f->pipe = NULL;
	pthread_mutex_unlock(&f->smu);
	rpc_fetchpipe_free(pipe); /* joins the fetch threads */
	sd_log_info("rpc", "follower_stop", NULL);
	return SD_OK;
}

/* node_watch.c - the node facts and reachability in one place (see
 * node_watch.h): a poll thread with its own client, the follower's notes,
 * and the transition events, logged here only.
 *
 * Reachability: the snapshot says reachable when the last poll got its
 * answers (always true without polling) and the last observation by
 * anyone (poll or follower call) reached the node.  A failing poll that is
 * not a connection failure (a node answering junk, refusing the password)
 * keeps it unreachable however often the follower gets through, so the
 * events never flap between two observers that disagree.
 */
#include "node_watch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/log.h"
#include "../common/util.h"

enum said { SAID_NOTHING = 0, SAID_UP, SAID_DOWN };

struct rpc_node_watch {
	struct rpc_client *client;
	unsigned poll_ms;
	bool check_chain;
	char chain[16];

	pthread_mutex_t mu; /* everything below */
	pthread_cond_t cv;
	bool stop, started;
	pthread_t thread;
	struct rpc_node_snapshot snap;
	bool poll_ok;        /* the last poll succeeded (true: no polling) */
	bool up;             /* the last observation reached the node */
	enum said said;      /* what the log last said about reachability */
	bool mismatch_said;
	char node_chain[16]; /* the node's chain as last seen, "" unknown */
};

/* What one observation has to log.  Logged under the mutex: two
 * observers' lines never come out in another order than their
 * transitions (the log is the only thing done under it besides copying). */
struct events {
	int reach; /* +1 node_reachable, -1 node_unreachable, 0 none */
	int chain; /* +1 chain_match, -1 chain_mismatch, 0 none */
	char node_chain[16];
	int32_t height, headers;
	char tip[65];
	bool ibd;
	const char *where;
	int rc;
	uint64_t retry_ms;
	const char *detail; /* poll failures: the transport's text */
};

bool rpc_chain_matches(const char *configured, const char *node)
{
	if (strcmp(configured, "testnet") == 0)
		return strcmp(node, "test") == 0 ||
		       strncmp(node, "testnet", 7) == 0;
	return strcmp(configured, node) == 0;
}

int rpc_node_watch_new(const struct rpc_node_watch_config *cfg,
		       struct rpc_node_watch **out)
{
	struct rpc_node_watch *w;
	int rc;

	*out = NULL;
	if (!cfg)
		return SD_EINVAL;
	w = sd_xcalloc(1, sizeof(*w));
	if (cfg->poll_ms) {
		rc = rpc_client_new(&cfg->rpc, &w->client);
		if (rc != SD_OK) {
			free(w);
			return rc;
		}
	}
	w->poll_ms = cfg->poll_ms;
	w->check_chain = cfg->chain && cfg->chain[0];
	if (w->check_chain)
		snprintf(w->chain, sizeof(w->chain), "%s", cfg->chain);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->poll_ok = cfg->poll_ms == 0;
	w->snap.chain_ok = true;
	w->snap.info.blocks = w->snap.info.headers = -1;
	snprintf(w->snap.error, sizeof(w->snap.error), "not polled yet");
	*out = w;
	return SD_OK;
}

void rpc_node_watch_stop(struct rpc_node_watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void rpc_node_watch_free(struct rpc_node_watch *w)
{
	if (!w)
		return;
	rpc_node_watch_stop(w);
	if (w->started)
		pthread_join(w->thread, NULL);
	rpc_client_free(w->client);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}

void rpc_node_watch_get(struct rpc_node_watch *w,
			struct rpc_node_snapshot *out)
{
	pthread_mutex_lock(&w->mu);
	*out = w->snap;
	pthread_mutex_unlock(&w->mu);
}

/* ---- one place for the transitions --------------------------------------- */

static bool conn_error(int rc)
{
	return rc == SD_ECONN || rc == SD_ETIMEOUT;
}

/* Under the mutex, after an observation: derive the snapshot's flags and
 * note what the log must say. */
static void settle(struct rpc_node_watch *w, struct events *ev)
{
	struct rpc_node_snapshot *s = &w->snap;

	s->reachable = w->poll_ok && w->up;
	if (s->reachable) {
		s->error[0] = '\0';
		if (w->said != SAID_UP) {
			ev->reach = 1;
			w->said = SAID_UP;
		}
	} else if (w->said != SAID_DOWN) {
		ev->reach = -1;
		w->said = SAID_DOWN;
	}
	s->chain_ok = !w->check_chain || !w->node_chain[0] ||
		      rpc_chain_matches(w->chain, w->node_chain);
	if (!s->chain_ok && !w->mismatch_said) {
		ev->chain = -1;
		w->mismatch_said = true;
	} else if (s->chain_ok && w->mismatch_said) {
		ev->chain = 1;
		w->mismatch_said = false;
	}
	snprintf(ev->node_chain, sizeof(ev->node_chain), "%s", w->node_chain);
}

static void emit(const struct rpc_node_watch *w, const struct events *ev)
{
	char q[64], qd[200];

	if (ev->reach > 0)
		sd_log_info("rpc", "node_reachable",
			    "chain=%s height=%d tip=%s headers=%d ibd=%d",
			    sd_log_q(q, sizeof(q), ev->node_chain), ev->height,
			    ev->tip[0] ? ev->tip : "-", ev->headers,
			    ev->ibd ? 1 : 0);
	else if (ev->reach < 0 && ev->detail)
		sd_log_warn("rpc", "node_unreachable",
			    "where=%s err=%s detail=%s", ev->where,
			    sd_log_q(q, sizeof(q), sd_strerror(ev->rc)),
			    sd_log_q(qd, sizeof(qd),
				     ev->detail[0] ? ev->detail : "-"));
	else if (ev->reach < 0)
		sd_log_warn("rpc", "node_unreachable",
			    "where=%s err=%s retry_ms=%llu", ev->where,
			    sd_log_q(q, sizeof(q), sd_strerror(ev->rc)),
			    (unsigned long long)ev->retry_ms);
	if (ev->chain < 0)
		sd_log_error("rpc", "chain_mismatch",
			     "configured=%s node=%s note=not_indexing",
			     w->chain, sd_log_q(q, sizeof(q), ev->node_chain));
	else if (ev->chain > 0)
		sd_log_info("rpc", "chain_match", "configured=%s node=%s",
			    w->chain, sd_log_q(q, sizeof(q), ev->node_chain));
}

void rpc_node_watch_note_up(struct rpc_node_watch *w,
			    const struct rpc_chain_info *ci)
{
	struct events ev = {0};

	pthread_mutex_lock(&w->mu);
	w->up = true;
	snprintf(w->node_chain, sizeof(w->node_chain), "%s", ci->chain);
	settle(w, &ev);
	if (ev.reach || ev.chain) {
		ev.height = ci->blocks;
		ev.headers = ci->headers;
		sd_hex_encode_rev(ev.tip, ci->best_hash, 32);
		ev.ibd = ci->ibd;
		emit(w, &ev);
	}
	pthread_mutex_unlock(&w->mu);
}

void rpc_node_watch_note_down(struct rpc_node_watch *w, const char *where,
			      int rc, uint64_t retry_ms)
{
	struct events ev = {0};

	pthread_mutex_lock(&w->mu);
	w->up = false;
	snprintf(w->snap.error, sizeof(w->snap.error), "%s: %s", where,
		 sd_strerror(rc));
	settle(w, &ev);
	ev.where = where;
	ev.rc = rc;
	ev.retry_ms = retry_ms;
	emit(w, &ev);
	pthread_mutex_unlock(&w->mu);
}

/* ---- the poll thread ------------------------------------------------------ */

static void poll_once(struct rpc_node_watch *w)
{
	struct rpc_node_info info;
	struct events ev = {0};
	char detail[SD_ERRLEN] = "", q[64], qd[200];
	int rc;

	pthread_mutex_lock(&w->mu);
	info = w->snap.info; /* only this thread writes it */
	pthread_mutex_unlock(&w->mu);
	rc = rpc_get_node_info(w->client, &info, detail);

	pthread_mutex_lock(&w->mu);
	w->snap.polled_ms = sd_wall_ms();
	if (rc == SD_OK) {
		w->snap.info = info;
		w->snap.ever = true;
		w->snap.last_ok_ms = w->snap.polled_ms;
		w->poll_ok = w->up = true;
		snprintf(w->node_chain, sizeof(w->node_chain), "%s",
			 info.chain);
	} else {
		/* /status is readable by whoever reaches the port: it says
		 * what failed, not where the node is (curl's text names the
		 * node's host and port); the detail goes to the log */
		w->poll_ok = false;
		if (conn_error(rc))
			w->up = false;
		snprintf(w->snap.error, sizeof(w->snap.error),
			 "node info: %s", sd_strerror(rc));
	}
	settle(w, &ev);
	if (rc == SD_OK) {
		ev.height = info.blocks;
		ev.headers = info.headers;
		snprintf(ev.tip, sizeof(ev.tip), "%s", info.best_hash);
		ev.ibd = info.ibd;
	} else {
		ev.where = "node_info";
		ev.rc = rc;
		ev.detail = detail;
		if (!ev.reach) /* down already: said once */
			sd_log_debug("rpc", "node_poll_failed",
				     "err=%s detail=%s",
				     sd_log_q(q, sizeof(q), sd_strerror(rc)),
				     sd_log_q(qd, sizeof(qd),
					      detail[0] ? detail : "-"));
	}
	emit(w, &ev);
	pthread_mutex_unlock(&w->mu);
}

static void *watch_main(void *arg)
{
	struct rpc_node_watch *w = arg;

	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += w->poll_ms / 1000;
		ts.tv_nsec += (long)(w->poll_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&w->cv, &w->mu, &ts);
		if (w->stop)
			break;
		pthread_mutex_unlock(&w->mu);
		poll_once(w);
		pthread_mutex_lock(&w->mu);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int rpc_node_watch_start(struct rpc_node_watch *w)
{
	if (!w->poll_ms)
		return SD_OK;
	if (w->started)
		return SD_ESTATE;
	poll_once(w);
	if (pthread_create(&w->thread, NULL, watch_main, w) != 0)
		return SD_EIO;
	w->started = true;
	return SD_OK;
}

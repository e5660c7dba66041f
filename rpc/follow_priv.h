/* follow_priv.h - internal to rpc/: the follower's state, shared by
 * follow.c (lifecycle, setup, main loop), follow_fast.c (the live-block
 * fast path), follow_sync.c (one sync pass: fork search, disconnects,
 * pipelined forward sync), follow_report.c (reachability and error
 * logging) and follow_wait.c (stop flag, sleep, ZMQ rawtx).  Calls go one
 * way: follow.c -> follow_fast.c -> follow_sync.c -> follow_report.c and
 * follow_wait.c, which call nothing of the others.
 */
#ifndef SIGNETD_RPC_FOLLOW_PRIV_H
#define SIGNETD_RPC_FOLLOW_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "fetchpipe.h"
#include "follow.h"
#include "node_watch.h"
#include "zmqsub.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define DEFAULT_POLL_MS 1000 /* without ZMQ hashblock */
#define SAFETY_POLL_MS 15000 /* with ZMQ: poll anyway, ZMQ is lossy */
#define HASH_CHUNK 500       /* getblockhash batch while syncing */
#define PROGRESS_LOG_MS 5000
#define RATE_WINDOW_MS 1000
#define PASS_RESTART 1       /* internal: node reorged mid-pass */
#define RECENT_BLOCKS 16

enum node_state { NODE_UNKNOWN = 0, NODE_UP, NODE_DOWN };

struct rpc_follower {
	struct rpc_follower_config cfg; /* strings point at the copies */
	char *s_url, *s_cookie, *s_user, *s_pass, *s_wallet, *s_hb, *s_tx,
	     *s_chain;
	struct rpc_follower_cb cb;
	struct rpc_client *client;
	struct rpc_client *fast_client; /* fast path only (follow_fast.c) */
	struct rpc_fetchpipe *pipe;
	struct rpc_zmqsub *zmq;
	struct rpc_node_watch *watch;   /* node facts + reachability events */
	bool zmq_ready, ran;
	enum rpc_block_source source;
	int wake[2];
	atomic_bool stop;

	/* error reporting: log state changes only (reachability: the
	 * watch logs it) */
	enum node_state node_state;
	const char *err_where;
	int err_rc, logged_rc;
	const char *logged_where;
	bool node_behind_logged;
	bool below_start_logged;        /* waiting_for_start_height said */

	uint8_t hdr_time_hash[32];
	uint64_t consumer_backoff;      /* ms; 0 after a block connected */
	/* the last blocks connected: a hashblock for one of them (queued
	 * while a sync pass took it) is not worth a fast-path fetch */
	uint8_t recent[RECENT_BLOCKS][32];
	unsigned recent_next;
	uint8_t (*hashbuf)[32];

	/* progress */
	uint64_t rate_t_ms, rate_blocks, log_t_ms;

	/* the last reorg logged (fork height, node tip): a pass that finds
	 * the same one again (a retry after the consumer refused a
	 * disconnect) neither logs nor counts it twice */
	int32_t reorg_said_fork;
	uint8_t reorg_said_tip[32];

	pthread_mutex_t smu; /* guards st and pipe (for stop) */
	struct rpc_follower_status st;
};

/* follow_wait.c */
bool rpc_follow_stopping(struct rpc_follower *f);
/* Sleep up to ms, returning early on stop. */
void rpc_follow_sleep_ms(struct rpc_follower *f, uint64_t ms);
/* Hand the pending ZMQ rawtx notifications (at most RAWTX_DRAIN_MAX) to
 * the consumer's mempool_tx, which only queues them: called between
 * blocks so that libzmq's queue stays short while the follower is busy
 * (the consumer's queue is the one bounded in bytes). */
#define RAWTX_DRAIN_MAX 1000
void rpc_follow_drain_rawtx(struct rpc_follower *f);
/* Hand one ZMQ rawtx to the consumer's mempool_tx (if any). */
void rpc_follow_handle_rawtx(struct rpc_follower *f,
			     const struct rpc_zmq_event *ev);
/* Copy the ZMQ counters into the status; got_msg: a message just came. */
void rpc_follow_note_zmq(struct rpc_follower *f, bool got_msg);

/* follow_report.c */
void rpc_follow_note_node_ok(struct rpc_follower *f,
			     const struct rpc_chain_info *ci);
/* Log rc (from f->err_where) once per state change. */
void rpc_follow_note_error(struct rpc_follower *f, int rc, uint64_t retry_ms);
/* Record where rc happened; returns rc. */
int rpc_follow_fail(struct rpc_follower *f, const char *where, int rc);

/* follow_sync.c: hand b and its prepared work (owned by the consumer from
 * the first try on) to the consumer (retried with backoff until it works
 * or stop: SD_OK or SD_ESTATE; PASS_RESTART when the consumer's tip went
 * back, e.g. a lost group commit); count a connected block in the status
 * (and in `recent`). */
int rpc_follow_connect_block(struct rpc_follower *f,
			     const struct btc_block *b, void *prepared);
void rpc_follow_count_block(struct rpc_follower *f, const struct btc_block *b);

/* follow_fast.c: the live-block fast path for a ZMQ hashblock (see there).
 * Anything unexpected is left to the sync pass that follows. */
void rpc_follow_fast_path(struct rpc_follower *f, const uint8_t hash[32]);

/* follow_sync.c: bring the consumer to the node's tip.  Returns SD_OK
 * (*did: something changed, run another pass), PASS_RESTART or an error
 * (f->err_where says where). */
int rpc_follow_sync_pass(struct rpc_follower *f, bool *did);

#endif

/* node_watch.h - what signetd knows about its node, kept in one place.
 *
 * The node facts /status shows (rpc_get_node_info: chain, heights, tip
 * time, IBD, version, peers, mempool) are refreshed every poll_ms on the
 * watch's own thread with its own rpc_client (a short timeout), and the
 * node's reachability is what every user of the node saw last: the
 * watch's polls and the follower's calls (rpc_node_watch_note_up/_down).
 * The events node_unreachable / node_reachable (and chain_mismatch /
 * chain_match) are logged here only, once per transition.
 *
 * Readers (signetd/status.c, on HTTP threads) copy the snapshot under the
 * watch's mutex and never wait on the node.  The follower owns its watch
 * (follow.h: rpc_follower_watch_start, rpc_follower_node_get).
 */
#ifndef SIGNETD_RPC_NODE_WATCH_H
#define SIGNETD_RPC_NODE_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/err.h"
#include "rpc.h"

struct rpc_node_snapshot {
	bool reachable;        /* the last poll got answers and no call
				* since failed to reach the node */
	bool ever;             /* some poll ever did */
	bool chain_ok;         /* the node follows the expected chain
				* (true while unknown or none expected) */
	char error[SD_ERRLEN]; /* why it is unreachable, "" when fine; says
				* what failed, never where the node is */
	uint64_t last_ok_ms;   /* wall ms of the last good poll, 0 never */
	uint64_t polled_ms;    /* wall ms of the last poll, 0 never */
	struct rpc_node_info info; /* as of the last good poll */
};

struct rpc_node_watch_config {
	struct rpc_config rpc; /* the watch's own client (strings copied) */
	unsigned poll_ms;      /* refresh interval; 0: never poll (the
				* reachability then comes from the notes) */
	const char *chain;     /* expected chain as configured ("main",
				* "signet", "regtest", "testnet"); NULL: any */
};

struct rpc_node_watch;

int rpc_node_watch_new(const struct rpc_node_watch_config *cfg,
		       struct rpc_node_watch **out) SD_WARN_UNUSED;
/* Stops and joins the thread. */
void rpc_node_watch_free(struct rpc_node_watch *w);
/* Poll once now (so the first answer never says "not polled yet"), then
 * start the thread.  SD_OK without polling (poll_ms 0); SD_EIO when the
 * thread cannot start.  Not twice. */
int rpc_node_watch_start(struct rpc_node_watch *w) SD_WARN_UNUSED;
/* Ask the thread to end (any thread; returns at once, free joins). */
void rpc_node_watch_stop(struct rpc_node_watch *w);

void rpc_node_watch_get(struct rpc_node_watch *w,
			struct rpc_node_snapshot *out);

/* Another user of the node got an answer (getblockchaininfo). */
void rpc_node_watch_note_up(struct rpc_node_watch *w,
			    const struct rpc_chain_info *ci);
/* Another user of the node could not reach it (rc SD_ECONN or
 * SD_ETIMEOUT) at where; retry_ms is only logged. */
void rpc_node_watch_note_down(struct rpc_node_watch *w, const char *where,
			      int rc, uint64_t retry_ms);

/* A configured chain name against the node's getblockchaininfo "chain"
 * ("testnet" is Core's "test" or "testnet4"). */
bool rpc_chain_matches(const char *configured, const char *node);

#endif

/* status.h - chain health for /status, /health and /metrics.
 *
 * Nothing here talks to the node: the node facts (chain, heights, tip
 * time, IBD, version, peers, mempool, reachability) are the snapshot the
 * follower's node watch keeps (rpc/node_watch.h, refreshed on its own
 * thread), and the follower's and the index's counters are their own
 * snapshots, so answering never waits on bitcoind.  Overall state:
 *   down      node unreachable, or it follows another chain, or the
 *             index cannot undo a reorg (deeper than undo_depth);
 *   degraded  node in IBD, node tip older than health_max_tip_age, index
 *             more than health_max_index_lag blocks behind, disk full;
 *   ok        otherwise.
 * /health is 200 only when ok.
 */
#ifndef SIGNETD_SIGNETD_STATUS_H
#define SIGNETD_SIGNETD_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../oracle/http/http.h"
#include "../oracle/index/oracle.h"
#include "../rpc/follow.h"
#include "../rpc/rpc.h"
#include "config.h"
#include "../common/err.h"
#include "mempool.h"

struct sd_status;

/* cfg must outlive the status. */
int sd_status_new(const struct sd_config *cfg,
		  struct sd_status **out) SD_WARN_UNUSED;
void sd_status_free(struct sd_status *s);

/* The parts to report on; any may be NULL (reported as absent; without a
 * follower the node reads as unreachable). */
void sd_status_attach(struct sd_status *s, struct oracle_index *idx,
		      struct rpc_follower *fol);
/* The mempool whose counters /metrics shows (may be NULL). */
void sd_status_attach_mempool(struct sd_status *s, struct sd_mempool *m);

/* oracle_http_hooks-shaped: bodies are malloc'd, caller frees.  The
 * metrics text is signetd's own; oracle/http appends the server's. */
int sd_status_json(struct sd_status *s, char **body, size_t *len);
int sd_status_health(struct sd_status *s, bool *ok, char **body, size_t *len);
int sd_status_metrics(struct sd_status *s, char **body, size_t *len);

#endif

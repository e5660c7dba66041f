/* status.h - chain health for /status, /health and /metrics.
 *
 * A poller thread asks the node (with its own rpc_client) every few seconds
 * for chain, network and mempool info, so that answering /status never
 * waits on the node.  The answers combine that snapshot with the
 * follower's and the index's counters.  Overall state:
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

/* What the poller learnt from the node. */
struct sd_node_facts {
	bool reachable;       /* the last poll got answers */
	bool ever;            /* some poll ever did */
	char error[SD_ERRLEN]; /* last poll's failure, "" when fine */
	uint64_t last_ok_ms;  /* wall ms of the last good poll */
	struct rpc_node_info info; /* rpc_get_node_info() folds into it */
};

/* cfg must outlive the status; rpc is copied by rpc_client_new. */
int sd_status_new(const struct sd_config *cfg, const struct rpc_config *rpc,
		  unsigned poll_ms, struct sd_status **out) SD_WARN_UNUSED;
void sd_status_free(struct sd_status *s);

/* The parts to report on; any may be NULL (reported as absent). */
void sd_status_attach(struct sd_status *s, struct oracle_index *idx,
		      struct rpc_follower *fol);
/* The mempool whose counters /metrics shows (may be NULL). */
void sd_status_attach_mempool(struct sd_status *s, struct sd_mempool *m);

/* Poll once now, then start the poller thread / stop and join it. */
int sd_status_start(struct sd_status *s) SD_WARN_UNUSED;
void sd_status_stop(struct sd_status *s);

/* Latest node height seen by the poller (-1 before the first answer). */
int32_t sd_status_node_height(struct sd_status *s);

/* False when the node answered with a chain other than the configured one
 * (true while unknown).  The daemon then refuses to index its blocks. */
bool sd_status_chain_ok(struct sd_status *s);

/* oracle_http_hooks-shaped: bodies are malloc'd, caller frees.  The
 * metrics text is signetd's own; oracle/http appends the server's. */
int sd_status_json(struct sd_status *s, char **body, size_t *len);
int sd_status_health(struct sd_status *s, bool *ok, char **body, size_t *len);
int sd_status_metrics(struct sd_status *s, char **body, size_t *len);

#endif

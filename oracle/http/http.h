/* http.h - the blindbit-oracle v1 compatible HTTP server (libmicrohttpd):
 * module oracle/http.  It reads the index only through oracle.h's read
 * API (oracle_read_*); node traffic (/forward-tx) and the daemon's own
 * routes (/status, /health, /metrics extras) come in through hooks.
 */
#ifndef SIGNETD_ORACLE_HTTP_HTTP_H
#define SIGNETD_ORACLE_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "../../common/err.h"
#include "../index/oracle.h"

/* Hooks the daemon provides for routes that are not index data. */
struct oracle_http_hooks {
	void *ctx;
	/* /status body (JSON, caller frees). */
	int (*status_json)(void *ctx, char **body, size_t *len);
	/* /health: *ok and a JSON body (caller frees). */
	int (*health_json)(void *ctx, bool *ok, char **body, size_t *len);
	/* /metrics extra text (Prometheus exposition, caller frees). */
	int (*metrics_text)(void *ctx, char **body, size_t *len);
	/* /forward-tx: relay raw tx hex (sendrawtransaction).  Called only
	 * on the server's forward workers, never on a thread that serves
	 * reads: worker is 0..forward_workers-1 and two calls with the same
	 * worker never overlap (one node connection per worker needs no
	 * lock).  The call must give up after timeout_ms (SD_ETIMEOUT).
	 * SD_OK + txid hex (65 bytes) or SD_ERPC with the node's message in
	 * err (SD_ERRLEN bytes); other codes: the node is unreachable. */
	int (*forward_tx)(void *ctx, unsigned worker, long timeout_ms,
			  const char *hex, char txid_hex[65], char *err);
	/* Optional: worker `worker` stops (oracle_http_stop, on that
	 * worker's thread): free what forward_tx kept for it. */
	void (*forward_tx_release)(void *ctx, unsigned worker);
};

/* Most forward workers oracle_http_start runs. */
#define ORACLE_HTTP_MAX_FORWARD_WORKERS 64u
/* max_connections_per_ip value meaning "no cap" even off loopback. */
#define ORACLE_HTTP_NO_IP_CAP 0xffffffffu

struct oracle_http_config {
	const char *host;             /* "127.0.0.1:8000" */
	unsigned api_version;         /* blindbit routes: 0/1 -> v1, 2 -> v2
					 (oracle/index/oracle_v2.h) */
	unsigned threads;             /* 0 -> 2 */
	unsigned max_connections;     /* 0 -> 1024 */
	unsigned max_connections_per_ip; /* 0 -> 64 when host is not a
					    loopback address, no cap on
					    loopback (a proxy in front is
					    one address);
					    ORACLE_HTTP_NO_IP_CAP: none */
	unsigned conn_timeout_s;      /* idle timeout; 0 -> 30 */
	unsigned request_timeout_s;   /* total time a request's headers and
					 body may take, counted from the
					 connection's start or the previous
					 answer on it; 0 -> 30 */
	unsigned immutable_depth;     /* confirmations before Cache-Control
					 immutable; 0 -> 6 */
	/* POST /forward-tx: node calls run on forward_workers threads
	 * (0 -> 4, at most ORACLE_HTTP_MAX_FORWARD_WORKERS); at most
	 * forward_queue more wait (0 -> 32), beyond that 503 + Retry-After;
	 * each node call gives up after forward_timeout_ms (0 -> 5000). */
	unsigned forward_workers;
	unsigned forward_queue;
	unsigned forward_timeout_ms;
	/* Per client address token bucket for the relays that reach the
	 * node: forward_rate_per_min (0 -> 60) refill, forward_burst
	 * (0 -> 10) capacity; 429 + Retry-After beyond. */
	unsigned forward_rate_per_min;
	unsigned forward_burst;
	/* CORS on POST /forward-tx answers (Allow-Origin *, never
	 * credentials; preflight then allows POST).  Off by default: GET
	 * answers keep upstream's CORS. */
	bool forward_cors;
};

struct oracle_http;

int oracle_http_start(const struct oracle_http_config *cfg,
		      struct oracle_index *idx,
		      const struct oracle_http_hooks *hooks,
		      struct oracle_http **out, char *err) SD_WARN_UNUSED;
void oracle_http_stop(struct oracle_http *h);
/* Append the server's own metrics (requests by route and code, latency
 * histograms) in Prometheus text format to *buf (realloc'd). */
int oracle_http_metrics(struct oracle_http *h, char **buf,
			size_t *len) SD_WARN_UNUSED;

#endif

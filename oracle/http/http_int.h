/* http_int.h - internals shared by the HTTP server's files (http.c: the
 * libmicrohttpd server and response headers; http_routes.c: one handler
 * per route; http_json.c: upstream's JSON bodies; http_cache.c: rendered
 * body LRU; http_metrics.c: counters and latency histograms;
 * http_forward.c: /forward-tx body parsing, its worker pool and per
 * address rate limit; http_conn.c: connection registry, total request
 * deadline). */
#ifndef SIGNETD_ORACLE_HTTP_HTTP_INT_H
#define SIGNETD_ORACLE_HTTP_HTTP_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../index/oracle.h"
#include "http.h"
#include "route.h"

struct http_answer;

/* A response body shared by the cache and in-flight responses.  gz (the
 * gzip form) is made on first demand and then kept. */
struct http_body {
	atomic_int refs;
	size_t len;
	char *data;
	_Atomic(struct http_body *) gz;
};

struct http_body *http_body_new(char *data, size_t len); /* takes data */
struct http_body *http_body_copy(const char *data, size_t len);
struct http_body *http_body_ref(struct http_body *b);
void http_body_unref(struct http_body *b);
/* The gzip form of b (reference held by b; do not unref). */
struct http_body *http_body_gzip(struct http_body *b);

/* ---- cache: rendered block answers, LRU by bytes ---- */
struct http_cache_key {
	uint8_t route;           /* enum oracle_route_id */
	uint8_t filter;          /* enum oracle_route_filter */
	uint32_t height;
	uint64_t dust;
	uint8_t block_hash[32];
	uint8_t tip_hash[32];    /* zero for answers that never change */
};
struct http_cache;
struct http_cache *http_cache_new(size_t max_bytes);
void http_cache_free(struct http_cache *c);
/* A reference to the cached body or NULL. */
struct http_body *http_cache_get(struct http_cache *c,
				 const struct http_cache_key *k);
/* Insert (takes no reference from the caller; adds its own). */
void http_cache_put(struct http_cache *c, const struct http_cache_key *k,
		    struct http_body *b);
/* The gzip form of k's cached body was made (http_body_gzip): count its
 * bytes in the cache's bound (once; evicting if over).  No-op when k is
 * not cached. */
void http_cache_charge_gzip(struct http_cache *c,
			    const struct http_cache_key *k);
uint64_t http_cache_key_hash(const struct http_cache_key *k);
void http_cache_stats(struct http_cache *c, uint64_t *hits, uint64_t *misses,
		      size_t *bytes, size_t *entries);

/* ---- metrics ---- */
#define HTTP_N_BUCKETS 12
#define HTTP_N_CODES 16

/* What became of a POST /forward-tx. */
enum http_fwd_result {
	HTTP_FWD_RELAYED,       /* node accepted: 200 */
	HTTP_FWD_REFUSED,       /* node refused the tx: 400 */
	HTTP_FWD_NODE_ERROR,    /* node unreachable / bad answer: 502 */
	HTTP_FWD_TIMEOUT,       /* node call timed out: 504 */
	HTTP_FWD_RATE_LIMITED,  /* per address limit: 429 */
	HTTP_FWD_BUSY,          /* workers and queue full: 503 */
	HTTP_FWD_INVALID,       /* no data / bad hex: 400, node not asked */
	HTTP_FWD_N
};

struct http_metrics {
	atomic_uint_fast64_t count[ORACLE_ROUTE_COUNT][HTTP_N_CODES];
	atomic_uint_fast64_t bucket[ORACLE_ROUTE_COUNT][HTTP_N_BUCKETS];
	atomic_uint_fast64_t sum_ns[ORACLE_ROUTE_COUNT];
	atomic_uint_fast64_t n[ORACLE_ROUTE_COUNT];
	atomic_uint_fast64_t fwd[HTTP_FWD_N];
	atomic_uint_fast64_t fwd_running, fwd_queued;  /* gauges */
	atomic_uint_fast64_t fwd_node_ns;       /* time in node calls */
	atomic_uint_fast64_t deadline_closed;   /* total deadline passed */
	atomic_uint_fast64_t log_suppressed;    /* rate-limited log lines */
	atomic_uint_fast64_t mempool_hits, mempool_misses;
	atomic_uint_fast64_t dust_uncached;     /* answers not cached for
						   their dustLimit */
};
void http_metrics_observe(struct http_metrics *m, enum oracle_route_id r,
			  unsigned status, uint64_t ns);
/* Append Prometheus text to *buf, *len (realloc).  */
void http_metrics_render(struct http_metrics *m, struct http_cache *c,
			 char **buf, size_t *len);

/* ---- JSON bodies (upstream's field order, compact, no newline) ---- */
/* A JSON value serialized as upstream does (compact, key order kept) into
 * a body, j released; and a hex string of n <= 64 bytes (rev: reversed, as
 * hashes are shown).  Shared by the v1 and v2 bodies. */
struct json_t;
struct http_body *http_json_body(struct json_t *j);
struct json_t *http_json_hex(const uint8_t *p, size_t n, bool rev);
struct http_body *http_json_error(const char *msg);
struct http_body *http_json_info(const char *network, int32_t height,
				 const struct oracle_config *cfg);
struct http_body *http_json_block_height(int32_t height);
struct http_body *http_json_block_hash(const uint8_t hash[32]);
struct http_body *http_json_tweak_recs(const uint8_t *recs, size_t n,
				       size_t rec_len, uint64_t dust);
struct http_body *http_json_filter(const uint8_t hash[32], uint32_t height,
				   const uint8_t *data, size_t len);
struct http_body *http_json_spent_index(const uint8_t hash[32],
					const uint8_t *data, size_t n);
struct http_body *http_json_txid(const char *txid_hex);
/* Streaming builders for callback-driven reads. */
struct http_json_list;
struct http_json_list *http_json_list_new(void);
void http_json_list_tweak(struct http_json_list *l, const uint8_t tweak[33]);
void http_json_list_utxo(struct http_json_list *l, const struct oracle_utxo *u);
void http_json_list_mempool(struct http_json_list *l, const uint8_t txid[32],
			    const uint8_t tweak[33], uint64_t highest_value);
struct http_body *http_json_list_finish(struct http_json_list *l);

/* ---- log lines an outsider can trigger: at most one a second ---- */
struct http_logrl {
	pthread_mutex_t mu;
	uint64_t last_ns;
	uint64_t suppressed;
};
/* true: log now, *suppressed = lines dropped since the last one. */
bool http_logrl_take(struct http_logrl *l, struct http_metrics *m,
		     uint64_t *suppressed);

/* ---- /forward-tx (http_forward.c) ---- */

/* The tx hex of a /forward-tx body, upstream's way: "data" of a JSON
 * object (key case-insensitive) or of an urlencoded form, by Content-Type
 * (ctype may be NULL).  Returns 0 and *hex (caller frees) when it is
 * relayable; else the answer's status (400) and *msg (NULL: upstream's
 * empty body). */
unsigned http_forward_parse(const char *body, size_t len, const char *ctype,
			    char **hex, const char **msg);

struct http_fwd;
/* One relay: made by the connection's thread, run by a worker. */
struct http_fwd_job {
	struct MHD_Connection *con;
	char *hex;
	atomic_bool done;
	int rc;
	char txid[65];
	char err[SD_ERRLEN];
	struct http_fwd_job *next;
};
struct http_fwd *http_fwd_new(struct oracle_http *h);
/* Stop: queued jobs end with SD_ESTATE, running ones finish (within the
 * node timeout), workers are joined; every job's connection resumed. */
void http_fwd_stop(struct http_fwd *f);
void http_fwd_free(struct http_fwd *f);
/* Per address token bucket: true when addr may relay now, else
 * *retry_s (>= 1) until a token is back. */
bool http_fwd_rate_take(struct http_fwd *f, const void *addr, size_t alen,
			unsigned *retry_s);
/* Queue job (the connection is suspended here and resumed by the worker
 * once job->done).  false: full (job untouched, not suspended). */
bool http_fwd_submit(struct http_fwd *f, struct http_fwd_job *job);
void http_fwd_job_free(struct http_fwd_job *job);
/* The answer for a finished job (counts and logs it). */
void http_fwd_answer(struct oracle_http *h, struct http_fwd_job *job,
		     struct http_answer *a);
/* Log a refused relay (at most one line a second). */
void http_fwd_log_refused(struct oracle_http *h, unsigned status,
			  const char *why, const char *err);

/* ---- connections (http_conn.c): registry and total deadline ---- */
struct http_conns;
struct http_conns *http_conns_new(struct http_metrics *m,
				  unsigned deadline_s);
void http_conns_free(struct http_conns *cs);   /* after MHD stopped */
/* MHD_OPTION_NOTIFY_CONNECTION callback (cls = struct http_conns). */
void http_conns_notify(void *cls, struct MHD_Connection *con,
		       void **socket_context,
		       enum MHD_ConnectionNotificationCode toe);
/* The request on con is fully received (busy = true: no deadline until
 * its answer is done) or done (busy = false: the next request's clock
 * starts). */
void http_conns_busy(struct MHD_Connection *con, bool busy);

/* Header logic of outside bytes (http.c; fuzzed). */
/* RFC 9110 If-None-Match (weak comparison) against etag. */
bool http_etag_matches(const char *inm, const char *etag);
/* gin-contrib/cors: Origin set and not http(s)://<Host>. */
bool http_cross_origin(const char *origin, const char *host);

/* ---- the server ---- */
struct oracle_http {
	struct MHD_Daemon *mhd;
	struct oracle_index *idx;
	struct oracle_http_hooks hooks;
	struct oracle_http_config cfg;
	char *host;
	struct http_cache *cache;
	struct http_metrics metrics;
	struct http_fwd *fwd;
	struct http_conns *conns;
	struct http_logrl log_refused, log_relayed;
	/* /mempool/tweaks bodies by map content (http_routes.c) */
	pthread_mutex_t mp_mu;
	uint64_t mp_key[2];
	struct http_mp_slot {
		uint64_t fp[3];         /* count, sum, xor of entry hashes */
		uint64_t dust;
		uint64_t used;          /* LRU clock; 0: empty */
		struct http_body *body;
	} mp_slots[4];
	uint64_t mp_clock;
	/* dustLimit values worth caching (http_routes.c) */
	pthread_mutex_t dust_mu;
	struct http_dust_slot {
		uint64_t dust, count;
	} dust_slots[8];
};

/* What a handler decided; http.c turns it into headers. */
struct http_answer {
	unsigned status;
	const char *ctype;          /* NULL: no Content-Type */
	struct http_body *body;     /* owned reference; NULL: empty */
	bool block;                 /* block answer: ETag + Cache-Control */
	bool immutable;             /* ...deep enough to never change */
	uint64_t etag;
	const char *extra_name;     /* one extra header (or NULL) */
	const char *extra_value;    /* not owned; valid during send */
	char extra_buf[24];         /* extra_value may point here */
	bool cached;                /* body is cache entry ckey's */
	struct http_cache_key ckey;
};

#define HTTP_CT_JSON "application/json; charset=utf-8"
#define HTTP_CT_TEXT "text/plain"
#define HTTP_MAX_POST (1u << 20)   /* /forward-tx body limit */
#define HTTP_MAX_TX_HEX 400000u    /* longest raw tx hex accepted */
#define HTTP_MAX_DISCARD (16u << 20) /* oversize body read before close */

/* GET handlers (every route but /forward-tx, which http.c runs). */
void http_route_answer(struct oracle_http *h, const struct oracle_route *rt,
		       struct http_answer *ans);
/* The v2 routes (http_v2.c) when h speaks v2; false: not a v2-only
 * route (the extensions), answer with http_route_answer. */
bool http_route_answer_v2(struct oracle_http *h,
			  const struct oracle_route *rt,
			  struct http_answer *ans);
/* a = status with body b as JSON (b taken). */
void http_answer_json(struct http_answer *a, unsigned status,
		      struct http_body *b);
/* Fill a JSON error answer. */
void http_answer_error(struct http_answer *a, unsigned status,
		       const char *msg);

#endif

/* http_int.h - internals shared by the HTTP server's files (http.c: the
 * libmicrohttpd server and response headers; http_routes.c: one handler
 * per route; http_json.c: upstream's JSON bodies; http_cache.c: rendered
 * body LRU; http_metrics.c: counters and latency histograms). */
#ifndef SIGNETD_ORACLE_HTTP_INT_H
#define SIGNETD_ORACLE_HTTP_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oracle.h"
#include "route.h"

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
uint64_t http_cache_key_hash(const struct http_cache_key *k);
void http_cache_stats(struct http_cache *c, uint64_t *hits, uint64_t *misses,
		      size_t *bytes, size_t *entries);

/* ---- metrics ---- */
#define HTTP_N_BUCKETS 12
#define HTTP_N_CODES 14
struct http_metrics {
	atomic_uint_fast64_t count[ORACLE_ROUTE_COUNT][HTTP_N_CODES];
	atomic_uint_fast64_t bucket[ORACLE_ROUTE_COUNT][HTTP_N_BUCKETS];
	atomic_uint_fast64_t sum_ns[ORACLE_ROUTE_COUNT];
	atomic_uint_fast64_t n[ORACLE_ROUTE_COUNT];
};
void http_metrics_observe(struct http_metrics *m, enum oracle_route_id r,
			  unsigned status, uint64_t ns);
/* Append Prometheus text to *buf, *len (realloc).  */
void http_metrics_render(struct http_metrics *m, struct http_cache *c,
			 char **buf, size_t *len);

/* ---- JSON bodies (upstream's field order, compact, no newline) ---- */
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

/* ---- the server ---- */
struct oracle_http {
	struct MHD_Daemon *mhd;
	struct oracle_index *idx;
	struct oracle_http_hooks hooks;
	struct oracle_http_config cfg;
	char *host;
	struct http_cache *cache;
	struct http_metrics metrics;
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
};

#define HTTP_CT_JSON "application/json; charset=utf-8"
#define HTTP_CT_TEXT "text/plain"
#define HTTP_MAX_POST (1u << 20)   /* /forward-tx body limit */
#define HTTP_MAX_TX_HEX 400000u    /* longest raw tx hex accepted */
#define HTTP_MAX_DISCARD (16u << 20) /* oversize body read before close */

/* GET/POST handlers; post_body/post_len/post_ctype only for forward-tx. */
void http_route_answer(struct oracle_http *h, const struct oracle_route *rt,
		       const char *post_body, size_t post_len,
		       const char *post_ctype, struct http_answer *ans);

#endif

/* http_metrics.c - the HTTP server's own Prometheus metrics: requests by
 * route and status code (counters) and latency histograms by route
 * (seconds).  Lock-free: relaxed atomics, read without a snapshot. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/buf.h"
#include "../../common/util.h"
#include "http_int.h"

static const unsigned codes[HTTP_N_CODES] = {
	200, 204, 301, 304, 307, 400, 404, 405, 413, 429, 431, 500, 502, 503,
	504, 0,
};

static const double bucket_le[HTTP_N_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
};

static unsigned code_slot(unsigned status)
{
	for (unsigned i = 0; i + 1 < HTTP_N_CODES; i++)
		if (codes[i] == status)
			return i;
	return HTTP_N_CODES - 1; /* "other" */
}

void http_metrics_observe(struct http_metrics *m, enum oracle_route_id r,
			  unsigned status, uint64_t ns)
{
	double s = (double)ns / 1e9;

	if ((unsigned)r >= ORACLE_ROUTE_COUNT)
		r = ORACLE_ROUTE_NONE;
	atomic_fetch_add_explicit(&m->count[r][code_slot(status)], 1,
				  memory_order_relaxed);
	for (unsigned i = 0; i < HTTP_N_BUCKETS; i++)
		if (s <= bucket_le[i]) {
			atomic_fetch_add_explicit(&m->bucket[r][i], 1,
						  memory_order_relaxed);
			break;
		}
	atomic_fetch_add_explicit(&m->sum_ns[r], ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->n[r], 1, memory_order_relaxed);
}

static uint64_t ld(atomic_uint_fast64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

/* /forward-tx outcomes and load, request deadlines, suppressed log
 * lines, the /mempool/tweaks body cache, uncached dustLimit answers. */
static void render_abuse(struct http_metrics *m, struct sd_buf *b)
{
	static const char *const res[HTTP_FWD_N] = {
		[HTTP_FWD_RELAYED] = "relayed",
		[HTTP_FWD_REFUSED] = "node_refused",
		[HTTP_FWD_NODE_ERROR] = "node_error",
		[HTTP_FWD_TIMEOUT] = "node_timeout",
		[HTTP_FWD_RATE_LIMITED] = "rate_limited",
		[HTTP_FWD_BUSY] = "busy",
		[HTTP_FWD_INVALID] = "invalid",
	};

	sd_buf_printf(b, "# HELP signetd_http_forward_tx_total POST /forward-tx "
	       "outcomes (rate_limited: 429, busy: 503, node_timeout: 504).\n"
	       "# TYPE signetd_http_forward_tx_total counter\n");
	for (unsigned i = 0; i < HTTP_FWD_N; i++)
		sd_buf_printf(b, "signetd_http_forward_tx_total{result=\"%s\"} %llu\n",
		    res[i], (unsigned long long)ld(&m->fwd[i]));
	sd_buf_printf(b,
	    "# HELP signetd_http_forward_tx_in_flight Node calls running on "
	    "the forward workers.\n"
	    "# TYPE signetd_http_forward_tx_in_flight gauge\n"
	    "signetd_http_forward_tx_in_flight %llu\n"
	    "# HELP signetd_http_forward_tx_queued Relays waiting for a "
	    "forward worker.\n"
	    "# TYPE signetd_http_forward_tx_queued gauge\n"
	    "signetd_http_forward_tx_queued %llu\n"
	    "# HELP signetd_http_forward_tx_node_seconds_total Time spent in "
	    "node calls by the forward workers.\n"
	    "# TYPE signetd_http_forward_tx_node_seconds_total counter\n"
	    "signetd_http_forward_tx_node_seconds_total %.6f\n"
	    "# HELP signetd_http_request_deadline_closed_total Connections "
	    "closed because a request's headers and body took longer than "
	    "the request timeout.\n"
	    "# TYPE signetd_http_request_deadline_closed_total counter\n"
	    "signetd_http_request_deadline_closed_total %llu\n"
	    "# HELP signetd_http_log_suppressed_total Log lines a client "
	    "triggered that were dropped (at most one a second is written)."
	    "\n"
	    "# TYPE signetd_http_log_suppressed_total counter\n"
	    "signetd_http_log_suppressed_total %llu\n"
	    "# HELP signetd_http_mempool_cache_hits_total /mempool/tweaks "
	    "answers served from the body kept for an unchanged map.\n"
	    "# TYPE signetd_http_mempool_cache_hits_total counter\n"
	    "signetd_http_mempool_cache_hits_total %llu\n"
	    "# HELP signetd_http_mempool_cache_misses_total /mempool/tweaks "
	    "answers rendered.\n"
	    "# TYPE signetd_http_mempool_cache_misses_total counter\n"
	    "signetd_http_mempool_cache_misses_total %llu\n"
	    "# HELP signetd_http_cache_dust_uncached_total Answers with an "
	    "uncommon dustLimit, rendered without taking a cache entry.\n"
	    "# TYPE signetd_http_cache_dust_uncached_total counter\n"
	    "signetd_http_cache_dust_uncached_total %llu\n",
	    (unsigned long long)ld(&m->fwd_running),
	    (unsigned long long)ld(&m->fwd_queued),
	    (double)ld(&m->fwd_node_ns) / 1e9,
	    (unsigned long long)ld(&m->deadline_closed),
	    (unsigned long long)ld(&m->log_suppressed),
	    (unsigned long long)ld(&m->mempool_hits),
	    (unsigned long long)ld(&m->mempool_misses),
	    (unsigned long long)ld(&m->dust_uncached));
}

void http_metrics_render(struct http_metrics *m, struct http_cache *c,
			 char **p, size_t *len)
{
	/* the caller's text, at least *len bytes: appended to */
	struct sd_buf b = {.s = *p, .len = *len, .cap = *len};
	uint64_t hits, misses;
	size_t bytes, entries;

	sd_buf_reserve(&b, 4096);
	b.s[b.len] = '\0';
	sd_buf_printf(&b, "# HELP signetd_http_requests_total HTTP requests answered, "
		"by route and status code.\n"
		"# TYPE signetd_http_requests_total counter\n");
	for (unsigned r = 0; r < ORACLE_ROUTE_COUNT; r++)
		for (unsigned i = 0; i < HTTP_N_CODES; i++) {
			uint64_t v = atomic_load_explicit(
				&m->count[r][i], memory_order_relaxed);
			char code[16];

			if (!v)
				continue;
			if (codes[i])
				snprintf(code, sizeof(code), "%u", codes[i]);
			else
				snprintf(code, sizeof(code), "other");
			sd_buf_printf(&b,
			    "signetd_http_requests_total{route=\"%s\","
			    "code=\"%s\"} %llu\n",
			    oracle_route_name((enum oracle_route_id)r), code,
			    (unsigned long long)v);
		}
	sd_buf_printf(&b, "# HELP signetd_http_request_duration_seconds Time from "
		"request line to response done, by route.\n"
		"# TYPE signetd_http_request_duration_seconds histogram\n");
	for (unsigned r = 0; r < ORACLE_ROUTE_COUNT; r++) {
		const char *name = oracle_route_name((enum oracle_route_id)r);
		uint64_t n = atomic_load_explicit(&m->n[r],
						  memory_order_relaxed);
		uint64_t cum = 0;

		if (!n)
			continue;
		for (unsigned i = 0; i < HTTP_N_BUCKETS; i++) {
			cum += atomic_load_explicit(&m->bucket[r][i],
						    memory_order_relaxed);
			sd_buf_printf(&b,
			    "signetd_http_request_duration_seconds_bucket{"
			    "route=\"%s\",le=\"%g\"} %llu\n",
			    name, bucket_le[i], (unsigned long long)cum);
		}
		sd_buf_printf(&b,
		    "signetd_http_request_duration_seconds_bucket{route=\"%s\","
		    "le=\"+Inf\"} %llu\n"
		    "signetd_http_request_duration_seconds_sum{route=\"%s\"} "
		    "%.6f\n"
		    "signetd_http_request_duration_seconds_count{route=\"%s\"} "
		    "%llu\n",
		    name, (unsigned long long)n, name,
		    (double)atomic_load_explicit(&m->sum_ns[r],
						 memory_order_relaxed) / 1e9,
		    name, (unsigned long long)n);
	}
	render_abuse(m, &b);
	if (!c)
		goto out;
	http_cache_stats(c, &hits, &misses, &bytes, &entries);
	sd_buf_printf(&b,
	    "# HELP signetd_http_cache_hits_total Block answers served from "
	    "the rendered-body cache.\n"
	    "# TYPE signetd_http_cache_hits_total counter\n"
	    "signetd_http_cache_hits_total %llu\n"
	    "# HELP signetd_http_cache_misses_total Block answers rendered "
	    "from the index.\n"
	    "# TYPE signetd_http_cache_misses_total counter\n"
	    "signetd_http_cache_misses_total %llu\n"
	    "# HELP signetd_http_cache_bytes Bytes held by the body cache.\n"
	    "# TYPE signetd_http_cache_bytes gauge\n"
	    "signetd_http_cache_bytes %zu\n"
	    "# HELP signetd_http_cache_entries Answers held by the body "
	    "cache.\n"
	    "# TYPE signetd_http_cache_entries gauge\n"
	    "signetd_http_cache_entries %zu\n",
	    (unsigned long long)hits, (unsigned long long)misses, bytes,
	    entries);
out:
	*p = b.s;
	*len = b.len;
}

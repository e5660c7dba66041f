/* http_metrics.c - the HTTP server's own Prometheus metrics: requests by
 * route and status code (counters) and latency histograms by route
 * (seconds).  Lock-free: relaxed atomics, read without a snapshot. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../signetd/util.h"
#include "http_int.h"

static const unsigned codes[HTTP_N_CODES] = {
	200, 204, 301, 304, 307, 400, 404, 405, 413, 431, 500, 502, 503, 0,
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

struct buf {
	char **p;
	size_t *len;
	size_t cap;
};

static void SD_PRINTF(2, 3) add(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - *b->len;

		va_start(ap, fmt);
		n = vsnprintf(*b->p + *b->len, room, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < room)
			break;
		b->cap = b->cap * 2 + (size_t)n + 64;
		*b->p = sd_xrealloc(*b->p, b->cap);
	}
	*b->len += (size_t)n;
}

void http_metrics_render(struct http_metrics *m, struct http_cache *c,
			 char **p, size_t *len)
{
	struct buf b = {p, len, *len + 4096};
	uint64_t hits, misses;
	size_t bytes, entries;

	*p = sd_xrealloc(*p, b.cap);
	(*p)[*len] = '\0';
	add(&b, "# HELP signetd_http_requests_total HTTP requests answered, "
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
			add(&b,
			    "signetd_http_requests_total{route=\"%s\","
			    "code=\"%s\"} %llu\n",
			    oracle_route_name((enum oracle_route_id)r), code,
			    (unsigned long long)v);
		}
	add(&b, "# HELP signetd_http_request_duration_seconds Time from "
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
			add(&b,
			    "signetd_http_request_duration_seconds_bucket{"
			    "route=\"%s\",le=\"%g\"} %llu\n",
			    name, bucket_le[i], (unsigned long long)cum);
		}
		add(&b,
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
	if (!c)
		return;
	http_cache_stats(c, &hits, &misses, &bytes, &entries);
	add(&b,
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
}

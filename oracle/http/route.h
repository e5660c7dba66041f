/* route.h - the HTTP API's request-target parser: method + raw target
 * ("/blindbit/tweaks/0815?dustLimit=1000") -> which route, its height,
 * filter type and dustLimit, exactly as blindbit-oracle v1 (gin) reads
 * them.  Pure function, no allocation, no I/O: unit-tested and fuzzed.
 *
 * The outcome keeps each check separate because upstream answers them at
 * different stages: route match (404 / 301) first, then the height
 * (400, then 500 for an unknown height: the server's job), then the
 * handler's own checks (filter type, dustLimit).
 */
#ifndef SIGNETD_ORACLE_HTTP_ROUTE_H
#define SIGNETD_ORACLE_HTTP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum oracle_route_id {
	ORACLE_ROUTE_NONE = 0,      /* no route: 404 */
	ORACLE_ROUTE_INFO,
	ORACLE_ROUTE_BLOCK_HEIGHT,
	ORACLE_ROUTE_BLOCK_HASH,
	ORACLE_ROUTE_TWEAKS,
	ORACLE_ROUTE_TWEAK_INDEX,
	ORACLE_ROUTE_FILTER,
	ORACLE_ROUTE_UTXOS,
	ORACLE_ROUTE_SPENT_INDEX,
	ORACLE_ROUTE_FORWARD_TX,
	ORACLE_ROUTE_MEMPOOL_TWEAKS, /* extension */
	ORACLE_ROUTE_STATUS,         /* extension (daemon hook) */
	ORACLE_ROUTE_HEALTH,         /* extension (daemon hook) */
	ORACLE_ROUTE_METRICS,        /* extension (daemon hook) */
	/* blindbit-oracle v2 (oracle_route_parse_v2; /info, /block-height,
	 * /block-hash/:h keep their ids) */
	ORACLE_ROUTE_V2_TWEAKS,
	ORACLE_ROUTE_V2_UTXOS,
	ORACLE_ROUTE_V2_SPENT_OUTPUTS,
	ORACLE_ROUTE_V2_COMPUTE_INDEX,
	ORACLE_ROUTE_V2_FULL_BLOCK,
	ORACLE_ROUTE_COUNT
};

enum oracle_route_method {
	ORACLE_METHOD_GET,
	ORACLE_METHOD_POST,
	ORACLE_METHOD_OTHER,
};

enum oracle_route_filter {
	ORACLE_ROUTE_FILTER_NONE = 0,   /* not a filter route */
	ORACLE_ROUTE_FILTER_NEW_UTXOS,
	ORACLE_ROUTE_FILTER_SPENT,
	ORACLE_ROUTE_FILTER_BAD,        /* /filter/<other>/h: 400 */
};

/* Longest target the parser looks at; longer ones never match (404). */
#define ORACLE_ROUTE_MAX_TARGET 2048

struct oracle_route {
	enum oracle_route_id id;    /* NONE: 404 (unless redirect) */
	/* Target ended in '/' and matches a route without it: answer 301
	 * (GET) / 307 (other methods) to target[0..redirect_len) followed
	 * by the query part (target + redirect_query_off, "?..." or ""). */
	bool redirect;
	size_t redirect_len;
	size_t redirect_query_off;
	bool prefixed;              /* came in under /blindbit/ */
	bool has_height;            /* the route takes :blockheight */
	bool height_ok;             /* ...and it parsed (else 400) */
	uint32_t height;
	enum oracle_route_filter filter;
	bool dust_ok;               /* dustLimit absent or a valid uint64 */
	uint64_t dust;              /* 0 when absent */
};

/* Parse target (len bytes, not NUL-terminated; path and optional query)
 * for method into *out.  Never fails: the outcome is in *out. */
void oracle_route_parse(enum oracle_route_method method, const char *target,
			size_t len, struct oracle_route *out);

/* The same for blindbit-oracle v2's route table (upstream master: /info,
 * /tweaks/:h, /utxos/:h, /spent-outputs/:h, /compute-index/:h,
 * /full-block/:h; plus /block-height, /block-hash/:h and our /status,
 * /health, /metrics, /mempool/tweaks).  No /forward-tx. */
void oracle_route_parse_v2(enum oracle_route_method method,
			   const char *target, size_t len,
			   struct oracle_route *out);

/* Method name -> enum (exact, case-sensitive as HTTP). */
enum oracle_route_method oracle_route_method(const char *name);

/* Stable snake_case route name for metrics and logs ("tweak_index"). */
const char *oracle_route_name(enum oracle_route_id id);

/* Parse a base-10 unsigned integer of len bytes, no sign or spaces,
 * leading zeros allowed, <= max.  true on success. */
bool oracle_route_parse_uint(const char *s, size_t len, uint64_t max,
			     uint64_t *out);

#endif

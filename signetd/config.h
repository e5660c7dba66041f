/* config.h - the daemon's configuration: <datadir>/blindbit.toml, then the
 * UPPERCASE environment variable of each key, as upstream blindbit-oracle.
 *
 * Every key is one row of a table in config.c (name, type, default, range,
 * help); --help and --print-config are generated from it.  Loading never
 * exits: it returns SD_EINVAL/SD_EPARSE with a message naming the key and
 * where it came from (file:line or env VAR) in err, and main() exits 2.
 */
#ifndef SIGNETD_SIGNETD_CONFIG_H
#define SIGNETD_SIGNETD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/err.h"

struct sd_config {
	/* upstream keys, upstream meanings */
	char *host;            /* HTTP bind "addr:port" */
	char *chain;           /* main signet regtest testnet */
	char *rpc_endpoint;
	char *cookie_path;     /* "" -> rpc_user/rpc_pass */
	char *rpc_user;
	char *rpc_pass;        /* secret: never printed */
	int64_t sync_start_height;
	int64_t max_parallel_requests;
	int64_t max_parallel_tweak_computations; /* 0 -> online cores */
	bool tweaks_only;
	bool tweaks_full_basic;
	bool tweaks_full_with_dust_filter;
	bool tweaks_cut_through_with_dust_filter;
	/* upstream v2 keys */
	char *http_host;       /* NULL/"": no v2 listener beside host */
	char *grpc_host;       /* "": gRPC off */
	int64_t max_cpu_cores; /* accepted, not used (Go's GOMAXPROCS) */
	char *core_rest_endpoint; /* used as rpc_endpoint when that is unset */
	char *core_rpc_endpoint;
	/* ours */
	int64_t api_version;   /* blindbit generation `host` speaks: 1 or 2 */
	bool host_given, rpc_endpoint_given; /* set by file or env */
	bool sync_start_height_given;        /* same (chain = main default) */
	char *zmq_hashblock;   /* NULL: ask the node; "" : off */
	char *zmq_rawtx;       /* same */
	char *log_level;
	char *log_file;        /* "" -> stderr only; relative to datadir */
	char *block_source;    /* auto rest rpc */
	int64_t immutable_depth;
	int64_t undo_depth;    /* blocks a disconnect may reach */
	int64_t health_max_tip_age;   /* seconds; 0 = not checked */
	int64_t health_max_index_lag; /* blocks */
	int64_t http_threads;
	int64_t http_max_connections;
	int64_t http_max_connections_per_ip; /* 0 auto, -1 none */
	int64_t http_request_timeout;      /* seconds, headers + body */
	int64_t http_forward_workers;
	int64_t http_forward_queue;
	int64_t http_forward_timeout_ms;
	int64_t http_forward_rate_per_min;
	int64_t http_forward_burst;
	bool http_forward_cors;
	int64_t mempool_queue_txs;
	int64_t mempool_queue_bytes;
	int64_t mempool_max_tx_bytes;
	int64_t mempool_max_inputs;
	int64_t mempool_max_outputs;
	int64_t mempool_max_parents;
	int64_t mempool_max_fetch_bytes;
	int64_t mempool_max_tweaks;
	int64_t mempool_cache_bytes;
	int64_t mempool_prune_interval_s;
};

/* Fill c with every default.  Free with sd_config_free(). */
void sd_config_defaults(struct sd_config *c);
void sd_config_free(struct sd_config *c);

/* Parse TOML text (the subset: key = value lines, # comments, "strings"
 * with escapes, 'literal strings', integers, booleans, blank lines) into c.
 * fname names the source in messages.  Unknown keys are logged as warnings
 * (upstream ignores them).  Returns SD_OK, or SD_EPARSE/SD_EINVAL with
 * "fname:line: key: reason" in err (SD_ERRLEN bytes). */
int sd_config_parse(struct sd_config *c, const char *text, size_t len,
		    const char *fname, char *err) SD_WARN_UNUSED;

/* Read and parse path.  SD_ENOTFOUND (err set) when it does not exist. */
int sd_config_load_file(struct sd_config *c, const char *path,
			char *err) SD_WARN_UNUSED;

/* Apply KEY environment overrides for every key that has one set; an
 * empty variable counts as not set (compose's ${KEY:-}). */
int sd_config_apply_env(struct sd_config *c, char *err) SD_WARN_UNUSED;

/* Cross-key checks and resolution (0 tweak threads -> cores, user:pass@
 * taken out of rpc_endpoint into rpc_user/rpc_pass...).  Call after file
 * and env; checks nothing on the network. */
int sd_config_finish(struct sd_config *c, char *err) SD_WARN_UNUSED;

/* Log what a valid configuration will surprise an operator with (at
 * start, not for --print-config): config_tweaks_empty when /tweaks/:h
 * can only answer [] (tweaks_cut_through_with_dust_filter = 0). */
void sd_config_log_warnings(const struct sd_config *c);

/* The effective configuration as TOML, secrets redacted. */
void sd_config_print(const struct sd_config *c, FILE *f);
/* The key reference for --help. */
void sd_config_help(FILE *f);

#endif

/* rpc.h - talking to bitcoind: JSON-RPC, REST, block sources.
 *
 * One struct rpc_client per thread (it owns keep-alive libcurl handles: one
 * for JSON-RPC, two more for the REST block + spenttxouts pair fetched
 * concurrently; it is not thread-safe).  Auth: cookie file (re-read on 401 or when the
 * node restarts) or user/password.  Every call has a timeout.
 *
 * JSON results are returned as text (NUL-terminated, caller frees with
 * free()) so that jansson stays inside rpc/; helpers below cover the calls
 * the other modules need as C types.
 */
#ifndef SIGNETD_RPC_RPC_H
#define SIGNETD_RPC_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "../bitcoin/block.h"

struct rpc_config {
	const char *url;         /* e.g. "http://127.0.0.1:38332" */
	const char *cookie_path; /* NULL/"" -> use user/pass */
	const char *user, *pass; /* NULL when cookie is used */
	const char *wallet;      /* NULL -> no /wallet/<name> path */
	long timeout_ms;         /* per call; 0 -> 30000 */
};

struct rpc_client;

/* Create a client (copies cfg strings).  Does not connect.  Returns SD_OK or
 * SD_EINVAL (bad url, no credentials source). */
int rpc_client_new(const struct rpc_config *cfg,
		   struct rpc_client **out) SD_WARN_UNUSED;
void rpc_client_free(struct rpc_client *c);

/* Call method with params_json (a JSON array text, e.g. "[\"abc\",3]";
 * NULL -> "[]").  On SD_OK *result_json is the "result" member serialized
 * (caller frees).  On SD_ERPC *rpc_code and err hold the node's error code
 * and message.  Other codes: SD_ECONN, SD_ETIMEOUT, SD_EAUTH, SD_EPARSE.
 * err (may be NULL) is SD_ERRLEN bytes. */
int rpc_call(struct rpc_client *c, const char *method, const char *params_json,
	     char **result_json, int *rpc_code, char *err) SD_WARN_UNUSED;

/* Typed helpers.  rpc_get_block_hash(es) return SD_ENOTFOUND for a height
 * above the node's tip. */
int rpc_get_block_count(struct rpc_client *c, int32_t *height) SD_WARN_UNUSED;
int rpc_get_block_hash(struct rpc_client *c, int32_t height,
		       uint8_t hash[32]) SD_WARN_UNUSED;
/* Batched getblockhash for heights [from, from+n). */
int rpc_get_block_hashes(struct rpc_client *c, int32_t from, size_t n,
			 uint8_t (*hashes)[32]) SD_WARN_UNUSED;
int rpc_get_best_block_hash(struct rpc_client *c,
			    uint8_t hash[32]) SD_WARN_UNUSED;

struct rpc_chain_info {
	char chain[16]; /* "main", "test", "signet", "regtest" */
	int32_t blocks, headers;
	uint8_t best_hash[32];
	bool ibd;
	double verification_progress;
	uint64_t median_time;
};
int rpc_get_chain_info(struct rpc_client *c,
		       struct rpc_chain_info *out) SD_WARN_UNUSED;

/* Block fetch path. */
enum rpc_block_source {
	RPC_SOURCE_AUTO = 0, /* detect: REST if it serves spenttxouts, else RPC */
	RPC_SOURCE_REST,     /* /rest/block + /rest/spenttxouts binary */
	RPC_SOURCE_RPC,      /* getblock <hash> 3 */
};
const char *rpc_block_source_name(enum rpc_block_source s);

/* Probe the node once and pick the fastest source that works (REST with
 * spenttxouts, else getblock 3).  Returns SD_OK and sets *chosen. */
int rpc_detect_block_source(struct rpc_client *c,
			    enum rpc_block_source *chosen) SD_WARN_UNUSED;

/* Fetch the block with this hash (internal order) including prevouts via
 * source (not AUTO).  height is stored into the block.  Returns SD_OK,
 * SD_ENOTFOUND, SD_EPARSE (node sent garbage), SD_ECONN, SD_ETIMEOUT... */
int rpc_fetch_block(struct rpc_client *c, enum rpc_block_source source,
		    const uint8_t hash[32], int32_t height,
		    struct btc_block **out) SD_WARN_UNUSED;

/* Convert `getblock <hash> 3` JSON text into a block (with prevouts).
 * Exposed for tests and the fuzz target.  Returns SD_OK or SD_EPARSE. */
int rpc_block_from_json(const char *json, size_t len,
			struct btc_block **out) SD_WARN_UNUSED;

/* Raw HTTP GET of a REST path (e.g. "/rest/chaininfo.json") relative to the
 * node URL.  On SD_OK *body (caller frees) and *len hold the body and
 * *status the HTTP status. */
int rpc_rest_get(struct rpc_client *c, const char *path, uint8_t **body,
		 size_t *len, long *status) SD_WARN_UNUSED;

/* Parse a JSON-RPC reply body (one object) as rpc_call() does: SD_OK with
 * *result_json (caller frees), SD_ERPC with *rpc_code/err, or SD_EPARSE.
 * Exposed for the fuzz target. */
int rpc_parse_reply(const char *body, size_t len, char **result_json,
		    int *rpc_code, char *err) SD_WARN_UNUSED;

/* Parse a batched getblockhash reply (a JSON array whose ids are the
 * heights from..from+n-1, in any order) into hashes.  Returns SD_OK,
 * SD_ENOTFOUND (a height past the tip) or SD_EPARSE.  Exposed for fuzzing. */
int rpc_parse_batch_hashes(const char *body, size_t len, int32_t from,
			   size_t n, uint8_t (*hashes)[32]) SD_WARN_UNUSED;

/* ---- mempool helpers (signetd/mempool.c) -------------------------------
 *
 * One output as the node reports it (gettxout, a getrawtransaction 2
 * "prevout").  spk is malloc'd (rpc_txout_info_clear frees). */
struct rpc_txout_info {
	bool found;
	int64_t value;  /* satoshis, 0..21e14 */
	uint8_t *spk;
	size_t spk_len;
};
void rpc_txout_info_clear(struct rpc_txout_info *o, size_t n);

/* Batched `gettxout <txid> <vout> false` (the chain UTXO set, ignoring the
 * mempool: an output spent by a mempool tx is still found) for n outpoints
 * (txids internal order), one HTTP request per 500.  out[i].found is false
 * when the node has no such unspent output.  Returns SD_OK (some may be
 * unfound), SD_EINVAL (n > 100000) or a transport / SD_EPARSE error. */
int rpc_get_txouts(struct rpc_client *c, const uint8_t (*txids)[32],
		   const uint32_t *vouts, size_t n,
		   struct rpc_txout_info *out) SD_WARN_UNUSED;
/* The batched reply parser of rpc_get_txouts (ids 0..n-1 in any order;
 * out[] cleared first).  SD_OK or SD_EPARSE.  Exposed for fuzzing. */
int rpc_parse_txouts(const char *body, size_t len, size_t n,
		     struct rpc_txout_info *out) SD_WARN_UNUSED;

/* `getrawtransaction <txid> 0`: the serialized tx (mempool, or any with
 * -txindex).  *raw malloc'd.  SD_ENOTFOUND when the node has none,
 * SD_EINVAL when it is longer than max_len bytes (not decoded). */
int rpc_get_raw_tx(struct rpc_client *c, const uint8_t txid[32],
		   size_t max_len, uint8_t **raw, size_t *len) SD_WARN_UNUSED;

/* `getrawtransaction <txid> 2`: the prevout of each of the n_in inputs
 * (Core >= 25 shows them for confirmed txs with undo data; for mempool
 * txs Core and Knots up to v29 at least do not).  SD_OK with out[0..n_in-1]
 * all found; SD_ENOTFOUND when the node has no such tx or gave no
 * prevouts; SD_EPARSE on junk or a different input count. */
int rpc_get_tx_prevouts(struct rpc_client *c, const uint8_t txid[32],
			size_t n_in, struct rpc_txout_info *out) SD_WARN_UNUSED;
/* Its parser, over the "result" JSON text.  Exposed for fuzzing. */
int rpc_parse_tx_prevouts(const char *json, size_t len, size_t n_in,
			  struct rpc_txout_info *out) SD_WARN_UNUSED;

/* `getmempoolentry <txid>`: *in_pool.  SD_OK or a transport error. */
int rpc_mempool_has(struct rpc_client *c, const uint8_t txid[32],
		    bool *in_pool) SD_WARN_UNUSED;

/* `getrawmempool`: the txids (internal order, sorted by memcmp; *txids
 * malloc'd, NULL when n is 0). */
int rpc_get_raw_mempool(struct rpc_client *c, uint8_t (**txids)[32],
			size_t *n) SD_WARN_UNUSED;
/* Its parser, over the "result" JSON text (junk entries are skipped, a
 * non-array is SD_EPARSE).  Exposed for fuzzing. */
int rpc_parse_raw_mempool(const char *json, size_t len, uint8_t (**txids)[32],
			  size_t *n) SD_WARN_UNUSED;

/* ---- node facts for /status (signetd/status.c) ------------------------ */
struct rpc_node_info {
	char chain[16];
	char subversion[96];
	int64_t version;
	int32_t blocks, headers;  /* -1 unknown */
	char best_hash[65];
	uint64_t tip_time;    /* header time of the node tip, 0 unknown */
	bool ibd;
	double verification_progress; /* 0..1 */
	int64_t peers;
	int64_t mempool_txs, mempool_bytes;
};
/* getblockchaininfo (then getblockheader of the tip when the node, before
 * v28, gave no "time"), getnetworkinfo and getmempoolinfo, folded into *n:
 * what a call does not give keeps its value, numbers out of range read as
 * unknown.  SD_OK, or the first failure with err (SD_ERRLEN) saying why:
 * the node's or the transport's message, "<method>: unparsable answer". */
int rpc_get_node_info(struct rpc_client *c, struct rpc_node_info *n,
		      char *err) SD_WARN_UNUSED;
/* Fold the result (JSON text) of one of those calls into *n: method is
 * "getblockchaininfo", "getblockheader", "getnetworkinfo" or
 * "getmempoolinfo".  Returns SD_OK, SD_EPARSE (not a JSON object) or
 * SD_EINVAL (other method).  Exposed for the fuzz target. */
int rpc_parse_node_info(const char *method, const char *json, size_t len,
			struct rpc_node_info *n) SD_WARN_UNUSED;

/* ---- sendrawtransaction (the /forward-tx relay) ------------------------- */
/* SD_OK + txid_hex; SD_ERPC with the node's refusal in err (SD_ERRLEN);
 * SD_EINVAL "bad transaction hex" (not a string JSON can hold); SD_EPARSE
 * "node sent no txid"; a transport error with "node unavailable: <why>"
 * (never the node's address). */
int rpc_send_raw_tx(struct rpc_client *c, const char *hex, char txid_hex[65],
		    char *err) SD_WARN_UNUSED;

/* ---- the generic call (the miner's --cli-compatible commands) ---------- */
/* A positional argument as bitcoin-cli takes it: JSON text when json is
 * set and s parses (object, array, number, bool), else the string s. */
struct rpc_arg {
	const char *s;
	bool json;
};
/* rpc_call with params built from args; same results. */
int rpc_call_args(struct rpc_client *c, const char *method,
		  const struct rpc_arg *args, size_t nargs, char **result_json,
		  int *rpc_code, char *err) SD_WARN_UNUSED;

/* ---- the signet miner's answers (miner/; rpc/miner_answers.c) ----------
 * The text is a result as rpc_call_args gives it, or bitcoin-cli's stdout
 * after rpc_cli_result_json. */

/* bitcoin-cli's stdout as JSON text: trailing blanks cut, empty -> null, a
 * bare string (bitcoin-cli prints string results unquoted) -> that string.
 * malloc'd; NULL when the text can be neither. */
char *rpc_cli_result_json(const char *text);

/* getblocktemplate, as the miner needs it: transactions as raw bytes. */
struct rpc_template_tx {
	uint8_t *raw;
	size_t len;
};
struct rpc_block_template {
	int32_t height, version;
	uint8_t prev[32];
	char prev_hex[65];
	int64_t curtime, mintime, coinbasevalue;
	uint32_t bits;
	uint8_t *challenge;
	size_t challenge_len;
	size_t n_tx;
	struct rpc_template_tx *tx;
};
/* any_top: a node's answer (any JSON value); else a file (an object or an
 * array at the top, jansson's message on junk).  SD_OK, or SD_EPARSE with
 * err (SD_ERRLEN) saying what is wrong; *t is cleared either way first. */
int rpc_parse_block_template(const char *json, size_t len, bool any_top,
			     struct rpc_block_template *t,
			     char *err) SD_WARN_UNUSED;
void rpc_block_template_clear(struct rpc_block_template *t);
/* The string member key of an object (getblockchaininfo's bestblockhash,
 * signet_challenge), or with key NULL the first element of an array
 * (deriveaddresses).  SD_OK with *out malloc'd, else SD_ENOTFOUND. */
int rpc_parse_string_member(const char *json, size_t len, const char *key,
			    char **out) SD_WARN_UNUSED;
/* getblockheader: bits (8 hex digits), height (an integer), time (0 when
 * absent).  SD_OK or SD_EPARSE. */
int rpc_parse_header_fields(const char *json, size_t len, uint32_t *bits,
			    int32_t *height, int64_t *time) SD_WARN_UNUSED;
/* validateaddress: SD_OK with the scriptPubKey (malloc'd) of a valid
 * address, else SD_EINVAL. */
int rpc_parse_address_spk(const char *json, size_t len, uint8_t **spk,
			  size_t *spk_len) SD_WARN_UNUSED;
/* walletprocesspsbt: SD_OK with the base64 PSBT (malloc'd) when complete,
 * else SD_EINVAL. */
int rpc_parse_psbt_result(const char *json, size_t len,
			  char **psbt) SD_WARN_UNUSED;
/* submitblock: *reject NULL when accepted (null), else the reason
 * (malloc'd; "unknown" when it is not a string). */
void rpc_parse_submit_result(const char *json, size_t len, char **reject);

/* Statistics for /status and /metrics (monotonic counters, all clients). */
struct rpc_stats {
	uint64_t calls, errors, bytes_in;
};
void rpc_stats_get(struct rpc_stats *out);

#endif

/* calls.c - typed helpers over rpc_call: block count and hashes (batched
 * getblockhash), best block hash, chain info; for the mempool code: batched
 * gettxout, raw transactions, getrawtransaction 2 prevouts, getmempoolentry,
 * getrawmempool.  Every number from the node is range-checked before it is
 * converted. */
#include "rpc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "client_priv.h"

/* -8 (out of range / invalid parameter) and -5 (not found) -> ENOTFOUND */
static int map_notfound(int rc, int code)
{
	if (rc == SD_ERPC && (code == -8 || code == -5))
		return SD_ENOTFOUND;
	return rc;
}

int rpc_get_block_count(struct rpc_client *c, int32_t *height)
{
	json_t *r;
	int rc = rpc_call_json(c, "getblockcount", NULL, &r, NULL, NULL);

	if (rc != SD_OK)
		return rc;
	rc = SD_EPARSE;
	if (json_is_integer(r) && json_integer_value(r) >= 0 &&
	    json_integer_value(r) <= INT32_MAX) {
		*height = (int32_t)json_integer_value(r);
		rc = SD_OK;
	}
	json_decref(r);
	return rc;
}

static int hash_from_json(json_t *r, uint8_t hash[32])
{
	const char *s = json_string_value(r);

	if (!s || strlen(s) != 64)
		return SD_EPARSE;
	return sd_hash_from_hex(hash, s) == SD_OK ? SD_OK : SD_EPARSE;
}

int rpc_get_block_hash(struct rpc_client *c, int32_t height, uint8_t hash[32])
{
	char params[32];
	json_t *r;
	int code, rc;

	snprintf(params, sizeof(params), "[%d]", (int)height);
	rc = rpc_call_json(c, "getblockhash", params, &r, &code, NULL);
	if (rc != SD_OK)
		return map_notfound(rc, code);
	rc = hash_from_json(r, hash);
	json_decref(r);
	return rc;
}

int rpc_get_best_block_hash(struct rpc_client *c, uint8_t hash[32])
{
	json_t *r;
	int rc = rpc_call_json(c, "getbestblockhash", NULL, &r, NULL, NULL);

	if (rc != SD_OK)
		return rc;
	rc = hash_from_json(r, hash);
	json_decref(r);
	return rc;
}

/* Element i of a batch reply array whose ids are base..base+n-1, each at
 * most once (got[] marks them): SD_OK with *e and the 0-based *k, or
 * SD_EPARSE. */
static int batch_entry(json_t *arr, size_t i, json_int_t base, size_t n,
		       uint8_t *got, json_t **e, size_t *k)
{
	json_t *id;
	json_int_t v;

	*e = json_array_get(arr, i);
	id = json_object_get(*e, "id");
	if (!json_is_integer(id))
		return SD_EPARSE;
	/* ids are outside input: compare before subtracting (no signed
	 * overflow for any id or base) */
	v = json_integer_value(id);
	if (v < base || v - base >= (json_int_t)n)
		return SD_EPARSE;
	*k = (size_t)(v - base);
	if (got[*k])
		return SD_EPARSE;
	got[*k] = 1;
	return SD_OK;
}

int rpc_parse_batch_hashes(const char *body, size_t len, int32_t from,
			   size_t n, uint8_t (*hashes)[32])
{
	json_error_t jerr;
	json_t *arr = json_loadb(body, len, 0, &jerr);
	int rc = SD_OK;
	size_t seen = 0;
	uint8_t *got;

	if (!arr || !json_is_array(arr) || json_array_size(arr) != n ||
	    n > INT32_MAX) {
		json_decref(arr);
		return SD_EPARSE;
	}
	got = sd_xcalloc(n ? n : 1, 1);
	for (size_t i = 0; i < n && rc == SD_OK; i++) {
		json_t *e, *r;
		int code;
		size_t k;

		rc = batch_entry(arr, i, (json_int_t)from, n, got, &e, &k);
		if (rc != SD_OK)
			break;
		rc = rpc_reply_from_json(e, &r, &code, NULL);
		if (rc != SD_OK) {
			rc = map_notfound(rc, code);
			break;
		}
		rc = hash_from_json(r, hashes[k]);
		json_decref(r);
		seen++;
	}
	if (rc == SD_OK && seen != n)
		rc = SD_EPARSE;
	free(got);
	json_decref(arr);
	return rc;
}

/* Close and post a JSON-RPC batch body (ends with "]"; freed).  A 503 is
 * the node's work queue being full: SD_ECONN, retried like a lost link. */
static int batch_post(struct rpc_client *c, char *body, size_t len)
{
	long status = 0;
	int rc;

	body[len++] = ']';
	body[len] = '\0';
	rc = rpc_http(c, c->rpc_url, body, len, &status, NULL);
	free(body);
	if (rc == SD_OK && status == 503)
		rc = SD_ECONN;
	return rc;
}

int rpc_get_block_hashes(struct rpc_client *c, int32_t from, size_t n,
			 uint8_t (*hashes)[32])
{
	size_t cap, len = 0;
	char *body;
	int rc;

	if (n == 0)
		return SD_OK;
	if (from < 0 || n > 100000 || (int64_t)from + (int64_t)n > INT32_MAX)
		return SD_EINVAL;
	/* ids are the heights, so replies can come back in any order */
	cap = 2 + n * 96;
	body = sd_xmalloc(cap);
	body[len++] = '[';
	for (size_t i = 0; i < n; i++) {
		long h = (long)from + (long)i;
		len += (size_t)snprintf(body + len, cap - len,
			"%s{\"jsonrpc\":\"1.0\",\"id\":%ld,"
			"\"method\":\"getblockhash\",\"params\":[%ld]}",
			i ? "," : "", h, h);
	}
	rc = batch_post(c, body, len);
	if (rc == SD_OK)
		rc = rpc_parse_batch_hashes((const char *)c->resp.p,
					    c->resp.len, from, n, hashes);
	if (rc != SD_OK)
		rpc_stats_add(0, 1, 0);
	return rc;
}

int rpc_get_chain_info(struct rpc_client *c, struct rpc_chain_info *out)
{
	json_t *r, *v;
	const char *chain;
	int rc = rpc_call_json(c, "getblockchaininfo", NULL, &r, NULL, NULL);

	if (rc != SD_OK)
		return rc;
	memset(out, 0, sizeof(*out));
	rc = SD_EPARSE;
	chain = json_string_value(json_object_get(r, "chain"));
	if (!chain || strlen(chain) >= sizeof(out->chain))
		goto done;
	memcpy(out->chain, chain, strlen(chain) + 1);
	v = json_object_get(r, "blocks");
	if (!json_is_integer(v) || json_integer_value(v) < -1 ||
	    json_integer_value(v) > INT32_MAX)
		goto done;
	out->blocks = (int32_t)json_integer_value(v);
	v = json_object_get(r, "headers");
	if (!json_is_integer(v) || json_integer_value(v) < -1 ||
	    json_integer_value(v) > INT32_MAX)
		goto done;
	out->headers = (int32_t)json_integer_value(v);
	if (hash_from_json(json_object_get(r, "bestblockhash"),
			   out->best_hash) != SD_OK)
		goto done;
	out->ibd = json_is_true(json_object_get(r, "initialblockdownload"));
	out->verification_progress =
		json_number_value(json_object_get(r, "verificationprogress"));
	v = json_object_get(r, "mediantime");
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		out->median_time = (uint64_t)json_integer_value(v);
	rc = SD_OK;
done:
	json_decref(r);
	return rc;
}

/* ---- mempool helpers ---------------------------------------------------- */

#define MAX_MONEY_BTC 21000000.0
#define TXOUT_BATCH 500

void rpc_txout_info_clear(struct rpc_txout_info *o, size_t n)
{
	for (size_t i = 0; o && i < n; i++) {
		free(o[i].spk);
		memset(&o[i], 0, sizeof(o[i]));
	}
}

/* value (BTC, a JSON number) and scriptPubKey.hex of an output object, as
 * gettxout, a verbose vout entry or a "prevout" show it.  false on junk
 * (including amounts outside 0..21e6 BTC: no double->int64 overflow). */
static bool txout_from_json(json_t *o, struct rpc_txout_info *out)
{
	json_t *v = json_object_get(o, "value");
	const char *hex = json_string_value(json_object_get(
		json_object_get(o, "scriptPubKey"), "hex"));
	double btc;
	size_t n;

	if (!json_is_number(v) || !hex)
		return false;
	btc = json_number_value(v);
	if (!isfinite(btc) || btc < 0 || btc > MAX_MONEY_BTC)
		return false;
	n = strlen(hex);
	if (n % 2 || n / 2 > 10000) /* consensus max script size */
		return false;
	out->spk = sd_xmalloc(n / 2 + 1);
	if (sd_hex_decode(out->spk, n / 2, hex, n) != SD_OK) {
		free(out->spk);
		out->spk = NULL;
		return false;
	}
	out->spk_len = n / 2;
	/* 0 <= btc * 1e8 <= 2.1e15: exact round half up, no libm */
	out->value = (int64_t)(btc * 1e8 + 0.5);
	out->found = true;
	return true;
}

int rpc_parse_txouts(const char *body, size_t len, size_t n,
		     struct rpc_txout_info *out)
{
	json_t *arr = json_loadb(body, len, 0, NULL);
	uint8_t *got;
	int rc = SD_OK;

	for (size_t i = 0; i < n; i++)
		memset(&out[i], 0, sizeof(out[i]));
	if (!arr || !json_is_array(arr) || json_array_size(arr) != n) {
		json_decref(arr);
		return SD_EPARSE;
	}
	got = sd_xcalloc(n ? n : 1, 1);
	for (size_t i = 0; i < n && rc == SD_OK; i++) {
		json_t *e, *r = NULL;
		size_t k;
		int code;

		rc = batch_entry(arr, i, 0, n, got, &e, &k);
		if (rc != SD_OK)
			break;
		switch (rpc_reply_from_json(e, &r, &code, NULL)) {
		case SD_OK:
			/* null: spent or unknown; else an output object */
			if (!json_is_null(r) && (!json_is_object(r) ||
						 !txout_from_json(r, &out[k])))
				rc = SD_EPARSE;
			break;
		case SD_ERPC:
			break; /* (e.g. -5): not found */
		default:
			rc = SD_EPARSE;
		}
		json_decref(r);
	}
	free(got);
	json_decref(arr);
	if (rc != SD_OK)
		rpc_txout_info_clear(out, n);
	return rc;
}

static int txouts_batch(struct rpc_client *c, const uint8_t (*txids)[32],
			const uint32_t *vouts, size_t n,
			struct rpc_txout_info *out)
{
	size_t cap = 2 + n * 160, len = 0;
	char *body = sd_xmalloc(cap), hex[65];
	int rc;

	body[len++] = '[';
	for (size_t i = 0; i < n; i++) {
		sd_hex_encode_rev(hex, txids[i], 32);
		len += (size_t)snprintf(body + len, cap - len,
			"%s{\"jsonrpc\":\"1.0\",\"id\":%zu,"
			"\"method\":\"gettxout\",\"params\":[\"%s\",%lu,"
			"false]}", i ? "," : "", i, hex,
			(unsigned long)vouts[i]);
	}
	rc = batch_post(c, body, len);
	if (rc == SD_OK)
		rc = rpc_parse_txouts((const char *)c->resp.p, c->resp.len,
				      n, out);
	if (rc != SD_OK)
		rpc_stats_add(0, 1, 0);
	return rc;
}

int rpc_get_txouts(struct rpc_client *c, const uint8_t (*txids)[32],
		   const uint32_t *vouts, size_t n, struct rpc_txout_info *out)
{
	int rc = SD_OK;

	if (n > 100000)
		return SD_EINVAL;
	for (size_t i = 0; i < n; i++)
		memset(&out[i], 0, sizeof(out[i]));
	for (size_t at = 0; at < n && rc == SD_OK; at += TXOUT_BATCH) {
		size_t k = n - at < TXOUT_BATCH ? n - at : TXOUT_BATCH;

		rc = txouts_batch(c, txids + at, vouts + at, k, out + at);
	}
	if (rc != SD_OK)
		rpc_txout_info_clear(out, n);
	return rc;
}

int rpc_get_raw_tx(struct rpc_client *c, const uint8_t txid[32],
		   size_t max_len, uint8_t **raw, size_t *len)
{
	char params[80], hex[65];
	const char *s;
	json_t *r;
	size_t n;
	int code = 0, rc;

	*raw = NULL;
	*len = 0;
	sd_hex_encode_rev(hex, txid, 32);
	snprintf(params, sizeof(params), "[\"%s\",0]", hex);
	rc = rpc_call_json(c, "getrawtransaction", params, &r, &code, NULL);
	if (rc != SD_OK)
		return map_notfound(rc, code);
	s = json_string_value(r);
	n = s ? strlen(s) : 0;
	if (!s || n % 2 || n == 0) {
		rc = SD_EPARSE;
	} else if (n / 2 > max_len) {
		rc = SD_EINVAL;
	} else {
		*raw = sd_xmalloc(n / 2);
		rc = sd_hex_decode(*raw, n / 2, s, n) == SD_OK ? SD_OK
							     : SD_EPARSE;
		if (rc == SD_OK) {
			*len = n / 2;
		} else {
			free(*raw);
			*raw = NULL;
		}
	}
	json_decref(r);
	return rc;
}

static int prevouts_from_json(json_t *r, size_t n_in,
			      struct rpc_txout_info *out)
{
	json_t *vin = json_object_get(r, "vin");

	for (size_t i = 0; i < n_in; i++)
		memset(&out[i], 0, sizeof(out[i]));
	if (!json_is_array(vin) || json_array_size(vin) != n_in)
		return SD_EPARSE;
	for (size_t i = 0; i < n_in; i++) {
		json_t *p = json_object_get(json_array_get(vin, i), "prevout");

		if (!p) {
			rpc_txout_info_clear(out, n_in);
			return SD_ENOTFOUND; /* this node shows none */
		}
		if (!json_is_object(p) || !txout_from_json(p, &out[i])) {
			rpc_txout_info_clear(out, n_in);
			return SD_EPARSE;
		}
	}
	return SD_OK;
}

int rpc_parse_tx_prevouts(const char *json, size_t len, size_t n_in,
			  struct rpc_txout_info *out)
{
	json_t *r = json_loadb(json, len, JSON_DECODE_ANY, NULL);
	int rc;

	if (!r) {
		for (size_t i = 0; i < n_in; i++)
			memset(&out[i], 0, sizeof(out[i]));
		return SD_EPARSE;
	}
	rc = prevouts_from_json(r, n_in, out);
	json_decref(r);
	return rc;
}

int rpc_get_tx_prevouts(struct rpc_client *c, const uint8_t txid[32],
			size_t n_in, struct rpc_txout_info *out)
{
	char params[80], hex[65];
	json_t *r;
	int code = 0, rc;

	sd_hex_encode_rev(hex, txid, 32);
	snprintf(params, sizeof(params), "[\"%s\",2]", hex);
	rc = rpc_call_json(c, "getrawtransaction", params, &r, &code, NULL);
	if (rc != SD_OK)
		return map_notfound(rc, code);
	rc = prevouts_from_json(r, n_in, out);
	json_decref(r);
	return rc;
}

int rpc_mempool_has(struct rpc_client *c, const uint8_t txid[32],
		    bool *in_pool)
{
	char params[80], hex[65];
	json_t *r;
	int code = 0, rc;

	*in_pool = false;
	sd_hex_encode_rev(hex, txid, 32);
	snprintf(params, sizeof(params), "[\"%s\"]", hex);
	rc = rpc_call_json(c, "getmempoolentry", params, &r, &code, NULL);
	if (rc == SD_ERPC)
		return SD_OK; /* -5: not in the mempool */
	if (rc != SD_OK)
		return rc;
	*in_pool = json_is_object(r);
	json_decref(r);
	return SD_OK;
}

static int cmp32(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static int raw_mempool_from_json(json_t *r, uint8_t (**txids)[32], size_t *n)
{
	size_t m;

	*txids = NULL;
	*n = 0;
	if (!json_is_array(r))
		return SD_EPARSE;
	m = json_array_size(r);
	if (m == 0)
		return SD_OK;
	*txids = sd_xcalloc(m, 32);
	for (size_t i = 0; i < m; i++) {
		const char *h = json_string_value(json_array_get(r, i));

		if (h && strlen(h) == 64 &&
		    sd_hash_from_hex((*txids)[*n], h) == SD_OK)
			(*n)++;
	}
	qsort(*txids, *n, 32, cmp32);
	return SD_OK;
}

int rpc_parse_raw_mempool(const char *json, size_t len, uint8_t (**txids)[32],
			  size_t *n)
{
	json_t *r = json_loadb(json, len, JSON_DECODE_ANY, NULL);
	int rc = raw_mempool_from_json(r, txids, n);

	json_decref(r);
	return rc;
}

int rpc_get_raw_mempool(struct rpc_client *c, uint8_t (**txids)[32],
			size_t *n)
{
	json_t *r;
	int rc = rpc_call_json(c, "getrawmempool", NULL, &r, NULL, NULL);

	*txids = NULL;
	*n = 0;
	if (rc != SD_OK)
		return rc;
	rc = raw_mempool_from_json(r, txids, n);
	json_decref(r);
	return rc;
}

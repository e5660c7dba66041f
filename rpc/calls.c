/* calls.c - typed helpers over rpc_call: block count and hashes (batched
 * getblockhash), best block hash, chain info. */
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../signetd/util.h"
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

int rpc_parse_batch_hashes(const char *body, size_t len, int32_t from,
			   size_t n, uint8_t (*hashes)[32])
{
	json_error_t jerr;
	json_t *arr = json_loadb(body, len, 0, &jerr);
	int rc = SD_OK;
	size_t seen = 0;
	uint8_t *got;

	if (!arr || !json_is_array(arr) || json_array_size(arr) != n) {
		json_decref(arr);
		return SD_EPARSE;
	}
	got = sd_xcalloc(n ? n : 1, 1);
	for (size_t i = 0; i < n && rc == SD_OK; i++) {
		json_t *e = json_array_get(arr, i), *r;
		json_t *id = json_object_get(e, "id");
		int code;
		json_int_t k;

		if (!json_is_integer(id)) {
			rc = SD_EPARSE;
			break;
		}
		k = json_integer_value(id) - from;
		if (k < 0 || (size_t)k >= n || got[k]) {
			rc = SD_EPARSE;
			break;
		}
		rc = rpc_reply_from_json(e, &r, &code, NULL);
		if (rc != SD_OK) {
			rc = map_notfound(rc, code);
			break;
		}
		rc = hash_from_json(r, hashes[k]);
		json_decref(r);
		got[k] = 1;
		seen++;
	}
	if (rc == SD_OK && seen != n)
		rc = SD_EPARSE;
	free(got);
	json_decref(arr);
	return rc;
}

int rpc_get_block_hashes(struct rpc_client *c, int32_t from, size_t n,
			 uint8_t (*hashes)[32])
{
	size_t cap, len = 0;
	char *body;
	long status = 0;
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
	body[len++] = ']';
	body[len] = '\0';
	rc = rpc_http(c, c->rpc_url, body, len, &status, NULL);
	free(body);
	if (rc != SD_OK)
		return rc;
	if (status == 503)
		rc = SD_ECONN;
	else
		rc = rpc_parse_batch_hashes((const char *)c->resp.data,
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
	strcpy(out->chain, chain);
	v = json_object_get(r, "blocks");
	if (!json_is_integer(v))
		goto done;
	out->blocks = (int32_t)json_integer_value(v);
	v = json_object_get(r, "headers");
	if (!json_is_integer(v))
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

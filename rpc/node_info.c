/* node_info.c - typed calls for the rest of signetd that are not about
 * blocks: the node facts /status reports (getblockchaininfo, getblockheader,
 * getnetworkinfo, getmempoolinfo, folded leniently: a number out of range
 * reads as unknown), sendrawtransaction for /forward-tx, and the generic
 * call with positional arguments the miner's --cli-compatible commands use.
 * Callers never see JSON they did not get as text. */
#include "rpc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "client_priv.h"

/* ---- node facts (signetd/status.c) ------------------------------------ */

/* An integer member in [lo, hi] (a JSON real is accepted when finite and
 * in range; it is truncated), else def: outside numbers never reach a
 * narrowing or double->int conversion out of range. */
static int64_t jint(json_t *o, const char *key, int64_t lo, int64_t hi,
		    int64_t def)
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		return i >= lo && i <= hi ? (int64_t)i : def;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);

		/* [lo, hi] as doubles; 2^63 itself is out */
		if (isfinite(d) && d >= (double)lo && d < (double)hi)
			return (int64_t)d;
	}
	return def;
}

static void jstr(json_t *o, const char *key, char *out, size_t outlen)
{
	json_t *v = json_object_get(o, key);

	snprintf(out, outlen, "%s", json_is_string(v) ? json_string_value(v)
						      : "");
}

/* Header times: uint32 in the block header. */
#define TIME_MAX ((int64_t)UINT32_MAX)

int rpc_parse_node_info(const char *method, const char *json, size_t len,
			struct rpc_node_info *n)
{
	json_t *j = json_loadb(json, len, JSON_DECODE_ANY, NULL);
	double vp;

	if (!json_is_object(j)) {
		json_decref(j);
		return SD_EPARSE;
	}
	if (strcmp(method, "getblockchaininfo") == 0) {
		jstr(j, "chain", n->chain, sizeof(n->chain));
		n->blocks = (int32_t)jint(j, "blocks", -1, INT32_MAX, -1);
		n->headers = (int32_t)jint(j, "headers", -1, INT32_MAX, -1);
		jstr(j, "bestblockhash", n->best_hash, sizeof(n->best_hash));
		n->ibd = json_is_true(json_object_get(j,
						      "initialblockdownload"));
		vp = json_number_value(json_object_get(j,
						       "verificationprogress"));
		n->verification_progress = isfinite(vp) && vp > 0 ?
						   (vp > 1 ? 1 : vp) : 0;
		n->tip_time = (uint64_t)jint(j, "time", 0, TIME_MAX, 0);
	} else if (strcmp(method, "getblockheader") == 0) {
		n->tip_time = (uint64_t)jint(j, "time", 0, TIME_MAX, 0);
	} else if (strcmp(method, "getnetworkinfo") == 0) {
		jstr(j, "subversion", n->subversion, sizeof(n->subversion));
		n->version = jint(j, "version", 0, INT32_MAX, 0);
		n->peers = jint(j, "connections", 0, INT32_MAX, 0);
	} else if (strcmp(method, "getmempoolinfo") == 0) {
		n->mempool_txs = jint(j, "size", 0, INT64_MAX, 0);
		n->mempool_bytes = jint(j, "bytes", 0, INT64_MAX, 0);
	} else {
		json_decref(j);
		return SD_EINVAL;
	}
	json_decref(j);
	return SD_OK;
}

/* One call, folded into *n.  SD_OK, or the failure with err filled. */
static int fold_call(struct rpc_client *c, const char *method,
		     const char *params, struct rpc_node_info *n, char *err)
{
	char *res = NULL;
	int code = 0, rc;

	err[0] = '\0';
	rc = rpc_call(c, method, params, &res, &code, err);
	if (rc != SD_OK) {
		if (!err[0])
			snprintf(err, SD_ERRLEN, "%s", sd_strerror(rc));
		return rc;
	}
	rc = rpc_parse_node_info(method, res, strlen(res), n);
	free(res);
	if (rc != SD_OK) {
		snprintf(err, SD_ERRLEN, "%s: unparsable answer", method);
		return SD_EPARSE;
	}
	return SD_OK;
}

int rpc_get_node_info(struct rpc_client *c, struct rpc_node_info *n,
		      char *err)
{
	int rc = fold_call(c, "getblockchaininfo", NULL, n, err);

	if (rc != SD_OK)
		return rc;
	if (n->tip_time == 0 && strlen(n->best_hash) == 64 &&
	    strspn(n->best_hash, "0123456789abcdefABCDEF") == 64) {
		/* nodes before v28 have no "time" in getblockchaininfo */
		char params[80];

		snprintf(params, sizeof(params), "[\"%s\"]", n->best_hash);
		rc = fold_call(c, "getblockheader", params, n, err);
		if (rc != SD_OK)
			return rc;
	}
	rc = fold_call(c, "getnetworkinfo", NULL, n, err);
	if (rc == SD_OK)
		rc = fold_call(c, "getmempoolinfo", NULL, n, err);
	return rc;
}

/* ---- sendrawtransaction (the /forward-tx relay) ------------------------ */

int rpc_send_raw_tx(struct rpc_client *c, const char *hex,
		    char txid_hex[65], char *err)
{
	json_t *params, *j;
	char *pj, *res = NULL;
	int code = 0, rc;

	params = json_pack("[s]", hex);
	pj = params ? json_dumps(params, JSON_COMPACT) : NULL;
	json_decref(params);
	if (!pj) {
		snprintf(err, SD_ERRLEN, "bad transaction hex");
		return SD_EINVAL;
	}
	rc = rpc_call(c, "sendrawtransaction", pj, &res, &code, err);
	free(pj);
	if (rc != SD_OK) {
		/* the node's own refusal is passed on; nothing about how
		 * it is reached (host, port, curl's text) */
		if (rc != SD_ERPC)
			snprintf(err, SD_ERRLEN, "node unavailable: %s",
				 sd_strerror(rc));
		return rc;
	}
	j = json_loads(res, JSON_DECODE_ANY, NULL);
	free(res);
	if (!json_is_string(j) || strlen(json_string_value(j)) != 64) {
		json_decref(j);
		snprintf(err, SD_ERRLEN, "node sent no txid");
		return SD_EPARSE;
	}
	memcpy(txid_hex, json_string_value(j), 65);
	json_decref(j);
	return SD_OK;
}

/* ---- the generic call (miner --cli compatibility) ---------------------- */

int rpc_call_args(struct rpc_client *c, const char *method,
		  const struct rpc_arg *args, size_t nargs,
		  char **result_json, int *rpc_code, char *err)
{
	json_t *params = json_array();
	char *ptext;
	int rc;

	for (size_t i = 0; i < nargs; i++) {
		json_t *v = NULL;

		if (args[i].json)
			v = json_loads(args[i].s, JSON_DECODE_ANY, NULL);
		if (!v)
			v = json_string(args[i].s);
		json_array_append_new(params, v);
	}
	ptext = json_dumps(params, JSON_COMPACT);
	json_decref(params);
	rc = rpc_call(c, method, ptext, result_json, rpc_code, err);
	free(ptext);
	return rc;
}

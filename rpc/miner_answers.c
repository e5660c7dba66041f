/* miner_answers.c - the node's answers the signet miner reads, as C types.
 * The text comes from JSON-RPC (rpc_call_args) or from bitcoin-cli's
 * stdout (the miner's --cli); either way the JSON stays in here.  The
 * checks and error texts are the miner's own (miner/generate.c, build.c).
 */
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "client_priv.h"

char *rpc_cli_result_json(const char *text)
{
	size_t len = strlen(text);
	json_t *j;
	char *out;

	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' ||
		       text[len - 1] == ' '))
		len--;
	if (len == 0)
		return sd_xstrdup("null");
	j = json_loadb(text, len, JSON_DECODE_ANY, NULL);
	if (!j) /* bitcoin-cli prints string results bare */
		j = json_stringn(text, len);
	if (!j)
		return NULL;
	out = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
	return out;
}

/* hex of even length -> malloc'd bytes (one spare byte, never NULL). */
static int hexbytes(const char *hex, uint8_t **out, size_t *n)
{
	size_t len = strlen(hex);

	if (len % 2)
		return SD_EPARSE;
	*out = sd_xmalloc(len / 2 + 1);
	*n = len / 2;
	if (sd_hex_decode(*out, *n, hex, len)) {
		free(*out);
		*out = NULL;
		return SD_EPARSE;
	}
	return SD_OK;
}

void rpc_block_template_clear(struct rpc_block_template *t)
{
	for (size_t i = 0; i < t->n_tx; i++)
		free(t->tx[i].raw);
	free(t->tx);
	free(t->challenge);
	memset(t, 0, sizeof(*t));
}

int rpc_parse_block_template(const char *json, size_t len, bool any_top,
			     struct rpc_block_template *t, char *err)
{
	json_error_t je;
	json_t *g = json_loadb(json, len, any_top ? JSON_DECODE_ANY : 0, &je);
	const char *prev, *bits, *chal;
	json_t *txs, *v;
	size_t i;
	uint8_t b4[4];
	int rc = SD_EPARSE;

	memset(t, 0, sizeof(*t));
	if (!g) {
		snprintf(err, SD_ERRLEN, "%s", je.text);
		return SD_EPARSE;
	}
	prev = json_string_value(json_object_get(g, "previousblockhash"));
	bits = json_string_value(json_object_get(g, "bits"));
	chal = json_string_value(json_object_get(g, "signet_challenge"));
	txs = json_object_get(g, "transactions");
	if (!prev || !bits || !json_is_integer(json_object_get(g, "height")) ||
	    !json_is_integer(json_object_get(g, "coinbasevalue")) ||
	    !json_is_integer(json_object_get(g, "curtime")) ||
	    !json_is_array(txs)) {
		snprintf(err, SD_ERRLEN, "template lacks fields");
		goto out;
	}
	if (!chal) {
		snprintf(err, SD_ERRLEN,
			 "template has no signet_challenge (not a signet node?)");
		goto out;
	}
	if (sd_hash_from_hex(t->prev, prev) || strlen(prev) != 64 ||
	    strlen(bits) != 8 || sd_hex_decode(b4, 4, bits, 8)) {
		snprintf(err, SD_ERRLEN, "bad previousblockhash or bits");
		goto out;
	}
	memcpy(t->prev_hex, prev, 65);
	t->bits = sd_be32_get(b4);
	t->height = (int32_t)json_integer_value(json_object_get(g, "height"));
	t->version = (int32_t)json_integer_value(json_object_get(g, "version"));
	t->curtime = json_integer_value(json_object_get(g, "curtime"));
	v = json_object_get(g, "mintime");
	t->mintime = json_is_integer(v) ? json_integer_value(v) : 0;
	t->coinbasevalue = json_integer_value(json_object_get(g,
							      "coinbasevalue"));
	if (hexbytes(chal, &t->challenge, &t->challenge_len)) {
		snprintf(err, SD_ERRLEN, "bad signet_challenge");
		goto out;
	}
	t->tx = sd_xcalloc(json_array_size(txs) + 1, sizeof(*t->tx));
	json_array_foreach(txs, i, v) {
		const char *data = json_string_value(json_object_get(v, "data"));

		if (!data || hexbytes(data, &t->tx[i].raw, &t->tx[i].len)) {
			snprintf(err, SD_ERRLEN, "template tx %zu: bad data", i);
			rpc_block_template_clear(t);
			goto out;
		}
		t->n_tx++;
	}
	rc = SD_OK;
out:
	json_decref(g);
	return rc;
}

int rpc_parse_string_member(const char *json, size_t len, const char *key,
			    char **out)
{
	json_t *j = json_loadb(json, len, JSON_DECODE_ANY, NULL);
	const char *s = key ? json_string_value(json_object_get(j, key))
			    : json_string_value(json_array_get(j, 0));

	*out = s ? sd_xstrdup(s) : NULL;
	json_decref(j);
	return *out ? SD_OK : SD_ENOTFOUND;
}

int rpc_parse_header_fields(const char *json, size_t len, uint32_t *bits,
			    int32_t *height, int64_t *time)
{
	json_t *j = json_loadb(json, len, JSON_DECODE_ANY, NULL);
	const char *b = json_string_value(json_object_get(j, "bits"));
	uint8_t b4[4];
	int rc = SD_EPARSE;

	if (b && strlen(b) == 8 && !sd_hex_decode(b4, 4, b, 8) &&
	    json_is_integer(json_object_get(j, "height"))) {
		*height = (int32_t)json_integer_value(json_object_get(j,
								      "height"));
		*time = json_integer_value(json_object_get(j, "time"));
		*bits = sd_be32_get(b4);
		rc = SD_OK;
	}
	json_decref(j);
	return rc;
}

int rpc_parse_address_spk(const char *json, size_t len, uint8_t **spk,
			  size_t *spk_len)
{
	json_t *j = json_loadb(json, len, JSON_DECODE_ANY, NULL);
	const char *hex = json_string_value(json_object_get(j, "scriptPubKey"));
	int rc = SD_EINVAL;

	*spk = NULL;
	if (json_is_true(json_object_get(j, "isvalid")) && hex &&
	    !hexbytes(hex, spk, spk_len))
		rc = SD_OK;
	json_decref(j);
	return rc;
}

int rpc_parse_psbt_result(const char *json, size_t len, char **psbt)
{
	json_t *j = json_loadb(json, len, JSON_DECODE_ANY, NULL);
	const char *s = json_string_value(json_object_get(j, "psbt"));
	int rc = SD_EINVAL;

	*psbt = NULL;
	if (json_is_true(json_object_get(j, "complete")) && s) {
		*psbt = sd_xstrdup(s);
		rc = SD_OK;
	}
	json_decref(j);
	return rc;
}

void rpc_parse_submit_result(const char *json, size_t len, char **reject)
{
	json_t *j = json_loadb(json, len, JSON_DECODE_ANY, NULL);

	*reject = NULL;
	if (!json_is_null(j))
		*reject = sd_xstrdup(json_is_string(j) ? json_string_value(j)
						       : "unknown");
	json_decref(j);
}

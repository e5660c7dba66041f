/* json_block.c - `getblock <hash> 3` JSON -> struct btc_block.
 *
 * The JSON carries each tx's serialization ("hex") and the header fields,
 * so the block is rebuilt as wire bytes and goes through the same parser as
 * the REST path; the prevouts become a spenttxouts-format buffer for
 * btc_block_attach_spent().  Both sources therefore yield identical structs,
 * and the JSON's hash and txids are checked against the recomputed ones.
 *
 * Amounts: the node prints BTC with 8 decimals; jansson reads them with
 * strtod (correctly rounded).  For |v| <= 21e6 the double is within 2^-29
 * of the decimal, so v*1e8 is within 0.19 + 0.125 (product rounding) of the
 * integer satoshi value, so rounding to nearest returns it exactly.
 */
#include "rpc.h"

#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "client_priv.h"
#include "../bitcoin/wire.h"

int rpc_block_from_json_t(json_t *j, struct btc_block **out);

static bool get_u32(json_t *o, const char *key, uint32_t *v)
{
	json_t *x = json_object_get(o, key);

	if (!json_is_integer(x) || json_integer_value(x) < INT32_MIN ||
	    json_integer_value(x) > (json_int_t)UINT32_MAX)
		return false;
	*v = (uint32_t)json_integer_value(x);
	return true;
}

static bool get_hash(json_t *o, const char *key, uint8_t out[32])
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && strlen(s) == 64 && sd_hash_from_hex(out, s) == SD_OK;
}

/* Satoshis from a JSON amount in BTC, exactly (see top comment). */
static bool get_sats(json_t *x, int64_t *sats)
{
	double v;

	if (json_is_integer(x)) {
		json_int_t i = json_integer_value(x);
		if (i < 0 || i > 21000000)
			return false;
		*sats = (int64_t)i * 100000000;
		return true;
	}
	if (!json_is_real(x))
		return false;
	v = json_real_value(x);
	if (!(v >= 0.0 && v <= 21000000.0))
		return false;
	/* v*1e8 >= 0 and is a multiple of its ulp <= 0.25: +0.5 is exact,
	 * and truncation rounds to nearest */
	*sats = (int64_t)(v * 1e8 + 0.5);
	return *sats <= BTC_MAX_MONEY;
}

/* Header + CompactSize(n_tx) + every tx's "hex" -> wire bytes. */
static uint8_t *build_raw(json_t *j, json_t *txs, size_t *len)
{
	uint8_t *raw, *p;
	size_t n_tx = json_array_size(txs), total = 80 + 9;
	uint32_t version, time, nonce, bits;
	const char *bits_s;
	uint8_t bits_be[4];

	for (size_t i = 0; i < n_tx; i++) {
		json_t *tx = json_array_get(txs, i);
		size_t hl = json_string_length(json_object_get(tx, "hex"));
		if (!json_is_string(json_object_get(tx, "hex")) || hl % 2 ||
		    hl == 0)
			return NULL;
		total += hl / 2;
	}
	bits_s = json_string_value(json_object_get(j, "bits"));
	if (!get_u32(j, "version", &version) || !get_u32(j, "time", &time) ||
	    !get_u32(j, "nonce", &nonce) || !bits_s || strlen(bits_s) != 8 ||
	    sd_hex_decode(bits_be, 4, bits_s, 8) != SD_OK)
		return NULL;
	bits = sd_be32_get(bits_be);
	raw = sd_xmalloc(total);
	p = raw;
	sd_le32_put(p, version);
	if (json_object_get(j, "previousblockhash")) {
		if (!get_hash(j, "previousblockhash", p + 4))
			goto bad;
	} else {
		memset(p + 4, 0, 32); /* genesis */
	}
	if (!get_hash(j, "merkleroot", p + 36))
		goto bad;
	sd_le32_put(p + 68, time);
	sd_le32_put(p + 72, bits);
	sd_le32_put(p + 76, nonce);
	p += 80;
	p += btc_cs_put(p, n_tx);
	for (size_t i = 0; i < n_tx; i++) {
		json_t *h = json_object_get(json_array_get(txs, i), "hex");
		size_t hl = json_string_length(h);
		if (sd_hex_decode(p, hl / 2, json_string_value(h), hl) != SD_OK)
			goto bad;
		p += hl / 2;
	}
	*len = (size_t)(p - raw);
	return raw;
bad:
	free(raw);
	return NULL;
}

/* The prevouts of every tx's "vin" (coinbase: none) in spenttxouts format,
 * checked against the parsed block's shape. */
static uint8_t *build_spent(const struct btc_block *b, json_t *txs,
			    size_t *len)
{
	size_t total = 9, off = 0;
	uint8_t *buf;

	/* pass 0 sizes, pass 1 writes */
	for (int pass = 0; pass < 2; pass++) {
		buf = pass ? sd_xmalloc(total) : NULL;
		if (pass)
			off = btc_cs_put(buf, b->n_tx);
		for (size_t i = 0; i < b->n_tx; i++) {
			json_t *vin = json_object_get(json_array_get(txs, i),
						      "vin");
			size_t k = i == 0 ? 0 : b->tx[i].n_in;

			if (json_array_size(vin) != b->tx[i].n_in)
				goto bad;
			if (pass)
				off += btc_cs_put(buf + off, k);
			else
				total += 9;
			for (size_t x = 0; x < k; x++) {
				json_t *po = json_object_get(
					json_array_get(vin, x), "prevout");
				json_t *spk = json_object_get(
					json_object_get(po, "scriptPubKey"),
					"hex");
				size_t hl = json_string_length(spk);
				int64_t sats;

				if (!json_is_string(spk) || hl % 2 ||
				    !get_sats(json_object_get(po, "value"),
					      &sats))
					goto bad;
				if (!pass) {
					total += 8 + 9 + hl / 2;
					continue;
				}
				sd_le64_put(buf + off, (uint64_t)sats);
				off += 8;
				off += btc_cs_put(buf + off, hl / 2);
				if (sd_hex_decode(buf + off, hl / 2,
						  json_string_value(spk), hl) !=
				    SD_OK)
					goto bad;
				off += hl / 2;
			}
		}
	}
	*len = off;
	return buf;
bad:
	free(buf);
	return NULL;
}

int rpc_block_from_json_t(json_t *j, struct btc_block **out)
{
	json_t *txs = json_object_get(j, "tx");
	struct btc_block *b = NULL;
	uint8_t *raw, *spent, want[32];
	size_t raw_len, spent_len;
	json_t *hj;
	int rc;

	*out = NULL;
	if (!json_is_object(j) || !json_is_array(txs) ||
	    json_array_size(txs) == 0 || json_array_size(txs) > 1000000 ||
	    !get_hash(j, "hash", want))
		return SD_EPARSE;
	raw = build_raw(j, txs, &raw_len);
	if (!raw)
		return SD_EPARSE;
	rc = btc_block_parse(raw, raw_len, &b);
	free(raw);
	if (rc != SD_OK)
		return SD_EPARSE;
	if (memcmp(b->hash, want, 32) != 0)
		goto bad;
	for (size_t i = 0; i < b->n_tx; i++) {
		if (!get_hash(json_array_get(txs, i), "txid", want) ||
		    memcmp(b->tx[i].txid, want, 32) != 0)
			goto bad;
	}
	spent = build_spent(b, txs, &spent_len);
	if (!spent)
		goto bad;
	rc = btc_block_attach_spent(b, spent, spent_len);
	free(spent);
	if (rc != SD_OK)
		goto bad;
	hj = json_object_get(j, "height");
	if (json_is_integer(hj) && json_integer_value(hj) >= 0 &&
	    json_integer_value(hj) <= INT32_MAX)
		b->height = (int32_t)json_integer_value(hj);
	*out = b;
	return SD_OK;
bad:
	btc_block_free(b);
	return SD_EPARSE;
}

int rpc_block_from_json(const char *json, size_t len, struct btc_block **out)
{
	json_error_t jerr;
	json_t *j;
	int rc;

	*out = NULL;
	if (!json)
		return SD_EPARSE;
	j = json_loadb(json, len, 0, &jerr);
	if (!j)
		return SD_EPARSE;
	rc = rpc_block_from_json_t(j, out);
	json_decref(j);
	return rc;
}

/* http_json.c - the API's JSON bodies with jansson, in blindbit-oracle
 * v1's shapes: struct fields in declaration order, gin.H maps with keys
 * sorted, compact, no trailing newline. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"
#include "http_int.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)

/* Serialize and release j (http_int.h). */
struct http_body *http_json_body(struct json_t *j)
{
	char *s = json_dumps(j, DUMP_FLAGS);

	json_decref(j);
	if (!s)
		abort(); /* only on OOM */
	return http_body_new(s, strlen(s));
}

struct json_t *http_json_hex(const uint8_t *p, size_t n, bool rev)
{
	char buf[2 * 64 + 1];

	if (rev)
		sd_hex_encode_rev(buf, p, n);
	else
		sd_hex_encode(buf, p, n);
	return json_stringn(buf, 2 * n);
}

static json_t *hex_str_long(const uint8_t *p, size_t n)
{
	char *buf = sd_xmalloc(2 * n + 1);
	json_t *s;

	sd_hex_encode(buf, p, n);
	s = json_stringn_nocheck(buf, 2 * n);
	free(buf);
	return s;
}

struct http_body *http_json_error(const char *msg)
{
	return http_json_body(json_pack("{s:s}", "error", msg));
}

struct http_body *http_json_info(const char *network, int32_t height,
				 const struct oracle_config *cfg)
{
	json_t *j = json_object();

	json_object_set_new(j, "network", json_string(network));
	json_object_set_new(j, "height", json_integer(height));
	json_object_set_new(j, "tweaks_only", json_boolean(cfg->tweaks_only));
	json_object_set_new(j, "tweaks_full_basic",
			    json_boolean(cfg->tweaks_full_basic));
	json_object_set_new(j, "tweaks_full_with_dust_filter",
			    json_boolean(cfg->tweaks_full_with_dust_filter));
	json_object_set_new(
		j, "tweaks_cut_through_with_dust_filter",
		json_boolean(cfg->tweaks_cut_through_with_dust_filter));
	return http_json_body(j);
}

struct http_body *http_json_block_height(int32_t height)
{
	return http_json_body(json_pack("{s:I}", "block_height", (json_int_t)height));
}

struct http_body *http_json_block_hash(const uint8_t hash[32])
{
	json_t *j = json_object();

	json_object_set_new(j, "block_hash", http_json_hex(hash, 32, true));
	return http_json_body(j);
}

struct http_body *http_json_tweak_recs(const uint8_t *recs, size_t n,
				       size_t rec_len, uint64_t dust)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		const uint8_t *r = recs + i * rec_len;

		if (dust && rec_len >= 41 && sd_be64_get(r + 33) < dust)
			continue;
		json_array_append_new(a, http_json_hex(r, 33, false));
	}
	return http_json_body(a);
}

/* gin.H: keys sorted. */
struct http_body *http_json_filter(const uint8_t hash[32], uint32_t height,
				   const uint8_t *data, size_t len)
{
	json_t *j = json_object();

	json_object_set_new(j, "block_hash", http_json_hex(hash, 32, true));
	json_object_set_new(j, "block_height", json_integer(height));
	json_object_set_new(j, "data", hex_str_long(data, len));
	json_object_set_new(j, "filter_type", json_integer(4));
	return http_json_body(j);
}

struct http_body *http_json_spent_index(const uint8_t hash[32],
					const uint8_t *data, size_t n)
{
	json_t *j = json_object(), *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, http_json_hex(data + 8 * i, 8, false));
	json_object_set_new(j, "block_hash", http_json_hex(hash, 32, true));
	json_object_set_new(j, "data", a);
	return http_json_body(j);
}

struct http_body *http_json_txid(const char *txid_hex)
{
	return http_json_body(json_string(txid_hex));
}

struct http_json_list {
	json_t *a;
};

struct http_json_list *http_json_list_new(void)
{
	struct http_json_list *l = sd_xmalloc(sizeof(*l));

	l->a = json_array();
	return l;
}

void http_json_list_tweak(struct http_json_list *l, const uint8_t tweak[33])
{
	json_array_append_new(l->a, http_json_hex(tweak, 33, false));
}

/* types.UTXO field order. */
void http_json_list_utxo(struct http_json_list *l, const struct oracle_utxo *u)
{
	json_t *o = json_object();

	json_object_set_new(o, "txid", http_json_hex(u->txid, 32, true));
	json_object_set_new(o, "vout", json_integer(u->vout));
	json_object_set_new(o, "value", json_integer((json_int_t)u->value));
	json_object_set_new(o, "scriptpubkey", http_json_hex(u->spk, 34, false));
	json_object_set_new(o, "block_height", json_integer(u->block_height));
	json_object_set_new(o, "block_hash", http_json_hex(u->block_hash, 32, true));
	json_object_set_new(o, "timestamp",
			    json_integer((json_int_t)u->timestamp));
	json_object_set_new(o, "spent", json_boolean(u->spent));
	json_array_append_new(l->a, o);
}

void http_json_list_mempool(struct http_json_list *l, const uint8_t txid[32],
			    const uint8_t tweak[33], uint64_t highest_value)
{
	json_t *o = json_object();

	json_object_set_new(o, "txid", http_json_hex(txid, 32, true));
	json_object_set_new(o, "tweak", http_json_hex(tweak, 33, false));
	json_object_set_new(o, "highest_value",
			    json_integer((json_int_t)highest_value));
	json_array_append_new(l->a, o);
}

struct http_body *http_json_list_finish(struct http_json_list *l)
{
	struct http_body *b = http_json_body(l->a);

	free(l);
	return b;
}

/* test_regtest_a.c - the regtest-a corpus (tests/data/regtest-a) through
 * the compute layer: every block is parsed, its prevouts are attached from
 * the outputs of earlier blocks, and for all 400 heights the tweaks
 * (oracle_block_compute on a 2-thread pool) must equal
 * expected-tweaks.jsonl (BIP352 truth) exactly, and the new-utxos filter,
 * spent filter and spent index must equal upstream blindbit v1's answers
 * recorded in blindbit-v1.jsonl.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/util.h"
#include "../../../tests/lib/check.h"
#include "../oracle.h"

#define MAX_HEIGHT 400
#define UTXO_SLOTS (1u << 18)

struct utxo {
	bool used;
	uint8_t outpoint[36];
	const struct btc_txout *out;
};

static struct utxo *utxos;

static size_t utxo_slot(const uint8_t op[36])
{
	uint64_t h = sd_le64_get(op) ^
		     ((uint64_t)sd_le32_get(op + 32) * 0x9e3779b97f4a7c15ULL);

	return (size_t)(h & (UTXO_SLOTS - 1));
}

static void utxo_put(const uint8_t txid[32], uint32_t vout,
		     const struct btc_txout *out)
{
	uint8_t op[36];
	size_t i;

	memcpy(op, txid, 32);
	sd_le32_put(op + 32, vout);
	for (i = utxo_slot(op); utxos[i].used; i = (i + 1) & (UTXO_SLOTS - 1))
		CHECK(memcmp(utxos[i].outpoint, op, 36) != 0);
	utxos[i].used = true;
	memcpy(utxos[i].outpoint, op, 36);
	utxos[i].out = out;
}

static const struct btc_txout *utxo_get(const uint8_t txid[32],
					uint32_t vout)
{
	uint8_t op[36];
	size_t i;

	memcpy(op, txid, 32);
	sd_le32_put(op + 32, vout);
	for (i = utxo_slot(op); utxos[i].used; i = (i + 1) & (UTXO_SLOTS - 1))
		if (memcmp(utxos[i].outpoint, op, 36) == 0)
			return utxos[i].out;
	return NULL;
}

/* Attach prevouts to b from the map; then add b's outputs to it (inputs
 * first: a tx may spend an output of an earlier tx of the same block,
 * handled by adding outputs tx by tx). */
static void attach_prevouts(struct btc_block *b)
{
	size_t t, i;

	for (t = 0; t < b->n_tx; t++) {
		struct btc_tx *tx = &b->tx[t];

		for (i = 0; t > 0 && i < tx->n_in; i++) {
			const struct btc_txout *o = utxo_get(
				tx->in[i].prev_txid, tx->in[i].prev_vout);

			CHECK(o != NULL);
			tx->in[i].has_prevout = true;
			tx->in[i].prevout_value = o->value;
			tx->in[i].prevout_spk = o->spk;
		}
		for (i = 0; i < tx->n_out; i++)
			utxo_put(tx->txid, (uint32_t)i, &tx->out[i]);
	}
}

static FILE *open_data(const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/regtest-a/%s", check_testdata_dir(),
		 name);
	f = fopen(path, "r");
	CHECK(f != NULL);
	return f;
}

static struct btc_block *blocks[MAX_HEIGHT + 1];

static void load_blocks(void)
{
	FILE *f = open_data("blocks.hex");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int32_t h = 0;

	while ((n = getline(&line, &cap, f)) > 0) {
		size_t len;
		uint8_t *raw;

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (n == 0)
			continue;
		CHECK(h < MAX_HEIGHT);
		len = (size_t)n / 2;
		raw = sd_xmalloc(len);
		CHECK(sd_hex_decode(raw, len, line, (size_t)n) == SD_OK);
		CHECK(btc_block_parse(raw, len, &blocks[++h]) == SD_OK);
		blocks[h]->height = h;
		free(raw);
		attach_prevouts(blocks[h]);
	}
	CHECK_EQ_INT(h, MAX_HEIGHT);
	free(line);
	fclose(f);
}

static void test_tweaks(void)
{
	FILE *f = open_data("expected-tweaks.jsonl");
	struct oracle_pool *pool = oracle_pool_new(2);
	char *line = NULL;
	size_t cap = 0, n_tweaks = 0, n_null = 0;
	int32_t h = 0;

	CHECK_EQ_INT(oracle_pool_threads(pool), 2);
	while (getline(&line, &cap, f) > 0) {
		json_error_t jerr;
		json_t *o = json_loads(line, 0, &jerr), *tw;
		struct btc_block *b;
		struct oracle_tx_info *info, one;
		char hex[67];
		size_t i;

		CHECK(o != NULL);
		h = (int32_t)json_integer_value(json_object_get(o, "height"));
		CHECK(h >= 1 && h <= MAX_HEIGHT);
		b = blocks[h];
		sd_hex_encode_rev(hex, b->hash, 32);
		CHECK_STREQ(hex, json_string_value(json_object_get(o, "hash")));
		tw = json_object_get(o, "tweaks");
		CHECK_EQ_INT(json_array_size(tw), b->n_tx - 1);
		info = sd_xcalloc(b->n_tx, sizeof(*info));
		CHECK(oracle_block_compute(pool, b, info) == SD_OK);
		CHECK(!info[0].has_tweak);
		for (i = 1; i < b->n_tx; i++) {
			json_t *e = json_array_get(tw, i - 1);
			json_t *want = json_array_get(e, 1);

			sd_hex_encode_rev(hex, b->tx[i].txid, 32);
			CHECK_STREQ(hex, json_string_value(
				json_array_get(e, 0)));
			/* the pool gives what one call gives */
			CHECK(oracle_tx_compute(&b->tx[i], &one) == SD_OK);
			CHECK(memcmp(&one, &info[i], sizeof(one)) == 0);
			if (json_is_null(want)) {
				if (info[i].has_tweak)
					fprintf(stderr, "h=%d tx=%s: extra "
						"tweak\n", h, hex);
				CHECK(!info[i].has_tweak);
				n_null++;
				continue;
			}
			if (!info[i].has_tweak)
				fprintf(stderr, "h=%d tx=%s: no tweak\n", h,
					hex);
			CHECK(info[i].has_tweak);
			sd_hex_encode(hex, info[i].tweak, 33);
			CHECK_STREQ(hex, json_string_value(want));
			n_tweaks++;
		}
		free(info);
		json_decref(o);
	}
	CHECK_EQ_INT(h, MAX_HEIGHT);
	CHECK_EQ_INT(n_tweaks, 2048);
	CHECK_EQ_INT(n_null, 2556 - 2048);
	free(line);
	fclose(f);
	oracle_pool_free(pool);
}

static void check_filter_body(const struct btc_block *b, json_t *body,
			      const uint8_t *f, size_t len)
{
	char *hex = sd_xmalloc(2 * len + 1), bh[65];

	sd_hex_encode(hex, f, len);
	sd_hex_encode_rev(bh, b->hash, 32);
	CHECK_STREQ(json_string_value(json_object_get(body, "block_hash")),
		    bh);
	CHECK_EQ_INT(json_integer_value(json_object_get(body, "filter_type")),
		     4);
	if (strcmp(json_string_value(json_object_get(body, "data")), hex))
		fprintf(stderr, "h=%d filter mismatch\n", b->height);
	CHECK_STREQ(json_string_value(json_object_get(body, "data")), hex);
	free(hex);
}

static void test_blindbit(void)
{
	FILE *f = open_data("blindbit-v1.jsonl");
	char *line = NULL;
	size_t cap = 0, n_new = 0, n_spent = 0, n_idx = 0, n_entries = 0;

	while (getline(&line, &cap, f) > 0) {
		json_error_t jerr;
		json_t *o = json_loads(line, 0, &jerr), *body;
		const char *path, *b_str;
		struct btc_block *b;
		int kind, h = 0;
		uint8_t *data;
		size_t len, i;

		CHECK(o != NULL);
		path = json_string_value(json_object_get(o, "path"));
		if (sscanf(path, "/filter/new-utxos/%d", &h) == 1 &&
		    !strchr(path, '?'))
			kind = 0;
		else if (sscanf(path, "/filter/spent/%d", &h) == 1)
			kind = 1;
		else if (sscanf(path, "/spent-index/%d", &h) == 1)
			kind = 2;
		else
			kind = -1;
		if (kind < 0 || h < 1 || h > MAX_HEIGHT) {
			json_decref(o);
			continue;
		}
		CHECK_EQ_INT(json_integer_value(json_object_get(o, "status")),
			     200);
		b_str = json_string_value(json_object_get(o, "body"));
		body = json_loads(b_str, 0, &jerr);
		CHECK(body != NULL);
		b = blocks[h];
		if (kind == 0) {
			CHECK(oracle_filter_new_utxos(b, &data, &len) == SD_OK);
			check_filter_body(b, body, data, len);
			n_new++;
		} else if (kind == 1) {
			CHECK(oracle_filter_spent(b, &data, &len) == SD_OK);
			check_filter_body(b, body, data, len);
			n_spent++;
		} else {
			json_t *arr = json_object_get(body, "data");
			char hex[17], bh[65];

			CHECK(oracle_spent_index(b, &data, &len) == SD_OK);
			if (json_is_array(body)) {
				/* upstream answers a bare [] when the block
				 * spends no taproot output */
				CHECK_EQ_INT(json_array_size(body), 0);
				CHECK_EQ_INT(len, 0);
				n_idx++;
				free(data);
				json_decref(body);
				json_decref(o);
				continue;
			}
			sd_hex_encode_rev(bh, b->hash, 32);
			CHECK_STREQ(json_string_value(json_object_get(
				body, "block_hash")), bh);
			CHECK_EQ_INT(json_array_size(arr), len);
			for (i = 0; i < len; i++) {
				sd_hex_encode(hex, data + 8 * i, 8);
				CHECK_STREQ(hex, json_string_value(
					json_array_get(arr, i)));
			}
			n_entries += len;
			n_idx++;
		}
		free(data);
		json_decref(body);
		json_decref(o);
	}
	CHECK_EQ_INT(n_new, MAX_HEIGHT);
	CHECK_EQ_INT(n_spent, MAX_HEIGHT);
	CHECK_EQ_INT(n_idx, MAX_HEIGHT);
	CHECK(n_entries > 100);
	free(line);
	fclose(f);
}

int main(void)
{
	int32_t h;

	utxos = sd_xcalloc(UTXO_SLOTS, sizeof(*utxos));
	load_blocks();
	test_tweaks();
	test_blindbit();
	for (h = 1; h <= MAX_HEIGHT; h++)
		btc_block_free(blocks[h]);
	free(utxos);
	return 0;
}

/* test_store_blindbit.c - the index of regtest-a against upstream
 * blindbit's recorded v1 answers (blindbit-v1.jsonl: 9 routes x 400
 * heights): block hashes, tweak index (plain and dustLimit=1000), cut-through
 * tweaks, both filters, spent index and utxos, with upstream's documented
 * deviations (tweak-comparison.json) accounted for row by row.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/util.h"
#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "../store_int.h"
#include "store_fixture.h"

/* upstream deviations (tweak-comparison.json) */
static char extra_txid[16][65], extra_tweak[16][67];
static int n_extra;
static char sub_ours[16][67], sub_theirs[16][67];
static int n_sub;
static int used_extra_rows, used_subs, dropped_extra[2];

/* ------------------------------------------------ vs upstream blindbit */

static void load_deviations(void)
{
	json_t *j = json_load_file(sfx_testdata("tweak-comparison.json"), 0, NULL);
	json_t *a, *e;
	size_t i;

	CHECK(j);
	a = json_object_get(j, "tweak_index_mismatches");
	json_array_foreach(a, i, e) {
		const char *kind = json_string_value(json_object_get(e, "kind"));
		json_t *exp = json_object_get(e, "expected_for_tx");

		if (strcmp(kind, "extra-in-blindbit") != 0)
			continue;
		if (json_is_null(exp)) {
			CHECK(n_extra < 16);
			snprintf(extra_txid[n_extra], 65, "%s",
				 json_string_value(json_object_get(e, "txid")));
			snprintf(extra_tweak[n_extra++], 67, "%s",
				 json_string_value(json_object_get(e,
								   "tweak")));
		} else {
			CHECK(n_sub < 16);
			snprintf(sub_ours[n_sub], 67, "%s",
				 json_string_value(exp));
			snprintf(sub_theirs[n_sub++], 67, "%s",
				 json_string_value(json_object_get(e,
								   "tweak")));
		}
	}
	CHECK_EQ_INT(n_extra, 4);
	CHECK_EQ_INT(n_sub, 1);
	json_decref(j);
}

/* Our tweak as upstream serves it (its annex bug gives another value). */
static const char *as_upstream(const char *ours)
{
	for (int i = 0; i < n_sub; i++)
		if (strcmp(ours, sub_ours[i]) == 0) {
			used_subs++;
			return sub_theirs[i];
		}
	return ours;
}

static bool upstream_extra_tweak(const char *t)
{
	for (int i = 0; i < n_extra; i++)
		if (strcmp(t, extra_tweak[i]) == 0)
			return true;
	return false;
}

static bool upstream_extra_txid(const char *t)
{
	for (int i = 0; i < n_extra; i++)
		if (strcmp(t, extra_txid[i]) == 0)
			return true;
	return false;
}

/* Compare upstream's list of tweak strings with ours (already mapped);
 * upstream's tweaks of txs BIP352 skips are dropped from its list. */
static void cmp_tweak_lists(json_t *up, json_t *ours, const char *path)
{
	size_t i, k = 0;
	json_t *e;

	json_array_foreach(up, i, e) {
		const char *t = json_string_value(e);

		if (upstream_extra_tweak(t)) {
			dropped_extra[strstr(path, "/tweaks/") != NULL]++;
			continue;
		}
		if (k >= json_array_size(ours) ||
		    strcmp(t, json_string_value(json_array_get(ours, k))))
			fprintf(stderr, "%s: mismatch at %zu: %s\n", path, k,
				t);
		CHECK(k < json_array_size(ours));
		CHECK_STREQ(t, json_string_value(json_array_get(ours, k)));
		k++;
	}
	CHECK_EQ_INT(k, json_array_size(ours));
}

static json_t *our_tweak_index(struct oracle_read *r, int h, uint64_t dust)
{
	json_t *a = json_array();
	const uint8_t *recs;
	size_t n, rl, i;
	char h66[67];

	CHECK_EQ_INT(oracle_read_tweak_index(r, h, &recs, &n, &rl), SD_OK);
	for (i = 0; i < n; i++) {
		if (sd_be64_get(recs + i * rl + 33) < dust)
			continue;
		sfx_hex(h66, recs + i * rl, 33);
		json_array_append_new(a, json_string(as_upstream(h66)));
	}
	return a;
}

struct cut_acc {
	json_t *a;
	uint64_t dust;
	uint8_t last[32];
	int n;
};

static int cut_cb(void *ctx, const uint8_t txid[32], const uint8_t tweak[33],
		  uint64_t highest)
{
	struct cut_acc *c = ctx;
	uint8_t disp[32];
	char h66[67];

	st_rev32(disp, txid);
	if (c->n++)
		CHECK(memcmp(c->last, disp, 32) < 0); /* display-txid order */
	memcpy(c->last, disp, 32);
	CHECK(highest > 0);
	if (highest < c->dust)
		return 0;
	sfx_hex(h66, tweak, 33);
	json_array_append_new(c->a, json_string(as_upstream(h66)));
	return 0;
}

struct utxo_acc {
	struct oracle_utxo u[4096];
	size_t n;
};

static int utxo_cb(void *ctx, const struct oracle_utxo *u)
{
	struct utxo_acc *a = ctx;

	CHECK(a->n < 4096);
	a->u[a->n++] = *u;
	return 0;
}

/* Our rows as upstream serves them: txs with every row spent are pruned,
 * block_height 0, spent rows' timestamp 0. */
static json_t *our_utxos(struct oracle_read *r, int h, const uint8_t bh[32],
			 uint32_t btime)
{
	static struct utxo_acc acc;
	json_t *a = json_array();
	size_t i, j;

	acc.n = 0;
	CHECK_EQ_INT(oracle_read_utxos(r, h, utxo_cb, &acc), SD_OK);
	for (i = 0; i < acc.n; i = j) {
		bool all_spent = true;

		for (j = i; j < acc.n && !memcmp(acc.u[j].txid, acc.u[i].txid,
						 32); j++)
			all_spent &= acc.u[j].spent;
		for (size_t k = i; k < j; k++) {
			const struct oracle_utxo *u = &acc.u[k];
			char txid[65], bhx[65], spk[69];

			/* our extra fields: real height and time */
			CHECK_EQ_INT(u->block_height, h);
			CHECK(u->timestamp == btime);
			CHECK(!memcmp(u->block_hash, bh, 32));
			if (all_spent)
				continue;
			sd_hex_encode_rev(txid, u->txid, 32);
			sd_hex_encode_rev(bhx, u->block_hash, 32);
			sfx_hex(spk, u->spk, 34);
			json_array_append_new(a, json_pack(
				"{s:s,s:I,s:I,s:s,s:i,s:s,s:I,s:b}", "txid",
				txid, "vout", (json_int_t)u->vout, "value",
				(json_int_t)u->value, "scriptpubkey", spk,
				"block_height", 0, "block_hash", bhx,
				"timestamp", (json_int_t)(u->spent ? 0 :
							  u->timestamp),
				"spent", u->spent));
		}
	}
	return a;
}

static void check_vs_blindbit(struct oracle_index *idx)
{
	FILE *f = fopen(sfx_testdata("blindbit-v1.jsonl"), "r");
	char *line = NULL;
	size_t cap = 0;
	struct oracle_read *r;
	int n_checked = 0;

	CHECK(f);
	load_deviations();
	CHECK_EQ_INT(oracle_read_begin(idx, &r), SD_OK);
	while (getline(&line, &cap, f) > 0) {
		json_t *j = json_loads(line, 0, NULL), *body;
		const char *path = json_string_value(json_object_get(j, "path"));
		const char *b = json_string_value(json_object_get(j, "body"));
		char route[64], hx[65];
		uint8_t bh[32];
		uint32_t btime;
		int h, st = (int)json_integer_value(json_object_get(j,
								 "status"));
		bool dust = strstr(path, "dustLimit=1000") != NULL;

		CHECK(j);
		if (st != 200 || sscanf(path, "/%63[a-z-/]%d", route, &h) != 2 ||
		    h < 1 || h > 400) {
			json_decref(j);
			continue;
		}
		body = json_loads(b, JSON_DECODE_ANY, NULL);
		CHECK(body);
		CHECK_EQ_INT(oracle_read_block(r, h, bh, &btime), SD_OK);
		sd_hex_encode_rev(hx, bh, 32);
		if (!strcmp(route, "block-hash/")) {
			CHECK_STREQ(hx, json_string_value(
				json_object_get(body, "block_hash")));
		} else if (!strcmp(route, "tweak-index/")) {
			json_t *o = our_tweak_index(r, h, dust ? 1000 : 0);

			cmp_tweak_lists(body, o, path);
			json_decref(o);
		} else if (!strcmp(route, "tweaks/")) {
			struct cut_acc c = { .a = json_array(),
					     .dust = dust ? 1000 : 0 };

			CHECK_EQ_INT(oracle_read_cut_through(r, h, cut_cb, &c),
				     SD_OK);
			cmp_tweak_lists(body, c.a, path);
			json_decref(c.a);
		} else if (!strcmp(route, "filter/spent/") ||
			   !strcmp(route, "filter/new-utxos/")) {
			const uint8_t *d;
			size_t len;
			char *dh;

			CHECK_EQ_INT(oracle_read_filter(r, h, route[7] == 's' ?
				ORACLE_FILTER_SPENT : ORACLE_FILTER_NEW_UTXOS,
				&d, &len), SD_OK);
			dh = sd_xmalloc(2 * len + 1);
			sfx_hex(dh, d, len);
			CHECK_STREQ(dh, json_string_value(
				json_object_get(body, "data")));
			CHECK_STREQ(hx, json_string_value(
				json_object_get(body, "block_hash")));
			free(dh);
		} else if (!strcmp(route, "spent-index/")) {
			const uint8_t *d;
			size_t n, i;
			json_t *arr = json_is_array(body) ? body :
				json_object_get(body, "data");
			char e16[17];

			CHECK_EQ_INT(oracle_read_spent_index(r, h, &d, &n),
				     SD_OK);
			CHECK_EQ_INT(n, json_array_size(arr));
			if (n)
				CHECK_STREQ(hx, json_string_value(
					json_object_get(body, "block_hash")));
			for (i = 0; i < n; i++) {
				sfx_hex(e16, d + 8 * i, 8);
				CHECK_STREQ(e16, json_string_value(
					json_array_get(arr, i)));
			}
		} else if (!strcmp(route, "utxos/")) {
			json_t *o = our_utxos(r, h, bh, btime), *e;
			size_t i, k = 0;

			json_array_foreach(body, i, e) {
				const char *tx = json_string_value(
					json_object_get(e, "txid"));

				if (upstream_extra_txid(tx)) {
					used_extra_rows++;
					continue;
				}
				CHECK(k < json_array_size(o));
				if (!json_equal(e, json_array_get(o, k))) {
					char *x = json_dumps(e, 0);
					char *y = json_dumps(json_array_get(o, k),
							     0);

					fprintf(stderr, "%s: up %s ours %s\n",
						path, x, y);
					CHECK(0);
				}
				k++;
			}
			CHECK_EQ_INT(k, json_array_size(o));
			json_decref(o);
		} else {
			fprintf(stderr, "unhandled %s\n", path);
			CHECK(0);
		}
		n_checked++;
		json_decref(body);
		json_decref(j);
	}
	/* 9 routes x 400 heights */
	CHECK_EQ_INT(n_checked, 3600);
	/* the 4 txs BIP352 skips, in /tweak-index plain and ?dustLimit=1000;
	 * the annex tx 643448.. with upstream's other tweak value, same */
	CHECK_EQ_INT(dropped_extra[0], 8);
	CHECK(used_subs >= 2);
	fprintf(stderr, "blindbit: %d answers compared; upstream-only: %d "
		"tweak-index tweaks, %d cut-through tweaks, %d utxo rows "
		"(BIP352-skipped txs); %d tweak substitutions\n", n_checked,
		dropped_extra[0], dropped_extra[1], used_extra_rows,
		used_subs);
	oracle_read_end(r);
	free(line);
	fclose(f);
}

int main(void)
{
	char dir[512];
	struct oracle_index *idx;

	sfx_begin("test_store_blindbit");
	idx = sfx_full_index(dir, sizeof(dir));
	check_vs_blindbit(idx);
	oracle_index_close(idx);
	sfx_end();
	printf("test_store_blindbit: ok\n");
	return 0;
}

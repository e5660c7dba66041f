/* test_store_cut_through.c - the cut-through answer of the regtest-a index
 * (format 6 derives it from the `utxos` rows, the spent bitmaps and the
 * tweak index) against the chain itself: at every height, one entry per
 * tweak-bearing tx that still has an unspent taproot output after block
 * 400, with the tx's tweak (its rank among the block's tweak txs, in
 * block order, is its tweak-index record) and the largest unspent value;
 * none for a tx whose taproot outputs are all spent.  Whether an output
 * is spent comes from the blocks' inputs, not from the index.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/util.h"
#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "../store_int.h"
#include "store_fixture.h"

/* Outpoints (txid | vout BE32) spent by blocks 1..SFX_TIP, sorted. */
struct spent_set {
	uint8_t (*op)[36];
	size_t n, cap;
};

static int cmp36(const void *a, const void *b)
{
	return memcmp(a, b, 36);
}

static void spent_set_build(struct spent_set *s)
{
	for (int h = 1; h <= SFX_TIP; h++) {
		const struct btc_block *b = sfx_block(h);

		for (size_t t = 1; t < b->n_tx; t++)
			for (size_t i = 0; i < b->tx[t].n_in; i++) {
				const struct btc_txin *in = &b->tx[t].in[i];

				if (s->n == s->cap) {
					s->cap = s->cap ? 2 * s->cap : 4096;
					s->op = sd_xrealloc(s->op, s->cap * 36);
				}
				memcpy(s->op[s->n], in->prev_txid, 32);
				sd_be32_put(s->op[s->n] + 32, in->prev_vout);
				s->n++;
			}
	}
	qsort(s->op, s->n, 36, cmp36);
}

static bool is_spent(const struct spent_set *s, const uint8_t txid[32],
		     uint32_t vout)
{
	uint8_t k[36];

	memcpy(k, txid, 32);
	sd_be32_put(k + 32, vout);
	return bsearch(k, s->op, s->n, 36, cmp36) != NULL;
}

/* What the chain says for one tweak tx of the height. */
struct want {
	uint8_t txid[32];
	uint64_t max_unspent, max_all;
	bool any_unspent, any_spent, seen;
};

struct height_ctx {
	const struct spent_set *spent;
	struct want *w;
	size_t n, cap;
	size_t bad_spent_flag;
};

/* /utxos rows (immutable, tweak txs only): collect the txs, check each
 * row's spent flag against the chain. */
static int on_utxo(void *c, const struct oracle_utxo *u)
{
	struct height_ctx *hc = c;
	bool spent = is_spent(hc->spent, u->txid, u->vout);
	struct want *w = hc->n ? &hc->w[hc->n - 1] : NULL;

	if (spent != u->spent)
		hc->bad_spent_flag++;
	if (!w || memcmp(w->txid, u->txid, 32)) {
		if (hc->n == hc->cap) {
			hc->cap = hc->cap ? 2 * hc->cap : 64;
			hc->w = sd_xrealloc(hc->w, hc->cap * sizeof(*hc->w));
		}
		w = &hc->w[hc->n++];
		memset(w, 0, sizeof(*w));
		memcpy(w->txid, u->txid, 32);
	}
	if (u->value > w->max_all)
		w->max_all = u->value;
	if (spent) {
		w->any_spent = true;
	} else {
		if (!w->any_unspent || u->value > w->max_unspent)
			w->max_unspent = u->value;
		w->any_unspent = true;
	}
	return 0;
}

struct cut_check {
	struct height_ctx *hc;
	const struct btc_block *b;
	const uint8_t *tweaks;  /* the height's tweak index */
	size_t rec_len, n_tweaks, rows;
};

/* The tweak of txid per the block order: the k-th tweak tx of the block
 * (a tx /utxos lists) has tweak-index record k. */
static const uint8_t *tweak_of(const struct cut_check *cc,
			       const uint8_t txid[32])
{
	size_t k = 0;

	for (size_t t = 1; t < cc->b->n_tx; t++) {
		bool tweak_tx = false;

		for (size_t i = 0; i < cc->hc->n; i++)
			if (!memcmp(cc->hc->w[i].txid, cc->b->tx[t].txid, 32))
				tweak_tx = true;
		if (!tweak_tx)
			continue;
		if (!memcmp(cc->b->tx[t].txid, txid, 32))
			return k < cc->n_tweaks ? cc->tweaks + k * cc->rec_len :
			       NULL;
		k++;
	}
	return NULL;
}

static int on_cut(void *c, const uint8_t txid[32], const uint8_t tweak[33],
		  uint64_t highest)
{
	struct cut_check *cc = c;
	const uint8_t *want_tweak = tweak_of(cc, txid);
	size_t i;

	for (i = 0; i < cc->hc->n; i++)
		if (!memcmp(cc->hc->w[i].txid, txid, 32))
			break;
	CHECK(i < cc->hc->n);
	CHECK(cc->hc->w[i].any_unspent);
	CHECK(!cc->hc->w[i].seen);
	CHECK(highest == cc->hc->w[i].max_unspent);
	CHECK(want_tweak && !memcmp(want_tweak, tweak, 33));
	cc->hc->w[i].seen = true;
	cc->rows++;
	return 0;
}

static void check_cut_through(struct oracle_index *idx)
{
	struct spent_set spent = { 0 };
	struct height_ctx hc = { .spent = &spent };
	size_t n_tx = 0, n_cut = 0, partial = 0, lowered = 0, gone = 0;
	struct oracle_read *r;

	spent_set_build(&spent);
	CHECK_EQ_INT(oracle_read_begin(idx, &r), SD_OK);
	for (int h = 1; h <= SFX_TIP; h++) {
		struct cut_check cc = { .hc = &hc, .b = sfx_block(h) };

		hc.n = 0;
		CHECK_EQ_INT(oracle_read_utxos(r, h, on_utxo, &hc), SD_OK);
		CHECK_EQ_INT(oracle_read_tweak_index(r, h, &cc.tweaks,
						     &cc.n_tweaks, &cc.rec_len),
			     SD_OK);
		CHECK_EQ_INT(oracle_read_cut_through(r, h, on_cut, &cc), SD_OK);
		for (size_t i = 0; i < hc.n; i++) {
			const struct want *w = &hc.w[i];

			n_tx++;
			CHECK(w->seen == w->any_unspent);
			if (w->any_unspent) {
				partial += w->any_spent;
				lowered += w->max_unspent < w->max_all;
			} else {
				gone++;
			}
		}
		n_cut += cc.rows;
	}
	oracle_read_end(r);
	fprintf(stderr, "cut-through against the chain: %zu tweak txs with "
		"taproot outputs, %zu listed, %zu partly spent, %zu lowered, "
		"%zu fully spent (not listed)\n", n_tx, n_cut, partial,
		lowered, gone);
	CHECK_EQ_INT(hc.bad_spent_flag, 0);
	CHECK(n_tx > 0 && partial > 0 && lowered > 0 && gone > 0);
	CHECK_EQ_INT(n_cut + gone, n_tx);
	free(hc.w);
	free(spent.op);
}

int main(void)
{
	char dir[512];
	struct oracle_index *idx;

	sfx_begin("test_store_cut_through");
	idx = sfx_full_index(dir, sizeof(dir));
	check_cut_through(idx);
	oracle_index_close(idx);
	sfx_end();
	printf("test_store_cut_through: ok\n");
	return 0;
}

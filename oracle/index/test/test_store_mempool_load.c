/* test_store_mempool_load.c - the mempool hash table under load: every
 * tweak tx of regtest-a (2,048) added, then dropped block by block (odd
 * heights first): counts and contents stay exact through growth and
 * backward-shift deletion.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/util.h"
#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "../store_int.h"
#include "store_fixture.h"

/* The mempool hash table under load: every tweak tx of regtest-a added,
 * then dropped block by block (odd heights first): counts and contents
 * stay exact through growth and backward-shift deletion. */
struct txh {
	uint8_t txid[32];
	int height;
};

static struct txh *all_txh;
static size_t n_txh;
static int dropped_odd;

static int cmp_txh(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static int mp_check_cb(void *ctx, const uint8_t txid[32],
		       const uint8_t tweak[33], uint64_t hv)
{
	struct txh *hit = bsearch(txid, all_txh, n_txh, sizeof(*all_txh),
				  cmp_txh);
	size_t *n = ctx;

	(void)tweak;
	(void)hv;
	CHECK(hit);
	CHECK(!(dropped_odd && (hit->height & 1)));
	(*n)++;
	return 0;
}

static void check_mempool_load(void)
{
	char dir[512];
	struct oracle_config c;
	struct oracle_index *idx;
	struct oracle_stats st;
	size_t t, n, n_even = 0;
	int h;

	sfx_new_datadir(dir, sizeof(dir));
	c = sfx_full_cfg(dir);
	idx = sfx_open(&c);
	all_txh = sd_xmalloc(4096 * sizeof(*all_txh));
	for (h = 1; h <= 400; h++) {
		const struct btc_block *b = sfx_block(h);

		for (t = 1; t < b->n_tx; t++) {
			struct oracle_tx_info info;

			CHECK_EQ_INT(oracle_tx_compute(&b->tx[t], &info), SD_OK);
			if (!info.has_tweak)
				continue;
			CHECK(n_txh < 4096);
			memcpy(all_txh[n_txh].txid, b->tx[t].txid, 32);
			all_txh[n_txh++].height = h;
			n_even += !(h & 1);
			CHECK_EQ_INT(oracle_mempool_add(idx, &b->tx[t]), SD_OK);
		}
	}
	CHECK_EQ_INT(n_txh, 2048);
	qsort(all_txh, n_txh, sizeof(*all_txh), cmp_txh);
	oracle_index_stats(idx, &st);
	CHECK_EQ_INT(st.mempool_tweaks, 2048);
	for (h = 1; h <= 400; h += 2)
		st_mempool_drop_block(idx, sfx_block(h));
	dropped_odd = 1;
	n = 0;
	CHECK_EQ_INT(oracle_mempool_each(idx, mp_check_cb, &n), SD_OK);
	CHECK_EQ_INT(n, n_even);
	for (h = 2; h <= 400; h += 2)
		st_mempool_drop_block(idx, sfx_block(h));
	oracle_index_stats(idx, &st);
	CHECK_EQ_INT(st.mempool_tweaks, 0);
	n = 0;
	CHECK_EQ_INT(oracle_mempool_each(idx, mp_check_cb, &n), SD_OK);
	CHECK_EQ_INT(n, 0);
	free(all_txh);
	oracle_index_close(idx);
}

int main(void)
{
	sfx_begin("test_store_mempool_load");
	check_mempool_load();
	sfx_end();
	printf("test_store_mempool_load: ok\n");
	return 0;
}

/* test_store_mempool.c - the mempool tweaks: the txs of block 109 added
 * before it is mined give exactly its tweak index; mined txs are dropped;
 * retain keeps only the listed txids.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "store_fixture.h"

struct mp_acc {
	int n;
	uint8_t tweak[64][33];
};

static int mp_cb(void *ctx, const uint8_t txid[32], const uint8_t tweak[33],
		 uint64_t hv)
{
	struct mp_acc *a = ctx;

	(void)txid;
	CHECK(hv > 0 && a->n < 64);
	memcpy(a->tweak[a->n++], tweak, 33);
	return 0;
}

static int cmp32(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static void check_mempool(void)
{
	char dir[512];
	struct oracle_config c;
	struct oracle_index *idx;
	struct oracle_read *r;
	struct oracle_stats st;
	struct mp_acc acc = { 0 };
	const struct btc_block *b109 = sfx_block(109);
	const uint8_t *recs;
	size_t n, rl, t;
	uint8_t keep[2][32];

	sfx_new_datadir(dir, sizeof(dir));
	c = sfx_full_cfg(dir);
	idx = sfx_open(&c);
	sfx_connect(idx, 1, 108);
	for (t = 1; t < b109->n_tx; t++)
		CHECK_EQ_INT(oracle_mempool_add(idx, &b109->tx[t]), SD_OK);
	CHECK_EQ_INT(oracle_mempool_each(idx, mp_cb, &acc), SD_OK);
	sfx_connect(idx, 109, 109);
	CHECK_EQ_INT(oracle_read_begin(idx, &r), SD_OK);
	CHECK_EQ_INT(oracle_read_tweak_index(r, 109, &recs, &n, &rl), SD_OK);
	CHECK_EQ_INT(acc.n, (int)n);
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		for (int k = 0; k < acc.n; k++)
			found |= !memcmp(acc.tweak[k], recs + i * rl, 33);
		CHECK(found);
	}
	oracle_read_end(r);
	/* mined -> dropped */
	oracle_index_stats(idx, &st);
	CHECK_EQ_INT(st.mempool_tweaks, 0);
	/* retain keeps only the listed txids */
	for (t = 1; t < b109->n_tx; t++)
		CHECK_EQ_INT(oracle_mempool_add(idx, &b109->tx[t]), SD_OK);
	oracle_index_stats(idx, &st);
	CHECK_EQ_INT(st.mempool_tweaks, n);
	memcpy(keep[0], b109->tx[1].txid, 32);
	memcpy(keep[1], b109->tx[2].txid, 32);
	qsort(keep, 2, 32, cmp32);
	oracle_mempool_retain(idx, (const uint8_t (*)[32])keep, 2);
	oracle_index_stats(idx, &st);
	CHECK(st.mempool_tweaks <= 2);
	oracle_mempool_retain(idx, NULL, 0);
	oracle_index_stats(idx, &st);
	CHECK_EQ_INT(st.mempool_tweaks, 0);
	oracle_index_close(idx);
}

int main(void)
{
	sfx_begin("test_store_mempool");
	check_mempool();
	sfx_end();
	printf("test_store_mempool: ok\n");
	return 0;
}

/* test_store_reorg.c - a reorg on the regtest-a index: disconnect 400..301
 * (wrong height, wrong hash, a block out of order and a wrong parent
 * refused), the index then dumps byte-identical to a fresh build of
 * 1..300; reconnect 301..400 gives the 400-block dump back, and so does
 * the index reopened from its files (same tip).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "store_fixture.h"

static void check_reorg_and_reopen(struct oracle_index *a, const char *dir_a)
{
	char dir_b[512];
	struct oracle_index *b;
	struct oracle_config cb, ca = sfx_full_cfg(dir_a);
	char *d400 = sfx_dump(a), *d300, *d;
	int32_t th;
	uint8_t hash[32];

	for (int h = 400; h > 300; h--)
		CHECK_EQ_INT(oracle_index_disconnect(a, h, sfx_block(h)->hash),
			     SD_OK);
	/* wrong height / hash refused */
	CHECK_EQ_INT(oracle_index_disconnect(a, 299, sfx_block(299)->hash),
		     SD_ESTATE);
	CHECK_EQ_INT(oracle_index_connect(a, sfx_block(302)), SD_ESTATE);
	/* right height, wrong parent */
	sfx_block(301)->hdr.prev_hash[0] ^= 1;
	CHECK_EQ_INT(oracle_index_connect(a, sfx_block(301)), SD_ESTATE);
	sfx_block(301)->hdr.prev_hash[0] ^= 1;
	CHECK_EQ_INT(oracle_index_tip(a, &th, hash), SD_OK);
	CHECK_EQ_INT(th, 300);
	CHECK(!memcmp(hash, sfx_block(300)->hash, 32));

	sfx_new_datadir(dir_b, sizeof(dir_b));
	cb = sfx_full_cfg(dir_b);
	b = sfx_open(&cb);
	sfx_connect(b, 1, 300);
	d300 = sfx_dump(b);
	d = sfx_dump(a);
	CHECK(strlen(d300) > 1000);
	CHECK_STREQ(d, d300);
	free(d);
	oracle_index_close(b);

	sfx_connect(a, 301, 400);
	d = sfx_dump(a);
	CHECK_STREQ(d, d400);
	free(d);

	/* reopen: same tip, same data */
	oracle_index_close(a);
	a = sfx_open(&ca);
	CHECK_EQ_INT(oracle_index_tip(a, &th, hash), SD_OK);
	CHECK_EQ_INT(th, 400);
	CHECK(!memcmp(hash, sfx_block(400)->hash, 32));
	d = sfx_dump(a);
	CHECK_STREQ(d, d400);
	free(d);
	oracle_index_close(a);
	free(d300);
	free(d400);
}

int main(void)
{
	char dir[512];
	struct oracle_index *idx;

	sfx_begin("test_store_reorg");
	idx = sfx_full_index(dir, sizeof(dir));
	check_reorg_and_reopen(idx, dir);   /* closes idx */
	sfx_end();
	printf("test_store_reorg: ok\n");
	return 0;
}

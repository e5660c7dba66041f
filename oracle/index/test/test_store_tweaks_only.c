/* test_store_tweaks_only.c - a tweaks_only index: refused with the dust
 * kinds on; otherwise 33-byte tweak records only, no filters, no spent
 * index.
 */
#include <stdio.h>

#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "store_fixture.h"

static void check_tweaks_only(void)
{
	char dir[512], err[SD_ERRLEN];
	struct oracle_config c;
	struct oracle_index *idx;
	struct oracle_read *r;
	const uint8_t *d;
	size_t n, rl;
	int sum = 0;

	sfx_new_datadir(dir, sizeof(dir));
	c = sfx_full_cfg(dir);
	c.tweaks_only = true;
	CHECK_EQ_INT(oracle_index_open(&c, &idx, err), SD_EINVAL);
	c.tweaks_cut_through_with_dust_filter = false;
	c.tweaks_full_with_dust_filter = false;
	idx = sfx_open(&c);
	sfx_connect(idx, 1, 150);
	CHECK_EQ_INT(oracle_read_begin(idx, &r), SD_OK);
	for (int h = 1; h <= 150; h++) {
		CHECK_EQ_INT(oracle_read_tweak_index(r, h, &d, &n, &rl), SD_OK);
		CHECK_EQ_INT(rl, 33);
		sum += (int)n;
		CHECK_EQ_INT(oracle_read_filter(r, h, ORACLE_FILTER_NEW_UTXOS,
						&d, &n), SD_ENOTFOUND);
		CHECK_EQ_INT(oracle_read_spent_index(r, h, &d, &n),
			     SD_ENOTFOUND);
	}
	CHECK(sum > 100);
	oracle_read_end(r);
	oracle_index_close(idx);
}

int main(void)
{
	sfx_begin("test_store_tweaks_only");
	check_tweaks_only();
	sfx_end();
	printf("test_store_tweaks_only: ok\n");
	return 0;
}

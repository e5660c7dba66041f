/* test_store_group_commit.c - group commit (7 blocks a txn) on regtest-a:
 * blocks of an open batch are invisible and not counted until it commits,
 * flush and close commit, a disconnect flushes first, and the index dumps
 * byte-identical to one built one txn a block.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "store_fixture.h"

/* Group commit: blocks connected in a batch are invisible (and not
 * counted) until the batch commits; the result equals one txn a block. */
static void check_group_commit(const char *ref_dump)
{
	char dir[512], *d;
	struct oracle_config c;
	struct oracle_index *g;
	struct oracle_stats st;
	uint8_t hash[32];
	int32_t tip;

	sfx_new_datadir(dir, sizeof(dir));
	c = sfx_full_cfg(dir);
	g = sfx_open(&c);
	oracle_index_set_group_commit(g, 7);
	for (int h = 1; h <= 400; h++) {
		CHECK_EQ_INT(oracle_index_connect(g, sfx_block(h)), SD_OK);
		CHECK_EQ_INT(oracle_index_tip(g, &tip, hash), SD_OK);
		CHECK_EQ_INT(tip, h - h % 7 ? h - h % 7 : -1);
		oracle_index_stats(g, &st);
		CHECK_EQ_INT(st.blocks_connected, (uint64_t)(h - h % 7));
	}
	CHECK_EQ_INT(oracle_index_flush(g), SD_OK);
	CHECK_EQ_INT(oracle_index_flush(g), SD_OK);   /* nothing pending */
	CHECK_EQ_INT(oracle_index_tip(g, &tip, hash), SD_OK);
	CHECK_EQ_INT(tip, 400);
	oracle_index_stats(g, &st);
	CHECK_EQ_INT(st.blocks_connected, 400);
	CHECK_EQ_INT(st.tweaks_indexed, 2048);
	d = sfx_dump(g);
	CHECK(strcmp(d, ref_dump) == 0);
	free(d);
	/* a disconnect flushes the pending blocks first */
	CHECK_EQ_INT(oracle_index_disconnect(g, 400, sfx_block(400)->hash), SD_OK);
	CHECK_EQ_INT(oracle_index_connect(g, sfx_block(400)), SD_OK);
	CHECK_EQ_INT(oracle_index_connect(g, sfx_block(400)), SD_ESTATE);
	oracle_index_close(g);     /* close commits the pending block */
	g = sfx_open(&c);
	CHECK_EQ_INT(oracle_index_tip(g, &tip, hash), SD_OK);
	CHECK_EQ_INT(tip, 400);
	d = sfx_dump(g);
	CHECK(strcmp(d, ref_dump) == 0);
	free(d);
	oracle_index_close(g);
	fprintf(stderr, "group commit (7 blocks a txn): same index as one txn "
		"a block\n");
}

int main(void)
{
	char *ref;

	sfx_begin("test_store_group_commit");
	ref = sfx_full_dump();
	check_group_commit(ref);
	free(ref);
	sfx_end();
	printf("test_store_group_commit: ok\n");
	return 0;
}

/* test_store_prepared.c - blocks prepared off the writer (as the daemon's
 * fetch threads do; with and without filters) give the index built by
 * plain connects, byte for byte; a prepared block for the wrong height or
 * without its parts is refused and changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "store_fixture.h"

/* Blocks prepared off the writer (as the daemon's fetch threads do) give
 * the same index; a prepared block for the wrong height changes nothing. */
static void check_prepared(const char *ref_dump)
{
	struct oracle_prepared p;
	struct oracle_config c;
	struct oracle_index *g;
	char dir[512], *d;

	sfx_new_datadir(dir, sizeof(dir));
	c = sfx_full_cfg(dir);
	g = sfx_open(&c);
	oracle_index_set_group_commit(g, 16);
	CHECK_EQ_INT(oracle_index_connect_prepared(g, sfx_block(1), NULL),
		     SD_EINVAL);
	for (int h = 1; h <= 400; h++) {
		CHECK_EQ_INT(oracle_block_prepare(sfx_block(h), h % 2 == 0,
						  &p), SD_OK);
		CHECK(p.infos && p.has_filters == (h % 2 == 0));
		CHECK(p.has_filters ? p.fnew != NULL : p.fnew == NULL);
		if (h == 200)   /* out of order: refused */
			CHECK_EQ_INT(oracle_index_connect_prepared(
				     g, sfx_block(h + 1), &p), SD_ESTATE);
		CHECK_EQ_INT(oracle_index_connect_prepared(g, sfx_block(h),
							   &p), SD_OK);
		oracle_prepared_free(&p);
		CHECK(p.infos == NULL && p.fnew == NULL);
	}
	CHECK_EQ_INT(oracle_index_flush(g), SD_OK);
	d = sfx_dump(g);
	CHECK(strcmp(d, ref_dump) == 0);
	free(d);
	oracle_index_close(g);
	fprintf(stderr, "prepared blocks (with and without filters): same "
		"index\n");
}

int main(void)
{
	char *ref;

	sfx_begin("test_store_prepared");
	ref = sfx_full_dump();
	check_prepared(ref);
	free(ref);
	sfx_end();
	printf("test_store_prepared: ok\n");
	return 0;
}

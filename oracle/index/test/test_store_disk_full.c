/* test_store_disk_full.c - a full disk under the index (RLIMIT_FSIZE) on
 * regtest-a: SD_ENOSPC, nothing written, reads keep working, and after
 * space comes back the index resumes and equals an undisturbed one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "store_fixture.h"

/* A full disk (here: RLIMIT_FSIZE, write(2) fails with EFBIG like ENOSPC):
 * SD_ENOSPC, nothing written, reads keep working, the next connect after
 * space comes back succeeds and the result equals an undisturbed index. */
static void check_disk_full(void)
{
	char dir[512], ref_dir[512];
	struct oracle_config c, rc_cfg;
	struct oracle_index *idx, *ref;
	struct oracle_stats st;
	struct oracle_read *r;
	struct rlimit old;
	char *d1, *d2;
	int h, rc = SD_OK;
	int32_t th;
	uint8_t hash[32];

	sfx_new_datadir(dir, sizeof(dir));
	c = sfx_full_cfg(dir);
	idx = sfx_open(&c);
	sfx_connect(idx, 1, 200);
	sfx_limit_file(dir, &old);
	for (h = 201; h <= 400; h++) {
		rc = oracle_index_connect(idx, sfx_block(h));
		if (rc != SD_OK)
			break;
	}
	CHECK_EQ_INT(rc, SD_ENOSPC);
	oracle_index_stats(idx, &st);
	CHECK(st.disk_full);
	CHECK_EQ_INT(st.tip_height, h - 1);
	/* reads still served */
	CHECK_EQ_INT(oracle_index_tip(idx, &th, hash), SD_OK);
	CHECK_EQ_INT(th, h - 1);
	CHECK_EQ_INT(oracle_read_begin(idx, &r), SD_OK);
	CHECK_EQ_INT(oracle_read_block(r, h - 1, hash, NULL), SD_OK);
	CHECK_EQ_INT(oracle_read_block(r, h, hash, NULL), SD_ENOTFOUND);
	oracle_read_end(r);
	/* retry while still full: same answer */
	CHECK_EQ_INT(oracle_index_connect(idx, sfx_block(h)), SD_ENOSPC);
	CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
	sfx_connect(idx, h, 250);
	oracle_index_stats(idx, &st);
	CHECK(!st.disk_full);
	fprintf(stderr, "disk full at height %d, resumed\n", h);

	sfx_new_datadir(ref_dir, sizeof(ref_dir));
	rc_cfg = sfx_full_cfg(ref_dir);
	ref = sfx_open(&rc_cfg);
	sfx_connect(ref, 1, 250);
	d1 = sfx_dump(idx);
	d2 = sfx_dump(ref);
	CHECK_STREQ(d1, d2);
	free(d1);
	free(d2);
	oracle_index_close(ref);
	oracle_index_close(idx);
}

int main(void)
{
	sfx_begin("test_store_disk_full");
	check_disk_full();
	sfx_end();
	printf("test_store_disk_full: ok\n");
	return 0;
}

/* test_store_sync.c - the index built from a tiny LMDB map that must grow
 * (SIGNETD_INDEX_MAP_SIZE=128 KiB), regtest-a 1..400 connected while two
 * reader threads keep opening views: every snapshot is a block boundary,
 * the counters end right, the map grew, and the grown index dumps
 * byte-identical to one built in the default map.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "store_fixture.h"

/* Readers on other threads while the writer connects and grows the map:
 * every snapshot is a block boundary. */
struct reader_arg {
	struct oracle_index *idx;
	atomic_bool stop;
	atomic_long views;
};

static void *reader_main(void *p)
{
	struct reader_arg *a = p;

	while (!atomic_load(&a->stop)) {
		struct oracle_read *r;
		const uint8_t *recs;
		size_t n, rl;
		int32_t tip;
		uint8_t hash[32], bh[32];

		CHECK_EQ_INT(oracle_read_begin(a->idx, &r), SD_OK);
		CHECK_EQ_INT(oracle_read_tip(r, &tip, hash), SD_OK);
		if (tip >= 1) {
			CHECK_EQ_INT(oracle_read_block(r, tip, bh, NULL), SD_OK);
			CHECK(!memcmp(bh, hash, 32));
			CHECK(!memcmp(bh, sfx_block(tip)->hash, 32));
			CHECK_EQ_INT(oracle_read_tweak_index(r, tip, &recs, &n,
							     &rl), SD_OK);
		}
		CHECK_EQ_INT(oracle_read_block(r, tip + 1, bh, NULL),
			     SD_ENOTFOUND);
		oracle_read_end(r);
		atomic_fetch_add(&a->views, 1);
		usleep(100);
	}
	return NULL;
}

int main(void)
{
	char dir[512], *grown, *ref;
	struct oracle_config c;
	struct oracle_index *idx;
	struct oracle_stats st;
	struct reader_arg ra = { 0 };
	pthread_t th[2];

	sfx_begin("test_store_sync");
	setenv("SIGNETD_INDEX_MAP_SIZE", "131072", 1);
	sfx_new_datadir(dir, sizeof(dir));
	c = sfx_full_cfg(dir);
	idx = sfx_open(&c);
	ra.idx = idx;
	for (int i = 0; i < 2; i++)
		CHECK(!pthread_create(&th[i], NULL, reader_main, &ra));
	sfx_connect(idx, 1, SFX_TIP);
	atomic_store(&ra.stop, true);
	for (int i = 0; i < 2; i++)
		CHECK(!pthread_join(th[i], NULL));
	CHECK(atomic_load(&ra.views) > 0);
	fprintf(stderr, "%ld read views during the sync\n",
		atomic_load(&ra.views));
	oracle_index_stats(idx, &st);
	CHECK_EQ_INT(st.tip_height, SFX_TIP);
	CHECK_EQ_INT(st.blocks_connected, SFX_TIP);
	CHECK_EQ_INT(st.tweaks_indexed, SFX_TWEAKS);
	CHECK(st.map_bytes > 131072);
	CHECK(st.db_bytes > 0 && !st.disk_full);
	fprintf(stderr, "map grew to %llu bytes, data file %llu bytes\n",
		(unsigned long long)st.map_bytes,
		(unsigned long long)st.db_bytes);
	unsetenv("SIGNETD_INDEX_MAP_SIZE");

	/* the grown index is the one the other store tests check */
	grown = sfx_dump(idx);
	oracle_index_close(idx);
	ref = sfx_full_dump();
	CHECK_STREQ(grown, ref);
	free(grown);
	free(ref);

	sfx_end();
	printf("test_store_sync: ok\n");
	return 0;
}

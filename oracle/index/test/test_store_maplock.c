/* test_store_maplock.c - map growth under sustained read load (issue 16
 * point 10).  Four threads keep read views open back to back (each view
 * held 2 ms, the next one opened at once), so that at every instant some
 * reader holds the map lock shared; meanwhile the writer connects regtest-a
 * from a 128 KiB map that must grow many times.  With a reader-preferring
 * lock the resize never gets the lock exclusively and indexing stops: a
 * connect taking more than CONNECT_LIMIT_S fails the test.  Also checks
 * that a thread holding a read view may open another one (nested shared
 * hold) while a resize waits.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../../common/log.h"
#include "../../../common/util.h"
#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "store_testlib.h"

#define N_READERS 4
#define N_BLOCKS 200
#define CONNECT_LIMIT_S 15

static struct rta_chain chain;
static atomic_bool stop;
static atomic_long views, nested;
static atomic_int current_height;

static void on_alarm(int sig)
{
	static const char msg[] = "FAIL: a connect (map growth) waited more "
				  "than the limit under read load: the writer "
				  "is starved\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to do */
	}
	_exit(1);
}

static void *reader_main(void *p)
{
	struct oracle_index *idx = p;
	unsigned i = 0;

	while (!atomic_load(&stop)) {
		struct oracle_read *r, *r2;
		int32_t tip;
		uint8_t hash[32];

		CHECK_EQ_INT(oracle_read_begin(idx, &r), SD_OK);
		CHECK_EQ_INT(oracle_read_tip(r, &tip, hash), SD_OK);
		usleep(2000);
		if (++i % 16 == 0) {
			/* a second shared hold by the same thread: must not
			 * wait behind a queued resize (it would never end) */
			CHECK_EQ_INT(oracle_index_tip(idx, &tip, hash), SD_OK);
			CHECK_EQ_INT(oracle_read_begin(idx, &r2), SD_OK);
			oracle_read_end(r2);
			atomic_fetch_add(&nested, 1);
		}
		oracle_read_end(r);
		atomic_fetch_add(&views, 1);
	}
	return NULL;
}

int main(void)
{
	char dir[512], path[600];
	const char *tmp = getenv("TMPDIR");
	struct oracle_config c = {
		.network = "regtest",
		.tweaks_full_basic = true,
		.tweaks_full_with_dust_filter = true,
		.tweaks_cut_through_with_dust_filter = true,
		.tweak_threads = 1, .start_height = 1,
	};
	struct oracle_index *idx;
	struct oracle_stats st;
	pthread_t th[N_READERS];
	uint64_t t0, worst = 0;

	sd_log_set_level(SD_LOG_WARN);
	snprintf(dir, sizeof(dir), "%s/test_maplock.XXXXXX",
		 tmp ? tmp : "/tmp");
	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/regtest-a/blocks.hex",
		 check_testdata_dir());
	CHECK_EQ_INT(rta_load(path, N_BLOCKS, &chain), 0);
	CHECK_EQ_INT(chain.n, N_BLOCKS);
	c.datadir = dir;
	setenv("SIGNETD_INDEX_MAP_SIZE", "131072", 1);
	{
		char err[SD_ERRLEN] = "";
		int rc = oracle_index_open(&c, &idx, err);

		if (rc != SD_OK)
			fprintf(stderr, "open: %s\n", err);
		CHECK_EQ_INT(rc, SD_OK);
	}
	/* a first block so that readers have a tip */
	CHECK_EQ_INT(oracle_index_connect(idx, chain.b[0]), SD_OK);

	for (int i = 0; i < N_READERS; i++) {
		CHECK(!pthread_create(&th[i], NULL, reader_main, idx));
		usleep(500); /* staggered: the views overlap */
	}
	usleep(20000);
	signal(SIGALRM, on_alarm);
	t0 = sd_mono_ns();
	for (int h = 2; h <= N_BLOCKS; h++) {
		uint64_t t = sd_mono_ns();

		atomic_store(&current_height, h);
		alarm(CONNECT_LIMIT_S);
		CHECK_EQ_INT(oracle_index_connect(idx, chain.b[h - 1]), SD_OK);
		alarm(0);
		t = sd_mono_ns() - t;
		if (t > worst)
			worst = t;
	}
	t0 = sd_mono_ns() - t0;
	atomic_store(&stop, true);
	for (int i = 0; i < N_READERS; i++)
		CHECK(!pthread_join(th[i], NULL));
	oracle_index_stats(idx, &st);
	fprintf(stderr, "%d blocks in %.2f s under %d readers (%ld views, "
		"%ld nested), slowest connect %.1f ms, map %llu bytes\n",
		N_BLOCKS - 1, (double)t0 / 1e9, N_READERS, atomic_load(&views),
		atomic_load(&nested), (double)worst / 1e6,
		(unsigned long long)st.map_bytes);
	CHECK_EQ_INT(st.tip_height, N_BLOCKS);
	CHECK(st.map_bytes > 131072 * 4); /* grew several times */
	CHECK(atomic_load(&views) > 100);
	CHECK(atomic_load(&nested) > 0);
	oracle_index_close(idx);

	/* Reopened, the index is as big as its map: it starts with a step of
	 * headroom, or the first write batch after a restart is lost to
	 * MDB_MAP_FULL (found by bench/scale). */
	{
		char err[SD_ERRLEN] = "";
		int rc = oracle_index_open(&c, &idx, err);

		if (rc != SD_OK)
			fprintf(stderr, "reopen: %s\n", err);
		CHECK_EQ_INT(rc, SD_OK);
	}
	{
		struct oracle_stats st2;

		oracle_index_stats(idx, &st2);
		fprintf(stderr, "reopened: file %llu bytes, map %llu bytes\n",
			(unsigned long long)st2.db_bytes,
			(unsigned long long)st2.map_bytes);
		CHECK_EQ_INT(st2.tip_height, N_BLOCKS);
		CHECK(st2.map_bytes >= st2.db_bytes + st2.db_bytes / 2);
	}
	oracle_index_close(idx);
	unsetenv("SIGNETD_INDEX_MAP_SIZE");
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	CHECK(system(path) == 0);
	rta_free(&chain);
	printf("test_store_maplock: ok\n");
	return 0;
}

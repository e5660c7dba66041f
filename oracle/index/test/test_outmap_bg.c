/* test_outmap_bg.c - the outpoint map is loaded after oracle_index_open,
 * on a thread of its own (store_env.c); regtest-a, real LMDB.  The loader
 * is held at its first row by a test hook (st_outmap_load_hook), so what
 * happens "during the load" is deterministic (the snapshot of the map a
 * clean close leaves is deleted first: test_outmap_snap.c has those):
 *  1. open returns and reads are served (tip, block, tweak index, utxos,
 *     filter, v2 record, stats saying loading) while the load is held; a
 *     connect started meanwhile waits for it and then spends correctly:
 *     300 -> 400 gives the dump of a straight 1..400 build (an empty map
 *     would miss the spends of outputs created up to 300), and the map
 *     equals a fresh load;
 *  2. close during a load cancels it and joins the loader (the hook sees
 *     the cancel); the next open loads in full;
 *  3. a failed load: reads still served, every writer call (connect,
 *     group-commit connect, disconnect) returns SD_EDB instead of
 *     crashing; close and a new open heal it;
 *  4. an empty index (no rows, hook never called) indexes at once.
 */
#include <lmdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../../common/log.h"
#include "../../../common/util.h"
#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "../oracle_v2.h"
#include "../store_int.h"
#include "store_testlib.h"
#include "store_testutil.h"
#include "store_testlog.h"

static struct rta_chain chain;
static char tmpdir[256];

/* ------------------------------------------------ the gate */

enum gate_mode { GATE_HOLD, GATE_UNTIL_CANCEL, GATE_FAIL };
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static enum gate_mode g_mode;
static bool g_entered, g_released, g_saw_cancel;
static size_t g_calls;

static int gate_hook(struct oracle_index *idx, size_t rows)
{
	int rc = 0;

	pthread_mutex_lock(&g_mu);
	g_calls++;
	if (rows == 0) {
		g_entered = true;
		pthread_cond_broadcast(&g_cv);
		if (g_mode == GATE_FAIL)
			rc = MDB_CORRUPTED;
		while (g_mode == GATE_HOLD && !g_released)
			pthread_cond_wait(&g_cv, &g_mu);
		pthread_mutex_unlock(&g_mu);
		/* close sets om_cancel, then joins: wait for it */
		while (g_mode == GATE_UNTIL_CANCEL &&
		       !atomic_load(&idx->om_cancel))
			usleep(1000);
		pthread_mutex_lock(&g_mu);
		g_saw_cancel = atomic_load(&idx->om_cancel);
	}
	pthread_mutex_unlock(&g_mu);
	return rc;
}

static void gate_arm(enum gate_mode mode)
{
	pthread_mutex_lock(&g_mu);
	g_mode = mode;
	g_entered = g_released = g_saw_cancel = false;
	g_calls = 0;
	pthread_mutex_unlock(&g_mu);
	st_outmap_load_hook = gate_hook;
}

static void gate_wait_entered(void)
{
	pthread_mutex_lock(&g_mu);
	while (!g_entered)
		pthread_cond_wait(&g_cv, &g_mu);
	pthread_mutex_unlock(&g_mu);
}

static void gate_release(void)
{
	pthread_mutex_lock(&g_mu);
	g_released = true;
	pthread_cond_broadcast(&g_cv);
	pthread_mutex_unlock(&g_mu);
}

static int om_state(struct oracle_index *idx)
{
	int s;

	pthread_mutex_lock(&idx->om_mu);
	s = idx->om_state;
	pthread_mutex_unlock(&idx->om_mu);
	return s;
}

/* ------------------------------------------------ helpers */


static void config(struct oracle_config *c, const char *dir)
{
	*c = (struct oracle_config){
		.datadir = dir, .network = "regtest",
		.tweaks_full_basic = true,
		.tweaks_full_with_dust_filter = true,
		.tweaks_cut_through_with_dust_filter = true,
		.tweak_threads = 2, .start_height = 1,
	};
}

/* As after a crash: no snapshot of the map, the next open scans. */
static void drop_snapshot(const char *dir)
{
	char p[600];

	snprintf(p, sizeof(p), "%s/index", dir);
	st_outmap_snap_drop(p);
}

/* A closed index of 1..to in tmpdir/name, without its map snapshot. */
static void build(const char *name, int to, char *dir, char **dump)
{
	struct oracle_config c;
	struct oracle_index *idx;

	snprintf(dir, 512, "%s/%s", tmpdir, name);
	config(&c, dir);
	st_outmap_load_hook = NULL;
	idx = stu_open_ok(&c);
	stu_connect_range(idx, &chain, 1, to);
	if (dump)
		*dump = stu_dump(idx);
	oracle_index_close(idx);
	drop_snapshot(dir);
}

static int count_cb(void *ctx, const struct oracle_utxo *u)
{
	(void)u;
	++*(size_t *)ctx;
	return 0;
}

/* Every read the servers make, at the tip and deeper. */
static void reads_served(struct oracle_index *idx, int32_t tip)
{
	struct oracle_read *r;
	struct oracle_stats st;
	const uint8_t *p;
	uint8_t hash[32];
	size_t n = 0, rl, len, utxos = 0;
	int32_t h;
	uint32_t t;

	CHECK_EQ_INT(oracle_read_begin(idx, &r), SD_OK);
	CHECK_EQ_INT(oracle_read_tip(r, &h, hash), SD_OK);
	CHECK_EQ_INT(h, tip);
	CHECK(!memcmp(hash, chain.b[tip - 1]->hash, 32));
	CHECK_EQ_INT(oracle_read_block(r, tip / 2, hash, &t), SD_OK);
	CHECK(!memcmp(hash, chain.b[tip / 2 - 1]->hash, 32));
	for (int32_t k = tip - 20; k <= tip; k++) {
		size_t m = 0;

		if (oracle_read_tweak_index(r, k, &p, &m, &rl) == SD_OK)
			n += m;
		CHECK_EQ_INT(oracle_read_utxos(r, k, count_cb, &utxos), SD_OK);
	}
	CHECK(n > 0 && utxos > 0);
	CHECK_EQ_INT(oracle_read_filter(r, tip, ORACLE_FILTER_NEW_UTXOS, &p,
					&len), SD_OK);
	CHECK_EQ_INT(oracle_read_v2(r, tip, &p, &len), SD_OK);
	oracle_read_end(r);
	CHECK_EQ_INT(oracle_index_tip(idx, &h, hash), SD_OK);
	CHECK_EQ_INT(h, tip);
	CHECK_EQ_INT(oracle_index_hash_at(idx, tip, hash), SD_OK);
	oracle_index_stats(idx, &st);
	CHECK_EQ_INT(st.tip_height, tip);
	CHECK(st.outmap_loading);
	CHECK_EQ_INT(st.outmap_entries, 0);
}

struct conn_arg {
	struct oracle_index *idx;
	int h, rc;
	bool done;
};

static void *connect_thread(void *p)
{
	struct conn_arg *a = p;

	a->rc = oracle_index_connect(a->idx, chain.b[a->h - 1]);
	__atomic_store_n(&a->done, true, __ATOMIC_SEQ_CST);
	return NULL;
}

/* ------------------------------------------------ 1. serve, then spend */

static void check_serve_before_load(const char *ref400)
{
	char dir[512], *d;
	struct oracle_config c;
	struct oracle_index *idx;
	struct oracle_stats st;
	struct conn_arg a;
	struct st_outmap fresh = { 0 };
	pthread_t th;
	MDB_txn *txn;

	build("serve", 300, dir, NULL);
	config(&c, dir);
	gate_arm(GATE_HOLD);
	idx = stu_open_ok(&c);          /* returns with the loader held */
	gate_wait_entered();
	CHECK_EQ_INT(om_state(idx), ST_OM_LOADING);
	reads_served(idx, 300);
	CHECK_EQ_INT(om_state(idx), ST_OM_LOADING);

	/* a connect waits for the map */
	a = (struct conn_arg){ .idx = idx, .h = 301 };
	CHECK_EQ_INT(pthread_create(&th, NULL, connect_thread, &a), 0);
	usleep(200 * 1000);
	CHECK(!__atomic_load_n(&a.done, __ATOMIC_SEQ_CST));
	CHECK_EQ_INT(om_state(idx), ST_OM_LOADING);
	gate_release();
	CHECK_EQ_INT(pthread_join(th, NULL), 0);
	CHECK_EQ_INT(a.rc, SD_OK);
	CHECK_EQ_INT(om_state(idx), ST_OM_READY);
	CHECK(g_calls >= 1);

	stu_connect_range(idx, &chain, 302, 400);
	d = stu_dump(idx);
	CHECK_STREQ(d, ref400);         /* every spend of 301..400 found */
	free(d);
	CHECK_EQ_INT(st_read_begin(idx, &txn), SD_OK);
	fresh.key = idx->om.key;
	CHECK_EQ_INT(st_outmap_load(idx, txn, &fresh), 0);
	st_read_end(idx, txn);
	CHECK(fresh.n > 100 && st_outmap_same(&idx->om, &fresh));
	oracle_index_stats(idx, &st);
	CHECK(!st.outmap_loading);
	CHECK_EQ_INT(st.outmap_entries, fresh.n);
	CHECK(st.outmap_bytes >= fresh.n * 8);
	st_outmap_free(&fresh);
	oracle_index_close(idx);
	fprintf(stderr, "served before the load; %u hook calls\n",
		(unsigned)g_calls);
}

/* ------------------------------------------------ 2. close cancels */

static void check_close_cancels(void)
{
	char dir[512];
	struct oracle_config c;
	struct oracle_index *idx;

	build("cancel", 300, dir, NULL);
	config(&c, dir);
	gate_arm(GATE_UNTIL_CANCEL);
	log_skip();
	idx = stu_open_ok(&c);
	gate_wait_entered();
	CHECK_EQ_INT(om_state(idx), ST_OM_LOADING);
	oracle_index_close(idx);        /* joins the loader */
	CHECK(g_saw_cancel);
	CHECK_EQ_INT(g_calls, 1);       /* stopped right after the hook */
	CHECK(log_has("msg=outpoint_map_load_cancelled"));
	CHECK(!log_has("msg=outpoint_map_loaded"));

	st_outmap_load_hook = NULL;
	idx = stu_open_ok(&c);
	stu_connect_range(idx, &chain, 301, 310);
	CHECK_EQ_INT(st_outmap_ready(idx), SD_OK);
	CHECK(idx->om.n > 100);
	oracle_index_close(idx);
}

/* ------------------------------------------------ 3. failed load */

static void check_failed_load(void)
{
	char dir[512];
	struct oracle_config c;
	struct oracle_index *idx;
	struct oracle_stats st;

	build("fail", 300, dir, NULL);
	config(&c, dir);
	gate_arm(GATE_FAIL);
	log_skip();
	idx = stu_open_ok(&c);
	CHECK_EQ_INT(oracle_index_connect(idx, chain.b[300]), SD_EDB);
	CHECK_EQ_INT(om_state(idx), ST_OM_FAILED);
	CHECK(log_has("msg=outpoint_map_load_failed"));
	CHECK(log_has("msg=outpoint_map_unavailable"));
	CHECK_EQ_INT(oracle_index_connect(idx, chain.b[300]), SD_EDB);
	oracle_index_set_group_commit(idx, 4);
	CHECK_EQ_INT(oracle_index_connect(idx, chain.b[300]), SD_EDB);
	CHECK(idx->wtxn == NULL);
	CHECK_EQ_INT(oracle_index_disconnect(idx, 300, chain.b[299]->hash),
		     SD_EDB);
	oracle_index_stats(idx, &st);
	CHECK(!st.outmap_loading && st.tip_height == 300);
	{	/* reads still served; nothing was written */
		struct oracle_read *r;
		int32_t h;
		uint8_t hash[32];

		CHECK_EQ_INT(oracle_read_begin(idx, &r), SD_OK);
		CHECK_EQ_INT(oracle_read_tip(r, &h, hash), SD_OK);
		CHECK_EQ_INT(h, 300);
		oracle_read_end(r);
	}
	oracle_index_close(idx);

	st_outmap_load_hook = NULL;
	idx = stu_open_ok(&c);
	stu_connect_range(idx, &chain, 301, 305);
	oracle_index_close(idx);
}

/* ------------------------------------------------ 4. empty index */

static void check_empty(void)
{
	char dir[512];
	struct oracle_config c;
	struct oracle_index *idx;

	snprintf(dir, sizeof(dir), "%s/empty", tmpdir);
	config(&c, dir);
	gate_arm(GATE_FAIL);            /* never called: no rows */
	idx = stu_open_ok(&c);
	stu_connect_range(idx, &chain, 1, 300);
	CHECK_EQ_INT(g_calls, 0);
	CHECK(idx->om.n > 0);
	oracle_index_close(idx);
	st_outmap_load_hook = NULL;
}

int main(void)
{
	char dir[512], *ref400;

	(void)stu_limit_file;           /* (store_testutil.h) */
	stu_begin(tmpdir, sizeof(tmpdir), "test_outmap_bg", &chain);
	log_open(tmpdir);
	build("ref", 400, dir, &ref400);

	check_serve_before_load(ref400);
	check_close_cancels();
	check_failed_load();
	check_empty();

	free(ref400);
	stu_end(tmpdir, &chain);
	printf("test_outmap_bg: ok\n");
	return 0;
}

/* test_store_outmap.c - the in-memory outpoint map of index format 2
 * (store_outmap.c) and its users:
 *  1. the map alone: random add/del sequences (one fingerprint holding
 *     hundreds of entries, fingerprints whose low bits collide so clusters
 *     wrap around the table end, resizes) against a brute-force multiset;
 *     st_outmap_next, st_outmap_same, rollback to the committed multiset
 *     (also across a resize), commit;
 *  2. regtest-a: after connect 1..400 (one txn a block and group commit 7,
 *     also mid-batch against the open write txn), after disconnect to 300
 *     and after reconnect, idx->om equals a map loaded from the DB and
 *     holds exactly the unspent utxos rows;
 *  3. a group-commit batch lost to a full disk (RLIMIT_FSIZE): the map is
 *     rolled back to the durable tip; resuming gives the reference index.
 * (Migrations: test_migrate.c.)
 */
#include <lmdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "../../../common/util.h"
#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "../store_int.h"
#include "store_testlib.h"
#include "store_testutil.h"

static struct rta_chain chain;
static char tmpdir[256];
static int dir_seq;

/* ------------------------------------------------ 1. the map alone */

/* Brute force: cnt[i][h] = how often (pool[i], h) is in the map.  pool[0]
 * is hot (10% of ops); 1/8 of pool homes at the end of the last segment,
 * 1/8 at slot 0 of the first (the top 8 of 40 bits pick the segment, the
 * next ones the home), so one cluster wraps; those two segments grow
 * far more often than the others. */
#define POOL 2048
#define NH 8
static uint64_t pool[POOL], rng = 0x243f6a8885a308d3ull;
static uint16_t cnt[POOL][NH], saved[POOL][NH];
static size_t total;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	return rng ^= rng << 17;
}

static void init_pool(void)
{
	for (size_t i = 0; i < POOL; i++) {
		uint64_t top = i % 8 == 1 ? 0xffff - (rnd() & 3) :
			       i % 8 == 2 ? rnd() & 3 : rnd() & 0xffff;

		/* 40 bits, distinct and nonzero: bits 8..23 hold i + 1 */
		pool[i] = (top << 24) | ((uint64_t)(i + 1) << 8) | (rnd() & 0xff);
	}
}

static void check_fp(const struct st_outmap *m, size_t i)
{
	uint16_t got[NH] = { 0 };
	size_t pos = 0, steps = 0;
	uint32_t h;

	while (st_outmap_next(m, pool[i], &pos, &h)) {
		CHECK(h < NH && pos != 0 && ++steps <= m->n);
		got[h]++;
	}
	CHECK(!memcmp(got, cnt[i], sizeof(got)));
}

static void check_all(const struct st_outmap *m)
{
	for (size_t i = 0; i < POOL; i++)
		check_fp(m, i);
	CHECK_EQ_INT(m->n, total);
}

/* One random op; add-biased when grow, else mostly deletes of present
 * entries (some of absent ones, which must fail). */
static void random_op(struct st_outmap *m, bool grow)
{
	size_t i = rnd() % 10 == 0 ? 0 : (size_t)rnd() % POOL;
	uint32_t h = (uint32_t)(rnd() % NH);

	if (rnd() % 100 < (grow ? 70u : 30u)) {
		st_outmap_add(m, pool[i], h);
		cnt[i][h]++;
		total++;
	} else {
		bool had, seek = !grow && total && rnd() % 8;

		while (seek && !cnt[i][h]) {
			h = (h + 1) % NH;
			i = h ? i : (i + 1) % POOL;
		}
		had = cnt[i][h] > 0;
		CHECK_EQ_INT(st_outmap_del(m, pool[i], h), had);
		if (had) {
			cnt[i][h]--;
			total--;
		}
	}
	check_fp(m, i);
}

/* A map built from the brute-force counts alone. */
static void build_copy(struct st_outmap *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < POOL; i++)
		for (uint32_t h = 0; h < NH; h++)
			for (unsigned k = 0; k < cnt[i][h]; k++)
				st_outmap_add(c, pool[i], h);
	st_outmap_commit(c);
}

static void check_map_alone(void)
{
	struct st_outmap m = { 0 }, c;
	size_t ops = 0, max_cap = 0, r, k, distinct = 0;
	uint8_t txid[32], seen[1024] = { 0 };
	const struct st_om_seg *last = &m.seg[ST_OM_SEGS - 1];

	init_pool();
	CHECK(!st_outmap_del(&m, pool[0], 0));   /* empty map */
	CHECK_EQ_INT(st_outmap_bytes(&m), 0);
	/* grow to ~18000 entries, shrink to ~2000, grow again */
	for (r = 0; r < 3; r++) {
		while (r == 1 ? total > 2000 : total < 18000) {
			random_op(&m, r != 1);
			if (++ops % 5000 == 0) {
				check_all(&m);
				st_outmap_commit(&m);
			}
		}
		check_all(&m);
		CHECK(r == 1 || (last->s[0] && last->s[last->cap - 1]));
		max_cap = m.cap > max_cap ? m.cap : max_cap;
	}
	st_outmap_commit(&m);
	CHECK(ops > 30000 && cnt[0][0] > 100);
	CHECK(m.seg[0].cap >= 2048 && last->cap >= 2048 &&
	      m.seg[1].cap < 2048);             /* grown on their own */
	CHECK(m.forced > 0 && m.grows > m.forced);
	fprintf(stderr, "map: %zu ops, %zu entries, cap %zu, %zu growths "
		"(%zu at 90%%)\n", ops, total, m.cap, m.grows, m.forced);

	/* st_outmap_same can say no: one more entry, one other height */
	build_copy(&c);
	CHECK(st_outmap_same(&m, &c) && st_outmap_same(&c, &m));
	st_outmap_add(&c, pool[3], 1);
	CHECK(!st_outmap_same(&m, &c) && !st_outmap_same(&c, &m));
	CHECK(st_outmap_del(&c, pool[3], 1) && st_outmap_del(&c, pool[0], 0));
	st_outmap_add(&c, pool[0], NH);
	CHECK(!st_outmap_same(&m, &c));
	st_outmap_free(&c);

	/* rollback restores the committed multiset, commit keeps changes */
	for (r = 0; r < 12; r++) {
		size_t before = total, n_ops = 1 + rnd() % 4000;

		memcpy(saved, cnt, sizeof(cnt));
		build_copy(&c);
		for (k = 0; k < n_ops || (r == 4 && m.cap <= max_cap); k++)
			random_op(&m, r == 4 || k % 2);
		if (r == 4)
			CHECK(m.cap > max_cap);     /* resized inside the txn */
		if (r % 3 == 2) {
			st_outmap_commit(&m);
			st_outmap_rollback(&m);     /* nothing to undo */
			check_all(&m);
		} else {
			CHECK(m.log_n > 0);
			st_outmap_rollback(&m);
			CHECK_EQ_INT(m.log_n, 0);
			CHECK(st_outmap_same(&m, &c));
			memcpy(cnt, saved, sizeof(cnt));
			total = before;
			check_all(&m);
		}
		st_outmap_free(&c);
	}
	st_outmap_free(&m);
	CHECK(m.seg[0].s == NULL && last->s == NULL && m.cap == 0 &&
	      m.n == 0 && st_outmap_bytes(&m) == 0);

	/* fingerprints: vouts of one txid spread over the keyed 40 bits
	 * (the top ones pick the segment and the home slot) */
	memset(txid, 0x5a, sizeof(txid));
	m.key = 0x0123456789abcdefull;
	for (uint32_t v = 0; v < 1024; v++) {
		uint64_t fp = st_outmap_fp(txid, v);
		size_t pos = 0;
		uint32_t h;

		CHECK(fp != st_outmap_fp(txid, v + 1));
		st_outmap_add(&m, fp, v);
		CHECK(st_outmap_next(&m, fp, &pos, &h));
	}
	for (size_t sg = 0; sg < ST_OM_SEGS; sg++) {    /* top 10 bits */
		const uint64_t *t = m.seg[sg].s;

		for (size_t i = 0; i < m.seg[sg].cap; i++)
			if (t[i])
				distinct += !seen[t[i] >> (24 + 30)]++;
	}
	st_outmap_free(&m);
	CHECK(distinct > 500);
}

/* ------------------------------------------------ 2. vs the DB */

/* A full-kind regtest index in a new datadir (dir: 512 bytes). */
static struct oracle_index *open_new(char *dir, struct oracle_config *c)
{
	snprintf(dir, 512, "%s/d%d", tmpdir, dir_seq++);
	*c = (struct oracle_config){
		.datadir = dir, .network = "regtest",
		.tweaks_full_basic = true,
		.tweaks_full_with_dust_filter = true,
		.tweaks_cut_through_with_dust_filter = true,
		.tweak_threads = 2, .start_height = 1,
	};
	return stu_open_ok(c);
}

/* Disconnect from, from - 1, ..., to + 1. */
static void disconnect_to(struct oracle_index *idx, int from, int to)
{
	for (int h = from; h > to; h--)
		CHECK_EQ_INT(oracle_index_disconnect(idx, h, chain.b[h - 1]->hash),
			     SD_OK);
}

/* idx->om against the utxos rows visible in txn (a read txn when NULL):
 * every unspent row is found under its fingerprint, the entry count is
 * the number of unspent rows, and the map equals a fresh load. */
static size_t check_om(struct oracle_index *idx, MDB_txn *wtxn)
{
	struct st_outmap m = { 0 };
	MDB_txn *txn = wtxn;
	MDB_cursor *c;
	MDB_val k, v;
	size_t unspent = 0;
	uint8_t txid[32];
	int rc;

	CHECK_EQ_INT(st_outmap_ready(idx), SD_OK);   /* loaded after open */
	m.key = idx->om.key;                         /* comparable slots */
	if (!txn)
		CHECK_EQ_INT(st_read_begin(idx, &txn), SD_OK);
	CHECK_EQ_INT(st_outmap_load(idx, txn, &m), 0);
	CHECK_EQ_INT(mdb_cursor_open(txn, idx->dbi[ST_UTXO], &c), 0);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *key = k.mv_data, *val = v.mv_data;
		MDB_val bv;
		size_t n_out;

		CHECK_EQ_INT(k.mv_size, ST_UTXO_KEY);
		CHECK_EQ_INT(st_utxo_outs(v.mv_size, &n_out), 0);
		CHECK_EQ_INT(st_bits_get(idx, txn, sd_be32_get(key), &bv), 0);
		st_rev32(txid, key + 4);
		for (size_t i = 0; i < n_out; i++) {
			const uint8_t *o = val + ST_UTXO_HDR + i * ST_OUT_LEN;
			size_t pos = 0;
			uint32_t h;
			bool found = false, spent;

			CHECK(st_bit_get(bv.mv_data, bv.mv_size,
					 sd_be32_get(val + 4) + (uint32_t)i,
					 &spent));
			if (spent)
				continue;
			unspent++;
			while (!found && st_outmap_next(&idx->om,
					st_outmap_fp(txid, sd_be32_get(o)),
					&pos, &h))
				found = h == sd_be32_get(key);
			CHECK(found);
		}
	}
	CHECK_EQ_INT(rc, MDB_NOTFOUND);
	mdb_cursor_close(c);
	if (!wtxn)
		st_read_end(idx, txn);
	CHECK(unspent > 0);
	CHECK_EQ_INT(idx->om.n, unspent);
	CHECK_EQ_INT(m.n, unspent);
	CHECK(st_outmap_same(&idx->om, &m));
	st_outmap_free(&m);
	return unspent;
}

/* Returns the dump of a one-txn-a-block build of 1..400. */
static char *check_vs_db(void)
{
	char dir[512], *d, *ref400;
	struct oracle_config c;
	struct oracle_index *a, *g;
	size_t n400;

	a = open_new(dir, &c);
	stu_connect_range(a, &chain, 1, 400);
	ref400 = stu_dump(a);
	n400 = check_om(a, NULL);
	CHECK_EQ_INT(a->om.log_n, 0);
	for (int h = 400; h > 300; h -= 20) {
		disconnect_to(a, h, h - 20);
		check_om(a, NULL);
	}
	stu_connect_range(a, &chain, 301, 400);
	CHECK_EQ_INT(check_om(a, NULL), n400);
	oracle_index_close(a);

	g = open_new(dir, &c);
	oracle_index_set_group_commit(g, 7);
	stu_connect_range(g, &chain, 1, 7 * 20 + 3);
	CHECK(g->wtxn != NULL && g->om.log_n > 0);
	check_om(g, g->wtxn);          /* pending blocks are in the map */
	stu_connect_range(g, &chain, 7 * 20 + 4, 400);
	CHECK_EQ_INT(oracle_index_flush(g), SD_OK);
	CHECK_EQ_INT(check_om(g, NULL), n400);
	disconnect_to(g, 400, 300);
	check_om(g, NULL);
	stu_connect_range(g, &chain, 301, 400);
	CHECK_EQ_INT(oracle_index_flush(g), SD_OK);
	CHECK_EQ_INT(check_om(g, NULL), n400);
	d = stu_dump(g);
	CHECK_STREQ(d, ref400);
	free(d);
	oracle_index_close(g);
	fprintf(stderr, "map = DB: %zu unspent tracked outputs at 400\n", n400);
	return ref400;
}

/* ------------------------------------------------ 3. lost batch */

static void check_lost_batch(const char *ref400)
{
	char dir[512], *d;
	struct oracle_config c;
	struct oracle_index *idx;
	struct rlimit old;
	int h, rc = SD_OK, lost_log = 0;
	int32_t tip;
	uint8_t hash[32];

	idx = open_new(dir, &c);
	oracle_index_set_group_commit(idx, 7);
	stu_connect_range(idx, &chain, 1, 200);
	CHECK_EQ_INT(oracle_index_flush(idx), SD_OK);
	stu_limit_file(dir, &old);
	for (h = 201; h <= 400; h++) {
		lost_log = (int)idx->om.log_n;
		rc = oracle_index_connect(idx, chain.b[h - 1]);
		if (rc != SD_OK)
			break;
	}
	CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
	CHECK_EQ_INT(rc, SD_ENOSPC);
	CHECK(idx->wtxn == NULL && idx->om.log_n == 0);
	CHECK_EQ_INT(oracle_index_tip(idx, &tip, hash), SD_OK);
	CHECK(tip == idx->durable_height && tip == idx->tip_height);
	CHECK(tip >= 200 && (tip - 200) % 7 == 0);
	CHECK(!memcmp(hash, chain.b[tip - 1]->hash, 32));
	CHECK(h - 1 > tip && lost_log > 0);  /* pending changes were undone */
	check_om(idx, NULL);
	fprintf(stderr, "batch lost at %d (durable %d, %d map changes undone)\n",
		h, tip, lost_log);

	stu_connect_range(idx, &chain, tip + 1, 400);
	CHECK_EQ_INT(oracle_index_flush(idx), SD_OK);
	check_om(idx, NULL);
	d = stu_dump(idx);
	CHECK_STREQ(d, ref400);
	free(d);
	oracle_index_close(idx);
}

int main(void)
{
	char *ref400;

	check_map_alone();

	stu_begin(tmpdir, sizeof(tmpdir), "test_store_outmap", &chain);
	ref400 = check_vs_db();
	check_lost_batch(ref400);

	free(ref400);
	stu_end(tmpdir, &chain);
	printf("test_store_outmap: ok\n");
	return 0;
}

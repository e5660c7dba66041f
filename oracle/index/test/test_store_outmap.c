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
 *     rolled back to the durable tip; resuming gives the reference index;
 *  4. migration of a format 1 index (outpoints table, code 5 undo
 *     entries) built with raw LMDB: version 2, table gone, map loaded,
 *     disconnect/reconnect through format 1 undo logs; format 3 refused.
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
 * is hot (10% of ops); 1/8 of pool homes at the table end, 1/8 at slot 0
 * (a home is fp * cap >> 40: the top bits), so one cluster wraps. */
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

	init_pool();
	CHECK(!st_outmap_del(&m, pool[0], 0));   /* empty map */
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
		CHECK(r == 1 || (m.s[0] && m.s[m.cap - 1]));   /* wraps */
		max_cap = m.cap > max_cap ? m.cap : max_cap;
	}
	st_outmap_commit(&m);
	CHECK(ops > 30000 && max_cap >= 16384 && cnt[0][0] > 100);
	fprintf(stderr, "map: %zu ops, %zu entries, cap %zu\n", ops, total,
		m.cap);

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
	CHECK(m.s == NULL && m.old == NULL && m.n == 0);

	/* fingerprints: vouts of one txid spread over the keyed 40 bits
	 * (the top ones pick the home slot) */
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
	for (size_t i = 0; i < m.cap; i++)
		if (m.s[i])
			distinct += !seen[m.s[i] >> (24 + 30)]++;
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
		const uint8_t *key = k.mv_data;
		size_t pos = 0;
		uint32_t h;
		bool found = false;

		MDB_val bv;
		bool spent;

		CHECK_EQ_INT(v.mv_size, ST_UTXO_VAL);
		CHECK_EQ_INT(st_bits_get(idx, txn, sd_be32_get(key), &bv), 0);
		CHECK(st_bit_get(bv.mv_data, bv.mv_size, sd_be32_get(
			(const uint8_t *)v.mv_data + ST_UTXO_ORD), &spent));
		if (spent)
			continue;
		unspent++;
		st_rev32(txid, key + 4);
		while (!found && st_outmap_next(&idx->om, st_outmap_fp(txid,
				sd_be32_get(key + 36)), &pos, &h))
			found = h == sd_be32_get(key);
		CHECK(found);
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

/* ------------------------------------------------ 4. format 1 -> 2 */

static void raw_open(const char *dir, MDB_env **env, MDB_txn **txn,
		     MDB_dbi *meta)
{
	char p[600];

	snprintf(p, sizeof(p), "%s/index", dir);
	CHECK(!mdb_env_create(env));
	CHECK(!mdb_env_set_maxdbs(*env, 16));
	CHECK(!mdb_env_open(*env, p, 0, 0640));
	CHECK(!mdb_txn_begin(*env, NULL, 0, txn));
	CHECK(!mdb_dbi_open(*txn, "meta", 0, meta));
}

/* Turn a closed format 3 index into what format 2 wrote: utxos values
 * `value | spk | spent(1)`, no spent_bits table, and for each spend a
 * code 4 undo entry (the row's unspent before-image) instead of code 6;
 * version 2.  Returns the number of spent rows. */
static size_t make_format2(const char *dir)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, utxos, bits, undo;
	MDB_cursor *c;
	MDB_val k, v, bv;
	struct sd_buf nb = { 0 };
	uint8_t key[ST_UTXO_KEY], val[ST_V2_UTXO_VAL], vb[4];
	size_t n_spent = 0, n4 = 0;
	int rc;

	raw_open(dir, &env, &txn, &meta);
	CHECK(!mdb_dbi_open(txn, "utxos", 0, &utxos));
	CHECK(!mdb_dbi_open(txn, "spent_bits", 0, &bits));
	CHECK(!mdb_dbi_open(txn, "undo", 0, &undo));

	/* undo logs first: their code 4 entries need the rows as they are */
	CHECK(!mdb_cursor_open(txn, undo, &c));
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *p = v.mv_data;
		size_t off = 0, len = v.mv_size;

		nb.len = 0;
		while (off < len) {
			size_t klen = ((size_t)p[off + 1] << 8) | p[off + 2];
			size_t end = off + 3 + klen;
			MDB_val uk = { ST_UTXO_KEY, (void *)(p + off + 3) }, uv;

			CHECK(end < len);
			end += p[end] ? 3 + (((size_t)p[end + 1] << 8) |
					     p[end + 2]) : 1;
			CHECK(end <= len);
			CHECK(p[off] == ST_UNDO_CUT || p[off] == ST_UNDO_SPENT);
			if (p[off] == ST_UNDO_CUT) {
				sd_buf_put(&nb, p + off, end - off);
				off = end;
				continue;
			}
			/* 4 | 0 40 | key | 1 | 0 43 | value|spk|0 */
			CHECK_EQ_INT(klen, ST_UTXO_KEY);
			CHECK(!mdb_get(txn, utxos, &uk, &uv));
			CHECK_EQ_INT(uv.mv_size, ST_UTXO_VAL);
			memcpy(val, uv.mv_data, ST_UTXO_ORD);
			val[ST_V2_UTXO_VAL - 1] = 0;
			sd_buf_put(&nb, (uint8_t[]){ ST_UNDO_UTXO, 0,
				   ST_UTXO_KEY }, 3);
			sd_buf_put(&nb, p + off + 3, ST_UTXO_KEY);
			sd_buf_put(&nb, (uint8_t[]){ 1, 0, ST_V2_UTXO_VAL }, 3);
			sd_buf_put(&nb, val, sizeof(val));
			n4++;
			off = end;
		}
		memcpy(key, k.mv_data, 4);
		k.mv_data = key;
		k.mv_size = 4;
		v.mv_data = nb.p;
		v.mv_size = nb.len;
		CHECK(!mdb_cursor_put(c, &k, &v, MDB_CURRENT));
		CHECK(!mdb_cursor_get(c, &k, &v, MDB_SET_KEY));
	}
	CHECK_EQ_INT(rc, MDB_NOTFOUND);
	mdb_cursor_close(c);

	/* the rows: spent byte from the bitmap instead of the ord */
	CHECK(!mdb_cursor_open(txn, utxos, &c));
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		MDB_val hk = { 4, vb };
		bool spent;

		CHECK_EQ_INT(k.mv_size, ST_UTXO_KEY);
		CHECK_EQ_INT(v.mv_size, ST_UTXO_VAL);
		memcpy(key, k.mv_data, sizeof(key));
		memcpy(vb, key, 4);
		CHECK(!mdb_get(txn, bits, &hk, &bv));
		CHECK(st_bit_get(bv.mv_data, bv.mv_size, sd_be32_get(
			(const uint8_t *)v.mv_data + ST_UTXO_ORD), &spent));
		memcpy(val, v.mv_data, ST_UTXO_ORD);
		val[ST_V2_UTXO_VAL - 1] = spent;
		n_spent += spent;
		k.mv_data = key;
		v.mv_data = val;
		v.mv_size = sizeof(val);
		CHECK(!mdb_cursor_put(c, &k, &v, MDB_CURRENT));
		k.mv_size = sizeof(key);
		CHECK(!mdb_cursor_get(c, &k, &v, MDB_SET_KEY));
	}
	CHECK_EQ_INT(rc, MDB_NOTFOUND);
	mdb_cursor_close(c);
	CHECK(!mdb_drop(txn, bits, 1));
	{   /* format 4's v2 records did not exist */
		MDB_dbi v2;

		CHECK(!mdb_dbi_open(txn, "v2", 0, &v2));
		CHECK(!mdb_drop(txn, v2, 1));
	}
	sd_be32_put(vb, 2);
	k.mv_size = 7;
	k.mv_data = "version";
	v.mv_size = 4;
	v.mv_data = vb;
	CHECK(!mdb_put(txn, meta, &k, &v, 0));
	CHECK(!mdb_txn_commit(txn));
	mdb_env_close(env);
	sd_buf_free(&nb);
	CHECK(n4 > 10 && n_spent >= n4);
	fprintf(stderr, "format 2: %zu spent rows, %zu code 4 undo entries\n",
		n_spent, n4);
	return n_spent;
}

/* Add what format 1 wrote (outpoints table, code 5 undo entries at
 * 301..400) to a closed format 2 index (make_format2); returns the
 * outpoints rows. */
static size_t make_format1(const char *dir)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, utxos, undo, op;
	MDB_cursor *c;
	MDB_val k, v;
	struct sd_buf nb = { 0 };
	uint8_t ok[36], hbe[4];
	size_t n_op = 0, n5 = 0;
	int rc;

	raw_open(dir, &env, &txn, &meta);
	CHECK(!mdb_dbi_open(txn, "utxos", 0, &utxos));
	CHECK(!mdb_dbi_open(txn, "undo", 0, &undo));
	CHECK(!mdb_dbi_open(txn, "outpoints", MDB_CREATE, &op));
	CHECK(!mdb_cursor_open(txn, utxos, &c));
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *key = k.mv_data;
		MDB_val ko = { 36, ok }, vo = { 4, (void *)key };

		CHECK_EQ_INT(k.mv_size, ST_UTXO_KEY);
		CHECK_EQ_INT(v.mv_size, ST_V2_UTXO_VAL);
		if (((const uint8_t *)v.mv_data)[ST_V2_UTXO_VAL - 1])
			continue;
		st_rev32(ok, key + 4);
		memcpy(ok + 32, key + 36, 4);
		CHECK(!mdb_put(txn, op, &ko, &vo, MDB_NOOVERWRITE));
		n_op++;
	}
	CHECK_EQ_INT(rc, MDB_NOTFOUND);
	mdb_cursor_close(c);

	for (uint32_t h = 301; h <= 400; h++) {
		const uint8_t *p;
		size_t off = 0, len;

		sd_be32_put(hbe, h);
		k.mv_size = 4;
		k.mv_data = hbe;
		if ((rc = mdb_get(txn, undo, &k, &v)) == MDB_NOTFOUND)
			continue;
		CHECK_EQ_INT(rc, 0);
		p = v.mv_data;
		len = v.mv_size;
		nb.len = 0;
		while (off < len) {
			size_t klen = ((size_t)p[off + 1] << 8) | p[off + 2];
			size_t end = off + 3 + klen;

			CHECK(p[off] == ST_UNDO_CUT || p[off] == ST_UNDO_UTXO);
			CHECK(end < len);
			end += p[end] ? 3 + (((size_t)p[end + 1] << 8) |
					     p[end + 2]) : 1;
			CHECK(end <= len);
			if (p[off] == ST_UNDO_UTXO) {
				/* format 1 logged the outpoint row first:
				 * 5 | 36 | txid|vout | 1 | 4 | H_c */
				uint8_t e[46] = { ST_UNDO_V1_OUTPOINT, 0, 36 };

				CHECK_EQ_INT(klen, ST_UTXO_KEY);
				st_rev32(e + 3, p + off + 3 + 4);
				memcpy(e + 35, p + off + 3 + 36, 4);
				e[39] = 1;
				e[41] = 4;
				memcpy(e + 42, p + off + 3, 4);
				sd_buf_put(&nb, e, sizeof(e));
				n5++;
			}
			sd_buf_put(&nb, p + off, end - off);
			off = end;
		}
		v.mv_size = nb.len;
		v.mv_data = nb.p;
		CHECK(!mdb_put(txn, undo, &k, &v, 0));
	}
	sd_buf_free(&nb);
	CHECK(n5 > 10);
	CHECK(!mdb_txn_commit(txn));
	mdb_env_close(env);
	fprintf(stderr, "format 1: %zu outpoints rows, %zu code 5 undo "
		"entries\n", n_op, n5);
	return n_op;
}

/* The version in meta (first set to set if nonzero), and whether the
 * outpoints table exists. */
static uint32_t raw_version(const char *dir, uint32_t set,
			    bool *has_outpoints)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, op;
	uint8_t vb[4];
	MDB_val k = { 7, "version" }, v = { 4, vb };
	uint32_t ver;
	int rc;

	raw_open(dir, &env, &txn, &meta);
	sd_be32_put(vb, set);
	CHECK(!set || !mdb_put(txn, meta, &k, &v, 0));
	CHECK(!mdb_get(txn, meta, &k, &v));
	CHECK_EQ_INT(v.mv_size, 4);
	ver = sd_be32_get(v.mv_data);
	rc = mdb_dbi_open(txn, "outpoints", 0, &op);
	CHECK(rc == 0 || rc == MDB_NOTFOUND);
	*has_outpoints = rc == 0;
	CHECK(!mdb_txn_commit(txn));
	mdb_env_close(env);
	return ver;
}

/* The dump without what migration to format 4 cannot make (the `v2`
 * records need the blocks) nor its marker (meta v2_from). */
static char *strip_v2(char *d)
{
	char *o = d, *p = d;

	while (*p) {
		char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);

		if (strncmp(p, "v2 ", 3) &&
		    strncmp(p, "meta 76325f66726f6d ", 20)) {
			memmove(o, p, n);
			o += n;
		}
		p += n;
	}
	*o = '\0';
	return d;
}

/* The v2 lines of dump d from height `from` on ("v2 <H hex> ..."). */
static char *v2_lines(const char *d, uint32_t from)
{
	struct sd_buf b = { 0 };
	const char *p = d;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);

		if (!strncmp(p, "v2 ", 3) && strtoul(
			    (char[9]){ p[3], p[4], p[5], p[6], p[7], p[8],
				       p[9], p[10], 0 }, NULL, 16) >= from)
			sd_buf_put(&b, p, n);
		p += n;
	}
	sd_buf_put(&b, "", 1);
	return (char *)b.p;
}

/* A format `from` (1 or 2) index of 1..400, opened by this signetd: one
 * migration to format 3 in the open txn, the same dump as a native build,
 * and the old undo logs take it back to 300 exactly. */
static void check_migration(const char *ref400, uint32_t from)
{
	char dir[512], err[SD_ERRLEN], *ref300, *d;
	char *ref400c = sd_xstrdup(ref400);
	struct oracle_config c;
	struct oracle_index *idx;
	size_t n_spent, n_unspent = 0;
	bool has_op;

	idx = open_new(dir, &c);
	stu_connect_range(idx, &chain, 1, 300);
	ref300 = stu_dump(idx);              /* a fresh one-txn-a-block 1..300 */
	stu_connect_range(idx, &chain, 301, 400);
	n_unspent = idx->om.n;
	oracle_index_close(idx);
	n_spent = make_format2(dir);
	CHECK(raw_version(dir, 0, &has_op) == 2 && !has_op);
	if (from == 1) {
		CHECK_EQ_INT(make_format1(dir), n_unspent);
		CHECK(raw_version(dir, 1, &has_op) == 1 && has_op);
	}

	/* a refused open (other network) leaves the old format untouched */
	c.network = "signet";
	CHECK_EQ_INT(oracle_index_open(&c, &idx, err), SD_EVERSION);
	CHECK(raw_version(dir, 0, &has_op) == from && has_op == (from == 1));
	c.network = "regtest";

	idx = stu_open_ok(&c);
	{   /* the index is open: look through its own env */
		MDB_txn *txn;
		MDB_dbi op;
		MDB_val k = { 7, "version" }, v;

		CHECK_EQ_INT(st_read_begin(idx, &txn), SD_OK);
		CHECK(!mdb_get(txn, idx->dbi[ST_META], &k, &v));
		CHECK(v.mv_size == 4 && sd_be32_get(v.mv_data) == ST_FORMAT_VERSION);
		k = (MDB_val){ 7, "v2_from" };
		CHECK(!mdb_get(txn, idx->dbi[ST_META], &k, &v));
		CHECK(v.mv_size == 4 && sd_be32_get(v.mv_data) == 401);
		CHECK_EQ_INT(mdb_dbi_open(txn, "outpoints", 0, &op),
			     MDB_NOTFOUND);
		st_read_end(idx, txn);
	}
	d = stu_dump(idx);                   /* = a native format 4 build */
	CHECK(!strstr(d, "\nv2 "));          /* but for the v2 records */
	CHECK_STREQ(strip_v2(d), strip_v2(ref400c));
	free(d);
	CHECK_EQ_INT(check_om(idx, NULL), n_unspent);
	disconnect_to(idx, 400, 300);    /* replays the old undo logs */
	check_om(idx, NULL);
	d = stu_dump(idx);
	CHECK_STREQ(strip_v2(d), strip_v2(ref300));
	free(d);
	stu_connect_range(idx, &chain, 301, 400);
	CHECK_EQ_INT(check_om(idx, NULL), n_unspent);
	d = stu_dump(idx);
	{   /* 301..400 got their v2 records, v2_from went down to 301 */
		char *a = v2_lines(d, 301), *b = v2_lines(ref400, 301);
		char *all;

		CHECK(strlen(a) > 0);
		CHECK_STREQ(a, b);
		all = v2_lines(d, 0);
		CHECK_STREQ(all, a);
		free(all);
		CHECK(strstr(d, "meta 76325f66726f6d 0000012d\n"));
		free(a);
		free(b);
	}
	CHECK_STREQ(strip_v2(d), strip_v2(ref400c));
	free(d);
	free(ref400c);
	oracle_index_close(idx);
	fprintf(stderr, "format %u -> 5: %zu spent, %zu unspent rows\n", from,
		n_spent, n_unspent);

	/* an unknown (newer) format is still refused */
	CHECK_EQ_INT(raw_version(dir, ST_FORMAT_VERSION + 1, &has_op),
		     ST_FORMAT_VERSION + 1);
	CHECK_EQ_INT(oracle_index_open(&c, &idx, err), SD_EVERSION);
	CHECK(idx == NULL && strstr(err, "format version 6"));
	free(ref300);
}

int main(void)
{
	char cmd[600], *ref400;
	const char *tmp = getenv("TMPDIR");

	check_map_alone();

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_store_outmap.XXXXXX",
		 tmp ? tmp : "/tmp");
	CHECK(mkdtemp(tmpdir));
	snprintf(cmd, sizeof(cmd), "%s/regtest-a/blocks.hex",
		 check_testdata_dir());
	CHECK_EQ_INT(rta_load(cmd, 0, &chain), 0);
	CHECK_EQ_INT(chain.n, 400);
	ref400 = check_vs_db();
	check_lost_batch(ref400);
	check_migration(ref400, 2);
	check_migration(ref400, 1);

	free(ref400);
	rta_free(&chain);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	CHECK_EQ_INT(system(cmd), 0);
	printf("test_store_outmap: ok\n");
	return 0;
}

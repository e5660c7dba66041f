/* test_outmap_grow.c - the outpoint map's 8-byte slots and incremental
 * growth (store_outmap.c):
 *  1. growth is spread over many changes: the change that starts one
 *     moves at most OM_STEP slots plus one probe cluster, the old table
 *     empties within cap / 32 + 1 changes, and meanwhile every entry is
 *     found (lookups probe both tables) and deletes reach entries still in
 *     the old table; against a brute-force list;
 *  2. rollback across a growth: a txn that starts a growth (and deletes
 *     from the old table), and a txn that finishes one, roll back to the
 *     committed multiset;
 *  3. heights: 2^24 - 1 is stored and found, 2^24 is refused (refused_h,
 *     nothing stored, cleared by rollback/commit); through the index, a
 *     block at height 2^24 with tracked outputs is refused with SD_EINVAL
 *     and logged, its parent at 2^24 - 1 is indexed (regtest-a blocks
 *     renumbered, real LMDB).
 */
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/log.h"
#include "../../../common/util.h"
#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "../store_int.h"
#include "store_testlib.h"
#include "store_testutil.h"

#define HMAX ((1u << 24) - 1)

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	return rng ^= rng << 17;
}

/* The brute-force list of (fp, h) entries. */
#define MAXE 40000
static uint64_t efp[MAXE];
static uint32_t eh[MAXE];
static size_t ne;

static size_t count_in(const struct st_outmap *m, uint64_t fp, uint32_t h)
{
	size_t pos = 0, n = 0;
	uint32_t hh;

	while (st_outmap_next(m, fp, &pos, &hh))
		n += hh == h;
	return n;
}

static void check_list(const struct st_outmap *m)
{
	CHECK_EQ_INT(m->n, ne);
	for (size_t i = 0; i < ne; i++)
		CHECK(count_in(m, efp[i], eh[i]) >= 1);
}

static void add_rand(struct st_outmap *m)
{
	CHECK(ne < MAXE);
	efp[ne] = (rnd() >> 24) | 1;          /* 40 bits, nonzero */
	eh[ne] = (uint32_t)(rnd() % 1000);
	st_outmap_add(m, efp[ne], eh[ne]);
	ne++;
}

static void del_at(struct st_outmap *m, size_t i)
{
	CHECK(st_outmap_del(m, efp[i], eh[i]));
	efp[i] = efp[ne - 1];
	eh[i] = eh[ne - 1];
	ne--;
}

static size_t used(const uint64_t *t, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; t && i < cap; i++)
		n += t[i] != 0;
	return n;
}

static size_t longest_cluster(const uint64_t *t, size_t cap)
{
	size_t best = 0, run = 0;

	for (size_t i = 0; i < 2 * cap; i++) {   /* twice: wrapping runs */
		run = t[i % cap] ? run + 1 : 0;
		best = run > best ? run : best;
	}
	return best;
}

/* Whether entry i lives in the old table now. */
static bool in_old(const struct st_outmap *m, size_t i)
{
	uint64_t slot = (efp[i] << 24) | eh[i];

	for (size_t k = 0; m->old && k < m->old_cap; k++)
		if (m->old[k] == slot)
			return true;
	return false;
}

/* ------------------------------------------------ 1. incremental */

static void check_incremental(void)
{
	struct st_outmap m = { 0 };
	size_t growths = 0;

	ne = 0;
	while (growths < 4) {
		size_t g = m.grows, ops = 0, before, maxc, in_old_n;

		add_rand(&m);
		if (m.grows == g)
			continue;
		/* this add started a growth: cap grew 1.5x */
		growths++;
		CHECK(m.old != NULL);
		CHECK_EQ_INT(m.cap, m.old_cap + m.old_cap / 2);
		maxc = longest_cluster(m.old, m.old_cap);
		in_old_n = used(m.old, m.old_cap);
		CHECK(in_old_n > 0);
		CHECK(ne - in_old_n <= 1 + 32 + maxc);  /* moved by this add */
		CHECK_EQ_INT(st_outmap_bytes(&m), (m.cap + m.old_cap) * 8);
		check_list(&m);
		/* until it ends: bounded moves a change, everything found,
		 * deletes of entries still in the old table */
		while (m.old) {
			size_t old_cap = m.old_cap;

			before = used(m.old, m.old_cap);
			if (ops % 3 == 2) {
				size_t i = (size_t)rnd() % ne, k;

				for (k = 0; k < 64 && !in_old(&m, i); k++)
					i = (size_t)rnd() % ne;
				del_at(&m, i);
			} else {
				add_rand(&m);
			}
			ops++;
			if (m.old) {
				CHECK(before - used(m.old, m.old_cap) <=
				      1 + 32 + maxc);
				CHECK_EQ_INT(m.old_cap, old_cap);
			}
			if (ops % 16 == 0)
				check_list(&m);
		}
		CHECK(ops > 1);
		CHECK(ops <= m.cap / 1.5 / 32 + 1);
		check_list(&m);
		fprintf(stderr, "growth to %zu slots: %zu changes, longest "
			"cluster %zu\n", m.cap, ops, maxc);
	}
	/* deletes down to nothing: no shrink, all gone */
	while (ne > 0)
		del_at(&m, (size_t)rnd() % ne);
	CHECK_EQ_INT(m.n, 0);
	CHECK_EQ_INT(used(m.s, m.cap), 0);
	st_outmap_free(&m);
}

/* ------------------------------------------------ 2. rollback */

static void copy_of_list(struct st_outmap *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < ne; i++)
		st_outmap_add(c, efp[i], eh[i]);
	st_outmap_commit(c);
}

static void check_rollback(void)
{
	struct st_outmap m = { 0 }, c;
	size_t saved_ne, g, k;
	static uint64_t sfp[MAXE];
	static uint32_t sh[MAXE];

	ne = 0;
	/* fill to just below a growth, commit */
	for (;;) {
		if ((m.n + 2) * 4 > m.cap * 3 && m.cap >= 8192 && !m.old)
			break;
		add_rand(&m);
	}
	st_outmap_commit(&m);
	saved_ne = ne;
	memcpy(sfp, efp, sizeof(sfp));
	memcpy(sh, eh, sizeof(sh));
	copy_of_list(&c);

	/* txn 1: starts a growth, moves part of it, deletes old entries */
	g = m.grows;
	for (k = 0; m.grows == g || k < 40; k++) {
		if (m.grows > g && k % 4 == 0) {
			size_t i = (size_t)rnd() % ne;

			while (!in_old(&m, i))
				i = (i + 1) % ne;
			del_at(&m, i);
		} else {
			add_rand(&m);
		}
	}
	CHECK(m.grows == g + 1 && m.old != NULL);
	check_list(&m);
	st_outmap_rollback(&m);
	CHECK_EQ_INT(m.log_n, 0);
	ne = saved_ne;
	memcpy(efp, sfp, sizeof(sfp));
	memcpy(eh, sh, sizeof(sh));
	CHECK(st_outmap_same(&m, &c) && st_outmap_same(&c, &m));
	check_list(&m);
	CHECK(m.old != NULL);           /* the growth goes on after it */

	/* txn 2: the growth ends inside it; roll back again */
	for (k = 0; m.old || k < 100; k++) {
		if (k % 2)
			del_at(&m, (size_t)rnd() % ne);
		else
			add_rand(&m);
	}
	st_outmap_rollback(&m);
	ne = saved_ne;
	memcpy(efp, sfp, sizeof(sfp));
	memcpy(eh, sh, sizeof(sh));
	CHECK(m.old == NULL);
	CHECK(st_outmap_same(&m, &c) && st_outmap_same(&c, &m));
	check_list(&m);

	/* and a commit keeps what the txn did */
	add_rand(&m);
	del_at(&m, 0);
	st_outmap_commit(&m);
	st_outmap_rollback(&m);
	check_list(&m);
	st_outmap_free(&c);
	st_outmap_free(&m);
}

/* ------------------------------------------------ 3. heights */

static void check_heights_map(void)
{
	struct st_outmap m = { 0 };
	size_t pos = 0;
	uint32_t h;

	st_outmap_add(&m, 12345, HMAX);
	CHECK(st_outmap_next(&m, 12345, &pos, &h) && h == HMAX);
	CHECK_EQ_INT(m.refused_h, 0);
	st_outmap_add(&m, 777, HMAX + 1);
	CHECK_EQ_INT(m.refused_h, HMAX + 1);
	CHECK_EQ_INT(m.n, 1);
	pos = 0;
	CHECK(!st_outmap_next(&m, 777, &pos, &h));
	CHECK(!st_outmap_del(&m, 777, HMAX + 1));
	st_outmap_rollback(&m);
	CHECK_EQ_INT(m.refused_h, 0);
	CHECK_EQ_INT(m.n, 0);
	st_outmap_add(&m, 777, HMAX + 5);
	st_outmap_commit(&m);
	CHECK_EQ_INT(m.refused_h, 0);
	st_outmap_free(&m);
}

static int count_cb(void *ctx, const struct oracle_utxo *u)
{
	(void)u;
	++*(size_t *)ctx;
	return 0;
}

static void check_heights_index(const char *tmpdir)
{
	struct rta_chain chain;
	struct oracle_config c;
	struct oracle_index *idx;
	struct oracle_read *r;
	char path[600], dir[512], logpath[600], line[2048];
	size_t n[401] = { 0 };
	int32_t tip;
	uint8_t hash[32];
	int k;
	bool logged = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/regtest-a/blocks.hex",
		 check_testdata_dir());
	CHECK_EQ_INT(rta_load(path, 0, &chain), 0);
	snprintf(logpath, sizeof(logpath), "%s/test.log", tmpdir);
	CHECK_EQ_INT(sd_log_open_file(logpath), SD_OK);
	snprintf(dir, sizeof(dir), "%s/all", tmpdir);
	c = (struct oracle_config){
		.datadir = dir, .network = "regtest",
		.tweaks_full_basic = true,
		.tweaks_full_with_dust_filter = true,
		.tweaks_cut_through_with_dust_filter = true,
		.tweak_threads = 2, .start_height = 1,
	};
	idx = stu_open_ok(&c);
	stu_connect_range(idx, &chain, 1, 400);
	CHECK_EQ_INT(oracle_read_begin(idx, &r), SD_OK);
	for (k = 1; k <= 400; k++)
		CHECK_EQ_INT(oracle_read_utxos(r, k, count_cb, &n[k]), SD_OK);
	oracle_read_end(r);
	oracle_index_close(idx);
	for (k = 2; k <= 400 && !(n[k - 1] && n[k]); k++)
		;
	CHECK(k <= 400);      /* two blocks in a row with tracked outputs */

	chain.b[k - 2]->height = (int32_t)HMAX;
	chain.b[k - 1]->height = (int32_t)HMAX + 1;
	snprintf(dir, sizeof(dir), "%s/high", tmpdir);
	c.start_height = (int32_t)HMAX;
	idx = stu_open_ok(&c);
	CHECK_EQ_INT(oracle_index_connect(idx, chain.b[k - 2]), SD_OK);
	CHECK_EQ_INT(idx->om.n, n[k - 1]);
	CHECK_EQ_INT(oracle_index_connect(idx, chain.b[k - 1]), SD_EINVAL);
	CHECK_EQ_INT(oracle_index_tip(idx, &tip, hash), SD_OK);
	CHECK_EQ_INT(tip, HMAX);
	CHECK_EQ_INT(idx->om.n, n[k - 1]);     /* rolled back */
	CHECK_EQ_INT(idx->om.refused_h, 0);
	oracle_index_set_group_commit(idx, 8);  /* the deferred path too */
	CHECK_EQ_INT(oracle_index_connect(idx, chain.b[k - 1]), SD_EINVAL);
	CHECK(idx->wtxn == NULL && idx->tip_height == (int32_t)HMAX);
	oracle_index_close(idx);
	f = fopen(logpath, "r");
	CHECK(f);
	while (fgets(line, sizeof(line), f))
		logged |= strstr(line, "msg=outpoint_map_height_limit") &&
			  strstr(line, "height=16777216");
	fclose(f);
	CHECK(logged);
	fprintf(stderr, "height 2^24 refused (block %d renumbered)\n", k);
	rta_free(&chain);
}

int main(void)
{
	char tmpdir[256], cmd[600];
	const char *tmp = getenv("TMPDIR");

	(void)stu_limit_file;           /* (store_testutil.h) */
	(void)stu_dump;
	check_incremental();
	check_rollback();
	check_heights_map();

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_outmap_grow.XXXXXX",
		 tmp ? tmp : "/tmp");
	CHECK(mkdtemp(tmpdir));
	check_heights_index(tmpdir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	CHECK_EQ_INT(system(cmd), 0);
	printf("test_outmap_grow: ok\n");
	return 0;
}

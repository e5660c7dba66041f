/* test_outmap_grow.c - the outpoint map's 8-byte slots and its segments'
 * growth (store_outmap.c):
 *  1. segments grow one at a time, in one step: filled by writes of 150
 *     adds (a commit each), every write grows at most one segment past 75%
 *     (others wait: some are seen over 75% after a commit; a segment past
 *     90% grows at once, frequent in so small a map), each growth
 *     makes exactly one segment 1.5x, no segment is ever over 90%, the
 *     counts and st_outmap_bytes add up; everything is found (against a
 *     brute-force list); all 256 segments grow;
 *  2. the 90% growth: one write that adds 1000 entries to one segment
 *     grows it at once, past 90%, several times (m->forced), while only
 *     one 75% growth happens in it;
 *  3. rollback across a segment growth: a txn that grows one segment at
 *     75% and another at 90%, and deletes from the grown ones, rolls back
 *     to the committed multiset (the growths stay); a commit keeps;
 *  4. heights: 2^24 - 1 is stored and found, 2^24 is refused (refused_h,
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

/* A list entry with a fingerprint in segment seg (top 8 of 40 bits). */
static void add_in_seg(struct st_outmap *m, unsigned seg)
{
	CHECK(ne < MAXE);
	efp[ne] = (uint64_t)seg << 32 | (rnd() & 0xffffffffull) | 1;
	eh[ne] = (uint32_t)(rnd() % 1000);
	st_outmap_add(m, efp[ne], eh[ne]);
	ne++;
}

/* The segments' counts add up, none is over 90% (or has no empty slot);
 * returns how many are over 75% (waiting to grow). */
static unsigned check_segs(const struct st_outmap *m)
{
	size_t n = 0, cap = 0;
	unsigned over75 = 0;

	for (unsigned k = 0; k < ST_OM_SEGS; k++) {
		const struct st_om_seg *g = &m->seg[k];
		size_t used = 0;

		for (size_t i = 0; i < g->cap; i++)
			used += g->s[i] != 0;
		CHECK_EQ_INT(used, g->n);
		CHECK((uint64_t)g->n * 10 <= (uint64_t)g->cap * 9);
		over75 += (uint64_t)g->n * 4 > (uint64_t)g->cap * 3;
		n += g->n;
		cap += g->cap;
	}
	CHECK_EQ_INT(n, m->n);
	CHECK_EQ_INT(cap, m->cap);
	CHECK_EQ_INT(st_outmap_bytes(m), m->cap * 8);
	return over75;
}

/* ------------------------------------------------ 1. one at a time */

static void check_segment_growth(void)
{
	struct st_outmap m = { 0 };
	uint32_t caps[ST_OM_SEGS], first[ST_OM_SEGS];
	size_t writes = 0, waited = 0, grown_writes = 0;
	unsigned grown = 0;

	ne = 0;
	add_rand(&m);
	st_outmap_commit(&m);
	/* 64 + k/8 slots segment k, staggered: 20352 slots, 159 KiB */
	CHECK_EQ_INT(st_outmap_bytes(&m), (ST_OM_SEGS * 64 + 8 * 496) * 8);
	CHECK(m.seg[0].cap == 64 && m.seg[255].cap == 95);
	CHECK_EQ_INT(m.grows, 0);
	for (unsigned k = 0; k < ST_OM_SEGS; k++)
		first[k] = m.seg[k].cap;
	while (ne + 150 < MAXE) {
		size_t g = m.grows, f = m.forced, changed = 0;

		for (unsigned k = 0; k < ST_OM_SEGS; k++)
			caps[k] = m.seg[k].cap;
		for (int i = 0; i < 150; i++) {
			if (i % 5 == 4)
				del_at(&m, (size_t)rnd() % ne);
			else
				add_rand(&m);
		}
		st_outmap_commit(&m);
		writes++;
		/* one growth past 75% a write; past 90% (a small map: a
		 * write adds more than a segment's headroom) at once */
		CHECK(m.grows - g - (m.forced - f) <= 1);
		grown_writes += m.grows > g;
		for (unsigned k = 0; k < ST_OM_SEGS; k++) {
			if (m.seg[k].cap == caps[k])
				continue;
			changed++;
			CHECK_EQ_INT(m.seg[k].cap, caps[k] + caps[k] / 2);
			grown += caps[k] == first[k];
		}
		CHECK_EQ_INT(changed, m.grows - g);
		waited += check_segs(&m) > 0;
		if (writes % 20 == 0)
			check_list(&m);
	}
	check_list(&m);
	CHECK_EQ_INT(grown, ST_OM_SEGS);        /* every segment grew */
	CHECK(waited > 0 && grown_writes > 0);
	fprintf(stderr, "segments: %zu writes, %zu growths (%zu at 90%%), %zu "
		"writes ended with a segment over 75%% waiting, %zu entries, "
		"%zu slots\n", writes, m.grows, m.forced, waited, ne, m.cap);
	/* deletes down to nothing: no shrink, all gone */
	while (ne > 0)
		del_at(&m, (size_t)rnd() % ne);
	CHECK_EQ_INT(m.n, 0);
	CHECK_EQ_INT(check_segs(&m), 0);
	st_outmap_free(&m);
}

/* ------------------------------------------------ 2. 90% at once */

static void check_forced(void)
{
	struct st_outmap m = { 0 };
	size_t g, f;

	ne = 0;
	for (int i = 0; i < 3000; i++)
		add_rand(&m);
	st_outmap_commit(&m);
	check_segs(&m);
	g = m.grows;
	f = m.forced;
	for (int i = 0; i < 1000; i++) {
		add_in_seg(&m, 0x42);
		CHECK((uint64_t)m.seg[0x42].n * 10 <=
		      (uint64_t)m.seg[0x42].cap * 9);
	}
	/* 72 slots to >= 1112: 72, 108, ..., seven or eight growths */
	CHECK(m.forced - f >= 5);
	CHECK_EQ_INT(m.grows - g - (m.forced - f), 1);
	check_segs(&m);
	check_list(&m);
	st_outmap_commit(&m);
	fprintf(stderr, "forced: %zu growths of segment 0x42 in one write "
		"(%zu at 90%%), cap %u\n", m.grows - g, m.forced - f,
		(unsigned)m.seg[0x42].cap);
	st_outmap_free(&m);
}

/* ------------------------------------------------ 3. rollback */

static void copy_of_list(struct st_outmap *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < ne; i++)
		st_outmap_add(c, efp[i], eh[i]);
	st_outmap_commit(c);
}

static size_t find_in_seg(unsigned seg)
{
	for (size_t i = 0; i < ne; i++)
		if (efp[i] >> 32 == seg)
			return i;
	return SIZE_MAX;
}

static void check_rollback(void)
{
	struct st_outmap m = { 0 }, c;
	size_t saved_ne, g, f, k, i;
	uint32_t cap7, cap9;
	static uint64_t sfp[MAXE];
	static uint32_t sh[MAXE];

	ne = 0;
	for (k = 0; k < 6000; k++)
		add_rand(&m);
	st_outmap_commit(&m);
	/* segment 7 at 75% exactly: its next insert grows it */
	while ((uint64_t)(m.seg[7].n + 1) * 4 <= (uint64_t)m.seg[7].cap * 3)
		add_in_seg(&m, 7);
	st_outmap_commit(&m);
	check_segs(&m);
	saved_ne = ne;
	memcpy(sfp, efp, sizeof(sfp));
	memcpy(sh, eh, sizeof(sh));
	copy_of_list(&c);
	cap7 = m.seg[7].cap;
	cap9 = m.seg[9].cap;

	/* the txn: grows 7 at 75%, then 9 past 90%, deletes from both */
	g = m.grows;
	f = m.forced;
	add_in_seg(&m, 7);
	CHECK(m.grows == g + 1 && m.forced == f && m.seg[7].cap > cap7);
	while (m.seg[9].cap == cap9)
		add_in_seg(&m, 9);
	CHECK(m.grows == g + 2 && m.forced == f + 1);
	for (k = 0; k < 40; k++) {
		unsigned seg = k % 2 ? 7 : 9;

		CHECK((i = find_in_seg(seg)) != SIZE_MAX);
		del_at(&m, i);
		add_rand(&m);
	}
	check_list(&m);
	st_outmap_rollback(&m);
	CHECK_EQ_INT(m.log_n, 0);
	ne = saved_ne;
	memcpy(efp, sfp, sizeof(sfp));
	memcpy(eh, sh, sizeof(sh));
	CHECK(st_outmap_same(&m, &c) && st_outmap_same(&c, &m));
	check_list(&m);
	check_segs(&m);
	CHECK(m.seg[7].cap > cap7 && m.seg[9].cap > cap9);  /* kept */

	/* a new txn may grow one segment at 75% again */
	CHECK(!m.grew);
	/* and a commit keeps what the txn did */
	add_rand(&m);
	del_at(&m, 0);
	st_outmap_commit(&m);
	st_outmap_rollback(&m);
	check_list(&m);
	st_outmap_free(&c);
	st_outmap_free(&m);
}

/* ------------------------------------------------ 4. heights */

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
	check_segment_growth();
	check_forced();
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

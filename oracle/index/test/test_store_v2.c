/* test_store_v2.c - the `v2` records (format 4, store_v2.c) on regtest-a:
 *  1. their content against the blocks: per height, the txs with a tweak
 *     are the tweak index's in block order, each with its P2TR outputs;
 *     every input spending a P2TR output is listed with its outpoint and
 *     the spent key's first 8 bytes (2,475 on the chain);
 *  2. a tweaks_only index writes the same records;
 *  3. a format 3 index (records and v2_from gone, version 3) migrates at
 *     open: v2_from = tip + 1, heights below answer SD_ESTATE; disconnect
 *     and reconnect of the tip moves v2_from down to it and gives the
 *     native record back.
 */
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/util.h"
#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "../oracle_v2.h"
#include "../store_int.h"
#include "store_testlib.h"
#include "store_testutil.h"

static struct rta_chain chain;
static char tmpdir[256];

static struct oracle_index *open_kind(const char *name, bool tweaks_only,
				      struct oracle_config *c, char *dir)
{
	snprintf(dir, 512, "%s/%s", tmpdir, name);
	*c = (struct oracle_config){
		.datadir = dir, .network = "regtest",
		.tweaks_only = tweaks_only,
		.tweaks_full_basic = true,
		.tweaks_full_with_dust_filter = !tweaks_only,
		.tweaks_cut_through_with_dust_filter = !tweaks_only,
		.tweak_threads = 2, .start_height = 1,
	};
	return stu_open_ok(c);
}

static size_t check_records(struct oracle_index *idx)
{
	struct oracle_read *r;
	size_t spends = 0;

	CHECK_EQ_INT(oracle_read_begin(idx, &r), SD_OK);
	for (int h = 1; h <= 400; h++) {
		const struct btc_block *b = chain.b[h - 1];
		const uint8_t *rec, *tw;
		size_t len, off = 0, n_tw = 0, rec_len, k = 0, t = 1;
		struct oracle_v2_tx tx;
		int rc;

		CHECK_EQ_INT(oracle_read_v2(r, h, &rec, &len), SD_OK);
		rc = oracle_read_tweak_index(r, h, &tw, &n_tw, &rec_len);
		CHECK(rc == SD_OK || rc == SD_ENOTFOUND);
		while ((rc = oracle_v2_next(rec, len, &off, &tx)) == 1) {
			const struct btc_tx *bt;
			uint32_t n_tr = 0, n_in = 0, o = 0, i = 0;

			/* records follow block order */
			while (t < b->n_tx && memcmp(b->tx[t].txid, tx.txid, 32))
				t++;
			CHECK(t < b->n_tx);
			bt = &b->tx[t++];
			if (tx.has_tweak) {
				CHECK(k < n_tw);
				CHECK(!memcmp(tw + k * rec_len, tx.tweak, 33));
				k++;
			}
			for (size_t v = 0; v < bt->n_out; v++) {
				if (!oracle_spk_is_p2tr(&bt->out[v].spk))
					continue;
				n_tr++;
				if (!tx.has_tweak)
					continue;
				CHECK(o < tx.n_out);
				CHECK_EQ_INT(sd_be32_get(tx.outs + o * 44), v);
				CHECK(sd_be64_get(tx.outs + o * 44 + 4) ==
				      (uint64_t)bt->out[v].value);
				CHECK(!memcmp(tx.outs + o * 44 + 12,
					      bt->out[v].spk.data + 2, 32));
				o++;
			}
			CHECK_EQ_INT(tx.n_out, tx.has_tweak ? n_tr : 0);
			for (size_t x = 0; x < bt->n_in; x++) {
				const struct btc_txin *in = &bt->in[x];

				if (!in->has_prevout ||
				    !oracle_spk_is_p2tr(&in->prevout_spk))
					continue;
				n_in++;
				CHECK(i < tx.n_in);
				CHECK(!memcmp(tx.ins + i * 44, in->prev_txid, 32));
				CHECK_EQ_INT(sd_be32_get(tx.ins + i * 44 + 32),
					     in->prev_vout);
				CHECK(!memcmp(tx.ins + i * 44 + 36,
					      in->prevout_spk.data + 2, 8));
				i++;
			}
			CHECK_EQ_INT(tx.n_in, n_in);
			CHECK(tx.has_tweak || n_in > 0);
			spends += n_in;
		}
		CHECK_EQ_INT(rc, 0);
		CHECK_EQ_INT(k, n_tw);   /* every tweak of the block */
	}
	oracle_read_end(r);
	return spends;
}

static char *v2_dump(struct oracle_index *idx)
{
	char *d = stu_dump(idx), *o = d, *p = d;

	while (*p) {   /* keep the v2 lines only */
		char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);

		if (!strncmp(p, "v2 ", 3)) {
			memmove(o, p, n);
			o += n;
		}
		p += n;
	}
	*o = '\0';
	return d;
}

/* Make the closed index at dir look like format 3. */
static void make_format3(const char *dir)
{
	char p[600];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, v2;
	uint8_t vb[4];
	MDB_val k = { 7, "version" }, v = { 4, vb };

	snprintf(p, sizeof(p), "%s/index", dir);
	CHECK(!mdb_env_create(&env));
	CHECK(!mdb_env_set_maxdbs(env, 16));
	CHECK(!mdb_env_open(env, p, 0, 0640));
	CHECK(!mdb_txn_begin(env, NULL, 0, &txn));
	CHECK(!mdb_dbi_open(txn, "meta", 0, &meta));
	CHECK(!mdb_dbi_open(txn, "v2", 0, &v2));
	CHECK(!mdb_drop(txn, v2, 1));
	sd_be32_put(vb, 3);
	CHECK(!mdb_put(txn, meta, &k, &v, 0));
	CHECK(!mdb_txn_commit(txn));
	mdb_env_close(env);
}

int main(void)
{
	char dir[512], path[600], *ref, *d;
	struct oracle_config c;
	struct oracle_index *idx;
	struct oracle_read *r;
	const uint8_t *rec;
	size_t len;

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_store_v2.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	CHECK(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/regtest-a/blocks.hex",
		 check_testdata_dir());
	CHECK_EQ_INT(rta_load(path, 0, &chain), 0);

	/* 1 */
	idx = open_kind("full", false, &c, dir);
	stu_connect_range(idx, &chain, 1, 400);
	CHECK_EQ_INT(check_records(idx), 2475);
	ref = v2_dump(idx);
	CHECK(strlen(ref) > 0);
	oracle_index_close(idx);

	/* 2 */
	idx = open_kind("tweaks_only", true, &c, dir);
	stu_connect_range(idx, &chain, 1, 400);
	d = v2_dump(idx);
	CHECK_STREQ(d, ref);
	free(d);
	oracle_index_close(idx);

	/* 3 */
	idx = open_kind("full", false, &c, dir);
	oracle_index_close(idx);
	make_format3(dir);
	idx = stu_open_ok(&c);
	CHECK_EQ_INT(oracle_read_begin(idx, &r), SD_OK);
	CHECK_EQ_INT(oracle_read_v2(r, 400, &rec, &len), SD_ESTATE);
	CHECK_EQ_INT(oracle_read_v2(r, 1, &rec, &len), SD_ESTATE);
	CHECK_EQ_INT(oracle_read_v2(r, 401, &rec, &len), SD_ENOTFOUND);
	oracle_read_end(r);
	d = stu_dump(idx);
	CHECK(strstr(d, "meta 76325f66726f6d 00000191\n"));   /* 401 */
	CHECK(strstr(d, "meta 76657273696f6e 00000005\n"));   /* version */
	free(d);
	CHECK_EQ_INT(oracle_index_disconnect(idx, 400, chain.b[399]->hash),
		     SD_OK);
	CHECK_EQ_INT(oracle_index_connect(idx, chain.b[399]), SD_OK);
	d = stu_dump(idx);
	CHECK(strstr(d, "meta 76325f66726f6d 00000190\n"));   /* 400 */
	free(d);
	CHECK_EQ_INT(oracle_read_begin(idx, &r), SD_OK);
	CHECK_EQ_INT(oracle_read_v2(r, 399, &rec, &len), SD_ESTATE);
	CHECK_EQ_INT(oracle_read_v2(r, 400, &rec, &len), SD_OK);
	oracle_read_end(r);
	d = v2_dump(idx);
	CHECK(strlen(d) > 0 && strstr(ref, d));   /* = the native record */
	CHECK(!strncmp(d, "v2 00000190 ", 12));
	free(d);
	oracle_index_close(idx);
	free(ref);
	rta_free(&chain);
	(void)stu_limit_file;
	snprintf(path, sizeof(path), "rm -rf '%s'", tmpdir);
	CHECK_EQ_INT(system(path), 0);
	printf("ok v2 records\n");
	return 0;
}

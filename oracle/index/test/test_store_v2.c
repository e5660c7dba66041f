/* test_store_v2.c - the `v2` records (store_v2.c) on regtest-a:
 *  1. their content against the blocks: per height, the txs with a tweak
 *     are the tweak index's in block order, each with its P2TR outputs;
 *     every input spending a P2TR output is listed with its outpoint and
 *     the spent key's first 8 bytes (2,475 on the chain);
 *  2. a tweaks_only index stores its tweak txs inline (flags 0x03: txid,
 *     tweak, outputs in the record), the full index compact (flags 0x01
 *     alone: they are its `utxos` rows and tweak index records), and
 *     smaller; read back, both give the same records, byte for byte;
 *  3. format 6 has a record for every indexed height (no meta "v2_from",
 *     no SD_ESTATE): a format-5 index (format5.c: expanded records)
 *     migrates at open to the native compact records; one whose meta
 *     "v2_from" (a 3 -> 4 migration's first height with records) is above
 *     its first block is refused (SD_EVERSION, reindex) and left as it
 *     was, one with v2_from at its first block migrates and loses it;
 *     disconnect and reconnect of the tip give the native record back.
 */
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/util.h"
#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "../oracle_v2.h"
#include "../store_int.h"
#include "format5.h"
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

/* Every height's record as oracle_read_v2 gives it (H BE32 | len BE32 |
 * record), 1..400; SD_ENOTFOUND below and above. */
static void read_all(struct oracle_index *idx, struct sd_buf *o)
{
	struct oracle_read *r;
	const uint8_t *rec;
	uint8_t be[8];
	size_t len;

	o->len = 0;
	CHECK_EQ_INT(oracle_read_begin(idx, &r), SD_OK);
	CHECK_EQ_INT(oracle_read_v2(r, 0, &rec, &len), SD_ENOTFOUND);
	CHECK_EQ_INT(oracle_read_v2(r, 401, &rec, &len), SD_ENOTFOUND);
	for (int h = 1; h <= 400; h++) {
		CHECK_EQ_INT(oracle_read_v2(r, h, &rec, &len), SD_OK);
		sd_be32_put(be, (uint32_t)h);
		sd_be32_put(be + 4, (uint32_t)len);
		sd_buf_put(o, be, 8);
		sd_buf_put(o, rec, len);
	}
	oracle_read_end(r);
}

/* The stored (raw) records of idx: tweak txs by flags, total bytes. */
static size_t raw_records(struct oracle_index *idx, size_t *compact,
			  size_t *inl)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	size_t bytes = 0;
	int rc;

	*compact = *inl = 0;
	CHECK_EQ_INT(st_read_begin(idx, &txn), 0);
	CHECK_EQ_INT(mdb_cursor_open(txn, idx->dbi[ST_V2], &c), 0);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *p = v.mv_data;
		size_t q = 0;

		bytes += v.mv_size;
		while (q < v.mv_size) {
			uint8_t fl = p[q++];

			CHECK(fl <= 3 && fl != 2);
			if (fl == 1) {
				(*compact)++;
			} else {
				*inl += fl == 3;
				q += 32 + (fl ? 33 : 0);
				q += 4 + (size_t)sd_be32_get(p + q) * 44;
			}
			q += 4 + (size_t)sd_be32_get(p + q) * 44;
			CHECK(q <= v.mv_size);
		}
	}
	CHECK_EQ_INT(rc, MDB_NOTFOUND);
	mdb_cursor_close(c);
	st_read_end(idx, txn);
	return bytes;
}

/* The bytes of the values of a dump's v2 lines ("v2 key val"). */
static size_t v2_bytes(const char *d)
{
	size_t n = 0;
	const char *p = d;

	while (p && *p) {
		const char *nl = strchr(p, '\n');

		if (!strncmp(p, "v2 ", 3)) {
			const char *sp = strchr(p + 3, ' ');

			CHECK(sp && nl && sp < nl);
			n += (size_t)(nl - sp - 1) / 2;
		}
		p = nl ? nl + 1 : NULL;
	}
	return n;
}

static void meta_be32(const char *dir, const char *key, uint32_t val)
{
	uint8_t b[4];

	sd_be32_put(b, val);
	f5_meta_put(dir, key, b, 4);
}

int main(void)
{
	char dir[512], dir2[512], path[600], err[SD_ERRLEN], *ref, *d, *r1, *r2;
	struct oracle_config c, c2;
	struct oracle_index *idx, *full;
	struct sd_buf all = { 0 }, all2 = { 0 };
	struct f5_stats st;
	size_t b_full, b_to, n_compact, n_inline, n2c, n2i;

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_store_v2.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	CHECK(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/regtest-a/blocks.hex",
		 check_testdata_dir());
	CHECK_EQ_INT(rta_load(path, 0, &chain), 0);

	/* 1 */
	full = open_kind("full", false, &c, dir);
	stu_connect_range(full, &chain, 1, 400);
	CHECK_EQ_INT(check_records(full), 2475);
	ref = v2_dump(full);
	CHECK(strlen(ref) > 0);
	read_all(full, &all);
	b_full = raw_records(full, &n_compact, &n_inline);
	CHECK(n_compact > 0);
	CHECK_EQ_INT(n_inline, 0);

	/* 2 */
	idx = open_kind("tweaks_only", true, &c2, dir2);
	stu_connect_range(idx, &chain, 1, 400);
	CHECK_EQ_INT(check_records(idx), 2475);
	b_to = raw_records(idx, &n2c, &n2i);
	CHECK_EQ_INT(n2c, 0);
	CHECK_EQ_INT(n2i, n_compact);   /* the same tweak txs, inline */
	CHECK(b_full < b_to);
	read_all(idx, &all2);
	CHECK_EQ_INT(all.len, all2.len);
	CHECK(!memcmp(all.p, all2.p, all.len));
	oracle_index_close(idx);
	printf("ok v2 records: %zu tweak txs, compact %zu bytes, inline %zu "
	       "bytes, read back the same\n", n_compact, b_full, b_to);

	/* 3: format 5 (expanded records) -> 6 */
	oracle_index_close(full);
	make_format5(dir, 0, &st);
	CHECK_EQ_INT(st.v2_recs, 291);   /* heights with a record */
	r1 = f5_raw_dump(dir);
	/* expanded: the size of the inline records (the flag byte moved) */
	CHECK_EQ_INT(v2_bytes(r1), b_to);
	CHECK_EQ_INT(v2_bytes(ref), b_full);
	free(r1);
	/* v2_from 2: height 1 would be without a record */
	meta_be32(dir, "v2_from", 2);
	r1 = f5_raw_dump(dir);
	idx = NULL;
	CHECK_EQ_INT(oracle_index_open(&c, &idx, err), SD_EVERSION);
	CHECK(idx == NULL);
	CHECK(strstr(err, "no v2 records") != NULL);
	CHECK(strstr(err, "delete the index to rebuild it") != NULL);
	r2 = f5_raw_dump(dir);
	CHECK_STREQ(r1, r2);
	free(r1);
	free(r2);
	meta_be32(dir, "v2_from", 1);
	idx = stu_open_ok(&c);
	d = stu_dump(idx);
	CHECK(!strstr(d, "meta 76325f66726f6d "));            /* v2_from */
	CHECK(strstr(d, "meta 76657273696f6e 00000006\n"));   /* version */
	free(d);
	d = v2_dump(idx);
	CHECK_STREQ(d, ref);   /* the native compact records */
	free(d);
	CHECK_EQ_INT(check_records(idx), 2475);
	read_all(idx, &all2);
	CHECK(all.len == all2.len && !memcmp(all.p, all2.p, all.len));
	CHECK_EQ_INT(oracle_index_disconnect(idx, 400, chain.b[399]->hash),
		     SD_OK);
	d = v2_dump(idx);
	CHECK(strlen(d) < strlen(ref) && !strncmp(d, ref, strlen(d)));
	CHECK(!strstr(d, "v2 00000190 "));
	free(d);
	CHECK_EQ_INT(oracle_index_connect(idx, chain.b[399]), SD_OK);
	d = v2_dump(idx);
	CHECK_STREQ(d, ref);
	free(d);
	oracle_index_close(idx);
	printf("ok format 5 records migrated: %zu rewritten compact, v2_from "
	       "2 refused, 1 dropped\n", st.v2_recs);
	free(ref);
	sd_buf_free(&all);
	sd_buf_free(&all2);
	rta_free(&chain);
	(void)stu_limit_file;
	snprintf(path, sizeof(path), "rm -rf '%s'", tmpdir);
	CHECK_EQ_INT(system(path), 0);
	printf("ok v2 records\n");
	return 0;
}

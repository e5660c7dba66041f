/* store_reads.c - the read API of the tweak index: a read view is one LMDB
 * read-only transaction (an MVCC snapshot; many per process thanks to
 * MDB_NOTLS), and every returned pointer points into the memory map until
 * oracle_read_end().
 */
#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"
#include "store_int.h"

static const uint8_t empty_data[1];

int oracle_read_begin(struct oracle_index *idx, struct oracle_read **out)
{
	struct oracle_read *r;
	MDB_txn *txn;
	int rc;

	*out = NULL;
	if ((rc = st_read_begin(idx, &txn)) != SD_OK)
		return rc;
	r = sd_xmalloc(sizeof(*r));
	r->idx = idx;
	r->txn = txn;
	*out = r;
	return SD_OK;
}

void oracle_read_end(struct oracle_read *r)
{
	if (!r)
		return;
	st_read_end(r->idx, r->txn);
	free(r);
}

static int map_rc(int rc)
{
	if (rc == 0)
		return SD_OK;
	return rc == MDB_NOTFOUND ? SD_ENOTFOUND : SD_EDB;
}

/* Get the row of table t at height (4-byte key). */
static int get_h(struct oracle_read *r, enum st_table t, int32_t height,
		 MDB_val *v)
{
	uint8_t hbe[4];
	MDB_val k = { .mv_size = 4, .mv_data = hbe };

	if (height < 0)
		return SD_ENOTFOUND;
	sd_be32_put(hbe, (uint32_t)height);
	return map_rc(mdb_get(r->txn, r->idx->dbi[t], &k, v));
}

int oracle_read_tip(struct oracle_read *r, int32_t *height, uint8_t hash[32])
{
	return st_meta_tip(r->idx, r->txn, height, hash) ? SD_EDB : SD_OK;
}

int oracle_read_block(struct oracle_read *r, int32_t height, uint8_t hash[32],
		      uint32_t *time)
{
	MDB_val v;
	int rc = get_h(r, ST_BLOCKS, height, &v);

	if (rc != SD_OK)
		return rc;
	if (v.mv_size != ST_BLOCK_VAL)
		return SD_EDB;
	if (hash)
		memcpy(hash, v.mv_data, 32);
	if (time)
		*time = sd_be32_get((uint8_t *)v.mv_data + 32);
	return SD_OK;
}

int oracle_read_tweak_index(struct oracle_read *r, int32_t height,
			    const uint8_t **recs, size_t *n, size_t *rec_len)
{
	unsigned f = r->idx->flags;
	size_t rl = (f & ST_F_FULL_DUST) ? 41 : 33;
	MDB_val v;
	int rc;

	*recs = empty_data;
	*n = 0;
	*rec_len = rl;
	if (!(f & (ST_F_FULL_BASIC | ST_F_FULL_DUST)))
		return SD_ENOTFOUND;
	if ((rc = oracle_read_block(r, height, NULL, NULL)) != SD_OK)
		return rc;
	rc = get_h(r, ST_TWEAK_INDEX, height, &v);
	if (rc == SD_ENOTFOUND)
		return SD_OK;   /* indexed, no tweaks */
	if (rc != SD_OK)
		return rc;
	if (v.mv_size % rl)
		return SD_EDB;
	*recs = v.mv_data;
	*n = v.mv_size / rl;
	return SD_OK;
}

/* Iterate the rows of table t whose key starts with height; cb gets key
 * and value.  Returns SD_OK, the callback's non-zero value, or SD_EDB. */
static int scan_h(struct oracle_read *r, enum st_table t, int32_t height,
		  int (*cb)(void *c, const MDB_val *k, const MDB_val *v),
		  void *c)
{
	uint8_t hbe[4];
	MDB_val k = { .mv_size = 4, .mv_data = hbe }, v;
	MDB_cursor *cur;
	int rc;

	sd_be32_put(hbe, (uint32_t)height);
	if (mdb_cursor_open(r->txn, r->idx->dbi[t], &cur))
		return SD_EDB;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < 4 || memcmp(k.mv_data, hbe, 4) != 0)
			break;
		if ((rc = cb(c, &k, &v)) != 0) {
			mdb_cursor_close(cur);
			return rc;
		}
	}
	mdb_cursor_close(cur);
	return rc == 0 || rc == MDB_NOTFOUND ? SD_OK : SD_EDB;
}

struct cut_ctx {
	int (*cb)(void *ctx, const uint8_t txid[32], const uint8_t tweak[33],
		  uint64_t highest_value);
	void *ctx;
};

static int cut_row(void *c, const MDB_val *k, const MDB_val *v)
{
	struct cut_ctx *cc = c;
	uint8_t txid[32];

	if (k->mv_size != ST_CUT_KEY || v->mv_size != ST_CUT_VAL)
		return SD_EDB;
	st_rev32(txid, (const uint8_t *)k->mv_data + 4);
	return cc->cb(cc->ctx, txid, v->mv_data,
		      sd_be64_get((const uint8_t *)v->mv_data + 33));
}

int oracle_read_cut_through(struct oracle_read *r, int32_t height,
			    int (*cb)(void *ctx, const uint8_t txid[32],
				      const uint8_t tweak[33],
				      uint64_t highest_value),
			    void *ctx)
{
	struct cut_ctx cc = { cb, ctx };
	int rc;

	if (!(r->idx->flags & ST_F_CUT_THROUGH))
		return SD_ENOTFOUND;
	if ((rc = oracle_read_block(r, height, NULL, NULL)) != SD_OK)
		return rc;
	return scan_h(r, ST_CUT, height, cut_row, &cc);
}

int oracle_read_filter(struct oracle_read *r, int32_t height,
		       enum oracle_filter_kind kind, const uint8_t **data,
		       size_t *len)
{
	MDB_val v;
	int rc = get_h(r, kind == ORACLE_FILTER_SPENT ? ST_FILTER_SPENT :
		       ST_FILTER_NEW, height, &v);

	*data = empty_data;
	*len = 0;
	if (rc != SD_OK)
		return rc;
	*data = v.mv_data;
	*len = v.mv_size;
	return SD_OK;
}

struct utxo_ctx {
	int (*cb)(void *ctx, const struct oracle_utxo *u);
	void *ctx;
	struct oracle_utxo u;
	MDB_val bits;       /* the height's spent bitmap */
};

static int utxo_row(void *c, const MDB_val *k, const MDB_val *v)
{
	struct utxo_ctx *uc = c;
	const uint8_t *kb = k->mv_data, *vb = v->mv_data;

	if (k->mv_size != ST_UTXO_KEY || st_row_spent(&uc->bits, v,
						       &uc->u.spent))
		return SD_EDB;
	st_rev32(uc->u.txid, kb + 4);
	uc->u.vout = sd_be32_get(kb + 36);
	uc->u.value = sd_be64_get(vb);
	memcpy(uc->u.spk, vb + 8, 34);
	return uc->cb(uc->ctx, &uc->u);
}

int oracle_read_utxos(struct oracle_read *r, int32_t height,
		      int (*cb)(void *ctx, const struct oracle_utxo *u),
		      void *ctx)
{
	struct utxo_ctx uc;
	uint32_t time;
	int rc;

	memset(&uc, 0, sizeof(uc));
	uc.cb = cb;
	uc.ctx = ctx;
	if ((rc = oracle_read_block(r, height, uc.u.block_hash, &time)))
		return rc;
	uc.u.block_height = height;
	uc.u.timestamp = time;
	rc = get_h(r, ST_SPENT_BITS, height, &uc.bits);
	if (rc != SD_OK && rc != SD_ENOTFOUND)
		return rc;      /* (none: no rows, else a row is SD_EDB) */
	return scan_h(r, ST_UTXO, height, utxo_row, &uc);
}

int oracle_read_spent_index(struct oracle_read *r, int32_t height,
			    const uint8_t **data, size_t *n)
{
	MDB_val v;
	int rc;

	*data = empty_data;
	*n = 0;
	if (r->idx->flags & ST_F_TWEAKS_ONLY)
		return SD_ENOTFOUND;
	if ((rc = oracle_read_block(r, height, NULL, NULL)) != SD_OK)
		return rc;
	rc = get_h(r, ST_SPENT_INDEX, height, &v);
	if (rc == SD_ENOTFOUND)
		return SD_OK;
	if (rc != SD_OK)
		return rc;
	if (v.mv_size % 8)
		return SD_EDB;
	*data = v.mv_data;
	*n = v.mv_size / 8;
	return SD_OK;
}

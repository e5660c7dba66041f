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
	r = sd_xcalloc(1, sizeof(*r));
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
	sd_buf_free(&r->v2);
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
	MDB_val bits;           /* the height's spent bitmap */
	const uint8_t *tweaks;  /* its tweak index */
	size_t n_tweaks, rec_len;
};

/* A tx with an unspent output: its tweak and the largest unspent value
 * (format 6 derives what the cut_through table used to hold). */
static int cut_row(void *c, const MDB_val *k, const MDB_val *v)
{
	struct cut_ctx *cc = c;
	const uint8_t *val = v->mv_data;
	uint8_t txid[32];
	uint64_t max = 0;
	uint32_t ord0, tpos;
	bool any = false, spent;
	size_t n;

	if (k->mv_size != ST_UTXO_KEY || st_utxo_outs(v->mv_size, &n))
		return SD_EDB;
	tpos = sd_be32_get(val);
	ord0 = sd_be32_get(val + 4);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *o = val + ST_UTXO_HDR + i * ST_OUT_LEN;
		uint64_t value = sd_be64_get(o + 4);

		if (st_ord_spent(&cc->bits, ord0 + (uint32_t)i, &spent))
			return SD_EDB;
		if (spent)
			continue;
		if (!any || value > max)
			max = value;
		any = true;
	}
	if (!any)
		return 0;
	if (tpos >= cc->n_tweaks)
		return SD_EDB;
	st_rev32(txid, (const uint8_t *)k->mv_data + 4);
	return cc->cb(cc->ctx, txid, cc->tweaks + tpos * cc->rec_len, max);
}

int oracle_read_cut_through(struct oracle_read *r, int32_t height,
			    int (*cb)(void *ctx, const uint8_t txid[32],
				      const uint8_t tweak[33],
				      uint64_t highest_value),
			    void *ctx)
{
	struct cut_ctx cc = { .cb = cb, .ctx = ctx };
	MDB_val v;
	int rc;

	if (!(r->idx->flags & ST_F_CUT_THROUGH))
		return SD_ENOTFOUND;
	if ((rc = oracle_read_block(r, height, NULL, NULL)) != SD_OK)
		return rc;
	cc.rec_len = st_tweak_rec_len(r->idx->flags);
	rc = get_h(r, ST_TWEAK_INDEX, height, &v);
	if (rc == SD_ENOTFOUND)
		return SD_OK;   /* no tweak, no utxos row */
	if (rc != SD_OK)
		return rc;
	if (v.mv_size % cc.rec_len)
		return SD_EDB;
	cc.tweaks = v.mv_data;
	cc.n_tweaks = v.mv_size / cc.rec_len;
	if ((rc = get_h(r, ST_SPENT_BITS, height, &cc.bits)) != SD_OK)
		return rc == SD_ENOTFOUND ? SD_EDB : rc;
	return scan_h(r, ST_UTXO, height, cut_row, &cc);
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
	uint32_t ord0;
	size_t n;
	int rc;

	if (k->mv_size != ST_UTXO_KEY || st_utxo_outs(v->mv_size, &n))
		return SD_EDB;
	st_rev32(uc->u.txid, kb + 4);
	ord0 = sd_be32_get(vb + 4);
	uc->u.spk[0] = 0x51;    /* every tracked output is P2TR */
	uc->u.spk[1] = 0x20;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *o = vb + ST_UTXO_HDR + i * ST_OUT_LEN;

		if (st_ord_spent(&uc->bits, ord0 + (uint32_t)i, &uc->u.spent))
			return SD_EDB;
		uc->u.vout = sd_be32_get(o);
		uc->u.value = sd_be64_get(o + 4);
		memcpy(uc->u.spk + 2, o + 12, 32);
		if ((rc = uc->cb(uc->ctx, &uc->u)) != 0)
			return rc;
	}
	return 0;
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

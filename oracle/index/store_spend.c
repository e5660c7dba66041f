/* store_spend.c - the spends of one block inside its write txn: every
 * input whose prevout is a tracked taproot output sets that output's bit
 * in its height's spent bitmap (store_bits.c), leaves the outpoint map,
 * and maintains the creating tx's `cut_through` row; each change goes to
 * the undo log.
 *
 * The spends are applied in key order, not input order: `utxos` and
 * `cut_through` keys both start with the creating height and txid, so
 * sorted spends walk the two B-trees forward with one cursor each (LMDB
 * finds most keys on the cursor's current leaf page instead of
 * descending from the root), and each height's bitmap is read and
 * written once.  The `utxos` rows are only read.  The end state does not depend on the order
 * (each step keeps "row = max of the unspent outputs"), and disconnect
 * replays the before-images newest first, whatever the order was.
 */
#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"
#include "store_int.h"

static MDB_val mv(const void *p, size_t n)
{
	MDB_val v = { .mv_size = n, .mv_data = (void *)p };

	return v;
}

static int cmp_spend(const void *a, const void *b)
{
	return memcmp(((const struct st_spend_rec *)a)->key,
		      ((const struct st_spend_rec *)b)->key, ST_UTXO_KEY);
}

/* The block's cursors and the spent bitmap being changed: one height's
 * value, copied to idx->sc.bits, written back when the spends move on to
 * another height (sorted spends: once per creating height). */
struct spend_ctx {
	MDB_txn *txn;
	MDB_cursor *uc, *cc;
	uint32_t bh;
	bool loaded, dirty;
};

static int bits_flush(struct oracle_index *idx, struct spend_ctx *sc)
{
	if (!sc->dirty)
		return 0;
	sc->dirty = false;
	return st_put_h(sc->txn, idx->dbi[ST_SPENT_BITS], sc->bh,
			idx->sc.bits.p, idx->sc.bits.len, 0);
}

static int bits_for(struct oracle_index *idx, struct spend_ctx *sc,
		    uint32_t h)
{
	MDB_val v;
	int rc;

	if (sc->loaded && sc->bh == h)
		return 0;
	if ((rc = bits_flush(idx, sc)))
		return rc;
	sc->loaded = false;
	if ((rc = st_bits_get(idx, sc->txn, h, &v)))
		return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
	idx->sc.bits.len = 0;
	sd_buf_put(&idx->sc.bits, v.mv_data, v.mv_size);
	sc->bh = h;
	sc->loaded = true;
	return 0;
}

/* Whether the row of ord at the loaded height is spent (false + *bad on
 * an ord outside the bitmap). */
static bool row_spent(struct oracle_index *idx, uint32_t ord, bool *bad)
{
	bool spent = false;

	if (!st_bit_get(idx->sc.bits.p, idx->sc.bits.len, ord, &spent))
		*bad = true;
	return spent;
}

/* The largest value among the unspent rows of (height, dtxid); *any says
 * whether one is left.  The scan stops at the first unspent row worth
 * `stop` (no row can be worth more than the row's old maximum): a spend of
 * one of many equal outputs costs one step, not a scan of the tx.  The
 * loaded bitmap is the prefix height's. */
static int tx_unspent_max(struct oracle_index *idx, MDB_cursor *c,
			  const uint8_t prefix[36], uint64_t stop,
			  uint64_t *max, bool *any)
{
	uint8_t kb[ST_UTXO_KEY];
	MDB_val k, v;
	bool bad = false;
	int rc;

	memcpy(kb, prefix, 36);
	memset(kb + 36, 0, 4);
	k = mv(kb, sizeof(kb));
	*max = 0;
	*any = false;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *val = v.mv_data;
		uint64_t value;

		if (k.mv_size != ST_UTXO_KEY || memcmp(k.mv_data, prefix, 36))
			break;
		if (v.mv_size != ST_UTXO_VAL)
			return MDB_CORRUPTED;
		if (row_spent(idx, sd_be32_get(val + ST_UTXO_ORD), &bad))
			continue;
		if (bad)
			return MDB_CORRUPTED;
		value = sd_be64_get(val);
		*any = true;
		if (value > *max)
			*max = value;
		if (value >= stop)
			break;
	}
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/* Put the utxos cursor on the unspent row of the spend: the recorded
 * height first, then (several outpoints sharing a fingerprint) every
 * height the map holds for it; load that height's bitmap.  MDB_NOTFOUND:
 * the output is not tracked. */
static int seek_unspent(struct oracle_index *idx, struct spend_ctx *sc,
			struct st_spend_rec *s, uint64_t *value, uint32_t *ord)
{
	MDB_val k = mv(s->key, ST_UTXO_KEY), vv, *v = &vv;
	size_t pos = 0;
	uint32_t hc;
	bool bad = false;
	int rc;

	rc = s->several ? MDB_NOTFOUND :
			  mdb_cursor_get(sc->uc, &k, v, MDB_SET_KEY);
	while (rc == MDB_NOTFOUND && st_outmap_next(&idx->om, s->fp, &pos,
						    &hc)) {
		sd_be32_put(s->key, hc);
		k = mv(s->key, ST_UTXO_KEY);
		rc = mdb_cursor_get(sc->uc, &k, v, MDB_SET_KEY);
	}
	if (rc)
		return rc;
	if (v->mv_size != ST_UTXO_VAL)
		return MDB_CORRUPTED;
	/* read the row before bits_for may write (LMDB: a value is valid
	 * until the txn's next update) */
	*ord = sd_be32_get((const uint8_t *)v->mv_data + ST_UTXO_ORD);
	*value = sd_be64_get(v->mv_data);
	if ((rc = bits_for(idx, sc, sd_be32_get(s->key))))
		return rc;
	if (row_spent(idx, *ord, &bad) || bad)
		return MDB_CORRUPTED;   /* spent rows are not in the map */
	return 0;
}

/* Keep the cut-through row of the spent output's tx the max of its
 * unspent outputs (deleted when none is left). */
static int spend_cut(struct oracle_index *idx, struct spend_ctx *sc,
		     const uint8_t uk[ST_UTXO_KEY], uint64_t spent_value,
		     bool log)
{
	uint8_t cv[ST_CUT_VAL];
	MDB_val k = mv(uk, ST_CUT_KEY), v;
	uint64_t max, old_max;
	bool any;
	int rc;

	rc = mdb_cursor_get(sc->cc, &k, &v, MDB_SET_KEY);
	if (rc == MDB_NOTFOUND)
		return 0;       /* already fully spent earlier */
	if (rc)
		return rc;
	if (v.mv_size != ST_CUT_VAL)
		return MDB_CORRUPTED;
	old_max = sd_be64_get((uint8_t *)v.mv_data + 33);
	/* spending one worth less leaves the max-holder unspent */
	if (spent_value < old_max)
		return 0;
	memcpy(cv, v.mv_data, sizeof(cv));
	if ((rc = tx_unspent_max(idx, sc->uc, uk, old_max, &max, &any)))
		return rc;
	if (any && max == old_max)
		return 0;
	v = mv(cv, sizeof(cv));
	if (log)
		st_undo_log(idx, ST_CUT, uk, ST_CUT_KEY, &v);
	if (!any)
		return mdb_cursor_del(sc->cc, 0);
	sd_be64_put(cv + 33, max);
	return mdb_cursor_put(sc->cc, &k, &v, MDB_CURRENT);
}

static int spend_one(struct oracle_index *idx, struct spend_ctx *sc,
		     int32_t height, struct st_spend_rec *s)
{
	uint8_t ob[4] = { 0 };
	MDB_val ov = mv(ob, 4);
	uint64_t value;
	uint32_t ord;
	int32_t hc;
	bool log;
	int rc;

	rc = seek_unspent(idx, sc, s, &value, &ord);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	hc = (int32_t)sd_be32_get(s->key);
	log = hc < height;  /* rows at `height` go with the block */
	if (log) {
		sd_be32_put(ob, ord);
		st_undo_log(idx, ST_SPENT_BITS, s->key, ST_UTXO_KEY, &ov);
	}
	idx->sc.bits.p[ord >> 3] |= (uint8_t)(1u << (ord & 7));
	sc->dirty = true;
	(void)st_outmap_del(&idx->om, s->fp, (uint32_t)hc);
	if (!(idx->flags & ST_F_CUT_THROUGH))
		return 0;
	return spend_cut(idx, sc, s->key, value, log);
}

/* One record per input spending a taproot output the map may hold. */
static size_t collect_spends(struct oracle_index *idx,
			     const struct btc_block *b)
{
	size_t n = 0, t, i;

	for (t = 1; t < b->n_tx; t++) {
		const struct btc_tx *tx = &b->tx[t];

		for (i = 0; i < tx->n_in; i++) {
			const struct btc_txin *in = &tx->in[i];
			struct st_spend_rec *s;
			size_t pos = 0;
			uint32_t hc, h2;
			uint64_t fp;

			if (!in->has_prevout ||
			    !oracle_spk_is_p2tr(&in->prevout_spk))
				continue;
			fp = st_outmap_fp(in->prev_txid, in->prev_vout);
			if (!st_outmap_next(&idx->om, fp, &pos, &hc))
				continue;       /* not tracked */
			if (n == idx->sc.spends_cap) {
				idx->sc.spends_cap = n ? n * 2 : 1024;
				idx->sc.spends = sd_xrealloc(idx->sc.spends,
					idx->sc.spends_cap * sizeof(*s));
			}
			s = &idx->sc.spends[n++];
			sd_be32_put(s->key, hc);
			st_rev32(s->key + 4, in->prev_txid);
			sd_be32_put(s->key + 36, in->prev_vout);
			s->fp = fp;
			s->several = st_outmap_next(&idx->om, fp, &pos, &h2);
		}
	}
	return n;
}

int st_spend_block(struct oracle_index *idx, MDB_txn *txn,
		   const struct btc_block *b)
{
	struct spend_ctx sc = { .txn = txn };
	size_t n = collect_spends(idx, b), i;
	int rc = 0;

	if (n == 0)
		return 0;
	if (n > 1)
		qsort(idx->sc.spends, n, sizeof(*idx->sc.spends), cmp_spend);
	if ((rc = mdb_cursor_open(txn, idx->dbi[ST_UTXO], &sc.uc)) ||
	    (rc = mdb_cursor_open(txn, idx->dbi[ST_CUT], &sc.cc)))
		goto out;
	for (i = 0; i < n && rc == 0; i++)
		rc = spend_one(idx, &sc, b->height, &idx->sc.spends[i]);
	if (rc == 0)
		rc = bits_flush(idx, &sc);
out:
	if (sc.cc)
		mdb_cursor_close(sc.cc);
	if (sc.uc)
		mdb_cursor_close(sc.uc);
	return rc;
}

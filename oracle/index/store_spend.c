/* store_spend.c - the spends of one block inside its write txn: every
 * input whose prevout is a tracked taproot output sets that output's bit
 * in its height's spent bitmap (store_bits.c) and leaves the outpoint
 * map; each bit set goes to the undo log.  (The cut-through answer is
 * derived from the bits when read: nothing else changes.)
 *
 * The spends are applied in key order, not input order: `utxos` keys
 * start with the creating height and txid, so sorted spends walk the
 * B-tree forward with one cursor (LMDB finds most keys on the cursor's
 * current leaf page instead of descending from the root), and each
 * height's bitmap is read and written once.  The `utxos` rows are only
 * read.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"
#include "store_int.h"

static int cmp_spend(const void *a, const void *b)
{
	return memcmp(((const struct st_spend_rec *)a)->key,
		      ((const struct st_spend_rec *)b)->key, ST_OUTPOINT_KEY);
}

/* The block's cursors and the spent bitmap being changed: one height's
 * value, copied to idx->sc.bits, written back when the spends move on to
 * another height (sorted spends: once per creating height). */
struct spend_ctx {
	MDB_txn *txn;
	MDB_cursor *uc;
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

/* The output vout in the outputs of utxos value val (n of them, vout
 * order): its index, or -1. */
static ptrdiff_t find_vout(const uint8_t *val, size_t n, uint32_t vout)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t v = sd_be32_get(val + ST_UTXO_HDR + mid * ST_OUT_LEN);

		if (v == vout)
			return (ptrdiff_t)mid;
		if (v < vout)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* The row of (key's height, txid) holding key's vout: its ord, or
 * MDB_NOTFOUND. */
static int row_ord(MDB_cursor *c, const uint8_t key[ST_OUTPOINT_KEY],
		   uint32_t *ord)
{
	MDB_val k = st_mv(key, ST_UTXO_KEY), v;
	ptrdiff_t i;
	size_t n;
	int rc;

	if ((rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY)))
		return rc;
	if ((rc = st_utxo_outs(v.mv_size, &n)))
		return rc;
	i = find_vout(v.mv_data, n, sd_be32_get(key + 36));
	if (i < 0)
		return MDB_NOTFOUND;
	*ord = sd_be32_get((const uint8_t *)v.mv_data + 4) + (uint32_t)i;
	return 0;
}

/* Find the unspent output of the spend: the recorded height first, then
 * (several outpoints sharing a fingerprint) every height the map holds
 * for it; load that height's bitmap.  MDB_NOTFOUND: the output is not
 * tracked. */
static int seek_unspent(struct oracle_index *idx, struct spend_ctx *sc,
			struct st_spend_rec *s, uint32_t *ord)
{
	size_t pos = 0;
	uint32_t hc;
	bool bad = false;
	int rc;

	rc = s->several ? MDB_NOTFOUND : row_ord(sc->uc, s->key, ord);
	while (rc == MDB_NOTFOUND && st_outmap_next(&idx->om, s->fp, &pos,
						    &hc)) {
		sd_be32_put(s->key, hc);
		rc = row_ord(sc->uc, s->key, ord);
	}
	if (rc)
		return rc;
	if ((rc = bits_for(idx, sc, sd_be32_get(s->key))))
		return rc;
	if (row_spent(idx, *ord, &bad) || bad)
		return MDB_CORRUPTED;   /* spent outputs are not in the map */
	return 0;
}

static int spend_one(struct oracle_index *idx, struct spend_ctx *sc,
		     int32_t height, struct st_spend_rec *s)
{
	uint32_t ord;
	int32_t hc;
	int rc;

	rc = seek_unspent(idx, sc, s, &ord);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	hc = (int32_t)sd_be32_get(s->key);
	if (hc < height)    /* rows at `height` go with the block */
		st_undo_log_spent(idx, s->key, ord);
	idx->sc.bits.p[ord >> 3] |= (uint8_t)(1u << (ord & 7));
	sc->dirty = true;
	(void)st_outmap_del(&idx->om, s->fp, (uint32_t)hc);
	return 0;
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
	if ((rc = mdb_cursor_open(txn, idx->dbi[ST_UTXO], &sc.uc)))
		goto out;
	for (i = 0; i < n && rc == 0; i++)
		rc = spend_one(idx, &sc, b->height, &idx->sc.spends[i]);
	if (rc == 0)
		rc = bits_flush(idx, &sc);
out:
	if (sc.uc)
		mdb_cursor_close(sc.uc);
	return rc;
}

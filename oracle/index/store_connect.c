/* store_connect.c - index one block on top of the tip in one LMDB write
 * transaction: block row, full tweak index, taproot UTXO rows (one per
 * tx, and the in-memory outpoint map), filters, spent index, the
 * spends (store_spend.c), the undo log (store_undo.c: this block's row,
 * the rows that left the undo_depth window pruned) and the tip pointer.
 * Everything the block needs is computed before the transaction opens
 * (EC work on the worker pool); rows keyed by height are written with
 * MDB_APPEND in key order.  At the tip most transactions were in the
 * mempool first: their tweaks come from the mempool table instead of
 * being computed again (a txid fixes the tx and, through its outpoints,
 * the prevouts, hence the tweak and the dust value).
 */
#include <stdlib.h>
#include <string.h>

#include "../../common/log.h"
#include "../../common/util.h"
#include "compute_int.h"
#include "store_int.h"

struct connect_arg {
	const struct btc_block *b;
	uint64_t body_ns;           /* time in connect_txn (commit excluded) */
	uint64_t spend_ns;          /* of which marking the spent outputs */
	size_t n_rows, n_utxo;       /* utxos rows (txs), their outputs */
	const struct oracle_prepared *flt;  /* filters, spent index */
};

/* Fill infos[t] (and known[t]) of the txs whose tweak the mempool table
 * already holds; returns how many.  Same probe as store_mempool.c. */
static size_t prefill_from_mempool(struct oracle_index *idx,
				   const struct btc_block *b, bool *known)
{
	size_t t, n = 0, mask, i;

	pthread_mutex_lock(&idx->mp_mu);
	mask = idx->mp_cap - 1;
	for (t = 1; idx->mp_n && t < b->n_tx; t++) {
		const uint8_t *txid = b->tx[t].txid;

		for (i = (size_t)sd_le64_get(txid) & mask; idx->mp[i].used;
		     i = (i + 1) & mask) {
			const struct st_mp_entry *e = &idx->mp[i];
			struct oracle_tx_info *in = &idx->sc.infos[t];

			if (memcmp(e->txid, txid, 32) != 0)
				continue;
			memset(in, 0, sizeof(*in));
			in->has_taproot_output = true;
			in->has_tweak = true;
			memcpy(in->tweak, e->tweak, 33);
			in->highest_value = e->highest_value;
			known[t] = true;
			n++;
			break;
		}
	}
	pthread_mutex_unlock(&idx->mp_mu);
	return n;
}

/* oracle_block_compute, minus what the mempool table already knows. */
static int compute_block(struct oracle_index *idx, const struct btc_block *b,
			 size_t *from_mempool)
{
	bool *known;
	size_t n;
	int rc;

	*from_mempool = 0;
	pthread_mutex_lock(&idx->mp_mu);
	n = idx->mp_n;
	pthread_mutex_unlock(&idx->mp_mu);
	if (n == 0)
		return oracle_block_compute(idx->pool, b, idx->sc.infos);
	known = sd_xcalloc(b->n_tx, sizeof(*known));
	n = prefill_from_mempool(idx, b, known);
	rc = oracle_block_compute_known(idx->pool, b, idx->sc.infos, known,
					b->n_tx - n);
	free(known);
	*from_mempool = n;
	return rc;
}

static int cmp_ord(const void *a, const void *b)
{
	return memcmp(((const struct st_tx_ord *)a)->dtxid,
		      ((const struct st_tx_ord *)b)->dtxid, 32);
}

/* The tweak-bearing txs of b sorted by dtxid: the order of their utxos
 * keys (H | dtxid); .t is the tx's index in the block.  *n_tr: their
 * taproot outputs. */
static size_t sort_txs(struct oracle_index *idx, const struct btc_block *b,
		       size_t *n_tr)
{
	size_t t, o, n = 0;

	*n_tr = 0;
	if (b->n_tx > idx->sc.ord_cap) {
		idx->sc.ord_cap = b->n_tx * 2;
		idx->sc.ord = sd_xrealloc(idx->sc.ord, idx->sc.ord_cap *
					  sizeof(*idx->sc.ord));
	}
	for (t = 0; t < b->n_tx; t++) {
		if (!idx->sc.infos[t].has_tweak)
			continue;
		st_rev32(idx->sc.ord[n].dtxid, b->tx[t].txid);
		idx->sc.ord[n++].t = (uint32_t)t;
		for (o = 0; o < b->tx[t].n_out; o++)
			*n_tr += oracle_spk_is_p2tr(&b->tx[t].out[o].spk);
	}
	if (n > 1)
		qsort(idx->sc.ord, n, sizeof(*idx->sc.ord), cmp_ord);
	return n;
}

/* The block's tweak index (block tx order) into sc.tweak_recs: record k
 * is the k-th tweak-bearing tx's (its utxos row's tpos). */
static void build_tweak_recs(struct oracle_index *idx,
			     const struct btc_block *b)
{
	bool dust = idx->flags & ST_F_FULL_DUST;
	uint8_t be[8];

	idx->sc.tweak_recs.len = 0;
	if (!st_writes_tweak_index(idx->flags))
		return;
	for (size_t t = 0; t < b->n_tx; t++) {    /* block tx order */
		const struct oracle_tx_info *in = &idx->sc.infos[t];

		if (!in->has_tweak)
			continue;
		sd_buf_put(&idx->sc.tweak_recs, in->tweak, 33);
		if (dust) {
			sd_be64_put(be, in->highest_value);
			sd_buf_put(&idx->sc.tweak_recs, be, 8);
		}
	}
}

/* One utxos row per tweak-bearing tx (key order), values in sc.rowbuf:
 * tpos | ord0 | its P2TR outputs (vout | value | x-only key). */
static void build_utxo_rows(struct oracle_index *idx,
			    const struct btc_block *b, size_t n_tweaks,
			    struct connect_arg *a)
{
	uint32_t *tpos, ord = 0, k = 0;
	uint8_t hbe[4], be[8];
	size_t i, o;

	sd_be32_put(hbe, (uint32_t)b->height);
	if (n_tweaks > idx->sc.utxos_cap) {
		idx->sc.utxos_cap = n_tweaks * 2;
		idx->sc.utxos = sd_xrealloc(idx->sc.utxos,
					    idx->sc.utxos_cap *
					    sizeof(*idx->sc.utxos));
	}
	/* tpos of tx t, block order (ord[] is sorted by dtxid) */
	if (b->n_tx > idx->sc.tpos_cap) {
		idx->sc.tpos_cap = b->n_tx * 2;
		idx->sc.tpos = sd_xrealloc(idx->sc.tpos, idx->sc.tpos_cap *
					   sizeof(*idx->sc.tpos));
	}
	tpos = idx->sc.tpos;
	for (size_t t = 0; t < b->n_tx; t++)
		tpos[t] = idx->sc.infos[t].has_tweak ? k++ : 0;
	idx->sc.rowbuf.len = 0;
	a->n_rows = a->n_utxo = 0;
	for (i = 0; i < n_tweaks; i++) {
		const struct st_tx_ord *od = &idx->sc.ord[i];
		const struct btc_tx *tx = &b->tx[od->t];
		struct st_utxo_rec *u = &idx->sc.utxos[a->n_rows++];

		memcpy(u->key, hbe, 4);
		memcpy(u->key + 4, od->dtxid, 32);
		u->off = idx->sc.rowbuf.len;
		sd_be32_put(be, tpos[od->t]);
		sd_buf_put(&idx->sc.rowbuf, be, 4);
		sd_be32_put(be, ord);
		sd_buf_put(&idx->sc.rowbuf, be, 4);
		for (o = 0; o < tx->n_out; o++) {
			if (!oracle_spk_is_p2tr(&tx->out[o].spk))
				continue;
			sd_be32_put(be, (uint32_t)o);
			sd_buf_put(&idx->sc.rowbuf, be, 4);
			sd_be64_put(be, (uint64_t)tx->out[o].value);
			sd_buf_put(&idx->sc.rowbuf, be, 8);
			sd_buf_put(&idx->sc.rowbuf, tx->out[o].spk.data + 2,
				   32);
			ord++;
		}
		u->len = idx->sc.rowbuf.len - u->off;
	}
	a->n_utxo = ord;
}

/* Build the per-block rows in idx's scratch buffers (no LMDB yet), each
 * kind in key order. */
static size_t build_rows(struct oracle_index *idx, const struct btc_block *b,
			 struct connect_arg *a)
{
	size_t n_tweaks, n_tr;

	n_tweaks = sort_txs(idx, b, &n_tr);
	build_tweak_recs(idx, b);
	a->n_rows = a->n_utxo = 0;
	if (!(idx->flags & ST_F_TWEAKS_ONLY))
		build_utxo_rows(idx, b, n_tweaks, a);
	return n_tweaks;
}

/* A height's row, appended (heights only grow). */
static int put_h(MDB_txn *txn, MDB_dbi dbi, uint32_t h, const void *data,
		 size_t len)
{
	return st_put_h(txn, dbi, h, data, len, MDB_APPEND);
}

/* The block's utxos rows, in key order, appended with one cursor; their
 * outputs enter the outpoint map. */
static int append_utxos(struct oracle_index *idx, MDB_txn *txn,
			uint32_t h, size_t n)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = 0;

	if (n == 0)
		return 0;
	if ((rc = mdb_cursor_open(txn, idx->dbi[ST_UTXO], &c)))
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct st_utxo_rec *u = &idx->sc.utxos[i];
		const uint8_t *val = idx->sc.rowbuf.p + u->off;

		k = st_mv(u->key, ST_UTXO_KEY);
		v = st_mv(val, u->len);
		rc = mdb_cursor_put(c, &k, &v, MDB_APPEND);
		/* no undo entry: disconnect derives these from utxos[H] */
		for (size_t o = ST_UTXO_HDR; rc == 0 && o < u->len;
		     o += ST_OUT_LEN)
			st_outmap_add(&idx->om, st_outmap_dfp(u->key + 4,
				      sd_be32_get(val + o)), h);
	}
	mdb_cursor_close(c);
	return rc;
}

static int connect_txn_body(struct oracle_index *idx, MDB_txn *txn,
			    struct connect_arg *a);

static int connect_txn(struct oracle_index *idx, MDB_txn *txn, void *arg)
{
	struct connect_arg *a = arg;
	uint64_t t0 = sd_mono_ns();
	int rc = connect_txn_body(idx, txn, a);

	a->body_ns = sd_mono_ns() - t0;
	return rc;
}

static int connect_txn_body(struct oracle_index *idx, MDB_txn *txn,
			    struct connect_arg *a)
{
	const struct btc_block *b = a->b;
	uint32_t h = (uint32_t)b->height;
	uint8_t row[ST_BLOCK_VAL];
	int rc;

	st_undo_begin(idx);
	memcpy(row, b->hash, 32);
	sd_be32_put(row + 32, b->hdr.time);
	memcpy(row + 36, b->hdr.prev_hash, 32);
	if ((rc = put_h(txn, idx->dbi[ST_BLOCKS], h, row, sizeof(row))))
		return rc;
	if (idx->sc.tweak_recs.len &&
	    (rc = put_h(txn, idx->dbi[ST_TWEAK_INDEX], h, idx->sc.tweak_recs.p,
			idx->sc.tweak_recs.len)))
		return rc;
	if (idx->flags & ST_F_TWEAKS_ONLY)
		goto tip;
	if ((rc = append_utxos(idx, txn, h, a->n_rows)))
		return rc;
	if (a->n_utxo) {    /* nothing spent yet */
		idx->sc.bits.len = 0;
		sd_buf_reserve(&idx->sc.bits, (a->n_utxo + 7) / 8);
		memset(idx->sc.bits.p, 0, (a->n_utxo + 7) / 8);
		if ((rc = put_h(txn, idx->dbi[ST_SPENT_BITS], h,
				idx->sc.bits.p, (a->n_utxo + 7) / 8)))
			return rc;
	}
	if ((rc = put_h(txn, idx->dbi[ST_FILTER_NEW], h, a->flt->fnew,
			a->flt->fnew_len)) ||
	    (rc = put_h(txn, idx->dbi[ST_FILTER_SPENT], h, a->flt->fspent,
			a->flt->fspent_len)))
		return rc;
	if (a->flt->n_spent &&
	    (rc = put_h(txn, idx->dbi[ST_SPENT_INDEX], h, a->flt->spent,
			a->flt->n_spent * 8)))
		return rc;
	a->spend_ns = sd_mono_ns();
	rc = st_spend_block(idx, txn, b);
	a->spend_ns = sd_mono_ns() - a->spend_ns;
	if (rc)
		return rc;
tip:
	if ((rc = st_v2_put(idx, txn, b)))
		return rc;
	if ((rc = st_undo_put(idx, txn, h)) ||
	    (rc = st_undo_prune(idx, txn, h)))
		return rc;
	return st_meta_set_tip(idx, txn, b->height, b->hash);
}

static int index_connect(struct oracle_index *idx, const struct btc_block *b,
			 const struct oracle_prepared *pre)
{
	struct connect_arg a = { .b = b };
	struct oracle_prepared own = { 0 };   /* filters built here */
	uint64_t t0 = sd_mono_ns(), t1 = t0, t2;
	size_t n_tweaks, from_mempool;
	unsigned batch = 1;
	bool deferred;
	char hex[65];
	double ms;
	int rc;

	if (!b || b->n_tx == 0 || b->height < 0)
		return SD_EINVAL;
	if (idx->tip_height < 0) {
		if (b->height < idx->cfg.start_height)
			return SD_ESTATE;
	} else if (b->height != idx->tip_height + 1 ||
		   memcmp(b->hdr.prev_hash, idx->tip_hash, 32) != 0) {
		return SD_ESTATE;
	}
	if (b->n_tx > idx->sc.infos_cap) {
		idx->sc.infos_cap = b->n_tx * 2;
		idx->sc.infos = sd_xrealloc(idx->sc.infos,
					    idx->sc.infos_cap *
					    sizeof(*idx->sc.infos));
	}
	if (pre) {
		memcpy(idx->sc.infos, pre->infos,
		       b->n_tx * sizeof(*idx->sc.infos));
		from_mempool = 0;
	} else {
		rc = compute_block(idx, b, &from_mempool);
		if (rc != SD_OK)
			return rc;
	}
	n_tweaks = build_rows(idx, b, &a);
	a.flt = pre && pre->has_filters ? pre : &own;
	if (!(idx->flags & ST_F_TWEAKS_ONLY) && !a.flt->has_filters &&
	    (rc = oracle_block_filters(b, &own)) != SD_OK)
		goto out;
	t1 = sd_mono_ns();
	deferred = idx->group_max > 1;
	rc = deferred ? st_write_deferred(idx, "connect", connect_txn, &a) :
			st_write(idx, "connect", connect_txn, &a);
	if (rc != SD_OK)
		goto out;
	idx->tip_height = b->height;
	memcpy(idx->tip_hash, b->hash, 32);
	if (deferred) {
		idx->pending_blocks++;
		idx->pending_tweaks += n_tweaks;
		batch = idx->pending_blocks;
		if (batch >= idx->group_max &&
		    (rc = oracle_index_flush(idx)) != SD_OK)
			goto out;
	} else {
		idx->durable_height = b->height;
		memcpy(idx->durable_hash, b->hash, 32);
	}
	t2 = sd_mono_ns();
	ms = (double)(sd_mono_ns() - t0) / 1e6;
	pthread_mutex_lock(&idx->stats_mu);
	idx->reorg_too_deep = false;
	if (!deferred) {
		idx->stat_tip = b->height;
		idx->blocks_connected++;
		idx->tweaks_indexed += n_tweaks;
	}
	idx->last_connect_ms = ms;
	pthread_mutex_unlock(&idx->stats_mu);
	st_mempool_drop_block(idx, b);
	sd_hex_encode_rev(hex, b->hash, 32);
	sd_log_info("oracle", "block_connected", "height=%d hash=%s txs=%zu "
		    "tweaks=%zu ms=%.2f compute_ms=%.2f write_ms=%.2f "
		    "from_mempool=%zu txn_ms=%.2f spend_ms=%.2f commit_ms=%.2f "
		    "batch=%u",
		    b->height, hex, b->n_tx, n_tweaks, ms,
		    (double)(t1 - t0) / 1e6, ms - (double)(t1 - t0) / 1e6,
		    from_mempool, (double)a.body_ns / 1e6,
		    (double)a.spend_ns / 1e6,
		    (double)(t2 - t1 - a.body_ns) / 1e6, batch);
out:
	oracle_prepared_free(&own);
	return rc;
}

int oracle_index_connect(struct oracle_index *idx, const struct btc_block *b)
{
	return index_connect(idx, b, NULL);
}

int oracle_index_connect_prepared(struct oracle_index *idx,
				  const struct btc_block *b,
				  const struct oracle_prepared *p)
{
	if (!p || !p->infos)
		return SD_EINVAL;
	return index_connect(idx, b, p);
}

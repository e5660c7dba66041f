/* store_v2.c - the `v2` table: per block, what the blindbit v2 API needs
 * that the v1 tables do not say (block order, the txs that only spend
 * taproot outputs, the spent taproot keys).  Written in the block's connect
 * txn, removed by disconnect with every other height-keyed row (no undo
 * entry needed: it only ever holds its own height).
 *
 * Record (format 6), for each tx in block order that has a tweak or spends
 * a taproot output:
 *     flags u8 (0x01 tweak, 0x02 inline) |
 *     [inline or no tweak: txid32 | [tweak33] | n_out BE32 |
 *                          n_out x (vout BE32 | amount BE64 | xonly32)] |
 *     n_in BE32 | n_in x (prev_txid32 | prev_vout BE32 | spent key[0..8])
 * A tweak tx without 0x02 is the k-th tweak tx of the block: its txid and
 * outputs are its `utxos` row with tpos k, its tweak is record k of
 * `tweak_index` (both written: st_v2_compact).  oracle_read_v2 expands a
 * record to the inline form, which oracle_v2_next reads.
 * No row: nothing to say for the block.
 */
#include <string.h>

#include "../../common/util.h"
#include "oracle_v2.h"
#include "store_int.h"

static bool spk_p2tr(const struct btc_bytes *spk)
{
	return oracle_spk_is_p2tr(spk);
}

/* The inline part of tx t: txid, tweak, taproot outputs. */
static void put_inline(struct sd_buf *o, const struct btc_tx *tx,
		       const struct oracle_tx_info *in)
{
	uint8_t be[8];
	uint32_t n_out = 0;
	size_t cnt;

	sd_buf_put(o, tx->txid, 32);
	if (in->has_tweak)
		sd_buf_put(o, in->tweak, 33);
	cnt = o->len;
	sd_buf_put(o, "\0\0\0\0", 4);
	for (size_t v = 0; in->has_tweak && v < tx->n_out; v++) {
		if (!spk_p2tr(&tx->out[v].spk))
			continue;
		sd_be32_put(be, (uint32_t)v);
		sd_buf_put(o, be, 4);
		sd_be64_put(be, (uint64_t)tx->out[v].value);
		sd_buf_put(o, be, 8);
		sd_buf_put(o, tx->out[v].spk.data + 2, 32);
		n_out++;
	}
	sd_be32_put(o->p + cnt, n_out);
}

int st_v2_put(struct oracle_index *idx, MDB_txn *txn,
	      const struct btc_block *b)
{
	struct sd_buf *o = &idx->sc.v2rec;
	bool compact = st_v2_compact(idx->flags);
	uint8_t be[8];

	o->len = 0;
	for (size_t t = 1; t < b->n_tx; t++) {
		const struct btc_tx *tx = &b->tx[t];
		const struct oracle_tx_info *in = &idx->sc.infos[t];
		uint32_t n_in = 0;
		uint8_t flags = in->has_tweak ? ST_V2_F_TWEAK : 0;

		for (size_t i = 0; i < tx->n_in; i++)
			if (tx->in[i].has_prevout &&
			    spk_p2tr(&tx->in[i].prevout_spk))
				n_in++;
		if (!in->has_tweak && !n_in)
			continue;
		if (in->has_tweak && !compact)
			flags |= ST_V2_F_INLINE;
		sd_buf_put(o, &flags, 1);
		if (!(flags & ST_V2_F_TWEAK) || (flags & ST_V2_F_INLINE))
			put_inline(o, tx, in);
		sd_be32_put(be, n_in);
		sd_buf_put(o, be, 4);
		for (size_t i = 0; i < tx->n_in; i++) {
			const struct btc_txin *ti = &tx->in[i];

			if (!ti->has_prevout || !spk_p2tr(&ti->prevout_spk))
				continue;
			sd_buf_put(o, ti->prev_txid, 32);
			sd_be32_put(be, ti->prev_vout);
			sd_buf_put(o, be, 4);
			sd_buf_put(o, ti->prevout_spk.data + 2, 8);
		}
	}
	if (!o->len)
		return 0;
	return st_put_h(txn, idx->dbi[ST_V2], (uint32_t)b->height, o->p,
			o->len, MDB_APPEND);
}

/* keys[k], vals[k] = the utxos row of tpos k at height hbe, for k < n
 * (mv_data NULL where none).  MDB_CORRUPTED on a bad row. */
static int rows_by_tpos(struct oracle_read *r, const uint8_t hbe[4],
			size_t n, MDB_val *keys, MDB_val *vals)
{
	MDB_val k = { .mv_size = 4, .mv_data = (void *)hbe }, v;
	MDB_cursor *c;
	size_t n_out;
	int rc;

	for (size_t i = 0; i < n; i++)
		keys[i] = vals[i] = (MDB_val){ .mv_size = 0, .mv_data = NULL };
	if (mdb_cursor_open(r->txn, r->idx->dbi[ST_UTXO], &c))
		return MDB_CORRUPTED;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		uint32_t tpos;

		if (k.mv_size < 4 || memcmp(k.mv_data, hbe, 4))
			break;
		if (k.mv_size != ST_UTXO_KEY ||
		    st_utxo_outs(v.mv_size, &n_out) ||
		    (tpos = sd_be32_get(v.mv_data)) >= n ||
		    vals[tpos].mv_data) {
			rc = MDB_CORRUPTED;
			break;
		}
		keys[tpos] = k;
		vals[tpos] = v;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/* Expand record rec (len) of height hbe to the inline form in r->v2. */
static int expand(struct oracle_read *r, const uint8_t hbe[4],
		  const uint8_t *rec, size_t len)
{
	size_t rl = st_tweak_rec_len(r->idx->flags), n_tw = 0, k = 0, p = 0;
	MDB_val tv = { 0 }, *keys = NULL, *vals;
	struct sd_buf *o = &r->v2;
	uint8_t be[4], txid[32];
	int rc;

	rc = mdb_get(r->txn, r->idx->dbi[ST_TWEAK_INDEX],
		     &(MDB_val){ .mv_size = 4, .mv_data = (void *)hbe }, &tv);
	if (rc && rc != MDB_NOTFOUND)
		return SD_EDB;
	if (tv.mv_size % rl)
		return SD_EDB;
	n_tw = tv.mv_size / rl;
	if (n_tw) {
		keys = sd_xmalloc(2 * n_tw * sizeof(*keys));
		if (rows_by_tpos(r, hbe, n_tw, keys, keys + n_tw)) {
			free(keys);
			return SD_EDB;
		}
	}
	vals = keys + n_tw;
	o->len = 0;
	{   /* the expanded size, to copy into one allocation */
		size_t need = len;

		for (size_t i = 0; i < n_tw; i++)   /* compact: its row */
			if (vals[i].mv_data)
				need += 32 + 33 + vals[i].mv_size;
		sd_buf_reserve(o, need);
	}
	rc = SD_OK;
	while (p < len && rc == SD_OK) {
		uint8_t flags = rec[p++];
		size_t n_in, start = p;

		if (!(flags & ST_V2_F_TWEAK) || (flags & ST_V2_F_INLINE)) {
			/* txid [tweak] n_out outs: copy as is */
			size_t q = p + 32 + ((flags & ST_V2_F_TWEAK) ? 33 : 0);

			if (q + 4 > len ||
			    (len - q - 4) / ORACLE_V2_OUT_LEN <
				    sd_be32_get(rec + q)) {
				rc = SD_EDB;
				break;
			}
			q += 4 + (size_t)sd_be32_get(rec + q) *
				 ORACLE_V2_OUT_LEN;
			sd_buf_put(o, rec + start, 32);
			flags &= ST_V2_F_TWEAK;
			sd_buf_put(o, &flags, 1);
			sd_buf_put(o, rec + start + 32, q - start - 32);
			p = q;
		} else {
			const uint8_t *key, *val;

			if (k >= n_tw || !vals[k].mv_data) {
				rc = SD_EDB;
				break;
			}
			key = keys[k].mv_data;
			val = vals[k].mv_data;
			st_rev32(txid, key + 4);
			sd_buf_put(o, txid, 32);
			flags = ST_V2_F_TWEAK;
			sd_buf_put(o, &flags, 1);
			sd_buf_put(o, (const uint8_t *)tv.mv_data + k * rl,
				   33);
			sd_be32_put(be, (uint32_t)((vals[k].mv_size -
						    ST_UTXO_HDR) /
						   ST_OUT_LEN));
			sd_buf_put(o, be, 4);
			sd_buf_put(o, val + ST_UTXO_HDR,
				   vals[k].mv_size - ST_UTXO_HDR);
			k++;
		}
		if (len - p < 4 ||
		    (len - p - 4) / ORACLE_V2_IN_LEN <
			    (n_in = sd_be32_get(rec + p))) {
			rc = SD_EDB;
			break;
		}
		sd_buf_put(o, rec + p, 4 + n_in * ORACLE_V2_IN_LEN);
		p += 4 + n_in * ORACLE_V2_IN_LEN;
	}
	free(keys);
	return rc;
}

int oracle_read_v2(struct oracle_read *r, int32_t height, const uint8_t **rec,
		   size_t *len)
{
	MDB_val k, v;
	uint8_t hbe[4];
	int rc;

	*rec = (const uint8_t *)"";
	*len = 0;
	if (height < 0)
		return SD_ENOTFOUND;
	sd_be32_put(hbe, (uint32_t)height);
	k = (MDB_val){ .mv_size = 4, .mv_data = hbe };
	rc = mdb_get(r->txn, r->idx->dbi[ST_BLOCKS], &k, &v);
	if (rc)
		return rc == MDB_NOTFOUND ? SD_ENOTFOUND : SD_EDB;
	rc = mdb_get(r->txn, r->idx->dbi[ST_V2], &k, &v);
	if (rc == MDB_NOTFOUND)
		return SD_OK;
	if (rc)
		return SD_EDB;
	if ((rc = expand(r, hbe, v.mv_data, v.mv_size)) != SD_OK)
		return rc;
	*rec = r->v2.p;
	*len = r->v2.len;
	return SD_OK;
}

int oracle_v2_next(const uint8_t *rec, size_t len, size_t *off,
		   struct oracle_v2_tx *tx)
{
	size_t p = *off;

	if (p >= len)
		return 0;
	if (len - p < 33)
		return -1;
	memcpy(tx->txid, rec + p, 32);
	tx->has_tweak = rec[p + 32] & ST_V2_F_TWEAK;
	p += 33;
	memset(tx->tweak, 0, 33);
	if (tx->has_tweak) {
		if (len - p < 33)
			return -1;
		memcpy(tx->tweak, rec + p, 33);
		p += 33;
	}
	if (len - p < 4)
		return -1;
	tx->n_out = sd_be32_get(rec + p);
	p += 4;
	if ((len - p) / ORACLE_V2_OUT_LEN < tx->n_out)
		return -1;
	tx->outs = rec + p;
	p += (size_t)tx->n_out * ORACLE_V2_OUT_LEN;
	if (len - p < 4)
		return -1;
	tx->n_in = sd_be32_get(rec + p);
	p += 4;
	if ((len - p) / ORACLE_V2_IN_LEN < tx->n_in)
		return -1;
	tx->ins = rec + p;
	p += (size_t)tx->n_in * ORACLE_V2_IN_LEN;
	*off = p;
	return 1;
}


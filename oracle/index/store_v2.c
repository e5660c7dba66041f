/* store_v2.c - the `v2` table (format 4): per block, what the blindbit
 * v2 API needs that the v1 tables do not keep (txids with their tweaks,
 * taproot outputs in block order, spent taproot keys).  Written in the
 * block's connect txn, removed by disconnect with every other height-keyed
 * row (no undo entry needed: it only ever holds its own height).
 *
 * Record: for each tx in block order that has a tweak or spends a
 * taproot output:
 *     txid32 | flags u8 (0x01 tweak) | [tweak33] | n_out BE32 |
 *     n_out x (vout BE32 | amount BE64 | xonly32) | n_in BE32 |
 *     n_in x (prev_txid32 | prev_vout BE32 | spent key[0..8])
 * No row: nothing to say for the block.
 */
#include <string.h>

#include "../../common/util.h"
#include "oracle_v2.h"
#include "store_int.h"

#define V2_F_TWEAK 0x01

static bool spk_p2tr(const struct btc_bytes *spk)
{
	return oracle_spk_is_p2tr(spk);
}

static const char v2_from_key[] = "v2_from";

/* A migrated index has no records below meta v2_from; a block connected
 * below it (after a disconnect) moves it down: every height under the
 * new block is still without records, the block has its own. */
static int lower_v2_from(struct oracle_index *idx, MDB_txn *txn,
			 uint32_t h)
{
	MDB_val k = { .mv_size = sizeof(v2_from_key) - 1,
		      .mv_data = (void *)v2_from_key }, v;
	uint8_t hbe[4];
	int rc = mdb_get(txn, idx->dbi[ST_META], &k, &v);

	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (v.mv_size != 4)
		return MDB_CORRUPTED;
	if (sd_be32_get(v.mv_data) <= h)
		return 0;
	sd_be32_put(hbe, h);
	return st_meta_put(idx, txn, v2_from_key, hbe, 4);
}

int st_v2_put(struct oracle_index *idx, MDB_txn *txn,
	      const struct btc_block *b)
{
	struct sd_buf *o = &idx->sc.v2rec;
	uint8_t be[8];
	int rc;

	if ((rc = lower_v2_from(idx, txn, (uint32_t)b->height)))
		return rc;
	o->len = 0;
	for (size_t t = 1; t < b->n_tx; t++) {
		const struct btc_tx *tx = &b->tx[t];
		const struct oracle_tx_info *in = &idx->sc.infos[t];
		uint32_t n_out = 0, n_in = 0;
		uint8_t flags = in->has_tweak ? V2_F_TWEAK : 0;
		size_t cnt;

		for (size_t i = 0; i < tx->n_in; i++)
			if (tx->in[i].has_prevout &&
			    spk_p2tr(&tx->in[i].prevout_spk))
				n_in++;
		if (!in->has_tweak && !n_in)
			continue;
		sd_buf_put(o, tx->txid, 32);
		sd_buf_put(o, &flags, 1);
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

int st_migrate_v4(struct oracle_index *idx, MDB_txn *txn)
{
	uint8_t hbe[4], vb[4], hash[32];
	int32_t tip;
	int rc;

	if ((rc = st_meta_tip(idx, txn, &tip, hash)))
		return rc;
	if (tip >= 0) {
		sd_be32_put(hbe, (uint32_t)tip + 1);
		if ((rc = st_meta_put(idx, txn, v2_from_key, hbe, 4)))
			return rc;
	}
	sd_be32_put(vb, 4);
	return st_meta_put(idx, txn, "version", vb, 4);
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
	k = (MDB_val){ .mv_size = sizeof(v2_from_key) - 1,
		       .mv_data = (void *)v2_from_key };
	rc = mdb_get(r->txn, r->idx->dbi[ST_META], &k, &v);
	if (rc == 0 && v.mv_size == 4 &&
	    (uint32_t)height < sd_be32_get(v.mv_data))
		return SD_ESTATE;
	if (rc && rc != MDB_NOTFOUND)
		return SD_EDB;
	k = (MDB_val){ .mv_size = 4, .mv_data = hbe };
	rc = mdb_get(r->txn, r->idx->dbi[ST_V2], &k, &v);
	if (rc == MDB_NOTFOUND)
		return SD_OK;
	if (rc)
		return SD_EDB;
	*rec = v.mv_data;
	*len = v.mv_size;
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
	tx->has_tweak = rec[p + 32] & V2_F_TWEAK;
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


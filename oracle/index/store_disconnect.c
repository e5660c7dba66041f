/* store_disconnect.c - undo the tip block in one LMDB write transaction:
 * replay the block's undo log (store_undo.c: every change it made outside
 * its own height: the spent bits it set)
 * in reverse order, delete every row keyed by its height, and move the
 * tip pointer to the previous block.  The in-memory outpoint map follows:
 * restored spent marks put their outputs back, the outputs the block
 * created leave.
 */
#include <string.h>

#include "../../common/log.h"
#include "../../common/util.h"
#include "store_int.h"

struct disconnect_arg {
	int32_t height;
	int32_t new_tip;
	uint8_t new_hash[32];
};

int st_del_height(struct oracle_index *idx, MDB_txn *txn, enum st_table t,
		  int32_t height)
{
	uint8_t hbe[4];
	MDB_cursor *c;
	MDB_val k = { .mv_size = 4, .mv_data = hbe }, v;
	int rc;

	sd_be32_put(hbe, (uint32_t)height);
	if ((rc = mdb_cursor_open(txn, idx->dbi[t], &c)))
		return rc;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0) {
		if (k.mv_size < 4 || memcmp(k.mv_data, hbe, 4) != 0)
			break;
		if ((rc = mdb_cursor_del(c, 0)))
			break;
		k.mv_size = 4;
		k.mv_data = hbe;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Drop the outputs block `height` created from the map (its unspent utxos
 * rows; those it also spent left the map when it was connected). */
static int unmap_created(struct oracle_index *idx, MDB_txn *txn,
			 int32_t height)
{
	uint8_t hbe[4];
	MDB_val k = { .mv_size = 4, .mv_data = hbe }, v, bv;
	MDB_cursor *c;
	int rc;

	sd_be32_put(hbe, (uint32_t)height);
	rc = st_bits_get(idx, txn, (uint32_t)height, &bv);
	if (rc == MDB_NOTFOUND)     /* no utxos rows: else a row fails below */
		bv = (MDB_val){ .mv_size = 0, .mv_data = NULL };
	else if (rc)
		return rc;
	if ((rc = mdb_cursor_open(txn, idx->dbi[ST_UTXO], &c)))
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *key = k.mv_data, *val = v.mv_data;
		uint32_t ord0;
		size_t n;
		bool spent;

		if (k.mv_size != ST_UTXO_KEY || memcmp(key, hbe, 4))
			break;
		if ((rc = st_utxo_outs(v.mv_size, &n)))
			break;
		ord0 = sd_be32_get(val + 4);
		for (size_t i = 0; i < n && rc == 0; i++) {
			const uint8_t *o = val + ST_UTXO_HDR + i * ST_OUT_LEN;

			if ((rc = st_ord_spent(&bv, ord0 + (uint32_t)i,
					       &spent)) || spent)
				continue;
			(void)st_outmap_del(&idx->om, st_outmap_dfp(key + 4,
					    sd_be32_get(o)), (uint32_t)height);
		}
		if (rc)
			break;
	}
	mdb_cursor_close(c);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : rc;
}

static int disconnect_txn(struct oracle_index *idx, MDB_txn *txn, void *arg)
{
	struct disconnect_arg *a = arg;
	uint8_t hbe[4];
	MDB_val k = { .mv_size = 4, .mv_data = hbe }, v;
	int rc, t;

	if ((rc = st_undo_replay(idx, txn, a->height)))
		return rc;
	if (!(idx->flags & ST_F_TWEAKS_ONLY) &&
	    (rc = unmap_created(idx, txn, a->height)))
		return rc;
	for (t = ST_BLOCKS; t < ST_N; t++) {
		if ((rc = st_del_height(idx, txn, (enum st_table)t, a->height)))
			return rc;
	}
	a->new_tip = -1;
	memset(a->new_hash, 0, 32);
	if (a->height > 0) {
		sd_be32_put(hbe, (uint32_t)(a->height - 1));
		rc = mdb_get(txn, idx->dbi[ST_BLOCKS], &k, &v);
		if (rc == 0) {
			if (v.mv_size != ST_BLOCK_VAL)
				return MDB_CORRUPTED;
			a->new_tip = a->height - 1;
			memcpy(a->new_hash, v.mv_data, 32);
		} else if (rc != MDB_NOTFOUND) {
			return rc;
		}
	}
	return st_meta_set_tip(idx, txn, a->new_tip, a->new_hash);
}

int oracle_index_disconnect(struct oracle_index *idx, int32_t height,
			    const uint8_t hash[32])
{
	struct disconnect_arg a = { .height = height };
	char hex[65];
	int rc;

	if (idx->tip_height < 0 || height != idx->tip_height ||
	    memcmp(hash, idx->tip_hash, 32) != 0)
		return SD_ESTATE;
	rc = st_write(idx, "disconnect", disconnect_txn, &a);
	pthread_mutex_lock(&idx->stats_mu);
	idx->reorg_too_deep = rc == SD_ENOTFOUND;   /* undo row pruned */
	pthread_mutex_unlock(&idx->stats_mu);
	if (rc != SD_OK)
		return rc;
	idx->tip_height = idx->durable_height = a.new_tip;
	memcpy(idx->tip_hash, a.new_hash, 32);
	memcpy(idx->durable_hash, a.new_hash, 32);
	pthread_mutex_lock(&idx->stats_mu);
	idx->stat_tip = a.new_tip;
	idx->blocks_disconnected++;
	pthread_mutex_unlock(&idx->stats_mu);
	sd_hex_encode_rev(hex, hash, 32);
	sd_log_info("oracle", "block_disconnected", "height=%d hash=%s",
		    height, hex);
	return SD_OK;
}

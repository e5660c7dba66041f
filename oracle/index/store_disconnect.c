/* store_disconnect.c - undo the tip block in one LMDB write transaction:
 * replay the block's undo log (every change it made outside its own
 * height: spent bits, cut-through values and deletions)
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

static void map_add_row(struct oracle_index *idx, const uint8_t *key)
{
	st_outmap_add(&idx->om, st_outmap_key_fp(key), sd_be32_get(key));
}

/* Undo a spend (code 6: utxos key, ord): clear the output's bit, put it
 * back in the map. */
static int unspend(struct oracle_index *idx, MDB_txn *txn,
		   const uint8_t *key, size_t klen, const uint8_t *pv)
{
	int rc;

	if (klen != ST_UTXO_KEY || pv[0] != 1 || pv[1] != 0 || pv[2] != 4)
		return MDB_CORRUPTED;
	if ((rc = st_bits_set(idx, txn, sd_be32_get(key),
			      sd_be32_get(pv + 3), false)))
		return rc;
	map_add_row(idx, key);
	return 0;
}

/* A cut-through row's before-image (or its absence). */
static int restore_cut(struct oracle_index *idx, MDB_txn *txn,
		       const uint8_t *key, size_t klen, const uint8_t *pv)
{
	MDB_val k = { .mv_size = klen, .mv_data = (void *)key }, v;
	int rc;

	if (pv[0] != 1) {
		rc = mdb_del(txn, idx->dbi[ST_CUT], &k, NULL);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	v.mv_size = ((size_t)pv[1] << 8) | pv[2];
	v.mv_data = (void *)(pv + 3);
	return mdb_put(txn, idx->dbi[ST_CUT], &k, &v, 0);
}

/* Apply the undo log of the block (before-images, newest first). */
static int apply_undo(struct oracle_index *idx, MDB_txn *txn,
		      const uint8_t *p, size_t len)
{
	size_t off = 0, n = 0, i;

	/* index the entries, then restore them in reverse */
	while (off < len) {
		if (n == idx->undo_offs_cap) {
			idx->undo_offs_cap = n ? n * 2 : 256;
			idx->undo_offs = sd_xrealloc(idx->undo_offs,
				idx->undo_offs_cap * sizeof(size_t));
		}
		idx->undo_offs[n++] = off;
		if (st_undo_entry_end(p, len, off, &off))
			return MDB_CORRUPTED;
	}
	for (i = n; i-- > 0;) {
		const uint8_t *e = p + idx->undo_offs[i];
		size_t klen = ((size_t)e[1] << 8) | e[2];
		const uint8_t *pv = e + 3 + klen;
		int rc;

		switch (e[0]) {
		case ST_UNDO_SPENT:
			rc = unspend(idx, txn, e + 3, klen, pv);
			break;
		case ST_UNDO_CUT:
			rc = restore_cut(idx, txn, e + 3, klen, pv);
			break;
		default:
			return MDB_CORRUPTED;
		}
		if (rc)
			return rc;
	}
	return 0;
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
		const uint8_t *key = k.mv_data;
		bool spent;

		if (k.mv_size != ST_UTXO_KEY || memcmp(key, hbe, 4))
			break;
		if ((rc = st_row_spent(&bv, &v, &spent)))
			break;
		if (!spent)
			(void)st_outmap_del(&idx->om, st_outmap_key_fp(key),
					    (uint32_t)height);
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

	sd_be32_put(hbe, (uint32_t)a->height);
	rc = mdb_get(txn, idx->dbi[ST_UNDO], &k, &v);
	if (rc == 0) {
		/* copy: the log's pages may be freed by the writes below */
		idx->undo.len = 0;
		sd_buf_put(&idx->undo, v.mv_data, v.mv_size);
		rc = apply_undo(idx, txn, idx->undo.p, idx->undo.len);
	} else if (rc == MDB_NOTFOUND) {
		rc = 0;
	}
	if (rc)
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

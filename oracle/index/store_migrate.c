/* store_migrate.c - bring an index written by an older signetd to the
 * current format, inside the open txn (all or nothing: a failed or
 * killed migration leaves the old format, and the next open retries).
 *   1 -> 2: the `outpoints` table goes (the outpoint map is rebuilt from
 *           the utxos rows at every open).
 *   2 -> 3: each `utxos` value loses its spent byte and gains its rank in
 *           the height (ord); the spent bytes become one `spent_bits`
 *           value per height.
 *           Undo logs are rewritten in today's codes: a spent mark (code
 *           4, the row's before-image) becomes code 6 (the row's ord),
 *           format 1's outpoint entries (code 5) go.
 *   3 -> 4: the `v2` table, from meta "v2_from" on (store_v2.c).
 *   4 -> 5: only the version: undo rows may be pruned from now on, and a
 *           format-4 binary refuses the index instead of misreading it.
 */
#include <string.h>

#include "../../common/util.h"
#include "store_int.h"

static int set_version(struct oracle_index *idx, MDB_txn *txn, uint32_t ver)
{
	uint8_t vb[4];

	sd_be32_put(vb, ver);
	return st_meta_put(idx, txn, "version", vb, 4);
}

static int migrate_v1(struct oracle_index *idx, MDB_txn *txn)
{
	MDB_dbi dbi;
	int rc;

	rc = mdb_dbi_open(txn, "outpoints", 0, &dbi);
	if (rc == 0)
		rc = mdb_drop(txn, dbi, 1);
	else if (rc == MDB_NOTFOUND)
		rc = 0;
	return rc ? rc : set_version(idx, txn, 2);
}

static int put_bits(struct oracle_index *idx, MDB_txn *txn, uint32_t h)
{
	return st_put_h(txn, idx->dbi[ST_SPENT_BITS], h, idx->sc.bits.p,
			idx->sc.bits.len, MDB_APPEND);
}

/* One undo log in today's codes, into idx->sc.undo: a spent mark (code 4,
 * the row's unspent before-image) becomes code 6 with the row's ord; a
 * format 1 outpoint entry (code 5) goes; cut-through entries stay. */
static int undo_v3(struct oracle_index *idx, MDB_txn *txn,
		   const uint8_t *p, size_t len)
{
	size_t off = 0;

	idx->sc.undo.len = 0;
	while (off < len) {
		size_t klen, end;
		MDB_val k, v;
		uint8_t ob[4];
		int rc;

		if ((rc = st_undo_entry_end(p, len, off, &end)))
			return rc;
		klen = ((size_t)p[off + 1] << 8) | p[off + 2];
		if (p[off] == ST_UNDO_CUT) {
			sd_buf_put(&idx->sc.undo, p + off, end - off);
		} else if (p[off] == ST_UNDO_UTXO) {
			k.mv_size = klen;
			k.mv_data = (void *)(p + off + 3);
			if (klen != ST_UTXO_KEY)
				return MDB_CORRUPTED;
			if ((rc = mdb_get(txn, idx->dbi[ST_UTXO], &k, &v)))
				return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
			if (v.mv_size != ST_UTXO_VAL)
				return MDB_CORRUPTED;
			memcpy(ob, (const uint8_t *)v.mv_data + ST_UTXO_ORD, 4);
			v.mv_size = 4;
			v.mv_data = ob;
			st_undo_log(idx, ST_SPENT_BITS, k.mv_data, klen, &v);
		} else if (p[off] != ST_UNDO_V1_OUTPOINT) {
			return MDB_CORRUPTED;
		}
		off = end;
	}
	return 0;
}

static int migrate_undo(struct oracle_index *idx, MDB_txn *txn)
{
	uint8_t key[4];
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_cursor_open(txn, idx->dbi[ST_UNDO], &c)))
		return rc;
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	while (rc == 0) {
		if (k.mv_size != 4) {
			rc = MDB_CORRUPTED;
			break;
		}
		memcpy(key, k.mv_data, 4);
		if ((rc = undo_v3(idx, txn, v.mv_data, v.mv_size)))
			break;
		k.mv_data = key;
		if (idx->sc.undo.len == 0) {       /* only format 1 entries */
			rc = mdb_cursor_del(c, 0);
		} else {
			v.mv_data = idx->sc.undo.p;
			v.mv_size = idx->sc.undo.len;
			rc = mdb_cursor_put(c, &k, &v, MDB_CURRENT);
		}
		if (rc)
			break;
		/* the row changed size or went: find our place again */
		k.mv_data = key;
		k.mv_size = 4;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc == 0 && k.mv_size == 4 && !memcmp(k.mv_data, key, 4))
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int migrate_v2(struct oracle_index *idx, MDB_txn *txn)
{
	uint8_t key[ST_UTXO_KEY], val[ST_UTXO_VAL], zero = 0;
	MDB_cursor *c;
	MDB_val k, v;
	uint32_t h = 0, ord = 0;
	bool any = false, spent;
	int rc;

	if ((rc = mdb_drop(txn, idx->dbi[ST_SPENT_BITS], 0)) ||
	    (rc = mdb_cursor_open(txn, idx->dbi[ST_UTXO], &c)))
		return rc;
	idx->sc.bits.len = 0;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != ST_UTXO_KEY || v.mv_size != ST_V2_UTXO_VAL) {
			rc = MDB_CORRUPTED;
			break;
		}
		/* read the row before put_bits writes (LMDB: a value is valid
		 * until the txn's next update) */
		memcpy(key, k.mv_data, sizeof(key));
		memcpy(val, v.mv_data, ST_UTXO_ORD);
		spent = ((const uint8_t *)v.mv_data)[ST_V2_UTXO_VAL - 1];
		if (!any || sd_be32_get(key) != h) {
			if (any && (rc = put_bits(idx, txn, h)))
				break;
			any = true;
			h = sd_be32_get(key);
			ord = 0;
			idx->sc.bits.len = 0;
		}
		if (ord % 8 == 0)
			sd_buf_put(&idx->sc.bits, &zero, 1);
		if (spent)
			idx->sc.bits.p[ord >> 3] |= (uint8_t)(1u << (ord & 7));
		sd_be32_put(val + ST_UTXO_ORD, ord++);
		k.mv_data = key;
		v.mv_data = val;
		v.mv_size = sizeof(val);
		if ((rc = mdb_cursor_put(c, &k, &v, MDB_CURRENT)))
			break;
		/* the value grew (the page may have split): stand on the key
		 * again before stepping on */
		k.mv_data = key;
		k.mv_size = sizeof(key);
		if ((rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY)))
			break;
	}
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return rc ? rc : MDB_CORRUPTED;
	if (any && (rc = put_bits(idx, txn, h)))
		return rc;
	if ((rc = migrate_undo(idx, txn)))
		return rc;
	return set_version(idx, txn, 3);
}

int st_migrate(struct oracle_index *idx, MDB_txn *txn, uint32_t from)
{
	int rc = 0;

	if (from == 1)
		rc = migrate_v1(idx, txn);
	if (rc == 0 && from <= 2)
		rc = migrate_v2(idx, txn);
	if (rc == 0 && from <= 3)
		rc = st_migrate_v4(idx, txn);
	if (rc == 0 && from <= 4)
		rc = set_version(idx, txn, 5);
	return rc;
}

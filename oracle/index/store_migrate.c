/* store_migrate.c - bring an index written by an older signetd to the
 * current format, inside the open txn (all or nothing: a failed or
 * killed migration leaves the old format, and the next open retries).
 *   4 -> 5: only the version: undo rows may be pruned from now on, and a
 *           format-4 binary refuses the index instead of misreading it.
 *   5 -> 6: per height, the per-output `utxos` rows become one row per tx
 *           (its outputs inside, its rank among the block's tweak txs
 *           from the v2 record); the v2 record loses what the tx's
 *           `utxos` row and the tweak index now hold; a cut-through-only
 *           index gains its tweak index; the `cut_through` table and the
 *           undo entries that restored it (code 3) go.
 * Formats 1 to 3 kept no per-block tx order (no v2 records), and neither
 * do the heights a 3 -> 4 migration left below meta "v2_from": such an
 * index is refused with SD_EVERSION (reindex), unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"
#include "oracle_v2.h"
#include "store_int.h"

/* format 5's per-output utxos row: H | dtxid | vout -> value | spk34 | ord */
#define V5_UTXO_KEY 40
#define V5_UTXO_VAL 46

static int set_version(struct oracle_index *idx, MDB_txn *txn, uint32_t ver)
{
	uint8_t vb[4];

	sd_be32_put(vb, ver);
	return st_meta_put(idx, txn, "version", vb, 4);
}

/* A tweak tx of the height's v2 record: dtxid, rank k. */
struct tw_pos {
	uint8_t dtxid[32];
	uint32_t k;
};

static int cmp_tw(const void *a, const void *b)
{
	return memcmp(((const struct tw_pos *)a)->dtxid,
		      ((const struct tw_pos *)b)->dtxid, 32);
}

/* What one height's migration works with. */
struct mig6 {
	MDB_txn *txn;
	struct oracle_index *idx;
	struct sd_buf rec;      /* the old v2 record (copy) */
	struct sd_buf out;      /* new v2 record / new utxos value */
	struct sd_buf tweaks;   /* the height's tweaks, v2 order (33 each) */
	struct sd_buf old;      /* the old utxos rows of the height */
	struct tw_pos *tw;
	size_t n_tw, tw_cap;
};

/* Read the height's old v2 record: tweaks and ranks (sorted by dtxid). */
static int read_v2(struct mig6 *m, const uint8_t hbe[4])
{
	struct oracle_v2_tx tx;
	size_t off = 0;
	MDB_val v;
	int rc, r;

	m->rec.len = m->tweaks.len = 0;
	m->n_tw = 0;
	rc = mdb_get(m->txn, m->idx->dbi[ST_V2], &(MDB_val){ 4, (void *)hbe },
		     &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	sd_buf_put(&m->rec, v.mv_data, v.mv_size);
	while ((r = oracle_v2_next(m->rec.p, m->rec.len, &off, &tx)) == 1) {
		if (!tx.has_tweak)
			continue;
		if (m->n_tw == m->tw_cap) {
			m->tw_cap = m->tw_cap ? 2 * m->tw_cap : 256;
			m->tw = sd_xrealloc(m->tw, m->tw_cap * sizeof(*m->tw));
		}
		st_rev32(m->tw[m->n_tw].dtxid, tx.txid);
		m->tw[m->n_tw].k = (uint32_t)m->n_tw;
		m->n_tw++;
		sd_buf_put(&m->tweaks, tx.tweak, 33);
	}
	if (r < 0)
		return MDB_CORRUPTED;
	qsort(m->tw, m->n_tw, sizeof(*m->tw), cmp_tw);
	return 0;
}

/* The new v2 record of the height (format 6 layout) into m->out. */
static void new_v2(struct mig6 *m, bool compact)
{
	struct oracle_v2_tx tx;
	size_t off = 0;
	uint8_t be[4], flags;

	m->out.len = 0;
	while (oracle_v2_next(m->rec.p, m->rec.len, &off, &tx) == 1) {
		flags = tx.has_tweak ? ST_V2_F_TWEAK : 0;
		if (tx.has_tweak && !compact)
			flags |= ST_V2_F_INLINE;
		sd_buf_put(&m->out, &flags, 1);
		if (!tx.has_tweak || !compact) {
			sd_buf_put(&m->out, tx.txid, 32);
			if (tx.has_tweak)
				sd_buf_put(&m->out, tx.tweak, 33);
			sd_be32_put(be, tx.n_out);
			sd_buf_put(&m->out, be, 4);
			sd_buf_put(&m->out, tx.outs,
				   (size_t)tx.n_out * ORACLE_V2_OUT_LEN);
		}
		sd_be32_put(be, tx.n_in);
		sd_buf_put(&m->out, be, 4);
		sd_buf_put(&m->out, tx.ins, (size_t)tx.n_in * ORACLE_V2_IN_LEN);
	}
}

/* The tweak index of the height: checked against the v2 record's tweaks
 * (same txs, same order), or written when the index has none (a
 * cut-through-only index: format 6 reads tweaks from it). */
static int tweak_index(struct mig6 *m, uint32_t h, const uint8_t hbe[4])
{
	size_t rl = st_tweak_rec_len(m->idx->flags);
	MDB_val v;
	int rc;

	if (!m->n_tw)
		return 0;
	rc = mdb_get(m->txn, m->idx->dbi[ST_TWEAK_INDEX],
		     &(MDB_val){ 4, (void *)hbe }, &v);
	if (rc == MDB_NOTFOUND && rl == 33)
		return st_put_h(m->txn, m->idx->dbi[ST_TWEAK_INDEX], h,
				m->tweaks.p, m->tweaks.len, 0);
	if (rc)
		return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
	if (v.mv_size != m->n_tw * rl)
		return MDB_CORRUPTED;
	for (size_t k = 0; k < m->n_tw; k++)
		if (memcmp((const uint8_t *)v.mv_data + k * rl,
			   m->tweaks.p + k * 33, 33))
			return MDB_CORRUPTED;
	return 0;
}

/* The old rows of the height (key | value, 86 bytes each) into m->old,
 * deleted from the table. */
static int take_old_rows(struct mig6 *m, const uint8_t hbe[4], size_t *n)
{
	MDB_cursor *c;
	MDB_val k = st_mv(hbe, 4), v;
	int rc;

	*n = 0;
	m->old.len = 0;
	if ((rc = mdb_cursor_open(m->txn, m->idx->dbi[ST_UTXO], &c)))
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     k = st_mv(hbe, 4), rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE)) {
		if (k.mv_size < 4 || memcmp(k.mv_data, hbe, 4))
			break;
		if (k.mv_size != V5_UTXO_KEY || v.mv_size != V5_UTXO_VAL ||
		    memcmp((const uint8_t *)v.mv_data + 8, "\x51\x20", 2)) {
			rc = MDB_CORRUPTED;
			break;
		}
		sd_buf_put(&m->old, k.mv_data, V5_UTXO_KEY);
		sd_buf_put(&m->old, v.mv_data, V5_UTXO_VAL);
		(*n)++;
		if ((rc = mdb_cursor_del(c, 0)))
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* One row per tx from the old rows (key order: a tx's outputs are
 * consecutive, their ords too). */
static int put_new_rows(struct mig6 *m, size_t n)
{
	const size_t rs = V5_UTXO_KEY + V5_UTXO_VAL;
	size_t i = 0;
	int rc;

	while (i < n) {
		const uint8_t *first = m->old.p + i * rs;
		struct tw_pos key, *hit;
		uint32_t ord0 = sd_be32_get(first + V5_UTXO_KEY + 42);
		uint8_t be[8];

		memcpy(key.dtxid, first + 4, 32);
		hit = bsearch(&key, m->tw, m->n_tw, sizeof(*m->tw), cmp_tw);
		if (!hit)
			return MDB_CORRUPTED;   /* a tx the record lacks */
		m->out.len = 0;
		sd_be32_put(be, hit->k);
		sd_buf_put(&m->out, be, 4);
		sd_be32_put(be, ord0);
		sd_buf_put(&m->out, be, 4);
		for (uint32_t j = 0; i < n; i++, j++) {
			const uint8_t *r = m->old.p + i * rs;
			const uint8_t *val = r + V5_UTXO_KEY;

			if (memcmp(r + 4, first + 4, 32))
				break;
			if (sd_be32_get(val + 42) != ord0 + j)
				return MDB_CORRUPTED;
			sd_buf_put(&m->out, r + 36, 4);      /* vout */
			sd_buf_put(&m->out, val, 8);         /* value */
			sd_buf_put(&m->out, val + 10, 32);   /* x-only key */
		}
		rc = mdb_put(m->txn, m->idx->dbi[ST_UTXO],
			     &(MDB_val){ ST_UTXO_KEY, (void *)first },
			     &(MDB_val){ m->out.len, m->out.p }, MDB_NOOVERWRITE);
		if (rc)
			return rc;
	}
	return 0;
}

static int migrate_height(struct mig6 *m, uint32_t h)
{
	bool compact = st_v2_compact(m->idx->flags);
	uint8_t hbe[4];
	size_t n;
	int rc;

	sd_be32_put(hbe, h);
	if ((rc = read_v2(m, hbe)))
		return rc;
	if (compact && (rc = tweak_index(m, h, hbe)))
		return rc;
	if (m->rec.len) {
		new_v2(m, compact);
		if ((rc = st_put_h(m->txn, m->idx->dbi[ST_V2], h, m->out.p,
				   m->out.len, 0)))
			return rc;
	}
	if ((rc = take_old_rows(m, hbe, &n)))
		return rc;
	return put_new_rows(m, n);
}

/* Every undo row without its code 3 (cut_through) entries. */
static int undo_drop_cut(struct oracle_index *idx, MDB_txn *txn,
			 struct sd_buf *tmp)
{
	MDB_cursor *c;
	MDB_val k, v;
	uint8_t hbe[4];
	int rc;

	if ((rc = mdb_cursor_open(txn, idx->dbi[ST_UNDO], &c)))
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *p = v.mv_data;
		size_t off = 0, end;
		bool cut = false;

		tmp->len = 0;
		while (off < v.mv_size) {
			if (st_undo_entry_end(p, v.mv_size, off, &end)) {
				rc = MDB_CORRUPTED;
				goto out;
			}
			if (p[off] == ST_UNDO_CUT)
				cut = true;
			else if (p[off] == ST_UNDO_SPENT)
				sd_buf_put(tmp, p + off, end - off);
			else {
				rc = MDB_CORRUPTED;
				goto out;
			}
			off = end;
		}
		if (!cut)
			continue;
		if (k.mv_size != 4) {
			rc = MDB_CORRUPTED;
			goto out;
		}
		/* the key must not point into the page the put rewrites */
		memcpy(hbe, k.mv_data, 4);
		k = st_mv(hbe, 4);
		rc = tmp->len ? mdb_cursor_put(c, &k, &(MDB_val){ tmp->len,
					       tmp->p }, MDB_CURRENT) :
				mdb_cursor_del(c, 0);
		if (rc)
			goto out;
	}
out:
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int migrate_v6(struct oracle_index *idx, MDB_txn *txn,
		      const char **why)
{
	struct mig6 m = { .txn = txn, .idx = idx };
	MDB_cursor *c = NULL;
	MDB_val k, v, fk, fv;
	MDB_dbi cut;
	uint32_t first = 0;
	bool any = false;
	int rc;

	if ((rc = mdb_cursor_open(txn, idx->dbi[ST_BLOCKS], &c)))
		return rc;
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	if (rc == 0 && k.mv_size == 4) {
		first = sd_be32_get(k.mv_data);
		any = true;
	}
	/* fk, fv: k still holds the first height for the loop below */
	rc = st_meta_get(idx, txn, "v2_from", &fv);
	if (rc == 0) {
		if (fv.mv_size != 4) {
			rc = MDB_CORRUPTED;
			goto out;
		}
		if (any && first < sd_be32_get(fv.mv_data)) {
			*why = "heights indexed before format 4 have no v2 "
			       "records";
			rc = SD_EVERSION;
			goto out;
		}
		fk = st_mv("v2_from", 7);
		if ((rc = mdb_del(txn, idx->dbi[ST_META], &fk, NULL)))
			goto out;
	} else if (rc != MDB_NOTFOUND) {
		goto out;
	}
	/* every height: the blocks cursor stays put (only other tables are
	 * written), so walk it forward */
	for (rc = any ? 0 : MDB_NOTFOUND; rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 4) {
			rc = MDB_CORRUPTED;
			break;
		}
		if ((rc = migrate_height(&m, sd_be32_get(k.mv_data))))
			break;
	}
	if (rc != MDB_NOTFOUND)
		goto out;
	if ((rc = undo_drop_cut(idx, txn, &m.out)))
		goto out;
	rc = mdb_dbi_open(txn, "cut_through", 0, &cut);
	if (rc == 0)
		rc = mdb_drop(txn, cut, 1);
	if (rc == 0 || rc == MDB_NOTFOUND)
		rc = set_version(idx, txn, 6);
out:
	mdb_cursor_close(c);
	sd_buf_free(&m.rec);
	sd_buf_free(&m.out);
	sd_buf_free(&m.tweaks);
	sd_buf_free(&m.old);
	free(m.tw);
	return rc;
}

int st_migrate(struct oracle_index *idx, MDB_txn *txn, uint32_t from,
	       const char **why)
{
	int rc = 0;

	if (from <= 3) {
		*why = "formats 1 to 3 kept no per-block tx order";
		return SD_EVERSION;
	}
	if (from == 4)
		rc = set_version(idx, txn, 5);
	if (rc == 0)
		rc = migrate_v6(idx, txn, why);
	return rc;
}

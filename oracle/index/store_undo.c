/* store_undo.c - the undo log (`undo` table, format in STORAGE.md): what a
 * block changed outside its own height, as before-images, so that a
 * disconnect can put it back.  Connect collects the entries in idx->sc.undo
 * (st_undo_log_spent, from store_spend.c) and writes them as one row; disconnect
 * replays the row newest first (spent bits cleared, their outputs back in
 * the outpoint map).
 *
 * Retention: only the last undo_depth blocks can be disconnected.  Each
 * connect moves meta "undo_from" (the lowest height a disconnect may
 * reach) up to tip - undo_depth + 1 and deletes at most ST_UNDO_PRUNE_MAX
 * rows below it, oldest first, in the same txn: an index that kept every
 * row (older versions) drains a few rows a block instead of stalling one
 * connect on years of them.  A row below undo_from is dead even before
 * the drain reaches it.
 */
#include <string.h>

#include "../../common/util.h"
#include "store_int.h"

/* Rows deleted per connect at most: 1 in the steady state (the row that
 * just fell out of the window), the rest drains an old backlog. */
#define ST_UNDO_PRUNE_MAX 4

static const char undo_from_key[] = "undo_from";

uint32_t st_undo_depth(const struct oracle_index *idx)
{
	uint32_t d = idx->cfg.undo_depth;

	if (d == 0)
		return ORACLE_UNDO_DEPTH_DEFAULT;
	return d < ORACLE_UNDO_DEPTH_MIN ? ORACLE_UNDO_DEPTH_MIN : d;
}

int st_undo_from(struct oracle_index *idx, MDB_txn *txn, uint32_t *from)
{
	MDB_val k = { .mv_size = sizeof(undo_from_key) - 1,
		      .mv_data = (void *)undo_from_key }, v;
	int rc = mdb_get(txn, idx->dbi[ST_META], &k, &v);

	*from = 0;
	if (rc == MDB_NOTFOUND)
		return 0;       /* never pruned: every row is there */
	if (rc)
		return rc;
	if (v.mv_size != 4)
		return MDB_CORRUPTED;
	*from = sd_be32_get(v.mv_data);
	return 0;
}

int st_undo_prune(struct oracle_index *idx, MDB_txn *txn, uint32_t h)
{
	uint32_t depth = st_undo_depth(idx), from, old;
	uint8_t be[4];
	MDB_cursor *c;
	MDB_val k, v;
	unsigned n = 0;
	int rc;

	if ((idx->flags & ST_F_TWEAKS_ONLY) || h < depth)
		return 0;       /* no undo rows / nothing out of the window */
	from = h - depth + 1;
	if ((rc = st_undo_from(idx, txn, &old)))
		return rc;
	if (from > old) {
		sd_be32_put(be, from);
		if ((rc = st_meta_put(idx, txn, undo_from_key, be, 4)))
			return rc;
	} else {
		from = old;     /* never lowered (undo_depth may have grown) */
	}
	if ((rc = mdb_cursor_open(txn, idx->dbi[ST_UNDO], &c)))
		return rc;
	/* oldest first; after a delete, the first row again (as
	 * st_del_height: no cursor position to trust) */
	while (n < ST_UNDO_PRUNE_MAX &&
	       (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
		if (k.mv_size != 4) {
			rc = MDB_CORRUPTED;
			break;
		}
		if (sd_be32_get(k.mv_data) >= from)
			break;
		if ((rc = mdb_cursor_del(c, 0)))
			break;
		n++;
	}
	mdb_cursor_close(c);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : rc;
}

void st_undo_log_spent(struct oracle_index *idx,
		       const uint8_t key[ST_OUTPOINT_KEY], uint32_t ord)
{
	uint8_t e[3 + ST_OUTPOINT_KEY + 7];

	e[0] = ST_UNDO_SPENT;
	e[1] = 0;
	e[2] = ST_OUTPOINT_KEY;
	memcpy(e + 3, key, ST_OUTPOINT_KEY);
	e[3 + ST_OUTPOINT_KEY] = 1;     /* before-image: ord BE32 */
	e[4 + ST_OUTPOINT_KEY] = 0;
	e[5 + ST_OUTPOINT_KEY] = 4;
	sd_be32_put(e + 6 + ST_OUTPOINT_KEY, ord);
	sd_buf_put(&idx->sc.undo, e, sizeof(e));
}

int st_undo_entry_end(const uint8_t *p, size_t len, size_t off,
		      size_t *end)
{
	size_t e;

	if (off + 4 > len)
		return MDB_CORRUPTED;
	e = off + 3 + (((size_t)p[off + 1] << 8) | p[off + 2]);
	if (e + 1 > len)
		return MDB_CORRUPTED;
	if (p[e] == 1) {
		if (e + 3 > len)
			return MDB_CORRUPTED;
		e += 3 + (((size_t)p[e + 1] << 8) | p[e + 2]);
	} else {
		e += 1;
	}
	if (e > len)
		return MDB_CORRUPTED;
	*end = e;
	return 0;
}

void st_undo_begin(struct oracle_index *idx)
{
	idx->sc.undo.len = 0;
}

int st_undo_put(struct oracle_index *idx, MDB_txn *txn, uint32_t h)
{
	if (idx->sc.undo.len == 0)
		return 0;       /* nothing to undo: no row */
	return st_put_h(txn, idx->dbi[ST_UNDO], h, idx->sc.undo.p,
			idx->sc.undo.len, MDB_APPEND);
}

/* Undo a spend (code 6: utxos key, ord): clear the output's bit, put it
 * back in the map. */
static int unspend(struct oracle_index *idx, MDB_txn *txn,
		   const uint8_t *key, size_t klen, const uint8_t *pv)
{
	int rc;

	if (klen != ST_OUTPOINT_KEY || pv[0] != 1 || pv[1] != 0 || pv[2] != 4)
		return MDB_CORRUPTED;
	if ((rc = st_bits_set(idx, txn, sd_be32_get(key),
			      sd_be32_get(pv + 3), false)))
		return rc;
	st_outmap_add(&idx->om, st_outmap_key_fp(key), sd_be32_get(key));
	return 0;
}

/* Apply the undo log of the block (before-images, newest first). */
static int apply_undo(struct oracle_index *idx, MDB_txn *txn,
		      const uint8_t *p, size_t len)
{
	size_t off = 0, n = 0, i;

	/* index the entries, then restore them in reverse */
	while (off < len) {
		if (n == idx->sc.undo_offs_cap) {
			idx->sc.undo_offs_cap = n ? n * 2 : 256;
			idx->sc.undo_offs = sd_xrealloc(idx->sc.undo_offs,
				idx->sc.undo_offs_cap * sizeof(size_t));
		}
		idx->sc.undo_offs[n++] = off;
		if (st_undo_entry_end(p, len, off, &off))
			return MDB_CORRUPTED;
	}
	for (i = n; i-- > 0;) {
		const uint8_t *e = p + idx->sc.undo_offs[i];
		size_t klen = ((size_t)e[1] << 8) | e[2];
		const uint8_t *pv = e + 3 + klen;
		int rc;

		switch (e[0]) {
		case ST_UNDO_SPENT:
			rc = unspend(idx, txn, e + 3, klen, pv);
			break;
		default:
			return MDB_CORRUPTED;
		}
		if (rc)
			return rc;
	}
	return 0;
}

int st_undo_replay(struct oracle_index *idx, MDB_txn *txn, int32_t height)
{
	uint32_t from;
	MDB_val v;
	int rc;

	if ((rc = st_undo_from(idx, txn, &from)))
		return rc;
	if ((uint32_t)height < from)
		return SD_ENOTFOUND;    /* pruned: deeper than undo_depth */
	rc = st_get_h(txn, idx->dbi[ST_UNDO], (uint32_t)height, &v);
	if (rc == MDB_NOTFOUND)
		return 0;       /* the block changed nothing below it */
	if (rc)
		return rc;
	/* copy: the log's pages may be freed by the writes below */
	idx->sc.undo.len = 0;
	sd_buf_put(&idx->sc.undo, v.mv_data, v.mv_size);
	return apply_undo(idx, txn, idx->sc.undo.p, idx->sc.undo.len);
}

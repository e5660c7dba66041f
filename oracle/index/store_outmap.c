/* store_outmap.c - the outpoint -> creating-height map of the tracked
 * unspent taproot outputs, kept in memory (format 2).  A spend must find
 * the `utxos` row (H | dtxid | vout) of its prevout, and the node's block
 * and spenttxouts do not say H.  Format 1 kept this map as an LMDB table
 * keyed by outpoint: ~5,000 random inserts and deletes a big block that
 * dirtied most of its leaf pages, the largest part of every commit.
 *
 * The map is derived data: it is rebuilt at open from the unspent
 * `utxos` rows, so a crash cannot make it disagree with the index.  Keys
 * are 8-byte fingerprints of the outpoint (txids are hashes already); two
 * outpoints may share one, so every candidate height is checked against
 * the `utxos` row itself (store_connect.c).  Open addressing, linear
 * probing, backward-shift deletion; duplicates allowed.
 *
 * Every change since the last commit is journaled: when the write txn is
 * aborted (failed write, map growth retry, lost group commit) the journal
 * is replayed backwards and the map is the committed one again.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "../../common/log.h"
#include "../../common/util.h"
#include "store_int.h"

struct st_om_op {
	uint64_t fp;
	uint32_t h;
	uint32_t added;  /* 1 = added (undo: remove), 0 = removed */
};

/* A random key per process: the map is rebuilt at every open, and with
 * the key nobody can craft txids whose outputs pile up in one probe
 * cluster.  (Two outpoints share a fingerprint for every key or none.) */
static uint64_t fp_key;
static pthread_once_t fp_key_once = PTHREAD_ONCE_INIT;

static void fp_key_init(void)
{
	if (getrandom(&fp_key, sizeof(fp_key), 0) != (ssize_t)sizeof(fp_key))
		fp_key = sd_mono_ns() * 0x9e3779b97f4a7c15ull ^
			 (uint64_t)getpid();
}

uint64_t st_outmap_key_fp(const uint8_t key[40])
{
	uint8_t txid[32];

	st_rev32(txid, key + 4);
	return st_outmap_fp(txid, sd_be32_get(key + 36));
}

uint64_t st_outmap_fp(const uint8_t txid[32], uint32_t vout)
{
	uint64_t x;

	pthread_once(&fp_key_once, fp_key_init);
	x = sd_le64_get(txid) ^ fp_key ^ ((uint64_t)vout *
					   0x9e3779b97f4a7c15ull);

	/* vout may only change low bits of a product: mix them all */
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	return x ? x : 1;   /* 0 marks an empty slot */
}

static void om_resize(struct st_outmap *m, size_t cap)
{
	uint64_t *ofp = m->fp;
	uint32_t *oh = m->h;
	size_t ocap = m->cap, i, j, mask = cap - 1;

	m->fp = sd_xcalloc(cap, sizeof(*m->fp));
	m->h = sd_xmalloc(cap * sizeof(*m->h));
	m->cap = cap;
	for (i = 0; i < ocap; i++) {
		if (!ofp[i])
			continue;
		for (j = (size_t)ofp[i] & mask; m->fp[j]; j = (j + 1) & mask)
			;
		m->fp[j] = ofp[i];
		m->h[j] = oh[i];
	}
	free(ofp);
	free(oh);
}

static void om_insert(struct st_outmap *m, uint64_t fp, uint32_t h)
{
	size_t mask, i;

	if ((m->n + 1) * 4 > m->cap * 3 || m->cap == 0)
		om_resize(m, m->cap ? m->cap * 2 : 1024);
	mask = m->cap - 1;
	for (i = (size_t)fp & mask; m->fp[i]; i = (i + 1) & mask)
		;
	m->fp[i] = fp;
	m->h[i] = h;
	m->n++;
}

/* Remove one (fp, h) entry; false when there is none. */
static bool om_remove(struct st_outmap *m, uint64_t fp, uint32_t h)
{
	size_t mask = m->cap - 1, i, j;

	if (m->cap == 0)
		return false;
	for (i = (size_t)fp & mask; m->fp[i]; i = (i + 1) & mask)
		if (m->fp[i] == fp && m->h[i] == h)
			break;
	if (!m->fp[i])
		return false;
	/* backward shift: move later entries of the cluster into the gap
	 * unless their home slot lies cyclically in (i, j] */
	for (j = (i + 1) & mask; m->fp[j]; j = (j + 1) & mask) {
		size_t home = (size_t)m->fp[j] & mask;

		if (((j - home) & mask) < ((j - i) & mask))
			continue;
		m->fp[i] = m->fp[j];
		m->h[i] = m->h[j];
		i = j;
	}
	m->fp[i] = 0;
	m->n--;
	return true;
}

static void om_journal(struct st_outmap *m, uint64_t fp, uint32_t h,
		       bool added)
{
	if (m->log_n == m->log_cap) {
		m->log_cap = m->log_cap ? m->log_cap * 2 : 4096;
		m->log = sd_xrealloc(m->log, m->log_cap * sizeof(*m->log));
	}
	m->log[m->log_n].fp = fp;
	m->log[m->log_n].h = h;
	m->log[m->log_n].added = added;
	m->log_n++;
}

/* fp comes from st_outmap_fp, never 0 (the empty-slot mark). */
void st_outmap_add(struct st_outmap *m, uint64_t fp, uint32_t h)
{
	om_insert(m, fp, h);
	om_journal(m, fp, h, true);
}

bool st_outmap_del(struct st_outmap *m, uint64_t fp, uint32_t h)
{
	if (!om_remove(m, fp, h))
		return false;
	om_journal(m, fp, h, false);
	return true;
}

bool st_outmap_next(const struct st_outmap *m, uint64_t fp, size_t *pos,
		    uint32_t *h)
{
	size_t mask = m->cap - 1, i;

	if (m->cap == 0)
		return false;
	i = *pos == 0 ? (size_t)fp & mask : *pos & mask;
	for (; m->fp[i]; i = (i + 1) & mask) {
		if (m->fp[i] != fp)
			continue;
		*h = m->h[i];
		*pos = ((i + 1) & mask) | m->cap;   /* never 0 */
		return true;
	}
	return false;
}

void st_outmap_commit(struct st_outmap *m)
{
	m->log_n = 0;
}

void st_outmap_rollback(struct st_outmap *m)
{
	while (m->log_n > 0) {
		const struct st_om_op *op = &m->log[--m->log_n];

		if (op->added)
			(void)om_remove(m, op->fp, op->h);
		else
			om_insert(m, op->fp, op->h);
	}
}

void st_outmap_free(struct st_outmap *m)
{
	free(m->fp);
	free(m->h);
	free(m->log);
	memset(m, 0, sizeof(*m));
}

int (*st_outmap_load_hook)(struct oracle_index *idx, size_t rows);

size_t st_outmap_bytes(const struct st_outmap *m)
{
	return m->cap * (sizeof(*m->fp) + sizeof(*m->h));
}

int st_outmap_load(struct oracle_index *idx, MDB_txn *txn,
		   struct st_outmap *m)
{
	MDB_cursor *c;
	MDB_val k, v, bv = { 0 };
	uint32_t bh = 0;
	bool have = false, spent;
	size_t rows = 0;
	int rc;

	st_outmap_free(m);
	if ((rc = mdb_cursor_open(txn, idx->dbi[ST_UTXO], &c)))
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *key = k.mv_data;

		if ((rows++ & 1023) == 0) {
			if (st_outmap_load_hook &&
			    (rc = st_outmap_load_hook(idx, rows - 1)))
				break;
			if (atomic_load_explicit(&idx->om_cancel,
						 memory_order_relaxed)) {
				rc = ECANCELED;
				break;
			}
		}
		if (k.mv_size != ST_UTXO_KEY || v.mv_size != ST_UTXO_VAL) {
			rc = MDB_CORRUPTED;
			break;
		}
		if (!have || bh != sd_be32_get(key)) {  /* next height */
			bh = sd_be32_get(key);
			have = true;
			if ((rc = st_bits_get(idx, txn, bh, &bv))) {
				if (rc == MDB_NOTFOUND)
					rc = MDB_CORRUPTED;
				break;
			}
		}
		if ((rc = st_row_spent(&bv, &v, &spent)))
			break;
		if (!spent)
			om_insert(m, st_outmap_key_fp(key), sd_be32_get(key));
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* How many times (fp, h) is in m. */
static size_t om_count(const struct st_outmap *m, uint64_t fp, uint32_t h)
{
	size_t pos = 0, n = 0;
	uint32_t hh;

	while (st_outmap_next(m, fp, &pos, &hh))
		n += hh == h;
	return n;
}

bool st_outmap_same(const struct st_outmap *a, const struct st_outmap *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->cap; i++)
		if (a->fp[i] && om_count(a, a->fp[i], a->h[i]) !=
				om_count(b, a->fp[i], a->h[i]))
			return false;
	return true;
}

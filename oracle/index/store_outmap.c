/* store_outmap.c - the outpoint -> creating-height map of the tracked
 * unspent taproot outputs, kept in memory (format 2).  A spend must find
 * the `utxos` row (H | dtxid | vout) of its prevout, and the node's block
 * and spenttxouts do not say H.  Format 1 kept this map as an LMDB table
 * keyed by outpoint: ~5,000 random inserts and deletes a big block that
 * dirtied most of its leaf pages, the largest part of every commit.
 *
 * The map is derived data: it is rebuilt from the unspent `utxos` rows
 * (after open, store_env.c), so a crash cannot make it disagree with the
 * index.  A slot is 8 bytes: a 40-bit fingerprint of the outpoint over a
 * 24-bit height (heights from 2^24 on are refused: st_outmap_add).  Two
 * outpoints may share a fingerprint, so every candidate height is checked
 * against the `utxos` row itself (store_spend.c): the map may over-answer,
 * never miss.  Open addressing, linear probing, backward-shift deletion,
 * duplicates allowed, in ST_OM_SEGS = 256 segments: the fingerprint's top
 * 8 bits pick the segment, its other 32 bits the home slot in it
 * (rest * cap >> 32: any capacity, and slots stay in fingerprint order).
 *
 * Segments grow one at a time, each in one step: an insert that takes a
 * segment past 75% rehashes it into a table 1.5x its size, but only one
 * such growth per write txn (between two commits or rollbacks: a connect,
 * or a group-commit batch); the others wait for the next write (linear
 * probing is still fine up to 90%).  Past 90% a segment grows at once
 * whatever else grew (m->forced: rare once the map is big, as a write
 * adds ~1/256 of its outputs to each segment).  So a growth costs one
 * segment's rehash (~1/256 of the map) and the peak memory is the map
 * plus one segment's new table.  The segments' first sizes are staggered
 * (om_alloc).  The unjournaled inserts of a map being built
 * (st_outmap_put: load, replay) grow at 75% always.
 *
 * Every change since the last commit is journaled: when the write txn is
 * aborted (failed write, map growth retry, lost group commit) the journal
 * is replayed backwards and the map holds the committed multiset again
 * (maybe laid out otherwise: a growth is not undone).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "../../common/log.h"
#include "../../common/util.h"
#include "store_int.h"

#define OM_H_BITS 24
#define OM_H_MASK ((1ull << OM_H_BITS) - 1)
#define OM_FP_MASK ((1ull << ST_OUTMAP_FP_BITS) - 1)
#define OM_SEG_BITS 8                   /* 1 << OM_SEG_BITS == ST_OM_SEGS */
#define OM_MIN_CAP 64                   /* slots a segment, at least */

struct st_om_op {
	uint64_t slot;    /* fp << 24 | h */
	uint32_t added;   /* 1 = added (undo: remove), 0 = removed */
};

uint64_t st_outmap_dfp(const uint8_t dtxid[32], uint32_t vout)
{
	uint8_t head[8];    /* the internal txid's first 8 bytes */

	for (int i = 0; i < 8; i++)
		head[i] = dtxid[31 - i];
	return sd_le64_get(head) ^ ((uint64_t)vout * 0x9e3779b97f4a7c15ull);
}

uint64_t st_outmap_key_fp(const uint8_t key[ST_OUTPOINT_KEY])
{
	return st_outmap_dfp(key + 4, sd_be32_get(key + 36));
}

/* Unkeyed: the map mixes in its own key (om_slot). */
uint64_t st_outmap_fp(const uint8_t txid[32], uint32_t vout)
{
	return sd_le64_get(txid) ^ ((uint64_t)vout * 0x9e3779b97f4a7c15ull);
}

/* A random key for a new map: with it nobody can craft txids whose
 * outputs pile up in one probe cluster.  (Two outpoints share a
 * fingerprint for every key or none.)  Never 0. */
static uint64_t om_new_key(void)
{
	uint64_t k;

	if (getrandom(&k, sizeof(k), 0) != (ssize_t)sizeof(k))
		k = sd_mono_ns() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	return k ? k : 1;
}

/* The slot of (fp, h): the keyed 40-bit fingerprint, never 0, over h.
 * Key 0 (tests): fp's low 40 bits as they are. */
static uint64_t om_slot(const struct st_outmap *m, uint64_t fp, uint32_t h)
{
	if (m->key) {
		fp ^= m->key;
		fp ^= fp >> 31;     /* vout may only change low bits */
		fp *= 0xbf58476d1ce4e5b9ull;
		fp ^= fp >> 29;
		fp >>= 64 - ST_OUTMAP_FP_BITS;
	}
	fp &= OM_FP_MASK;
	return (fp ? fp : 1) << OM_H_BITS | h;
}

/* The slot's segment: the fingerprint's top 8 bits. */
static struct st_om_seg *om_seg(const struct st_outmap *m, uint64_t slot)
{
	return (struct st_om_seg *)&m->seg[slot >> (64 - OM_SEG_BITS)];
}

/* Its home in a segment of cap slots: the fingerprint's other 32 bits,
 * rest * cap >> 32 (any capacity; slots stay in fingerprint order). */
static size_t om_home(uint64_t slot, size_t cap)
{
	return (size_t)((((slot >> OM_H_BITS) & 0xffffffffull) *
			 (uint64_t)cap) >> 32);
}

static size_t om_next_i(size_t i, size_t cap)
{
	return i + 1 == cap ? 0 : i + 1;
}

static void tab_put(uint64_t *t, size_t cap, uint64_t slot)
{
	size_t i;

	for (i = om_home(slot, cap); t[i]; i = om_next_i(i, cap))
		;
	t[i] = slot;
}

/* Remove one slot equal to `slot`; false when there is none. */
static bool tab_del(uint64_t *t, size_t cap, uint64_t slot)
{
	size_t i, j;

	if (!t)
		return false;
	for (i = om_home(slot, cap); t[i] != slot; i = om_next_i(i, cap))
		if (!t[i])
			return false;
	/* backward shift: move later entries of the cluster into the gap
	 * unless their home lies cyclically in (i, j] */
	for (j = om_next_i(i, cap); t[j]; j = om_next_i(j, cap)) {
		size_t home = om_home(t[j], cap);
		size_t dh = j >= home ? j - home : j + cap - home;
		size_t di = j >= i ? j - i : j + cap - i;

		if (dh < di)
			continue;
		t[i] = t[j];
		i = j;
	}
	t[i] = 0;
	return true;
}

/* The first insert: segment k at OM_MIN_CAP + k/8 slots (64..95, 159
 * KiB in all).  The segments fill alike (uniform fingerprints): with the
 * same capacity they would all pass 75% at once and the map would jump
 * 1.5x (10.7 to 16 bytes an entry) within a few hundred writes; staggered
 * over one growth step they pass it one after the other and the map
 * stays near its mean (~13 bytes an entry) at any size. */
static void om_alloc(struct st_outmap *m)
{
	m->cap = 0;
	for (size_t k = 0; k < ST_OM_SEGS; k++) {
		struct st_om_seg *g = &m->seg[k];

		g->cap = OM_MIN_CAP + (uint32_t)(k * OM_MIN_CAP / 2 / ST_OM_SEGS);
		g->s = sd_xcalloc(g->cap, sizeof(uint64_t));
		g->n = 0;
		m->cap += g->cap;
	}
}

/* Rehash segment g into a table 1.5x its size, in one step (the stall:
 * one segment, ~1/256 of the map; timed in m->grow_ns_max). */
static void seg_grow(struct st_outmap *m, struct st_om_seg *g)
{
	uint64_t t0 = sd_mono_ns(), ns, *t;
	size_t ncap = (size_t)g->cap + g->cap / 2;

	if (ncap >= ((size_t)1 << 32)) {    /* om_home; 32 GiB a segment */
		sd_log_error("oracle", "outpoint_map_too_big", "slots=%zu",
			     ncap);
		abort();
	}
	t = sd_xcalloc(ncap, sizeof(*t));
	for (size_t i = 0; i < g->cap; i++)
		if (g->s[i])
			tab_put(t, ncap, g->s[i]);
	free(g->s);
	g->s = t;
	m->cap += ncap - g->cap;
	g->cap = (uint32_t)ncap;
	m->grows++;
	ns = sd_mono_ns() - t0;
	m->grow_ns_max = ns > m->grow_ns_max ? ns : m->grow_ns_max;
}

/* Insert slot.  Its segment grows first when the insert takes it past
 * 75% and may (any: OM_ANY; OM_TXN: the first such growth since the last
 * commit or rollback), or past 90% (always: m->forced). */
enum { OM_TXN, OM_ANY };
static void om_insert(struct st_outmap *m, uint64_t slot, int mode)
{
	struct st_om_seg *g;
	uint64_t n1;

	if (m->cap == 0)
		om_alloc(m);
	g = om_seg(m, slot);
	n1 = (uint64_t)g->n + 1;
	if (n1 * 10 > (uint64_t)g->cap * 9) {
		m->forced++;
		m->grew = mode == OM_TXN || m->grew;
		seg_grow(m, g);
	} else if (n1 * 4 > (uint64_t)g->cap * 3 &&
		   (mode == OM_ANY || !m->grew)) {
		m->grew = mode == OM_TXN || m->grew;
		seg_grow(m, g);
	}
	tab_put(g->s, g->cap, slot);
	g->n++;
	m->n++;
}

static bool om_remove(struct st_outmap *m, uint64_t slot)
{
	struct st_om_seg *g;

	if (m->cap == 0)
		return false;
	g = om_seg(m, slot);
	if (!tab_del(g->s, g->cap, slot))
		return false;
	g->n--;
	m->n--;
	return true;
}

static void om_journal(struct st_outmap *m, uint64_t slot, bool added)
{
	if (m->log_n == m->log_cap) {
		m->log_cap = m->log_cap ? m->log_cap * 2 : 4096;
		m->log = sd_xrealloc(m->log, m->log_cap * sizeof(*m->log));
	}
	m->log[m->log_n].slot = slot;
	m->log[m->log_n].added = added;
	m->log_n++;
}

void st_outmap_add(struct st_outmap *m, uint64_t fp, uint32_t h)
{
	uint64_t slot;

	if (h > OM_H_MASK) {        /* the caller's txn must not commit */
		m->refused_h = h;
		return;
	}
	slot = om_slot(m, fp, h);
	om_insert(m, slot, OM_TXN);
	om_journal(m, slot, true);
}

bool st_outmap_del(struct st_outmap *m, uint64_t fp, uint32_t h)
{
	uint64_t slot;

	if (h > OM_H_MASK)
		return false;
	slot = om_slot(m, fp, h);
	if (!om_remove(m, slot))
		return false;
	om_journal(m, slot, false);
	return true;
}

int st_outmap_put(struct st_outmap *m, uint64_t fp, uint32_t h)
{
	if (h > OM_H_MASK)
		return EOVERFLOW;   /* st_outmap_add refuses these */
	om_insert(m, om_slot(m, fp, h), OM_ANY);
	return 0;
}

bool st_outmap_take(struct st_outmap *m, uint64_t fp, uint32_t h)
{
	return h <= OM_H_MASK && om_remove(m, om_slot(m, fp, h));
}

/* The heights under the keyed fingerprint want.  *pos: 0 to start, else
 * the next slot of want's segment + 1. */
static bool om_next(const struct st_outmap *m, uint64_t want, size_t *pos,
		    uint32_t *h)
{
	const struct st_om_seg *g;
	size_t i;

	if (m->cap == 0)
		return false;
	g = om_seg(m, want << OM_H_BITS);
	i = *pos == 0 ? om_home(want << OM_H_BITS, g->cap) : *pos - 1;
	for (; g->s[i]; i = om_next_i(i, g->cap)) {
		if (g->s[i] >> OM_H_BITS != want)
			continue;
		*h = (uint32_t)(g->s[i] & OM_H_MASK);
		*pos = om_next_i(i, g->cap) + 1;
		return true;
	}
	return false;
}

bool st_outmap_next(const struct st_outmap *m, uint64_t fp, size_t *pos,
		    uint32_t *h)
{
	return om_next(m, om_slot(m, fp, 0) >> OM_H_BITS, pos, h);
}

void st_outmap_commit(struct st_outmap *m)
{
	m->log_n = 0;
	m->refused_h = 0;
	m->grew = false;
}

void st_outmap_rollback(struct st_outmap *m)
{
	while (m->log_n > 0) {
		const struct st_om_op *op = &m->log[--m->log_n];

		if (op->added)
			(void)om_remove(m, op->slot);
		else
			om_insert(m, op->slot, OM_TXN);
	}
	m->refused_h = 0;
	m->grew = false;
}

void st_outmap_free(struct st_outmap *m)
{
	for (size_t k = 0; k < ST_OM_SEGS; k++)
		free(m->seg[k].s);
	free(m->log);
	memset(m, 0, sizeof(*m));
}

int (*st_outmap_load_hook)(struct oracle_index *idx, size_t rows);

size_t st_outmap_bytes(const struct st_outmap *m)
{
	return m->cap * sizeof(uint64_t);
}

/* The unspent outputs of one utxos row into m. */
static int scan_row(struct st_outmap *m, const MDB_val *bits, uint32_t h,
		    const uint8_t *key, const uint8_t *val, size_t n_out)
{
	uint32_t ord0 = sd_be32_get(val + 4);
	bool spent;
	int rc;

	for (size_t i = 0; i < n_out; i++) {
		const uint8_t *o = val + ST_UTXO_HDR + i * ST_OUT_LEN;

		if ((rc = st_ord_spent(bits, ord0 + (uint32_t)i, &spent)))
			return rc;
		if (spent)
			continue;
		if ((rc = st_outmap_put(m, st_outmap_dfp(key + 4,
							 sd_be32_get(o)), h)))
			return rc;
	}
	return 0;
}

int st_outmap_load_height(struct oracle_index *idx, MDB_txn *txn,
			  struct st_outmap *m, uint32_t h)
{
	MDB_cursor *c;
	MDB_val k, v, bv = { 0 };
	uint8_t hk[4];
	bool have = false;
	size_t n_out;
	int rc;

	if ((rc = mdb_cursor_open(txn, idx->dbi[ST_UTXO], &c)))
		return rc;
	sd_be32_put(hk, h);
	k.mv_size = sizeof(hk);
	k.mv_data = hk;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != ST_UTXO_KEY) {
			rc = MDB_CORRUPTED;
			break;
		}
		if (sd_be32_get(k.mv_data) != h)
			break;
		if ((rc = st_utxo_outs(v.mv_size, &n_out)))
			break;
		if (!have) {
			have = true;
			if ((rc = st_bits_get(idx, txn, h, &bv))) {
				if (rc == MDB_NOTFOUND)
					rc = MDB_CORRUPTED;
				break;
			}
		}
		if ((rc = scan_row(m, &bv, h, k.mv_data, v.mv_data, n_out)))
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int st_outmap_load(struct oracle_index *idx, MDB_txn *txn,
		   struct st_outmap *m)
{
	MDB_cursor *c;
	MDB_val k, v, bv = { 0 };
	uint32_t bh = 0;
	bool have = false;
	size_t rows = 0, n_out;
	uint64_t mkey = m->key ? m->key : om_new_key();
	int rc;

	st_outmap_free(m);
	m->key = mkey;
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
		if (k.mv_size != ST_UTXO_KEY ||
		    (rc = st_utxo_outs(v.mv_size, &n_out)))
			break;
		if (!have || bh != sd_be32_get(key)) {  /* next height */
			bh = sd_be32_get(key);
			have = true;
			if ((rc = st_bits_get(idx, txn, bh, &bv))) {
				if (rc == MDB_NOTFOUND)
					rc = MDB_CORRUPTED;
				break;
			}
		}
		if ((rc = scan_row(m, &bv, bh, key, v.mv_data, n_out)))
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* How many times (keyed fp, h) is in m. */
static size_t om_count(const struct st_outmap *m, uint64_t fp, uint32_t h)
{
	size_t pos = 0, n = 0;
	uint32_t hh;

	while (om_next(m, fp, &pos, &hh))
		n += hh == h;
	return n;
}

bool st_outmap_same(const struct st_outmap *a, const struct st_outmap *b)
{
	if (a->key != b->key || a->n != b->n)
		return false;
	for (size_t k = 0; a->cap && k < ST_OM_SEGS; k++) {
		const struct st_om_seg *g = &a->seg[k];

		for (size_t i = 0; i < g->cap; i++) {
			uint64_t fp = g->s[i] >> OM_H_BITS;
			uint32_t h = (uint32_t)(g->s[i] & OM_H_MASK);

			if (g->s[i] && om_count(a, fp, h) != om_count(b, fp, h))
				return false;
		}
	}
	return true;
}

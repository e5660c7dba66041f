/* store_mempool.c - unconfirmed tweaks: an in-memory hash table keyed by
 * txid (open addressing, linear probing, backward-shift deletion) under a
 * mutex.  Not persisted; entries leave when mined (connect) or when the
 * node's mempool no longer has them (oracle_mempool_retain).
 */
#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"
#include "store_int.h"

static size_t slot_of(const struct oracle_index *idx, const uint8_t txid[32])
{
	/* txids are uniform: their first bytes are a fine hash */
	return (size_t)sd_le64_get(txid) & (idx->mp_cap - 1);
}

static struct st_mp_entry *mp_find(struct oracle_index *idx,
				   const uint8_t txid[32])
{
	size_t i;

	if (!idx->mp_cap)
		return NULL;
	for (i = slot_of(idx, txid); idx->mp[i].used;
	     i = (i + 1) & (idx->mp_cap - 1))
		if (memcmp(idx->mp[i].txid, txid, 32) == 0)
			return &idx->mp[i];
	return NULL;
}

static void mp_insert(struct oracle_index *idx, const struct st_mp_entry *e);

static void mp_grow(struct oracle_index *idx)
{
	struct st_mp_entry *old = idx->mp;
	size_t old_cap = idx->mp_cap, i;

	idx->mp_cap = old_cap ? old_cap * 2 : 64;
	idx->mp = sd_xcalloc(idx->mp_cap, sizeof(*idx->mp));
	idx->mp_n = 0;
	for (i = 0; i < old_cap; i++)
		if (old[i].used)
			mp_insert(idx, &old[i]);
	free(old);
}

static void mp_insert(struct oracle_index *idx, const struct st_mp_entry *e)
{
	struct st_mp_entry *f = mp_find(idx, e->txid);
	size_t i;

	if (f) {
		*f = *e;
		return;
	}
	if ((idx->mp_n + 1) * 2 > idx->mp_cap)
		mp_grow(idx);
	for (i = slot_of(idx, e->txid); idx->mp[i].used;
	     i = (i + 1) & (idx->mp_cap - 1))
		;
	idx->mp[i] = *e;
	idx->mp[i].used = true;
	idx->mp_n++;
}

static void mp_remove(struct oracle_index *idx, const uint8_t txid[32])
{
	struct st_mp_entry *f = mp_find(idx, txid);
	size_t mask = idx->mp_cap - 1, hole, j, home;

	if (!f)
		return;
	hole = (size_t)(f - idx->mp);
	idx->mp[hole].used = false;
	idx->mp_n--;
	/* shift later members of the probe run back into the hole */
	for (j = (hole + 1) & mask; idx->mp[j].used; j = (j + 1) & mask) {
		home = slot_of(idx, idx->mp[j].txid);
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			idx->mp[hole] = idx->mp[j];
			idx->mp[j].used = false;
			hole = j;
		}
	}
}

int oracle_mempool_add(struct oracle_index *idx, const struct btc_tx *tx)
{
	struct oracle_tx_info info;
	struct st_mp_entry e;
	int rc = oracle_tx_compute(tx, &info);

	if (rc != SD_OK)
		return rc;
	if (!info.has_tweak)
		return SD_OK;
	memset(&e, 0, sizeof(e));
	memcpy(e.txid, tx->txid, 32);
	memcpy(e.tweak, info.tweak, 33);
	e.highest_value = info.highest_value;
	e.used = true;
	pthread_mutex_lock(&idx->mp_mu);
	mp_insert(idx, &e);
	pthread_mutex_unlock(&idx->mp_mu);
	return SD_OK;
}

static int cmp_txid(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

void oracle_mempool_retain(struct oracle_index *idx,
			   const uint8_t (*keep)[32], size_t n_keep)
{
	struct st_mp_entry *old;
	size_t old_cap, i;

	pthread_mutex_lock(&idx->mp_mu);
	old = idx->mp;
	old_cap = idx->mp_cap;
	idx->mp = NULL;
	idx->mp_cap = idx->mp_n = 0;
	for (i = 0; i < old_cap; i++)
		if (old[i].used && n_keep &&
		    bsearch(old[i].txid, keep, n_keep, 32, cmp_txid))
			mp_insert(idx, &old[i]);
	free(old);
	pthread_mutex_unlock(&idx->mp_mu);
}

void st_mempool_drop_block(struct oracle_index *idx,
			   const struct btc_block *b)
{
	size_t t;

	pthread_mutex_lock(&idx->mp_mu);
	for (t = 0; t < b->n_tx && idx->mp_n; t++)
		mp_remove(idx, b->tx[t].txid);
	pthread_mutex_unlock(&idx->mp_mu);
}

int oracle_mempool_each(struct oracle_index *idx,
			int (*cb)(void *ctx, const uint8_t txid[32],
				  const uint8_t tweak[33],
				  uint64_t highest_value),
			void *ctx)
{
	struct st_mp_entry *snap;
	size_t n = 0, i;
	int rc = SD_OK;

	/* copy out so callbacks run without the lock */
	pthread_mutex_lock(&idx->mp_mu);
	snap = sd_xmalloc((idx->mp_n ? idx->mp_n : 1) * sizeof(*snap));
	for (i = 0; i < idx->mp_cap; i++)
		if (idx->mp[i].used)
			snap[n++] = idx->mp[i];
	pthread_mutex_unlock(&idx->mp_mu);
	for (i = 0; i < n && rc == SD_OK; i++)
		rc = cb(ctx, snap[i].txid, snap[i].tweak,
			snap[i].highest_value);
	free(snap);
	return rc;
}

void st_mempool_free(struct oracle_index *idx)
{
	free(idx->mp);
	idx->mp = NULL;
	idx->mp_cap = idx->mp_n = 0;
}

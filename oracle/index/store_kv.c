/* store_kv.c - the bottom of the store, below every other store_*.c
 * file: rows keyed by height, the meta table, and read transactions under
 * the map lock (with the adoption of a map another process grew).  It
 * calls no other store file, so the files above it (bits, undo, v2,
 * reads, migrate, env) form no call cycle through it.
 */
#include <pthread.h>
#include <string.h>

#include "../../common/log.h"
#include "../../common/util.h"
#include "store_int.h"

int st_meta_tip(struct oracle_index *idx, MDB_txn *txn, int32_t *height,
		uint8_t hash[32])
{
	MDB_val k = st_mv("tip", 3), v;
	int rc = mdb_get(txn, idx->dbi[ST_META], &k, &v);

	*height = -1;
	if (hash)
		memset(hash, 0, 32);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (v.mv_size != 36)
		return MDB_CORRUPTED;
	*height = (int32_t)sd_be32_get(v.mv_data);
	if (hash)
		memcpy(hash, (uint8_t *)v.mv_data + 4, 32);
	return 0;
}

int st_meta_set_tip(struct oracle_index *idx, MDB_txn *txn, int32_t height,
		    const uint8_t hash[32])
{
	uint8_t buf[36];
	MDB_val k = st_mv("tip", 3), v = st_mv(buf, 36);
	int rc;

	if (height < 0) {
		rc = mdb_del(txn, idx->dbi[ST_META], &k, NULL);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	sd_be32_put(buf, (uint32_t)height);
	memcpy(buf + 4, hash, 32);
	return mdb_put(txn, idx->dbi[ST_META], &k, &v, 0);
}

int st_get_h(MDB_txn *txn, MDB_dbi dbi, uint32_t h, MDB_val *v)
{
	uint8_t hbe[4];
	MDB_val k;

	sd_be32_put(hbe, h);
	k = st_mv(hbe, 4);
	return mdb_get(txn, dbi, &k, v);
}

int st_put_h(MDB_txn *txn, MDB_dbi dbi, uint32_t h, const void *data,
	     size_t len, unsigned flags)
{
	uint8_t hbe[4];
	MDB_val k, v = st_mv(data, len);

	sd_be32_put(hbe, h);
	k = st_mv(hbe, 4);
	return mdb_put(txn, dbi, &k, &v, flags);
}


/* maplock is writer-preferring: a map resize waiting for it holds back
 * new readers, so a steady stream of overlapping read views cannot starve
 * growth (and with it indexing).  Then a thread that already holds it
 * shared must not wait for it again behind a queued resize: st_map_rdlock
 * counts this thread's holds (per index) and takes the lock only on the
 * first. */
static _Thread_local struct {
	const struct oracle_index *idx;
	unsigned n;
} map_held[4];

void st_map_rdlock(struct oracle_index *idx)
{
	size_t i, free_i = SIZE_MAX;

	for (i = 0; i < 4; i++) {
		if (map_held[i].n && map_held[i].idx == idx) {
			map_held[i].n++;
			return;
		}
		if (!map_held[i].n && free_i == SIZE_MAX)
			free_i = i;
	}
	pthread_rwlock_rdlock(&idx->maplock);
	if (free_i != SIZE_MAX) {
		map_held[free_i].idx = idx;
		map_held[free_i].n = 1;
	}
}

void st_map_rdunlock(struct oracle_index *idx)
{
	for (size_t i = 0; i < 4; i++)
		if (map_held[i].n && map_held[i].idx == idx) {
			if (--map_held[i].n == 0)
				pthread_rwlock_unlock(&idx->maplock);
			return;
		}
	pthread_rwlock_unlock(&idx->maplock); /* untracked (5+ indexes) */
}


/* Another process grew the map (MDB_MAP_RESIZED): adopt its size. */
int st_map_adopt(struct oracle_index *idx)
{
	MDB_envinfo info;
	int rc;

	pthread_rwlock_wrlock(&idx->maplock);
	rc = mdb_env_set_mapsize(idx->env, 0);
	if (rc == 0 && mdb_env_info(idx->env, &info) == 0) {
		pthread_mutex_lock(&idx->stats_mu);
		idx->map_size = info.me_mapsize;
		pthread_mutex_unlock(&idx->stats_mu);
	}
	pthread_rwlock_unlock(&idx->maplock);
	return rc;
}


int st_read_begin(struct oracle_index *idx, MDB_txn **txn)
{
	int rc, tries;

	for (tries = 0; tries < 8; tries++) {
		st_map_rdlock(idx);
		rc = mdb_txn_begin(idx->env, NULL, MDB_RDONLY, txn);
		if (rc == 0)
			return SD_OK;
		st_map_rdunlock(idx);
		if (rc != MDB_MAP_RESIZED || st_map_adopt(idx) != 0)
			break;
	}
	sd_log_error("oracle", "db_error", "op=read_begin err=%d errstr=\"%s\"",
		     rc, mdb_strerror(rc));
	return SD_EDB;
}

void st_read_end(struct oracle_index *idx, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	st_map_rdunlock(idx);
}


int st_meta_get(struct oracle_index *idx, MDB_txn *txn, const char *key,
		    MDB_val *v)
{
	MDB_val k = st_mv(key, strlen(key));

	return mdb_get(txn, idx->dbi[ST_META], &k, v);
}

int st_meta_put(struct oracle_index *idx, MDB_txn *txn, const char *key,
		const void *val, size_t len)
{
	MDB_val k = st_mv(key, strlen(key)), v = st_mv(val, len);

	return mdb_put(txn, idx->dbi[ST_META], &k, &v, 0);
}


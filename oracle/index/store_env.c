/* store_env.c - the LMDB environment of the tweak index: open/create in
 * <datadir>/index, format version / network / index-kind checks in the
 * meta table, the write-transaction runner that grows the map on
 * MDB_MAP_FULL and reports a full disk, group commit, tip, stats, the
 * migrations (store_migrate.c) and the outpoint map's load after open, on
 * a thread of its own (from its snapshot, replayed up to the tip, else a
 * scan of `utxos`: store_snap.c): reads are served at once, writers wait
 * for it.  After each commit that leaves nothing pending, the snapshot
 * may be rewritten in the background (st_snap_tick).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "../../common/log.h"
#include "../../common/util.h"
#include "store_int.h"

const char *const st_table_name[ST_N] = {
	"meta", "blocks", "tweak_index", "utxos", "spent_bits",
	"filter_new_utxos", "filter_spent", "spent_index", "undo", "v2",
};

#define DEFAULT_MAP_SIZE ((size_t)1 << 30)
#define MAX_MAP_STEP ((size_t)8 << 30)

static unsigned cfg_flags(const struct oracle_config *c)
{
	return (c->tweaks_only ? ST_F_TWEAKS_ONLY : 0) |
	       (c->tweaks_full_basic ? ST_F_FULL_BASIC : 0) |
	       (c->tweaks_full_with_dust_filter ? ST_F_FULL_DUST : 0) |
	       (c->tweaks_cut_through_with_dust_filter ? ST_F_CUT_THROUGH : 0);
}

/* "name=built" for every flag that differs between built and want */
static void flags_diff(char *out, size_t n, unsigned built, unsigned want)
{
	static const char *const names[4] = {
		"tweaks_only", "tweaks_full_basic",
		"tweaks_full_with_dust_filter",
		"tweaks_cut_through_with_dust_filter",
	};
	size_t off = 0;

	out[0] = '\0';
	for (int i = 0; i < 4 && off < n; i++) {
		unsigned bit = 1u << i;

		if ((built & bit) == (want & bit))
			continue;
		off += (size_t)snprintf(out + off, n - off, "%s%s=%d",
					off ? " " : "", names[i],
					!!(built & bit));
	}
}

static size_t initial_map_size(void)
{
	const char *e = getenv("SIGNETD_INDEX_MAP_SIZE");
	uint64_t v;

	if (e && sd_parse_u64(e, (uint64_t)1 << 44, &v) == SD_OK &&
	    v >= 65536)
		return (size_t)v;
	return DEFAULT_MAP_SIZE;
}

void st_stats_disk_full(struct oracle_index *idx, bool full)
{
	pthread_mutex_lock(&idx->stats_mu);
	idx->disk_full = full;
	pthread_mutex_unlock(&idx->stats_mu);
}

/* Grow the map: exclusive lock so no txn of ours is open. */
static int grow_map(struct oracle_index *idx)
{
	size_t old, step, want;
	int rc;

	pthread_rwlock_wrlock(&idx->maplock);
	old = idx->map_size;
	step = old < MAX_MAP_STEP ? old : MAX_MAP_STEP;
	want = old + step;
	rc = mdb_env_set_mapsize(idx->env, want);
	if (rc == 0) {
		pthread_mutex_lock(&idx->stats_mu);
		idx->map_size = want;
		pthread_mutex_unlock(&idx->stats_mu);
	}
	pthread_rwlock_unlock(&idx->maplock);
	if (rc) {
		sd_log_error("oracle", "db_map_resize_failed", "old=%zu new=%zu "
			     "err=%d", old, want, rc);
		return rc;
	}
	sd_log_info("oracle", "db_map_resize", "old=%zu new=%zu", old, want);
	return 0;
}

/* LMDB reports a short write as EIO, and a filling disk often gives one
 * short write before ENOSPC: call it a full disk when the filesystem has
 * almost no room left or the data file reached RLIMIT_FSIZE. */
static bool looks_full(struct oracle_index *idx)
{
	struct statvfs vs;
	struct rlimit rl;
	struct stat sb;
	char path[4200];

	if (statvfs(idx->path, &vs) == 0 &&
	    (uint64_t)vs.f_bavail * vs.f_frsize < ((uint64_t)64 << 20))
		return true;
	snprintf(path, sizeof(path), "%s/data.mdb", idx->path);
	return getrlimit(RLIMIT_FSIZE, &rl) == 0 &&
	       rl.rlim_cur != RLIM_INFINITY && stat(path, &sb) == 0 &&
	       (uint64_t)sb.st_size + ((uint64_t)16 << 20) >= rl.rlim_cur;
}

static bool is_sd_code(int rc)
{
	return rc < 0 && rc > -100;
}

/* Map a failed txn's LMDB/errno code to an SD code (logging it); for
 * MDB_MAP_FULL / MDB_MAP_RESIZED, fix the map and return 1 (retry). */
static int write_failed(struct oracle_index *idx, const char *what, int rc)
{
	if (is_sd_code(rc))
		return rc;
	if (rc == MDB_MAP_FULL)
		return grow_map(idx) != 0 ? SD_ENOSPC : 1;
	if (rc == MDB_MAP_RESIZED)
		return st_map_adopt(idx) != 0 ? SD_EDB : 1;
	if (rc == ENOSPC || rc == EDQUOT || rc == EFBIG ||
	    (rc == EIO && looks_full(idx))) {
		st_stats_disk_full(idx, true);
		sd_log_error("oracle", "db_disk_full", "op=%s err=%s",
			     what, rc == EFBIG ? "EFBIG" : rc == EDQUOT ?
			     "EDQUOT" : rc == EIO ? "EIO" : "ENOSPC");
		return SD_ENOSPC;
	}
	sd_log_error("oracle", "db_error", "op=%s err=%d errstr=\"%s\"",
		     what, rc, mdb_strerror(rc));
	return SD_EDB;
}

/* The map's figures for oracle_index_stats (after a commit, a rollback
 * or the load). */
static void om_stats(struct oracle_index *idx)
{
	pthread_mutex_lock(&idx->stats_mu);
	idx->stat_om_n = idx->om.n;
	idx->stat_om_bytes = st_outmap_bytes(&idx->om);
	pthread_mutex_unlock(&idx->stats_mu);
}

int st_outmap_ready(struct oracle_index *idx)
{
	int rc;

	pthread_mutex_lock(&idx->om_mu);
	while (idx->om_state == ST_OM_LOADING)
		pthread_cond_wait(&idx->om_cv, &idx->om_mu);
	rc = idx->om_state == ST_OM_READY ? SD_OK : idx->om_rc;
	pthread_mutex_unlock(&idx->om_mu);
	if (rc != SD_OK && !idx->om_fail_logged) {
		idx->om_fail_logged = true;
		sd_log_error("oracle", "outpoint_map_unavailable", "err=%s "
			     "note=writes_refused_until_restart",
			     sd_strerror(rc));
	}
	return rc;
}

/* fn added a height the map cannot hold (24 bits): the txn must not
 * commit.  Logs and returns SD_EINVAL, else SD_OK. */
static int om_refused(struct oracle_index *idx, const char *what)
{
	if (!idx->om.refused_h)
		return SD_OK;
	sd_log_error("oracle", "outpoint_map_height_limit", "op=%s height=%u "
		     "max=16777215 note=refused", what, idx->om.refused_h);
	return SD_EINVAL;
}

/* The loader thread: the map from the snapshot (replayed up to our tip)
 * or a scan of `utxos` (st_snap_build), handed to the writer under
 * om_mu. */
static void *om_loader(void *arg)
{
	struct oracle_index *idx = arg;
	struct st_outmap m = { 0 };
	struct st_om_source src;
	uint64_t t0 = sd_mono_ns();
	double ms;
	int rc;

	rc = st_snap_build(idx, &m, &src);
	ms = (double)(sd_mono_ns() - t0) / 1e6;
	if (rc == 0) {
		sd_log_info("oracle", "outpoint_map_loaded", "outpoints=%zu "
			    "ms=%.1f bytes=%zu source=%s replayed_blocks=%u "
			    "snapshot_tip=%d", m.n, ms, st_outmap_bytes(&m),
			    src.source, src.replayed, src.snap_tip);
	} else if (rc == ECANCELED) {
		sd_log_info("oracle", "outpoint_map_load_cancelled",
			    "ms=%.1f", ms);
	} else {
		sd_log_error("oracle", "outpoint_map_load_failed", "err=%d "
			     "errstr=\"%s\" ms=%.1f", rc, is_sd_code(rc) ?
			     sd_strerror(rc) : mdb_strerror(rc), ms);
	}
	/* the writer may use idx->om as soon as om_mu is released */
	pthread_mutex_lock(&idx->stats_mu);
	idx->stat_om_loading = false;
	idx->stat_om_n = rc == 0 ? m.n : 0;
	idx->stat_om_bytes = rc == 0 ? st_outmap_bytes(&m) : 0;
	if (rc == 0 && strcmp(src.source, "scan"))
		idx->stat_snap_tip = src.snap_tip;  /* kept on disk */
	pthread_mutex_unlock(&idx->stats_mu);
	pthread_mutex_lock(&idx->om_mu);
	if (rc == 0) {
		st_outmap_free(&idx->om);
		idx->om = m;
		idx->om_src = src;
		/* a snapshot read stays on disk: the next is due from it */
		idx->snap.tip = idx->snap.base =
			strcmp(src.source, "scan") ? src.snap_tip : -1;
		idx->om_state = ST_OM_READY;
	} else {
		st_outmap_free(&m);
		idx->om_rc = SD_EDB;
		idx->om_state = ST_OM_FAILED;
	}
	pthread_cond_broadcast(&idx->om_cv);
	pthread_mutex_unlock(&idx->om_mu);
	return NULL;
}

/* Start the loader (at the end of a successful open).  No thread: load
 * here. */
static void om_start(struct oracle_index *idx)
{
	idx->om_state = ST_OM_LOADING;
	pthread_mutex_lock(&idx->stats_mu);
	idx->stat_om_loading = true;
	pthread_mutex_unlock(&idx->stats_mu);
	if (pthread_create(&idx->om_thread, NULL, om_loader, idx) == 0)
		idx->om_thread_on = true;
	else
		(void)om_loader(idx);
}

/* Cancel a running load and join the loader (close). */
static void om_stop(struct oracle_index *idx)
{
	if (!idx->om_thread_on)
		return;
	atomic_store(&idx->om_cancel, true);
	pthread_join(idx->om_thread, NULL);
	idx->om_thread_on = false;
}

int st_write(struct oracle_index *idx, const char *what,
	     int (*fn)(struct oracle_index *idx, MDB_txn *txn, void *arg),
	     void *arg)
{
	MDB_txn *txn;
	int32_t tip = -1;
	uint8_t hash[32];
	int rc, tries;

	if ((rc = st_outmap_ready(idx)) != SD_OK)
		return rc;

	/* a write outside the group commit goes after the pending blocks */
	if ((rc = oracle_index_flush(idx)) != SD_OK)
		return rc;
	for (tries = 0; tries < 64; tries++) {
		st_map_rdlock(idx);
		rc = mdb_txn_begin(idx->env, NULL, 0, &txn);
		if (rc == 0) {
			rc = fn(idx, txn, arg);
			if (rc == 0)
				rc = om_refused(idx, what);
			/* the tip this commit makes durable (snapshot tag) */
			if (rc == 0 && idx->snap.every && idx->om.cap &&
			    st_meta_tip(idx, txn, &tip, hash))
				tip = -1;
			if (rc == 0)
				rc = mdb_txn_commit(txn);
			else
				mdb_txn_abort(txn);
		}
		st_map_rdunlock(idx);
		if (rc == 0) {
			st_outmap_commit(&idx->om);
			om_stats(idx);
			st_stats_disk_full(idx, false);
			if (tip >= 0)   /* nothing pending: map == tip */
				st_snap_tick(idx, tip, hash);
			return SD_OK;
		}
		st_outmap_rollback(&idx->om);
		if ((rc = write_failed(idx, what, rc)) != 1)
			return rc;
	}
	sd_log_error("oracle", "db_error", "op=%s err=too_many_retries", what);
	return SD_EDB;
}

/* Group commit: the pending txn holds the map lock shared while open.
 * Once it is gone without a commit, the tip is the durable one again. */
static void pending_lost(struct oracle_index *idx)
{
	st_outmap_rollback(&idx->om);
	idx->tip_height = idx->durable_height;
	memcpy(idx->tip_hash, idx->durable_hash, 32);
	if (idx->pending_blocks)
		sd_log_warn("oracle", "group_commit_lost", "blocks=%u "
			    "durable_tip=%d note=refetched_by_follower",
			    idx->pending_blocks, idx->durable_height);
	idx->pending_blocks = 0;
	idx->pending_tweaks = 0;
}

static void pending_abort(struct oracle_index *idx)
{
	if (!idx->wtxn)
		return;
	mdb_txn_abort(idx->wtxn);
	idx->wtxn = NULL;
	st_map_rdunlock(idx);
	pending_lost(idx);
}

int st_write_deferred(struct oracle_index *idx, const char *what,
		      int (*fn)(struct oracle_index *idx, MDB_txn *txn,
				void *arg),
		      void *arg)
{
	int rc;

	if ((rc = st_outmap_ready(idx)) != SD_OK)
		return rc;
	if (!idx->wtxn) {
		st_map_rdlock(idx);
		rc = mdb_txn_begin(idx->env, NULL, 0, &idx->wtxn);
		if (rc) {
			idx->wtxn = NULL;
			st_map_rdunlock(idx);
			rc = write_failed(idx, what, rc);
			return rc == 1 ? SD_EDB : rc;
		}
	}
	rc = fn(idx, idx->wtxn, arg);
	if (rc == 0)
		rc = om_refused(idx, what);
	if (rc == 0)
		return SD_OK;
	pending_abort(idx);
	rc = write_failed(idx, what, rc);
	return rc == 1 ? SD_EDB : rc;   /* map fixed: the follower retries */
}

void oracle_index_set_group_commit(struct oracle_index *idx, unsigned n)
{
	idx->group_max = n;
}

int oracle_index_flush(struct oracle_index *idx)
{
	uint64_t t0;
	unsigned n;
	int rc;

	if (!idx->wtxn)
		return SD_OK;
	t0 = sd_mono_ns();
	rc = mdb_txn_commit(idx->wtxn);
	idx->wtxn = NULL;
	st_map_rdunlock(idx);
	if (rc != 0) {
		pending_lost(idx);      /* the txn is gone either way */
		rc = write_failed(idx, "commit", rc);
		return rc == 1 ? SD_EDB : rc;
	}
	st_outmap_commit(&idx->om);
	om_stats(idx);
	st_stats_disk_full(idx, false);
	n = idx->pending_blocks;
	idx->durable_height = idx->tip_height;
	memcpy(idx->durable_hash, idx->tip_hash, 32);
	pthread_mutex_lock(&idx->stats_mu);
	idx->stat_tip = idx->tip_height;
	idx->blocks_connected += n;
	idx->tweaks_indexed += idx->pending_tweaks;
	pthread_mutex_unlock(&idx->stats_mu);
	idx->pending_blocks = 0;
	idx->pending_tweaks = 0;
	if (n > 1)
		sd_log_info("oracle", "group_committed", "blocks=%u tip=%d "
			    "ms=%.2f", n, idx->durable_height,
			    (double)(sd_mono_ns() - t0) / 1e6);
	st_snap_tick(idx, idx->durable_height, idx->durable_hash);
	return SD_OK;
}

struct open_arg {
	char *err;
	int sd_rc;
	uint32_t migrated;  /* from this format in this open's txn (0: no) */
};

static int open_tables(struct oracle_index *idx, MDB_txn *txn, void *arg)
{
	struct open_arg *oa = arg;
	char diff[160], nbuf[64];
	uint8_t ver[4];
	MDB_val v;
	int rc, t;

	for (t = 0; t < ST_N; t++) {
		rc = mdb_dbi_open(txn, st_table_name[t], MDB_CREATE,
				  &idx->dbi[t]);
		if (rc)
			return rc;
	}
	rc = st_meta_get(idx, txn, "version", &v);
	if (rc == MDB_NOTFOUND) {
		/* fresh index: stamp it */
		sd_be32_put(ver, ST_FORMAT_VERSION);
		if ((rc = st_meta_put(idx, txn, "version", ver, 4)) ||
		    (rc = st_meta_put(idx, txn, "network", idx->network,
				   strlen(idx->network))))
			return rc;
		ver[0] = (uint8_t)idx->flags;
		return st_meta_put(idx, txn, "flags", ver, 1);
	}
	if (rc)
		return rc;
	oa->migrated = 0;       /* a retried txn starts over */
	if (v.mv_size == 4 && sd_be32_get(v.mv_data) >= 1 &&
	    sd_be32_get(v.mv_data) < ST_FORMAT_VERSION) {
		const char *why = "";
		uint32_t from = sd_be32_get(v.mv_data);

		rc = st_migrate(idx, txn, from, &why);
		if (rc == SD_EVERSION) {
			sd_set_err(oa->err, "index in %s has format version "
				"%u and cannot be migrated to %u (%s): delete "
				"the index to rebuild it", idx->path, from,
				ST_FORMAT_VERSION, why);
			return rc;
		}
		if (rc)
			return rc;
		oa->migrated = from;
	}
	if ((rc = st_meta_get(idx, txn, "version", &v)))
		return rc;
	if (v.mv_size != 4 || sd_be32_get(v.mv_data) != ST_FORMAT_VERSION) {
		sd_set_err(oa->err, "index in %s has format version %u, this "
			"signetd reads version %u: use a new datadir or delete "
			"the index to rebuild it", idx->path, v.mv_size == 4 ?
			sd_be32_get(v.mv_data) : 0u, ST_FORMAT_VERSION);
		return SD_EVERSION;
	}
	if ((rc = st_meta_get(idx, txn, "network", &v)))
		return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
	snprintf(nbuf, sizeof(nbuf), "%.*s", (int)(v.mv_size < 63 ?
		 v.mv_size : 63), (const char *)v.mv_data);
	if (strcmp(nbuf, idx->network) != 0) {
		sd_set_err(oa->err, "index in datadir was built for network "
			"\"%s\", config says \"%s\": refusing to serve it",
			nbuf, idx->network);
		return SD_EVERSION;
	}
	if ((rc = st_meta_get(idx, txn, "flags", &v)))
		return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
	if (v.mv_size != 1 || *(uint8_t *)v.mv_data != idx->flags) {
		flags_diff(diff, sizeof(diff), v.mv_size == 1 ?
			   *(uint8_t *)v.mv_data : 0xff, idx->flags);
		sd_set_err(oa->err, "index was built with %s, the config differs: "
			"use a new datadir for other index kinds", diff);
		return SD_EINVAL;
	}
	return 0;
}

static void index_free(struct oracle_index *idx)
{
	om_stop(idx);
	st_snap_wait(idx);
	if (idx->env)
		mdb_env_close(idx->env);
	oracle_pool_free(idx->pool);
	st_mempool_free(idx);
	pthread_rwlock_destroy(&idx->maplock);
	pthread_mutex_destroy(&idx->stats_mu);
	pthread_mutex_destroy(&idx->mp_mu);
	pthread_mutex_destroy(&idx->om_mu);
	pthread_cond_destroy(&idx->om_cv);
	st_scratch_free(&idx->sc);
	st_outmap_free(&idx->om);
	free(idx->datadir);
	free(idx->network);
	free(idx->path);
	free(idx);
}

int oracle_index_open(const struct oracle_config *cfg,
		      struct oracle_index **out, char *err)
{
	struct oracle_index *idx;
	struct open_arg oa = { .err = err };
	MDB_envinfo info;
	size_t plen;
	int rc;

	*out = NULL;
	if (err)
		err[0] = '\0';
	if (!cfg || !cfg->datadir || !cfg->datadir[0] || !cfg->network) {
		sd_set_err(err, "index: datadir and network are required");
		return SD_EINVAL;
	}
	if (cfg->tweaks_only && cfg->tweaks_cut_through_with_dust_filter) {
		sd_set_err(err, "tweaks_cut_through_with_dust_filter needs the "
			"UTXO tracking that tweaks_only=1 turns off");
		return SD_EINVAL;
	}
	idx = sd_xcalloc(1, sizeof(*idx));
	st_scratch_init(&idx->sc);
	idx->cfg = *cfg;
	idx->datadir = sd_xstrdup(cfg->datadir);
	idx->network = sd_xstrdup(cfg->network);
	idx->cfg.datadir = idx->datadir;
	idx->cfg.network = idx->network;
	idx->flags = cfg_flags(cfg);
	idx->tip_height = -1;
	idx->snap.every = st_snap_every(idx);
	idx->snap.min_gap_ns = st_snap_min_gap_ns();
	idx->snap.tip = idx->snap.base = -1;
	idx->snap.fd = -1;
	idx->stat_snap_tip = -1;
	{	/* writer-preferring: see map_rdlock */
		pthread_rwlockattr_t ra;

		pthread_rwlockattr_init(&ra);
		pthread_rwlockattr_setkind_np(
			&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&idx->maplock, &ra);
		pthread_rwlockattr_destroy(&ra);
	}
	pthread_mutex_init(&idx->stats_mu, NULL);
	pthread_mutex_init(&idx->mp_mu, NULL);
	pthread_mutex_init(&idx->om_mu, NULL);
	pthread_cond_init(&idx->om_cv, NULL);
	atomic_init(&idx->om_cancel, false);
	plen = strlen(cfg->datadir) + sizeof("/index");
	idx->path = sd_xmalloc(plen);
	snprintf(idx->path, plen, "%s/index", cfg->datadir);
	if (sd_mkdir_p(idx->path) != SD_OK) {
		sd_set_err(err, "cannot create index directory %s: %s", idx->path,
			strerror(errno));
		index_free(idx);
		return SD_EIO;
	}
	idx->map_size = initial_map_size();
	if ((rc = mdb_env_create(&idx->env)) ||
	    (rc = mdb_env_set_maxdbs(idx->env, ST_N + 2)) ||
	    (rc = mdb_env_set_maxreaders(idx->env, 1024)) ||
	    (rc = mdb_env_set_mapsize(idx->env, idx->map_size)) ||
	    (rc = mdb_env_open(idx->env, idx->path, MDB_NOTLS |
				  MDB_NOMETASYNC, 0640))) {
		sd_set_err(err, "cannot open LMDB index in %s: %s", idx->path,
			mdb_strerror(rc));
		index_free(idx);
		return rc == ENOSPC ? SD_ENOSPC : SD_EDB;
	}
	/* a file bigger than the requested map keeps its size */
	if (mdb_env_info(idx->env, &info) == 0) {
		MDB_stat est;

		idx->map_size = info.me_mapsize;
		/* A reopened index fills its map (the map is the file's size):
		 * grow by one step now, while no txn is open, or the first
		 * write batch hits MDB_MAP_FULL and is lost and refetched
		 * (bench/scale: after every restart). */
		if (mdb_env_stat(idx->env, &est) == 0) {
			size_t used = ((size_t)info.me_last_pgno + 1) *
				      est.ms_psize;
			size_t step = idx->map_size < MAX_MAP_STEP ?
					      idx->map_size : MAX_MAP_STEP;

			if (used + step / 2 > idx->map_size &&
			    mdb_env_set_mapsize(idx->env,
						idx->map_size + step) == 0)
				idx->map_size += step;
		}
	}
	(void)mdb_reader_check(idx->env, NULL); /* slots of dead processes */
	rc = st_write(idx, "open", open_tables, &oa);
	if (rc == SD_OK && oa.migrated)
		st_outmap_snap_drop(idx->path);  /* older writers kept none */
	if (rc == SD_OK && oa.migrated)
		sd_log_info("oracle", "index_migrated", "from=%u to=%u "
			    "change=%s", oa.migrated, ST_FORMAT_VERSION,
			    oa.migrated == 4 ? "undo_retention,utxo_rows_per_tx"
			    : "utxo_rows_per_tx");
	if (rc == SD_OK) {
		MDB_txn *txn;

		rc = st_read_begin(idx, &txn);
		if (rc == SD_OK) {
			if (st_meta_tip(idx, txn, &idx->tip_height,
					idx->tip_hash))
				rc = SD_EDB;
			st_read_end(idx, txn);
		}
	}
	if (rc != SD_OK) {
		if (err && !err[0])
			snprintf(err, SD_ERRLEN, "cannot open index in %s: %s",
				 idx->path, sd_strerror(rc));
		index_free(idx);
		return rc;
	}
	idx->stat_tip = idx->tip_height;
	idx->durable_height = idx->tip_height;
	memcpy(idx->durable_hash, idx->tip_hash, 32);
	idx->pool = oracle_pool_new(cfg->tweak_threads);
	sd_log_info("oracle", "index_opened", "tip=%d map_bytes=%zu "
		    "outpoint_map=loading threads=%u "
		    "tweaks_only=%d full_basic=%d full_dust=%d cut_through=%d",
		    idx->tip_height, idx->map_size,
		    oracle_pool_threads(idx->pool), cfg->tweaks_only,
		    cfg->tweaks_full_basic, cfg->tweaks_full_with_dust_filter,
		    cfg->tweaks_cut_through_with_dust_filter);
	om_start(idx);
	*out = idx;
	return SD_OK;
}

/* A clean close: the committed map goes to a snapshot tagged with the
 * tip, so the next open can index at once (after a crash, the last
 * background one and a replay). */
static void om_save(struct oracle_index *idx)
{
	uint64_t t0 = sd_mono_ns();
	int rc;

	if (idx->om_state != ST_OM_READY || idx->wtxn ||
	    idx->durable_height < 0 || idx->om.cap == 0)
		return;
	rc = st_outmap_save(&idx->om, idx->path, idx->durable_height,
			    idx->durable_hash);
	if (rc == SD_OK)
		sd_log_info("oracle", "outpoint_map_saved", "outpoints=%zu "
			    "bytes=%zu tip=%d ms=%.1f source=close", idx->om.n,
			    st_outmap_bytes(&idx->om), idx->durable_height,
			    (double)(sd_mono_ns() - t0) / 1e6);
	else if (rc != SD_ESTATE)
		sd_log_warn("oracle", "outpoint_map_save_failed", "err=\"%s\" "
			    "errno=%d source=close note=older_snapshot_kept",
			    sd_strerror(rc), errno);
}

void oracle_index_close(struct oracle_index *idx)
{
	if (!idx)
		return;
	om_stop(idx);
	idx->snap.closing = true;       /* the flush forks no child */
	if (oracle_index_flush(idx) != SD_OK)
		pending_abort(idx);
	st_snap_wait(idx);              /* before our own write */
	om_save(idx);
	index_free(idx);
}

const struct oracle_config *oracle_index_config(struct oracle_index *idx)
{
	return &idx->cfg;
}

int oracle_index_tip(struct oracle_index *idx, int32_t *height,
		     uint8_t hash[32])
{
	MDB_txn *txn;
	int rc = st_read_begin(idx, &txn);

	if (rc != SD_OK)
		return rc;
	rc = st_meta_tip(idx, txn, height, hash) ? SD_EDB : SD_OK;
	st_read_end(idx, txn);
	return rc;
}

int oracle_index_hash_at(struct oracle_index *idx, int32_t height,
			 uint8_t hash[32])
{
	struct oracle_read *r;
	uint32_t t;
	int rc;

	if (height < 0)
		return SD_ENOTFOUND;
	if ((rc = oracle_read_begin(idx, &r)) != SD_OK)
		return rc;
	rc = oracle_read_block(r, height, hash, &t);
	oracle_read_end(r);
	return rc;
}

void oracle_index_stats(struct oracle_index *idx, struct oracle_stats *out)
{
	struct stat sb;
	char path[4200];

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&idx->stats_mu);
	out->tip_height = idx->stat_tip;
	out->blocks_connected = idx->blocks_connected;
	out->blocks_disconnected = idx->blocks_disconnected;
	out->tweaks_indexed = idx->tweaks_indexed;
	out->disk_full = idx->disk_full;
	out->reorg_too_deep = idx->reorg_too_deep;
	out->last_connect_ms = idx->last_connect_ms;
	out->map_bytes = idx->map_size;
	out->outmap_loading = idx->stat_om_loading;
	out->outmap_entries = idx->stat_om_n;
	out->outmap_bytes = idx->stat_om_bytes;
	out->outmap_snapshot_height = idx->stat_snap_tip;
	out->outmap_snapshot_failures = idx->stat_snap_failures;
	pthread_mutex_unlock(&idx->stats_mu);
	snprintf(path, sizeof(path), "%s/data.mdb", idx->path);
	if (stat(path, &sb) == 0)
		out->db_bytes = (uint64_t)sb.st_size;
	pthread_mutex_lock(&idx->mp_mu);
	out->mempool_tweaks = idx->mp_n;
	pthread_mutex_unlock(&idx->mp_mu);
}

/* store_int.h - internals of the LMDB tweak index (store_*.c): the handle,
 * the table list, the write-transaction runner with automatic map growth,
 * key builders, the undo log.  Not an API: other modules use oracle.h.
 * The on-disk layout is documented in oracle/STORAGE.md.
 */
#ifndef SIGNETD_ORACLE_INDEX_STORE_INT_H
#define SIGNETD_ORACLE_INDEX_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <lmdb.h>

#include "../../common/buf.h"
#include "oracle.h"

/* 2: the outpoint index moved from the `outpoints` table to memory
 * (store_outmap.c).  3: spent marks moved from the `utxos` rows to one
 * bitmap per height (`spent_bits`).  4: the `v2` table (store_v2.c).
 * 5: undo rows pruned below meta "undo_from" (store_undo.c): nothing to
 * rewrite, but a format-4 binary must not open such an index (it would
 * take a pruned row for "nothing to undo").
 * 6: one `utxos` row per tx (its outputs inside), no `cut_through` table
 * (derived from `utxos` and `spent_bits` when read), `v2` records that
 * point into `utxos` and `tweak_index` instead of repeating them.
 * Versions 4 and 5 are migrated at open (store_migrate.c); 1 to 3 lack
 * the per-block tx order format 6 needs and are refused (reindex). */
#define ST_FORMAT_VERSION 6u

/* Tables (LMDB named databases), in dump order. */
enum st_table {
	ST_META = 0,     /* "version" "network" "flags" "tip" */
	ST_BLOCKS,       /* H -> hash32 | time BE32 | prev32 */
	ST_TWEAK_INDEX,  /* H -> 33- or 41-byte records, block tx order */
	ST_UTXO,         /* H | dtxid32 -> tpos BE32 | ord0 BE32 | outputs */
	ST_SPENT_BITS,   /* H -> bitmap: bit ord = output ord is spent */
	ST_FILTER_NEW,   /* H -> GCS */
	ST_FILTER_SPENT, /* H -> GCS */
	ST_SPENT_INDEX,  /* H -> 8-byte entries */
	ST_UNDO,         /* H -> undo log (before-images) */
	ST_V2,           /* H -> blindbit v2 block record (store_v2.c) */
	ST_N
};
extern const char *const st_table_name[ST_N];

/* Table codes in undo log entries (stable on disk, unlike the enum). */
#define ST_UNDO_CUT 3          /* formats 3-5: cut_through before-image */
#define ST_UNDO_SPENT 6        /* outpoint key, ord BE32: clear that bit */
/* (format 6 logs hold only 6; the 5 -> 6 migration drops the 3s) */

/* Index-kind flags stored in meta "flags" (one byte). */
#define ST_F_TWEAKS_ONLY 0x01
#define ST_F_FULL_BASIC  0x02
#define ST_F_FULL_DUST   0x04
#define ST_F_CUT_THROUGH 0x08

/* An MDB_val over n bytes at p. */
static inline MDB_val st_mv(const void *p, size_t n)
{
	MDB_val v = { .mv_size = n, .mv_data = (void *)p };

	return v;
}

/* A `utxos` row (format 6): key H | dtxid, value
 * tpos BE32 | ord0 BE32 | n x (vout BE32 | value BE64 | x-only key32),
 * outputs in vout order; output i has ord ord0 + i.  tpos is the tx's
 * rank among the block's tweak-bearing txs (block order), i.e. its record
 * in tweak_index[H]. */
#define ST_UTXO_KEY 36
#define ST_UTXO_HDR 8
#define ST_OUT_LEN 44      /* = ORACLE_V2_OUT_LEN: v2 reads point at it */
/* An outpoint key: H | dtxid | vout BE32 (spends, undo code 6) */
#define ST_OUTPOINT_KEY 40
#define ST_BLOCK_VAL 68

/* The outputs of a utxos value v: SD_OK and *n, or MDB_CORRUPTED. */
static inline int st_utxo_outs(size_t vlen, size_t *n)
{
	if (vlen < ST_UTXO_HDR + ST_OUT_LEN ||
	    (vlen - ST_UTXO_HDR) % ST_OUT_LEN)
		return MDB_CORRUPTED;
	*n = (vlen - ST_UTXO_HDR) / ST_OUT_LEN;
	return 0;
}

/* A utxos row being built (connect): key, and its value in a buffer. */
struct st_utxo_rec {
	uint8_t key[ST_UTXO_KEY];
	size_t off, len;    /* value in st_scratch.rowbuf */
};

/* A spend of a tracked output: its outpoint key (height of the first
 * candidate the map gives), fingerprint, and whether the map holds more
 * than one height for that fingerprint. */
struct st_spend_rec {
	uint8_t key[ST_OUTPOINT_KEY];
	bool several;
	uint64_t fp;
};

struct st_tx_ord {
	uint8_t dtxid[32];
	uint32_t t;     /* index in the block */
};

struct st_mp_entry {
	uint8_t txid[32];
	uint8_t tweak[33];
	bool used;
	uint64_t highest_value;
};

/* Outpoint -> creating height of every unspent `utxos` row, in memory
 * (store_outmap.c): 8-byte slots (40-bit fingerprint, 24-bit height) in
 * ST_OM_SEGS open-addressing tables picked by the fingerprint's top 8
 * bits, each grown on its own, in one step, at most one a write (past 90%
 * at once).  Writer thread only. */
#define ST_OUTMAP_FP_BITS 40
#define ST_OM_SEGS 256
struct st_om_op;
struct st_om_seg {
	uint64_t *s;              /* fp << 24 | height, 0 = empty slot */
	uint32_t cap, n;          /* n <= 90% of cap */
};
struct st_outmap {
	struct st_om_seg seg[ST_OM_SEGS];   /* all allocated once cap > 0 */
	size_t cap, n;            /* slots and entries of all segments */
	size_t grows;             /* segment growths so far (tests, stats) */
	size_t forced;            /* of them past 90% (not waiting) */
	uint64_t grow_ns_max;     /* the longest growth (one rehash) */
	bool grew;                /* a segment grew since the last commit */
	uint32_t refused_h;       /* a height over 2^24 - 1 was added */
	uint64_t key;             /* fingerprint key (0: none, tests) */
	struct st_om_op *log;     /* changes since the last commit */
	size_t log_n, log_cap;
};
/* The outpoint's unkeyed fingerprint; the map keys it with m->key (the
 * map's own, random, kept in its snapshot) and keeps 40 bits. */
uint64_t st_outmap_fp(const uint8_t txid[32], uint32_t vout);
/* The same for an outpoint key (H | dtxid | vout). */
uint64_t st_outmap_key_fp(const uint8_t key[ST_OUTPOINT_KEY]);
/* The same for (dtxid, vout). */
uint64_t st_outmap_dfp(const uint8_t dtxid[32], uint32_t vout);
/* Add (fp, h).  A height over 2^24 - 1 is not stored: it sets
 * m->refused_h, and st_write / st_write_deferred then abort the txn
 * (SD_EINVAL, outpoint_map_height_limit). */
void st_outmap_add(struct st_outmap *m, uint64_t fp, uint32_t h);
bool st_outmap_del(struct st_outmap *m, uint64_t fp, uint32_t h);
/* The heights stored under fp, one per call: *pos = 0 to start. */
bool st_outmap_next(const struct st_outmap *m, uint64_t fp, size_t *pos,
		    uint32_t *h);
void st_outmap_commit(struct st_outmap *m);    /* the txn committed */
void st_outmap_rollback(struct st_outmap *m);  /* the txn is gone */
void st_outmap_free(struct st_outmap *m);
/* Rebuild m from the unspent utxos rows visible in txn, with m->key (a
 * new random key when 0).  Stops with
 * ECANCELED once idx->om_cancel is set (checked every 1024 rows). */
int st_outmap_load(struct oracle_index *idx, MDB_txn *txn,
		   struct st_outmap *m);
/* Unjournaled changes, for a map being built (load, replay): put
 * (EOVERFLOW for a height over 2^24 - 1), take one (false: none). */
int st_outmap_put(struct st_outmap *m, uint64_t fp, uint32_t h);
bool st_outmap_take(struct st_outmap *m, uint64_t fp, uint32_t h);
/* Add the unspent outputs of the utxos rows of height h in txn (the
 * snapshot's replay, store_snap.c). */
int st_outmap_load_height(struct oracle_index *idx, MDB_txn *txn,
			  struct st_outmap *m, uint32_t h);

/* ---- the map's snapshot <dir>/outmap.snap (store_snap.c, STORAGE.md) */
/* Clean close: m (no pending change) tagged with the committed tip; temp
 * file, fdatasync, rename, fsync dir.  SD_OK, SD_ESTATE (nothing to
 * save), SD_EINVAL (path too long) or SD_EIO (errno kept). */
int st_outmap_save(struct st_outmap *m, const char *dir, int32_t tip,
		   const uint8_t hash[32]);
/* Delete the snapshot and its temp file. */
void st_outmap_snap_drop(const char *dir);
/* How the loader got its map (st_snap_build). */
struct st_om_source {
	const char *source;     /* "snapshot", "snapshot+replay", "scan" */
	const char *why;        /* the snapshot was unusable: reason */
	int32_t snap_tip;       /* the snapshot's tip (-1: none read) */
	uint32_t replayed;      /* heights replayed on top of it */
};
/* Build m for the committed tip (loader thread): from the snapshot when
 * it is whole and its tip s is on our chain with the undo rows of
 * s+1..tip kept, replaying those heights; else a scan of utxos (an
 * unusable snapshot is logged and deleted).  0, an LMDB/SD code, or
 * ECANCELED (idx->om_cancel). */
int st_snap_build(struct oracle_index *idx, struct st_outmap *m,
		  struct st_om_source *src);
/* After a commit that left no pending block (map == durable tip):
 * reap a finished background snapshot child (logged), and fork a new one
 * when tip is snap.every past the last one (store_snap.c). */
void st_snap_tick(struct oracle_index *idx, int32_t tip,
		  const uint8_t hash[32]);
/* The snapshot stats of oracle_index_stats: tip (>= -1; -2 leaves it),
 * and one more failure when failed (takes stats_mu). */
void st_snap_stat(struct oracle_index *idx, int32_t tip, bool failed);
/* Close: wait for a running child and reap it (logged). */
void st_snap_wait(struct oracle_index *idx);
/* snap.every from env SIGNETD_OUTMAP_SNAPSHOT_BLOCKS (0 = none), else
 * min(144, undo_depth / 2). */
unsigned st_snap_every(const struct oracle_index *idx);
/* snap.min_gap_ns from env SIGNETD_OUTMAP_SNAPSHOT_SECONDS, else 600 s
 * (0 when SIGNETD_OUTMAP_SNAPSHOT_BLOCKS is set: tests, benchmarks). */
uint64_t st_snap_min_gap_ns(void);
/* The snapshot's checksum of a 4096-byte header (its fixed part and the
 * segments' capacities) and its slots, all segments in order, cap in all
 * (tests forge snapshots with it). */
uint64_t st_snap_checksum(const uint8_t *hdr, const uint64_t *s, size_t cap);
/* Tests: run first by the background child (async-signal-safe only). */
extern void (*st_snap_child_hook)(void);

/* The background snapshot (store_snap.c), writer thread only. */
struct st_snap_bg {
	unsigned every;         /* blocks between snapshots (0: none) */
	uint64_t min_gap_ns;    /* and at least this long between forks */
	uint64_t last_fork_ns;  /* sd_mono_ns() of the last fork (0: none) */
	int32_t tip;            /* newest snapshot written or loaded (-1) */
	int32_t base;           /* tip of the last attempt: next at +every */
	bool rebase;            /* disconnected below base: next at base+1 */
	bool closing;           /* close: no new child */
	pid_t pid;              /* the running child (0: none) */
	int fd;                 /* its result pipe (read end) */
	int32_t job_tip;        /* what it writes */
	size_t job_n, job_bytes;
	double job_fork_ms;     /* the fork's pause in the parent */
	uint64_t job_t0;
	uint64_t started, saved, fork_failures;  /* counters (tests) */
	int fail_kinds[8];      /* fork/pipe errnos logged once each */
	unsigned n_fail_kinds;
};

/* Tests: called by st_outmap_load before the first row (rows = 0) and
 * every 1024 rows; a nonzero return fails the load with that code. */
extern int (*st_outmap_load_hook)(struct oracle_index *idx, size_t rows);

/* The map is loaded on a thread of its own after oracle_index_open
 * (store_env.c): reads never need it, writers wait for it. */
enum st_om_state { ST_OM_READY = 0, ST_OM_LOADING, ST_OM_FAILED };
/* Wait until the map is loaded: SD_OK, or SD_EDB when the load failed
 * (every writer call from then on; logged).  st_write and
 * st_write_deferred call it first. */
int st_outmap_ready(struct oracle_index *idx);
/* The bytes of m's tables. */
size_t st_outmap_bytes(const struct st_outmap *m);
/* Same multiset of (fingerprint, height) entries (tests). */
bool st_outmap_same(const struct st_outmap *a, const struct st_outmap *b);

/* The writer's scratch buffers (writer thread only), reused from block to
 * block: a connect allocates nothing once they are big enough. */
struct st_scratch {
	struct oracle_tx_info *infos;   /* the block's txs (connect, v2) */
	size_t infos_cap;
	struct st_utxo_rec *utxos;      /* its utxos rows, key order */
	size_t utxos_cap;
	struct sd_buf rowbuf;           /* their values */
	struct st_spend_rec *spends;    /* its spends of tracked outputs */
	size_t spends_cap;
	struct st_tx_ord *ord;          /* its tweak-bearing txs by dtxid */
	size_t ord_cap;
	uint32_t *tpos;                 /* tx -> rank among tweak txs */
	size_t tpos_cap;
	struct sd_buf tweak_recs;       /* its tweak_index value */
	struct sd_buf undo;             /* its undo log; disconnect: a copy */
	struct sd_buf bits;             /* one spent_bits value */
	struct sd_buf v2rec;            /* its v2 record */
	size_t *undo_offs;              /* disconnect: entry offsets */
	size_t undo_offs_cap;
};

static inline void st_scratch_init(struct st_scratch *s)
{
	memset(s, 0, sizeof(*s));
}

static inline void st_scratch_free(struct st_scratch *s)
{
	free(s->infos);
	free(s->utxos);
	free(s->spends);
	free(s->ord);
	free(s->tpos);
	free(s->undo_offs);
	sd_buf_free(&s->tweak_recs);
	sd_buf_free(&s->undo);
	sd_buf_free(&s->bits);
	sd_buf_free(&s->v2rec);
	sd_buf_free(&s->rowbuf);
	st_scratch_init(s);
}

struct oracle_index {
	struct oracle_config cfg;   /* strings point to the copies below */
	char *datadir, *network, *path;
	unsigned flags;             /* ST_F_* */
	MDB_env *env;
	MDB_dbi dbi[ST_N];
	/* Readers and the writer hold it shared while a txn is open; a map
	 * resize takes it exclusively (LMDB: no txn may be active).
	 * map_size: written under maplock (exclusive) and stats_mu. */
	pthread_rwlock_t maplock;
	size_t map_size;
	struct oracle_pool *pool;

	/* writer thread only */
	int32_t tip_height;          /* includes pending (uncommitted) blocks */
	uint8_t tip_hash[32];
	int32_t durable_height;      /* last committed tip */
	uint8_t durable_hash[32];
	MDB_txn *wtxn;               /* group commit: open txn, or NULL */
	unsigned group_max;          /* blocks per txn (<= 1: one each) */
	unsigned pending_blocks;
	struct st_outmap om;         /* includes pending blocks */
	/* om's loader: om_state and om_rc under om_mu, om_cv signals the end
	 * of the load; om_cancel stops it (close) */
	pthread_mutex_t om_mu;
	pthread_cond_t om_cv;
	int om_state;                /* enum st_om_state */
	int om_rc;                   /* the failed load's code */
	bool om_thread_on, om_fail_logged;
	pthread_t om_thread;
	atomic_bool om_cancel;
	struct st_om_source om_src;  /* how it was loaded (loader, tests) */
	struct st_snap_bg snap;      /* writer thread */
	/* under stats_mu: for oracle_index_stats */
	bool stat_om_loading;
	uint64_t stat_om_n, stat_om_bytes;
	int32_t stat_snap_tip;          /* newest snapshot's tip (-1) */
	uint64_t stat_snap_failures;    /* background forks/saves failed */
	uint64_t pending_tweaks;
	struct st_scratch sc;

	pthread_mutex_t stats_mu;   /* guards the fields below */
	int32_t stat_tip;
	uint64_t blocks_connected, blocks_disconnected, tweaks_indexed;
	bool disk_full;
	bool reorg_too_deep;        /* last disconnect hit a pruned row */
	double last_connect_ms;

	pthread_mutex_t mp_mu;      /* mempool hash table (open addressing) */
	struct st_mp_entry *mp;
	size_t mp_cap, mp_n;
};

/* A read view (store_reads.c). */
struct oracle_read {
	struct oracle_index *idx;
	MDB_txn *txn;
	struct sd_buf v2;   /* oracle_read_v2's expanded record */
};

/* Run fn inside one write txn; commit if it returns 0.  fn returns 0, an
 * LMDB/errno code, or an SD_* code (passed through after abort).
 * MDB_MAP_FULL grows the map and retries; ENOSPC -> SD_ENOSPC (disk_full
 * set, logged); other LMDB errors -> SD_EDB.  what names the operation. */
int st_write(struct oracle_index *idx, const char *what,
	     int (*fn)(struct oracle_index *idx, MDB_txn *txn, void *arg),
	     void *arg);
/* Group commit: run fn in the pending txn (opened on demand); on failure
 * the pending blocks are dropped and idx's tip goes back to the durable
 * one.  oracle_index_flush commits. */
int st_write_deferred(struct oracle_index *idx, const char *what,
		      int (*fn)(struct oracle_index *idx, MDB_txn *txn,
				void *arg),
		      void *arg);

/* ---- store_kv.c: the bottom of the store (calls no other store file) */
/* A read txn under the map lock (shared); st_read_end releases both. */
int st_read_begin(struct oracle_index *idx, MDB_txn **txn);
void st_read_end(struct oracle_index *idx, MDB_txn *txn);
/* maplock held shared by this thread (counted: a thread that holds it
 * takes it again without waiting behind a queued resize). */
void st_map_rdlock(struct oracle_index *idx);
void st_map_rdunlock(struct oracle_index *idx);
/* Another process grew the map (MDB_MAP_RESIZED): adopt its size. */
int st_map_adopt(struct oracle_index *idx);

/* meta[key]: get (mdb_get's codes), put. */
int st_meta_get(struct oracle_index *idx, MDB_txn *txn, const char *key,
		MDB_val *v);
int st_meta_put(struct oracle_index *idx, MDB_txn *txn, const char *key,
		const void *val, size_t len);
/* The row of a height-keyed table (key = H BE32): get, put (flags as
 * mdb_put: MDB_APPEND when writing the next height). */
int st_get_h(MDB_txn *txn, MDB_dbi dbi, uint32_t h, MDB_val *v);
int st_put_h(MDB_txn *txn, MDB_dbi dbi, uint32_t h, const void *data,
	     size_t len, unsigned flags);

/* Migrate a format `from` (4 or 5) index to ST_FORMAT_VERSION in txn
 * (store_migrate.c); *why says what is wrong when it cannot
 * (SD_EVERSION: reindex). */
int st_migrate(struct oracle_index *idx, MDB_txn *txn, uint32_t from,
	       const char **why);
/* v2 record flags (store_v2.c, STORAGE.md) */
#define ST_V2_F_TWEAK 0x01
#define ST_V2_F_INLINE 0x02
/* Whether idx's v2 records point into utxos and tweak_index (both
 * written) instead of holding a tweak tx's txid, tweak and outputs. */
static inline bool st_v2_compact(unsigned flags)
{
	return !(flags & ST_F_TWEAKS_ONLY) &&
	       (flags & (ST_F_FULL_BASIC | ST_F_FULL_DUST | ST_F_CUT_THROUGH));
}
/* Whether tweak_index rows are written (every kind that needs tweaks by
 * position), and their record length. */
static inline bool st_writes_tweak_index(unsigned flags)
{
	return flags & (ST_F_FULL_BASIC | ST_F_FULL_DUST | ST_F_CUT_THROUGH);
}
static inline size_t st_tweak_rec_len(unsigned flags)
{
	return (flags & ST_F_FULL_DUST) ? 41 : 33;
}
/* Write block b's v2 record (idx->sc.infos filled) in b's txn. */
int st_v2_put(struct oracle_index *idx, MDB_txn *txn,
	      const struct btc_block *b);

/* meta "tip": *height = -1 when absent (store_kv.c). */
int st_meta_tip(struct oracle_index *idx, MDB_txn *txn, int32_t *height,
		uint8_t hash[32]);
int st_meta_set_tip(struct oracle_index *idx, MDB_txn *txn, int32_t height,
		    const uint8_t hash[32]);

/* Mark the tracked outputs block b spends (store_spend.c), in b's txn. */
int st_spend_block(struct oracle_index *idx, MDB_txn *txn,
		   const struct btc_block *b);

/* Spent bitmaps (`spent_bits`, one value per height with utxos rows). */
static inline bool st_bit_get(const uint8_t *bits, size_t nbytes,
			      uint32_t ord, bool *spent)
{
	if ((size_t)(ord >> 3) >= nbytes)
		return false;   /* no such row: corrupt */
	*spent = (bits[ord >> 3] >> (ord & 7)) & 1;
	return true;
}
/* The bitmap of height h in txn: *v points into the map.  A missing one
 * is MDB_CORRUPTED when the height has utxos rows (callers know). */
int st_bits_get(struct oracle_index *idx, MDB_txn *txn, uint32_t h,
		MDB_val *v);
/* Whether output ord is spent per its height's bitmap; MDB_CORRUPTED
 * for an ord outside the bitmap. */
static inline int st_ord_spent(const MDB_val *bits, uint32_t ord,
			       bool *spent)
{
	return st_bit_get(bits->mv_data, bits->mv_size, ord, spent) ? 0 :
	       MDB_CORRUPTED;
}
/* Set (spent) or clear bit ord of height h's bitmap in txn. */
int st_bits_set(struct oracle_index *idx, MDB_txn *txn, uint32_t h,
		uint32_t ord, bool spent);

/* ---- the undo log (store_undo.c; format in STORAGE.md) ---- */
/* Connect: start block's log (idx->undo emptied). */
void st_undo_begin(struct oracle_index *idx);
/* A spent mark (code 6: the output's outpoint key and ord) appended to
 * idx->sc.undo. */
void st_undo_log_spent(struct oracle_index *idx,
		       const uint8_t key[ST_OUTPOINT_KEY], uint32_t ord);
/* Connect: write idx->undo as undo[h] (no row when empty), in h's txn. */
int st_undo_put(struct oracle_index *idx, MDB_txn *txn, uint32_t h);
/* Disconnect: replay undo[height] newest first (spent bits cleared and
 * their outputs back in the map); no row =
 * nothing to do; SD_ENOTFOUND (nothing done) when height is below
 * undo_from.  Uses idx->sc.undo and idx->sc.undo_offs. */
int st_undo_replay(struct oracle_index *idx, MDB_txn *txn, int32_t height);
/* Connect of height h, in its txn: meta "undo_from" up to
 * h - undo_depth + 1 and at most a few rows below it deleted, oldest
 * first (nothing for a tweaks_only index). */
int st_undo_prune(struct oracle_index *idx, MDB_txn *txn, uint32_t h);
/* meta "undo_from": the lowest height whose undo row is kept (0 when
 * absent: nothing was ever pruned). */
int st_undo_from(struct oracle_index *idx, MDB_txn *txn, uint32_t *from);
/* cfg.undo_depth resolved (0 -> default, at least the minimum). */
uint32_t st_undo_depth(const struct oracle_index *idx);
/* The end of the undo log entry at p[off] (format in STORAGE.md);
 * MDB_CORRUPTED when it runs past len. */
int st_undo_entry_end(const uint8_t *p, size_t len, size_t off,
		      size_t *end);

/* Delete every row whose key starts with the 4-byte height prefix. */
int st_del_height(struct oracle_index *idx, MDB_txn *txn, enum st_table t,
		  int32_t height);

static inline void st_rev32(uint8_t out[32], const uint8_t in[32])
{
	for (int i = 0; i < 32; i++)
		out[i] = in[31 - i];
}

void st_stats_disk_full(struct oracle_index *idx, bool full);

/* Mempool: drop the txids of block b (after it was connected). */
void st_mempool_drop_block(struct oracle_index *idx,
			   const struct btc_block *b);
void st_mempool_free(struct oracle_index *idx);

/* Canonical dump of every table ("table keyhex valhex" lines, table order
 * then key order), for tests and tools/oracle_index --dump. */
int oracle_store_dump(struct oracle_index *idx, FILE *f) SD_WARN_UNUSED;

#endif

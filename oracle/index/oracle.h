/* oracle.h - the BIP352 tweak index (LMDB): module oracle/index.
 *
 * Three parts:
 *   1. compute: per-transaction BIP352 tweak, dust value, BIP158-style GCS
 *      filters (pure functions, thread-safe, libsecp256k1 static context);
 *   2. index: an LMDB store fed by the chain follower (connect/disconnect
 *      one block per write transaction, with undo data);
 *   3. reads: MVCC read views, the only way the servers above
 *      (oracle/http/http.h, later oracle/grpc/) see the index.
 *
 * Threading: connect/disconnect come from one writer thread (the follower).
 * Readers (HTTP threads) each open a read view with oracle_read_begin(); the
 * views are MVCC snapshots and never block the writer.
 */
#ifndef SIGNETD_ORACLE_INDEX_ORACLE_H
#define SIGNETD_ORACLE_INDEX_ORACLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../bitcoin/block.h"
#include "../../common/err.h"

/* ---------------------------------------------------------------- compute */

/* Result of analysing one transaction (BIP352 v1.1.1, not upstream's bugs). */
struct oracle_tx_info {
	bool has_taproot_output;  /* >= 1 output is 0x51 0x20 <32> */
	bool has_tweak;           /* tweak[] is valid */
	uint8_t tweak[33];        /* input_hash * A, compressed */
	uint64_t highest_value;   /* max value over taproot outputs (sats) */
};

/* Compute tweak info for tx (prevouts must be attached, i.e. every non-
 * coinbase input has has_prevout).  Returns SD_OK (has_tweak tells whether
 * there is a tweak) or SD_EINVAL when prevouts are missing. */
int oracle_tx_compute(const struct btc_tx *tx,
		      struct oracle_tx_info *out) SD_WARN_UNUSED;

/* BIP158 GCS (P=19, M=784931) over n elements of elem_len bytes each,
 * keyed by the first 16 bytes of key (block hash, internal order).
 * Duplicates are kept (as upstream).  *out (caller frees) holds
 * CompactSize(N) || bits; an empty set gives the single byte 0x00. */
int oracle_gcs_build(const uint8_t key[16], const uint8_t *elems,
		     size_t elem_len, size_t n, uint8_t **out,
		     size_t *out_len) SD_WARN_UNUSED;

/* true when spk is a BIP341 taproot output: exactly 0x51 0x20 <32>. */
bool oracle_spk_is_p2tr(const struct btc_bytes *spk);

/* v1 spent-index entry: the first 8 bytes of SHA256(prev_txid (internal)
 * || vout LE32 || block_hash), block_hash = the SPENDING block's hash
 * (internal order). */
void oracle_spent_entry(const uint8_t prev_txid[32], uint32_t vout,
			const uint8_t block_hash[32], uint8_t out[8]);

/* The spent index of block b (prevouts attached): one 8-byte entry per
 * input spending a P2TR output, block/input order.  *entries (caller
 * frees; NULL when *n is 0). */
int oracle_spent_index(const struct btc_block *b, uint8_t **entries,
		       size_t *n) SD_WARN_UNUSED;
/* v1 filters of block b as served in "data" (no type byte), keyed by
 * b->hash: new-utxos = x-only keys of every P2TR output (all txs, coinbase
 * included, duplicates kept); spent = GCS of oracle_spent_index().
 * *out: caller frees. */
int oracle_filter_new_utxos(const struct btc_block *b, uint8_t **out,
			    size_t *out_len) SD_WARN_UNUSED;
int oracle_filter_spent(const struct btc_block *b, uint8_t **out,
			size_t *out_len) SD_WARN_UNUSED;

/* Worker pool for oracle_block_compute: `threads` threads compute in all,
 * the caller included (threads - 1 are created, once); 0 -> number of
 * online CPUs.  Never fails (OOM aborts; a failed pthread_create leaves
 * fewer workers, see oracle_pool_threads). */
struct oracle_pool;
struct oracle_pool *oracle_pool_new(unsigned threads);
void oracle_pool_free(struct oracle_pool *p);
unsigned oracle_pool_threads(const struct oracle_pool *p);

/* oracle_tx_compute for every tx of b (prevouts attached) into out[0..
 * b->n_tx-1] (coinbase included: no tweak), split over the pool's
 * threads; pool NULL -> the calling thread alone.  One block at a time
 * per pool (calls are serialized).  Returns SD_OK or SD_EINVAL when some
 * tx lacks prevouts (the other entries are still filled). */
int oracle_block_compute(struct oracle_pool *pool, const struct btc_block *b,
			 struct oracle_tx_info *out) SD_WARN_UNUSED;
/* The same, skipping the txs with known[i] true (out[i] already filled,
 * e.g. from the mempool tweaks); n_todo = how many are not known (0:
 * nothing to do; only decides whether the pool is worth waking). */
int oracle_block_compute_known(struct oracle_pool *pool,
			       const struct btc_block *b,
			       struct oracle_tx_info *out, const bool *known,
			       size_t n_todo) SD_WARN_UNUSED;

/* ------------------------------------------------------------------ index */

struct oracle_config {
	const char *datadir;     /* LMDB env lives in <datadir>/index */
	const char *network;     /* "main" "signet" "regtest" "testnet" */
	bool tweaks_only;
	bool tweaks_full_basic;
	bool tweaks_full_with_dust_filter;
	bool tweaks_cut_through_with_dust_filter;
	unsigned tweak_threads;  /* worker pool size; 0 -> number of cores */
	int32_t start_height;    /* blocks below are never indexed */
	/* Undo rows are kept for the last undo_depth blocks only: a reorg
	 * deeper than that cannot be undone (oracle_index_disconnect answers
	 * SD_ENOTFOUND; the index must be rebuilt).  0 -> the default; below
	 * the minimum counts as the minimum.  A tweaks_only index needs no
	 * undo rows and disconnects at any depth. */
	uint32_t undo_depth;
};
#define ORACLE_UNDO_DEPTH_DEFAULT 1000u
#define ORACLE_UNDO_DEPTH_MIN 6u

struct oracle_index;

/* Open or create the index.  Refuses (SD_EVERSION) a DB written by another
 * format version or for another network, with a message in err.
 * err may be NULL, else SD_ERRLEN bytes. */
int oracle_index_open(const struct oracle_config *cfg,
		      struct oracle_index **out, char *err) SD_WARN_UNUSED;
void oracle_index_close(struct oracle_index *idx);

/* Follower callbacks (see rpc/follow.h).  tip: height -1 when empty. */
int oracle_index_tip(struct oracle_index *idx, int32_t *height,
		     uint8_t hash[32]) SD_WARN_UNUSED;
int oracle_index_hash_at(struct oracle_index *idx, int32_t height,
			 uint8_t hash[32]) SD_WARN_UNUSED;
/* Index b (prevouts attached) on top of the tip in one LMDB transaction.
 * Returns SD_OK, SD_ESTATE (not tip+1 / wrong parent), SD_ENOSPC (disk
 * full: nothing written, reads keep working), SD_EDB. */
int oracle_index_connect(struct oracle_index *idx,
			 const struct btc_block *b) SD_WARN_UNUSED;
/* What a block's index entry needs that no index state decides: the tweak
 * infos, the two filters and the spent index.  Computed off the writer
 * (on a fetch thread during a sync) so that the writer only writes. */
struct oracle_prepared {
	struct oracle_tx_info *infos;   /* b->n_tx entries */
	bool has_filters;               /* false: connect builds them */
	uint8_t *fnew, *fspent, *spent; /* filters (v1 "data"), 8-byte entries */
	size_t fnew_len, fspent_len, n_spent;
};
/* Fill *out for b on the calling thread (no pool); filters=false (a
 * tweaks_only index) skips the filters.  On error *out is empty. */
int oracle_block_prepare(const struct btc_block *b, bool filters,
			 struct oracle_prepared *out) SD_WARN_UNUSED;
void oracle_prepared_free(struct oracle_prepared *p);  /* members; zeroes */
/* oracle_index_connect with the prepared parts of b (p not consumed). */
int oracle_index_connect_prepared(struct oracle_index *idx,
				  const struct btc_block *b,
				  const struct oracle_prepared *p)
	SD_WARN_UNUSED;
/* Group commit (catch-up): with n > 1, connects leave their write txn
 * open and commit every n blocks or at oracle_index_flush (any other
 * write, disconnect and close flush first).  Readers see blocks once
 * committed; a kill loses at most the pending blocks, never a part of
 * one.  A failed commit drops the pending blocks: the index's tip goes
 * back to the last committed block (the follower fetches them again). */
void oracle_index_set_group_commit(struct oracle_index *idx, unsigned n);
int oracle_index_flush(struct oracle_index *idx) SD_WARN_UNUSED;

/* Undo the tip block exactly (undo records).  SD_ESTATE when (height,
 * hash) is not the tip; SD_ENOTFOUND, nothing changed, when the block is
 * deeper than the undo rows kept (undo_depth; stats reorg_too_deep). */
int oracle_index_disconnect(struct oracle_index *idx, int32_t height,
			    const uint8_t hash[32]) SD_WARN_UNUSED;

/* Mempool: tx with prevouts attached (may be a block from btc_tx_parse
 * completed by the caller).  Adds its tweak, if any, keyed by txid. */
int oracle_mempool_add(struct oracle_index *idx,
		       const struct btc_tx *tx) SD_WARN_UNUSED;
/* Drop mempool entries whose txid is not in keep (sorted internal txids),
 * e.g. after a block or a getrawmempool refresh. */
void oracle_mempool_retain(struct oracle_index *idx,
			   const uint8_t (*keep)[32], size_t n_keep);
/* Iterate mempool tweaks (any order). */
int oracle_mempool_each(struct oracle_index *idx,
			int (*cb)(void *ctx, const uint8_t txid[32],
				  const uint8_t tweak[33],
				  uint64_t highest_value),
			void *ctx) SD_WARN_UNUSED;

struct oracle_stats {
	int32_t tip_height;
	uint64_t blocks_connected, blocks_disconnected;
	uint64_t tweaks_indexed;   /* total tweaks written since start */
	uint64_t db_bytes;         /* size of data file */
	uint64_t map_bytes;        /* current LMDB map size */
	size_t mempool_tweaks;
	bool disk_full;            /* last write failed with ENOSPC */
	bool reorg_too_deep;       /* the last disconnect was refused: its
				    * undo row was pruned (reindex) */
	double last_connect_ms;    /* compute + write of last block */
	/* The outpoint map (tracked unspent outputs, in memory): loading
	 * after an open (reads are served, writes wait), its entries as of
	 * the last commit and its tables' bytes. */
	bool outmap_loading;
	uint64_t outmap_entries, outmap_bytes;
	/* Its snapshot on disk (oracle/index/STORAGE.md): the tip of the
	 * newest one written or loaded (-1: none yet), and how many
	 * background snapshots failed (fork or write). */
	int32_t outmap_snapshot_height;
	uint64_t outmap_snapshot_failures;
};
void oracle_index_stats(struct oracle_index *idx, struct oracle_stats *out);
const struct oracle_config *oracle_index_config(struct oracle_index *idx);

/* ------------------------------------------------------------------ reads */

struct oracle_read;

/* A consistent snapshot.  All pointers returned through it are valid until
 * oracle_read_end(). */
int oracle_read_begin(struct oracle_index *idx,
		      struct oracle_read **out) SD_WARN_UNUSED;
void oracle_read_end(struct oracle_read *r);

int oracle_read_tip(struct oracle_read *r, int32_t *height,
		    uint8_t hash[32]) SD_WARN_UNUSED;
/* SD_ENOTFOUND when height is not indexed. */
int oracle_read_block(struct oracle_read *r, int32_t height, uint8_t hash[32],
		      uint32_t *time) SD_WARN_UNUSED;

/* Full tweak index of a block in block tx order: n records of rec_len
 * bytes: 33 (tweak) or 41 (tweak || highest_value u64 BE) when the dust
 * variant is stored.  SD_ENOTFOUND if the block is not indexed or the index
 * kind is off. */
int oracle_read_tweak_index(struct oracle_read *r, int32_t height,
			    const uint8_t **recs, size_t *n,
			    size_t *rec_len) SD_WARN_UNUSED;

/* Cut-through tweaks of a block still having unspent taproot outputs, in
 * ascending display-order txid, with their current highest unspent value. */
int oracle_read_cut_through(struct oracle_read *r, int32_t height,
			    int (*cb)(void *ctx, const uint8_t txid[32],
				      const uint8_t tweak[33],
				      uint64_t highest_value),
			    void *ctx) SD_WARN_UNUSED;

enum oracle_filter_kind { ORACLE_FILTER_NEW_UTXOS, ORACLE_FILTER_SPENT };
/* Serialized GCS (without the type byte).  SD_ENOTFOUND when absent. */
int oracle_read_filter(struct oracle_read *r, int32_t height,
		       enum oracle_filter_kind kind, const uint8_t **data,
		       size_t *len) SD_WARN_UNUSED;

struct oracle_utxo {
	uint8_t txid[32];       /* internal order */
	uint32_t vout;
	uint64_t value;
	uint8_t spk[34];
	int32_t block_height;   /* real height (upstream always says 0) */
	uint8_t block_hash[32];
	uint64_t timestamp;     /* block time, kept when spent */
	bool spent;
};
/* Taproot outputs of tweak-bearing txs created in the block, ordered by
 * display-order txid then vout. */
int oracle_read_utxos(struct oracle_read *r, int32_t height,
		      int (*cb)(void *ctx, const struct oracle_utxo *u),
		      void *ctx) SD_WARN_UNUSED;

/* Spent index of a block: n 8-byte entries, block/input order. */
int oracle_read_spent_index(struct oracle_read *r, int32_t height,
			    const uint8_t **data, size_t *n) SD_WARN_UNUSED;

#endif

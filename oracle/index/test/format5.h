/* format5.h - test helper: turn a CLOSED native (format 6) index into the
 * index format 5 would have written for the same blocks (STORAGE.md of
 * format 5), so the 5 -> 6 migration (store_migrate.c) can be tested on
 * real data:
 *   - `utxos`: one row per taproot output, H | dtxid | vout ->
 *     value BE64 | 0x51 0x20 | x-only32 | ord BE32;
 *   - `cut_through`: one row per tx with an unspent output, H | dtxid ->
 *     tweak33 | highest unspent value BE64;
 *   - `v2`: records in the expanded layout (txid | flags 0x01/0 |
 *     [tweak] | n_out | outputs | n_in | inputs);
 *   - no `tweak_index` for a cut-through-only index;
 *   - undo rows with the code 3 (cut_through before-image) entries format
 *     5 logged: the spends are replayed height by height exactly as
 *     format 5's connect did (store_spend.c of ce5669c~1);
 *   - meta "version" 5 (or 4).
 * Raw LMDB, like a format-5 signetd would leave the files: call only on a
 * closed index.  Every inconsistency in the native index is a CHECK.
 */
#ifndef SIGNETD_ORACLE_TEST_FORMAT5_H
#define SIGNETD_ORACLE_TEST_FORMAT5_H

#include <stddef.h>
#include <stdint.h>

/* make_format5 options */
#define F5_VERSION4 0x01   /* stamp version 4 (same tables as 5) */
#define F5_EXACT 0x02      /* no extra synthetic undo row (see below) */

struct f5_stats {
	size_t utxo_rows;      /* per-output utxos rows written */
	size_t cut_rows;       /* cut_through rows written */
	size_t cut_undo;       /* code 3 entries format 5 logged (replayed) */
	size_t undo_rows;      /* undo rows (code 6 only before) */
	size_t v2_recs;        /* v2 records rewritten */
	size_t tweak_rows_dropped;   /* cut-only: tweak_index rows removed */
	/* Unless F5_EXACT (and only for a cut-through index): one undo row
	 * made ONLY of code 3 entries (a 0x01 before-image of a real row and
	 * a 0x00 "absent" one), at a height that had no undo row: format 5
	 * never wrote one alone, but a migration must delete a row it leaves
	 * empty.  0: none was added. */
	uint32_t cut_only_h;
};

/* Downgrade the closed index in <dir>/index; *st (may be NULL) says what
 * was written. */
void make_format5(const char *dir, unsigned opts, struct f5_stats *st);

/* Every named table of the closed index in <dir>/index, raw LMDB:
 * "name keyhex valhex" lines, tables by name, rows in key order (the
 * caller frees it). */
char *f5_raw_dump(const char *dir);

/* meta[key] := val (len bytes) in the closed index; val NULL: delete. */
void f5_meta_put(const char *dir, const char *key, const void *val,
		 size_t len);

/* The bytes of <dir>/index/data.mdb (the caller frees them). */
uint8_t *f5_file(const char *dir, size_t *len);

#endif

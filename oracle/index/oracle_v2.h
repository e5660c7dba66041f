/* oracle_v2.h - what the blindbit-oracle v2 API (HTTP routes, gRPC) reads
 * from the index: one record per block (table `v2`, STORAGE.md, expanded
 * with the block's `utxos` rows and tweak index) with, per transaction
 * that has a tweak or spends a taproot output, in block order: its txid,
 * tweak, taproot outputs and taproot prevouts.
 */
#ifndef SIGNETD_ORACLE_ORACLE_V2_H
#define SIGNETD_ORACLE_ORACLE_V2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oracle.h"

/* an output: vout BE32, amount BE64, x-only key 32 */
#define ORACLE_V2_OUT_LEN 44
/* a spend: prev txid 32 (internal), vout BE32, the spent x-only key's
 * first 8 bytes */
#define ORACLE_V2_IN_LEN 44

struct oracle_v2_tx {
	uint8_t txid[32];        /* internal order */
	bool has_tweak;
	uint8_t tweak[33];       /* zero when !has_tweak */
	uint32_t n_out;          /* taproot outputs (only with a tweak) */
	const uint8_t *outs;     /* n_out records, vout order */
	uint32_t n_in;           /* inputs spending a taproot output */
	const uint8_t *ins;      /* n_in records, input order */
};

/* The v2 record of an indexed height, in the form oracle_v2_next reads:
 * *rec, *len (len 0 when the block has nothing), valid until the next
 * oracle_read_v2 or oracle_read_end on r.  SD_ENOTFOUND when height is
 * not indexed, SD_EDB when the index is inconsistent. */
int oracle_read_v2(struct oracle_read *r, int32_t height, const uint8_t **rec,
		   size_t *len) SD_WARN_UNUSED;

/* Next tx of a record from *off (0 to start): 1 and *tx, 0 at the end,
 * -1 when the record is malformed. */
int oracle_v2_next(const uint8_t *rec, size_t len, size_t *off,
		   struct oracle_v2_tx *tx);

#endif

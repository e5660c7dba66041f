/* block.h - the in-memory block every block source yields.
 *
 * A struct btc_block is built either from REST binary data (block + spent
 * outputs) or from `getblock <hash> 3` JSON; both paths give the same result.
 * All byte arrays point into memory owned by the block (its arena); they stay
 * valid until btc_block_free().  Hashes and txids are in internal (wire) byte
 * order; use sd_hex_encode_rev() to print them in display order.
 */
#ifndef SIGNETD_BITCOIN_BLOCK_H
#define SIGNETD_BITCOIN_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

struct btc_bytes {
	const uint8_t *data;
	size_t len;
};

struct btc_txin {
	uint8_t prev_txid[32];    /* internal order; all zero for coinbase */
	uint32_t prev_vout;       /* 0xffffffff for coinbase */
	struct btc_bytes script_sig;
	uint32_t sequence;
	size_t n_witness;
	struct btc_bytes *witness; /* n_witness items */
	/* The output this input spends (absent for the coinbase). */
	bool has_prevout;
	int64_t prevout_value;     /* satoshis */
	struct btc_bytes prevout_spk;
};

struct btc_txout {
	int64_t value; /* satoshis */
	struct btc_bytes spk;
};

struct btc_tx {
	uint8_t txid[32]; /* internal order */
	int32_t version;
	uint32_t locktime;
	size_t n_in, n_out;
	struct btc_txin *in;
	struct btc_txout *out;
	struct btc_bytes raw; /* the serialized tx (with witness), in the arena */
};

struct btc_block_header {
	int32_t version;
	uint8_t prev_hash[32];
	uint8_t merkle_root[32];
	uint32_t time;
	uint32_t bits;
	uint32_t nonce;
};

struct btc_block {
	uint8_t hash[32]; /* internal order */
	int32_t height;   /* -1 when unknown */
	struct btc_block_header hdr;
	size_t n_tx;
	struct btc_tx *tx; /* tx[0] is the coinbase */
	size_t size_bytes; /* serialized block size */
	void *arena_;      /* private: owner of all memory above */
};

/* Parse a serialized block (as /rest/block/<h>.bin or getblock <h> 0).
 * Computes the block hash and every txid.  Prevout fields are left empty
 * (has_prevout false); fill them with btc_block_attach_spent().
 * Returns SD_OK, SD_EPARSE (truncated, trailing bytes, lengths that do not
 * fit).  *out is NULL on failure.  buf is copied; the caller keeps it. */
int btc_block_parse(const uint8_t *buf, size_t len,
		    struct btc_block **out) SD_WARN_UNUSED;

/* Attach spent outputs in /rest/spenttxouts/<h>.bin format: CompactSize
 * n_tx, then per tx CompactSize k (0 for the coinbase) followed by k times
 * (int64 LE value, CompactSize-prefixed script).  n_tx and every k must match
 * the block exactly.  Returns SD_OK or SD_EPARSE (block left unchanged). */
int btc_block_attach_spent(struct btc_block *b, const uint8_t *buf,
			   size_t len) SD_WARN_UNUSED;

/* Parse one serialized transaction (e.g. a ZMQ rawtx body).  The returned
 * block holds it as tx[0] with n_tx == 1 and a zero header/hash.
 * Returns SD_OK or SD_EPARSE. */
int btc_tx_parse(const uint8_t *buf, size_t len,
		 struct btc_block **out) SD_WARN_UNUSED;

/* Free a block; NULL is a no-op. */
void btc_block_free(struct btc_block *b);

/* SHA-256 of a canonical serialization of everything in b (hash, height,
 * header, every tx field, witnesses and prevouts), so that blocks from two
 * sources can be compared with one value. */
void btc_block_digest(const struct btc_block *b, uint8_t out[32]);

#endif

/* compute_int.h - internals of oracle/'s pure BIP352 / GCS computations,
 * shared between tweak.c, keys.c, gcs.c and the tests.  Not an
 * API: other modules use oracle.h.
 */
#ifndef SIGNETD_ORACLE_INDEX_COMPUTE_INT_H
#define SIGNETD_ORACLE_INDEX_COMPUTE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <secp256k1.h>

#include "../../bitcoin/block.h"
#include "../../bitcoin/hash.h"
#include "../../common/siphash.h"

/* oracle_gcs_build over n elements of any lengths (BIP158 basic filters
 * hold whole scripts): elems[i] is lens[i] bytes.  Duplicates kept. */
int oracle_gcs_build_var(const uint8_t key[16], const uint8_t *const *elems,
			 const size_t *lens, size_t n, uint8_t **out,
			 size_t *out_len);

/* What a prevout scriptPubKey is, as far as BIP352 cares. */
enum oracle_spk_kind {
	ORACLE_SPK_OTHER = 0,
	ORACLE_SPK_P2TR,        /* 0x51 0x20 <32> */
	ORACLE_SPK_P2WPKH,      /* 0x00 0x14 <20> */
	ORACLE_SPK_P2SH,        /* 0xa9 0x14 <20> 0x87 */
	ORACLE_SPK_P2PKH,       /* 0x76 0xa9 0x14 <20> 0x88 0xac */
};
enum oracle_spk_kind oracle_spk_classify(const struct btc_bytes *spk);

/* BIP141 witness program: true and *version (0..16) when spk is one. */
bool oracle_spk_witness_version(const struct btc_bytes *spk, int *version);

/* The BIP352 public key of one input (section 3 of the spec): true and
 * the parsed key (taproot lifted to even y) in *pk when the input yields
 * one.  An input without prevout yields none. */
bool oracle_input_key(const struct btc_txin *in, secp256k1_pubkey *pk);

/* Tagged hash "BIP0352/Inputs" of outpoint_L (36) || ser_P(A) (33), from a
 * cached SHA256 midstate. */
void oracle_input_hash(const uint8_t outpoint[36], const uint8_t a33[33],
		       uint8_t out[32]);

/* The BIP341 NUMS point H (x-only). */
extern const uint8_t oracle_nums_h[32];

/* The filters and spent index of b into p (has_filters set); on error
 * they stay empty.  prepare.c; also used by connect when b came
 * unprepared. */
struct oracle_prepared;
int oracle_block_filters(const struct btc_block *b,
			 struct oracle_prepared *p);

#endif

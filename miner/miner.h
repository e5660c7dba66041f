/* miner.h - the signet miner: a drop-in for Bitcoin Core's
 * contrib/signet/miner (genpsbt, solvepsbt, generate, calibrate).
 *
 * Entry point: miner_main() takes the reference's command line (global
 * options, then a subcommand).  The rest of this header is the building
 * blocks it uses, exposed for the unit tests, fuzz targets and benchmarks:
 * byte buffers and transactions (tx.c), blocks and merkle roots (block.c),
 * the BIP325 commitment and sighashes (signet.c), PSBTs (psbt.c), native
 * ECDSA signing (sign.c), the SHA-256d grinder (grind.c) and the timing rules
 * (timing.c).  Hashes are in internal byte order unless named *_hex.
 */
#ifndef SIGNETD_MINER_MINER_H
#define SIGNETD_MINER_MINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../bitcoin/hash.h"
#include "../common/buf.h"
#include "../common/err.h"

/* Exit statuses of the commands, as the reference miner's. */
#define MINER_EXIT_OK    0 /* success, or stopped by SIGTERM/SIGINT */
#define MINER_EXIT_FAIL  1 /* runtime failure */
#define MINER_EXIT_USAGE 2 /* bad options, key or challenge */

/* The easiest target a signet block may have (the genesis nbits; what
 * --min-nbits mines at). */
#define MINER_SIGNET_MIN_NBITS 0x1e0377aeu

/* `signetd miner ARGS` / `signet-miner ARGS`: argv[0] is the program name,
 * argv[1..] the reference miner's arguments.  Returns the exit status:
 * MINER_EXIT_OK, MINER_EXIT_FAIL or MINER_EXIT_USAGE. */
int miner_main(int argc, char **argv);

/* ---- serializing into a struct sd_buf (common/buf.h; tx.c) ---- */
void miner_buf_u8(struct sd_buf *b, uint8_t v);
void miner_buf_u32(struct sd_buf *b, uint32_t v);
void miner_buf_u64(struct sd_buf *b, uint64_t v);
void miner_buf_compact(struct sd_buf *b, uint64_t v);
/* A canonical script push of n data bytes (no OP_n substitution). */
void miner_buf_push(struct sd_buf *b, const uint8_t *data, size_t n);

/* Reading outside bytes: every get fails with SD_EPARSE past the end. */
struct miner_rd {
	const uint8_t *p;
	size_t len, pos;
};
int miner_rd_bytes(struct miner_rd *r, size_t n, const uint8_t **out) SD_WARN_UNUSED;
int miner_rd_u32(struct miner_rd *r, uint32_t *v) SD_WARN_UNUSED;
int miner_rd_u64(struct miner_rd *r, uint64_t *v) SD_WARN_UNUSED;
int miner_rd_compact(struct miner_rd *r, uint64_t *v) SD_WARN_UNUSED;

/* ---- transactions (tx.c) ---- */
struct miner_txin {
	uint8_t prev[32];
	uint32_t vout;
	struct sd_buf script_sig;
	uint32_t sequence;
	size_t n_wit;
	struct sd_buf *wit;
};
struct miner_txout {
	int64_t value;
	struct sd_buf spk;
};
struct miner_tx {
	int32_t version;
	uint32_t locktime;
	size_t n_in, n_out;
	struct miner_txin *in;
	struct miner_txout *out;
};
struct miner_txin *miner_tx_add_in(struct miner_tx *tx);
struct miner_txout *miner_tx_add_out(struct miner_tx *tx, int64_t value,
				     const uint8_t *spk, size_t spk_len);
void miner_txin_add_wit(struct miner_txin *in, const uint8_t *d, size_t n);
bool miner_tx_has_witness(const struct miner_tx *tx);
void miner_tx_serialize(const struct miner_tx *tx, bool with_witness,
			struct sd_buf *out);
/* Parse one transaction at r (segwit or not); max 100000 ins/outs/items. */
int miner_tx_parse(struct miner_rd *r, struct miner_tx *tx) SD_WARN_UNUSED;
void miner_tx_txid(const struct miner_tx *tx, uint8_t txid[32]);
void miner_tx_wtxid(const struct miner_tx *tx, uint8_t wtxid[32]);
void miner_tx_clear(struct miner_tx *tx);

void miner_sha256(uint8_t out[32], const uint8_t *data, size_t len);
/* hashes is modified; n >= 1. */
void miner_merkle_root(uint8_t (*hashes)[32], size_t n, uint8_t out[32]);

/* ---- blocks (block.c) ---- */
struct miner_block {
	int32_t version;
	uint8_t prev[32];
	uint8_t merkle[32];
	uint32_t time, bits, nonce;
	size_t n_tx;
	struct miner_tx *tx; /* tx[0] = coinbase */
};
void miner_block_header(const struct miner_block *b, uint8_t out[80]);
void miner_block_serialize(const struct miner_block *b, struct sd_buf *out);
int miner_block_parse(const uint8_t *p, size_t len,
		      struct miner_block *b) SD_WARN_UNUSED;
/* Recompute b->merkle from the txids. */
void miner_block_update_merkle(struct miner_block *b);
/* BIP141 witness commitment over the block's wtxids (coinbase = zero). */
void miner_block_witness_commitment(const struct miner_block *b,
				    uint8_t out[32]);
void miner_block_clear(struct miner_block *b);
void miner_block_hash(const struct miner_block *b, uint8_t out[32]);

/* What a coinbase pays: one or two reward outputs, then the commitment. */
struct miner_coinbase_spec {
	int32_t height;
	int64_t value;
	const uint8_t *spk;
	size_t spk_len;
	const uint8_t *relay_spk; /* NULL: no split */
	size_t relay_spk_len;
	double relay_ratio; /* share of value paid to relay_spk */
	const uint8_t *tag;  /* pool tag pushed after the height, or NULL */
	size_t tag_len;
};
/* Build the coinbase (29.x layout, spec 4.2) with its witness commitment
 * over the other transactions already in b->tx[1..], put it in b->tx[0]
 * (b->tx must have room) and set b->merkle. */
void miner_block_set_coinbase(struct miner_block *b,
			      const struct miner_coinbase_spec *cs);

/* ---- BIP325 (signet.c) ---- */
#define MINER_SIGNET_HEADER "\xec\xc7\xda\xa2"

struct miner_signet_txs {
	struct miner_tx to_spend, to_sign;
	uint8_t block_data[72];
	uint8_t signet_merkle[32];
};
/* The virtual transactions of b (whose commitment output holds no signet
 * push yet, or one: it is cut out as the node does).  Returns SD_OK or
 * SD_EPARSE (no witness commitment output). */
int miner_signet_txs(const struct miner_block *b, const uint8_t *challenge,
		     size_t challenge_len,
		     struct miner_signet_txs *out) SD_WARN_UNUSED;
void miner_signet_txs_clear(struct miner_signet_txs *t);

/* Index of the witness commitment output of the coinbase, -1 if none. */
int miner_commitment_index(const struct miner_tx *coinbase);
/* Node-side parse of a commitment script: find the first push > 4 bytes
 * starting with the signet header, return the solution (after the header)
 * and the script re-serialised without it (canonical pushes).  *found is
 * false if there is none.  Returns SD_OK or SD_EPARSE (bad script). */
int miner_signet_split(const uint8_t *script, size_t len, bool *found,
		       struct sd_buf *solution,
		       struct sd_buf *stripped) SD_WARN_UNUSED;
/* Solution = CompactSize+scriptSig ‖ witness stack.  Parse it back; every
 * byte must be consumed.  Returns SD_OK or SD_EPARSE. */
int miner_solution_parse(const uint8_t *sol, size_t len,
			 struct miner_txin *into) SD_WARN_UNUSED;
void miner_solution_from_txin(const struct miner_txin *in,
			      struct sd_buf *out);
/* Append a push of header ‖ solution to the commitment output and update
 * the merkle root. */
int miner_block_add_solution(struct miner_block *b, const uint8_t *sol,
			     size_t len) SD_WARN_UNUSED;

/* Sighashes of to_sign input 0 (SIGHASH_ALL). */
void miner_sighash_legacy(const struct miner_tx *tx, const uint8_t *script,
			  size_t len, uint8_t out[32]);
void miner_sighash_bip143(const struct miner_tx *tx, const uint8_t *script_code,
			  size_t len, int64_t amount, uint8_t out[32]);

/* ---- PSBT (psbt.c) ---- */
/* Unsigned PSBT of spec 4.5 for block b (no signet push yet). */
int miner_psbt_build(const struct miner_block *b, const uint8_t *challenge,
		     size_t challenge_len, struct sd_buf *out) SD_WARN_UNUSED;
/* Signed PSBT -> block (from the proprietary field) and the solution
 * (FINAL_SCRIPTSIG/FINAL_SCRIPTWITNESS).  Returns SD_OK or SD_EPARSE. */
int miner_psbt_extract(const uint8_t *psbt, size_t len, struct miner_block *b,
		       struct sd_buf *solution) SD_WARN_UNUSED;
/* Base64 helpers (OpenSSL).  Decode returns SD_EPARSE on bad input. */
char *miner_base64_encode(const uint8_t *p, size_t n);
int miner_base64_decode(const char *s, uint8_t **out, size_t *n) SD_WARN_UNUSED;

/* ---- native signing (sign.c) ---- */
enum miner_challenge_kind {
	MINER_CHALLENGE_OTHER = 0,
	MINER_CHALLENGE_MULTISIG_1OF1, /* 51 21 <pk> 51 ae */
	MINER_CHALLENGE_P2WPKH,        /* 00 14 <h160> */
	MINER_CHALLENGE_P2PK,          /* 21 <pk> ac */
	MINER_CHALLENGE_P2TR,          /* 51 20 <xonly>: not signed natively */
};
enum miner_challenge_kind miner_challenge_kind(const uint8_t *c, size_t len);
/* Name of a kind for messages ("1-of-1 multisig", "p2wpkh"...). */
const char *miner_challenge_kind_name(enum miner_challenge_kind kind);
struct miner_key; /* a private key held in locked-ish memory, wiped on free */
/* Load from a file holding hex (64 chars) or WIF.  Returns SD_OK,
 * SD_ENOTFOUND / SD_EIO (file), SD_EPARSE (content). */
int miner_key_load_file(const char *path, struct miner_key **out) SD_WARN_UNUSED;
int miner_key_from_text(const char *text, struct miner_key **out) SD_WARN_UNUSED;
int miner_key_generate(struct miner_key **out) SD_WARN_UNUSED;
void miner_key_pubkey(const struct miner_key *k, uint8_t pub[33]);
/* 64 hex chars of the secret, for writing a new key file only. */
void miner_key_hex(const struct miner_key *k, char out[65]);
void miner_key_free(struct miner_key *k);
/* Can k solve the challenge natively, before any block is built?
 * SD_OK: yes.  SD_EINVAL: the challenge is of a kind the native signer
 * solves (1-of-1 multisig, p2pk, p2wpkh) but for another key.  SD_ESTATE:
 * a kind the native signer does not solve (p2tr, k-of-n, scripts).  err
 * says which, with the key's pubkey and what the challenge wants; it never
 * holds the secret. */
int miner_key_check_challenge(const struct miner_key *k, const uint8_t *c,
			      size_t len, char err[SD_ERRLEN]) SD_WARN_UNUSED;
/* Sign the challenge: fills the solution for the block's to_sign.
 * Returns SD_OK, SD_EINVAL (challenge kind not supported or the key does
 * not match it). */
int miner_sign_solution(const struct miner_key *k, const uint8_t *challenge,
			size_t challenge_len, const struct miner_signet_txs *t,
			struct sd_buf *solution) SD_WARN_UNUSED;

/* ---- grinding (grind.c) ---- */
/* 256-bit target of a compact nBits (little-endian bytes). */
void miner_bits_to_target(uint32_t bits, uint8_t target[32]);
/* True if hash (internal order) <= target. */
bool miner_hash_meets(const uint8_t hash[32], const uint8_t target[32]);
struct miner_grind_result {
	uint32_t nonce;
	uint64_t hashes;
	double seconds;
};
/* Search nonces of header (80 bytes, nBits inside) with nthreads threads
 * (0 = one per core).  On SD_OK header's nonce is set.  SD_ENOTFOUND if the
 * whole 32-bit space fails; SD_ESTATE if *abort became true. */
int miner_grind(uint8_t header[80], unsigned nthreads,
		const volatile bool *abort_flag,
		struct miner_grind_result *res) SD_WARN_UNUSED;
/* Hash count per second of one thread for a short run (benchmark). */
uint64_t miner_grind_range(const uint8_t header[80], uint32_t first,
			   uint32_t count, bool *found, uint32_t *nonce);

/* ---- timing (timing.c) ---- */
double miner_target_double(uint32_t bits);
/* Compact nBits of a target (rounded to the easier side, as the
 * reference's compact conversion). */
uint32_t miner_target_to_compact(double target);
struct miner_timing {
	double interval;     /* 600*2016/2015 by default */
	uint32_t nbits;      /* desired difficulty */
	double max_interval; /* 1800 */
	bool poisson;
	int mm_low, mm_high, mm_total; /* multiminer slots */
	long backup_delay, standby_delay;
	bool has_set_time;
	int64_t set_time;
};
/* Spec 5: interval to the next block after a tip (display-hex hash). */
double miner_next_block_delta(const struct miner_timing *t, uint32_t last_bits,
			      const char *last_hash_hex);
bool miner_next_block_is_mine(const struct miner_timing *t,
			      const char *last_hash_hex);
/* Planned block time and action time for the next block. */
void miner_next_block_time(const struct miner_timing *t, int64_t now,
			   int32_t tip_height, int64_t tip_time,
			   uint32_t tip_bits, const char *tip_hash_hex,
			   bool first, int64_t *block_time,
			   int64_t *action_time, bool *is_mine);
/* "16h30m31s" / "-3m52s" / "0s" */
void miner_fmt_hms(char *out, size_t n, double seconds);

#endif

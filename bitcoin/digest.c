/* digest.c - btc_block_digest(): one SHA-256 over a canonical serialization
 * of a parsed block, used to check that the REST and RPC sources yield the
 * same struct. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "block.h"
#include "../common/util.h"

static void put_u64(SHA256_CTX *c, uint64_t v)
{
	uint8_t b[8];

	sd_le64_put(b, v);
	SHA256_Update(c, b, 8);
}

static void put_bytes(SHA256_CTX *c, const uint8_t *p, size_t n)
{
	put_u64(c, n);
	if (n)
		SHA256_Update(c, p, n);
}

static void put_in(SHA256_CTX *c, const struct btc_txin *in)
{
	SHA256_Update(c, in->prev_txid, 32);
	put_u64(c, in->prev_vout);
	put_bytes(c, in->script_sig.data, in->script_sig.len);
	put_u64(c, in->sequence);
	put_u64(c, in->n_witness);
	for (size_t k = 0; k < in->n_witness; k++)
		put_bytes(c, in->witness[k].data, in->witness[k].len);
	put_u64(c, in->has_prevout);
	put_u64(c, (uint64_t)in->prevout_value);
	put_bytes(c, in->prevout_spk.data, in->prevout_spk.len);
}

void btc_block_digest(const struct btc_block *b, uint8_t out[32])
{
	SHA256_CTX c;

	SHA256_Init(&c);
	SHA256_Update(&c, b->hash, 32);
	put_u64(&c, (uint64_t)(int64_t)b->height);
	put_u64(&c, (uint64_t)(int64_t)b->hdr.version);
	SHA256_Update(&c, b->hdr.prev_hash, 32);
	SHA256_Update(&c, b->hdr.merkle_root, 32);
	put_u64(&c, b->hdr.time);
	put_u64(&c, b->hdr.bits);
	put_u64(&c, b->hdr.nonce);
	put_u64(&c, b->size_bytes);
	put_u64(&c, b->n_tx);
	for (size_t i = 0; i < b->n_tx; i++) {
		const struct btc_tx *tx = &b->tx[i];

		SHA256_Update(&c, tx->txid, 32);
		put_u64(&c, (uint64_t)(int64_t)tx->version);
		put_u64(&c, tx->locktime);
		put_bytes(&c, tx->raw.data, tx->raw.len);
		put_u64(&c, tx->n_in);
		for (size_t j = 0; j < tx->n_in; j++)
			put_in(&c, &tx->in[j]);
		put_u64(&c, tx->n_out);
		for (size_t j = 0; j < tx->n_out; j++) {
			put_u64(&c, (uint64_t)tx->out[j].value);
			put_bytes(&c, tx->out[j].spk.data, tx->out[j].spk.len);
		}
	}
	SHA256_Final(out, &c);
}

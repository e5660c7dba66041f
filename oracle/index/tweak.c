/* tweak.c - the BIP352 tweak of one transaction (input_hash * A) and its
 * dust value, plus the v1 spent-index entry.  Spec:
 * shared/spec/bip352-index.md sections 2 and 4 to 7.  Curve work is done
 * by libsecp256k1 (static context: everything here is public data).
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"
#include "compute_int.h"
#include "oracle.h"

/* Keys on the stack up to this many inputs; beyond it, the heap. */
#define STACK_KEYS 64

static SHA256_CTX inputs_mid;   /* SHA256 state after t || t */
static pthread_once_t inputs_mid_once = PTHREAD_ONCE_INIT;

static void inputs_mid_init(void)
{
	static const char tag[] = "BIP0352/Inputs";
	uint8_t t[SHA256_DIGEST_LENGTH];

	SHA256_Init(&inputs_mid);
	SHA256_Update(&inputs_mid, tag, sizeof(tag) - 1);
	SHA256_Final(t, &inputs_mid);
	SHA256_Init(&inputs_mid);
	SHA256_Update(&inputs_mid, t, sizeof(t));
	SHA256_Update(&inputs_mid, t, sizeof(t));
}

void oracle_input_hash(const uint8_t outpoint[36], const uint8_t a33[33],
		       uint8_t out[32])
{
	SHA256_CTX c;

	pthread_once(&inputs_mid_once, inputs_mid_init);
	c = inputs_mid;
	SHA256_Update(&c, outpoint, 36);
	SHA256_Update(&c, a33, 33);
	SHA256_Final(out, &c);
}

void oracle_spent_entry(const uint8_t prev_txid[32], uint32_t vout,
			const uint8_t block_hash[32], uint8_t out[8])
{
	uint8_t buf[68], h[SHA256_DIGEST_LENGTH];
	SHA256_CTX c;

	memcpy(buf, prev_txid, 32);
	sd_le32_put(buf + 32, vout);
	memcpy(buf + 36, block_hash, 32);
	SHA256_Init(&c);
	SHA256_Update(&c, buf, sizeof(buf));
	SHA256_Final(h, &c);
	memcpy(out, h, 8);
}

static bool is_coinbase(const struct btc_tx *tx)
{
	static const uint8_t zero[32];

	return tx->n_in == 1 && tx->in[0].prev_vout == 0xffffffffu &&
	       memcmp(tx->in[0].prev_txid, zero, 32) == 0;
}

/* outpoint_L: smallest 36-byte outpoint (txid || vout LE) over all inputs. */
static void smallest_outpoint(const struct btc_tx *tx, uint8_t best[36])
{
	uint8_t cur[36];
	size_t i;

	memcpy(best, tx->in[0].prev_txid, 32);
	sd_le32_put(best + 32, tx->in[0].prev_vout);
	for (i = 1; i < tx->n_in; i++) {
		memcpy(cur, tx->in[i].prev_txid, 32);
		sd_le32_put(cur + 32, tx->in[i].prev_vout);
		if (memcmp(cur, best, 36) < 0)
			memcpy(best, cur, 36);
	}
}

/* A = sum of all keys in one combine; input_hash; tweak = input_hash * A.
 * false when A is infinity or input_hash is 0 or >= n. */
static bool tweak_from_keys(const struct btc_tx *tx,
			    const secp256k1_pubkey *const *keys, size_t n,
			    uint8_t tweak[33])
{
	const secp256k1_context *ctx = secp256k1_context_static;
	secp256k1_pubkey a;
	uint8_t a33[33], outpoint[36], hash[32];
	size_t len = 33;

	/* one key: A is that key (combine would only convert it to
	 * Jacobian and back, one field inversion) */
	if (n == 1)
		a = *keys[0];
	else if (secp256k1_ec_pubkey_combine(ctx, &a, keys, n) != 1)
		return false; /* infinity */
	secp256k1_ec_pubkey_serialize(ctx, a33, &len, &a,
				      SECP256K1_EC_COMPRESSED);
	smallest_outpoint(tx, outpoint);
	oracle_input_hash(outpoint, a33, hash);
	if (secp256k1_ec_pubkey_tweak_mul(ctx, &a, hash) != 1)
		return false; /* input_hash 0 or >= n */
	len = 33;
	secp256k1_ec_pubkey_serialize(ctx, tweak, &len, &a,
				      SECP256K1_EC_COMPRESSED);
	return true;
}

static bool compute_tweak(const struct btc_tx *tx, uint8_t tweak[33])
{
	secp256k1_pubkey stack_keys[STACK_KEYS];
	const secp256k1_pubkey *stack_ptrs[STACK_KEYS];
	secp256k1_pubkey *keys = stack_keys;
	const secp256k1_pubkey **ptrs = stack_ptrs;
	size_t i, n = 0;
	bool ok = false;
	int ver;

	for (i = 0; i < tx->n_in; i++)
		if (oracle_spk_witness_version(&tx->in[i].prevout_spk, &ver) &&
		    ver >= 2)
			return false; /* spends segwit v2+: skip the tx */
	if (tx->n_in > STACK_KEYS) {
		keys = sd_xmalloc(tx->n_in * sizeof(*keys));
		ptrs = sd_xmalloc(tx->n_in * sizeof(*ptrs));
	}
	for (i = 0; i < tx->n_in; i++) {
		if (oracle_input_key(&tx->in[i], &keys[n])) {
			ptrs[n] = &keys[n];
			n++;
		}
	}
	if (n > 0)
		ok = tweak_from_keys(tx, ptrs, n, tweak);
	if (keys != stack_keys) {
		free(keys);
		free(ptrs);
	}
	return ok;
}

int oracle_tx_compute(const struct btc_tx *tx, struct oracle_tx_info *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < tx->n_out; i++) {
		const struct btc_txout *o = &tx->out[i];

		if (!oracle_spk_is_p2tr(&o->spk))
			continue;
		out->has_taproot_output = true;
		if (o->value > 0 && (uint64_t)o->value > out->highest_value)
			out->highest_value = (uint64_t)o->value;
	}
	if (tx->n_in == 0 || is_coinbase(tx))
		return SD_OK;
	for (i = 0; i < tx->n_in; i++)
		if (!tx->in[i].has_prevout)
			return SD_EINVAL;
	if (!out->has_taproot_output)
		return SD_OK;
	out->has_tweak = compute_tweak(tx, out->tweak);
	return SD_OK;
}

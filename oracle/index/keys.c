/* keys.c - which inputs carry a BIP352 public key, and which one
 * (BIP352 v1.1.1 "Inputs For Shared Secret Derivation"; spec section 3):
 * P2TR key path and script path (NUMS H internal key excluded, annex
 * stripped), P2WPKH, P2SH-P2WPKH, P2PKH (key found anywhere in the
 * scriptSig).  Only compressed keys that parse on the curve count.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/ripemd.h>
#include <openssl/sha.h>
#include <secp256k1.h>
#include <string.h>

#include "compute_int.h"
#include "oracle.h"

const uint8_t oracle_nums_h[32] = {
	0x50, 0x92, 0x9b, 0x74, 0xc1, 0xa0, 0x49, 0x54, 0xb7, 0x8b, 0x4b,
	0x60, 0x35, 0xe9, 0x7a, 0x5e, 0x07, 0x8a, 0x5a, 0x0f, 0x28, 0xec,
	0x96, 0xd5, 0x47, 0xbf, 0xee, 0x9a, 0xce, 0x80, 0x3a, 0xc0,
};

bool oracle_spk_is_p2tr(const struct btc_bytes *spk)
{
	return spk->len == 34 && spk->data[0] == 0x51 && spk->data[1] == 0x20;
}

enum oracle_spk_kind oracle_spk_classify(const struct btc_bytes *spk)
{
	const uint8_t *s = spk->data;

	switch (spk->len) {
	case 34:
		if (s[0] == 0x51 && s[1] == 0x20)
			return ORACLE_SPK_P2TR;
		break;
	case 22:
		if (s[0] == 0x00 && s[1] == 0x14)
			return ORACLE_SPK_P2WPKH;
		break;
	case 23:
		if (s[0] == 0xa9 && s[1] == 0x14 && s[22] == 0x87)
			return ORACLE_SPK_P2SH;
		break;
	case 25:
		if (s[0] == 0x76 && s[1] == 0xa9 && s[2] == 0x14 &&
		    s[23] == 0x88 && s[24] == 0xac)
			return ORACLE_SPK_P2PKH;
		break;
	default:
		break;
	}
	return ORACLE_SPK_OTHER;
}

bool oracle_spk_witness_version(const struct btc_bytes *spk, int *version)
{
	const uint8_t *s = spk->data;

	if (spk->len < 4 || spk->len > 42)
		return false;
	if (s[0] != 0x00 && (s[0] < 0x51 || s[0] > 0x60))
		return false;
	if ((size_t)s[1] + 2 != spk->len)
		return false; /* 2..40: follows from the length bounds */
	*version = s[0] == 0x00 ? 0 : s[0] - 0x50;
	return true;
}

/* A 33-byte compressed key (0x02/0x03) that is a point on the curve.
 * The length is checked first: parse also takes 65-byte keys. */
static bool compressed_key(const uint8_t *k, size_t len,
			   secp256k1_pubkey *pk)
{
	if (len != 33 || (k[0] != 0x02 && k[0] != 0x03))
		return false;
	return secp256k1_ec_pubkey_parse(secp256k1_context_static, pk, k,
					 33) == 1;
}

static bool p2tr_key(const struct btc_txin *in, secp256k1_pubkey *pk)
{
	uint8_t key33[33];
	size_t n = in->n_witness;
	const struct btc_bytes *w = in->witness;

	if (n >= 2 && w[n - 1].len > 0 && w[n - 1].data[0] == 0x50)
		n--; /* annex */
	if (n == 0)
		return false;
	if (n >= 2) {
		const struct btc_bytes *cb = &w[n - 1]; /* control block */

		if (cb->len >= 33 &&
		    memcmp(cb->data + 1, oracle_nums_h, 32) == 0)
			return false;
	}
	key33[0] = 0x02; /* x-only output key, lifted to even y */
	memcpy(key33 + 1, in->prevout_spk.data + 2, 32);
	return compressed_key(key33, 33, pk);
}

static bool last_witness_key(const struct btc_txin *in,
			     secp256k1_pubkey *pk)
{
	const struct btc_bytes *w;

	if (in->n_witness == 0)
		return false;
	w = &in->witness[in->n_witness - 1];
	return compressed_key(w->data, w->len, pk);
}

static bool p2sh_p2wpkh_key(const struct btc_txin *in,
			    secp256k1_pubkey *pk)
{
	const uint8_t *ss = in->script_sig.data;

	if (in->script_sig.len != 23 || ss[0] != 0x16 || ss[1] != 0x00 ||
	    ss[2] != 0x14)
		return false;
	return last_witness_key(in, pk);
}

/* Slide a 33-byte window from the end of the raw scriptSig: the first one
 * whose HASH160 is the prevout's hash and that parses is the key. */
static bool p2pkh_key(const struct btc_txin *in, secp256k1_pubkey *pk)
{
	const uint8_t *ss = in->script_sig.data;
	const uint8_t *want = in->prevout_spk.data + 3;
	uint8_t h[20];
	size_t i;

	if (in->script_sig.len < 33)
		return false;
	for (i = in->script_sig.len - 33 + 1; i-- > 0;) {
		if (ss[i] != 0x02 && ss[i] != 0x03)
			continue;
		btc_hash160(ss + i, 33, h);
		if (memcmp(h, want, 20) == 0 && compressed_key(ss + i, 33, pk))
			return true;
	}
	return false;
}

bool oracle_input_key(const struct btc_txin *in, secp256k1_pubkey *pk)
{
	if (!in->has_prevout)
		return false;
	switch (oracle_spk_classify(&in->prevout_spk)) {
	case ORACLE_SPK_P2TR:
		return p2tr_key(in, pk);
	case ORACLE_SPK_P2WPKH:
		return last_witness_key(in, pk);
	case ORACLE_SPK_P2SH:
		return p2sh_p2wpkh_key(in, pk);
	case ORACLE_SPK_P2PKH:
		return p2pkh_key(in, pk);
	default:
		return false;
	}
}

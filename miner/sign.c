/* sign.c - native signing of the signet challenge, so a miner needs no
 * wallet in bitcoind: 1-of-1 bare multisig and P2PK (legacy sighash) and
 * P2WPKH (BIP143) challenges, ECDSA with libsecp256k1 (RFC6979, low-S, and
 * low-R ground like Core's wallet so both produce the same signature).  The
 * key is checked against the chain's challenge before mining.  It comes from
 * a file or the environment, never argv; it is wiped on free and never
 * logged. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <secp256k1.h>

#include "../common/log.h"
#include "../common/util.h"
#include "miner.h"

struct miner_key {
	uint8_t sk[32];
	uint8_t pub[33];
};

static secp256k1_context *ctx(void)
{
	static secp256k1_context *c;
	if (!c) {
		uint8_t seed[32];
		c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
		if (RAND_bytes(seed, 32) == 1 &&
		    !secp256k1_context_randomize(c, seed))
			abort();
		explicit_bzero(seed, sizeof(seed));
	}
	return c;
}

enum miner_challenge_kind miner_challenge_kind(const uint8_t *c, size_t len)
{
	if (len == 37 && c[0] == 0x51 && c[1] == 0x21 && c[35] == 0x51 &&
	    c[36] == 0xae)
		return MINER_CHALLENGE_MULTISIG_1OF1;
	if (len == 22 && c[0] == 0x00 && c[1] == 0x14)
		return MINER_CHALLENGE_P2WPKH;
	if (len == 35 && c[0] == 0x21 && (c[1] == 0x02 || c[1] == 0x03) &&
	    c[34] == 0xac)
		return MINER_CHALLENGE_P2PK;
	if (len == 34 && c[0] == 0x51 && c[1] == 0x20)
		return MINER_CHALLENGE_P2TR;
	return MINER_CHALLENGE_OTHER;
}

const char *miner_challenge_kind_name(enum miner_challenge_kind kind)
{
	switch (kind) {
	case MINER_CHALLENGE_MULTISIG_1OF1: return "1-of-1 multisig";
	case MINER_CHALLENGE_P2WPKH: return "p2wpkh";
	case MINER_CHALLENGE_P2PK: return "p2pk";
	case MINER_CHALLENGE_P2TR: return "p2tr";
	default: return "script";
	}
}

/* Does the script hold d (n bytes) anywhere?  A hint for messages. */
static bool script_has(const uint8_t *c, size_t len, const uint8_t *d,
		       size_t n)
{
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(c + i, d, n) == 0)
			return true;
	return false;
}

int miner_key_check_challenge(const struct miner_key *k, const uint8_t *c,
			      size_t len, char err[SD_ERRLEN])
{
	enum miner_challenge_kind kind = miner_challenge_kind(c, len);
	char pub[67], want[67];
	uint8_t h160[20];

	sd_hex_encode(pub, k->pub, 33);
	btc_hash160(k->pub, 33, h160);
	switch (kind) {
	case MINER_CHALLENGE_MULTISIG_1OF1:
	case MINER_CHALLENGE_P2PK: {
		const uint8_t *pk = c + (kind == MINER_CHALLENGE_P2PK ? 1 : 2);
		if (memcmp(pk, k->pub, 33) == 0)
			return SD_OK;
		sd_hex_encode(want, pk, 33);
		snprintf(err, SD_ERRLEN, "the signing key (pubkey %s) cannot "
			 "sign this chain's %s challenge: it needs the key of "
			 "pubkey %s", pub, miner_challenge_kind_name(kind),
			 want);
		return SD_EINVAL;
	}
	case MINER_CHALLENGE_P2WPKH:
		if (memcmp(c + 2, h160, 20) == 0)
			return SD_OK;
		sd_hex_encode(want, c + 2, 20);
		snprintf(err, SD_ERRLEN, "the signing key (pubkey %s) cannot "
			 "sign this chain's p2wpkh challenge: it needs the key "
			 "whose hash160 is %s", pub, want);
		return SD_EINVAL;
	default:
		snprintf(err, SD_ERRLEN, "the native signer solves 1-of-1 "
			 "multisig, p2pk and p2wpkh challenges, not this %s "
			 "one%s: sign with the node's wallet instead (no "
			 "--key-file/SIGNET_MINER_KEY)",
			 miner_challenge_kind_name(kind),
			 script_has(c, len, k->pub + 1, 32) ||
					 script_has(c, len, h160, 20)
				 ? " (the key appears in it)"
				 : " (the key does not appear in it)");
		return SD_ESTATE;
	}
}

static int key_from_secret(const uint8_t sk[32], struct miner_key **out)
{
	struct miner_key *k;
	secp256k1_pubkey pk;
	size_t n = 33;

	if (!secp256k1_ec_seckey_verify(ctx(), sk))
		return SD_EPARSE;
	k = sd_xcalloc(1, sizeof(*k));
	(void)mlock(k, sizeof(*k)); /* best effort: keep it out of swap */
	memcpy(k->sk, sk, 32);
	if (!secp256k1_ec_pubkey_create(ctx(), &pk, k->sk)) {
		miner_key_free(k);
		return SD_EPARSE;
	}
	secp256k1_ec_pubkey_serialize(ctx(), k->pub, &n, &pk,
				      SECP256K1_EC_COMPRESSED);
	*out = k;
	return SD_OK;
}

static const char b58[] =
	"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/* Base58check decode into out (max n bytes); returns length or -1. */
static int b58check_decode(const char *s, uint8_t *out, size_t n)
{
	uint8_t buf[64] = {0};
	size_t len = strlen(s), zeros = 0, size = sizeof(buf);
	uint8_t chk[32];
	int rc = -1;

	while (zeros < len && s[zeros] == '1')
		zeros++;
	for (size_t i = 0; i < len; i++) {
		const char *c = strchr(b58, s[i]);
		unsigned carry;
		if (!c || !s[i])
			goto out;
		carry = (unsigned)(c - b58);
		for (size_t j = size; j-- > 0;) {
			carry += 58u * buf[j];
			buf[j] = (uint8_t)carry;
			carry >>= 8;
		}
		if (carry)
			goto out;
	}
	{
		size_t first = 0;
		while (first < size && buf[first] == 0)
			first++;
		size_t total = zeros + (size - first);
		if (total < 5 || total > n)
			goto out;
		memset(out, 0, zeros);
		memcpy(out + zeros, buf + first, size - first);
		btc_sha256d(chk, out, total - 4);
		if (memcmp(chk, out + total - 4, 4) != 0)
			goto out;
		rc = (int)(total - 4);
	}
out:
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

int miner_key_from_text(const char *text, struct miner_key **out)
{
	uint8_t sk[40];
	char t[128];
	size_t len = 0;
	int rc = SD_EPARSE, n;

	/* trim whitespace */
	while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
		text++;
	while (text[len] && text[len] != ' ' && text[len] != '\n' &&
	       text[len] != '\r' && text[len] != '\t' && len < sizeof(t) - 1) {
		t[len] = text[len];
		len++;
	}
	t[len] = 0;
	if (len == 64) {
		if (sd_hex_decode(sk, 32, t, 64) == SD_OK)
			rc = key_from_secret(sk, out);
	} else {
		n = b58check_decode(t, sk, sizeof(sk));
		/* version byte, 32-byte secret, optional 0x01 compressed */
		if ((n == 33 || (n == 34 && sk[33] == 0x01)) &&
		    (sk[0] == 0xef || sk[0] == 0x80))
			rc = key_from_secret(sk + 1, out);
	}
	explicit_bzero(sk, sizeof(sk));
	explicit_bzero(t, sizeof(t));
	return rc;
}

/* Key material others may read is refused (as ssh does); group-readable
 * is only warned about (a deliberate shared group).  Never logs the key. */
static int key_file_mode_ok(FILE *f, const char *path)
{
	struct stat st;
	char q[200];

	if (fstat(fileno(f), &st) != 0)
		return SD_EIO;
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		sd_log_error("miner", "key_file_permissions", "path=%s mode=%04o "
			     "err=\"world-readable or writable key file: chmod "
			     "600 it\"", sd_log_q(q, sizeof(q), path),
			     (unsigned)(st.st_mode & 07777));
		return SD_EAUTH;
	}
	if (st.st_mode & (S_IRGRP | S_IWGRP))
		sd_log_warn("miner", "key_file_permissions", "path=%s mode=%04o "
			    "note=\"group can read the key\"",
			    sd_log_q(q, sizeof(q), path),
			    (unsigned)(st.st_mode & 07777));
	return SD_OK;
}

int miner_key_load_file(const char *path, struct miner_key **out)
{
	char buf[256];
	size_t n;
	int rc;
	FILE *f = fopen(path, "r");

	if (!f)
		return errno == ENOENT ? SD_ENOTFOUND : SD_EIO;
	rc = key_file_mode_ok(f, path);
	if (rc != SD_OK) {
		fclose(f);
		return rc;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	rc = miner_key_from_text(buf, out);
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

int miner_key_generate(struct miner_key **out)
{
	uint8_t sk[32];
	int rc = SD_EIO;

	for (int i = 0; i < 8 && rc != SD_OK; i++) {
		if (RAND_bytes(sk, 32) != 1)
			break;
		rc = key_from_secret(sk, out);
	}
	explicit_bzero(sk, sizeof(sk));
	return rc == SD_OK ? SD_OK : SD_EIO;
}

void miner_key_pubkey(const struct miner_key *k, uint8_t pub[33])
{
	memcpy(pub, k->pub, 33);
}

void miner_key_hex(const struct miner_key *k, char out[65])
{
	sd_hex_encode(out, k->sk, 32);
}

void miner_key_free(struct miner_key *k)
{
	if (!k)
		return;
	explicit_bzero(k, sizeof(*k));
	munlock(k, sizeof(*k));
	free(k);
}

/* DER signature + SIGHASH_ALL byte into sig (max 73); returns length. */
static size_t sign_hash(const struct miner_key *k, const uint8_t hash[32],
			uint8_t sig[73])
{
	secp256k1_ecdsa_signature s;
	uint8_t extra[32] = {0}, compact[64];
	size_t n = 72;
	uint32_t counter = 0;

	if (!secp256k1_ecdsa_sign(ctx(), &s, hash, k->sk,
				  secp256k1_nonce_function_rfc6979, NULL))
		abort();
	/* Grind for a low R (DER 70 bytes) as Core's wallet does. */
	for (;;) {
		secp256k1_ecdsa_signature_serialize_compact(ctx(), compact, &s);
		if (compact[0] < 0x80)
			break;
		sd_le32_put(extra, ++counter);
		if (!secp256k1_ecdsa_sign(ctx(), &s, hash, k->sk,
					  secp256k1_nonce_function_rfc6979,
					  extra))
			abort();
	}
	secp256k1_ecdsa_signature_serialize_der(ctx(), sig, &n, &s);
	sig[n++] = 0x01;
	return n;
}

int miner_sign_solution(const struct miner_key *k, const uint8_t *c,
			size_t clen, const struct miner_signet_txs *t,
			struct sd_buf *solution)
{
	uint8_t hash[32], sig[73], h160[20], code[25];
	struct miner_txin in = {0};
	size_t n;

	switch (miner_challenge_kind(c, clen)) {
	case MINER_CHALLENGE_MULTISIG_1OF1:
		if (memcmp(c + 2, k->pub, 33) != 0)
			return SD_EINVAL;
		miner_sighash_legacy(&t->to_sign, c, clen, hash);
		n = sign_hash(k, hash, sig);
		miner_buf_u8(&in.script_sig, 0x00); /* CHECKMULTISIG dummy */
		miner_buf_push(&in.script_sig, sig, n);
		break;
	case MINER_CHALLENGE_P2PK:
		if (memcmp(c + 1, k->pub, 33) != 0)
			return SD_EINVAL;
		miner_sighash_legacy(&t->to_sign, c, clen, hash);
		n = sign_hash(k, hash, sig);
		miner_buf_push(&in.script_sig, sig, n);
		break;
	case MINER_CHALLENGE_P2WPKH:
		btc_hash160(k->pub, 33, h160);
		if (memcmp(c + 2, h160, 20) != 0)
			return SD_EINVAL;
		code[0] = 0x76;
		code[1] = 0xa9;
		code[2] = 0x14;
		memcpy(code + 3, h160, 20);
		code[23] = 0x88;
		code[24] = 0xac;
		miner_sighash_bip143(&t->to_sign, code, 25, 0, hash);
		n = sign_hash(k, hash, sig);
		miner_txin_add_wit(&in, sig, n);
		miner_txin_add_wit(&in, k->pub, 33);
		break;
	default:
		return SD_EINVAL;
	}
	miner_solution_from_txin(&in, solution);
	{
		struct miner_tx holder = {0};
		holder.in = sd_xmalloc(sizeof(in));
		holder.in[0] = in;
		holder.n_in = 1;
		miner_tx_clear(&holder);
	}
	return SD_OK;
}

/* sha256.c - hash.h: double SHA-256 for block hashes and txids, HASH160.
 * OpenSSL's low-level SHA256 uses SHA-NI / AVX2 when the CPU has them and
 * costs no EVP fetch per call, which matters at one call per transaction. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/ripemd.h>
#include <openssl/sha.h>

#include "hash.h"

void btc_sha256d_parts(uint8_t out[32], const uint8_t *a, size_t alen,
		       const uint8_t *b, size_t blen, const uint8_t *c,
		       size_t clen)
{
	SHA256_CTX ctx;
	uint8_t first[32];

	SHA256_Init(&ctx);
	SHA256_Update(&ctx, a, alen);
	if (blen)
		SHA256_Update(&ctx, b, blen);
	if (clen)
		SHA256_Update(&ctx, c, clen);
	SHA256_Final(first, &ctx);
	SHA256(first, sizeof(first), out);
}

void btc_sha256d(uint8_t out[32], const uint8_t *data, size_t len)
{
	uint8_t first[32];

	SHA256(data, len, first);
	SHA256(first, sizeof(first), out);
}

void btc_hash160(const uint8_t *data, size_t len, uint8_t out[20])
{
	uint8_t sha[SHA256_DIGEST_LENGTH];
	SHA256_CTX c;

	/* Low-level calls: the one-shot SHA256() has a large per-call cost
	 * in OpenSSL 3, and RIPEMD160() needs no legacy provider. */
	SHA256_Init(&c);
	SHA256_Update(&c, data, len);
	SHA256_Final(sha, &c);
	RIPEMD160(sha, sizeof(sha), out);
}

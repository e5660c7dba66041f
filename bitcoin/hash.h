/* hash.h - the chain's hashes: double SHA-256 (block hashes, txids, merkle
 * nodes, checksums) and HASH160 (key and script hashes).  OpenSSL's
 * low-level calls: SHA-NI / AVX2 when the CPU has them, no EVP fetch per
 * call.  Pure and thread-safe.
 */
#ifndef SIGNETD_BITCOIN_HASH_H
#define SIGNETD_BITCOIN_HASH_H

#include <stddef.h>
#include <stdint.h>

/* SHA256(SHA256(data)). */
void btc_sha256d(uint8_t out[32], const uint8_t *data, size_t len);

/* sha256d over up to three byte ranges (a txid without re-serializing);
 * an empty range is skipped. */
void btc_sha256d_parts(uint8_t out[32], const uint8_t *a, size_t alen,
		       const uint8_t *b, size_t blen, const uint8_t *c,
		       size_t clen);

/* HASH160 = RIPEMD160(SHA256(data)). */
void btc_hash160(const uint8_t *data, size_t len, uint8_t out[20]);

#endif

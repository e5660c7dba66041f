/* grind.c - the native proof-of-work search: SHA-256d of the 80-byte
 * header with the first 64 bytes hashed once (midstate), the rest through
 * OpenSSL's SHA256_Transform (which uses SHA-NI when the CPU has it), one
 * thread per core pulling 64 Ki-nonce chunks from a shared counter. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "../common/util.h"
#include "miner.h"

#define CHUNK 65536u

void miner_bits_to_target(uint32_t bits, uint8_t t[32])
{
	uint32_t exp = bits >> 24, mant = bits & 0x007fffff;

	memset(t, 0, 32);
	if (bits & 0x00800000) /* negative: no valid hash */
		return;
	for (int i = 0; i < 3; i++) {
		int pos = (int)exp - 3 + i;
		uint8_t byte = (uint8_t)(mant >> (8 * i));
		if (pos >= 32 && byte) { /* overflow: everything passes */
			memset(t, 0xff, 32);
			return;
		}
		if (pos >= 0 && pos < 32)
			t[pos] = byte;
	}
}

bool miner_hash_meets(const uint8_t h[32], const uint8_t t[32])
{
	for (int i = 31; i >= 0; i--) {
		if (h[i] != t[i])
			return h[i] < t[i];
	}
	return true;
}

static inline uint32_t bswap32(uint32_t v)
{
	return __builtin_bswap32(v);
}

uint64_t miner_grind_range(const uint8_t header[80], uint32_t first,
			   uint32_t count, bool *found, uint32_t *nonce)
{
	SHA256_CTX mid, c;
	uint8_t blk2[64] = {0}, blk3[64] = {0}, target[32], hash[32];
	uint32_t top, st[8];
	uint64_t done = 0;
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

	*found = false;
	miner_bits_to_target(sd_le32_get(header + 72), target);
	top = sd_le32_get(target + 28);
	SHA256_Init(&mid);
	SHA256_Transform(&mid, header);
	memcpy(blk2, header + 64, 16);
	blk2[16] = 0x80;
	blk2[62] = 0x02; /* 640 bits */
	blk2[63] = 0x80;
	blk3[32] = 0x80;
	blk3[62] = 0x01; /* 256 bits */
	c = mid;
	for (uint32_t i = 0; i < count; i++) {
		uint32_t n = first + i, h7;
		sd_le32_put(blk2 + 12, n);
		memcpy(c.h, mid.h, sizeof(c.h));
		SHA256_Transform(&c, blk2);
		for (int w = 0; w < 8; w++)
			st[w] = bswap32((uint32_t)c.h[w]);
		memcpy(blk3, st, 32);
		memcpy(c.h, iv, sizeof(iv));
		SHA256_Transform(&c, blk3);
		done++;
		h7 = bswap32((uint32_t)c.h[7]);
		if (h7 > top)
			continue;
		for (int w = 0; w < 8; w++)
			sd_be32_put(hash + 4 * w, c.h[w]);
		if (miner_hash_meets(hash, target)) {
			*found = true;
			*nonce = n;
			break;
		}
	}
	return done;
}

struct grind_shared {
	uint8_t header[80];
	atomic_uint_fast64_t next_chunk;
	atomic_bool stop;      /* aborted */
	atomic_uint_fast64_t best; /* lowest nonce found, or 2^32 */
	atomic_uint_fast64_t hashes;
	pthread_mutex_t lock;
	const volatile bool *abort_flag;
};

static void *grind_thread(void *arg)
{
	struct grind_shared *s = arg;

	while (!atomic_load(&s->stop)) {
		uint64_t chunk = atomic_fetch_add(&s->next_chunk, 1);
		bool found;
		uint32_t nonce;
		/* Chunks past a found nonce cannot give a lower one: the
		 * result is the lowest valid nonce, whatever the timing. */
		if (chunk >= (1ull << 32) / CHUNK ||
		    chunk * CHUNK > atomic_load(&s->best))
			break;
		if (s->abort_flag && *s->abort_flag) {
			atomic_store(&s->stop, true);
			break;
		}
		atomic_fetch_add(&s->hashes,
				 miner_grind_range(s->header,
						   (uint32_t)(chunk * CHUNK),
						   CHUNK, &found, &nonce));
		if (found) {
			pthread_mutex_lock(&s->lock);
			if (nonce < atomic_load(&s->best))
				atomic_store(&s->best, nonce);
			pthread_mutex_unlock(&s->lock);
		}
	}
	return NULL;
}

int miner_grind(uint8_t header[80], unsigned nthreads,
		const volatile bool *abort_flag, struct miner_grind_result *res)
{
	struct grind_shared s;
	pthread_t th[256];
	unsigned started = 0;
	uint64_t t0 = sd_mono_ns();

	if (nthreads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		nthreads = n > 0 ? (unsigned)n : 1;
	}
	if (nthreads > 256)
		nthreads = 256;
	memset(&s, 0, sizeof(s));
	memcpy(s.header, header, 80);
	atomic_init(&s.next_chunk, 0);
	atomic_init(&s.stop, false);
	atomic_init(&s.best, 1ull << 32);
	atomic_init(&s.hashes, 0);
	pthread_mutex_init(&s.lock, NULL);
	s.abort_flag = abort_flag;
	for (unsigned i = 1; i < nthreads; i++)
		if (pthread_create(&th[started], NULL, grind_thread, &s) == 0)
			started++;
	grind_thread(&s); /* the caller's thread works too */
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&s.lock);
	res->hashes = atomic_load(&s.hashes);
	res->seconds = (double)(sd_mono_ns() - t0) / 1e9;
	if (atomic_load(&s.best) < (1ull << 32)) {
		res->nonce = (uint32_t)atomic_load(&s.best);
		sd_le32_put(header + 76, res->nonce);
		return SD_OK;
	}
	if (abort_flag && *abort_flag)
		return SD_ESTATE;
	return SD_ENOTFOUND;
}

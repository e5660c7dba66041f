/* wire.h - Bitcoin wire bytes: a bounds-checked reader (bitcoin/'s block,
 * tx and spent-outputs parsers; rpc/json_block.c, which builds the same
 * block from JSON; the miner's PSBT reader) and the one CompactSize reader
 * and writer everyone uses.  Also the block's memory layout shared by
 * block.c, spent.c and json_block.c.
 *
 * Every read checks the remaining length first; nothing here allocates.
 */
#ifndef SIGNETD_BITCOIN_WIRE_H
#define SIGNETD_BITCOIN_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/util.h"
#include "block.h"
#include "hash.h"

/* Core's MAX_SIZE: no CompactSize in a block or tx may exceed it. */
#define BTC_WIRE_MAX_SIZE 0x02000000u
#define BTC_MAX_MONEY (21000000LL * 100000000LL)

struct btc_rd {
	const uint8_t *p, *end;
};

static inline size_t btc_rd_left(const struct btc_rd *r)
{
	return (size_t)(r->end - r->p);
}

static inline bool btc_rd_skip(struct btc_rd *r, size_t n)
{
	if (btc_rd_left(r) < n)
		return false;
	r->p += n;
	return true;
}

static inline bool btc_rd_u32(struct btc_rd *r, uint32_t *v)
{
	if (btc_rd_left(r) < 4)
		return false;
	*v = sd_le32_get(r->p);
	r->p += 4;
	return true;
}

static inline bool btc_rd_u64(struct btc_rd *r, uint64_t *v)
{
	if (btc_rd_left(r) < 8)
		return false;
	*v = sd_le64_get(r->p);
	r->p += 8;
	return true;
}

/* CompactSize in canonical (shortest) form, any value: PSBT fields. */
static inline bool btc_rd_cs_any(struct btc_rd *r, uint64_t *v)
{
	uint8_t b;
	uint64_t x;

	if (btc_rd_left(r) < 1)
		return false;
	b = *r->p++;
	if (b < 0xfd) {
		x = b;
	} else if (b == 0xfd) {
		if (btc_rd_left(r) < 2)
			return false;
		x = (uint64_t)r->p[0] | ((uint64_t)r->p[1] << 8);
		r->p += 2;
		if (x < 0xfd)
			return false;
	} else if (b == 0xfe) {
		uint32_t y;
		if (!btc_rd_u32(r, &y) || y < 0x10000)
			return false;
		x = y;
	} else {
		if (!btc_rd_u64(r, &x) || x < 0x100000000ull)
			return false;
	}
	*v = x;
	return true;
}

/* CompactSize, canonical (shortest form) and <= BTC_WIRE_MAX_SIZE, as Core
 * requires in blocks and transactions. */
static inline bool btc_rd_cs(struct btc_rd *r, uint64_t *v)
{
	uint64_t x;

	if (!btc_rd_cs_any(r, &x) || x > BTC_WIRE_MAX_SIZE)
		return false;
	*v = x;
	return true;
}

/* A CompactSize count of items each at least min_item bytes long: fails
 * early when the remaining bytes cannot hold that many. */
static inline bool btc_rd_count(struct btc_rd *r, size_t min_item,
				uint64_t *n)
{
	if (!btc_rd_cs(r, n))
		return false;
	return *n <= btc_rd_left(r) / min_item;
}

/* A CompactSize length followed by that many bytes. */
static inline bool btc_rd_var(struct btc_rd *r, struct btc_bytes *out)
{
	uint64_t n;

	if (!btc_rd_cs(r, &n) || n > btc_rd_left(r))
		return false;
	if (out) {
		out->data = r->p;
		out->len = (size_t)n;
	}
	r->p += n;
	return true;
}

/* Write a CompactSize to buf (at least 9 bytes free); returns its size. */
static inline size_t btc_cs_put(uint8_t *buf, uint64_t v)
{
	if (v < 0xfd) {
		buf[0] = (uint8_t)v;
		return 1;
	}
	if (v <= 0xffff) {
		buf[0] = 0xfd;
		buf[1] = (uint8_t)v;
		buf[2] = (uint8_t)(v >> 8);
		return 3;
	}
	if (v <= 0xffffffffu) {
		buf[0] = 0xfe;
		sd_le32_put(buf + 1, (uint32_t)v);
		return 5;
	}
	buf[0] = 0xff;
	sd_le64_put(buf + 1, v);
	return 9;
}

/* The single allocation behind a struct btc_block (blk first, so the block
 * pointer is the allocation).  Arrays and the raw copy follow it; spent
 * outputs live in a second buffer owned here. */
struct btc_block_mem {
	struct btc_block blk;
	uint8_t *spent; /* copy of the attached spent-outputs data, or NULL */
	size_t n_in_total;
};

#endif

/* block.c - parser for serialized blocks and transactions (block.h).
 *
 * Two passes over the bytes: the first validates the structure and counts
 * inputs, outputs and witness items without allocating; the second runs in
 * a single allocation sized from those counts, holding the block struct, the
 * tx/input/output/witness arrays and a copy of the raw bytes that every
 * script and witness pointer points into (zero copy after that).  Txids are
 * hashed from byte ranges of the copy (version | ins+outs | locktime), never
 * re-serialized.
 */
#include "block.h"

#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "wire.h"

#define MIN_TXIN_SIZE 41  /* outpoint 36 + script len 1 + sequence 4 */
#define MIN_TXOUT_SIZE 9  /* value 8 + script len 1 */
#define MIN_TX_SIZE 51    /* version, 1 input, 0 outputs, locktime */
#define HEADER_SIZE 80

struct counts {
	size_t n_in, n_out, n_wit;
};

/* Write cursors into the arena (second pass only). */
struct fill {
	struct btc_tx *tx;
	struct btc_txin *in;
	struct btc_txout *out;
	struct btc_bytes *wit;
};

/* One transaction.  cnt accumulates counts (first pass); f, when not NULL,
 * receives the parsed fields and the txid (second pass). */
static bool parse_tx(struct btc_rd *r, struct counts *cnt, struct fill *f)
{
	const uint8_t *start = r->p, *body, *body_end;
	struct btc_tx *tx = NULL;
	uint64_t n_in, n_out;
	uint32_t version, locktime;
	bool segwit = false;

	if (!btc_rd_u32(r, &version))
		return false;
	if (btc_rd_left(r) >= 2 && r->p[0] == 0) {
		if (r->p[1] != 1) /* unknown flags / no inputs */
			return false;
		segwit = true;
		r->p += 2;
	}
	body = r->p;
	if (!btc_rd_count(r, MIN_TXIN_SIZE, &n_in) || n_in == 0)
		return false;
	if (f) {
		tx = f->tx++;
		tx->version = (int32_t)version;
		tx->n_in = (size_t)n_in;
		tx->in = f->in;
		f->in += n_in;
	}
	for (uint64_t i = 0; i < n_in; i++) {
		struct btc_txin *in = tx ? &tx->in[i] : NULL;
		const uint8_t *op = r->p;
		uint32_t seq;

		if (!btc_rd_skip(r, 36) ||
		    !btc_rd_var(r, in ? &in->script_sig : NULL) ||
		    !btc_rd_u32(r, &seq))
			return false;
		if (in) {
			memcpy(in->prev_txid, op, 32);
			in->prev_vout = sd_le32_get(op + 32);
			in->sequence = seq;
			in->n_witness = 0;
			in->witness = NULL;
			in->has_prevout = false;
			in->prevout_value = 0;
			in->prevout_spk.data = NULL;
			in->prevout_spk.len = 0;
		}
	}
	if (!btc_rd_count(r, MIN_TXOUT_SIZE, &n_out))
		return false;
	if (tx) {
		tx->n_out = (size_t)n_out;
		tx->out = f->out;
		f->out += n_out;
	}
	for (uint64_t i = 0; i < n_out; i++) {
		uint64_t v;

		if (!btc_rd_u64(r, &v) ||
		    !btc_rd_var(r, tx ? &tx->out[i].spk : NULL))
			return false;
		if (tx)
			tx->out[i].value = (int64_t)v;
	}
	body_end = r->p;
	if (segwit) {
		size_t items = 0;

		for (uint64_t i = 0; i < n_in; i++) {
			uint64_t k;

			if (!btc_rd_count(r, 1, &k))
				return false;
			if (tx) {
				tx->in[i].n_witness = (size_t)k;
				tx->in[i].witness = k ? f->wit : NULL;
				f->wit += k;
			}
			for (uint64_t j = 0; j < k; j++)
				if (!btc_rd_var(r, tx ? &tx->in[i].witness[j]
						      : NULL))
					return false;
			items += (size_t)k;
		}
		if (items == 0) /* Core: superfluous witness record */
			return false;
		cnt->n_wit += items;
	}
	if (!btc_rd_u32(r, &locktime))
		return false;
	cnt->n_in += (size_t)n_in;
	cnt->n_out += (size_t)n_out;
	if (tx) {
		tx->locktime = locktime;
		tx->raw.data = start;
		tx->raw.len = (size_t)(r->p - start);
		if (segwit)
			btc_sha256d_parts(tx->txid, start, 4, body,
					  (size_t)(body_end - body), r->p - 4, 4);
		else
			btc_sha256d_parts(tx->txid, start,
					  (size_t)(r->p - start), NULL, 0,
					  NULL, 0);
	}
	return true;
}

/* Walk n_tx transactions from r (must end exactly at r->end). */
static bool parse_txs(struct btc_rd *r, uint64_t n_tx, struct counts *cnt,
		      struct fill *f)
{
	for (uint64_t i = 0; i < n_tx; i++)
		if (!parse_tx(r, cnt, f))
			return false;
	return r->p == r->end;
}

/* Allocate the arena for n_tx txs with cnt items and len raw bytes; copy
 * buf in and point the block's arrays at their slots. */
static struct btc_block_mem *arena_new(size_t n_tx, const struct counts *cnt,
				       const uint8_t *buf, size_t len,
				       struct fill *f, uint8_t **raw)
{
	size_t off_tx = sizeof(struct btc_block_mem);
	size_t off_in = off_tx + n_tx * sizeof(struct btc_tx);
	size_t off_out = off_in + cnt->n_in * sizeof(struct btc_txin);
	size_t off_wit = off_out + cnt->n_out * sizeof(struct btc_txout);
	size_t off_raw = off_wit + cnt->n_wit * sizeof(struct btc_bytes);
	uint8_t *base = sd_xmalloc(off_raw + len);
	struct btc_block_mem *m = (struct btc_block_mem *)base;

	memset(m, 0, sizeof(*m));
	m->blk.arena_ = m;
	m->blk.height = -1;
	m->blk.n_tx = n_tx;
	m->blk.tx = (struct btc_tx *)(base + off_tx);
	m->blk.size_bytes = len;
	m->n_in_total = cnt->n_in;
	f->tx = m->blk.tx;
	f->in = (struct btc_txin *)(base + off_in);
	f->out = (struct btc_txout *)(base + off_out);
	f->wit = (struct btc_bytes *)(base + off_wit);
	*raw = base + off_raw;
	memcpy(*raw, buf, len);
	return m;
}

int btc_block_parse(const uint8_t *buf, size_t len, struct btc_block **out)
{
	struct counts cnt = {0, 0, 0}, cnt2 = {0, 0, 0};
	struct btc_rd r = {buf, buf + len};
	struct btc_block_mem *m;
	struct fill f;
	uint64_t n_tx;
	uint8_t *raw;
	const uint8_t *h;

	*out = NULL;
	if (!buf || len < HEADER_SIZE + 1 + MIN_TX_SIZE)
		return SD_EPARSE;
	r.p += HEADER_SIZE;
	if (!btc_rd_count(&r, MIN_TX_SIZE, &n_tx) || n_tx == 0 ||
	    !parse_txs(&r, n_tx, &cnt, NULL))
		return SD_EPARSE;

	m = arena_new((size_t)n_tx, &cnt, buf, len, &f, &raw);
	h = raw;
	m->blk.hdr.version = (int32_t)sd_le32_get(h);
	memcpy(m->blk.hdr.prev_hash, h + 4, 32);
	memcpy(m->blk.hdr.merkle_root, h + 36, 32);
	m->blk.hdr.time = sd_le32_get(h + 68);
	m->blk.hdr.bits = sd_le32_get(h + 72);
	m->blk.hdr.nonce = sd_le32_get(h + 76);
	btc_sha256d(m->blk.hash, h, HEADER_SIZE);

	r.p = raw + HEADER_SIZE;
	r.end = raw + len;
	if (!btc_rd_cs(&r, &n_tx) || !parse_txs(&r, n_tx, &cnt2, &f)) {
		free(m); /* cannot happen: same bytes as the first pass */
		return SD_EPARSE;
	}
	*out = &m->blk;
	return SD_OK;
}

int btc_tx_parse(const uint8_t *buf, size_t len, struct btc_block **out)
{
	struct counts cnt = {0, 0, 0}, cnt2 = {0, 0, 0};
	struct btc_rd r = {buf, buf + len};
	struct btc_block_mem *m;
	struct fill f;
	uint8_t *raw;

	*out = NULL;
	if (!buf || !parse_txs(&r, 1, &cnt, NULL))
		return SD_EPARSE;
	m = arena_new(1, &cnt, buf, len, &f, &raw);
	r.p = raw;
	r.end = raw + len;
	if (!parse_txs(&r, 1, &cnt2, &f)) {
		free(m);
		return SD_EPARSE;
	}
	*out = &m->blk;
	return SD_OK;
}

void btc_block_free(struct btc_block *b)
{
	struct btc_block_mem *m;

	if (!b)
		return;
	m = b->arena_;
	free(m->spent);
	free(m);
}

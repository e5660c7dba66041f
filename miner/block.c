/* block.c - the block the miner builds: header, (de)serialisation, merkle
 * and witness roots, and the 29.x coinbase (BIP34 height, optional pool tag,
 * one or two reward outputs, witness commitment last). */
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "miner.h"

static const uint8_t witness_magic[6] = {0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed};

void miner_block_header(const struct miner_block *b, uint8_t out[80])
{
	sd_le32_put(out, (uint32_t)b->version);
	memcpy(out + 4, b->prev, 32);
	memcpy(out + 36, b->merkle, 32);
	sd_le32_put(out + 68, b->time);
	sd_le32_put(out + 72, b->bits);
	sd_le32_put(out + 76, b->nonce);
}

void miner_block_hash(const struct miner_block *b, uint8_t out[32])
{
	uint8_t h[80];
	miner_block_header(b, h);
	btc_sha256d(out, h, 80);
}

void miner_block_serialize(const struct miner_block *b, struct sd_buf *out)
{
	uint8_t h[80];
	miner_block_header(b, h);
	sd_buf_put(out, h, 80);
	miner_buf_compact(out, b->n_tx);
	for (size_t i = 0; i < b->n_tx; i++)
		miner_tx_serialize(&b->tx[i], true, out);
}

int miner_block_parse(const uint8_t *p, size_t len, struct miner_block *b)
{
	struct miner_rd r = {p, len, 0};
	const uint8_t *h;
	uint64_t n;

	memset(b, 0, sizeof(*b));
	if (miner_rd_bytes(&r, 80, &h) || miner_rd_compact(&r, &n) || n == 0 ||
	    n > len / 60)
		return SD_EPARSE;
	b->version = (int32_t)sd_le32_get(h);
	memcpy(b->prev, h + 4, 32);
	memcpy(b->merkle, h + 36, 32);
	b->time = sd_le32_get(h + 68);
	b->bits = sd_le32_get(h + 72);
	b->nonce = sd_le32_get(h + 76);
	b->tx = sd_xcalloc((size_t)n, sizeof(*b->tx));
	for (uint64_t i = 0; i < n; i++) {
		if (miner_tx_parse(&r, &b->tx[i])) {
			miner_block_clear(b);
			return SD_EPARSE;
		}
		b->n_tx++;
	}
	if (r.pos != len) {
		miner_block_clear(b);
		return SD_EPARSE;
	}
	return SD_OK;
}

void miner_block_update_merkle(struct miner_block *b)
{
	uint8_t (*h)[32] = sd_xmalloc(b->n_tx * 32);
	for (size_t i = 0; i < b->n_tx; i++)
		miner_tx_txid(&b->tx[i], h[i]);
	miner_merkle_root(h, b->n_tx, b->merkle);
	free(h);
}

void miner_block_witness_commitment(const struct miner_block *b,
				    uint8_t out[32])
{
	uint8_t (*h)[32] = sd_xmalloc(b->n_tx * 32);
	uint8_t buf[64];

	memset(h[0], 0, 32);
	for (size_t i = 1; i < b->n_tx; i++)
		miner_tx_wtxid(&b->tx[i], h[i]);
	miner_merkle_root(h, b->n_tx, buf);
	memset(buf + 32, 0, 32); /* witness reserved value */
	btc_sha256d(out, buf, 64);
	free(h);
}

void miner_block_clear(struct miner_block *b)
{
	for (size_t i = 0; i < b->n_tx; i++)
		miner_tx_clear(&b->tx[i]);
	free(b->tx);
	memset(b, 0, sizeof(*b));
}

/* BIP34 height: OP_n + OP_0 padding up to 16, else a CScriptNum push. */
static void push_height(struct sd_buf *s, int32_t h)
{
	uint8_t num[5];
	size_t n = 0;
	uint32_t v = (uint32_t)h;

	if (h >= 1 && h <= 16) {
		miner_buf_u8(s, (uint8_t)(0x50 + h));
		miner_buf_u8(s, 0x00);
		return;
	}
	if (h == 0) {
		miner_buf_u8(s, 0x00);
		miner_buf_u8(s, 0x00);
		return;
	}
	while (v) {
		num[n++] = (uint8_t)v;
		v >>= 8;
	}
	if (num[n - 1] & 0x80)
		num[n++] = 0;
	miner_buf_push(s, num, n);
}

void miner_block_set_coinbase(struct miner_block *b,
			      const struct miner_coinbase_spec *cs)
{
	struct miner_tx *cb = &b->tx[0];
	struct miner_txin *in;
	uint8_t zero[32] = {0}, commit[32];
	uint8_t script[38];

	miner_tx_clear(cb);
	cb->version = 2;
	cb->locktime = 0;
	in = miner_tx_add_in(cb);
	memset(in->prev, 0, 32);
	in->vout = 0xffffffffu;
	in->sequence = 0xfffffffeu;
	push_height(&in->script_sig, cs->height);
	if (cs->tag && cs->tag_len)
		miner_buf_push(&in->script_sig, cs->tag, cs->tag_len);
	miner_txin_add_wit(in, zero, 32);
	if (cs->relay_spk) {
		int64_t relay = (int64_t)((double)cs->value * cs->relay_ratio);
		if (relay < 0)
			relay = 0;
		if (relay > cs->value)
			relay = cs->value;
		miner_tx_add_out(cb, cs->value - relay, cs->spk, cs->spk_len);
		miner_tx_add_out(cb, relay, cs->relay_spk, cs->relay_spk_len);
	} else {
		miner_tx_add_out(cb, cs->value, cs->spk, cs->spk_len);
	}
	miner_block_witness_commitment(b, commit);
	memcpy(script, witness_magic, 6);
	memcpy(script + 6, commit, 32);
	miner_tx_add_out(cb, 0, script, sizeof(script));
	miner_block_update_merkle(b);
}

int miner_commitment_index(const struct miner_tx *cb)
{
	int idx = -1;
	for (size_t i = 0; i < cb->n_out; i++) {
		const struct sd_buf *s = &cb->out[i].spk;
		if (s->len >= 38 && memcmp(s->p, witness_magic, 6) == 0)
			idx = (int)i;
	}
	return idx;
}

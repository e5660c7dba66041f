/* tx.c - byte buffers, readers, transactions, SHA-256d and merkle roots:
 * the Bitcoin wire format the miner writes and reads. */
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "../bitcoin/wire.h"
#include "../common/util.h"
#include "miner.h"

#define MINER_MAX_ITEMS 100000

void miner_buf_u8(struct sd_buf *b, uint8_t v)
{
	sd_buf_put(b, &v, 1);
}

void miner_buf_u32(struct sd_buf *b, uint32_t v)
{
	uint8_t t[4];
	sd_le32_put(t, v);
	sd_buf_put(b, t, 4);
}

void miner_buf_u64(struct sd_buf *b, uint64_t v)
{
	uint8_t t[8];
	sd_le64_put(t, v);
	sd_buf_put(b, t, 8);
}

void miner_buf_compact(struct sd_buf *b, uint64_t v)
{
	uint8_t t[9];

	sd_buf_put(b, t, btc_cs_put(t, v));
}

void miner_buf_push(struct sd_buf *b, const uint8_t *data, size_t n)
{
	if (n < 0x4c) {
		miner_buf_u8(b, (uint8_t)n);
	} else if (n <= 0xff) {
		miner_buf_u8(b, 0x4c);
		miner_buf_u8(b, (uint8_t)n);
	} else if (n <= 0xffff) {
		miner_buf_u8(b, 0x4d);
		miner_buf_u8(b, (uint8_t)n);
		miner_buf_u8(b, (uint8_t)(n >> 8));
	} else {
		miner_buf_u8(b, 0x4e);
		miner_buf_u32(b, (uint32_t)n);
	}
	sd_buf_put(b, data, n);
}

int miner_rd_bytes(struct miner_rd *r, size_t n, const uint8_t **out)
{
	if (n > r->len - r->pos)
		return SD_EPARSE;
	*out = r->p + r->pos;
	r->pos += n;
	return SD_OK;
}

int miner_rd_u32(struct miner_rd *r, uint32_t *v)
{
	const uint8_t *p;
	if (miner_rd_bytes(r, 4, &p))
		return SD_EPARSE;
	*v = sd_le32_get(p);
	return SD_OK;
}

int miner_rd_u64(struct miner_rd *r, uint64_t *v)
{
	const uint8_t *p;
	if (miner_rd_bytes(r, 8, &p))
		return SD_EPARSE;
	*v = sd_le64_get(p);
	return SD_OK;
}

int miner_rd_compact(struct miner_rd *r, uint64_t *v)
{
	struct btc_rd w = {r->p + r->pos, r->p + r->len};

	if (!btc_rd_cs_any(&w, v))
		return SD_EPARSE;
	r->pos = (size_t)(w.p - r->p);
	return SD_OK;
}

static int rd_varbytes(struct miner_rd *r, struct sd_buf *into)
{
	uint64_t n;
	const uint8_t *p;
	if (miner_rd_compact(r, &n) || n > r->len - r->pos)
		return SD_EPARSE;
	if (miner_rd_bytes(r, (size_t)n, &p))
		return SD_EPARSE;
	into->len = 0;
	sd_buf_put(into, p, (size_t)n);
	return SD_OK;
}

struct miner_txin *miner_tx_add_in(struct miner_tx *tx)
{
	tx->in = sd_xrealloc(tx->in, (tx->n_in + 1) * sizeof(*tx->in));
	memset(&tx->in[tx->n_in], 0, sizeof(*tx->in));
	return &tx->in[tx->n_in++];
}

struct miner_txout *miner_tx_add_out(struct miner_tx *tx, int64_t value,
				     const uint8_t *spk, size_t spk_len)
{
	struct miner_txout *o;
	tx->out = sd_xrealloc(tx->out, (tx->n_out + 1) * sizeof(*tx->out));
	o = &tx->out[tx->n_out++];
	memset(o, 0, sizeof(*o));
	o->value = value;
	sd_buf_put(&o->spk, spk, spk_len);
	return o;
}

void miner_txin_add_wit(struct miner_txin *in, const uint8_t *d, size_t n)
{
	in->wit = sd_xrealloc(in->wit, (in->n_wit + 1) * sizeof(*in->wit));
	memset(&in->wit[in->n_wit], 0, sizeof(*in->wit));
	sd_buf_put(&in->wit[in->n_wit], d, n);
	in->n_wit++;
}

bool miner_tx_has_witness(const struct miner_tx *tx)
{
	for (size_t i = 0; i < tx->n_in; i++)
		if (tx->in[i].n_wit)
			return true;
	return false;
}

void miner_tx_serialize(const struct miner_tx *tx, bool with_witness,
			struct sd_buf *out)
{
	bool wit = with_witness && miner_tx_has_witness(tx);

	miner_buf_u32(out, (uint32_t)tx->version);
	if (wit) {
		miner_buf_u8(out, 0);
		miner_buf_u8(out, 1);
	}
	miner_buf_compact(out, tx->n_in);
	for (size_t i = 0; i < tx->n_in; i++) {
		const struct miner_txin *in = &tx->in[i];
		sd_buf_put(out, in->prev, 32);
		miner_buf_u32(out, in->vout);
		miner_buf_compact(out, in->script_sig.len);
		sd_buf_put(out, in->script_sig.p, in->script_sig.len);
		miner_buf_u32(out, in->sequence);
	}
	miner_buf_compact(out, tx->n_out);
	for (size_t i = 0; i < tx->n_out; i++) {
		miner_buf_u64(out, (uint64_t)tx->out[i].value);
		miner_buf_compact(out, tx->out[i].spk.len);
		sd_buf_put(out, tx->out[i].spk.p, tx->out[i].spk.len);
	}
	if (wit) {
		for (size_t i = 0; i < tx->n_in; i++) {
			const struct miner_txin *in = &tx->in[i];
			miner_buf_compact(out, in->n_wit);
			for (size_t j = 0; j < in->n_wit; j++) {
				miner_buf_compact(out, in->wit[j].len);
				sd_buf_put(out, in->wit[j].p,
					      in->wit[j].len);
			}
		}
	}
	miner_buf_u32(out, tx->locktime);
}

int miner_tx_parse(struct miner_rd *r, struct miner_tx *tx)
{
	uint32_t v;
	uint64_t n;
	const uint8_t *p;
	bool wit = false;

	memset(tx, 0, sizeof(*tx));
	if (miner_rd_u32(r, &v))
		goto bad;
	tx->version = (int32_t)v;
	if (miner_rd_compact(r, &n))
		goto bad;
	if (n == 0) { /* segwit marker */
		if (miner_rd_bytes(r, 1, &p) || *p != 1)
			goto bad;
		wit = true;
		if (miner_rd_compact(r, &n) || n == 0)
			goto bad;
	}
	if (n > MINER_MAX_ITEMS || n > r->len - r->pos)
		goto bad;
	for (uint64_t i = 0; i < n; i++) {
		struct miner_txin *in = miner_tx_add_in(tx);
		if (miner_rd_bytes(r, 32, &p))
			goto bad;
		memcpy(in->prev, p, 32);
		if (miner_rd_u32(r, &in->vout) ||
		    rd_varbytes(r, &in->script_sig) ||
		    miner_rd_u32(r, &in->sequence))
			goto bad;
	}
	if (miner_rd_compact(r, &n) || n > MINER_MAX_ITEMS ||
	    n > r->len - r->pos)
		goto bad;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t val;
		struct miner_txout *o;
		if (miner_rd_u64(r, &val))
			goto bad;
		o = miner_tx_add_out(tx, (int64_t)val, NULL, 0);
		if (rd_varbytes(r, &o->spk))
			goto bad;
	}
	if (wit) {
		bool any = false;
		for (size_t i = 0; i < tx->n_in; i++) {
			uint64_t k;
			if (miner_rd_compact(r, &k) || k > MINER_MAX_ITEMS ||
			    k > r->len - r->pos)
				goto bad;
			for (uint64_t j = 0; j < k; j++) {
				struct miner_txin *in = &tx->in[i];
				miner_txin_add_wit(in, NULL, 0);
				if (rd_varbytes(r, &in->wit[in->n_wit - 1]))
					goto bad;
			}
			any = any || k;
		}
		if (!any) /* superfluous witness flag */
			goto bad;
	}
	if (miner_rd_u32(r, &tx->locktime))
		goto bad;
	return SD_OK;
bad:
	miner_tx_clear(tx);
	return SD_EPARSE;
}

void miner_tx_txid(const struct miner_tx *tx, uint8_t txid[32])
{
	struct sd_buf b = {0};
	miner_tx_serialize(tx, false, &b);
	btc_sha256d(txid, b.p, b.len);
	sd_buf_free(&b);
}

void miner_tx_wtxid(const struct miner_tx *tx, uint8_t wtxid[32])
{
	struct sd_buf b = {0};
	miner_tx_serialize(tx, true, &b);
	btc_sha256d(wtxid, b.p, b.len);
	sd_buf_free(&b);
}

void miner_tx_clear(struct miner_tx *tx)
{
	for (size_t i = 0; i < tx->n_in; i++) {
		sd_buf_free(&tx->in[i].script_sig);
		for (size_t j = 0; j < tx->in[i].n_wit; j++)
			sd_buf_free(&tx->in[i].wit[j]);
		free(tx->in[i].wit);
	}
	for (size_t i = 0; i < tx->n_out; i++)
		sd_buf_free(&tx->out[i].spk);
	free(tx->in);
	free(tx->out);
	memset(tx, 0, sizeof(*tx));
}

void miner_sha256(uint8_t out[32], const uint8_t *data, size_t len)
{
	SHA256(data, len, out);
}

void miner_merkle_root(uint8_t (*h)[32], size_t n, uint8_t out[32])
{
	uint8_t pair[64];

	while (n > 1) {
		size_t m = 0;
		for (size_t i = 0; i < n; i += 2) {
			memcpy(pair, h[i], 32);
			memcpy(pair + 32, h[i + 1 < n ? i + 1 : i], 32);
			btc_sha256d(h[m++], pair, 64);
		}
		n = m;
	}
	memcpy(out, h[0], 32);
}

/* signet.c - BIP325: the signet commitment in the coinbase, the virtual
 * to_spend / to_sign transactions, solutions, and the sighashes a native
 * signer needs.  Mirrors the node's parse (Core's signet.cpp) so that what
 * the miner commits to is exactly what the node recomputes. */
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "miner.h"

/* One script op: *data and *n hold the push (n == 0 for non-push ops).
 * Returns false at the end or on a truncated push. */
static bool get_op(const uint8_t *s, size_t len, size_t *pc, uint8_t *op,
		   const uint8_t **data, size_t *n)
{
	size_t sz = 0, p = *pc;

	if (p >= len)
		return false;
	*op = s[p++];
	*data = NULL;
	*n = 0;
	if (*op <= 0x4e) {
		if (*op < 0x4c) {
			sz = *op;
		} else if (*op == 0x4c) {
			if (len - p < 1)
				return false;
			sz = s[p];
			p += 1;
		} else if (*op == 0x4d) {
			if (len - p < 2)
				return false;
			sz = (size_t)s[p] | ((size_t)s[p + 1] << 8);
			p += 2;
		} else {
			if (len - p < 4)
				return false;
			sz = sd_le32_get(s + p);
			p += 4;
		}
		if (len - p < sz)
			return false;
		*data = s + p;
		*n = sz;
		p += sz;
	}
	*pc = p;
	return true;
}

int miner_signet_split(const uint8_t *script, size_t len, bool *found,
		       struct sd_buf *solution, struct sd_buf *stripped)
{
	size_t pc = 0, n;
	uint8_t op;
	const uint8_t *d;

	*found = false;
	solution->len = 0;
	stripped->len = 0;
	while (get_op(script, len, &pc, &op, &d, &n)) {
		if (n == 0) {
			miner_buf_u8(stripped, op);
			continue;
		}
		if (!*found && n > 4 && memcmp(d, MINER_SIGNET_HEADER, 4) == 0) {
			sd_buf_put(solution, d + 4, n - 4);
			n = 4;
			*found = true;
		}
		miner_buf_push(stripped, d, n);
	}
	if (!*found) { /* the node keeps the script as it was */
		stripped->len = 0;
		sd_buf_put(stripped, script, len);
	}
	return SD_OK;
}

int miner_solution_parse(const uint8_t *sol, size_t len,
			 struct miner_txin *into)
{
	struct miner_rd r = {sol, len, 0};
	uint64_t n, k;
	const uint8_t *p;

	into->script_sig.len = 0;
	for (size_t i = 0; i < into->n_wit; i++)
		sd_buf_free(&into->wit[i]);
	into->n_wit = 0;
	if (miner_rd_compact(&r, &n) || miner_rd_bytes(&r, (size_t)n, &p))
		return SD_EPARSE;
	sd_buf_put(&into->script_sig, p, (size_t)n);
	if (miner_rd_compact(&r, &k) || k > len)
		return SD_EPARSE;
	for (uint64_t i = 0; i < k; i++) {
		if (miner_rd_compact(&r, &n) || miner_rd_bytes(&r, (size_t)n, &p))
			return SD_EPARSE;
		miner_txin_add_wit(into, p, (size_t)n);
	}
	return r.pos == len ? SD_OK : SD_EPARSE;
}

void miner_solution_from_txin(const struct miner_txin *in, struct sd_buf *out)
{
	miner_buf_compact(out, in->script_sig.len);
	sd_buf_put(out, in->script_sig.p, in->script_sig.len);
	miner_buf_compact(out, in->n_wit);
	for (size_t i = 0; i < in->n_wit; i++) {
		miner_buf_compact(out, in->wit[i].len);
		sd_buf_put(out, in->wit[i].p, in->wit[i].len);
	}
}

int miner_signet_txs(const struct miner_block *b, const uint8_t *challenge,
		     size_t challenge_len, struct miner_signet_txs *t)
{
	struct miner_tx cb = {0};
	struct sd_buf sol = {0}, stripped = {0}, ss = {0};
	struct miner_txin *in;
	uint8_t (*h)[32];
	bool found;
	int ci;

	memset(t, 0, sizeof(*t));
	if (b->n_tx == 0)
		return SD_EPARSE;
	ci = miner_commitment_index(&b->tx[0]);
	if (ci < 0)
		return SD_EPARSE;
	/* Copy of the coinbase with the commitment script replaced. */
	{
		struct sd_buf raw = {0};
		struct miner_rd r;
		miner_tx_serialize(&b->tx[0], true, &raw);
		r = (struct miner_rd){raw.p, raw.len, 0};
		if (miner_tx_parse(&r, &cb)) {
			sd_buf_free(&raw);
			return SD_EPARSE;
		}
		sd_buf_free(&raw);
	}
	if (miner_signet_split(cb.out[ci].spk.p, cb.out[ci].spk.len, &found,
			       &sol, &stripped))
		goto bad;
	if (!found) /* the miner's side: commit to the bare header */
		miner_buf_push(&stripped, (const uint8_t *)MINER_SIGNET_HEADER, 4);
	cb.out[ci].spk.len = 0;
	sd_buf_put(&cb.out[ci].spk, stripped.p, stripped.len);

	h = sd_xmalloc(b->n_tx * 32);
	miner_tx_txid(&cb, h[0]);
	for (size_t i = 1; i < b->n_tx; i++)
		miner_tx_txid(&b->tx[i], h[i]);
	miner_merkle_root(h, b->n_tx, t->signet_merkle);
	free(h);

	sd_le32_put(t->block_data, (uint32_t)b->version);
	memcpy(t->block_data + 4, b->prev, 32);
	memcpy(t->block_data + 36, t->signet_merkle, 32);
	sd_le32_put(t->block_data + 68, b->time);

	t->to_spend.version = 0;
	in = miner_tx_add_in(&t->to_spend);
	in->vout = 0xffffffffu;
	in->sequence = 0;
	miner_buf_u8(&ss, 0x00);
	miner_buf_push(&ss, t->block_data, 72);
	sd_buf_put(&in->script_sig, ss.p, ss.len);
	miner_tx_add_out(&t->to_spend, 0, challenge, challenge_len);

	t->to_sign.version = 0;
	in = miner_tx_add_in(&t->to_sign);
	miner_tx_txid(&t->to_spend, in->prev);
	in->vout = 0;
	in->sequence = 0;
	miner_tx_add_out(&t->to_sign, 0, (const uint8_t *)"\x6a", 1);

	sd_buf_free(&ss);
	sd_buf_free(&sol);
	sd_buf_free(&stripped);
	miner_tx_clear(&cb);
	return SD_OK;
bad:
	sd_buf_free(&sol);
	sd_buf_free(&stripped);
	miner_tx_clear(&cb);
	return SD_EPARSE;
}

void miner_signet_txs_clear(struct miner_signet_txs *t)
{
	miner_tx_clear(&t->to_spend);
	miner_tx_clear(&t->to_sign);
}

int miner_block_add_solution(struct miner_block *b, const uint8_t *sol,
			     size_t len)
{
	struct sd_buf push = {0};
	int ci;

	if (b->n_tx == 0 || (ci = miner_commitment_index(&b->tx[0])) < 0)
		return SD_EINVAL;
	sd_buf_put(&push, MINER_SIGNET_HEADER, 4);
	sd_buf_put(&push, sol, len);
	miner_buf_push(&b->tx[0].out[ci].spk, push.p, push.len);
	sd_buf_free(&push);
	miner_block_update_merkle(b);
	return SD_OK;
}

void miner_sighash_legacy(const struct miner_tx *tx, const uint8_t *script,
			  size_t len, uint8_t out[32])
{
	struct miner_tx copy = *tx;
	struct miner_txin in0;
	struct sd_buf b = {0};

	/* to_sign has one input: swap its scriptSig for the script. */
	in0 = tx->in[0];
	in0.script_sig = (struct sd_buf){.p = (uint8_t *)script, .len = len, .cap = len};
	in0.n_wit = 0;
	copy.in = &in0;
	copy.n_in = 1;
	miner_tx_serialize(&copy, false, &b);
	miner_buf_u32(&b, 1); /* SIGHASH_ALL */
	btc_sha256d(out, b.p, b.len);
	sd_buf_free(&b);
}

void miner_sighash_bip143(const struct miner_tx *tx, const uint8_t *script_code,
			  size_t len, int64_t amount, uint8_t out[32])
{
	struct sd_buf b = {0}, t = {0};
	uint8_t hp[32], hs[32], ho[32];

	for (size_t i = 0; i < tx->n_in; i++) {
		sd_buf_put(&t, tx->in[i].prev, 32);
		miner_buf_u32(&t, tx->in[i].vout);
	}
	btc_sha256d(hp, t.p, t.len);
	t.len = 0;
	for (size_t i = 0; i < tx->n_in; i++)
		miner_buf_u32(&t, tx->in[i].sequence);
	btc_sha256d(hs, t.p, t.len);
	t.len = 0;
	for (size_t i = 0; i < tx->n_out; i++) {
		miner_buf_u64(&t, (uint64_t)tx->out[i].value);
		miner_buf_compact(&t, tx->out[i].spk.len);
		sd_buf_put(&t, tx->out[i].spk.p, tx->out[i].spk.len);
	}
	btc_sha256d(ho, t.p, t.len);
	miner_buf_u32(&b, (uint32_t)tx->version);
	sd_buf_put(&b, hp, 32);
	sd_buf_put(&b, hs, 32);
	sd_buf_put(&b, tx->in[0].prev, 32);
	miner_buf_u32(&b, tx->in[0].vout);
	miner_buf_compact(&b, len);
	sd_buf_put(&b, script_code, len);
	miner_buf_u64(&b, (uint64_t)amount);
	miner_buf_u32(&b, tx->in[0].sequence);
	sd_buf_put(&b, ho, 32);
	miner_buf_u32(&b, tx->locktime);
	miner_buf_u32(&b, 1);
	btc_sha256d(out, b.p, b.len);
	sd_buf_free(&b);
	sd_buf_free(&t);
}

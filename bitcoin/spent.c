/* spent.c - attach the outputs a block's inputs spend, from the
 * /rest/spenttxouts/<hash>.bin format (block.h): validated completely
 * before the block is touched, then copied once and pointed into. */
#include "block.h"

#include <stdlib.h>
#include <string.h>

#include "../common/util.h"
#include "wire.h"

/* Walk the data; when b_fill is set, write the prevouts into it. */
static bool walk_spent(const struct btc_block *b, struct btc_block *b_fill,
		       const uint8_t *buf, size_t len)
{
	struct btc_rd r = {buf, buf + len};
	uint64_t n_tx;

	if (!btc_rd_cs(&r, &n_tx) || n_tx != b->n_tx)
		return false;
	for (size_t i = 0; i < b->n_tx; i++) {
		const struct btc_tx *tx = &b->tx[i];
		uint64_t k;

		if (!btc_rd_cs(&r, &k) || k != (i == 0 ? 0 : tx->n_in))
			return false;
		for (size_t j = 0; j < k; j++) {
			struct btc_bytes spk;
			uint64_t v;

			if (!btc_rd_u64(&r, &v) || !btc_rd_var(&r, &spk))
				return false;
			if ((int64_t)v < 0 || (int64_t)v > BTC_MAX_MONEY)
				return false;
			if (b_fill) {
				struct btc_txin *in = &b_fill->tx[i].in[j];
				in->has_prevout = true;
				in->prevout_value = (int64_t)v;
				in->prevout_spk = spk;
			}
		}
	}
	return r.p == r.end;
}

int btc_block_attach_spent(struct btc_block *b, const uint8_t *buf,
			   size_t len)
{
	struct btc_block_mem *m;
	uint8_t *copy;

	if (!b || !buf || !walk_spent(b, NULL, buf, len))
		return SD_EPARSE;
	m = b->arena_;
	copy = sd_xmalloc(len);
	memcpy(copy, buf, len);
	if (!walk_spent(b, b, copy, len)) { /* cannot happen */
		free(copy);
		return SD_EPARSE;
	}
	free(m->spent);
	m->spent = copy;
	return SD_OK;
}

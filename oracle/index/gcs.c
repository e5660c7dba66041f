/* gcs.c - BIP158 Golomb-coded sets (P = 19, M = 784931) and the two v1
 * blindbit filters built from them: new-utxos (x-only keys of every P2TR
 * output of a block) and spent (the spent-index entries of a block).
 * Spec: shared/spec/bip352-index.md section 10.  Duplicates are kept, as
 * btcd's builder (used by blindbit) does.
 */
#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"
#include "../../bitcoin/wire.h"
#include "compute_int.h"
#include "oracle.h"

#define GCS_P 19
#define GCS_M 784931ULL

struct bitw {
	uint8_t *p;      /* next byte to fill */
	uint64_t acc;    /* pending bits, right-aligned */
	unsigned n;      /* number of pending bits (< 8 between calls) */
};

/* Append the low nbits (<= 32) of v, most significant first. */
static void bitw_put(struct bitw *w, uint64_t v, unsigned nbits)
{
	w->acc = (w->acc << nbits) | (v & ((1ULL << nbits) - 1));
	w->n += nbits;
	while (w->n >= 8) {
		w->n -= 8;
		*w->p++ = (uint8_t)(w->acc >> w->n);
	}
}

static void bitw_flush(struct bitw *w)
{
	if (w->n > 0)
		*w->p++ = (uint8_t)(w->acc << (8 - w->n));
	w->n = 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Sort the mapped values and write CompactSize(n) || Golomb-Rice bits. */
static void gcs_encode(uint64_t *vals, size_t n, uint8_t **out,
		       size_t *out_len)
{
	uint64_t prev, bits = 0;
	struct bitw w = { 0 };
	uint8_t *buf;
	size_t i;

	qsort(vals, n, sizeof(*vals), cmp_u64);
	for (i = 0, prev = 0; i < n; prev = vals[i], i++)
		bits += ((vals[i] - prev) >> GCS_P) + 1 + GCS_P;
	buf = sd_xmalloc(9 + (size_t)((bits + 7) / 8));
	w.p = buf + btc_cs_put(buf, n);
	for (i = 0, prev = 0; i < n; prev = vals[i], i++) {
		uint64_t delta = vals[i] - prev, q = delta >> GCS_P;

		for (; q >= 32; q -= 32)
			bitw_put(&w, 0xffffffffULL, 32);
		bitw_put(&w, ((1ULL << q) - 1) << 1, (unsigned)q + 1);
		bitw_put(&w, delta, GCS_P);
	}
	bitw_flush(&w);
	*out = buf;
	*out_len = (size_t)(w.p - buf);
}

/* (SipHash(e) * N * M) >> 64: Lemire's reduction into [0, N*M). */
static uint64_t gcs_map(uint64_t k0, uint64_t k1, uint64_t f,
			const uint8_t *e, size_t len)
{
	uint64_t h = sd_siphash24(k0, k1, e, len);

	return (uint64_t)(((unsigned __int128)h * f) >> 64);
}

int oracle_gcs_build(const uint8_t key[16], const uint8_t *elems,
		     size_t elem_len, size_t n, uint8_t **out, size_t *out_len)
{
	uint64_t k0 = sd_le64_get(key), k1 = sd_le64_get(key + 8), *vals;
	size_t i;

	*out = NULL;
	*out_len = 0;
	if ((uint64_t)n >= (1ULL << 32) || (n > 0 && !elems))
		return SD_EINVAL;
	vals = sd_xmalloc((n ? n : 1) * sizeof(*vals));
	for (i = 0; i < n; i++)
		vals[i] = gcs_map(k0, k1, (uint64_t)n * GCS_M,
				  elems + i * elem_len, elem_len);
	gcs_encode(vals, n, out, out_len);
	free(vals);
	return SD_OK;
}

int oracle_gcs_build_var(const uint8_t key[16], const uint8_t *const *elems,
			 const size_t *lens, size_t n, uint8_t **out,
			 size_t *out_len)
{
	uint64_t k0 = sd_le64_get(key), k1 = sd_le64_get(key + 8), *vals;
	size_t i;

	*out = NULL;
	*out_len = 0;
	if ((uint64_t)n >= (1ULL << 32))
		return SD_EINVAL;
	vals = sd_xmalloc((n ? n : 1) * sizeof(*vals));
	for (i = 0; i < n; i++)
		vals[i] = gcs_map(k0, k1, (uint64_t)n * GCS_M, elems[i],
				  lens[i]);
	gcs_encode(vals, n, out, out_len);
	free(vals);
	return SD_OK;
}

int oracle_filter_new_utxos(const struct btc_block *b, uint8_t **out,
			    size_t *out_len)
{
	size_t cap = 0, n = 0, t, o;
	uint8_t *elems = NULL;
	int rc;

	for (t = 0; t < b->n_tx; t++)
		for (o = 0; o < b->tx[t].n_out; o++)
			cap += oracle_spk_is_p2tr(&b->tx[t].out[o].spk);
	if (cap)
		elems = sd_xmalloc(cap * 32);
	for (t = 0; t < b->n_tx; t++) {
		for (o = 0; o < b->tx[t].n_out; o++) {
			const struct btc_bytes *spk = &b->tx[t].out[o].spk;

			if (oracle_spk_is_p2tr(spk))
				memcpy(elems + 32 * n++, spk->data + 2, 32);
		}
	}
	rc = oracle_gcs_build(b->hash, elems, 32, n, out, out_len);
	free(elems);
	return rc;
}

int oracle_spent_index(const struct btc_block *b, uint8_t **entries,
		       size_t *n_out)
{
	size_t cap = 0, n = 0, t, i;
	uint8_t *e = NULL;

	for (t = 0; t < b->n_tx; t++)
		for (i = 0; i < b->tx[t].n_in; i++)
			cap += b->tx[t].in[i].has_prevout &&
			       oracle_spk_is_p2tr(&b->tx[t].in[i].prevout_spk);
	if (cap)
		e = sd_xmalloc(cap * 8);
	for (t = 0; t < b->n_tx; t++) {
		for (i = 0; i < b->tx[t].n_in; i++) {
			const struct btc_txin *in = &b->tx[t].in[i];

			if (!in->has_prevout ||
			    !oracle_spk_is_p2tr(&in->prevout_spk))
				continue;
			oracle_spent_entry(in->prev_txid, in->prev_vout,
					   b->hash, e + 8 * n++);
		}
	}
	*entries = e;
	*n_out = n;
	return SD_OK;
}

int oracle_filter_spent(const struct btc_block *b, uint8_t **out,
			size_t *out_len)
{
	uint8_t *e;
	size_t n;
	int rc;

	rc = oracle_spent_index(b, &e, &n);
	if (rc != SD_OK)
		return rc;
	rc = oracle_gcs_build(b->hash, e, 8, n, out, out_len);
	free(e);
	return rc;
}

/* test_block.c - the block/tx parser on every regtest-a block: block hashes
 * and txids against tests/data/regtest-a/expected-tweaks.jsonl, tx parsing,
 * truncated and corrupted input rejected, attach_spent validation. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../block.h"
#include "../hash.h"
#include "../../common/util.h"
#include "../../tests/lib/check.h"

#define N_BLOCKS 400

static uint8_t *blk_raw[N_BLOCKS + 1];
static size_t blk_len[N_BLOCKS + 1];

static void load_blocks(void)
{
	char path[1024];
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int h = 1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/regtest-a/blocks.hex",
		 check_testdata_dir());
	f = fopen(path, "r");
	CHECK(f != NULL);
	while ((n = getline(&line, &cap, f)) > 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		CHECK(h <= N_BLOCKS);
		CHECK(n % 2 == 0);
		blk_len[h] = (size_t)n / 2;
		blk_raw[h] = sd_xmalloc(blk_len[h]);
		CHECK(sd_hex_decode(blk_raw[h], blk_len[h], line, (size_t)n) ==
		      SD_OK);
		h++;
	}
	CHECK_EQ_INT(h, N_BLOCKS + 1);
	free(line);
	fclose(f);
}

/* Every block parses; hash, chain linkage and txids match the corpus. */
static void test_all_blocks(void)
{
	char path[1024], hex[65];
	char *line = NULL;
	size_t cap = 0, total_txs = 0;
	uint8_t prev[32];
	FILE *f;
	int h = 0;

	snprintf(path, sizeof(path), "%s/regtest-a/expected-tweaks.jsonl",
		 check_testdata_dir());
	f = fopen(path, "r");
	CHECK(f != NULL);
	while (getline(&line, &cap, f) > 0) {
		json_error_t jerr;
		json_t *j = json_loads(line, 0, &jerr), *tw;
		struct btc_block *b;

		CHECK(j != NULL);
		h = (int)json_integer_value(json_object_get(j, "height"));
		CHECK(h >= 1 && h <= N_BLOCKS);
		CHECK_EQ_INT(btc_block_parse(blk_raw[h], blk_len[h], &b),
			     SD_OK);
		CHECK_EQ_INT(b->size_bytes, blk_len[h]);
		CHECK_EQ_INT(b->height, -1);
		sd_hex_encode_rev(hex, b->hash, 32);
		CHECK_STREQ(hex, json_string_value(json_object_get(j, "hash")));
		if (h > 1)
			CHECK(memcmp(b->hdr.prev_hash, prev, 32) == 0);
		memcpy(prev, b->hash, 32);
		tw = json_object_get(j, "tweaks");
		CHECK_EQ_INT(b->n_tx, json_array_size(tw) + 1);
		/* coinbase shape */
		CHECK_EQ_INT(b->tx[0].n_in, 1);
		CHECK_EQ_INT(b->tx[0].in[0].prev_vout, 0xffffffffu);
		for (size_t i = 1; i < b->n_tx; i++) {
			json_t *e = json_array_get(tw, i - 1);
			sd_hex_encode_rev(hex, b->tx[i].txid, 32);
			CHECK_STREQ(hex,
				    json_string_value(json_array_get(e, 0)));
			CHECK(!b->tx[i].in[0].has_prevout);
		}
		/* the raw tx ranges tile the block after the tx count */
		{
			size_t sum = 0;
			for (size_t i = 0; i < b->n_tx; i++)
				sum += b->tx[i].raw.len;
			CHECK(b->size_bytes - sum >= 81 &&
			      b->size_bytes - sum <= 83);
			CHECK(b->tx[b->n_tx - 1].raw.data +
				      b->tx[b->n_tx - 1].raw.len ==
			      b->tx[0].raw.data - (b->size_bytes - sum) +
				      b->size_bytes);
		}
		total_txs += b->n_tx - 1;
		btc_block_free(b);
		json_decref(j);
	}
	CHECK_EQ_INT(h, N_BLOCKS);
	CHECK_EQ_INT(total_txs, 2556); /* README: 2556 non-coinbase txs */
	free(line);
	fclose(f);
}

/* Each tx of a block re-parsed alone gives the same txid and fields. */
static void test_tx_parse(void)
{
	const int heights[] = {1, 102, 109, 240, 320};

	for (size_t k = 0; k < sizeof(heights) / sizeof(heights[0]); k++) {
		int h = heights[k];
		struct btc_block *b, *t;

		CHECK(btc_block_parse(blk_raw[h], blk_len[h], &b) == SD_OK);
		for (size_t i = 0; i < b->n_tx; i++) {
			const struct btc_tx *x = &b->tx[i], *y;
			CHECK(btc_tx_parse(x->raw.data, x->raw.len, &t) ==
			      SD_OK);
			CHECK_EQ_INT(t->n_tx, 1);
			y = &t->tx[0];
			CHECK(memcmp(x->txid, y->txid, 32) == 0);
			CHECK_EQ_INT(x->n_in, y->n_in);
			CHECK_EQ_INT(x->n_out, y->n_out);
			CHECK_EQ_INT(x->locktime, y->locktime);
			for (size_t j = 0; j < x->n_in; j++) {
				CHECK_EQ_INT(x->in[j].n_witness,
					     y->in[j].n_witness);
				CHECK_EQ_INT(x->in[j].sequence,
					     y->in[j].sequence);
			}
			for (size_t j = 0; j < x->n_out; j++)
				CHECK_EQ_INT(x->out[j].value, y->out[j].value);
			btc_block_free(t);
			/* a proper prefix or one extra byte is rejected */
			CHECK(btc_tx_parse(x->raw.data, x->raw.len - 1, &t) ==
			      SD_EPARSE);
			CHECK(t == NULL);
		}
		btc_block_free(b);
	}
}

/* Every proper prefix is SD_EPARSE (full sweep on small blocks, strided on
 * big ones), so is a trailing byte. */
static void test_truncated(void)
{
	const int heights[] = {1, 102, 107, 109, 130, 300};

	for (size_t k = 0; k < sizeof(heights) / sizeof(heights[0]); k++) {
		int h = heights[k];
		size_t len = blk_len[h], step = len > 20000 ? 97 : 1;
		struct btc_block *b = (struct btc_block *)1;
		uint8_t *ext;

		for (size_t n = 0; n < len; n += step) {
			CHECK_EQ_INT(btc_block_parse(blk_raw[h], n, &b),
				     SD_EPARSE);
			CHECK(b == NULL);
		}
		for (size_t n = len > 600 ? len - 600 : 0; n < len; n++)
			CHECK_EQ_INT(btc_block_parse(blk_raw[h], n, &b),
				     SD_EPARSE);
		ext = sd_xmalloc(len + 1);
		memcpy(ext, blk_raw[h], len);
		ext[len] = 0;
		CHECK_EQ_INT(btc_block_parse(ext, len + 1, &b), SD_EPARSE);
		free(ext);
	}
	{
		struct btc_block *b;
		CHECK_EQ_INT(btc_block_parse(NULL, 0, &b), SD_EPARSE);
		CHECK_EQ_INT(btc_tx_parse(blk_raw[1], 0, &b), SD_EPARSE);
	}
}

/* Hand-made edge cases on block 1's coinbase (segwit: one 32-byte witness
 * item right before the locktime). */
static void test_wire_edges(void)
{
	struct btc_block *b, *t;
	const struct btc_tx *cb;
	uint8_t buf[512], txid[32];
	size_t n, w;

	CHECK(btc_block_parse(blk_raw[1], blk_len[1], &b) == SD_OK);
	cb = &b->tx[0];
	n = cb->raw.len;
	CHECK(n < sizeof(buf) && cb->raw.data[4] == 0 && cb->raw.data[5] == 1);
	CHECK_EQ_INT(cb->in[0].n_witness, 1);
	CHECK_EQ_INT(cb->in[0].witness[0].len, 32);
	memcpy(txid, cb->txid, 32);

	/* unknown segwit flag */
	memcpy(buf, cb->raw.data, n);
	buf[5] = 2;
	CHECK_EQ_INT(btc_tx_parse(buf, n, &t), SD_EPARSE);
	/* superfluous witness: marker set, every stack empty */
	w = n - 4 - 34;
	memcpy(buf, cb->raw.data, w);
	buf[w] = 0;
	memcpy(buf + w + 1, cb->raw.data + n - 4, 4);
	CHECK_EQ_INT(btc_tx_parse(buf, w + 5, &t), SD_EPARSE);
	/* the same tx without marker, flag and witness: same txid */
	memcpy(buf, cb->raw.data, 4);
	memcpy(buf + 4, cb->raw.data + 6, w - 6);
	memcpy(buf + w - 2, cb->raw.data + n - 4, 4);
	CHECK_EQ_INT(btc_tx_parse(buf, w + 2, &t), SD_OK);
	CHECK(memcmp(t->tx[0].txid, txid, 32) == 0);
	CHECK_EQ_INT(t->tx[0].in[0].n_witness, 0);
	btc_block_free(t);
	/* non-canonical CompactSize for the block's tx count (fd 01 00) */
	{
		size_t bl = blk_len[1];
		uint8_t *nb = sd_xmalloc(bl + 2);
		CHECK(blk_raw[1][80] == 1);
		memcpy(nb, blk_raw[1], 80);
		nb[80] = 0xfd;
		nb[81] = 1;
		nb[82] = 0;
		memcpy(nb + 83, blk_raw[1] + 81, bl - 81);
		CHECK_EQ_INT(btc_block_parse(nb, bl + 2, &t), SD_EPARSE);
		/* a tx count larger than the bytes can hold */
		nb[81] = 0xff;
		nb[82] = 0xff;
		CHECK_EQ_INT(btc_block_parse(nb, bl + 2, &t), SD_EPARSE);
		free(nb);
	}
	btc_block_free(b);
}

/* Random byte flips: never a crash; a result that parses is consistent. */
static void test_flips(void)
{
	uint64_t seed = 0x5eed1234abcdULL;
	unsigned ok = 0, bad = 0;

	for (int it = 0; it < 20000; it++) {
		int h = 100 + (int)(it % 60);
		size_t len = blk_len[h];
		uint8_t *m = sd_xmalloc(len);
		struct btc_block *b;
		int nflip;

		memcpy(m, blk_raw[h], len);
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		nflip = 1 + (int)((seed >> 60) & 3);
		for (int i = 0; i < nflip; i++) {
			seed = seed * 6364136223846793005ULL + 1;
			m[(seed >> 17) % len] ^= (uint8_t)(1u << ((seed >> 5) & 7));
		}
		if (btc_block_parse(m, len, &b) == SD_OK) {
			uint8_t d[32];
			ok++;
			CHECK_EQ_INT(b->size_bytes, len);
			btc_block_digest(b, d); /* touches every pointer */
			btc_block_free(b);
		} else {
			CHECK(b == NULL);
			bad++;
		}
		free(m);
	}
	CHECK(ok > 0 && bad > 0); /* flips in scripts parse, in lengths not */
}

/* Build a well-formed spent-outputs buffer for b: input j of tx i spends
 * value 1000*i+j with script {i, j}. */
static uint8_t *make_spent(const struct btc_block *b, size_t *len)
{
	uint8_t *buf = sd_xmalloc(16 + b->n_tx * 16 + 4096 * 32), *p = buf;

	*p++ = (uint8_t)b->n_tx; /* < 0xfd in the blocks used */
	for (size_t i = 0; i < b->n_tx; i++) {
		size_t k = i == 0 ? 0 : b->tx[i].n_in;
		CHECK(k < 0xfd);
		*p++ = (uint8_t)k;
		for (size_t j = 0; j < k; j++) {
			sd_le64_put(p, 1000 * i + j);
			p += 8;
			*p++ = 2;
			*p++ = (uint8_t)i;
			*p++ = (uint8_t)j;
		}
	}
	*len = (size_t)(p - buf);
	return buf;
}

static void test_attach_spent(void)
{
	struct btc_block *b;
	uint8_t d0[32], d1[32], d2[32];
	uint8_t *sp, *bad;
	size_t len;

	CHECK(btc_block_parse(blk_raw[109], blk_len[109], &b) == SD_OK);
	CHECK(b->n_tx > 3);
	sp = make_spent(b, &len);
	btc_block_digest(b, d0);

	/* wrong tx count */
	bad = sd_xmalloc(len + 16);
	memcpy(bad, sp, len);
	bad[0]++;
	CHECK_EQ_INT(btc_block_attach_spent(b, bad, len), SD_EPARSE);
	bad[0] -= 2;
	CHECK_EQ_INT(btc_block_attach_spent(b, bad, len), SD_EPARSE);
	/* coinbase with one prevout */
	memcpy(bad, sp, len);
	bad[1] = 1;
	CHECK_EQ_INT(btc_block_attach_spent(b, bad, len), SD_EPARSE);
	/* wrong input count for tx 1 */
	memcpy(bad, sp, len);
	bad[2]++;
	CHECK_EQ_INT(btc_block_attach_spent(b, bad, len), SD_EPARSE);
	/* every truncation, and a trailing byte */
	for (size_t n = 0; n < len; n++)
		CHECK_EQ_INT(btc_block_attach_spent(b, sp, n), SD_EPARSE);
	memcpy(bad, sp, len);
	bad[len] = 0;
	CHECK_EQ_INT(btc_block_attach_spent(b, bad, len + 1), SD_EPARSE);
	/* negative value */
	memcpy(bad, sp, len);
	bad[3 + 7] = 0x80;
	CHECK_EQ_INT(btc_block_attach_spent(b, bad, len), SD_EPARSE);
	btc_block_digest(b, d1);
	CHECK(memcmp(d0, d1, 32) == 0); /* untouched by the failures */

	CHECK_EQ_INT(btc_block_attach_spent(b, sp, len), SD_OK);
	CHECK(!b->tx[0].in[0].has_prevout);
	for (size_t i = 1; i < b->n_tx; i++)
		for (size_t j = 0; j < b->tx[i].n_in; j++) {
			const struct btc_txin *in = &b->tx[i].in[j];
			CHECK(in->has_prevout);
			CHECK_EQ_INT(in->prevout_value, 1000 * i + j);
			CHECK_EQ_INT(in->prevout_spk.len, 2);
			CHECK_EQ_INT(in->prevout_spk.data[0], i);
			CHECK_EQ_INT(in->prevout_spk.data[1], j);
		}
	btc_block_digest(b, d1);
	CHECK(memcmp(d0, d1, 32) != 0);
	/* a failure after success keeps the attached data */
	CHECK_EQ_INT(btc_block_attach_spent(b, sp, len - 1), SD_EPARSE);
	btc_block_digest(b, d2);
	CHECK(memcmp(d1, d2, 32) == 0);
	/* the caller's buffer is copied */
	memset(sp, 0xee, len);
	btc_block_digest(b, d2);
	CHECK(memcmp(d1, d2, 32) == 0);
	/* attaching again replaces */
	free(sp);
	sp = make_spent(b, &len);
	CHECK_EQ_INT(btc_block_attach_spent(b, sp, len), SD_OK);
	btc_block_digest(b, d2);
	CHECK(memcmp(d1, d2, 32) == 0);

	free(bad);
	free(sp);
	btc_block_free(b);
	btc_block_free(NULL);
}

static void test_sha256d(void)
{
	/* sha256d("") and sha256d("abc") known values */
	uint8_t out[32];
	char hex[65];

	btc_sha256d(out, (const uint8_t *)"", 0);
	sd_hex_encode(hex, out, 32);
	CHECK_STREQ(hex, "5df6e0e2761359d30a8275058e299fcc0381534545f55cf4"
			 "3e41983f5d4c9456");
	btc_sha256d(out, (const uint8_t *)"abc", 3);
	sd_hex_encode(hex, out, 32);
	CHECK_STREQ(hex, "4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5a"
			 "d5128cc03e6c6358");
}

int main(void)
{
	load_blocks();
	test_sha256d();
	test_all_blocks();
	test_tx_parse();
	test_truncated();
	test_wire_edges();
	test_flips();
	test_attach_spent();
	for (int h = 1; h <= N_BLOCKS; h++)
		free(blk_raw[h]);
	printf("test_block: ok\n");
	return 0;
}

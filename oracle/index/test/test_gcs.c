/* test_gcs.c - SipHash-2-4 and the BIP158 GCS builder: the SipHash paper's
 * vector, every block of BIP158's testnet-19.json (basic filter rebuilt
 * from the block and its prevout scripts), and the spec's worked taproot
 * examples (shared/spec/bip352-index.md section 10).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/util.h"
#include "../../../tests/lib/check.h"
#include "../compute_int.h"
#include "../oracle.h"

static void check_hex(const uint8_t *got, size_t len, const char *want)
{
	char *hex = sd_xmalloc(2 * len + 1);

	sd_hex_encode(hex, got, len);
	CHECK_STREQ(hex, want);
	free(hex);
}

static void test_siphash_paper(void)
{
	uint8_t key[16], msg[64];
	size_t i;

	for (i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	/* Appendix A of the paper: 15-byte message 00..0e. */
	CHECK(sd_siphash24(sd_le64_get(key), sd_le64_get(key + 8), msg,
			       15) == 0xa129ca6149be45e5ULL);
	/* Reference vectors.h: empty message, 8 bytes, 63 bytes. */
	CHECK(sd_siphash24(sd_le64_get(key), sd_le64_get(key + 8), msg,
			       0) == 0x726fdb47dd0e0e31ULL);
	CHECK(sd_siphash24(sd_le64_get(key), sd_le64_get(key + 8), msg,
			       8) == 0x93f5f5799a932462ULL);
	CHECK(sd_siphash24(sd_le64_get(key), sd_le64_get(key + 8), msg,
			       63) == 0x958a324ceb064572ULL);
}

struct elems {
	uint8_t **p;
	size_t *len, n, cap;
};

static void elems_add(struct elems *e, const uint8_t *d, size_t len)
{
	size_t i;

	if (len == 0)
		return;
	for (i = 0; i < e->n; i++) /* BIP158 basic filters are sets */
		if (e->len[i] == len && memcmp(e->p[i], d, len) == 0)
			return;
	if (e->n == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 16;
		e->p = sd_xrealloc(e->p, e->cap * sizeof(*e->p));
		e->len = sd_xrealloc(e->len, e->cap * sizeof(*e->len));
	}
	e->p[e->n] = sd_xmalloc(len);
	memcpy(e->p[e->n], d, len);
	e->len[e->n++] = len;
}

/* Basic filters hold scripts of any length: oracle_gcs_build_var. */
static void test_bip158_vectors(void)
{
	char path[512];
	json_error_t jerr;
	json_t *root;
	size_t row, checked = 0;

	snprintf(path, sizeof(path), "%s/bip158/testnet-19.json",
		 check_testdata_dir());
	root = json_load_file(path, 0, &jerr);
	CHECK(root && json_is_array(root));
	for (row = 1; row < json_array_size(root); row++) {
		json_t *r = json_array_get(root, row);
		const char *bhex = json_string_value(json_array_get(r, 2));
		const char *want = json_string_value(json_array_get(r, 5));
		json_t *prev = json_array_get(r, 3);
		size_t blen = strlen(bhex) / 2, i, t, o, out_len;
		uint8_t *braw = sd_xmalloc(blen), *filter;
		struct elems e = { 0 };
		struct btc_block *b;
		uint8_t hash[32];

		CHECK(sd_hex_decode(braw, blen, bhex, 2 * blen) == SD_OK);
		CHECK(btc_block_parse(braw, blen, &b) == SD_OK);
		CHECK(sd_hash_from_hex(hash, json_string_value(
			json_array_get(r, 1))) == SD_OK);
		CHECK(memcmp(hash, b->hash, 32) == 0);
		for (t = 0; t < b->n_tx; t++) {
			for (o = 0; o < b->tx[t].n_out; o++) {
				const struct btc_bytes *s;

				s = &b->tx[t].out[o].spk;
				if (s->len > 0 && s->data[0] != 0x6a)
					elems_add(&e, s->data, s->len);
			}
		}
		for (i = 0; i < json_array_size(prev); i++) {
			const char *h = json_string_value(
				json_array_get(prev, i));
			size_t l = strlen(h) / 2;
			uint8_t *s = sd_xmalloc(l ? l : 1);

			CHECK(sd_hex_decode(s, l, h, 2 * l) == SD_OK);
			elems_add(&e, s, l);
			free(s);
		}
		CHECK(oracle_gcs_build_var(b->hash, (const uint8_t *const *)e.p,
					   e.len, e.n, &filter,
					   &out_len) == SD_OK);
		check_hex(filter, out_len, want);
		free(filter);
		for (i = 0; i < e.n; i++)
			free(e.p[i]);
		free(e.p);
		free(e.len);
		btc_block_free(b);
		free(braw);
		checked++;
	}
	CHECK_EQ_INT(checked, 10);
	json_decref(root);
}

static void unhex(uint8_t *out, const char *hex)
{
	CHECK(sd_hex_decode(out, strlen(hex) / 2, hex, strlen(hex)) == SD_OK);
}

static void test_spec_taproot_examples(void)
{
	uint8_t key[32], elems[4 * 32], *f;
	size_t len;

	/* testnet genesis, internal order; the key is its first 16 bytes */
	CHECK(sd_hash_from_hex(key, "000000000933ea01ad0ee984209779baaec3ced9"
			       "0fa3f408719526f8d77f4943") == SD_OK);
	check_hex(key, 16, "43497fd7f826957108f4a30fd9cec3ae");
	unhex(elems, "2e847bb01d1b491da512ddd760b8509617ee38057003d6115d00ba"
	      "562451323a");
	unhex(elems + 32, "841792c33c9dc6193e76744134125d40add8f2f4a96475f28b"
	      "a150be032d64e8");
	unhex(elems + 64, "f207162b1a7abc51c42017bef055e9ec1efc3d3567cb720357"
	      "e2b84325db33ac");
	CHECK(sd_siphash24(sd_le64_get(key), sd_le64_get(key + 8), elems,
			       32) == 0x257a88e92b4c458fULL);
	CHECK(oracle_gcs_build(key, elems, 32, 3, &f, &len) == SD_OK);
	check_hex(f, len, "034a59109d17e237e0");
	free(f);
	/* the first key twice: duplicates kept, coded as a zero delta */
	memcpy(elems + 96, elems, 32);
	CHECK(oracle_gcs_build(key, elems, 32, 4, &f, &len) == SD_OK);
	check_hex(f, len, "04632170d17300000f17a960");
	free(f);
	/* empty set */
	CHECK(oracle_gcs_build(key, NULL, 32, 0, &f, &len) == SD_OK);
	check_hex(f, len, "00");
	free(f);
}

static void test_spent_entry(void)
{
	uint8_t txid[32], block[32], e[8];

	CHECK(sd_hash_from_hex(txid, "f4184fc596403b9d638783cf57adfe4c75c605f6"
			       "356fbc91338530e9831e9e16") == SD_OK);
	CHECK(sd_hash_from_hex(block, "000000000933ea01ad0ee984209779baaec3ce"
			       "d90fa3f408719526f8d77f4943") == SD_OK);
	oracle_spent_entry(txid, 0, block, e);
	check_hex(e, 8, "75a7c32cbe493c90");
}

/* Many elements: the CompactSize prefix grows past one byte; decode the
 * bits back and compare with the sorted mapped values. */
static void test_roundtrip_large(void)
{
	enum { N = 300 };
	uint8_t key[16] = { 1, 2, 3 }, elems[N * 8], *f;
	uint64_t k0 = sd_le64_get(key), k1 = sd_le64_get(key + 8);
	uint64_t want[N], f_range = (uint64_t)N * 784931ULL, acc = 0;
	size_t len, i, bit;

	for (i = 0; i < N; i++) {
		sd_le64_put(elems + 8 * i, i * 7919);
		want[i] = (uint64_t)(((unsigned __int128)sd_siphash24(
			k0, k1, elems + 8 * i, 8) * f_range) >> 64);
	}
	for (i = 1; i < N; i++) {
		uint64_t v = want[i];
		size_t j = i;

		for (; j > 0 && want[j - 1] > v; j--)
			want[j] = want[j - 1];
		want[j] = v;
	}
	CHECK(oracle_gcs_build(key, elems, 8, N, &f, &len) == SD_OK);
	CHECK(f[0] == 0xfd && f[1] == (N & 0xff) && f[2] == (N >> 8));
	bit = 3 * 8;
	for (i = 0; i < N; i++) {
		uint64_t q = 0, r = 0;
		int k;

		while (f[bit / 8] & (0x80 >> (bit % 8))) {
			q++;
			bit++;
		}
		bit++;
		for (k = 0; k < 19; k++, bit++)
			r = (r << 1) |
			    ((f[bit / 8] & (0x80 >> (bit % 8))) ? 1 : 0);
		acc += (q << 19) | r;
		CHECK(acc == want[i]);
	}
	CHECK_EQ_INT((bit + 7) / 8, len);
	free(f);
}

int main(void)
{
	test_siphash_paper();
	test_spec_taproot_examples();
	test_spent_entry();
	test_roundtrip_large();
	test_bip158_vectors();
	return 0;
}

/* test_bip352.c - BIP352 tweaks through oracle_tx_compute, the same call
 * the indexer makes: all 29 receiving objects of the BIP's
 * send_and_receive_test_vectors.json (27 tweaks, 2 none), per-input key
 * extraction against sending[*].expected.input_pub_keys, the spec's worked
 * numbers (section 8), and hand-made cases the vectors lack (segwit v2+
 * prevouts, long annex, non-NUMS script path, missing prevouts, dust).
 */
#include <jansson.h>
#include <secp256k1.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/util.h"
#include "../../../tests/lib/check.h"
#include "../compute_int.h"
#include "../oracle.h"

#define MAX_IN 32
#define MAX_WIT 16

/* A transaction built from a vector's vin list, owning its bytes. */
struct vtx {
	struct btc_tx tx;
	struct btc_txin in[MAX_IN];
	struct btc_bytes wit[MAX_IN][MAX_WIT];
	struct btc_txout out[2];
	uint8_t *bufs[4 * MAX_IN + 4];
	size_t n_bufs;
	uint8_t p2tr[34];
};

static uint8_t *vtx_hex(struct vtx *v, const char *hex, size_t *len)
{
	size_t l = strlen(hex) / 2;
	uint8_t *p = sd_xmalloc(l ? l : 1);

	CHECK(sd_hex_decode(p, l, hex, 2 * l) == SD_OK);
	CHECK(v->n_bufs < sizeof(v->bufs) / sizeof(v->bufs[0]));
	v->bufs[v->n_bufs++] = p;
	*len = l;
	return p;
}

static uint64_t read_cs(const uint8_t *p, size_t len, size_t *off)
{
	uint64_t n;

	CHECK(*off < len);
	n = p[(*off)++];
	if (n == 0xfd) {
		CHECK(*off + 2 <= len);
		n = p[*off] | (uint64_t)p[*off + 1] << 8;
		*off += 2;
	}
	CHECK(n < 0xfe); /* larger prefixes never occur in the vectors */
	return n;
}

/* Serialized witness stack: CompactSize count, then length-prefixed items. */
static void set_witness(struct vtx *v, size_t i, const char *hex)
{
	size_t len, off = 0, k;
	uint8_t *p = vtx_hex(v, hex, &len);

	v->in[i].witness = v->wit[i];
	v->in[i].n_witness = 0;
	if (len == 0)
		return;
	v->in[i].n_witness = read_cs(p, len, &off);
	CHECK(v->in[i].n_witness <= MAX_WIT);
	for (k = 0; k < v->in[i].n_witness; k++) {
		size_t l = read_cs(p, len, &off);

		CHECK(off + l <= len);
		v->wit[i][k].data = p + off;
		v->wit[i][k].len = l;
		off += l;
	}
	CHECK(off == len);
}

static void vtx_from_vin(struct vtx *v, json_t *vin)
{
	size_t i;

	memset(v, 0, sizeof(*v));
	CHECK(json_array_size(vin) <= MAX_IN);
	v->tx.in = v->in;
	v->tx.n_in = json_array_size(vin);
	for (i = 0; i < v->tx.n_in; i++) {
		json_t *e = json_array_get(vin, i);
		struct btc_txin *in = &v->in[i];
		json_t *spk = json_object_get(json_object_get(
			json_object_get(e, "prevout"), "scriptPubKey"), "hex");

		CHECK(sd_hash_from_hex(in->prev_txid, json_string_value(
			json_object_get(e, "txid"))) == SD_OK);
		in->prev_vout = (uint32_t)json_integer_value(
			json_object_get(e, "vout"));
		in->script_sig.data = vtx_hex(v, json_string_value(
			json_object_get(e, "scriptSig")), &in->script_sig.len);
		set_witness(v, i, json_string_value(
			json_object_get(e, "txinwitness")));
		in->has_prevout = true;
		in->prevout_value = 10000;
		in->prevout_spk.data = vtx_hex(v, json_string_value(spk),
					       &in->prevout_spk.len);
	}
	/* one P2TR output so that the tx is eligible */
	v->p2tr[0] = 0x51;
	v->p2tr[1] = 0x20;
	memset(v->p2tr + 2, 0x11, 32);
	v->out[0].value = 5000;
	v->out[0].spk.data = v->p2tr;
	v->out[0].spk.len = 34;
	v->tx.out = v->out;
	v->tx.n_out = 1;
}

static void vtx_free(struct vtx *v)
{
	size_t i;

	for (i = 0; i < v->n_bufs; i++)
		free(v->bufs[i]);
}

static void hex33(char out[67], const uint8_t k[33])
{
	sd_hex_encode(out, k, 33);
}

static json_t *load_vectors(void)
{
	char path[512];
	json_error_t jerr;
	json_t *root;

	snprintf(path, sizeof(path),
		 "%s/bip352/send_and_receive_test_vectors.json",
		 check_testdata_dir());
	root = json_load_file(path, 0, &jerr);
	CHECK(root && json_is_array(root));
	return root;
}

#define N_RECV 29

static void test_receiving(json_t *root)
{
	size_t c, r, n_obj = 0, n_tweak = 0, n_none = 0;
	struct vtx *all[N_RECV];
	struct oracle_tx_info infos[N_RECV], pinfos[N_RECV];
	struct btc_tx txs[N_RECV];
	struct oracle_pool *pool;
	struct btc_block blk;

	for (c = 0; c < json_array_size(root); c++) {
		json_t *recv = json_object_get(json_array_get(root, c),
					       "receiving");

		for (r = 0; r < json_array_size(recv); r++) {
			json_t *o = json_array_get(recv, r);
			json_t *want = json_object_get(
				json_object_get(o, "expected"), "tweak");
			struct vtx *v = sd_xmalloc(sizeof(*v));
			struct oracle_tx_info info;
			char got[67];

			vtx_from_vin(v, json_object_get(
				json_object_get(o, "given"), "vin"));
			CHECK(oracle_tx_compute(&v->tx, &info) == SD_OK);
			CHECK(info.has_taproot_output);
			CHECK_EQ_INT(info.highest_value, 5000);
			if (json_is_null(want)) {
				if (info.has_tweak) {
					fprintf(stderr, "case %zu: tweak, "
						"none expected\n", c);
				}
				CHECK(!info.has_tweak);
				n_none++;
			} else {
				if (!info.has_tweak)
					fprintf(stderr, "case %zu: no tweak\n",
						c);
				CHECK(info.has_tweak);
				hex33(got, info.tweak);
				if (strcmp(got, json_string_value(want)))
					fprintf(stderr, "case %zu\n", c);
				CHECK_STREQ(got, json_string_value(want));
				n_tweak++;
			}
			CHECK(n_obj < N_RECV);
			infos[n_obj] = info;
			all[n_obj++] = v;
		}
	}
	CHECK_EQ_INT(n_obj, N_RECV);
	/* the indexer's path: the same txs as one block on a 2-thread pool */
	memset(&blk, 0, sizeof(blk));
	for (r = 0; r < N_RECV; r++)
		txs[r] = all[r]->tx;
	blk.tx = txs;
	blk.n_tx = N_RECV;
	pool = oracle_pool_new(2);
	CHECK(oracle_block_compute(pool, &blk, pinfos) == SD_OK);
	for (r = 0; r < N_RECV; r++) {
		CHECK(infos[r].has_tweak == pinfos[r].has_tweak);
		CHECK(infos[r].has_taproot_output ==
		      pinfos[r].has_taproot_output);
		CHECK(infos[r].highest_value == pinfos[r].highest_value);
		CHECK(!infos[r].has_tweak ||
		      memcmp(infos[r].tweak, pinfos[r].tweak, 33) == 0);
	}
	oracle_pool_free(pool);
	for (r = 0; r < N_RECV; r++) {
		vtx_free(all[r]);
		free(all[r]);
	}
	CHECK_EQ_INT(n_tweak, 27);
	CHECK_EQ_INT(n_none, 2);
}

/* Key extraction input by input, against the sender's list (vin order). */
static void test_input_keys(json_t *root)
{
	size_t c, s, i, n_keys = 0;

	for (c = 0; c < json_array_size(root); c++) {
		json_t *send = json_object_get(json_array_get(root, c),
					       "sending");

		for (s = 0; s < json_array_size(send); s++) {
			json_t *o = json_array_get(send, s);
			json_t *want = json_object_get(
				json_object_get(o, "expected"),
				"input_pub_keys");
			struct vtx *v = sd_xmalloc(sizeof(*v));
			size_t k = 0;

			vtx_from_vin(v, json_object_get(
				json_object_get(o, "given"), "vin"));
			for (i = 0; i < v->tx.n_in; i++) {
				secp256k1_pubkey pk;
				uint8_t ser[33];
				size_t len = 33;
				char got[67];

				if (!oracle_input_key(&v->in[i], &pk))
					continue;
				secp256k1_ec_pubkey_serialize(
					secp256k1_context_static, ser, &len,
					&pk, SECP256K1_EC_COMPRESSED);
				hex33(got, ser);
				CHECK(k < json_array_size(want));
				CHECK_STREQ(got, json_string_value(
					json_array_get(want, k)));
				k++;
			}
			CHECK_EQ_INT(k, json_array_size(want));
			n_keys += k;
			vtx_free(v);
			free(v);
		}
	}
	CHECK(n_keys > 40);
}

/* Spec section 8: input_hash of case 0 from outpoint_L and A. */
static void test_worked_numbers(void)
{
	uint8_t op[36], a[33], h[32];
	char hex[65];

	CHECK(sd_hex_decode(op, 32, "169e1e83e930853391bc6f35f605c6754cfead57"
			    "cf8387639d3b4096c54f18f4", 64) == SD_OK);
	memset(op + 32, 0, 4);
	CHECK(sd_hex_decode(a, 33, "032562c1ab2d6bd45d7ca4d78f569999e5333dff"
			    "d3ac5263924fd00d00dedc4bee", 66) == SD_OK);
	oracle_input_hash(op, a, h);
	sd_hex_encode(hex, h, 32);
	CHECK_STREQ(hex, "5bfe5321d759e01a2ac9292f0f396ff9c3d8b58d89ccb21a692"
		    "2e84bb7ad0668");
}

static json_t *case_vin(json_t *root, size_t c)
{
	return json_object_get(json_object_get(json_array_get(json_object_get(
		json_array_get(root, c), "receiving"), 0), "given"), "vin");
}

static void compute(const struct btc_tx *tx, struct oracle_tx_info *info)
{
	CHECK(oracle_tx_compute(tx, info) == SD_OK);
}

/* Rules the vectors do not exercise, built from case 0 (two P2PKH) and
 * case 7 (two P2TR key paths). */
static void test_hand_cases(json_t *root)
{
	static const uint8_t annex_long[] = { 0x50, 0xaa, 0xbb, 0xcc };
	uint8_t v2spk[34], p2a[4] = { 0x51, 0x02, 0x4e, 0x73 };
	uint8_t v16spk[4] = { 0x60, 0x02, 0x00, 0x00 }, bad43[43];
	uint8_t cb[33], script[1] = { 0x51 }, base7[33], base0[33];
	struct vtx *v = sd_xmalloc(sizeof(*v));
	struct oracle_tx_info info;
	struct btc_bytes w[4];

	/* case 0 baseline */
	vtx_from_vin(v, case_vin(root, 0));
	compute(&v->tx, &info);
	CHECK(info.has_tweak);
	memcpy(base0, info.tweak, 33);

	/* an extra input spending a witness v2 output: whole tx skipped */
	memset(v2spk, 0x22, sizeof(v2spk));
	v2spk[0] = 0x52;
	v2spk[1] = 0x20;
	v->in[2] = v->in[1];
	v->in[2].prevout_spk.data = v2spk;
	v->in[2].prevout_spk.len = 34;
	v->tx.n_in = 3;
	compute(&v->tx, &info);
	CHECK(!info.has_tweak && info.has_taproot_output);
	/* witness v16, 2-byte program: skipped too */
	v->in[2].prevout_spk.data = v16spk;
	v->in[2].prevout_spk.len = 4;
	compute(&v->tx, &info);
	CHECK(!info.has_tweak);
	/* 43 bytes is no witness program: not skipped, input ineligible */
	memset(bad43, 0, sizeof(bad43));
	bad43[0] = 0x52;
	bad43[1] = 41;
	v->in[2].prevout_spk.data = bad43;
	v->in[2].prevout_spk.len = 43;
	v->in[2].prev_vout = 9; /* outpoint larger: outpoint_L unchanged */
	compute(&v->tx, &info);
	CHECK(info.has_tweak && memcmp(info.tweak, base0, 33) == 0);
	/* pay-to-anchor (v1, 2-byte program) does not skip either */
	v->in[2].prevout_spk.data = p2a;
	v->in[2].prevout_spk.len = 4;
	compute(&v->tx, &info);
	CHECK(info.has_tweak && memcmp(info.tweak, base0, 33) == 0);
	/* a missing prevout is an error */
	v->in[2].has_prevout = false;
	CHECK(oracle_tx_compute(&v->tx, &info) == SD_EINVAL);
	v->tx.n_in = 2;
	/* no taproot output: no tweak; P2A-like v1 output is no taproot */
	v->out[0].spk.data = p2a;
	v->out[0].spk.len = 4;
	compute(&v->tx, &info);
	CHECK(!info.has_taproot_output && !info.has_tweak);
	CHECK_EQ_INT(info.highest_value, 0);
	/* dust value: max over taproot outputs only */
	v->out[0].value = 99999;
	v->out[1].spk.data = v->p2tr;
	v->out[1].spk.len = 34;
	v->out[1].value = 777;
	v->tx.n_out = 2;
	compute(&v->tx, &info);
	CHECK(info.has_tweak && info.has_taproot_output);
	CHECK_EQ_INT(info.highest_value, 777);
	vtx_free(v);

	/* case 7 baseline: [sig] key paths */
	vtx_from_vin(v, case_vin(root, 7));
	CHECK(v->tx.n_in == 2 && v->in[0].n_witness == 1);
	compute(&v->tx, &info);
	CHECK(info.has_tweak);
	memcpy(base7, info.tweak, 33);
	/* key path with a long annex: annex dropped, same key */
	w[0] = v->in[0].witness[0];
	w[1].data = annex_long;
	w[1].len = sizeof(annex_long);
	v->in[0].witness = w;
	v->in[0].n_witness = 2;
	compute(&v->tx, &info);
	CHECK(info.has_tweak && memcmp(info.tweak, base7, 33) == 0);
	/* script path with a non-NUMS internal key: output key counts */
	cb[0] = 0xc0;
	memset(cb + 1, 0x33, 32);
	w[0].data = script;
	w[0].len = 1;
	w[1].data = script;
	w[1].len = 1;
	w[2].data = cb;
	w[2].len = 33;
	v->in[0].n_witness = 3;
	compute(&v->tx, &info);
	CHECK(info.has_tweak && memcmp(info.tweak, base7, 33) == 0);
	/* same with a long annex after the control block */
	w[3].data = annex_long;
	w[3].len = sizeof(annex_long);
	v->in[0].n_witness = 4;
	compute(&v->tx, &info);
	CHECK(info.has_tweak && memcmp(info.tweak, base7, 33) == 0);
	/* NUMS H internal key + long annex: input 0 yields no key, which is
	 * the same as an empty witness */
	memcpy(cb + 1, oracle_nums_h, 32);
	compute(&v->tx, &info);
	CHECK(info.has_tweak && memcmp(info.tweak, base7, 33) != 0);
	memcpy(base7, info.tweak, 33);
	v->in[0].n_witness = 0;
	compute(&v->tx, &info);
	CHECK(info.has_tweak && memcmp(info.tweak, base7, 33) == 0);
	/* lone annex-looking item is not an annex (needs >= 2 items): key
	 * path, key counts again */
	v->in[0].witness = w + 3;
	v->in[0].n_witness = 1;
	compute(&v->tx, &info);
	CHECK(info.has_tweak && memcmp(info.tweak, base7, 33) != 0);
	/* neither input yields a key: no tweak */
	v->in[0].n_witness = 0;
	v->in[1].n_witness = 0;
	compute(&v->tx, &info);
	CHECK(!info.has_tweak);
	vtx_free(v);
	free(v);
}

static void test_coinbase(void)
{
	struct btc_txin in;
	struct btc_txout out;
	struct btc_tx tx;
	struct oracle_tx_info info;
	uint8_t spk[34] = { 0x51, 0x20 };

	memset(&in, 0, sizeof(in));
	in.prev_vout = 0xffffffffu;
	out.value = 5000000000;
	out.spk.data = spk;
	out.spk.len = 34;
	memset(&tx, 0, sizeof(tx));
	tx.in = &in;
	tx.n_in = 1;
	tx.out = &out;
	tx.n_out = 1;
	CHECK(oracle_tx_compute(&tx, &info) == SD_OK);
	CHECK(info.has_taproot_output && !info.has_tweak);
	CHECK(info.highest_value == 5000000000ULL);
}

int main(void)
{
	json_t *root = load_vectors();

	test_worked_numbers();
	test_receiving(root);
	test_input_keys(root);
	test_hand_cases(root);
	test_coinbase();
	json_decref(root);
	return 0;
}

/* test_signet.c - BIP325 against real signet blocks (tests/data/signet):
 * every intermediate value of the independent decoder (*.inspect.txt) is
 * rebuilt from the block and compared: merkle and witness commitment,
 * stripped commitment script and solution, signet merkle root, block_data,
 * to_spend/to_sign, sighash and the ECDSA signature; the coinbase is rebuilt
 * from scratch; PSBT build/extract round-trips. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <secp256k1.h>

#include "miner/miner.h"
#include "common/util.h"
#include "tests/lib/check.h"

static char *slurp(const char *name)
{
	char path[1024];
	FILE *f;
	long n;
	char *s;

	snprintf(path, sizeof(path), "%s/signet/%s", check_testdata_dir(), name);
	f = fopen(path, "rb");
	CHECK(f != NULL);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = malloc((size_t)n + 1);
	CHECK(fread(s, 1, (size_t)n, f) == (size_t)n);
	s[n] = 0;
	fclose(f);
	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = 0;
	return s;
}

/* Value of "key   value" in an inspect file (first token after the key). */
static const char *field(const char *text, const char *key, char *out,
			 size_t outlen)
{
	const char *p = text;
	size_t kl = strlen(key);

	while ((p = strstr(p, key))) {
		if ((p == text || p[-1] == '\n') && p[kl] == ' ') {
			const char *v = p + kl;
			size_t n = 0;
			while (*v == ' ')
				v++;
			while (v[n] && strchr("0123456789abcdef", v[n]))
				n++;
			if (n == 0 || (v[n] != ' ' && v[n] != '\n' && v[n])) {
				p += kl; /* "witness commitment present" */
				continue;
			}
			CHECK(n < outlen);
			memcpy(out, v, n);
			out[n] = 0;
			return out;
		}
		p += kl;
	}
	out[0] = 0;
	return out;
}

static uint8_t *unhex(const char *hex, size_t *n)
{
	size_t len = strlen(hex);
	uint8_t *b = malloc(len / 2 + 1);
	*n = len / 2;
	CHECK(sd_hex_decode(b, *n, hex, len) == SD_OK);
	return b;
}

static void check_hex(const uint8_t *p, size_t n, const char *want)
{
	char *h = malloc(2 * n + 1);
	sd_hex_encode(h, p, n);
	if (strcmp(h, want) != 0)
		fprintf(stderr, "got  %s\nwant %s\n", h, want);
	CHECK_STREQ(h, want);
	free(h);
}

static void check_hex_rev(const uint8_t *p, const char *want)
{
	char h[65];
	sd_hex_encode_rev(h, p, 32);
	CHECK_STREQ(h, want);
}

static void verify_sig(const uint8_t *sig, size_t siglen, const uint8_t *pub,
		       const uint8_t hash[32])
{
	secp256k1_context *c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
	secp256k1_ecdsa_signature s;
	secp256k1_pubkey pk;
	CHECK(sig[siglen - 1] == 0x01);
	CHECK(secp256k1_ecdsa_signature_parse_der(c, &s, sig, siglen - 1));
	CHECK(secp256k1_ec_pubkey_parse(c, &pk, pub, 33));
	CHECK(secp256k1_ecdsa_verify(c, &s, hash, &pk));
	secp256k1_context_destroy(c);
}

static void one_block(const char *name, const char *chal_name)
{
	char fn[256], v[4096];
	char *hex, *ins, *chex;
	uint8_t *raw, *chal, h[32], commit[32];
	size_t n, cn;
	struct miner_block b, rebuilt;
	struct sd_buf sol = {0}, stripped = {0}, t = {0}, psbt = {0};
	struct miner_signet_txs st;
	struct miner_txin in = {0};
	bool found;
	int ci;

	snprintf(fn, sizeof(fn), "%s.hex", name);
	hex = slurp(fn);
	snprintf(fn, sizeof(fn), "%s.inspect.txt", name);
	ins = slurp(fn);
	chex = slurp(chal_name);
	raw = unhex(hex, &n);
	chal = unhex(chex, &cn);

	CHECK(miner_block_parse(raw, n, &b) == SD_OK);
	/* re-serialises byte for byte */
	miner_block_serialize(&b, &t);
	CHECK(t.len == n && memcmp(t.p, raw, n) == 0);
	t.len = 0;
	miner_block_hash(&b, h);
	check_hex_rev(h, field(ins, "header.hash", v, sizeof(v)));
	memcpy(commit, b.merkle, 32);
	miner_block_update_merkle(&b);
	CHECK(memcmp(commit, b.merkle, 32) == 0);
	ci = miner_commitment_index(&b.tx[0]);
	CHECK(ci == 1);
	miner_block_witness_commitment(&b, commit);
	check_hex(commit, 32, field(ins, "witness commitment", v, sizeof(v)));

	/* node-side split of the commitment script */
	CHECK(miner_signet_split(b.tx[0].out[ci].spk.p, b.tx[0].out[ci].spk.len,
				 &found, &sol, &stripped) == SD_OK);
	CHECK(found);
	check_hex(sol.p, sol.len, field(ins, "signet solution", v, sizeof(v)));
	check_hex(stripped.p, stripped.len,
		  field(ins, "commitment spk, solution stripped:", v, sizeof(v)));
	CHECK(miner_solution_parse(sol.p, sol.len, &in) == SD_OK);
	{ /* and back */
		struct sd_buf again = {0};
		miner_solution_from_txin(&in, &again);
		CHECK(again.len == sol.len && memcmp(again.p, sol.p, sol.len) == 0);
		sd_buf_free(&again);
	}

	/* virtual transactions */
	CHECK(miner_signet_txs(&b, chal, cn, &st) == SD_OK);
	check_hex_rev(st.signet_merkle, field(ins, "signet merkle root", v,
					      sizeof(v)));
	check_hex(st.block_data, 72, field(ins, "block_data (72)", v, sizeof(v)));
	miner_tx_serialize(&st.to_spend, true, &t);
	check_hex(t.p, t.len, field(ins, "to_spend raw", v, sizeof(v)));
	t.len = 0;
	miner_tx_txid(&st.to_spend, h);
	check_hex_rev(h, field(ins, "to_spend txid", v, sizeof(v)));
	miner_tx_serialize(&st.to_sign, true, &t);
	check_hex(t.p, t.len, field(ins, "to_sign unsigned raw", v, sizeof(v)));
	t.len = 0;

	/* sighash + signature */
	if (miner_challenge_kind(chal, cn) == MINER_CHALLENGE_MULTISIG_1OF1) {
		miner_sighash_legacy(&st.to_sign, chal, cn, h);
		check_hex(h, 32, field(ins, "sighash", v, sizeof(v)));
		/* scriptSig = 00 <push sig> */
		CHECK(in.script_sig.p[0] == 0x00);
		verify_sig(in.script_sig.p + 2, in.script_sig.p[1], chal + 2, h);
	} else {
		uint8_t code[25] = {0x76, 0xa9, 0x14}, h160[20];
		CHECK(miner_challenge_kind(chal, cn) == MINER_CHALLENGE_P2WPKH);
		memcpy(code + 3, chal + 2, 20);
		code[23] = 0x88;
		code[24] = 0xac;
		miner_sighash_bip143(&st.to_sign, code, 25, 0, h);
		check_hex(h, 32, field(ins, "sighash", v, sizeof(v)));
		CHECK(in.n_wit == 2 && in.wit[1].len == 33);
		btc_hash160(in.wit[1].p, 33, h160);
		CHECK(memcmp(h160, chal + 2, 20) == 0);
		verify_sig(in.wit[0].p, in.wit[0].len, in.wit[1].p, h);
	}

	/* Rebuild the coinbase from its parameters and the block from it. */
	{
		struct miner_coinbase_spec cs = {0};
		struct miner_tx *cb = &b.tx[0];
		struct miner_rd r;
		uint8_t hb[4] = {0};
		memset(&rebuilt, 0, sizeof(rebuilt));
		rebuilt.version = b.version;
		memcpy(rebuilt.prev, b.prev, 32);
		rebuilt.time = b.time;
		rebuilt.bits = b.bits;
		rebuilt.n_tx = b.n_tx;
		rebuilt.tx = calloc(b.n_tx, sizeof(*rebuilt.tx));
		for (size_t i = 1; i < b.n_tx; i++) {
			miner_tx_serialize(&b.tx[i], true, &t);
			r = (struct miner_rd){t.p, t.len, 0};
			CHECK(miner_tx_parse(&r, &rebuilt.tx[i]) == SD_OK);
			t.len = 0;
		}
		/* height from the BIP34 push */
		if (cb->in[0].script_sig.p[0] >= 0x51)
			cs.height = cb->in[0].script_sig.p[0] - 0x50;
		else {
			memcpy(hb, cb->in[0].script_sig.p + 1,
			       cb->in[0].script_sig.p[0]);
			cs.height = (int32_t)sd_le32_get(hb);
		}
		cs.value = cb->out[0].value;
		cs.spk = cb->out[0].spk.p;
		cs.spk_len = cb->out[0].spk.len;
		miner_block_set_coinbase(&rebuilt, &cs);
		/* unsigned PSBT -> extract gives the block back */
		CHECK(miner_psbt_build(&rebuilt, chal, cn, &psbt) == SD_OK);
		{
			struct miner_block back;
			struct sd_buf s2 = {0};
			CHECK(miner_psbt_extract(psbt.p, psbt.len, &back, &s2) ==
			      SD_OK);
			CHECK(s2.len == 2 && s2.p[0] == 0 && s2.p[1] == 0);
			miner_block_hash(&back, h);
			miner_block_hash(&rebuilt, commit);
			CHECK(memcmp(h, commit, 32) == 0);
			miner_block_clear(&back);
			sd_buf_free(&s2);
		}
		CHECK(miner_block_add_solution(&rebuilt, sol.p, sol.len) == SD_OK);
		rebuilt.nonce = b.nonce;
		miner_block_serialize(&rebuilt, &t);
		CHECK(t.len == n && memcmp(t.p, raw, n) == 0);
		t.len = 0;
		miner_block_clear(&rebuilt);
	}

	/* the block meets its target; one nonce less does not (mostly) */
	{
		uint8_t hdr[80], target[32];
		miner_block_header(&b, hdr);
		miner_bits_to_target(b.bits, target);
		btc_sha256d(h, hdr, 80);
		CHECK(miner_hash_meets(h, target));
	}

	miner_signet_txs_clear(&st);
	{
		struct miner_tx holder = {0};
		holder.in = malloc(sizeof(in));
		holder.in[0] = in;
		holder.n_in = 1;
		miner_tx_clear(&holder);
	}
	sd_buf_free(&sol);
	sd_buf_free(&stripped);
	sd_buf_free(&t);
	sd_buf_free(&psbt);
	miner_block_clear(&b);
	free(raw);
	free(chal);
	free(hex);
	free(ins);
	free(chex);
	printf("ok %s\n", name);
}

int main(void)
{
	one_block("sig1.block1", "sig1-multisig.challenge");
	one_block("run3.block1", "run3-multisig.challenge");
	one_block("run3.block102", "run3-multisig.challenge");
	one_block("run2.block1", "run2-p2wpkh.challenge");
	return 0;
}

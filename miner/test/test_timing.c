/* test_timing.c - the miner's pure parts: nBits <-> target, the interval and
 * slot rules of spec section 5, hms formatting, the grinder (against an
 * independent SHA-256d of the header) and native signing (verified with
 * libsecp256k1), key parsing (hex and WIF). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <secp256k1.h>

#include "miner/miner.h"
#include "common/util.h"
#include "tests/lib/check.h"

static void test_targets(void)
{
	uint8_t t[32] = {0};
	miner_bits_to_target(0x1e0377ae, t);
	CHECK(t[29] == 0x03 && t[28] == 0x77 && t[27] == 0xae && t[30] == 0 &&
	      t[26] == 0);
	CHECK(fabs(miner_target_double(0x1e0377ae) -
		   (double)0x0377ae * pow(2, 216)) < 1e50);
	CHECK_EQ_INT(miner_target_to_compact(miner_target_double(0x1e0377ae)),
		     0x1e0377ae);
	CHECK_EQ_INT(miner_target_to_compact(miner_target_double(0x1d00ffff)),
		     0x1d00ffff);
	/* a leading byte >= 0x80 gets a 00 byte in front */
	CHECK_EQ_INT(miner_target_to_compact(0x80 * pow(2, 200)), 0x1b008000);
	/* anything below the mantissa rounds up (easier target) */
	CHECK_EQ_INT(miner_target_to_compact((double)0x123456 * pow(2, 80) +
					     pow(2, 60)), 0x0d123457);
}

static void test_timing_rules(void)
{
	struct miner_timing t = {0};
	const char *h = "0000001f59db30fb4b3b364341f5c3950cad55f7fdbfc312b94dbacb60726a4f";
	int64_t bt, at;
	bool mine;
	char s[32];

	t.interval = 600.0 * 2016 / 2015;
	t.nbits = 0x1e0377ae;
	t.max_interval = 1800;
	t.mm_low = 0;
	t.mm_high = 1;
	t.mm_total = 1;
	t.backup_delay = 300;
	CHECK(fabs(miner_next_block_delta(&t, 0x1e0377ae, h) - t.interval) < 1e-9);
	/* much harder wanted than the chain: factor clamps to 0.25 */
	t.nbits = 0x1d00ffff;
	CHECK(fabs(miner_next_block_delta(&t, 0x1e0377ae, h) - t.interval / 4) < 1e-9);
	/* easier wanted: factor 4 -> capped by max_interval */
	t.nbits = 0x1f0377ae;
	CHECK(miner_next_block_delta(&t, 0x1e0377ae, h) == 1800);
	t.nbits = 0x1e0377ae;
	/* poisson: u from the last 8 hex digits */
	t.poisson = true;
	{
		double u = (double)0x60726a4f / 4294967296.0;
		CHECK(fabs(miner_next_block_delta(&t, 0x1e0377ae, h) -
			   t.interval * -log(1 - u)) < 1e-6);
	}
	t.poisson = false;
	/* slots: hex digits [-16:-8] = b94dbacb */
	t.mm_total = 3;
	t.mm_low = (int)(0xb94dbacbu % 3);
	t.mm_high = t.mm_low + 1;
	CHECK(miner_next_block_is_mine(&t, h));
	t.mm_low = (t.mm_low + 1) % 3;
	t.mm_high = t.mm_low + 1;
	CHECK(!miner_next_block_is_mine(&t, h));
	/* not ours: backup delay; first block of a run: now */
	miner_next_block_time(&t, 5000, 10, 1000, 0x1e0377ae, h, false, &bt, &at,
			      &mine);
	CHECK(!mine && bt == 1600 && at == 1900);
	miner_next_block_time(&t, 5000, 10, 1000, 0x1e0377ae, h, true, &bt, &at,
			      &mine);
	CHECK(bt == 1600 && at == 5000);
	/* genesis tip: backdated 100 intervals */
	miner_next_block_time(&t, 100000, 0, 1598918400, 0x1e0377ae, h, true,
			      &bt, &at, &mine);
	CHECK(bt == 100000 - 60030 && at == 100000);
	/* never more than 6900 s early */
	t.standby_delay = 10;
	miner_next_block_time(&t, 0, 10, 100000, 0x1e0377ae, h, false, &bt, &at,
			      &mine);
	CHECK(at >= bt);
	miner_fmt_hms(s, sizeof(s), 59430.6);
	CHECK_STREQ(s, "16h30m31s");
	miner_fmt_hms(s, sizeof(s), -232);
	CHECK_STREQ(s, "-3m52s");
	miner_fmt_hms(s, sizeof(s), 0);
	CHECK_STREQ(s, "0s");
}

static void test_grind(void)
{
	uint8_t hdr[80] = {0}, h[32], t[32];
	struct miner_grind_result r;

	hdr[0] = 4;
	sd_le32_put(hdr + 72, 0x1f00ffff); /* ~1/256 of hashes pass */
	for (unsigned threads = 1; threads <= 2; threads++) {
		hdr[68] = (uint8_t)threads;
		CHECK(miner_grind(hdr, threads, NULL, &r) == SD_OK);
		btc_sha256d(h, hdr, 80);
		miner_bits_to_target(0x1f00ffff, t);
		CHECK(miner_hash_meets(h, t));
		/* the lowest valid nonce: none below it passes */
		for (uint32_t n = 0; n < r.nonce; n++) {
			sd_le32_put(hdr + 76, n);
			btc_sha256d(h, hdr, 80);
			CHECK(!miner_hash_meets(h, t));
		}
	}
	/* the sig1 block 1 header at its real nonce */
	{
		const char *hex = "00000020f61eee3b63a380a477a063af32b2bbc97c9ff9f01f2c4225e973988108000000b208b12a1fe710389d809f46249a446b6ea7abf4fb66918d1f97ec8b6bf02c3fba9c076bae77031ea5361e00";
		bool found;
		uint32_t nonce;
		CHECK(sd_hex_decode(hdr, 80, hex, 160) == SD_OK);
		miner_grind_range(hdr, 1980069 - 10, 20, &found, &nonce);
		CHECK(found && nonce <= 1980069);
	}
}

static void test_sign(void)
{
	struct miner_key *k, *k2;
	uint8_t pub[33], chal[37], h160[20], wchal[22];
	char hex[65];
	struct miner_block b = {0};
	struct miner_coinbase_spec cs = {0};
	struct miner_signet_txs t;
	struct sd_buf sol = {0};
	struct miner_txin in = {0};
	secp256k1_context *c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
	secp256k1_ecdsa_signature sig;
	secp256k1_pubkey pk;
	uint8_t hash[32];

	CHECK(miner_key_generate(&k) == SD_OK);
	miner_key_pubkey(k, pub);
	miner_key_hex(k, hex);
	CHECK(miner_key_from_text(hex, &k2) == SD_OK);
	miner_key_free(k2);
	CHECK(miner_key_from_text("zz", &k2) == SD_EPARSE);
	/* WIF of secret 1 (testnet, compressed) */
	CHECK(miner_key_from_text("cMahea7zqjxrtgAbB7LSGbcQUr1uX1ojuat9jZodMN87JcbXMTcA",
				  &k2) == SD_OK);
	miner_key_free(k2);
	chal[0] = 0x51;
	chal[1] = 0x21;
	memcpy(chal + 2, pub, 33);
	chal[35] = 0x51;
	chal[36] = 0xae;
	btc_hash160(pub, 33, h160);
	wchal[0] = 0;
	wchal[1] = 0x14;
	memcpy(wchal + 2, h160, 20);

	b.version = 0x20000000;
	b.bits = 0x1e0377ae;
	b.time = 1800000000;
	b.n_tx = 1;
	b.tx = sd_xcalloc(1, sizeof(*b.tx));
	cs.height = 300;
	cs.value = 5000000000;
	cs.spk = (const uint8_t *)"\x51";
	cs.spk_len = 1;
	miner_block_set_coinbase(&b, &cs);
	CHECK(b.tx[0].in[0].script_sig.len == 3); /* 02 2c01 */

	CHECK(miner_signet_txs(&b, chal, 37, &t) == SD_OK);
	CHECK(miner_sign_solution(k, chal, 37, &t, &sol) == SD_OK);
	CHECK(miner_solution_parse(sol.p, sol.len, &in) == SD_OK);
	CHECK(in.n_wit == 0 && in.script_sig.p[0] == 0);
	/* low R: at most a 70-byte DER + hashtype (the key is random: one
	 * time in ~128 S has a leading zero byte and the DER is shorter) */
	CHECK(in.script_sig.p[1] >= 9 && in.script_sig.p[1] <= 71);
	miner_sighash_legacy(&t.to_sign, chal, 37, hash);
	CHECK(secp256k1_ecdsa_signature_parse_der(c, &sig, in.script_sig.p + 2,
						  in.script_sig.p[1] - 1u));
	CHECK(secp256k1_ec_pubkey_parse(c, &pk, pub, 33));
	CHECK(secp256k1_ecdsa_verify(c, &sig, hash, &pk));
	/* the wrong challenge kind / key is refused */
	CHECK(miner_sign_solution(k, (const uint8_t *)"\x51", 1, &t, &sol) ==
	      SD_EINVAL);
	miner_signet_txs_clear(&t);

	sol.len = 0;
	CHECK(miner_signet_txs(&b, wchal, 22, &t) == SD_OK);
	CHECK(miner_sign_solution(k, wchal, 22, &t, &sol) == SD_OK);
	CHECK(miner_solution_parse(sol.p, sol.len, &in) == SD_OK);
	CHECK(in.script_sig.len == 0 && in.n_wit == 2);
	CHECK(memcmp(in.wit[1].p, pub, 33) == 0);
	{
		uint8_t code[25] = {0x76, 0xa9, 0x14};
		memcpy(code + 3, h160, 20);
		code[23] = 0x88;
		code[24] = 0xac;
		miner_sighash_bip143(&t.to_sign, code, 25, 0, hash);
	}
	CHECK(secp256k1_ecdsa_signature_parse_der(c, &sig, in.wit[0].p,
						  in.wit[0].len - 1));
	CHECK(secp256k1_ecdsa_verify(c, &sig, hash, &pk));
	miner_signet_txs_clear(&t);

	/* the solution lands in the commitment output and the node-side split
	 * finds it again */
	CHECK(miner_block_add_solution(&b, sol.p, sol.len) == SD_OK);
	{
		bool found;
		struct sd_buf s2 = {0}, stripped = {0};
		const struct sd_buf *spk = &b.tx[0].out[1].spk;
		CHECK(miner_signet_split(spk->p, spk->len, &found, &s2,
					 &stripped) == SD_OK);
		CHECK(found && s2.len == sol.len &&
		      memcmp(s2.p, sol.p, sol.len) == 0);
		CHECK(stripped.len == 38 + 5);
		sd_buf_free(&s2);
		sd_buf_free(&stripped);
	}
	{
		struct miner_tx holder = {0};
		holder.in = sd_xmalloc(sizeof(in));
		holder.in[0] = in;
		holder.n_in = 1;
		miner_tx_clear(&holder);
	}
	sd_buf_free(&sol);
	miner_block_clear(&b);
	miner_key_free(k);
	secp256k1_context_destroy(c);
}

int main(void)
{
	test_targets();
	test_timing_rules();
	test_grind();
	test_sign();
	printf("ok\n");
	return 0;
}

/* bench_tweak.c - the EC ceiling of BIP352 tweak computation on this
 * machine, and what oracle_block_compute reaches against it.
 *
 *   ec_raw      the bare libsecp256k1 sequence per 2-input tx (2 parses,
 *               combine, serialize, tagged hash from midstate, tweak_mul,
 *               serialize), 1 thread and N threads (independent pthreads);
 *   tx_compute  oracle_tx_compute on synthetic 2-input P2WPKH txs, 1 thread;
 *   pool        oracle_block_compute on a synthetic 1500-tx block with a
 *               pool of 1 and N threads;
 *   regtest_a   oracle_block_compute on regtest-a's big blocks (150, 222,
 *               300, 360), prevouts attached from the earlier blocks.
 *
 * One line per measurement (logfmt).  usage: bench_tweak [THREADS] [SECONDS]
 * (defaults: online CPUs, 2 s per measurement); run from the repo root or
 * set SIGNETD_TESTDATA_DIR. */
#include <pthread.h>
#include <secp256k1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../oracle/index/compute_int.h"
#include "../oracle/index/oracle.h"
#include "../common/util.h"

#define N_TX 1500

static double seconds = 2.0;

/* CPU seconds used by the process: with other load on the machine, the
 * rate per CPU second is the per-core ceiling, the wall rate is what we
 * got. */
static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct synth {
	struct btc_tx tx[N_TX];
	struct btc_txin in[N_TX][2];
	struct btc_bytes wit[N_TX][2][2];
	struct btc_txout out[N_TX];
	uint8_t key[N_TX][2][33];
	uint8_t spk_in[22], spk_out[34], sig[72];
};

/* 1500 txs, each spending two P2WPKH outputs with distinct real keys. */
static struct synth *synth_new(void)
{
	struct synth *s = sd_xcalloc(1, sizeof(*s));
	secp256k1_context *ctx = secp256k1_context_create(
		SECP256K1_CONTEXT_NONE);
	uint8_t sk[32];
	size_t t, i, len;

	s->spk_in[0] = 0x00;
	s->spk_in[1] = 0x14;
	s->spk_out[0] = 0x51;
	s->spk_out[1] = 0x20;
	memset(s->spk_out + 2, 0x42, 32);
	memset(s->sig, 0x30, sizeof(s->sig));
	for (t = 0; t < N_TX; t++) {
		for (i = 0; i < 2; i++) {
			struct btc_txin *in = &s->in[t][i];
			secp256k1_pubkey pk;

			memset(sk, 0, sizeof(sk));
			sd_be32_put(sk + 28, (uint32_t)(2 * t + i + 1));
			sk[0] = 0x1f;
			if (!secp256k1_ec_pubkey_create(ctx, &pk, sk))
				abort();
			len = 33;
			secp256k1_ec_pubkey_serialize(ctx, s->key[t][i], &len,
						      &pk,
						      SECP256K1_EC_COMPRESSED);
			sd_be32_put(in->prev_txid, (uint32_t)t);
			in->prev_vout = (uint32_t)i;
			in->witness = s->wit[t][i];
			in->n_witness = 2;
			s->wit[t][i][0].data = s->sig;
			s->wit[t][i][0].len = sizeof(s->sig);
			s->wit[t][i][1].data = s->key[t][i];
			s->wit[t][i][1].len = 33;
			in->has_prevout = true;
			in->prevout_value = 100000;
			in->prevout_spk.data = s->spk_in;
			in->prevout_spk.len = sizeof(s->spk_in);
		}
		s->out[t].value = 50000;
		s->out[t].spk.data = s->spk_out;
		s->out[t].spk.len = sizeof(s->spk_out);
		s->tx[t].in = s->in[t];
		s->tx[t].n_in = 2;
		s->tx[t].out = &s->out[t];
		s->tx[t].n_out = 1;
	}
	secp256k1_context_destroy(ctx);
	return s;
}

/* The bare EC sequence of one 2-input tx. */
static void ec_raw_one(const struct synth *s, size_t t, uint8_t tweak[33])
{
	const secp256k1_context *ctx = secp256k1_context_static;
	secp256k1_pubkey k[2], a;
	const secp256k1_pubkey *p[2] = { &k[0], &k[1] };
	uint8_t a33[33], op[36] = { 0 }, h[32];
	size_t len = 33;

	if (!secp256k1_ec_pubkey_parse(ctx, &k[0], s->key[t][0], 33) ||
	    !secp256k1_ec_pubkey_parse(ctx, &k[1], s->key[t][1], 33) ||
	    !secp256k1_ec_pubkey_combine(ctx, &a, p, 2))
		abort();
	secp256k1_ec_pubkey_serialize(ctx, a33, &len, &a,
				      SECP256K1_EC_COMPRESSED);
	memcpy(op, s->in[t][0].prev_txid, 32);
	oracle_input_hash(op, a33, h);
	if (!secp256k1_ec_pubkey_tweak_mul(ctx, &a, h))
		abort();
	len = 33;
	secp256k1_ec_pubkey_serialize(ctx, tweak, &len, &a,
				      SECP256K1_EC_COMPRESSED);
}

struct raw_arg {
	const struct synth *s;
	size_t first;
	uint64_t done;
	uint64_t deadline_ns;
};

static void *raw_thread(void *p)
{
	struct raw_arg *a = p;
	uint8_t tw[33];
	size_t t = a->first;

	while (sd_mono_ns() < a->deadline_ns) {
		for (int i = 0; i < 64; i++) {
			ec_raw_one(a->s, t, tw);
			t = (t + 1) % N_TX;
		}
		a->done += 64;
	}
	return NULL;
}

static double bench_ec_raw(const struct synth *s, unsigned threads,
			   double *per_cpu)
{
	pthread_t th[64];
	struct raw_arg a[64];
	uint64_t t0 = sd_mono_ns(), total = 0;
	double c0 = cpu_s();
	unsigned i;

	for (i = 0; i < threads; i++) {
		a[i] = (struct raw_arg){ s, (N_TX / threads) * i, 0,
					 t0 + (uint64_t)(seconds * 1e9) };
		if (pthread_create(&th[i], NULL, raw_thread, &a[i]) != 0)
			abort();
	}
	for (i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		total += a[i].done;
	}
	*per_cpu = (double)total / (cpu_s() - c0);
	return (double)total / ((double)(sd_mono_ns() - t0) / 1e9);
}

static double bench_tx_compute(const struct synth *s, double *per_cpu)
{
	struct oracle_tx_info info;
	uint64_t t0 = sd_mono_ns(), n = 0;
	double c0 = cpu_s();
	size_t t = 0;

	while (sd_mono_ns() - t0 < (uint64_t)(seconds * 1e9)) {
		for (int i = 0; i < 64; i++) {
			if (oracle_tx_compute(&s->tx[t], &info) != SD_OK ||
			    !info.has_tweak)
				abort();
			t = (t + 1) % N_TX;
		}
		n += 64;
	}
	*per_cpu = (double)n / (cpu_s() - c0);
	return (double)n / ((double)(sd_mono_ns() - t0) / 1e9);
}

/* Repeat oracle_block_compute on b for `seconds`: blocks/s, tweaks/s. */
static void bench_block(struct oracle_pool *pool, const struct btc_block *b,
			double *blocks_s, double *tweaks_s, double *per_cpu)
{
	struct oracle_tx_info *info = sd_xcalloc(b->n_tx, sizeof(*info));
	uint64_t t0 = sd_mono_ns(), n = 0, tweaks = 0, per = 0;
	double el, c0 = cpu_s();
	size_t i;

	if (oracle_block_compute(pool, b, info) != SD_OK)
		abort();
	for (i = 0; i < b->n_tx; i++)
		per += info[i].has_tweak;
	while (sd_mono_ns() - t0 < (uint64_t)(seconds * 1e9)) {
		if (oracle_block_compute(pool, b, info) != SD_OK)
			abort();
		n++;
		tweaks += per;
	}
	el = (double)(sd_mono_ns() - t0) / 1e9;
	*per_cpu = (double)tweaks / (cpu_s() - c0);
	*blocks_s = (double)n / el;
	*tweaks_s = (double)tweaks / el;
	free(info);
}

/* ---- regtest-a: parse blocks.hex, attach prevouts from a map ---- */

#define SLOTS (1u << 18)
struct slot {
	const struct btc_tx *tx; /* NULL = empty */
	uint32_t vout;
};
static struct slot *slots;

static size_t slot_of(const uint8_t *txid, uint32_t vout)
{
	return (size_t)((sd_le64_get(txid) ^ (vout * 0x9e3779b97f4a7c15ULL)) &
			(SLOTS - 1));
}

static void attach(struct btc_block *b)
{
	size_t t, i, k;

	for (t = 0; t < b->n_tx; t++) {
		struct btc_tx *tx = &b->tx[t];

		for (i = 0; t > 0 && i < tx->n_in; i++) {
			struct btc_txin *in = &tx->in[i];

			for (k = slot_of(in->prev_txid, in->prev_vout);
			     slots[k].tx; k = (k + 1) & (SLOTS - 1)) {
				if (slots[k].vout == in->prev_vout &&
				    !memcmp(slots[k].tx->txid, in->prev_txid,
					    32))
					break;
			}
			if (!slots[k].tx)
				abort();
			in->has_prevout = true;
			in->prevout_value =
				slots[k].tx->out[in->prev_vout].value;
			in->prevout_spk = slots[k].tx->out[in->prev_vout].spk;
		}
		for (i = 0; i < tx->n_out; i++) {
			for (k = slot_of(tx->txid, (uint32_t)i); slots[k].tx;
			     k = (k + 1) & (SLOTS - 1))
				;
			slots[k].tx = tx;
			slots[k].vout = (uint32_t)i;
		}
	}
}

static size_t load_regtest_a(struct btc_block **blocks, size_t max)
{
	const char *dir = getenv("SIGNETD_TESTDATA_DIR");
	char path[512], *line = NULL;
	size_t cap = 0, n = 0;
	ssize_t got;
	FILE *f;

	snprintf(path, sizeof(path), "%s/regtest-a/blocks.hex",
		 dir ? dir : "tests/data");
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "bench_tweak: cannot open %s\n", path);
		return 0;
	}
	slots = sd_xcalloc(SLOTS, sizeof(*slots));
	while (n < max && (got = getline(&line, &cap, f)) > 1) {
		size_t len = (size_t)(got - 1) / 2;
		uint8_t *raw = sd_xmalloc(len);

		if (sd_hex_decode(raw, len, line, 2 * len) != SD_OK ||
		    btc_block_parse(raw, len, &blocks[n + 1]) != SD_OK)
			abort();
		free(raw);
		attach(blocks[++n]);
	}
	free(line);
	fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned threads = argc > 1 ? (unsigned)atoi(argv[1]) :
				      (unsigned)(cpus > 0 ? cpus : 1);
	static struct btc_block *blocks[401];
	static const int big[] = { 150, 222, 300, 360 };
	struct oracle_pool *p1, *pn;
	struct btc_block sb;
	struct synth *s;
	double r1, rn, bs, ts, c1, cn, c;
	size_t n, i;

	if (argc > 2)
		seconds = atof(argv[2]);
	if (threads < 1 || threads > 64 || seconds <= 0) {
		fprintf(stderr, "usage: bench_tweak [THREADS] [SECONDS]\n");
		return 2;
	}
	s = synth_new();
	r1 = bench_ec_raw(s, 1, &c1);
	printf("bench=ec_raw threads=1 tweaks_per_s=%.0f per_cpu_s=%.0f "
	       "us_per_tweak_cpu=%.1f\n", r1, c1, 1e6 / c1);
	rn = bench_ec_raw(s, threads, &cn);
	printf("bench=ec_raw threads=%u tweaks_per_s=%.0f per_cpu_s=%.0f "
	       "speedup=%.2f\n", threads, rn, cn, rn / r1);
	ts = bench_tx_compute(s, &c);
	printf("bench=tx_compute threads=1 tweaks_per_s=%.0f per_cpu_s=%.0f "
	       "of_ceiling_cpu=%.0f%%\n", ts, c, 100 * c / c1);

	memset(&sb, 0, sizeof(sb));
	sb.n_tx = N_TX;
	sb.tx = s->tx;
	p1 = oracle_pool_new(1);
	pn = oracle_pool_new(threads);
	bench_block(p1, &sb, &bs, &ts, &c);
	printf("bench=pool_synthetic threads=1 txs=%d blocks_per_s=%.1f "
	       "tweaks_per_s=%.0f of_ceiling=%.0f%% per_cpu_s=%.0f\n", N_TX,
	       bs, ts, 100 * ts / r1, c);
	bench_block(pn, &sb, &bs, &ts, &c);
	printf("bench=pool_synthetic threads=%u txs=%d blocks_per_s=%.1f "
	       "tweaks_per_s=%.0f of_ceiling=%.0f%% per_cpu_s=%.0f\n",
	       threads, N_TX, bs, ts, 100 * ts / rn, c);

	n = load_regtest_a(blocks, 400);
	for (i = 0; n == 400 && i < sizeof(big) / sizeof(big[0]); i++) {
		const struct btc_block *b = blocks[big[i]];

		bench_block(p1, b, &bs, &ts, &c);
		printf("bench=regtest_a height=%d txs=%zu threads=1 "
		       "blocks_per_s=%.1f tweaks_per_s=%.0f per_cpu_s=%.0f\n",
		       big[i], b->n_tx, bs, ts, c);
		bench_block(pn, b, &bs, &ts, &c);
		printf("bench=regtest_a height=%d txs=%zu threads=%u "
		       "blocks_per_s=%.1f tweaks_per_s=%.0f per_cpu_s=%.0f\n",
		       big[i], b->n_tx, threads, bs, ts, c);
	}
	if (n != 400)
		printf("bench=regtest_a error=blocks_not_found\n");
	for (i = 1; i <= n; i++)
		btc_block_free(blocks[i]);
	free(slots);
	oracle_pool_free(p1);
	oracle_pool_free(pn);
	free(s);
	return n == 400 ? 0 : 1;
}

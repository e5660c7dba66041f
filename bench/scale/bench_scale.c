/* bench_scale.c - mainnet-shaped chain data fed to the tweak index through
 * the daemon's own connect path, to measure how every cost grows with the
 * chain (issue 18).  No node: each block is generated as the bytes a
 * bitcoind would hand over (/rest/block/<h>.bin and
 * /rest/spenttxouts/<h>.bin), parsed by btc_block_parse() and
 * btc_block_attach_spent() exactly as rpc/rest.c does, prepared as the
 * daemon's fetch threads do (oracle_block_prepare, or the EC-free variant
 * below), connected with oracle_index_connect_prepared() in a group-commit
 * batch flushed every --group blocks (signetd/daemon.c cb_connect and
 * cb_flush during a catch-up sync).
 *
 * Without --ec (the default) the prepared struct is built here from the
 * parsed block instead of by oracle_block_prepare(): has_taproot_output,
 * highest_value and has_tweak follow oracle_tx_compute's rules for the
 * txs this generator makes (every non-coinbase input yields a key), the
 * tweak is a valid point drawn from a pool, and the filters and spent
 * index are built with the same public functions prepare uses.  Only the
 * EC work (input_hash * A) is skipped; --check N compares the first N
 * blocks with the real oracle_block_prepare() field by field.
 *
 * Every --checkpoint blocks: connect/commit percentiles, index bytes per
 * table, RSS, reorgs of depth 6 and 100 (disconnect, reconnect), close,
 * the data file evicted from the page cache, a cold raw-LMDB read of a
 * deep block, then open -> first read (outpoint map rebuild) and the
 * first connect after the open.  One CSV row each (--csv); one row per
 * block in --blocks-csv.  --open-only: a fresh process opens an existing
 * datadir and reports open -> first read and its RSS.
 * bench/scale/README.md has the results and what they mean.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <fcntl.h>
#include <getopt.h>
#include <lmdb.h>
#include <math.h>
#include <openssl/ripemd.h>
#include <openssl/sha.h>
#include <secp256k1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oracle/index/oracle.h"
#include "bitcoin/block.h"
#include "common/log.h"
#include "common/util.h"

/* ---- options ------------------------------------------------------------ */

static struct {
	const char *datadir, *csv, *blocks_csv;
	long blocks, txs, other, big_txs, big_every, checkpoint, group;
	long mean_delay, max_delay, check;
	double never, dust;
	bool ec, open_only;
	uint64_t seed;
} opt = {
	.datadir = "/tmp/signetd-scale", .csv = "scale.csv",
	.blocks_csv = NULL, .blocks = 200, .txs = 1200, .other = 800,
	.big_txs = 9000, .big_every = 250, .checkpoint = 1000, .group = 16,
	.mean_delay = 500, .max_delay = 20000, .check = 0,
	.never = 0.35, .dust = 0.10, .ec = false, .seed = 1,
};

/* ---- small helpers ------------------------------------------------------ */

static uint64_t rs[4];

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rnd(void)    /* xoshiro256** */
{
	uint64_t r = rotl(rs[1] * 5, 7) * 9, t = rs[1] << 17;

	rs[2] ^= rs[0];
	rs[3] ^= rs[1];
	rs[1] ^= rs[2];
	rs[0] ^= rs[3];
	rs[2] ^= t;
	rs[3] = rotl(rs[3], 45);
	return r;
}

static void rnd_seed(uint64_t s)
{
	for (int i = 0; i < 4; i++) {
		uint64_t z = (s += 0x9e3779b97f4a7c15ull);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		rs[i] = z ^ (z >> 31);
	}
}

static double rnd01(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

static uint32_t rnd_n(uint32_t n)
{
	return (uint32_t)(((rnd() >> 32) * (uint64_t)n) >> 32);
}

static void rnd_bytes(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t x = rnd();

		memcpy(p + i, &x, n - i < 8 ? n - i : 8);
	}
}

static double ms_since(uint64_t t0)
{
	return (double)(sd_mono_ns() - t0) / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* p-th percentile (0..100) of n values (sorted in place). */
static double pct(double *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_d);
	i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* ---- byte buffer -------------------------------------------------------- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static uint8_t *buf_room(struct buf *b, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = sd_xrealloc(b->p, b->cap);
	}
	b->len += n;
	return b->p + b->len - n;
}

static void put(struct buf *b, const void *p, size_t n)
{
	memcpy(buf_room(b, n), p, n);
}

static void put_u8(struct buf *b, uint8_t v)
{
	put(b, &v, 1);
}

static void put_le32(struct buf *b, uint32_t v)
{
	sd_le32_put(buf_room(b, 4), v);
}

static void put_le64(struct buf *b, uint64_t v)
{
	uint8_t *p = buf_room(b, 8);

	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_cs(struct buf *b, uint64_t v)  /* CompactSize */
{
	if (v < 0xfd) {
		put_u8(b, (uint8_t)v);
	} else if (v <= 0xffff) {
		put_u8(b, 0xfd);
		put_u8(b, (uint8_t)v);
		put_u8(b, (uint8_t)(v >> 8));
	} else {
		put_u8(b, 0xfe);
		put_le32(b, (uint32_t)v);
	}
}

/* ---- keys --------------------------------------------------------------- */

/* Pool of valid points: P2TR output keys (x-only) from the first half,
 * P2WPKH input keys from the second, so that no tx's input keys can sum to
 * infinity (a P2TR key lifted to even y plus the same x with odd y): with
 * real EC such a tx has no tweak (seen once in 240,000 before the split). */
#define KEYS 16384

static uint8_t key33[KEYS][33];   /* compressed */
static uint8_t key_h160[KEYS][20];
static uint8_t xonly_ok[KEYS][32]; /* x of a point with even y */

static void keys_init(void)
{
	secp256k1_context *ctx = secp256k1_context_create(
		SECP256K1_CONTEXT_NONE);
	uint8_t sk[32], sha[32];

	for (int i = 0; i < KEYS; i++) {
		secp256k1_pubkey pk;
		size_t len = 33;

		do
			rnd_bytes(sk, 32);
		while (!secp256k1_ec_pubkey_create(ctx, &pk, sk));
		secp256k1_ec_pubkey_serialize(ctx, key33[i], &len, &pk,
					      SECP256K1_EC_COMPRESSED);
		SHA256(key33[i], 33, sha);
		RIPEMD160(sha, 32, key_h160[i]);
		memcpy(xonly_ok[i], key33[i] + 1, 32);
	}
	secp256k1_context_destroy(ctx);
}

/* ---- the spend schedule ------------------------------------------------- */

/* A tracked (P2TR, tweak-bearing tx) output waiting for its spend. */
struct pend {
	uint8_t txid[32];
	uint64_t value;
	uint32_t key;
	uint32_t vout;
};

struct bucket {
	struct pend *p;
	size_t n, cap;
};

static struct bucket *sched;  /* ring of max_delay + 1 heights */
static size_t sched_n;        /* entries in it */
static uint64_t n_created, n_spent, n_never, n_beyond;

static void sched_add(long h, const struct pend *e)
{
	struct bucket *bk = &sched[h % (opt.max_delay + 1)];

	if (bk->n == bk->cap) {
		bk->cap = bk->cap ? bk->cap * 2 : 64;
		bk->p = sd_xrealloc(bk->p, bk->cap * sizeof(*bk->p));
	}
	bk->p[bk->n++] = *e;
	sched_n++;
}

static size_t sched_bytes(void)
{
	size_t s = 0;

	for (long i = 0; i <= opt.max_delay; i++)
		s += sched[i].cap * sizeof(struct pend);
	return s;
}

/* ---- block generation --------------------------------------------------- */

/* A tracked output made by the block being generated: its txid is known
 * only once the block is parsed. */
struct newout {
	uint32_t tx, vout, key;
	uint64_t value;
};

struct gen {
	struct buf blk, spent;
	struct newout *no;
	size_t n_no, cap_no;
	uint8_t prev_hash[32];
	long height;
	/* spends due in this block (taken from the ring) */
	struct pend *due;
	size_t n_due, cap_due, i_due;
	/* per tx scratch */
	struct buf txb, wit, sp;
};

static uint64_t tr_value(void)
{
	if (rnd01() < opt.dust)
		return 330 + rnd_n(217);           /* 330..546 sats */
	return (uint64_t)exp(log(1000.0) + rnd01() * (log(1e8) - log(1000.0)));
}

static void spk_p2tr(uint8_t spk[34], uint32_t key)
{
	spk[0] = 0x51;
	spk[1] = 0x20;
	memcpy(spk + 2, xonly_ok[key], 32);
}

static void spk_p2wpkh(uint8_t spk[22], uint32_t key)
{
	spk[0] = 0x00;
	spk[1] = 0x14;
	memcpy(spk + 2, key_h160[key], 20);
}

/* One input into g->txb / g->wit / g->sp: a due tracked spend when any
 * is left and `want` says so, else an external P2WPKH coin. */
static void gen_input(struct gen *g, bool take_due)
{
	uint8_t sig[72], spk[34];

	rnd_bytes(sig, sizeof(sig));
	if (take_due && g->i_due < g->n_due) {
		const struct pend *e = &g->due[g->i_due++];

		put(&g->txb, e->txid, 32);
		put_le32(&g->txb, e->vout);
		put_cs(&g->txb, 0);
		put_le32(&g->txb, 0xfffffffdu);
		put_cs(&g->wit, 1);                  /* key path: one sig */
		put_cs(&g->wit, 64);
		put(&g->wit, sig, 64);
		spk_p2tr(spk, e->key);
		put_le64(&g->sp, e->value);
		put_cs(&g->sp, 34);
		put(&g->sp, spk, 34);
		n_spent++;
		return;
	}
	{
		uint32_t key = KEYS / 2 + rnd_n(KEYS / 2);
		uint8_t txid[32];

		rnd_bytes(txid, 32);
		put(&g->txb, txid, 32);
		put_le32(&g->txb, rnd_n(4));
		put_cs(&g->txb, 0);
		put_le32(&g->txb, 0xfffffffdu);
		put_cs(&g->wit, 2);                  /* sig, pubkey */
		put_cs(&g->wit, 72);
		put(&g->wit, sig, 72);
		put_cs(&g->wit, 33);
		put(&g->wit, key33[key], 33);
		spk_p2wpkh(spk, key);
		put_le64(&g->sp, 10000 + rnd_n(50000000));
		put_cs(&g->sp, 22);
		put(&g->sp, spk, 22);
	}
}

static void gen_out_p2tr(struct gen *g, uint32_t tx, uint32_t vout)
{
	uint8_t spk[34];
	uint32_t key = rnd_n(KEYS / 2);
	uint64_t v = tr_value();
	struct newout *o;

	spk_p2tr(spk, key);
	put_le64(&g->txb, v);
	put_cs(&g->txb, 34);
	put(&g->txb, spk, 34);
	if (g->n_no == g->cap_no) {
		g->cap_no = g->cap_no ? g->cap_no * 2 : 4096;
		g->no = sd_xrealloc(g->no, g->cap_no * sizeof(*g->no));
	}
	o = &g->no[g->n_no++];
	o->tx = tx;
	o->vout = vout;
	o->key = key;
	o->value = v;
}

static void gen_out_p2wpkh(struct gen *g)
{
	uint8_t spk[22];

	spk_p2wpkh(spk, rnd_n(KEYS));
	put_le64(&g->txb, 1000 + rnd_n(100000000));
	put_cs(&g->txb, 22);
	put(&g->txb, spk, 22);
}

/* One tx: n_in inputs (each a due spend with probability p_due), then
 * n_tr taproot outputs (tracked when the tx is tweak-bearing, i.e.
 * eligible), n_wpkh P2WPKH outputs. */
static void gen_tx(struct gen *g, uint32_t t, unsigned n_in, double p_due,
		   unsigned n_tr, unsigned n_wpkh, bool change_tr)
{
	unsigned i, n_out = n_tr + n_wpkh + (change_tr ? 1 : 0);

	g->txb.len = g->wit.len = 0;
	put_le32(&g->txb, 2);
	put_u8(&g->txb, 0);
	put_u8(&g->txb, 1);
	put_cs(&g->txb, n_in);
	put_cs(&g->sp, n_in);
	for (i = 0; i < n_in; i++)
		gen_input(g, rnd01() < p_due);
	put_cs(&g->txb, n_out);
	for (i = 0; i < n_tr; i++)
		gen_out_p2tr(g, t, i);
	for (i = 0; i < n_wpkh; i++)
		gen_out_p2wpkh(g);
	if (change_tr)
		gen_out_p2tr(g, t, n_tr + n_wpkh);
	put(&g->txb, g->wit.p, g->wit.len);
	put_le32(&g->txb, 0);
	put(&g->blk, g->txb.p, g->txb.len);
}

static void gen_coinbase(struct gen *g)
{
	uint8_t ss[12], zero[32] = { 0 }, spk[22];

	g->txb.len = 0;
	put_le32(&g->txb, 2);
	put_u8(&g->txb, 0);
	put_u8(&g->txb, 1);
	put_cs(&g->txb, 1);
	put(&g->txb, zero, 32);
	put_le32(&g->txb, 0xffffffffu);
	ss[0] = 4;
	sd_le32_put(ss + 1, (uint32_t)g->height);
	ss[5] = 6;
	rnd_bytes(ss + 6, 6);
	put_cs(&g->txb, sizeof(ss));
	put(&g->txb, ss, sizeof(ss));
	put_le32(&g->txb, 0xffffffffu);
	put_cs(&g->txb, 1);
	spk_p2wpkh(spk, rnd_n(KEYS));
	put_le64(&g->txb, 312500000);
	put_cs(&g->txb, 22);
	put(&g->txb, spk, 22);
	put_cs(&g->txb, 1);                       /* witness nonce */
	put_cs(&g->txb, 32);
	put(&g->txb, zero, 32);
	put_le32(&g->txb, 0);
	put(&g->blk, g->txb.p, g->txb.len);
	put_cs(&g->sp, 0);
}

/* Generate block g->height on g->prev_hash into g->blk / g->spent. */
static void gen_block(struct gen *g, bool big)
{
	struct bucket *bk = &sched[g->height % (opt.max_delay + 1)];
	size_t n_elig = big ? (size_t)opt.big_txs : (size_t)opt.txs;
	size_t n_other = big ? 0 : (size_t)opt.other, n_tx, t, slots;
	uint8_t hdr[80];
	double p_due;

	/* take the due spends, shuffled */
	if (bk->n > g->cap_due) {
		g->cap_due = bk->n * 2;
		g->due = sd_xrealloc(g->due, g->cap_due * sizeof(*g->due));
	}
	memcpy(g->due, bk->p, bk->n * sizeof(*bk->p));
	g->n_due = bk->n;
	g->i_due = 0;
	sched_n -= bk->n;
	free(bk->p);      /* a slot is reused only max_delay heights later */
	memset(bk, 0, sizeof(*bk));
	for (size_t i = g->n_due; i > 1; i--) {
		size_t j = rnd_n((uint32_t)i);
		struct pend x = g->due[i - 1];

		g->due[i - 1] = g->due[j];
		g->due[j] = x;
	}
	/* expected input slots: eligible 2 a tx (1-3), others 1.5 (1-2) */
	slots = big ? n_elig : n_elig * 2 + n_other * 3 / 2;
	p_due = slots ? (double)g->n_due / (double)slots * 1.05 : 0;
	if (p_due > 1)
		p_due = 1;

	n_tx = 1 + n_elig + n_other;
	g->blk.len = g->spent.len = g->n_no = 0;
	sd_le32_put(hdr, 0x20000000);
	memcpy(hdr + 4, g->prev_hash, 32);
	rnd_bytes(hdr + 36, 32);                 /* not checked by the parser */
	sd_le32_put(hdr + 68, (uint32_t)(1636000000 + 600 * g->height));
	sd_le32_put(hdr + 72, 0x17034219);
	sd_le32_put(hdr + 76, (uint32_t)rnd());
	put(&g->blk, hdr, 80);
	put_cs(&g->blk, n_tx);
	put_cs(&g->spent, n_tx);
	gen_coinbase(g);
	/* eligible and other txs interleaved, as in a real block */
	size_t e = 0, o = 0;

	for (t = 1; t < n_tx; t++) {
		bool elig = o >= n_other ||
			    (e < n_elig && rnd_n((uint32_t)(n_elig + n_other))
			     < n_elig);

		if (big) {
			gen_tx(g, (uint32_t)t, 1, p_due, 1, 0, false);
			e++;
		} else if (elig) {
			unsigned n_in = 1 + rnd_n(3);
			unsigned n_tr = rnd01() < 0.65 ? 1 : 2;
			bool ch_tr = rnd01() < 0.40;

			gen_tx(g, (uint32_t)t, n_in, p_due, n_tr, ch_tr ? 0 : 1,
			       ch_tr);
			e++;
		} else {
			gen_tx(g, (uint32_t)t, 1 + rnd_n(2), p_due, 0,
			       1 + rnd_n(2), false);
			o++;
		}
	}
	put(&g->spent, g->sp.p, g->sp.len);
	g->sp.len = 0;
	/* spends left over (more due than slots): next block */
	for (; g->i_due < g->n_due; g->i_due++) {
		sched_add(g->height + 1, &g->due[g->i_due]);
	}
}

/* Schedule the tracked outputs of the parsed block b. */
static void gen_register(struct gen *g, const struct btc_block *b)
{
	double lq = log(1.0 - 1.0 / (double)opt.mean_delay);

	for (size_t i = 0; i < g->n_no; i++) {
		const struct newout *o = &g->no[i];
		struct pend e;
		long d;

		n_created++;
		if (rnd01() < opt.never) {
			n_never++;
			continue;
		}
		d = 1 + (long)floor(log(1.0 - rnd01()) / lq);
		if (d > opt.max_delay) {
			n_beyond++;
			continue;
		}
		memcpy(e.txid, b->tx[o->tx].txid, 32);
		e.vout = o->vout;
		e.key = o->key;
		e.value = o->value;
		sched_add(b->height + d, &e);
	}
}

/* ---- prepare without the EC work --------------------------------------- */

static int prepare_no_ec(const struct btc_block *b, struct oracle_prepared *p)
{
	int rc;

	memset(p, 0, sizeof(*p));
	p->infos = sd_xcalloc(b->n_tx, sizeof(*p->infos));
	for (size_t t = 0; t < b->n_tx; t++) {
		const struct btc_tx *tx = &b->tx[t];
		struct oracle_tx_info *in = &p->infos[t];

		for (size_t o = 0; o < tx->n_out; o++) {
			if (!oracle_spk_is_p2tr(&tx->out[o].spk))
				continue;
			in->has_taproot_output = true;
			if (tx->out[o].value > 0 &&
			    (uint64_t)tx->out[o].value > in->highest_value)
				in->highest_value = (uint64_t)tx->out[o].value;
		}
		/* every input this generator makes yields a key */
		if (t > 0 && in->has_taproot_output) {
			in->has_tweak = true;
			memcpy(in->tweak, key33[rnd_n(KEYS)], 33);
		}
	}
	/* as oracle_block_filters (prepare.c), from the public API */
	rc = oracle_filter_new_utxos(b, &p->fnew, &p->fnew_len);
	if (rc == SD_OK)
		rc = oracle_spent_index(b, &p->spent, &p->n_spent);
	if (rc == SD_OK)
		rc = oracle_gcs_build(b->hash, p->spent, 8, p->n_spent,
				      &p->fspent, &p->fspent_len);
	if (rc == SD_OK)
		p->has_filters = true;
	else
		oracle_prepared_free(p);
	return rc;
}

/* The prepared parts must equal oracle_block_prepare's but the tweak. */
static int check_prepared(const struct btc_block *b,
			  const struct oracle_prepared *p)
{
	struct oracle_prepared r;
	int rc = oracle_block_prepare(b, true, &r);

	if (rc != SD_OK)
		return rc;
	for (size_t t = 0; t < b->n_tx && rc == SD_OK; t++)
		if (r.infos[t].has_tweak != p->infos[t].has_tweak ||
		    r.infos[t].has_taproot_output !=
		    p->infos[t].has_taproot_output ||
		    r.infos[t].highest_value != p->infos[t].highest_value)
			rc = SD_EINVAL;
	if (rc == SD_OK &&
	    (r.fnew_len != p->fnew_len || r.fspent_len != p->fspent_len ||
	     r.n_spent != p->n_spent ||
	     memcmp(r.fnew, p->fnew, r.fnew_len) ||
	     memcmp(r.fspent, p->fspent, r.fspent_len) ||
	     (r.n_spent && memcmp(r.spent, p->spent, r.n_spent * 8))))
		rc = SD_EINVAL;
	oracle_prepared_free(&r);
	return rc;
}

/* ---- the recent blocks (reorgs) ---------------------------------------- */

#define RECENT 128

struct recent {
	long height;
	uint8_t hash[32];
	struct buf blk, spent;
};

static struct recent recent[RECENT];

/* Generator memory: the spend schedule and the recent blocks. */
static size_t gen_bytes(void)
{
	size_t s = sched_bytes();

	for (int i = 0; i < RECENT; i++)
		s += recent[i].blk.cap + recent[i].spent.cap;
	return s;
}

/* ---- index helpers ------------------------------------------------------ */

static struct oracle_index *idx;
static char logpath[4096];

static int index_open(char *err)
{
	struct oracle_config c = {
		.datadir = opt.datadir, .network = "main",
		.tweaks_only = false, .tweaks_full_basic = true,
		.tweaks_full_with_dust_filter = true,
		.tweaks_cut_through_with_dust_filter = true,
		.tweak_threads = 1, .start_height = 1,
	};
	int rc = oracle_index_open(&c, &idx, err);

	if (rc == SD_OK)
		oracle_index_set_group_commit(idx, 1024);  /* we flush */
	return rc;
}

/* Parse, attach, prepare a block from its bytes. */
static int load_block(const struct buf *blk, const struct buf *sp, long h,
		      struct btc_block **b, struct oracle_prepared *p,
		      double *parse_ms, double *prep_ms)
{
	uint64_t t0 = sd_mono_ns();
	int rc = btc_block_parse(blk->p, blk->len, b);

	if (rc == SD_OK) {
		(*b)->height = (int32_t)h;
		rc = btc_block_attach_spent(*b, sp->p, sp->len);
	}
	if (parse_ms)
		*parse_ms = ms_since(t0);
	if (rc != SD_OK)
		return rc;
	t0 = sd_mono_ns();
	rc = opt.ec ? oracle_block_prepare(*b, true, p) : prepare_no_ec(*b, p);
	if (prep_ms)
		*prep_ms = ms_since(t0);
	return rc;
}

static long rss_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t fl = strlen(field);
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, fl) && line[fl] == ':')
			v = strtol(line + fl + 1, NULL, 10);
	fclose(f);
	return v;
}

static const char *const tables[] = {
	"meta", "blocks", "tweak_index", "utxos", "spent_bits",
	"filter_new_utxos", "filter_spent", "spent_index", "undo",
	"v2",   /* last: raw_read_block indexes the ones above */
};
#define N_TABLES (sizeof(tables) / sizeof(tables[0]))

struct rawstat {
	uint64_t tbl_bytes[N_TABLES];
	uint64_t tbl_entries[N_TABLES];
	uint64_t used_bytes, free_bytes;
	double cold_ms, warm_ms;
	size_t cold_bytes;
};

/* Read one block's rows the way the HTTP routes do (tweak_index, utxos
 * range + spent_bits: /utxos and the cut-through answer, both filters,
 * spent index); bytes. */
static size_t raw_read_block(MDB_txn *txn, MDB_dbi *dbi, uint32_t h)
{
	uint8_t k[4];
	MDB_val key = { 4, k }, v;
	MDB_cursor *c;
	size_t n = 0;
	static const int point[] = { 1, 2, 4, 5, 6, 7 };
	static const int range[] = { 3 };

	sd_be32_put(k, h);
	for (size_t i = 0; i < sizeof(point) / sizeof(point[0]); i++) {
		key.mv_size = 4;
		key.mv_data = k;
		if (mdb_get(txn, dbi[point[i]], &key, &v) == 0)
			n += v.mv_size;
	}
	for (size_t i = 0; i < sizeof(range) / sizeof(range[0]); i++) {
		if (mdb_cursor_open(txn, dbi[range[i]], &c))
			continue;
		key.mv_size = 4;
		key.mv_data = k;
		for (int rc = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE);
		     rc == 0 && key.mv_size >= 4 && !memcmp(key.mv_data, k, 4);
		     rc = mdb_cursor_get(c, &key, &v, MDB_NEXT))
			n += key.mv_size + v.mv_size;
		mdb_cursor_close(c);
	}
	return n;
}

/* Evict the data file from the page cache (our file only: the machine is
 * shared, drop_caches would cold-start everyone's).  Index closed. */
static void evict_file(void)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s/index/data.mdb", opt.datadir);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	(void)fdatasync(fd);
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
}

/* With the index closed: table sizes, and a cold then warm read of block
 * `deep` through a read-only env of our own. */
static int raw_stats(uint32_t deep, struct rawstat *st)
{
	char path[4200];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi[N_TABLES];
	MDB_envinfo ei;
	MDB_stat ms;
	uint64_t t0;
	int rc;

	memset(st, 0, sizeof(*st));
	snprintf(path, sizeof(path), "%s/index", opt.datadir);
	evict_file();
	if ((rc = mdb_env_create(&env)))
		return rc;
	mdb_env_set_maxdbs(env, 16);
	mdb_env_set_mapsize(env, 0);
	if ((rc = mdb_env_open(env, path, MDB_RDONLY | MDB_NOTLS, 0640)) ||
	    (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn))) {
		mdb_env_close(env);
		return rc;
	}
	for (size_t i = 0; i < N_TABLES; i++)
		if ((rc = mdb_dbi_open(txn, tables[i], 0, &dbi[i])))
			goto out;
	t0 = sd_mono_ns();
	st->cold_bytes = raw_read_block(txn, dbi, deep);
	st->cold_ms = ms_since(t0);
	t0 = sd_mono_ns();
	(void)raw_read_block(txn, dbi, deep);
	st->warm_ms = ms_since(t0);
	for (size_t i = 0; i < N_TABLES; i++) {
		if (mdb_stat(txn, dbi[i], &ms))
			continue;
		st->tbl_bytes[i] = (uint64_t)ms.ms_psize *
			(ms.ms_branch_pages + ms.ms_leaf_pages +
			 ms.ms_overflow_pages);
		st->tbl_entries[i] = ms.ms_entries;
	}
	if (mdb_env_info(env, &ei) == 0 && mdb_env_stat(env, &ms) == 0)
		st->used_bytes = (ei.me_last_pgno + 1) * (uint64_t)ms.ms_psize;
	{	/* free pages: the values of the free DB (dbi 0) are page lists
		 * whose first word is their length */
		MDB_cursor *c;
		MDB_val k, v;

		if (mdb_cursor_open(txn, 0, &c) == 0) {
			while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
				const size_t *ids = v.mv_data;

				if (v.mv_size >= sizeof(size_t))
					st->free_bytes += ids[0] *
						(uint64_t)ms.ms_psize;
			}
			mdb_cursor_close(c);
		}
	}
out:
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc;
}

/* outpoints= and ms= of the last outpoint_map_loaded log line written
 * after offset off (the map is loaded after oracle_index_open returns, on
 * a thread of its own; wait_map waits for it first). */
static void parse_opened(long off, long *n, double *ms)
{
	FILE *f = fopen(logpath, "r");
	char line[1024];

	*n = -1;
	*ms = -1;
	if (!f)
		return;
	fseek(f, off, SEEK_SET);
	while (fgets(line, sizeof(line), f)) {
		char *p;

		if (!strstr(line, "msg=outpoint_map_loaded"))
			continue;
		if ((p = strstr(line, " outpoints=")))
			*n = strtol(p + 11, NULL, 10);
		if ((p = strstr(line, " ms=")))
			*ms = strtod(p + 4, NULL);
	}
	fclose(f);
}

/* The outpoint map's bytes as of the last wait_map. */
static uint64_t om_bytes;

/* Poll until the index's outpoint map is loaded (or failed: the next
 * connect says so). */
static void wait_map(void)
{
	struct oracle_stats st;

	for (;;) {
		oracle_index_stats(idx, &st);
		if (!st.outmap_loading)
			break;
		usleep(1000);
	}
	om_bytes = st.outmap_bytes;
}

static long file_size(const char *p, long *blocks512)
{
	struct stat s;

	if (stat(p, &s) != 0)
		return -1;
	if (blocks512)
		*blocks512 = (long)s.st_blocks;
	return (long)s.st_size;
}

/* A fresh process: open an existing index, serve one read, report. */
static int open_only(void)
{
	char err[SD_ERRLEN] = "";
	struct oracle_read *rd;
	const uint8_t *recs;
	size_t n, rl;
	int32_t tip = -1;
	uint8_t hash[32];
	long anon0 = rss_kb("RssAnon"), off, om_n, anon_read;
	double ms, map_ms, t_read, t_map;
	uint64_t t0;
	int rc;

	snprintf(logpath, sizeof(logpath), "%s/scale.log", opt.datadir);
	if (sd_log_open_file(logpath) != SD_OK)
		return 1;
	off = file_size(logpath, NULL);
	t0 = sd_mono_ns();
	rc = index_open(err);
	ms = ms_since(t0);
	if (rc == SD_OK && (rc = oracle_read_begin(idx, &rd)) == SD_OK) {
		rc = oracle_read_tip(rd, &tip, hash);
		if (rc == SD_OK)
			rc = oracle_read_tweak_index(rd, tip, &recs, &n, &rl);
		oracle_read_end(rd);
	}
	t_read = ms_since(t0);
	if (rc != SD_OK) {
		fprintf(stderr, "open: %s (%s)\n", sd_strerror(rc), err);
		return 1;
	}
	anon_read = rss_kb("RssAnon");
	wait_map();     /* what the first connect would wait for */
	t_map = ms_since(t0);
	parse_opened(off, &om_n, &map_ms);
	printf("tip=%d open_ms=%.1f open_to_read_ms=%.1f open_to_map_ms=%.1f "
	       "outpoints=%ld outpoint_map_ms=%.1f outmap_bytes=%llu "
	       "anon_at_read_mb=%.1f rss_mb=%.1f "
	       "rss_anon_mb=%.1f anon_index_mb=%.1f rss_file_mb=%.1f "
	       "hwm_mb=%.1f\n", tip, ms, t_read, t_map, om_n, map_ms,
	       (unsigned long long)om_bytes, (anon_read - anon0) / 1024.0,
	       rss_kb("VmRSS") / 1024.0, rss_kb("RssAnon") / 1024.0,
	       (rss_kb("RssAnon") - anon0) / 1024.0,
	       rss_kb("RssFile") / 1024.0, rss_kb("VmHWM") / 1024.0);
	oracle_index_close(idx);
	return 0;
}

/* ---- main loop ---------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_scale [--datadir D] [--blocks N] [--txs 1200] "
		"[--other 800]\n  [--big-txs 9000] [--big-every 250] "
		"[--checkpoint 1000] [--group 16]\n  [--mean-delay 500] "
		"[--max-delay 20000] [--never 0.35] [--dust 0.10]\n"
		"  [--ec] [--check N] [--seed S] [--csv F] "
		"[--blocks-csv F]\n"
		"       bench_scale --open-only --datadir D   (a fresh process "
		"opens D: open -> first read, RSS)\n");
}

static int parse_opts(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "datadir", 1, 0, 'd' }, { "blocks", 1, 0, 'n' },
		{ "txs", 1, 0, 't' }, { "other", 1, 0, 'o' },
		{ "big-txs", 1, 0, 'B' }, { "big-every", 1, 0, 'b' },
		{ "checkpoint", 1, 0, 'k' }, { "group", 1, 0, 'g' },
		{ "mean-delay", 1, 0, 'm' }, { "max-delay", 1, 0, 'M' },
		{ "never", 1, 0, 'N' }, { "dust", 1, 0, 'D' },
		{ "ec", 0, 0, 'e' }, { "check", 1, 0, 'c' },
		{ "seed", 1, 0, 's' }, { "csv", 1, 0, 'C' },
		{ "blocks-csv", 1, 0, 'P' }, { "open-only", 0, 0, 'O' },
		{ "help", 0, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'd': opt.datadir = optarg; break;
		case 'n': opt.blocks = atol(optarg); break;
		case 't': opt.txs = atol(optarg); break;
		case 'o': opt.other = atol(optarg); break;
		case 'B': opt.big_txs = atol(optarg); break;
		case 'b': opt.big_every = atol(optarg); break;
		case 'k': opt.checkpoint = atol(optarg); break;
		case 'g': opt.group = atol(optarg); break;
		case 'm': opt.mean_delay = atol(optarg); break;
		case 'M': opt.max_delay = atol(optarg); break;
		case 'N': opt.never = atof(optarg); break;
		case 'D': opt.dust = atof(optarg); break;
		case 'e': opt.ec = true; break;
		case 'c': opt.check = atol(optarg); break;
		case 's': opt.seed = strtoull(optarg, NULL, 10); break;
		case 'C': opt.csv = optarg; break;
		case 'P': opt.blocks_csv = optarg; break;
		case 'O': opt.open_only = true; break;
		default: usage(); return SD_EINVAL;
		}
	}
	if (opt.blocks < 1 || opt.txs < 0 || opt.other < 0 ||
	    opt.checkpoint < 1 || opt.group < 1 || opt.mean_delay < 2 ||
	    opt.max_delay < 1 || opt.never < 0 || opt.never > 1) {
		usage();
		return SD_EINVAL;
	}
	return SD_OK;
}

/* Per checkpoint window. */
static double *w_conn, *w_commit;
static size_t w_nc, w_ncm;
static double w_gen, w_parse, w_prep;
static uint64_t tot_tweaks, w_blocks;

/* A failed group commit (the map grew: MDB_MAP_FULL inside a batch)
 * drops the pending blocks and puts the index tip back; the follower
 * fetches them again.  Here: connect them again from the recent ring up
 * to `upto` (inclusive).  Counted in lost_batches / redo_ms. */
static uint64_t n_lost, n_redone;
static double redo_ms;

static int redo_to(long upto)
{
	uint64_t t0 = sd_mono_ns();
	int32_t th;
	uint8_t hash[32];
	int rc, tries = 0;

	n_lost++;
	/* the committed tip (oracle_index_tip reads meta, not the batch) */
	if ((rc = oracle_index_tip(idx, &th, hash)) != SD_OK)
		return rc;
	while (th < upto) {
		struct recent *r = &recent[(th + 1) % RECENT];
		struct btc_block *b = NULL;
		struct oracle_prepared p = { 0 };

		if (upto - th >= RECENT || ++tries > 4 * RECENT)
			return SD_ESTATE;
		rc = load_block(&r->blk, &r->spent, th + 1, &b, &p, NULL,
				NULL);
		if (rc == SD_OK)
			rc = oracle_index_connect_prepared(idx, b, &p);
		oracle_prepared_free(&p);
		btc_block_free(b);
		if (rc == SD_OK) {
			n_redone++;
			th++;
		} else if ((rc = oracle_index_tip(idx, &th, hash)) != SD_OK) {
			return rc;  /* else another batch lost: from its tip */
		}
	}
	redo_ms += ms_since(t0);
	return SD_OK;
}

static int connect_one(struct btc_block *b, struct oracle_prepared *p,
		       double *ms)
{
	uint64_t t0 = sd_mono_ns();
	int rc = oracle_index_connect_prepared(idx, b, p);

	*ms = ms_since(t0);
	for (int tries = 0; rc != SD_OK && tries < 8; tries++) {
		if ((rc = redo_to(b->height - 1)) != SD_OK)
			return rc;
		rc = oracle_index_connect_prepared(idx, b, p);
	}
	return rc;
}

static int flush_timed(long tip, double *ms)
{
	uint64_t t0 = sd_mono_ns();
	int rc = oracle_index_flush(idx);

	*ms = ms_since(t0);
	for (int tries = 0; rc != SD_OK && tries < 8; tries++) {
		if ((rc = redo_to(tip)) != SD_OK)
			return rc;
		rc = oracle_index_flush(idx);
	}
	return rc;
}

/* Disconnect the top `depth` blocks, then connect them again: with
 * group commit (a catch-up pass) when group, else one commit a block (at
 * the tip).  Times in ms. */
static int reorg(long tip, long depth, bool group, double *disc_ms,
		 double *reconn_ms, double *reconn_max)
{
	uint64_t t0;
	double ms0;
	int rc = SD_OK;

	*reconn_max = 0;
	if ((rc = oracle_index_flush(idx)) != SD_OK)
		return rc;
	t0 = sd_mono_ns();
	for (long h = tip; h > tip - depth; h--) {
		struct recent *r = &recent[h % RECENT];

		if ((rc = oracle_index_disconnect(idx, (int32_t)h, r->hash)))
			return rc;
	}
	*disc_ms = ms_since(t0);
	oracle_index_set_group_commit(idx, group ? (unsigned)opt.group : 1);
	*reconn_ms = 0;
	for (long h = tip - depth + 1; h <= tip && rc == SD_OK; h++) {
		struct recent *r = &recent[h % RECENT];
		struct btc_block *b = NULL;
		struct oracle_prepared p = { 0 };
		double ms;

		rc = load_block(&r->blk, &r->spent, h, &b, &p, NULL, NULL);
		if (rc == SD_OK) {
			t0 = sd_mono_ns();
			rc = connect_one(b, &p, &ms);
			ms = ms_since(t0);
			*reconn_ms += ms;
			if (ms > *reconn_max)
				*reconn_max = ms;
		}
		oracle_prepared_free(&p);
		btc_block_free(b);
	}
	t0 = sd_mono_ns();
	if (rc == SD_OK)
		rc = flush_timed(tip, &ms0);
	*reconn_ms += ms_since(t0);
	oracle_index_set_group_commit(idx, 1024);
	return rc;
}

/* ---- checkpoints -------------------------------------------------------- */

static void csv_header(FILE *f)
{
	fprintf(f, "blocks,height,wall_s,tweaks,tweaks_per_block,"
		"tracked_created,tracked_spent,tracked_unspent,"
		"outmap_entries,outmap_bytes,outmap_load_ms,"
		"connect_p50_ms,connect_p99_ms,connect_max_ms,"
		"connect_mean_ms,commit_p50_ms,commit_p99_ms,"
		"commit_per_block_ms,gen_ms,parse_ms,prepare_ms,"
		"db_file_bytes,db_disk_bytes,db_used_bytes,db_free_bytes,"
		"bytes_per_tweak");
	for (size_t i = 0; i < N_TABLES; i++)
		fprintf(f, ",tbl_%s_bytes", tables[i]);
	fprintf(f, ",rss_mb,rss_anon_mb,rss_file_mb,hwm_mb,gen_state_mb,"
		"close_ms,open_ms,open_to_read_ms,warm_open_to_read_ms,"
		"warm_outmap_load_ms,first_connect_prev_open_ms,"
		"anon_after_close_mb,anon_after_open_mb,"
		"reorg6_disc_ms,reorg6_reconn_ms,reorg6_reconn_max_ms,"
		"reorg100_disc_ms,reorg100_reconn_ms,reorg100_reconn_max_ms,"
		"cold_deep_height,cold_read_ms,cold_read_bytes,warm_read_ms,"
		"lost_batches,redone_blocks,redo_ms,"
		"open_to_map_ms,warm_open_to_map_ms\n");
}

/* Everything one checkpoint measures (one CSV row). */
struct cp {
	long blocks, tip, fsz, fblk, om_n, om_n2;
	uint64_t om_bytes;
	double wall, c50, c99, cmax, cmean, m50, m99, commit_per_block;
	double close_ms, open_ms, read_ms, wread_ms, outmap_ms, woutmap_ms;
	double map_ms, wmap_ms;     /* open -> outpoint map loaded */
	double d6, r6, m6, d100, r100, m100, first_connect;
	long rss, anon, rfile, hwm, anon_close, anon_open;
	uint32_t deep;
	struct rawstat st;
};

/* oracle_index_open + the tip's tweak index: *open_ms to the open,
 * *read_ms to the first read served, *map_ms to the outpoint map loaded
 * (writes can go on); the map's size and load time from the
 * outpoint_map_loaded log line. */
static int open_and_read(long tip, double *open_ms, double *read_ms,
			 double *map_ms, long *om_n, double *outmap_ms)
{
	char err[SD_ERRLEN] = "";
	struct oracle_read *rd;
	const uint8_t *recs;
	size_t n, rl;
	long off = file_size(logpath, NULL);
	uint64_t t0 = sd_mono_ns();
	int rc = index_open(err);

	*open_ms = ms_since(t0);
	if (rc == SD_OK && (rc = oracle_read_begin(idx, &rd)) == SD_OK) {
		rc = oracle_read_tweak_index(rd, (int32_t)tip, &recs, &n, &rl);
		oracle_read_end(rd);
	}
	*read_ms = ms_since(t0);
	if (rc != SD_OK) {
		fprintf(stderr, "reopen: %s (%s)\n", sd_strerror(rc), err);
		return rc;
	}
	wait_map();
	*map_ms = ms_since(t0);
	parse_opened(off, om_n, outmap_ms);
	return SD_OK;
}

static void csv_row(FILE *f, const struct cp *c)
{
	const struct rawstat *st = &c->st;

	fprintf(f, "%ld,%ld,%.1f,%llu,%.1f,%llu,%llu,%llu,%ld,%llu,%.1f,"
		"%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,"
		"%ld,%ld,%llu,%llu,%.2f",
		c->blocks, c->tip, c->wall, (unsigned long long)tot_tweaks,
		(double)tot_tweaks / (double)c->blocks,
		(unsigned long long)n_created, (unsigned long long)n_spent,
		(unsigned long long)(n_created - n_spent), c->om_n,
		(unsigned long long)c->om_bytes,
		c->outmap_ms, c->c50, c->c99, c->cmax, c->cmean, c->m50,
		c->m99, c->commit_per_block, w_gen / (double)w_blocks,
		w_parse / (double)w_blocks, w_prep / (double)w_blocks,
		c->fsz, c->fblk * 512, (unsigned long long)st->used_bytes,
		(unsigned long long)st->free_bytes,
		(double)st->used_bytes / (double)tot_tweaks);
	for (size_t k = 0; k < N_TABLES; k++)
		fprintf(f, ",%llu", (unsigned long long)st->tbl_bytes[k]);
	fprintf(f, ",%.1f,%.1f,%.1f,%.1f,%.1f", c->rss / 1024.0,
		c->anon / 1024.0, c->rfile / 1024.0, c->hwm / 1024.0,
		(double)gen_bytes() / 1048576.0);
	fprintf(f, ",%.1f,%.1f,%.1f,%.1f,%.1f,%.2f,%.1f,%.1f",
		c->close_ms, c->open_ms, c->read_ms, c->wread_ms,
		c->woutmap_ms, c->first_connect, c->anon_close / 1024.0,
		c->anon_open / 1024.0);
	fprintf(f, ",%.2f,%.2f,%.2f,%.2f,%.2f,%.2f", c->d6, c->r6, c->m6,
		c->d100, c->r100, c->m100);
	fprintf(f, ",%u,%.3f,%zu,%.3f,%llu,%llu,%.1f,%.1f,%.1f\n", c->deep,
		st->cold_ms, st->cold_bytes, st->warm_ms,
		(unsigned long long)n_lost, (unsigned long long)n_redone,
		redo_ms, c->map_ms, c->wmap_ms);
	fflush(f);
}

/* After block `tip` (the blocks-th): flush, the window's percentiles,
 * RSS, reorgs of depth 6 and 100, close, sizes and a cold read, cold and
 * warm open to the first read.  The index is open again on return. */
static int checkpoint(FILE *csv, long blocks, long tip, double first_connect,
		      uint64_t t_start)
{
	struct cp c = { .blocks = blocks, .tip = tip,
			.first_connect = first_connect };
	double cm_ms, cmt = 0, wopen_ms;
	char dpath[4200];
	uint64_t t0;
	int rc;

	if ((rc = flush_timed(tip, &cm_ms)) != SD_OK)
		return rc;
	for (size_t k = 0; k < w_ncm; k++)
		cmt += w_commit[k];
	c.commit_per_block = (cmt + cm_ms) / (double)w_blocks;
	for (size_t k = 0; k < w_nc; k++)
		c.cmean += w_conn[k];
	c.cmean /= (double)w_nc;
	c.c50 = pct(w_conn, w_nc, 50);      /* sorts */
	c.c99 = pct(w_conn, w_nc, 99);
	c.cmax = w_conn[w_nc - 1];
	c.m50 = pct(w_commit, w_ncm, 50);
	c.m99 = pct(w_commit, w_ncm, 99);
	c.rss = rss_kb("VmRSS");
	c.anon = rss_kb("RssAnon");
	c.rfile = rss_kb("RssFile");
	c.hwm = rss_kb("VmHWM");
	c.wall = ms_since(t_start) / 1e3;

	c.d6 = c.r6 = c.m6 = c.d100 = c.r100 = c.m100 = -1;
	if (blocks >= 6)
		rc = reorg(tip, 6, false, &c.d6, &c.r6, &c.m6);
	if (rc == SD_OK && blocks >= RECENT)
		rc = reorg(tip, 100, true, &c.d100, &c.r100, &c.m100);
	if (rc != SD_OK) {
		fprintf(stderr, "reorg: %s\n", sd_strerror(rc));
		return rc;
	}

	t0 = sd_mono_ns();
	oracle_index_close(idx);
	idx = NULL;
	c.close_ms = ms_since(t0);
	c.anon_close = rss_kb("RssAnon");
	snprintf(dpath, sizeof(dpath), "%s/index/data.mdb", opt.datadir);
	c.fsz = file_size(dpath, &c.fblk);
	c.deep = (uint32_t)(1 + (tip - 1) / 4);
	if ((rc = raw_stats(c.deep, &c.st)) != 0) {
		fprintf(stderr, "raw stats: %s\n", mdb_strerror(rc));
		return SD_EDB;
	}
	evict_file();
	if ((rc = open_and_read(tip, &c.open_ms, &c.read_ms, &c.map_ms,
				&c.om_n, &c.outmap_ms)) != SD_OK)
		return rc;
	c.anon_open = rss_kb("RssAnon");
	c.om_bytes = om_bytes;
	oracle_index_close(idx);    /* again, page cache warm: a restart */
	idx = NULL;
	if ((rc = open_and_read(tip, &wopen_ms, &c.wread_ms, &c.wmap_ms,
				&c.om_n2, &c.woutmap_ms)) != SD_OK)
		return rc;
	csv_row(csv, &c);
	fprintf(stderr, "[%ld] h=%ld tweaks=%llu unspent=%ld conn p50=%.1f "
		"p99=%.1f max=%.1f ms commit/blk=%.2f ms db=%.0f MB "
		"(%.1f B/tweak) anon=%.0f MB open->read=%.0f ms (map %.0f ms, "
		"ready at %.0f ms) warm %.0f ms reorg100 %.0f+%.0f ms "
		"wall=%.0f s\n", blocks,
		tip, (unsigned long long)tot_tweaks, c.om_n, c.c50, c.c99,
		c.cmax, c.commit_per_block, (double)c.st.used_bytes / 1e6,
		(double)c.st.used_bytes / (double)tot_tweaks, c.anon / 1024.0,
		c.read_ms, c.outmap_ms, c.map_ms, c.wread_ms, c.d100, c.r100,
		c.wall);
	w_nc = w_ncm = 0;
	w_gen = w_parse = w_prep = 0;
	w_blocks = 0;
	return SD_OK;
}

/* ---- main --------------------------------------------------------------- */

static int setup(FILE **csv, FILE **bcsv)
{
	char cmd[4300], err[SD_ERRLEN] = "";
	int rc;

	rnd_seed(opt.seed);
	keys_init();
	sched = sd_xcalloc((size_t)opt.max_delay + 1, sizeof(*sched));
	w_conn = sd_xmalloc((size_t)opt.checkpoint * sizeof(double));
	w_commit = sd_xmalloc((size_t)opt.checkpoint * sizeof(double));
	snprintf(logpath, sizeof(logpath), "%s/scale.log", opt.datadir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'",
		 opt.datadir, opt.datadir);
	if (system(cmd) != 0) {
		fprintf(stderr, "cannot reset %s\n", opt.datadir);
		return SD_EIO;
	}
	if (sd_log_open_file(logpath) != SD_OK)
		return SD_EIO;
	if ((rc = index_open(err)) != SD_OK) {
		fprintf(stderr, "open: %s (%s)\n", sd_strerror(rc), err);
		return rc;
	}
	if (!(*csv = fopen(opt.csv, "w")))
		return SD_EIO;
	csv_header(*csv);
	fflush(*csv);
	if (opt.blocks_csv) {
		if (!(*bcsv = fopen(opt.blocks_csv, "w")))
			return SD_EIO;
		fprintf(*bcsv, "height,n_tx,tweaks,size,connect_ms,commit_ms,"
			"gen_ms,parse_ms,prepare_ms\n");
	}
	return SD_OK;
}

/* Generate, parse, prepare, connect block g->height (the i-th); commit
 * every --group blocks; keep it for reorgs; *c_ms = its connect. */
static int one_block(struct gen *g, long i, FILE *bcsv, double *c_ms)
{
	bool big = opt.big_every > 0 && g->height % opt.big_every == 0;
	struct recent *r = &recent[g->height % RECENT];
	struct btc_block *b = NULL;
	struct oracle_prepared p;
	double gen_ms, parse_ms, prep_ms, cm_ms = -1;
	size_t tw = 0;
	uint64_t t0 = sd_mono_ns();
	int rc;

	gen_block(g, big);
	gen_ms = ms_since(t0);
	rc = load_block(&g->blk, &g->spent, g->height, &b, &p, &parse_ms,
			&prep_ms);
	if (rc != SD_OK) {
		fprintf(stderr, "block %ld: parse/prepare %s\n", g->height,
			sd_strerror(rc));
		return rc;
	}
	if (i < opt.check && !opt.ec && check_prepared(b, &p) != SD_OK) {
		fprintf(stderr, "block %ld: no-EC prepare differs from "
			"oracle_block_prepare\n", g->height);
		rc = SD_EINVAL;
		goto out;
	}
	for (size_t t = 0; t < b->n_tx; t++)
		tw += p.infos[t].has_tweak;
	if ((rc = connect_one(b, &p, c_ms)) != SD_OK) {
		fprintf(stderr, "block %ld: connect %s\n", g->height,
			sd_strerror(rc));
		goto out;
	}
	if ((i + 1) % opt.group == 0 &&
	    (rc = flush_timed(g->height, &cm_ms)) != SD_OK) {
		fprintf(stderr, "flush: %s\n", sd_strerror(rc));
		goto out;
	}
	gen_register(g, b);
	memcpy(g->prev_hash, b->hash, 32);
	r->height = g->height;
	memcpy(r->hash, b->hash, 32);
	r->blk.len = r->spent.len = 0;
	put(&r->blk, g->blk.p, g->blk.len);
	put(&r->spent, g->spent.p, g->spent.len);
	if (bcsv)
		fprintf(bcsv, "%ld,%zu,%zu,%zu,%.3f,%.3f,%.3f,%.3f,%.3f\n",
			g->height, b->n_tx, tw, g->blk.len, *c_ms, cm_ms,
			gen_ms, parse_ms, prep_ms);
	tot_tweaks += tw;
	w_conn[w_nc++] = *c_ms;
	if (cm_ms >= 0)
		w_commit[w_ncm++] = cm_ms;
	w_gen += gen_ms;
	w_parse += parse_ms;
	w_prep += prep_ms;
	w_blocks++;
out:
	oracle_prepared_free(&p);
	btc_block_free(b);
	return rc;
}

int main(int argc, char **argv)
{
	struct gen g = { .height = 1 };
	FILE *csv = NULL, *bcsv = NULL;
	double first_connect = -1, c_ms;
	uint64_t t_start;

	if (parse_opts(argc, argv) != SD_OK)
		return 2;
	if (opt.open_only)
		return open_only();
	if (setup(&csv, &bcsv) != SD_OK)
		return 1;
	fprintf(stderr, "bench_scale: %ld blocks, %ld+%ld txs, big %ld every "
		"%ld, never %.2f, mean delay %ld, %s\n", opt.blocks, opt.txs,
		opt.other, opt.big_txs, opt.big_every, opt.never,
		opt.mean_delay, opt.ec ? "EC" : "no EC");
	t_start = sd_mono_ns();
	for (long i = 0; i < opt.blocks; i++, g.height++) {
		if (one_block(&g, i, bcsv, &c_ms) != SD_OK)
			return 1;
		if (first_connect < 0)
			first_connect = c_ms;
		if ((i + 1) % opt.checkpoint != 0 && i + 1 != opt.blocks)
			continue;
		if (checkpoint(csv, i + 1, g.height, first_connect,
			       t_start) != SD_OK)
			return 1;
		/* the first connect after this open is the next block's:
		 * reported in the next row (first_connect_prev_open_ms) */
		first_connect = -1;
	}
	oracle_index_close(idx);
	fclose(csv);
	if (bcsv)
		fclose(bcsv);
	return 0;
}

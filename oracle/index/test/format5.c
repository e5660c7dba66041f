/* format5.c - see format5.h.  The layouts are spelled out here, not taken
 * from store_int.h: the helper is an independent reading of format 6 and
 * an independent writing of format 5 (ce5669c~1's store_connect.c,
 * store_spend.c, store_undo.c, store_v2.c).
 */
#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/buf.h"
#include "../../../common/util.h"
#include "../../../tests/lib/check.h"
#include "format5.h"

/* meta "flags" */
#define K_TWEAKS_ONLY 0x01
#define K_BASIC 0x02
#define K_DUST 0x04
#define K_CUT 0x08

#define OUT6 44          /* format 6 output: vout | value | xonly */
#define HDR6 8           /* format 6 utxos value: tpos | ord0 */
#define SPEND_E 50       /* undo code 6: 6 | 0028 | key40 | 01 0004 | ord */
#define CUT_E 83         /* undo code 3: 3 | 0024 | key36 | 01 0029 | v41 */
#define CUT_E_ABSENT 40  /* undo code 3, no row before: ... | 00 */

/* A format 6 utxos row (one tweak tx), and its replayed cut_through row. */
struct row6 {
	uint32_t h;
	uint8_t dtxid[32];
	uint32_t tpos, ord0, n;
	size_t out;          /* its outputs at outs.p + out */
	size_t g;            /* global index of its output 0 */
	bool present;        /* replay: cut_through row present */
	uint64_t high;       /* replay: its highest value */
};

/* One indexed height and its height-keyed rows (copies). */
struct hrow {
	uint32_t h;
	struct sd_buf tw, bits, undo, v2;
	bool has_tw, has_bits, has_undo, has_v2;
	size_t r0, nr;       /* its utxos rows */
};

struct f5 {
	MDB_txn *txn;
	unsigned flags;
	struct hrow *hs;
	size_t n_h;
	struct row6 *rows;
	size_t n_rows;
	struct sd_buf outs;
	size_t n_outs;
	uint8_t *sp, *fin, *logged;
};

static MDB_env *raw_open(const char *dir, unsigned env_flags)
{
	char p[600];
	MDB_env *env;

	snprintf(p, sizeof(p), "%s/index", dir);
	CHECK(!mdb_env_create(&env));
	CHECK(!mdb_env_set_maxdbs(env, 32));
	CHECK(!mdb_env_set_mapsize(env, (size_t)1 << 30));
	CHECK(!mdb_env_open(env, p, env_flags, 0640));
	return env;
}

static MDB_dbi dbi(MDB_txn *txn, const char *name)
{
	MDB_dbi d;

	CHECK_EQ_INT(mdb_dbi_open(txn, name, 0, &d), 0);
	return d;
}

static struct hrow *find_h(struct f5 *f, uint32_t h)
{
	size_t lo = 0, hi = f->n_h;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (f->hs[mid].h == h)
			return &f->hs[mid];
		if (f->hs[mid].h < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	CHECK(!"a row of a height the blocks table lacks");
	return NULL;
}

static int cmp_row_key(const struct row6 *r, uint32_t h, const uint8_t *d)
{
	if (r->h != h)
		return r->h < h ? -1 : 1;
	return memcmp(r->dtxid, d, 32);
}

static struct row6 *find_row(struct f5 *f, uint32_t h, const uint8_t *d)
{
	size_t lo = 0, hi = f->n_rows;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = cmp_row_key(&f->rows[mid], h, d);

		if (c == 0)
			return &f->rows[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const uint8_t *out_of(struct f5 *f, const struct row6 *r, uint32_t i)
{
	return f->outs.p + r->out + (size_t)i * OUT6;
}

/* Copy every row of the height-keyed table name into the hrow field at
 * offset off (a struct sd_buf), flag at flag_off. */
static void read_h_table(struct f5 *f, const char *name, size_t off,
			 size_t flag_off)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	CHECK(!mdb_cursor_open(f->txn, dbi(f->txn, name), &c));
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct hrow *hr;

		CHECK_EQ_INT(k.mv_size, 4);
		hr = find_h(f, sd_be32_get(k.mv_data));
		sd_buf_put((struct sd_buf *)((char *)hr + off), v.mv_data,
			   v.mv_size);
		*(bool *)((char *)hr + flag_off) = true;
	}
	CHECK_EQ_INT(rc, MDB_NOTFOUND);
	mdb_cursor_close(c);
}

static void read_all(struct f5 *f)
{
	MDB_cursor *c;
	MDB_val k, v;
	size_t cap = 0, hcap = 0;
	int rc;

	CHECK(!mdb_cursor_open(f->txn, dbi(f->txn, "blocks"), &c));
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		CHECK_EQ_INT(k.mv_size, 4);
		if (f->n_h == hcap) {
			hcap = hcap ? 2 * hcap : 512;
			f->hs = sd_xrealloc(f->hs, hcap * sizeof(*f->hs));
		}
		memset(&f->hs[f->n_h], 0, sizeof(*f->hs));
		f->hs[f->n_h++].h = sd_be32_get(k.mv_data);
	}
	CHECK_EQ_INT(rc, MDB_NOTFOUND);
	mdb_cursor_close(c);
	read_h_table(f, "tweak_index", offsetof(struct hrow, tw),
		     offsetof(struct hrow, has_tw));
	read_h_table(f, "spent_bits", offsetof(struct hrow, bits),
		     offsetof(struct hrow, has_bits));
	read_h_table(f, "undo", offsetof(struct hrow, undo),
		     offsetof(struct hrow, has_undo));
	read_h_table(f, "v2", offsetof(struct hrow, v2),
		     offsetof(struct hrow, has_v2));

	/* utxos, format 6: H | dtxid -> tpos | ord0 | n x (vout|value|key) */
	CHECK(!mdb_cursor_open(f->txn, dbi(f->txn, "utxos"), &c));
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const uint8_t *val = v.mv_data;
		struct row6 *r;
		struct hrow *hr;

		CHECK_EQ_INT(k.mv_size, 36);
		CHECK(v.mv_size >= HDR6 + OUT6 &&
		      (v.mv_size - HDR6) % OUT6 == 0);
		if (f->n_rows == cap) {
			cap = cap ? 2 * cap : 1024;
			f->rows = sd_xrealloc(f->rows, cap * sizeof(*f->rows));
		}
		r = &f->rows[f->n_rows];
		memset(r, 0, sizeof(*r));
		r->h = sd_be32_get(k.mv_data);
		memcpy(r->dtxid, (const uint8_t *)k.mv_data + 4, 32);
		r->tpos = sd_be32_get(val);
		r->ord0 = sd_be32_get(val + 4);
		r->n = (uint32_t)((v.mv_size - HDR6) / OUT6);
		r->out = f->outs.len;
		r->g = f->n_outs;
		sd_buf_put(&f->outs, val + HDR6, v.mv_size - HDR6);
		f->n_outs += r->n;
		for (uint32_t i = 1; i < r->n; i++)   /* vout order */
			CHECK(sd_be32_get(val + HDR6 + i * OUT6) >
			      sd_be32_get(val + HDR6 + (i - 1) * OUT6));
		hr = find_h(f, r->h);
		if (!hr->nr)
			hr->r0 = f->n_rows;
		/* ords of a height: 0, 1, .. in key order */
		CHECK_EQ_INT(r->ord0, hr->nr ? f->rows[f->n_rows - 1].ord0 +
			     f->rows[f->n_rows - 1].n : 0);
		hr->nr++;
		f->n_rows++;
	}
	CHECK_EQ_INT(rc, MDB_NOTFOUND);
	mdb_cursor_close(c);
}

/* The final spent marks (spent_bits) and the spends the undo rows log. */
static void read_marks(struct f5 *f)
{
	f->sp = sd_xcalloc(f->n_outs + 1, 1);
	f->fin = sd_xcalloc(f->n_outs + 1, 1);
	f->logged = sd_xcalloc(f->n_outs + 1, 1);
	for (size_t i = 0; i < f->n_rows; i++) {
		const struct row6 *r = &f->rows[i];
		struct hrow *hr = find_h(f, r->h);

		CHECK(hr->has_bits);
		for (uint32_t j = 0; j < r->n; j++) {
			uint32_t ord = r->ord0 + j;

			CHECK((size_t)(ord >> 3) < hr->bits.len);
			f->fin[r->g + j] =
				(hr->bits.p[ord >> 3] >> (ord & 7)) & 1;
		}
	}
	for (size_t x = 0; x < f->n_h; x++) {
		const struct hrow *hr = &f->hs[x];

		CHECK(hr->undo.len % SPEND_E == 0);   /* code 6 only */
		for (size_t o = 0; o < hr->undo.len; o += SPEND_E) {
			const uint8_t *e = hr->undo.p + o;
			const struct row6 *r;
			uint32_t j;

			CHECK(e[0] == 6 && e[1] == 0 && e[2] == 40);
			CHECK(e[43] == 1 && e[44] == 0 && e[45] == 4);
			CHECK(sd_be32_get(e + 3) < hr->h);
			r = find_row(f, sd_be32_get(e + 3), e + 7);
			CHECK(r != NULL);
			for (j = 0; j < r->n; j++)
				if (sd_be32_get(out_of(f, r, j)) ==
				    sd_be32_get(e + 39))
					break;
			CHECK(j < r->n);
			CHECK_EQ_INT(sd_be32_get(e + 46), r->ord0 + j);
			CHECK(!f->logged[r->g + j] && f->fin[r->g + j]);
			f->logged[r->g + j] = 1;
		}
	}
}

static size_t tweak_rec_len(unsigned flags)
{
	return (flags & K_DUST) ? 41 : 33;
}

static const uint8_t *tweak_of(struct f5 *f, const struct row6 *r)
{
	const struct hrow *hr = find_h(f, r->h);
	size_t rl = tweak_rec_len(f->flags);

	CHECK(hr->has_tw && (size_t)(r->tpos + 1) * rl <= hr->tw.len);
	return hr->tw.p + (size_t)r->tpos * rl;
}

/* Format 5's spend of output j of r (store_spend.c spend_one/spend_cut):
 * the cut_through row is kept at the max of the unspent outputs, deleted
 * when none is left; a change by a logged spend logs the before-image. */
static void spend(struct f5 *f, struct row6 *r, uint32_t j, bool log,
		  struct sd_buf *undo, size_t *n_cut)
{
	uint64_t v = sd_be64_get(out_of(f, r, j) + 4), max = 0;
	bool any = false;
	uint8_t e[CUT_E];

	CHECK(!f->sp[r->g + j]);
	f->sp[r->g + j] = 1;
	if (!(f->flags & K_CUT) || !r->present || v < r->high)
		return;
	for (uint32_t i = 0; i < r->n; i++) {
		uint64_t w = sd_be64_get(out_of(f, r, i) + 4);

		if (f->sp[r->g + i])
			continue;
		any = true;
		max = w > max ? w : max;
	}
	if (any && max == r->high)
		return;
	if (log) {
		e[0] = 3;
		e[1] = 0;
		e[2] = 36;
		sd_be32_put(e + 3, r->h);
		memcpy(e + 7, r->dtxid, 32);
		e[39] = 1;
		e[40] = 0;
		e[41] = 41;
		memcpy(e + 42, tweak_of(f, r), 33);
		sd_be64_put(e + 75, r->high);
		sd_buf_put(undo, e, sizeof(e));
		(*n_cut)++;
	}
	if (any)
		r->high = max;
	else
		r->present = false;
}

/* Replay the chain's spends height by height: rows appear at their
 * height; then the logged spends of the block in log order (format 5
 * logged in key order, and these all come from lower heights), then its
 * spends of its own outputs (key order = ord order; never logged).  An
 * output spent but logged nowhere was spent in its own block or by a
 * block whose undo row was pruned; pruning goes oldest first, so every
 * row left is above that block, and replaying the spend at the output's
 * own height changes no logged before-image (the end state does not
 * depend on the order).  nu[x]: the new undo row of height x (code 6
 * entries, each followed by the code 3 entry it caused, if any). */
static size_t replay(struct f5 *f, struct sd_buf *nu)
{
	size_t n_cut = 0;

	for (size_t x = 0; x < f->n_h; x++) {
		struct hrow *hr = &f->hs[x];

		for (size_t i = hr->r0; i < hr->r0 + hr->nr; i++) {
			struct row6 *r = &f->rows[i];

			r->present = true;
			r->high = 0;
			for (uint32_t j = 0; j < r->n; j++) {
				uint64_t w = sd_be64_get(out_of(f, r, j) + 4);

				r->high = w > r->high ? w : r->high;
			}
		}
		nu[x].len = 0;
		for (size_t o = 0; o < hr->undo.len; o += SPEND_E) {
			const uint8_t *e = hr->undo.p + o;
			struct row6 *r = find_row(f, sd_be32_get(e + 3), e + 7);
			uint32_t j = sd_be32_get(e + 46) - r->ord0;

			sd_buf_put(&nu[x], e, SPEND_E);
			spend(f, r, j, true, &nu[x], &n_cut);
		}
		for (size_t i = hr->r0; i < hr->r0 + hr->nr; i++) {
			struct row6 *r = &f->rows[i];

			for (uint32_t j = 0; j < r->n; j++)
				if (f->fin[r->g + j] && !f->logged[r->g + j])
					spend(f, r, j, false, &nu[x], &n_cut);
		}
	}
	/* the replay ends where the index is: every mark, and every
	 * cut_through row = max of its tx's unspent outputs */
	CHECK(!memcmp(f->sp, f->fin, f->n_outs));
	for (size_t i = 0; f->flags & K_CUT && i < f->n_rows; i++) {
		const struct row6 *r = &f->rows[i];
		uint64_t max = 0;
		bool any = false;

		for (uint32_t j = 0; j < r->n; j++) {
			uint64_t w = sd_be64_get(out_of(f, r, j) + 4);

			if (!f->fin[r->g + j]) {
				any = true;
				max = w > max ? w : max;
			}
		}
		CHECK_EQ_INT(any, r->present);
		CHECK(!any || max == r->high);
	}
	return n_cut;
}

/* The format 5 record of height hr (expanded: every tx's txid, flags
 * 0x01 or 0, tweak, outputs) into o. */
static void v2_expand(struct f5 *f, const struct hrow *hr, struct sd_buf *o)
{
	const uint8_t *p = hr->v2.p;
	size_t len = hr->v2.len, q = 0, rl = tweak_rec_len(f->flags);
	uint32_t k = 0, compact = 0;
	uint8_t be[4];

	o->len = 0;
	while (q < len) {
		uint8_t fl = p[q++], f5fl = fl & 1;
		uint32_t n;

		CHECK((fl & ~3u) == 0 && fl != 2);
		if (!(fl & 1) || (fl & 2)) {       /* inline */
			size_t s = q;

			CHECK(len - q >= 32 + 4u + ((fl & 1) ? 33u : 0u));
			q += 32 + ((fl & 1) ? 33 : 0);
			n = sd_be32_get(p + q);
			CHECK(!(fl & 1) ? n == 0 : n > 0);
			q += 4;
			CHECK((len - q) / OUT6 >= n);
			q += (size_t)n * OUT6;
			sd_buf_put(o, p + s, 32);
			sd_buf_put(o, &f5fl, 1);
			sd_buf_put(o, p + s + 32, q - s - 32);
			k += fl & 1;
		} else {                           /* compact: tpos k */
			const struct row6 *r = NULL;
			uint8_t txid[32];

			for (size_t i = hr->r0; i < hr->r0 + hr->nr; i++)
				if (f->rows[i].tpos == k) {
					CHECK(r == NULL);
					r = &f->rows[i];
				}
			CHECK(r != NULL);
			CHECK(hr->has_tw && hr->tw.len >= (k + 1) * rl);
			for (int i = 0; i < 32; i++)
				txid[i] = r->dtxid[31 - i];
			sd_buf_put(o, txid, 32);
			sd_buf_put(o, &f5fl, 1);
			sd_buf_put(o, hr->tw.p + (size_t)k * rl, 33);
			sd_be32_put(be, r->n);
			sd_buf_put(o, be, 4);
			sd_buf_put(o, out_of(f, r, 0), (size_t)r->n * OUT6);
			k++;
			compact++;
		}
		CHECK(len - q >= 4);
		n = sd_be32_get(p + q);
		CHECK((len - q - 4) / 44 >= n);
		sd_buf_put(o, p + q, 4 + (size_t)n * 44);
		q += 4 + (size_t)n * 44;
	}
	/* a compact record names every tweak tx of the height */
	CHECK(!compact || (compact == k && k == hr->nr));
	CHECK(!hr->has_tw || hr->tw.len == (size_t)k * rl);
}

static void put(MDB_txn *txn, MDB_dbi d, const void *k, size_t kl,
		const void *v, size_t vl, unsigned fl)
{
	MDB_val kk = { kl, (void *)k }, vv = { vl, (void *)v };

	CHECK_EQ_INT(mdb_put(txn, d, &kk, &vv, fl), 0);
}

static void write_utxos(struct f5 *f, struct f5_stats *st)
{
	MDB_dbi d = dbi(f->txn, "utxos");
	uint8_t key[40], val[46];

	CHECK_EQ_INT(mdb_drop(f->txn, d, 0), 0);   /* emptied */
	for (size_t i = 0; i < f->n_rows; i++) {
		const struct row6 *r = &f->rows[i];

		for (uint32_t j = 0; j < r->n; j++) {
			const uint8_t *o = out_of(f, r, j);

			sd_be32_put(key, r->h);
			memcpy(key + 4, r->dtxid, 32);
			memcpy(key + 36, o, 4);
			memcpy(val, o + 4, 8);
			val[8] = 0x51;
			val[9] = 0x20;
			memcpy(val + 10, o + 12, 32);
			sd_be32_put(val + 42, r->ord0 + j);
			put(f->txn, d, key, 40, val, 46, MDB_APPEND);
			st->utxo_rows++;
		}
	}
}

static void write_cut(struct f5 *f, struct f5_stats *st)
{
	MDB_dbi d;
	uint8_t val[41];

	CHECK_EQ_INT(mdb_dbi_open(f->txn, "cut_through", 0, &d),
		     MDB_NOTFOUND);   /* format 6 has none */
	/* format 5 opened every table with MDB_CREATE: always there */
	CHECK_EQ_INT(mdb_dbi_open(f->txn, "cut_through", MDB_CREATE, &d), 0);
	for (size_t i = 0; f->flags & K_CUT && i < f->n_rows; i++) {
		const struct row6 *r = &f->rows[i];
		uint8_t key[36];

		if (!r->present)
			continue;
		sd_be32_put(key, r->h);
		memcpy(key + 4, r->dtxid, 32);
		memcpy(val, tweak_of(f, r), 33);
		sd_be64_put(val + 33, r->high);
		put(f->txn, d, key, 36, val, 41, MDB_APPEND);
		st->cut_rows++;
	}
}

/* A height >= undo_from with no undo row, above the first utxos row: the
 * highest such one gets an undo row of code 3 entries only. */
static void add_cut_only_row(struct f5 *f, MDB_dbi undo, uint32_t from,
			     struct f5_stats *st)
{
	const struct row6 *r = &f->rows[0];
	struct sd_buf e = { 0 };
	uint8_t b[9];

	for (size_t x = f->n_h; x-- > 0;) {
		const struct hrow *hr = &f->hs[x];

		if (hr->has_undo || hr->h < from || hr->h <= r->h)
			continue;
		b[0] = 3;
		b[1] = 0;
		b[2] = 36;
		sd_buf_put(&e, b, 3);
		sd_be32_put(b, r->h);
		sd_buf_put(&e, b, 4);
		sd_buf_put(&e, r->dtxid, 32);
		b[0] = 1;
		b[1] = 0;
		b[2] = 41;
		sd_buf_put(&e, b, 3);
		sd_buf_put(&e, tweak_of(f, r), 33);
		sd_be64_put(b, sd_be64_get(out_of(f, r, 0) + 4));
		sd_buf_put(&e, b, 8);
		CHECK_EQ_INT(e.len, CUT_E);
		/* and one whose row was absent before (format 3's 0x00) */
		r = &f->rows[f->n_rows > 1 ? 1 : 0];
		b[0] = 3;
		b[1] = 0;
		b[2] = 36;
		sd_buf_put(&e, b, 3);
		sd_be32_put(b, r->h);
		sd_buf_put(&e, b, 4);
		sd_buf_put(&e, r->dtxid, 32);
		b[0] = 0;
		sd_buf_put(&e, b, 1);
		CHECK_EQ_INT(e.len, CUT_E + CUT_E_ABSENT);
		sd_be32_put(b, hr->h);
		put(f->txn, undo, b, 4, e.p, e.len, MDB_NOOVERWRITE);
		st->cut_only_h = hr->h;
		break;
	}
	sd_buf_free(&e);
}

void make_format5(const char *dir, unsigned opts, struct f5_stats *stp)
{
	struct f5 f = { 0 };
	struct f5_stats st = { 0 };
	MDB_env *env = raw_open(dir, 0);
	MDB_dbi meta, v2, undo;
	MDB_val k, v;
	struct sd_buf *nu, o = { 0 };
	uint32_t from = 0;
	uint8_t vb[4];

	CHECK(!mdb_txn_begin(env, NULL, 0, &f.txn));
	meta = dbi(f.txn, "meta");
	k = (MDB_val){ 7, "version" };
	CHECK(!mdb_get(f.txn, meta, &k, &v));
	CHECK(v.mv_size == 4 && sd_be32_get(v.mv_data) == 6);
	k = (MDB_val){ 5, "flags" };
	CHECK(!mdb_get(f.txn, meta, &k, &v));
	CHECK_EQ_INT(v.mv_size, 1);
	f.flags = *(const uint8_t *)v.mv_data;
	k = (MDB_val){ 9, "undo_from" };
	if (mdb_get(f.txn, meta, &k, &v) == 0) {
		CHECK_EQ_INT(v.mv_size, 4);
		from = sd_be32_get(v.mv_data);
	}
	k = (MDB_val){ 7, "v2_from" };
	CHECK_EQ_INT(mdb_get(f.txn, meta, &k, &v), MDB_NOTFOUND);

	read_all(&f);
	CHECK(f.n_h > 0);
	CHECK(!(f.flags & K_TWEAKS_ONLY) || f.n_rows == 0);
	read_marks(&f);
	nu = sd_xcalloc(f.n_h, sizeof(*nu));
	st.cut_undo = replay(&f, nu);

	write_utxos(&f, &st);
	write_cut(&f, &st);
	if ((f.flags & K_CUT) && !(f.flags & (K_BASIC | K_DUST))) {
		MDB_dbi tw = dbi(f.txn, "tweak_index");

		/* format 5 wrote the tweak index for the full kinds only */
		for (size_t x = 0; x < f.n_h; x++)
			st.tweak_rows_dropped += f.hs[x].has_tw;
		CHECK_EQ_INT(mdb_drop(f.txn, tw, 0), 0);
	}
	v2 = dbi(f.txn, "v2");
	undo = dbi(f.txn, "undo");
	for (size_t x = 0; x < f.n_h; x++) {
		struct hrow *hr = &f.hs[x];

		sd_be32_put(vb, hr->h);
		if (hr->has_v2) {
			v2_expand(&f, hr, &o);
			put(f.txn, v2, vb, 4, o.p, o.len, 0);
			st.v2_recs++;
		}
		if (hr->has_undo) {
			st.undo_rows++;
			if (nu[x].len != hr->undo.len)
				put(f.txn, undo, vb, 4, nu[x].p, nu[x].len, 0);
		} else {
			CHECK_EQ_INT(nu[x].len, 0);   /* nothing logged */
		}
	}
	if ((f.flags & K_CUT) && !(opts & F5_EXACT) && f.n_rows)
		add_cut_only_row(&f, undo, from, &st);
	sd_be32_put(vb, (opts & F5_VERSION4) ? 4 : 5);
	put(f.txn, meta, "version", 7, vb, 4, 0);
	CHECK_EQ_INT(mdb_txn_commit(f.txn), 0);
	mdb_env_close(env);

	for (size_t x = 0; x < f.n_h; x++) {
		sd_buf_free(&f.hs[x].tw);
		sd_buf_free(&f.hs[x].bits);
		sd_buf_free(&f.hs[x].undo);
		sd_buf_free(&f.hs[x].v2);
		sd_buf_free(&nu[x]);
	}
	free(nu);
	free(f.hs);
	free(f.rows);
	free(f.sp);
	free(f.fin);
	free(f.logged);
	sd_buf_free(&f.outs);
	sd_buf_free(&o);
	if (stp)
		*stp = st;
}

static void put_hex(struct sd_buf *b, const void *p, size_t n)
{
	char *h = sd_xmalloc(2 * n + 1);

	sd_hex_encode(h, p, n);
	sd_buf_put(b, h, 2 * n);
	free(h);
}

char *f5_raw_dump(const char *dir)
{
	MDB_env *env = raw_open(dir, MDB_RDONLY);
	MDB_txn *txn;
	MDB_cursor *mc, *c;
	MDB_dbi main_db, d;
	MDB_val k, v;
	struct sd_buf names = { 0 }, out = { 0 };
	int rc;

	CHECK(!mdb_txn_begin(env, NULL, MDB_RDONLY, &txn));
	CHECK(!mdb_dbi_open(txn, NULL, 0, &main_db));
	CHECK(!mdb_cursor_open(txn, main_db, &mc));
	for (rc = mdb_cursor_get(mc, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(mc, &k, &v, MDB_NEXT)) {
		sd_buf_put(&names, k.mv_data, k.mv_size);
		sd_buf_put(&names, "", 1);   /* NUL-separated */
	}
	CHECK_EQ_INT(rc, MDB_NOTFOUND);
	mdb_cursor_close(mc);
	for (size_t off = 0; off < names.len;) {
		const char *name = names.s + off;

		off += strlen(name) + 1;
		CHECK_EQ_INT(mdb_dbi_open(txn, name, 0, &d), 0);
		CHECK(!mdb_cursor_open(txn, d, &c));
		sd_buf_printf(&out, "table %s\n", name);
		for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			sd_buf_printf(&out, "%s ", name);
			put_hex(&out, k.mv_data, k.mv_size);
			sd_buf_put(&out, " ", 1);
			put_hex(&out, v.mv_data, v.mv_size);
			sd_buf_put(&out, "\n", 1);
		}
		CHECK_EQ_INT(rc, MDB_NOTFOUND);
		mdb_cursor_close(c);
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
	sd_buf_free(&names);
	sd_buf_put(&out, "", 0);
	return out.s ? out.s : sd_xstrdup("");
}

void f5_meta_put(const char *dir, const char *key, const void *val,
		 size_t len)
{
	MDB_env *env = raw_open(dir, 0);
	MDB_txn *txn;
	MDB_dbi meta;
	MDB_val k = { strlen(key), (void *)key }, v = { len, (void *)val };

	CHECK(!mdb_txn_begin(env, NULL, 0, &txn));
	meta = dbi(txn, "meta");
	if (val)
		CHECK_EQ_INT(mdb_put(txn, meta, &k, &v, 0), 0);
	else
		CHECK_EQ_INT(mdb_del(txn, meta, &k, NULL), 0);
	CHECK_EQ_INT(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

uint8_t *f5_file(const char *dir, size_t *len)
{
	char path[600];
	uint8_t *buf;
	FILE *fp;
	long n;

	snprintf(path, sizeof(path), "%s/index/data.mdb", dir);
	CHECK((fp = fopen(path, "rb")) != NULL);
	CHECK_EQ_INT(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	CHECK(n > 0);
	rewind(fp);
	buf = sd_xmalloc((size_t)n);
	CHECK_EQ_INT(fread(buf, 1, (size_t)n, fp), n);
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

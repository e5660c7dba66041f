/* test_store_cut_through.c - the cut-through table of the regtest-a index
 * against its own utxos rows and spent bitmaps (from the canonical dump):
 * one row per tx with an unspent taproot output, its highest value the
 * max over the unspent rows; none for a tx whose outputs are all spent.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/util.h"
#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "../store_int.h"
#include "store_fixture.h"

/* Cut-through invariant, checked against the utxos rows themselves: a tx
 * with an unspent taproot output has a cut_through row whose highest
 * value is the max over its unspent rows; a tx whose outputs are all
 * spent has none.  Independent of the incremental rule in spend_one. */
static uint64_t hex_be64(const char *p)
{
	uint64_t x = 0;

	for (int i = 0; i < 16; i++)
		x = x << 4 | (uint64_t)(p[i] <= '9' ? p[i] - '0' : p[i] - 'a' + 10);
	return x;
}

static unsigned hexval(char c)
{
	return (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
}

static uint32_t hex_be32(const char *p)
{
	uint32_t x = 0;

	for (int i = 0; i < 8; i++)
		x = x << 4 | hexval(p[i]);
	return x;
}

/* The spent bitmaps of a dump ("spent_bits HHHHHHHH bitshex" lines). */
struct dump_bits {
	uint32_t *h;
	char **hex;
	size_t n, cap;
};

static bool dump_bit(const struct dump_bits *db, const char *key_hex,
		     uint32_t ord)
{
	uint32_t h = hex_be32(key_hex);
	size_t i;

	for (i = 0; i < db->n && db->h[i] != h; i++)
		;
	CHECK(i < db->n);
	CHECK(strlen(db->hex[i]) >= 2 * (ord / 8 + 1));
	return (hexval(db->hex[i][2 * (ord / 8)]) << 4 |
		hexval(db->hex[i][2 * (ord / 8) + 1])) >> (ord % 8) & 1;
}

static void check_cut_through_invariant(struct oracle_index *idx)
{
	char *d = sfx_dump(idx), *line, *save = NULL;
	struct dump_bits db = { 0 };
	size_t n_cut = 0, cap = 4096, n_tx = 0, lowered = 0, gone = 0;
	size_t partial = 0;
	char (*cut_key)[73] = sd_xmalloc(cap * sizeof(*cut_key));
	uint64_t *cut_hi = sd_xmalloc(cap * sizeof(*cut_hi));
	char cur[73] = "";
	uint64_t max_all = 0, max_unspent = 0;
	bool any_unspent = false, any_spent = false, have = false;

	for (line = strtok_r(d, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "cut_through ", 12)) {
			CHECK_EQ_INT(strlen(line), 12 + 72 + 1 + 82);
			if (n_cut == cap) {
				cap *= 2;
				cut_key = sd_xrealloc(cut_key, cap * sizeof(*cut_key));
				cut_hi = sd_xrealloc(cut_hi, cap * sizeof(*cut_hi));
			}
			memcpy(cut_key[n_cut], line + 12, 72);
			cut_key[n_cut][72] = 0;
			cut_hi[n_cut++] = hex_be64(line + 12 + 73 + 66);
		} else if (!strncmp(line, "spent_bits ", 11)) {
			if (db.n == db.cap) {
				db.cap = db.cap ? db.cap * 2 : 256;
				db.h = sd_xrealloc(db.h, db.cap * sizeof(*db.h));
				db.hex = sd_xrealloc(db.hex, db.cap *
						     sizeof(*db.hex));
			}
			CHECK(line[19] == ' ');
			db.h[db.n] = hex_be32(line + 11);
			db.hex[db.n++] = sd_xstrdup(line + 20);
		}
	}
	free(d);
	d = sfx_dump(idx);
	save = NULL;
	/* utxos rows come grouped by (H, dtxid): fold each group, then
	 * compare it with its cut_through row (binary search, hex keys sort
	 * as the bytes do). */
	for (line = strtok_r(d, "\n", &save);; line = strtok_r(NULL, "\n", &save)) {
		bool is_utxo = line && !strncmp(line, "utxos ", 6);

		if (have && (!is_utxo || memcmp(line + 6, cur, 72))) {
			size_t lo = 0, hi = n_cut;

			while (lo < hi) {
				size_t mid = (lo + hi) / 2;

				if (strcmp(cut_key[mid], cur) < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			n_tx++;
			if (any_unspent) {
				CHECK(lo < n_cut && !strcmp(cut_key[lo], cur));
				CHECK(cut_hi[lo] == max_unspent);
				partial += any_spent;
				lowered += max_unspent < max_all;
			} else {
				CHECK(!(lo < n_cut && !strcmp(cut_key[lo], cur)));
				gone++;
			}
			have = false;
		}
		if (!line)
			break;
		if (!is_utxo)
			continue;
		CHECK_EQ_INT(strlen(line), 6 + 80 + 1 + 2 * ST_UTXO_VAL);
		if (!have) {
			memcpy(cur, line + 6, 72);
			cur[72] = 0;
			max_all = max_unspent = 0;
			any_unspent = any_spent = false;
			have = true;
		}
		{
			uint64_t value = hex_be64(line + 6 + 81);
			bool spent = dump_bit(&db, line + 6,
					      hex_be32(line + 6 + 81 + 84));

			if (value > max_all)
				max_all = value;
			if (spent) {
				any_spent = true;
			} else {
				any_unspent = true;
				if (value > max_unspent)
					max_unspent = value;
			}
		}
	}
	fprintf(stderr, "cut-through invariant: %zu txs with taproot rows, %zu "
		"cut rows, %zu partly spent, %zu lowered, %zu fully spent\n",
		n_tx, n_cut, partial, lowered, gone);
	CHECK(n_tx > 0 && partial > 0 && lowered > 0 && gone > 0);
	CHECK_EQ_INT(n_cut + gone, n_tx);
	free(cut_key);
	free(cut_hi);
	free(d);
	for (size_t i = 0; i < db.n; i++)
		free(db.hex[i]);
	free(db.h);
	free(db.hex);
}

int main(void)
{
	char dir[512];
	struct oracle_index *idx;

	sfx_begin("test_store_cut_through");
	idx = sfx_full_index(dir, sizeof(dir));
	check_cut_through_invariant(idx);
	oracle_index_close(idx);
	sfx_end();
	printf("test_store_cut_through: ok\n");
	return 0;
}

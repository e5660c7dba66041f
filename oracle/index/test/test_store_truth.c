/* test_store_truth.c - every height's tweak index of regtest-a (real LMDB
 * in a temp dir) against the BIP352 truth (expected-tweaks.jsonl): the
 * same tweaks in block order, 2,048 in all.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "store_fixture.h"

static void check_tweak_index_truth(struct oracle_index *idx)
{
	FILE *f = fopen(sfx_testdata("expected-tweaks.jsonl"), "r");
	char *line = NULL, h66[67];
	size_t cap = 0, total = 0;
	struct oracle_read *r;

	CHECK(f);
	CHECK_EQ_INT(oracle_read_begin(idx, &r), SD_OK);
	while (getline(&line, &cap, f) > 0) {
		json_t *j = json_loads(line, 0, NULL), *tw, *e;
		const uint8_t *recs;
		size_t n, rl, i, k = 0;
		int h;

		CHECK(j);
		h = (int)json_integer_value(json_object_get(j, "height"));
		tw = json_object_get(j, "tweaks");
		CHECK_EQ_INT(oracle_read_tweak_index(r, h, &recs, &n, &rl),
			     SD_OK);
		CHECK_EQ_INT(rl, 41);
		json_array_foreach(tw, i, e) {
			json_t *t = json_array_get(e, 1);

			if (json_is_null(t))
				continue;
			CHECK(k < n);
			sfx_hex(h66, recs + k * rl, 33);
			CHECK_STREQ(h66, json_string_value(t));
			k++;
		}
		CHECK_EQ_INT(k, n);
		total += n;
		json_decref(j);
	}
	CHECK_EQ_INT(total, SFX_TWEAKS);
	oracle_read_end(r);
	free(line);
	fclose(f);
}

int main(void)
{
	char dir[512];
	struct oracle_index *idx;

	sfx_begin("test_store_truth");
	idx = sfx_full_index(dir, sizeof(dir));
	check_tweak_index_truth(idx);
	oracle_index_close(idx);
	sfx_end();
	printf("test_store_truth: ok\n");
	return 0;
}

/* store_testlib.h - regtest-a for the index tests and tools: parse
 * tests/data/regtest-a/blocks.hex (heights 1..400, one block per line) and
 * attach every input's prevout from the outputs of earlier blocks in the
 * file, as the node's spenttxouts would.  Header-only (static functions).
 */
#ifndef SIGNETD_ORACLE_TEST_STORE_TESTLIB_H
#define SIGNETD_ORACLE_TEST_STORE_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../bitcoin/block.h"
#include "../../../common/util.h"

struct rta_out {
	uint8_t op[36]; /* txid | vout LE */
	const struct btc_txout *out;
};

struct rta_chain {
	struct btc_block **b; /* b[i] has height i + 1 */
	size_t n;
	struct rta_out *outs;
	size_t n_outs;
};

static int rta_cmp_out(const void *a, const void *b)
{
	return memcmp(a, b, 36);
}

/* Load at most max_blocks blocks (0: all).  Returns 0 or -1. */
static int rta_load(const char *path, size_t max_blocks, struct rta_chain *c)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, bcap = 0, ocap = 0, t, o, i;
	ssize_t len;
	uint8_t *raw = NULL;

	memset(c, 0, sizeof(*c));
	if (!f)
		return -1;
	while ((len = getline(&line, &cap, f)) > 0) {
		struct btc_block *b;

		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		if (max_blocks && c->n == max_blocks)
			break;
		raw = sd_xrealloc(raw, (size_t)len / 2);
		if (sd_hex_decode(raw, (size_t)len / 2, line, (size_t)len) ||
		    btc_block_parse(raw, (size_t)len / 2, &b) != SD_OK) {
			fclose(f);
			return -1;
		}
		b->height = (int32_t)c->n + 1;
		if (c->n == bcap) {
			bcap = bcap ? bcap * 2 : 512;
			c->b = sd_xrealloc(c->b, bcap * sizeof(*c->b));
		}
		c->b[c->n++] = b;
		for (t = 0; t < b->n_tx; t++) {
			for (o = 0; o < b->tx[t].n_out; o++) {
				if (c->n_outs == ocap) {
					ocap = ocap ? ocap * 2 : 4096;
					c->outs = sd_xrealloc(c->outs, ocap *
							      sizeof(*c->outs));
				}
				memcpy(c->outs[c->n_outs].op, b->tx[t].txid, 32);
				sd_le32_put(c->outs[c->n_outs].op + 32,
					    (uint32_t)o);
				c->outs[c->n_outs++].out = &b->tx[t].out[o];
			}
		}
	}
	free(line);
	free(raw);
	fclose(f);
	qsort(c->outs, c->n_outs, sizeof(*c->outs), rta_cmp_out);
	for (i = 0; i < c->n; i++) {
		struct btc_block *b = c->b[i];

		for (t = 1; t < b->n_tx; t++) {
			for (o = 0; o < b->tx[t].n_in; o++) {
				struct btc_txin *in = &b->tx[t].in[o];
				struct rta_out key, *hit;

				memcpy(key.op, in->prev_txid, 32);
				sd_le32_put(key.op + 32, in->prev_vout);
				hit = bsearch(&key, c->outs, c->n_outs,
					      sizeof(*c->outs), rta_cmp_out);
				if (!hit)
					return -1;
				in->has_prevout = true;
				in->prevout_value = hit->out->value;
				in->prevout_spk = hit->out->spk;
			}
		}
	}
	return 0;
}

static void rta_free(struct rta_chain *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		btc_block_free(c->b[i]);
	free(c->b);
	free(c->outs);
	memset(c, 0, sizeof(*c));
}

#endif

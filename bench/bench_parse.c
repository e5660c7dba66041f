/* bench_parse.c - parser throughput without a node: parse every block of
 * a blocks.hex file (one hex block per line) N times and report MB/s and
 * blocks/s for btc_block_parse (hash + txids), with and without
 * btc_block_digest.
 *
 * usage: bench_parse [BLOCKS_HEX] [ITERATIONS]
 *   default tests/data/regtest-a/blocks.hex, 50 iterations */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "../bitcoin/block.h"
#include "../common/util.h"

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "tests/data/regtest-a/blocks.hex";
	int iters = argc > 2 ? atoi(argv[2]) : 50;
	uint8_t **raw = NULL;
	size_t *len = NULL, n = 0, total = 0, txs = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	FILE *f = fopen(path, "r");

	if (!f || iters < 1) {
		fprintf(stderr, "usage: bench_parse [BLOCKS_HEX] [ITERATIONS]\n");
		return 2;
	}
	while ((got = getline(&line, &cap, f)) > 0) {
		while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
			got--;
		if (got == 0 || got % 2)
			continue;
		raw = sd_xrealloc(raw, (n + 1) * sizeof(*raw));
		len = sd_xrealloc(len, (n + 1) * sizeof(*len));
		len[n] = (size_t)got / 2;
		raw[n] = sd_xmalloc(len[n]);
		if (sd_hex_decode(raw[n], len[n], line, (size_t)got) != SD_OK)
			return 1;
		total += len[n];
		n++;
	}
	fclose(f);
	free(line);

	for (int pass = 0; pass < 2; pass++) {
		uint64_t t0 = sd_mono_ns();
		double secs;

		txs = 0;
		for (int it = 0; it < iters; it++) {
			for (size_t i = 0; i < n; i++) {
				struct btc_block *b;
				uint8_t d[32];
				if (btc_block_parse(raw[i], len[i], &b) != SD_OK) {
					fprintf(stderr, "block %zu: parse error\n", i);
					return 1;
				}
				txs += b->n_tx;
				if (pass)
					btc_block_digest(b, d);
				btc_block_free(b);
			}
		}
		secs = (double)(sd_mono_ns() - t0) / 1e9;
		printf("bench_parse: %s blocks=%zu bytes=%zu iters=%d secs=%.3f "
		       "blocks_per_s=%.0f txs_per_s=%.0f mb_per_s=%.1f\n",
		       pass ? "parse+digest" : "parse", n, total, iters, secs,
		       (double)n * iters / secs, (double)txs / secs,
		       (double)total * iters / secs / 1e6);
	}
	for (size_t i = 0; i < n; i++)
		free(raw[i]);
	free(raw);
	free(len);
	return 0;
}

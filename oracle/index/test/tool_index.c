/* tool_index.c - build/tools/oracle_index: index regtest-a's blocks.hex
 * (prevouts attached from earlier blocks of the file) into a datadir,
 * resuming from the index tip, and optionally print a canonical dump of
 * every table.  Used by tests/integration/test_store_crash.py (kill -9 at
 * random instants, then resume) and by hand.
 *
 *   oracle_index --datadir DIR [--blocks FILE] [--stop-after H]
 *                [--no-index] [--dump] [--tip] [--threads N] [--verbose]
 *   oracle_index --datadir DIR --bigblock R
 *
 * --bigblock R: connect one synthetic block holding every transaction of
 * regtest-a (2556 non-coinbase txs, 2048 tweaks, same-block spends) into
 * R fresh indexes under DIR and print the connect time (compute + one
 * LMDB write txn) next to the compute time alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/log.h"
#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "../store_int.h"
#include "store_testlib.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int bigblock(const char *dir, const char *blocks, unsigned threads,
		    int reps)
{
	struct rta_chain chain;
	struct btc_block big;
	struct oracle_config cfg;
	struct oracle_tx_info *infos;
	struct oracle_pool *pool;
	double *conn = calloc((size_t)reps, sizeof(double));
	double *comp = calloc((size_t)reps, sizeof(double));
	size_t n = 1, i, t;
	char sub[4096], err[SD_ERRLEN];

	if (!conn || !comp || rta_load(blocks, 0, &chain) != 0)
		return 1;
	memset(&big, 0, sizeof(big));
	for (i = 0; i < chain.n; i++)
		n += chain.b[i]->n_tx - 1;
	big.tx = calloc(n, sizeof(*big.tx));
	infos = calloc(n, sizeof(*infos));
	if (!big.tx || !infos)
		return 1;
	big.tx[0] = chain.b[0]->tx[0];
	big.n_tx = 1;
	for (i = 0; i < chain.n; i++)
		for (t = 1; t < chain.b[i]->n_tx; t++)
			big.tx[big.n_tx++] = chain.b[i]->tx[t];
	big.height = 1;
	big.hdr = chain.b[0]->hdr;
	memset(big.hash, 0x5a, 32);
	pool = oracle_pool_new(threads);
	for (int r = 0; r < reps; r++) {
		struct oracle_index *idx;
		struct oracle_stats st;
		uint64_t t0 = sd_mono_ns();

		if (oracle_block_compute(pool, &big, infos) != SD_OK)
			return 1;
		comp[r] = (double)(sd_mono_ns() - t0) / 1e6;
		snprintf(sub, sizeof(sub), "%s/big%d", dir, r);
		memset(&cfg, 0, sizeof(cfg));
		cfg.datadir = sub;
		cfg.network = "regtest";
		cfg.tweaks_full_basic = cfg.tweaks_full_with_dust_filter = true;
		cfg.tweaks_cut_through_with_dust_filter = true;
		cfg.tweak_threads = threads;
		cfg.start_height = 1;
		if (oracle_index_open(&cfg, &idx, err) != SD_OK) {
			fprintf(stderr, "oracle_index: %s\n", err);
			return 1;
		}
		if (oracle_index_connect(idx, &big) != SD_OK)
			return 1;
		oracle_index_stats(idx, &st);
		conn[r] = st.last_connect_ms;
		oracle_index_close(idx);
	}
	qsort(conn, (size_t)reps, sizeof(double), cmp_double);
	qsort(comp, (size_t)reps, sizeof(double), cmp_double);
	printf("bigblock txs=%zu threads=%u reps=%d connect_ms p50=%.2f "
	       "min=%.2f max=%.2f compute_only_ms p50=%.2f min=%.2f\n",
	       big.n_tx, oracle_pool_threads(pool), reps, conn[reps / 2],
	       conn[0], conn[reps - 1], comp[reps / 2], comp[0]);
	oracle_pool_free(pool);
	free(big.tx);
	free(infos);
	free(conn);
	free(comp);
	rta_free(&chain);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: oracle_index --datadir DIR [--blocks FILE] "
		"[--stop-after H] [--no-index] [--dump] [--tip] [--threads N] "
		"[--verbose] [--bigblock REPS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *datadir = NULL, *blocks = NULL;
	char def_blocks[1024], err[SD_ERRLEN];
	long stop_after = -1;
	bool index = true, do_dump = false, print_tip = false;
	int big_reps = 0;
	unsigned threads = 0;
	bool progress = false;
	struct oracle_config cfg;
	struct oracle_index *idx;
	struct rta_chain chain;
	int32_t tip;
	uint8_t hash[32];
	int i, rc;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--datadir") && i + 1 < argc)
			datadir = argv[++i];
		else if (!strcmp(argv[i], "--blocks") && i + 1 < argc)
			blocks = argv[++i];
		else if (!strcmp(argv[i], "--stop-after") && i + 1 < argc)
			stop_after = atol(argv[++i]);
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--bigblock") && i + 1 < argc)
			big_reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--no-index"))
			index = false;
		else if (!strcmp(argv[i], "--dump"))
			do_dump = true;
		else if (!strcmp(argv[i], "--tip"))
			print_tip = true;
		else if (!strcmp(argv[i], "--progress"))
			progress = true;
		else if (!strcmp(argv[i], "--verbose"))
			sd_log_set_level(SD_LOG_DEBUG);
		else
			usage();
	}
	if (!datadir)
		usage();
	if (!blocks) {
		snprintf(def_blocks, sizeof(def_blocks),
			 "%s/regtest-a/blocks.hex", check_testdata_dir());
		blocks = def_blocks;
	}
	if (!sd_log_enabled(SD_LOG_DEBUG))
		sd_log_set_level(SD_LOG_WARN);
	if (big_reps > 0)
		return bigblock(datadir, blocks, threads, big_reps);
	memset(&cfg, 0, sizeof(cfg));
	cfg.datadir = datadir;
	cfg.network = "regtest";
	cfg.tweaks_full_basic = true;
	cfg.tweaks_full_with_dust_filter = true;
	cfg.tweaks_cut_through_with_dust_filter = true;
	cfg.tweak_threads = threads;
	cfg.start_height = 1;
	rc = oracle_index_open(&cfg, &idx, err);
	if (rc != SD_OK) {
		fprintf(stderr, "oracle_index: %s\n", err);
		return 1;
	}
	if (index) {
		if (rta_load(blocks, 0, &chain) != 0) {
			fprintf(stderr, "oracle_index: cannot load %s\n", blocks);
			return 1;
		}
		if (oracle_index_tip(idx, &tip, hash) != SD_OK)
			return 1;
		/* tells a crash test that indexing starts now */
		fprintf(stderr, "oracle_index: loaded %zu blocks, tip %d\n",
			chain.n, tip);
		for (size_t h = (size_t)(tip < 0 ? 1 : tip + 1);
		     h <= chain.n && (stop_after < 0 || (long)h <= stop_after);
		     h++) {
			if (progress) /* a crash test kills on this line */
				fprintf(stderr, "oracle_index: connect %zu\n", h);
			rc = oracle_index_connect(idx, chain.b[h - 1]);
			if (rc != SD_OK) {
				fprintf(stderr, "oracle_index: connect %zu: "
					"%s\n", h, sd_strerror(rc));
				return 1;
			}
		}
		rta_free(&chain);
	}
	if (print_tip) {
		char hx[65];

		if (oracle_index_tip(idx, &tip, hash) != SD_OK)
			return 1;
		sd_hex_encode_rev(hx, hash, 32);
		printf("tip %d %s\n", tip, hx);
	}
	if (do_dump && oracle_store_dump(idx, stdout) != SD_OK) {
		fprintf(stderr, "oracle_index: dump failed\n");
		return 1;
	}
	oracle_index_close(idx);
	return fflush(stdout) == 0 ? 0 : 1;
}

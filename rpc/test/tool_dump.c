/* tool_dump.c - build/tools/rpc_dump: fetch blocks from a bitcoind through
 * one block source and print one line per block,
 *
 *   <height> <hash> <digest>      (digest = btc_block_digest, prevouts too)
 *
 * so two sources can be compared with diff; --txids adds "tx <height>
 * <txid>" lines.  Throughput goes to stderr.  On failure it prints
 * "rpc_dump: error rc=<code> (<name>) ..." and exits 1.
 *
 * rpc_dump --url URL (--cookie PATH | --user U --pass P)
 *          --source rest|rpc|auto --from H --to H [--repeat N] [--txids]
 *          [--quiet] [--timeout-ms MS] [--pause-after H]
 *
 * --info: first print "info <chain> <blocks> <headers> <besthash> <ibd>
 * <count> <bestblockhash>" from getblockchaininfo, getblockcount and
 * getbestblockhash.
 *
 * --call METHOD PARAMS: print "result <json>" of rpc_call() and exit, or
 * "rpc_error code=<n> msg=<text>" (exit 1).  --rest PATH: print "status
 * <http status> len <n>" and the body of rpc_rest_get(), then exit.
 *
 * --pause-after H: after block H of the first pass print "paused" and wait
 * for a line on stdin (tests restart or kill the node there).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../rpc.h"
#include "../../common/util.h"

#define CHUNK 500

static _Noreturn void usage(void)
{
	fprintf(stderr, "usage: rpc_dump --url URL (--cookie PATH | --user U "
		"--pass P) --source rest|rpc|auto --from H --to H [--repeat N]"
		" [--txids] [--quiet] [--info] [--timeout-ms MS]"
		" [--pause-after H]\n"
		"       rpc_dump --url URL (--cookie PATH | --user U --pass P)"
		" (--call METHOD PARAMS_JSON | --rest PATH)\n");
	exit(2);
}

static _Noreturn void fail(int rc, const char *what, int32_t h, const char *err)
{
	fprintf(stderr, "rpc_dump: error rc=%d (%s) at=%s height=%d err=%s\n",
		rc, sd_strerror(rc), what, (int)h, err ? err : "");
	exit(1);
}

int main(int argc, char **argv)
{
	struct rpc_config cfg = {0};
	const char *src_name = "auto";
	enum rpc_block_source src;
	long from = -1, to = -1, repeat = 1, pause_after = -1;
	bool txids = false, quiet = false, info = false;
	const char *call_m = NULL, *call_p = NULL, *rest_path = NULL;
	struct rpc_client *c;
	struct rpc_stats s0, s1;
	uint64_t t0, blocks = 0, bytes = 0;
	uint8_t (*hashes)[32];
	int rc;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--txids")) {
			txids = true;
			continue;
		}
		if (!strcmp(a, "--info")) {
			info = true;
			continue;
		}
		if (!strcmp(a, "--quiet")) {
			quiet = true;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--call")) {
			call_m = v;
			if (i + 1 >= argc)
				usage();
			call_p = argv[++i];
			continue;
		}
		if (!strcmp(a, "--url"))
			cfg.url = v;
		else if (!strcmp(a, "--cookie"))
			cfg.cookie_path = v;
		else if (!strcmp(a, "--user"))
			cfg.user = v;
		else if (!strcmp(a, "--pass"))
			cfg.pass = v;
		else if (!strcmp(a, "--source"))
			src_name = v;
		else if (!strcmp(a, "--from"))
			from = strtol(v, NULL, 10);
		else if (!strcmp(a, "--to"))
			to = strtol(v, NULL, 10);
		else if (!strcmp(a, "--repeat"))
			repeat = strtol(v, NULL, 10);
		else if (!strcmp(a, "--rest"))
			rest_path = v;
		else if (!strcmp(a, "--pause-after"))
			pause_after = strtol(v, NULL, 10);
		else if (!strcmp(a, "--timeout-ms"))
			cfg.timeout_ms = strtol(v, NULL, 10);
		else
			usage();
	}
	if (!cfg.url)
		usage();
	if (call_m || rest_path) {
		char err[SD_ERRLEN] = "";
		rc = rpc_client_new(&cfg, &c);
		if (rc != SD_OK)
			fail(rc, "client_new", -1, "");
		if (call_m) {
			char *res;
			int code = 0;
			rc = rpc_call(c, call_m, call_p, &res, &code, err);
			if (rc == SD_ERPC) {
				printf("rpc_error code=%d msg=%s\n", code, err);
				rpc_client_free(c);
				return 1;
			}
			if (rc != SD_OK)
				fail(rc, "call", -1, err);
			printf("result %s\n", res);
			free(res);
		} else {
			uint8_t *body;
			size_t len;
			long st;
			rc = rpc_rest_get(c, rest_path, &body, &len, &st);
			if (rc != SD_OK)
				fail(rc, "rest", -1, "");
			printf("status %ld len %zu\n", st, len);
			fwrite(body, 1, len, stdout);
			printf("\n");
			free(body);
		}
		rpc_client_free(c);
		return 0;
	}
	if (from < 0 || to < from || repeat < 1)
		usage();
	if (!strcmp(src_name, "rest"))
		src = RPC_SOURCE_REST;
	else if (!strcmp(src_name, "rpc"))
		src = RPC_SOURCE_RPC;
	else if (!strcmp(src_name, "auto"))
		src = RPC_SOURCE_AUTO;
	else
		usage();
	rc = rpc_client_new(&cfg, &c);
	if (rc != SD_OK)
		fail(rc, "client_new", -1, "bad url or no credentials");
	if (info) {
		struct rpc_chain_info ci;
		char h1[65], h2[65];
		uint8_t best[32];
		int32_t count;

		rc = rpc_get_chain_info(c, &ci);
		if (rc != SD_OK)
			fail(rc, "getblockchaininfo", -1, "");
		rc = rpc_get_block_count(c, &count);
		if (rc != SD_OK)
			fail(rc, "getblockcount", -1, "");
		rc = rpc_get_best_block_hash(c, best);
		if (rc != SD_OK)
			fail(rc, "getbestblockhash", -1, "");
		sd_hex_encode_rev(h1, ci.best_hash, 32);
		sd_hex_encode_rev(h2, best, 32);
		printf("info %s %d %d %s %d %d %s\n", ci.chain, (int)ci.blocks,
		       (int)ci.headers, h1, (int)ci.ibd, (int)count, h2);
	}
	if (src == RPC_SOURCE_AUTO) {
		rc = rpc_detect_block_source(c, &src);
		if (rc != SD_OK)
			fail(rc, "detect", -1, "");
		printf("source %s\n", rpc_block_source_name(src));
	}

	hashes = sd_xmalloc((size_t)(to - from + 1) * 32);
	for (long h = from; h <= to; h += CHUNK) {
		size_t n = (size_t)(to - h + 1 < CHUNK ? to - h + 1 : CHUNK);
		rc = rpc_get_block_hashes(c, (int32_t)h, n, &hashes[h - from]);
		if (rc != SD_OK)
			fail(rc, "getblockhash", (int32_t)h, "");
	}

	rpc_stats_get(&s0);
	t0 = sd_mono_ns();
	for (long r = 0; r < repeat; r++) {
		for (long h = from; h <= to; h++) {
			struct btc_block *b;
			char hex[65], dhex[65];
			uint8_t d[32];

			rc = rpc_fetch_block(c, src, hashes[h - from],
					     (int32_t)h, &b);
			if (rc != SD_OK)
				fail(rc, "fetch_block", (int32_t)h, "");
			blocks++;
			bytes += b->size_bytes;
			if (r == 0 && !quiet) {
				btc_block_digest(b, d);
				sd_hex_encode_rev(hex, b->hash, 32);
				sd_hex_encode(dhex, d, 32);
				printf("%ld %s %s\n", h, hex, dhex);
				for (size_t i = 0; txids && i < b->n_tx; i++) {
					sd_hex_encode_rev(hex, b->tx[i].txid,
							  32);
					printf("tx %ld %s\n", h, hex);
				}
			}
			btc_block_free(b);
			if (r == 0 && h == pause_after) {
				char line[16];
				printf("paused\n");
				fflush(stdout);
				if (!fgets(line, sizeof(line), stdin))
					fail(SD_EIO, "pause", (int32_t)h, "stdin");
			}
			fflush(stdout);
		}
	}
	{
		double secs = (double)(sd_mono_ns() - t0) / 1e9;
		rpc_stats_get(&s1);
		fprintf(stderr, "rpc_dump: source=%s blocks=%llu block_bytes=%llu "
			"wire_bytes=%llu secs=%.3f blocks_per_s=%.1f "
			"block_mb_per_s=%.1f wire_mb_per_s=%.1f\n",
			rpc_block_source_name(src),
			(unsigned long long)blocks, (unsigned long long)bytes,
			(unsigned long long)(s1.bytes_in - s0.bytes_in), secs,
			(double)blocks / secs, (double)bytes / secs / 1e6,
			(double)(s1.bytes_in - s0.bytes_in) / secs / 1e6);
	}
	free(hashes);
	rpc_client_free(c);
	return 0;
}

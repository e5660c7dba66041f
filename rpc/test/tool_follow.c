/* tool_follow.c - build/tools/rpc_follow: a minimal consumer of the chain
 * follower for integration tests and benchmarks.  It keeps its chain in
 * memory (and, with --state FILE, in an append-only file so that a restart
 * resumes) and prints one line per event on stdout, flushed:
 *
 *   connect <height> <hash> <ntx> [<digest of the parsed block>]
 *   disconnect <height> <hash>
 *   mempool <txid>
 *
 * Logs (logfmt) go to stderr.  SIGINT/SIGTERM stop it cleanly.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rpc/follow.h"
#include "common/log.h"
#include "common/util.h"

struct chain {
	int32_t lo, tip; /* heights lo..tip held; tip = -1: empty */
	uint8_t (*hash)[32];
	size_t cap;
	FILE *state;
	int32_t exit_at;
	int32_t fail_height;
	int fail_left;
	unsigned delay_ms;
	bool digest;
	struct rpc_follower *f;
};

static void chain_put(struct chain *c, int32_t h, const uint8_t hash[32])
{
	if ((size_t)h >= c->cap) {
		size_t cap = c->cap ? c->cap : 1024;

		while (cap <= (size_t)h)
			cap *= 2;
		c->hash = sd_xrealloc(c->hash, cap * 32);
		c->cap = cap;
	}
	memcpy(c->hash[h], hash, 32);
	if (c->tip < 0)
		c->lo = h;
	c->tip = h;
}

static void chain_pop(struct chain *c)
{
	if (c->tip == c->lo)
		c->tip = c->lo = -1;
	else
		c->tip--;
}

static int cb_tip(void *ctx, int32_t *height, uint8_t hash[32])
{
	struct chain *c = ctx;

	*height = c->tip;
	if (c->tip >= 0)
		memcpy(hash, c->hash[c->tip], 32);
	return SD_OK;
}

static int cb_hash_at(void *ctx, int32_t height, uint8_t hash[32])
{
	struct chain *c = ctx;

	if (c->tip < 0 || height < c->lo || height > c->tip)
		return SD_ENOTFOUND;
	memcpy(hash, c->hash[height], 32);
	return SD_OK;
}

static int cb_connect(void *ctx, const struct btc_block *b, void *prepared)
{
	struct chain *c = ctx;
	char hex[65];

	(void)prepared; /* no prepare callback */
	if (c->tip >= 0 && b->height != c->tip + 1) {
		fprintf(stderr, "tool_follow: connect height %d on tip %d\n",
			b->height, c->tip);
		abort();
	}
	if (c->tip >= 0 && memcmp(b->hdr.prev_hash, c->hash[c->tip], 32)) {
		fprintf(stderr, "tool_follow: connect %d: wrong parent\n",
			b->height);
		abort();
	}
	if (b->height == c->fail_height && c->fail_left > 0) {
		c->fail_left--;
		printf("connect_failed %d\n", b->height);
		fflush(stdout);
		return SD_ENOSPC;
	}
	if (c->delay_ms) {
		struct timespec ts = { .tv_sec = c->delay_ms / 1000,
				       .tv_nsec = (long)(c->delay_ms % 1000) *
						  1000000L };

		nanosleep(&ts, NULL);
	}
	sd_hex_encode_rev(hex, b->hash, 32);
	if (c->state) {
		fprintf(c->state, "c %d %s\n", b->height, hex);
		fflush(c->state);
	}
	chain_put(c, b->height, b->hash);
	if (c->digest) {
		uint8_t d[32];
		char dhex[65];

		btc_block_digest(b, d);
		sd_hex_encode(dhex, d, 32);
		printf("connect %d %s %zu %s\n", b->height, hex, b->n_tx, dhex);
	} else {
		printf("connect %d %s %zu\n", b->height, hex, b->n_tx);
	}
	fflush(stdout);
	if (c->exit_at >= 0 && b->height >= c->exit_at)
		rpc_follower_stop(c->f);
	return SD_OK;
}

static int cb_disconnect(void *ctx, int32_t height, const uint8_t hash[32])
{
	struct chain *c = ctx;
	char hex[65];

	if (height != c->tip || memcmp(hash, c->hash[height], 32) != 0) {
		fprintf(stderr, "tool_follow: disconnect %d not our tip\n",
			height);
		abort();
	}
	sd_hex_encode_rev(hex, hash, 32);
	if (c->state) {
		fprintf(c->state, "d %d %s\n", height, hex);
		fflush(c->state);
	}
	chain_pop(c);
	printf("disconnect %d %s\n", height, hex);
	fflush(stdout);
	return SD_OK;
}

static void cb_mempool(void *ctx, const struct btc_block *txb,
		       const uint8_t *raw, size_t raw_len)
{
	char hex[65];

	(void)ctx;
	(void)raw;
	(void)raw_len;
	sd_hex_encode_rev(hex, txb->tx[0].txid, 32);
	printf("mempool %s\n", hex);
	fflush(stdout);
}

/* Replay the state file's events; reopen it for appending. */
static int load_state(struct chain *c, const char *path)
{
	FILE *fp = fopen(path, "r");
	char line[200], hex[80], op;
	int32_t h;
	uint8_t hash[32];

	if (fp) {
		while (fgets(line, sizeof(line), fp)) {
			if (sscanf(line, "%c %d %79s", &op, &h, hex) != 3 ||
			    sd_hash_from_hex(hash, hex) != SD_OK)
				continue; /* torn last line */
			if (op == 'c')
				chain_put(c, h, hash);
			else if (op == 'd' && c->tip == h)
				chain_pop(c);
		}
		fclose(fp);
	}
	c->state = fopen(path, "a");
	return c->state ? 0 : -1;
}

static void *signal_thread(void *arg)
{
	struct rpc_follower *f = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigwait(&set, &sig) == 0)
		rpc_follower_stop(f);
	return NULL;
}

static void print_status(struct rpc_follower *f)
{
	struct rpc_follower_status st;
	char tip[65];

	rpc_follower_status_get(f, &st);
	sd_hex_encode_rev(tip, st.node_hash, 32);
	printf("status reachable=%d node_height=%d node_tip=%s tip_time=%llu "
	       "source=%s zmq_on=%d zmq_hashblock=%s zmq_msgs=%llu "
	       "zmq_gaps=%llu connected=%llu disconnected=%llu reorgs=%llu "
	       "last_reorg_depth=%d bytes=%llu\n",
	       st.node_reachable, st.node_height, tip,
	       (unsigned long long)st.node_tip_time,
	       rpc_block_source_name(st.source), st.zmq_on,
	       st.zmq_hashblock[0] ? st.zmq_hashblock : "-",
	       (unsigned long long)st.zmq_msgs,
	       (unsigned long long)st.zmq_gaps,
	       (unsigned long long)st.blocks_connected,
	       (unsigned long long)st.blocks_disconnected,
	       (unsigned long long)st.reorgs, st.last_reorg_depth,
	       (unsigned long long)st.bytes_fetched);
	fflush(stdout);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: rpc_follow --url URL\n"
		"  (--cookie PATH | --user U --pass P)\n"
		"  [--source rest|rpc|auto] [--start H] [--state FILE]\n"
		"  [--zmq-hashblock EP] [--zmq-rawtx EP] [--no-zmq]\n"
		"  [--poll-ms MS] [--fetch-threads N] [--fetch-ahead N]\n"
		"  [--exit-at-height H] [--fail-connect H:N] [--log-level L]\n"
		"  [--connect-delay-ms MS] [--digest]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "cookie", required_argument, NULL, 'c' },
		{ "user", required_argument, NULL, 'U' },
		{ "pass", required_argument, NULL, 'P' },
		{ "source", required_argument, NULL, 's' },
		{ "start", required_argument, NULL, 'h' },
		{ "state", required_argument, NULL, 'S' },
		{ "zmq-hashblock", required_argument, NULL, 'b' },
		{ "zmq-rawtx", required_argument, NULL, 't' },
		{ "no-zmq", no_argument, NULL, 'n' },
		{ "poll-ms", required_argument, NULL, 'p' },
		{ "fetch-threads", required_argument, NULL, 'T' },
		{ "fetch-ahead", required_argument, NULL, 'A' },
		{ "exit-at-height", required_argument, NULL, 'x' },
		{ "fail-connect", required_argument, NULL, 'F' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "connect-delay-ms", required_argument, NULL, 'D' },
		{ "digest", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	struct rpc_follower_config cfg = { .start_height = 0 };
	struct chain chain = { .lo = -1, .tip = -1, .exit_at = -1,
			       .fail_height = -1 };
	struct rpc_follower_cb cb = {
		.ctx = &chain, .tip = cb_tip, .hash_at = cb_hash_at,
		.connect = cb_connect, .disconnect = cb_disconnect,
		.mempool_tx = cb_mempool,
	};
	const char *state = NULL;
	struct rpc_follower *f;
	pthread_t sig_th;
	sigset_t set;
	int o, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'u': cfg.rpc.url = optarg; break;
		case 'c': cfg.rpc.cookie_path = optarg; break;
		case 'U': cfg.rpc.user = optarg; break;
		case 'P': cfg.rpc.pass = optarg; break;
		case 's':
			if (!strcmp(optarg, "rest"))
				cfg.source = RPC_SOURCE_REST;
			else if (!strcmp(optarg, "rpc"))
				cfg.source = RPC_SOURCE_RPC;
			else if (!strcmp(optarg, "auto"))
				cfg.source = RPC_SOURCE_AUTO;
			else
				usage();
			break;
		case 'h': cfg.start_height = atoi(optarg); break;
		case 'S': state = optarg; break;
		case 'b': cfg.zmq_hashblock = optarg; break;
		case 't': cfg.zmq_rawtx = optarg; break;
		case 'n': cfg.zmq_hashblock = cfg.zmq_rawtx = ""; break;
		case 'p': cfg.poll_ms = (unsigned)atoi(optarg); break;
		case 'T': cfg.fetch_threads = (unsigned)atoi(optarg); break;
		case 'A': cfg.fetch_ahead = (unsigned)atoi(optarg); break;
		case 'x': chain.exit_at = atoi(optarg); break;
		case 'F':
			if (sscanf(optarg, "%d:%d", &chain.fail_height,
				   &chain.fail_left) != 2)
				usage();
			break;
		case 'd': chain.digest = true; break;
		case 'D': chain.delay_ms = (unsigned)atoi(optarg); break;
		case 'l':
			if (sd_log_set_level_name(optarg) != SD_OK)
				usage();
			break;
		default: usage();
		}
	}
	if (!cfg.rpc.url)
		usage();
	if (state && load_state(&chain, state) != 0) {
		perror(state);
		return 1;
	}
	/* Signals go to the signal thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	rc = rpc_follower_new(&cfg, &cb, &f);
	if (rc != SD_OK) {
		fprintf(stderr, "rpc_follower_new: %s\n", sd_strerror(rc));
		return 1;
	}
	chain.f = f;
	pthread_create(&sig_th, NULL, signal_thread, f);
	rc = rpc_follower_run(f);
	pthread_cancel(sig_th); /* sigwait is a cancellation point */
	pthread_join(sig_th, NULL);
	print_status(f);
	rpc_follower_free(f);
	if (chain.state)
		fclose(chain.state);
	free(chain.hash);
	return rc == SD_OK ? 0 : 1;
}

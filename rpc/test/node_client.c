/* node_client.c - the rpc client against a real regtest bitcoind on
 * loopback (CTest integration.rpc_client: it needs a node, so it is
 * registered and labelled like the integration tests; no bitcoind fails).
 * The node runs with -rest=1, a cookie and an -rpcauth user, and gets the
 * first 150 blocks of regtest-a (real taproot spends).  Checked:
 *  - cookie auth, user/password auth, a wrong password (SD_EAUTH, the
 *    password never in the message), a wrong cookie re-read on 401 once the
 *    node's cookie is back, a missing cookie (SD_EAUTH naming the file);
 *  - typed calls: block count, hashes (single, batched, past the tip ->
 *    SD_ENOTFOUND), best hash, getblockchaininfo, rpc_get_node_info;
 *  - the node's error replies mapped: -8 out of range and -32601 unknown
 *    method as SD_ERPC with the node's code and message;
 *  - a closed port -> SD_ECONN, a port that never answers -> SD_ETIMEOUT;
 *  - source detection picks REST, and the REST block fetch (block +
 *    spenttxouts) equals `getblock 3` and the recorded block, prevouts
 *    included, at every height with a non-coinbase tx.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bitcoin/block.h"
#include "common/util.h"
#include "rpc/rpc.h"
#include "tests/lib/check.h"

#define N_BLOCKS 150
/* -rpcauth for user sdtest, password PASS (share/rpcauth/rpcauth.py) */
#define USER "sdtest"
#define PASS "sd-test-pass-7Qx"
#define RPCAUTH "sdtest:5e1f0c2b7d9a4e3f8b6c1d0a2f4e6b8c$" \
	"12a0f32d5dc9f87395879e6e6767369f09e00732c7eac2699e464de552ca230d"

static char tmpdir[256], url[64], cookie[320];
static pid_t node_pid;
static struct btc_block *blocks[N_BLOCKS + 1]; /* blocks[h], h >= 1 */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A loopback port nothing listens on (bound, read, closed). */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	CHECK(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_EQ_INT(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	CHECK_EQ_INT(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* $BITCOIND, else <source>/.deps/bitcoin/bin/bitcoind, else PATH, as
 * tests/integration/conftest.py finds it. */
static const char *bitcoind_path(void)
{
	static char p[600];
	const char *e = getenv("BITCOIND");

	if (e && *e)
		return e;
	snprintf(p, sizeof(p), "%s/.deps/bitcoin/bin/bitcoind",
		 getenv("SIGNETD_SOURCE_DIR") ? getenv("SIGNETD_SOURCE_DIR") :
		 SIGNETD_SOURCE_DIR);
	if (access(p, X_OK) == 0)
		return p;
	return "bitcoind";
}

static void start_node(int rpc_port)
{
	char a_dir[300], a_bind[64], a_port[32], a_auth[160];
	const char *bin = bitcoind_path();
	int p2p = free_port();

	snprintf(a_dir, sizeof(a_dir), "-datadir=%s", tmpdir);
	snprintf(a_bind, sizeof(a_bind), "-rpcbind=127.0.0.1:%d", rpc_port);
	snprintf(a_port, sizeof(a_port), "-port=%d", p2p);
	snprintf(a_auth, sizeof(a_auth), "-rpcauth=%s", RPCAUTH);
	node_pid = fork();
	CHECK(node_pid >= 0);
	if (node_pid == 0) {
		/* the node dies with the test, even when a CHECK aborts it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execlp(bin, bin, a_dir, "-regtest", "-server=1", "-listen=0",
		       "-dnsseed=0", "-fixedseeds=0", "-discover=0",
		       "-natpmp=0", "-txindex=0", "-printtoconsole=0",
		       "-maxconnections=0", "-rest=1", a_bind,
		       "-rpcallowip=127.0.0.1", a_port, a_auth,
		       /* a recorded chain ages: never "too old" (IBD) */
		       "-maxtipage=3153600000", (char *)NULL);
		fprintf(stderr, "FAIL: cannot run bitcoind (%s): %s; set "
			"BITCOIND or run contrib/get-bitcoind.sh .deps/bitcoin\n",
			bin, strerror(errno));
		_exit(127);
	}
	fprintf(stderr, "bitcoind %s pid %d rpc %s\n", bin, (int)node_pid,
		url);
}

/* Wait until the node answers over its cookie (it writes the cookie once
 * its RPC server is up); fails when the node exits or after 60 s. */
static struct rpc_client *wait_node(void)
{
	struct rpc_config cfg = { .url = url, .cookie_path = cookie,
				  .timeout_ms = 5000 };
	struct rpc_client *c = NULL;
	double end = now_s() + 60;
	int32_t h;
	int st;

	for (;;) {
		if (waitpid(node_pid, &st, WNOHANG) != 0) {
			fprintf(stderr, "FAIL: bitcoind exited (status %d) "
				"before answering; its log: %s/regtest/"
				"debug.log\n", WIFEXITED(st) ? WEXITSTATUS(st) :
				-WTERMSIG(st), tmpdir);
			CHECK(!"bitcoind running");
		}
		if (!c && access(cookie, R_OK) == 0)
			CHECK_EQ_INT(rpc_client_new(&cfg, &c), SD_OK);
		if (c && rpc_get_block_count(c, &h) == SD_OK)
			return c;
		CHECK(now_s() < end);
		usleep(50000);
	}
}

static void stop_node(struct rpc_client *c)
{
	char *res = NULL;
	int st;
	double end;

	CHECK_EQ_INT(rpc_call(c, "stop", NULL, &res, NULL, NULL), SD_OK);
	free(res);
	end = now_s() + 30;
	while (waitpid(node_pid, &st, WNOHANG) == 0) {
		if (now_s() > end) {
			kill(node_pid, SIGKILL);
			CHECK(waitpid(node_pid, &st, 0) == node_pid);
			CHECK(!"bitcoind did not stop within 30 s");
		}
		usleep(50000);
	}
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Submit heights 1..N_BLOCKS of regtest-a, keeping them parsed. */
static void submit_blocks(struct rpc_client *c)
{
	char path[600], *line = NULL, *params = NULL, *res;
	size_t cap = 0;
	ssize_t len;
	FILE *f;
	int h = 0;

	snprintf(path, sizeof(path), "%s/regtest-a/blocks.hex",
		 check_testdata_dir());
	f = fopen(path, "r");
	CHECK(f);
	while (h < N_BLOCKS && (len = getline(&line, &cap, f)) > 0) {
		uint8_t *raw;

		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len)
			continue;
		h++;
		raw = sd_xmalloc((size_t)len / 2);
		CHECK_EQ_INT(sd_hex_decode(raw, (size_t)len / 2, line,
					   (size_t)len), 0);
		CHECK_EQ_INT(btc_block_parse(raw, (size_t)len / 2, &blocks[h]),
			     SD_OK);
		free(raw);
		params = sd_xrealloc(params, (size_t)len + 8);
		snprintf(params, (size_t)len + 8, "[\"%s\"]", line);
		res = NULL;
		CHECK_EQ_INT(rpc_call(c, "submitblock", params, &res, NULL,
				      NULL), SD_OK);
		CHECK_STREQ(res, "null"); /* accepted */
		free(res);
	}
	CHECK_EQ_INT(h, N_BLOCKS);
	free(line);
	free(params);
	fclose(f);
}

/* ------------------------------------------------------------ auth */

static void check_auth(struct rpc_client *ck)
{
	struct rpc_config up = { .url = url, .user = USER, .pass = PASS,
				 .timeout_ms = 5000 };
	struct rpc_config bad = up, cf = { .url = url, .timeout_ms = 5000 };
	struct rpc_client *c;
	char err[SD_ERRLEN] = "", *res = NULL, fake[340], real[512];
	int32_t h;
	FILE *f;
	size_t n;

	/* cookie (the client wait_node made) */
	CHECK_EQ_INT(rpc_get_block_count(ck, &h), SD_OK);
	CHECK_EQ_INT(h, 0);

	/* user/password from -rpcauth */
	CHECK_EQ_INT(rpc_client_new(&up, &c), SD_OK);
	CHECK_EQ_INT(rpc_call(c, "getblockcount", NULL, &res, NULL, err),
		     SD_OK);
	CHECK_STREQ(res, "0");
	free(res);
	rpc_client_free(c);

	/* a wrong password: SD_EAUTH, and the password is never echoed */
	bad.pass = "not-" PASS;
	CHECK_EQ_INT(rpc_client_new(&bad, &c), SD_OK);
	res = NULL;
	CHECK_EQ_INT(rpc_call(c, "getblockcount", NULL, &res, NULL, err),
		     SD_EAUTH);
	CHECK(res == NULL);
	fprintf(stderr, "wrong password: %s\n", err);
	CHECK(strstr(err, "401"));
	CHECK(!strstr(err, PASS));
	CHECK_EQ_INT(rpc_get_block_count(c, &h), SD_EAUTH);
	rpc_client_free(c);

	/* a stale cookie: 401, re-read, still wrong -> SD_EAUTH; once the
	 * file holds the node's cookie again the next call succeeds */
	f = fopen(cookie, "r");
	CHECK(f);
	n = fread(real, 1, sizeof(real) - 1, f);
	fclose(f);
	CHECK(n > 11);
	real[n] = '\0';
	snprintf(fake, sizeof(fake), "%s/fake.cookie", tmpdir);
	f = fopen(fake, "w");
	CHECK(f);
	fputs("__cookie__:0000000000000000000000000000000000000000000000000"
	      "000000000000000", f);
	CHECK_EQ_INT(fclose(f), 0);
	CHECK_EQ_INT(chmod(fake, 0600), 0);
	cf.cookie_path = fake;
	CHECK_EQ_INT(rpc_client_new(&cf, &c), SD_OK);
	CHECK_EQ_INT(rpc_call(c, "getblockcount", NULL, &res, NULL, err),
		     SD_EAUTH);
	CHECK(strstr(err, "401"));
	CHECK(!strstr(err, "__cookie__"));
	f = fopen(fake, "w");
	CHECK(f);
	fputs(real, f);
	CHECK_EQ_INT(fclose(f), 0);
	CHECK_EQ_INT(rpc_get_block_count(c, &h), SD_OK);
	CHECK_EQ_INT(h, 0);
	/* the cookie gone (node stopped for good): SD_EAUTH naming it */
	CHECK_EQ_INT(unlink(fake), 0);
	f = fopen(fake, "w");
	CHECK(f);
	fputs("__cookie__:ffff", f);
	CHECK_EQ_INT(fclose(f), 0);
	CHECK_EQ_INT(chmod(fake, 0600), 0);
	rpc_client_free(c);
	CHECK_EQ_INT(rpc_client_new(&cf, &c), SD_OK);
	CHECK_EQ_INT(unlink(fake), 0);
	CHECK_EQ_INT(rpc_call(c, "getblockcount", NULL, &res, NULL, err),
		     SD_EAUTH);
	fprintf(stderr, "cookie gone: %s\n", err);
	CHECK(strstr(err, "cannot read cookie") && strstr(err, "fake.cookie"));
	rpc_client_free(c);

	/* no credentials source at all: refused at once */
	cf.cookie_path = NULL;
	CHECK_EQ_INT(rpc_client_new(&cf, &c), SD_EINVAL);
	CHECK(c == NULL);
}

/* ------------------------------------------------------------ typed calls */

static void check_typed(struct rpc_client *c)
{
	struct rpc_chain_info ci;
	struct rpc_node_info ni;
	uint8_t hash[32], best[32], (*hs)[32];
	char err[SD_ERRLEN] = "", hex[65];
	int32_t h;

	CHECK_EQ_INT(rpc_get_block_count(c, &h), SD_OK);
	CHECK_EQ_INT(h, N_BLOCKS);
	for (int i = 1; i <= N_BLOCKS; i += 37) {
		CHECK_EQ_INT(rpc_get_block_hash(c, i, hash), SD_OK);
		CHECK(!memcmp(hash, blocks[i]->hash, 32));
	}
	CHECK_EQ_INT(rpc_get_block_hash(c, N_BLOCKS + 1, hash), SD_ENOTFOUND);
	hs = sd_xmalloc(N_BLOCKS * sizeof(*hs));
	CHECK_EQ_INT(rpc_get_block_hashes(c, 1, N_BLOCKS, hs), SD_OK);
	for (int i = 1; i <= N_BLOCKS; i++)
		CHECK(!memcmp(hs[i - 1], blocks[i]->hash, 32));
	CHECK_EQ_INT(rpc_get_block_hashes(c, N_BLOCKS - 1, 5, hs),
		     SD_ENOTFOUND);
	free(hs);
	CHECK_EQ_INT(rpc_get_best_block_hash(c, best), SD_OK);
	CHECK(!memcmp(best, blocks[N_BLOCKS]->hash, 32));

	CHECK_EQ_INT(rpc_get_chain_info(c, &ci), SD_OK);
	CHECK_STREQ(ci.chain, "regtest");
	CHECK_EQ_INT(ci.blocks, N_BLOCKS);
	CHECK_EQ_INT(ci.headers, N_BLOCKS);
	CHECK(!memcmp(ci.best_hash, best, 32));
	CHECK(!ci.ibd);
	CHECK(ci.median_time > 0);

	memset(&ni, 0, sizeof(ni));
	CHECK_EQ_INT(rpc_get_node_info(c, &ni, err), SD_OK);
	CHECK_STREQ(ni.chain, "regtest");
	CHECK_EQ_INT(ni.blocks, N_BLOCKS);
	CHECK_EQ_INT(ni.headers, N_BLOCKS);
	sd_hex_encode_rev(hex, best, 32);
	CHECK_STREQ(ni.best_hash, hex);
	CHECK_EQ_INT(ni.tip_time, blocks[N_BLOCKS]->hdr.time);
	CHECK(ni.version >= 250000);
	CHECK(strstr(ni.subversion, "Satoshi") || strstr(ni.subversion,
							  "Knots"));
	CHECK_EQ_INT(ni.peers, 0);
	CHECK_EQ_INT(ni.mempool_txs, 0);
	CHECK(!ni.ibd);
	fprintf(stderr, "node %s (%lld), tip %d\n", ni.subversion,
		(long long)ni.version, ni.blocks);
}

/* ------------------------------------------------------------ errors */

static void check_errors(struct rpc_client *c)
{
	struct rpc_config cfg = { .url = NULL, .user = USER, .pass = PASS,
				  .timeout_ms = 500 };
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	struct rpc_client *x;
	char err[SD_ERRLEN] = "", *res = NULL, u[64];
	int code = 0, fd, port;
	int32_t h;
	double t0;

	/* the node's error replies: code and message kept */
	CHECK_EQ_INT(rpc_call(c, "getblockhash", "[99999]", &res, &code, err),
		     SD_ERPC);
	CHECK(res == NULL);
	CHECK_EQ_INT(code, -8);
	CHECK(strstr(err, "out of range"));
	CHECK_EQ_INT(rpc_call(c, "nosuchmethod", NULL, &res, &code, err),
		     SD_ERPC);
	CHECK_EQ_INT(code, -32601);
	CHECK(strstr(err, "not found"));
	CHECK_EQ_INT(rpc_call(c, "getblockhash", "[\"x\"]", &res, &code, err),
		     SD_ERPC);
	CHECK(code == -1 || code == -3); /* type error */
	/* our own bad input never reaches the node */
	CHECK_EQ_INT(rpc_call(c, "getblockcount", "[", &res, &code, err),
		     SD_EINVAL);
	CHECK(strstr(err, "JSON array"));

	/* a closed port */
	port = free_port();
	snprintf(u, sizeof(u), "http://127.0.0.1:%d", port);
	cfg.url = u;
	CHECK_EQ_INT(rpc_client_new(&cfg, &x), SD_OK);
	CHECK_EQ_INT(rpc_get_block_count(x, &h), SD_ECONN);
	CHECK_EQ_INT(rpc_call(x, "getblockcount", NULL, &res, &code, err),
		     SD_ECONN);
	fprintf(stderr, "closed port: %s\n", err);
	rpc_client_free(x);

	/* a port that accepts (backlog) but never answers: the timeout */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_EQ_INT(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	CHECK_EQ_INT(listen(fd, 4), 0);
	CHECK_EQ_INT(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	snprintf(u, sizeof(u), "http://127.0.0.1:%d", ntohs(a.sin_port));
	CHECK_EQ_INT(rpc_client_new(&cfg, &x), SD_OK);
	t0 = now_s();
	CHECK_EQ_INT(rpc_call(x, "getblockcount", NULL, &res, &code, err),
		     SD_ETIMEOUT);
	CHECK(now_s() - t0 < 5);
	rpc_client_free(x);
	close(fd);

	/* not a URL we speak */
	cfg.url = "ftp://127.0.0.1:1";
	CHECK_EQ_INT(rpc_client_new(&cfg, &x), SD_EINVAL);
}

/* ------------------------------------------------------------ blocks */

static void check_blocks(struct rpc_client *c)
{
	enum rpc_block_source src = RPC_SOURCE_AUTO;
	struct btc_block *r, *j;
	uint8_t dr[32], dj[32], missing[32];
	uint8_t *body = NULL;
	size_t len, n_cmp = 0, n_prev = 0;
	long status = 0;

	CHECK_EQ_INT(rpc_detect_block_source(c, &src), SD_OK);
	CHECK_EQ_INT(src, RPC_SOURCE_REST);
	for (int h = 1; h <= N_BLOCKS; h++) {
		const struct btc_block *b = blocks[h];

		if (b->n_tx < 2 && h % 50)
			continue;
		CHECK_EQ_INT(rpc_fetch_block(c, RPC_SOURCE_REST, b->hash, h,
					     &r), SD_OK);
		CHECK_EQ_INT(rpc_fetch_block(c, RPC_SOURCE_RPC, b->hash, h,
					     &j), SD_OK);
		CHECK_EQ_INT(r->height, h);
		CHECK_EQ_INT(j->height, h);
		btc_block_digest(r, dr);
		btc_block_digest(j, dj);
		CHECK(!memcmp(dr, dj, 32)); /* prevouts included */
		CHECK(!memcmp(r->hash, b->hash, 32));
		CHECK_EQ_INT(r->n_tx, b->n_tx);
		for (size_t t = 0; t < b->n_tx; t++) {
			CHECK_EQ_INT(r->tx[t].raw.len, b->tx[t].raw.len);
			CHECK(!memcmp(r->tx[t].raw.data, b->tx[t].raw.data,
				      b->tx[t].raw.len));
			CHECK(!memcmp(j->tx[t].txid, b->tx[t].txid, 32));
			for (size_t i = 0; t && i < r->tx[t].n_in; i++) {
				CHECK(r->tx[t].in[i].has_prevout);
				CHECK(j->tx[t].in[i].has_prevout);
				CHECK(r->tx[t].in[i].prevout_value > 0);
				n_prev++;
			}
		}
		n_cmp++;
		btc_block_free(r);
		btc_block_free(j);
	}
	fprintf(stderr, "REST = getblock 3 at %zu heights (%zu prevouts)\n",
		n_cmp, n_prev);
	CHECK(n_cmp >= 10 && n_prev >= 100);

	/* an unknown block: SD_ENOTFOUND from both */
	memcpy(missing, blocks[1]->hash, 32);
	missing[0] ^= 0xff;
	CHECK_EQ_INT(rpc_fetch_block(c, RPC_SOURCE_REST, missing, 1, &r),
		     SD_ENOTFOUND);
	CHECK(r == NULL);
	CHECK_EQ_INT(rpc_fetch_block(c, RPC_SOURCE_RPC, missing, 1, &j),
		     SD_ENOTFOUND);
	CHECK(j == NULL);
	CHECK_EQ_INT(rpc_fetch_block(c, RPC_SOURCE_AUTO, blocks[1]->hash, 1,
				     &r), SD_EINVAL);

	/* a plain REST GET */
	CHECK_EQ_INT(rpc_rest_get(c, "/rest/chaininfo.json", &body, &len,
				  &status), SD_OK);
	CHECK_EQ_INT(status, 200);
	CHECK(len > 0 && strstr((char *)body, "\"regtest\""));
	free(body);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	struct rpc_client *c;
	double t0 = now_s();
	char cmd[300];

	snprintf(tmpdir, sizeof(tmpdir), "%s/node_client.XXXXXX",
		 tmp ? tmp : "/tmp");
	CHECK(mkdtemp(tmpdir));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", free_port());
	snprintf(cookie, sizeof(cookie), "%s/regtest/.cookie", tmpdir);
	start_node(atoi(strrchr(url, ':') + 1));
	c = wait_node();
	fprintf(stderr, "node up in %.1f s\n", now_s() - t0);

	check_auth(c);
	submit_blocks(c);
	check_typed(c);
	check_errors(c);
	check_blocks(c);

	stop_node(c);
	rpc_client_free(c);
	for (int h = 1; h <= N_BLOCKS; h++)
		btc_block_free(blocks[h]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	CHECK_EQ_INT(system(cmd), 0);
	printf("node_client: ok in %.1f s\n", now_s() - t0);
	return 0;
}

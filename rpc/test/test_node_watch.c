/* test_node_watch.c - the node watch (rpc/node_watch.h): the reachability
 * and chain events logged once per transition whoever observes (the
 * follower's notes, the watch's polls), the snapshot's flags and error
 * text, and a real poll against a loopback port nobody listens on (a
 * refused connection, as a stopped bitcoind gives).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rpc/node_watch.h"
#include "common/log.h"
#include "common/util.h"
#include "tests/lib/check.h"

static char log_path[256];

/* How many log lines so far carry msg=<ev> (and also `and`, if given). */
static int count(const char *ev, const char *and)
{
	FILE *f = fopen(log_path, "r");
	char line[2048], needle[96];
	int n = 0;

	CHECK(f);
	snprintf(needle, sizeof(needle), " msg=%s", ev);
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, needle);

		if (p && (p[strlen(needle)] == ' ' || p[strlen(needle)] == '\n') &&
		    (!and || strstr(line, and)))
			n++;
	}
	fclose(f);
	return n;
}

static struct rpc_chain_info chain_info(const char *chain, int32_t height)
{
	struct rpc_chain_info ci;

	memset(&ci, 0, sizeof(ci));
	snprintf(ci.chain, sizeof(ci.chain), "%s", chain);
	ci.blocks = ci.headers = height;
	ci.best_hash[0] = 0x6f; /* display order: ...6f at the end */
	return ci;
}

static void test_chain_matches(void)
{
	CHECK(rpc_chain_matches("main", "main"));
	CHECK(rpc_chain_matches("signet", "signet"));
	CHECK(rpc_chain_matches("regtest", "regtest"));
	CHECK(rpc_chain_matches("testnet", "test"));
	CHECK(rpc_chain_matches("testnet", "testnet4"));
	CHECK(!rpc_chain_matches("signet", "main"));
	CHECK(!rpc_chain_matches("main", "test"));
	CHECK(!rpc_chain_matches("regtest", ""));
	CHECK(!rpc_chain_matches("main", "mainnet"));
}

/* Without polling (the follower tool's case): the notes alone decide,
 * and each transition is logged once however often it is observed. */
static void test_notes(void)
{
	struct rpc_node_watch_config cfg = {0};
	struct rpc_node_watch *w;
	struct rpc_node_snapshot s;
	struct rpc_chain_info reg = chain_info("regtest", 7),
			      main_ = chain_info("main", 0);

	cfg.chain = "regtest";
	CHECK_EQ_INT(rpc_node_watch_new(&cfg, &w), SD_OK);
	CHECK_EQ_INT(rpc_node_watch_start(w), SD_OK); /* no poll: no-op */
	rpc_node_watch_get(w, &s);
	CHECK(!s.reachable && !s.ever && s.chain_ok);
	CHECK_STREQ(s.error, "not polled yet");
	CHECK_EQ_INT(s.info.blocks, -1);

	rpc_node_watch_note_up(w, &reg);
	rpc_node_watch_get(w, &s);
	CHECK(s.reachable && s.chain_ok);
	CHECK_STREQ(s.error, "");
	CHECK_EQ_INT(count("node_reachable", "chain=regtest height=7 "), 1);
	rpc_node_watch_note_up(w, &reg);
	rpc_node_watch_note_up(w, &reg);
	CHECK_EQ_INT(count("node_reachable", NULL), 1);

	rpc_node_watch_note_down(w, "getblockchaininfo", SD_ECONN, 400);
	rpc_node_watch_get(w, &s);
	CHECK(!s.reachable);
	CHECK(strncmp(s.error, "getblockchaininfo: ", 19) == 0);
	CHECK_STREQ(s.error + 19, sd_strerror(SD_ECONN));
	CHECK_EQ_INT(count("node_unreachable",
			   "where=getblockchaininfo "), 1);
	CHECK_EQ_INT(count("node_unreachable", "retry_ms=400"), 1);
	rpc_node_watch_note_down(w, "fetch_block", SD_ETIMEOUT, 800);
	CHECK_EQ_INT(count("node_unreachable", NULL), 1);

	rpc_node_watch_note_up(w, &reg);
	rpc_node_watch_get(w, &s);
	CHECK(s.reachable);
	CHECK_EQ_INT(count("node_reachable", NULL), 2);

	/* another network: once, at error level, naming both */
	rpc_node_watch_note_up(w, &main_);
	rpc_node_watch_get(w, &s);
	CHECK(s.reachable && !s.chain_ok);
	CHECK_EQ_INT(count("chain_mismatch",
			   "level=error mod=rpc msg=chain_mismatch "
			   "configured=regtest node=main "), 1);
	rpc_node_watch_note_up(w, &main_);
	CHECK_EQ_INT(count("chain_mismatch", NULL), 1);
	rpc_node_watch_note_up(w, &reg);
	rpc_node_watch_get(w, &s);
	CHECK(s.chain_ok);
	CHECK_EQ_INT(count("chain_match", "configured=regtest node=regtest"),
		     1);
	/* the reachability was never in doubt meanwhile */
	CHECK_EQ_INT(count("node_reachable", NULL), 2);
	CHECK_EQ_INT(count("node_unreachable", NULL), 1);
	rpc_node_watch_stop(w);
	rpc_node_watch_free(w);
	rpc_node_watch_free(NULL);
}

/* A loopback port nobody listens on: connection refused. */
static unsigned closed_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	CHECK(fd >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	close(fd); /* bound, never listened: now refused */
	return ntohs(a.sin_port);
}

static void test_poll_refused(void)
{
	struct rpc_node_watch_config cfg = {0};
	struct rpc_node_watch *w;
	struct rpc_node_snapshot s;
	struct rpc_chain_info reg = chain_info("regtest", 3);
	char url[64], port[16];
	int before = count("node_unreachable", NULL);
	uint64_t first;

	snprintf(port, sizeof(port), "%u", closed_port());
	snprintf(url, sizeof(url), "http://127.0.0.1:%s", port);
	cfg.rpc.url = url;
	cfg.rpc.user = "u";
	cfg.rpc.pass = "p";
	cfg.rpc.timeout_ms = 2000;
	cfg.poll_ms = 50;
	cfg.chain = "regtest";
	CHECK_EQ_INT(rpc_node_watch_new(&cfg, &w), SD_OK);
	CHECK_EQ_INT(rpc_node_watch_start(w), SD_OK); /* polled once now */
	CHECK_EQ_INT(rpc_node_watch_start(w), SD_ESTATE);
	rpc_node_watch_get(w, &s);
	CHECK(!s.reachable && !s.ever && s.chain_ok);
	CHECK(s.polled_ms > 0 && s.last_ok_ms == 0);
	CHECK(strncmp(s.error, "node info: ", 11) == 0);
	/* what failed, never where the node is */
	CHECK(!strstr(s.error, "127.0.0.1") && !strstr(s.error, port));
	CHECK_EQ_INT(count("node_unreachable", "where=node_info "), 1);
	CHECK_EQ_INT(count("node_unreachable", NULL), before + 1);
	first = s.polled_ms;

	/* the follower gets through meanwhile: the poll still failed, so
	 * still unreachable, and nothing flaps in the log */
	rpc_node_watch_note_up(w, &reg);
	rpc_node_watch_get(w, &s);
	CHECK(!s.reachable);
	usleep(300 * 1000); /* several polls */
	rpc_node_watch_get(w, &s);
	CHECK(!s.reachable && s.polled_ms > first);
	CHECK_EQ_INT(count("node_unreachable", NULL), before + 1);
	CHECK_EQ_INT(count("node_reachable", "height=3 "), 0);
	rpc_node_watch_free(w); /* stops and joins the poll thread */
}

int main(void)
{
	char dir[] = "/tmp/sd-nw-XXXXXX";

	CHECK(mkdtemp(dir));
	snprintf(log_path, sizeof(log_path), "%s/log", dir);
	CHECK_EQ_INT(sd_log_open_file(log_path), SD_OK);
	sd_log_set_level(SD_LOG_INFO);
	test_chain_matches();
	test_notes();
	test_poll_refused();
	unlink(log_path);
	rmdir(dir);
	printf("ok\n");
	return 0;
}

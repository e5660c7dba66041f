/* test_zmqsub.c - the follower's ZMQ subscriber against a real libzmq PUB
 * socket on loopback: topic routing, hash byte order, sequence gaps, the
 * wake fd, malformed messages; and the wildcard-host rewrite of
 * getzmqnotifications endpoints.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "rpc/zmqdisc.h"
#include "rpc/zmqsub.h"
#include "common/util.h"
#include "tests/lib/check.h"

static void send3(void *pub, const char *topic, const void *body, size_t len,
		  uint32_t seq)
{
	uint8_t s[4];

	sd_le32_put(s, seq);
	CHECK(zmq_send(pub, topic, strlen(topic), ZMQ_SNDMORE) >= 0);
	CHECK(zmq_send(pub, body, len, ZMQ_SNDMORE) >= 0);
	CHECK(zmq_send(pub, s, 4, 0) >= 0);
}

/* Wait for the next message event (skipping monitor events). */
static void next_msg(struct rpc_zmqsub *z, struct rpc_zmq_event *ev)
{
	for (int i = 0; i < 100; i++) {
		CHECK(rpc_zmqsub_wait(z, -1, 100, ev) == SD_OK);
		if (ev->kind == RPC_ZMQ_EV_HASHBLOCK ||
		    ev->kind == RPC_ZMQ_EV_RAWTX)
			return;
	}
	CHECK(!"no message");
}

static void test_rewrite(void)
{
	char out[RPC_ZMQ_EP_LEN];

	CHECK(rpc_zmq_rewrite_host("tcp://0.0.0.0:28332",
				   "http://10.1.2.3:8332", out,
				   sizeof(out)) == SD_OK);
	CHECK_STREQ(out, "tcp://10.1.2.3:28332");
	CHECK(rpc_zmq_rewrite_host("tcp://*:5", "http://u@node.lan:1/x", out,
				   sizeof(out)) == SD_OK);
	CHECK_STREQ(out, "tcp://node.lan:5");
	CHECK(rpc_zmq_rewrite_host("tcp://[::]:7", "http://[::1]:1", out,
				   sizeof(out)) == SD_OK);
	CHECK_STREQ(out, "tcp://[::1]:7");
	CHECK(rpc_zmq_rewrite_host("tcp://127.0.0.1:9", "http://h:1", out,
				   sizeof(out)) == SD_OK);
	CHECK_STREQ(out, "tcp://127.0.0.1:9");
	CHECK(rpc_zmq_rewrite_host("tcp://0.0.0.0:28332", "http://h:1", out,
				   8) == SD_EINVAL);

	char hb[RPC_ZMQ_EP_LEN], tx[RPC_ZMQ_EP_LEN];

	CHECK(rpc_zmq_parse_notifications(
		      "[{\"type\":\"pubhashblock\",\"address\":"
		      "\"tcp://0.0.0.0:28332\",\"hwm\":1000},"
		      "{\"type\":\"pubrawblock\",\"address\":\"tcp://x:1\"},"
		      "{\"type\":\"pubrawtx\",\"address\":"
		      "\"tcp://127.0.0.1:28333\"}]",
		      "http://10.0.0.7:38332", hb, tx) == SD_OK);
	CHECK_STREQ(hb, "tcp://10.0.0.7:28332");
	CHECK_STREQ(tx, "tcp://127.0.0.1:28333");
	CHECK(rpc_zmq_parse_notifications("[]", "http://h:1", hb, tx) ==
	      SD_OK);
	CHECK(hb[0] == '\0' && tx[0] == '\0');
	CHECK(rpc_zmq_parse_notifications("{}", "http://h:1", hb, tx) ==
	      SD_EPARSE);
	CHECK(rpc_zmq_parse_notifications("[", "http://h:1", hb, tx) ==
	      SD_EPARSE);
}

static void test_sub(void)
{
	void *ctx = zmq_ctx_new(), *pub = zmq_socket(ctx, ZMQ_PUB);
	char ep[128];
	size_t eplen = sizeof(ep);
	struct rpc_zmqsub *z;
	struct rpc_zmq_event ev;
	uint8_t hash[32], tx[5] = { 1, 2, 3, 4, 5 };
	int p[2];

	CHECK(zmq_bind(pub, "tcp://127.0.0.1:*") == 0);
	CHECK(zmq_getsockopt(pub, ZMQ_LAST_ENDPOINT, ep, &eplen) == 0);
	const char *eps[RPC_ZMQ_NTOPICS] = { ep, ep };
	CHECK(rpc_zmqsub_new(eps, &z) == SD_OK);
	CHECK(rpc_zmqsub_has(z, RPC_ZMQ_HASHBLOCK));
	CHECK(rpc_zmqsub_has(z, RPC_ZMQ_RAWTX));

	/* slow joiner: publish until the subscription is through */
	for (int i = 0; i < 32; i++)
		hash[i] = (uint8_t)i;
	uint32_t seq = 0;
	for (;; seq++) {
		CHECK(seq < 100);
		send3(pub, "hashblock", hash, 32, seq);
		CHECK(rpc_zmqsub_wait(z, -1, 50, &ev) == SD_OK);
		while (ev.kind == RPC_ZMQ_EV_OTHER)
			CHECK(rpc_zmqsub_wait(z, -1, 50, &ev) == SD_OK);
		if (ev.kind == RPC_ZMQ_EV_HASHBLOCK)
			break;
	}
	/* drain duplicates of the joining message */
	while (rpc_zmqsub_wait(z, -1, 100, &ev) == SD_OK &&
	       ev.kind != RPC_ZMQ_EV_NONE)
		;
	/* display order on the wire -> internal order */
	send3(pub, "hashblock", hash, 32, ++seq);
	next_msg(z, &ev);
	CHECK(ev.kind == RPC_ZMQ_EV_HASHBLOCK);
	CHECK(!ev.gap);
	CHECK(ev.hash[0] == 31 && ev.hash[31] == 0);

	/* a gap on hashblock: 9 is lost */
	seq += 2;
	send3(pub, "hashblock", hash, 32, seq);
	next_msg(z, &ev);
	CHECK(ev.gap);

	/* rawtx has its own sequence: first message is never a gap */
	send3(pub, "rawtx", tx, sizeof(tx), 100);
	next_msg(z, &ev);
	CHECK(ev.kind == RPC_ZMQ_EV_RAWTX);
	CHECK(!ev.gap);
	CHECK(ev.body_len == sizeof(tx) && memcmp(ev.body, tx, 5) == 0);
	send3(pub, "rawtx", tx, sizeof(tx), 101);
	next_msg(z, &ev);
	CHECK(!ev.gap);

	/* malformed: a 20-byte hashblock body is ignored (no event) */
	send3(pub, "hashblock", hash, 20, ++seq);
	send3(pub, "hashblock", hash, 32, seq);
	next_msg(z, &ev);
	CHECK(ev.kind == RPC_ZMQ_EV_HASHBLOCK);
	CHECK(!ev.gap);

	uint64_t msgs, gaps;
	rpc_zmqsub_counts(z, &msgs, &gaps);
	CHECK(gaps == 1);
	CHECK(msgs >= 6);

	/* the wake fd interrupts a long wait */
	CHECK(pipe2(p, O_NONBLOCK) == 0);
	CHECK(write(p[1], "x", 1) == 1);
	uint64_t t0 = sd_mono_ms();
	CHECK(rpc_zmqsub_wait(z, p[0], 5000, &ev) == SD_OK);
	CHECK(ev.kind == RPC_ZMQ_EV_WAKE);
	CHECK(sd_mono_ms() - t0 < 1000);
	/* drained: now it times out */
	CHECK(rpc_zmqsub_wait(NULL, p[0], 50, &ev) == SD_OK);
	CHECK(ev.kind == RPC_ZMQ_EV_NONE);
	close(p[0]);
	close(p[1]);

	rpc_zmqsub_free(z);
	zmq_close(pub);
	zmq_ctx_term(ctx);

	/* all topics off: valid, polls only the fd */
	const char *off[RPC_ZMQ_NTOPICS] = { "", NULL };
	CHECK(rpc_zmqsub_new(off, &z) == SD_OK);
	CHECK(!rpc_zmqsub_has(z, RPC_ZMQ_HASHBLOCK));
	CHECK(rpc_zmqsub_wait(z, -1, 10, &ev) == SD_OK);
	CHECK(ev.kind == RPC_ZMQ_EV_NONE);
	rpc_zmqsub_free(z);

	const char *bad[RPC_ZMQ_NTOPICS] = { "nonsense://x", NULL };
	CHECK(rpc_zmqsub_new(bad, &z) == SD_EINVAL);
}

int main(void)
{
	test_rewrite();
	test_sub();
	return 0;
}

/* zmqsub.c - the follower's ZMQ subscriber: SUB sockets for bitcoind's
 * hashblock / rawtx notifications (3 frames: topic, body, 4-byte LE
 * sequence), per-topic sequence-gap detection, and socket monitors so that
 * zmq_connected / zmq_disconnected are logged when TCP really connects.
 *
 * ZMQ is lossy (HWM drops, reconnects, node restarts reset the sequence), so
 * the follower treats a gap as "resync now" and keeps a slow safety poll.
 */
#include "zmqsub.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "../common/log.h"
#include "../common/util.h"

#define ZMQ_RCVHWM_MSGS 100000
/* rawtx: what ZMQ itself may hold before the follower hands the txs to
 * the consumer's queue (bounded in bytes there): at most this many
 * messages of at most RPC_ZMQ_RAWTX_MAX bytes each; a bigger one makes
 * libzmq drop the connection (it reconnects; the sequence gap is seen).
 * Enough for the rawtx burst of a full block (every tx of it). */
#define ZMQ_RAWTX_HWM_MSGS 20000

static const char *const topic_names[RPC_ZMQ_NTOPICS] = {
	"hashblock", "rawtx",
};

struct topic_sub {
	void *sock;          /* SUB, NULL when the topic is off */
	void *mon;           /* PAIR reading the socket monitor */
	char endpoint[256];
	bool have_seq;
	uint32_t next_seq;
};

struct rpc_zmqsub {
	void *ctx;
	struct topic_sub t[RPC_ZMQ_NTOPICS];
	uint8_t *body;
	size_t body_cap;
	uint64_t msgs, gaps;
};

static int open_topic(struct rpc_zmqsub *z, enum rpc_zmq_topic ti,
		      const char *ep)
{
	struct topic_sub *t = &z->t[ti];
	char q[300], mon_ep[64];
	int hwm = ti == RPC_ZMQ_RAWTX ? ZMQ_RAWTX_HWM_MSGS : ZMQ_RCVHWM_MSGS;
	int ivl = 100, ivl_max = 5000;
	int64_t max_msg = ti == RPC_ZMQ_RAWTX ? RPC_ZMQ_RAWTX_MAX : 1024;
	int hb_ivl = 10000, hb_timeout = 30000, linger = 0;

	if (strlen(ep) >= sizeof(t->endpoint))
		return SD_EINVAL;
	snprintf(t->endpoint, sizeof(t->endpoint), "%s", ep);
	t->sock = zmq_socket(z->ctx, ZMQ_SUB);
	if (!t->sock)
		return SD_EIO;
	zmq_setsockopt(t->sock, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(t->sock, ZMQ_MAXMSGSIZE, &max_msg, sizeof(max_msg));
	zmq_setsockopt(t->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
	zmq_setsockopt(t->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max,
		       sizeof(ivl_max));
	zmq_setsockopt(t->sock, ZMQ_HEARTBEAT_IVL, &hb_ivl, sizeof(hb_ivl));
	zmq_setsockopt(t->sock, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout,
		       sizeof(hb_timeout));
	zmq_setsockopt(t->sock, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_setsockopt(t->sock, ZMQ_SUBSCRIBE, topic_names[ti],
			   strlen(topic_names[ti])) != 0)
		return SD_EIO;

	snprintf(mon_ep, sizeof(mon_ep), "inproc://sd-zmqmon-%p-%d",
		 (void *)z, (int)ti);
	if (zmq_socket_monitor(t->sock, mon_ep,
			       ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED) ==
	    0) {
		t->mon = zmq_socket(z->ctx, ZMQ_PAIR);
		if (t->mon) {
			zmq_setsockopt(t->mon, ZMQ_LINGER, &linger,
				       sizeof(linger));
			if (zmq_connect(t->mon, mon_ep) != 0) {
				zmq_close(t->mon);
				t->mon = NULL;
			}
		}
	}
	if (zmq_connect(t->sock, ep) != 0) {
		char qe[128];

		sd_log_error("rpc", "zmq_error", "topic=%s endpoint=%s err=%s",
			     topic_names[ti], sd_log_q(q, sizeof(q), ep),
			     sd_log_q(qe, sizeof(qe), zmq_strerror(errno)));
		return SD_EINVAL;
	}
	sd_log_info("rpc", "zmq_subscribed", "topic=%s endpoint=%s",
		    topic_names[ti], sd_log_q(q, sizeof(q), ep));
	return SD_OK;
}

int rpc_zmqsub_new(const char *const endpoints[RPC_ZMQ_NTOPICS],
		   struct rpc_zmqsub **out)
{
	struct rpc_zmqsub *z = sd_xcalloc(1, sizeof(*z));
	int rc;

	*out = NULL;
	for (int i = 0; i < RPC_ZMQ_NTOPICS; i++) {
		if (!endpoints[i] || !endpoints[i][0])
			continue;
		if (!z->ctx) {
			z->ctx = zmq_ctx_new();
			if (!z->ctx) {
				free(z);
				return SD_EIO;
			}
		}
		rc = open_topic(z, (enum rpc_zmq_topic)i, endpoints[i]);
		if (rc != SD_OK) {
			rpc_zmqsub_free(z);
			return rc;
		}
	}
	*out = z;
	return SD_OK;
}

void rpc_zmqsub_free(struct rpc_zmqsub *z)
{
	if (!z)
		return;
	for (int i = 0; i < RPC_ZMQ_NTOPICS; i++) {
		if (z->t[i].sock) {
			zmq_socket_monitor(z->t[i].sock, NULL, 0);
			zmq_close(z->t[i].sock);
		}
		if (z->t[i].mon)
			zmq_close(z->t[i].mon);
	}
	if (z->ctx)
		zmq_ctx_term(z->ctx);
	free(z->body);
	free(z);
}

bool rpc_zmqsub_has(const struct rpc_zmqsub *z, enum rpc_zmq_topic t)
{
	return z && z->t[t].sock;
}

void rpc_zmqsub_counts(const struct rpc_zmqsub *z, uint64_t *msgs,
		       uint64_t *gaps)
{
	*msgs = z ? z->msgs : 0;
	*gaps = z ? z->gaps : 0;
}

/* Receive every frame of one message (non-blocking).  Frames beyond max are
 * read and dropped.  Returns the number of frames, or -1 when none was
 * ready.  frames[i] must be closed by the caller (0..min(n,max)-1). */
static int recv_multipart(void *sock, zmq_msg_t *frames, int max)
{
	int n = 0, more;
	size_t more_len;
	zmq_msg_t junk;

	for (;;) {
		zmq_msg_t *m = n < max ? &frames[n] : &junk;

		zmq_msg_init(m);
		if (zmq_msg_recv(m, sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
			zmq_msg_close(m);
			return n == 0 ? -1 : n;
		}
		more = 0;
		more_len = sizeof(more);
		zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &more_len);
		if (m == &junk)
			zmq_msg_close(m);
		n++;
		if (!more)
			return n;
	}
}

static void close_frames(zmq_msg_t *frames, int n, int max)
{
	for (int i = 0; i < n && i < max; i++)
		zmq_msg_close(&frames[i]);
}

static void handle_monitor(struct rpc_zmqsub *z, enum rpc_zmq_topic ti)
{
	struct topic_sub *t = &z->t[ti];
	zmq_msg_t fr[2];
	int n = recv_multipart(t->mon, fr, 2);
	char q[300];

	if (n < 0)
		return;
	if (n >= 1 && zmq_msg_size(&fr[0]) >= 6) {
		const uint8_t *d = zmq_msg_data(&fr[0]);
		uint16_t ev;

		memcpy(&ev, d, sizeof(ev));
		sd_log_q(q, sizeof(q), t->endpoint);
		if (ev == ZMQ_EVENT_CONNECTED)
			sd_log_info("rpc", "zmq_connected",
				    "topic=%s endpoint=%s", topic_names[ti], q);
		else if (ev == ZMQ_EVENT_DISCONNECTED)
			sd_log_warn("rpc", "zmq_disconnected",
				    "topic=%s endpoint=%s", topic_names[ti], q);
	}
	close_frames(fr, n, 2);
}

int rpc_zmq_check_frames(enum rpc_zmq_topic ti, int n,
			 const uint8_t *const *data, const size_t *lens,
			 uint32_t *seq)
{
	const char *name = topic_names[ti];
	size_t nlen = strlen(name);

	if (n != 3 || lens[0] != nlen || memcmp(data[0], name, nlen) != 0 ||
	    lens[2] != 4)
		return SD_EPARSE;
	if (ti == RPC_ZMQ_HASHBLOCK ? lens[1] != 32
				    : lens[1] > RPC_ZMQ_RAWTX_MAX)
		return SD_EPARSE;
	*seq = sd_le32_get(data[2]);
	return SD_OK;
}

/* One notification from topic ti into ev.  Returns 1 when ev is a message
 * for the caller, 0 when none was ready, -1 for junk (logged). */
static int handle_sub(struct rpc_zmqsub *z, enum rpc_zmq_topic ti,
		      struct rpc_zmq_event *ev)
{
	struct topic_sub *t = &z->t[ti];
	zmq_msg_t fr[3];
	int n = recv_multipart(t->sock, fr, 3);
	const char *name = topic_names[ti];
	const uint8_t *data[3] = {NULL, NULL, NULL};
	size_t lens[3] = {0, 0, 0}, blen;
	int ok = -1;
	uint32_t seq;

	if (n < 0)
		return 0;
	for (int i = 0; i < n && i < 3; i++) {
		data[i] = zmq_msg_data(&fr[i]);
		lens[i] = zmq_msg_size(&fr[i]);
	}
	if (rpc_zmq_check_frames(ti, n, data, lens, &seq) != SD_OK) {
		sd_log_warn("rpc", "zmq_bad_message",
			    "topic=%s frames=%d len=%zu", name, n, lens[1]);
		goto out;
	}
	blen = lens[1];
	z->msgs++;
	if (t->have_seq && seq != t->next_seq) {
		z->gaps++;
		ev->gap = true;
		sd_log_warn("rpc", "zmq_gap", "topic=%s expected=%u got=%u",
			    name, t->next_seq, seq);
	}
	t->have_seq = true;
	t->next_seq = seq + 1;

	if (ti == RPC_ZMQ_HASHBLOCK) {
		/* The notification carries the display-order hash. */
		for (int i = 0; i < 32; i++)
			ev->hash[i] = data[1][31 - i];
		ev->kind = RPC_ZMQ_EV_HASHBLOCK;
	} else {
		if (blen > z->body_cap) {
			z->body = sd_xrealloc(z->body, blen);
			z->body_cap = blen;
		}
		if (blen)
			memcpy(z->body, data[1], blen);
		ev->body = z->body;
		ev->body_len = blen;
		ev->kind = RPC_ZMQ_EV_RAWTX;
	}
	ok = 1;
out:
	close_frames(fr, n, 3);
	return ok;
}

int rpc_zmqsub_recv_rawtx(struct rpc_zmqsub *z, struct rpc_zmq_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (!z || !z->t[RPC_ZMQ_RAWTX].sock)
		return 0;
	return handle_sub(z, RPC_ZMQ_RAWTX, ev);
}

void rpc_zmqsub_service(struct rpc_zmqsub *z)
{
	for (int i = 0; z && i < RPC_ZMQ_NTOPICS; i++) {
		int ev = 0;
		size_t len = sizeof(ev);

		if (!z->t[i].mon)
			continue;
		while (zmq_getsockopt(z->t[i].mon, ZMQ_EVENTS, &ev, &len) ==
			       0 &&
		       (ev & ZMQ_POLLIN)) {
			handle_monitor(z, (enum rpc_zmq_topic)i);
			len = sizeof(ev);
		}
	}
}

static void drain_fd(int fd)
{
	char buf[64];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

int rpc_zmqsub_wait(struct rpc_zmqsub *z, int wake_fd, int timeout_ms,
		    struct rpc_zmq_event *ev)
{
	zmq_pollitem_t items[1 + 2 * RPC_ZMQ_NTOPICS];
	int what[1 + 2 * RPC_ZMQ_NTOPICS]; /* -1 wake, t: sub, 16+t: mon */
	int n = 0, r;

	memset(ev, 0, sizeof(*ev));
	if (wake_fd >= 0) {
		items[n] = (zmq_pollitem_t){ .socket = NULL, .fd = wake_fd,
					     .events = ZMQ_POLLIN };
		what[n++] = -1;
	}
	for (int i = 0; z && i < RPC_ZMQ_NTOPICS; i++) {
		if (z->t[i].mon) {
			items[n] = (zmq_pollitem_t){ .socket = z->t[i].mon,
						     .events = ZMQ_POLLIN };
			what[n++] = 16 + i;
		}
		if (z->t[i].sock) {
			items[n] = (zmq_pollitem_t){ .socket = z->t[i].sock,
						     .events = ZMQ_POLLIN };
			what[n++] = i;
		}
	}
	if (n == 0) {
		if (timeout_ms > 0)
			poll(NULL, 0, timeout_ms);
		return SD_OK;
	}
	r = zmq_poll(items, n, timeout_ms);
	if (r < 0)
		return errno == EINTR ? SD_OK : SD_EIO;
	if (r == 0)
		return SD_OK;
	for (int i = 0; i < n; i++) {
		if (!(items[i].revents & ZMQ_POLLIN))
			continue;
		if (what[i] == -1) {
			drain_fd(wake_fd);
			ev->kind = RPC_ZMQ_EV_WAKE;
			return SD_OK;
		}
	}
	/* hashblock before rawtx: a rawtx flood must not delay blocks. */
	for (int i = 0; i < n; i++) {
		if (!(items[i].revents & ZMQ_POLLIN) || what[i] < 0)
			continue;
		if (what[i] >= 16) {
			handle_monitor(z, (enum rpc_zmq_topic)(what[i] - 16));
			continue;
		}
		if (handle_sub(z, (enum rpc_zmq_topic)what[i], ev) > 0)
			return SD_OK;
	}
	ev->kind = RPC_ZMQ_EV_OTHER;
	return SD_OK;
}

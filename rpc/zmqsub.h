/* zmqsub.h - internal to rpc/: the ZMQ subscriber the chain follower waits
 * on.  One SUB socket per topic (hashblock, rawtx), sequence-gap detection
 * per topic, socket monitors that report real connects/disconnects, and an
 * extra plain file descriptor (the follower's wake pipe) polled alongside.
 *
 * Not thread-safe: owned by the rpc_follower_run() thread.
 */
#ifndef SIGNETD_RPC_ZMQSUB_H
#define SIGNETD_RPC_ZMQSUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

enum rpc_zmq_topic {
	RPC_ZMQ_HASHBLOCK = 0,
	RPC_ZMQ_RAWTX,
	RPC_ZMQ_NTOPICS,
};

enum rpc_zmq_event_kind {
	RPC_ZMQ_EV_NONE = 0,  /* timeout */
	RPC_ZMQ_EV_WAKE,      /* the wake fd became readable (drained) */
	RPC_ZMQ_EV_HASHBLOCK, /* ev->hash holds the block hash */
	RPC_ZMQ_EV_RAWTX,     /* ev->body/body_len hold the raw tx */
	RPC_ZMQ_EV_OTHER,     /* handled internally (monitor event, junk) */
};

struct rpc_zmq_event {
	enum rpc_zmq_event_kind kind;
	uint8_t hash[32];     /* internal order (HASHBLOCK) */
	const uint8_t *body;  /* RAWTX: valid until the next wait/free */
	size_t body_len;
	bool gap;             /* a sequence gap was seen with this message */
};

struct rpc_zmqsub;

/* Subscribe: endpoints[topic] is a ZMQ endpoint ("tcp://host:port") or NULL
 * / "" for a topic that is off.  Returns SD_OK (also when all are off: the
 * subscriber then only polls wake_fd), SD_EINVAL (bad endpoint) or SD_EIO. */
int rpc_zmqsub_new(const char *const endpoints[RPC_ZMQ_NTOPICS],
		   struct rpc_zmqsub **out) SD_WARN_UNUSED;
void rpc_zmqsub_free(struct rpc_zmqsub *z);

/* True when the topic is subscribed. */
bool rpc_zmqsub_has(const struct rpc_zmqsub *z, enum rpc_zmq_topic t);

/* Wait up to timeout_ms (>= 0) for one message on any topic or for wake_fd
 * (-1: none) to become readable.  z may be NULL (only wake_fd is polled).
 * Returns SD_OK with ev filled (kind NONE on timeout) or SD_EIO. */
int rpc_zmqsub_wait(struct rpc_zmqsub *z, int wake_fd, int timeout_ms,
		    struct rpc_zmq_event *ev) SD_WARN_UNUSED;

/* Handle pending socket-monitor events (connect/disconnect logs) without
 * touching notifications.  Cheap; call it while busy elsewhere. */
void rpc_zmqsub_service(struct rpc_zmqsub *z);

/* Largest rawtx body accepted (a transaction's serialized size is below
 * the 4,000,000 block weight). */
#define RPC_ZMQ_RAWTX_MAX 4000000

/* Non-blocking: one pending rawtx notification into ev (kind RAWTX).
 * Returns 1 (a message), 0 (none pending, or rawtx off) or -1 (junk,
 * logged and dropped: call again).  For draining rawtx while the caller
 * is busy with blocks; a gap only sets ev->gap and the counter. */
int rpc_zmqsub_recv_rawtx(struct rpc_zmqsub *z, struct rpc_zmq_event *ev);

/* Validate one notification's frames: n frames, data[i]/lens[i] for the
 * first three (topic name, body, 4-byte LE sequence); a hashblock body is
 * 32 bytes, a rawtx body at most RPC_ZMQ_RAWTX_MAX.  SD_OK with *seq, or
 * SD_EPARSE.  Exposed for the fuzz target. */
int rpc_zmq_check_frames(enum rpc_zmq_topic t, int n,
			 const uint8_t *const *data, const size_t *lens,
			 uint32_t *seq) SD_WARN_UNUSED;

/* Counters: messages received (all topics), gaps detected. */
void rpc_zmqsub_counts(const struct rpc_zmqsub *z, uint64_t *msgs,
		       uint64_t *gaps);

#endif

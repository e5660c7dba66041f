/* follow_wait.c - the follower's waiting primitives, shared by follow.c
 * (the main loop) and follow_sync.c (a sync pass): the stop flag, an
 * interruptible sleep that keeps ZMQ serviced, and mempool txs from ZMQ
 * rawtx handed to the consumer.  Calls nothing else of the follower's, so
 * the follower's files call one way: follow.c -> follow_fast.c ->
 * follow_sync.c -> follow_report.c, follow_wait.c.
 */
#include "follow_priv.h"

#include "../common/log.h"
#include "../common/util.h"

bool rpc_follow_stopping(struct rpc_follower *f)
{
	return atomic_load(&f->stop);
}

/* Sleep up to ms, returning early on stop. */
void rpc_follow_sleep_ms(struct rpc_follower *f, uint64_t ms)
{
	uint64_t end = sd_mono_ms() + ms, now;
	struct rpc_zmq_event ev;

	while (!rpc_follow_stopping(f) && (now = sd_mono_ms()) < end) {
		uint64_t slice = end - now > 100 ? 100 : end - now;

		rpc_zmqsub_service(f->zmq);
		rpc_follow_drain_rawtx(f);
		if (rpc_zmqsub_wait(NULL, f->wake[0], (int)slice, &ev) !=
		    SD_OK)
			break;
	}
}

void rpc_follow_note_zmq(struct rpc_follower *f, bool got_msg)
{
	uint64_t msgs, gaps;

	rpc_zmqsub_counts(f->zmq, &msgs, &gaps);
	pthread_mutex_lock(&f->smu);
	f->st.zmq_msgs = msgs;
	f->st.zmq_gaps = gaps;
	if (got_msg)
		f->st.zmq_last_msg_ms = sd_wall_ms();
	pthread_mutex_unlock(&f->smu);
}

void rpc_follow_handle_rawtx(struct rpc_follower *f,
			     const struct rpc_zmq_event *ev)
{
	struct btc_block *txb = NULL;

	if (!f->cb.mempool_tx)
		return;
	if (btc_tx_parse(ev->body, ev->body_len, &txb) != SD_OK) {
		sd_log_warn("rpc", "zmq_bad_tx", "len=%zu", ev->body_len);
		return;
	}
	f->cb.mempool_tx(f->cb.ctx, txb, ev->body, ev->body_len);
	btc_block_free(txb);
}

void rpc_follow_drain_rawtx(struct rpc_follower *f)
{
	struct rpc_zmq_event ev;
	int n = 0, r;

	if (!f->cb.mempool_tx)
		return;
	while (n < RAWTX_DRAIN_MAX) {
		r = rpc_zmqsub_recv_rawtx(f->zmq, &ev);
		if (r == 0)
			break;
		n++;
		if (r > 0)
			rpc_follow_handle_rawtx(f, &ev);
	}
	if (n)
		rpc_follow_note_zmq(f, true);
}

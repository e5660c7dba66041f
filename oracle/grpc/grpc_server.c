/* grpc_server.c - blindbit.oracle.v1.OracleService on gRPC core's C API:
 * one completion queue, one thread driving every call as a small state
 * machine (grpc.h).  Per call two batches may be in flight: the
 * RECV_CLOSE_ON_SERVER started when the call arrives (completes when the
 * client is gone or the call is over) and at most one send batch.
 * Streams: read + pack one message, send it, and only when that send
 * completed the next one; a cancelled call stops at its next step. */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/log.h"
#include "../../common/util.h"
#include "grpc.h"

enum phase { PH_RECV, PH_STREAM, PH_FINAL };

struct gcall;
struct gtag {
	struct gcall *c;
	bool close;              /* the RECV_CLOSE_ON_SERVER batch */
};

struct gcall {
	struct oracle_grpc *g;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array md;
	grpc_byte_buffer *recv;
	struct gtag op_tag, close_tag;
	enum phase phase;
	enum oracle_grpc_rpc rpc;
	struct oracle_grpc_request req;
	uint64_t next;           /* stream: next height */
	struct oracle_grpc_chain chain;  /* stream: the last block sent */
	bool op_busy, closed, cancelled_flag, md_sent;
	int cancelled;           /* RECV_CLOSE_ON_SERVER out-param */
	grpc_slice details_slice;
	bool have_details_slice;
	uint64_t sent;
	int final_status;        /* -1 until finish() */
};

struct oracle_grpc {
	struct oracle_index *idx;
	grpc_server *server;
	grpc_completion_queue *cq;
	pthread_t thread;
	char *host;
	struct gcall *pending;   /* the call slot waiting for a new call */
	int accept_tag;          /* address = tag of new calls */
	int shutdown_tag;
	atomic_bool shutting_down;
	size_t live;             /* calls not yet freed */
};

static void call_free(struct gcall *c)
{
	if (c->call && oracle_grpc_rpc_streams(c->rpc))
		sd_log_info("grpc", "stream_end", "rpc=%s start=%llu end=%llu "
			    "sent=%llu status=%d cancelled=%d",
			    oracle_grpc_rpc_name(c->rpc),
			    (unsigned long long)c->req.start,
			    (unsigned long long)c->req.end,
			    (unsigned long long)c->sent, c->final_status,
			    c->cancelled_flag || c->final_status < 0);
	c->g->live--;
	if (c->call)
		grpc_call_unref(c->call);
	grpc_call_details_destroy(&c->details);
	grpc_metadata_array_destroy(&c->md);
	if (c->recv)
		grpc_byte_buffer_destroy(c->recv);
	if (c->have_details_slice)
		grpc_slice_unref(c->details_slice);
	free(c);
}

static void maybe_free(struct gcall *c)
{
	if (!c->op_busy && c->closed)
		call_free(c);
}

static void request_call(struct oracle_grpc *g)
{
	struct gcall *c = calloc(1, sizeof(*c));

	if (!c)
		abort();
	c->g = g;
	c->op_tag.c = c;
	c->close_tag.c = c;
	c->close_tag.close = true;
	c->final_status = -1;
	c->chain.last_height = -1;
	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->md);
	g->live++;
	g->pending = c;
	if (grpc_server_request_call(g->server, &c->call, &c->details, &c->md,
				     g->cq, g->cq, &g->accept_tag) !=
	    GRPC_CALL_OK) {
		g->pending = NULL;
		call_free(c);
	}
}

static bool start(struct gcall *c, const grpc_op *ops, size_t n,
		  struct gtag *tag)
{
	if (grpc_call_start_batch(c->call, ops, n, tag, NULL) != GRPC_CALL_OK)
		return false;
	if (!tag->close)
		c->op_busy = true;
	return true;
}

/* Final batch: status (and a message before it, for unary calls). */
static void finish(struct gcall *c, grpc_byte_buffer *msg, int status,
		   const char *details)
{
	grpc_op ops[3];
	size_t n = 0;

	memset(ops, 0, sizeof(ops));
	c->final_status = status;
	if (!c->md_sent) {
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
		c->md_sent = true;
	}
	if (msg) {
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n].data.send_message.send_message = msg;
		n++;
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status =
		(grpc_status_code)status;
	if (details && details[0]) {
		c->details_slice = grpc_slice_from_copied_string(details);
		c->have_details_slice = true;
		ops[n].data.send_status_from_server.status_details =
			&c->details_slice;
	}
	n++;
	c->phase = PH_FINAL;
	if (!start(c, ops, n, &c->op_tag))
		c->op_busy = false;
	if (msg)
		grpc_byte_buffer_destroy(msg);
}

static grpc_byte_buffer *to_buffer(uint8_t *p, size_t len)
{
	grpc_slice s = grpc_slice_new(p, len, free);
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);

	grpc_slice_unref(s);
	return bb;
}

/* Send the stream's next message, or its final status. */
static void stream_step(struct gcall *c)
{
	uint8_t *buf;
	char msg[SD_ERRLEN];
	size_t len;
	int status;
	grpc_op op;

	if (c->next > c->req.end || c->req.end < c->req.start) {
		finish(c, NULL, ORACLE_GRPC_OK, NULL);
		return;
	}
	if (oracle_grpc_pack(c->g->idx, c->rpc, c->next, &buf, &len,
			     &c->chain, &status, msg) != SD_OK) {
		finish(c, NULL, status, msg);
		return;
	}
	/* never a mix of two branches: every block sent is still the
	 * index's at its height when the next message is read (a reorg
	 * below a block already sent ends the stream) */
	if (c->chain.diverged) {
		free(buf);
		snprintf(msg, sizeof(msg), "chain reorganized at or below "
			 "height %lld, sent in this stream: resume from a "
			 "height you know", (long long)c->chain.last_height);
		finish(c, NULL, ORACLE_GRPC_ABORTED, msg);
		return;
	}
	if (c->chain.known) {
		c->chain.last_height = (int64_t)c->next;
		memcpy(c->chain.last_hash, c->chain.hash, 32);
	}
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_SEND_MESSAGE;
	op.data.send_message.send_message = to_buffer(buf, len);
	c->next++;
	c->sent++;
	c->phase = PH_STREAM;
	if (!start(c, &op, 1, &c->op_tag))
		c->op_busy = false;
	grpc_byte_buffer_destroy(op.data.send_message.send_message);
}

static void on_request(struct gcall *c)
{
	struct oracle_grpc *g = c->g;
	grpc_byte_buffer_reader rd;
	grpc_slice all;
	char msg[SD_ERRLEN];
	uint8_t *buf;
	size_t len;
	int status, rc;
	int32_t tip = -1;
	uint8_t th[32];

	if (!c->recv) {         /* half-closed without a message */
		finish(c, NULL, ORACLE_GRPC_INVALID_ARGUMENT,
		       "missing request message");
		return;
	}
	if (!grpc_byte_buffer_reader_init(&rd, c->recv)) {
		finish(c, NULL, ORACLE_GRPC_INTERNAL, "bad request buffer");
		return;
	}
	all = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	rc = oracle_grpc_decode(c->rpc, GRPC_SLICE_START_PTR(all),
				GRPC_SLICE_LENGTH(all), &c->req);
	grpc_slice_unref(all);
	if (rc != SD_OK) {
		finish(c, NULL, ORACLE_GRPC_INVALID_ARGUMENT,
		       "request message does not parse");
		return;
	}
	if (oracle_grpc_rpc_streams(c->rpc)) {
		if (c->req.start > UINT32_MAX || c->req.end > UINT32_MAX) {
			finish(c, NULL, ORACLE_GRPC_INVALID_ARGUMENT,
			       "start and end must be block heights "
			       "(below 2^32)");
			return;
		}
		{   /* the committed tip, from a read view */
			struct oracle_read *r;

			if (oracle_read_begin(g->idx, &r) == SD_OK) {
				if (oracle_read_tip(r, &tip, th) != SD_OK)
					tip = -1;
				oracle_read_end(r);
			}
		}
		if (c->req.end >= c->req.start &&
		    c->req.end > (uint64_t)((int64_t)tip + 1) +
					 ORACLE_GRPC_MAX_PAST_TIP - 1) {
			snprintf(msg, sizeof(msg), "end %llu is more than %u "
				 "blocks past the tip %d",
				 (unsigned long long)c->req.end,
				 ORACLE_GRPC_MAX_PAST_TIP, tip);
			finish(c, NULL, ORACLE_GRPC_OUT_OF_RANGE, msg);
			return;
		}
		c->next = c->req.start;
		stream_step(c);
		return;
	}
	if (oracle_grpc_pack(g->idx, c->rpc, c->req.height, &buf, &len, NULL,
			     &status, msg) != SD_OK) {
		finish(c, NULL, status, msg);
		return;
	}
	finish(c, to_buffer(buf, len), ORACLE_GRPC_OK, NULL);
}

static void on_new_call(struct oracle_grpc *g, struct gcall *c)
{
	grpc_op ops[2], cl;
	char q[160];

	c->rpc = oracle_grpc_rpc_by_path(
		(const char *)GRPC_SLICE_START_PTR(c->details.method),
		GRPC_SLICE_LENGTH(c->details.method));
	memset(&cl, 0, sizeof(cl));
	cl.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	cl.data.recv_close_on_server.cancelled = &c->cancelled;
	if (!start(c, &cl, 1, &c->close_tag))
		c->closed = true;
	if (c->rpc == ORACLE_GRPC_UNKNOWN) {
		char path[128];
		size_t n = GRPC_SLICE_LENGTH(c->details.method);

		if (n >= sizeof(path))
			n = sizeof(path) - 1;
		memcpy(path, GRPC_SLICE_START_PTR(c->details.method), n);
		path[n] = '\0';
		sd_log_debug("grpc", "grpc_unknown_method", "method=%s",
			     sd_log_q(q, sizeof(q), path));
		snprintf(path, sizeof(path), "unknown method");
		finish(c, NULL, ORACLE_GRPC_UNIMPLEMENTED, path);
		maybe_free(c);
		return;
	}
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_RECV_MESSAGE;
	ops[1].data.recv_message.recv_message = &c->recv;
	c->phase = PH_RECV;
	c->md_sent = true;
	if (!start(c, ops, 2, &c->op_tag))
		c->op_busy = false;
	(void)g;
	maybe_free(c);
}

static void on_op_done(struct gcall *c, bool ok)
{
	c->op_busy = false;
	if (!ok || c->cancelled_flag || c->g->shutting_down) {
		if (c->phase != PH_FINAL && !c->closed)
			/* nothing more is sent; the close batch ends it */
			grpc_call_cancel(c->call, NULL);
		maybe_free(c);
		return;
	}
	switch (c->phase) {
	case PH_RECV:
		on_request(c);
		break;
	case PH_STREAM:
		stream_step(c);
		break;
	case PH_FINAL:
		break;
	}
	maybe_free(c);
}

static void *cq_thread(void *arg)
{
	struct oracle_grpc *g = arg;

	request_call(g);
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(
			g->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);

		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		if (ev.tag == &g->shutdown_tag) {
			grpc_completion_queue_shutdown(g->cq);
			continue;
		}
		if (ev.tag == &g->accept_tag) {
			struct gcall *c = g->pending;

			g->pending = NULL;
			if (!ev.success || g->shutting_down) {
				call_free(c);   /* server shutting down */
				continue;
			}
			request_call(g);
			on_new_call(g, c);
			continue;
		}
		{
			struct gtag *t = ev.tag;
			struct gcall *c = t->c;

			if (t->close) {
				c->closed = true;
				if (c->cancelled)
					c->cancelled_flag = true;
				maybe_free(c);
			} else {
				on_op_done(c, ev.success);
			}
		}
	}
	return NULL;
}

int oracle_grpc_start(const struct oracle_grpc_config *cfg,
		      struct oracle_index *idx, struct oracle_grpc **out,
		      char *err)
{
	struct oracle_grpc *g;
	grpc_server_credentials *cr;
	char q[160];
	int port;

	*out = NULL;
	grpc_init();
	g = sd_xmalloc(sizeof(*g));
	memset(g, 0, sizeof(*g));
	g->idx = idx;
	g->host = sd_xstrdup(cfg->host);
	g->cq = grpc_completion_queue_create_for_next(NULL);
	{
		/* requests are a few bytes; a client gets at most this many
		 * calls at once per connection */
		grpc_arg args[2] = {
			{ .type = GRPC_ARG_INTEGER,
			  .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
			  .value.integer = 4096 },
			{ .type = GRPC_ARG_INTEGER,
			  .key = (char *)GRPC_ARG_MAX_CONCURRENT_STREAMS,
			  .value.integer = 256 },
		};
		grpc_channel_args ca = { .num_args = 2, .args = args };

		g->server = grpc_server_create(&ca, NULL);
	}
	grpc_server_register_completion_queue(g->server, g->cq, NULL);
	cr = grpc_insecure_server_credentials_create();
	port = grpc_server_add_http2_port(g->server, g->host, cr);
	grpc_server_credentials_release(cr);
	if (port <= 0) {
		sd_set_err(err, "cannot listen on %s (address in use or not "
			   "host:port)", g->host);
		grpc_server_destroy(g->server);
		grpc_completion_queue_shutdown(g->cq);
		while (grpc_completion_queue_next(
			       g->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
			       .type != GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(g->cq);
		free(g->host);
		free(g);
		grpc_shutdown();
		return SD_EIO;
	}
	grpc_server_start(g->server);
	if (pthread_create(&g->thread, NULL, cq_thread, g) != 0)
		abort();
	sd_log_info("grpc", "listening", "host=%s port=%d service=%s",
		    sd_log_q(q, sizeof(q), g->host), port,
		    "blindbit.oracle.v1.OracleService");
	*out = g;
	return SD_OK;
}

void oracle_grpc_stop(struct oracle_grpc *g)
{
	if (!g)
		return;
	g->shutting_down = true;
	grpc_server_shutdown_and_notify(g->server, g->cq, &g->shutdown_tag);
	grpc_server_cancel_all_calls(g->server);
	pthread_join(g->thread, NULL);
	grpc_server_destroy(g->server);
	grpc_completion_queue_destroy(g->cq);
	free(g->host);
	free(g);
	grpc_shutdown();
}

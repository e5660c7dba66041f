/* zmqdisc.h - internal to rpc/: where the node publishes ZMQ notifications
 * (getzmqnotifications), with wildcard bind hosts rewritten to the host we
 * reach the node's RPC on.
 */
#ifndef SIGNETD_RPC_ZMQDISC_H
#define SIGNETD_RPC_ZMQDISC_H

#include <stddef.h>

#include "../common/err.h"
#include "rpc.h"

#define RPC_ZMQ_EP_LEN 256

/* Ask the node.  On SD_OK hashblock / rawtx hold the endpoints ("" when the
 * node does not publish that topic; also when the node does not know the
 * getzmqnotifications method).  Other codes come from rpc_call. */
int rpc_zmq_discover(struct rpc_client *c, const char *rpc_url,
		     char hashblock[RPC_ZMQ_EP_LEN],
		     char rawtx[RPC_ZMQ_EP_LEN]) SD_WARN_UNUSED;

/* The parsing half of rpc_zmq_discover(): the getzmqnotifications result
 * (a JSON array text) into endpoints.  Returns SD_OK or SD_EPARSE. */
int rpc_zmq_parse_notifications(const char *json, const char *rpc_url,
				char hashblock[RPC_ZMQ_EP_LEN],
				char rawtx[RPC_ZMQ_EP_LEN]) SD_WARN_UNUSED;

/* Rewrite a wildcard bind host (0.0.0.0, "*", [::]) in a tcp endpoint to
 * use the host of rpc_url ("http://10.0.0.5:8332" -> "tcp://10.0.0.5:28332").
 * Other endpoints are copied unchanged.  Returns SD_OK or SD_EINVAL (does
 * not fit in outlen). */
int rpc_zmq_rewrite_host(const char *endpoint, const char *rpc_url,
			 char *out, size_t outlen) SD_WARN_UNUSED;

#endif

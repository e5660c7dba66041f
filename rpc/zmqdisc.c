/* zmqdisc.c - ZMQ endpoint discovery: read the node's
 * getzmqnotifications answer and turn wildcard bind addresses into
 * addresses we can connect to (the host of the RPC URL).
 */
#include "zmqdisc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"

#define RPC_METHOD_NOT_FOUND -32601

/* Host part of "scheme://[user@]host[:port][/path]" into out (IPv6 keeps
 * its brackets).  Returns SD_OK or SD_EINVAL. */
static int url_host(const char *url, char *out, size_t outlen)
{
	const char *p = strstr(url, "://"), *end, *at;
	size_t n;

	p = p ? p + 3 : url;
	end = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t)(end - p));
	if (at)
		p = at + 1;
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));

		if (!rb)
			return SD_EINVAL;
		n = (size_t)(rb + 1 - p);
	} else {
		const char *colon = memchr(p, ':', (size_t)(end - p));

		n = (size_t)((colon ? colon : end) - p);
	}
	if (n == 0 || n >= outlen)
		return SD_EINVAL;
	memcpy(out, p, n);
	out[n] = '\0';
	return SD_OK;
}

int rpc_zmq_rewrite_host(const char *endpoint, const char *rpc_url,
			 char *out, size_t outlen)
{
	static const char *const wild[] = { "0.0.0.0", "*", "[::]", "::" };
	const char *p = strstr(endpoint, "://"), *host, *port;
	char rhost[128];
	int n;

	if (!p)
		goto copy;
	host = p + 3;
	port = strrchr(host, ':');
	if (!port)
		goto copy;
	for (size_t i = 0; i < sizeof(wild) / sizeof(wild[0]); i++) {
		size_t wl = strlen(wild[i]);

		if ((size_t)(port - host) != wl ||
		    memcmp(host, wild[i], wl) != 0)
			continue;
		if (url_host(rpc_url, rhost, sizeof(rhost)) != SD_OK)
			goto copy;
		n = snprintf(out, outlen, "%.*s%s%s", (int)(host - endpoint),
			     endpoint, rhost, port);
		return n >= 0 && (size_t)n < outlen ? SD_OK : SD_EINVAL;
	}
copy:
	n = snprintf(out, outlen, "%s", endpoint);
	return n >= 0 && (size_t)n < outlen ? SD_OK : SD_EINVAL;
}

int rpc_zmq_parse_notifications(const char *json, const char *rpc_url,
				char hashblock[RPC_ZMQ_EP_LEN],
				char rawtx[RPC_ZMQ_EP_LEN])
{
	json_t *j = json_loads(json, 0, NULL), *it;
	size_t i;

	hashblock[0] = rawtx[0] = '\0';
	if (!j || !json_is_array(j)) {
		json_decref(j);
		return SD_EPARSE;
	}
	json_array_foreach(j, i, it) {
		const char *type =
			json_string_value(json_object_get(it, "type"));
		const char *addr =
			json_string_value(json_object_get(it, "address"));
		char *dst = NULL;

		if (!type || !addr)
			continue;
		if (strcmp(type, "pubhashblock") == 0)
			dst = hashblock;
		else if (strcmp(type, "pubrawtx") == 0)
			dst = rawtx;
		if (dst && !dst[0] &&
		    rpc_zmq_rewrite_host(addr, rpc_url, dst, RPC_ZMQ_EP_LEN) !=
			    SD_OK)
			dst[0] = '\0';
	}
	json_decref(j);
	return SD_OK;
}

int rpc_zmq_discover(struct rpc_client *c, const char *rpc_url,
		     char hashblock[RPC_ZMQ_EP_LEN],
		     char rawtx[RPC_ZMQ_EP_LEN])
{
	char *res = NULL, err[SD_ERRLEN];
	int code = 0, rc;

	hashblock[0] = rawtx[0] = '\0';
	rc = rpc_call(c, "getzmqnotifications", NULL, &res, &code, err);
	if (rc == SD_ERPC && code == RPC_METHOD_NOT_FOUND)
		return SD_OK; /* node built without ZMQ */
	if (rc != SD_OK)
		return rc;
	rc = rpc_zmq_parse_notifications(res, rpc_url, hashblock, rawtx);
	free(res);
	return rc;
}

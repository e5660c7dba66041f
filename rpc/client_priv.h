/* client_priv.h - private to rpc/: the client struct and the HTTP and
 * JSON-RPC primitives that rest.c and json_block.c build on.  jansson and
 * libcurl types stay inside rpc/. */
#ifndef SIGNETD_RPC_CLIENT_PRIV_H
#define SIGNETD_RPC_CLIENT_PRIV_H

#include <curl/curl.h>
#include <jansson.h>

#include "../common/buf.h"
#include "rpc.h"

struct rpc_client {
	char *base_url;     /* no trailing '/' */
	char *rpc_url;      /* base_url or base_url/wallet/<name> */
	char *cookie_path;  /* NULL: user/pass */
	char *userpwd;      /* "user:pass" (cookie content); never logged */
	int cookie_err;     /* last cookie read: 0 ok, errno, or -1 bad
			     * content; logged when it changes */
	long timeout_ms;
	CURL *curl;
	struct curl_slist *json_hdrs;
	struct sd_buf resp;
	char curl_err[CURL_ERROR_SIZE];
	unsigned next_id;
	/* second handle + multi for two concurrent REST GETs (lazy) */
	CURL *curl2;
	CURLM *multi;
	struct sd_buf resp2;
	char curl_err2[CURL_ERROR_SIZE];
};

/* One HTTP request on the client's keep-alive handle: GET when post is
 * NULL, else POST of post_len bytes as JSON.  The body lands in c->resp.
 * Re-reads the cookie and retries once on 401.  Returns SD_OK (any HTTP
 * status, in *status), SD_ECONN, SD_ETIMEOUT or SD_EAUTH (401/403). */
int rpc_http(struct rpc_client *c, const char *url, const char *post,
	     size_t post_len, long *status, char *err);

/* Two GETs at once (block + spent outputs): bodies in c->resp and
 * c->resp2.  Returns SD_OK with both statuses, or the first transport error
 * (SD_ECONN, SD_ETIMEOUT, SD_EPARSE for an oversized body). */
int rpc_http_get2(struct rpc_client *c, const char *url_a, const char *url_b,
		  long *status_a, long *status_b, char *err);

/* rpc_call returning the parsed result (caller json_decref()s). */
int rpc_call_json(struct rpc_client *c, const char *method,
		  const char *params_json, json_t **result, int *rpc_code,
		  char *err);

/* Parse a single JSON-RPC reply object already loaded. */
int rpc_reply_from_json(json_t *reply, json_t **result, int *rpc_code,
			char *err);

/* rpc_fetch_block, also returning the time spent on the wire (*io_ns:
 * the HTTP request(s); with the RPC source also the JSON parse), the
 * rest being the block parse.  rest.c. */
int rpc_fetch_block_timed(struct rpc_client *c, enum rpc_block_source source,
			  const uint8_t hash[32], int32_t height,
			  struct btc_block **out, uint64_t *io_ns);

/* Counters, updated by client.c and rest.c. */
void rpc_stats_add(uint64_t calls, uint64_t errors, uint64_t bytes_in);

#endif

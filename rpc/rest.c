/* rest.c - bitcoind's REST interface and the block sources: fetch a block
 * with its prevouts via /rest/block + /rest/spenttxouts (binary) or via
 * `getblock <hash> 3`, and detect which of the two the node serves. */
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/util.h"
#include "client_priv.h"

/* Internal: the block from a parsed `getblock 3` result (json_block.c). */
int rpc_block_from_json_t(json_t *j, struct btc_block **out);

const char *rpc_block_source_name(enum rpc_block_source s)
{
	switch (s) {
	case RPC_SOURCE_AUTO:
		return "auto";
	case RPC_SOURCE_REST:
		return "rest";
	case RPC_SOURCE_RPC:
		return "rpc";
	}
	return "unknown";
}

/* GET base_url + path into c->resp. */
static int rest_get(struct rpc_client *c, const char *path, long *status,
		    char *err)
{
	size_t n = strlen(c->base_url) + strlen(path) + 1;
	char *url = sd_xmalloc(n);
	int rc;

	snprintf(url, n, "%s%s", c->base_url, path);
	rc = rpc_http(c, url, NULL, 0, status, err);
	free(url);
	return rc;
}

int rpc_rest_get(struct rpc_client *c, const char *path, uint8_t **body,
		 size_t *len, long *status)
{
	int rc;

	*body = NULL;
	*len = 0;
	if (!path || path[0] != '/')
		return SD_EINVAL;
	rc = rest_get(c, path, status, NULL);
	if (rc != SD_OK)
		return rc;
	/* hand the buffer over instead of copying it */
	if (c->resp.p) {
		*body = c->resp.p;
		*len = c->resp.len;
		c->resp.p = NULL;
		c->resp.len = c->resp.cap = 0;
	} else {
		*body = sd_xcalloc(1, 1);
	}
	return SD_OK;
}

/* Map a REST status: 200 ok, 404 not found, else an error. */
static int rest_status(long status, const char *what, char *err)
{
	if (status == 200)
		return SD_OK;
	if (status == 404) {
		sd_set_err(err, "%s: not found (HTTP 404)", what);
		return SD_ENOTFOUND;
	}
	if (status == 503) {
		sd_set_err(err, "%s: node busy (HTTP 503)", what);
		return SD_ECONN;
	}
	sd_set_err(err, "%s: HTTP %ld", what, status);
	return SD_ERPC;
}

static int fetch_rest(struct rpc_client *c, const uint8_t hash[32],
		      struct btc_block **out, char *err, uint64_t *io_ns)
{
	uint64_t t0 = sd_mono_ns();
	size_t n = strlen(c->base_url) + 128;
	char hex[65], *url_b = sd_xmalloc(n), *url_s = sd_xmalloc(n);
	struct btc_block *b = NULL;
	long st_b = 0, st_s = 0;
	int rc;

	/* block and spent outputs requested at once: one round trip */
	sd_hex_encode_rev(hex, hash, 32);
	snprintf(url_b, n, "%s/rest/block/%s.bin", c->base_url, hex);
	snprintf(url_s, n, "%s/rest/spenttxouts/%s.bin", c->base_url, hex);
	rc = rpc_http_get2(c, url_b, url_s, &st_b, &st_s, err);
	if (io_ns)
		*io_ns = sd_mono_ns() - t0;
	free(url_b);
	free(url_s);
	if (rc == SD_OK)
		rc = rest_status(st_b, "rest block", err);
	if (rc == SD_OK)
		rc = rest_status(st_s, "rest spenttxouts", err);
	if (rc != SD_OK)
		return rc;
	rc = btc_block_parse(c->resp.p, c->resp.len, &b);
	if (rc != SD_OK) {
		sd_set_err(err, "rest block %s: unparsable", hex);
		return rc;
	}
	if (memcmp(b->hash, hash, 32) != 0) {
		sd_set_err(err, "rest block %s: node sent another block", hex);
		btc_block_free(b);
		return SD_EPARSE;
	}
	rc = btc_block_attach_spent(b, c->resp2.p, c->resp2.len);
	if (rc != SD_OK) {
		sd_set_err(err, "rest spenttxouts %s: unparsable", hex);
		btc_block_free(b);
		return rc;
	}
	*out = b;
	return SD_OK;
}

static int fetch_rpc(struct rpc_client *c, const uint8_t hash[32],
		     struct btc_block **out, char *err, uint64_t *io_ns)
{
	uint64_t t0 = sd_mono_ns();
	char hex[65], params[96];
	json_t *r;
	int code, rc;

	sd_hex_encode_rev(hex, hash, 32);
	snprintf(params, sizeof(params), "[\"%s\",3]", hex);
	rc = rpc_call_json(c, "getblock", params, &r, &code, err);
	if (io_ns) /* (includes the JSON parse) */
		*io_ns = sd_mono_ns() - t0;
	if (rc == SD_ERPC && code == -5)
		return SD_ENOTFOUND;
	if (rc != SD_OK)
		return rc;
	rc = rpc_block_from_json_t(r, out);
	json_decref(r);
	if (rc != SD_OK) {
		sd_set_err(err, "getblock %s: unusable JSON", hex);
		return rc;
	}
	if (memcmp((*out)->hash, hash, 32) != 0) {
		sd_set_err(err, "getblock %s: node sent another block", hex);
		btc_block_free(*out);
		*out = NULL;
		return SD_EPARSE;
	}
	return SD_OK;
}

int rpc_fetch_block(struct rpc_client *c, enum rpc_block_source source,
		    const uint8_t hash[32], int32_t height,
		    struct btc_block **out)
{
	return rpc_fetch_block_timed(c, source, hash, height, out, NULL);
}

int rpc_fetch_block_timed(struct rpc_client *c, enum rpc_block_source source,
			  const uint8_t hash[32], int32_t height,
			  struct btc_block **out, uint64_t *io_ns)
{
	char err[SD_ERRLEN] = "";
	int rc;

	*out = NULL;
	if (io_ns)
		*io_ns = 0;
	switch (source) {
	case RPC_SOURCE_REST:
		rc = fetch_rest(c, hash, out, err, io_ns);
		break;
	case RPC_SOURCE_RPC:
		rc = fetch_rpc(c, hash, out, err, io_ns);
		break;
	case RPC_SOURCE_AUTO:
	default:
		return SD_EINVAL;
	}
	if (rc == SD_OK) {
		(*out)->height = height;
	} else if (rc == SD_EPARSE) {
		char q[SD_ERRLEN + 8];
		sd_log_warn("rpc", "block_unparsable", "source=%s height=%d "
			    "err=%s", rpc_block_source_name(source),
			    (int)height, sd_log_q(q, sizeof(q), err));
	}
	return rc;
}

/* REST works when it serves the genesis block and its spent outputs (the
 * empty list) in a form we parse; every node has a genesis block. */
int rpc_detect_block_source(struct rpc_client *c,
			    enum rpc_block_source *chosen)
{
	char err[SD_ERRLEN] = "", q[SD_ERRLEN + 8];
	struct btc_block *b = NULL;
	uint8_t genesis[32];
	int rc;

	rc = rpc_get_block_hash(c, 0, genesis);
	if (rc != SD_OK)
		return rc;
	rc = fetch_rest(c, genesis, &b, err, NULL);
	btc_block_free(b);
	if (rc == SD_OK) {
		*chosen = RPC_SOURCE_REST;
		sd_log_info("rpc", "block_source_detected", "source=rest");
		return SD_OK;
	}
	if (rc == SD_ECONN || rc == SD_ETIMEOUT)
		return rc;
	b = NULL;
	{
		char rerr[SD_ERRLEN] = "";
		int rrc = fetch_rpc(c, genesis, &b, rerr, NULL);
		btc_block_free(b);
		if (rrc != SD_OK) {
			sd_log_error("rpc", "block_source_none", "err=%s",
				     sd_log_q(q, sizeof(q), rerr));
			return rrc;
		}
	}
	*chosen = RPC_SOURCE_RPC;
	sd_log_info("rpc", "block_source_detected", "source=rpc rest_err=%s",
		    sd_log_q(q, sizeof(q), err));
	return SD_OK;
}

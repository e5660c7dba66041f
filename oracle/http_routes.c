/* http_routes.c - one handler per API route: reads the index through a
 * read snapshot (oracle_read_*), checks in upstream's order (height parse
 * 400, unknown height 500, then the handler's own 400s), renders the body
 * or takes it from the rendered-body cache. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../signetd/log.h"
#include "../signetd/util.h"
#include "http_int.h"

#define E_DB "could could not retrieve data from database" /* sic */
#define E_HEIGHT "could not parse block height"
#define E_INV "could not fetch header inv"
#define E_DUST "Invalid dustLimit parameter"
#define E_NODUST "Server does not allow dustLimits"
#define E_FTYPE "invalid filter type"
#define E_FILTER "could not get filter from db"

static void answer_json(struct http_answer *a, unsigned status,
			struct http_body *b)
{
	a->status = status;
	a->ctype = HTTP_CT_JSON;
	a->body = b;
}

static void answer_error(struct http_answer *a, unsigned status,
			 const char *msg)
{
	answer_json(a, status, http_json_error(msg));
}

/* ---- read callbacks ---- */

struct cut_ctx {
	struct http_json_list *l;
	uint64_t dust;
};

static int cut_cb(void *ctx, const uint8_t txid[32], const uint8_t tweak[33],
		  uint64_t highest_value)
{
	struct cut_ctx *c = ctx;

	(void)txid;
	if (highest_value >= c->dust)
		http_json_list_tweak(c->l, tweak);
	return SD_OK;
}

/* Upstream deletes every row of a tx once all its taproot outputs are
 * spent (v1 prune): rows come grouped by txid, so hold one tx's rows and
 * emit them only if one is still unspent. */
struct utxo_ctx {
	struct http_json_list *l;
	struct oracle_utxo *rows;
	size_t n, cap;
	bool any_unspent;
};

static void utxo_flush(struct utxo_ctx *c)
{
	if (c->any_unspent)
		for (size_t i = 0; i < c->n; i++)
			http_json_list_utxo(c->l, &c->rows[i]);
	c->n = 0;
	c->any_unspent = false;
}

static int utxo_cb(void *ctx, const struct oracle_utxo *u)
{
	struct utxo_ctx *c = ctx;

	if (c->n && memcmp(c->rows[0].txid, u->txid, 32))
		utxo_flush(c);
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 8;
		c->rows = sd_xrealloc(c->rows, c->cap * sizeof(*c->rows));
	}
	c->rows[c->n++] = *u;
	c->any_unspent |= !u->spent;
	return SD_OK;
}

static int mempool_cb(void *ctx, const uint8_t txid[32],
		      const uint8_t tweak[33], uint64_t highest_value)
{
	struct cut_ctx *c = ctx;

	if (highest_value >= c->dust)
		http_json_list_mempool(c->l, txid, tweak, highest_value);
	return SD_OK;
}

/* Render a block answer; NULL and an error status + message on failure. */
static struct http_body *render_block(struct oracle_http *h,
				      struct oracle_read *r,
				      const struct oracle_route *rt,
				      const uint8_t bhash[32],
				      unsigned *err_status,
				      const char **err_msg)
{
	const struct oracle_config *oc = oracle_index_config(h->idx);
	int32_t height = (int32_t)rt->height;
	const uint8_t *data;
	size_t n, rec_len;
	int rc;

	switch (rt->id) {
	case ORACLE_ROUTE_BLOCK_HASH:
		return http_json_block_hash(bhash);
	case ORACLE_ROUTE_TWEAK_INDEX:
		rc = oracle_read_tweak_index(r, height, &data, &n, &rec_len);
		if (rc == SD_ENOTFOUND)
			return http_json_tweak_recs(NULL, 0, 33, 0);
		if (rc != SD_OK)
			break;
		return http_json_tweak_recs(data, n, rec_len, rt->dust);
	case ORACLE_ROUTE_TWEAKS: {
		struct cut_ctx c = {http_json_list_new(), rt->dust};

		if (!oc->tweaks_cut_through_with_dust_filter)
			return http_json_list_finish(c.l);
		rc = oracle_read_cut_through(r, height, cut_cb, &c);
		if (rc != SD_OK && rc != SD_ENOTFOUND) {
			http_body_unref(http_json_list_finish(c.l));
			break;
		}
		return http_json_list_finish(c.l);
	}
	case ORACLE_ROUTE_FILTER:
		rc = oracle_read_filter(r, height,
					rt->filter == ORACLE_ROUTE_FILTER_SPENT
						? ORACLE_FILTER_SPENT
						: ORACLE_FILTER_NEW_UTXOS,
					&data, &n);
		if (rc != SD_OK || oc->tweaks_only) {
			*err_status = 500;
			*err_msg = E_FILTER;
			return NULL;
		}
		return http_json_filter(bhash, rt->height, data, n);
	case ORACLE_ROUTE_UTXOS: {
		struct utxo_ctx c = {.l = http_json_list_new()};

		rc = oracle_read_utxos(r, height, utxo_cb, &c);
		utxo_flush(&c);
		free(c.rows);
		if (rc != SD_OK && rc != SD_ENOTFOUND) {
			http_body_unref(http_json_list_finish(c.l));
			break;
		}
		return http_json_list_finish(c.l);
	}
	case ORACLE_ROUTE_SPENT_INDEX:
		rc = oracle_read_spent_index(r, height, &data, &n);
		if (rc == SD_ENOTFOUND)
			return http_json_spent_index(bhash, NULL, 0);
		if (rc != SD_OK)
			break;
		return http_json_spent_index(bhash, data, n);
	default:
		break;
	}
	*err_status = 500;
	*err_msg = E_DB;
	return NULL;
}

/* Checks a handler makes after the height middleware (upstream order). */
static const char *handler_check(struct oracle_http *h,
				 const struct oracle_route *rt)
{
	const struct oracle_config *oc = oracle_index_config(h->idx);

	if (rt->id == ORACLE_ROUTE_FILTER &&
	    rt->filter == ORACLE_ROUTE_FILTER_BAD)
		return E_FTYPE;
	if (rt->id == ORACLE_ROUTE_TWEAKS ||
	    rt->id == ORACLE_ROUTE_TWEAK_INDEX) {
		if (!rt->dust_ok)
			return E_DUST;
		if (rt->id == ORACLE_ROUTE_TWEAK_INDEX && rt->dust &&
		    !oc->tweaks_full_with_dust_filter)
			return E_NODUST;
	}
	return NULL;
}

static void block_route(struct oracle_http *h, const struct oracle_route *rt,
			struct http_answer *a)
{
	struct http_cache_key k;
	struct oracle_read *r;
	uint8_t tip_hash[32], bhash[32];
	int32_t tip = -1;
	uint32_t btime;
	const char *msg;
	struct http_body *b;
	bool changes;

	if (!rt->height_ok) {
		answer_error(a, 400, E_HEIGHT);
		return;
	}
	if (oracle_read_begin(h->idx, &r) != SD_OK) {
		answer_error(a, 500, E_DB);
		return;
	}
	if (oracle_read_tip(r, &tip, tip_hash) != SD_OK)
		tip = -1;
	/* headers-inv never holds genesis (upstream starts it at 1) */
	if (rt->height == 0 || rt->height > (uint32_t)INT32_MAX ||
	    (int32_t)rt->height > tip ||
	    oracle_read_block(r, (int32_t)rt->height, bhash, &btime) !=
		    SD_OK) {
		answer_error(a, 500, E_INV);
		goto out;
	}
	msg = handler_check(h, rt);
	if (msg) {
		answer_error(a, 400, msg);
		goto out;
	}
	/* cut-through rows and spent flags change with later blocks */
	changes = rt->id == ORACLE_ROUTE_TWEAKS || rt->id == ORACLE_ROUTE_UTXOS;
	memset(&k, 0, sizeof(k));
	k.route = (uint8_t)rt->id;
	k.filter = (uint8_t)rt->filter;
	k.height = rt->height;
	k.dust = rt->dust;
	memcpy(k.block_hash, bhash, 32);
	if (changes)
		memcpy(k.tip_hash, tip_hash, 32);
	b = http_cache_get(h->cache, &k);
	if (!b) {
		unsigned st = 500;

		b = render_block(h, r, rt, bhash, &st, &msg);
		if (!b) {
			answer_error(a, st, msg);
			goto out;
		}
		http_cache_put(h->cache, &k, b);
	}
	answer_json(a, 200, b);
	a->block = true;
	a->etag = http_cache_key_hash(&k);
	a->immutable = !changes &&
		       (int64_t)tip - rt->height + 1 >=
			       (int64_t)h->cfg.immutable_depth;
out:
	oracle_read_end(r);
}

static void tip_route(struct oracle_http *h, const struct oracle_route *rt,
		      struct http_answer *a)
{
	const struct oracle_config *oc = oracle_index_config(h->idx);
	struct oracle_read *r;
	uint8_t hash[32];
	int32_t tip = -1;

	if (oracle_read_begin(h->idx, &r) != SD_OK) {
		answer_error(a, 500, E_DB);
		return;
	}
	if (oracle_read_tip(r, &tip, hash) != SD_OK)
		tip = -1;
	oracle_read_end(r);
	if (tip < 0) {
		answer_error(a, 500, E_DB);
		return;
	}
	if (rt->id == ORACLE_ROUTE_INFO)
		answer_json(a, 200, http_json_info(oc->network, tip, oc));
	else
		answer_json(a, 200, http_json_block_height(tip));
}

static void mempool_route(struct oracle_http *h,
			  const struct oracle_route *rt,
			  struct http_answer *a)
{
	struct cut_ctx c;

	if (!rt->dust_ok) {
		answer_error(a, 400, E_DUST);
		return;
	}
	c.l = http_json_list_new();
	c.dust = rt->dust;
	if (oracle_mempool_each(h->idx, mempool_cb, &c) != SD_OK) {
		http_body_unref(http_json_list_finish(c.l));
		answer_error(a, 500, E_DB);
		return;
	}
	answer_json(a, 200, http_json_list_finish(c.l));
}

static void not_found(struct http_answer *a)
{
	a->status = 404;
	a->ctype = HTTP_CT_TEXT;
	a->body = http_body_copy("404 page not found", 18);
}

static void hook_route(struct oracle_http *h, const struct oracle_route *rt,
		       struct http_answer *a)
{
	const struct oracle_http_hooks *k = &h->hooks;
	char *body = NULL;
	size_t len = 0;
	bool ok = true;
	int rc;

	switch (rt->id) {
	case ORACLE_ROUTE_STATUS:
		if (!k->status_json)
			return not_found(a);
		rc = k->status_json(k->ctx, &body, &len);
		break;
	case ORACLE_ROUTE_HEALTH:
		if (!k->health_json)
			return not_found(a);
		rc = k->health_json(k->ctx, &ok, &body, &len);
		break;
	default: /* metrics */
		if (!k->metrics_text)
			return not_found(a);
		rc = k->metrics_text(k->ctx, &body, &len);
		if (rc == SD_OK)
			rc = oracle_http_metrics(h, &body, &len);
		break;
	}
	if (rc != SD_OK) {
		free(body);
		answer_error(a, 500, sd_strerror(rc));
		return;
	}
	a->status = ok ? 200 : 503;
	a->ctype = rt->id == ORACLE_ROUTE_METRICS
			   ? "text/plain; version=0.0.4; charset=utf-8"
			   : HTTP_CT_JSON;
	a->body = http_body_new(body ? body : sd_xstrdup(""), len);
}

/* ---- /forward-tx ---- */

/* Form-decode s[0..n) (Go QueryUnescape) into a new string; NULL when
 * an escape is bad. */
static char *form_unescape(const char *s, size_t n)
{
	char *o = sd_xmalloc(n + 1);
	size_t j = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			o[j++] = ' ';
		} else if (s[i] == '%') {
			int hi, lo;

			if (n - i < 3 || (hi = sd_hex_digit(s[i + 1])) < 0 ||
			    (lo = sd_hex_digit(s[i + 2])) < 0) {
				free(o);
				return NULL;
			}
			o[j++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			o[j++] = s[i];
		}
	}
	o[j] = '\0';
	return o;
}

/* First "data" value of an urlencoded form, or NULL. */
static char *form_data(const char *body, size_t len)
{
	size_t pos = 0;

	while (pos < len) {
		const char *p = body + pos, *amp = memchr(p, '&', len - pos);
		size_t pl = amp ? (size_t)(amp - p) : len - pos;
		const char *eq = memchr(p, '=', pl);
		size_t kl = eq ? (size_t)(eq - p) : pl;
		char *key;

		pos += pl + 1;
		if (pl == 0 || memchr(p, ';', pl))
			continue;
		key = form_unescape(p, kl);
		if (key && !strcmp(key, "data")) {
			free(key);
			return form_unescape(eq ? eq + 1 : "",
					     eq ? pl - kl - 1 : 0);
		}
		free(key);
	}
	return NULL;
}

/* {"data": "..."} (Go matches the key case-insensitively). */
static char *json_data(const char *body, size_t len)
{
	json_t *j = json_loadb(body, len, 0, NULL), *v;
	const char *key;
	char *out = NULL;

	if (!json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	json_object_foreach(j, key, v) {
		if (!strcasecmp(key, "data") && json_is_string(v)) {
			out = sd_xstrdup(json_string_value(v));
			break;
		}
	}
	json_decref(j);
	return out;
}

static bool is_tx_hex(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n % 2 || n > HTTP_MAX_TX_HEX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (sd_hex_digit((unsigned char)s[i]) < 0)
			return false;
	return true;
}

static void forward_tx(struct oracle_http *h, const char *body, size_t len,
		       const char *ctype, struct http_answer *a)
{
	char err[SD_ERRLEN] = "", txid[65] = "", q[128];
	char *data = NULL;
	size_t ctl = 0;
	int rc;

	if (ctype) {
		ctl = strcspn(ctype, ";");
		while (ctl && (ctype[ctl - 1] == ' ' || ctype[ctl - 1] == '\t'))
			ctl--;
	}
	if (ctl == 16 && !strncasecmp(ctype, "application/json", 16))
		data = body ? json_data(body, len) : NULL;
	else if (ctl == 33 &&
		 !strncasecmp(ctype, "application/x-www-form-urlencoded", 33))
		data = body ? form_data(body, len) : NULL;
	if (!data || !*data) {
		/* upstream: binding "required" failed -> 400, empty body */
		free(data);
		a->status = 400;
		return;
	}
	if (!is_tx_hex(data)) {
		free(data);
		answer_error(a, 400, "invalid transaction hex");
		return;
	}
	if (!h->hooks.forward_tx) {
		free(data);
		answer_error(a, 503, "transaction relay not available");
		return;
	}
	rc = h->hooks.forward_tx(h->hooks.ctx, data, txid, err);
	free(data);
	if (rc == SD_OK) {
		txid[64] = '\0';
		answer_json(a, 200, http_json_txid(txid));
		return;
	}
	err[SD_ERRLEN - 1] = '\0';
	sd_log_info("http", "forward_tx_refused", "rc=%s err=%s",
		    sd_strerror(rc), sd_log_q(q, sizeof(q), err));
	answer_error(a, rc == SD_ERPC ? 400 : 500,
		     *err ? err : sd_strerror(rc));
}

void http_route_answer(struct oracle_http *h, const struct oracle_route *rt,
		       const char *post_body, size_t post_len,
		       const char *post_ctype, struct http_answer *a)
{
	switch (rt->id) {
	case ORACLE_ROUTE_INFO:
	case ORACLE_ROUTE_BLOCK_HEIGHT:
		tip_route(h, rt, a);
		return;
	case ORACLE_ROUTE_BLOCK_HASH:
	case ORACLE_ROUTE_TWEAKS:
	case ORACLE_ROUTE_TWEAK_INDEX:
	case ORACLE_ROUTE_FILTER:
	case ORACLE_ROUTE_UTXOS:
	case ORACLE_ROUTE_SPENT_INDEX:
		block_route(h, rt, a);
		return;
	case ORACLE_ROUTE_MEMPOOL_TWEAKS:
		mempool_route(h, rt, a);
		return;
	case ORACLE_ROUTE_STATUS:
	case ORACLE_ROUTE_HEALTH:
	case ORACLE_ROUTE_METRICS:
		hook_route(h, rt, a);
		return;
	case ORACLE_ROUTE_FORWARD_TX:
		forward_tx(h, post_body, post_len, post_ctype, a);
		return;
	case ORACLE_ROUTE_NONE:
	case ORACLE_ROUTE_COUNT:
		break;
	}
	not_found(a);
}

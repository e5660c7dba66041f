/* http_routes.c - one handler per API route: reads the index through a
 * read snapshot (oracle_read_*), checks in upstream's order (height parse
 * 400, unknown height 500, then the handler's own 400s), renders the body
 * or takes it from the rendered-body cache. */
#include <stdlib.h>
#include <string.h>

#include "../../common/log.h"
#include "../../common/util.h"
#include "../../common/siphash.h"
#include "http_int.h"

#define E_DB "could could not retrieve data from database" /* sic */
#define E_HEIGHT "could not parse block height"
#define E_INV "could not fetch header inv"
#define E_DUST "Invalid dustLimit parameter"
#define E_NODUST "Server does not allow dustLimits"
#define E_FTYPE "invalid filter type"
#define E_FILTER "could not get filter from db"

void http_answer_json(struct http_answer *a, unsigned status,
		      struct http_body *b)
{
	a->status = status;
	a->ctype = HTTP_CT_JSON;
	a->body = b;
}

void http_answer_error(struct http_answer *a, unsigned status,
		       const char *msg)
{
	http_answer_json(a, status, http_json_error(msg));
}

#define answer_error http_answer_error

/* dustLimit values get a cache entry only when they are common: any
 * value is a new key, so a client walking through values would evict
 * every useful answer.  0 (no limit) always; others once seen
 * DUST_ADMIT times and while among the DUST_TOP most seen.  A few slots
 * count the values seen; a new value takes the least seen slot and
 * starts from 0, so one-off values churn that slot among themselves and
 * never reach DUST_ADMIT, while a value wallets really use keeps its
 * count. */
#define DUST_ADMIT 4
#define DUST_TOP 3

static bool dust_cacheable(struct oracle_http *h, uint64_t dust)
{
	struct http_dust_slot *s = h->dust_slots, *hit = NULL, *min = &s[0];
	const size_t n = sizeof(h->dust_slots) / sizeof(h->dust_slots[0]);
	unsigned above = 0;
	bool ok;

	if (dust == 0)
		return true;
	pthread_mutex_lock(&h->dust_mu);
	for (size_t i = 0; i < n; i++) {
		if (s[i].count && s[i].dust == dust)
			hit = &s[i];
		if (s[i].count < min->count)
			min = &s[i];
	}
	if (!hit) {  /* replace the least seen; counts from 0 again */
		hit = min;
		hit->dust = dust;
		hit->count = 0;
	}
	hit->count++;
	for (size_t i = 0; i < n; i++)
		if (&s[i] != hit && s[i].count > hit->count)
			above++;
	ok = hit->count >= DUST_ADMIT && above < DUST_TOP;
	pthread_mutex_unlock(&h->dust_mu);
	if (!ok)
		atomic_fetch_add_explicit(&h->metrics.dust_uncached, 1,
					  memory_order_relaxed);
	return ok;
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
	bool changes, cacheable;

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
	cacheable = dust_cacheable(h, rt->dust);
	b = cacheable ? http_cache_get(h->cache, &k) : NULL;
	if (!b) {
		unsigned st = 500;

		b = render_block(h, r, rt, bhash, &st, &msg);
		if (!b) {
			answer_error(a, st, msg);
			goto out;
		}
		if (cacheable)
			http_cache_put(h->cache, &k, b);
	}
	http_answer_json(a, 200, b);
	a->cached = cacheable;
	a->ckey = k;
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
		http_answer_json(a, 200, http_json_info(oc->network, tip, oc));
	else
		http_answer_json(a, 200, http_json_block_height(tip));
}

/* /mempool/tweaks bodies are kept by the map's content: a keyed hash of
 * every entry, summed and xored (order-free), and the count.  Walking
 * the map for it is cheap next to rendering (hex, JSON) and gzipping the
 * body; a request for an unchanged map gets the same body and the same
 * gzip form.  A few slots (LRU), one per dustLimit. */
struct mp_fp_ctx {
	const uint64_t *key;
	uint64_t fp[3];
};

static int mp_fp_cb(void *ctx, const uint8_t txid[32],
		    const uint8_t tweak[33], uint64_t highest_value)
{
	struct mp_fp_ctx *c = ctx;
	uint8_t buf[32 + 33 + 8];
	uint64_t hv;

	memcpy(buf, txid, 32);
	memcpy(buf + 32, tweak, 33);
	sd_le64_put(buf + 65, highest_value);
	hv = sd_siphash24(c->key[0], c->key[1], buf, sizeof(buf));
	c->fp[0]++;
	c->fp[1] += hv;
	c->fp[2] ^= hv;
	return SD_OK;
}

#define N_MP_SLOTS (sizeof(((struct oracle_http *)0)->mp_slots) / \
		    sizeof(((struct oracle_http *)0)->mp_slots[0]))

static struct http_body *mp_cached(struct oracle_http *h,
				   const uint64_t fp[3], uint64_t dust)
{
	struct http_body *b = NULL;

	pthread_mutex_lock(&h->mp_mu);
	for (size_t i = 0; i < N_MP_SLOTS; i++) {
		struct http_mp_slot *s = &h->mp_slots[i];

		if (s->body && s->dust == dust && !memcmp(s->fp, fp, 24)) {
			s->used = ++h->mp_clock;
			b = http_body_ref(s->body);
			break;
		}
	}
	pthread_mutex_unlock(&h->mp_mu);
	return b;
}

static void mp_keep(struct oracle_http *h, const uint64_t fp[3],
		    uint64_t dust, struct http_body *b)
{
	struct http_mp_slot *v = &h->mp_slots[0];

	pthread_mutex_lock(&h->mp_mu);
	for (size_t i = 0; i < N_MP_SLOTS; i++) {
		struct http_mp_slot *s = &h->mp_slots[i];

		if (s->body && s->dust == dust) { /* older map, same limit */
			v = s;
			break;
		}
		if (s->used < v->used)
			v = s;
	}
	http_body_unref(v->body);
	memcpy(v->fp, fp, 24);
	v->dust = dust;
	v->used = ++h->mp_clock;
	v->body = http_body_ref(b);
	pthread_mutex_unlock(&h->mp_mu);
}

static void mempool_route(struct oracle_http *h,
			  const struct oracle_route *rt,
			  struct http_answer *a)
{
	struct mp_fp_ctx f = {.key = h->mp_key};
	struct http_body *b = NULL;
	struct cut_ctx c;
	bool cacheable;

	if (!rt->dust_ok) {
		answer_error(a, 400, E_DUST);
		return;
	}
	cacheable = dust_cacheable(h, rt->dust) &&
		    oracle_mempool_each(h->idx, mp_fp_cb, &f) == SD_OK;
	if (cacheable)
		b = mp_cached(h, f.fp, rt->dust);
	if (b) {
		atomic_fetch_add_explicit(&h->metrics.mempool_hits, 1,
					  memory_order_relaxed);
		http_answer_json(a, 200, b);
		return;
	}
	atomic_fetch_add_explicit(&h->metrics.mempool_misses, 1,
				  memory_order_relaxed);
	c.l = http_json_list_new();
	c.dust = rt->dust;
	if (oracle_mempool_each(h->idx, mempool_cb, &c) != SD_OK) {
		http_body_unref(http_json_list_finish(c.l));
		answer_error(a, 500, E_DB);
		return;
	}
	b = http_json_list_finish(c.l);
	/* the map may have changed between the two walks: keep the body
	 * only if it is still the one fingerprinted */
	if (cacheable) {
		struct mp_fp_ctx f2 = {.key = h->mp_key};

		if (oracle_mempool_each(h->idx, mp_fp_cb, &f2) == SD_OK &&
		    !memcmp(f.fp, f2.fp, sizeof(f.fp)))
			mp_keep(h, f.fp, rt->dust, b);
	}
	http_answer_json(a, 200, b);
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
			http_metrics_render(&h->metrics, h->cache, &body, &len);
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

void http_route_answer(struct oracle_http *h, const struct oracle_route *rt,
		       struct http_answer *a)
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
	case ORACLE_ROUTE_FORWARD_TX: /* http.c */
	case ORACLE_ROUTE_V2_TWEAKS:  /* http_v2.c */
	case ORACLE_ROUTE_V2_UTXOS:
	case ORACLE_ROUTE_V2_SPENT_OUTPUTS:
	case ORACLE_ROUTE_V2_COMPUTE_INDEX:
	case ORACLE_ROUTE_V2_FULL_BLOCK:
	case ORACLE_ROUTE_NONE:
	case ORACLE_ROUTE_COUNT:
		break;
	}
	not_found(a);
}

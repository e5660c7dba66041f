/* http_cache.c - shared response bodies (refcounted, with a lazily made
 * gzip form) and an LRU of rendered block answers.  Keys carry the block
 * hash (and the tip hash for answers that later blocks change), so a
 * reorg or a new block never serves a stale body: old keys just age out. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../../common/util.h"
#include "http_int.h"

struct http_body *http_body_new(char *data, size_t len)
{
	struct http_body *b = sd_xmalloc(sizeof(*b));

	atomic_init(&b->refs, 1);
	b->len = len;
	b->data = data;
	atomic_init(&b->gz, NULL);
	return b;
}

struct http_body *http_body_copy(const char *data, size_t len)
{
	char *d = sd_xmalloc(len ? len : 1);

	memcpy(d, data, len);
	return http_body_new(d, len);
}

struct http_body *http_body_ref(struct http_body *b)
{
	atomic_fetch_add(&b->refs, 1);
	return b;
}

void http_body_unref(struct http_body *b)
{
	struct http_body *gz;

	if (!b || atomic_fetch_sub(&b->refs, 1) != 1)
		return;
	gz = atomic_load(&b->gz);
	if (gz)
		http_body_unref(gz);
	free(b->data);
	free(b);
}

static struct http_body *gzip_of(const struct http_body *b)
{
	z_stream zs;
	uLong cap = compressBound((uLong)b->len) + 32;
	char *out = sd_xmalloc(cap);
	int rc;

	memset(&zs, 0, sizeof(zs));
	/* 15 + 16: zlib's gzip wrapper; Go's gzip.DefaultCompression = 6 */
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	zs.next_in = (Bytef *)b->data;
	zs.avail_in = (uInt)b->len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)cap;
	rc = deflate(&zs, Z_FINISH);
	if (rc != Z_STREAM_END)
		abort();
	deflateEnd(&zs);
	return http_body_new(out, zs.total_out);
}

struct http_body *http_body_gzip(struct http_body *b)
{
	struct http_body *gz = atomic_load(&b->gz), *expect = NULL;

	if (gz)
		return gz;
	gz = gzip_of(b);
	if (!atomic_compare_exchange_strong(&b->gz, &expect, gz)) {
		http_body_unref(gz);  /* another thread won */
		return expect;
	}
	return gz;
}

/* ---- LRU ---- */

#define N_BUCKETS 4096u

struct entry {
	struct http_cache_key key;
	uint64_t hash;
	struct http_body *body;
	size_t cost;                    /* bytes counted (body, gzip) */
	bool gz_charged;
	struct entry *bnext;            /* bucket chain */
	struct entry *prev, *next;      /* LRU list, head = newest */
};

struct http_cache {
	pthread_mutex_t mu;
	struct entry *buckets[N_BUCKETS];
	struct entry *head, *tail;
	size_t bytes, max_bytes, entries;
	uint64_t hits, misses;
};

uint64_t http_cache_key_hash(const struct http_cache_key *k)
{
	/* FNV-1a over the fields (not a security boundary: keys are
	 * compared in full). */
	uint64_t h = 1469598103934665603ull;
	uint8_t buf[1 + 1 + 4 + 8 + 32 + 32];
	size_t n = 0;

	buf[n++] = k->route;
	buf[n++] = k->filter;
	sd_le32_put(buf + n, k->height);
	n += 4;
	sd_le64_put(buf + n, k->dust);
	n += 8;
	memcpy(buf + n, k->block_hash, 32);
	n += 32;
	memcpy(buf + n, k->tip_hash, 32);
	n += 32;
	for (size_t i = 0; i < n; i++) {
		h ^= buf[i];
		h *= 1099511628211ull;
	}
	return h;
}

static bool key_eq(const struct http_cache_key *a,
		   const struct http_cache_key *b)
{
	return a->route == b->route && a->filter == b->filter &&
	       a->height == b->height && a->dust == b->dust &&
	       !memcmp(a->block_hash, b->block_hash, 32) &&
	       !memcmp(a->tip_hash, b->tip_hash, 32);
}

struct http_cache *http_cache_new(size_t max_bytes)
{
	struct http_cache *c = sd_xcalloc(1, sizeof(*c));

	pthread_mutex_init(&c->mu, NULL);
	c->max_bytes = max_bytes;
	return c;
}

static size_t entry_cost(const struct entry *e)
{
	return e->cost;
}

static void lru_unlink(struct http_cache *c, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct http_cache *c, struct entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static void evict(struct http_cache *c, struct entry *e)
{
	struct entry **pp = &c->buckets[e->hash % N_BUCKETS];

	while (*pp && *pp != e)
		pp = &(*pp)->bnext;
	if (*pp)
		*pp = e->bnext;
	lru_unlink(c, e);
	c->bytes -= entry_cost(e);
	c->entries--;
	http_body_unref(e->body);
	free(e);
}

void http_cache_free(struct http_cache *c)
{
	if (!c)
		return;
	while (c->tail)
		evict(c, c->tail);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

struct http_body *http_cache_get(struct http_cache *c,
				 const struct http_cache_key *k)
{
	uint64_t h = http_cache_key_hash(k);
	struct http_body *b = NULL;
	struct entry *e;

	pthread_mutex_lock(&c->mu);
	for (e = c->buckets[h % N_BUCKETS]; e; e = e->bnext)
		if (e->hash == h && key_eq(&e->key, k))
			break;
	if (e) {
		lru_unlink(c, e);
		lru_push(c, e);
		b = http_body_ref(e->body);
		c->hits++;
	} else {
		c->misses++;
	}
	pthread_mutex_unlock(&c->mu);
	return b;
}

void http_cache_put(struct http_cache *c, const struct http_cache_key *k,
		    struct http_body *b)
{
	uint64_t h = http_cache_key_hash(k);
	struct entry *e;

	if (sizeof(*e) + b->len > c->max_bytes / 4)
		return; /* one answer may not take over the cache */
	pthread_mutex_lock(&c->mu);
	for (e = c->buckets[h % N_BUCKETS]; e; e = e->bnext)
		if (e->hash == h && key_eq(&e->key, k))
			break;
	if (e) { /* raced with another renderer: keep the first */
		pthread_mutex_unlock(&c->mu);
		return;
	}
	e = sd_xcalloc(1, sizeof(*e));
	e->key = *k;
	e->hash = h;
	e->body = http_body_ref(b);
	e->cost = sizeof(*e) + b->len;
	if (atomic_load(&b->gz)) {
		e->cost += atomic_load(&b->gz)->len;
		e->gz_charged = true;
	}
	e->bnext = c->buckets[h % N_BUCKETS];
	c->buckets[h % N_BUCKETS] = e;
	lru_push(c, e);
	c->bytes += entry_cost(e);
	c->entries++;
	while (c->bytes > c->max_bytes && c->tail && c->tail != e)
		evict(c, c->tail);
	pthread_mutex_unlock(&c->mu);
}

void http_cache_charge_gzip(struct http_cache *c,
			    const struct http_cache_key *k)
{
	uint64_t h = http_cache_key_hash(k);
	struct http_body *gz;
	struct entry *e;

	pthread_mutex_lock(&c->mu);
	for (e = c->buckets[h % N_BUCKETS]; e; e = e->bnext)
		if (e->hash == h && key_eq(&e->key, k))
			break;
	if (e && !e->gz_charged && (gz = atomic_load(&e->body->gz))) {
		e->gz_charged = true;
		e->cost += gz->len;
		c->bytes += gz->len;
		while (c->bytes > c->max_bytes && c->tail && c->tail != e)
			evict(c, c->tail);
	}
	pthread_mutex_unlock(&c->mu);
}

void http_cache_stats(struct http_cache *c, uint64_t *hits, uint64_t *misses,
		      size_t *bytes, size_t *entries)
{
	pthread_mutex_lock(&c->mu);
	*hits = c->hits;
	*misses = c->misses;
	*bytes = c->bytes;
	*entries = c->entries;
	pthread_mutex_unlock(&c->mu);
}

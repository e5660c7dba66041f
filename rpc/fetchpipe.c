/* fetchpipe.c - the follower's fetch-ahead: worker threads fetch + parse
 * blocks by height in a bounded window while the follower hands earlier
 * blocks to its consumer.  Slots form a ring indexed by height % ahead; a
 * worker may claim height h only while h < next_take + ahead, so a slot is
 * never reused before the follower has taken its block, and only while the
 * fetched-but-not-taken blocks hold less than BUDGET_BYTES (a deep window
 * of small blocks lets the prepare work run far ahead of a slow consumer;
 * big blocks keep memory bounded).  The next block to take is always
 * claimable.
 */
#include "fetchpipe.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util.h"

#define BUDGET_BYTES ((size_t)32 << 20)   /* serialized block bytes */

enum slot_state { SLOT_EMPTY = 0, SLOT_FETCHING, SLOT_DONE };

struct slot {
	enum slot_state state;
	int32_t height;
	int rc;
	struct btc_block *b;
	void *prep;             /* prepare's result, freed by discard */
	void (*discard)(void *ctx, void *prepared);
	void *discard_ctx;
};

struct worker {
	struct rpc_fetchpipe *p;
	struct rpc_client *client;
	pthread_t th;
	bool started;
};

struct rpc_fetchpipe {
	pthread_mutex_t mu;
	pthread_cond_t cv_work; /* workers: a height can be claimed */
	pthread_cond_t cv_done; /* follower: a slot became DONE */
	bool quit, active;
	uint64_t gen;
	enum rpc_block_source source;
	int32_t first, last, next_take, next_claim;
	uint8_t (*hashes)[32];
	size_t n_hashes, cap_hashes;
	unsigned ahead;
	size_t buffered;        /* size_bytes of the DONE slots' blocks */
	struct slot *slots;
	unsigned n_workers;
	struct worker *workers;
	void *(*prepare)(void *ctx, const struct btc_block *b);
	void (*discard)(void *ctx, void *prepared);
	void *prepare_ctx;
};

static void drop_slots(struct rpc_fetchpipe *p)
{
	for (unsigned i = 0; i < p->ahead; i++) {
		struct slot *s = &p->slots[i];

		btc_block_free(s->b);
		if (s->prep)
			s->discard(s->discard_ctx, s->prep);
		*s = (struct slot){ .state = SLOT_EMPTY };
	}
	p->buffered = 0;
}

static bool claimable(const struct rpc_fetchpipe *p)
{
	return p->active && p->next_claim <= p->last &&
	       p->next_claim < p->next_take + (int32_t)p->ahead &&
	       p->next_claim < p->first + (int32_t)p->n_hashes &&
	       (p->next_claim == p->next_take ||
		p->buffered < BUDGET_BYTES);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct rpc_fetchpipe *p = w->p;

	pthread_mutex_lock(&p->mu);
	while (!p->quit) {
		struct btc_block *b = NULL;
		enum rpc_block_source src;
		uint8_t hash[32];
		uint64_t gen;
		int32_t h;
		struct slot *s;
		int rc;
		void *(*prepare)(void *ctx, const struct btc_block *b);
		void (*discard)(void *ctx, void *prepared);
		void *prepare_ctx, *prep = NULL;

		if (!claimable(p)) {
			pthread_cond_wait(&p->cv_work, &p->mu);
			continue;
		}
		h = p->next_claim++;
		memcpy(hash, p->hashes[h - p->first], 32);
		gen = p->gen;
		src = p->source;
		s = &p->slots[(uint32_t)h % p->ahead];
		s->state = SLOT_FETCHING;
		s->height = h;
		prepare = p->prepare;
		discard = p->discard;
		prepare_ctx = p->prepare_ctx;
		pthread_mutex_unlock(&p->mu);

		rc = rpc_fetch_block(w->client, src, hash, h, &b);
		if (rc == SD_OK && memcmp(b->hash, hash, 32) != 0)
			rc = SD_EPARSE; /* node sent another block */
		if (rc != SD_OK) {
			btc_block_free(b);
			b = NULL;
		} else if (prepare) {
			prep = prepare(prepare_ctx, b);
		}

		pthread_mutex_lock(&p->mu);
		if (gen != p->gen || p->quit) {
			btc_block_free(b);
			if (prep)
				discard(prepare_ctx, prep);
			continue;
		}
		s->state = SLOT_DONE;
		s->rc = rc;
		s->b = b;
		s->prep = prep;
		s->discard = discard;
		s->discard_ctx = prepare_ctx;
		if (b)
			p->buffered += b->size_bytes;
		pthread_cond_broadcast(&p->cv_done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

void rpc_fetchpipe_set_prepare(struct rpc_fetchpipe *p,
			       void *(*fn)(void *ctx,
					   const struct btc_block *b),
			       void (*discard)(void *ctx, void *prepared),
			       void *ctx)
{
	pthread_mutex_lock(&p->mu);
	p->prepare = fn;
	p->discard = discard;
	p->prepare_ctx = ctx;
	pthread_mutex_unlock(&p->mu);
}

int rpc_fetchpipe_new(const struct rpc_config *rpc, unsigned threads,
		      unsigned ahead, struct rpc_fetchpipe **out)
{
	struct rpc_fetchpipe *p = sd_xcalloc(1, sizeof(*p));
	pthread_condattr_t ca;
	int rc = SD_OK;

	*out = NULL;
	if (threads == 0)
		threads = 1;
	if (ahead < threads)
		ahead = threads;
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv_work, &ca);
	pthread_cond_init(&p->cv_done, &ca);
	pthread_condattr_destroy(&ca);
	p->ahead = ahead;
	p->slots = sd_xcalloc(ahead, sizeof(*p->slots));
	p->workers = sd_xcalloc(threads, sizeof(*p->workers));
	p->n_workers = threads;
	for (unsigned i = 0; i < threads && rc == SD_OK; i++) {
		struct worker *w = &p->workers[i];

		w->p = p;
		rc = rpc_client_new(rpc, &w->client);
		if (rc != SD_OK)
			break;
		if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
			rc = SD_EIO;
			break;
		}
		w->started = true;
	}
	if (rc != SD_OK) {
		rpc_fetchpipe_free(p);
		return rc;
	}
	*out = p;
	return SD_OK;
}

void rpc_fetchpipe_quit(struct rpc_fetchpipe *p)
{
	pthread_mutex_lock(&p->mu);
	p->quit = true;
	pthread_cond_broadcast(&p->cv_work);
	pthread_cond_broadcast(&p->cv_done);
	pthread_mutex_unlock(&p->mu);
}

void rpc_fetchpipe_free(struct rpc_fetchpipe *p)
{
	if (!p)
		return;
	rpc_fetchpipe_quit(p);
	for (unsigned i = 0; i < p->n_workers; i++) {
		if (p->workers[i].started)
			pthread_join(p->workers[i].th, NULL);
		rpc_client_free(p->workers[i].client);
	}
	drop_slots(p);
	free(p->slots);
	free(p->workers);
	free(p->hashes);
	pthread_cond_destroy(&p->cv_work);
	pthread_cond_destroy(&p->cv_done);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

void rpc_fetchpipe_reset(struct rpc_fetchpipe *p)
{
	pthread_mutex_lock(&p->mu);
	p->gen++;
	p->active = false;
	drop_slots(p);
	p->n_hashes = 0;
	pthread_mutex_unlock(&p->mu);
}

void rpc_fetchpipe_start(struct rpc_fetchpipe *p,
			 enum rpc_block_source source, int32_t first,
			 int32_t last)
{
	pthread_mutex_lock(&p->mu);
	p->gen++;
	drop_slots(p);
	p->active = true;
	p->source = source;
	p->first = first;
	p->last = last;
	p->next_take = p->next_claim = first;
	p->n_hashes = 0;
	pthread_mutex_unlock(&p->mu);
}

void rpc_fetchpipe_add_hashes(struct rpc_fetchpipe *p,
			      const uint8_t (*hashes)[32], size_t n)
{
	pthread_mutex_lock(&p->mu);
	if (p->n_hashes + n > p->cap_hashes) {
		size_t cap = p->cap_hashes ? p->cap_hashes : 1024;

		while (cap < p->n_hashes + n)
			cap *= 2;
		p->hashes = sd_xrealloc(p->hashes, cap * 32);
		p->cap_hashes = cap;
	}
	memcpy(p->hashes[p->n_hashes], hashes, n * 32);
	p->n_hashes += n;
	pthread_cond_broadcast(&p->cv_work);
	pthread_mutex_unlock(&p->mu);
}

int32_t rpc_fetchpipe_hash_end(struct rpc_fetchpipe *p)
{
	int32_t end;

	pthread_mutex_lock(&p->mu);
	end = p->first + (int32_t)p->n_hashes;
	pthread_mutex_unlock(&p->mu);
	return end;
}

int rpc_fetchpipe_take(struct rpc_fetchpipe *p, int32_t height,
		       struct btc_block **out, void **prepared)
{
	struct slot *s = &p->slots[(uint32_t)height % p->ahead];
	int rc;

	*out = NULL;
	*prepared = NULL;
	pthread_mutex_lock(&p->mu);
	if (!p->active || height != p->next_take) {
		pthread_mutex_unlock(&p->mu);
		return SD_ESTATE;
	}
	while (!p->quit && !(s->state == SLOT_DONE && s->height == height))
		pthread_cond_wait(&p->cv_done, &p->mu);
	if (p->quit) {
		pthread_mutex_unlock(&p->mu);
		return SD_ESTATE;
	}
	rc = s->rc;
	*out = s->b;
	*prepared = s->prep;
	if (s->b)
		p->buffered -= s->b->size_bytes;
	*s = (struct slot){ .state = SLOT_EMPTY };
	p->next_take = height + 1;
	if (rc != SD_OK)
		p->active = false; /* a failed pass stops claiming */
	pthread_cond_broadcast(&p->cv_work);
	pthread_mutex_unlock(&p->mu);
	return rc;
}

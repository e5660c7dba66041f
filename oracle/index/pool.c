/* pool.c - the tweak worker pool: a block's transactions are computed by
 * a fixed set of threads (created once) plus the calling thread, taking
 * chunks of transactions from an atomic counter.  The EC multiply per
 * transaction is the whole cost, so nothing else is shared.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../common/util.h"
#include "oracle.h"

#define CHUNK_TXS 8

struct pool_job {
	const struct btc_block *b;
	struct oracle_tx_info *out;
	const bool *known;          /* NULL, or true: out[i] already filled */
	atomic_size_t next;
	atomic_int err;
};

struct oracle_pool {
	unsigned n_workers;         /* threads besides the caller */
	pthread_t *th;
	pthread_mutex_t mu;
	pthread_cond_t work_cv;     /* a new generation or stop */
	pthread_cond_t done_cv;     /* pending reached 0 */
	pthread_mutex_t call_mu;    /* one block at a time */
	uint64_t gen;
	unsigned pending;
	bool stop;
	struct pool_job *job;
};

static void run_job(struct pool_job *j)
{
	size_t n = j->b->n_tx, i, end;

	for (;;) {
		i = atomic_fetch_add(&j->next, CHUNK_TXS);
		if (i >= n)
			return;
		end = i + CHUNK_TXS < n ? i + CHUNK_TXS : n;
		for (; i < end; i++) {
			int rc;

			if (j->known && j->known[i])
				continue;
			rc = oracle_tx_compute(&j->b->tx[i], &j->out[i]);
			if (rc != SD_OK)
				atomic_store(&j->err, rc);
		}
	}
}

static void *worker(void *arg)
{
	struct oracle_pool *p = arg;
	uint64_t seen = 0;
	struct pool_job *j;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && p->gen == seen)
			pthread_cond_wait(&p->work_cv, &p->mu);
		if (p->stop)
			break;
		seen = p->gen;
		j = p->job;
		pthread_mutex_unlock(&p->mu);
		run_job(j);
		pthread_mutex_lock(&p->mu);
		if (--p->pending == 0)
			pthread_cond_signal(&p->done_cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

struct oracle_pool *oracle_pool_new(unsigned threads)
{
	struct oracle_pool *p = sd_xcalloc(1, sizeof(*p));
	unsigned i;

	if (threads == 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);

		threads = c > 0 ? (unsigned)c : 1;
	}
	p->n_workers = threads - 1;
	p->th = sd_xcalloc(p->n_workers ? p->n_workers : 1, sizeof(*p->th));
	pthread_mutex_init(&p->mu, NULL);
	pthread_mutex_init(&p->call_mu, NULL);
	pthread_cond_init(&p->work_cv, NULL);
	pthread_cond_init(&p->done_cv, NULL);
	for (i = 0; i < p->n_workers; i++) {
		if (pthread_create(&p->th[i], NULL, worker, p) != 0) {
			p->n_workers = i; /* run with what we have */
			break;
		}
	}
	return p;
}

void oracle_pool_free(struct oracle_pool *p)
{
	unsigned i;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->work_cv);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->n_workers; i++)
		pthread_join(p->th[i], NULL);
	pthread_cond_destroy(&p->work_cv);
	pthread_cond_destroy(&p->done_cv);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->call_mu);
	free(p->th);
	free(p);
}

unsigned oracle_pool_threads(const struct oracle_pool *p)
{
	return p ? p->n_workers + 1 : 1;
}

int oracle_block_compute(struct oracle_pool *p, const struct btc_block *b,
			 struct oracle_tx_info *out)
{
	return oracle_block_compute_known(p, b, out, NULL, b->n_tx);
}

int oracle_block_compute_known(struct oracle_pool *p,
			       const struct btc_block *b,
			       struct oracle_tx_info *out, const bool *known,
			       size_t n_todo)
{
	struct pool_job j = { .b = b, .out = out, .known = known };

	atomic_init(&j.next, 0);
	atomic_init(&j.err, SD_OK);
	if (n_todo == 0)
		return SD_OK;
	if (!p || p->n_workers == 0 || n_todo <= CHUNK_TXS) {
		run_job(&j);
		return atomic_load(&j.err);
	}
	pthread_mutex_lock(&p->call_mu);
	pthread_mutex_lock(&p->mu);
	p->job = &j;
	p->pending = p->n_workers;
	p->gen++;
	pthread_cond_broadcast(&p->work_cv);
	pthread_mutex_unlock(&p->mu);
	run_job(&j);
	pthread_mutex_lock(&p->mu);
	while (p->pending > 0)
		pthread_cond_wait(&p->done_cv, &p->mu);
	p->job = NULL;
	pthread_mutex_unlock(&p->mu);
	pthread_mutex_unlock(&p->call_mu);
	return atomic_load(&j.err);
}

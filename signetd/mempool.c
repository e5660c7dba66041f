/* mempool.c - prevouts for ZMQ rawtx transactions, and mempool trimming,
 * on a thread of their own.
 *
 * The follower hands each rawtx to sd_mempool_tx(), which copies it into a
 * FIFO bounded in transactions and bytes (a full queue drops the new tx and
 * counts it); everything else happens on the mempool thread, so a costly
 * transaction can delay other mempool txs but never a block.
 *
 * A mempool transaction arrives without the outputs it spends, and BIP352
 * needs them.  Per transaction, with a cap on its size, inputs and outputs:
 *   1. getmempoolentry: ZMQ rawtx repeats the transactions of each new
 *      block; only what the node holds in its mempool now is indexed;
 *   2. the outputs of recent transactions (every rawtx seen, every parent
 *      fetched) are kept in a cache bounded in bytes: a child of a recent
 *      tx resolves those inputs without asking the node;
 *   3. getrawtransaction <txid> 2, if this node shows prevouts for mempool
 *      txs (probed once; Core and Knots up to v29 do not);
 *   4. one batched `gettxout <txid> <n> false` for the rest: the chain UTXO
 *      set ignoring the mempool (an output spent by this very transaction
 *      is "spent" in the mempool view);
 *   5. what is still missing spends unconfirmed parents: each parent is
 *      fetched once (getrawtransaction <parent> 0, raw bytes, parsed here)
 *      within a per-tx budget of parents and bytes, and cached.
 * A transaction whose prevouts cannot all be found is skipped (counted,
 * logged at debug): mempool tweaks are best effort, blocks are
 * authoritative.  The tweak itself is oracle_mempool_add(), the very
 * computation a block connect does.
 *
 * The index's mempool table is trimmed to getrawmempool after tip blocks
 * (sd_mempool_prune) and every prune_s seconds, and capped in entries: a
 * full table triggers an early refresh, then drops new txs (counted).
 */
#include "mempool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/log.h"
#include "../common/util.h"

#define RPC_TIMEOUT_MS 10000
#define PC_BUCKETS 16384 /* prevout cache hash buckets (power of two) */
#define MAP_FULL_PRUNE_MS 5000 /* at most one early refresh this often */

struct mp_item {
	struct mp_item *next;
	size_t len;
	uint8_t raw[];
};

/* Outputs of one transaction (prevout cache). */
struct pc_entry {
	struct pc_entry *hnext, *fnext; /* bucket chain, FIFO (oldest first) */
	uint8_t txid[32];
	size_t n_out, bytes;
	int64_t *values;
	size_t *spk_off; /* n_out + 1 offsets into spk */
	uint8_t *spk;
};

struct sd_mempool {
	struct rpc_client *rpc; /* mempool thread only */
	struct oracle_index *idx;
	struct sd_mempool_limits lim;

	pthread_t thread;
	bool running;
	pthread_mutex_t mu; /* the queue, flags and counters below */
	pthread_cond_t cv;
	struct mp_item *head, *tail;
	size_t q_n, q_bytes;
	bool stop, prune_req;
	struct sd_mempool_stats st; /* counters (generation: see below) */
	uint64_t drop_logged_ms;

	atomic_uint_least64_t generation;

	/* mempool thread only */
	struct pc_entry *pc[PC_BUCKETS];
	struct pc_entry *pc_old, *pc_new;
	size_t pc_bytes;
	int v2_prevouts; /* -1 unknown, 0 no, 1 yes */
	uint64_t last_prune_ms;
};

static void set_defaults(struct sd_mempool_limits *l)
{
	if (!l->queue_txs)
		l->queue_txs = 10000;
	if (!l->queue_bytes)
		l->queue_bytes = (size_t)32 << 20;
	if (!l->max_tx_bytes)
		l->max_tx_bytes = 400000;
	if (!l->max_inputs)
		l->max_inputs = 2500;
	if (!l->max_outputs)
		l->max_outputs = 10000;
	if (!l->max_parents)
		l->max_parents = 64;
	if (!l->max_fetch_bytes)
		l->max_fetch_bytes = (size_t)4 << 20;
	if (!l->map_entries)
		l->map_entries = 100000;
	if (!l->cache_bytes)
		l->cache_bytes = (size_t)16 << 20;
	if (!l->prune_s)
		l->prune_s = 30;
}

#define COUNT(m, field, n)                                                    \
	do {                                                                  \
		pthread_mutex_lock(&(m)->mu);                                 \
		(m)->st.field += (n);                                         \
		pthread_mutex_unlock(&(m)->mu);                               \
	} while (0)

static void bump(struct sd_mempool *m)
{
	atomic_fetch_add(&m->generation, 1);
}

/* ---- prevout cache ------------------------------------------------------ */

static size_t pc_slot(const uint8_t txid[32])
{
	return (size_t)sd_le64_get(txid) & (PC_BUCKETS - 1);
}

static struct pc_entry *pc_find(struct sd_mempool *m, const uint8_t txid[32])
{
	struct pc_entry *e = m->pc[pc_slot(txid)];

	while (e && memcmp(e->txid, txid, 32) != 0)
		e = e->hnext;
	return e;
}

static void pc_evict_oldest(struct sd_mempool *m)
{
	struct pc_entry *e = m->pc_old, **pp;

	m->pc_old = e->fnext;
	if (!m->pc_old)
		m->pc_new = NULL;
	for (pp = &m->pc[pc_slot(e->txid)]; *pp != e; pp = &(*pp)->hnext)
		;
	*pp = e->hnext;
	m->pc_bytes -= e->bytes;
	free(e);
}

static void pc_put(struct sd_mempool *m, const struct btc_tx *tx)
{
	size_t spk_total = 0, bytes, n = tx->n_out;
	struct pc_entry *e;
	uint8_t *p;

	if (n == 0 || pc_find(m, tx->txid))
		return;
	for (size_t i = 0; i < n; i++)
		spk_total += tx->out[i].spk.len;
	bytes = sizeof(*e) + n * (sizeof(int64_t) + sizeof(size_t)) +
		sizeof(size_t) + spk_total;
	if (bytes > m->lim.cache_bytes / 4)
		return; /* one tx may not flush the cache */
	while (m->pc_old && m->pc_bytes + bytes > m->lim.cache_bytes)
		pc_evict_oldest(m);
	e = sd_xmalloc(bytes);
	memset(e, 0, sizeof(*e));
	memcpy(e->txid, tx->txid, 32);
	e->n_out = n;
	e->bytes = bytes;
	p = (uint8_t *)(e + 1);
	e->values = (int64_t *)(void *)p;
	p += n * sizeof(int64_t);
	e->spk_off = (size_t *)(void *)p;
	p += (n + 1) * sizeof(size_t);
	e->spk = p;
	e->spk_off[0] = 0;
	for (size_t i = 0; i < n; i++) {
		e->values[i] = tx->out[i].value;
		if (tx->out[i].spk.len)
			memcpy(e->spk + e->spk_off[i], tx->out[i].spk.data,
			       tx->out[i].spk.len);
		e->spk_off[i + 1] = e->spk_off[i] + tx->out[i].spk.len;
	}
	e->hnext = m->pc[pc_slot(e->txid)];
	m->pc[pc_slot(e->txid)] = e;
	if (m->pc_new)
		m->pc_new->fnext = e;
	else
		m->pc_old = e;
	m->pc_new = e;
	m->pc_bytes += bytes;
}

/* Output (txid, vout) from the cache into *o (spk copied). */
static bool pc_get(struct sd_mempool *m, const uint8_t txid[32], uint32_t vout,
		   struct rpc_txout_info *o)
{
	struct pc_entry *e = pc_find(m, txid);
	size_t len;

	if (!e || vout >= e->n_out)
		return false;
	len = e->spk_off[vout + 1] - e->spk_off[vout];
	o->spk = sd_xmalloc(len + 1);
	if (len)
		memcpy(o->spk, e->spk + e->spk_off[vout], len);
	o->spk_len = len;
	o->value = e->values[vout];
	o->found = true;
	return true;
}

static void pc_free(struct sd_mempool *m)
{
	while (m->pc_old)
		pc_evict_oldest(m);
}

/* ---- the work ----------------------------------------------------------- */

static void prune_now(struct sd_mempool *m)
{
	uint8_t (*keep)[32] = NULL;
	struct oracle_stats before, after;
	size_t n = 0;
	int rc;

	m->last_prune_ms = sd_mono_ms();
	rc = rpc_get_raw_mempool(m->rpc, &keep, &n);
	if (rc != SD_OK) {
		char q[40];

		sd_log_debug("daemon", "mempool_prune_failed", "err=%s",
			     sd_log_q(q, sizeof(q), sd_strerror(rc)));
		return; /* node away: keep what we have */
	}
	oracle_index_stats(m->idx, &before);
	oracle_mempool_retain(m->idx, (const uint8_t(*)[32])keep, n);
	oracle_index_stats(m->idx, &after);
	free(keep);
	if (after.mempool_tweaks != before.mempool_tweaks)
		bump(m);
	COUNT(m, prunes, 1);
}

/* Unconfirmed parents of the inputs still missing: fetch each once (within
 * the per-tx budget), cache, resolve.  false when the budget ran out. */
static bool fetch_parents(struct sd_mempool *m, const struct btc_tx *tx,
			  struct rpc_txout_info *po)
{
	size_t parents = 0, bytes = 0;

	for (size_t i = 0; i < tx->n_in; i++) {
		const struct btc_txin *in = &tx->in[i];
		struct btc_block *pb = NULL;
		uint8_t *raw = NULL;
		size_t len = 0;
		int rc;

		if (po[i].found || pc_get(m, in->prev_txid, in->prev_vout,
					  &po[i]))
			continue;
		if (parents >= m->lim.max_parents ||
		    bytes >= m->lim.max_fetch_bytes)
			return false;
		parents++;
		rc = rpc_get_raw_tx(m->rpc, in->prev_txid,
				    m->lim.max_fetch_bytes - bytes, &raw,
				    &len);
		if (rc == SD_EINVAL)
			return false; /* over the byte budget */
		if (rc != SD_OK)
			continue; /* stays missing */
		bytes += len;
		pthread_mutex_lock(&m->mu);
		m->st.parent_fetches++;
		m->st.parent_bytes += len;
		pthread_mutex_unlock(&m->mu);
		if (btc_tx_parse(raw, len, &pb) == SD_OK &&
		    memcmp(pb->tx[0].txid, in->prev_txid, 32) == 0) {
			pc_put(m, &pb->tx[0]);
			/* (a parent too big for the cache: this input only) */
			if (!pc_get(m, in->prev_txid, in->prev_vout, &po[i]) &&
			    in->prev_vout < pb->tx[0].n_out) {
				const struct btc_txout *o =
					&pb->tx[0].out[in->prev_vout];

				po[i].spk = sd_xmalloc(o->spk.len + 1);
				if (o->spk.len)
					memcpy(po[i].spk, o->spk.data,
					       o->spk.len);
				po[i].spk_len = o->spk.len;
				po[i].value = o->value;
				po[i].found = true;
			}
		}
		btc_block_free(pb);
		free(raw);
	}
	return true;
}

/* Fill po[0..n_in-1].  Returns SD_OK (all found), SD_ENOTFOUND, SD_ENOSPC
 * (budget) or a node error. */
static int resolve_prevouts(struct sd_mempool *m, const struct btc_tx *tx,
			    struct rpc_txout_info *po)
{
	uint8_t (*ids)[32];
	uint32_t *vouts;
	size_t *at, n = 0, hits = 0;
	struct rpc_txout_info *got;
	int rc;

	for (size_t i = 0; i < tx->n_in; i++)
		if (pc_get(m, tx->in[i].prev_txid, tx->in[i].prev_vout,
			   &po[i]))
			hits++;
	if (hits)
		COUNT(m, cache_hits, hits);
	if (hits == tx->n_in)
		return SD_OK;

	if (m->v2_prevouts != 0) {
		got = sd_xcalloc(tx->n_in, sizeof(*got));
		rc = rpc_get_tx_prevouts(m->rpc, tx->txid, tx->n_in, got);
		if (rc == SD_OK) {
			if (m->v2_prevouts < 0)
				sd_log_info("daemon", "mempool_prevouts",
					    "mode=getrawtransaction_2");
			m->v2_prevouts = 1;
			rpc_txout_info_clear(po, tx->n_in);
			memcpy(po, got, tx->n_in * sizeof(*got));
			free(got);
			return SD_OK;
		}
		free(got);
		if (rc == SD_ENOTFOUND && m->v2_prevouts < 0) {
			/* this node shows no prevouts for mempool txs */
			sd_log_info("daemon", "mempool_prevouts",
				    "mode=gettxout_batch");
			m->v2_prevouts = 0;
		}
	}

	ids = sd_xcalloc(tx->n_in, 32);
	vouts = sd_xcalloc(tx->n_in, sizeof(*vouts));
	at = sd_xcalloc(tx->n_in, sizeof(*at));
	for (size_t i = 0; i < tx->n_in; i++) {
		if (po[i].found)
			continue;
		memcpy(ids[n], tx->in[i].prev_txid, 32);
		vouts[n] = tx->in[i].prev_vout;
		at[n++] = i;
	}
	got = sd_xcalloc(n, sizeof(*got));
	rc = rpc_get_txouts(m->rpc, (const uint8_t(*)[32])ids, vouts, n, got);
	if (rc == SD_OK) {
		COUNT(m, txout_lookups, n);
		for (size_t k = 0; k < n; k++)
			po[at[k]] = got[k]; /* moves spk */
	}
	free(got);
	free(ids);
	free(vouts);
	free(at);
	if (rc != SD_OK)
		return rc;
	if (!fetch_parents(m, tx, po))
		return SD_ENOSPC;
	for (size_t i = 0; i < tx->n_in; i++)
		if (!po[i].found)
			return SD_ENOTFOUND;
	return SD_OK;
}

static bool map_full(struct sd_mempool *m)
{
	struct oracle_stats os;

	oracle_index_stats(m->idx, &os);
	if (os.mempool_tweaks < m->lim.map_entries)
		return false;
	/* stale entries first: refresh now (not too often) */
	if (sd_mono_ms() - m->last_prune_ms >= MAP_FULL_PRUNE_MS) {
		prune_now(m);
		oracle_index_stats(m->idx, &os);
	}
	return os.mempool_tweaks >= m->lim.map_entries;
}

static void process_tx(struct sd_mempool *m, const uint8_t *raw, size_t len)
{
	struct btc_block *blk = NULL;
	struct rpc_txout_info *po = NULL;
	struct btc_tx *tx;
	bool any_taproot = false, in_pool = false;
	char txid[65], q[40];
	int rc;

	if (btc_tx_parse(raw, len, &blk) != SD_OK)
		return;
	tx = &blk->tx[0];
	COUNT(m, processed, 1);
	if (tx->n_in > m->lim.max_inputs || tx->n_out > m->lim.max_outputs) {
		COUNT(m, drop_too_big, 1);
		goto out;
	}
	/* its outputs, for its children (whether it has a tweak or not) */
	pc_put(m, tx);
	for (size_t i = 0; i < tx->n_out && !any_taproot; i++)
		any_taproot = oracle_spk_is_p2tr(&tx->out[i].spk);
	if (!any_taproot || tx->n_in == 0)
		goto out;
	sd_hex_encode_rev(txid, tx->txid, 32);
	if (map_full(m)) {
		COUNT(m, drop_map_full, 1);
		sd_log_debug("daemon", "mempool_tx_dropped",
			     "txid=%s reason=map_full", txid);
		goto out;
	}
	rc = rpc_mempool_has(m->rpc, tx->txid, &in_pool);
	if (rc != SD_OK || !in_pool) {
		if (rc == SD_OK)
			COUNT(m, skip_not_in_mempool, 1);
		else
			COUNT(m, skip_error, 1);
		goto out;
	}
	po = sd_xcalloc(tx->n_in, sizeof(*po));
	rc = resolve_prevouts(m, tx, po);
	if (rc == SD_ENOSPC) {
		COUNT(m, drop_budget, 1);
		sd_log_debug("daemon", "mempool_tx_dropped",
			     "txid=%s reason=fetch_budget", txid);
		goto out;
	}
	if (rc != SD_OK) {
		if (rc == SD_ENOTFOUND)
			COUNT(m, skip_no_prevout, 1);
		else
			COUNT(m, skip_error, 1);
		sd_log_debug("daemon", "mempool_tx_skipped", "txid=%s err=%s",
			     txid, rc == SD_ENOTFOUND ? "prevout_not_found" :
			     sd_log_q(q, sizeof(q), sd_strerror(rc)));
		goto out;
	}
	for (size_t i = 0; i < tx->n_in; i++) {
		struct btc_txin *in = &tx->in[i];

		in->has_prevout = true;
		in->prevout_value = po[i].value;
		in->prevout_spk.data = po[i].spk;
		in->prevout_spk.len = po[i].spk_len;
	}
	rc = oracle_mempool_add(m->idx, tx);
	if (rc == SD_OK) {
		bump(m);
		COUNT(m, added, 1);
	} else {
		COUNT(m, skip_error, 1);
		sd_log_debug("daemon", "mempool_tx_skipped",
			     "txid=%s err=%s", txid,
			     sd_log_q(q, sizeof(q), sd_strerror(rc)));
	}
out:
	if (po) {
		rpc_txout_info_clear(po, tx->n_in);
		free(po);
	}
	btc_block_free(blk);
}

/* ---- thread and queue --------------------------------------------------- */

static void deadline_in(struct timespec *ts, uint64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *mempool_main(void *arg)
{
	struct sd_mempool *m = arg;
	uint64_t period = (uint64_t)m->lim.prune_s * 1000;

	m->last_prune_ms = sd_mono_ms();
	pthread_mutex_lock(&m->mu);
	while (!m->stop) {
		uint64_t now = sd_mono_ms();
		struct mp_item *it;
		struct timespec ts;

		if (m->prune_req || now - m->last_prune_ms >= period) {
			m->prune_req = false;
			pthread_mutex_unlock(&m->mu);
			prune_now(m);
			pthread_mutex_lock(&m->mu);
			continue;
		}
		it = m->head;
		if (it) {
			m->head = it->next;
			if (!m->head)
				m->tail = NULL;
			m->q_n--;
			m->q_bytes -= it->len;
			pthread_mutex_unlock(&m->mu);
			process_tx(m, it->raw, it->len);
			free(it);
			pthread_mutex_lock(&m->mu);
			m->st.cache_bytes = m->pc_bytes;
			continue;
		}
		deadline_in(&ts, m->last_prune_ms + period - now);
		/* clockwait, not timedwait on the monotonic condvar: the same
		 * wait, but libfaketime (the clock-ahead test pass) wraps
		 * pthread_cond_timedwait and returns at once for a monotonic
		 * condvar: this thread then spun a core while idle */
		pthread_cond_clockwait(&m->cv, &m->mu, CLOCK_MONOTONIC, &ts);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

int sd_mempool_new(const struct rpc_config *rpc, struct oracle_index *idx,
		   const struct sd_mempool_limits *lim,
		   struct sd_mempool **out)
{
	struct sd_mempool *m = sd_xcalloc(1, sizeof(*m));
	struct rpc_config rc_cfg = *rpc;
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (rc_cfg.timeout_ms <= 0 || rc_cfg.timeout_ms > RPC_TIMEOUT_MS)
		rc_cfg.timeout_ms = RPC_TIMEOUT_MS;
	rc = rpc_client_new(&rc_cfg, &m->rpc);
	if (rc != SD_OK) {
		free(m);
		return rc;
	}
	m->idx = idx;
	if (lim)
		m->lim = *lim;
	set_defaults(&m->lim);
	m->st.map_limit = m->lim.map_entries;
	m->v2_prevouts = -1;
	atomic_init(&m->generation, 1);
	pthread_mutex_init(&m->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&m->thread, NULL, mempool_main, m) != 0) {
		sd_mempool_free(m);
		return SD_EIO;
	}
	m->running = true;
	*out = m;
	return SD_OK;
}

void sd_mempool_free(struct sd_mempool *m)
{
	if (!m)
		return;
	if (m->running) {
		pthread_mutex_lock(&m->mu);
		m->stop = true;
		pthread_cond_signal(&m->cv);
		pthread_mutex_unlock(&m->mu);
		pthread_join(m->thread, NULL);
	}
	while (m->head) {
		struct mp_item *it = m->head;

		m->head = it->next;
		free(it);
	}
	pc_free(m);
	rpc_client_free(m->rpc);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	free(m);
}

void sd_mempool_tx(struct sd_mempool *m, const uint8_t *raw, size_t raw_len)
{
	struct mp_item *it;
	const char *why = NULL;
	uint64_t now, drops = 0;

	if (raw_len == 0)
		return;
	if (raw_len > m->lim.max_tx_bytes) {
		COUNT(m, drop_too_big, 1);
		return;
	}
	it = sd_xmalloc(sizeof(*it) + raw_len);
	it->next = NULL;
	it->len = raw_len;
	memcpy(it->raw, raw, raw_len);
	pthread_mutex_lock(&m->mu);
	if (m->q_n >= m->lim.queue_txs ||
	    m->q_bytes + raw_len > m->lim.queue_bytes) {
		m->st.drop_queue_full++;
		now = sd_mono_ms();
		if (!m->drop_logged_ms || now - m->drop_logged_ms >= 60000) {
			m->drop_logged_ms = now;
			why = "queue_full";
			drops = m->st.drop_queue_full;
		}
		pthread_mutex_unlock(&m->mu);
		free(it);
		if (why) /* at most once a minute */
			sd_log_warn("daemon", "mempool_shedding",
				    "reason=%s dropped_total=%lu", why,
				    (unsigned long)drops);
		return;
	}
	if (m->tail)
		m->tail->next = it;
	else
		m->head = it;
	m->tail = it;
	m->q_n++;
	m->q_bytes += raw_len;
	m->st.queued++;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

void sd_mempool_prune(struct sd_mempool *m)
{
	pthread_mutex_lock(&m->mu);
	m->prune_req = true;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

void sd_mempool_note_change(struct sd_mempool *m)
{
	if (m)
		bump(m);
}

uint64_t sd_mempool_generation(struct sd_mempool *m)
{
	return m ? atomic_load(&m->generation) : 0;
}

void sd_mempool_stats(struct sd_mempool *m, struct sd_mempool_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	*out = m->st;
	out->queue_txs = m->q_n;
	out->queue_bytes = m->q_bytes;
	pthread_mutex_unlock(&m->mu);
	out->generation = atomic_load(&m->generation);
}

/* http_forward.c - POST /forward-tx: the body (upstream's form or JSON
 * "data"), a per client address token bucket, and the worker pool that
 * runs the node calls.  A relay never runs on a thread that serves reads:
 * the connection is suspended (MHD_suspend_connection), a worker calls the
 * daemon's hook (one node connection per worker, a short timeout) and
 * resumes it; the answer is then sent from the connection's own thread.
 * In flight: at most forward_workers calls plus forward_queue waiting,
 * beyond that 503 + Retry-After.  Log lines a client can trigger are rate
 * limited (one a second, with the count of the suppressed ones).
 */
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/random.h>

#include "../../common/log.h"
#include "../../common/util.h"
#include "../../common/siphash.h"
#include "http_int.h"

/* ---- the body ---- */

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

unsigned http_forward_parse(const char *body, size_t len, const char *ctype,
			    char **hex, const char **msg)
{
	char *data = NULL;
	size_t ctl = 0;

	*hex = NULL;
	*msg = NULL;
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
		return 400;
	}
	if (!is_tx_hex(data)) {
		free(data);
		*msg = "invalid transaction hex";
		return 400;
	}
	*hex = data;
	return 0;
}

/* ---- rate-limited log lines ---- */

bool http_logrl_take(struct http_logrl *l, struct http_metrics *m,
		     uint64_t *suppressed)
{
	uint64_t now = sd_mono_ns();

	pthread_mutex_lock(&l->mu);
	if (l->last_ns && now - l->last_ns < 1000000000ull) {
		l->suppressed++;
		pthread_mutex_unlock(&l->mu);
		atomic_fetch_add_explicit(&m->log_suppressed, 1,
					  memory_order_relaxed);
		return false;
	}
	*suppressed = l->suppressed;
	l->suppressed = 0;
	l->last_ns = now;
	pthread_mutex_unlock(&l->mu);
	return true;
}

/* ---- the pool ---- */

#define RL_SLOTS 4096u   /* addresses tracked (power of 2) */
#define RL_PROBE 8u      /* slots looked at per address */

struct rl_slot {
	uint8_t addr[16];
	bool used;
	double tokens;
	uint64_t last_ns;
};

struct worker_arg {
	struct http_fwd *f;
	unsigned i;
};

struct http_fwd {
	struct oracle_http *h;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct http_fwd_job *head, *tail;
	unsigned queued, running, n_threads;
	bool stopping;
	pthread_t th[ORACLE_HTTP_MAX_FORWARD_WORKERS];
	struct worker_arg args[ORACLE_HTTP_MAX_FORWARD_WORKERS];

	pthread_mutex_t rl_mu;
	uint64_t rl_key[2];
	double per_ns, burst;
	struct rl_slot *rl;
};

static void gauge_set(atomic_uint_fast64_t *g, unsigned v)
{
	atomic_store_explicit(g, v, memory_order_relaxed);
}

static void *worker_main(void *p)
{
	struct worker_arg *wa = p;
	struct http_fwd *f = wa->f;
	struct oracle_http *h = f->h;

	for (;;) {
		struct http_fwd_job *job;
		bool stopping;
		uint64_t t0;

		pthread_mutex_lock(&f->mu);
		while (!f->head && !f->stopping)
			pthread_cond_wait(&f->cv, &f->mu);
		job = f->head;
		if (!job) {
			pthread_mutex_unlock(&f->mu);
			break;
		}
		f->head = job->next;
		if (!f->head)
			f->tail = NULL;
		f->queued--;
		f->running++;
		stopping = f->stopping;
		gauge_set(&h->metrics.fwd_queued, f->queued);
		gauge_set(&h->metrics.fwd_running, f->running);
		pthread_mutex_unlock(&f->mu);

		t0 = sd_mono_ns();
		if (stopping) {
			job->rc = SD_ESTATE;
			snprintf(job->err, sizeof(job->err), "shutting down");
		} else {
			job->rc = h->hooks.forward_tx(
				h->hooks.ctx, wa->i,
				(long)h->cfg.forward_timeout_ms, job->hex,
				job->txid, job->err);
		}
		atomic_fetch_add_explicit(&h->metrics.fwd_node_ns,
					  sd_mono_ns() - t0,
					  memory_order_relaxed);
		pthread_mutex_lock(&f->mu);
		f->running--;
		gauge_set(&h->metrics.fwd_running, f->running);
		pthread_mutex_unlock(&f->mu);
		/* the job belongs to the connection again from here on */
		atomic_store_explicit(&job->done, true, memory_order_release);
		MHD_resume_connection(job->con);
	}
	if (h->hooks.forward_tx_release)
		h->hooks.forward_tx_release(h->hooks.ctx, wa->i);
	return NULL;
}

struct http_fwd *http_fwd_new(struct oracle_http *h)
{
	struct http_fwd *f = sd_xcalloc(1, sizeof(*f));
	char q[64];

	f->h = h;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	pthread_mutex_init(&f->rl_mu, NULL);
	if (getrandom(f->rl_key, sizeof(f->rl_key), 0) !=
	    (ssize_t)sizeof(f->rl_key)) {
		f->rl_key[0] = sd_mono_ns();
		f->rl_key[1] = (uint64_t)(uintptr_t)f;
	}
	f->per_ns = (double)h->cfg.forward_rate_per_min / 60e9;
	f->burst = h->cfg.forward_burst;
	f->rl = sd_xcalloc(RL_SLOTS, sizeof(*f->rl));
	if (!h->hooks.forward_tx)
		return f;
	for (unsigned i = 0; i < h->cfg.forward_workers; i++) {
		f->args[i].f = f;
		f->args[i].i = i;
		if (pthread_create(&f->th[i], NULL, worker_main,
				   &f->args[i]) != 0)
			break;
		f->n_threads++;
	}
	if (f->n_threads < h->cfg.forward_workers) {
		snprintf(q, sizeof(q), "%u", f->n_threads);
		sd_log_warn("http", "forward_workers_short", "wanted=%u got=%s",
			    h->cfg.forward_workers, q);
	}
	return f;
}

void http_fwd_stop(struct http_fwd *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	f->stopping = true;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	for (unsigned i = 0; i < f->n_threads; i++)
		pthread_join(f->th[i], NULL);
	f->n_threads = 0;
}

void http_fwd_free(struct http_fwd *f)
{
	if (!f)
		return;
	http_fwd_stop(f);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->rl_mu);
	free(f->rl);
	free(f);
}

bool http_fwd_submit(struct http_fwd *f, struct http_fwd_job *job)
{
	pthread_mutex_lock(&f->mu);
	if (f->stopping || !f->n_threads ||
	    f->queued + f->running >= f->n_threads + f->h->cfg.forward_queue) {
		pthread_mutex_unlock(&f->mu);
		return false;
	}
	/* suspended before any worker can see (and resume) it */
	MHD_suspend_connection(job->con);
	job->next = NULL;
	if (f->tail)
		f->tail->next = job;
	else
		f->head = job;
	f->tail = job;
	f->queued++;
	gauge_set(&f->h->metrics.fwd_queued, f->queued);
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	return true;
}

void http_fwd_job_free(struct http_fwd_job *job)
{
	if (!job)
		return;
	free(job->hex);
	free(job);
}

/* ---- per address token bucket ---- */

/* IPv4 as ::ffff:a.b.c.d; IPv6 by its /64 (what one host usually gets). */
static void addr_key(const void *addr, size_t alen, uint8_t key[16])
{
	const struct sockaddr *sa = addr;

	memset(key, 0, 16);
	if (sa && alen >= sizeof(struct sockaddr_in) &&
	    sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = addr;

		key[10] = key[11] = 0xff;
		memcpy(key + 12, &in->sin_addr, 4);
	} else if (sa && alen >= sizeof(struct sockaddr_in6) &&
		   sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = addr;
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0,
						   0, 0, 0xff, 0xff};

		memcpy(key, &in6->sin6_addr, 16);
		if (memcmp(key, mapped, 12) != 0)
			memset(key + 8, 0, 8);
	}
}

bool http_fwd_rate_take(struct http_fwd *f, const void *addr, size_t alen,
			unsigned *retry_s)
{
	uint8_t key[16];
	uint64_t now = sd_mono_ns(), hv;
	struct rl_slot *s = NULL, *victim = NULL;
	bool ok;

	*retry_s = 1;
	if (f->per_ns <= 0 || f->burst < 1)
		return true;
	addr_key(addr, alen, key);
	hv = sd_siphash24(f->rl_key[0], f->rl_key[1], key, 16);
	pthread_mutex_lock(&f->rl_mu);
	for (unsigned i = 0; i < RL_PROBE; i++) {
		struct rl_slot *c = &f->rl[(hv + i) & (RL_SLOTS - 1)];

		if (c->used && !memcmp(c->addr, key, 16)) {
			s = c;
			break;
		}
		/* an empty slot, else the one idle longest */
		if (!victim || (victim->used &&
				(!c->used || c->last_ns < victim->last_ns)))
			victim = c;
	}
	if (!s) {
		s = victim;
		memcpy(s->addr, key, 16);
		s->used = true;
		s->tokens = f->burst;
		s->last_ns = now;
	}
	s->tokens += (double)(now - s->last_ns) * f->per_ns;
	if (s->tokens > f->burst)
		s->tokens = f->burst;
	s->last_ns = now;
	ok = s->tokens >= 1.0;
	if (ok) {
		s->tokens -= 1.0;
	} else {
		double wait_s = (1.0 - s->tokens) / (f->per_ns * 1e9);

		*retry_s = wait_s < 1.0 ? 1u : (unsigned)wait_s +
				(wait_s > (double)(unsigned)wait_s);
	}
	pthread_mutex_unlock(&f->rl_mu);
	return ok;
}

/* ---- answers ---- */

void http_fwd_answer(struct oracle_http *h, struct http_fwd_job *job,
		     struct http_answer *a)
{
	enum http_fwd_result res;
	char q[300];
	uint64_t sup;

	job->err[sizeof(job->err) - 1] = '\0';
	switch (job->rc) {
	case SD_OK:
		job->txid[64] = '\0';
		a->status = 200;
		a->ctype = HTTP_CT_JSON;
		a->body = http_json_txid(job->txid);
		atomic_fetch_add_explicit(&h->metrics.fwd[HTTP_FWD_RELAYED], 1,
					  memory_order_relaxed);
		if (http_logrl_take(&h->log_relayed, &h->metrics, &sup))
			sd_log_info("http", "forward_tx", "txid=%s "
				    "suppressed=%llu",
				    sd_log_q(q, sizeof(q), job->txid),
				    (unsigned long long)sup);
		return;
	case SD_ERPC:
		res = HTTP_FWD_REFUSED;
		http_answer_error(a, 400, *job->err ? job->err
						    : sd_strerror(job->rc));
		break;
	case SD_ETIMEOUT:
		res = HTTP_FWD_TIMEOUT;
		http_answer_error(a, 504, "node timeout");
		break;
	case SD_ESTATE:
		res = HTTP_FWD_BUSY;
		http_answer_error(a, 503, "shutting down");
		break;
	default:
		res = HTTP_FWD_NODE_ERROR;
		http_answer_error(a, 502, *job->err ? job->err
						    : "node unavailable");
		break;
	}
	atomic_fetch_add_explicit(&h->metrics.fwd[res], 1,
				  memory_order_relaxed);
	http_fwd_log_refused(h, a->status, sd_strerror(job->rc), job->err);
}

void http_fwd_log_refused(struct oracle_http *h, unsigned status,
			  const char *why, const char *err)
{
	char q[128], qw[40];
	uint64_t sup;

	if (!http_logrl_take(&h->log_refused, &h->metrics, &sup))
		return;
	sd_log_info("http", "forward_tx_refused", "status=%u rc=%s err=%s "
		    "suppressed=%llu", status, sd_log_q(qw, sizeof(qw), why),
		    sd_log_q(q, sizeof(q), err ? err : ""),
		    (unsigned long long)sup);
}

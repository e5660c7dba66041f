/* http.c - the blindbit-oracle v1 compatible HTTP server on libmicrohttpd:
 * listen socket, thread pool (epoll), connection limits and timeouts, the
 * per-request life cycle (raw target -> route -> answer), and the headers
 * upstream's middleware adds: gzip (Accept-Encoding), CORS (Origin), the
 * trailing-slash redirect; plus our ETag / Cache-Control on block answers.
 * POST /forward-tx is parsed and rate limited here, then its connection is
 * suspended while a forward worker asks the node (http_forward.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <sys/random.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../common/log.h"
#include "../../common/util.h"
#include "http_int.h"

#define CACHE_BYTES (64u << 20)
#define CONN_MEMORY (64u << 10)
#define CC_IMMUTABLE "public, max-age=31536000, immutable"
#define CC_RECENT "public, max-age=5"

/* One request, made by the URI log callback (the earliest hook, which
 * also sees the raw target with its query). */
struct http_req {
	uint64_t start_ns;
	unsigned status;
	bool parsed, too_big, preflight;
	enum oracle_route_method method;
	struct oracle_route rt;
	struct http_fwd_job *job;   /* /forward-tx relay in flight or done */
	char *post;
	size_t post_len, discarded;
	size_t target_len;
	char target[];
};

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *con)
{
	size_t n = strlen(uri);
	struct http_req *rq = sd_xmalloc(sizeof(*rq) + n + 1);

	(void)cls;
	(void)con;
	memset(rq, 0, sizeof(*rq));
	rq->start_ns = sd_mono_ns();
	rq->target_len = n;
	memcpy(rq->target, uri, n + 1);
	return rq;
}

static void on_completed(void *cls, struct MHD_Connection *con,
			 void **req_cls, enum MHD_RequestTerminationCode toe)
{
	struct oracle_http *h = cls;
	struct http_req *rq = *req_cls;
	uint64_t ns;

	(void)toe;
	if (!rq)
		return;
	http_conns_busy(con, false);
	ns = sd_mono_ns() - rq->start_ns;
	http_metrics_observe(&h->metrics, rq->rt.id, rq->status, ns);
	if (sd_log_enabled(SD_LOG_DEBUG)) {
		char q[160];

		sd_log_debug("http", "request", "route=%s status=%u us=%llu "
			     "target=%s", oracle_route_name(rq->rt.id),
			     rq->status, (unsigned long long)(ns / 1000),
			     sd_log_q(q, sizeof(q), rq->target));
	}
	/* a job is done here: workers are joined before MHD stops */
	http_fwd_job_free(rq->job);
	free(rq->post);
	free(rq);
	*req_cls = NULL;
}

static const char *header(struct MHD_Connection *con, const char *name)
{
	return MHD_lookup_connection_value(con, MHD_HEADER_KIND, name);
}

/* gin-contrib/cors: only when Origin is set and is not this host. */
bool http_cross_origin(const char *origin, const char *host)
{
	if (!origin)
		return false;
	if (!host)
		return true;
	if (!strncmp(origin, "http://", 7) && !strcmp(origin + 7, host))
		return false;
	if (!strncmp(origin, "https://", 8) && !strcmp(origin + 8, host))
		return false;
	return true;
}

static bool cross_origin(struct MHD_Connection *con)
{
	return http_cross_origin(header(con, "Origin"), header(con, "Host"));
}

static bool wants_gzip(struct MHD_Connection *con)
{
	const char *ae = header(con, "Accept-Encoding");

	return ae && strstr(ae, "gzip");
}

/* RFC 9110 If-None-Match (weak comparison). */
bool http_etag_matches(const char *inm, const char *etag)
{
	size_t el = strlen(etag);

	while (inm && *inm) {
		size_t n;

		while (*inm == ' ' || *inm == '\t' || *inm == ',')
			inm++;
		if (*inm == '*')
			return true;
		if (!strncmp(inm, "W/", 2))
			inm += 2;
		n = strcspn(inm, ",");
		while (n && (inm[n - 1] == ' ' || inm[n - 1] == '\t'))
			n--;
		if (n == el && !memcmp(inm, etag, el))
			return true;
		inm = strchr(inm, ',');
	}
	return false;
}

static void body_free_cb(void *cls)
{
	http_body_unref(cls);
}

/* Upstream also sends Allow-Credentials: true, which with origin * lets
 * any page act with a visitor's credentials; we never send it
 * (docs/compat.md). */
static void add_cors(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
}

static enum MHD_Result send_answer(struct oracle_http *h,
				   struct MHD_Connection *con,
				   struct http_req *rq, struct http_answer *a)
{
	bool gz = wants_gzip(con), cors = cross_origin(con);
	struct http_body *send = a->body;
	struct MHD_Response *resp;
	unsigned status = a->status;
	char etag[40] = "";
	enum MHD_Result ret;

	/* no CORS on POST /forward-tx unless configured */
	if (rq->rt.id == ORACLE_ROUTE_FORWARD_TX && !h->cfg.forward_cors)
		cors = false;
	if (a->block && status == 200) {
		snprintf(etag, sizeof(etag), "\"%016llx%s\"",
			 (unsigned long long)a->etag, gz ? "-gz" : "");
		if (http_etag_matches(header(con, "If-None-Match"), etag))
			status = 304;
	}
	if (status == 304 || status == 204) {
		resp = MHD_create_response_from_buffer(0, (void *)"",
						       MHD_RESPMEM_PERSISTENT);
	} else {
		if (!send && gz)
			send = a->body = http_body_copy("", 0);
		if (send && gz) {
			bool had = atomic_load(&send->gz) != NULL;

			send = http_body_gzip(send);
			if (!had && a->cached)
				http_cache_charge_gzip(h->cache, &a->ckey);
		}
		if (send)
			resp = MHD_create_response_from_buffer_with_free_callback_cls(
				send->len, send->data, body_free_cb,
				http_body_ref(send));
		else
			resp = MHD_create_response_from_buffer(
				0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	http_body_unref(a->body);
	a->body = NULL;
	if (!resp)
		return MHD_NO;
	if (a->ctype && status != 304 && status != 204)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					a->ctype);
	if (a->extra_name)
		MHD_add_response_header(resp, a->extra_name, a->extra_value);
	if (gz && status != 204) {
		if (status != 304)
			MHD_add_response_header(resp, "Content-Encoding",
						"gzip");
		MHD_add_response_header(resp, "Vary", "Accept-Encoding");
	}
	if (cors)
		add_cors(resp);
	if (*etag) {
		MHD_add_response_header(resp, "ETag", etag);
		MHD_add_response_header(resp, "Cache-Control",
					a->immutable ? CC_IMMUTABLE
						     : CC_RECENT);
	}
	http_conns_busy(con, true);
	ret = MHD_queue_response(con, status, resp);
	MHD_destroy_response(resp);
	rq->status = status;
	return ret;
}

/* gin's trailing-slash redirect (http.Redirect body for GET). */
/* Copy s with its NUL to dst (room checked by the caller); its length. */
static size_t put_str(char *dst, const char *s)
{
	size_t n = strlen(s);

	memcpy(dst, s, n + 1);
	return n;
}

static enum MHD_Result send_redirect(struct oracle_http *h,
				     struct MHD_Connection *con,
				     struct http_req *rq)
{
	struct http_answer a = {0};
	const char *q = rq->target + rq->rt.redirect_query_off;
	size_t ll = rq->rt.redirect_len + strlen(q);
	char *loc = sd_xmalloc(ll + 1), *html;
	size_t hl = 0;
	bool get = rq->method == ORACLE_METHOD_GET;
	enum MHD_Result ret;

	memcpy(loc, rq->target, rq->rt.redirect_len);
	memcpy(loc + rq->rt.redirect_len, q, strlen(q) + 1);
	a.status = get ? 301 : 307;
	if (get) {
		html = sd_xmalloc(6 * ll + 64);
		hl += put_str(html, "<a href=\"");
		for (size_t i = 0; i < ll; i++) {
			const char *e = NULL;

			switch (loc[i]) {
			case '&': e = "&amp;"; break;
			case '<': e = "&lt;"; break;
			case '>': e = "&gt;"; break;
			case '"': e = "&#34;"; break;
			case '\'': e = "&#39;"; break;
			default: html[hl++] = loc[i]; continue;
			}
			hl += put_str(html + hl, e);
		}
		hl += put_str(html + hl, "\">Moved Permanently</a>.\n\n");
		a.body = http_body_new(html, hl);
		a.ctype = "text/html; charset=utf-8";
	}
	a.extra_name = "Location";
	a.extra_value = loc;
	ret = send_answer(h, con, rq, &a);
	free(loc);
	return ret;
}

static enum MHD_Result send_preflight(struct oracle_http *h,
				      struct MHD_Connection *con,
				      struct http_req *rq)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		0, (void *)"", MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Access-Control-Allow-Methods",
				h->cfg.forward_cors ? "GET,PUT,POST"
						    : "GET,PUT");
	MHD_add_response_header(resp, "Access-Control-Allow-Headers",
				"Content-Type,Authorization");
	add_cors(resp);
	http_conns_busy(con, true);
	ret = MHD_queue_response(con, 204, resp);
	MHD_destroy_response(resp);
	rq->status = 204;
	return ret;
}

static enum MHD_Result send_simple(struct oracle_http *h,
				   struct MHD_Connection *con,
				   struct http_req *rq, unsigned status,
				   const char *msg)
{
	struct http_answer a = {0};

	a.status = status;
	a.ctype = HTTP_CT_JSON;
	a.body = http_json_error(msg);
	return send_answer(h, con, rq, &a);
}

static enum MHD_Result send_retry(struct oracle_http *h,
				  struct MHD_Connection *con,
				  struct http_req *rq, unsigned status,
				  const char *msg, unsigned retry_s)
{
	struct http_answer a = {0};

	http_answer_error(&a, status, msg);
	snprintf(a.extra_buf, sizeof(a.extra_buf), "%u", retry_s);
	a.extra_name = "Retry-After";
	a.extra_value = a.extra_buf;
	return send_answer(h, con, rq, &a);
}

static void fwd_count(struct oracle_http *h, enum http_fwd_result r)
{
	atomic_fetch_add_explicit(&h->metrics.fwd[r], 1, memory_order_relaxed);
}

/* POST /forward-tx once its body is in: parse, rate limit, then hand the
 * node call to a worker (the connection waits suspended) and answer when
 * it is resumed. */
static enum MHD_Result forward_tx(struct oracle_http *h,
				  struct MHD_Connection *con,
				  struct http_req *rq)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa = NULL;
	struct http_answer a = {0};
	struct http_fwd_job *job;
	const char *msg;
	char *hex;
	unsigned st, retry_s;
	size_t alen = 0;

	if (rq->job) {
		if (!atomic_load_explicit(&rq->job->done, memory_order_acquire))
			return MHD_YES; /* not resumed yet */
		http_fwd_answer(h, rq->job, &a);
		http_fwd_job_free(rq->job);
		rq->job = NULL;
		return send_answer(h, con, rq, &a);
	}
	st = http_forward_parse(rq->post, rq->post_len,
				header(con, "Content-Type"), &hex, &msg);
	if (st) {
		fwd_count(h, HTTP_FWD_INVALID);
		a.status = st;
		if (msg)
			http_answer_error(&a, st, msg);
		return send_answer(h, con, rq, &a);
	}
	if (!h->hooks.forward_tx) {
		free(hex);
		return send_simple(h, con, rq, 503,
				   "transaction relay not available");
	}
	ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		sa = ci->client_addr;
		alen = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						 : sizeof(struct sockaddr_in);
	}
	if (!http_fwd_rate_take(h->fwd, sa, alen, &retry_s)) {
		free(hex);
		fwd_count(h, HTTP_FWD_RATE_LIMITED);
		http_fwd_log_refused(h, 429, "rate_limited", "");
		return send_retry(h, con, rq, 429, "too many requests",
				  retry_s);
	}
	job = sd_xcalloc(1, sizeof(*job));
	job->con = con;
	job->hex = hex;
	atomic_init(&job->done, false);
	if (!http_fwd_submit(h->fwd, job)) {
		http_fwd_job_free(job);
		fwd_count(h, HTTP_FWD_BUSY);
		http_fwd_log_refused(h, 503, "busy", "");
		return send_retry(h, con, rq, 503, "transaction relay busy",
				  1);
	}
	rq->job = job;
	http_conns_busy(con, true);
	return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *con,
				 const char *url, const char *method,
				 const char *version, const char *upload_data,
				 size_t *upload_data_size, void **req_cls)
{
	struct oracle_http *h = cls;
	struct http_req *rq = *req_cls;
	struct http_answer a = {0};

	(void)url;
	(void)version;
	if (!rq)
		return MHD_NO;
	if (!rq->parsed) {
		const char *cl;
		uint64_t n;

		/* Answer from the next call on: libmicrohttpd closes the
		 * connection when a response is queued on this first one. */
		rq->parsed = true;
		rq->method = oracle_route_method(method);
		rq->preflight = !strcmp(method, "OPTIONS") &&
				cross_origin(con);
		if (rq->preflight)
			return MHD_YES;
		if (h->cfg.api_version == 2)
			oracle_route_parse_v2(rq->method, rq->target,
					      rq->target_len, &rq->rt);
		else
			oracle_route_parse(rq->method, rq->target,
					   rq->target_len, &rq->rt);
		if (rq->rt.id != ORACLE_ROUTE_FORWARD_TX)
			return MHD_YES;
		cl = header(con, "Content-Length");
		if (cl && (!oracle_route_parse_uint(cl, strlen(cl),
						    UINT64_MAX, &n) ||
			   n > HTTP_MAX_POST)) {
			rq->too_big = true;
			return send_simple(h, con, rq, 413,
					   "request body too large");
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (rq->rt.id != ORACLE_ROUTE_FORWARD_TX)
			return MHD_YES;
		if (rq->too_big || rq->post_len + n > HTTP_MAX_POST) {
			/* Discard up to a bound, then answer 413 at the end
			 * (libmicrohttpd cannot answer mid-upload); beyond
			 * the bound just drop the connection. */
			rq->too_big = true;
			rq->discarded += n;
			return rq->discarded > HTTP_MAX_DISCARD ? MHD_NO
								: MHD_YES;
		}
		rq->post = sd_xrealloc(rq->post, rq->post_len + n + 1);
		memcpy(rq->post + rq->post_len, upload_data, n);
		rq->post_len += n;
		rq->post[rq->post_len] = '\0';
		return MHD_YES;
	}
	if (rq->too_big && rq->discarded)
		return send_simple(h, con, rq, 413, "request body too large");
	if (rq->too_big)
		return MHD_YES; /* already answered */
	if (rq->preflight)
		return send_preflight(h, con, rq);
	if (rq->rt.redirect)
		return send_redirect(h, con, rq);
	if (rq->rt.id == ORACLE_ROUTE_FORWARD_TX)
		return forward_tx(h, con, rq);
	if (h->cfg.api_version != 2 || !http_route_answer_v2(h, &rq->rt, &a))
		http_route_answer(h, &rq->rt, &a);
	return send_answer(h, con, rq, &a);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256], q[300];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	sd_log_debug("http", "mhd", "text=%s", sd_log_q(q, sizeof(q), msg));
}

/* "host:port", "[v6]:port", ":port" (all interfaces, as Go). */
static int open_listener(const char *hostport, int *fd_out, char *err)
{
	char host[256], port[16];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints = {0}, *res = NULL, *ai;
	size_t hl;
	int fd = -1, one = 1, rc;

	if (!colon || !colon[1] || strlen(colon + 1) >= sizeof(port)) {
		snprintf(err, SD_ERRLEN, "host: want host:port, got \"%s\"",
			 hostport);
		return SD_EINVAL;
	}
	hl = (size_t)(colon - hostport);
	if (hl >= sizeof(host)) {
		snprintf(err, SD_ERRLEN, "host: name too long");
		return SD_EINVAL;
	}
	memcpy(host, hostport, hl);
	host[hl] = '\0';
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	snprintf(port, sizeof(port), "%s", colon + 1); /* length checked */
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(*host ? host : NULL, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, SD_ERRLEN, "host %s: %s", hostport,
			 gai_strerror(rc));
		return SD_EINVAL;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
						   SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 1024) == 0)
			break;
		snprintf(err, SD_ERRLEN, "listen on %s: %s", hostport,
			 strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return SD_EIO;
	*fd_out = fd;
	return SD_OK;
}

/* The listen socket is bound to a loopback address (127/8, ::1). */
static bool listens_on_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	static const uint8_t v6_lo[16] = {0, 0, 0, 0, 0, 0, 0, 0,
					  0, 0, 0, 0, 0, 0, 0, 1};
	static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0,
					      0, 0, 0xff, 0xff};

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return false;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)&ss;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss.ss_family == AF_INET6) {
		const uint8_t *a =
			((const struct sockaddr_in6 *)(const void *)&ss)
				->sin6_addr.s6_addr;

		return !memcmp(a, v6_lo, 16) ||
		       (!memcmp(a, v4_mapped, 12) && a[12] == 127);
	}
	return false;
}

static void free_state(struct oracle_http *h)
{
	for (size_t i = 0; i < sizeof(h->mp_slots) / sizeof(h->mp_slots[0]);
	     i++)
		http_body_unref(h->mp_slots[i].body);
	pthread_mutex_destroy(&h->log_refused.mu);
	pthread_mutex_destroy(&h->log_relayed.mu);
	pthread_mutex_destroy(&h->mp_mu);
	pthread_mutex_destroy(&h->dust_mu);
	http_cache_free(h->cache);
	free(h->host);
	free(h);
}

int oracle_http_start(const struct oracle_http_config *cfg,
		      struct oracle_index *idx,
		      const struct oracle_http_hooks *hooks,
		      struct oracle_http **out, char *err)
{
	char ebuf[SD_ERRLEN] = "", q[300];
	struct oracle_http *h;
	int fd = -1, rc;

	*out = NULL;
	if (!err)
		err = ebuf;
	h = sd_xcalloc(1, sizeof(*h));
	h->idx = idx;
	if (hooks)
		h->hooks = *hooks;
	h->cfg = *cfg;
	h->host = sd_xstrdup(cfg->host ? cfg->host : "127.0.0.1:8000");
	h->cfg.host = h->host;
	if (!h->cfg.threads)
		h->cfg.threads = 2;
	if (!h->cfg.max_connections)
		h->cfg.max_connections = 1024;
	if (!h->cfg.conn_timeout_s)
		h->cfg.conn_timeout_s = 30;
	if (!h->cfg.immutable_depth)
		h->cfg.immutable_depth = 6;
	if (!h->cfg.request_timeout_s)
		h->cfg.request_timeout_s = 30;
	if (!h->cfg.forward_workers)
		h->cfg.forward_workers = 4;
	if (h->cfg.forward_workers > ORACLE_HTTP_MAX_FORWARD_WORKERS)
		h->cfg.forward_workers = ORACLE_HTTP_MAX_FORWARD_WORKERS;
	if (!h->cfg.forward_queue)
		h->cfg.forward_queue = 32;
	if (!h->cfg.forward_timeout_ms)
		h->cfg.forward_timeout_ms = 5000;
	if (!h->cfg.forward_rate_per_min)
		h->cfg.forward_rate_per_min = 60;
	if (!h->cfg.forward_burst)
		h->cfg.forward_burst = 10;
	rc = open_listener(h->host, &fd, err);
	if (rc != SD_OK) {
		sd_log_error("http", "listen_failed", "host=%s err=%s",
			     sd_log_q(q, sizeof(q), h->host),
			     sd_log_q(q + 150, 150, err));
		free(h->host);
		free(h);
		return rc;
	}
	/* off loopback, one address may not take every connection */
	if (h->cfg.max_connections_per_ip == ORACLE_HTTP_NO_IP_CAP)
		h->cfg.max_connections_per_ip = 0;
	else if (!h->cfg.max_connections_per_ip && !listens_on_loopback(fd))
		h->cfg.max_connections_per_ip = 64;
	h->cache = http_cache_new(CACHE_BYTES);
	pthread_mutex_init(&h->log_refused.mu, NULL);
	pthread_mutex_init(&h->log_relayed.mu, NULL);
	pthread_mutex_init(&h->mp_mu, NULL);
	pthread_mutex_init(&h->dust_mu, NULL);
	if (getrandom(h->mp_key, sizeof(h->mp_key), 0) !=
	    (ssize_t)sizeof(h->mp_key)) {
		h->mp_key[0] = sd_mono_ns();
		h->mp_key[1] = (uint64_t)(uintptr_t)h;
	}
	h->fwd = http_fwd_new(h);
	h->conns = http_conns_new(&h->metrics, h->cfg.request_timeout_s);
	h->mhd = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO |
			MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME,
		0, NULL, NULL, on_access, h,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)h->cfg.threads,
		MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)h->cfg.max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned int)h->cfg.max_connections_per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)h->cfg.conn_timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, (void *)h,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, (void *)h,
		MHD_OPTION_NOTIFY_CONNECTION, http_conns_notify,
		(void *)h->conns,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, (void *)h,
		MHD_OPTION_END);
	if (!h->mhd) {
		snprintf(err, SD_ERRLEN, "libmicrohttpd failed to start on %s",
			 h->host);
		sd_log_error("http", "start_failed", "host=%s",
			     sd_log_q(q, sizeof(q), h->host));
		close(fd);
		http_fwd_free(h->fwd);
		http_conns_free(h->conns);
		free_state(h);
		return SD_EIO;
	}
	if (h->cfg.api_version != 2)
		h->cfg.api_version = 1;
	sd_log_info("http", "listening", "host=%s api=v%u threads=%u "
		    "max_conn=%u max_conn_per_ip=%u request_timeout_s=%u "
		    "forward_workers=%u forward_queue=%u "
		    "forward_timeout_ms=%u forward_rate_per_min=%u "
		    "forward_burst=%u forward_cors=%d",
		    sd_log_q(q, sizeof(q), h->host), h->cfg.api_version,
		    h->cfg.threads,
		    h->cfg.max_connections, h->cfg.max_connections_per_ip,
		    h->cfg.request_timeout_s, h->cfg.forward_workers,
		    h->cfg.forward_queue, h->cfg.forward_timeout_ms,
		    h->cfg.forward_rate_per_min, h->cfg.forward_burst,
		    h->cfg.forward_cors);
	*out = h;
	return SD_OK;
}

void oracle_http_stop(struct oracle_http *h)
{
	if (!h)
		return;
	/* every relay answered (or failed) and its connection resumed
	 * before libmicrohttpd closes them */
	http_fwd_stop(h->fwd);
	MHD_stop_daemon(h->mhd);
	http_fwd_free(h->fwd);
	http_conns_free(h->conns);
	free_state(h);
}

int oracle_http_metrics(struct oracle_http *h, char **buf, size_t *len)
{
	if (!h)
		return SD_EINVAL;
	http_metrics_render(&h->metrics, h->cache, buf, len);
	return SD_OK;
}

/* client.c - HTTP and JSON-RPC 1.0 to bitcoind over keep-alive libcurl
 * handles: cookie or user/password auth (cookie re-read on 401), timeouts,
 * error mapping, reply parsing, two concurrent GETs for REST.  Typed
 * helpers are in calls.c.  Cookie and password never reach a log line. */
#include "rpc.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/log.h"
#include "../common/util.h"
#include "client_priv.h"

/* Cap on a response body: getblock 3 of a 4 MB block is ~100 MB of JSON. */
#define MAX_BODY ((size_t)512 << 20)
/* Response buffers above this are freed before the next request. */
#define KEEP_BUF ((size_t)32 << 20)

static atomic_uint_fast64_t st_calls, st_errors, st_bytes_in;

void rpc_stats_add(uint64_t calls, uint64_t errors, uint64_t bytes_in)
{
	atomic_fetch_add(&st_calls, calls);
	atomic_fetch_add(&st_errors, errors);
	atomic_fetch_add(&st_bytes_in, bytes_in);
}

void rpc_stats_get(struct rpc_stats *out)
{
	out->calls = atomic_load(&st_calls);
	out->errors = atomic_load(&st_errors);
	out->bytes_in = atomic_load(&st_bytes_in);
}

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void global_init_once(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, global_init);
}

/* bitcoind writes its cookie 0600; one others can read lets any local
 * user drive the node.  Warned about (once per process: -rpccookieperms
 * can make it so on purpose); its content is never logged. */
static void warn_cookie_mode(FILE *f, const char *path)
{
	static atomic_bool warned;
	struct stat st;
	char q[200];

	if (fstat(fileno(f), &st) != 0 || !(st.st_mode & S_IROTH) ||
	    atomic_exchange(&warned, true))
		return;
	sd_log_warn("rpc", "cookie_permissions", "path=%s mode=%04o "
		    "note=\"readable by every local user\"",
		    sd_log_q(q, sizeof(q), path),
		    (unsigned)(st.st_mode & 07777));
}

/* Why the cookie cannot be used, for messages: "Permission denied". */
static const char *cookie_why(int e)
{
	return e > 0 ? strerror(e) : "empty or not user:password";
}

/* Log a cookie that cannot be read, once per distinct reason (a node
 * that is not started yet, ENOENT, is not worth a warning at start). */
static void report_cookie(struct rpc_client *c, int e, bool at_start)
{
	char q[256], q2[96];

	if (e == 0 || e == c->cookie_err || (at_start && e == ENOENT)) {
		c->cookie_err = e;
		return;
	}
	c->cookie_err = e;
	sd_log_warn("rpc", "cookie_unreadable", "path=%s err=%s",
		    sd_log_q(q, sizeof(q), c->cookie_path),
		    sd_log_q(q2, sizeof(q2), cookie_why(e)));
}

/* Read the cookie file ("__cookie__:<hex>") into c->userpwd.  Keeps the
 * previous value when the file cannot be read (node restarting).  *why:
 * 0, the errno of the failure, or -1 (bad content). */
static int read_cookie(struct rpc_client *c, int *why)
{
	char buf[512];
	size_t n;
	FILE *f = fopen(c->cookie_path, "r");

	*why = 0;
	if (!f) {
		*why = errno ? errno : EIO;
		return SD_EIO;
	}
	warn_cookie_mode(f, c->cookie_path);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	if (ferror(f)) {
		*why = errno ? errno : EIO; /* EISDIR... */
		fclose(f);
		return SD_EIO;
	}
	fclose(f);
	while (n > 0 && isspace((unsigned char)buf[n - 1]))
		n--;
	buf[n] = '\0';
	if (n == 0 || !strchr(buf, ':')) {
		explicit_bzero(buf, sizeof(buf));
		*why = -1;
		return SD_EPARSE;
	}
	if (c->userpwd) {
		explicit_bzero(c->userpwd, strlen(c->userpwd));
		free(c->userpwd);
	}
	c->userpwd = sd_xstrdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return SD_OK;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct sd_buf *b = ud;
	size_t n = size * nmemb;

	if (n > MAX_BODY - b->len)
		return 0; /* curl: CURLE_WRITE_ERROR */
	if (!b->cap)
		sd_buf_reserve(b, 65536);
	sd_buf_put(b, ptr, n); /* NUL-terminated: JSON callers read a string */
	return n;
}

/* A libcurl easy handle with the client's options writing into buf. */
static CURL *new_handle(struct rpc_client *c, struct sd_buf *buf,
			char *errbuf)
{
	CURL *h = curl_easy_init();

	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 c->timeout_ms < 10000 ? c->timeout_ms : 10000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, buf);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	return h;
}

int rpc_client_new(const struct rpc_config *cfg, struct rpc_client **out)
{
	struct rpc_client *c;
	size_t n;

	*out = NULL;
	if (!cfg || !cfg->url || (strncmp(cfg->url, "http://", 7) != 0 &&
				  strncmp(cfg->url, "https://", 8) != 0))
		return SD_EINVAL;
	if ((!cfg->cookie_path || !cfg->cookie_path[0]) &&
	    (!cfg->user || !cfg->pass))
		return SD_EINVAL;
	global_init_once();
	c = sd_xcalloc(1, sizeof(*c));
	c->base_url = sd_xstrdup(cfg->url);
	n = strlen(c->base_url);
	while (n > 0 && c->base_url[n - 1] == '/')
		c->base_url[--n] = '\0';
	if (cfg->wallet && cfg->wallet[0]) {
		char *w = curl_easy_escape(NULL, cfg->wallet, 0);
		size_t m = n + strlen(w) + 16;
		c->rpc_url = sd_xmalloc(m);
		snprintf(c->rpc_url, m, "%s/wallet/%s", c->base_url, w);
		curl_free(w);
	} else {
		c->rpc_url = sd_xstrdup(c->base_url);
	}
	if (cfg->cookie_path && cfg->cookie_path[0]) {
		int why;

		c->cookie_path = sd_xstrdup(cfg->cookie_path);
		/* missing now is fine: the node may be starting; unreadable
		 * (EACCES) is said now, not hidden behind a 401 later */
		(void)read_cookie(c, &why);
		report_cookie(c, why, true);
	} else {
		size_t m = strlen(cfg->user) + strlen(cfg->pass) + 2;
		c->userpwd = sd_xmalloc(m);
		snprintf(c->userpwd, m, "%s:%s", cfg->user, cfg->pass);
	}
	c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000;
	c->json_hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	c->json_hdrs = curl_slist_append(c->json_hdrs, "Expect:");
	c->curl = new_handle(c, &c->resp, c->curl_err);
	if (!c->curl) {
		rpc_client_free(c);
		return SD_EINVAL;
	}
	*out = c;
	return SD_OK;
}

void rpc_client_free(struct rpc_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	if (c->curl2)
		curl_easy_cleanup(c->curl2);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	free(c->resp2.p);
	curl_slist_free_all(c->json_hdrs);
	if (c->userpwd) {
		explicit_bzero(c->userpwd, strlen(c->userpwd));
		free(c->userpwd);
	}
	free(c->cookie_path);
	free(c->base_url);
	free(c->rpc_url);
	free(c->resp.p);
	free(c);
}

static int map_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return SD_ETIMEOUT;
	case CURLE_WRITE_ERROR:
	case CURLE_OUT_OF_MEMORY:
		return SD_EPARSE; /* body over MAX_BODY */
	default:
		return SD_ECONN;
	}
}

static void prep(struct rpc_client *c, CURL *h, struct sd_buf *buf,
		 char *errbuf, const char *url, const char *post,
		 size_t post_len)
{
	buf->len = 0;
	if (buf->cap > KEEP_BUF) { /* do not keep a huge getblock reply */
		free(buf->p);
		buf->p = NULL;
		buf->cap = 0;
	}
	if (buf->p)
		buf->p[0] = '\0';
	errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_USERPWD, c->userpwd ? c->userpwd : "");
	if (post) {
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->json_hdrs);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, post);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)post_len);
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	}
}

static int done(CURL *h, CURLcode cc, const struct sd_buf *buf,
		const char *errbuf, long *status, char *err)
{
	rpc_stats_add(1, 0, buf->len);
	if (cc != CURLE_OK) {
		int rc = map_curl(cc);
		sd_set_err(err, "%s: %s", sd_strerror(rc),
			    errbuf[0] ? errbuf : curl_easy_strerror(cc));
		return rc;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	return SD_OK;
}

static int http_once(struct rpc_client *c, const char *url, const char *post,
		     size_t post_len, long *status, char *err)
{
	CURLcode cc;

	prep(c, c->curl, &c->resp, c->curl_err, url, post, post_len);
	cc = curl_easy_perform(c->curl);
	return done(c->curl, cc, &c->resp, c->curl_err, status, err);
}

int rpc_http_get2(struct rpc_client *c, const char *url_a, const char *url_b,
		  long *status_a, long *status_b, char *err)
{
	CURLcode ca = CURLE_GOT_NOTHING, cb = CURLE_GOT_NOTHING;
	CURLMcode mc = CURLM_OK;
	CURLMsg *m;
	int running = 1, q, ra, rb;

	if (!c->multi) {
		c->multi = curl_multi_init();
		c->curl2 = new_handle(c, &c->resp2, c->curl_err2);
		if (!c->multi || !c->curl2)
			abort(); /* out of memory */
	}
	prep(c, c->curl, &c->resp, c->curl_err, url_a, NULL, 0);
	prep(c, c->curl2, &c->resp2, c->curl_err2, url_b, NULL, 0);
	curl_multi_add_handle(c->multi, c->curl);
	curl_multi_add_handle(c->multi, c->curl2);
	while (running && mc == CURLM_OK) {
		mc = curl_multi_perform(c->multi, &running);
		if (running && mc == CURLM_OK)
			mc = curl_multi_poll(c->multi, NULL, 0, 1000, NULL);
	}
	while ((m = curl_multi_info_read(c->multi, &q))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		if (m->easy_handle == c->curl)
			ca = m->data.result;
		else if (m->easy_handle == c->curl2)
			cb = m->data.result;
	}
	curl_multi_remove_handle(c->multi, c->curl);
	curl_multi_remove_handle(c->multi, c->curl2);
	ra = done(c->curl, ca, &c->resp, c->curl_err, status_a, err);
	rb = done(c->curl2, cb, &c->resp2, c->curl_err2, status_b,
		  ra == SD_OK ? err : NULL);
	if (ra != SD_OK || rb != SD_OK) {
		rpc_stats_add(0, 1, 0);
		return ra != SD_OK ? ra : rb;
	}
	return SD_OK;
}

int rpc_http(struct rpc_client *c, const char *url, const char *post,
	     size_t post_len, long *status, char *err)
{
	int rc = http_once(c, url, post, post_len, status, err);

	if (rc == SD_OK && *status == 401 && c->cookie_path) {
		/* node restarted with a new cookie? re-read, retry once */
		int why, crc = read_cookie(c, &why);
		char q[256];

		sd_log_info("rpc", "cookie_reread", "path=%s ok=%d",
			    sd_log_q(q, sizeof(q), c->cookie_path),
			    crc == SD_OK);
		report_cookie(c, why, false);
		if (crc == SD_OK) {
			rc = http_once(c, url, post, post_len, status, err);
		} else {
			/* the real cause, not a bare 401 */
			sd_set_err(err, "cannot read cookie %s: %s",
				   c->cookie_path, cookie_why(why));
			rpc_stats_add(0, 1, 0);
			return SD_EAUTH;
		}
	}
	if (rc == SD_OK && (*status == 401 || *status == 403)) {
		sd_set_err(err, "authentication refused (HTTP %ld): check %s",
			    *status, c->cookie_path ? "cookie_path"
						    : "rpc user/password");
		rc = SD_EAUTH;
	}
	if (rc != SD_OK)
		rpc_stats_add(0, 1, 0);
	return rc;
}

int rpc_reply_from_json(json_t *reply, json_t **result, int *rpc_code,
			char *err)
{
	json_t *e, *r;

	*result = NULL;
	if (rpc_code)
		*rpc_code = 0;
	if (!json_is_object(reply)) {
		sd_set_err(err, "reply is not a JSON object");
		return SD_EPARSE;
	}
	e = json_object_get(reply, "error");
	if (e && !json_is_null(e)) {
		json_t *code = json_object_get(e, "code");
		json_t *msg = json_object_get(e, "message");
		if (rpc_code && json_is_integer(code))
			*rpc_code = (int)json_integer_value(code);
		sd_set_err(err, "%s", json_is_string(msg) ?
				   json_string_value(msg) : "error without message");
		return SD_ERPC;
	}
	r = json_object_get(reply, "result");
	if (!r) {
		sd_set_err(err, "reply without result");
		return SD_EPARSE;
	}
	*result = json_incref(r);
	return SD_OK;
}

/* Serialize a result (consumed) to compact JSON text for the caller. */
static int result_to_text(json_t *r, char **result_json, char *err)
{
	*result_json = json_dumps(r, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(r);
	if (!*result_json) {
		sd_set_err(err, "cannot serialize result");
		return SD_EPARSE;
	}
	return SD_OK;
}

int rpc_parse_reply(const char *body, size_t len, char **result_json,
		    int *rpc_code, char *err)
{
	json_error_t jerr;
	json_t *j, *r;
	int rc;

	*result_json = NULL;
	j = json_loadb(body, len, 0, &jerr);
	if (!j) {
		sd_set_err(err, "bad JSON reply: %s", jerr.text);
		return SD_EPARSE;
	}
	rc = rpc_reply_from_json(j, &r, rpc_code, err);
	json_decref(j);
	if (rc != SD_OK)
		return rc;
	return result_to_text(r, result_json, err);
}

/* POST body; parse the reply into *reply (NULL on error).  HTTP 500/404
 * carry JSON-RPC errors; other statuses without JSON are errors. */
static int post_json(struct rpc_client *c, const char *body, size_t len,
		     json_t **reply, char *err)
{
	json_error_t jerr;
	long status = 0;
	int rc;

	*reply = NULL;
	rc = rpc_http(c, c->rpc_url, body, len, &status, err);
	if (rc != SD_OK)
		return rc;
	*reply = json_loadb((const char *)c->resp.p, c->resp.len, 0, &jerr);
	if (!*reply) {
		rpc_stats_add(0, 1, 0);
		if (status == 503) {
			sd_set_err(err, "node busy (HTTP 503)");
			return SD_ECONN;
		}
		if (status != 200) {
			sd_set_err(err, "HTTP %ld without JSON body", status);
			return SD_ERPC;
		}
		sd_set_err(err, "bad JSON reply: %s", jerr.text);
		return SD_EPARSE;
	}
	return SD_OK;
}

static char *request_body(struct rpc_client *c, const char *method,
			  const char *params_json, size_t *len)
{
	json_error_t jerr;
	json_t *params, *req;
	char *s;

	params = json_loads(params_json ? params_json : "[]", 0, &jerr);
	if (!params || !json_is_array(params)) {
		json_decref(params);
		return NULL;
	}
	req = json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "1.0", "id",
			(json_int_t)++c->next_id, "method", method, "params",
			params);
	if (!req)
		return NULL;
	s = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (s)
		*len = strlen(s);
	return s;
}

int rpc_call_json(struct rpc_client *c, const char *method,
		  const char *params_json, json_t **result, int *rpc_code,
		  char *err)
{
	json_t *reply;
	size_t len = 0;
	char *body;
	int rc;

	*result = NULL;
	if (rpc_code)
		*rpc_code = 0;
	body = request_body(c, method, params_json, &len);
	if (!body) {
		sd_set_err(err, "params must be a JSON array");
		return SD_EINVAL;
	}
	rc = post_json(c, body, len, &reply, err);
	free(body);
	if (rc != SD_OK)
		return rc;
	rc = rpc_reply_from_json(reply, result, rpc_code, err);
	json_decref(reply);
	if (rc != SD_OK)
		rpc_stats_add(0, 1, 0);
	return rc;
}

int rpc_call(struct rpc_client *c, const char *method, const char *params_json,
	     char **result_json, int *rpc_code, char *err)
{
	json_t *r;
	int rc;

	*result_json = NULL;
	rc = rpc_call_json(c, method, params_json, &r, rpc_code, err);
	if (rc != SD_OK)
		return rc;
	return result_to_text(r, result_json, err);
}

/* test_http_server.c - the HTTP server over real sockets on loopback, in
 * front of a real LMDB index of regtest-a (400 blocks, temp dir):
 *  - every answer upstream blindbit-oracle recorded for the block-hash,
 *    filter, spent-index, info and block-height routes and for its error
 *    cases (bad height 400, unknown height 500, bad dustLimit, bad filter
 *    type, an unknown path 404 in text/plain, an empty POST /forward-tx)
 *    is ours byte for byte, with upstream's status and Content-Type
 *    (tests/data/regtest-a/blindbit-v1.jsonl);
 *  - a route asked with another method (POST /info, PUT /block-height,
 *    GET /forward-tx, an unknown method) answers upstream's 404 (gin
 *    without HandleMethodNotAllowed), a trailing slash a 301 / 307;
 *  - an oversize request line (414) and oversize headers (431) are
 *    refused, the connection closed, and the server keeps serving;
 *  - keep-alive: many requests on one connection, each answered in turn;
 *    "Connection: close" closes;
 *  - the daemon hooks: /status without a hook is 404, with one its body.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../../../common/util.h"
#include "../../../tests/lib/check.h"
#include "../../index/oracle.h"
#include "../../index/test/store_testlib.h"
#include "../http.h"

#define TIP 400

static int port;
static struct rta_chain chain;

/* ------------------------------------------------------------ a client */

struct conn {
	int fd;
	char buf[256 << 10];
	size_t len;
};

struct resp {
	int status;          /* 0: the connection closed without an answer */
	char head[8192];     /* status line and headers, NUL-terminated */
	char *body;          /* malloc'd, NUL-terminated */
	size_t body_len;
};

static void conn_open(struct conn *c)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 20 };

	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(c->fd >= 0);
	CHECK_EQ_INT(setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
				sizeof(tv)), 0);
	CHECK_EQ_INT(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	c->len = 0;
}

static void conn_close(struct conn *c)
{
	close(c->fd);
	c->fd = -1;
}

/* Send all of p; false when the server closed on us (EPIPE/ECONNRESET). */
static bool conn_send(struct conn *c, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
			return false;
		CHECK(w > 0);
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Read more into c->buf; 0 at EOF (or a reset). */
static ssize_t conn_fill(struct conn *c)
{
	ssize_t r;

	CHECK(c->len < sizeof(c->buf));
	r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	if (r < 0 && errno == ECONNRESET)
		return 0;
	CHECK(r >= 0); /* no timeout */
	c->len += (size_t)r;
	return r;
}

/* One answer (Content-Length framed; libmicrohttpd sends one for every
 * buffer response; none follows an answer to HEAD); what follows it stays
 * in c->buf. */
static void conn_read_m(struct conn *c, struct resp *r, bool head)
{
	char *end, *cl;
	size_t hl, need;

	memset(r, 0, sizeof(*r));
	while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
		if (conn_fill(c) == 0) {
			CHECK_EQ_INT(c->len, 0); /* no half answer */
			return;
		}
	hl = (size_t)(end - c->buf) + 4;
	CHECK(hl < sizeof(r->head));
	memcpy(r->head, c->buf, hl);
	r->head[hl] = '\0';
	CHECK(sscanf(r->head, "HTTP/1.1 %d ", &r->status) == 1);
	cl = strcasestr(r->head, "\r\nContent-Length: ");
	CHECK(cl);
	r->body_len = head ? 0 : strtoul(cl + 18, NULL, 10);
	need = hl + r->body_len;
	while (c->len < need)
		CHECK(conn_fill(c) > 0);
	r->body = sd_xmalloc(r->body_len + 1);
	memcpy(r->body, c->buf + hl, r->body_len);
	r->body[r->body_len] = '\0';
	memmove(c->buf, c->buf + need, c->len - need);
	c->len -= need;
}

static void conn_read(struct conn *c, struct resp *r)
{
	conn_read_m(c, r, false);
}

/* The value of header name in r ("" when absent; a static buffer). */
static const char *hdr(const struct resp *r, const char *name)
{
	static char v[512];
	char key[80];
	const char *p, *e;

	snprintf(key, sizeof(key), "\r\n%s: ", name);
	p = strcasestr(r->head, key);
	if (!p)
		return "";
	p += strlen(key);
	e = strstr(p, "\r\n");
	snprintf(v, sizeof(v), "%.*s", (int)(e - p), p);
	return v;
}

/* True when the server closed c (EOF within a few seconds). */
static bool conn_closed_by_server(struct conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	char b[256];

	if (poll(&p, 1, 5000) != 1)
		return false;
	return recv(c->fd, b, sizeof(b), 0) <= 0;
}

/* One request on a fresh connection (closed after). */
static void request(const char *method, const char *target,
		    const char *extra, struct resp *r)
{
	struct conn *c = sd_xmalloc(sizeof(*c));
	char req[8192];
	int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: "
			 "127.0.0.1\r\n%s\r\n", method, target,
			 extra ? extra : "");

	CHECK(n > 0 && (size_t)n < sizeof(req));
	conn_open(c);
	CHECK(conn_send(c, req, (size_t)n));
	conn_read_m(c, r, !strcmp(method, "HEAD"));
	CHECK(r->status > 0);
	conn_close(c);
	free(c);
}

static void resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
}

/* ------------------------------------------------------------ checks */

/* Replay upstream's recorded answers for the routes whose bytes do not
 * depend on its documented tweak deviations (test_store_blindbit's job);
 * docs/compat.md deviation 4: an empty /spent-index/:h is
 * {"block_hash":"<hash>","data":[]}, not upstream's bare []. */
static void check_upstream_answers(void)
{
	char path[600], *line = NULL;
	size_t cap = 0;
	int n_ok = 0, n_err = 0, n_dev4 = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/regtest-a/blindbit-v1.jsonl",
		 check_testdata_dir());
	f = fopen(path, "r");
	CHECK(f);
	while (getline(&line, &cap, f) > 0) {
		json_t *j = json_loads(line, 0, NULL);
		const char *p, *m, *body, *ct;
		char dev4[128];
		int st, h;
		struct resp r;

		CHECK(j);
		p = json_string_value(json_object_get(j, "path"));
		m = json_string_value(json_object_get(j, "method"));
		body = json_string_value(json_object_get(j, "body"));
		ct = json_string_value(json_object_get(j, "content_type"));
		st = (int)json_integer_value(json_object_get(j, "status"));
		CHECK(p && m && body);
		if (st == 200 && strncmp(p, "/block-hash/", 12) &&
		    strncmp(p, "/filter/", 8) &&
		    strncmp(p, "/spent-index/", 13) && strcmp(p, "/info") &&
		    strcmp(p, "/block-height")) {
			json_decref(j);
			continue;
		}
		if (sscanf(p, "/spent-index/%d", &h) == 1 &&
		    !strcmp(body, "[]")) {
			char hx[65];

			CHECK(h >= 1 && h <= TIP);
			sd_hex_encode_rev(hx, chain.b[h - 1]->hash, 32);
			snprintf(dev4, sizeof(dev4), "{\"block_hash\":\"%s\","
				 "\"data\":[]}", hx);
			body = dev4;
			n_dev4++;
		}
		request(m, p, !strcmp(m, "POST") ? "Content-Length: 0\r\n" :
			NULL, &r);
		if (r.status != st || strcmp(r.body, body) ||
		    strcmp(hdr(&r, "Content-Type"), ct ? ct : ""))
			fprintf(stderr, "%s %s: upstream %d %s [%s]\nours %d "
				"%s [%s]\n", m, p, st, ct ? ct : "-", body,
				r.status, hdr(&r, "Content-Type"), r.body);
		CHECK_EQ_INT(r.status, st);
		CHECK_STREQ(r.body, body);
		CHECK_STREQ(hdr(&r, "Content-Type"), ct ? ct : "");
		if (st == 200)
			n_ok++;
		else
			n_err++;
		resp_free(&r);
		json_decref(j);
	}
	free(line);
	fclose(f);
	fprintf(stderr, "upstream answers replayed: %d ok (%d empty "
		"spent-index as objects), %d errors\n", n_ok, n_dev4, n_err);
	CHECK_EQ_INT(n_dev4, 117); /* as test_api_conformance counts */
	/* block-hash, 2 filters, spent-index: 4 x 400, + info, block-height */
	CHECK_EQ_INT(n_ok, 4 * TIP + 2);
	CHECK_EQ_INT(n_err, 8);
}

static void check_methods_and_paths(void)
{
	static const char *const not_allowed[][2] = {
		{ "POST", "/info" }, { "PUT", "/block-height" },
		{ "DELETE", "/block-hash/1" }, { "GET", "/forward-tx" },
		{ "BREW", "/info" }, { "POST", "/tweak-index/5" },
		{ "HEAD", "/info" },
	};
	char long_path[4200];
	struct resp r;

	for (size_t i = 0; i < sizeof(not_allowed) / sizeof(not_allowed[0]);
	     i++) {
		request(not_allowed[i][0], not_allowed[i][1],
			!strcmp(not_allowed[i][0], "GET") ? NULL :
			"Content-Length: 0\r\n", &r);
		if (r.status != 404)
			fprintf(stderr, "%s %s: %d\n", not_allowed[i][0],
				not_allowed[i][1], r.status);
		CHECK_EQ_INT(r.status, 404);
		CHECK_STREQ(r.body, strcmp(not_allowed[i][0], "HEAD") ?
			    "404 page not found" : "");
		CHECK_STREQ(hdr(&r, "Content-Type"), "text/plain");
		resp_free(&r);
	}
	/* a trailing slash: upstream's redirects (307 for other methods) */
	request("GET", "/block-height/", NULL, &r);
	CHECK_EQ_INT(r.status, 301);
	CHECK_STREQ(hdr(&r, "Location"), "/block-height");
	CHECK_STREQ(r.body, "<a href=\"/block-height\">Moved Permanently</a>."
		    "\n\n");
	resp_free(&r);
	request("POST", "/forward-tx/", "Content-Length: 0\r\n", &r);
	CHECK_EQ_INT(r.status, 307);
	CHECK_STREQ(hdr(&r, "Location"), "/forward-tx");
	resp_free(&r);
	request("GET", "/tweak-index/5/?dustLimit=7", NULL, &r);
	CHECK_EQ_INT(r.status, 301);
	CHECK_STREQ(hdr(&r, "Location"), "/tweak-index/5?dustLimit=7");
	resp_free(&r);
	/* a long path under the parser's bound: matched as nothing */
	memcpy(long_path, "/tweaks/", 8);
	memset(long_path + 8, '1', sizeof(long_path) - 9);
	long_path[sizeof(long_path) - 1] = '\0';
	request("GET", long_path, NULL, &r);
	CHECK_EQ_INT(r.status, 404);
	resp_free(&r);
	/* the /blindbit/ prefix serves the same routes */
	request("GET", "/blindbit/block-height", NULL, &r);
	CHECK_EQ_INT(r.status, 200);
	CHECK_STREQ(r.body, "{\"block_height\":400}");
	resp_free(&r);
}

/* Oversize request line or headers (beyond the 64 KiB a connection may
 * use): refused and the connection closed, never served; the server
 * answers the next client. */
static void check_oversize(void)
{
	size_t big = 100 << 10;
	char *req = sd_xmalloc(big + 256);
	struct conn *c = sd_xmalloc(sizeof(*c));
	struct resp r;
	int n;

	for (int kind = 0; kind < 3; kind++) {
		bool sent;

		if (kind == 0) {        /* request line */
			n = snprintf(req, 256, "GET /info?x=");
			memset(req + n, 'a', big);
			n += (int)big;
			n += snprintf(req + n, 256, " HTTP/1.1\r\nHost: "
				      "127.0.0.1\r\n\r\n");
		} else if (kind == 1) { /* one header */
			n = snprintf(req, 256, "GET /info HTTP/1.1\r\nHost: "
				     "127.0.0.1\r\nX-Big: ");
			memset(req + n, 'b', big);
			n += (int)big;
			n += snprintf(req + n, 256, "\r\n\r\n");
		} else {                /* many headers */
			n = snprintf(req, 256, "GET /info HTTP/1.1\r\nHost: "
				     "127.0.0.1\r\n");
			while ((size_t)n < big)
				n += snprintf(req + n, 64, "X-H%d: %s\r\n", n,
					      "cccccccccccccccccccccccc");
			n += snprintf(req + n, 8, "\r\n");
		}
		conn_open(c);
		sent = conn_send(c, req, (size_t)n);
		conn_read(c, &r);
		fprintf(stderr, "oversize %s: sent all %d, status %d\n",
			kind == 0 ? "request line" : kind == 1 ? "header" :
			"headers", sent, r.status);
		/* libmicrohttpd: 414 URI Too Long, 431 Request Header
		 * Fields Too Large, then it closes */
		CHECK_EQ_INT(r.status, kind == 0 ? 414 : 431);
		CHECK(conn_closed_by_server(c));
		resp_free(&r);
		conn_close(c);
		request("GET", "/block-height", NULL, &r);
		CHECK_EQ_INT(r.status, 200);
		resp_free(&r);
	}
	free(c);
	free(req);
}

static void check_keep_alive(void)
{
	struct conn *c = sd_xmalloc(sizeof(*c));
	struct resp r;
	char req[256];
	int n;

	conn_open(c);
	for (int i = 1; i <= 50; i++) {
		n = snprintf(req, sizeof(req), "GET /block-hash/%d HTTP/1.1\r\n"
			     "Host: 127.0.0.1\r\n\r\n", i);
		CHECK(conn_send(c, req, (size_t)n));
		conn_read(c, &r);
		CHECK_EQ_INT(r.status, 200);
		CHECK(strcasecmp(hdr(&r, "Connection"), "close") != 0);
		CHECK(strstr(r.body, "\"block_hash\":\""));
		resp_free(&r);
	}
	/* two requests in one write (pipelined): two answers, in order */
	n = snprintf(req, sizeof(req), "GET /block-height HTTP/1.1\r\nHost: x"
		     "\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK(conn_send(c, req, (size_t)n));
	conn_read(c, &r);
	CHECK_EQ_INT(r.status, 200);
	CHECK_STREQ(r.body, "{\"block_height\":400}");
	resp_free(&r);
	conn_read(c, &r);
	CHECK_EQ_INT(r.status, 404);
	resp_free(&r);
	/* Connection: close is honoured */
	n = snprintf(req, sizeof(req), "GET /block-hash/1 HTTP/1.1\r\nHost: x"
		     "\r\nConnection: close\r\n\r\n");
	CHECK(conn_send(c, req, (size_t)n));
	conn_read(c, &r);
	CHECK_EQ_INT(r.status, 200);
	CHECK_STREQ(hdr(&r, "Connection"), "close");
	resp_free(&r);
	CHECK(conn_closed_by_server(c));
	conn_close(c);
	free(c);
}

static int status_hook(void *ctx, char **body, size_t *len)
{
	(void)ctx;
	*body = sd_xstrdup("{\"hook\":\"status\"}");
	*len = strlen(*body);
	return SD_OK;
}

/* ------------------------------------------------------------ setup */

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), p;

	CHECK(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_EQ_INT(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	CHECK_EQ_INT(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	p = ntohs(a.sin_port);
	close(fd);
	return p;
}

static struct oracle_http *start(struct oracle_index *idx,
				 const struct oracle_http_hooks *hooks)
{
	struct oracle_http_config hc = { .threads = 2 };
	struct oracle_http *h = NULL;
	char host[64], err[SD_ERRLEN];
	int rc = SD_EIO;

	/* a port found free may be taken before we bind it: retry */
	for (int i = 0; i < 5 && rc != SD_OK; i++) {
		port = free_port();
		snprintf(host, sizeof(host), "127.0.0.1:%d", port);
		hc.host = host;
		rc = oracle_http_start(&hc, idx, hooks, &h, err);
	}
	CHECK_EQ_INT(rc, SD_OK);
	return h;
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char tmpdir[256], path[600], cmd[300], err[SD_ERRLEN];
	struct oracle_config cfg = {
		.network = "regtest", .tweaks_full_basic = true,
		.tweaks_full_with_dust_filter = true,
		.tweaks_cut_through_with_dust_filter = true,
		.tweak_threads = 2, .start_height = 1,
	};
	struct oracle_http_hooks hooks = { .status_json = status_hook };
	struct oracle_index *idx;
	struct oracle_http *h;
	struct resp r;

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_http_server.XXXXXX",
		 tmp ? tmp : "/tmp");
	CHECK(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/regtest-a/blocks.hex",
		 check_testdata_dir());
	CHECK_EQ_INT(rta_load(path, 0, &chain), 0);
	CHECK_EQ_INT(chain.n, TIP);
	cfg.datadir = tmpdir;
	CHECK_EQ_INT(oracle_index_open(&cfg, &idx, err), SD_OK);
	for (size_t i = 0; i < chain.n; i++)
		CHECK_EQ_INT(oracle_index_connect(idx, chain.b[i]), SD_OK);

	h = start(idx, NULL);
	check_upstream_answers();
	check_methods_and_paths();
	check_oversize();
	check_keep_alive();
	request("GET", "/status", NULL, &r); /* no hook: no route */
	CHECK_EQ_INT(r.status, 404);
	resp_free(&r);
	oracle_http_stop(h);

	h = start(idx, &hooks);
	request("GET", "/status", NULL, &r);
	CHECK_EQ_INT(r.status, 200);
	CHECK_STREQ(r.body, "{\"hook\":\"status\"}");
	CHECK_STREQ(hdr(&r, "Content-Type"), "application/json; "
		    "charset=utf-8");
	resp_free(&r);
	oracle_http_stop(h);

	oracle_index_close(idx);
	rta_free(&chain);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	CHECK_EQ_INT(system(cmd), 0);
	printf("test_http_server: ok\n");
	return 0;
}

/* route.c - blindbit v1 request-target parsing (see route.h): gin's route
 * table, trailing-slash redirect, the /blindbit/ prefix, base-10 uint32
 * heights and Go url.ParseQuery semantics for ?dustLimit. */
#include "route.h"

#include <string.h>

#include "../../common/util.h"

#define PREFIX "/blindbit"
#define PREFIX_LEN (sizeof(PREFIX) - 1)

bool oracle_route_parse_uint(const char *s, size_t len, uint64_t max,
			     uint64_t *out)
{
	uint64_t v = 0;

	*out = 0;
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned)(s[i] - '0');
		if (d > max || v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* Percent-decode a path (Go PathUnescape: '+' stays).  false on a bad
 * escape. */
static bool path_unescape(const char *in, size_t len, char *out,
			  size_t *out_len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '%') {
			int hi, lo;

			if (len - i < 3)
				return false;
			hi = sd_hex_digit(in[i + 1]);
			lo = sd_hex_digit(in[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[o++] = in[i];
		}
	}
	*out_len = o;
	return true;
}

/* One byte of a query component after Go QueryUnescape ('+' -> ' ').
 * Advances *i; returns -1 on a bad escape. */
static int query_byte(const char *s, size_t len, size_t *i)
{
	char c = s[*i];

	if (c == '+') {
		(*i)++;
		return ' ';
	}
	if (c != '%') {
		(*i)++;
		return (unsigned char)c;
	}
	if (len - *i < 3)
		return -1;
	{
		int hi = sd_hex_digit(s[*i + 1]), lo = sd_hex_digit(s[*i + 2]);

		if (hi < 0 || lo < 0)
			return -1;
		*i += 3;
		return hi * 16 + lo;
	}
}

/* Whether every escape of s[0..len) is valid (Go drops the whole pair
 * otherwise). */
static bool query_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len;)
		if (query_byte(s, len, &i) < 0)
			return false;
	return true;
}

static bool query_key_is(const char *s, size_t len, const char *want)
{
	size_t i = 0, w = 0, wl = strlen(want);

	while (i < len) {
		int c = query_byte(s, len, &i);

		if (c < 0 || w >= wl || c != (unsigned char)want[w])
			return false;
		w++;
	}
	return w == wl;
}

/* Unescaped value as base-10 uint64 (no sign, leading zeros fine). */
static bool query_value_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0, n = 0;

	*out = 0;
	while (i < len) {
		int c = query_byte(s, len, &i);
		unsigned d;

		if (c < '0' || c > '9')
			return false;
		d = (unsigned)(c - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		n++;
	}
	if (n == 0)
		return false;
	*out = v;
	return true;
}

/* c.DefaultQuery("dustLimit", "0") then strconv.ParseUint(s, 10, 64). */
static void parse_dust(const char *q, size_t qlen, struct oracle_route *r)
{
	size_t pos = 0;

	r->dust_ok = true;
	r->dust = 0;
	while (pos < qlen) {
		const char *pair = q + pos, *amp, *eq;
		size_t plen, klen;

		amp = memchr(pair, '&', qlen - pos);
		plen = amp ? (size_t)(amp - pair) : qlen - pos;
		pos += plen + (amp ? 1 : 0);
		if (plen == 0 || memchr(pair, ';', plen))
			continue;
		eq = memchr(pair, '=', plen);
		klen = eq ? (size_t)(eq - pair) : plen;
		if (!query_valid(pair, plen))
			continue;
		if (!query_key_is(pair, klen, "dustLimit"))
			continue;
		if (!eq) {
			r->dust_ok = false;    /* "?dustLimit" = "" */
			return;
		}
		r->dust_ok = query_value_u64(eq + 1, plen - klen - 1, &r->dust);
		return;
	}
}

struct route_def {
	const char *prefix;          /* literal part, ends with '/' if params */
	enum oracle_route_id id;
	enum oracle_route_method method;
	int params;                  /* path segments after prefix */
};

static const struct route_def routes[] = {
	{"/info", ORACLE_ROUTE_INFO, ORACLE_METHOD_GET, 0},
	{"/block-height", ORACLE_ROUTE_BLOCK_HEIGHT, ORACLE_METHOD_GET, 0},
	{"/block-hash/", ORACLE_ROUTE_BLOCK_HASH, ORACLE_METHOD_GET, 1},
	{"/tweaks/", ORACLE_ROUTE_TWEAKS, ORACLE_METHOD_GET, 1},
	{"/tweak-index/", ORACLE_ROUTE_TWEAK_INDEX, ORACLE_METHOD_GET, 1},
	{"/filter/", ORACLE_ROUTE_FILTER, ORACLE_METHOD_GET, 2},
	{"/utxos/", ORACLE_ROUTE_UTXOS, ORACLE_METHOD_GET, 1},
	{"/spent-index/", ORACLE_ROUTE_SPENT_INDEX, ORACLE_METHOD_GET, 1},
	{"/mempool/tweaks", ORACLE_ROUTE_MEMPOOL_TWEAKS, ORACLE_METHOD_GET, 0},
	{"/status", ORACLE_ROUTE_STATUS, ORACLE_METHOD_GET, 0},
	{"/health", ORACLE_ROUTE_HEALTH, ORACLE_METHOD_GET, 0},
	{"/metrics", ORACLE_ROUTE_METRICS, ORACLE_METHOD_GET, 0},
	{"/forward-tx", ORACLE_ROUTE_FORWARD_TX, ORACLE_METHOD_POST, 0},
};

static const struct route_def routes_v2[] = {
	{"/info", ORACLE_ROUTE_INFO, ORACLE_METHOD_GET, 0},
	{"/block-height", ORACLE_ROUTE_BLOCK_HEIGHT, ORACLE_METHOD_GET, 0},
	{"/block-hash/", ORACLE_ROUTE_BLOCK_HASH, ORACLE_METHOD_GET, 1},
	{"/tweaks/", ORACLE_ROUTE_V2_TWEAKS, ORACLE_METHOD_GET, 1},
	{"/utxos/", ORACLE_ROUTE_V2_UTXOS, ORACLE_METHOD_GET, 1},
	{"/spent-outputs/", ORACLE_ROUTE_V2_SPENT_OUTPUTS, ORACLE_METHOD_GET,
	 1},
	{"/compute-index/", ORACLE_ROUTE_V2_COMPUTE_INDEX, ORACLE_METHOD_GET,
	 1},
	{"/full-block/", ORACLE_ROUTE_V2_FULL_BLOCK, ORACLE_METHOD_GET, 1},
	{"/mempool/tweaks", ORACLE_ROUTE_MEMPOOL_TWEAKS, ORACLE_METHOD_GET, 0},
	{"/status", ORACLE_ROUTE_STATUS, ORACLE_METHOD_GET, 0},
	{"/health", ORACLE_ROUTE_HEALTH, ORACLE_METHOD_GET, 0},
	{"/metrics", ORACLE_ROUTE_METRICS, ORACLE_METHOD_GET, 0},
};

struct route_table {
	const struct route_def *defs;
	size_t n;
};

static const struct route_table table_v1 = {
	routes, sizeof(routes) / sizeof(routes[0])
};
static const struct route_table table_v2 = {
	routes_v2, sizeof(routes_v2) / sizeof(routes_v2[0])
};

struct match {
	const struct route_def *def;
	const char *seg[2];
	size_t seg_len[2];
};

/* gin-style match: literals exactly, each param one non-empty segment
 * without '/'. */
static bool match_path(const struct route_table *tb,
		       enum oracle_route_method m, const char *p, size_t len,
		       struct match *out)
{
	for (size_t i = 0; i < tb->n; i++) {
		const struct route_def *d = &tb->defs[i];
		size_t pl = strlen(d->prefix), pos;
		int k;

		if (d->method != m || len < pl || memcmp(p, d->prefix, pl))
			continue;
		if (d->params == 0) {
			if (len != pl)
				continue;
			out->def = d;
			return true;
		}
		pos = pl;
		for (k = 0; k < d->params; k++) {
			const char *s = p + pos;
			const char *slash = memchr(s, '/', len - pos);
			size_t sl = slash ? (size_t)(slash - s) : len - pos;

			if (sl == 0)
				break;
			out->seg[k] = s;
			out->seg_len[k] = sl;
			pos += sl;
			if (k + 1 < d->params) {
				if (pos >= len || p[pos] != '/')
					break;
				pos++;
			}
		}
		if (k == d->params && pos == len) {
			out->def = d;
			return true;
		}
	}
	return false;
}

enum oracle_route_method oracle_route_method(const char *name)
{
	if (!strcmp(name, "GET"))
		return ORACLE_METHOD_GET;
	if (!strcmp(name, "POST"))
		return ORACLE_METHOD_POST;
	return ORACLE_METHOD_OTHER;
}

static void route_parse(const struct route_table *tb,
			enum oracle_route_method method, const char *target,
			size_t len, struct oracle_route *out)
{
	char buf[ORACLE_ROUTE_MAX_TARGET];
	const char *q, *path;
	size_t raw_plen, qlen, plen;
	struct match mt;
	uint64_t h;

	memset(out, 0, sizeof(*out));
	memset(buf, 0, 16);
	out->dust_ok = true;
	if (len > ORACLE_ROUTE_MAX_TARGET || len == 0 || target[0] != '/')
		return;
	q = memchr(target, '?', len);
	raw_plen = q ? (size_t)(q - target) : len;
	qlen = q ? len - raw_plen - 1 : 0;
	if (!path_unescape(target, raw_plen, buf, &plen))
		return;
	path = buf;
	if (plen > PREFIX_LEN && !memcmp(path, PREFIX, PREFIX_LEN) &&
	    path[PREFIX_LEN] == '/') {
		out->prefixed = true;
		path += PREFIX_LEN;
		plen -= PREFIX_LEN;
	}
	if (!match_path(tb, method, path, plen, &mt)) {
		/* gin RedirectTrailingSlash: "/info/" -> "/info" */
		if (plen > 1 && path[plen - 1] == '/' &&
		    target[raw_plen - 1] == '/' &&
		    match_path(tb, method, path, plen - 1, &mt)) {
			out->redirect = true;
			out->redirect_len = raw_plen - 1;
			out->redirect_query_off = raw_plen;
		}
		return;
	}
	out->id = mt.def->id;
	if (out->id == ORACLE_ROUTE_MEMPOOL_TWEAKS)
		parse_dust(q ? q + 1 : "", qlen, out);
	if (mt.def->params == 0)
		return;
	out->has_height = true;
	{
		int hs = mt.def->params - 1;

		out->height_ok = oracle_route_parse_uint(
			mt.seg[hs], mt.seg_len[hs], UINT32_MAX, &h);
		out->height = (uint32_t)h;
	}
	if (out->id == ORACLE_ROUTE_FILTER) {
		if (mt.seg_len[0] == 9 && !memcmp(mt.seg[0], "new-utxos", 9))
			out->filter = ORACLE_ROUTE_FILTER_NEW_UTXOS;
		else if (mt.seg_len[0] == 5 && !memcmp(mt.seg[0], "spent", 5))
			out->filter = ORACLE_ROUTE_FILTER_SPENT;
		else
			out->filter = ORACLE_ROUTE_FILTER_BAD;
	}
	if (out->id == ORACLE_ROUTE_TWEAKS ||
	    out->id == ORACLE_ROUTE_TWEAK_INDEX)
		parse_dust(q ? q + 1 : "", qlen, out);
}

void oracle_route_parse(enum oracle_route_method method, const char *target,
			size_t len, struct oracle_route *out)
{
	route_parse(&table_v1, method, target, len, out);
}

void oracle_route_parse_v2(enum oracle_route_method method,
			   const char *target, size_t len,
			   struct oracle_route *out)
{
	route_parse(&table_v2, method, target, len, out);
}

const char *oracle_route_name(enum oracle_route_id id)
{
	static const char *const names[ORACLE_ROUTE_COUNT] = {
		[ORACLE_ROUTE_NONE] = "none",
		[ORACLE_ROUTE_INFO] = "info",
		[ORACLE_ROUTE_BLOCK_HEIGHT] = "block_height",
		[ORACLE_ROUTE_BLOCK_HASH] = "block_hash",
		[ORACLE_ROUTE_TWEAKS] = "tweaks",
		[ORACLE_ROUTE_TWEAK_INDEX] = "tweak_index",
		[ORACLE_ROUTE_FILTER] = "filter",
		[ORACLE_ROUTE_UTXOS] = "utxos",
		[ORACLE_ROUTE_SPENT_INDEX] = "spent_index",
		[ORACLE_ROUTE_FORWARD_TX] = "forward_tx",
		[ORACLE_ROUTE_MEMPOOL_TWEAKS] = "mempool_tweaks",
		[ORACLE_ROUTE_STATUS] = "status",
		[ORACLE_ROUTE_HEALTH] = "health",
		[ORACLE_ROUTE_METRICS] = "metrics",
		[ORACLE_ROUTE_V2_TWEAKS] = "v2_tweaks",
		[ORACLE_ROUTE_V2_UTXOS] = "v2_utxos",
		[ORACLE_ROUTE_V2_SPENT_OUTPUTS] = "v2_spent_outputs",
		[ORACLE_ROUTE_V2_COMPUTE_INDEX] = "v2_compute_index",
		[ORACLE_ROUTE_V2_FULL_BLOCK] = "v2_full_block",
	};

	if ((unsigned)id >= ORACLE_ROUTE_COUNT)
		return "none";
	return names[id];
}

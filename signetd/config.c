/* config.c - blindbit.toml + environment -> struct sd_config.
 *
 * One table of keys (like Redis' standardConfig): each row says the key's
 * type, default, range and help.  The file parser, the environment
 * overrides, --help and --print-config all walk that table, so a new key is
 * one row.  The file format is the TOML subset upstream configs use (no TOML
 * library for C is packaged in Debian): `key = value` lines, # comments,
 * "basic" and 'literal' strings, integers, booleans.  Anything else (tables,
 * arrays, multi-line strings) is refused with file:line, never guessed at.
 *
 * Upstream quirks we keep: keys are case-insensitive (viper), a missing file
 * or an unknown key is only a warning, booleans accept 0/1/true/false.
 * Quirks we fix: sync_start_height defaults to 1 (upstream silently uses 0)
 * and, with chain = main, to 842579 (upstream's BIP352-era code constant,
 * which its config default overwrites with 0: a mainnet index from genesis
 * indexes ~15 years without a single silent payment), max_parallel_tweak_
 * computations 0/absent means "all cores" (upstream hangs).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/log.h"
#include "../common/util.h"

enum opt_type { OPT_STR, OPT_INT, OPT_BOOL, OPT_ENUM };

#define OPT_SECRET   1u /* never printed */
#define OPT_NULLABLE 2u /* default NULL means "not set" */

struct opt {
	const char *name;
	enum opt_type type;
	size_t off;
	const char *def;     /* default as text (NULL: unset string) */
	int64_t min, max;    /* OPT_INT */
	const char *choices; /* OPT_ENUM: "a|b|c" */
	unsigned flags;
	const char *help;
};

/* sync_start_height when chain = main and none is given: upstream's code
 * constant (blindbit-oracle, BIP352-era; its viper default of 0 overwrites
 * it).  Other chains start at 1. */
#define MAINNET_START_HEIGHT 842579

#define F(field) offsetof(struct sd_config, field)
#define I64MAX INT64_MAX

static const struct opt opts[] = {
	{"host", OPT_STR, F(host), "127.0.0.1:8000", 0, 0, NULL, 0,
	 "HTTP listen address host:port (\"[::1]:8000\", \":8000\" = all)"},
	{"chain", OPT_ENUM, F(chain), "signet", 0, 0,
	 "main|signet|regtest|testnet", 0,
	 "network of the node; the index refuses a DB of another chain"},
	{"rpc_endpoint", OPT_STR, F(rpc_endpoint), "http://127.0.0.1:8332", 0,
	 0, NULL, 0, "bitcoind JSON-RPC URL (REST uses the same host:port); "
	 "a user:pass@ in it is used as rpc_user/rpc_pass, never printed"},
	{"cookie_path", OPT_STR, F(cookie_path), "", 0, 0, NULL, 0,
	 "bitcoind .cookie file (re-read when the node restarts)"},
	{"rpc_user", OPT_STR, F(rpc_user), "", 0, 0, NULL, 0,
	 "RPC user when no cookie_path"},
	{"rpc_pass", OPT_STR, F(rpc_pass), "", 0, 0, NULL, OPT_SECRET,
	 "RPC password when no cookie_path (never printed)"},
	{"sync_start_height", OPT_INT, F(sync_start_height), "1", 0,
	 INT32_MAX, NULL, 0,
	 "first height to index; unset: 842579 with chain = main (upstream's "
	 "BIP352-era constant), else 1 (upstream: a silent 0)"},
	{"max_parallel_requests", OPT_INT, F(max_parallel_requests), "2", 1,
	 64, NULL, 0, "parallel block fetches from the node"},
	{"max_parallel_tweak_computations", OPT_INT,
	 F(max_parallel_tweak_computations), "0", 0, 1024, NULL, 0,
	 "tweak worker threads; 0 = online cores (upstream hangs on 0)"},
	{"tweaks_only", OPT_BOOL, F(tweaks_only), "false", 0, 0, NULL, 0,
	 "index tweaks only: no UTXOs, filters, spent index"},
	{"tweaks_full_basic", OPT_BOOL, F(tweaks_full_basic), "true", 0, 0,
	 NULL, 0, "store the full tweak index (/tweak-index)"},
	{"tweaks_full_with_dust_filter", OPT_BOOL,
	 F(tweaks_full_with_dust_filter), "false", 0, 0, NULL, 0,
	 "store tweaks with their highest output value (dustLimit)"},
	{"tweaks_cut_through_with_dust_filter", OPT_BOOL,
	 F(tweaks_cut_through_with_dust_filter), "false", 0, 0, NULL, 0,
	 "serve /tweaks with cut-through (not with tweaks_only)"},
	{"http_host", OPT_STR, F(http_host), NULL, 0, 0, NULL, OPT_NULLABLE,
	 "upstream v2's HTTP address: blindbit v2 routes there, beside host "
	 "(v1); alone (host not set) it is the only listener, speaking v2"},
	{"grpc_host", OPT_STR, F(grpc_host), "", 0, 0, NULL, 0,
	 "upstream v2's gRPC address: blindbit.oracle.v1.OracleService "
	 "(\"\" = off)"},
	{"max_cpu_cores", OPT_INT, F(max_cpu_cores), "0", 0, 1024, NULL, 0,
	 "upstream v2's GOMAXPROCS: accepted and ignored (see "
	 "max_parallel_tweak_computations, http_threads)"},
	{"core_rest_endpoint", OPT_STR, F(core_rest_endpoint), "", 0, 0, NULL,
	 0, "upstream v2's node URL: rpc_endpoint when that is not set"},
	{"core_rpc_endpoint", OPT_STR, F(core_rpc_endpoint), "", 0, 0, NULL, 0,
	 "upstream v2's legacy node URL: rpc_endpoint when neither it nor "
	 "core_rest_endpoint is set"},
	{"api_version", OPT_INT, F(api_version), "1", 1, 2, NULL, 0,
	 "blindbit API generation host speaks: 1 (v1 routes) or 2 (v2)"},
	{"zmq_hashblock", OPT_STR, F(zmq_hashblock), NULL, 0, 0, NULL,
	 OPT_NULLABLE,
	 "ZMQ hashblock endpoint; unset = ask the node, \"off\" or \"\" = "
	 "poll"},
	{"zmq_rawtx", OPT_STR, F(zmq_rawtx), NULL, 0, 0, NULL, OPT_NULLABLE,
	 "ZMQ rawtx endpoint (mempool tweaks); unset = ask, \"off\" = none"},
	{"log_level", OPT_ENUM, F(log_level), "info", 0, 0,
	 "trace|debug|info|warn|error", 0, "minimum log level"},
	{"log_file", OPT_STR, F(log_file), "", 0, 0, NULL, 0,
	 "also log to this file (relative: in datadir); SIGHUP reopens it"},
	{"block_source", OPT_ENUM, F(block_source), "auto", 0, 0,
	 "auto|rest|rpc", 0,
	 "how to fetch blocks: REST+spenttxouts, getblock 3, or detect"},
	{"immutable_depth", OPT_INT, F(immutable_depth), "6", 1, 1000000, NULL,
	 0, "confirmations before block answers are Cache-Control immutable"},
	{"undo_depth", OPT_INT, F(undo_depth), "1000", 6, INT32_MAX, NULL, 0,
	 "blocks a reorg may undo (undo rows kept); a deeper reorg needs a "
	 "reindex"},
	{"health_max_tip_age", OPT_INT, F(health_max_tip_age), "3600", 0,
	 I64MAX, NULL, 0,
	 "seconds; an older node tip makes /health degraded (0 = off)"},
	{"health_max_index_lag", OPT_INT, F(health_max_index_lag), "2", 0,
	 I64MAX, NULL, 0,
	 "blocks the index may trail the node before /health degraded"},
	{"http_threads", OPT_INT, F(http_threads), "2", 1, 256, NULL, 0,
	 "HTTP server threads"},
	{"http_max_connections", OPT_INT, F(http_max_connections), "1024", 1,
	 65536, NULL, 0, "concurrent HTTP connections"},
	{"http_max_connections_per_ip", OPT_INT,
	 F(http_max_connections_per_ip), "0", -1, 65536, NULL, 0,
	 "concurrent HTTP connections from one address (0 = 64 when host is "
	 "not loopback, none on loopback; -1 = no cap)"},
	{"http_request_timeout", OPT_INT, F(http_request_timeout), "30", 1,
	 3600, NULL, 0,
	 "seconds a request's headers and body may take in all"},
	{"http_forward_workers", OPT_INT, F(http_forward_workers), "4", 1,
	 64, NULL, 0, "POST /forward-tx node calls in flight"},
	{"http_forward_queue", OPT_INT, F(http_forward_queue), "32", 1,
	 100000, NULL, 0, "relays that may wait for a worker (then 503)"},
	{"http_forward_timeout_ms", OPT_INT, F(http_forward_timeout_ms),
	 "5000", 100, 600000, NULL, 0, "timeout of one relay's node call"},
	{"http_forward_rate_per_min", OPT_INT, F(http_forward_rate_per_min),
	 "60", 1, 1000000, NULL, 0,
	 "relays per minute one address may make (token bucket refill)"},
	{"http_forward_burst", OPT_INT, F(http_forward_burst), "10", 1,
	 1000000, NULL, 0, "relays one address may make at once (bucket)"},
	{"http_forward_cors", OPT_BOOL, F(http_forward_cors), "false", 0, 0,
	 NULL, 0, "CORS on POST /forward-tx answers (GET answers have it)"},
	{"mempool_queue_txs", OPT_INT, F(mempool_queue_txs), "10000", 1,
	 10000000, NULL, 0, "raw mempool txs waiting for the mempool thread"},
	{"mempool_queue_bytes", OPT_INT, F(mempool_queue_bytes), "33554432",
	 65536, I64MAX, NULL, 0, "bytes of raw txs waiting (then dropped)"},
	{"mempool_max_tx_bytes", OPT_INT, F(mempool_max_tx_bytes), "400000",
	 1000, 4000000, NULL, 0, "bigger mempool txs are not looked at"},
	{"mempool_max_inputs", OPT_INT, F(mempool_max_inputs), "2500", 1,
	 1000000, NULL, 0, "mempool txs with more inputs are skipped"},
	{"mempool_max_outputs", OPT_INT, F(mempool_max_outputs), "10000", 1,
	 1000000, NULL, 0, "mempool txs with more outputs are skipped"},
	{"mempool_max_parents", OPT_INT, F(mempool_max_parents), "64", 1,
	 100000, NULL, 0, "unconfirmed parents fetched for one tx"},
	{"mempool_max_fetch_bytes", OPT_INT, F(mempool_max_fetch_bytes),
	 "4194304", 1, I64MAX, NULL, 0, "parent bytes fetched for one tx"},
	{"mempool_max_tweaks", OPT_INT, F(mempool_max_tweaks), "100000", 1,
	 100000000, NULL, 0, "mempool tweaks held (/mempool/tweaks)"},
	{"mempool_cache_bytes", OPT_INT, F(mempool_cache_bytes), "16777216",
	 65536, I64MAX, NULL, 0, "outputs of recent txs kept to resolve children"},
	{"mempool_prune_interval_s", OPT_INT, F(mempool_prune_interval_s),
	 "30", 1, 86400, NULL, 0, "seconds between getrawmempool prunes"},
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static char **str_field(struct sd_config *c, const struct opt *o)
{
	return (char **)((char *)c + o->off);
}
static int64_t *int_field(struct sd_config *c, const struct opt *o)
{
	return (int64_t *)((char *)c + o->off);
}
static bool *bool_field(struct sd_config *c, const struct opt *o)
{
	return (bool *)((char *)c + o->off);
}
static const void *cfield(const struct sd_config *c, const struct opt *o)
{
	return (const char *)c + o->off;
}

static const struct opt *find_opt(const char *name)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (strcasecmp(opts[i].name, name) == 0)
			return &opts[i];
	return NULL;
}

static int fail(char *err, int code, const char *fmt, ...) SD_PRINTF(3, 4);
static int fail(char *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err, SD_ERRLEN, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* Integer: optional sign, digits, '_' only between digits (TOML). */
static int parse_int(const char *s, int64_t *out)
{
	bool neg = false, prev_digit = false;
	uint64_t v = 0, lim;
	size_t nd = 0;

	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *s; s++) {
		if (*s == '_') {
			if (!prev_digit || !isdigit((unsigned char)s[1]))
				return SD_EPARSE;
			prev_digit = false;
			continue;
		}
		if (!isdigit((unsigned char)*s))
			return SD_EPARSE;
		if (v > (lim - (uint64_t)(*s - '0')) / 10)
			return SD_EPARSE;
		v = v * 10 + (uint64_t)(*s - '0');
		prev_digit = true;
		nd++;
	}
	if (nd == 0)
		return SD_EPARSE;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return SD_OK;
}

/* strconv.ParseBool's forms, which is what viper accepts. */
static int parse_bool(const char *s, bool *out)
{
	static const char *const t[] = {"1", "t", "T", "true", "TRUE", "True"};
	static const char *const f[] = {"0", "f", "F", "false", "FALSE",
					"False"};

	for (size_t i = 0; i < 6; i++) {
		if (strcmp(s, t[i]) == 0) {
			*out = true;
			return SD_OK;
		}
		if (strcmp(s, f[i]) == 0) {
			*out = false;
			return SD_OK;
		}
	}
	return SD_EPARSE;
}

static bool in_choices(const char *choices, const char *v)
{
	size_t n = strlen(v);
	const char *p = choices;

	if (n == 0)
		return false;
	while (p && *p) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == n && strncmp(p, v, n) == 0)
			return true;
		p = bar ? bar + 1 : NULL;
	}
	return false;
}

/* Set o from value text.  quoted: the value was a TOML string (a file
 * string key requires one; numbers and booleans accept either, as viper
 * converts).  where: "file:line" or "env VAR". */
static int set_opt(struct sd_config *c, const struct opt *o, const char *v,
		   bool quoted, bool from_file, const char *where, char *err)
{
	int64_t iv;
	bool bv;

	if (strcmp(where, "default") != 0) {
		if (o->off == F(host))
			c->host_given = true;
		if (o->off == F(rpc_endpoint))
			c->rpc_endpoint_given = true;
		if (o->off == F(sync_start_height))
			c->sync_start_height_given = true;
	}
	switch (o->type) {
	case OPT_STR:
	case OPT_ENUM:
		if (from_file && !quoted)
			return fail(err, SD_EPARSE,
				    "%s: %s: expected a quoted string", where,
				    o->name);
		if (o->type == OPT_ENUM && !in_choices(o->choices, v))
			return fail(err, SD_EINVAL,
				    "%s: %s: \"%.40s\" is not one of %s", where,
				    o->name, v, o->choices);
		free(*str_field(c, o));
		*str_field(c, o) = sd_xstrdup(v);
		return SD_OK;
	case OPT_INT:
		if (parse_int(v, &iv) != SD_OK)
			return fail(err, SD_EINVAL,
				    "%s: %s: expected an integer", where,
				    o->name);
		if (iv < o->min || iv > o->max)
			return fail(err, SD_EINVAL,
				    "%s: %s: %lld is out of range %lld..%lld",
				    where, o->name, (long long)iv,
				    (long long)o->min, (long long)o->max);
		*int_field(c, o) = iv;
		return SD_OK;
	case OPT_BOOL:
		if (parse_bool(v, &bv) != SD_OK)
			return fail(err, SD_EINVAL,
				    "%s: %s: expected a boolean "
				    "(true/false/1/0)", where, o->name);
		*bool_field(c, o) = bv;
		return SD_OK;
	}
	return fail(err, SD_EINVAL, "%s: %s: bad type", where, o->name);
}

void sd_config_defaults(struct sd_config *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];
		int rc;

		if (o->type == OPT_STR && !o->def)
			continue; /* unset */
		rc = set_opt(c, o, o->def, true, false, "default", NULL);
		if (rc != SD_OK)
			abort(); /* a bad row in the table */
	}
}

void sd_config_free(struct sd_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < N_OPTS; i++) {
		if (opts[i].type == OPT_STR || opts[i].type == OPT_ENUM) {
			char **p = str_field(c, &opts[i]);

			free(*p);
			*p = NULL;
		}
	}
}

/* ---- the TOML subset ---------------------------------------------------- */

static void buf_utf8(struct sd_buf *b, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	sd_buf_put(b, u, n);
}

/* Parse a "basic" string at *pp (just after the opening quote) into b.
 * Returns NULL or an error reason; *pp ends after the closing quote. */
static const char *parse_basic(const char **pp, const char *end,
			       struct sd_buf *b)
{
	const char *p = *pp;

	sd_buf_put(b, "", 0);
	while (p < end && *p != '"') {
		unsigned char ch = (unsigned char)*p;

		if (ch == '\\') {
			uint32_t cp = 0;
			int nhex;

			if (++p >= end)
				return "unterminated string";
			switch (*p) {
			case '"': sd_buf_put(b, "\"", 1); p++; continue;
			case '\\': sd_buf_put(b, "\\", 1); p++; continue;
			case 'n': sd_buf_put(b, "\n", 1); p++; continue;
			case 't': sd_buf_put(b, "\t", 1); p++; continue;
			case 'r': sd_buf_put(b, "\r", 1); p++; continue;
			case 'b': sd_buf_put(b, "\b", 1); p++; continue;
			case 'f': sd_buf_put(b, "\f", 1); p++; continue;
			case 'e': sd_buf_put(b, "\x1b", 1); p++; continue;
			case 'u': nhex = 4; break;
			case 'U': nhex = 8; break;
			default: return "bad escape in string";
			}
			p++;
			for (int i = 0; i < nhex; i++, p++) {
				if (p >= end || !isxdigit((unsigned char)*p))
					return "bad \\u escape in string";
				cp = cp * 16 + (uint32_t)(isdigit(
						(unsigned char)*p) ? *p - '0' :
						(tolower((unsigned char)*p) -
						 'a' + 10));
			}
			if (cp == 0 || cp > 0x10ffff ||
			    (cp >= 0xd800 && cp <= 0xdfff))
				return "bad \\u escape in string";
			buf_utf8(b, cp);
			continue;
		}
		if (ch == '\n' || ch == '\r')
			return "unterminated string";
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return "control character in string";
		sd_buf_put(b, p, 1);
		p++;
	}
	if (p >= end)
		return "unterminated string";
	*pp = p + 1;
	return NULL;
}

static bool is_key_char(char ch)
{
	return isalnum((unsigned char)ch) || ch == '_' || ch == '-' ||
	       ch == '.';
}

/* One line [p, end) without its newline.  Returns SD_OK or an error. */
static int parse_line(struct sd_config *c, const char *p, const char *end,
		      const char *fname, int lineno, bool *seen, char *err)
{
	char where[300], key[64];
	const char *reason = NULL;
	struct sd_buf val = {0};
	bool quoted = false;
	const struct opt *o;
	size_t klen = 0;
	int rc;

	snprintf(where, sizeof(where), "%s:%d", fname, lineno);
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end || *p == '#')
		return SD_OK;
	if (*p == '[')
		return fail(err, SD_EPARSE,
			    "%s: [tables] are not supported: blindbit.toml "
			    "keys are top-level", where);
	while (p < end && is_key_char(*p)) {
		if (klen + 1 >= sizeof(key))
			return fail(err, SD_EPARSE, "%s: key too long", where);
		key[klen++] = *p++;
	}
	key[klen] = '\0';
	if (klen == 0)
		return fail(err, SD_EPARSE, "%s: expected key = value", where);
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end || *p != '=')
		return fail(err, SD_EPARSE,
			    "%s: %s: expected '=' after the key", where, key);
	p++;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end)
		return fail(err, SD_EPARSE, "%s: %s: missing value", where,
			    key);

	if (*p == '"') {
		p++;
		if (end - p >= 2 && p[0] == '"' && p[1] == '"')
			return fail(err, SD_EPARSE,
				    "%s: %s: multi-line strings are not "
				    "supported", where, key);
		reason = parse_basic(&p, end, &val);
		quoted = true;
	} else if (*p == '\'') {
		const char *q = ++p;

		while (p < end && *p != '\'' && *p != '\n')
			p++;
		if (p >= end || *p != '\'') {
			reason = "unterminated string";
		} else {
			sd_buf_put(&val, q, (size_t)(p - q));
			if (memchr(val.s, '\0', val.len) || memchr(val.s, '\r',
								   val.len))
				reason = "control character in string";
			p++;
		}
		quoted = true;
	} else if (*p == '[' || *p == '{') {
		reason = "arrays and inline tables are not supported";
	} else {
		const char *q = p;

		while (p < end && !isspace((unsigned char)*p) && *p != '#')
			p++;
		sd_buf_put(&val, q, (size_t)(p - q));
		if (memchr(val.s, '\0', val.len))
			reason = "NUL byte in value";
	}
	if (!reason) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p < end && *p != '#')
			reason = "unexpected text after the value";
	}
	if (reason) {
		free(val.p);
		return fail(err, SD_EPARSE, "%s: %s: %s", where, key, reason);
	}

	o = find_opt(key);
	if (!o) {
		char q1[96], q2[300];

		sd_log_warn("config", "config_unknown_key", "key=%s at=%s",
			    sd_log_q(q1, sizeof(q1), key),
			    sd_log_q(q2, sizeof(q2), where));
		free(val.p);
		return SD_OK;
	}
	if (seen[o - opts]) {
		free(val.p);
		return fail(err, SD_EPARSE, "%s: %s: duplicate key", where,
			    o->name);
	}
	seen[o - opts] = true;
	rc = set_opt(c, o, val.s, quoted, true, where, err);
	free(val.p);
	return rc;
}

int sd_config_parse(struct sd_config *c, const char *text, size_t len,
		    const char *fname, char *err)
{
	bool seen[N_OPTS] = {false};
	const char *p = text, *end = text + len;
	int lineno = 0;

	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3; /* UTF-8 BOM */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		int rc;

		lineno++;
		if (le > p && le[-1] == '\r')
			le--;
		if (memchr(p, '\0', (size_t)(le - p)))
			return fail(err, SD_EPARSE, "%s:%d: NUL byte", fname,
				    lineno);
		rc = parse_line(c, p, le, fname, lineno, seen, err);
		if (rc != SD_OK)
			return rc;
		p = nl ? nl + 1 : end;
	}
	return SD_OK;
}

int sd_config_load_file(struct sd_config *c, const char *path, char *err)
{
	FILE *f = fopen(path, "rb");
	struct sd_buf b = {0};
	char chunk[4096];
	struct stat st;
	bool world;
	size_t n;
	int rc;

	if (!f) {
		if (errno == ENOENT)
			return fail(err, SD_ENOTFOUND, "%s: no such file",
				    path);
		return fail(err, SD_EIO, "%s: %s", path, strerror(errno));
	}
	sd_buf_put(&b, "", 0);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (b.len + n > (1u << 20)) {
			fclose(f);
			free(b.p);
			return fail(err, SD_EPARSE, "%s: larger than 1 MiB",
				    path);
		}
		sd_buf_put(&b, chunk, n);
	}
	if (ferror(f)) {
		fclose(f);
		free(b.p);
		return fail(err, SD_EIO, "%s: read error", path);
	}
	world = fstat(fileno(f), &st) == 0 && (st.st_mode & S_IROTH);
	fclose(f);
	rc = sd_config_parse(c, b.s, b.len, path, err);
	free(b.p);
	if (rc == SD_OK && world && c->rpc_pass && c->rpc_pass[0]) {
		char q[200];

		/* the password itself is never printed */
		sd_log_warn("config", "config_permissions", "path=%s mode=%04o "
			    "note=\"holds rpc_pass and every local user can "
			    "read it: chmod 600\"", sd_log_q(q, sizeof(q), path),
			    (unsigned)(st.st_mode & 07777));
	}
	return rc;
}

int sd_config_apply_env(struct sd_config *c, char *err)
{
	for (size_t i = 0; i < N_OPTS; i++) {
		char env[64], where[80];
		const char *v;
		size_t k;
		int rc;

		for (k = 0; opts[i].name[k] && k + 1 < sizeof(env); k++)
			env[k] = (char)toupper((unsigned char)opts[i].name[k]);
		env[k] = '\0';
		v = getenv(env);
		/* Empty means "not set": compose passes ${X:-} for every
		 * variable, so an unset one arrives as "" and must not wipe
		 * the file's value. */
		if (!v || !v[0])
			continue;
		snprintf(where, sizeof(where), "env %s", env);
		rc = set_opt(c, &opts[i], v, true, false, where, err);
		if (rc != SD_OK)
			return rc;
	}
	return SD_OK;
}

/* "host:port", "[v6]:port" or ":port" with a port 1..65535. */
static bool valid_listen(const char *s)
{
	const char *colon;
	int64_t port;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return false;
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return false;
	}
	if (!isdigit((unsigned char)colon[1]) ||
	    parse_int(colon + 1, &port) != SD_OK || strchr(colon + 1, '_'))
		return false;
	return port >= 1 && port <= 65535;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)tolower((unsigned char)ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* s[0..n) percent-decoded into a new string; NULL on a bad escape or an
 * escaped NUL. */
static char *pct_decode(const char *s, size_t n)
{
	char *out = sd_xmalloc(n + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (i + 2 >= n)
			goto bad;
		if (hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0 ||
		    (hexval(s[i + 1]) | hexval(s[i + 2])) == 0)
			goto bad;
		*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
		i += 2;
	}
	*o = '\0';
	return out;
bad:
	explicit_bzero(out, n + 1);
	free(out);
	return NULL;
}

/* Credentials inside rpc_endpoint ("http://user:pass@host:port") are taken
 * out of the URL, so that the URL can be printed and logged as any other
 * value, and become rpc_user/rpc_pass when no cookie_path and no
 * rpc_user/rpc_pass are set (libcurl lets those win over the URL's
 * anyway).  The password is then redacted like rpc_pass. */
static int endpoint_userinfo(struct sd_config *c, char *err)
{
	char *url = c->rpc_endpoint, *auth, *end, *at, *colon, *clean;
	char *user = NULL, *pass = NULL;
	size_t n;

	auth = strstr(url, "://");
	if (!auth)
		return SD_OK;
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	at = NULL;
	for (char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	if (!at)
		return SD_OK;
	colon = memchr(auth, ':', (size_t)(at - auth));
	user = pct_decode(auth, (size_t)((colon ? colon : at) - auth));
	if (colon)
		pass = pct_decode(colon + 1, (size_t)(at - colon - 1));
	else
		pass = sd_xstrdup("");
	if (!user || !pass) {
		free(user);
		if (pass)
			explicit_bzero(pass, strlen(pass));
		free(pass);
		return fail(err, SD_EINVAL, "rpc_endpoint: bad %%-escape in "
			    "the credentials before '@'");
	}
	n = strlen(url);
	clean = sd_xmalloc(n + 1);
	snprintf(clean, n + 1, "%.*s%s", (int)(auth - url), url, at + 1);
	explicit_bzero(url, n);
	free(url);
	c->rpc_endpoint = clean;
	if (!c->cookie_path[0] && !c->rpc_user[0] && !c->rpc_pass[0]) {
		free(c->rpc_user);
		free(c->rpc_pass);
		c->rpc_user = user;
		c->rpc_pass = pass;
		sd_log_info("config", "config_endpoint_credentials",
			    "note=\"user and password of rpc_endpoint used as "
			    "rpc_user/rpc_pass\"");
		return SD_OK;
	}
	sd_log_warn("config", "config_endpoint_credentials",
		    "note=\"credentials in rpc_endpoint ignored: %s is set\"",
		    c->cookie_path[0] ? "cookie_path" : "rpc_user/rpc_pass");
	free(user);
	explicit_bzero(pass, strlen(pass));
	free(pass);
	return SD_OK;
}

/* Upstream v2 configs: http_host alone is the listener (speaking v2),
 * http_host == host means one v2 listener, core_*_endpoint name the node
 * when rpc_endpoint is not set. */
static int v2_keys(struct sd_config *c, char *err)
{
	const char *node = c->core_rest_endpoint[0] ? c->core_rest_endpoint :
			   c->core_rpc_endpoint;

	if (!c->rpc_endpoint_given && node[0]) {
		free(c->rpc_endpoint);
		c->rpc_endpoint = sd_xstrdup(node);
	}
	if (c->http_host && !c->http_host[0]) {
		free(c->http_host);
		c->http_host = NULL;
	}
	if (c->grpc_host[0] && !valid_listen(c->grpc_host))
		return fail(err, SD_EINVAL, "grpc_host: \"%.60s\" is not "
			    "host:port (port 1-65535)", c->grpc_host);
	if (!c->http_host)
		return SD_OK;
	if (!valid_listen(c->http_host))
		return fail(err, SD_EINVAL, "http_host: \"%.60s\" is not "
			    "host:port (port 1-65535)", c->http_host);
	if (!c->host_given || strcmp(c->host, c->http_host) == 0) {
		free(c->host);
		c->host = c->http_host;
		c->http_host = NULL;
		c->api_version = 2;
	}
	return SD_OK;
}

int sd_config_finish(struct sd_config *c, char *err)
{
	int rc;

	if ((rc = v2_keys(c, err)) != SD_OK)
		return rc;
	if (!valid_listen(c->host))
		return fail(err, SD_EINVAL,
			    "host: \"%.60s\" is not host:port (port 1-65535)",
			    c->host);
	if (strncmp(c->rpc_endpoint, "http://", 7) != 0 &&
	    strncmp(c->rpc_endpoint, "https://", 8) != 0)
		return fail(err, SD_EINVAL,
			    "rpc_endpoint: must start with http:// or "
			    "https://");
	rc = endpoint_userinfo(c, err);
	if (rc != SD_OK)
		return rc;
	if (!c->cookie_path[0] && (!c->rpc_user[0] || !c->rpc_pass[0]))
		return fail(err, SD_EINVAL,
			    "cookie_path: no RPC credentials: set cookie_path "
			    "or both rpc_user and rpc_pass");
	if (c->tweaks_only && c->tweaks_cut_through_with_dust_filter)
		return fail(err, SD_EINVAL,
			    "tweaks_cut_through_with_dust_filter: cannot be "
			    "combined with tweaks_only (cut-through needs the "
			    "UTXO set)");
	/* an explicit value (file or env, 0 and 1 included) always wins */
	if (!c->sync_start_height_given && strcmp(c->chain, "main") == 0)
		c->sync_start_height = MAINNET_START_HEIGHT;
	if (c->max_parallel_tweak_computations == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		c->max_parallel_tweak_computations = n > 0 ? n : 1;
	}
	/* "off" and "" both disable a ZMQ subscription. */
	if (c->zmq_hashblock && strcmp(c->zmq_hashblock, "off") == 0)
		c->zmq_hashblock[0] = '\0';
	if (c->zmq_rawtx && strcmp(c->zmq_rawtx, "off") == 0)
		c->zmq_rawtx[0] = '\0';
	return SD_OK;
}

/* ---- output -------------------------------------------------------------- */

static void print_toml_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

void sd_config_print(const struct sd_config *c, FILE *f)
{
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];
		const void *p = cfield(c, o);

		switch (o->type) {
		case OPT_STR:
		case OPT_ENUM: {
			const char *s = *(char *const *)p;

			if (!s) {
				fprintf(f, "# %s: unset (ask the node)\n",
					o->name);
				break;
			}
			fprintf(f, "%s = ", o->name);
			if ((o->flags & OPT_SECRET) && s[0])
				fputs("\"<redacted>\"", f);
			else
				print_toml_string(f, s);
			fputc('\n', f);
			break;
		}
		case OPT_INT:
			fprintf(f, "%s = %lld\n", o->name,
				(long long)*(const int64_t *)p);
			break;
		case OPT_BOOL:
			fprintf(f, "%s = %s\n", o->name,
				*(const bool *)p ? "true" : "false");
			break;
		}
	}
}

void sd_config_help(FILE *f)
{
	static const char *const tname[] = {"string", "integer", "boolean",
					    "enum"};

	fputs("Configuration keys (<datadir>/blindbit.toml; each also read "
	      "from the UPPERCASE\nenvironment variable of the same name, "
	      "which wins over the file):\n", f);
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];
		char env[64];
		size_t k;

		for (k = 0; o->name[k] && k + 1 < sizeof(env); k++)
			env[k] = (char)toupper((unsigned char)o->name[k]);
		env[k] = '\0';
		fprintf(f, "  %s (%s) %s", o->name, env,
			o->type == OPT_ENUM ? o->choices : tname[o->type]);
		if (o->def)
			fprintf(f, ", default %s%s%s",
				o->type == OPT_STR ? "\"" : "", o->def,
				o->type == OPT_STR ? "\"" : "");
		else
			fputs(", default unset", f);
		if (o->type == OPT_INT) {
			if (o->max == I64MAX)
				fprintf(f, ", >= %lld", (long long)o->min);
			else
				fprintf(f, ", %lld..%lld", (long long)o->min,
					(long long)o->max);
		}
		fprintf(f, "\n      %s\n", o->help);
	}
}

void sd_config_log_warnings(const struct sd_config *c)
{
	/* oracle/http/http_routes.c answers /tweaks/:h from the cut-through
	 * rows only: without them every answer is [] (as upstream), and a
	 * light client that reads /tweaks (blindbit-scan) silently finds
	 * nothing.  The default stays upstream's; say it at start. */
	if (!c->tweaks_cut_through_with_dust_filter)
		sd_log_warn("config", "config_tweaks_empty",
			    "route=/tweaks "
			    "key=tweaks_cut_through_with_dust_filter value=0 "
			    "note=\"/tweaks/:h answers [] for every block; "
			    "light clients that read /tweaks (blindbit-scan) "
			    "find nothing: set "
			    "tweaks_cut_through_with_dust_filter = 1 (needs "
			    "tweaks_only = 0; /tweak-index is not "
			    "affected)\"");
}

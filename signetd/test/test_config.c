/* test_config.c - blindbit.toml parsing, env overrides, validation.
 *
 * Table-driven: good files and the values they give, bad files and the
 * key + line the error must name, every boolean form, the defaults, and a
 * config written like upstream's example.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "signetd/config.h"
#include "common/log.h"
#include "tests/lib/check.h"

static int parse(struct sd_config *c, const char *text, char *err)
{
	sd_config_defaults(c);
	err[0] = '\0';
	return sd_config_parse(c, text, strlen(text), "t.toml", err);
}

static void test_defaults(void)
{
	struct sd_config c;
	char err[SD_ERRLEN];

	sd_config_defaults(&c);
	CHECK_STREQ(c.host, "127.0.0.1:8000");
	CHECK_STREQ(c.chain, "signet");
	CHECK_STREQ(c.rpc_endpoint, "http://127.0.0.1:8332");
	CHECK_STREQ(c.cookie_path, "");
	CHECK_EQ_INT(c.sync_start_height, 1);
	CHECK_EQ_INT(c.max_parallel_requests, 2);
	CHECK_EQ_INT(c.max_parallel_tweak_computations, 0);
	CHECK(!c.tweaks_only);
	CHECK(c.tweaks_full_basic);
	CHECK(!c.tweaks_full_with_dust_filter);
	CHECK(!c.tweaks_cut_through_with_dust_filter);
	CHECK(c.zmq_hashblock == NULL && c.zmq_rawtx == NULL);
	CHECK_STREQ(c.log_level, "info");
	CHECK_STREQ(c.block_source, "auto");
	CHECK_EQ_INT(c.immutable_depth, 6);
	CHECK_EQ_INT(c.undo_depth, 1000);
	CHECK_EQ_INT(c.http_threads, 2);

	/* defaults alone lack credentials: finish() says which key */
	CHECK_EQ_INT(sd_config_finish(&c, err), SD_EINVAL);
	CHECK(strstr(err, "cookie_path"));
	free(c.cookie_path);
	c.cookie_path = strdup("/x/.cookie");
	CHECK_EQ_INT(sd_config_finish(&c, err), SD_OK);
	/* 0 tweak threads (upstream hangs) -> the online cores, >= 1 */
	CHECK(c.max_parallel_tweak_computations >= 1);
	CHECK_EQ_INT(c.max_parallel_tweak_computations,
		     sysconf(_SC_NPROCESSORS_ONLN));
	sd_config_free(&c);
}

/* An upstream-style example file: every upstream key, comments, 0/1
 * booleans. */
static const char upstream_example[] =
	"# log level: trace, debug, info, warn, error\n"
	"log_level = \"debug\"\n"
	"\n"
	"# listen here (0.0.0.0:8000 for all interfaces)\n"
	"host = \"0.0.0.0:8000\"\n"
	"chain = \"signet\"\n"
	"rpc_endpoint = \"http://127.0.0.1:38332\"\n"
	"cookie_path = \"\"\n"
	"rpc_pass = \"s3cret-pass\"\n"
	"rpc_user = \"oracle\"\n"
	"sync_start_height = 1\n"
	"max_parallel_tweak_computations = 4\n"
	"max_parallel_requests = 4\n"
	"tweaks_only = 0\n"
	"tweaks_full_basic = 1\n"
	"tweaks_full_with_dust_filter = 0\n"
	"tweaks_cut_through_with_dust_filter = 0\n";

static void test_upstream_example(void)
{
	struct sd_config c;
	char err[SD_ERRLEN], *out = NULL;
	size_t outlen = 0;
	FILE *f;

	CHECK_EQ_INT(parse(&c, upstream_example, err), SD_OK);
	CHECK_STREQ(c.log_level, "debug");
	CHECK_STREQ(c.host, "0.0.0.0:8000");
	CHECK_STREQ(c.rpc_endpoint, "http://127.0.0.1:38332");
	CHECK_STREQ(c.rpc_user, "oracle");
	CHECK_STREQ(c.rpc_pass, "s3cret-pass");
	CHECK_EQ_INT(c.max_parallel_tweak_computations, 4);
	CHECK_EQ_INT(c.max_parallel_requests, 4);
	CHECK(!c.tweaks_only && c.tweaks_full_basic);
	CHECK_EQ_INT(sd_config_finish(&c, err), SD_OK);

	/* --print-config never shows the password */
	f = open_memstream(&out, &outlen);
	sd_config_print(&c, f);
	fclose(f);
	CHECK(strstr(out, "rpc_user = \"oracle\"\n"));
	CHECK(strstr(out, "rpc_pass = \"<redacted>\"\n"));
	CHECK(!strstr(out, "s3cret"));
	CHECK(strstr(out, "max_parallel_requests = 4\n"));
	free(out);
	sd_config_free(&c);
}

struct good_case {
	const char *text;
	const char *key;  /* which field to look at */
	const char *want; /* as --print-config renders the value */
};

static const struct good_case good[] = {
	/* strings: escapes, literal strings, comments, spacing, CRLF */
	{"host = \"[::1]:9000\"", "host", "\"[::1]:9000\""},
	{"host=\"127.0.0.1:1\"# c", "host", "\"127.0.0.1:1\""},
	{"  host  =  '127.0.0.1:80'   # trailing", "host", "\"127.0.0.1:80\""},
	{"host = \":8000\"\r\n", "host", "\":8000\""},
	{"cookie_path = \"/a b/\\\"q\\\"\\\\c\"", "cookie_path",
	 "\"/a b/\\\"q\\\"\\\\c\""},
	{"cookie_path = \"\\u00e9\\t\"", "cookie_path",
	 "\"\xc3\xa9\\u0009\""},
	{"cookie_path = 'C:\\path'", "cookie_path", "\"C:\\\\path\""},
	/* keys are case-insensitive (viper) */
	{"CHAIN = \"regtest\"", "chain", "\"regtest\""},
	/* integers: sign, underscores, quoted (viper converts) */
	{"sync_start_height = 840_000", "sync_start_height", "840000"},
	{"sync_start_height = +5", "sync_start_height", "5"},
	{"sync_start_height = \"7\"", "sync_start_height", "7"},
	{"max_parallel_requests = 64", "max_parallel_requests", "64"},
	/* every boolean form */
	{"tweaks_only = true", "tweaks_only", "true"},
	{"tweaks_only = 1", "tweaks_only", "true"},
	{"tweaks_only = True", "tweaks_only", "true"},
	{"tweaks_only = TRUE", "tweaks_only", "true"},
	{"tweaks_only = t", "tweaks_only", "true"},
	{"tweaks_only = \"1\"", "tweaks_only", "true"},
	{"tweaks_full_basic = false", "tweaks_full_basic", "false"},
	{"tweaks_full_basic = 0", "tweaks_full_basic", "false"},
	{"tweaks_full_basic = False", "tweaks_full_basic", "false"},
	{"tweaks_full_basic = F", "tweaks_full_basic", "false"},
	{"tweaks_full_basic = \"false\"", "tweaks_full_basic", "false"},
	/* ours */
	{"zmq_hashblock = \"tcp://127.0.0.1:29000\"", "zmq_hashblock",
	 "\"tcp://127.0.0.1:29000\""},
	{"block_source = \"rest\"", "block_source", "\"rest\""},
	{"health_max_tip_age = 0", "health_max_tip_age", "0"},
	/* unknown keys are a warning only (upstream ignores them) */
	{"sync_catch_up = 1\nchain = \"main\"", "chain", "\"main\""},
	/* BOM, blank lines and comments only around */
	{"\xef\xbb\xbf\n# c\n\n  \t\nchain = \"testnet\"\n\n", "chain",
	 "\"testnet\""},
};

/* The printed line "key = value" for key. */
static char *printed(const struct sd_config *c, const char *key)
{
	char *out = NULL, *line, *res = NULL;
	size_t outlen = 0, klen = strlen(key);
	FILE *f = open_memstream(&out, &outlen);

	sd_config_print(c, f);
	fclose(f);
	for (line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
		if (strncmp(line, key, klen) == 0 &&
		    strncmp(line + klen, " = ", 3) == 0)
			res = strdup(line + klen + 3);
	free(out);
	return res;
}

static void test_good(void)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct sd_config c;
		char err[SD_ERRLEN], *v;
		int rc = parse(&c, good[i].text, err);

		if (rc != SD_OK)
			fprintf(stderr, "good[%zu]: %s\n", i, err);
		CHECK_EQ_INT(rc, SD_OK);
		v = printed(&c, good[i].key);
		CHECK(v);
		if (strcmp(v, good[i].want) != 0)
			fprintf(stderr, "good[%zu]: %s\n", i, v);
		CHECK_STREQ(v, good[i].want);
		free(v);
		sd_config_free(&c);
	}
}

struct bad_case {
	const char *text;
	const char *want; /* substring of the message: file:line: key */
};

static const struct bad_case bad[] = {
	{"max_parallel_requests = abc", "t.toml:1: max_parallel_requests: "
					"expected an integer"},
	{"\n\nmax_parallel_requests = 0", "t.toml:3: max_parallel_requests: "
					  "0 is out of range 1..64"},
	{"sync_start_height = -1", "t.toml:1: sync_start_height: -1 is out"},
	{"undo_depth = 5", "t.toml:1: undo_depth: 5 is out of range 6.."},
	{"sync_start_height = 99999999999999999999",
	 "t.toml:1: sync_start_height: expected an integer"},
	{"sync_start_height = 1__0", "sync_start_height: expected an integer"},
	{"sync_start_height = _1", "sync_start_height: expected an integer"},
	{"sync_start_height = 1.5", "sync_start_height: expected an integer"},
	{"tweaks_only = yes", "t.toml:1: tweaks_only: expected a boolean"},
	{"tweaks_only = 2", "tweaks_only: expected a boolean"},
	{"chain = \"mainnet\"", "t.toml:1: chain: \"mainnet\" is not one of "
				"main|signet|regtest|testnet"},
	{"chain = signet", "t.toml:1: chain: expected a quoted string"},
	{"log_level = \"verbose\"", "log_level: \"verbose\" is not one of"},
	{"block_source = \"zmq\"", "block_source: \"zmq\" is not one of"},
	{"host = \"unterminated", "t.toml:1: host: unterminated string"},
	{"host = \"a\" b", "t.toml:1: host: unexpected text after the value"},
	{"host = \"a\\q\"", "host: bad escape in string"},
	{"host = \"\\u0000\"", "host: bad \\u escape"},
	{"host = \"\"\"x\"\"\"", "host: multi-line strings are not supported"},
	{"host = [\"a\"]", "host: arrays and inline tables"},
	{"host =", "t.toml:1: host: missing value"},
	{"host \"x\"", "t.toml:1: host: expected '=' after the key"},
	{"= 3", "t.toml:1: expected key = value"},
	{"# ok\n[oracle]\nhost = \"x:1\"", "t.toml:2: [tables] are not "
					   "supported"},
	{"chain = \"main\"\nCHAIN = \"signet\"", "t.toml:2: chain: duplicate "
						 "key"},
	{"host = \"a\x01\"", "host: control character in string"},
};

static void test_bad(void)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sd_config c;
		char err[SD_ERRLEN];
		int rc = parse(&c, bad[i].text, err);

		if (rc == SD_OK || !strstr(err, bad[i].want))
			fprintf(stderr, "bad[%zu]: rc=%d err=%s\n", i, rc,
				err);
		CHECK(rc == SD_EPARSE || rc == SD_EINVAL);
		CHECK(strstr(err, bad[i].want));
		sd_config_free(&c);
	}
}

static void test_nul_byte(void)
{
	static const char text[] = "chain = \"main\"\nhost = \"a\0b\"\n";
	struct sd_config c;
	char err[SD_ERRLEN];

	sd_config_defaults(&c);
	CHECK_EQ_INT(sd_config_parse(&c, text, sizeof(text) - 1, "n.toml",
				     err), SD_EPARSE);
	CHECK(strstr(err, "n.toml:2: NUL byte"));
	sd_config_free(&c);
}

/* Cross-key checks of finish(). */
static void test_finish(void)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{"tweaks_only = 1\ntweaks_cut_through_with_dust_filter = 1",
		 "tweaks_cut_through_with_dust_filter: cannot be combined"},
		{"host = \"127.0.0.1\"", "host: \"127.0.0.1\" is not host:port"},
		{"host = \"127.0.0.1:0\"", "host:"},
		{"host = \"127.0.0.1:65536\"", "host:"},
		{"host = \"a:b:1\"", "host:"},
		{"rpc_endpoint = \"127.0.0.1:8332\"", "rpc_endpoint: must "
						      "start with http://"},
		{"cookie_path = \"\"\nrpc_user = \"u\"", "no RPC credentials"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sd_config c;
		char err[SD_ERRLEN];
		char text[256];

		snprintf(text, sizeof(text), "%s%s",
			 strstr(cases[i].text, "cookie_path") ? "" :
			 "cookie_path = \"/c\"\n", cases[i].text);
		CHECK_EQ_INT(parse(&c, text, err), SD_OK);
		CHECK_EQ_INT(sd_config_finish(&c, err), SD_EINVAL);
		if (!strstr(err, cases[i].want))
			fprintf(stderr, "finish[%zu]: %s\n", i, err);
		CHECK(strstr(err, cases[i].want));
		sd_config_free(&c);
	}

	/* "off" and "" both disable ZMQ; unset stays unset (ask the node) */
	{
		struct sd_config c;
		char err[SD_ERRLEN];

		CHECK_EQ_INT(parse(&c, "cookie_path = \"/c\"\n"
				       "zmq_hashblock = \"off\"\n"
				       "zmq_rawtx = \"\"\n", err), SD_OK);
		CHECK_EQ_INT(sd_config_finish(&c, err), SD_OK);
		CHECK_STREQ(c.zmq_hashblock, "");
		CHECK_STREQ(c.zmq_rawtx, "");
		sd_config_free(&c);
		CHECK_EQ_INT(parse(&c, "cookie_path = \"/c\"\n", err), SD_OK);
		CHECK_EQ_INT(sd_config_finish(&c, err), SD_OK);
		CHECK(c.zmq_hashblock == NULL);
		sd_config_free(&c);
	}
}

/* Upstream v2 keys: http_host alone is the (v2) listener; beside a host
 * it is a second one; core_*_endpoint name the node when rpc_endpoint is
 * not set. */
static void test_v2_keys(void)
{
	struct sd_config c;
	char err[SD_ERRLEN];

	CHECK_EQ_INT(parse(&c, "cookie_path = \"/c\"\n"
			       "http_host = \"0.0.0.0:7000\"\n"
			       "grpc_host = \"127.0.0.1:7001\"\n"
			       "max_cpu_cores = 2\n"
			       "core_rest_endpoint = \"http://node:38332\"\n"
			       "core_rpc_endpoint = \"http://other:1\"\n",
			       err), SD_OK);
	CHECK_EQ_INT(sd_config_finish(&c, err), SD_OK);
	CHECK_STREQ(c.host, "0.0.0.0:7000");
	CHECK(c.http_host == NULL);
	CHECK_EQ_INT(c.api_version, 2);
	CHECK_STREQ(c.rpc_endpoint, "http://node:38332");
	CHECK_STREQ(c.grpc_host, "127.0.0.1:7001");
	CHECK_EQ_INT(c.max_cpu_cores, 2);
	sd_config_free(&c);

	CHECK_EQ_INT(parse(&c, "cookie_path = \"/c\"\n"
			       "host = \"127.0.0.1:8000\"\n"
			       "http_host = \"127.0.0.1:7000\"\n"
			       "rpc_endpoint = \"http://a:1\"\n"
			       "core_rpc_endpoint = \"http://b:2\"\n", err),
		     SD_OK);
	CHECK_EQ_INT(sd_config_finish(&c, err), SD_OK);
	CHECK_STREQ(c.host, "127.0.0.1:8000");
	CHECK_STREQ(c.http_host, "127.0.0.1:7000");
	CHECK_EQ_INT(c.api_version, 1);
	CHECK_STREQ(c.rpc_endpoint, "http://a:1");
	sd_config_free(&c);

	CHECK_EQ_INT(parse(&c, "cookie_path = \"/c\"\n"
			       "host = \"127.0.0.1:7000\"\n"
			       "http_host = \"127.0.0.1:7000\"\n", err),
		     SD_OK);
	CHECK_EQ_INT(sd_config_finish(&c, err), SD_OK);
	CHECK_STREQ(c.host, "127.0.0.1:7000");
	CHECK(c.http_host == NULL);
	CHECK_EQ_INT(c.api_version, 2);
	sd_config_free(&c);

	CHECK_EQ_INT(parse(&c, "cookie_path = \"/c\"\napi_version = 2\n"
			       "http_host = \"\"\n", err), SD_OK);
	CHECK_EQ_INT(sd_config_finish(&c, err), SD_OK);
	CHECK_STREQ(c.host, "127.0.0.1:8000");
	CHECK(c.http_host == NULL);
	CHECK_EQ_INT(c.api_version, 2);
	sd_config_free(&c);

	CHECK_EQ_INT(parse(&c, "cookie_path = \"/c\"\n"
			       "http_host = \"nope\"\n", err), SD_OK);
	CHECK_EQ_INT(sd_config_finish(&c, err), SD_EINVAL);
	CHECK(strstr(err, "http_host:"));
	sd_config_free(&c);
	CHECK_EQ_INT(parse(&c, "api_version = 3\n", err), SD_EINVAL);
	sd_config_free(&c);
}

/* The UPPERCASE env var wins over the file; a bad env value names it. */
static void test_env(void)
{
	struct sd_config c;
	char err[SD_ERRLEN];

	CHECK_EQ_INT(parse(&c, "chain = \"main\"\nmax_parallel_requests = 3\n"
			       "tweaks_only = 0\n", err), SD_OK);
	setenv("CHAIN", "regtest", 1);
	setenv("MAX_PARALLEL_REQUESTS", "5", 1);
	setenv("TWEAKS_ONLY", "true", 1);
	setenv("RPC_PASS", "from-env", 1);
	setenv("ZMQ_RAWTX", "off", 1);
	CHECK_EQ_INT(sd_config_apply_env(&c, err), SD_OK);
	CHECK_STREQ(c.chain, "regtest");
	CHECK_EQ_INT(c.max_parallel_requests, 5);
	CHECK(c.tweaks_only);
	CHECK_STREQ(c.rpc_pass, "from-env");
	CHECK_STREQ(c.zmq_rawtx, "off");

	setenv("MAX_PARALLEL_REQUESTS", "many", 1);
	CHECK_EQ_INT(sd_config_apply_env(&c, err), SD_EINVAL);
	CHECK(strstr(err, "env MAX_PARALLEL_REQUESTS: max_parallel_requests:"
			  " expected an integer"));
	setenv("MAX_PARALLEL_REQUESTS", "5", 1);
	setenv("CHAIN", "bogus", 1);
	CHECK_EQ_INT(sd_config_apply_env(&c, err), SD_EINVAL);
	CHECK(strstr(err, "env CHAIN: chain:"));
	unsetenv("CHAIN");
	unsetenv("MAX_PARALLEL_REQUESTS");
	unsetenv("TWEAKS_ONLY");
	unsetenv("RPC_PASS");
	unsetenv("ZMQ_RAWTX");
	sd_config_free(&c);
}

static void test_file(void)
{
	char dir[] = "/tmp/sdcfg-XXXXXX", path[64];
	struct sd_config c;
	char err[SD_ERRLEN];
	FILE *f;

	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/blindbit.toml", dir);
	sd_config_defaults(&c);
	CHECK_EQ_INT(sd_config_load_file(&c, path, err), SD_ENOTFOUND);
	f = fopen(path, "w");
	CHECK(f);
	fputs("chain = \"regtest\"\n\nhttp_threads = 0\n", f);
	fclose(f);
	CHECK_EQ_INT(sd_config_load_file(&c, path, err), SD_EINVAL);
	CHECK(strstr(err, "/blindbit.toml:3: http_threads: 0 is out of "
			  "range"));
	unlink(path);
	rmdir(dir);
	sd_config_free(&c);
	sd_config_free(NULL);
}

/* The shipped example parses with no unknown key and validates; an unknown
 * key is one warning, not an error. */
static void test_contrib_example(void)
{
	const char *src = getenv("SIGNETD_SOURCE_DIR");
	unsigned long warns = sd_log_count(SD_LOG_WARN);
	char path[1024], err[SD_ERRLEN];
	struct sd_config c;

#ifdef SIGNETD_SOURCE_DIR
	if (!src)
		src = SIGNETD_SOURCE_DIR;
#endif
	CHECK(src);
	snprintf(path, sizeof(path), "%s/contrib/blindbit.toml.example", src);
	sd_config_defaults(&c);
	CHECK_EQ_INT(sd_config_load_file(&c, path, err), SD_OK);
	CHECK_EQ_INT(sd_log_count(SD_LOG_WARN), warns);
	CHECK_EQ_INT(sd_config_finish(&c, err), SD_OK);
	sd_config_free(&c);

	CHECK_EQ_INT(parse(&c, "sync_catch_up = true\n", err), SD_OK);
	CHECK_EQ_INT(sd_log_count(SD_LOG_WARN), warns + 1);
	sd_config_free(&c);
}

static void test_help(void)
{
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);

	sd_config_help(f);
	fclose(f);
	/* every key, with its env name and default */
	CHECK(strstr(out, "max_parallel_tweak_computations "
			  "(MAX_PARALLEL_TWEAK_COMPUTATIONS) integer, "
			  "default 0"));
	CHECK(strstr(out, "chain (CHAIN) main|signet|regtest|testnet, "
			  "default signet"));
	CHECK(strstr(out, "zmq_rawtx (ZMQ_RAWTX) string, default unset"));
	free(out);
}

/* compose passes ${KEY:-}: an empty variable is "not set" and must not
 * wipe the file's value (issue 14.3). */
static void test_env_empty_is_unset(void)
{
	struct sd_config c;
	char err[SD_ERRLEN];

	CHECK_EQ_INT(parse(&c, "cookie_path = \"/srv/.cookie\"\n"
			       "chain = \"regtest\"\nlog_file = \"s.log\"\n"
			       "http_threads = 3\n", err), SD_OK);
	setenv("COOKIE_PATH", "", 1);
	setenv("CHAIN", "", 1);
	setenv("LOG_FILE", "", 1);
	setenv("HTTP_THREADS", "", 1);
	setenv("RPC_USER", "", 1);
	setenv("RPC_PASS", "", 1);
	setenv("ZMQ_HASHBLOCK", "", 1);
	CHECK_EQ_INT(sd_config_apply_env(&c, err), SD_OK);
	CHECK_STREQ(c.cookie_path, "/srv/.cookie");
	CHECK_STREQ(c.chain, "regtest");
	CHECK_STREQ(c.log_file, "s.log");
	CHECK_EQ_INT(c.http_threads, 3);
	CHECK(c.zmq_hashblock == NULL); /* still "ask the node" */
	CHECK_EQ_INT(sd_config_finish(&c, err), SD_OK);
	unsetenv("COOKIE_PATH");
	unsetenv("CHAIN");
	unsetenv("LOG_FILE");
	unsetenv("HTTP_THREADS");
	unsetenv("RPC_USER");
	unsetenv("RPC_PASS");
	unsetenv("ZMQ_HASHBLOCK");
	sd_config_free(&c);
}

static char *print_all(const struct sd_config *c)
{
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);

	sd_config_print(c, f);
	fclose(f);
	return out;
}

/* user:pass@ inside rpc_endpoint never reaches --print-config or a log
 * line that prints the URL: it is taken out of the URL (issue 16.7). */
static void test_endpoint_credentials(void)
{
	struct sd_config c;
	char err[SD_ERRLEN], *out;

	/* no other credentials: they become rpc_user/rpc_pass (decoded) */
	CHECK_EQ_INT(parse(&c, "rpc_endpoint = \"http://alice:s%40cret%3Ax@"
			       "10.0.0.5:38332/\"\n", err), SD_OK);
	CHECK_EQ_INT(sd_config_finish(&c, err), SD_OK);
	CHECK_STREQ(c.rpc_endpoint, "http://10.0.0.5:38332/");
	CHECK_STREQ(c.rpc_user, "alice");
	CHECK_STREQ(c.rpc_pass, "s@cret:x");
	out = print_all(&c);
	CHECK(strstr(out, "rpc_endpoint = \"http://10.0.0.5:38332/\"\n"));
	CHECK(strstr(out, "rpc_pass = \"<redacted>\"\n"));
	CHECK(!strstr(out, "cret"));
	free(out);
	sd_config_free(&c);

	/* a cookie wins (as libcurl lets it): the URL's are dropped */
	CHECK_EQ_INT(parse(&c, "cookie_path = \"/c\"\nrpc_endpoint = "
			       "\"https://u:topsecret@node\"\n", err), SD_OK);
	CHECK_EQ_INT(sd_config_finish(&c, err), SD_OK);
	CHECK_STREQ(c.rpc_endpoint, "https://node");
	CHECK_STREQ(c.rpc_user, "");
	CHECK_STREQ(c.rpc_pass, "");
	out = print_all(&c);
	CHECK(!strstr(out, "topsecret"));
	free(out);
	sd_config_free(&c);

	/* from the environment too; an '@' after the host is not userinfo */
	CHECK_EQ_INT(parse(&c, "", err), SD_OK);
	setenv("RPC_ENDPOINT", "http://bob:pw@127.0.0.1:1/x@y", 1);
	CHECK_EQ_INT(sd_config_apply_env(&c, err), SD_OK);
	unsetenv("RPC_ENDPOINT");
	CHECK_EQ_INT(sd_config_finish(&c, err), SD_OK);
	CHECK_STREQ(c.rpc_endpoint, "http://127.0.0.1:1/x@y");
	CHECK_STREQ(c.rpc_user, "bob");
	CHECK_STREQ(c.rpc_pass, "pw");
	sd_config_free(&c);

	/* no '@': untouched; a bad escape is an error naming the key */
	CHECK_EQ_INT(parse(&c, "cookie_path = \"/c\"\nrpc_endpoint = "
			       "\"http://h:1/a:b\"\n", err), SD_OK);
	CHECK_EQ_INT(sd_config_finish(&c, err), SD_OK);
	CHECK_STREQ(c.rpc_endpoint, "http://h:1/a:b");
	sd_config_free(&c);
	CHECK_EQ_INT(parse(&c, "rpc_endpoint = \"http://u:%zz@h:1\"\n", err),
		     SD_OK);
	CHECK_EQ_INT(sd_config_finish(&c, err), SD_EINVAL);
	CHECK(strstr(err, "rpc_endpoint: bad %-escape"));
	CHECK(!strstr(err, "%zz"));
	sd_config_free(&c);
}

/* /tweaks/:h can only answer [] without the cut-through index: one
 * warning at start (issue 14.12), none when it is on. */
static void test_tweaks_empty_warning(void)
{
	struct sd_config c;
	char err[SD_ERRLEN];
	unsigned long warns = sd_log_count(SD_LOG_WARN);

	CHECK_EQ_INT(parse(&c, "cookie_path = \"/c\"\n", err), SD_OK);
	CHECK_EQ_INT(sd_config_finish(&c, err), SD_OK);
	sd_config_log_warnings(&c);
	CHECK_EQ_INT(sd_log_count(SD_LOG_WARN), warns + 1);
	sd_config_free(&c);
	CHECK_EQ_INT(parse(&c, "cookie_path = \"/c\"\n"
			       "tweaks_cut_through_with_dust_filter = 1\n",
			   err), SD_OK);
	CHECK_EQ_INT(sd_config_finish(&c, err), SD_OK);
	sd_config_log_warnings(&c);
	CHECK_EQ_INT(sd_log_count(SD_LOG_WARN), warns + 1);
	sd_config_free(&c);
}

/* sync_start_height: 842579 (upstream's BIP352-era constant) for chain =
 * main when none is given, 1 for every other chain; an explicit value from
 * the file or the environment always wins, 0 and 1 included. */
static void test_start_height_per_chain(void)
{
	static const struct {
		const char *text, *env;
		int64_t want;
	} cases[] = {
		{"chain = \"main\"", NULL, 842579},
		{"chain = \"signet\"", NULL, 1},
		{"chain = \"regtest\"", NULL, 1},
		{"chain = \"testnet\"", NULL, 1},
		{"", NULL, 1}, /* default chain: signet */
		{"chain = \"main\"\nsync_start_height = 1", NULL, 1},
		{"chain = \"main\"\nsync_start_height = 0", NULL, 0},
		{"chain = \"main\"\nsync_start_height = 900_000", NULL, 900000},
		{"chain = \"regtest\"\nsync_start_height = 842579", NULL,
		 842579},
		{"chain = \"main\"", "0", 0},
		{"chain = \"main\"", "1", 1},
		{"chain = \"main\"", "", 842579}, /* empty env = unset */
		{"chain = \"signet\"", "5", 5},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sd_config c;
		char err[SD_ERRLEN], text[256];

		snprintf(text, sizeof(text), "cookie_path = \"/c\"\n%s\n",
			 cases[i].text);
		CHECK_EQ_INT(parse(&c, text, err), SD_OK);
		if (cases[i].env)
			setenv("SYNC_START_HEIGHT", cases[i].env, 1);
		CHECK_EQ_INT(sd_config_apply_env(&c, err), SD_OK);
		unsetenv("SYNC_START_HEIGHT");
		CHECK_EQ_INT(sd_config_finish(&c, err), SD_OK);
		if (c.sync_start_height != cases[i].want)
			fprintf(stderr, "start_height[%zu]: %lld\n", i,
				(long long)c.sync_start_height);
		CHECK_EQ_INT(c.sync_start_height, cases[i].want);
		sd_config_free(&c);
	}
	/* CHAIN=main from the environment picks the mainnet default too */
	{
		struct sd_config c;
		char err[SD_ERRLEN];

		CHECK_EQ_INT(parse(&c, "cookie_path = \"/c\"\n", err), SD_OK);
		setenv("CHAIN", "main", 1);
		CHECK_EQ_INT(sd_config_apply_env(&c, err), SD_OK);
		unsetenv("CHAIN");
		CHECK_EQ_INT(sd_config_finish(&c, err), SD_OK);
		CHECK_EQ_INT(c.sync_start_height, 842579);
		sd_config_free(&c);
	}
}

int main(void)
{
	sd_log_set_level(SD_LOG_ERROR); /* unknown-key warnings are expected */
	test_defaults();
	test_upstream_example();
	test_good();
	test_bad();
	test_nul_byte();
	test_finish();
	test_v2_keys();
	test_env();
	test_file();
	test_contrib_example();
	test_help();
	test_env_empty_is_unset();
	test_endpoint_credentials();
	test_tweaks_empty_warning();
	test_start_height_per_chain();
	printf("ok\n");
	return 0;
}

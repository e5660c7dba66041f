/* test_route.c - table-driven tests of the request-target parser: route
 * match, /blindbit/ prefix, trailing-slash redirect, height and dustLimit
 * edge cases (gin + strconv.ParseUint + url.ParseQuery semantics). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../../tests/lib/check.h"
#include "../route.h"

enum { X = -1 }; /* "don't care" */

struct tcase {
	const char *method;
	const char *target;
	enum oracle_route_id id;
	int height_ok;          /* 1/0, X */
	int64_t height;         /* X */
	int dust_ok;            /* 1/0, X */
	int64_t dust;           /* X */
	int filter;             /* enum oracle_route_filter, X */
	int prefixed;           /* X */
	const char *redirect;   /* expected Location, NULL = none */
};

#define N ORACLE_ROUTE_NONE
#define TW ORACLE_ROUTE_TWEAKS
#define TI ORACLE_ROUTE_TWEAK_INDEX
#define FI ORACLE_ROUTE_FILTER
#define NU ORACLE_ROUTE_FILTER_NEW_UTXOS
#define SP ORACLE_ROUTE_FILTER_SPENT
#define BAD ORACLE_ROUTE_FILTER_BAD

static const struct tcase cases[] = {
	/* fixed routes */
	{"GET", "/info", ORACLE_ROUTE_INFO, X, X, X, X, X, 0, NULL},
	{"GET", "/block-height", ORACLE_ROUTE_BLOCK_HEIGHT, X, X, X, X, X, 0, NULL},
	{"GET", "/mempool/tweaks", ORACLE_ROUTE_MEMPOOL_TWEAKS, X, X, 1, 0, X, 0, NULL},
	{"GET", "/mempool/tweaks?dustLimit=x", ORACLE_ROUTE_MEMPOOL_TWEAKS, X, X, 0, X, X, 0, NULL},
	{"GET", "/status", ORACLE_ROUTE_STATUS, X, X, X, X, X, 0, NULL},
	{"GET", "/health", ORACLE_ROUTE_HEALTH, X, X, X, X, X, 0, NULL},
	{"GET", "/metrics", ORACLE_ROUTE_METRICS, X, X, X, X, X, 0, NULL},
	{"POST", "/forward-tx", ORACLE_ROUTE_FORWARD_TX, X, X, X, X, X, 0, NULL},
	{"GET", "/info?x=1", ORACLE_ROUTE_INFO, X, X, X, X, X, 0, NULL},
	/* wrong method / unknown -> 404 */
	{"GET", "/forward-tx", N, X, X, X, X, X, X, NULL},
	{"POST", "/info", N, X, X, X, X, X, X, NULL},
	{"HEAD", "/info", N, X, X, X, X, X, X, NULL},
	{"PUT", "/tweaks/1", N, X, X, X, X, X, X, NULL},
	{"GET", "/nope", N, X, X, X, X, X, X, NULL},
	{"GET", "/", N, X, X, X, X, X, X, NULL},
	{"GET", "", N, X, X, X, X, X, X, NULL},
	{"GET", "info", N, X, X, X, X, X, X, NULL},
	{"GET", "//info", N, X, X, X, X, X, X, NULL},
	{"GET", "/INFO", N, X, X, X, X, X, X, NULL},
	{"GET", "/infox", N, X, X, X, X, X, X, NULL},
	{"GET", "/tweaks", N, X, X, X, X, X, X, NULL},
	{"GET", "/tweaks/", N, X, X, X, X, X, X, NULL},
	{"GET", "/tweaks/1/2", N, X, X, X, X, X, X, NULL},
	{"GET", "/filter/spent", N, X, X, X, X, X, X, NULL},
	{"GET", "/filter//5", N, X, X, X, X, X, X, NULL},
	{"GET", "/blindbit", N, X, X, X, X, X, X, NULL},
	{"GET", "/blindbit/", N, X, X, X, X, X, X, NULL},
	{"GET", "/blindbitinfo", N, X, X, X, X, X, X, NULL},
	{"GET", "/blindbit/blindbit/info", N, X, X, X, X, X, X, NULL},
	{"GET", "/bad%zzescape", N, X, X, X, X, X, X, NULL},
	{"GET", "/info%", N, X, X, X, X, X, X, NULL},
	/* heights */
	{"GET", "/tweaks/0", TW, 1, 0, 1, 0, X, 0, NULL},
	{"GET", "/tweaks/4294967295", TW, 1, 4294967295LL, X, X, X, 0, NULL},
	{"GET", "/tweaks/4294967296", TW, 0, X, X, X, X, 0, NULL},
	{"GET", "/tweaks/99999999999999999999999", TW, 0, X, X, X, X, 0, NULL},
	{"GET", "/tweaks/-1", TW, 0, X, X, X, X, 0, NULL},
	{"GET", "/tweaks/+1", TW, 0, X, X, X, X, 0, NULL},
	{"GET", "/tweaks/abc", TW, 0, X, X, X, X, 0, NULL},
	{"GET", "/tweaks/1a", TW, 0, X, X, X, X, 0, NULL},
	{"GET", "/tweaks/%201", TW, 0, X, X, X, X, 0, NULL},
	{"GET", "/tweaks/0x10", TW, 0, X, X, X, X, 0, NULL},
	{"GET", "/tweaks/00000000000000000000000000236", TW, 1, 236, X, X, X, 0, NULL},
	{"GET", "/tweaks/%32%33%36", TW, 1, 236, X, X, X, 0, NULL},
	{"GET", "/block-hash/7", ORACLE_ROUTE_BLOCK_HASH, 1, 7, X, X, X, 0, NULL},
	{"GET", "/utxos/12", ORACLE_ROUTE_UTXOS, 1, 12, X, X, X, 0, NULL},
	{"GET", "/spent-index/13", ORACLE_ROUTE_SPENT_INDEX, 1, 13, X, X, X, 0, NULL},
	{"GET", "/tweak-index/236", TI, 1, 236, 1, 0, X, 0, NULL},
	/* filters: the type is checked by the handler, after the height */
	{"GET", "/filter/new-utxos/5", FI, 1, 5, X, X, NU, 0, NULL},
	{"GET", "/filter/spent/5", FI, 1, 5, X, X, SP, 0, NULL},
	{"GET", "/filter/foo/5", FI, 1, 5, X, X, BAD, 0, NULL},
	{"GET", "/filter/foo/x", FI, 0, X, X, X, BAD, 0, NULL},
	{"GET", "/filter/Spent/5", FI, 1, 5, X, X, BAD, 0, NULL},
	/* dustLimit: Go url.ParseQuery + strconv.ParseUint(s, 10, 64) */
	{"GET", "/tweaks/5?dustLimit=1000", TW, 1, 5, 1, 1000, X, 0, NULL},
	{"GET", "/tweak-index/5?dustLimit=1000", TI, 1, 5, 1, 1000, X, 0, NULL},
	{"GET", "/tweak-index/5?dustLimit=", TI, 1, 5, 0, X, X, 0, NULL},
	{"GET", "/tweak-index/5?dustLimit", TI, 1, 5, 0, X, X, 0, NULL},
	{"GET", "/tweak-index/5?dustLimit=-1", TI, 1, 5, 0, X, X, 0, NULL},
	{"GET", "/tweak-index/5?dustLimit=+1", TI, 1, 5, 0, X, X, 0, NULL},
	{"GET", "/tweak-index/5?dustLimit=1.5", TI, 1, 5, 0, X, X, 0, NULL},
	{"GET", "/tweak-index/5?dustLimit=abc", TI, 1, 5, 0, X, X, 0, NULL},
	{"GET", "/tweak-index/5?dustLimit=%20", TI, 1, 5, 0, X, X, 0, NULL},
	{"GET", "/tweak-index/5?dustLimit=1+", TI, 1, 5, 0, X, X, 0, NULL},
	{"GET", "/tweak-index/5?dustLimit=0", TI, 1, 5, 1, 0, X, 0, NULL},
	{"GET", "/tweak-index/5?dustLimit=000600", TI, 1, 5, 1, 600, X, 0, NULL},
	{"GET", "/tweak-index/5?dustLimit=%36%30%30", TI, 1, 5, 1, 600, X, 0, NULL},
	{"GET", "/tweak-index/5?dustLimit=18446744073709551615", TI, 1, 5, 1, X, X, 0, NULL},
	{"GET", "/tweak-index/5?dustLimit=18446744073709551616", TI, 1, 5, 0, X, X, 0, NULL},
	{"GET", "/tweak-index/5?dustLimit=1&dustLimit=x", TI, 1, 5, 1, 1, X, 0, NULL},
	{"GET", "/tweak-index/5?dustLimit=x&dustLimit=1", TI, 1, 5, 0, X, X, 0, NULL},
	{"GET", "/tweak-index/5?a=b&dustLimit=7", TI, 1, 5, 1, 7, X, 0, NULL},
	{"GET", "/tweak-index/5?dustlimit=7", TI, 1, 5, 1, 0, X, 0, NULL},
	{"GET", "/tweak-index/5?dust%4Cimit=9", TI, 1, 5, 1, 9, X, 0, NULL},
	/* a pair with ';' or a bad escape is dropped (Go) */
	{"GET", "/tweak-index/5?dustLimit=x;y", TI, 1, 5, 1, 0, X, 0, NULL},
	{"GET", "/tweak-index/5?dustLimit=%zz&dustLimit=3", TI, 1, 5, 1, 3, X, 0, NULL},
	{"GET", "/tweak-index/5?&&dustLimit=4&", TI, 1, 5, 1, 4, X, 0, NULL},
	{"GET", "/tweak-index/5?", TI, 1, 5, 1, 0, X, 0, NULL},
	{"GET", "/tweak-index/x?dustLimit=-1", TI, 0, X, 0, X, X, 0, NULL},
	/* /blindbit/ prefix */
	{"GET", "/blindbit/info", ORACLE_ROUTE_INFO, X, X, X, X, X, 1, NULL},
	{"GET", "/blindbit/tweaks/5?dustLimit=2", TW, 1, 5, 1, 2, X, 1, NULL},
	{"GET", "/blindbit/filter/spent/9", FI, 1, 9, X, X, SP, 1, NULL},
	{"POST", "/blindbit/forward-tx", ORACLE_ROUTE_FORWARD_TX, X, X, X, X, X, 1, NULL},
	{"GET", "/blindbit/status", ORACLE_ROUTE_STATUS, X, X, X, X, X, 1, NULL},
	/* trailing slash -> redirect (query kept) */
	{"GET", "/info/", N, X, X, X, X, X, X, "/info"},
	{"GET", "/tweaks/5/", N, X, X, X, X, X, X, "/tweaks/5"},
	{"GET", "/tweaks/abc/", N, X, X, X, X, X, X, "/tweaks/abc"},
	{"GET", "/tweaks/5/?dustLimit=3", N, X, X, X, X, X, X, "/tweaks/5?dustLimit=3"},
	{"GET", "/blindbit/block-height/", N, X, X, X, X, X, X, "/blindbit/block-height"},
	{"GET", "/filter/foo/5/", N, X, X, X, X, X, X, "/filter/foo/5"},
	{"POST", "/forward-tx/", N, X, X, X, X, X, X, "/forward-tx"},
	{"GET", "/info//", N, X, X, X, X, X, X, NULL},
	{"GET", "/nope/", N, X, X, X, X, X, X, NULL},
	{"GET", "/forward-tx/", N, X, X, X, X, X, X, NULL},
	{"GET", "/info%2F", N, X, X, X, X, X, X, NULL},
};

static void run(const struct tcase *c)
{
	struct oracle_route r;
	char loc[4096];

	oracle_route_parse(oracle_route_method(c->method), c->target,
			   strlen(c->target), &r);
	fprintf(stderr, "case %s %s\n", c->method, c->target);
	CHECK_EQ_INT(r.id, c->id);
	if (c->height_ok != X) {
		CHECK(r.has_height);
		CHECK_EQ_INT(r.height_ok, c->height_ok);
	}
	if (c->height != X)
		CHECK_EQ_INT(r.height, c->height);
	if (c->dust_ok != X)
		CHECK_EQ_INT(r.dust_ok, c->dust_ok);
	if (c->dust != X)
		CHECK_EQ_INT(r.dust, c->dust);
	if (c->filter != X)
		CHECK_EQ_INT(r.filter, c->filter);
	if (c->prefixed != X)
		CHECK_EQ_INT(r.prefixed, c->prefixed);
	CHECK_EQ_INT(r.redirect, c->redirect != NULL);
	if (c->redirect) {
		snprintf(loc, sizeof(loc), "%.*s%s", (int)r.redirect_len,
			 c->target, c->target + r.redirect_query_off);
		CHECK_STREQ(loc, c->redirect);
	}
}

static void test_max_dust(void)
{
	struct oracle_route r;
	const char *t = "/tweak-index/5?dustLimit=18446744073709551615";

	oracle_route_parse(ORACLE_METHOD_GET, t, strlen(t), &r);
	CHECK(r.dust_ok);
	CHECK(r.dust == UINT64_MAX);
}

/* Not NUL-terminated input and lengths at and past the limit. */
static void test_lengths(void)
{
	char big[ORACLE_ROUTE_MAX_TARGET + 8];
	struct oracle_route r;
	size_t n;

	memcpy(big, "/tweaks/5XXXX", 13);
	oracle_route_parse(ORACLE_METHOD_GET, big, 9, &r);
	CHECK_EQ_INT(r.id, ORACLE_ROUTE_TWEAKS);
	CHECK_EQ_INT(r.height, 5);

	/* a long run of leading zeros is still height 7 */
	memcpy(big, "/tweaks/", 8);
	n = ORACLE_ROUTE_MAX_TARGET;
	memset(big + 8, '0', n - 9);
	big[n - 1] = '7';
	oracle_route_parse(ORACLE_METHOD_GET, big, n, &r);
	CHECK_EQ_INT(r.id, ORACLE_ROUTE_TWEAKS);
	CHECK(r.height_ok);
	CHECK_EQ_INT(r.height, 7);
	/* one byte longer: refused (404) */
	big[n] = '7';
	oracle_route_parse(ORACLE_METHOD_GET, big, n + 1, &r);
	CHECK_EQ_INT(r.id, ORACLE_ROUTE_NONE);
	CHECK(!r.redirect);
}

static void test_helpers(void)
{
	uint64_t v;

	CHECK_EQ_INT(oracle_route_method("GET"), ORACLE_METHOD_GET);
	CHECK_EQ_INT(oracle_route_method("POST"), ORACLE_METHOD_POST);
	CHECK_EQ_INT(oracle_route_method("get"), ORACLE_METHOD_OTHER);
	CHECK_EQ_INT(oracle_route_method("OPTIONS"), ORACLE_METHOD_OTHER);
	CHECK_STREQ(oracle_route_name(ORACLE_ROUTE_TWEAK_INDEX), "tweak_index");
	CHECK_STREQ(oracle_route_name(ORACLE_ROUTE_COUNT), "none");
	CHECK(oracle_route_parse_uint("4294967295", 10, UINT32_MAX, &v));
	CHECK(v == 4294967295u);
	CHECK(!oracle_route_parse_uint("4294967296", 10, UINT32_MAX, &v));
	CHECK(!oracle_route_parse_uint("", 0, UINT32_MAX, &v));
	CHECK(oracle_route_parse_uint("0", 1, 0, &v) && v == 0);
	CHECK(!oracle_route_parse_uint("1", 1, 0, &v));
}

/* blindbit-oracle v2's table (oracle_route_parse_v2). */
static void test_v2(void)
{
	static const struct {
		const char *target;
		enum oracle_route_id id;
		int height_ok;
		uint32_t height;
		const char *redirect;
	} v2[] = {
		{"/info", ORACLE_ROUTE_INFO, X, 0, NULL},
		{"/block-height", ORACLE_ROUTE_BLOCK_HEIGHT, X, 0, NULL},
		{"/block-hash/5", ORACLE_ROUTE_BLOCK_HASH, 1, 5, NULL},
		{"/tweaks/110", ORACLE_ROUTE_V2_TWEAKS, 1, 110, NULL},
		{"/tweaks/4294967295", ORACLE_ROUTE_V2_TWEAKS, 1, 4294967295u,
		 NULL},
		{"/tweaks/4294967296", ORACLE_ROUTE_V2_TWEAKS, 0, 0, NULL},
		{"/tweaks/-1", ORACLE_ROUTE_V2_TWEAKS, 0, 0, NULL},
		{"/tweaks/abc", ORACLE_ROUTE_V2_TWEAKS, 0, 0, NULL},
		{"/utxos/7", ORACLE_ROUTE_V2_UTXOS, 1, 7, NULL},
		{"/spent-outputs/7", ORACLE_ROUTE_V2_SPENT_OUTPUTS, 1, 7, NULL},
		{"/compute-index/7", ORACLE_ROUTE_V2_COMPUTE_INDEX, 1, 7, NULL},
		{"/full-block/007", ORACLE_ROUTE_V2_FULL_BLOCK, 1, 7, NULL},
		{"/blindbit/full-block/7", ORACLE_ROUTE_V2_FULL_BLOCK, 1, 7,
		 NULL},
		{"/tweaks/5/", ORACLE_ROUTE_NONE, X, 0, "/tweaks/5"},
		{"/info/", ORACLE_ROUTE_NONE, X, 0, "/info"},
		{"/tweak-index/5", ORACLE_ROUTE_NONE, X, 0, NULL},
		{"/filter/spent/5", ORACLE_ROUTE_NONE, X, 0, NULL},
		{"/spent-index/5", ORACLE_ROUTE_NONE, X, 0, NULL},
		{"/nope", ORACLE_ROUTE_NONE, X, 0, NULL},
		{"/health", ORACLE_ROUTE_HEALTH, X, 0, NULL},
	};
	struct oracle_route r;

	for (size_t i = 0; i < sizeof(v2) / sizeof(v2[0]); i++) {
		oracle_route_parse_v2(ORACLE_METHOD_GET, v2[i].target,
				      strlen(v2[i].target), &r);
		fprintf(stderr, "v2 case %s\n", v2[i].target);
		CHECK_EQ_INT(r.id, v2[i].id);
		if (v2[i].height_ok != X) {
			CHECK(r.has_height);
			CHECK_EQ_INT(r.height_ok, v2[i].height_ok);
			if (v2[i].height_ok)
				CHECK(r.height == v2[i].height);
		}
		CHECK_EQ_INT(r.redirect, v2[i].redirect != NULL);
		if (v2[i].redirect)
			CHECK(r.redirect_len == strlen(v2[i].redirect) &&
			      !memcmp(v2[i].target, v2[i].redirect,
				      r.redirect_len));
	}
	oracle_route_parse_v2(ORACLE_METHOD_POST, "/forward-tx", 11, &r);
	CHECK_EQ_INT(r.id, ORACLE_ROUTE_NONE);
	/* and the v1 table does not know the v2 paths */
	oracle_route_parse(ORACLE_METHOD_GET, "/compute-index/5", 16, &r);
	CHECK_EQ_INT(r.id, ORACLE_ROUTE_NONE);
	CHECK_STREQ(oracle_route_name(ORACLE_ROUTE_V2_FULL_BLOCK),
		    "v2_full_block");
}

int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run(&cases[i]);
	test_v2();
	test_max_dust();
	test_lengths();
	test_helpers();
	printf("ok %zu route cases\n", sizeof(cases) / sizeof(cases[0]));
	return 0;
}

/* test_http_cache.c - the HTTP server's body cache (LRU by bytes, keys by
 * block hash / tip hash), the shared gzip form, the JSON bodies' exact
 * bytes and the metrics text. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../../../tests/lib/check.h"
#include "../http_int.h"

static struct http_cache_key key(uint32_t h, uint8_t hash_byte)
{
	struct http_cache_key k;

	memset(&k, 0, sizeof(k));
	k.route = ORACLE_ROUTE_TWEAK_INDEX;
	k.height = h;
	memset(k.block_hash, hash_byte, 32);
	return k;
}

static void test_lru(void)
{
	struct http_cache *c = http_cache_new(64 * 1024);
	struct http_cache_key k1 = key(1, 0xaa), k1b = key(1, 0xbb);
	struct http_body *b, *got;
	uint64_t hits, misses;
	size_t bytes, entries;
	char big[4000];

	memset(big, 'x', sizeof(big));
	b = http_body_copy("[\"02aa\"]", 8);
	http_cache_put(c, &k1, b);
	got = http_cache_get(c, &k1);
	CHECK(got == b);
	http_body_unref(got);
	/* same height, other block hash (a reorg): a miss */
	CHECK(http_cache_get(c, &k1b) == NULL);
	/* tip hash and dust are part of the key */
	k1b = k1;
	k1b.tip_hash[0] = 1;
	CHECK(http_cache_get(c, &k1b) == NULL);
	k1b = k1;
	k1b.dust = 1000;
	CHECK(http_cache_get(c, &k1b) == NULL);
	CHECK(http_cache_key_hash(&k1) != http_cache_key_hash(&k1b));
	http_body_unref(b); /* the cache keeps its own reference */
	got = http_cache_get(c, &k1);
	CHECK(got && got->len == 8 && !memcmp(got->data, "[\"02aa\"]", 8));
	http_body_unref(got);

	/* fill past the budget: the oldest entries go, the newest stay */
	for (uint32_t h = 100; h < 140; h++) {
		struct http_cache_key k = key(h, 1);

		b = http_body_copy(big, sizeof(big));
		http_cache_put(c, &k, b);
		http_body_unref(b);
	}
	http_cache_stats(c, &hits, &misses, &bytes, &entries);
	CHECK(bytes <= 64 * 1024);
	CHECK(entries < 40);
	CHECK(http_cache_get(c, &k1) == NULL);
	{
		struct http_cache_key last = key(139, 1);

		got = http_cache_get(c, &last);
		CHECK(got != NULL);
		http_body_unref(got);
	}
	/* one answer bigger than a quarter of the cache is not kept */
	{
		char *huge = calloc(1, 20000);
		struct http_cache_key k = key(7, 7);

		b = http_body_new(huge, 20000);
		http_cache_put(c, &k, b);
		CHECK(http_cache_get(c, &k) == NULL);
		http_body_unref(b);
	}
	http_cache_stats(c, &hits, &misses, &bytes, &entries);
	CHECK(hits >= 3 && misses >= 4);
	http_cache_free(c);
	http_cache_free(NULL);
}

static void test_gzip(void)
{
	struct http_body *b = http_body_copy("[\"0211\",\"0322\"]", 15);
	struct http_body *gz = http_body_gzip(b);
	char out[64];
	uLongf n = sizeof(out);
	z_stream zs;

	CHECK(gz == http_body_gzip(b)); /* made once */
	CHECK(gz->len > 10 && (uint8_t)gz->data[0] == 0x1f &&
	      (uint8_t)gz->data[1] == 0x8b);
	memset(&zs, 0, sizeof(zs));
	CHECK(inflateInit2(&zs, 16 + 15) == Z_OK);
	zs.next_in = (Bytef *)gz->data;
	zs.avail_in = (uInt)gz->len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)n;
	CHECK(inflate(&zs, Z_FINISH) == Z_STREAM_END);
	CHECK(zs.total_out == 15 && !memcmp(out, b->data, 15));
	inflateEnd(&zs);
	http_body_unref(b);
	/* an empty body has a valid gzip form too */
	b = http_body_copy("", 0);
	CHECK(http_body_gzip(b)->len >= 20);
	http_body_unref(b);
}

static void check_body(struct http_body *b, const char *want)
{
	if (b->len != strlen(want) || memcmp(b->data, want, b->len)) {
		fprintf(stderr, "got %.*s\nwant %s\n", (int)b->len, b->data,
			want);
		abort();
	}
	http_body_unref(b);
}

static void test_json(void)
{
	uint8_t hash[32], recs[2 * 41], data[3] = {0x01, 0xab, 0xcd};
	struct oracle_config cfg = {.network = "regtest",
				    .tweaks_full_basic = true};
	struct oracle_utxo u;
	struct http_json_list *l;

	for (int i = 0; i < 32; i++)
		hash[i] = (uint8_t)i;
	memset(recs, 0, sizeof(recs));
	recs[0] = 0x02;
	recs[41] = 0x03;
	recs[39] = 0x03;
	recs[40] = 0xe8;           /* 1000: kept (inclusive) */
	recs[41 + 40] = 0x03;      /* 3: dropped */
	check_body(http_json_error("could not parse block height"),
		   "{\"error\":\"could not parse block height\"}");
	check_body(http_json_block_height(400), "{\"block_height\":400}");
	check_body(http_json_info("regtest", 400, &cfg),
		   "{\"network\":\"regtest\",\"height\":400,\"tweaks_only\":"
		   "false,\"tweaks_full_basic\":true,"
		   "\"tweaks_full_with_dust_filter\":false,"
		   "\"tweaks_cut_through_with_dust_filter\":false}");
	check_body(http_json_block_hash(hash),
		   "{\"block_hash\":\"1f1e1d1c1b1a191817161514131211100f0e"
		   "0d0c0b0a09080706050403020100\"}");
	check_body(http_json_tweak_recs(NULL, 0, 33, 0), "[]");
	check_body(http_json_tweak_recs(recs, 2, 41, 1000),
		   "[\"020000000000000000000000000000000000000000000000000000"
		   "000000000000\"]");
	check_body(http_json_filter(hash, 7, data, 3),
		   "{\"block_hash\":\"1f1e1d1c1b1a191817161514131211100f0e0d0c"
		   "0b0a09080706050403020100\",\"block_height\":7,\"data\":"
		   "\"01abcd\",\"filter_type\":4}");
	check_body(http_json_spent_index(hash, NULL, 0),
		   "{\"block_hash\":\"1f1e1d1c1b1a191817161514131211100f0e0d0c"
		   "0b0a09080706050403020100\",\"data\":[]}");
	check_body(http_json_txid("ab"), "\"ab\"");
	memset(&u, 0, sizeof(u));
	u.vout = 1;
	u.value = 330;
	u.spk[0] = 0x51;
	u.spk[1] = 0x20;
	u.block_height = 5;
	u.timestamp = 1700000000;
	u.spent = true;
	l = http_json_list_new();
	http_json_list_utxo(l, &u);
	check_body(http_json_list_finish(l),
		   "[{\"txid\":\"0000000000000000000000000000000000000000000000"
		   "000000000000000000\",\"vout\":1,\"value\":330,"
		   "\"scriptpubkey\":\"512000000000000000000000000000000000000"
		   "00000000000000000000000000000\",\"block_height\":5,"
		   "\"block_hash\":\"00000000000000000000000000000000000000000"
		   "00000000000000000000000\",\"timestamp\":1700000000,"
		   "\"spent\":true}]");
}

static void test_metrics(void)
{
	static struct http_metrics m;
	char *buf = NULL;
	size_t len = 0;

	http_metrics_observe(&m, ORACLE_ROUTE_TWEAK_INDEX, 200, 300000);
	http_metrics_observe(&m, ORACLE_ROUTE_TWEAK_INDEX, 200, 3000000000ull);
	http_metrics_observe(&m, ORACLE_ROUTE_NONE, 404, 1000);
	http_metrics_observe(&m, ORACLE_ROUTE_INFO, 999, 1000);
	http_metrics_render(&m, NULL, &buf, &len);
	CHECK(strlen(buf) == len);
	CHECK(strstr(buf, "signetd_http_requests_total{route=\"tweak_index\","
			  "code=\"200\"} 2\n"));
	CHECK(strstr(buf, "{route=\"none\",code=\"404\"} 1\n"));
	CHECK(strstr(buf, "{route=\"info\",code=\"other\"} 1\n"));
	CHECK(strstr(buf, "signetd_http_request_duration_seconds_bucket{"
			  "route=\"tweak_index\",le=\"0.0005\"} 1\n"));
	CHECK(strstr(buf, "signetd_http_request_duration_seconds_bucket{"
			  "route=\"tweak_index\",le=\"+Inf\"} 2\n"));
	CHECK(strstr(buf, "signetd_http_request_duration_seconds_count{"
			  "route=\"tweak_index\"} 2\n"));
	free(buf);
}

int main(void)
{
	test_lru();
	test_gzip();
	test_json();
	test_metrics();
	printf("ok\n");
	return 0;
}

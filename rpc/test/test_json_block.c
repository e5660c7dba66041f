/* test_json_block.c - the getblock-3 JSON path without a node: every
 * regtest-a block is rendered as `getblock <h> 3` JSON (as Core prints it:
 * amounts with 8 decimals) with synthetic prevouts, and
 * rpc_block_from_json() must give the same struct as btc_block_parse() +
 * btc_block_attach_spent() of the same prevouts; amounts exact to the
 * satoshi; inconsistent JSON rejected.  Also the reply parsers. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../bitcoin/block.h"
#include "../rpc.h"
#include "../../common/util.h"
#include "../../tests/lib/check.h"

#define MAX_MONEY (21000000LL * 100000000LL)

struct sb {
	char *s;
	size_t len, cap;
};

static void sb_printf(struct sb *b, const char *fmt, ...) SD_PRINTF(2, 3);
static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		CHECK(n >= 0);
		if ((size_t)n < b->cap - b->len)
			break;
		b->cap = b->cap * 2 + (size_t)n + 1024;
		b->s = sd_xrealloc(b->s, b->cap);
	}
	b->len += (size_t)n;
}

static void sb_hex(struct sb *b, const uint8_t *p, size_t n)
{
	char *h = sd_xmalloc(2 * n + 1);
	sd_hex_encode(h, p, n);
	sb_printf(b, "%s", h);
	free(h);
}

static uint64_t rng = 0x123456789abcdefULL;
static int64_t next_value(void)
{
	static const int64_t edges[] = {0, 1, 9, 10, 99999999, 100000000,
		100000001, 546, 2099999997690000LL, MAX_MONEY,
		MAX_MONEY - 1, 123456789012345LL, 5000000000LL, 4999999999LL};
	static size_t k;

	if (k < sizeof(edges) / sizeof(edges[0]))
		return edges[k++];
	rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
	if (rng >> 63)
		return (int64_t)((rng >> 11) % (uint64_t)(MAX_MONEY + 1));
	return (int64_t)((rng >> 20) % 100000000000ULL); /* small amounts */
}

/* Render b as getblock-3 JSON with prevout values from vals (one per
 * non-coinbase input, in order) and scripts {i, j, 0x51}. */
static char *render(const struct btc_block *b, int height,
		    const int64_t *vals, size_t *len)
{
	struct sb s = {sd_xmalloc(4096), 0, 4096};
	char hex[65];
	size_t v = 0;

	sd_hex_encode_rev(hex, b->hash, 32);
	sb_printf(&s, "{\"hash\":\"%s\",\"confirmations\":1,\"height\":%d,"
		  "\"version\":%" PRId32 ",", hex, height, b->hdr.version);
	sd_hex_encode_rev(hex, b->hdr.merkle_root, 32);
	sb_printf(&s, "\"merkleroot\":\"%s\",\"time\":%" PRIu32 ","
		  "\"nonce\":%" PRIu32 ",\"bits\":\"%08" PRIx32 "\","
		  "\"difficulty\":4.656542373906925e-10,", hex, b->hdr.time,
		  b->hdr.nonce, b->hdr.bits);
	sd_hex_encode_rev(hex, b->hdr.prev_hash, 32);
	sb_printf(&s, "\"previousblockhash\":\"%s\",\"tx\":[", hex);
	for (size_t i = 0; i < b->n_tx; i++) {
		const struct btc_tx *tx = &b->tx[i];
		sd_hex_encode_rev(hex, tx->txid, 32);
		sb_printf(&s, "%s{\"txid\":\"%s\",\"vin\":[", i ? "," : "", hex);
		for (size_t j = 0; j < tx->n_in; j++) {
			if (i == 0) {
				sb_printf(&s, "{\"coinbase\":\"00\","
					  "\"sequence\":4294967295}");
				continue;
			}
			int64_t x = vals[v++];
			sb_printf(&s, "%s{\"txid\":\"00\",\"prevout\":{"
				  "\"generated\":false,\"height\":1,"
				  "\"value\":%" PRId64 ".%08" PRId64 ","
				  "\"scriptPubKey\":{\"asm\":\"\",\"hex\":"
				  "\"%02x%02x51\"}}}", j ? "," : "",
				  x / 100000000, x % 100000000,
				  (unsigned)(i & 0xff), (unsigned)(j & 0xff));
		}
		sb_printf(&s, "],\"vout\":[],\"hex\":\"");
		sb_hex(&s, tx->raw.data, tx->raw.len);
		sb_printf(&s, "\"}");
	}
	sb_printf(&s, "]}");
	*len = s.len;
	return s.s;
}

/* The same prevouts as spenttxouts binary. */
static uint8_t *spent_bin(const struct btc_block *b, const int64_t *vals,
			  size_t *len)
{
	size_t cap = 16, v = 0;
	uint8_t *p, *buf;

	for (size_t i = 0; i < b->n_tx; i++)
		cap += 9 + b->tx[i].n_in * 12;
	buf = p = sd_xmalloc(cap);
	CHECK(b->n_tx < 0xfd);
	*p++ = (uint8_t)b->n_tx;
	for (size_t i = 0; i < b->n_tx; i++) {
		size_t k = i ? b->tx[i].n_in : 0;
		CHECK(k < 0xfd);
		*p++ = (uint8_t)k;
		for (size_t j = 0; j < k; j++) {
			sd_le64_put(p, (uint64_t)vals[v++]);
			p += 8;
			*p++ = 3;
			*p++ = (uint8_t)i;
			*p++ = (uint8_t)j;
			*p++ = 0x51;
		}
	}
	*len = (size_t)(p - buf);
	return buf;
}

static char *replace_once(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	size_t n = strlen(s) + strlen(to) + 1;
	char *r = sd_xmalloc(n);

	CHECK(at != NULL);
	snprintf(r, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
	return r;
}

static void test_all_blocks(void)
{
	char path[1024];
	char *line = NULL;
	size_t cap = 0, checked_vals = 0;
	ssize_t n;
	int h = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/regtest-a/blocks.hex",
		 check_testdata_dir());
	f = fopen(path, "r");
	CHECK(f != NULL);
	while ((n = getline(&line, &cap, f)) > 0) {
		struct btc_block *a, *j;
		uint8_t *raw, *sp, da[32], dj[32];
		size_t rl, sl, jl, n_in = 0;
		int64_t *vals;
		char *js;

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (n == 0)
			continue;
		h++;
		rl = (size_t)n / 2;
		raw = sd_xmalloc(rl);
		CHECK(sd_hex_decode(raw, rl, line, (size_t)n) == SD_OK);
		CHECK(btc_block_parse(raw, rl, &a) == SD_OK);
		for (size_t i = 1; i < a->n_tx; i++)
			n_in += a->tx[i].n_in;
		vals = sd_xmalloc((n_in + 1) * sizeof(*vals));
		for (size_t i = 0; i < n_in; i++)
			vals[i] = next_value();
		sp = spent_bin(a, vals, &sl);
		CHECK(btc_block_attach_spent(a, sp, sl) == SD_OK);
		a->height = h;
		js = render(a, h, vals, &jl);
		CHECK_EQ_INT(rpc_block_from_json(js, jl, &j), SD_OK);
		CHECK_EQ_INT(j->height, h);
		{
			size_t v = 0;
			for (size_t i = 1; i < j->n_tx; i++)
				for (size_t k = 0; k < j->tx[i].n_in; k++) {
					CHECK_EQ_INT(j->tx[i].in[k].prevout_value,
						     vals[v]);
					v++;
					checked_vals++;
				}
		}
		btc_block_digest(a, da);
		btc_block_digest(j, dj);
		CHECK(memcmp(da, dj, 32) == 0);
		btc_block_free(j);

		if (h == 109) { /* inconsistent JSON is rejected */
			char hx[65], *bad;
			sd_hex_encode_rev(hx, a->tx[1].txid, 32);
			bad = replace_once(js, hx, "00000000000000000000000000000000"
					   "00000000000000000000000000000000");
			CHECK_EQ_INT(rpc_block_from_json(bad, strlen(bad), &j),
				     SD_EPARSE);
			CHECK(j == NULL);
			free(bad);
			sd_hex_encode_rev(hx, a->hash, 32);
			bad = replace_once(js, hx, "11111111111111111111111111111111"
					   "11111111111111111111111111111111");
			CHECK_EQ_INT(rpc_block_from_json(bad, strlen(bad), &j),
				     SD_EPARSE);
			free(bad);
			bad = replace_once(js, "\"prevout\"", "\"prevoutx\"");
			CHECK_EQ_INT(rpc_block_from_json(bad, strlen(bad), &j),
				     SD_EPARSE);
			free(bad);
			bad = replace_once(js, "\"bits\":\"", "\"bits\":\"0");
			CHECK_EQ_INT(rpc_block_from_json(bad, strlen(bad), &j),
				     SD_EPARSE);
			free(bad);
			bad = replace_once(js, "\"value\":", "\"value\":-");
			CHECK_EQ_INT(rpc_block_from_json(bad, strlen(bad), &j),
				     SD_EPARSE);
			free(bad);
			bad = replace_once(js, "\"value\":", "\"value\":21000000");
			CHECK_EQ_INT(rpc_block_from_json(bad, strlen(bad), &j),
				     SD_EPARSE);
			free(bad);
			/* one input dropped from a vin array */
			bad = replace_once(js, "},{\"txid\":\"00\"", "");
			CHECK_EQ_INT(rpc_block_from_json(bad, strlen(bad), &j),
				     SD_EPARSE);
			free(bad);
			for (size_t k = 0; k < jl; k += 7)
				CHECK_EQ_INT(rpc_block_from_json(js, k, &j),
					     SD_EPARSE);
		}
		free(js);
		free(sp);
		free(vals);
		free(raw);
		btc_block_free(a);
	}
	CHECK_EQ_INT(h, 400);
	CHECK(checked_vals > 4000);
	free(line);
	fclose(f);
}

static void test_replies(void)
{
	char err[SD_ERRLEN], *res;
	int code;
	uint8_t hashes[3][32];
	const char *batch =
		"[{\"result\":\"2222222222222222222222222222222222222222222222"
		"222222222222222222\",\"error\":null,\"id\":12},"
		"{\"result\":\"00000000000000000000000000000000000000000000000"
		"00000000000000001\",\"error\":null,\"id\":10},"
		"{\"result\":\"1111111111111111111111111111111111111111111111"
		"111111111111111111\",\"error\":null,\"id\":11}]";

	const char *ok = "{\"result\":[1,\"a\"],\"error\":null,\"id\":1}";
	const char *ko = "{\"result\":null,\"error\":{\"code\":-28,"
			 "\"message\":\"Loading block index\"},\"id\":1}";

	CHECK_EQ_INT(rpc_parse_reply(ok, strlen(ok), &res, &code, err), SD_OK);
	CHECK_STREQ(res, "[1,\"a\"]");
	free(res);
	CHECK_EQ_INT(rpc_parse_reply(ko, strlen(ko), &res, &code, err), SD_ERPC);
	CHECK_EQ_INT(code, -28);
	CHECK_STREQ(err, "Loading block index");
	CHECK(res == NULL);
	CHECK_EQ_INT(rpc_parse_reply("<html>", 6, &res, &code, err), SD_EPARSE);
	CHECK_EQ_INT(rpc_parse_reply("[]", 2, &res, &code, err), SD_EPARSE);

	CHECK_EQ_INT(rpc_parse_batch_hashes(batch, strlen(batch), 10, 3,
					    hashes), SD_OK);
	CHECK_EQ_INT(hashes[0][0], 1); /* display order reversed */
	CHECK_EQ_INT(hashes[1][5], 0x11);
	CHECK_EQ_INT(hashes[2][31], 0x22);
	CHECK_EQ_INT(rpc_parse_batch_hashes(batch, strlen(batch), 10, 4,
					    hashes), SD_EPARSE);
	CHECK_EQ_INT(rpc_parse_batch_hashes(batch, strlen(batch), 11, 3,
					    hashes), SD_EPARSE);
	{
		const char *nf = "[{\"result\":null,\"error\":{\"code\":-8,"
				 "\"message\":\"Block height out of range\"},"
				 "\"id\":5}]";
		CHECK_EQ_INT(rpc_parse_batch_hashes(nf, strlen(nf), 5, 1,
						    hashes), SD_ENOTFOUND);
	}
	CHECK_STREQ(rpc_block_source_name(RPC_SOURCE_REST), "rest");
	CHECK_STREQ(rpc_block_source_name(RPC_SOURCE_RPC), "rpc");
}

int main(void)
{
	test_all_blocks();
	test_replies();
	printf("test_json_block: ok\n");
	return 0;
}

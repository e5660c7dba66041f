/* fuzz_rpc_json.c - the JSON the node sends us.  First byte picks the
 * parser: 0 rpc_block_from_json (getblock 3), 1 rpc_parse_reply, 2
 * rpc_parse_batch_hashes (ids 0..n-1, n from the second byte); the mempool
 * code's: 3 rpc_parse_txouts (batched gettxout, n from the second byte),
 * 4 rpc_parse_tx_prevouts (getrawtransaction 2, n_in from the second
 * byte), 5 rpc_parse_raw_mempool. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../rpc/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)data + 1;
	char err[SD_ERRLEN];

	if (size < 1)
		return 0;
	switch (data[0] % 6) {
	case 0: {
		struct btc_block *b;
		uint8_t d[32];
		if (rpc_block_from_json(json, size - 1, &b) == SD_OK) {
			btc_block_digest(b, d);
			for (size_t i = 1; i < b->n_tx; i++)
				for (size_t j = 0; j < b->tx[i].n_in; j++)
					if (!b->tx[i].in[j].has_prevout)
						abort();
			btc_block_free(b);
		}
		break;
	}
	case 1: {
		char *res = NULL;
		int code = 0;
		int rc = rpc_parse_reply(json, size - 1, &res, &code, err);
		if ((rc == SD_OK) != (res != NULL))
			abort();
		if (rc != SD_OK && rc != SD_ERPC && rc != SD_EPARSE)
			abort();
		if (rc != SD_OK && strnlen(err, SD_ERRLEN) == SD_ERRLEN)
			abort();
		free(res);
		break;
	}
	case 2: {
		uint8_t hashes[16][32];
		size_t n = 1;
		if (size >= 2) {
			n = 1 + data[1] % 16;
			json++;
		}
		int rc = rpc_parse_batch_hashes(json, size - (size >= 2 ? 2 : 1),
						0, n, hashes);
		if (rc != SD_OK && rc != SD_EPARSE && rc != SD_ENOTFOUND)
			abort();
		break;
	}
	case 3:
	case 4: {
		struct rpc_txout_info o[16];
		size_t n = size >= 2 ? 1 + data[1] % 16 : 1;
		size_t jl = size - (size >= 2 ? 2 : 1);
		int rc;

		if (size >= 2)
			json++;
		if (data[0] % 6 == 3)
			rc = rpc_parse_txouts(json, jl, n, o);
		else
			rc = rpc_parse_tx_prevouts(json, jl, n, o);
		if (rc != SD_OK && rc != SD_EPARSE && rc != SD_ENOTFOUND)
			abort();
		for (size_t i = 0; i < n; i++) {
			/* found: an amount in range and a script; else empty */
			if (rc != SD_OK && (o[i].found || o[i].spk))
				abort();
			if (o[i].found && (o[i].value < 0 ||
					   o[i].value > 2100000000000000LL ||
					   !o[i].spk))
				abort();
			if (o[i].found && o[i].spk_len)
				(void)o[i].spk[o[i].spk_len - 1];
		}
		if (rc == SD_OK && data[0] % 6 == 4)
			for (size_t i = 0; i < n; i++)
				if (!o[i].found)
					abort();
		rpc_txout_info_clear(o, n);
		break;
	}
	case 5: {
		uint8_t (*ids)[32] = NULL;
		size_t n = 0;
		int rc = rpc_parse_raw_mempool(json, size - 1, &ids, &n);

		if (rc != SD_OK && (rc != SD_EPARSE || ids || n))
			abort();
		for (size_t i = 1; i < n; i++)
			if (memcmp(ids[i - 1], ids[i], 32) > 0)
				abort(); /* sorted */
		free(ids);
		break;
	}
	}
	return 0;
}

/* fuzz_block.c - the serialized block and transaction parsers
 * (btc_block_parse, btc_tx_parse) on arbitrary bytes.  Accepted blocks must
 * be self-consistent: every tx's raw bytes re-parse alone to the same txid,
 * and the txs tile the block after the header and count. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../bitcoin/block.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct btc_block *b, *t;
	uint8_t d[32];

	if (btc_block_parse(data, size, &b) == SD_OK) {
		size_t sum = 0;

		btc_block_digest(b, d); /* reads every field and pointer */
		for (size_t i = 0; i < b->n_tx; i++) {
			sum += b->tx[i].raw.len;
			if (btc_tx_parse(b->tx[i].raw.data, b->tx[i].raw.len,
					 &t) != SD_OK ||
			    memcmp(t->tx[0].txid, b->tx[i].txid, 32) != 0)
				abort();
			btc_block_free(t);
		}
		if (b->size_bytes != size || size - sum < 81 || size - sum > 89)
			abort();
		btc_block_free(b);
	} else if (b != NULL) {
		abort();
	}
	if (btc_tx_parse(data, size, &t) == SD_OK) {
		btc_block_digest(t, d);
		if (t->n_tx != 1 || t->tx[0].raw.len != size)
			abort();
		btc_block_free(t);
	}
	return 0;
}

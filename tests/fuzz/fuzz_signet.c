/* fuzz_signet.c - the miner's parsers of outside bytes: the signet
 * commitment script walk and solution parser (BIP325), blocks and
 * transactions, and signed PSBTs (solvepsbt's stdin).  The first byte picks
 * the parser; every accepted input must re-serialise consistently. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "miner/miner.h"

static void check_solution(const uint8_t *d, size_t n)
{
	struct miner_txin in = {0};
	struct miner_tx holder = {0};

	if (miner_solution_parse(d, n, &in) == SD_OK) {
		struct sd_buf again = {0};
		miner_solution_from_txin(&in, &again);
		if (again.len != n || memcmp(again.p, d, n) != 0) {
			/* non-canonical CompactSize is the only way to differ */
		}
		sd_buf_free(&again);
	}
	holder.in = malloc(sizeof(in));
	holder.in[0] = in;
	holder.n_in = 1;
	miner_tx_clear(&holder);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t sel;

	if (size < 1)
		return 0;
	sel = data[0] % 4;
	data++;
	size--;
	if (sel == 0) {
		bool found;
		struct sd_buf sol = {0}, stripped = {0};
		if (miner_signet_split(data, size, &found, &sol, &stripped) ==
			    SD_OK &&
		    found)
			check_solution(sol.p, sol.len);
		sd_buf_free(&sol);
		sd_buf_free(&stripped);
	} else if (sel == 1) {
		check_solution(data, size);
	} else if (sel == 2) {
		struct miner_block b;
		if (miner_block_parse(data, size, &b) == SD_OK) {
			struct sd_buf out = {0};
			struct miner_signet_txs t;
			miner_block_serialize(&b, &out);
			if (out.len != size || memcmp(out.p, data, size) != 0)
				abort(); /* parse and serialise disagree */
			if (miner_signet_txs(&b, (const uint8_t *)"\x51", 1,
					     &t) == SD_OK)
				miner_signet_txs_clear(&t);
			sd_buf_free(&out);
			miner_block_clear(&b);
		}
	} else {
		struct miner_block b;
		struct sd_buf sol = {0};
		if (miner_psbt_extract(data, size, &b, &sol) == SD_OK) {
			if (miner_block_add_solution(&b, sol.p, sol.len) == SD_OK)
				miner_block_update_merkle(&b);
			miner_block_clear(&b);
		}
		sd_buf_free(&sol);
	}
	return 0;
}

/* fuzz_miner_answers.c - the node's answers the signet miner reads
 * (rpc/miner_answers.c).  First byte picks the parser: 0 getblocktemplate
 * (a node's answer), 1 getblocktemplate (a file on stdin), 2 a string
 * member (bestblockhash), 3 deriveaddresses, 4 getblockheader,
 * 5 validateaddress, 6 walletprocesspsbt, 7 submitblock, 8 bitcoin-cli's
 * stdout normalized and read back as a template. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"
#include "../../rpc/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_template(const char *json, size_t len, bool any_top)
{
	struct rpc_block_template t;
	char err[SD_ERRLEN];

	if (rpc_parse_block_template(json, len, any_top, &t, err) != SD_OK) {
		if (t.n_tx || t.tx || t.challenge)
			abort();
		return;
	}
	if (strlen(t.prev_hex) != 64 || (t.n_tx && !t.tx))
		abort();
	for (size_t i = 0; i < t.n_tx; i++)
		if (!t.tx[i].raw)
			abort();
	rpc_block_template_clear(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)data + 1;
	size_t len = size - 1;
	char *s = NULL;
	uint8_t *spk = NULL;
	size_t spk_len;
	uint32_t bits;
	int32_t height;
	int64_t time;

	if (size < 1)
		return 0;
	switch (data[0] % 9) {
	case 0:
	case 1:
		check_template(json, len, data[0] % 9 == 0);
		break;
	case 2:
	case 3:
		if (rpc_parse_string_member(json, len, data[0] % 9 == 2 ?
					    "bestblockhash" : NULL, &s) ==
		    SD_OK && !s)
			abort();
		free(s);
		break;
	case 4:
		(void)!rpc_parse_header_fields(json, len, &bits, &height,
					       &time);
		break;
	case 5:
		if (rpc_parse_address_spk(json, len, &spk, &spk_len) == SD_OK &&
		    !spk)
			abort();
		free(spk);
		break;
	case 6:
		if (rpc_parse_psbt_result(json, len, &s) == SD_OK && !s)
			abort();
		free(s);
		break;
	case 7:
		rpc_parse_submit_result(json, len, &s);
		free(s);
		break;
	default: {
		char *text = sd_xmalloc(len + 1), *j;

		memcpy(text, json, len);
		text[len] = '\0';
		j = rpc_cli_result_json(text);
		free(text);
		if (j)
			check_template(j, strlen(j), true);
		free(j);
	}
	}
	return 0;
}

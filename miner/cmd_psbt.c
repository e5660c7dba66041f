/* cmd_psbt.c - the two halves of one mining step for an offline signer:
 * `genpsbt` (template on stdin -> unsigned PSBT) and `solvepsbt` (signed
 * PSBT on stdin -> ground block hex), as the reference does them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/util.h"
#include "miner_priv.h"

int miner_cmd_genpsbt(const struct miner_opts *o)
{
	char err[SD_ERRLEN] = "", q[SD_ERRLEN + 16];
	size_t len;
	char *in = miner_read_stdin(&len);
	struct miner_template t;
	struct miner_reward r = {0};
	struct miner_node *n = NULL;
	struct miner_block b;
	struct sd_buf psbt = {0};
	char *b64;
	int64_t time;
	int rc = 1;

	rc = miner_template_parse(in, strlen(in), false, &t, err);
	free(in);
	if (rc) {
		sd_log_error(MINER_MOD, "bad_template", "err=%s",
			     sd_log_q(q, sizeof(q), err));
		return 1;
	}
	rc = 1;
	if (miner_node_open(o, &n) ||
	    miner_reward_resolve(n, o, t.gbt.height, &r, err)) {
		sd_log_error(MINER_MOD, "reward_address_failed", "err=%s",
			     sd_log_q(q, sizeof(q), err));
		goto out;
	}
	time = t.gbt.curtime < t.gbt.mintime ? t.gbt.mintime : t.gbt.curtime;
	miner_build_block(&t, o, &r, (uint32_t)time, &b);
	if (miner_psbt_build(&b, t.gbt.challenge, t.gbt.challenge_len, &psbt) == SD_OK) {
		b64 = miner_base64_encode(psbt.p, psbt.len);
		printf("%s\n", b64);
		free(b64);
		rc = 0;
	}
	miner_block_clear(&b);
	sd_buf_free(&psbt);
out:
	sd_buf_free(&r.spk);
	sd_buf_free(&r.relay_spk);
	miner_node_free(n);
	miner_template_clear(&t);
	return rc;
}

int miner_cmd_solvepsbt(const struct miner_opts *o)
{
	char err[SD_ERRLEN] = "", q[SD_ERRLEN + 16];
	size_t len;
	char *in = miner_read_stdin(&len);
	uint8_t *raw = NULL;
	size_t n;
	struct miner_block b;
	struct sd_buf sol = {0}, out = {0};
	struct miner_grind_result gr;
	char *hex;
	int rc = 1;

	if (miner_base64_decode(in, &raw, &n) ||
	    miner_psbt_extract(raw, n, &b, &sol)) {
		sd_log_error(MINER_MOD, "bad_psbt", "err=%s",
			     "stdin is not a signed signet PSBT");
		free(in);
		free(raw);
		return 1;
	}
	free(in);
	free(raw);
	if (miner_block_add_solution(&b, sol.p, sol.len) ||
	    miner_do_grind(o, &b, &gr, err)) {
		sd_log_error(MINER_MOD, "grind_failed", "err=%s",
			     sd_log_q(q, sizeof(q), err));
		goto done;
	}
	miner_block_serialize(&b, &out);
	hex = sd_xmalloc(out.len * 2 + 1);
	sd_hex_encode(hex, out.p, out.len);
	printf("%s\n", hex);
	free(hex);
	rc = 0;
done:
	sd_buf_free(&out);
	sd_buf_free(&sol);
	miner_block_clear(&b);
	return rc;
}

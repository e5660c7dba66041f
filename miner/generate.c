/* generate.c - `generate`: the mining loop (spec section 5).  Polls the tip,
 * waits for the planned time, builds a block from a fresh template, signs
 * the signet challenge (wallet or native key), grinds, submits, logs
 * msg=block_mined.  A node that goes away is waited for; a template whose
 * parent is no longer the tip is refetched. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "miner_priv.h"

struct tip {
	char hash[65];
	int32_t height;
	int64_t time;
	uint32_t bits;
};

static int get_tip(struct miner_node *n, struct tip *t, bool *changed,
		   char err[SD_ERRLEN])
{
	char *res, *hdr, *best;
	struct rpc_arg a;
	int code, rc;
	uint32_t bits;
	int32_t height;
	int64_t time;

	*changed = false;
	rc = miner_node_call(n, "getblockchaininfo", NULL, 0, &res, &code, err);
	if (rc)
		return rc;
	rc = rpc_parse_string_member(res, strlen(res), "bestblockhash", &best);
	free(res);
	if (rc != SD_OK || strlen(best) != 64) {
		free(best);
		snprintf(err, SD_ERRLEN, "getblockchaininfo: no bestblockhash");
		return SD_EPARSE;
	}
	if (strcmp(best, t->hash) == 0) {
		free(best);
		return SD_OK;
	}
	a = (struct rpc_arg){best, false};
	rc = miner_node_call(n, "getblockheader", &a, 1, &hdr, &code, err);
	if (rc) {
		free(best);
		return rc;
	}
	if (rpc_parse_header_fields(hdr, strlen(hdr), &bits, &height,
				    &time) != SD_OK) {
		snprintf(err, SD_ERRLEN, "getblockheader: bad answer");
		rc = SD_EPARSE;
	} else {
		memcpy(t->hash, best, 65);
		t->height = height;
		t->time = time;
		t->bits = bits;
		*changed = true;
	}
	free(hdr);
	free(best);
	return rc;
}

/* Solve the block's challenge: natively with key, else via the wallet. */
static int sign_block(struct miner_node *n, const struct miner_key *key,
		      const struct miner_block *b, const uint8_t *chal,
		      size_t chal_len, struct sd_buf *sol, char err[SD_ERRLEN])
{
	struct miner_signet_txs t;
	struct sd_buf psbt = {0};
	struct miner_block signed_b;
	char *res, *b64;
	uint8_t *raw;
	size_t len;
	int rc, code;

	sol->len = 0;
	if (key) {
		rc = miner_signet_txs(b, chal, chal_len, &t);
		if (rc)
			return rc;
		rc = miner_sign_solution(key, chal, chal_len, &t, sol);
		miner_signet_txs_clear(&t);
		if (rc)
			snprintf(err, SD_ERRLEN, "the key does not solve this "
				 "challenge (supported: 1-of-1 multisig, p2pk, "
				 "p2wpkh)");
		return rc;
	}
	rc = miner_psbt_build(b, chal, chal_len, &psbt);
	if (rc)
		return rc;
	b64 = miner_base64_encode(psbt.p, psbt.len);
	sd_buf_free(&psbt);
	{
		struct rpc_arg a[3] = {{b64, false}, {"true", true},
					 {"ALL", false}};
		rc = miner_node_call(n, "walletprocesspsbt", a, 3, &res, &code,
				     err);
	}
	free(b64);
	if (rc)
		return rc;
	rc = rpc_parse_psbt_result(res, strlen(res), &b64);
	free(res);
	if (rc != SD_OK) {
		snprintf(err, SD_ERRLEN, "PSBT signing failed: the wallet "
			 "cannot solve the signet challenge");
		return SD_EINVAL;
	}
	rc = miner_base64_decode(b64, &raw, &len);
	free(b64);
	if (rc)
		return rc;
	rc = miner_psbt_extract(raw, len, &signed_b, sol);
	free(raw);
	if (rc) {
		snprintf(err, SD_ERRLEN, "wallet returned an unusable PSBT");
		return rc;
	}
	miner_block_clear(&signed_b);
	return SD_OK;
}

/* Sleep s seconds, or less when a stop signal comes. */
static void sleep_s(double s)
{
	while (s > 0 && !miner_stopping()) {
		double step = s > 0.25 ? 0.25 : s;
		struct timespec ts;
		ts.tv_sec = (time_t)step;
		ts.tv_nsec = (long)((step - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
		s -= step;
	}
}

/* Before mining: can the configured key sign the chain's challenge (the
 * node's signet_challenge)?  A key from `keygen` cannot sign for an
 * existing signet.  Returns SD_OK (or undecidable: logged), else an error
 * with err set. */
static int check_challenge(struct miner_node *n, const struct miner_key *key,
			   char err[SD_ERRLEN])
{
	char *res, *hex;
	const char *kind;
	uint8_t *chal;
	size_t len;
	int code, rc;

	rc = miner_node_call(n, "getblockchaininfo", NULL, 0, &res, &code, err);
	if (rc)
		return rc;
	if (rpc_parse_string_member(res, strlen(res), "signet_challenge",
				    &hex) != SD_OK)
		hex = NULL;
	free(res);
	len = hex ? strlen(hex) : 0;
	if (!hex || len == 0 || len % 2 || len > 20000) {
		sd_log_warn(MINER_MOD, "challenge_check_skipped",
			    "signer=%s reason=\"the node reports no "
			    "signet_challenge (not a signet node?)\"",
			    key ? "key" : "wallet");
		free(hex);
		return SD_OK;
	}
	chal = sd_xmalloc(len / 2);
	if (sd_hex_decode(chal, len / 2, hex, len)) {
		free(chal);
		free(hex);
		snprintf(err, SD_ERRLEN,
			 "getblockchaininfo: bad signet_challenge");
		return SD_EPARSE;
	}
	kind = miner_challenge_kind_name(miner_challenge_kind(chal, len / 2));
	if (!key) {
		/* the wallet's answer comes with the first block's PSBT,
		 * signed before any grinding */
		sd_log_info(MINER_MOD, "challenge_check_skipped",
			    "signer=wallet kind=%s challenge=%s reason=\"the "
			    "wallet is asked when the first block is signed\"",
			    kind, len <= 200 ? hex : "(long)");
		rc = SD_OK;
	} else {
		rc = miner_key_check_challenge(key, chal, len / 2, err);
		if (rc == SD_OK)
			sd_log_info(MINER_MOD, "challenge_ok",
				    "signer=key kind=%s", kind);
	}
	free(chal);
	free(hex);
	return rc;
}

static int parse_multiminer(const char *s, struct miner_timing *t)
{
	int j, k, m, used = 0;

	if (sscanf(s, "%d-%d/%d%n", &j, &k, &m, &used) == 3 &&
	    used == (int)strlen(s)) {
	} else if (used = 0, sscanf(s, "%d/%d%n", &k, &m, &used) == 2 &&
		   used == (int)strlen(s)) {
		j = k;
	} else {
		sd_log_error(MINER_MOD, "bad_option",
			     "err=\"--multiminer argument must be k/m or j-k/m\"");
		return -1;
	}
	if (!(j > 0 && k >= j && m >= k && m > 0)) {
		sd_log_error(MINER_MOD, "bad_option",
			     "err=\"Inconsistent values for --multiminer\"");
		return -1;
	}
	t->mm_low = j - 1;
	t->mm_high = k;
	t->mm_total = m;
	return 0;
}

/* One block: build, sign, grind (rolling nTime if the nonce space runs
 * out), submit.  Returns SD_OK (*b holds the block, caller clears it), or
 * an error with err set (*b cleared). */
static int mine_one(struct miner_node *n, const struct miner_opts *o,
		    const struct miner_key *key, const struct miner_template *t,
		    const struct miner_reward *r, int64_t block_time,
		    struct miner_block *b, struct miner_grind_result *gr,
		    char **reject, char err[SD_ERRLEN])
{
	struct sd_buf sol = {0}, raw = {0};
	char *res;
	struct rpc_arg a;
	char *hex;
	int rc, code;

	*reject = NULL;
	for (int attempt = 0;; attempt++) {
		miner_build_block(t, o, r, (uint32_t)(block_time + attempt), b);
		rc = sign_block(n, key, b, t->gbt.challenge, t->gbt.challenge_len, &sol,
				err);
		if (rc == SD_OK)
			rc = miner_block_add_solution(b, sol.p, sol.len);
		if (rc == SD_OK)
			rc = miner_do_grind(o, b, gr, err);
		if (rc == SD_ENOTFOUND && attempt < 16) {
			sd_log_warn(MINER_MOD, "nonce_space_exhausted",
				    "height=%d time=%u", t->gbt.height, b->time);
			miner_block_clear(b);
			continue;
		}
		break;
	}
	sd_buf_free(&sol);
	if (rc) {
		miner_block_clear(b);
		return rc;
	}
	miner_block_serialize(b, &raw);
	hex = sd_xmalloc(raw.len * 2 + 1);
	sd_hex_encode(hex, raw.p, raw.len);
	sd_buf_free(&raw);
	a = (struct rpc_arg){hex, false};
	rc = miner_node_call(n, "submitblock", &a, 1, &res, &code, err);
	free(hex);
	if (rc) {
		miner_block_clear(b);
		return rc;
	}
	rpc_parse_submit_result(res, strlen(res), reject);
	free(res);
	return SD_OK;
}

/* generate's options, checked in the reference's order (spec 2.3), into
 * the timing parameters and the block limit (0: no limit).  Returns
 * MINER_EXIT_OK or MINER_EXIT_USAGE (logged). */
static int generate_opts(const struct miner_opts *o, struct miner_timing *tm,
			 long *limit)
{
	if (o->has_set_time)
		*limit = 1;
	else if (o->max_blocks)
		*limit = o->max_blocks;
	else if (o->ongoing)
		*limit = 0;
	else
		*limit = 1;
	if (o->ongoing && (o->max_blocks || o->has_set_time)) {
		sd_log_error(MINER_MOD, "bad_option", "err=\"--ongoing excludes "
			     "--max-blocks and --set-block-time\"");
		return MINER_EXIT_USAGE;
	}
	tm->has_set_time = o->has_set_time;
	tm->set_time = o->set_time;
	if (o->has_set_time && o->set_time < 0) {
		tm->set_time = (int64_t)time(NULL);
		sd_log_info(MINER_MOD, "set_block_time_now", "time=%lld",
			    (long long)tm->set_time);
	}
	if (o->min_nbits && o->nbits) {
		sd_log_error(MINER_MOD, "bad_option",
			     "err=\"--nbits and --min-nbits exclude each other\"");
		return MINER_EXIT_USAGE;
	}
	if (o->min_nbits) {
		tm->nbits = MINER_SIGNET_MIN_NBITS;
	} else if (o->nbits) {
		uint8_t b4[4];
		if (strlen(o->nbits) != 8 || sd_hex_decode(b4, 4, o->nbits, 8)) {
			sd_log_error(MINER_MOD, "bad_option",
				     "err=\"--nbits must be 8 hex digits\"");
			return MINER_EXIT_USAGE;
		}
		tm->nbits = sd_be32_get(b4);
	} else if (o->has_set_time) {
		tm->nbits = MINER_SIGNET_MIN_NBITS; /* unused for a single timed block */
	} else {
		sd_log_error(MINER_MOD, "bad_option", "err=\"Must specify "
			     "--nbits (use calibrate command to determine value)\"");
		return MINER_EXIT_USAGE;
	}
	tm->mm_low = 0;
	tm->mm_high = 1;
	tm->mm_total = 1;
	if (o->multiminer) {
		if (!o->ongoing) {
			sd_log_error(MINER_MOD, "bad_option", "err=\"--multiminer "
				     "only makes sense with --ongoing\"");
			return MINER_EXIT_USAGE;
		}
		if (parse_multiminer(o->multiminer, tm))
			return MINER_EXIT_USAGE;
	}
	if (o->max_interval < 960) {
		sd_log_error(MINER_MOD, "bad_option", "err=\"--max-interval "
			     "must be at least 960 (16 minutes)\"");
		return MINER_EXIT_USAGE;
	}
	if (!o->address && !o->descriptor) {
		sd_log_error(MINER_MOD, "bad_option",
			     "err=\"one of --address/--descriptor is required\"");
		return MINER_EXIT_USAGE;
	}
	tm->max_interval = (double)o->max_interval;
	tm->interval = o->block_interval * 2016.0 / 2015.0;
	tm->poisson = o->poisson;
	tm->backup_delay = o->backup_delay;
	tm->standby_delay = o->standby_delay;
	return MINER_EXIT_OK;
}

/* What the mining loop works with, besides the options. */
struct generate_run {
	struct miner_node *n;
	const struct miner_key *key;
	struct miner_timing *tm;
	struct miner_reward *reward;
	long limit, attempts, mined;
};

/* The mining loop: wait for the block's time, take a template, build,
 * sign, grind, submit; until limit blocks were tried.  Returns SD_OK
 * (g->limit reached), SD_ESTATE (stopped by a signal) or SD_EIO (logged). */
static int generate_loop(const struct miner_opts *o, struct generate_run *g)
{
	struct miner_node *n = g->n;
	const struct miner_key *key = g->key;
	struct tip tip = {0};
	char err[SD_ERRLEN] = "", q[SD_ERRLEN + 16], last_mined[65] = "";

	for (;;) {
		struct miner_template t;
		struct miner_block b;
		struct miner_grind_result gr;
		struct rpc_arg ga = {"{\"rules\":[\"signet\",\"segwit\"]}", true};
		char *gbt;
		bool changed, is_mine;
		int64_t now, block_time, action_time;
		char *reject = NULL, hash[65], nextbuf[32];
		int code;

		if (miner_stopping())
			goto stopped;
		if (get_tip(n, &tip, &changed, err)) {
			if (miner_stopping())
				goto stopped;
			sd_log_error(MINER_MOD, "tip_failed", "err=%s",
				     sd_log_q(q, sizeof(q), err));
			goto out;
		}
		if (changed && strcmp(tip.hash, last_mined) != 0 && g->attempts)
			sd_log_info(MINER_MOD, "block_received",
				    "height=%d hash=%s", tip.height, tip.hash);
		now = (int64_t)time(NULL);
		miner_next_block_time(g->tm, now, tip.height, tip.time, tip.bits,
				      tip.hash, g->mined == 0 && g->attempts == 0,
				      &block_time, &action_time, &is_mine);
		if (now < action_time) {
			double s = (double)(action_time - now);
			if (s > 60)
				s = 60;
			if (block_time < now && s > 20)
				s = 20;
			sd_log_debug(MINER_MOD, "sleeping", "seconds=%.0f "
				     "block_time=%lld", s, (long long)block_time);
			/* poll the tip at least every 5 s while waiting */
			sleep_s(s > 5 ? 5 : s);
			continue;
		}
		if (miner_node_call(n, "getblocktemplate", &ga, 1, &gbt, &code,
				    err)) {
			if (miner_stopping())
				goto stopped;
			sd_log_error(MINER_MOD, "template_failed", "code=%d err=%s",
				     code, sd_log_q(q, sizeof(q), err));
			goto out;
		}
		if (miner_template_parse(gbt, strlen(gbt), true, &t, err)) {
			free(gbt);
			sd_log_error(MINER_MOD, "bad_template", "err=%s",
				     sd_log_q(q, sizeof(q), err));
			goto out;
		}
		free(gbt);
		if (strcmp(t.gbt.prev_hex, tip.hash) != 0) {
			sd_log_warn(MINER_MOD, "template_stale",
				    "template_prev=%s tip=%s", t.gbt.prev_hex,
				    tip.hash);
			miner_template_clear(&t);
			sleep_s(0.2);
			continue;
		}
		if (t.gbt.mintime > block_time) {
			sd_log_info(MINER_MOD, "block_time_raised",
				    "from=%lld to=%lld", (long long)block_time,
				    (long long)t.gbt.mintime);
			block_time = t.gbt.mintime;
			if (block_time > now + 1 && !o->has_set_time) {
				miner_template_clear(&t);
				sleep_s((double)(block_time - now));
				continue;
			}
		}
		if (miner_reward_resolve(n, o, t.gbt.height, g->reward, err)) {
			if (miner_stopping()) {
				miner_template_clear(&t);
				goto stopped;
			}
			sd_log_error(MINER_MOD, "reward_address_failed", "err=%s",
				     sd_log_q(q, sizeof(q), err));
			miner_template_clear(&t);
			goto out;
		}
		g->attempts++;
		if (mine_one(n, o, key, &t, g->reward, block_time, &b, &gr,
			     &reject, err)) {
			if (miner_stopping()) {
				/* the block in hand is abandoned, unsent */
				miner_template_clear(&t);
				goto stopped;
			}
			sd_log_error(MINER_MOD, "mining_failed", "height=%d err=%s",
				     t.gbt.height, sd_log_q(q, sizeof(q), err));
			miner_template_clear(&t);
			goto out;
		}
		{
			uint8_t h[32];
			miner_block_hash(&b, h);
			sd_hex_encode_rev(hash, h, 32);
		}
		if (reject) {
			sd_log_warn(MINER_MOD, "block_rejected",
				    "height=%d hash=%s reason=%s", t.gbt.height, hash,
				    sd_log_q(q, sizeof(q), reject));
			free(reject);
		} else {
			int64_t nb, na;
			bool mine2;
			g->mined++;
			memcpy(last_mined, hash, 65);
			miner_next_block_time(g->tm, (int64_t)time(NULL), t.gbt.height,
					      b.time, t.gbt.bits, hash, false, &nb,
					      &na, &mine2);
			miner_fmt_hms(nextbuf, sizeof(nextbuf),
				      (double)(nb - (int64_t)time(NULL)));
			sd_log_info(MINER_MOD, "block_mined",
				    "height=%d hash=%s txs=%zu grind_s=%.3f "
				    "hashes=%llu time=%u next_in=%s next=%s",
				    t.gbt.height, hash, b.n_tx, gr.seconds,
				    (unsigned long long)gr.hashes, b.time,
				    nextbuf, mine2 ? "mine" : "backup");
		}
		miner_block_clear(&b);
		miner_template_clear(&t);
		if (g->limit && g->attempts >= g->limit)
			break;
	}
	return SD_OK;
stopped:
	return SD_ESTATE;
out:
	return SD_EIO;
}

int miner_cmd_generate(const struct miner_opts *o)
{
	struct miner_timing tm = {0};
	struct miner_node *n = NULL;
	struct miner_key *key = NULL;
	struct miner_reward reward = {0};
	struct generate_run g = {0};
	char err[SD_ERRLEN] = "", q[SD_ERRLEN + 16];
	long limit = 0;
	int rc;

	rc = generate_opts(o, &tm, &limit);
	if (rc != MINER_EXIT_OK)
		return rc;
	if (miner_load_key(o, &key, err)) {
		sd_log_error(MINER_MOD, "key_load_failed", "err=%s",
			     sd_log_q(q, sizeof(q), err));
		return MINER_EXIT_USAGE;
	}
	sd_log_info(MINER_MOD, "miner_start", "nbits=%08x interval=%.3f "
		    "signer=%s grinder=%s rpc=%s limit=%ld", tm.nbits,
		    tm.interval, key ? "key" : "wallet",
		    o->grind_cmd ? "cmd" : "native", o->cli ? "cli" : "jsonrpc",
		    limit);
	if (miner_node_open(o, &n)) {
		sd_log_error(MINER_MOD, "bad_option",
			     "err=\"bad RPC settings (url/cookie/user)\"");
		miner_key_free(key);
		return MINER_EXIT_USAGE;
	}
	miner_node_set_wait(n, true);
	rc = check_challenge(n, key, err);
	if (rc) {
		if (miner_stopping())
			goto stopped;
		sd_log_error(MINER_MOD, rc == SD_EINVAL || rc == SD_ESTATE ?
			     "key_challenge_mismatch" : "challenge_check_failed",
			     "err=%s hint=%s", sd_log_q(q, sizeof(q), err),
			     rc == SD_EINVAL || rc == SD_ESTATE ?
			     "\"an existing signet is mined with the key of its "
			     "challenge (its key file or WIF, or the node's "
			     "wallet holding it); keygen only makes keys for a "
			     "new signet\"" : "-");
		rc = rc == SD_EINVAL || rc == SD_ESTATE ? MINER_EXIT_USAGE
						       : MINER_EXIT_FAIL;
		goto out;
	}

	g = (struct generate_run){n, key, &tm, &reward, limit, 0, 0};
	switch (generate_loop(o, &g)) {
	case SD_OK:
		rc = g.mined == g.attempts ? MINER_EXIT_OK : MINER_EXIT_FAIL;
		goto out;
	case SD_ESTATE:
		goto stopped;
	default:
		rc = MINER_EXIT_FAIL;
		goto out;
	}
stopped:
	sd_log_info(MINER_MOD, "miner_stopped", "signal=%s mined=%ld",
		    miner_stop_signal_name(), g.mined);
	rc = MINER_EXIT_OK;
out:
	sd_buf_free(&reward.spk);
	sd_buf_free(&reward.relay_spk);
	miner_key_free(key);
	miner_node_free(n);
	return rc;
}

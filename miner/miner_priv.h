/* miner_priv.h - what the miner's command files share: parsed options, the
 * node connection (bitcoin-cli subprocess or JSON-RPC), subprocesses.
 * Private to miner/.  The node's answers are JSON text that only rpc/'s
 * parsers read (rpc.h, "the signet miner's answers"). */
#ifndef SIGNETD_MINER_MINER_PRIV_H
#define SIGNETD_MINER_MINER_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../rpc/rpc.h"
#include "miner.h"

#define MINER_MOD "miner"

struct miner_opts {
	/* global */
	const char *cli;
	bool debug, quiet;
	const char *rpc_url, *rpc_cookie, *rpc_user, *rpc_wallet, *datadir;
	long rpc_timeout_ms;
	long cli_timeout_s, grind_timeout_s; /* children; 0 = none */
	/* subcommand */
	const char *cmd;
	const char *address, *descriptor;
	bool has_poolnum;
	long poolnum;
	const char *poolid;
	const char *nbits;
	bool min_nbits, ongoing, poisson;
	long max_blocks; /* 0 = not given */
	bool has_set_time;
	int64_t set_time;
	const char *multiminer;
	long backup_delay, standby_delay, max_interval;
	const char *grind_cmd;
	const char *relay_address;
	bool has_split;
	double reward_split;
	const char *key_file;
	double block_interval;
	long seconds; /* calibrate */
	unsigned threads;
	const char *out_key_file; /* keygen */
};

/* ---- node access (node.c) ---- */
struct miner_node;
/* Arguments are struct rpc_arg (rpc.h): a string, or JSON text (object,
 * array, bool, num), as bitcoin-cli takes them. */
int miner_node_open(const struct miner_opts *o, struct miner_node **out);
void miner_node_free(struct miner_node *n);
/* When set, unreachable-node errors are retried (with back-off, logged
 * once) until the node answers; other errors return. */
void miner_node_set_wait(struct miner_node *n, bool wait);
/* Call method.  On SD_OK *result is the result as JSON text (free() it;
 * "null" for an empty answer).  On SD_ERPC *code/err hold the node's
 * error. */
int miner_node_call(struct miner_node *n, const char *method,
		    const struct rpc_arg *args, size_t nargs,
		    char **result, int *code, char err[SD_ERRLEN]);

/* ---- subprocesses (run.c) ---- */
/* Split cmd on single spaces (as the 29.x reference) into a NULL-ended
 * argv with room for extra more entries; free with miner_argv_free. */
char **miner_split_cmd(const char *cmd, size_t extra, size_t *argc);
void miner_argv_free(char **argv);
/* Run argv with in_data on stdin; collect stdout/stderr (NUL-terminated,
 * caller frees).  *status = exit code (or 128+signal).  The child's
 * environment lacks the secrets (miner_env_is_secret).  timeout_ms > 0: a
 * child still running then is stopped (SIGTERM, SIGKILL 2 s later) and
 * SD_ETIMEOUT returned; a stop signal to the miner stops it too
 * (SD_ESTATE).  Returns SD_OK, SD_EIO (could not start), SD_ETIMEOUT or
 * SD_ESTATE. */
int miner_run(char *const *argv, const uint8_t *in_data, size_t in_len,
	      long timeout_ms, char **out, char **err, int *status);
/* True for an environ entry ("NAME=value") children must not inherit:
 * RPC_PASS, SIGNET_MINER_KEY. */
bool miner_env_is_secret(const char *entry);

/* ---- stop signals (run.c) ---- */
/* SIGTERM/SIGINT handlers: as PID 1 in a container the default action
 * would be to ignore them.  cooperative (generate): they set a flag that
 * the long waits (sleeps, node retries, children, the grinder) check, and
 * the command stops cleanly; else the process exits 128+signal at once. */
void miner_signals_install(bool cooperative);
bool miner_stopping(void);
const char *miner_stop_signal_name(void);
const volatile bool *miner_stop_flag(void);

/* ---- commands ---- */
int miner_cmd_genpsbt(const struct miner_opts *o);
int miner_cmd_solvepsbt(const struct miner_opts *o);
int miner_cmd_generate(const struct miner_opts *o);
int miner_cmd_calibrate(const struct miner_opts *o);
int miner_cmd_keygen(const struct miner_opts *o);

/* ---- shared block pipeline (build.c) ---- */
struct miner_template {
	struct rpc_block_template gbt; /* header fields; its raw txs freed */
	size_t n_tx;
	struct miner_tx *tx;            /* gbt's transactions, parsed */
};
/* getblocktemplate JSON text (any_top: a node's answer; else stdin) into
 * t, every transaction parsed. */
int miner_template_parse(const char *json, size_t len, bool any_top,
			 struct miner_template *t, char err[SD_ERRLEN]);
void miner_template_clear(struct miner_template *t);
/* Reward scripts: resolves --address/--descriptor (and the relay address)
 * through the node.  Cached unless the descriptor is ranged. */
struct miner_reward {
	struct sd_buf spk, relay_spk;
	bool have, have_relay, ranged;
};
int miner_reward_resolve(struct miner_node *n, const struct miner_opts *o,
			 int32_t height, struct miner_reward *r,
			 char err[SD_ERRLEN]);
/* Build the unsigned block for the template (nTime = time). */
void miner_build_block(const struct miner_template *t,
		       const struct miner_opts *o, const struct miner_reward *r,
		       uint32_t time, struct miner_block *b);
/* Grind b's header: --grind-cmd if set, else native.  Sets b->nonce. */
int miner_do_grind(const struct miner_opts *o, struct miner_block *b,
		   struct miner_grind_result *res,
		   char err[SD_ERRLEN]);
/* Read all of stdin (NUL-terminated). */
char *miner_read_stdin(size_t *len);
/* Load the native signing key (--key-file, env SIGNET_MINER_KEY_FILE or
 * SIGNET_MINER_KEY).  *k NULL if none configured.  Never logs the key. */
int miner_load_key(const struct miner_opts *o, struct miner_key **k,
		   char err[SD_ERRLEN]);

#endif

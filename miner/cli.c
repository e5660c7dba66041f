/* cli.c - miner_main(): the reference miner's command line (global options,
 * then genpsbt | solvepsbt | generate | calibrate, plus keygen), the
 * environment defaults of the 4NK fork, and exit codes (0 ok, 1 failure,
 * 2 usage). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/util.h"
#include "miner_priv.h"

enum opt_id {
	O_CLI, O_DEBUG, O_QUIET, O_RPC_URL, O_RPC_COOKIE, O_RPC_USER,
	O_RPC_WALLET, O_DATADIR, O_RPC_TIMEOUT, O_CLI_TIMEOUT, O_GRIND_TIMEOUT,
	O_HELP,
	/* subcommand options */
	O_ADDRESS, O_DESCRIPTOR, O_POOLNUM, O_POOLID, O_NBITS, O_MIN_NBITS,
	O_ONGOING, O_MAX_BLOCKS, O_SET_BLOCK_TIME, O_POISSON, O_MULTIMINER,
	O_BACKUP_DELAY, O_STANDBY_DELAY, O_MAX_INTERVAL, O_GRIND_CMD,
	O_RELAY_ADDRESS, O_REWARD_SPLIT, O_KEY_FILE, O_BLOCK_INTERVAL,
	O_SECONDS, O_THREADS,
};

struct opt {
	const char *name;
	enum opt_id id;
	bool arg;
	bool global;
};

static const struct opt opts[] = {
	{"--cli", O_CLI, true, true},
	{"--debug", O_DEBUG, false, true},
	{"--quiet", O_QUIET, false, true},
	{"--rpc-url", O_RPC_URL, true, true},
	{"--rpc-cookie", O_RPC_COOKIE, true, true},
	{"--rpc-user", O_RPC_USER, true, true},
	{"--rpc-wallet", O_RPC_WALLET, true, true},
	{"--datadir", O_DATADIR, true, true},
	{"--rpc-timeout", O_RPC_TIMEOUT, true, true},
	{"--cli-timeout", O_CLI_TIMEOUT, true, true},
	{"--grind-timeout", O_GRIND_TIMEOUT, true, true},
	{"--help", O_HELP, false, true},
	{"-h", O_HELP, false, true},
	{"--address", O_ADDRESS, true, false},
	{"--descriptor", O_DESCRIPTOR, true, false},
	{"--poolnum", O_POOLNUM, true, false},
	{"--poolid", O_POOLID, true, false},
	{"--nbits", O_NBITS, true, false},
	{"--min-nbits", O_MIN_NBITS, false, false},
	{"--ongoing", O_ONGOING, false, false},
	{"--max-blocks", O_MAX_BLOCKS, true, false},
	{"--set-block-time", O_SET_BLOCK_TIME, true, false},
	{"--poisson", O_POISSON, false, false},
	{"--multiminer", O_MULTIMINER, true, false},
	{"--backup-delay", O_BACKUP_DELAY, true, false},
	{"--standby-delay", O_STANDBY_DELAY, true, false},
	{"--max-interval", O_MAX_INTERVAL, true, false},
	{"--grind-cmd", O_GRIND_CMD, true, false},
	{"--relay-address", O_RELAY_ADDRESS, true, false},
	{"--reward-split", O_REWARD_SPLIT, true, false},
	{"--reward-split-ratio", O_REWARD_SPLIT, true, false},
	{"--key-file", O_KEY_FILE, true, false},
	{"--block-interval", O_BLOCK_INTERVAL, true, false},
	{"--block-time", O_BLOCK_INTERVAL, true, false},
	{"--seconds", O_SECONDS, true, false},
	{"--threads", O_THREADS, true, false},
};

static const char usage[] =
"usage: signet-miner [--cli CMD] [--debug] [--quiet] [RPC options] COMMAND [options]\n"
"commands:\n"
"  genpsbt    --address A | --descriptor D [--poolnum N | --poolid S]\n"
"             (getblocktemplate JSON on stdin -> unsigned PSBT on stdout)\n"
"  solvepsbt  [--grind-cmd CMD]  (signed PSBT on stdin -> block hex)\n"
"  generate   --address A | --descriptor D  --nbits HEX8 | --min-nbits\n"
"             [--ongoing | --max-blocks N | --set-block-time T] [--poisson]\n"
"             [--multiminer [j-]k/m] [--backup-delay 300] [--standby-delay 0]\n"
"             [--max-interval 1800] [--grind-cmd CMD] [--poolnum N | --poolid S]\n"
"             [--relay-address A --reward-split R] [--key-file PATH]\n"
"             [--block-interval 600] [--threads N]\n"
"  calibrate  [--grind-cmd CMD] [--nbits HEX8 | --seconds N]\n"
"  keygen     --key-file NEWPATH  (a new key and the challenges it can sign:\n"
"             only for a NEW signet; an existing one needs its challenge's key)\n"
"Signing: the node's wallet (as the reference: --cli ... -rpcwallet=W or\n"
"--rpc-wallet W), or natively with the key of the chain's signet challenge:\n"
"--key-file PATH, env SIGNET_MINER_KEY_FILE or SIGNET_MINER_KEY (hex or WIF).\n"
"generate checks that key against the node's signet_challenge before mining\n"
"and exits 2 if it cannot sign it (native: 1-of-1 multisig, p2pk, p2wpkh).\n"
"RPC: --cli \"bitcoin-cli -datadir=... [-rpcwallet=W]\" runs bitcoin-cli like the\n"
"reference (-signet appended).  Without --cli, JSON-RPC: --rpc-url (env RPC_URL,\n"
"default http://127.0.0.1:38332), --rpc-cookie (env RPC_COOKIE, default\n"
"<--datadir or $BITCOIN_DATADIR or ~/.bitcoin>/signet/.cookie), or --rpc-user\n"
"(env RPC_USER) with the password in env RPC_PASS; --rpc-wallet (env RPC_WALLET).\n"
"Children: --cli-timeout S (default 300) and --grind-timeout S (default 3600)\n"
"kill a --cli or --grind-cmd command that runs longer (0 = no limit); they\n"
"never see RPC_PASS or SIGNET_MINER_KEY.\n"
"Env: COINBASE_ADDRESS, RELAY_ADDRESS, REWARD_SPLIT_RATIO (0 to 1, default 0.5).\n"
"An empty variable counts as unset.  SIGTERM/SIGINT stop generate cleanly\n"
"(exit 0).  Exit codes: 0 ok, 1 failure, 2 usage or configuration error.\n";

static int bad(const char *what, const char *val)
{
	char q[300];
	sd_log_error(MINER_MOD, "bad_option", "option=%s value=%s", what,
		     sd_log_q(q, sizeof(q), val ? val : ""));
	fprintf(stderr, "%s", usage);
	return 2;
}

static bool parse_long(const char *s, long *out)
{
	char *end;
	errno = 0;
	*out = strtol(s, &end, 10);
	return errno == 0 && *s && *end == 0;
}

static bool parse_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	*out = strtod(s, &end);
	return errno == 0 && *s && *end == 0;
}

static int apply(struct miner_opts *o, enum opt_id id, const char *name,
		 const char *v)
{
	long l;

	switch (id) {
	case O_CLI: o->cli = v; break;
	case O_DEBUG: o->debug = true; break;
	case O_QUIET: o->quiet = true; break;
	case O_RPC_URL: o->rpc_url = v; break;
	case O_RPC_COOKIE: o->rpc_cookie = v; break;
	case O_RPC_USER: o->rpc_user = v; break;
	case O_RPC_WALLET: o->rpc_wallet = v; break;
	case O_DATADIR: o->datadir = v; break;
	case O_RPC_TIMEOUT:
		if (!parse_long(v, &o->rpc_timeout_ms) || o->rpc_timeout_ms < 0)
			return bad(name, v);
		break;
	case O_CLI_TIMEOUT:
		if (!parse_long(v, &o->cli_timeout_s) || o->cli_timeout_s < 0 ||
		    o->cli_timeout_s > 86400 * 7)
			return bad(name, v);
		break;
	case O_GRIND_TIMEOUT:
		if (!parse_long(v, &o->grind_timeout_s) ||
		    o->grind_timeout_s < 0 || o->grind_timeout_s > 86400 * 7)
			return bad(name, v);
		break;
	case O_HELP: printf("%s", usage); return 1;
	case O_ADDRESS: o->address = v; break;
	case O_DESCRIPTOR: o->descriptor = v; break;
	case O_POOLNUM:
		if (!parse_long(v, &o->poolnum))
			return bad(name, v);
		o->has_poolnum = true;
		break;
	case O_POOLID: o->poolid = v; break;
	case O_NBITS: o->nbits = v; break;
	case O_MIN_NBITS: o->min_nbits = true; break;
	case O_ONGOING: o->ongoing = true; break;
	case O_MAX_BLOCKS:
		if (!parse_long(v, &l))
			return bad(name, v);
		if (l < 1) {
			sd_log_error(MINER_MOD, "bad_option", "err=\"--max_blocks "
				     "must specify a positive integer\"");
			return 2;
		}
		o->max_blocks = l;
		break;
	case O_SET_BLOCK_TIME:
		if (!parse_long(v, &l))
			return bad(name, v);
		o->has_set_time = true;
		o->set_time = l;
		break;
	case O_POISSON: o->poisson = true; break;
	case O_MULTIMINER: o->multiminer = v; break;
	case O_BACKUP_DELAY:
		if (!parse_long(v, &o->backup_delay))
			return bad(name, v);
		break;
	case O_STANDBY_DELAY:
		if (!parse_long(v, &o->standby_delay))
			return bad(name, v);
		break;
	case O_MAX_INTERVAL:
		if (!parse_long(v, &o->max_interval))
			return bad(name, v);
		break;
	case O_GRIND_CMD: o->grind_cmd = v; break;
	case O_RELAY_ADDRESS: o->relay_address = v; break;
	case O_REWARD_SPLIT:
		if (!parse_double(v, &o->reward_split) ||
		    !(o->reward_split >= 0 && o->reward_split <= 1))
			return bad(name, v);
		o->has_split = true;
		break;
	case O_KEY_FILE: o->key_file = v; o->out_key_file = v; break;
	case O_BLOCK_INTERVAL:
		if (!parse_double(v, &o->block_interval) ||
		    o->block_interval <= 0)
			return bad(name, v);
		break;
	case O_SECONDS:
		if (!parse_long(v, &o->seconds) || o->seconds < 1)
			return bad(name, v);
		break;
	case O_THREADS:
		if (!parse_long(v, &l) || l < 0 || l > 256)
			return bad(name, v);
		o->threads = (unsigned)l;
		break;
	}
	return 0;
}

/* An environment variable, NULL when unset or empty: compose passes
 * ${X:-} for every variable, so "not set" arrives as "". */
static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* Empty option values count as not given, as empty variables do. */
static void unset_empty(const char **v)
{
	if (*v && !**v)
		*v = NULL;
}

static int env_defaults(struct miner_opts *o)
{
	const char *e;

	if (!o->rpc_url)
		o->rpc_url = env("RPC_URL");
	if (!o->rpc_url)
		o->rpc_url = "http://127.0.0.1:38332";
	if (!o->rpc_cookie)
		o->rpc_cookie = env("RPC_COOKIE");
	if (!o->rpc_user)
		o->rpc_user = env("RPC_USER");
	if (!o->rpc_wallet)
		o->rpc_wallet = env("RPC_WALLET");
	if (!o->datadir)
		o->datadir = env("BITCOIN_DATADIR");
	unset_empty(&o->rpc_cookie);
	unset_empty(&o->rpc_user);
	unset_empty(&o->rpc_wallet);
	unset_empty(&o->datadir);
	unset_empty(&o->cli);
	unset_empty(&o->grind_cmd);
	unset_empty(&o->address);
	unset_empty(&o->descriptor);
	unset_empty(&o->relay_address);
	if (!o->address && !o->descriptor)
		o->address = env("COINBASE_ADDRESS");
	if (!o->relay_address)
		o->relay_address = env("RELAY_ADDRESS");
	if (!o->has_split && (e = env("REWARD_SPLIT_RATIO"))) {
		if (!parse_double(e, &o->reward_split) ||
		    !(o->reward_split >= 0 && o->reward_split <= 1)) {
			char q[100];
			sd_log_error(MINER_MOD, "bad_option",
				     "option=REWARD_SPLIT_RATIO value=%s "
				     "err=\"must be a number from 0 to 1 (the "
				     "share paid to RELAY_ADDRESS)\"",
				     sd_log_q(q, sizeof(q), e));
			return 2;
		}
		o->has_split = true;
	}
	if (!o->has_split)
		o->reward_split = 0.5;
	return 0;
}

int miner_main(int argc, char **argv)
{
	struct miner_opts o = {0};
	int rc;

	o.backup_delay = 300;
	o.cli_timeout_s = 300;
	o.grind_timeout_s = 3600;
	o.max_interval = 1800;
	o.block_interval = 600;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq, *val = NULL;
		const struct opt *f = NULL;
		size_t nlen;

		if (a[0] != '-' || a[1] == 0) {
			if (o.cmd)
				return bad("argument", a);
			o.cmd = a;
			continue;
		}
		eq = strchr(a, '=');
		nlen = eq ? (size_t)(eq - a) : strlen(a);
		for (size_t j = 0; j < sizeof(opts) / sizeof(opts[0]); j++)
			if (strlen(opts[j].name) == nlen &&
			    strncmp(opts[j].name, a, nlen) == 0)
				f = &opts[j];
		if (!f)
			return bad("unknown", a);
		if (!f->global && !o.cmd)
			return bad("before command", a);
		if (f->arg) {
			if (eq)
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else
				return bad(f->name, "(missing)");
		} else if (eq) {
			return bad(f->name, eq + 1);
		}
		rc = apply(&o, f->id, f->name, val);
		if (rc)
			return rc == 1 ? 0 : rc;
	}
	if (o.debug)
		sd_log_set_level(SD_LOG_DEBUG);
	else if (o.quiet)
		sd_log_set_level(SD_LOG_WARN);
	rc = env_defaults(&o);
	if (rc)
		return rc;
	if (!o.cmd) {
		sd_log_error(MINER_MOD, "bad_option", "err=\"Must specify command\"");
		fprintf(stderr, "%s", usage);
		return 2;
	}
	if (o.address && o.descriptor)
		return bad("--address/--descriptor", "both given");
	if (o.has_poolnum && o.poolid)
		return bad("--poolnum/--poolid", "both given");
	miner_signals_install(strcmp(o.cmd, "generate") == 0);
	if (strcmp(o.cmd, "genpsbt") == 0) {
		if (!o.address && !o.descriptor)
			return bad("--address/--descriptor", "(missing)");
		return miner_cmd_genpsbt(&o);
	}
	if (strcmp(o.cmd, "solvepsbt") == 0)
		return miner_cmd_solvepsbt(&o);
	if (strcmp(o.cmd, "generate") == 0)
		return miner_cmd_generate(&o);
	if (strcmp(o.cmd, "calibrate") == 0)
		return miner_cmd_calibrate(&o);
	if (strcmp(o.cmd, "keygen") == 0)
		return miner_cmd_keygen(&o);
	return bad("command", o.cmd);
}

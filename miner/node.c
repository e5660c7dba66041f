/* node.c - the miner's way to the node: either the reference's `--cli`
 * (bitcoin-cli words + -signet, arguments on stdin) or JSON-RPC through
 * rpc/ (url, cookie or user + RPC_PASS, wallet).  In waiting mode an
 * unreachable or warming-up node is retried until it is back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../rpc/rpc.h"
#include "../common/log.h"
#include "../common/util.h"
#include "miner_priv.h"

struct miner_node {
	char *cli;
	long cli_timeout_ms;
	struct rpc_client *rpc;
	bool wait;
	bool down; /* logged node_unreachable, waiting for it */
};

int miner_node_open(const struct miner_opts *o, struct miner_node **out)
{
	struct miner_node *n = sd_xcalloc(1, sizeof(*n));
	struct rpc_config cfg = {0};
	char cookie[4096];
	const char *pass = getenv("RPC_PASS");
	int rc;

	if (pass && !*pass)
		pass = NULL; /* compose's ${RPC_PASS:-}: empty is not set */
	if (o->cli) {
		n->cli = sd_xstrdup(o->cli);
		n->cli_timeout_ms = o->cli_timeout_s * 1000;
		*out = n;
		return SD_OK;
	}
	cfg.url = o->rpc_url;
	cfg.wallet = o->rpc_wallet;
	cfg.timeout_ms = o->rpc_timeout_ms;
	if (o->rpc_user && !pass)
		sd_log_warn(MINER_MOD, "rpc_pass_missing", "note=\"--rpc-user/"
			    "RPC_USER is set but RPC_PASS is not: using the "
			    "cookie\"");
	if (o->rpc_user && pass) {
		cfg.user = o->rpc_user;
		cfg.pass = pass;
		sd_log_info(MINER_MOD, "rpc_auth", "auth=user");
	} else if (o->rpc_cookie) {
		cfg.cookie_path = o->rpc_cookie;
	} else {
		const char *home = getenv("HOME");
		if (o->datadir)
			snprintf(cookie, sizeof(cookie), "%s/signet/.cookie",
				 o->datadir);
		else
			snprintf(cookie, sizeof(cookie),
				 "%s/.bitcoin/signet/.cookie", home ? home : "");
		cfg.cookie_path = cookie;
	}
	if (cfg.cookie_path) {
		char q[300];
		sd_log_info(MINER_MOD, "rpc_auth", "auth=cookie path=%s",
			    sd_log_q(q, sizeof(q), cfg.cookie_path));
	}
	rc = rpc_client_new(&cfg, &n->rpc);
	if (rc) {
		free(n);
		return rc;
	}
	*out = n;
	return SD_OK;
}

void miner_node_free(struct miner_node *n)
{
	if (!n)
		return;
	free(n->cli);
	rpc_client_free(n->rpc);
	free(n);
}

void miner_node_set_wait(struct miner_node *n, bool wait)
{
	n->wait = wait;
}

static int call_cli(struct miner_node *n, const char *method,
		    const struct rpc_arg *args, size_t nargs,
		    char **result, int *code, char err[SD_ERRLEN])
{
	size_t argc;
	char **argv = miner_split_cmd(n->cli, 3, &argc);
	struct sd_buf in = {0};
	char *out = NULL, *errtxt = NULL;
	int status, rc;

	argv[argc++] = sd_xstrdup("-signet");
	argv[argc++] = sd_xstrdup("-stdin");
	argv[argc++] = sd_xstrdup(method);
	for (size_t i = 0; i < nargs; i++) {
		if (i)
			miner_buf_u8(&in, '\n');
		sd_buf_put(&in, args[i].s, strlen(args[i].s));
	}
	rc = miner_run(argv, in.p, in.len, n->cli_timeout_ms, &out, &errtxt,
		       &status);
	miner_argv_free(argv);
	sd_buf_free(&in);
	if (rc == SD_ETIMEOUT) {
		snprintf(err, SD_ERRLEN, "--cli command killed: no answer to "
			 "%s in %ld s (--cli-timeout)", method,
			 n->cli_timeout_ms / 1000);
		rc = SD_ECONN; /* a hung node: retried in waiting mode */
		goto done;
	}
	if (rc == SD_ESTATE) {
		snprintf(err, SD_ERRLEN, "stopping");
		goto done;
	}
	if (rc) {
		snprintf(err, SD_ERRLEN, "cannot run --cli command");
		goto done;
	}
	if (status != 0) {
		size_t l = strlen(errtxt);
		while (l && (errtxt[l - 1] == '\n' || errtxt[l - 1] == ' '))
			errtxt[--l] = 0;
		snprintf(err, SD_ERRLEN, "%s", errtxt);
		*code = -status;
		if (strstr(errtxt, "onnect to the server") ||
		    strstr(errtxt, "connect to the server") ||
		    strstr(errtxt, "timeout on transient") ||
		    strstr(errtxt, "Could not locate RPC credentials") ||
		    strstr(errtxt, "Loading") || strstr(errtxt, "Verifying") ||
		    strstr(errtxt, "Starting") || strstr(errtxt, "Rewinding") ||
		    strstr(errtxt, "incorrect rpcuser or rpcpassword") ||
		    status == 28)
			rc = SD_ECONN;
		else
			rc = SD_ERPC;
		goto done;
	}
	*result = rpc_cli_result_json(out);
	rc = *result ? SD_OK : SD_EPARSE;
	if (rc)
		snprintf(err, SD_ERRLEN, "unparsable answer to %s", method);
done:
	free(out);
	free(errtxt);
	return rc;
}

static int call_rpc(struct miner_node *n, const char *method,
		    const struct rpc_arg *args, size_t nargs,
		    char **result, int *code, char err[SD_ERRLEN])
{
	char *res = NULL;
	int rc;

	rc = rpc_call_args(n->rpc, method, args, nargs, &res, code, err);
	if (rc == SD_ERPC && *code == -28)
		rc = SD_ECONN; /* warming up: wait like for a node that is down */
	if (rc == SD_ETIMEOUT || rc == SD_EAUTH)
		rc = SD_ECONN; /* restarted node: new cookie, slow start */
	if (rc == SD_OK) {
		*result = rpc_cli_result_json(res);
		rc = *result ? SD_OK : SD_EPARSE;
		free(res);
	}
	return rc;
}

int miner_node_call(struct miner_node *n, const char *method,
		    const struct rpc_arg *args, size_t nargs,
		    char **result, int *code, char err[SD_ERRLEN])
{
	unsigned delay_ms = 250;

	for (;;) {
		int rc;
		char q[SD_ERRLEN + 16];

		*code = 0;
		err[0] = 0;
		*result = NULL;
		sd_log_debug(MINER_MOD, "rpc_call", "method=%s via=%s", method,
			     n->cli ? "cli" : "jsonrpc");
		rc = n->cli ? call_cli(n, method, args, nargs, result, code, err)
			    : call_rpc(n, method, args, nargs, result, code,
				       err);
		if (rc == SD_OK) {
			if (n->down)
				sd_log_info(MINER_MOD, "node_back", "method=%s",
					    method);
			n->down = false;
			return SD_OK;
		}
		if (rc != SD_ECONN || !n->wait)
			return rc;
		if (miner_stopping()) {
			snprintf(err, SD_ERRLEN, "stopping");
			return SD_ESTATE;
		}
		if (!n->down)
			sd_log_warn(MINER_MOD, "node_unreachable",
				    "method=%s err=%s", method,
				    sd_log_q(q, sizeof(q), err));
		n->down = true;
		struct timespec ts = {delay_ms / 1000,
				      (long)(delay_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		if (miner_stopping()) {
			snprintf(err, SD_ERRLEN, "stopping");
			return SD_ESTATE;
		}
		if (delay_ms < 5000)
			delay_ms *= 2;
	}
}

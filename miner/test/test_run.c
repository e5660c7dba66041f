/* test_run.c - the miner's children (`--cli`, `--grind-cmd`): they run
 * without the miner's secrets in their environment and are killed at their
 * deadline (issue 16.12); and the check of a signing key against a signet
 * challenge made before mining (issue 14.4). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "miner/miner_priv.h"
#include "common/util.h"
#include "tests/lib/check.h"

static int run(const char *const *args, const char *in, long timeout_ms,
	       char **out, char **err, int *status)
{
	return miner_run((char *const *)args, (const uint8_t *)in,
			 in ? strlen(in) : 0, timeout_ms, out, err, status);
}

static void test_run_basics(void)
{
	const char *cat[] = {"cat", NULL};
	const char *sh[] = {"/bin/sh", "-c", "echo out; echo err >&2; exit 3",
			    NULL};
	char *out, *err;
	int status;

	CHECK_EQ_INT(run(cat, "hello\n", 5000, &out, &err, &status), SD_OK);
	CHECK_EQ_INT(status, 0);
	CHECK_STREQ(out, "hello\n");
	free(out);
	free(err);
	CHECK_EQ_INT(run(sh, NULL, 0, &out, &err, &status), SD_OK);
	CHECK_EQ_INT(status, 3);
	CHECK_STREQ(out, "out\n");
	CHECK_STREQ(err, "err\n");
	free(out);
	free(err);
}

/* RPC_PASS and SIGNET_MINER_KEY never reach a child; the rest does. */
static void test_env_scrubbed(void)
{
	const char *env[] = {"env", NULL};
	char *out, *err;
	int status;

	setenv("RPC_PASS", "hunter2-rpc", 1);
	setenv("SIGNET_MINER_KEY", "cVsecretwif", 1);
	setenv("RPC_PASSAGE", "kept", 1); /* only exact names go */
	setenv("SD_TEST_VISIBLE", "yes", 1);
	CHECK_EQ_INT(run(env, NULL, 5000, &out, &err, &status), SD_OK);
	CHECK_EQ_INT(status, 0);
	CHECK(strstr(out, "SD_TEST_VISIBLE=yes\n"));
	CHECK(strstr(out, "RPC_PASSAGE=kept\n"));
	CHECK(!strstr(out, "hunter2-rpc"));
	CHECK(!strstr(out, "cVsecretwif"));
	CHECK(!strstr(out, "RPC_PASS="));
	CHECK(!strstr(out, "SIGNET_MINER_KEY="));
	free(out);
	free(err);
	/* the miner's own environment is left as it was */
	CHECK_STREQ(getenv("RPC_PASS"), "hunter2-rpc");
	CHECK(miner_env_is_secret("RPC_PASS=x"));
	CHECK(miner_env_is_secret("SIGNET_MINER_KEY="));
	CHECK(!miner_env_is_secret("RPC_PASSX=x"));
	CHECK(!miner_env_is_secret("SIGNET_MINER_KEY_FILE=/k"));
	unsetenv("RPC_PASS");
	unsetenv("SIGNET_MINER_KEY");
	unsetenv("RPC_PASSAGE");
	unsetenv("SD_TEST_VISIBLE");
}

/* A child past its deadline is killed, even one that ignores SIGTERM or
 * closed its pipes, and reaped: SD_ETIMEOUT in about the deadline. */
static void test_timeout(void)
{
	const char *sleeper[] = {"/bin/sh", "-c", "echo $$; exec sleep 30",
				 NULL};
	const char *stubborn[] = {"/bin/sh", "-c",
				  "trap '' TERM; exec >/dev/null 2>&1 "
				  "</dev/null; while :; do sleep 1; done",
				  NULL};
	char *out, *err;
	int status;
	uint64_t t0 = sd_mono_ns();
	long pid;

	CHECK_EQ_INT(run(sleeper, NULL, 300, &out, &err, &status),
		     SD_ETIMEOUT);
	CHECK(sd_mono_ns() - t0 < 5000000000ull);
	pid = strtol(out, NULL, 10);
	CHECK(pid > 0);
	CHECK(kill((pid_t)pid, 0) != 0); /* gone and reaped */
	free(out);
	free(err);

	t0 = sd_mono_ns();
	CHECK_EQ_INT(run(stubborn, NULL, 300, &out, &err, &status),
		     SD_ETIMEOUT);
	CHECK(sd_mono_ns() - t0 < 8000000000ull); /* SIGKILL 2 s later */
	free(out);
	free(err);
}

static void hex(uint8_t *out, size_t n, const char *h)
{
	CHECK(sd_hex_decode(out, n, h, 2 * n) == SD_OK);
}

static void test_key_check(void)
{
	struct miner_key *a, *b;
	uint8_t pa[33], pb[33], h160[20], c[64];
	char err[SD_ERRLEN];

	CHECK(miner_key_from_text("0101010101010101010101010101010101010101"
				  "010101010101010101010101", &a) == SD_OK);
	CHECK(miner_key_from_text("0202020202020202020202020202020202020202"
				  "020202020202020202020202", &b) == SD_OK);
	miner_key_pubkey(a, pa);
	miner_key_pubkey(b, pb);

	/* 1-of-1 multisig: 51 21 <pk> 51 ae */
	c[0] = 0x51;
	c[1] = 0x21;
	memcpy(c + 2, pa, 33);
	c[35] = 0x51;
	c[36] = 0xae;
	CHECK_EQ_INT(miner_key_check_challenge(a, c, 37, err), SD_OK);
	CHECK_EQ_INT(miner_key_check_challenge(b, c, 37, err), SD_EINVAL);
	CHECK(strstr(err, "1-of-1 multisig challenge"));
	CHECK(strstr(err, "cannot sign"));

	/* p2pk: 21 <pk> ac, now signed natively too */
	c[0] = 0x21;
	memcpy(c + 1, pa, 33);
	c[34] = 0xac;
	CHECK_EQ_INT(miner_challenge_kind(c, 35), MINER_CHALLENGE_P2PK);
	CHECK_EQ_INT(miner_key_check_challenge(a, c, 35, err), SD_OK);
	CHECK_EQ_INT(miner_key_check_challenge(b, c, 35, err), SD_EINVAL);
	CHECK(strstr(err, "p2pk"));

	/* p2wpkh: 00 14 <hash160> */
	btc_hash160(pb, 33, h160);
	c[0] = 0x00;
	c[1] = 0x14;
	memcpy(c + 2, h160, 20);
	CHECK_EQ_INT(miner_key_check_challenge(b, c, 22, err), SD_OK);
	CHECK_EQ_INT(miner_key_check_challenge(a, c, 22, err), SD_EINVAL);
	CHECK(strstr(err, "hash160"));

	/* p2tr and a 1-of-2: not solved natively, said so */
	c[0] = 0x51;
	c[1] = 0x20;
	memcpy(c + 2, pa + 1, 32);
	CHECK_EQ_INT(miner_challenge_kind(c, 34), MINER_CHALLENGE_P2TR);
	CHECK_EQ_INT(miner_key_check_challenge(a, c, 34, err), SD_ESTATE);
	CHECK(strstr(err, "p2tr") && strstr(err, "wallet"));
	hex(c, 1, "51");
	c[1] = 0x21;
	memcpy(c + 2, pa, 33);
	c[35] = 0x21;
	memcpy(c + 36, pb, 33 - 5); /* any bytes: not parsed */
	CHECK_EQ_INT(miner_key_check_challenge(a, c, 60, err), SD_ESTATE);
	CHECK(strstr(err, "the key appears in it"));
	CHECK_EQ_INT(miner_key_check_challenge(b, c, 30, err), SD_ESTATE);
	CHECK(strstr(err, "does not appear"));
	miner_key_free(a);
	miner_key_free(b);
}

int main(void)
{
	test_run_basics();
	test_env_scrubbed();
	test_timeout();
	test_key_check();
	printf("ok\n");
	return 0;
}

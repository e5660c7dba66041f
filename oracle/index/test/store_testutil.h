/* store_testutil.h - helpers shared by the index unit tests (test_store*.c):
 * open an index that must open, connect a range of a loaded chain, and the
 * canonical dump as a string.  Header-only (static functions); include
 * after check.h, oracle.h, store_int.h and store_testlib.h.
 */
#ifndef SIGNETD_ORACLE_TEST_STORE_TESTUTIL_H
#define SIGNETD_ORACLE_TEST_STORE_TESTUTIL_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>

static struct oracle_index *stu_open_ok(const struct oracle_config *c)
{
	struct oracle_index *idx;
	char err[SD_ERRLEN];
	int rc = oracle_index_open(c, &idx, err);

	if (rc != SD_OK)
		fprintf(stderr, "open: %s\n", err);
	CHECK_EQ_INT(rc, SD_OK);
	return idx;
}

/* Connect heights from..to of ch (ch->b[h - 1] has height h). */
static void stu_connect_range(struct oracle_index *idx,
			      const struct rta_chain *ch, int from, int to)
{
	for (int h = from; h <= to; h++)
		CHECK_EQ_INT(oracle_index_connect(idx, ch->b[h - 1]), SD_OK);
}

/* The canonical dump (oracle_store_dump); the caller frees it. */
static char *stu_dump(struct oracle_index *idx)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(f);
	CHECK_EQ_INT(oracle_store_dump(idx, f), SD_OK);
	fclose(f);
	return buf;
}

/* A full disk for the index in datadir dir: RLIMIT_FSIZE just above its
 * data file's size now (SIGXFSZ ignored, so writes fail with EFBIG);
 * *old gets the limit to restore. */
static void stu_limit_file(const char *dir, struct rlimit *old)
{
	struct rlimit lim;
	struct stat sb;
	char path[600];

	snprintf(path, sizeof(path), "%s/index/data.mdb", dir);
	CHECK_EQ_INT(stat(path, &sb), 0);
	signal(SIGXFSZ, SIG_IGN);
	CHECK_EQ_INT(getrlimit(RLIMIT_FSIZE, old), 0);
	lim = *old;
	lim.rlim_cur = (rlim_t)sb.st_size + 4096;
	CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);
}

/* $TMPDIR/<name>.XXXXXX made into dir[n], regtest-a's 400 blocks into
 * *chain (the setup of the test_outmap_*.c and test_store_outmap.c). */
static inline void stu_begin(char *dir, size_t n, const char *name,
			     struct rta_chain *chain)
{
	const char *tmp = getenv("TMPDIR");
	char path[600];

	snprintf(dir, n, "%s/%s.XXXXXX", tmp ? tmp : "/tmp", name);
	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/regtest-a/blocks.hex",
		 check_testdata_dir());
	CHECK_EQ_INT(rta_load(path, 0, chain), 0);
	CHECK_EQ_INT(chain->n, 400);
}

/* The chain freed, the dir removed. */
static inline void stu_end(const char *dir, struct rta_chain *chain)
{
	char cmd[600];

	rta_free(chain);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_EQ_INT(system(cmd), 0);
}

#endif

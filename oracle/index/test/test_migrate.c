/* test_migrate.c - the 5 -> 6 (and 4 -> 5 -> 6) migration at open
 * (store_migrate.c) on regtest-a, from indexes format5.c downgrades from
 * native format-6 builds:
 *  0. the helper itself: make_format5(F5_EXACT) of the native full,
 *     cut-through-only and tweaks_only indexes hashes (sha256d of its raw
 *     dump: every table, the `cut_through` and undo code 3 entries too)
 *     to what the indexes ce5669c~1 itself wrote for regtest-a hash to;
 *  1. full index (every kind), format 5 and format 4: the migrated dump
 *     equals the native one of 1..400 (N400); disconnecting 400 -> 301
 *     through the migrated undo rows gives the native 1..300 (N300),
 *     reconnecting N400 again; the `cut_through` table is gone;
 *  2. a cut-through-only index (the migration writes its tweak index)
 *     and a tweaks_only index: the same against their own native dumps;
 *  3. refusals, each with SD_EVERSION, an error text that says what to do
 *     and the index unchanged (raw dump and data.mdb bytes): version 3;
 *     version 5 and version 4 with meta "v2_from" 301 on an index whose
 *     first block is 1; version 7.  v2_from = 1 migrates (and goes);
 *  4. a process killed (SIGKILL) inside the migration - halfway through
 *     the heights, or once everything is rewritten and only the version
 *     stamp and the commit are left - leaves the format 5 index exactly as
 *     it was; the next open migrates it to N400.  Also kills at times
 *     spread over the open: each leaves format 5 or the migrated index.
 * The kill points are reached through the linker's --wrap of mdb_drop and
 * mdb_cursor_del (oracle/index/CMakeLists.txt): the migration is the only
 * caller of either while an index opens.
 */
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../../bitcoin/hash.h"
#include "../../../common/util.h"
#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "format5.h"
#include "store_fixture.h"

/* ---- kill points (child processes only) ---- */
static int kill_at_drop;            /* SIGKILL once mdb_drop returns */
static long kill_at_del = -1;       /* SIGKILL at this mdb_cursor_del */
static long del_calls;

int __real_mdb_drop(MDB_txn *txn, MDB_dbi dbi, int del);
int __wrap_mdb_drop(MDB_txn *txn, MDB_dbi dbi, int del);
int __real_mdb_cursor_del(MDB_cursor *c, unsigned int flags);
int __wrap_mdb_cursor_del(MDB_cursor *c, unsigned int flags);

int __wrap_mdb_drop(MDB_txn *txn, MDB_dbi dbi, int del)
{
	int rc = __real_mdb_drop(txn, dbi, del);

	if (kill_at_drop)
		raise(SIGKILL);
	return rc;
}

int __wrap_mdb_cursor_del(MDB_cursor *c, unsigned int flags)
{
	if (kill_at_del >= 0 && del_calls++ == kill_at_del)
		raise(SIGKILL);
	return __real_mdb_cursor_del(c, flags);
}

/* ---- helpers ---- */

static void copy_dir(const char *from, char *to, size_t n)
{
	char cmd[1400];

	sfx_new_datadir(to, n);
	snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", from, to);
	CHECK_EQ_INT(system(cmd), 0);
}

static size_t count_lines(const char *d, const char *prefix)
{
	size_t n = 0, pl = strlen(prefix);
	const char *p = d;

	while (p && *p) {
		n += !strncmp(p, prefix, pl);
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return n;
}

/* The taproot outputs in a native dump's utxos rows ("utxos key val",
 * val = tpos | ord0 | n x 44 bytes). */
static size_t count_outputs(const char *d)
{
	size_t n = 0;
	const char *p = d;

	while (p && *p) {
		const char *nl = strchr(p, '\n'), *sp;

		if (!strncmp(p, "utxos ", 6)) {
			sp = strchr(p + 6, ' ');
			CHECK(sp && nl && sp < nl);
			CHECK(((size_t)(nl - sp - 1) / 2 - 8) % 44 == 0);
			n += ((size_t)(nl - sp - 1) / 2 - 8) / 44;
		}
		p = nl ? nl + 1 : NULL;
	}
	return n;
}

/* got == want, or the first line that differs (150 chars) and fail. */
static void same(const char *got, const char *want, const char *what)
{
	const char *g = got, *w = want;

	while (*g && *g == *w) {
		const char *gn = strchr(g, '\n'), *wn = strchr(w, '\n');

		if (!gn || !wn || gn - g != wn - w ||
		    memcmp(g, w, (size_t)(gn - g)))
			break;
		g = gn + 1;
		w = wn + 1;
	}
	if (!strcmp(g, w))
		return;
	fflush(stdout);
	fprintf(stderr, "%s differs:\n got  %.150s\n want %.150s\n", what,
		g, w);
	CHECK(!"dumps differ");
}

static void be32(uint8_t *b, uint32_t v)
{
	sd_be32_put(b, v);
}

/* Native index of kind cfg: dumps at 300 and 400 (one txn a block). */
static void native(struct oracle_config *c, char **n300, char **n400)
{
	struct oracle_index *idx = sfx_open(c);

	sfx_connect(idx, 1, 300);
	*n300 = sfx_dump(idx);
	sfx_connect(idx, 301, SFX_TIP);
	*n400 = sfx_dump(idx);
	oracle_index_close(idx);
}

/* Open the migrated index dir (config c with datadir dir): dump = n400;
 * disconnect to 300 = n300; reconnect = n400; reopen = n400. */
static void check_migrated(struct oracle_config *c, const char *n300,
			   const char *n400)
{
	struct oracle_index *idx = sfx_open(c);
	char *d = sfx_dump(idx);

	same(d, n400, "dump vs native 400");
	free(d);
	for (int h = SFX_TIP; h > 300; h--)
		CHECK_EQ_INT(oracle_index_disconnect(idx, h,
						     sfx_block(h)->hash),
			     SD_OK);
	d = sfx_dump(idx);
	same(d, n300, "dump vs native 300");
	free(d);
	sfx_connect(idx, 301, SFX_TIP);
	d = sfx_dump(idx);
	same(d, n400, "dump vs native 400");
	free(d);
	oracle_index_close(idx);
	idx = sfx_open(c);
	d = sfx_dump(idx);
	same(d, n400, "dump vs native 400");
	free(d);
	oracle_index_close(idx);
	d = f5_raw_dump(c->datadir);
	CHECK(!strstr(d, "table cut_through\n"));
	CHECK(!strstr(d, "\nmeta 76325f66726f6d "));          /* v2_from */
	CHECK(strstr(d, "\nmeta 76657273696f6e 00000006\n")); /* version */
	free(d);
}

/* sha256d (hex, internal byte order) of f5_raw_dump of the index that
 * signetd at ce5669c~1 (format 5) wrote for regtest-a 1..400, one txn a
 * block, default undo depth (its own build of tools/oracle_index's
 * connect loop). */
#define REF5_FULL \
	"44d87a92b922493e06f4816680eb080561f9a82e85f3a15a3fd3d3a22124f7ce"
#define REF5_CUT \
	"56d35f5bcdd9c9b9b02deff9aa6e285fae8d3260afd2c4a211f1a81eb9a8c5f4"
#define REF5_TWEAKS_ONLY \
	"f2f91587ffbb08797b18d32699157116200dc3fb5d97b9627853e0323597d05d"

/* 0: a copy of the closed native index nat, make_format5(F5_EXACT):
 * its raw dump hashes to want. */
static void check_exact(const char *nat, const char *want, const char *name)
{
	char dir[512], hex[65], *raw;
	uint8_t h[32];

	copy_dir(nat, dir, sizeof(dir));
	make_format5(dir, F5_EXACT, NULL);
	raw = f5_raw_dump(dir);
	btc_sha256d(h, (const uint8_t *)raw, strlen(raw));
	sd_hex_encode(hex, h, 32);
	if (strcmp(hex, want))
		fprintf(stderr, "%s: raw dump of %zu bytes, sha256d %s\n",
			name, strlen(raw), hex);
	CHECK_STREQ(hex, want);
	free(raw);
	printf("ok %s: format5.c writes what format 5 wrote (raw dump "
	       "sha256d %.16s..)\n", name, hex);
}

/* 1: the full index, from version ver */
static void check_full(const char *nat, const char *n300, const char *n400,
		       uint32_t ver)
{
	char dir[512], line[64], *raw;
	struct oracle_config c;
	struct f5_stats st;

	copy_dir(nat, dir, sizeof(dir));
	make_format5(dir, ver == 4 ? F5_VERSION4 : 0, &st);
	printf("format %u: %zu utxos rows, %zu cut_through rows, %zu code-3 "
	       "undo entries in %zu undo rows, %zu v2 records, code-3-only "
	       "undo row at %u\n", ver, st.utxo_rows, st.cut_rows,
	       st.cut_undo, st.undo_rows, st.v2_recs, st.cut_only_h);
	CHECK_EQ_INT(st.utxo_rows, count_outputs(n400));
	CHECK(st.utxo_rows > count_lines(n400, "utxos "));
	CHECK(st.cut_rows > 0 && st.cut_undo > 0 && st.undo_rows > 0);
	CHECK(st.cut_only_h > 300);   /* also undone by the disconnect */
	CHECK_EQ_INT(st.v2_recs, count_lines(n400, "v2 "));
	raw = f5_raw_dump(dir);
	CHECK(strstr(raw, "table cut_through\n"));
	CHECK_EQ_INT(count_lines(raw, "cut_through "), st.cut_rows);
	CHECK_EQ_INT(count_lines(raw, "utxos "), st.utxo_rows);
	snprintf(line, sizeof(line), "\nmeta 76657273696f6e 0000000%u\n",
		 ver);
	CHECK(strstr(raw, line));
	snprintf(line, sizeof(line), "\nundo %08x 03", st.cut_only_h);
	CHECK(strstr(raw, line));   /* a row made of code 3 entries only */
	free(raw);
	c = sfx_full_cfg(dir);
	check_migrated(&c, n300, n400);
	printf("ok format %u -> 6: dump = native 400, disconnect to 300 = "
	       "native 300, reconnect = native 400\n", ver);
}

/* 2: other kinds (ref: their REF5_*) */
static void check_kind(const char *name, struct oracle_config c,
		       const char *ref)
{
	char nat[512], dir[512], *n300, *n400, *raw;
	struct f5_stats st;

	sfx_new_datadir(nat, sizeof(nat));
	c.datadir = nat;
	native(&c, &n300, &n400);
	check_exact(nat, ref, name);
	copy_dir(nat, dir, sizeof(dir));
	make_format5(dir, 0, &st);
	raw = f5_raw_dump(dir);
	if (c.tweaks_only) {
		CHECK(st.utxo_rows == 0 && st.cut_rows == 0);
		CHECK(count_lines(raw, "tweak_index ") > 0);
	} else {
		/* format 5 kept no tweak index for it: the migration writes
		 * the one format 6 reads tweaks from */
		CHECK(st.tweak_rows_dropped > 0 && st.cut_rows > 0);
		CHECK_EQ_INT(count_lines(raw, "tweak_index "), 0);
		CHECK_EQ_INT(count_lines(n400, "tweak_index "),
			     st.tweak_rows_dropped);
	}
	CHECK(st.v2_recs > 0);
	free(raw);
	c.datadir = dir;
	check_migrated(&c, n300, n400);
	printf("ok %s: %zu v2 records, %zu cut_through rows, %zu tweak_index "
	       "rows rebuilt; migrated = native\n", name, st.v2_recs,
	       st.cut_rows, st.tweak_rows_dropped);
	free(n300);
	free(n400);
}

/* Open dir (a refused index): SD_EVERSION with every text of want[], and
 * raw dump and data.mdb bytes unchanged. */
static void check_refused(const char *dir, const char *const *want,
			  size_t n_want)
{
	struct oracle_config c = sfx_full_cfg(dir);
	struct oracle_index *idx = NULL;
	char err[SD_ERRLEN], *r1 = f5_raw_dump(dir), *r2;
	size_t l1, l2;
	uint8_t *f1 = f5_file(dir, &l1), *f2;

	err[0] = '\0';
	CHECK_EQ_INT(oracle_index_open(&c, &idx, err), SD_EVERSION);
	CHECK(idx == NULL);
	printf("refused: %s\n", err);
	for (size_t i = 0; i < n_want; i++)
		CHECK(strstr(err, want[i]) != NULL);
	r2 = f5_raw_dump(dir);
	same(r2, r1, "raw dump after the refusal");
	f2 = f5_file(dir, &l2);
	CHECK_EQ_INT(l1, l2);
	CHECK(!memcmp(f1, f2, l1));
	free(r1);
	free(r2);
	free(f1);
	free(f2);
}

/* 3 */
static void check_refusals(const char *f5dir, const char *n400)
{
	static const char *const v3[] = {
		"format version 3", "cannot be migrated to 6",
		"formats 1 to 3", "delete the index to rebuild it" };
	static const char *const v2from[] = {
		"cannot be migrated to 6", "before format 4 have no v2",
		"delete the index to rebuild it" };
	static const char *const v7[] = {
		"format version 7", "reads version 6",
		"use a new datadir or delete the index" };
	char dir[512], *d;
	struct oracle_config c;
	struct oracle_index *idx;
	uint8_t b[4];

	copy_dir(f5dir, dir, sizeof(dir));
	be32(b, 3);
	f5_meta_put(dir, "version", b, 4);
	check_refused(dir, v3, 4);
	be32(b, 7);
	f5_meta_put(dir, "version", b, 4);
	check_refused(dir, v7, 3);
	be32(b, 5);
	f5_meta_put(dir, "version", b, 4);
	be32(b, 301);
	f5_meta_put(dir, "v2_from", b, 4);
	check_refused(dir, v2from, 3);
	be32(b, 4);             /* 4 -> 5 done, then 5 -> 6 refused: no 5 */
	f5_meta_put(dir, "version", b, 4);
	check_refused(dir, v2from, 3);
	d = f5_raw_dump(dir);
	CHECK(strstr(d, "\nmeta 76657273696f6e 00000004\n"));
	free(d);
	/* v2_from at the first block: every height has its record */
	be32(b, 1);
	f5_meta_put(dir, "v2_from", b, 4);
	c = sfx_full_cfg(dir);
	idx = sfx_open(&c);
	d = sfx_dump(idx);
	same(d, n400, "dump vs native 400");   /* v2_from gone with the rest */
	free(d);
	oracle_index_close(idx);
	printf("ok refusals: versions 3 and 7, v2_from 301 (formats 5 and "
	       "4) unchanged; v2_from 1 migrated\n");
}

/* Fork a child that opens dir (full config), with kill point del_at
 * (>= 0: at that mdb_cursor_del) or drop (after mdb_drop); the child must
 * die of SIGKILL (0) or, with may_finish, may also open and exit 0 (1).
 * delay_us: the parent kills it after that long (0: the child's kill
 * point does). */
static int run_child(const char *dir, long del_at, bool drop,
		     long delay_us, bool may_finish)
{
	struct oracle_config c = sfx_full_cfg(dir);
	struct oracle_index *idx;
	char err[SD_ERRLEN];
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		kill_at_del = del_at;   /* armed in the child only */
		kill_at_drop = drop;
		if (oracle_index_open(&c, &idx, err) != SD_OK)
			_exit(2);
		_exit(0);   /* no close: as killed right after the open */
	}
	if (delay_us > 0) {
		struct timespec ts = { delay_us / 1000000,
				       (delay_us % 1000000) * 1000 };

		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
	}
	CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		return 0;
	CHECK(may_finish);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return 1;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* 4 */
static void check_kill(const char *f5dir, const char *n400,
		       size_t old_rows)
{
	/* half the old utxos rows deleted; everything rewritten */
	const long del_at[2] = { (long)old_rows / 2, -1 };
	const char *names[2] = { "halfway through the heights",
				 "with only the version and commit left" };
	char dir[512], *before, *after, *d;
	struct oracle_config c;
	struct oracle_index *idx;
	double t0, open_ms;
	int old = 0, migrated = 0;

	for (int i = 0; i < 2; i++) {
		copy_dir(f5dir, dir, sizeof(dir));
		before = f5_raw_dump(dir);
		CHECK_EQ_INT(run_child(dir, del_at[i], i == 1, 0, false), 0);
		after = f5_raw_dump(dir);
		same(after, before, "raw dump after the kill");
		c = sfx_full_cfg(dir);
		idx = sfx_open(&c);
		d = sfx_dump(idx);
		same(d, n400, "dump vs native 400");
		free(d);
		oracle_index_close(idx);
		free(before);
		free(after);
		printf("ok killed %s: format 5 as it was, then migrated\n",
		       names[i]);
	}

	/* the open's length, then kills spread over it */
	copy_dir(f5dir, dir, sizeof(dir));
	c = sfx_full_cfg(dir);
	t0 = now_ms();
	idx = sfx_open(&c);
	open_ms = now_ms() - t0;
	oracle_index_close(idx);
	for (int k = 1; k <= 8; k++) {   /* 0.5 to 4 times the open */
		long us = (long)(open_ms * 1000.0 * k / 2.0);

		copy_dir(f5dir, dir, sizeof(dir));
		before = f5_raw_dump(dir);
		run_child(dir, -1, false, us > 0 ? us : 1, true);
		after = f5_raw_dump(dir);
		if (!strcmp(before, after)) {
			old++;
		} else {
			CHECK(strstr(after, "\nmeta 76657273696f6e "
					    "00000006\n"));
			CHECK(!strstr(after, "table cut_through\n"));
			migrated++;
		}
		c = sfx_full_cfg(dir);
		idx = sfx_open(&c);
		d = sfx_dump(idx);
		same(d, n400, "dump vs native 400");
		free(d);
		oracle_index_close(idx);
		free(before);
		free(after);
	}
	printf("ok kills during a %.0f ms open: %d left format 5, %d the "
	       "migrated index, none anything else\n", open_ms, old,
	       migrated);
}

int main(void)
{
	char nat[512], f5dir[512], *n300, *n400;
	struct oracle_config c;
	struct f5_stats st;

	sfx_begin("test_migrate");
	sfx_new_datadir(nat, sizeof(nat));
	c = sfx_full_cfg(nat);
	native(&c, &n300, &n400);
	CHECK(strcmp(n300, n400) != 0);
	check_exact(nat, REF5_FULL, "full");

	check_full(nat, n300, n400, 5);
	check_full(nat, n300, n400, 4);

	c = sfx_full_cfg(NULL);
	c.tweaks_full_basic = false;
	c.tweaks_full_with_dust_filter = false;
	check_kind("cut-through only", c, REF5_CUT);
	c = sfx_full_cfg(NULL);
	c.tweaks_only = true;
	c.tweaks_full_with_dust_filter = false;
	c.tweaks_cut_through_with_dust_filter = false;
	check_kind("tweaks_only", c, REF5_TWEAKS_ONLY);

	copy_dir(nat, f5dir, sizeof(f5dir));
	make_format5(f5dir, 0, &st);
	check_refusals(f5dir, n400);
	check_kill(f5dir, n400, st.utxo_rows);

	free(n300);
	free(n400);
	sfx_end();
	printf("ok migrate\n");
	return 0;
}

/* test_undo.c - undo log retention (store_undo.c) on regtest-a, real LMDB
 * files in a temp dir:
 *  1. connects keep undo rows for the last undo_depth blocks only: the
 *     rows left are exactly a keep-everything index's rows of that window,
 *     meta undo_from = tip - depth + 1; 0 means the default (nothing
 *     pruned at 400 blocks: the dump equals the keep-everything one), a
 *     depth below the minimum counts as the minimum;
 *  2. an index that kept every row (an older version) drains at most 4
 *     rows a connect, oldest first, until none is left below undo_from;
 *  3. a disconnect within the window restores exactly: the rows equal a
 *     fresh index built to the same height (undo table and undo_from
 *     aside), reconnecting gives the straight build back byte for byte;
 *  4. a disconnect below undo_from answers SD_ENOTFOUND, sets stats
 *     reorg_too_deep and changes nothing (dump and data.mdb identical); a
 *     connect clears the flag;
 *  5. a tweaks_only index (no undo rows) disconnects at any depth;
 *  6. the prune is in the connect txn: a process killed (SIGKILL) with
 *     pruning connects pending leaves the backlog and undo_from as they
 *     were; so does a connect refused for a full disk (the file may grow
 *     16 pages: format 6's rows leave little free space in the file, so
 *     its connects grow it from the first, yet dozens fit);
 *  7. retention came with format 5: a real format-4 index (format5.c:
 *     every undo row kept, code-3 entries in them, version 4) migrates
 *     4 -> 5 -> 6 at open to the native dump (150 blocks), and with
 *     undo_depth 6 drains its backlog as it connects: at 200 it equals a
 *     native depth-6 index; an index of a newer format (7) is refused.
 */
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../../common/util.h"
#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "../store_int.h"
#include "format5.h"
#include "store_testlib.h"
#include "store_testutil.h"

#define KEEP_ALL 0xffffffffu   /* undo_depth: nothing ever pruned */

static struct rta_chain chain;
static char tmpdir[256];
static int dir_seq;

static struct oracle_config cfg_in(char *dir, size_t n, uint32_t depth,
				   bool tweaks_only)
{
	snprintf(dir, n, "%s/d%d", tmpdir, dir_seq++);
	return (struct oracle_config){
		.datadir = dir, .network = "regtest",
		.tweaks_only = tweaks_only,
		.tweaks_full_basic = true,
		.tweaks_full_with_dust_filter = !tweaks_only,
		.tweaks_cut_through_with_dust_filter = !tweaks_only,
		.tweak_threads = 2, .start_height = 1,
		.undo_depth = depth,
	};
}

/* A new index in dir (512 bytes; *c its config) with heights 1..to. */
static struct oracle_index *build(char *dir, struct oracle_config *c,
				  uint32_t depth, int to)
{
	struct oracle_index *idx;

	*c = cfg_in(dir, 512, depth, false);
	idx = stu_open_ok(c);

	stu_connect_range(idx, &chain, 1, to);
	return idx;
}

/* Heights of the undo rows (ascending) into h[], how many returned. */
static size_t undo_rows(struct oracle_index *idx, uint32_t *h, size_t max)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	size_t n = 0;
	int rc;

	CHECK_EQ_INT(st_read_begin(idx, &txn), 0);
	CHECK_EQ_INT(mdb_cursor_open(txn, idx->dbi[ST_UNDO], &c), 0);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		CHECK_EQ_INT(k.mv_size, 4);
		CHECK(n < max);
		h[n++] = sd_be32_get(k.mv_data);
	}
	CHECK_EQ_INT(rc, MDB_NOTFOUND);
	mdb_cursor_close(c);
	st_read_end(idx, txn);
	return n;
}

static uint32_t undo_from(struct oracle_index *idx)
{
	MDB_txn *txn;
	uint32_t from;

	CHECK_EQ_INT(st_read_begin(idx, &txn), 0);
	CHECK_EQ_INT(st_undo_from(idx, txn, &from), 0);
	st_read_end(idx, txn);
	return from;
}

/* The dump's lines that pass keep(line), joined. */
static char *dump_filtered(struct oracle_index *idx,
			   bool (*keep)(const char *line, void *ctx),
			   void *ctx)
{
	char *d = stu_dump(idx), *o = d, *p = d;

	while (*p) {
		char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
		char save = p[n - 1];

		p[n - 1] = '\0';
		if (keep(p, ctx)) {
			p[n - 1] = save;
			memmove(o, p, n);
			o += n;
		} else {
			p[n - 1] = save;
		}
		p += n;
	}
	*o = '\0';
	return d;
}

/* "meta <hex "undo_from"> ..." */
#define UNDO_FROM_LINE "meta 756e646f5f66726f6d "

static bool not_undo(const char *line, void *ctx)
{
	(void)ctx;
	return strncmp(line, "undo ", 5) != 0 &&
	       strncmp(line, UNDO_FROM_LINE, strlen(UNDO_FROM_LINE)) != 0;
}

/* undo lines of heights >= *(uint32_t *)ctx */
static bool undo_from_h(const char *line, void *ctx)
{
	char hex[9];

	if (strncmp(line, "undo ", 5) != 0)
		return false;
	memcpy(hex, line + 5, 8);
	hex[8] = '\0';
	return strtoul(hex, NULL, 16) >= *(uint32_t *)ctx;
}

static bool undo_only(const char *line, void *ctx)
{
	uint32_t zero = 0;

	(void)ctx;
	return undo_from_h(line, &zero);
}

static char *file_bytes(const char *dir, size_t *len)
{
	char path[600], *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/index/data.mdb", dir);
	CHECK((f = fopen(path, "rb")) != NULL);
	CHECK_EQ_INT(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	CHECK(n > 0);
	rewind(f);
	buf = sd_xmalloc((size_t)n);
	CHECK_EQ_INT(fread(buf, 1, (size_t)n, f), n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static uint32_t rows[512], rows2[512];

/* 1 */
static void check_window(struct oracle_index *all)
{
	char dir[512], *a, *b;
	struct oracle_config c;
	struct oracle_index *idx;
	uint32_t from;
	size_t n, n50, n_all;

	n_all = undo_rows(all, rows, 512);
	CHECK(n_all > 100);   /* regtest-a spends: most blocks have a row */
	CHECK_EQ_INT(undo_from(all), 0);

	idx = build(dir, &c, 50, 400);
	from = undo_from(idx);
	CHECK_EQ_INT(from, 351);
	n50 = undo_rows(idx, rows2, 512);
	CHECK(n50 > 10 && n50 < n_all);
	CHECK(rows2[0] >= 351);
	a = dump_filtered(idx, undo_only, NULL);
	b = dump_filtered(all, undo_from_h, &from);
	CHECK_STREQ(a, b);   /* the window's rows, byte for byte */
	free(a);
	free(b);
	a = dump_filtered(idx, not_undo, NULL);
	b = dump_filtered(all, not_undo, NULL);
	CHECK_STREQ(a, b);   /* every other row untouched */
	free(a);
	free(b);
	oracle_index_close(idx);

	/* 0 = default (1000): nothing pruned at 400 blocks */
	idx = build(dir, &c, 0, 400);
	CHECK_EQ_INT(st_undo_depth(idx), ORACLE_UNDO_DEPTH_DEFAULT);
	a = stu_dump(idx);
	b = stu_dump(all);
	CHECK_STREQ(a, b);
	free(a);
	free(b);
	oracle_index_close(idx);

	/* below the minimum: the minimum */
	idx = build(dir, &c, 2, 400);
	CHECK_EQ_INT(st_undo_depth(idx), ORACLE_UNDO_DEPTH_MIN);
	CHECK_EQ_INT(undo_from(idx), 400 - ORACLE_UNDO_DEPTH_MIN + 1);
	n = undo_rows(idx, rows2, 512);
	CHECK(n >= 1 && n <= ORACLE_UNDO_DEPTH_MIN);
	CHECK(rows2[0] >= 400 - ORACLE_UNDO_DEPTH_MIN + 1);
	oracle_index_close(idx);
	printf("ok window: %zu undo rows kept of %zu (depth 50)\n", n50,
	       n_all);
}

/* 2: a backlog of every row to 300, then depth 6 */
static void check_drain(void)
{
	char dir[512];
	struct oracle_config c;
	struct oracle_index *idx = build(dir, &c, KEEP_ALL, 300);
	size_t nb, na, below, gone, i, drained_at = 0;
	uint32_t from;

	nb = undo_rows(idx, rows, 512);
	CHECK(nb > 100);
	oracle_index_close(idx);
	c.undo_depth = 6;   /* the upgrade: same index, now pruned */
	idx = stu_open_ok(&c);
	CHECK_EQ_INT(undo_from(idx), 0);
	for (int h = 301; h <= 400; h++) {
		CHECK_EQ_INT(oracle_index_connect(idx, chain.b[h - 1]), SD_OK);
		from = undo_from(idx);
		CHECK_EQ_INT(from, (uint32_t)h - 6 + 1);
		na = undo_rows(idx, rows2, 512);
		/* rows below from before this connect */
		for (below = 0; below < nb && rows[below] < from; below++)
			;
		/* the oldest min(4, below) went, the rest is kept in order
		 * (plus this block's own row, if it has one) */
		gone = below < 4 ? below : 4;

		CHECK(na == nb - gone || na == nb - gone + 1);
		for (i = 0; i < nb - gone; i++)
			CHECK_EQ_INT(rows2[i], rows[i + gone]);
		if (na == nb - gone + 1)
			CHECK_EQ_INT(rows2[na - 1], h);
		if (!drained_at && (na == 0 || rows2[0] >= from))
			drained_at = (size_t)h;
		memcpy(rows, rows2, na * sizeof(*rows));
		nb = na;
	}
	CHECK(drained_at > 301);   /* it took several connects */
	CHECK(drained_at < 400);
	CHECK(nb <= 6 && (nb == 0 || rows[0] >= 395));
	oracle_index_close(idx);
	printf("ok drain: backlog gone at height %zu\n", drained_at);
}

/* 3 and 4 */
static void check_disconnect(struct oracle_index *straight400)
{
	char dir[512], dir2[512], *a, *b, *f1, *f2;
	struct oracle_config c, c2;
	struct oracle_index *idx, *fresh;
	struct oracle_stats st;
	size_t l1, l2;
	uint32_t from = 351;

	idx = build(dir, &c, 50, 400);
	for (int h = 400; h > 370; h--)
		CHECK_EQ_INT(oracle_index_disconnect(idx, h,
						     chain.b[h - 1]->hash),
			     SD_OK);
	fresh = build(dir2, &c2, 50, 370);
	a = dump_filtered(idx, not_undo, NULL);
	b = dump_filtered(fresh, not_undo, NULL);
	CHECK_STREQ(a, b);
	free(a);
	free(b);
	/* the rows still there (351..370) are the fresh index's */
	a = dump_filtered(idx, undo_only, NULL);
	b = dump_filtered(fresh, undo_from_h, &from);
	CHECK(strlen(a) > 0);
	CHECK_STREQ(a, b);
	free(a);
	free(b);
	oracle_index_close(fresh);

	/* down to the window's last block, then one too many */
	for (int h = 370; h >= 351; h--)
		CHECK_EQ_INT(oracle_index_disconnect(idx, h,
						     chain.b[h - 1]->hash),
			     SD_OK);
	CHECK_EQ_INT(undo_rows(idx, rows, 512), 0);
	oracle_index_close(idx);
	idx = stu_open_ok(&c);   /* undo_from survives a reopen */
	CHECK_EQ_INT(undo_from(idx), 351);
	a = stu_dump(idx);
	f1 = file_bytes(dir, &l1);
	CHECK_EQ_INT(oracle_index_disconnect(idx, 350, chain.b[349]->hash),
		     SD_ENOTFOUND);
	oracle_index_stats(idx, &st);
	CHECK(st.reorg_too_deep);
	CHECK_EQ_INT(st.tip_height, 350);
	b = stu_dump(idx);
	CHECK_STREQ(a, b);
	f2 = file_bytes(dir, &l2);
	CHECK_EQ_INT(l1, l2);
	CHECK(memcmp(f1, f2, l1) == 0);
	/* again: same answer, still nothing changed */
	CHECK_EQ_INT(oracle_index_disconnect(idx, 350, chain.b[349]->hash),
		     SD_ENOTFOUND);
	free(b);
	b = stu_dump(idx);
	CHECK_STREQ(a, b);
	free(a);
	free(b);
	free(f1);
	free(f2);

	/* the chain goes on: reconnecting gives the straight build */
	stu_connect_range(idx, &chain, 351, 400);
	oracle_index_stats(idx, &st);
	CHECK(!st.reorg_too_deep);
	a = stu_dump(idx);
	b = stu_dump(straight400);
	CHECK_STREQ(a, b);
	free(a);
	free(b);
	oracle_index_close(idx);
	printf("ok disconnect within the window, refused beyond\n");
}

/* 5 */
static void check_tweaks_only(void)
{
	char dir[512];
	struct oracle_config c = cfg_in(dir, sizeof(dir), 6, true);
	struct oracle_index *idx = stu_open_ok(&c);

	stu_connect_range(idx, &chain, 1, 400);
	CHECK_EQ_INT(undo_rows(idx, rows, 512), 0);
	CHECK_EQ_INT(undo_from(idx), 0);
	for (int h = 400; h > 300; h--)
		CHECK_EQ_INT(oracle_index_disconnect(idx, h,
						     chain.b[h - 1]->hash),
			     SD_OK);
	oracle_index_close(idx);
	printf("ok tweaks_only: 100 blocks disconnected with depth 6\n");
}

/* The file size limit stu_limit_file set, raised by more bytes. */
static void limit_more(rlim_t more)
{
	struct rlimit lim;

	CHECK_EQ_INT(getrlimit(RLIMIT_FSIZE, &lim), 0);
	lim.rlim_cur += more;
	CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);
}

/* 6 */
static void check_crash(void)
{
	char dir[512], *before, *after;
	struct oracle_config c;
	struct oracle_index *idx = build(dir, &c, KEEP_ALL, 300);
	struct rlimit old;
	pid_t pid;
	int status, h, rc = SD_OK;

	before = stu_dump(idx);
	CHECK(undo_rows(idx, rows, 512) > 100);
	oracle_index_close(idx);
	c.undo_depth = 6;
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {   /* 20 pruning connects pending, then killed */
		idx = stu_open_ok(&c);
		oracle_index_set_group_commit(idx, 64);
		stu_connect_range(idx, &chain, 301, 320);
		raise(SIGKILL);
		_exit(3);
	}
	CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	idx = stu_open_ok(&c);
	after = stu_dump(idx);
	CHECK_STREQ(before, after);   /* rows, undo_from, tip: as before */
	free(after);

	/* a connect refused for a full disk prunes nothing either */
	stu_limit_file(dir, &old);
	limit_more(16 * 4096);
	for (h = 301; h <= 400; h++) {
		free(before);
		before = stu_dump(idx);
		rc = oracle_index_connect(idx, chain.b[h - 1]);
		if (rc != SD_OK)
			break;
	}
	CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
	CHECK_EQ_INT(rc, SD_ENOSPC);
	CHECK(h > 301);   /* some connects pruned before the disk filled */
	after = stu_dump(idx);
	CHECK_STREQ(before, after);
	free(after);
	free(before);
	oracle_index_close(idx);
	printf("ok crash: killed and disk-full connects prune nothing "
	       "(full at %d)\n", h);
}

/* 7 */
static void check_format(void)
{
	char dir[512], dir2[512], err[SD_ERRLEN], *before, *after, *raw;
	struct oracle_config c, c2;
	struct oracle_index *idx = build(dir, &c, KEEP_ALL, 150), *nat;
	struct f5_stats st;
	uint8_t vb[4];
	size_t n;

	before = stu_dump(idx);
	n = undo_rows(idx, rows, 512);
	CHECK(n > 30);   /* a backlog to drain */
	oracle_index_close(idx);
	make_format5(dir, F5_VERSION4, &st);
	raw = f5_raw_dump(dir);
	CHECK(strstr(raw, "\nmeta 76657273696f6e 00000004\n"));
	CHECK(!strstr(raw, UNDO_FROM_LINE));
	CHECK_EQ_INT(st.undo_rows, n);
	free(raw);
	c.undo_depth = 6;
	idx = stu_open_ok(&c);                /* 4 -> 5 -> 6 */
	after = stu_dump(idx);
	CHECK_STREQ(after, before);           /* nothing pruned at open */
	free(after);
	stu_connect_range(idx, &chain, 151, 200);
	CHECK_EQ_INT(undo_from(idx), 195);
	after = stu_dump(idx);
	nat = build(dir2, &c2, 6, 200);
	free(before);
	before = stu_dump(nat);
	CHECK_STREQ(after, before);           /* the backlog drained */
	oracle_index_close(nat);
	oracle_index_close(idx);
	printf("ok format 4: %zu undo rows (%zu code-3 entries) migrated, "
	       "drained by 200\n", n, st.cut_undo);

	sd_be32_put(vb, 7);
	f5_meta_put(dir, "version", vb, 4);
	err[0] = 0;
	idx = NULL;
	CHECK_EQ_INT(oracle_index_open(&c, &idx, err), SD_EVERSION);
	CHECK(idx == NULL);
	CHECK(strstr(err, "format version 7") != NULL);
	CHECK(strstr(err, "reads version 6") != NULL);
	free(before);
	free(after);
}

int main(void)
{
	char path[600], dir[512];
	struct oracle_config c;
	struct oracle_index *all;

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_undo.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	CHECK(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/regtest-a/blocks.hex",
		 check_testdata_dir());
	CHECK_EQ_INT(rta_load(path, 0, &chain), 0);
	CHECK_EQ_INT(chain.n, 400);

	all = build(dir, &c, KEEP_ALL, 400);
	check_window(all);
	oracle_index_close(all);
	check_drain();
	all = build(dir, &c, 50, 400);
	check_disconnect(all);
	oracle_index_close(all);
	check_tweaks_only();
	check_crash();
	check_format();

	rta_free(&chain);
	snprintf(path, sizeof(path), "rm -rf '%s'", tmpdir);
	CHECK_EQ_INT(system(path), 0);
	printf("ok undo retention\n");
	return 0;
}

/* test_outmap_bgsave.c - the outpoint map's background snapshot and its
 * replay after a crash (store_snap.c, STORAGE.md "The outpoint map"):
 * regtest-a, real LMDB files, crashes as SIGKILLed child processes that
 * did the indexing.  Asserted:
 *  a. every=300 (env SIGNETD_OUTMAP_SNAPSHOT_BLOCKS): connecting 1..300
 *     forks a child that writes the snapshot of 300; connect to 400,
 *     SIGKILL: the file says 300, the reopen loads it with no scan (the
 *     scan hook would fail it), source=snapshot+replay replayed_blocks=100,
 *     map == a fresh scan, and 401.. (none: regtest-a ends) / the dump
 *     equals the straight 1..400 one;
 *  b. a reorg between snapshot and crash (snapshot 300; 301..400,
 *     disconnect 400 -> 250, reconnect 251..400, SIGKILL): still the
 *     snapshot of 300, replayed 100, map == scan, dump == straight;
 *  r. a disconnect below the last snapshot forks no child, the first
 *     connect after it does (the old one may be of a chain left behind),
 *     and the next comes every blocks later;
 *  d. undo rows pruned past the snapshot (undo_depth 20, tip 400:
 *     undo_from 381): the snapshot of 379 means a scan (undo_pruned), the
 *     one of 380 (381 = undo_from) is replayed (20 blocks);
 *  e. the background child really runs beside the parent: with the child
 *     held 1 s by a hook, the connect that forked it returns long before
 *     (< 200 ms), and 10 more connects end (< 500 ms) while the child
 *     still runs and the file is not written yet; the file then says the
 *     fork's tip (300) though the parent went on to 340; a crash at 350
 *     replays from it to a map == scan.  Close while a child held 500 ms
 *     runs waits for it (>= 400 ms), reaps it (waitpid: ECHILD after),
 *     and logs its save before its own;
 *  f. a child whose write fails (a directory where its temp file goes):
 *     outpoint_map_save_failed source=background, the parent indexes on;
 *  g. a child whose parent is SIGKILLed while it runs never renames its
 *     file (no snapshot, no temp file left).
 */
#include <errno.h>
#include <lmdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../../common/log.h"
#include "../../../common/util.h"
#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "../store_int.h"
#include "store_testlib.h"
#include "store_testutil.h"
#include "store_testlog.h"

static struct rta_chain chain;
static char tmpdir[256];
static char *ref400;

static bool fail_scan;
static unsigned scans;

static int scan_hook(struct oracle_index *idx, size_t rows)
{
	(void)idx;
	if (rows == 0)
		__atomic_add_fetch(&scans, 1, __ATOMIC_SEQ_CST);
	return fail_scan ? MDB_CORRUPTED : 0;
}

/* The child's hold (async-signal-safe: nanosleep). */
static long hold_ms;

static void child_hold(void)
{
	struct timespec ts = { hold_ms / 1000, (hold_ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void config(struct oracle_config *c, const char *dir, uint32_t depth)
{
	*c = (struct oracle_config){
		.datadir = dir, .network = "regtest",
		.tweaks_full_basic = true,
		.tweaks_full_with_dust_filter = true,
		.tweaks_cut_through_with_dust_filter = true,
		.tweak_threads = 2, .start_height = 1, .undo_depth = depth,
	};
}

static void every(const char *v)
{
	CHECK_EQ_INT(setenv("SIGNETD_OUTMAP_SNAPSHOT_BLOCKS", v, 1), 0);
}

static void snap_path(char *p, size_t n, const char *dir, const char *suf)
{
	snprintf(p, n, "%s/index/outmap.snap%s", dir, suf);
}

static bool snap_exists(const char *dir, const char *suf)
{
	char p[600];
	struct stat sb;

	snap_path(p, sizeof(p), dir, suf);
	return stat(p, &sb) == 0;
}

/* The snapshot's tip (header offset 20, LE); -1 when there is none. */
static int32_t snap_tip(const char *dir)
{
	char p[600];
	uint8_t h[24];
	FILE *f;

	snap_path(p, sizeof(p), dir, "");
	if (!(f = fopen(p, "rb")))
		return -1;
	CHECK_EQ_INT(fread(h, 1, sizeof(h), f), sizeof(h));
	fclose(f);
	return (int32_t)sd_le32_get(h + 20);
}

static void copy_file(const char *from, const char *to)
{
	char cmd[1300];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	CHECK_EQ_INT(system(cmd), 0);
}

static double ms_since(uint64_t t0)
{
	return (double)(sd_mono_ns() - t0) / 1e6;
}

/* The map must equal a fresh scan with its key. */
static void check_map(struct oracle_index *idx)
{
	struct st_outmap fresh = { 0 };
	MDB_txn *txn;

	CHECK_EQ_INT(st_outmap_ready(idx), SD_OK);
	fresh.key = idx->om.key;
	CHECK_EQ_INT(st_read_begin(idx, &txn), SD_OK);
	CHECK_EQ_INT(st_outmap_load(idx, txn, &fresh), 0);
	st_read_end(idx, txn);
	CHECK(fresh.n > 100);
	CHECK(st_outmap_same(&idx->om, &fresh));
	st_outmap_free(&fresh);
}

static void disconnect_to(struct oracle_index *idx, int32_t from,
			  int32_t to)
{
	for (int32_t h = from; h > to; h--)
		CHECK_EQ_INT(oracle_index_disconnect(idx, h,
						     chain.b[h - 1]->hash),
			     SD_OK);
}

/* Run fn(idx) in a child process on an index of c and SIGKILL it there
 * (a crash: no close, no final snapshot). */
static void crash_after(const struct oracle_config *c,
			void (*fn)(struct oracle_index *idx))
{
	struct oracle_index *idx;
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		idx = stu_open_ok(c);
		fn(idx);
		raise(SIGKILL);
		_exit(3);
	}
	CHECK_EQ_INT(waitpid(pid, &st, 0), pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

/* The snapshot's stats (/status, /metrics). */
static struct oracle_stats stats_of(struct oracle_index *idx)
{
	struct oracle_stats os;

	oracle_index_stats(idx, &os);
	return os;
}

/* Open after a crash: the map must come from the snapshot of snap_h with
 * tip - snap_h blocks replayed (no scan), equal a scan, and the index
 * must dump as the straight 1..400 build. */
static struct oracle_index *open_replays(const struct oracle_config *c,
					 int32_t snap_h, int32_t tip)
{
	struct oracle_index *idx;
	unsigned before = scans;
	char want[160];
	char *d;

	snprintf(want, sizeof(want), "source=snapshot+replay "
		 "replayed_blocks=%d snapshot_tip=%d", tip - snap_h, snap_h);
	fail_scan = true;
	log_skip();
	idx = stu_open_ok(c);
	CHECK_EQ_INT(st_outmap_ready(idx), SD_OK);
	fail_scan = false;
	CHECK_EQ_INT(scans, before);
	if (!log_has(want))
		fprintf(stderr, "missing log: %s\n", want);
	CHECK(log_has(want));
	CHECK_EQ_INT(idx->om_src.replayed, (uint32_t)(tip - snap_h));
	CHECK_EQ_INT(stats_of(idx).outmap_snapshot_height, snap_h);
	check_map(idx);
	if (tip == 400 && c->undo_depth == 0) {     /* (20: other undo) */
		d = stu_dump(idx);
		CHECK_STREQ(d, ref400);
		free(d);
	}
	return idx;
}

/* ------------------------------------------------ a. */

static void a_index(struct oracle_index *idx)
{
	stu_connect_range(idx, &chain, 1, 300);
	CHECK_EQ_INT(idx->snap.started, 1);     /* at 300, not before */
	CHECK_EQ_INT(idx->snap.job_tip, 300);
	CHECK_EQ_INT(stats_of(idx).outmap_snapshot_height, -1);
	st_snap_wait(idx);                      /* the file is 300's */
	CHECK_EQ_INT(idx->snap.saved, 1);
	CHECK_EQ_INT(stats_of(idx).outmap_snapshot_height, 300);
	CHECK_EQ_INT(stats_of(idx).outmap_snapshot_failures, 0);
	stu_connect_range(idx, &chain, 301, 400);
	CHECK_EQ_INT(idx->snap.started, 1);     /* next at 600 */
}

static void check_a(void)
{
	char dir[512];
	struct oracle_config c;

	snprintf(dir, sizeof(dir), "%s/a", tmpdir);
	config(&c, dir, 0);
	every("300");
	log_skip();
	crash_after(&c, a_index);
	CHECK(log_has("msg=outpoint_map_save_started tip=300"));
	CHECK(log_has("source=background"));
	CHECK_EQ_INT(snap_tip(dir), 300);
	CHECK(!snap_exists(dir, ".tmp"));
	oracle_index_close(open_replays(&c, 300, 400));
}

/* ------------------------------------------------ b. */

static void b_index(struct oracle_index *idx)
{
	CHECK_EQ_INT(st_outmap_ready(idx), SD_OK);
	CHECK_EQ_INT(idx->om_src.snap_tip, 300);
	stu_connect_range(idx, &chain, 301, 400);
	disconnect_to(idx, 400, 250);
	stu_connect_range(idx, &chain, 251, 400);
	CHECK_EQ_INT(idx->snap.started, 0);
}

static void check_b(void)
{
	char dir[512];
	struct oracle_config c;
	struct oracle_index *idx;

	snprintf(dir, sizeof(dir), "%s/b", tmpdir);
	config(&c, dir, 0);
	every("0");
	idx = stu_open_ok(&c);
	stu_connect_range(idx, &chain, 1, 300);
	oracle_index_close(idx);        /* the snapshot of 300 */
	crash_after(&c, b_index);
	CHECK_EQ_INT(snap_tip(dir), 300);
	oracle_index_close(open_replays(&c, 300, 400));
}

/* ------------------------------------------------ r. */

static void check_r(void)
{
	char dir[512];
	struct oracle_config c;
	struct oracle_index *idx;

	snprintf(dir, sizeof(dir), "%s/r", tmpdir);
	config(&c, dir, 0);
	every("300");
	idx = stu_open_ok(&c);
	stu_connect_range(idx, &chain, 1, 300);
	st_snap_wait(idx);
	CHECK_EQ_INT(idx->snap.saved, 1);
	disconnect_to(idx, 300, 280);           /* no child a disconnect */
	CHECK_EQ_INT(idx->snap.started, 1);
	stu_connect_range(idx, &chain, 281, 281);
	CHECK_EQ_INT(idx->snap.started, 2);     /* at once, not at 600 */
	CHECK_EQ_INT(idx->snap.job_tip, 281);
	stu_connect_range(idx, &chain, 282, 320);
	CHECK_EQ_INT(idx->snap.started, 2);     /* next at 581 */
	oracle_index_close(idx);
	CHECK_EQ_INT(snap_tip(dir), 320);
}

/* The time floor: with every = 50 and 1 h between forks, 1..400 forks
 * once (the map is empty below regtest-a's first tweak, ~101: the first
 * fork comes after it); with the floor at 0 (every set, seconds unset),
 * every 50 blocks from there; without either variable, every =
 * min(144, undo_depth / 2) and the floor is 600 s. */
static void check_gap(void)
{
	int32_t first;
	char dir[512];
	struct oracle_config c;
	struct oracle_index *idx;

	snprintf(dir, sizeof(dir), "%s/gap", tmpdir);
	config(&c, dir, 0);
	every("50");
	CHECK_EQ_INT(setenv("SIGNETD_OUTMAP_SNAPSHOT_SECONDS", "3600", 1), 0);
	idx = stu_open_ok(&c);
	CHECK(idx->snap.min_gap_ns == 3600ull * 1000000000ull);
	stu_connect_range(idx, &chain, 1, 400);
	CHECK_EQ_INT(idx->snap.started, 1);
	first = idx->snap.job_tip;
	CHECK(first >= 50 && first < 350);
	oracle_index_close(idx);
	CHECK_EQ_INT(unsetenv("SIGNETD_OUTMAP_SNAPSHOT_SECONDS"), 0);

	snprintf(dir, sizeof(dir), "%s/gap0", tmpdir);
	config(&c, dir, 0);
	idx = stu_open_ok(&c);
	CHECK(idx->snap.min_gap_ns == 0);
	stu_connect_range(idx, &chain, 1, 400);
	st_snap_wait(idx);
	CHECK_EQ_INT(idx->snap.started, 1 + (400 - first) / 50);
	oracle_index_close(idx);

	CHECK_EQ_INT(unsetenv("SIGNETD_OUTMAP_SNAPSHOT_BLOCKS"), 0);
	CHECK_EQ_INT(st_snap_min_gap_ns(), 600ull * 1000000000ull);
	c.undo_depth = 100;
	CHECK_EQ_INT(st_snap_every(&(struct oracle_index){ .cfg = c }), 50);
	c.undo_depth = 0;
	CHECK_EQ_INT(st_snap_every(&(struct oracle_index){ .cfg = c }), 144);
}

/* ------------------------------------------------ d. */

static void d_index(struct oracle_index *idx)
{
	stu_connect_range(idx, &chain, 381, 400);
}

static void check_d(void)
{
	char dir[512], snap[600], keep379[600], keep380[600], want[200];
	struct oracle_config c;
	struct oracle_index *idx;
	unsigned before;

	snprintf(dir, sizeof(dir), "%s/d", tmpdir);
	config(&c, dir, 20);
	every("0");
	snap_path(snap, sizeof(snap), dir, "");
	snprintf(keep379, sizeof(keep379), "%s/d379", tmpdir);
	snprintf(keep380, sizeof(keep380), "%s/d380", tmpdir);
	idx = stu_open_ok(&c);
	stu_connect_range(idx, &chain, 1, 379);
	oracle_index_close(idx);
	copy_file(snap, keep379);
	idx = stu_open_ok(&c);
	stu_connect_range(idx, &chain, 380, 380);
	oracle_index_close(idx);
	copy_file(snap, keep380);
	crash_after(&c, d_index);       /* tip 400: undo_from 381 */
	CHECK_EQ_INT(snap_tip(dir), 380);

	copy_file(keep379, snap);       /* 380's undo row is gone */
	before = scans;
	log_skip();
	idx = stu_open_ok(&c);
	CHECK_EQ_INT(st_outmap_ready(idx), SD_OK);
	CHECK_EQ_INT(scans, before + 1);
	snprintf(want, sizeof(want), "msg=outpoint_map_snapshot_unusable "
		 "reason=undo_pruned snapshot_tip=379");
	CHECK(log_has(want));
	CHECK(log_has("source=scan"));
	CHECK(!snap_exists(dir, ""));   /* dropped */
	check_map(idx);
	oracle_index_close(idx);        /* (writes one of 400) */

	copy_file(keep380, snap);       /* 381 = undo_from: every row kept */
	oracle_index_close(open_replays(&c, 380, 400));
}

/* ------------------------------------------------ e. */

static void e_index(struct oracle_index *idx)
{
	uint64_t t0;
	double ms;
	pid_t child;

	stu_connect_range(idx, &chain, 1, 299);
	CHECK_EQ_INT(idx->snap.started, 0);
	hold_ms = 1000;
	t0 = sd_mono_ns();
	stu_connect_range(idx, &chain, 300, 300);       /* forks */
	ms = ms_since(t0);
	fprintf(stderr, "e: connect that forked: %.2f ms (fork %.2f ms)\n",
		ms, idx->snap.job_fork_ms);
	CHECK(ms < 200);
	CHECK_EQ_INT(idx->snap.started, 1);
	child = idx->snap.pid;
	CHECK(child > 0);
	CHECK_EQ_INT(kill(child, 0), 0);        /* still running */
	CHECK_EQ_INT(snap_tip(idx->datadir), -1);
	t0 = sd_mono_ns();
	stu_connect_range(idx, &chain, 301, 310);   /* meanwhile */
	ms = ms_since(t0);
	fprintf(stderr, "e: 10 connects beside the child: %.1f ms\n", ms);
	CHECK(ms < 500);
	CHECK_EQ_INT(kill(child, 0), 0);        /* it still runs */
	CHECK_EQ_INT(idx->snap.pid, child);
	CHECK_EQ_INT(snap_tip(idx->datadir), -1);
	stu_connect_range(idx, &chain, 311, 340);
	st_snap_wait(idx);
	CHECK_EQ_INT(idx->snap.saved, 1);
	CHECK_EQ_INT(snap_tip(idx->datadir), 300);
	hold_ms = 0;
	stu_connect_range(idx, &chain, 341, 350);
}

static void check_e(void)
{
	char dir[512];
	struct oracle_config c;
	struct oracle_index *idx;
	uint64_t t0;
	double ms;
	pid_t child;
	int st;

	snprintf(dir, sizeof(dir), "%s/e", tmpdir);
	config(&c, dir, 0);
	every("300");
	st_snap_child_hook = child_hold;
	crash_after(&c, e_index);
	CHECK_EQ_INT(snap_tip(dir), 300);
	idx = open_replays(&c, 300, 350);

	/* close while a held child runs */
	CHECK_EQ_INT(idx->snap.base, 300);      /* the snapshot read */
	idx->snap.every = 60;                   /* next at 360 */
	hold_ms = 500;
	log_skip();
	stu_connect_range(idx, &chain, 351, 360);       /* forks at 360 */
	child = idx->snap.pid;
	CHECK(child > 0);
	t0 = sd_mono_ns();
	oracle_index_close(idx);
	ms = ms_since(t0);
	fprintf(stderr, "e: close beside a held child: %.1f ms\n", ms);
	CHECK(ms >= 400);
	CHECK_EQ_INT(waitpid(child, &st, WNOHANG), -1);  /* reaped */
	CHECK_EQ_INT(errno, ECHILD);
	CHECK(log_at("msg=outpoint_map_save_started tip=360") >= 0);
	CHECK(log_at("source=background") >= 0);
	CHECK(log_at("source=background") < log_at("source=close"));
	CHECK_EQ_INT(snap_tip(dir), 360);
	hold_ms = 0;
	st_snap_child_hook = NULL;
}

/* ------------------------------------------------ f. */

static void check_f(void)
{
	char dir[512], tmp[600];
	struct oracle_config c;
	struct oracle_index *idx;

	snprintf(dir, sizeof(dir), "%s/f", tmpdir);
	config(&c, dir, 0);
	every("200");
	idx = stu_open_ok(&c);
	snap_path(tmp, sizeof(tmp), dir, ".tmp");
	CHECK_EQ_INT(mkdir(tmp, 0700), 0);      /* open(O_WRONLY): EISDIR */
	log_skip();
	stu_connect_range(idx, &chain, 1, 200);         /* forks at 200 */
	CHECK_EQ_INT(idx->snap.started, 1);
	st_snap_wait(idx);
	CHECK_EQ_INT(idx->snap.saved, 0);
	CHECK_EQ_INT(stats_of(idx).outmap_snapshot_failures, 1);
	CHECK_EQ_INT(stats_of(idx).outmap_snapshot_height, -1);
	CHECK(log_has("msg=outpoint_map_save_failed tip=200 err="));
	CHECK(log_has("errno=21 source=background"));
	CHECK_EQ_INT(snap_tip(dir), -1);
	stu_connect_range(idx, &chain, 201, 220);       /* indexes on */
	check_map(idx);
	CHECK_EQ_INT(rmdir(tmp), 0);
	oracle_index_close(idx);
	CHECK_EQ_INT(snap_tip(dir), 220);
}

/* ------------------------------------------------ g. */

static char g_pidfile[600];

static void g_index(struct oracle_index *idx)
{
	FILE *f;

	stu_connect_range(idx, &chain, 1, 200);         /* forks at 200 */
	CHECK(idx->snap.pid > 0);
	CHECK((f = fopen(g_pidfile, "w")));
	fprintf(f, "%ld\n", (long)idx->snap.pid);
	CHECK_EQ_INT(fclose(f), 0);
}

/* Whether pid is gone (or a zombie nobody reaps). */
static bool gone(long pid)
{
	char p[64], buf[512];
	FILE *f;
	char *rp;
	bool z;

	snprintf(p, sizeof(p), "/proc/%ld/stat", pid);
	if (!(f = fopen(p, "r")))
		return true;
	z = fgets(buf, sizeof(buf), f) && (rp = strrchr(buf, ')')) &&
	    rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
	fclose(f);
	return z;
}

static void check_g(void)
{
	char dir[512];
	struct oracle_config c;
	FILE *f;
	long gpid = 0;
	int i;

	snprintf(dir, sizeof(dir), "%s/g", tmpdir);
	snprintf(g_pidfile, sizeof(g_pidfile), "%s/g.pid", tmpdir);
	config(&c, dir, 0);
	every("200");
	hold_ms = 300;
	st_snap_child_hook = child_hold;
	crash_after(&c, g_index);
	CHECK((f = fopen(g_pidfile, "r")));
	CHECK_EQ_INT(fscanf(f, "%ld", &gpid), 1);
	fclose(f);
	for (i = 0; i < 200 && !gone(gpid); i++)
		usleep(50 * 1000);
	CHECK(gone(gpid));
	CHECK(!snap_exists(dir, ""));
	CHECK(!snap_exists(dir, ".tmp"));
	st_snap_child_hook = NULL;
	hold_ms = 0;
}

int main(void)
{
	char dir[512];
	struct oracle_config c;
	struct oracle_index *idx;

	(void)stu_limit_file;           /* (store_testutil.h) */
	stu_begin(tmpdir, sizeof(tmpdir), "test_outmap_bgsave", &chain);
	log_open(tmpdir);
	st_outmap_load_hook = scan_hook;

	every("0");
	snprintf(dir, sizeof(dir), "%s/ref", tmpdir);
	config(&c, dir, 0);
	idx = stu_open_ok(&c);
	stu_connect_range(idx, &chain, 1, 400);
	ref400 = stu_dump(idx);
	oracle_index_close(idx);

	check_a();
	check_b();
	check_r();
	check_d();
	check_e();
	check_f();
	check_g();
	check_gap();

	free(ref400);
	stu_end(tmpdir, &chain);
	printf("test_outmap_bgsave: ok\n");
	return 0;
}

/* test_outmap_snap.c - the outpoint map's snapshot (store_snap.c,
 * STORAGE.md): regtest-a, real LMDB files, background snapshots off
 * (SIGNETD_OUTMAP_SNAPSHOT_BLOCKS=0: test_outmap_bgsave.c has those).  A
 * clean close writes index/outmap.snap tagged with the committed tip; an
 * open loads it instead of scanning `utxos` when it is whole and of a tip
 * s on the index's chain, replays s+1..tip, and keeps it.  Asserted:
 *  1. clean close -> open: no scan (the scan hook would fail the load),
 *     log source=snapshot replayed_blocks=0, same key and multiset as a
 *     fresh scan, file kept; connecting 301..400 gives the straight
 *     1..400 dump;
 *  2. an older snapshot of the same chain (300 put back under tip 310):
 *     source=snapshot+replay replayed_blocks=10, no scan, map == scan;
 *  3. every unusable snapshot means a scan, never a wrong map, and is
 *     deleted: missing (no warning), ahead of the tip (310 under 305
 *     after a disconnect), of another chain (its tip hash flipped, the
 *     checksum made right again), torn (truncated), a flipped slot byte
 *     (checksum), another version, version 1 (the single table's), a
 *     segment capacity that does not add up (checksum right: torn);
 *  4. a crash (child process SIGKILLed after connecting 301..330 on top
 *     of the snapshot of 300): the snapshot is still there, the next open
 *     replays 30 blocks, and the map equals the DB.
 */
#include <lmdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
static unsigned scans;

/* The scan's hook: counts scans; fails them while `fail_scan`. */
static bool fail_scan;

static int scan_hook(struct oracle_index *idx, size_t rows)
{
	(void)idx;
	if (rows == 0)
		__atomic_add_fetch(&scans, 1, __ATOMIC_SEQ_CST);
	return fail_scan ? MDB_CORRUPTED : 0;
}

static void config(struct oracle_config *c, const char *dir)
{
	*c = (struct oracle_config){
		.datadir = dir, .network = "regtest",
		.tweaks_full_basic = true,
		.tweaks_full_with_dust_filter = true,
		.tweaks_cut_through_with_dust_filter = true,
		.tweak_threads = 2, .start_height = 1,
	};
}

static void snap_path(char *p, size_t n, const char *dir, const char *suf)
{
	snprintf(p, n, "%s/index/outmap.snap%s", dir, suf);
}

static bool snap_exists(const char *dir)
{
	char p[600];
	struct stat sb;

	snap_path(p, sizeof(p), dir, "");
	return stat(p, &sb) == 0;
}

static void copy_file(const char *from, const char *to)
{
	char cmd[1300];

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	CHECK_EQ_INT(system(cmd), 0);
}

/* Wait for the map; it must equal a fresh scan with its key. */
static void check_map(struct oracle_index *idx)
{
	struct st_outmap fresh = { 0 };
	MDB_txn *txn;

	CHECK_EQ_INT(st_outmap_ready(idx), SD_OK);
	CHECK(idx->om.key != 0);
	fresh.key = idx->om.key;
	CHECK_EQ_INT(st_read_begin(idx, &txn), SD_OK);
	CHECK_EQ_INT(st_outmap_load(idx, txn, &fresh), 0);
	st_read_end(idx, txn);
	CHECK(fresh.n > 100);
	CHECK(st_outmap_same(&idx->om, &fresh));
	st_outmap_free(&fresh);
}

/* Open dir; the map must come from a scan, for the logged reason (NULL:
 * no warning, the snapshot was missing). */
static struct oracle_index *open_scans(const struct oracle_config *c,
				       const char *reason)
{
	struct oracle_index *idx;
	unsigned before = scans;
	char want[100];

	log_skip();
	idx = stu_open_ok(c);
	CHECK_EQ_INT(st_outmap_ready(idx), SD_OK);
	CHECK_EQ_INT(scans, before + 1);
	CHECK(log_has("source=scan"));
	if (reason) {
		snprintf(want, sizeof(want), "msg=outpoint_map_snapshot_unusable "
			 "reason=%s", reason);
		CHECK(log_has(want));
	} else {
		CHECK(!log_has("msg=outpoint_map_snapshot_unusable"));
	}
	CHECK(!snap_exists(c->datadir));
	check_map(idx);
	return idx;
}

/* ------------------------------------------------ 1. clean close */

static void check_clean(const char *ref400)
{
	char dir[512], *d;
	struct oracle_config c;
	struct oracle_index *idx;
	uint64_t key;
	size_t n;

	snprintf(dir, sizeof(dir), "%s/clean", tmpdir);
	config(&c, dir);
	idx = stu_open_ok(&c);
	stu_connect_range(idx, &chain, 1, 300);
	key = idx->om.key;
	n = idx->om.n;
	log_skip();
	oracle_index_close(idx);
	CHECK(log_has("msg=outpoint_map_saved"));
	CHECK(snap_exists(dir));

	fail_scan = true;               /* a scan would fail the load */
	log_skip();
	idx = stu_open_ok(&c);
	CHECK_EQ_INT(st_outmap_ready(idx), SD_OK);
	fail_scan = false;
	CHECK(log_has("source=snapshot replayed_blocks=0 snapshot_tip=300"));
	CHECK(snap_exists(dir));        /* kept */
	CHECK_EQ_INT(idx->om.key, key);
	CHECK_EQ_INT(idx->om.n, n);
	check_map(idx);
	stu_connect_range(idx, &chain, 301, 400);
	d = stu_dump(idx);
	CHECK_STREQ(d, ref400);
	free(d);
	check_map(idx);
	oracle_index_close(idx);
	CHECK(snap_exists(dir));
}

/* ------------------------------------------------ 2. unusable */

static void patch(const char *path, long off, uint8_t x)
{
	FILE *f = fopen(path, "r+b");
	int b;

	CHECK(f);
	CHECK_EQ_INT(fseek(f, off, SEEK_SET), 0);
	CHECK((b = fgetc(f)) != EOF);
	CHECK_EQ_INT(fseek(f, off, SEEK_SET), 0);
	CHECK(fputc(b ^ x, f) != EOF);
	CHECK_EQ_INT(fclose(f), 0);
}

/* A snapshot's tip (header offset 20, LE). */
static int32_t snap_tip(const char *dir)
{
	char p[600];
	uint8_t h[24];
	FILE *f;

	snap_path(p, sizeof(p), dir, "");
	CHECK((f = fopen(p, "rb")));
	CHECK_EQ_INT(fread(h, 1, sizeof(h), f), sizeof(h));
	fclose(f);
	return (int32_t)sd_le32_get(h + 20);
}

/* The snapshot in path with byte off xored with x and its checksum made
 * right again. */
static void forge(const char *path, long off, uint8_t x)
{
	FILE *f = fopen(path, "r+b");
	uint8_t *buf;
	long len;

	CHECK(f);
	CHECK_EQ_INT(fseek(f, 0, SEEK_END), 0);
	CHECK((len = ftell(f)) > 4096);
	buf = sd_xmalloc((size_t)len);
	rewind(f);
	CHECK_EQ_INT(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[off] ^= x;
	sd_le64_put(buf + 80, st_snap_checksum(buf, (const uint64_t *)
					       (buf + 4096),
					       ((size_t)len - 4096) / 8));
	rewind(f);
	CHECK_EQ_INT(fwrite(buf, 1, (size_t)len, f), (size_t)len);
	CHECK_EQ_INT(fclose(f), 0);
	free(buf);
}

static void disconnect_to(struct oracle_index *idx, int32_t from,
			  int32_t to)
{
	for (int32_t h = from; h > to; h--)
		CHECK_EQ_INT(oracle_index_disconnect(idx, h,
						     chain.b[h - 1]->hash),
			     SD_OK);
}

static void check_unusable(void)
{
	char dir[512], snap[600], keep300[600], keep310[600];
	struct oracle_config c;
	struct oracle_index *idx;
	struct stat sb;
	unsigned before;

	snprintf(dir, sizeof(dir), "%s/bad", tmpdir);
	config(&c, dir);
	snap_path(snap, sizeof(snap), dir, "");
	snprintf(keep300, sizeof(keep300), "%s/snap300", tmpdir);
	snprintf(keep310, sizeof(keep310), "%s/snap310", tmpdir);
	idx = stu_open_ok(&c);
	stu_connect_range(idx, &chain, 1, 300);
	oracle_index_close(idx);
	copy_file(snap, keep300);

	/* missing */
	CHECK_EQ_INT(unlink(snap), 0);
	idx = open_scans(&c, NULL);
	stu_connect_range(idx, &chain, 301, 310);
	oracle_index_close(idx);        /* a snapshot at 310 */
	copy_file(snap, keep310);

	/* older, same chain: the one of 300 put back under tip 310 */
	copy_file(keep300, snap);
	before = scans;
	fail_scan = true;
	log_skip();
	idx = stu_open_ok(&c);
	CHECK_EQ_INT(st_outmap_ready(idx), SD_OK);
	fail_scan = false;
	CHECK_EQ_INT(scans, before);
	CHECK(log_has("source=snapshot+replay replayed_blocks=10 "
		      "snapshot_tip=300"));
	CHECK_EQ_INT(idx->om_src.replayed, 10);
	CHECK(snap_exists(dir));
	CHECK_EQ_INT(snap_tip(dir), 300);
	check_map(idx);

	/* ahead of the tip: 310 under 305 */
	disconnect_to(idx, 310, 305);
	oracle_index_close(idx);        /* a snapshot at 305 */
	CHECK_EQ_INT(snap_tip(dir), 305);
	copy_file(keep310, snap);
	idx = open_scans(&c, "ahead_of_tip");
	oracle_index_close(idx);

	/* another chain at 305 (hash flipped, checksum right) */
	CHECK_EQ_INT(snap_tip(dir), 305);
	forge(snap, 24, 0x01);          /* the tip hash */
	idx = open_scans(&c, "other_chain");
	oracle_index_close(idx);

	/* torn: cut in the slots */
	CHECK_EQ_INT(stat(snap, &sb), 0);
	CHECK_EQ_INT(truncate(snap, sb.st_size / 2), 0);
	idx = open_scans(&c, "torn");
	oracle_index_close(idx);

	/* one slot byte flipped (past the 4096-byte header) */
	CHECK_EQ_INT(stat(snap, &sb), 0);
	patch(snap, 4096 + (sb.st_size - 4096) / 3, 0x40);
	idx = open_scans(&c, "checksum");
	oracle_index_close(idx);

	/* another format version */
	patch(snap, 8, 0x01);
	idx = open_scans(&c, "version");
	stu_connect_range(idx, &chain, 306, 320);
	check_map(idx);
	oracle_index_close(idx);
	CHECK(snap_exists(dir));

	/* version 1 (one table, before the segments), checksum right */
	forge(snap, 8, 0x03);
	idx = open_scans(&c, "version");
	oracle_index_close(idx);
	CHECK(snap_exists(dir));

	/* a segment's capacity (header offset 104 + 4k) no longer adds up
	 * to the total and the size, checksum right */
	forge(snap, 104 + 4 * 17, 0x01);
	idx = open_scans(&c, "torn");
	oracle_index_close(idx);
	CHECK(snap_exists(dir));
}

/* ------------------------------------------------ 3. crash */

static void check_crash(void)
{
	char dir[512];
	struct oracle_config c;
	struct oracle_index *idx;
	int32_t tip;
	uint8_t hash[32];
	pid_t pid;
	int st;

	snprintf(dir, sizeof(dir), "%s/crash", tmpdir);
	config(&c, dir);
	idx = stu_open_ok(&c);
	stu_connect_range(idx, &chain, 1, 300);
	oracle_index_close(idx);
	CHECK(snap_exists(dir));

	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {             /* open from the snapshot, index, die */
		idx = stu_open_ok(&c);
		stu_connect_range(idx, &chain, 301, 330);
		raise(SIGKILL);
		_exit(3);
	}
	CHECK_EQ_INT(waitpid(pid, &st, 0), pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	CHECK(snap_exists(dir));        /* kept by the child's open */
	CHECK_EQ_INT(snap_tip(dir), 300);

	fail_scan = true;
	log_skip();
	idx = stu_open_ok(&c);
	CHECK_EQ_INT(st_outmap_ready(idx), SD_OK);
	fail_scan = false;
	CHECK(log_has("source=snapshot+replay replayed_blocks=30 "
		      "snapshot_tip=300"));
	check_map(idx);
	CHECK_EQ_INT(oracle_index_tip(idx, &tip, hash), SD_OK);
	CHECK_EQ_INT(tip, 330);
	stu_connect_range(idx, &chain, 331, 400);
	check_map(idx);
	oracle_index_close(idx);
}

int main(void)
{
	char dir[512], *ref400;
	struct oracle_config c;
	struct oracle_index *idx;

	(void)stu_limit_file;           /* (store_testutil.h) */
	/* the clean close's snapshot only (test_outmap_bgsave.c) */
	CHECK_EQ_INT(setenv("SIGNETD_OUTMAP_SNAPSHOT_BLOCKS", "0", 1), 0);
	stu_begin(tmpdir, sizeof(tmpdir), "test_outmap_snap", &chain);
	log_open(tmpdir);
	st_outmap_load_hook = scan_hook;

	snprintf(dir, sizeof(dir), "%s/ref", tmpdir);
	config(&c, dir);
	idx = stu_open_ok(&c);
	stu_connect_range(idx, &chain, 1, 400);
	ref400 = stu_dump(idx);
	oracle_index_close(idx);

	check_clean(ref400);
	check_unusable();
	check_crash();
	fprintf(stderr, "snapshot: %u scans in all\n", scans);

	free(ref400);
	stu_end(tmpdir, &chain);
	printf("test_outmap_snap: ok\n");
	return 0;
}

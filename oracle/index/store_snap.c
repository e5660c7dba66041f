/* store_snap.c - the outpoint map's snapshot, <index>/outmap.snap
 * (STORAGE.md, "The outpoint map"): a 4096-byte header (with the
 * segments' capacities), then the slots of the map's segments in order, as
 * they lie in memory.
 *
 * Written at a clean close (st_outmap_save), and in the background after
 * a commit that left no pending block (st_snap_tick), Redis BGSAVE style:
 * a forked child writes the map as it was at the fork (its pages are
 * copy-on-write) while the parent goes on indexing; the parent reaps it
 * at a later commit or at close.  Both write through snap_write, which
 * allocates nothing, takes no lock and logs nothing (async-signal-safe:
 * the child of a threaded process may do no more).
 *
 * Read at open (st_snap_build) and kept: a snapshot of tip s is good for
 * any later tip of the same chain whose undo rows above s are kept.  The
 * heights s+1..tip are replayed: their unspent outputs added, the outputs
 * of heights <= s their undo rows say they spent taken out.  Anything
 * else is a scan of `utxos`, as without a snapshot.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../common/log.h"
#include "../../common/util.h"
#include "store_int.h"

/* Header (LE): magic 8 | version 4 | fp bits 4 | h bits 4 | tip H 4 |
 * tip hash 32 | key 8 | n 8 | cap 8 (all segments) | checksum 8 | byte
 * order mark 8 (native) | segments 4 | 0 4 | 256 x segment cap 4, zeros
 * to 4096; the checksum covers bytes 0..79, 96..1127 and the slots.
 * Version 1 (one table, session 8) is unusable: scan. */
#define SNAP_NAME "outmap.snap"
#define SNAP_MAGIC "SDOMAP\r\n"
#define SNAP_VERSION 2u
#define SNAP_H_BITS 24u
#define SNAP_HDR 4096
#define SNAP_CK_OFF 80
#define SNAP_SEGS_OFF 96
#define SNAP_CAPS_OFF 104
#define SNAP_CAPS_END (SNAP_CAPS_OFF + ST_OM_SEGS * 4)
#define SNAP_BOM 0x0102030405060708ull
#define SNAP_MIN_CAP 64
#define SNAP_CHUNK ((size_t)64 << 20)           /* bytes a write(2) */
#define SNAP_PATH 4200
#define SNAP_EVERY_MAX 144u
/* A catch-up sync passes 144 blocks in seconds: without a floor it would
 * fork and write the whole map (1.6 GB at mainnet size) as often. */
#define SNAP_MIN_GAP_S 600u

void (*st_snap_child_hook)(void);

struct snap_paths {
	char dir[SNAP_PATH], tmp[SNAP_PATH], fin[SNAP_PATH];
};

/* What the child tells the parent through the pipe, then _exit. */
struct bg_result {
	int32_t rc;     /* SD_OK or SD_EIO */
	int32_t err;    /* errno of the failed call */
	uint64_t ns;    /* the child's time, fork to renamed */
};

static int snap_paths_make(struct snap_paths *p, const char *dir)
{
	int a = snprintf(p->dir, sizeof(p->dir), "%s", dir);
	int b = snprintf(p->tmp, sizeof(p->tmp), "%s/%s.tmp", dir, SNAP_NAME);
	int c = snprintf(p->fin, sizeof(p->fin), "%s/%s", dir, SNAP_NAME);

	return a < 0 || b < 0 || c < 0 || (size_t)b >= sizeof(p->tmp) ?
	       SD_EINVAL : SD_OK;
}

static uint64_t ck_words(uint64_t h, const uint64_t *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h = (h ^ w[i]) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 32;
	}
	return h;
}

/* The header's checksummed words: 0..79, then 96..1127. */
static uint64_t ck_hdr(const uint8_t *hdr)
{
	uint64_t w[(SNAP_CK_OFF + SNAP_CAPS_END - SNAP_SEGS_OFF) / 8];

	memcpy(w, hdr, SNAP_CK_OFF);
	memcpy(w + SNAP_CK_OFF / 8, hdr + SNAP_SEGS_OFF,
	       SNAP_CAPS_END - SNAP_SEGS_OFF);
	return ck_words(0x5d0a5d0a5d0a5d0aull, w, sizeof(w) / 8);
}

uint64_t st_snap_checksum(const uint8_t *hdr, const uint64_t *s, size_t cap)
{
	return ck_words(ck_hdr(hdr), s, cap);
}

/* The header of m tagged with tip (checksum left 0: snap_write). */
static void hdr_fill(uint8_t *hdr, const struct st_outmap *m, int32_t tip,
		     const uint8_t hash[32])
{
	uint64_t bom = SNAP_BOM;

	memset(hdr, 0, SNAP_HDR);
	memcpy(hdr, SNAP_MAGIC, 8);
	sd_le32_put(hdr + 8, SNAP_VERSION);
	sd_le32_put(hdr + 12, ST_OUTMAP_FP_BITS);
	sd_le32_put(hdr + 16, SNAP_H_BITS);
	sd_le32_put(hdr + 20, (uint32_t)tip);
	memcpy(hdr + 24, hash, 32);
	sd_le64_put(hdr + 56, m->key);
	sd_le64_put(hdr + 64, m->n);
	sd_le64_put(hdr + 72, m->cap);
	memcpy(hdr + 88, &bom, 8);
	sd_le32_put(hdr + SNAP_SEGS_OFF, ST_OM_SEGS);
	for (size_t k = 0; k < ST_OM_SEGS; k++)
		sd_le32_put(hdr + SNAP_CAPS_OFF + 4 * k, m->seg[k].cap);
}

/* A parent that is gone (the child was reparented): stop. */
static bool orphan(pid_t parent)
{
	return parent != 0 && getppid() != parent;
}

static int write_all(int fd, const void *p, size_t n, off_t off,
		     pid_t parent)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w;

		if (orphan(parent)) {
			errno = ESRCH;
			return -1;
		}
		w = pwrite(fd, b, n < SNAP_CHUNK ? n : SNAP_CHUNK, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		b += w;
		off += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Write m's segments under hdr to p->tmp, in order, checksumming as it
 * goes, the header last; fdatasync, rename to p->fin, fsync the
 * directory.  Async-signal-safe: no allocation, lock or log.  parent:
 * the child's parent, checked between chunks and before the rename (a
 * killed daemon's child stops instead of renaming under the next
 * process); 0 in the parent. */
static int snap_write(const struct st_outmap *m, uint8_t *hdr,
		      const struct snap_paths *p, pid_t parent, int *err)
{
	const size_t per = SNAP_CHUNK / sizeof(uint64_t);
	uint64_t ck = ck_hdr(hdr);
	off_t at = SNAP_HDR;
	int fd, dfd, rc = SD_EIO;

	*err = 0;
	fd = open(p->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		*err = errno;
		return SD_EIO;
	}
	for (size_t k = 0; k < ST_OM_SEGS; k++) {
		const struct st_om_seg *g = &m->seg[k];

		for (size_t off = 0; off < g->cap; off += per) {
			size_t n = g->cap - off < per ? g->cap - off : per;

			ck = ck_words(ck, g->s + off, n);
			if (write_all(fd, g->s + off, n * sizeof(uint64_t),
				      at, parent))
				goto out;
			at += (off_t)(n * sizeof(uint64_t));
		}
	}
	sd_le64_put(hdr + SNAP_CK_OFF, ck);
	if (write_all(fd, hdr, SNAP_HDR, 0, parent) == 0 && fdatasync(fd) == 0)
		rc = SD_OK;
out:
	if (rc != SD_OK)
		*err = errno;
	if (close(fd) != 0 && rc == SD_OK) {
		*err = errno;
		rc = SD_EIO;
	}
	if (rc == SD_OK && orphan(parent)) {
		*err = ESRCH;
		rc = SD_EIO;
	}
	if (rc == SD_OK && rename(p->tmp, p->fin) != 0) {
		*err = errno;
		rc = SD_EIO;
	}
	if (rc != SD_OK) {
		(void)unlink(p->tmp);
		return rc;
	}
	if ((dfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		if (fsync(dfd) != 0) {
			*err = errno;
			rc = SD_EIO;
		}
		close(dfd);
	}
	return rc;
}

int st_outmap_save(struct st_outmap *m, const char *dir, int32_t tip,
		   const uint8_t hash[32])
{
	struct snap_paths *p;
	uint8_t *hdr;
	int rc, err = 0;

	if (m->log_n != 0 || m->cap == 0 || tip < 0)
		return SD_ESTATE;
	p = sd_xmalloc(sizeof(*p));
	if (snap_paths_make(p, dir) != SD_OK) {
		free(p);
		return SD_EINVAL;
	}
	hdr = sd_xmalloc(SNAP_HDR);
	hdr_fill(hdr, m, tip, hash);
	rc = snap_write(m, hdr, p, 0, &err);
	free(hdr);
	free(p);
	errno = err;
	return rc;
}

void st_outmap_snap_drop(const char *dir)
{
	char fin[SNAP_PATH];

	snprintf(fin, sizeof(fin), "%s/%s", dir, SNAP_NAME);
	(void)unlink(fin);
	snprintf(fin, sizeof(fin), "%s/%s.tmp", dir, SNAP_NAME);
	(void)unlink(fin);
}

/* ------------------------------------------------------------ reading */

/* Read n bytes; 1 = short (torn), -1 = error, -2 = cancelled. */
static int read_all(struct oracle_index *idx, int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n > 0) {
		ssize_t r = read(fd, b, n < SNAP_CHUNK ? n : SNAP_CHUNK);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 1;
		if (idx && atomic_load(&idx->om_cancel))
			return -2;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* An open snapshot whose header was read and is whole and of our
 * layout. */
struct snap_file {
	int fd;
	uint8_t hdr[SNAP_HDR];
	int32_t tip;
	uint64_t cap, n;
	uint32_t segcap[ST_OM_SEGS];
};

/* Open p->fin and check its header: SD_OK, SD_ENOTFOUND (none, *why
 * NULL) or SD_EPARSE (*why "torn" or "version"). */
static int snap_open(const struct snap_paths *p, struct snap_file *f,
		     const char **why)
{
	struct stat sb;
	uint64_t bom, sum = 0;

	*why = NULL;
	if ((f->fd = open(p->fin, O_RDONLY | O_CLOEXEC)) < 0)
		return SD_ENOTFOUND;
	*why = "torn";
	if (fstat(f->fd, &sb) != 0 || read_all(NULL, f->fd, f->hdr, SNAP_HDR))
		goto bad;
	memcpy(&bom, f->hdr + 88, 8);
	*why = "version";
	if (memcmp(f->hdr, SNAP_MAGIC, 8) ||
	    sd_le32_get(f->hdr + 8) != SNAP_VERSION ||
	    sd_le32_get(f->hdr + 12) != ST_OUTMAP_FP_BITS ||
	    sd_le32_get(f->hdr + 16) != SNAP_H_BITS || bom != SNAP_BOM ||
	    sd_le32_get(f->hdr + SNAP_SEGS_OFF) != ST_OM_SEGS)
		goto bad;
	f->tip = (int32_t)sd_le32_get(f->hdr + 20);
	f->cap = sd_le64_get(f->hdr + 72);
	f->n = sd_le64_get(f->hdr + 64);
	*why = "torn";
	for (size_t k = 0; k < ST_OM_SEGS; k++) {
		f->segcap[k] = sd_le32_get(f->hdr + SNAP_CAPS_OFF + 4 * k);
		if (f->segcap[k] < SNAP_MIN_CAP)
			goto bad;
		sum += f->segcap[k];
	}
	if (f->tip < 0 || sum != f->cap ||
	    (uint64_t)sb.st_size != SNAP_HDR + f->cap * 8 ||
	    f->n * 10 > f->cap * 9)
		goto bad;
	*why = NULL;
	return SD_OK;
bad:
	close(f->fd);
	f->fd = -1;
	return SD_EPARSE;
}

/* The slots of f into m: SD_OK, SD_EPARSE (*why "torn", "checksum") or
 * ECANCELED.  Each segment's entries are counted: none may be over 90%
 * full, and they add up to the header's n. */
static int snap_body(struct oracle_index *idx, struct snap_file *f,
		     struct st_outmap *m, const char **why)
{
	uint64_t ck = ck_hdr(f->hdr);
	bool over = false;
	int r = 0;

	st_outmap_free(m);
	*why = "torn";
	for (size_t k = 0; k < ST_OM_SEGS && r == 0; k++) {
		struct st_om_seg *g = &m->seg[k];

		g->cap = f->segcap[k];
		g->s = sd_xmalloc((size_t)g->cap * sizeof(uint64_t));
		m->cap += g->cap;
		r = read_all(idx, f->fd, g->s, g->cap * sizeof(uint64_t));
		if (r != 0)
			break;
		ck = ck_words(ck, g->s, g->cap);
		for (size_t i = 0; i < g->cap; i++)
			g->n += g->s[i] != 0;
		m->n += g->n;
		over |= (uint64_t)g->n * 10 > (uint64_t)g->cap * 9;
	}
	if (r == -2) {
		st_outmap_free(m);
		return ECANCELED;
	}
	if (r != 0)
		goto bad;
	*why = "checksum";
	if (ck != sd_le64_get(f->hdr + SNAP_CK_OFF))
		goto bad;
	*why = "torn";
	if (m->n != f->n || over)
		goto bad;
	m->key = sd_le64_get(f->hdr + 56);
	*why = NULL;
	return SD_OK;
bad:
	st_outmap_free(m);
	return SD_EPARSE;
}

/* Whether the snapshot of tip s (hash) fits the index as of txn (tip,
 * undo_from): 0 and *why NULL when it does, *why the reason when not,
 * else an LMDB code. */
static int snap_fits(struct oracle_index *idx, MDB_txn *txn, int32_t s,
		     const uint8_t *hash, int32_t tip, const char **why)
{
	uint32_t from;
	MDB_val v;
	int rc;

	*why = "ahead_of_tip";
	if (tip < 0 || s > tip)
		return 0;
	*why = "other_chain";
	rc = st_get_h(txn, idx->dbi[ST_BLOCKS], (uint32_t)s, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (v.mv_size != ST_BLOCK_VAL || memcmp(v.mv_data, hash, 32))
		return 0;
	*why = "undo_pruned";
	if ((rc = st_undo_from(idx, txn, &from)))
		return rc;
	if (s < tip && (uint32_t)s + 1 < from)
		return 0;
	*why = NULL;
	return 0;
}

/* The outputs of heights <= s that the undo row of h says h spent, out
 * of m. */
static int replay_undo(struct oracle_index *idx, MDB_txn *txn,
		       struct st_outmap *m, uint32_t s, uint32_t h)
{
	const uint8_t *p;
	size_t off = 0, end;
	MDB_val v;
	int rc = st_get_h(txn, idx->dbi[ST_UNDO], h, &v);

	if (rc == MDB_NOTFOUND)
		return 0;       /* it spent no tracked output */
	if (rc)
		return rc;
	p = v.mv_data;
	while (off < v.mv_size) {
		const uint8_t *key = p + off + 3;
		size_t klen;

		if ((rc = st_undo_entry_end(p, v.mv_size, off, &end)))
			return rc;
		klen = ((size_t)p[off + 1] << 8) | p[off + 2];
		if (p[off] != ST_UNDO_SPENT || klen != ST_OUTPOINT_KEY)
			return MDB_CORRUPTED;
		if (sd_be32_get(key) <= s &&
		    !st_outmap_take(m, st_outmap_key_fp(key),
				    sd_be32_get(key)))
			return MDB_CORRUPTED;   /* not in the snapshot */
		off = end;
	}
	return 0;
}

/* m (the map of tip s) brought to tip: heights s+1..tip replayed. */
static int replay(struct oracle_index *idx, MDB_txn *txn,
		  struct st_outmap *m, int32_t s, int32_t tip)
{
	int rc;

	for (int32_t h = s + 1; h <= tip; h++) {
		if (atomic_load_explicit(&idx->om_cancel,
					 memory_order_relaxed))
			return ECANCELED;
		if ((rc = st_outmap_load_height(idx, txn, m, (uint32_t)h)) ||
		    (rc = replay_undo(idx, txn, m, (uint32_t)s, (uint32_t)h)))
			return rc;
	}
	return 0;
}

/* The snapshot into m, replayed up to tip: 0, or *why (then m is empty
 * and the caller scans), or ECANCELED / an LMDB code. */
static int from_snapshot(struct oracle_index *idx, MDB_txn *txn,
			 const struct snap_paths *p, struct st_outmap *m,
			 struct st_om_source *src)
{
	struct snap_file f;
	int32_t tip;
	uint8_t thash[32];
	int rc;

	if ((rc = snap_open(p, &f, &src->why)) != SD_OK)
		return 0;
	src->snap_tip = f.tip;
	if ((rc = st_meta_tip(idx, txn, &tip, thash)) ||
	    (rc = snap_fits(idx, txn, f.tip, f.hdr + 24, tip, &src->why)) ||
	    src->why)
		goto out;
	if ((rc = snap_body(idx, &f, m, &src->why)) != SD_OK) {
		rc = rc == ECANCELED ? rc : 0;
		goto out;
	}
	rc = replay(idx, txn, m, f.tip, tip);
	if (rc == ECANCELED)
		goto out;
	if (rc == MDB_CORRUPTED || rc == EOVERFLOW) {
		src->why = "replay";
		rc = 0;
		goto out;
	}
	if (rc == 0) {
		src->replayed = (uint32_t)(tip - f.tip);
		src->source = tip == f.tip ? "snapshot" : "snapshot+replay";
	}
out:
	if (rc || src->why)
		st_outmap_free(m);
	close(f.fd);
	return rc;
}

int st_snap_build(struct oracle_index *idx, struct st_outmap *m,
		  struct st_om_source *src)
{
	struct snap_paths *p = sd_xmalloc(sizeof(*p));
	MDB_txn *txn;
	int rc;

	*src = (struct st_om_source){ .source = "scan", .snap_tip = -1 };
	st_outmap_free(m);
	if ((rc = snap_paths_make(p, idx->path)) != SD_OK) {
		free(p);
		return rc;
	}
	/* a temp file is a write that did not finish (ours: dead) */
	(void)unlink(p->tmp);
	if ((rc = st_read_begin(idx, &txn)) != SD_OK) {
		free(p);
		return rc;
	}
	rc = from_snapshot(idx, txn, p, m, src);
	if (rc == 0 && src->why) {
		sd_log_warn("oracle", "outpoint_map_snapshot_unusable",
			    "reason=%s snapshot_tip=%d note=rebuilding",
			    src->why, src->snap_tip);
		(void)unlink(p->fin);   /* of no use from now on */
	}
	if (rc == 0 && strcmp(src->source, "scan") == 0)
		rc = st_outmap_load(idx, txn, m);
	st_read_end(idx, txn);
	free(p);
	return rc;
}

/* ------------------------------------------------------- background */

unsigned st_snap_every(const struct oracle_index *idx)
{
	const char *e = getenv("SIGNETD_OUTMAP_SNAPSHOT_BLOCKS");
	uint32_t half = st_undo_depth(idx) / 2;
	uint64_t v;

	if (e && sd_parse_u64(e, 1u << 24, &v) == SD_OK)
		return (unsigned)v;
	return half < SNAP_EVERY_MAX ? half : SNAP_EVERY_MAX;
}

uint64_t st_snap_min_gap_ns(void)
{
	const char *e = getenv("SIGNETD_OUTMAP_SNAPSHOT_SECONDS");
	uint64_t v;

	if (e && sd_parse_u64(e, 1u << 24, &v) == SD_OK)
		return v * 1000000000ull;
	if (getenv("SIGNETD_OUTMAP_SNAPSHOT_BLOCKS"))
		return 0;
	return SNAP_MIN_GAP_S * 1000000000ull;
}

/* The forked child: write, report, _exit.  Nothing here allocates, locks
 * or logs (another thread of the parent may have held a lock at the
 * fork). */
static void bg_child(struct st_outmap *m, uint8_t *hdr,
		     const struct snap_paths *p, pid_t parent, int wfd)
{
	struct bg_result r = { 0 };
	uint64_t t0 = sd_mono_ns();
	int err = 0;

	if (st_snap_child_hook)
		st_snap_child_hook();
	r.rc = snap_write(m, hdr, p, parent, &err);
	r.err = err;
	r.ns = sd_mono_ns() - t0;
	if (write(wfd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(2);
	_exit(r.rc == SD_OK ? 0 : 1);
}

void st_snap_stat(struct oracle_index *idx, int32_t tip, bool failed)
{
	pthread_mutex_lock(&idx->stats_mu);
	if (tip >= -1)
		idx->stat_snap_tip = tip;
	idx->stat_snap_failures += failed;
	pthread_mutex_unlock(&idx->stats_mu);
}

/* A fork (or its pipe) failed: counted, logged once per errno. */
static void fork_failed(struct oracle_index *idx, const char *op, int err)
{
	struct st_snap_bg *g = &idx->snap;
	unsigned i;

	g->fork_failures++;
	st_snap_stat(idx, -2, true);
	for (i = 0; i < g->n_fail_kinds; i++)
		if (g->fail_kinds[i] == err)
			return;
	if (g->n_fail_kinds < sizeof(g->fail_kinds) / sizeof(g->fail_kinds[0]))
		g->fail_kinds[g->n_fail_kinds++] = err;
	sd_log_warn("oracle", "outpoint_map_fork_failed", "op=%s errno=%d "
		    "failures=%llu note=no_background_snapshot", op, err,
		    (unsigned long long)g->fork_failures);
}

static void bg_start(struct oracle_index *idx, int32_t tip,
		     const uint8_t hash[32])
{
	struct st_snap_bg *g = &idx->snap;
	struct snap_paths p;
	uint8_t *hdr;
	pid_t pid, me = getpid();
	uint64_t t0;
	int fds[2], err;

	g->base = tip;
	g->rebase = false;
	if (snap_paths_make(&p, idx->path) != SD_OK)
		return;
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
		fork_failed(idx, "pipe", errno);
		return;
	}
	hdr = sd_xmalloc(SNAP_HDR);     /* the child's copy is its own */
	hdr_fill(hdr, &idx->om, tip, hash);
	t0 = sd_mono_ns();
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		bg_child(&idx->om, hdr, &p, me, fds[1]);
	}
	err = errno;
	g->job_fork_ms = (double)(sd_mono_ns() - t0) / 1e6;
	free(hdr);
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		fork_failed(idx, "fork", err);
		return;
	}
	g->pid = pid;
	g->fd = fds[0];
	g->job_tip = tip;
	g->job_n = idx->om.n;
	g->job_bytes = SNAP_HDR + idx->om.cap * sizeof(uint64_t);
	g->job_t0 = t0;
	g->last_fork_ns = t0;
	g->started++;
	sd_log_info("oracle", "outpoint_map_save_started", "tip=%d "
		    "outpoints=%zu bytes=%zu fork_ms=%.2f pid=%ld", tip,
		    g->job_n, g->job_bytes, g->job_fork_ms, (long)pid);
}

/* Reap the child if it is done (wait: until it is): true when no child
 * is left.  Its result comes through the pipe (EOF without one: it died),
 * so it is known even where SIGCHLD is ignored. */
static bool bg_reap(struct oracle_index *idx, bool wait)
{
	struct st_snap_bg *g = &idx->snap;
	struct bg_result r;
	ssize_t got;
	int st = 0;

	if (g->pid == 0)
		return true;
	for (;;) {
		struct pollfd pf = { .fd = g->fd, .events = POLLIN };

		got = read(g->fd, &r, sizeof(r));
		if (got >= 0 || (errno != EINTR && errno != EAGAIN))
			break;
		if (errno == EAGAIN) {
			if (!wait)
				return false;
			(void)poll(&pf, 1, -1);
		}
	}
	close(g->fd);
	while (waitpid(g->pid, &st, 0) < 0 && errno == EINTR)
		;
	if (got == (ssize_t)sizeof(r) && r.rc == SD_OK) {
		g->tip = g->job_tip;
		g->saved++;
		st_snap_stat(idx, g->tip, false);
		sd_log_info("oracle", "outpoint_map_saved", "outpoints=%zu "
			    "bytes=%zu tip=%d ms=%.1f fork_ms=%.2f "
			    "source=background", g->job_n, g->job_bytes,
			    g->job_tip, (double)r.ns / 1e6, g->job_fork_ms);
	} else if (got == (ssize_t)sizeof(r)) {
		st_snap_stat(idx, -2, true);
		sd_log_warn("oracle", "outpoint_map_save_failed", "tip=%d "
			    "err=\"%s\" errno=%d source=background "
			    "note=older_snapshot_kept", g->job_tip,
			    sd_strerror(r.rc), r.err);
	} else {
		st_snap_stat(idx, -2, true);
		sd_log_warn("oracle", "outpoint_map_save_failed", "tip=%d "
			    "err=child_died signal=%d exit=%d "
			    "source=background note=older_snapshot_kept",
			    g->job_tip, WIFSIGNALED(st) ? WTERMSIG(st) : 0,
			    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	g->pid = 0;
	g->fd = -1;
	return true;
}

void st_snap_tick(struct oracle_index *idx, int32_t tip,
		  const uint8_t hash[32])
{
	struct st_snap_bg *g = &idx->snap;
	bool ready;

	/* A disconnect below the last snapshot: it may be of a chain left
	 * behind, so a new one is due as soon as blocks are connected again
	 * (not at each disconnect of a deep reorg). */
	if (tip >= 0 && tip < g->base) {
		g->base = tip;
		g->rebase = true;
	}
	if (!bg_reap(idx, false) || g->closing || g->every == 0 || tip < 0)
		return;
	if (g->rebase ? tip <= g->base :
	    (int64_t)tip < (int64_t)(g->base > 0 ? g->base : 0) + g->every)
		return;
	if (g->last_fork_ns && sd_mono_ns() - g->last_fork_ns < g->min_gap_ns)
		return;
	pthread_mutex_lock(&idx->om_mu);
	ready = idx->om_state == ST_OM_READY;
	pthread_mutex_unlock(&idx->om_mu);
	if (!ready || idx->wtxn || idx->om.cap == 0 || idx->om.log_n != 0)
		return;
	bg_start(idx, tip, hash);
}

void st_snap_wait(struct oracle_index *idx)
{
	(void)bg_reap(idx, true);
}

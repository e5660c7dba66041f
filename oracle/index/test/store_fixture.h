/* store_fixture.h - the shared setup of the test_store_<check>.c tests (the
 * checks of the former one-process test_store.c, each now its own CTest
 * test that builds the state it needs): regtest-a loaded from
 * tests/data/regtest-a/blocks.hex, a fresh temp dir per process with fresh
 * datadirs in it, the full index config, and the 400-block index built
 * one LMDB txn a block.  Include after check.h and oracle.h.
 */
#ifndef SIGNETD_ORACLE_TEST_STORE_FIXTURE_H
#define SIGNETD_ORACLE_TEST_STORE_FIXTURE_H

#include <stddef.h>
#include <sys/resource.h>

#include "../oracle.h"

#define SFX_TIP 400        /* regtest-a: heights 1..400 */
#define SFX_TWEAKS 2048    /* its BIP352 tweaks */

/* Make $TMPDIR/<name>.XXXXXX and load regtest-a (checks 400 blocks). */
void sfx_begin(const char *name);
/* Free the chain and remove the temp dir. */
void sfx_end(void);

/* Block at height h (1..SFX_TIP), prevouts attached; mutable. */
struct btc_block *sfx_block(int h);
/* tests/data/regtest-a/<name> (a static buffer). */
const char *sfx_testdata(const char *name);
/* A new, not yet existing datadir under the temp dir. */
void sfx_new_datadir(char *out, size_t n);
/* Every index kind on, regtest, 2 tweak threads, start height 1. */
struct oracle_config sfx_full_cfg(const char *dir);

/* oracle_index_open that must succeed. */
struct oracle_index *sfx_open(const struct oracle_config *c);
/* Connect heights from..to, each must succeed. */
void sfx_connect(struct oracle_index *idx, int from, int to);
/* The canonical dump (oracle_store_dump); the caller frees it. */
char *sfx_dump(struct oracle_index *idx);
/* A full disk for the index in dir (RLIMIT_FSIZE just above its data
 * file, SIGXFSZ ignored); *old gets the limit to restore. */
void sfx_limit_file(const char *dir, struct rlimit *old);

/* A new datadir (its path in dir[n]) with the full index of heights
 * 1..SFX_TIP, one txn a block; checks tip, blocks and tweaks counted. */
struct oracle_index *sfx_full_index(char *dir, size_t n);
/* The dump of a fresh full index (closed again); the caller frees it. */
char *sfx_full_dump(void);

/* Lower-case hex of p[0..n) into out[2n + 1]. */
void sfx_hex(char *out, const uint8_t *p, size_t n);

#endif

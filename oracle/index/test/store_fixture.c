/* store_fixture.c - see store_fixture.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../common/util.h"
#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "../store_int.h"
#include "store_fixture.h"
#include "store_testlib.h"
#include "store_testutil.h"

static struct rta_chain chain;
static char tmpdir[256];
static int dir_seq;

void sfx_begin(const char *name)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/%s.XXXXXX", tmp ? tmp : "/tmp",
		 name);
	CHECK(mkdtemp(tmpdir));
	CHECK_EQ_INT(rta_load(sfx_testdata("blocks.hex"), 0, &chain), 0);
	CHECK_EQ_INT(chain.n, SFX_TIP);
}

void sfx_end(void)
{
	char cmd[600];

	rta_free(&chain);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	CHECK_EQ_INT(system(cmd), 0);
}

struct btc_block *sfx_block(int h)
{
	CHECK(h >= 1 && (size_t)h <= chain.n);
	return chain.b[h - 1];
}

const char *sfx_testdata(const char *name)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), "%s/regtest-a/%s", check_testdata_dir(),
		 name);
	return buf;
}

void sfx_new_datadir(char *out, size_t n)
{
	snprintf(out, n, "%s/d%d", tmpdir, dir_seq++);
}

struct oracle_config sfx_full_cfg(const char *dir)
{
	struct oracle_config c = {
		.datadir = dir, .network = "regtest",
		.tweaks_full_basic = true,
		.tweaks_full_with_dust_filter = true,
		.tweaks_cut_through_with_dust_filter = true,
		.tweak_threads = 2, .start_height = 1,
	};

	return c;
}

struct oracle_index *sfx_open(const struct oracle_config *c)
{
	return stu_open_ok(c);
}

void sfx_connect(struct oracle_index *idx, int from, int to)
{
	stu_connect_range(idx, &chain, from, to);
}

char *sfx_dump(struct oracle_index *idx)
{
	return stu_dump(idx);
}

void sfx_limit_file(const char *dir, struct rlimit *old)
{
	stu_limit_file(dir, old);
}

struct oracle_index *sfx_full_index(char *dir, size_t n)
{
	struct oracle_config c;
	struct oracle_index *idx;
	struct oracle_stats st;

	sfx_new_datadir(dir, n);
	c = sfx_full_cfg(dir);
	idx = stu_open_ok(&c);
	stu_connect_range(idx, &chain, 1, SFX_TIP);
	oracle_index_stats(idx, &st);
	CHECK_EQ_INT(st.tip_height, SFX_TIP);
	CHECK_EQ_INT(st.blocks_connected, SFX_TIP);
	CHECK_EQ_INT(st.tweaks_indexed, SFX_TWEAKS);
	return idx;
}

char *sfx_full_dump(void)
{
	char dir[512], *d;
	struct oracle_index *idx = sfx_full_index(dir, sizeof(dir));

	d = stu_dump(idx);
	CHECK(strlen(d) > 1000);
	oracle_index_close(idx);
	return d;
}

void sfx_hex(char *out, const uint8_t *p, size_t n)
{
	sd_hex_encode(out, p, n);
}

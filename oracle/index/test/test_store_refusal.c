/* test_store_refusal.c - an existing regtest-a index (closed) is refused
 * when opened for another network (SD_EVERSION), with another index kind
 * (SD_EINVAL) or after its format version changed to 99 (SD_EVERSION),
 * each with its message, no handle returned, and the files untouched: the
 * right config still opens it at the same tip.
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../tests/lib/check.h"
#include "../oracle.h"
#include "store_fixture.h"

static void set_format_version(const char *dir, uint8_t v3)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 7, "version" }, v;
	uint8_t ver[4] = { 0, 0, 0, v3 };
	char p[600];

	snprintf(p, sizeof(p), "%s/index", dir);
	CHECK(!mdb_env_create(&env));
	CHECK(!mdb_env_set_maxdbs(env, 16));
	CHECK(!mdb_env_open(env, p, 0, 0640));
	CHECK(!mdb_txn_begin(env, NULL, 0, &txn));
	CHECK(!mdb_dbi_open(txn, "meta", 0, &dbi));
	v.mv_size = 4;
	v.mv_data = ver;
	CHECK(!mdb_put(txn, dbi, &k, &v, 0));
	CHECK(!mdb_txn_commit(txn));
	mdb_env_close(env);
}

int main(void)
{
	char dir[512], err[SD_ERRLEN], *d400, *d;
	struct oracle_index *a, *b;
	struct oracle_config ca;
	int32_t th;
	uint8_t hash[32];

	sfx_begin("test_store_refusal");
	a = sfx_full_index(dir, sizeof(dir));
	d400 = sfx_dump(a);
	oracle_index_close(a);
	ca = sfx_full_cfg(dir);

	/* network and index-kind mismatch refused */
	ca.network = "signet";
	b = (struct oracle_index *)1;
	CHECK_EQ_INT(oracle_index_open(&ca, &b, err), SD_EVERSION);
	CHECK(b == NULL && strstr(err, "network"));
	ca.network = "regtest";
	ca.tweaks_cut_through_with_dust_filter = false;
	b = (struct oracle_index *)1;
	CHECK_EQ_INT(oracle_index_open(&ca, &b, err), SD_EINVAL);
	CHECK(b == NULL);
	CHECK(strstr(err, "tweaks_cut_through_with_dust_filter=1"));
	ca.tweaks_cut_through_with_dust_filter = true;

	/* the refusals changed nothing */
	a = sfx_open(&ca);
	CHECK_EQ_INT(oracle_index_tip(a, &th, hash), SD_OK);
	CHECK_EQ_INT(th, SFX_TIP);
	CHECK(!memcmp(hash, sfx_block(SFX_TIP)->hash, 32));
	d = sfx_dump(a);
	CHECK_STREQ(d, d400);
	free(d);
	oracle_index_close(a);

	/* format version mismatch refused */
	set_format_version(dir, 99);
	b = (struct oracle_index *)1;
	CHECK_EQ_INT(oracle_index_open(&ca, &b, err), SD_EVERSION);
	CHECK(b == NULL);
	CHECK(strstr(err, "format version 99"));

	free(d400);
	sfx_end();
	printf("test_store_refusal: ok\n");
	return 0;
}

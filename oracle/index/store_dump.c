/* store_dump.c - a canonical text dump of every table of the index (one
 * "table keyhex valhex" line per row, tables in st_table order, rows in
 * key order), so tests can compare two indexes byte for byte whatever
 * their page layout.
 */
#include <stdlib.h>

#include "../../common/util.h"
#include "store_int.h"

static void put_hex(FILE *f, const uint8_t *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		fputc(hx[p[i] >> 4], f);
		fputc(hx[p[i] & 15], f);
	}
}

int oracle_store_dump(struct oracle_index *idx, FILE *f)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, t;

	if ((rc = st_read_begin(idx, &txn)) != SD_OK)
		return rc;
	for (t = 0; t < ST_N && rc == SD_OK; t++) {
		if (mdb_cursor_open(txn, idx->dbi[t], &c)) {
			rc = SD_EDB;
			break;
		}
		for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			fputs(st_table_name[t], f);
			fputc(' ', f);
			put_hex(f, k.mv_data, k.mv_size);
			fputc(' ', f);
			put_hex(f, v.mv_data, v.mv_size);
			fputc('\n', f);
		}
		rc = rc == MDB_NOTFOUND ? SD_OK : SD_EDB;
		mdb_cursor_close(c);
	}
	st_read_end(idx, txn);
	if (rc == SD_OK && ferror(f))
		rc = SD_EIO;
	return rc;
}

/* store_bits.c - the spent bitmaps (format 3).  A `utxos` row never
 * changes after its block is connected: whether one of its outputs is
 * spent is bit `ord` of its height's `spent_bits` value, `ord` being the
 * output's rank within the height (the row holds its first output's).  A block's spends touch one small value
 * per creating height instead of one `utxos` leaf page per spent output,
 * which is most of what a commit writes on a live node.
 */
#include <string.h>

#include "../../common/util.h"
#include "store_int.h"

int st_bits_get(struct oracle_index *idx, MDB_txn *txn, uint32_t h,
		MDB_val *v)
{
	return st_get_h(txn, idx->dbi[ST_SPENT_BITS], h, v);
}

int st_bits_set(struct oracle_index *idx, MDB_txn *txn, uint32_t h,
		uint32_t ord, bool spent)
{
	uint8_t *bits;
	MDB_val v;
	bool was;
	int rc;

	if ((rc = st_bits_get(idx, txn, h, &v)))
		return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
	if (!st_bit_get(v.mv_data, v.mv_size, ord, &was))
		return MDB_CORRUPTED;
	if (was == spent)
		return 0;
	/* copy: the value may sit on a page this txn does not own yet */
	idx->sc.bits.len = 0;
	sd_buf_put(&idx->sc.bits, v.mv_data, v.mv_size);
	bits = idx->sc.bits.p;
	bits[ord >> 3] ^= (uint8_t)(1u << (ord & 7));
	return st_put_h(txn, idx->dbi[ST_SPENT_BITS], h, bits, idx->sc.bits.len,
			0);
}

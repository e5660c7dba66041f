/* prepare.c - the parts of a block's index entry that depend on the block
 * alone (tweak infos, new-utxos and spent filters, spent index), computed
 * on the caller's thread: during a sync the fetch threads prepare blocks
 * ahead, and the index writer only writes (oracle_index_connect_prepared).
 */
#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"
#include "compute_int.h"
#include "oracle.h"

void oracle_prepared_free(struct oracle_prepared *p)
{
	if (!p)
		return;
	free(p->infos);
	free(p->fnew);
	free(p->fspent);
	free(p->spent);
	memset(p, 0, sizeof(*p));
}

int oracle_block_filters(const struct btc_block *b,
			 struct oracle_prepared *p)
{
	int rc = oracle_filter_new_utxos(b, &p->fnew, &p->fnew_len);

	if (rc == SD_OK)
		rc = oracle_spent_index(b, &p->spent, &p->n_spent);
	if (rc == SD_OK)
		rc = oracle_gcs_build(b->hash, p->spent, 8, p->n_spent,
				      &p->fspent, &p->fspent_len);
	if (rc != SD_OK) {
		free(p->fnew);
		free(p->fspent);
		free(p->spent);
		p->fnew = p->fspent = p->spent = NULL;
		p->fnew_len = p->fspent_len = p->n_spent = 0;
		return rc;
	}
	p->has_filters = true;
	return SD_OK;
}

int oracle_block_prepare(const struct btc_block *b, bool filters,
			 struct oracle_prepared *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (!b || b->n_tx == 0)
		return SD_EINVAL;
	out->infos = sd_xmalloc(b->n_tx * sizeof(*out->infos));
	rc = oracle_block_compute(NULL, b, out->infos);
	if (rc == SD_OK && filters)
		rc = oracle_block_filters(b, out);
	if (rc != SD_OK)
		oracle_prepared_free(out);
	return rc;
}

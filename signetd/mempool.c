/* mempool.c - prevouts for ZMQ rawtx transactions, and mempool trimming.
 *
 * A mempool transaction arrives without the outputs it spends, and BIP352
 * needs them.  For each input we ask the node:
 *   gettxout <txid> <n> false   the chain UTXO set ignoring the mempool (an
 *                               output spent by this very transaction is
 *                               "spent" in the mempool view, so the default
 *                               include_mempool=true would hide it);
 *   getrawtransaction <txid> 1  when the parent is itself unconfirmed (works
 *                               for mempool transactions without -txindex).
 * Transactions the node no longer has in its mempool (ZMQ rawtx repeats
 * the transactions of each new block) are skipped first, with one
 * getmempoolentry.  A transaction whose prevouts cannot all be found is
 * skipped (logged at debug): mempool tweaks are best effort, blocks are
 * authoritative.
 */
#include "mempool.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

struct sd_mempool {
	struct rpc_client *rpc;
	struct oracle_index *idx;
	uint64_t added, skipped;
};

int sd_mempool_new(const struct rpc_config *rpc, struct oracle_index *idx,
		   struct sd_mempool **out)
{
	struct sd_mempool *m = sd_xcalloc(1, sizeof(*m));
	int rc = rpc_client_new(rpc, &m->rpc);

	*out = NULL;
	if (rc != SD_OK) {
		free(m);
		return rc;
	}
	m->idx = idx;
	*out = m;
	return SD_OK;
}

void sd_mempool_free(struct sd_mempool *m)
{
	if (!m)
		return;
	rpc_client_free(m->rpc);
	free(m);
}

static json_t *call(struct sd_mempool *m, const char *method, json_t *params)
{
	char *pj = json_dumps(params, JSON_COMPACT), *res = NULL;
	char err[SD_ERRLEN];
	int code = 0, rc;
	json_t *j = NULL;

	json_decref(params);
	if (!pj)
		return NULL;
	rc = rpc_call(m->rpc, method, pj, &res, &code, err);
	free(pj);
	if (rc == SD_OK) {
		j = json_loads(res, JSON_DECODE_ANY, NULL);
		free(res);
	}
	return j;
}

/* Fill value/script of one output (as gettxout or a getrawtransaction
 * vout entry shows it).  *spk is malloc'd. */
static bool output_from_json(json_t *o, int64_t *value, uint8_t **spk,
			     size_t *spk_len)
{
	json_t *v = json_object_get(o, "value");
	const char *hex = json_string_value(json_object_get(
		json_object_get(o, "scriptPubKey"), "hex"));
	size_t n;

	if (!json_is_number(v) || !hex)
		return false;
	n = strlen(hex);
	if (n % 2)
		return false;
	*spk = sd_xmalloc(n / 2 + 1);
	if (sd_hex_decode(*spk, n / 2, hex, n) != SD_OK) {
		free(*spk);
		*spk = NULL;
		return false;
	}
	*spk_len = n / 2;
	*value = llround(json_number_value(v) * 1e8);
	return true;
}

static bool find_prevout(struct sd_mempool *m, const struct rpc_txin *in,
			 int64_t *value, uint8_t **spk, size_t *spk_len)
{
	char txid[65];
	json_t *j, *o;
	bool ok = false;

	sd_hex_encode_rev(txid, in->prev_txid, 32);
	j = call(m, "gettxout", json_pack("[s,I,b]", txid,
					  (json_int_t)in->prev_vout, 0));
	if (j && json_is_object(j))
		ok = output_from_json(j, value, spk, spk_len);
	json_decref(j);
	if (ok)
		return true;
	j = call(m, "getrawtransaction", json_pack("[s,b]", txid, 1));
	o = json_array_get(json_object_get(j, "vout"), in->prev_vout);
	if (o)
		ok = output_from_json(o, value, spk, spk_len);
	json_decref(j);
	return ok;
}

void sd_mempool_tx(struct sd_mempool *m, const uint8_t *raw, size_t raw_len)
{
	struct rpc_block *blk = NULL;
	struct rpc_tx *tx;
	uint8_t **spks = NULL;
	bool any_taproot = false, complete = true;
	char txid[65], q[40];
	json_t *j;
	int rc;

	if (rpc_tx_parse(raw, raw_len, &blk) != SD_OK)
		return;
	tx = &blk->tx[0];
	for (size_t i = 0; i < tx->n_out; i++)
		any_taproot = any_taproot ||
			      oracle_spk_is_p2tr(&tx->out[i].spk);
	if (!any_taproot || tx->n_in == 0) {
		rpc_block_free(blk);
		return;
	}
	/* ZMQ rawtx also announces every transaction of a new block: only
	 * what the node holds in its mempool now is ours to index. */
	sd_hex_encode_rev(txid, tx->txid, 32);
	j = call(m, "getmempoolentry", json_pack("[s]", txid));
	if (!json_is_object(j)) {
		json_decref(j);
		rpc_block_free(blk);
		return;
	}
	json_decref(j);
	spks = sd_xcalloc(tx->n_in, sizeof(*spks));
	for (size_t i = 0; i < tx->n_in && complete; i++) {
		struct rpc_txin *in = &tx->in[i];
		size_t len = 0;

		if (!find_prevout(m, in, &in->prevout_value, &spks[i], &len)) {
			complete = false;
			break;
		}
		in->has_prevout = true;
		in->prevout_spk.data = spks[i];
		in->prevout_spk.len = len;
	}
	if (complete) {
		rc = oracle_mempool_add(m->idx, tx);
		if (rc == SD_OK)
			m->added++;
		else
			sd_log_debug("daemon", "mempool_tx_skipped",
				     "txid=%s err=%s", txid,
				     sd_log_q(q, sizeof(q), sd_strerror(rc)));
	} else {
		m->skipped++;
		sd_log_debug("daemon", "mempool_tx_skipped",
			     "txid=%s err=prevout_not_found", txid);
	}
	for (size_t i = 0; i < tx->n_in; i++)
		free(spks[i]);
	free(spks);
	rpc_block_free(blk);
}

static int cmp32(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

void sd_mempool_prune(struct sd_mempool *m)
{
	json_t *j = call(m, "getrawmempool", json_array());
	uint8_t (*keep)[32];
	size_t n = 0;

	if (!json_is_array(j)) {
		json_decref(j);
		return; /* node away: keep what we have */
	}
	keep = sd_xcalloc(json_array_size(j) + 1, 32);
	for (size_t i = 0; i < json_array_size(j); i++) {
		const char *h = json_string_value(json_array_get(j, i));

		if (h && sd_hash_from_hex(keep[n], h) == SD_OK)
			n++;
	}
	json_decref(j);
	qsort(keep, n, 32, cmp32);
	oracle_mempool_retain(m->idx, (const uint8_t(*)[32])keep, n);
	free(keep);
}

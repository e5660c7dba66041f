/* http_v2.c - the blindbit-oracle v2 HTTP routes (upstream master
 * 9ad4e46, internal/server/v2): /info, /tweaks/:h, /utxos/:h,
 * /spent-outputs/:h, /compute-index/:h, /full-block/:h, plus /block-height
 * and /block-hash/:h (upstream has their handlers, PR #59 routes them).
 * Shapes, orders, empty values and error envelopes as upstream; where
 * upstream is wrong (BIP352 tweak rules, /full-block dropping input-only
 * txs, issue #58) docs/compat.md says what we answer.  Bodies come from
 * the index's `v2` records (oracle_v2.h). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"
#include "http_int.h"
#include "../index/oracle_v2.h"

#define E_DB "could could not retrieve data from database" /* sic, v1 */
#define E_HEIGHT "could not parse block height"

/* {"success":false,"data":{"error":msg}} */
static void answer_v2_error(struct http_answer *a, unsigned status,
			    const char *msg)
{
	http_answer_json(a, status,
			 http_json_body(json_pack("{s:b,s:{s:s}}", "success",
						  0, "data", "error", msg)));
}

static const char *db_error(enum oracle_route_id id)
{
	switch (id) {
	case ORACLE_ROUTE_V2_TWEAKS:
		return "could not retrieve tweaks from database";
	case ORACLE_ROUTE_V2_UTXOS:
		return "could not retrieve utxos from database";
	case ORACLE_ROUTE_V2_SPENT_OUTPUTS:
		return "could not retrieve spent outputs from database";
	case ORACLE_ROUTE_V2_COMPUTE_INDEX:
		return "could not retrieve compute index from database";
	default:
		return "could not retrieve full block from database";
	}
}

static int txid_cmp(const void *a, const void *b)
{
	const struct oracle_v2_tx *x = a, *y = b;

	return memcmp(x->txid, y->txid, 32);
}

static json_t *utxo_light(const uint8_t *o, bool with_txid,
			  const uint8_t txid[32])
{
	json_t *u = json_object();

	if (with_txid)
		json_object_set_new(u, "txid", http_json_hex(txid, 32, true));
	json_object_set_new(u, "vout", json_integer(sd_be32_get(o)));
	json_object_set_new(u, "amount",
			    json_integer((json_int_t)sd_be64_get(o + 4)));
	json_object_set_new(u, "pubkey", http_json_hex(o + 12, 32, false));
	return u;
}

/* The "index" of route id over the record's txs (block order); NULL on a
 * malformed record. */
static json_t *render_index(enum oracle_route_id id, const uint8_t *rec,
			    size_t len)
{
	struct oracle_v2_tx tx, *txs = NULL;
	size_t off = 0, n = 0, cap = 0;
	json_t *ix = json_array();
	int rc;

	while ((rc = oracle_v2_next(rec, len, &off, &tx)) == 1) {
		switch (id) {
		case ORACLE_ROUTE_V2_TWEAKS:
			if (tx.has_tweak)
				json_array_append_new(ix, http_json_hex(tx.tweak, 33,
							      false));
			break;
		case ORACLE_ROUTE_V2_UTXOS:
			for (uint32_t i = 0; i < tx.n_out; i++)
				json_array_append_new(
					ix, utxo_light(tx.outs +
						       i * ORACLE_V2_OUT_LEN,
						       true, tx.txid));
			break;
		case ORACLE_ROUTE_V2_SPENT_OUTPUTS:
			for (uint32_t i = 0; i < tx.n_in; i++)
				json_array_append_new(
					ix, http_json_hex(tx.ins + i * ORACLE_V2_IN_LEN +
							36, 8, false));
			break;
		default: /* compute-index, full-block: sorted below */
			if (id == ORACLE_ROUTE_V2_COMPUTE_INDEX &&
			    !tx.has_tweak)
				break;
			if (n == cap) {
				cap = cap ? 2 * cap : 64;
				txs = sd_xrealloc(txs, cap * sizeof(*txs));
			}
			txs[n++] = tx;
			break;
		}
	}
	if (rc < 0) {
		free(txs);
		json_decref(ix);
		return NULL;
	}
	if (n)
		qsort(txs, n, sizeof(*txs), txid_cmp);
	for (size_t t = 0; t < n; t++) {
		json_t *it = json_object(), *l = json_array();

		json_object_set_new(it, "txid", http_json_hex(txs[t].txid, 32, true));
		json_object_set_new(it, "tweak", http_json_hex(txs[t].tweak, 33, false));
		if (id == ORACLE_ROUTE_V2_COMPUTE_INDEX) {
			for (uint32_t i = 0; i < txs[t].n_out; i++)
				json_array_append_new(
					l, http_json_hex(txs[t].outs +
						       i * ORACLE_V2_OUT_LEN +
						       12, 8, false));
			json_object_set_new(it, "outputs", l);
		} else {
			json_t *us = json_array();

			for (uint32_t i = 0; i < txs[t].n_in; i++) {
				const uint8_t *in =
					txs[t].ins + i * ORACLE_V2_IN_LEN;
				uint8_t op[36];

				/* display-order txid || vout BE32 */
				for (int k = 0; k < 32; k++)
					op[k] = in[31 - k];
				memcpy(op + 32, in + 32, 4);
				json_array_append_new(l, http_json_hex(op, 36, false));
			}
			for (uint32_t i = 0; i < txs[t].n_out; i++)
				json_array_append_new(
					us, utxo_light(txs[t].outs +
						       i * ORACLE_V2_OUT_LEN,
						       false, NULL));
			json_object_set_new(it, "inputs", l);
			json_object_set_new(it, "utxos", us);
		}
		json_array_append_new(ix, it);
	}
	free(txs);
	return ix;
}

static void block_route(struct oracle_http *h, const struct oracle_route *rt,
			struct http_answer *a)
{
	struct oracle_read *r;
	uint8_t bhash[32];
	const uint8_t *rec = NULL;
	size_t len = 0;
	json_t *j, *bid, *ix;
	bool known;
	int rc;

	if (!rt->height_ok) {
		answer_v2_error(a, 400, E_HEIGHT);
		return;
	}
	if (oracle_read_begin(h->idx, &r) != SD_OK) {
		answer_v2_error(a, 500, db_error(rt->id));
		return;
	}
	known = rt->height <= (uint32_t)INT32_MAX &&
		oracle_read_block(r, (int32_t)rt->height, bhash, NULL) ==
			SD_OK;
	if (known) {
		rc = oracle_read_v2(r, (int32_t)rt->height, &rec, &len);
		if (rc != SD_OK) {
			oracle_read_end(r);
			answer_v2_error(a, 500, db_error(rt->id));
			return;
		}
	}
	ix = render_index(rt->id, rec, len);
	oracle_read_end(r);
	if (!ix) {
		answer_v2_error(a, 500, db_error(rt->id));
		return;
	}
	/* upstream: a nil slice (null) for utxos and full-block */
	if (json_array_size(ix) == 0 &&
	    (rt->id == ORACLE_ROUTE_V2_UTXOS ||
	     rt->id == ORACLE_ROUTE_V2_FULL_BLOCK)) {
		json_decref(ix);
		ix = json_null();
	}
	bid = json_object();
	json_object_set_new(bid, "block_hash",
			    known ? http_json_hex(bhash, 32, true) : json_string(""));
	json_object_set_new(bid, "block_height", json_integer(rt->height));
	j = json_object();
	json_object_set_new(j, "block_identifier", bid);
	json_object_set_new(j, "index", ix);
	http_answer_json(a, 200, http_json_body(j));
}

static void tip_route(struct oracle_http *h, const struct oracle_route *rt,
		      struct http_answer *a)
{
	const struct oracle_config *oc = oracle_index_config(h->idx);
	struct oracle_read *r;
	uint8_t hash[32];
	int32_t tip = -1;
	bool known = false;

	if (oracle_read_begin(h->idx, &r) != SD_OK) {
		if (rt->id == ORACLE_ROUTE_INFO)
			http_answer_error(a, 500, E_DB);
		else
			answer_v2_error(a, 500, "could not fetch block");
		return;
	}
	if (oracle_read_tip(r, &tip, hash) != SD_OK)
		tip = -1;
	if (rt->id == ORACLE_ROUTE_BLOCK_HASH && rt->height_ok)
		known = rt->height <= (uint32_t)INT32_MAX &&
			oracle_read_block(r, (int32_t)rt->height, hash,
					  NULL) == SD_OK;
	oracle_read_end(r);
	if (tip < 0)
		tip = 0;   /* upstream v2: 0 on an empty DB */
	switch (rt->id) {
	case ORACLE_ROUTE_INFO:
		http_answer_json(a, 200, http_json_info(oc->network, tip, oc));
		return;
	case ORACLE_ROUTE_BLOCK_HEIGHT:
		http_answer_json(a, 200, http_json_block_height(tip));
		return;
	default: /* block-hash */
		if (!rt->height_ok) {
			answer_v2_error(a, 400, E_HEIGHT);
			return;
		}
		http_answer_json(a, 200, http_json_body(json_pack(
			"{s:o}", "block_hash",
			known ? http_json_hex(hash, 32, true) : json_string(""))));
		return;
	}
}

bool http_route_answer_v2(struct oracle_http *h,
			  const struct oracle_route *rt,
			  struct http_answer *a)
{
	switch (rt->id) {
	case ORACLE_ROUTE_INFO:
	case ORACLE_ROUTE_BLOCK_HEIGHT:
	case ORACLE_ROUTE_BLOCK_HASH:
		tip_route(h, rt, a);
		return true;
	case ORACLE_ROUTE_V2_TWEAKS:
	case ORACLE_ROUTE_V2_UTXOS:
	case ORACLE_ROUTE_V2_SPENT_OUTPUTS:
	case ORACLE_ROUTE_V2_COMPUTE_INDEX:
	case ORACLE_ROUTE_V2_FULL_BLOCK:
		block_route(h, rt, a);
		return true;
	default:
		return false;   /* extensions: the v1 handlers */
	}
}

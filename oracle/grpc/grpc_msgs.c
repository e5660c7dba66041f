/* grpc_msgs.c - the OracleService's messages (protobuf-c, generated from
 * oracle/grpc/proto/oracle_service.proto at build time): request decoding and
 * response packing from the index's v2 records.  Same data and orders as
 * the v2 HTTP routes (http_v2.c): compute-index / full-block items sorted by
 * internal txid, spent outputs in block order; hashes and txids in display
 * order; an unknown height has an empty block hash and no items. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/util.h"
#include "grpc.h"
#include "oracle_service.pb-c.h"
#include "../index/oracle_v2.h"

#define SVC "/blindbit.oracle.v1.OracleService/"

static const struct {
	const char *name;
	enum oracle_grpc_rpc rpc;
} rpcs[] = {
	{"GetInfo", ORACLE_GRPC_GET_INFO},
	{"GetBestBlockHeight", ORACLE_GRPC_GET_BEST_BLOCK_HEIGHT},
	{"GetBlockHashByHeight", ORACLE_GRPC_GET_BLOCK_HASH_BY_HEIGHT},
	{"StreamComputeIndex", ORACLE_GRPC_STREAM_COMPUTE_INDEX},
	{"StreamBlockScanDataShort", ORACLE_GRPC_STREAM_BLOCK_SCAN_DATA_SHORT},
	{"GetFullBlock", ORACLE_GRPC_GET_FULL_BLOCK},
	{"GetSpentOutputsShort", ORACLE_GRPC_GET_SPENT_OUTPUTS_SHORT},
};
#define N_RPCS (sizeof(rpcs) / sizeof(rpcs[0]))

enum oracle_grpc_rpc oracle_grpc_rpc_by_path(const char *path, size_t len)
{
	const size_t pl = sizeof(SVC) - 1;

	if (len <= pl || memcmp(path, SVC, pl))
		return ORACLE_GRPC_UNKNOWN;
	for (size_t i = 0; i < N_RPCS; i++)
		if (strlen(rpcs[i].name) == len - pl &&
		    !memcmp(path + pl, rpcs[i].name, len - pl))
			return rpcs[i].rpc;
	return ORACLE_GRPC_UNKNOWN;
}

const char *oracle_grpc_rpc_name(enum oracle_grpc_rpc rpc)
{
	for (size_t i = 0; i < N_RPCS; i++)
		if (rpcs[i].rpc == rpc)
			return rpcs[i].name;
	return "unknown";
}

bool oracle_grpc_rpc_streams(enum oracle_grpc_rpc rpc)
{
	return rpc == ORACLE_GRPC_STREAM_COMPUTE_INDEX ||
	       rpc == ORACLE_GRPC_STREAM_BLOCK_SCAN_DATA_SHORT;
}

int oracle_grpc_decode(enum oracle_grpc_rpc rpc, const uint8_t *buf,
		       size_t len, struct oracle_grpc_request *out)
{
	memset(out, 0, sizeof(*out));
	switch (rpc) {
	case ORACLE_GRPC_GET_INFO:
	case ORACLE_GRPC_GET_BEST_BLOCK_HEIGHT: {
		/* google.protobuf.Empty: any valid message (unknown fields
		 * are skipped, as every protobuf decoder does) */
		Google__Protobuf__Empty *m =
			google__protobuf__empty__unpack(NULL, len, buf);

		if (!m)
			return SD_EPARSE;
		google__protobuf__empty__free_unpacked(m, NULL);
		return SD_OK;
	}
	case ORACLE_GRPC_GET_BLOCK_HASH_BY_HEIGHT:
	case ORACLE_GRPC_GET_FULL_BLOCK:
	case ORACLE_GRPC_GET_SPENT_OUTPUTS_SHORT: {
		Blindbit__Oracle__V1__BlockHeightRequest *m =
			blindbit__oracle__v1__block_height_request__unpack(
				NULL, len, buf);

		if (!m)
			return SD_EPARSE;
		out->height = m->block_height;
		blindbit__oracle__v1__block_height_request__free_unpacked(
			m, NULL);
		return SD_OK;
	}
	case ORACLE_GRPC_STREAM_COMPUTE_INDEX:
	case ORACLE_GRPC_STREAM_BLOCK_SCAN_DATA_SHORT: {
		Blindbit__Oracle__V1__RangedBlockHeightRequestFiltered *m =
			blindbit__oracle__v1__ranged_block_height_request_filtered__unpack(
				NULL, len, buf);

		if (!m)
			return SD_EPARSE;
		out->start = m->start;
		out->end = m->end;
		out->dustlimit = m->dustlimit;
		out->cut_through = m->cut_through;
		blindbit__oracle__v1__ranged_block_height_request_filtered__free_unpacked(
			m, NULL);
		return SD_OK;
	}
	case ORACLE_GRPC_UNKNOWN:
		break;
	}
	return SD_EPARSE;
}

/* ---- packing ---- */

typedef Blindbit__Oracle__V1__ComputeIndexTxItem CiItem;
typedef Blindbit__Oracle__V1__FullTxItem FullItem;
typedef Blindbit__Oracle__V1__UTXOItemLight UtxoLight;

static uint8_t *pack_msg(const ProtobufCMessage *m, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *p = sd_xmalloc(n ? n : 1);

	*len = protobuf_c_message_pack(m, p);
	return p;
}

static int txid_cmp(const void *a, const void *b)
{
	const struct oracle_v2_tx *x = a, *y = b;

	return memcmp(x->txid, y->txid, 32);
}

/* Everything one message needs, copied out of the read view. */
struct block_data {
	bool known;
	uint8_t hash[32], dhash[32];
	struct oracle_v2_tx *txs;    /* pointers into `rec` */
	size_t n_txs;
	uint8_t *rec;                /* copy of the v2 record */
	size_t rec_len;
};

static void block_data_free(struct block_data *d)
{
	free(d->txs);
	free(d->rec);
}

/* Read height h (txs with a tweak only unless all_txs), sorted by txid
 * when sorted.  SD_OK, SD_ESTATE (no v2 record: migrated index), SD_EDB. */
static int block_read(struct oracle_index *idx, uint64_t h, bool all_txs,
		      bool sorted, struct oracle_grpc_chain *chk,
		      struct block_data *d)
{
	struct oracle_read *r;
	const uint8_t *rec;
	struct oracle_v2_tx tx;
	size_t off = 0, cap = 0;
	uint8_t hk[32];
	int rc;

	memset(d, 0, sizeof(*d));
	if ((rc = oracle_read_begin(idx, &r)) != SD_OK)
		return rc;
	if (chk && chk->last_height >= 0 &&
	    chk->last_height <= (int64_t)INT32_MAX) {
		rc = oracle_read_block(r, (int32_t)chk->last_height, hk, NULL);
		if (rc != SD_OK && rc != SD_ENOTFOUND) {
			oracle_read_end(r);
			return rc;
		}
		chk->diverged = rc == SD_ENOTFOUND ||
				memcmp(hk, chk->last_hash, 32) != 0;
	}
	if (h > (uint64_t)INT32_MAX) {
		oracle_read_end(r);
		return SD_OK;
	}
	rc = oracle_read_block(r, (int32_t)h, d->hash, NULL);
	if (rc == SD_ENOTFOUND) {
		oracle_read_end(r);
		return SD_OK;
	}
	if (rc == SD_OK)
		rc = oracle_read_v2(r, (int32_t)h, &rec, &d->rec_len);
	if (rc != SD_OK) {
		oracle_read_end(r);
		return rc;
	}
	d->known = true;
	for (int i = 0; i < 32; i++)
		d->dhash[i] = d->hash[31 - i];
	d->rec = sd_xmalloc(d->rec_len ? d->rec_len : 1);
	memcpy(d->rec, rec, d->rec_len);
	oracle_read_end(r);
	while ((rc = oracle_v2_next(d->rec, d->rec_len, &off, &tx)) == 1) {
		if (!all_txs && !tx.has_tweak)
			continue;
		if (d->n_txs == cap) {
			cap = cap ? 2 * cap : 64;
			d->txs = sd_xrealloc(d->txs, cap * sizeof(*d->txs));
		}
		d->txs[d->n_txs++] = tx;
	}
	if (rc < 0)
		return SD_EDB;
	if (sorted && d->n_txs)
		qsort(d->txs, d->n_txs, sizeof(*d->txs), txid_cmp);
	return SD_OK;
}

static void bid_fill(Blindbit__Oracle__V1__BlockIdentifier *bid,
		     const struct block_data *d, uint64_t h)
{
	blindbit__oracle__v1__block_identifier__init(bid);
	if (d->known) {
		bid->block_hash.data = (uint8_t *)d->dhash;
		bid->block_hash.len = 32;
	}
	bid->block_height = h;
}

/* Compute-index items of d (txs with a tweak, sorted): one allocation for
 * the items, one for their txids and output prefixes. */
static CiItem **ci_items(const struct block_data *d, CiItem **store,
			 uint8_t **bytes)
{
	size_t n_out = 0, pos = 0;
	CiItem *items, **ptrs;
	uint8_t *b;

	for (size_t i = 0; i < d->n_txs; i++)
		n_out += d->txs[i].n_out;
	items = sd_xmalloc((d->n_txs ? d->n_txs : 1) * sizeof(*items));
	ptrs = sd_xmalloc((d->n_txs ? d->n_txs : 1) * sizeof(*ptrs));
	b = sd_xmalloc(d->n_txs * (32 + 33) + n_out * 8 + 1);
	for (size_t i = 0; i < d->n_txs; i++) {
		const struct oracle_v2_tx *t = &d->txs[i];
		CiItem *it = &items[i];

		blindbit__oracle__v1__compute_index_tx_item__init(it);
		for (int k = 0; k < 32; k++)
			b[pos + k] = t->txid[31 - k];
		it->txid.data = b + pos;
		it->txid.len = 32;
		pos += 32;
		memcpy(b + pos, t->tweak, 33);
		it->tweak.data = b + pos;
		it->tweak.len = 33;
		pos += 33;
		it->outputs_short.data = b + pos;
		it->outputs_short.len = (size_t)t->n_out * 8;
		for (uint32_t o = 0; o < t->n_out; o++, pos += 8)
			memcpy(b + pos, t->outs + o * ORACLE_V2_OUT_LEN + 12,
			       8);
		ptrs[i] = it;
	}
	*store = items;
	*bytes = b;
	return ptrs;
}

static uint8_t *pack_compute_index(const struct block_data *d, uint64_t h,
				   bool scan, size_t *len)
{
	Blindbit__Oracle__V1__BlockIdentifier bid;
	CiItem *items, **ptrs;
	uint8_t *bytes, *out, *spent = NULL;

	bid_fill(&bid, d, h);
	ptrs = ci_items(d, &items, &bytes);
	if (!scan) {
		Blindbit__Oracle__V1__ComputeIndexResponse m =
			BLINDBIT__ORACLE__V1__COMPUTE_INDEX_RESPONSE__INIT;

		m.block_identifier = &bid;
		m.n_index = d->n_txs;
		m.index = ptrs;
		out = pack_msg(&m.base, len);
	} else {
		Blindbit__Oracle__V1__BlockScanDataShortResponse m =
			BLINDBIT__ORACLE__V1__BLOCK_SCAN_DATA_SHORT_RESPONSE__INIT;
		struct oracle_v2_tx tx;
		size_t off = 0, n = 0;

		/* every spend of the block, block order (not only the txs
		 * with a tweak) */
		spent = sd_xmalloc(d->rec_len + 1);
		while (oracle_v2_next(d->rec, d->rec_len, &off, &tx) == 1)
			for (uint32_t i = 0; i < tx.n_in; i++, n++)
				memcpy(spent + n * 8,
				       tx.ins + i * ORACLE_V2_IN_LEN + 36, 8);
		m.block_identifier = &bid;
		m.n_comp_index = d->n_txs;
		m.comp_index = ptrs;
		m.spent_outputs.data = spent;
		m.spent_outputs.len = n * 8;
		out = pack_msg(&m.base, len);
	}
	free(spent);
	free(ptrs);
	free(items);
	free(bytes);
	return out;
}

static uint8_t *pack_full_block(const struct block_data *d, uint64_t h,
				size_t *len)
{
	Blindbit__Oracle__V1__FullBlockResponse m =
		BLINDBIT__ORACLE__V1__FULL_BLOCK_RESPONSE__INIT;
	Blindbit__Oracle__V1__BlockIdentifier bid;
	size_t n_out = 0, n_in = 0, pos = 0, u = 0;
	FullItem *items, **ptrs;
	UtxoLight *utxos, **uptrs;
	uint8_t *b, *out;

	bid_fill(&bid, d, h);
	for (size_t i = 0; i < d->n_txs; i++) {
		n_out += d->txs[i].n_out;
		n_in += d->txs[i].n_in;
	}
	items = sd_xmalloc((d->n_txs ? d->n_txs : 1) * sizeof(*items));
	ptrs = sd_xmalloc((d->n_txs ? d->n_txs : 1) * sizeof(*ptrs));
	utxos = sd_xmalloc((n_out ? n_out : 1) * sizeof(*utxos));
	uptrs = sd_xmalloc((n_out ? n_out : 1) * sizeof(*uptrs));
	b = sd_xmalloc(d->n_txs * (32 + 33) + n_in * 36 + 1);
	for (size_t i = 0; i < d->n_txs; i++) {
		const struct oracle_v2_tx *t = &d->txs[i];
		FullItem *it = &items[i];

		blindbit__oracle__v1__full_tx_item__init(it);
		for (int k = 0; k < 32; k++)
			b[pos + k] = t->txid[31 - k];
		it->txid.data = b + pos;
		it->txid.len = 32;
		pos += 32;
		memcpy(b + pos, t->tweak, 33);   /* zero without a tweak */
		it->tweak.data = b + pos;
		it->tweak.len = 33;
		pos += 33;
		it->inputs.data = b + pos;
		it->inputs.len = (size_t)t->n_in * 36;
		for (uint32_t k = 0; k < t->n_in; k++, pos += 36) {
			const uint8_t *in = t->ins + k * ORACLE_V2_IN_LEN;

			for (int j = 0; j < 32; j++)
				b[pos + j] = in[31 - j];
			memcpy(b + pos + 32, in + 32, 4);
		}
		it->n_utxos = t->n_out;
		it->utxos = uptrs + u;
		for (uint32_t o = 0; o < t->n_out; o++, u++) {
			const uint8_t *op = t->outs + o * ORACLE_V2_OUT_LEN;

			blindbit__oracle__v1__utxoitem_light__init(&utxos[u]);
			utxos[u].vout = sd_be32_get(op);
			utxos[u].amount = sd_be64_get(op + 4);
			utxos[u].pubkey.data = (uint8_t *)op + 12;
			utxos[u].pubkey.len = 32;
			uptrs[u] = &utxos[u];
		}
		ptrs[i] = it;
	}
	m.block_identifier = &bid;
	m.n_index = d->n_txs;
	m.index = ptrs;
	out = pack_msg(&m.base, len);
	free(b);
	free(uptrs);
	free(utxos);
	free(ptrs);
	free(items);
	return out;
}

static int pack_tip(struct oracle_index *idx, enum oracle_grpc_rpc rpc,
		    uint64_t height, uint8_t **out, size_t *len)
{
	const struct oracle_config *oc = oracle_index_config(idx);
	struct oracle_read *r;
	uint8_t hash[32], dh[32];
	int32_t tip = -1;
	bool known = false;
	int rc;

	if ((rc = oracle_read_begin(idx, &r)) != SD_OK)
		return rc;
	if (oracle_read_tip(r, &tip, hash) != SD_OK)
		tip = -1;
	if (rpc == ORACLE_GRPC_GET_BLOCK_HASH_BY_HEIGHT)
		known = height <= (uint64_t)INT32_MAX &&
			oracle_read_block(r, (int32_t)height, hash, NULL) ==
				SD_OK;
	oracle_read_end(r);
	if (tip < 0)
		tip = 0;
	if (rpc == ORACLE_GRPC_GET_INFO) {
		Blindbit__Oracle__V1__InfoResponse m =
			BLINDBIT__ORACLE__V1__INFO_RESPONSE__INIT;

		m.network = (char *)oc->network;
		m.height = (uint64_t)tip;
		m.tweaks_only = oc->tweaks_only;
		m.tweaks_full_basic = oc->tweaks_full_basic;
		m.tweaks_full_with_dust_filter =
			oc->tweaks_full_with_dust_filter;
		m.tweaks_cut_through_with_dust_filter =
			oc->tweaks_cut_through_with_dust_filter;
		*out = pack_msg(&m.base, len);
	} else if (rpc == ORACLE_GRPC_GET_BEST_BLOCK_HEIGHT) {
		Blindbit__Oracle__V1__BlockHeightResponse m =
			BLINDBIT__ORACLE__V1__BLOCK_HEIGHT_RESPONSE__INIT;

		m.block_height = (uint64_t)tip;
		*out = pack_msg(&m.base, len);
	} else {
		Blindbit__Oracle__V1__BlockHashResponse m =
			BLINDBIT__ORACLE__V1__BLOCK_HASH_RESPONSE__INIT;

		for (int i = 0; i < 32; i++)
			dh[i] = hash[31 - i];
		if (known) {
			m.block_hash.data = dh;
			m.block_hash.len = 32;
		}
		*out = pack_msg(&m.base, len);
	}
	return SD_OK;
}

int oracle_grpc_pack(struct oracle_index *idx, enum oracle_grpc_rpc rpc,
		     uint64_t height, uint8_t **out, size_t *len,
		     struct oracle_grpc_chain *chk, int *status, char *msg)
{
	struct block_data d;
	int rc;

	*out = NULL;
	*len = 0;
	*status = ORACLE_GRPC_OK;
	msg[0] = '\0';
	if (chk) {
		chk->known = false;
		chk->diverged = false;
	}
	switch (rpc) {
	case ORACLE_GRPC_GET_INFO:
	case ORACLE_GRPC_GET_BEST_BLOCK_HEIGHT:
	case ORACLE_GRPC_GET_BLOCK_HASH_BY_HEIGHT:
		rc = pack_tip(idx, rpc, height, out, len);
		if (rc != SD_OK) {
			*status = ORACLE_GRPC_UNKNOWN_CODE;
			snprintf(msg, SD_ERRLEN, "could not read the index");
		}
		return rc;
	case ORACLE_GRPC_STREAM_COMPUTE_INDEX:
	case ORACLE_GRPC_STREAM_BLOCK_SCAN_DATA_SHORT:
	case ORACLE_GRPC_GET_FULL_BLOCK:
	case ORACLE_GRPC_GET_SPENT_OUTPUTS_SHORT:
		break;
	case ORACLE_GRPC_UNKNOWN:
		*status = ORACLE_GRPC_UNIMPLEMENTED;
		snprintf(msg, SD_ERRLEN, "unknown method");
		return SD_EINVAL;
	}
	rc = block_read(idx, height, rpc == ORACLE_GRPC_GET_FULL_BLOCK ||
			rpc == ORACLE_GRPC_GET_SPENT_OUTPUTS_SHORT,
			rpc != ORACLE_GRPC_GET_SPENT_OUTPUTS_SHORT, chk, &d);
	if (rc != SD_OK) {
		*status = rpc == ORACLE_GRPC_GET_FULL_BLOCK ?
				  ORACLE_GRPC_INTERNAL :
				  ORACLE_GRPC_UNKNOWN_CODE;
		snprintf(msg, SD_ERRLEN, rc == SD_ESTATE ?
			 "height %llu was indexed before the index kept v2 "
			 "data (migrated index): reindex to serve it" :
			 "could not read height %llu from the index",
			 (unsigned long long)height);
		block_data_free(&d);
		return rc;
	}
	if (chk) {
		chk->known = d.known;
		memcpy(chk->hash, d.hash, 32);
	}
	switch (rpc) {
	case ORACLE_GRPC_STREAM_COMPUTE_INDEX:
		*out = pack_compute_index(&d, height, false, len);
		break;
	case ORACLE_GRPC_STREAM_BLOCK_SCAN_DATA_SHORT:
		*out = pack_compute_index(&d, height, true, len);
		break;
	case ORACLE_GRPC_GET_FULL_BLOCK:
		*out = pack_full_block(&d, height, len);
		break;
	default: { /* GetSpentOutputsShort: the block's spent key prefixes */
		Blindbit__Oracle__V1__IndexResponse m =
			BLINDBIT__ORACLE__V1__INDEX_RESPONSE__INIT;
		Blindbit__Oracle__V1__BlockIdentifier bid;
		uint8_t *spent = sd_xmalloc(d.rec_len + 1);
		size_t n = 0;

		for (size_t t = 0; t < d.n_txs; t++)
			for (uint32_t i = 0; i < d.txs[t].n_in; i++, n++)
				memcpy(spent + n * 8, d.txs[t].ins +
				       i * ORACLE_V2_IN_LEN + 36, 8);
		bid_fill(&bid, &d, height);
		m.block_identifier = &bid;
		m.index.data = spent;
		m.index.len = n * 8;
		*out = pack_msg(&m.base, len);
		free(spent);
		break;
	}
	}
	block_data_free(&d);
	return SD_OK;
}

/* fuzz_compute.c - BIP352 input-key extraction and the tweak on arbitrary
 * transactions: the input is parsed with btc_tx_parse, each input gets a
 * synthetic prevout chosen from its outpoint bytes (P2TR, P2WPKH,
 * P2SH-P2WPKH, P2PKH whose hash matches the scriptSig's last 33 bytes,
 * witness v2, pay-to-anchor, bare), then oracle_tx_compute runs, and the
 * block-level filters and spent index are built.  A tweak must be a valid
 * compressed point; the pool must agree with the single call. */
#include <secp256k1.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../oracle/index/compute_int.h"
#include "../../oracle/index/oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void synth_prevout(struct btc_txin *in, uint8_t spk[34])
{
	const struct btc_bytes *ss = &in->script_sig;
	unsigned kind = in->prev_txid[31] % 8;

	in->has_prevout = true;
	in->prevout_value = (int64_t)in->prev_vout;
	in->prevout_spk.data = spk;
	switch (kind) {
	case 0: /* P2TR with x = prev txid */
		spk[0] = 0x51;
		spk[1] = 0x20;
		memcpy(spk + 2, in->prev_txid, 32);
		in->prevout_spk.len = 34;
		break;
	case 1: /* P2WPKH */
		spk[0] = 0x00;
		spk[1] = 0x14;
		memcpy(spk + 2, in->prev_txid, 20);
		in->prevout_spk.len = 22;
		break;
	case 2: /* P2SH */
		spk[0] = 0xa9;
		spk[1] = 0x14;
		memcpy(spk + 2, in->prev_txid, 20);
		spk[22] = 0x87;
		in->prevout_spk.len = 23;
		break;
	case 3: /* P2PKH paying to the scriptSig's last 33 bytes */
		spk[0] = 0x76;
		spk[1] = 0xa9;
		spk[2] = 0x14;
		if (ss->len >= 33)
			btc_hash160(ss->data + ss->len - 33, 33, spk + 3);
		else
			memcpy(spk + 3, in->prev_txid, 20);
		spk[23] = 0x88;
		spk[24] = 0xac;
		in->prevout_spk.len = 25;
		break;
	case 4: /* witness v2..v16 */
		spk[0] = (uint8_t)(0x52 + in->prev_txid[30] % 15);
		spk[1] = 0x20;
		memcpy(spk + 2, in->prev_txid, 32);
		in->prevout_spk.len = 34;
		break;
	case 5: /* pay-to-anchor */
		spk[0] = 0x51;
		spk[1] = 0x02;
		spk[2] = 0x4e;
		spk[3] = 0x73;
		in->prevout_spk.len = 4;
		break;
	default: /* a prefix of the txid as a bare script */
		memcpy(spk, in->prev_txid, 32);
		in->prevout_spk.len = in->prev_txid[0] % 33;
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oracle_tx_info info, pinfo;
	struct btc_block *b;
	struct btc_tx *tx;
	uint8_t (*spks)[34], *f;
	size_t i, len;
	secp256k1_pubkey pk;

	if (btc_tx_parse(data, size, &b) != SD_OK)
		return 0;
	tx = &b->tx[0];
	spks = calloc(tx->n_in ? tx->n_in : 1, sizeof(*spks));
	if (!spks)
		abort();
	for (i = 0; i < tx->n_in; i++)
		synth_prevout(&tx->in[i], spks[i]);
	if (oracle_tx_compute(tx, &info) != SD_OK)
		abort();
	if (info.has_tweak &&
	    (!info.has_taproot_output ||
	     secp256k1_ec_pubkey_parse(secp256k1_context_static, &pk,
				       info.tweak, 33) != 1))
		abort();
	if (oracle_block_compute(NULL, b, &pinfo) != SD_OK ||
	    memcmp(&info, &pinfo, sizeof(info)) != 0)
		abort();
	if (oracle_filter_new_utxos(b, &f, &len) != SD_OK || len < 1)
		abort();
	free(f);
	if (oracle_filter_spent(b, &f, &len) != SD_OK || len < 1)
		abort();
	free(f);
	if (oracle_spent_index(b, &f, &len) != SD_OK)
		abort();
	free(f);
	/* without prevouts a non-coinbase tx is refused */
	if (tx->n_in > 0) {
		tx->in[0].has_prevout = false;
		if (oracle_tx_compute(tx, &info) == SD_OK &&
		    !(tx->n_in == 1 && tx->in[0].prev_vout == 0xffffffffu))
			abort();
	}
	free(spks);
	btc_block_free(b);
	return 0;
}

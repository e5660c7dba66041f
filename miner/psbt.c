/* psbt.c - the BIP174 (v0) PSBT the reference miner exchanges with the
 * wallet: built unsigned for genpsbt, parsed back (signed) for solvepsbt.
 * Only what the signet flow needs: to_sign, the block in a proprietary
 * global field, to_spend as NON_WITNESS_UTXO and the final scriptSig or
 * witness of the single input.  Parses outside bytes: fuzzed. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "../common/util.h"
#include "miner.h"

static const uint8_t psbt_magic[5] = {0x70, 0x73, 0x62, 0x74, 0xff};
static const uint8_t signet_key[9] = {0xfc, 0x06, 's', 'i', 'g', 'n', 'e', 't',
				      'b'};

static void put_kv(struct sd_buf *o, const uint8_t *k, size_t kn,
		   const uint8_t *v, size_t vn)
{
	miner_buf_compact(o, kn);
	sd_buf_put(o, k, kn);
	miner_buf_compact(o, vn);
	sd_buf_put(o, v, vn);
}

int miner_psbt_build(const struct miner_block *b, const uint8_t *challenge,
		     size_t challenge_len, struct sd_buf *out)
{
	struct miner_signet_txs t;
	struct sd_buf tmp = {0};
	const uint8_t k00 = 0x00, k03 = 0x03, sighash_all[4] = {1, 0, 0, 0};
	int rc;

	rc = miner_signet_txs(b, challenge, challenge_len, &t);
	if (rc)
		return rc;
	sd_buf_put(out, psbt_magic, 5);
	miner_tx_serialize(&t.to_sign, false, &tmp);
	put_kv(out, &k00, 1, tmp.p, tmp.len);
	tmp.len = 0;
	miner_block_serialize(b, &tmp);
	put_kv(out, signet_key, sizeof(signet_key), tmp.p, tmp.len);
	miner_buf_u8(out, 0);
	tmp.len = 0;
	miner_tx_serialize(&t.to_spend, false, &tmp);
	put_kv(out, &k00, 1, tmp.p, tmp.len);
	put_kv(out, &k03, 1, sighash_all, 4);
	miner_buf_u8(out, 0);
	miner_buf_u8(out, 0); /* output 0: empty map */
	sd_buf_free(&tmp);
	miner_signet_txs_clear(&t);
	return SD_OK;
}

struct kv {
	const uint8_t *k, *v;
	size_t kn, vn;
};

/* Next entry of a map; *end set at the 00 separator. */
static int next_kv(struct miner_rd *r, struct kv *e, bool *end)
{
	uint64_t n;
	*end = false;
	if (miner_rd_compact(r, &n))
		return SD_EPARSE;
	if (n == 0) {
		*end = true;
		return SD_OK;
	}
	e->kn = (size_t)n;
	if (n > r->len || miner_rd_bytes(r, e->kn, &e->k) ||
	    miner_rd_compact(r, &n) || n > r->len ||
	    miner_rd_bytes(r, (size_t)n, &e->v))
		return SD_EPARSE;
	e->vn = (size_t)n;
	return SD_OK;
}

int miner_psbt_extract(const uint8_t *psbt, size_t len, struct miner_block *b,
		       struct sd_buf *solution)
{
	struct miner_rd r = {psbt, len, 0};
	const uint8_t *p;
	struct kv e;
	bool end, have_block = false;
	struct miner_tx unsigned_tx = {0};
	bool have_tx = false;
	const uint8_t *ss = NULL, *wit = NULL;
	size_t ss_n = 0, wit_n = 0;
	int rc = SD_EPARSE;

	memset(b, 0, sizeof(*b));
	if (miner_rd_bytes(&r, 5, &p) || memcmp(p, psbt_magic, 5) != 0)
		return SD_EPARSE;
	for (;;) {
		if (next_kv(&r, &e, &end))
			goto out;
		if (end)
			break;
		if (e.kn == 1 && e.k[0] == 0x00 && !have_tx) {
			struct miner_rd tr = {e.v, e.vn, 0};
			if (miner_tx_parse(&tr, &unsigned_tx) || tr.pos != e.vn)
				goto out;
			have_tx = true;
		} else if (e.kn == sizeof(signet_key) &&
			   memcmp(e.k, signet_key, e.kn) == 0 && !have_block) {
			if (miner_block_parse(e.v, e.vn, b))
				goto out;
			have_block = true;
		}
	}
	if (!have_tx || !have_block || unsigned_tx.n_in != 1 ||
	    unsigned_tx.n_out != 1)
		goto out;
	for (;;) { /* input 0 */
		if (next_kv(&r, &e, &end))
			goto out;
		if (end)
			break;
		if (e.kn == 1 && e.k[0] == 0x07) {
			ss = e.v;
			ss_n = e.vn;
		} else if (e.kn == 1 && e.k[0] == 0x08) {
			wit = e.v;
			wit_n = e.vn;
		}
	}
	for (;;) { /* output 0 */
		if (next_kv(&r, &e, &end))
			goto out;
		if (end)
			break;
	}
	miner_buf_compact(solution, ss_n);
	sd_buf_put(solution, ss, ss_n);
	if (wit)
		sd_buf_put(solution, wit, wit_n);
	else
		miner_buf_u8(solution, 0);
	{ /* the solution must parse as scriptSig + witness stack */
		struct miner_txin chk = {0};
		struct miner_tx holder = {0};
		int prc = miner_solution_parse(solution->p, solution->len, &chk);
		holder.in = sd_xmalloc(sizeof(chk));
		holder.in[0] = chk;
		holder.n_in = 1;
		miner_tx_clear(&holder);
		if (prc)
			goto out;
	}
	rc = SD_OK;
out:
	miner_tx_clear(&unsigned_tx);
	if (rc)
		miner_block_clear(b);
	return rc;
}

char *miner_base64_encode(const uint8_t *p, size_t n)
{
	char *s = sd_xmalloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

int miner_base64_decode(const char *s, uint8_t **out, size_t *n)
{
	size_t len = 0, cap = strlen(s);
	char *clean = sd_xmalloc(cap + 1);
	int dn, pad = 0;

	for (const char *c = s; *c; c++)
		if (!isspace((unsigned char)*c))
			clean[len++] = *c;
	clean[len] = 0;
	if (len == 0 || len % 4 != 0 || len > 0x7fffffff) {
		free(clean);
		return SD_EPARSE;
	}
	if (clean[len - 1] == '=')
		pad++;
	if (clean[len - 2] == '=')
		pad++;
	*out = sd_xmalloc(len / 4 * 3 + 1);
	dn = EVP_DecodeBlock(*out, (unsigned char *)clean, (int)len);
	free(clean);
	if (dn < 0 || dn < pad) {
		free(*out);
		*out = NULL;
		return SD_EPARSE;
	}
	*n = (size_t)(dn - pad);
	return SD_OK;
}

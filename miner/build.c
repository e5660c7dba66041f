/* build.c - the block pipeline shared by genpsbt and generate: template
 * (parsed by rpc/) -> block, reward scripts from the node, the grinder choice (native
 * or --grind-cmd), stdin and signing-key loading. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "miner_priv.h"

int miner_template_parse(const char *json, size_t len, bool any_top,
			 struct miner_template *t, char err[SD_ERRLEN])
{
	struct rpc_block_template *g = &t->gbt;

	memset(t, 0, sizeof(*t));
	if (rpc_parse_block_template(json, len, any_top, g, err) != SD_OK)
		return SD_EPARSE;
	t->tx = sd_xcalloc(g->n_tx + 1, sizeof(*t->tx));
	for (size_t i = 0; i < g->n_tx; i++) {
		struct miner_rd r = {g->tx[i].raw, g->tx[i].len, 0};

		if (miner_tx_parse(&r, &t->tx[i]) || r.pos != g->tx[i].len) {
			snprintf(err, SD_ERRLEN, "template tx %zu: bad tx", i);
			miner_template_clear(t);
			return SD_EPARSE;
		}
		t->n_tx++;
	}
	/* the raw copies are parsed now: keep only the header fields */
	for (size_t i = 0; i < g->n_tx; i++)
		free(g->tx[i].raw);
	free(g->tx);
	g->tx = NULL;
	g->n_tx = 0;
	return SD_OK;
}

void miner_template_clear(struct miner_template *t)
{
	for (size_t i = 0; i < t->n_tx; i++)
		miner_tx_clear(&t->tx[i]);
	free(t->tx);
	rpc_block_template_clear(&t->gbt);
	memset(t, 0, sizeof(*t));
}

/* Deep copy of a transaction (serialise + parse). */
static void tx_copy(const struct miner_tx *src, struct miner_tx *dst)
{
	struct sd_buf b = {0};
	struct miner_rd r;
	miner_tx_serialize(src, true, &b);
	r = (struct miner_rd){b.p, b.len, 0};
	if (miner_tx_parse(&r, dst))
		abort(); /* we wrote it: cannot fail */
	sd_buf_free(&b);
}

void miner_build_block(const struct miner_template *t,
		       const struct miner_opts *o, const struct miner_reward *r,
		       uint32_t time, struct miner_block *b)
{
	struct miner_coinbase_spec cs = {0};
	char tag[32];

	memset(b, 0, sizeof(*b));
	b->version = t->gbt.version;
	memcpy(b->prev, t->gbt.prev, 32);
	b->time = time;
	b->bits = t->gbt.bits;
	b->nonce = 0;
	b->n_tx = t->n_tx + 1;
	b->tx = sd_xcalloc(b->n_tx, sizeof(*b->tx));
	for (size_t i = 0; i < t->n_tx; i++)
		tx_copy(&t->tx[i], &b->tx[i + 1]);
	cs.height = t->gbt.height;
	cs.value = t->gbt.coinbasevalue;
	cs.spk = r->spk.p;
	cs.spk_len = r->spk.len;
	if (r->have_relay) {
		cs.relay_spk = r->relay_spk.p;
		cs.relay_spk_len = r->relay_spk.len;
		cs.relay_ratio = o->reward_split;
	}
	if (o->has_poolnum) {
		snprintf(tag, sizeof(tag), "/signet:%ld/", o->poolnum);
		cs.tag = (const uint8_t *)tag;
		cs.tag_len = strlen(tag);
	} else if (o->poolid) {
		cs.tag = (const uint8_t *)o->poolid;
		cs.tag_len = strlen(o->poolid);
	}
	miner_block_set_coinbase(b, &cs);
}

static int addr_spk(struct miner_node *n, const char *addr,
		    struct sd_buf *spk, char err[SD_ERRLEN])
{
	struct rpc_arg a = {addr, false};
	char *res;
	int code, rc;
	uint8_t *raw;
	size_t len;

	rc = miner_node_call(n, "validateaddress", &a, 1, &res, &code, err);
	if (rc)
		return rc;
	rc = rpc_parse_address_spk(res, strlen(res), &raw, &len);
	free(res);
	if (rc != SD_OK) {
		snprintf(err, SD_ERRLEN, "invalid address for this chain: %.100s",
			 addr);
		return SD_EINVAL;
	}
	spk->len = 0;
	sd_buf_put(spk, raw, len);
	free(raw);
	return SD_OK;
}

int miner_reward_resolve(struct miner_node *n, const struct miner_opts *o,
			 int32_t height, struct miner_reward *r,
			 char err[SD_ERRLEN])
{
	int rc;

	if (o->relay_address && !r->have_relay) {
		rc = addr_spk(n, o->relay_address, &r->relay_spk, err);
		if (rc)
			return rc;
		r->have_relay = true;
	}
	if (r->have && !r->ranged)
		return SD_OK;
	if (o->address) {
		rc = addr_spk(n, o->address, &r->spk, err);
	} else {
		char range[64];
		struct rpc_arg a[2] = {{o->descriptor, false}, {range, true}};
		char *res, *addr;
		int code;
		r->ranged = strchr(o->descriptor, '*') != NULL;
		snprintf(range, sizeof(range), "[%d,%d]", height, height);
		rc = miner_node_call(n, "deriveaddresses", a, r->ranged ? 2 : 1,
				     &res, &code, err);
		if (rc)
			return rc;
		rc = rpc_parse_string_member(res, strlen(res), NULL, &addr);
		free(res);
		if (rc != SD_OK) {
			snprintf(err, SD_ERRLEN, "deriveaddresses gave nothing");
			return SD_EINVAL;
		}
		rc = addr_spk(n, addr, &r->spk, err);
		free(addr);
	}
	if (rc == SD_OK)
		r->have = true;
	return rc;
}

int miner_do_grind(const struct miner_opts *o, struct miner_block *b,
		   struct miner_grind_result *res, char err[SD_ERRLEN])
{
	uint8_t h[80];
	int rc;

	memset(res, 0, sizeof(*res));
	b->nonce = 0;
	miner_block_header(b, h);
	if (o->grind_cmd) {
		size_t argc;
		char **argv = miner_split_cmd(o->grind_cmd, 1, &argc);
		char hex[161], *out, *etxt;
		uint8_t got[80];
		int status;
		uint64_t t0 = sd_mono_ns();
		size_t len;

		sd_hex_encode(hex, h, 80);
		argv[argc++] = sd_xstrdup(hex);
		rc = miner_run(argv, NULL, 0, o->grind_timeout_s * 1000, &out,
			       &etxt, &status);
		miner_argv_free(argv);
		res->seconds = (double)(sd_mono_ns() - t0) / 1e9;
		if (rc == SD_ETIMEOUT) {
			snprintf(err, SD_ERRLEN, "--grind-cmd killed: no "
				 "header after %ld s (--grind-timeout)",
				 o->grind_timeout_s);
		} else if (rc == SD_ESTATE) {
			snprintf(err, SD_ERRLEN, "stopping");
		} else if (rc == SD_OK && status != 0) {
			snprintf(err, SD_ERRLEN, "--grind-cmd exited %d: %.150s",
				 status, etxt);
			rc = SD_ENOTFOUND;
		} else if (rc == SD_OK) {
			len = strlen(out);
			while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
				len--;
			if (len != 160 || sd_hex_decode(got, 80, out, 160)) {
				snprintf(err, SD_ERRLEN,
					 "--grind-cmd printed no header");
				rc = SD_EPARSE;
			} else {
				b->nonce = sd_le32_get(got + 76);
				res->nonce = b->nonce;
			}
		} else if (rc == SD_EIO) {
			snprintf(err, SD_ERRLEN, "cannot run --grind-cmd");
		}
		free(out);
		free(etxt);
		return rc;
	}
	rc = miner_grind(h, o->threads, miner_stop_flag(), res);
	if (rc == SD_OK)
		b->nonce = res->nonce;
	else if (rc == SD_ESTATE)
		snprintf(err, SD_ERRLEN, "stopping");
	else
		snprintf(err, SD_ERRLEN, "nonce space exhausted");
	return rc;
}

char *miner_read_stdin(size_t *len)
{
	struct sd_buf b = {0};
	char tmp[65536];
	ssize_t r;

	while ((r = read(0, tmp, sizeof(tmp))) > 0)
		sd_buf_put(&b, tmp, (size_t)r);
	miner_buf_u8(&b, 0);
	*len = b.len - 1;
	return (char *)b.p;
}

int miner_load_key(const struct miner_opts *o, struct miner_key **k,
		   char err[SD_ERRLEN])
{
	const char *file = o->key_file ? o->key_file
				       : getenv("SIGNET_MINER_KEY_FILE");
	const char *env = getenv("SIGNET_MINER_KEY");
	int rc;

	*k = NULL;
	if (file && *file) {
		rc = miner_key_load_file(file, k);
		if (rc)
			snprintf(err, SD_ERRLEN, "cannot load key file %.150s: %s",
				 file, rc == SD_EPARSE ? "not a hex or WIF key"
						       : sd_strerror(rc));
		return rc;
	}
	if (env && *env) {
		rc = miner_key_from_text(env, k);
		/* bitcoin-cli and --grind-cmd children must not inherit it */
		explicit_bzero((char *)env, strlen(env));
		unsetenv("SIGNET_MINER_KEY");
		if (rc)
			snprintf(err, SD_ERRLEN,
				 "SIGNET_MINER_KEY is not a hex or WIF key");
		return rc;
	}
	return SD_OK;
}

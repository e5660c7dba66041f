/* calibrate.c - `calibrate` (how hard a difficulty is on this machine, spec
 * 2.4: 600 trial grinds at nBits 0x1e3ea75f) and `keygen` (a fresh signing
 * key written to a 0600 file, with the challenges it can solve). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "miner_priv.h"

#define TRIALS 600
#define TRIAL_BITS 0x1e3ea75fu

int miner_cmd_calibrate(const struct miner_opts *o)
{
	char err[SD_ERRLEN], q[SD_ERRLEN + 16];
	double total = 0, avg, t0 = miner_target_double(TRIAL_BITS);
	uint32_t want = 0;

	if (o->nbits && o->seconds) {
		sd_log_error(MINER_MOD, "bad_option",
			     "err=\"Only specify one of --nbits or --seconds\"");
		return 2;
	}
	if (o->nbits) {
		uint8_t b4[4];
		if (strlen(o->nbits) != 8 || sd_hex_decode(b4, 4, o->nbits, 8)) {
			sd_log_error(MINER_MOD, "bad_option",
				     "err=\"--nbits must be 8 hex digits\"");
			return 2;
		}
		want = sd_be32_get(b4);
	}
	for (int i = 0; i < TRIALS; i++) {
		struct miner_block b = {0};
		struct miner_grind_result gr;
		uint64_t s = sd_mono_ns();
		b.version = 4;
		b.time = (uint32_t)i;
		b.bits = TRIAL_BITS;
		if (miner_do_grind(o, &b, &gr, err)) {
			sd_log_error(MINER_MOD, "grind_failed", "err=%s",
				     sd_log_q(q, sizeof(q), err));
			return 1;
		}
		total += (double)(sd_mono_ns() - s) / 1e9;
	}
	avg = total / TRIALS;
	if (want) {
		double secs = avg * t0 / miner_target_double(want);
		printf("nbits=%08x for %ds average mining time\n",
		       miner_target_to_compact(miner_target_double(want)),
		       (int)secs);
	} else {
		long secs = o->seconds ? o->seconds : 25;
		double target = floor(t0 * avg / (double)secs);
		printf("nbits=%08x for %lds average mining time\n",
		       miner_target_to_compact(target), secs);
	}
	return 0;
}

int miner_cmd_keygen(const struct miner_opts *o)
{
	struct miner_key *k;
	uint8_t pub[33], h160[20];
	char hex[65], pubhex[67], hhex[41];
	int fd;
	ssize_t w;

	if (!o->out_key_file) {
		sd_log_error(MINER_MOD, "bad_option",
			     "err=\"keygen needs --key-file PATH (new file)\"");
		return 2;
	}
	if (miner_key_generate(&k))
		return 1;
	fd = open(o->out_key_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		char q[300];
		sd_log_error(MINER_MOD, "key_write_failed", "path=%s errno=%d",
			     sd_log_q(q, sizeof(q), o->out_key_file), errno);
		miner_key_free(k);
		return 1;
	}
	miner_key_hex(k, hex);
	hex[64] = '\n';
	w = write(fd, hex, 65);
	explicit_bzero(hex, sizeof(hex));
	close(fd);
	miner_key_pubkey(k, pub);
	miner_key_free(k);
	if (w != 65)
		return 1;
	sd_hex_encode(pubhex, pub, 33);
	btc_hash160(pub, 33, h160);
	sd_hex_encode(hhex, h160, 20);
	printf("{\"pubkey\":\"%s\",\"multisig_challenge\":\"5121%s51ae\","
	       "\"p2wpkh_challenge\":\"0014%s\"}\n", pubhex, pubhex, hhex);
	return 0;
}

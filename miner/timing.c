/* timing.c - when to mine the next block (spec section 5): the desired
 * difficulty steers the interval, --poisson randomises it from the tip hash,
 * --multiminer assigns slots, backup/standby delays, the 2 h future limit.
 * Pure functions of their inputs, so the unit tests pin them down. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "miner.h"

double miner_target_double(uint32_t bits)
{
	int exp = (int)(bits >> 24);
	return (double)(bits & 0xffffff) * pow(256.0, exp - 3);
}

uint32_t miner_target_to_compact(double target)
{
	/* Hex digits of the target: size = byte length, mantissa = first
	 * three bytes, rounded up if anything below is non-zero; a leading
	 * byte >= 0x80 gets a 00 byte in front. */
	int size = 0;
	double m = floor(target), mant;
	uint32_t mi;

	if (m < 1)
		return 0;
	while (ldexp(1.0, 8 * size) <= m)
		size++;
	mant = floor(m / pow(256.0, size - 3));
	if (mant >= 0x800000) {
		size++;
		mant = floor(m / pow(256.0, size - 3));
	}
	if (size > 3 && m - mant * pow(256.0, size - 3) > 0)
		mant += 1;
	mi = (uint32_t)mant;
	if (mi > 0x7fffff) { /* the increment carried over */
		size++;
		mi >>= 8;
	}
	return ((uint32_t)size << 24) | mi;
}

static uint32_t hex_u32(const char *hex8)
{
	uint32_t v = 0;
	for (int i = 0; i < 8; i++) {
		char c = hex8[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
	}
	return v;
}

double miner_next_block_delta(const struct miner_timing *t, uint32_t last_bits,
			      const char *last_hash_hex)
{
	double factor = miner_target_double(t->nbits) /
			miner_target_double(last_bits);
	double mean, mult = 1.0, iv;

	if (factor < 0.25)
		factor = 0.25;
	if (factor > 4.0)
		factor = 4.0;
	mean = t->interval * factor;
	if (t->poisson) {
		uint32_t low = hex_u32(last_hash_hex + strlen(last_hash_hex) - 8);
		double u = (double)low / 4294967296.0;
		mult = -log1p(-u);
	}
	iv = mean * mult;
	if (iv < 1)
		iv = 1;
	if (iv > t->max_interval)
		iv = t->max_interval;
	return iv;
}

bool miner_next_block_is_mine(const struct miner_timing *t,
			      const char *last_hash_hex)
{
	uint32_t r = hex_u32(last_hash_hex + strlen(last_hash_hex) - 16);
	int slot;

	if (t->mm_total <= 0)
		return true;
	slot = (int)(r % (uint32_t)t->mm_total);
	return t->mm_low <= slot && slot < t->mm_high;
}

void miner_next_block_time(const struct miner_timing *t, int64_t now,
			   int32_t tip_height, int64_t tip_time,
			   uint32_t tip_bits, const char *tip_hash_hex,
			   bool first, int64_t *block_time,
			   int64_t *action_time, bool *is_mine)
{
	double bt, at;

	*is_mine = true;
	if (t->has_set_time) {
		*block_time = t->set_time;
		*action_time = now;
		return;
	}
	if (tip_height == 0) {
		*block_time = (int64_t)((double)now - 100 * t->interval);
		*action_time = now;
		return;
	}
	bt = (double)tip_time + miner_next_block_delta(t, tip_bits, tip_hash_hex);
	at = bt;
	*is_mine = miner_next_block_is_mine(t, tip_hash_hex);
	if (!*is_mine)
		at += (double)t->backup_delay;
	if (t->standby_delay > 0)
		at += (double)t->standby_delay;
	else if (first)
		at = (double)now;
	*block_time = (int64_t)bt;
	*action_time = (int64_t)at;
	if (*action_time < *block_time - 6900)
		*action_time = *block_time - 6900;
}

void miner_fmt_hms(char *out, size_t n, double seconds)
{
	long s = lround(seconds), a = s < 0 ? -s : s;
	const char *sign = s < 0 ? "-" : "";

	if (a >= 3600)
		snprintf(out, n, "%s%ldh%ldm%lds", sign, a / 3600, a / 60 % 60,
			 a % 60);
	else if (a >= 60)
		snprintf(out, n, "%s%ldm%lds", sign, a / 60, a % 60);
	else
		snprintf(out, n, "%s%lds", sign, a);
}

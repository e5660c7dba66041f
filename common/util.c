/* util.c - allocation, hex, time and integer parsing helpers (util.h). */
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void oom(size_t n)
{
	fprintf(stderr, "signetd: out of memory allocating %zu bytes\n", n);
	abort();
}

void *sd_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *sd_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom(n * size);
	return p;
}

void *sd_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *sd_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = sd_xmalloc(n);
	memcpy(p, s, n);
	return p;
}

static const char hexdig[] = "0123456789abcdef";

void sd_hex_encode(char *out, const uint8_t *in, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hexdig[in[i] >> 4];
		out[2 * i + 1] = hexdig[in[i] & 15];
	}
	out[2 * len] = '\0';
}

void sd_hex_encode_rev(char *out, const uint8_t *in, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t b = in[len - 1 - i];
		out[2 * i] = hexdig[b >> 4];
		out[2 * i + 1] = hexdig[b & 15];
	}
	out[2 * len] = '\0';
}

int sd_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sd_hex_decode(uint8_t *out, size_t len, const char *hex, size_t hexlen)
{
	if (hexlen != 2 * len)
		return SD_EPARSE;
	for (size_t i = 0; i < len; i++) {
		int hi = sd_hex_digit(hex[2 * i]), lo = sd_hex_digit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return SD_EPARSE;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return SD_OK;
}

int sd_hash_from_hex(uint8_t out[32], const char *hex)
{
	uint8_t tmp[32];
	if (!hex || sd_hex_decode(tmp, 32, hex, strlen(hex)) != SD_OK)
		return SD_EPARSE;
	for (int i = 0; i < 32; i++)
		out[i] = tmp[31 - i];
	return SD_OK;
}

uint64_t sd_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t sd_mono_ms(void)
{
	return sd_mono_ns() / 1000000ull;
}

uint64_t sd_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

int sd_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	*out = 0;
	if (!s || !*s)
		return SD_EPARSE;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return SD_EPARSE;
		unsigned d = (unsigned)(*p - '0');
		if (v > (max - d) / 10)
			return SD_EPARSE;
		v = v * 10 + d;
	}
	*out = v;
	return SD_OK;
}

int sd_mkdir_p(const char *path)
{
	char buf[4096];
	size_t n = strlen(path), i;

	if (n == 0 || n >= sizeof(buf))
		return SD_EINVAL;
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0750) != 0 && errno != EEXIST)
			return SD_EIO;
		buf[i] = i == n ? '\0' : '/';
	}
	return SD_OK;
}

/* util.h - small helpers every module uses: allocation that aborts on OOM,
 * hex, byte order, monotonic time.
 */
#ifndef SIGNETD_COMMON_UTIL_H
#define SIGNETD_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* malloc/calloc/realloc/strdup that abort with a message on out-of-memory. */
void *sd_xmalloc(size_t n);
void *sd_xcalloc(size_t n, size_t size);
void *sd_xrealloc(void *p, size_t n);
char *sd_xstrdup(const char *s);

/* Lowercase hex of len bytes into out (2*len+1 bytes, NUL-terminated). */
void sd_hex_encode(char *out, const uint8_t *in, size_t len);
/* Same, bytes reversed: internal-order hash -> display-order hex. */
void sd_hex_encode_rev(char *out, const uint8_t *in, size_t len);
/* Returns: the value of hex digit c (either case), or -1. */
int sd_hex_digit(int c);
/* Decode exactly 2*len hex chars (either case).  Returns SD_OK or SD_EPARSE. */
int sd_hex_decode(uint8_t *out, size_t len, const char *hex, size_t hexlen) SD_WARN_UNUSED;
/* Display-order hex (64 chars) -> internal-order 32 bytes. */
int sd_hash_from_hex(uint8_t out[32], const char *hex) SD_WARN_UNUSED;

static inline void sd_be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static inline uint32_t sd_be32_get(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}
static inline void sd_be64_put(uint8_t *p, uint64_t v)
{
	sd_be32_put(p, (uint32_t)(v >> 32));
	sd_be32_put(p + 4, (uint32_t)v);
}
static inline uint64_t sd_be64_get(const uint8_t *p)
{
	return ((uint64_t)sd_be32_get(p) << 32) | sd_be32_get(p + 4);
}
static inline uint32_t sd_le32_get(const uint8_t *p)
{
	return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[1] << 8) | p[0];
}
static inline void sd_le32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}
static inline uint64_t sd_le64_get(const uint8_t *p)
{
	return ((uint64_t)sd_le32_get(p + 4) << 32) | sd_le32_get(p);
}
static inline void sd_le64_put(uint8_t *p, uint64_t v)
{
	sd_le32_put(p, (uint32_t)v);
	sd_le32_put(p + 4, (uint32_t)(v >> 32));
}

/* Monotonic clock in ms / ns; wall clock in ms since the epoch. */
uint64_t sd_mono_ms(void);
uint64_t sd_mono_ns(void);
uint64_t sd_wall_ms(void);

/* Parse a base-10 unsigned integer that fills the whole string: no sign, no
 * spaces, no empty string, no overflow past max.  Returns SD_OK/SD_EPARSE. */
int sd_parse_u64(const char *s, uint64_t max, uint64_t *out) SD_WARN_UNUSED;

/* mkdir -p with mode 0750 for the folders it makes.  Returns SD_OK (also
 * when path exists), SD_EINVAL (empty or >= 4096 bytes) or SD_EIO. */
int sd_mkdir_p(const char *path) SD_WARN_UNUSED;

#endif

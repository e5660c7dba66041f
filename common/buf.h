/* buf.h - the one growable buffer: bytes (p) or text (s, the same memory).
 *
 * { 0 } is an empty buffer.  Growth aborts on OOM (sd_xrealloc), so no call
 * fails.  sd_buf_put and sd_buf_printf keep a NUL after the content, so a
 * text buffer is always a C string once anything was added; code that
 * writes into the reserved room itself (p + len) and bumps len does not
 * get one.  Not thread-safe; the owner frees with sd_buf_free.
 */
#ifndef SIGNETD_COMMON_BUF_H
#define SIGNETD_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct sd_buf {
	union {
		uint8_t *p;
		char *s;
	};
	size_t len, cap;
};

/* Room for at least more bytes after len. */
void sd_buf_reserve(struct sd_buf *b, size_t more);
/* Append n bytes (data may be NULL when n is 0). */
void sd_buf_put(struct sd_buf *b, const void *data, size_t n);
/* Append printf output. */
void sd_buf_printf(struct sd_buf *b, const char *fmt, ...) SD_PRINTF(2, 3);
/* Free the memory; the buffer is empty again. */
void sd_buf_free(struct sd_buf *b);

#endif

/* buf.c - the growable buffer (buf.h), used by the store's scratch space,
 * the miner's serializers, the config reader and the Prometheus text. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void sd_buf_reserve(struct sd_buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 64;

	if (b->len + more <= b->cap)
		return;
	while (cap < b->len + more)
		cap *= 2;
	b->p = sd_xrealloc(b->p, cap);
	b->cap = cap;
}

void sd_buf_put(struct sd_buf *b, const void *data, size_t n)
{
	sd_buf_reserve(b, n + 1);
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = 0;
}

void sd_buf_printf(struct sd_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		sd_buf_reserve(b, (size_t)n + 1);
	}
}

void sd_buf_free(struct sd_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

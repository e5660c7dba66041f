/* fuzz_http_headers.c - the request headers the server interprets itself:
 * If-None-Match against an ETag (http_etag_matches) and Origin against
 * Host for CORS (http_cross_origin).  The input is split at NUL bytes into
 * If-None-Match, Origin and Host.  Checks: "*" and the exact ETag always
 * match; a list naming the ETag matches; no Origin is never cross-origin,
 * no Host always is, http://<Host> never is; both are deterministic. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../oracle/http/http_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the next NUL-terminated piece of the input, as its own allocation */
static char *piece(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *z = memchr(*p, 0, (size_t)(end - *p));
	size_t n = z ? (size_t)(z - *p) : (size_t)(end - *p);
	char *s = malloc(n + 1);

	memcpy(s, *p, n);
	s[n] = '\0';
	*p += z ? n + 1 : n;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	char *inm = piece(&p, end), *origin = piece(&p, end);
	char *host = piece(&p, end);
	const char *etag = "\"0123456789abcdef-gz\"";
	char *list, *self;
	bool m = http_etag_matches(inm, etag);
	size_t n;

	if (m != http_etag_matches(inm, etag))
		abort();
	if (!http_etag_matches("*", etag) || !http_etag_matches(etag, etag))
		abort();
	n = strlen(inm);
	list = malloc(n + strlen(etag) + 4);
	/* a list with the ETag after the fuzzed entries (no quote left
	 * open: entries are split at commas) */
	snprintf(list, n + strlen(etag) + 4, "%s, %s", inm, etag);
	if (!http_etag_matches(list, etag))
		abort();
	if (http_cross_origin(NULL, host) || !http_cross_origin(origin, NULL))
		abort();
	if (http_cross_origin(origin, host) !=
	    http_cross_origin(origin, host))
		abort();
	self = malloc(strlen(host) + 9);
	snprintf(self, strlen(host) + 9, "http://%s", host);
	if (http_cross_origin(self, host))
		abort();
	snprintf(self, strlen(host) + 9, "https://%s", host);
	if (http_cross_origin(self, host))
		abort();
	free(self);
	free(list);
	free(inm);
	free(origin);
	free(host);
	return 0;
}

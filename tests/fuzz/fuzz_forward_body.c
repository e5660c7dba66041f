/* fuzz_forward_body.c - http_forward_parse() (the POST /forward-tx body,
 * upstream's JSON or urlencoded form "data") on arbitrary bodies.  The
 * first byte picks the Content-Type.  Checks: a relayable answer is
 * non-empty even-length hex of at most HTTP_MAX_TX_HEX characters; a
 * refusal is a 400 without hex; the parse is deterministic. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../oracle/http/http_int.h"
#include "../../common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ctypes[6] = {
		"application/json", "application/x-www-form-urlencoded",
		"application/json; charset=utf-8",
		"APPLICATION/X-WWW-FORM-URLENCODED ;q=1", "text/plain", NULL,
	};
	const char *ct, *msg, *msg2;
	char *body, *hex, *hex2;
	unsigned st, st2;

	if (size == 0)
		return 0;
	ct = ctypes[data[0] % 6];
	/* an exact-size copy so that reads past the body are caught */
	body = malloc(size - 1 ? size - 1 : 1);
	memcpy(body, data + 1, size - 1);
	st = http_forward_parse(body, size - 1, ct, &hex, &msg);
	st2 = http_forward_parse(body, size - 1, ct, &hex2, &msg2);
	if (st != st2 || msg != msg2 || !hex != !hex2 ||
	    (hex && strcmp(hex, hex2)))
		abort();
	if (st == 0) {
		size_t n;

		if (!hex)
			abort();
		n = strlen(hex);
		if (n == 0 || n % 2 || n > HTTP_MAX_TX_HEX)
			abort();
		for (size_t i = 0; i < n; i++)
			if (sd_hex_digit((unsigned char)hex[i]) < 0)
				abort();
	} else if (st != 400 || hex) {
		abort();
	}
	free(hex);
	free(hex2);
	free(body);
	return 0;
}

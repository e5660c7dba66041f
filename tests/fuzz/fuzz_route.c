/* fuzz_route.c - oracle_route_parse() and oracle_route_parse_v2() on
 * arbitrary request targets.  The first byte picks the method and, from
 * its bit 7, the table (v1 / v2).  Checks the parser's invariants: a redirect
 * never also names a route and points inside the target; a height is only
 * set on height routes; a valid dustLimit only comes with a query; the
 * parse is deterministic. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../oracle/http/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum oracle_route_method methods[3] = {
		ORACLE_METHOD_GET, ORACLE_METHOD_POST, ORACLE_METHOD_OTHER};
	struct oracle_route a, b;
	enum oracle_route_method m;
	char *t;

	if (size == 0)
		return 0;
	m = methods[data[0] % 3];
	/* copy so that reads past size are caught by ASan */
	t = malloc(size - 1 ? size - 1 : 1);
	memcpy(t, data + 1, size - 1);
	if (data[0] & 0x80) {
		oracle_route_parse_v2(m, t, size - 1, &a);
		oracle_route_parse_v2(m, t, size - 1, &b);
		if (a.id == ORACLE_ROUTE_FORWARD_TX ||
		    a.id == ORACLE_ROUTE_TWEAK_INDEX ||
		    a.id == ORACLE_ROUTE_FILTER ||
		    a.id == ORACLE_ROUTE_SPENT_INDEX ||
		    a.id == ORACLE_ROUTE_TWEAKS || a.id == ORACLE_ROUTE_UTXOS)
			abort();    /* v1-only routes */
		if (a.dust != 0 && a.id != ORACLE_ROUTE_MEMPOOL_TWEAKS)
			abort();
	} else {
		oracle_route_parse(m, t, size - 1, &a);
		oracle_route_parse(m, t, size - 1, &b);
		if (a.id >= ORACLE_ROUTE_V2_TWEAKS)
			abort();    /* v2-only routes */
	}
	if (memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	if ((unsigned)a.id >= ORACLE_ROUTE_COUNT)
		abort();
	if (a.redirect) {
		if (a.id != ORACLE_ROUTE_NONE ||
		    a.redirect_len >= a.redirect_query_off ||
		    a.redirect_query_off > size - 1)
			abort();
	}
	if (a.has_height && a.id == ORACLE_ROUTE_NONE)
		abort();
	if (!a.height_ok && a.height != 0)
		abort();
	if (a.dust != 0 && !memchr(t, '?', size - 1))
		abort();
	if (a.filter != ORACLE_ROUTE_FILTER_NONE && a.id != ORACLE_ROUTE_FILTER)
		abort();
	(void)oracle_route_name(a.id);
	free(t);
	return 0;
}

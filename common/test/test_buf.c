/* test_buf.c - the growable buffer (common/buf.h): appends keep a NUL after
 * the content, printf grows as needed, reserve leaves room, free empties. */
#include <string.h>

#include "common/buf.h"
#include "tests/lib/check.h"

int main(void)
{
	struct sd_buf b = {0};
	char big[5000];

	sd_buf_put(&b, NULL, 0); /* empty, but a C string now */
	CHECK(b.len == 0 && b.s && b.s[0] == '\0');
	sd_buf_put(&b, "abc", 3);
	CHECK(b.len == 3 && strcmp(b.s, "abc") == 0);
	sd_buf_printf(&b, "-%d-%s", 42, "x");
	CHECK_STREQ(b.s, "abc-42-x");
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sd_buf_printf(&b, "%s", big); /* longer than the room left */
	CHECK(b.len == 8 + sizeof(big) - 1 && b.s[b.len] == '\0');
	CHECK(memcmp(b.s, "abc-42-x", 8) == 0 && b.s[b.len - 1] == 'y');
	sd_buf_reserve(&b, 100000);
	CHECK(b.cap >= b.len + 100000);
	b.len = 0; /* reuse, as the store's scratch buffers do */
	sd_buf_put(&b, "\x00\x01\x02", 3); /* bytes, NULs included */
	CHECK(b.len == 3 && b.p[0] == 0 && b.p[2] == 2);
	sd_buf_free(&b);
	CHECK(!b.p && b.len == 0 && b.cap == 0);
	sd_buf_free(&b); /* twice is fine */

	/* printf into a fresh buffer */
	sd_buf_printf(&b, "%s", "");
	sd_buf_printf(&b, "%u", 7u);
	CHECK_STREQ(b.s, "7");
	sd_buf_free(&b);
	return 0;
}

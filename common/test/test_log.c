/* test_log.c - logfmt lines (common/log.h): key order, levels, quoting of
 * outside text, the file sink and its counters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "tests/lib/check.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[8192];
	size_t n;

	CHECK(f != NULL);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

int main(void)
{
	char q[64], small[8], path[] = "/tmp/signetd-test-log-XXXXXX";
	char *text, *line;
	unsigned long warns;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);

	/* quoting: plain values as is, others quoted and escaped */
	CHECK_STREQ(sd_log_q(q, sizeof(q), "plain"), "plain");
	CHECK_STREQ(sd_log_q(q, sizeof(q), ""), "\"\"");
	CHECK_STREQ(sd_log_q(q, sizeof(q), NULL), "\"\"");
	CHECK_STREQ(sd_log_q(q, sizeof(q), "a b"), "\"a b\"");
	CHECK_STREQ(sd_log_q(q, sizeof(q), "k=v"), "\"k=v\"");
	CHECK_STREQ(sd_log_q(q, sizeof(q), "say \"hi\"\n"),
		    "\"say \\\"hi\\\"\\n\"");
	CHECK_STREQ(sd_log_q(q, sizeof(q), "\x01"), "\"\\x01\"");
	sd_log_q(small, sizeof(small), "a long value with spaces");
	CHECK(strlen(small) < sizeof(small) && small[0] == '"');
	CHECK(strstr(small, "...") != NULL);

	/* levels */
	CHECK(sd_log_set_level_name("nope") == SD_EINVAL);
	CHECK(sd_log_set_level_name("warn") == SD_OK);
	CHECK(!sd_log_enabled(SD_LOG_INFO) && sd_log_enabled(SD_LOG_ERROR));

	/* the file gets the same lines, key order fixed */
	CHECK(sd_log_open_file(path) == SD_OK);
	warns = sd_log_count(SD_LOG_WARN);
	sd_log_info("test", "not_shown", "k=%d", 1);
	sd_log_warn("test", "shown", "k=%d v=%s", 2, sd_log_q(q, sizeof(q),
							   "x y"));
	sd_log_error("test", "no_fields", NULL);
	CHECK(sd_log_count(SD_LOG_WARN) == warns + 1);
	text = slurp(path);
	CHECK(strstr(text, "not_shown") == NULL);
	line = strstr(text, "level=warn mod=test msg=shown k=2 v=\"x y\"\n");
	CHECK(line != NULL);
	CHECK(strncmp(text, "ts=", 3) == 0);
	CHECK(strstr(text, "level=error mod=test msg=no_fields\n") != NULL);
	sd_log_set_level(SD_LOG_INFO);
	unlink(path);
	return 0;
}

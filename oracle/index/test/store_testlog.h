/* store_testlog.h - the log checks shared by the outpoint map's tests
 * (test_outmap_bg.c, test_outmap_snap.c, test_outmap_bgsave.c): the
 * process logs to <dir>/test.log, a test marks where its step starts
 * (log_skip) and asks what was logged since (log_has, log_at).
 * Header-only; include after check.h and common/log.h.
 */
#ifndef SIGNETD_ORACLE_TEST_STORE_TESTLOG_H
#define SIGNETD_ORACLE_TEST_STORE_TESTLOG_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static char logpath[600];
static long log_off;

/* Log to <dir>/test.log from now on. */
static inline void log_open(const char *dir)
{
	snprintf(logpath, sizeof(logpath), "%s/test.log", dir);
	CHECK_EQ_INT(sd_log_open_file(logpath), SD_OK);
}

/* The offset of the first line holding s after log_off (-1: none). */
static inline long log_at(const char *s)
{
	FILE *f = fopen(logpath, "r");
	char line[2048];
	long at = -1, pos;

	CHECK(f);
	fseek(f, log_off, SEEK_SET);
	for (pos = ftell(f); fgets(line, sizeof(line), f); pos = ftell(f))
		if (strstr(line, s)) {
			at = pos;
			break;
		}
	fclose(f);
	return at;
}

/* Whether the log written since the last log_skip has s. */
static inline bool log_has(const char *s)
{
	return log_at(s) >= 0;
}

/* From now on: what is logged after this point. */
static inline void log_skip(void)
{
	FILE *f = fopen(logpath, "r");

	CHECK(f && fseek(f, 0, SEEK_END) == 0);
	log_off = ftell(f);
	fclose(f);
}

#endif

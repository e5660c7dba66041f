/* log.c - logfmt lines to stderr and an optional file (log.h). */
#include "log.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static enum sd_log_level min_level = SD_LOG_INFO;
static int file_fd = -1;
static char *file_path;
static atomic_ulong counts[SD_LOG_ERROR + 1];

static const char *const level_names[] = {"trace", "debug", "info", "warn",
					  "error"};

int sd_log_set_level_name(const char *name)
{
	for (int i = SD_LOG_TRACE; i <= SD_LOG_ERROR; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			min_level = (enum sd_log_level)i;
			return SD_OK;
		}
	}
	return SD_EINVAL;
}

void sd_log_set_level(enum sd_log_level lvl)
{
	min_level = lvl;
}

bool sd_log_enabled(enum sd_log_level lvl)
{
	return lvl >= min_level;
}

int sd_log_open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return SD_EIO;
	pthread_mutex_lock(&lock);
	if (file_fd >= 0)
		close(file_fd);
	file_fd = fd;
	free(file_path);
	file_path = strdup(path);
	pthread_mutex_unlock(&lock);
	return SD_OK;
}

void sd_log_reopen(void)
{
	pthread_mutex_lock(&lock);
	if (file_path) {
		int fd = open(file_path,
			      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd >= 0) {
			if (file_fd >= 0)
				close(file_fd);
			file_fd = fd;
		}
	}
	pthread_mutex_unlock(&lock);
}

unsigned long sd_log_count(enum sd_log_level lvl)
{
	return atomic_load(&counts[lvl]);
}

static bool needs_quote(const char *s)
{
	if (!*s)
		return true;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == '=' || *p == '"' || *p == '\\' ||
		    *p == 0x7f)
			return true;
	return false;
}

char *sd_log_q(char *buf, size_t buflen, const char *s)
{
	size_t o = 0;
	if (buflen < 8) {
		if (buflen)
			buf[0] = '\0';
		return buf;
	}
	if (!s)
		s = "";
	if (!needs_quote(s)) {
		size_t n = strlen(s);
		if (n < buflen) {
			memcpy(buf, s, n + 1);
			return buf;
		}
	}
	buf[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		size_t n;
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			n = 2;
		} else if (*p == '\n') {
			memcpy(esc, "\\n", 2);
			n = 2;
		} else if (*p < 0x20 || *p == 0x7f) {
			n = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", *p);
		} else {
			esc[0] = (char)*p;
			n = 1;
		}
		if (o + n + 5 > buflen) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(buf + o, esc, n);
		o += n;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

void sd_log(enum sd_log_level lvl, const char *mod, const char *msg,
	    const char *fields_fmt, ...)
{
	char line[4096];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int r;

	atomic_fetch_add(&counts[lvl], 1);
	if (lvl < min_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	r = snprintf(line, sizeof(line),
		     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s mod=%s "
		     "msg=%s",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
		     level_names[lvl], mod, msg);
	n = r < 0 ? 0 : (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	if (fields_fmt && *fields_fmt && n < sizeof(line) - 2) {
		va_list ap;
		line[n++] = ' ';
		va_start(ap, fields_fmt);
		r = vsnprintf(line + n, sizeof(line) - 1 - n, fields_fmt, ap);
		va_end(ap);
		if (r > 0)
			n += (size_t)r;
		if (n > sizeof(line) - 2)
			n = sizeof(line) - 2;
	}
	line[n++] = '\n';
	pthread_mutex_lock(&lock);
	/* With a log file, stderr (docker logs, journald) gets warnings and
	 * errors only: every info line written twice doubled the cost of a
	 * flood of refusals (issue 16.5) for no reader. */
	if (file_fd < 0 || lvl >= SD_LOG_WARN) {
		ssize_t w = write(STDERR_FILENO, line, n);
		(void)w;
	}
	if (file_fd >= 0) {
		ssize_t w = write(file_fd, line, n);
		(void)w;
	}
	pthread_mutex_unlock(&lock);
}

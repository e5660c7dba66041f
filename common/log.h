/* log.h - logfmt logging, one line per event.
 *
 *   ts=2026-08-22T10:11:12.345Z level=info mod=oracle msg=block_connected height=812 ...
 *
 * Key order is fixed: ts (UTC, ms), level, mod, msg, then the event's fields.
 * msg is a stable snake_case event name that tests and Loki queries grep for.
 * Fields are passed as a printf format producing "k=v k=v"; any value that
 * comes from outside (node error text, paths, user input) must go through
 * sd_log_q() which quotes and escapes it.
 *
 * Thread-safe: each line is written with a single write(2) under a mutex.
 * Output goes to stderr, and also to a file after sd_log_open_file();
 * sd_log_reopen() (called on SIGHUP) reopens that file for logrotate.
 * Never log secrets: cookie contents, passwords, private keys.
 */
#ifndef SIGNETD_COMMON_LOG_H
#define SIGNETD_COMMON_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

enum sd_log_level {
	SD_LOG_TRACE = 0,
	SD_LOG_DEBUG,
	SD_LOG_INFO,
	SD_LOG_WARN,
	SD_LOG_ERROR,
};

/* Set the minimum level (default info).  Returns SD_EINVAL on an unknown
 * name; accepted names: trace debug info warn error. */
int sd_log_set_level_name(const char *name) SD_WARN_UNUSED;
void sd_log_set_level(enum sd_log_level lvl);
bool sd_log_enabled(enum sd_log_level lvl);

/* Also append to path (created 0640).  Returns SD_OK or SD_EIO. */
int sd_log_open_file(const char *path) SD_WARN_UNUSED;
/* Reopen the file given to sd_log_open_file (after logrotate moved it). */
void sd_log_reopen(void);

/* Emit one line.  fields_fmt may be NULL or "" for no fields. */
void sd_log(enum sd_log_level lvl, const char *mod, const char *msg,
	    const char *fields_fmt, ...) SD_PRINTF(4, 5);

#define sd_log_trace(mod, msg, ...) sd_log(SD_LOG_TRACE, mod, msg, __VA_ARGS__)
#define sd_log_debug(mod, msg, ...) sd_log(SD_LOG_DEBUG, mod, msg, __VA_ARGS__)
#define sd_log_info(mod, msg, ...)  sd_log(SD_LOG_INFO, mod, msg, __VA_ARGS__)
#define sd_log_warn(mod, msg, ...)  sd_log(SD_LOG_WARN, mod, msg, __VA_ARGS__)
#define sd_log_error(mod, msg, ...) sd_log(SD_LOG_ERROR, mod, msg, __VA_ARGS__)

/* Quote s for a logfmt value into buf (always NUL-terminated, truncated
 * with "..." if needed).  Returns buf.  Values without space, '=', '"',
 * or control chars are copied as is. */
char *sd_log_q(char *buf, size_t buflen, const char *s);

/* Counters for /metrics: lines logged at warn and error since start. */
unsigned long sd_log_count(enum sd_log_level lvl);

#endif

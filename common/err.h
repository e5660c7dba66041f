/* err.h - signetd's error codes.
 *
 * Every fallible function in signetd returns an int: SD_OK (0) or one of the
 * negative SD_E* codes below.  sd_strerror() names them.  Predicates return
 * bool.  The layer that decides to retry or give up logs the error, once.
 */
#ifndef SIGNETD_COMMON_ERR_H
#define SIGNETD_COMMON_ERR_H

#define SD_OK        0
#define SD_EINVAL   -1  /* bad argument or bad input value */
#define SD_EPARSE   -2  /* malformed outside bytes (block, JSON, config) */
#define SD_ENOTFOUND -3 /* no such key, height, file */
#define SD_EEXIST   -4  /* already present */
#define SD_EIO      -5  /* file or socket I/O failed */
#define SD_ERPC     -6  /* bitcoind answered with an error */
#define SD_ETIMEOUT -7  /* no answer in time */
#define SD_ESTATE   -8  /* call not valid in the current state */
#define SD_ENOSPC   -9  /* disk or map full */
#define SD_EVERSION -10 /* data written by an incompatible version */
#define SD_EAUTH    -11 /* authentication refused (HTTP 401/403) */
#define SD_ECONN    -12 /* could not connect / connection lost */
#define SD_EDB      -13 /* database error other than the above */

#define SD_ERRLEN 256 /* size of the optional char err[] buffers */

#if defined(__GNUC__)
#define SD_WARN_UNUSED __attribute__((warn_unused_result))
#define SD_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SD_WARN_UNUSED
#define SD_PRINTF(a, b)
#endif

/* Returns: a static string naming code (never NULL). */
const char *sd_strerror(int code);

/* Formats a message into err[SD_ERRLEN]; does nothing when err is NULL. */
void sd_set_err(char *err, const char *fmt, ...) SD_PRINTF(2, 3);

#endif

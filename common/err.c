/* err.c - names for the SD_E* codes (see err.h). */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

void sd_set_err(char *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err, SD_ERRLEN, fmt, ap);
	va_end(ap);
}

const char *sd_strerror(int code)
{
	switch (code) {
	case SD_OK:
		return "ok";
	case SD_EINVAL:
		return "invalid argument";
	case SD_EPARSE:
		return "parse error";
	case SD_ENOTFOUND:
		return "not found";
	case SD_EEXIST:
		return "already exists";
	case SD_EIO:
		return "i/o error";
	case SD_ERPC:
		return "node rpc error";
	case SD_ETIMEOUT:
		return "timeout";
	case SD_ESTATE:
		return "invalid state";
	case SD_ENOSPC:
		return "no space left";
	case SD_EVERSION:
		return "incompatible version";
	case SD_EAUTH:
		return "authentication failed";
	case SD_ECONN:
		return "connection failed";
	case SD_EDB:
		return "database error";
	}
	return "unknown error";
}

/* fuzz_config.c - the blindbit.toml parser on arbitrary bytes: it must
 * return SD_OK or an error with a message, never crash or leak, and a
 * config it accepts must print and re-parse to the same effective values,
 * and a finished one has no credentials left inside rpc_endpoint.
 *
 * config.c lives in the signetd executable's library (sd_daemon), which the
 * fuzz targets do not link, so it is compiled into this target directly.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signetd/config.c"

static char *print_to_string(const struct sd_config *c)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	sd_config_print(c, f);
	fclose(f);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sd_config c, c2;
	char err[SD_ERRLEN];
	char *p1, *p2;
	int rc;

	sd_log_set_level(SD_LOG_ERROR);
	sd_config_defaults(&c);
	err[0] = '\0';
	rc = sd_config_parse(&c, (const char *)data, size, "fuzz.toml", err);
	if (rc != SD_OK) {
		if (!err[0] || strncmp(err, "fuzz.toml:", 10) != 0)
			abort(); /* every error names the file and line */
		sd_config_free(&c);
		return 0;
	}
	/* round trip: what we print parses back to the same config (the
	 * redacted password aside, which prints as a fixed placeholder) */
	p1 = print_to_string(&c);
	sd_config_defaults(&c2);
	if (sd_config_parse(&c2, p1, strlen(p1), "print", err) != SD_OK)
		abort();
	p2 = print_to_string(&c2);
	if (strcmp(p1, p2) != 0)
		abort();
	rc = sd_config_finish(&c, err);
	if (rc != SD_OK && !err[0])
		abort();
	if (rc == SD_OK) {
		/* credentials never stay in the URL that gets printed and
		 * logged: no '@' left before the path */
		const char *a = strstr(c.rpc_endpoint, "://");
		if (a && memchr(a + 3, '@', strcspn(a + 3, "/?#")))
			abort();
	}
	free(p1);
	free(p2);
	sd_config_free(&c);
	sd_config_free(&c2);
	return 0;
}

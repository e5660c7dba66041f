/* main.c - signetd's command line: the flags upstream blindbit-oracle
 * accepts (-datadir, -version; one or two dashes, "-flag value" or
 * "-flag=value"), then the configuration, then the daemon.
 *
 * Exit codes: 0 clean stop, 1 runtime failure, 2 bad flags or config.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "miner/miner.h"
#include "../common/log.h"
#include "../common/util.h"

static void usage(FILE *f)
{
	fputs("Usage: signetd [-datadir DIR] [--print-config] [--help] "
	      "[--version]\n"
	      "       signetd miner [miner options] COMMAND ...   (signet "
	      "miner; see\n"
	      "       \"signetd miner --help\")\n\n"
	      "A blindbit-oracle v1 compatible BIP352 tweak server for a "
	      "bitcoind.\n\n"
	      "Flags (one or two dashes; \"-flag value\" or "
	      "\"-flag=value\"):\n"
	      "  -datadir DIR     data directory: DIR/blindbit.toml, the "
	      "index in DIR/index\n"
	      "                   (default ~/.blindbit-oracle)\n"
	      "  -print-config    print the effective configuration (secrets "
	      "redacted), exit\n"
	      "  -help            this text\n"
	      "  -version         print the version, exit\n\n", f);
	sd_config_help(f);
	fputs("\nSignals: SIGINT/SIGTERM stop cleanly (exit 0); SIGHUP "
	      "reopens log_file.\nExit codes: 0 clean stop, 1 runtime failure "
	      "(index, listen socket), 2 bad\nflags or configuration.\n", f);
}

/* "~" and "~/x" -> $HOME... */
static char *expand_home(const char *p)
{
	const char *home = getenv("HOME");
	size_t n;
	char *out;

	if (p[0] != '~' || (p[1] != '\0' && p[1] != '/') || !home)
		return sd_xstrdup(p);
	n = strlen(home) + strlen(p);
	out = sd_xmalloc(n + 1);
	snprintf(out, n + 1, "%s%s", home, p + 1);
	return out;
}

/* Flag name without its one or two dashes, or NULL if not a flag. */
static const char *flag_name(const char *arg)
{
	if (arg[0] != '-' || arg[1] == '\0')
		return NULL;
	arg++;
	if (arg[0] == '-')
		arg++;
	return arg;
}

static int flag_is(const char *name, const char *flag, const char **value)
{
	size_t n = strlen(flag);

	if (strncmp(name, flag, n) != 0)
		return 0;
	if (name[n] == '\0') {
		*value = NULL;
		return 1;
	}
	if (name[n] == '=') {
		*value = name + n + 1;
		return 1;
	}
	return 0;
}

/* "signetd miner ..." or a link named signet-miner: the miner's own CLI
 * (the reference contrib/signet/miner's). */
static bool is_miner_invocation(int argc, char **argv, bool *shift)
{
	const char *base = strrchr(argv[0], '/');

	base = base ? base + 1 : argv[0];
	*shift = false;
	if (strcmp(base, "signet-miner") == 0 || strcmp(base, "miner") == 0)
		return true;
	if (argc > 1 && strcmp(argv[1], "miner") == 0) {
		*shift = true;
		return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	const char *datadir_arg = "~/.blindbit-oracle";
	bool print_config = false;
	struct sd_config cfg;
	char err[SD_ERRLEN], *datadir, *path;
	size_t n;
	bool shift;
	int rc;

	if (argc > 0 && is_miner_invocation(argc, argv, &shift))
		return shift ? miner_main(argc - 1, argv + 1)
			     : miner_main(argc, argv);

	for (int i = 1; i < argc; i++) {
		const char *name = flag_name(argv[i]), *val = NULL;

		if (!name) {
			fprintf(stderr, "signetd: unexpected argument \"%s\" "
				"(see --help)\n", argv[i]);
			return SD_EXIT_CONFIG;
		}
		if (flag_is(name, "datadir", &val)) {
			if (!val) {
				if (i + 1 >= argc) {
					fprintf(stderr, "signetd: -datadir "
						"needs a directory\n");
					return SD_EXIT_CONFIG;
				}
				val = argv[++i];
			}
			if (!val[0]) {
				fprintf(stderr, "signetd: -datadir is "
					"empty\n");
				return SD_EXIT_CONFIG;
			}
			datadir_arg = val;
		} else if (strcmp(name, "help") == 0 ||
			   strcmp(name, "h") == 0) {
			usage(stdout);
			return SD_EXIT_OK;
		} else if (strcmp(name, "version") == 0) {
			printf("signetd version: %s\n", SIGNETD_VERSION);
			return SD_EXIT_OK;
		} else if (strcmp(name, "print-config") == 0) {
			print_config = true;
		} else {
			fprintf(stderr, "signetd: unknown flag %s (see "
				"--help)\n", argv[i]);
			return SD_EXIT_CONFIG;
		}
	}

	datadir = expand_home(datadir_arg);
	n = strlen(datadir) + sizeof("/blindbit.toml");
	path = sd_xmalloc(n);
	snprintf(path, n, "%s/blindbit.toml", datadir);

	sd_config_defaults(&cfg);
	rc = sd_config_load_file(&cfg, path, err);
	if (rc == SD_ENOTFOUND) {
		char q[300];

		sd_log_warn("config", "config_missing",
			    "path=%s note=using_defaults",
			    sd_log_q(q, sizeof(q), path));
		rc = SD_OK;
	}
	if (rc == SD_OK)
		rc = sd_config_apply_env(&cfg, err);
	if (rc == SD_OK)
		rc = sd_config_finish(&cfg, err);
	if (rc == SD_OK && sd_log_set_level_name(cfg.log_level) != SD_OK) {
		snprintf(err, sizeof(err), "log_level: unknown level");
		rc = SD_EINVAL;
	}
	if (rc != SD_OK) {
		fprintf(stderr, "signetd: configuration error: %s\n", err);
		rc = SD_EXIT_CONFIG;
		goto out;
	}
	if (print_config) {
		sd_config_print(&cfg, stdout);
		rc = SD_EXIT_OK;
		goto out;
	}
	rc = sd_daemon_run(&cfg, datadir);
out:
	sd_config_free(&cfg);
	free(path);
	free(datadir);
	return rc;
}

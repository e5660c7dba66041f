/* daemon.h - signetd's lifecycle: open the index, start the HTTP server and
 * the status poller, follow the node until SIGINT/SIGTERM, then stop
 * everything in reverse order.  SIGHUP reopens the log file.
 */
#ifndef SIGNETD_SIGNETD_DAEMON_H
#define SIGNETD_SIGNETD_DAEMON_H

#include "config.h"

/* Exit codes of the process. */
#define SD_EXIT_OK     0
#define SD_EXIT_FAIL   1 /* runtime failure: index, socket, node setup */
#define SD_EXIT_CONFIG 2 /* bad command line or configuration */

/* Run until a stop signal.  cfg has passed sd_config_finish(); datadir
 * exists or can be created.  Returns an SD_EXIT_* code. */
int sd_daemon_run(const struct sd_config *cfg, const char *datadir);

#endif

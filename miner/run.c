/* run.c - running the external commands the reference relies on
 * (`--cli` bitcoin-cli and `--grind-cmd`): split like the 29.x reference,
 * feed stdin, collect stdout and stderr without deadlocking, with a
 * deadline, an environment without the miner's secrets, and the child
 * stopped when the miner is asked to stop.  Also the miner's SIGTERM and
 * SIGINT handling (as PID 1 in a container nothing else would stop it). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/util.h"
#include "miner_priv.h"

extern char **environ;

/* ---- stop signals ---- */

static volatile sig_atomic_t stop_sig, cooperative;
static volatile bool stop_flag; /* the grinder's abort flag */

static void on_stop(int sig)
{
	if (!cooperative)
		_exit(128 + sig); /* what the default action would report */
	stop_sig = sig;
	stop_flag = true;
}

void miner_signals_install(bool coop)
{
	cooperative = coop;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: sleeps and polls wake up */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

bool miner_stopping(void)
{
	return stop_sig != 0;
}

const char *miner_stop_signal_name(void)
{
	return stop_sig == SIGINT ? "SIGINT" : "SIGTERM";
}

const volatile bool *miner_stop_flag(void)
{
	return &stop_flag;
}

/* ---- children ---- */

/* Variables a child must not see: bitcoin-cli and a grinder need neither
 * the node's password nor the signing key. */
static const char *const secret_env[] = {"RPC_PASS", "SIGNET_MINER_KEY"};

bool miner_env_is_secret(const char *entry)
{
	for (size_t i = 0; i < sizeof(secret_env) / sizeof(secret_env[0]);
	     i++) {
		size_t n = strlen(secret_env[i]);
		if (strncmp(entry, secret_env[i], n) == 0 && entry[n] == '=')
			return true;
	}
	return false;
}

/* environ without the secrets (the strings are shared, not copied). */
static char **child_env(void)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ && environ[n])
		n++;
	env = sd_xcalloc(n + 1, sizeof(*env));
	for (size_t i = 0; i < n; i++)
		if (!miner_env_is_secret(environ[i]))
			env[k++] = environ[i];
	return env;
}

char **miner_split_cmd(const char *cmd, size_t extra, size_t *argc)
{
	size_t n = 1;
	char **v;
	const char *p = cmd;

	for (const char *c = cmd; *c; c++)
		if (*c == ' ')
			n++;
	v = sd_xcalloc(n + extra + 1, sizeof(*v));
	*argc = 0;
	for (;;) {
		const char *sp = strchr(p, ' ');
		size_t len = sp ? (size_t)(sp - p) : strlen(p);
		if (len) { /* empty words from double spaces are dropped */
			v[*argc] = sd_xmalloc(len + 1);
			memcpy(v[*argc], p, len);
			v[*argc][len] = 0;
			(*argc)++;
		}
		if (!sp)
			break;
		p = sp + 1;
	}
	return v;
}

void miner_argv_free(char **argv)
{
	if (!argv)
		return;
	for (size_t i = 0; argv[i]; i++)
		free(argv[i]);
	free(argv);
}

static void append(char **buf, size_t *len, const char *d, size_t n)
{
	*buf = sd_xrealloc(*buf, *len + n + 1);
	memcpy(*buf + *len, d, n);
	*len += n;
	(*buf)[*len] = 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* SIGTERM the child, SIGKILL it if it is still there 2 s later. */
static void stop_child(pid_t pid)
{
	kill(pid, SIGTERM);
	for (int i = 0; i < 200; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return; /* reaped (or gone) */
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int miner_run(char *const *argv, const uint8_t *in_data, size_t in_len,
	      long timeout_ms, char **out, char **err, int *status)
{
	int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1}, ws;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	size_t olen = 0, elen = 0, woff = 0;
	char tmp[65536], **env;
	uint64_t deadline = 0;
	int rc = SD_OK;

	*out = sd_xstrdup("");
	*err = sd_xstrdup("");
	*status = -1;
	if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) ||
	    pipe2(perr, O_CLOEXEC)) {
		close_fd(&pin[0]);
		close_fd(&pin[1]);
		close_fd(&pout[0]);
		close_fd(&pout[1]);
		return SD_EIO;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	env = child_env();
	{
		/* the child starts with default signal handling whatever
		 * the miner installed or ignored (SIGPIPE) */
		posix_spawnattr_t at;
		sigset_t def;

		posix_spawnattr_init(&at);
		sigemptyset(&def);
		sigaddset(&def, SIGPIPE);
		sigaddset(&def, SIGTERM);
		sigaddset(&def, SIGINT);
		posix_spawnattr_setsigdefault(&at, &def);
		posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF);
		rc = posix_spawnp(&pid, argv[0], &fa, &at, argv, env) == 0
			     ? SD_OK : SD_EIO;
		posix_spawnattr_destroy(&at);
	}
	free(env);
	posix_spawn_file_actions_destroy(&fa);
	close_fd(&pin[0]);
	close_fd(&pout[1]);
	close_fd(&perr[1]);
	if (rc != SD_OK) {
		close_fd(&pin[1]);
		close_fd(&pout[0]);
		close_fd(&perr[0]);
		return SD_EIO;
	}
	signal(SIGPIPE, SIG_IGN);
	if (timeout_ms > 0)
		deadline = sd_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	fcntl(pin[1], F_SETFL, fcntl(pin[1], F_GETFL) | O_NONBLOCK);
	if (in_len == 0)
		close_fd(&pin[1]);
	while (pout[0] >= 0 || perr[0] >= 0) {
		struct pollfd pf[3] = {{pout[0], POLLIN, 0},
				       {perr[0], POLLIN, 0},
				       {pin[1], POLLOUT, 0}};
		int wait_ms = 250; /* the stop flag is checked this often:
				    * the signal may land on another thread */

		if (miner_stopping()) {
			rc = SD_ESTATE;
			break;
		}
		if (deadline) {
			uint64_t now = sd_mono_ns();
			if (now >= deadline) {
				rc = SD_ETIMEOUT;
				break;
			}
			if ((deadline - now) / 1000000u < 250)
				wait_ms = (int)((deadline - now) / 1000000u) + 1;
		}
		if (poll(pf, 3, wait_ms) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			int *fd = i == 0 ? &pout[0] : &perr[0];
			ssize_t r;
			if (*fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP |
							   POLLERR)))
				continue;
			r = read(*fd, tmp, sizeof(tmp));
			if (r > 0) {
				if (i == 0)
					append(out, &olen, tmp, (size_t)r);
				else
					append(err, &elen, tmp, (size_t)r);
			} else if (r == 0 || errno != EINTR) {
				close_fd(fd);
			}
		}
		if (pin[1] >= 0 && (pf[2].revents & (POLLOUT | POLLERR |
						      POLLHUP))) {
			ssize_t w = write(pin[1], in_data + woff, in_len - woff);
			if (w > 0)
				woff += (size_t)w;
			if (w < 0 && errno != EINTR && errno != EAGAIN)
				woff = in_len;
			if (woff >= in_len)
				close_fd(&pin[1]);
		}
	}
	close_fd(&pin[1]);
	close_fd(&pout[0]);
	close_fd(&perr[0]);
	if (rc != SD_OK) {
		stop_child(pid);
		return rc;
	}
	/* both pipes closed; a child that closed them and lingers is
	 * still bound by the deadline */
	for (;;) {
		pid_t w = waitpid(pid, &ws, WNOHANG);
		struct timespec ts = {0, 10 * 1000 * 1000};

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return SD_EIO;
		if (miner_stopping() ||
		    (deadline && sd_mono_ns() >= deadline)) {
			rc = miner_stopping() ? SD_ESTATE : SD_ETIMEOUT;
			stop_child(pid);
			return rc;
		}
		if (w == 0)
			nanosleep(&ts, NULL);
	}
	*status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	return SD_OK;
}

/* run.c - running the external commands the reference relies on
 * (`--cli` bitcoin-cli and `--grind-cmd`): split like the 29.x reference,
 * feed stdin, collect stdout and stderr without deadlocking. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../signetd/util.h"
#include "miner_priv.h"

extern char **environ;

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

int miner_run(char *const *argv, const uint8_t *in_data, size_t in_len,
	      char **out, char **err, int *status)
{
	int pin[2], pout[2], perr[2], ws;
	posix_spawn_file_actions_t fa;
	pid_t pid;
	size_t olen = 0, elen = 0, woff = 0;
	char tmp[65536];

	*out = sd_xstrdup("");
	*err = sd_xstrdup("");
	if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) ||
	    pipe2(perr, O_CLOEXEC))
		return SD_EIO;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		close(pin[0]);
		close(pin[1]);
		close(pout[0]);
		close(pout[1]);
		close(perr[0]);
		close(perr[1]);
		return SD_EIO;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	signal(SIGPIPE, SIG_IGN);
	fcntl(pin[1], F_SETFL, fcntl(pin[1], F_GETFL) | O_NONBLOCK);
	if (in_len == 0) {
		close(pin[1]);
		pin[1] = -1;
	}
	while (pout[0] >= 0 || perr[0] >= 0) {
		struct pollfd pf[3] = {{pout[0], POLLIN, 0},
				       {perr[0], POLLIN, 0},
				       {pin[1], POLLOUT, 0}};
		if (poll(pf, 3, -1) < 0) {
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
				close(*fd);
				*fd = -1;
			}
		}
		if (pin[1] >= 0 && (pf[2].revents & (POLLOUT | POLLERR |
						      POLLHUP))) {
			ssize_t w = write(pin[1], in_data + woff, in_len - woff);
			if (w > 0)
				woff += (size_t)w;
			if (w < 0 && errno != EINTR && errno != EAGAIN)
				woff = in_len;
			if (woff >= in_len) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
	}
	if (pin[1] >= 0)
		close(pin[1]);
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	*status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	return SD_OK;
}

/* exec.c - fork/exec with piped stdin/stdout/stderr and xtables-lock retry. */
#include "capture/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

void capture_exec_format(const char *const argv[], struct strbuf *out)
{
	for (size_t i = 0; argv[i]; i++) {
		if (i)
			strbuf_putc(out, ' ');
		strbuf_puts(out, argv[i]);
	}
}

static int run_once(const char *const argv[], const char *in, size_t in_len, struct strbuf *out,
		    struct strbuf *err)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
		int r = -errno;
		for (int i = 0; i < 2; i++) {
			if (pin[i] >= 0) close(pin[i]);
			if (pout[i] >= 0) close(pout[i]);
			if (perr[i] >= 0) close(perr[i]);
		}
		return r;
	}
	/* posix_spawn (vfork-style in glibc): no page-table copy, and exec
	 * failures come back as its return value. */
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pin[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, pout[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, perr[1], STDERR_FILENO);
	pid_t pid;
	int sr = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (sr != 0) {
		close(pin[0]); close(pin[1]); close(pout[0]); close(pout[1]); close(perr[0]); close(perr[1]);
		return -sr;
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	signal(SIGPIPE, SIG_IGN);
	int fin = pin[1];
	if (!in || in_len == 0) {
		close(fin);
		fin = -1;
	} else {
		fcntl(fin, F_SETFL, O_NONBLOCK);
	}
	size_t off = 0;
	int fo = pout[0], fe = perr[0];
	while (fin >= 0 || fo >= 0 || fe >= 0) {
		struct pollfd p[3];
		int n = 0, ii = -1, io = -1, ie = -1;
		if (fin >= 0) { p[n] = (struct pollfd){ fin, POLLOUT, 0 }; ii = n++; }
		if (fo >= 0) { p[n] = (struct pollfd){ fo, POLLIN, 0 }; io = n++; }
		if (fe >= 0) { p[n] = (struct pollfd){ fe, POLLIN, 0 }; ie = n++; }
		if (poll(p, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (ii >= 0 && p[ii].revents) {
			ssize_t w = write(fin, in + off, in_len - off);
			if (w > 0)
				off += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || off >= in_len) {
				close(fin);
				fin = -1;
			}
		}
		int *fds[2] = { &fo, &fe };
		int idx[2] = { io, ie };
		struct strbuf *dst[2] = { out, err };
		for (int k = 0; k < 2; k++) {
			if (idx[k] < 0 || !p[idx[k]].revents)
				continue;
			char buf[4096];
			ssize_t r = read(*fds[k], buf, sizeof(buf));
			if (r > 0) {
				if (dst[k])
					strbuf_append(dst[k], buf, (size_t)r);
			} else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
				close(*fds[k]);
				*fds[k] = -1;
			}
		}
	}
	if (fin >= 0) close(fin);
	if (fo >= 0) close(fo);
	if (fe >= 0) close(fe);
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

int capture_exec_run(const struct capture_exec *x, const char *const argv[], const char *stdin_data,
		     size_t stdin_len, struct strbuf *out, struct strbuf *err)
{
	const char *full[64];
	size_t n = 0;
	char netopt[4200];
	if (x && x->netns) {
		snprintf(netopt, sizeof(netopt), "--net=%s", x->netns);
		full[n++] = "nsenter";
		full[n++] = netopt;
		full[n++] = "--";
	}
	for (size_t i = 0; argv[i] && n < 63; i++)
		full[n++] = argv[i];
	full[n] = NULL;

	long delay_ms = 100, waited_ms = 0;
	for (;;) {
		struct strbuf e = STRBUF_INIT;
		size_t out_mark = out ? out->len : 0;
		int r = run_once(full, stdin_data, stdin_len, out, &e);
		bool locked = r == 4 && e.buf && strstr(e.buf, "xtables lock");
		if (!locked || waited_ms >= 10000) {
			if (err && e.buf)
				strbuf_append(err, e.buf, e.len);
			strbuf_free(&e);
			return r;
		}
		strbuf_free(&e);
		if (out) {
			out->len = out_mark;
			if (out->buf)
				out->buf[out_mark] = '\0';
		}
		struct timespec ts = { delay_ms / 1000, (delay_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		waited_ms += delay_ms;
		delay_ms = delay_ms * 2 > 2000 ? 2000 : delay_ms * 2;
	}
}

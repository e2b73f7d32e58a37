/* exec.h - running iptables-family commands and iproute2.
 *
 * One place starts processes for the capture code: it feeds standard input,
 * collects standard output and error, prefixes `nsenter --net=NETNS --` in
 * CNI mode, and retries when the xtables lock is busy (exit 4 and
 * "xtables lock" on stderr: back-off from 100 ms up to 2 s, about 10 s in
 * total), as Istio does. */
#ifndef SKIFF_CAPTURE_EXEC_H
#define SKIFF_CAPTURE_EXEC_H

#include <stddef.h>

#include "base/strbuf.h"

struct capture_exec {
	const char *netns;   /* non-NULL: run inside this network namespace (nsenter) */
};

/* Run ARGV (NULL-terminated) with STDIN_DATA (may be NULL) on standard input;
 * OUT / ERR (may be NULL) receive standard output / error. Returns the exit
 * status (0-255, 128+signal), or a negative errno when it could not start. */
int capture_exec_run(const struct capture_exec *x, const char *const argv[], const char *stdin_data,
		     size_t stdin_len, struct strbuf *out, struct strbuf *err);

/* "iptables -t nat -N ISTIO_INBOUND" for messages. */
void capture_exec_format(const char *const argv[], struct strbuf *out);

#endif

/* net.h - the socket plumbing the HTTP and TCP probers share: connect from
 * 127.0.0.6 (::6) with an absolute deadline, deadline-bounded I/O, and the
 * close that leaves no TIME_WAIT behind. All sockets are non-blocking; every
 * wait is a poll() bounded by the probe's deadline. */
#ifndef SKIFF_PROBE_NET_H
#define SKIFF_PROBE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "probe/probe.h"

/* Source addresses of every probe (spec 6.4). */
#define PROBE_SOURCE_V4 "127.0.0.6"
#define PROBE_SOURCE_V6 "::6"

/* Connect to ep from the probe source address of ep->ipv6's family. A host
 * name is resolved (only addresses of the source family are tried, in
 * order). An IPv4-mapped IPv6 literal is dialled as IPv4 unless
 * `strict_literal` (the TCP prober's "too many colons"). Returns a connected
 * non-blocking fd, or a negative errno with a reason in why. */
int probe_net_connect(const struct probe_endpoint *ep, bool strict_literal,
		      int64_t deadline_ms, char *why, size_t why_len);

/* Wait until fd is ready for `events` (POLLIN/POLLOUT) or the deadline
 * passes. Returns 0, or -ETIMEDOUT. deadline 0 = wait forever. */
int probe_net_wait(int fd, short events, int64_t deadline_ms);

/* Close a probe socket. With `abortive` the kernel sends RST instead of FIN
 * (SO_LINGER 0): used once a probe's outcome is known, so no socket of the
 * agent lingers in TIME_WAIT (see docs/agent.md). */
void probe_net_close(int fd, bool abortive);

/* "host:port" as Go writes a URL authority: IPv6 literals (but not
 * IPv4-mapped ones) in brackets. */
void probe_net_authority(const char *host, unsigned port, char *buf, size_t cap);

#endif

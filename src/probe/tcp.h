/* tcp.h - the TCP prober (spec probes.md 7): connect from 127.0.0.6 (::6)
 * within the deadline, close at once (RST, no TIME_WAIT), nothing sent.
 * Connected -> 200, any error -> 500. Blocking, thread-safe. */
#ifndef SKIFF_PROBE_TCP_H
#define SKIFF_PROBE_TCP_H

#include <stdint.h>

#include "probe/probe.h"

/* port_number is the prober's int32 port (0 or > 65535 fail at once). */
void probe_tcp_run(const struct probe_endpoint *ep, int32_t port_number, int64_t deadline_ms,
		   struct probe_outcome *out);

#endif

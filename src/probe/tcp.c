/* tcp.c - the TCP prober (see tcp.h). */
#include "probe/tcp.h"

#include <stdio.h>

#include "probe/net.h"

void probe_tcp_run(const struct probe_endpoint *ep, int32_t port_number, int64_t deadline_ms,
		   struct probe_outcome *out)
{
	if (port_number <= 0 || port_number > 65535) {
		out->status = 500;
		snprintf(out->reason, sizeof(out->reason), "dial tcp: invalid port %d", port_number);
		return;
	}
	struct probe_endpoint e = *ep;
	e.port = (uint16_t)port_number;
	char why[160] = "";
	int fd = probe_net_connect(&e, true, deadline_ms, why, sizeof(why));
	if (fd < 0) {
		out->status = 500;
		snprintf(out->reason, sizeof(out->reason), "%s", why);
		return;
	}
	probe_net_close(fd, true);
	out->status = 200;
	snprintf(out->reason, sizeof(out->reason), "connected");
}

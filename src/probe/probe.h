/* probe.h - what every prober (HTTP, TCP, gRPC) shares: where the probe goes,
 * its deadline, and the answer the agent gives the kubelet.
 *
 * Probers are blocking calls bounded by an absolute deadline, safe to run on
 * any thread, with no global state. The agent decides which thread runs them.
 * This header is a contract between the agent's server and the probers:
 * change it only by adding. */
#ifndef SKIFF_PROBE_PROBE_H
#define SKIFF_PROBE_PROBE_H

#include <stdbool.h>
#include <stdint.h>

/* Where a probe is sent (spec probes.md 6.1): the pod IP from INSTANCE_IP, or
 * "localhost" in legacy mode, and the application port. */
struct probe_endpoint {
	char host[256]; /* IP literal without brackets, or a host name ("localhost") */
	uint16_t port;
	bool ipv6;      /* agent in IPv6 mode: probes leave from ::6, not 127.0.0.6 */
};

/* The agent's answer for one probe. */
struct probe_outcome {
	int status;        /* HTTP status for the kubelet: 200, 500, or passed through */
	char reason[256];  /* short human-readable why, for the log */
};

/* CLOCK_MONOTONIC now, in milliseconds. Deadlines are absolute values of it;
 * 0 means "no deadline". */
int64_t probe_now_ms(void);

#endif

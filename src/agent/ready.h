/* ready.h - /healthz/ready, the readiness of the proxy itself (spec
 * probes.md section 9).
 *
 * Checks, in order, first failure wins: Envoy (configuration received from
 * XDS, not draining, server LIVE with workers started; the first and last are
 * remembered once they pass), then the gRPC xDS bootstrap file when
 * configured, then the agent DNS table (skiff has no DNS proxy: see
 * docs/agent-probes-grpc-ready-metrics.md). 200 when all pass, else 503;
 * empty body. Thread-safe. */
#ifndef SKIFF_AGENT_READY_H
#define SKIFF_AGENT_READY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/response.h"
#include "base/err.h"

struct agent_metrics;
struct agent_ready;

/* Create the checker from DISABLE_ENVOY, GRPC_XDS_BOOTSTRAP and
 * ISTIO_META_DNS_CAPTURE in envp. Envoy admin is 127.0.0.1:admin_port, or
 * [::1]:admin_port when ipv6. metrics (may be NULL) receives the start-up
 * duration on Envoy's first LIVE answer, measured from this call. The caller
 * frees *out with agent_ready_free(). */
int agent_ready_new(char *const *envp, int admin_port, bool ipv6, struct agent_metrics *metrics,
		    struct agent_ready **out, struct skiff_err *e);

/* Run the checks and fill resp (200 or 503, no body). draining: the agent is
 * shutting down (9.1 b). */
void agent_ready_check(struct agent_ready *r, bool draining, struct agent_response *resp);

void agent_ready_free(struct agent_ready *r);

/* Spec 9.4: for each names[i], the first line of text starting with it must
 * be "<anything>:<uint64>" (value trimmed); no line = 0. Returns 0, or
 * -EINVAL with the offending line quoted in why. */
int ready_stats_parse(const char *text, size_t len, const char *const *names, uint64_t *values,
		      size_t n, char *why, size_t why_len);

/* Envoy admin request targets (sent unescaped, as Istio does). */
#define READY_CONFIG_TARGET \
	"/stats?usedonly&filter=^(cluster_manager\\.cds|listener_manager\\.lds)\\.(update_success|update_rejected)$"
#define READY_LIVE_TARGET \
	"/stats?usedonly&filter=^(server\\.state|listener_manager\\.workers_started)"

#endif

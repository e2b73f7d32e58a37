/* server.h - the status server: one epoll thread that accepts connections
 * and collects request heads, and a small pool of worker threads (grown on
 * demand up to --max-workers) that parse, route and answer them, running
 * probes as blocking calls bounded by their deadlines. A hung application
 * therefore only ever holds the one worker running its probe.
 *
 * Limits (docs/agent.md): --max-connections open connections (the oldest
 * idle one is dropped to admit a new one), 8 KiB request heads, 30 s to
 * send a head, 120 s idle keep-alive. */
#ifndef SKIFF_AGENT_SERVER_H
#define SKIFF_AGENT_SERVER_H

#include "agent/config.h"
#include "base/err.h"

struct agent_ready;
struct agent_metrics;

/* Handlers owned by the caller; NULL ones answer as documented. */
struct agent_handlers {
	struct agent_ready *ready;
	struct agent_metrics *metrics;
};

/* Listen on cfg->status_port (all addresses) and serve until SIGTERM or
 * SIGINT (or /quitquitquit); then stop accepting, let in-flight requests
 * finish within cfg->grace_ms, and return 0. SIGTERM/SIGINT must be blocked
 * in the calling thread (they are read from a signalfd). Returns a negative
 * error when the port cannot be opened. */
int agent_server_run(const struct agent_config *cfg, const struct agent_handlers *h,
		     struct skiff_err *e);

/* Handle one complete request head in buf (the in-process path the fuzz
 * harness drives): parse, route, and for fixed answers and probes write the
 * response to out. Probes run for real against cfg's destination. */
struct agent_server;
void agent_server_handle_buffer(const struct agent_config *cfg, const char *buf, size_t len,
				bool peer_loopback, struct strbuf *out);

#endif

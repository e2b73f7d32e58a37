/* route.h - the status server's routing (spec probes.md 3, 5, 10, 12), as
 * Go's ServeMux does it for Istio's handlers: path cleaning redirects, the
 * subtree redirect, loopback-only routes, 404/403/405 with Go's bodies.
 * Pure: a parsed request in, a decision (and, for fixed answers, the whole
 * response) out. */
#ifndef SKIFF_AGENT_ROUTE_H
#define SKIFF_AGENT_ROUTE_H

#include <stdbool.h>
#include <sys/socket.h>

#include "agent/request.h"
#include "base/strbuf.h"
#include "probe/config.h"

enum agent_route_kind {
	ROUTE_DONE,    /* the response is in `out` */
	ROUTE_PROBE,   /* run rt->prober, answer its status */
	ROUTE_READY,   /* /healthz/ready */
	ROUTE_METRICS, /* /stats/prometheus */
	ROUTE_QUIT,    /* response in `out`; then SIGTERM ourselves */
};

struct agent_route {
	enum agent_route_kind kind;
	const struct prober *prober;
};

/* Decide what to do with rq. For ROUTE_DONE and ROUTE_QUIT the response
 * (with Connection: close when `close`) is appended to out. */
void agent_route(const struct agent_request *rq, const struct probe_config *probers,
		 bool peer_loopback, bool close, struct strbuf *out, struct agent_route *rt);

/* 127.0.0.0/8, ::1, and IPv4-mapped loopback. */
bool agent_peer_is_loopback(const struct sockaddr *sa);

/* Go's cleanPath (path.Clean, keeping a trailing slash) into buf. */
size_t agent_clean_path(const char *p, size_t n, char *buf, size_t cap);

#endif

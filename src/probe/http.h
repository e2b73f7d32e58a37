/* http.h - the HTTP(S) prober (spec probes.md 6): one GET with Istio 1.13's
 * header rules, the kubelet's redirect rules and status mapping, over a
 * hand-written HTTP/1.1 client on plain sockets (TLS via tls.h).
 *
 * Blocking, bounded by one absolute deadline for connect, TLS, request,
 * redirects and body; thread-safe; the only shared state is the optional
 * keep-alive pool, which has its own lock. */
#ifndef SKIFF_PROBE_HTTP_H
#define SKIFF_PROBE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probe/config.h"
#include "probe/probe.h"
#include "probe/tls.h"

/* One incoming request header, name already in Go's canonical form. */
struct probe_kv {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* Idle connections kept for one prober when keep-alive is on: at most
 * PROBE_POOL_MAX, no idle time-out (Go's transport defaults). */
#define PROBE_POOL_MAX 2
struct probe_http_pool;
struct probe_http_pool *probe_http_pool_new(void);
void probe_http_pool_free(struct probe_http_pool *p);

struct probe_http_request {
	const struct probe_endpoint *ep;     /* destination (pod IP or localhost) */
	const struct probe_http_get *get;    /* the prober's httpGet */
	const struct probe_kv *in_headers;   /* incoming headers to forward (no Host) */
	size_t n_in;
	bool keepalive;                      /* ENABLE_PROBE_KEEPALIVE_CONNECTIONS */
	struct probe_http_pool *pool;        /* used when keepalive; may be NULL */
	struct probe_tls *tls;               /* needed for HTTPS probers */
};

void probe_http_run(const struct probe_http_request *rq, int64_t deadline_ms,
		    struct probe_outcome *out);

/* Go's textproto.CanonicalMIMEHeaderKey into buf (names with bytes outside
 * the token set are copied unchanged). Returns the length. */
size_t probe_canonical_header(const char *name, size_t len, char *buf, size_t cap);

/* Build the request target (path and query) Go sends for a prober path
 * (6.2): "/" prepended, fragment dropped, Go's path escaping. Returns 0, or
 * -EINVAL when Go's URL parser would refuse it (the probe answers 500). */
int probe_http_target(const char *path, char *buf, size_t cap);

#endif

/* http_get.h - a small blocking HTTP/1.1 GET client for loopback peers
 * (Envoy admin, Envoy's and the application's metrics), bounded by an
 * absolute deadline.
 *
 * One new connection per request (Connection: close), plain HTTP only,
 * Content-Length, chunked and read-to-close bodies, optional redirects.
 * No global state; safe on any thread. The pure parts (response head,
 * chunked decoding) are exposed for the unit tests and fuzzers. */
#ifndef SKIFF_AGENT_HTTP_GET_H
#define SKIFF_AGENT_HTTP_GET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"

struct http_get_request {
	const char *host;            /* IP literal without brackets, or a name ("localhost") */
	uint16_t port;
	const char *target;          /* request target: "/stats?usedonly&filter=..." */
	const char *const *headers;  /* extra "Name: value" lines, NULL-terminated; may be NULL */
	int64_t deadline_ms;         /* absolute CLOCK_MONOTONIC ms; 0 = none */
	size_t max_body;             /* larger bodies fail the request */
	int max_redirects;           /* redirects to follow (Go's client: 10); 0 = none */
};

struct http_get_response {
	int status;
	char content_type[256];      /* "" when absent */
	struct strbuf body;          /* owned by the caller: strbuf_free() */
};

/* Perform the GET. Returns 0 with *resp filled (any status), or a negative
 * errno with a reason in why (transport error, timeout, bad response). */
int http_get(const struct http_get_request *req, struct http_get_response *resp,
	     char *why, size_t why_len);

/* The head of a response, parsed. */
struct http_head {
	int status;
	char content_type[256];
	char location[1024];
	bool chunked;
	bool has_length;
	uint64_t content_length;
};

/* Parse a response head (status line and headers, up to and including the
 * empty line, len bytes). Returns 0 or -EINVAL. */
int http_head_parse(const char *buf, size_t len, struct http_head *h);

/* Incremental chunked-body decoder. */
struct http_chunked {
	int state;
	unsigned digits;
	uint64_t left;
	bool done;
};

/* Decode len bytes of chunked encoding, appending payload to out. Returns 0,
 * or -EINVAL on malformed input. Sets c->done after the last chunk (trailers
 * are skipped). */
int http_chunked_feed(struct http_chunked *c, const char *data, size_t len, struct strbuf *out);

#endif

/* request.h - the status server's HTTP/1.1 request head parser and its
 * response writer. Pure: bytes in, a parsed request (pointing into the
 * caller's buffer) or a Go-net/http-style error out. Limits: see docs/agent.md. */
#ifndef SKIFF_AGENT_REQUEST_H
#define SKIFF_AGENT_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "base/strbuf.h"
#include "probe/http.h"

#define AGENT_MAX_HEAD 8192   /* request line + headers */
#define AGENT_MAX_HEADERS 100

struct agent_request {
	const char *method;
	size_t method_len;
	const char *path;            /* decoded path (r.URL.Path), decoded in place */
	size_t path_len;
	const char *query;           /* raw query without '?', or NULL */
	size_t query_len;
	bool http11;
	bool keep_alive;             /* the connection may serve another request */
	long long content_length;    /* body bytes to discard */
	bool chunked;                /* a chunked body: answered, then the connection closes */
	/* headers other than Host, names made canonical in place */
	struct probe_kv headers[AGENT_MAX_HEADERS];
	size_t n_headers;
	const char *host;
	size_t host_len;
};

/* Parse a request head at buf[0..len), in place: the path is percent-decoded
 * and header names are canonicalised inside buf, which the request then
 * points into (it stays valid while buf does). Returns the head length (> 0) when a
 * whole head is there, 0 when more bytes are needed, or a negative HTTP
 * status (-400, -431, -501, -505) for a request Go's server would refuse;
 * *why then holds the text Go appends ("missing required Host header"). */
int agent_request_parse(char *buf, size_t len, struct agent_request *rq,
			const char **why);

/* First value of a header (canonical name), or NULL. */
const struct probe_kv *agent_request_header(const struct agent_request *rq, const char *name);

/* Write a complete response. `extra` is additional header lines, each
 * ending in \r\n (may be NULL). head_only: HEAD request (no body). */
void agent_response_write(struct strbuf *out, int status, const char *content_type,
			  const char *extra, const char *body, size_t body_len, bool close,
			  bool head_only);

/* The response Go's server writes for a request it cannot parse. */
void agent_response_bad_request(struct strbuf *out, int status, const char *why);

/* Reason phrase Go uses for a status code ("" when unknown). */
const char *agent_status_text(int status);

#endif

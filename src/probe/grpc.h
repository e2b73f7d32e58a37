/* grpc.h - the gRPC health prober (spec probes.md section 8).
 *
 * One grpc.health.v1.Health/Check call over plain-text HTTP/2 (prior
 * knowledge), on a new connection from 127.0.0.6 (::6 in IPv6 mode), bounded
 * by one absolute deadline for connect and call. SERVING -> 200, anything
 * else -> 500. HTTP/2 framing is libnghttp2's; the two tiny protobuf messages
 * are encoded by hand here. No global state; safe on any thread.
 *
 * The call itself is a state machine (struct grpc_call) that never touches a
 * socket: bytes go in with grpc_call_feed(), bytes to send come out of
 * grpc_call_output(). probe_grpc_run() drives it over a socket; the unit tests
 * and the fuzz harness drive it from memory. */
#ifndef SKIFF_PROBE_GRPC_H
#define SKIFF_PROBE_GRPC_H

#include <stddef.h>
#include <stdint.h>

#include "probe/probe.h"

/* Health status values of grpc.health.v1.HealthCheckResponse.ServingStatus. */
enum grpc_health_status {
	GRPC_HEALTH_UNKNOWN = 0,
	GRPC_HEALTH_SERVING = 1,
	GRPC_HEALTH_NOT_SERVING = 2,
	GRPC_HEALTH_SERVICE_UNKNOWN = 3,
};

/* Largest gRPC response body (all DATA frames of the stream) the prober
 * accepts; a health response is a few bytes. */
#define GRPC_MAX_RESPONSE 65536

/* Run one probe and fill *out (status 200 or 500, and a reason for the log).
 * service NULL means "" (spec 8.3); user_agent is the incoming User-Agent (or
 * NULL), used as the gRPC user-agent prefix (8.2). deadline_ms is absolute
 * CLOCK_MONOTONIC (probe_now_ms()); 0 means no deadline. */
void probe_grpc_run(const struct probe_endpoint *ep, const char *service,
		    const char *user_agent, int64_t deadline_ms, struct probe_outcome *out);

/* Encode a length-prefixed gRPC message holding HealthCheckRequest{service}
 * into buf. Returns the length, or -ENOSPC / -EINVAL (service too long). */
int grpc_health_request_encode(const char *service, uint8_t *buf, size_t cap);

/* Decode a gRPC response body (the DATA payload: exactly one uncompressed,
 * length-prefixed message) holding HealthCheckResponse. Returns 0 and sets
 * *status, or -EINVAL with a reason in why (may be NULL). */
int grpc_health_response_decode(const uint8_t *body, size_t len, int *status,
				char *why, size_t why_len);

struct grpc_call;

/* Start a call: the client preface, SETTINGS and the request are queued for
 * output. authority is host:port; timeout_ms > 0 adds a grpc-timeout header.
 * Returns 0 or a negative errno. The caller frees with grpc_call_free(). */
int grpc_call_new(const char *authority, const char *service, const char *user_agent,
		  int64_t timeout_ms, struct grpc_call **out);
void grpc_call_free(struct grpc_call *c);

/* Bytes the call wants to send next (valid until the next call on c); *len 0
 * when there is nothing. grpc_call_consumed() says how many were sent. */
int grpc_call_output(struct grpc_call *c, const uint8_t **data, size_t *len);
void grpc_call_consumed(struct grpc_call *c, size_t n);

/* Feed bytes received from the server. Returns 0, or a negative value when
 * the connection must be dropped (protocol error). */
int grpc_call_feed(struct grpc_call *c, const uint8_t *data, size_t len);

/* True once the stream is closed or the session is over (nothing more to do). */
int grpc_call_done(const struct grpc_call *c);

/* Queue a GOAWAY so the server sees an orderly end (best effort). */
void grpc_call_goaway(struct grpc_call *c);

/* Map the state of the call to the kubelet's answer: 200 only for a closed
 * stream with :status 200, grpc-status 0 and one message saying SERVING. */
void grpc_call_result(const struct grpc_call *c, struct probe_outcome *out);

/* The user-agent header value the prober sends for an incoming User-Agent
 * (NULL or "" -> the library token alone). */
void grpc_user_agent(const char *incoming, char *buf, size_t cap);

#endif

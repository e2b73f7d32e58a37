/* grpc.c - the gRPC health prober (see grpc.h; spec probes.md section 8).
 *
 * Layers, bottom up: the hand-written protobuf of the two health messages;
 * struct grpc_call, an nghttp2 client session kept in memory (bytes in, bytes
 * out, no socket) that records what the server said; and probe_grpc_run(),
 * which opens the connection from 127.0.0.6 / ::6 and pumps bytes between the
 * socket and the call with poll() until the stream ends or the deadline
 * passes. */
#include "probe/grpc.h"

#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "base/cleanup.h"
#include "probe/net.h"

#define GRPC_UA_TOKEN "grpc-skiff/" SKIFF_VERSION
#define GRPC_PATH "/grpc.health.v1.Health/Check"
#define GRPC_MAX_SERVICE 4096

/* ---- protobuf: HealthCheckRequest{string service = 1},
 *                HealthCheckResponse{ServingStatus status = 1} ---- */

static size_t varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		p[n++] = b | (v ? 0x80 : 0);
	} while (v);
	return n;
}

/* Read a varint at *pos; returns 0 or -EINVAL (truncated, longer than 10 bytes). */
static int varint_get(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 70; shift += 7) {
		if (*pos >= len)
			return -EINVAL;
		uint8_t b = p[(*pos)++];
		if (shift == 63 && (b & 0x7e))
			return -EINVAL; /* would overflow 64 bits */
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -EINVAL;
}

int grpc_health_request_encode(const char *service, uint8_t *buf, size_t cap)
{
	size_t slen = service ? strlen(service) : 0;
	if (slen > GRPC_MAX_SERVICE)
		return -EINVAL;
	/* proto3 leaves a default (empty) string out: an empty message. */
	size_t msg = slen ? 1 + 2 + slen : 0; /* tag, varint(<= 2 bytes for 4096), bytes */
	if (cap < 5 + msg)
		return -ENOSPC;
	size_t n = 5;
	if (slen) {
		buf[n++] = 0x0a; /* field 1, wire type 2 */
		n += varint_put(buf + n, slen);
		memcpy(buf + n, service, slen);
		n += slen;
	}
	size_t body = n - 5;
	buf[0] = 0; /* not compressed */
	buf[1] = (uint8_t)(body >> 24);
	buf[2] = (uint8_t)(body >> 16);
	buf[3] = (uint8_t)(body >> 8);
	buf[4] = (uint8_t)body;
	return (int)n;
}

static int why_set(char *why, size_t why_len, const char *msg)
{
	if (why && why_len)
		snprintf(why, why_len, "%s", msg);
	return -EINVAL;
}

int grpc_health_response_decode(const uint8_t *body, size_t len, int *status,
				char *why, size_t why_len)
{
	if (len < 5)
		return why_set(why, why_len, len ? "truncated gRPC message" : "no response message");
	if (body[0] != 0)
		return why_set(why, why_len, body[0] == 1 ? "compressed response (none was offered)"
						    : "bad gRPC message flag");
	uint32_t mlen = (uint32_t)body[1] << 24 | (uint32_t)body[2] << 16 |
			(uint32_t)body[3] << 8 | body[4];
	if (mlen > len - 5)
		return why_set(why, why_len, "truncated gRPC message");
	if (mlen < len - 5)
		return why_set(why, why_len, "more than one response message");

	const uint8_t *m = body + 5;
	size_t pos = 0;
	uint64_t st = GRPC_HEALTH_UNKNOWN; /* proto3 default */
	while (pos < mlen) {
		uint64_t key, v;
		if (varint_get(m, mlen, &pos, &key) < 0)
			return why_set(why, why_len, "bad protobuf field key");
		uint64_t field = key >> 3;
		if (field == 0)
			return why_set(why, why_len, "protobuf field number 0");
		switch (key & 7) {
		case 0:
			if (varint_get(m, mlen, &pos, &v) < 0)
				return why_set(why, why_len, "bad protobuf varint");
			if (field == 1)
				st = v; /* last one wins, as protobuf says */
			break;
		case 1:
			if (mlen - pos < 8)
				return why_set(why, why_len, "truncated protobuf fixed64");
			pos += 8;
			break;
		case 2:
			if (varint_get(m, mlen, &pos, &v) < 0 || v > mlen - pos)
				return why_set(why, why_len, "truncated protobuf length-delimited field");
			if (field == 1)
				return why_set(why, why_len, "protobuf status field has the wrong wire type");
			pos += (size_t)v;
			break;
		case 5:
			if (mlen - pos < 4)
				return why_set(why, why_len, "truncated protobuf fixed32");
			pos += 4;
			break;
		default:
			return why_set(why, why_len, "bad protobuf wire type");
		}
	}
	/* An enum is an int32 on the wire: keep the low 32 bits, as decoders do. */
	*status = (int)(int32_t)(uint32_t)st;
	return 0;
}

void grpc_user_agent(const char *incoming, char *buf, size_t cap)
{
	if (incoming && *incoming)
		snprintf(buf, cap, "%s %s", incoming, GRPC_UA_TOKEN);
	else
		snprintf(buf, cap, "%s", GRPC_UA_TOKEN);
}

/* ---- the HTTP/2 call, in memory ---- */

struct grpc_call {
	nghttp2_session *session;
	int32_t stream_id;
	uint8_t request[5 + 3 + GRPC_MAX_SERVICE];
	size_t request_len, request_sent;

	const uint8_t *out;   /* from nghttp2_session_mem_send, not yet written */
	size_t out_len;

	bool stream_closed;
	uint32_t close_error; /* RST_STREAM code, 0 for a clean end */
	bool session_error;
	char session_why[96];
	int http_status;      /* :status, 0 = none */
	bool have_grpc_status;
	int grpc_status;
	char grpc_message[128];
	bool grpc_content_type;
	bool body_too_large;
	uint8_t body[GRPC_MAX_RESPONSE];
	size_t body_len;
};

static bool hdr_is(const uint8_t *name, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(name, want, len) == 0;
}

/* Parse a small non-negative decimal; -1 if it is not one. */
static int small_decimal(const uint8_t *v, size_t len)
{
	if (len == 0 || len > 6)
		return -1;
	int n = 0;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (v[i] - '0');
	}
	return n;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *user)
{
	struct grpc_call *c = user;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->hd.stream_id != c->stream_id)
		return 0;
	if (hdr_is(name, namelen, ":status")) {
		c->http_status = small_decimal(value, valuelen);
	} else if (hdr_is(name, namelen, "grpc-status")) {
		int v = small_decimal(value, valuelen);
		c->have_grpc_status = v >= 0;
		c->grpc_status = v;
	} else if (hdr_is(name, namelen, "grpc-message")) {
		size_t n = valuelen < sizeof(c->grpc_message) - 1 ? valuelen : sizeof(c->grpc_message) - 1;
		memcpy(c->grpc_message, value, n);
		c->grpc_message[n] = '\0';
	} else if (hdr_is(name, namelen, "content-type")) {
		/* application/grpc, optionally +proto or ;params */
		static const char ct[] = "application/grpc";
		c->grpc_content_type = valuelen >= sizeof(ct) - 1 &&
				       strncasecmp((const char *)value, ct, sizeof(ct) - 1) == 0 &&
				       (valuelen == sizeof(ct) - 1 || value[sizeof(ct) - 1] == '+' ||
					value[sizeof(ct) - 1] == ';');
	}
	return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
		   size_t len, void *user)
{
	struct grpc_call *c = user;
	if (stream_id != c->stream_id)
		return 0;
	if (len > sizeof(c->body) - c->body_len) {
		c->body_too_large = true;
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	memcpy(c->body + c->body_len, data, len);
	c->body_len += len;
	return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *user)
{
	struct grpc_call *c = user;
	if (stream_id == c->stream_id) {
		c->stream_closed = true;
		c->close_error = error_code;
	}
	return 0;
}

static ssize_t read_request(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t length,
			    uint32_t *data_flags, nghttp2_data_source *source, void *user)
{
	struct grpc_call *c = user;
	size_t n = c->request_len - c->request_sent;
	if (n > length)
		n = length;
	memcpy(buf, c->request + c->request_sent, n);
	c->request_sent += n;
	if (c->request_sent == c->request_len)
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static void grpc_timeout_value(int64_t ms, char *buf, size_t cap)
{
	/* At most 8 digits (gRPC over HTTP/2); milliseconds unless too many. */
	if (ms <= 99999999)
		snprintf(buf, cap, "%lldm", (long long)(ms > 0 ? ms : 1));
	else
		snprintf(buf, cap, "%lldS", (long long)(ms / 1000 > 99999999 ? 99999999 : ms / 1000));
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), \
		   NGHTTP2_NV_FLAG_NO_COPY_NAME }

int grpc_call_new(const char *authority, const char *service, const char *user_agent,
		  int64_t timeout_ms, struct grpc_call **out)
{
	*out = NULL;
	struct grpc_call *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	int n = grpc_health_request_encode(service, c->request, sizeof(c->request));
	if (n < 0) {
		free(c);
		return n;
	}
	c->request_len = (size_t)n;

	nghttp2_session_callbacks *cbs;
	if (nghttp2_session_callbacks_new(&cbs) != 0) {
		free(c);
		return -ENOMEM;
	}
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_option *opt = NULL;
	if (nghttp2_option_new(&opt) == 0) {
		/* Small bounded tables: a probe needs nothing big. */
		nghttp2_option_set_max_deflate_dynamic_table_size(opt, 0);
		nghttp2_option_set_peer_max_concurrent_streams(opt, 1);
	}
	int r = nghttp2_session_client_new2(&c->session, cbs, c, opt);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	if (r != 0) {
		free(c);
		return -ENOMEM;
	}

	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 0 },
		{ NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 4096 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, GRPC_MAX_RESPONSE },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 16384 },
	};
	if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, ARRAY_SIZE(iv)) != 0)
		goto fail;

	char ua[512], tmo[32];
	grpc_user_agent(user_agent, ua, sizeof(ua));
	grpc_timeout_value(timeout_ms, tmo, sizeof(tmo));
	nghttp2_nv hdrs[] = {
		NV(":method", "POST"),
		NV(":scheme", "http"),
		NV(":path", GRPC_PATH),
		NV(":authority", authority),
		NV("content-type", "application/grpc"),
		NV("te", "trailers"),
		NV("user-agent", ua),
		NV("grpc-timeout", tmo),
	};
	size_t nhdrs = ARRAY_SIZE(hdrs) - (timeout_ms > 0 ? 0 : 1);
	nghttp2_data_provider prd = { .read_callback = read_request };
	c->stream_id = nghttp2_submit_request(c->session, NULL, hdrs, nhdrs, &prd, c);
	if (c->stream_id < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	grpc_call_free(c);
	return -ENOMEM;
}

void grpc_call_free(struct grpc_call *c)
{
	if (!c)
		return;
	nghttp2_session_del(c->session);
	free(c);
}

int grpc_call_output(struct grpc_call *c, const uint8_t **data, size_t *len)
{
	if (c->out_len == 0 && !c->session_error) {
		ssize_t n = nghttp2_session_mem_send(c->session, &c->out);
		if (n < 0) {
			c->session_error = true;
			snprintf(c->session_why, sizeof(c->session_why), "HTTP/2: %s",
				 nghttp2_strerror((int)n));
			c->out_len = 0;
			*len = 0;
			return -EPROTO;
		}
		c->out_len = (size_t)n;
	}
	*data = c->out;
	*len = c->out_len;
	return 0;
}

void grpc_call_consumed(struct grpc_call *c, size_t n)
{
	if (n > c->out_len)
		n = c->out_len;
	c->out += n;
	c->out_len -= n;
}

int grpc_call_feed(struct grpc_call *c, const uint8_t *data, size_t len)
{
	if (c->session_error)
		return -EPROTO;
	ssize_t n = nghttp2_session_mem_recv(c->session, data, len);
	if (n < 0) {
		c->session_error = true;
		snprintf(c->session_why, sizeof(c->session_why), "%s",
			 c->body_too_large ? "response larger than 64 KiB"
					   : nghttp2_strerror((int)n));
		return -EPROTO;
	}
	return 0;
}

int grpc_call_done(const struct grpc_call *c)
{
	return c->stream_closed || c->session_error ||
	       (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session));
}

void grpc_call_goaway(struct grpc_call *c)
{
	if (!c->session_error)
		nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
}

static void outcome(struct probe_outcome *out, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void outcome(struct probe_outcome *out, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	out->status = status;
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
}

void grpc_call_result(const struct grpc_call *c, struct probe_outcome *out)
{
	static const char fail[] = "gRPC health check failed: ";
	if (c->session_error)
		return outcome(out, 500, "%s%s", fail, c->session_why);
	if (!c->stream_closed)
		return outcome(out, 500, "%sconnection closed before the response", fail);
	if (c->close_error)
		return outcome(out, 500, "%sstream reset by the server, error code %u", fail,
			       (unsigned)c->close_error);
	if (c->http_status != 200)
		return outcome(out, 500, "%sHTTP status %d", fail, c->http_status);
	if (!c->have_grpc_status)
		return outcome(out, 500, "%sno grpc-status", fail);
	if (c->grpc_status != 0)
		return outcome(out, 500, "%s%s (grpc-status %d)", fail,
			       c->grpc_message[0] ? c->grpc_message : "error", c->grpc_status);
	if (!c->grpc_content_type)
		return outcome(out, 500, "%scontent-type is not application/grpc", fail);
	int st;
	char why[96];
	if (grpc_health_response_decode(c->body, c->body_len, &st, why, sizeof(why)) < 0)
		return outcome(out, 500, "%s%s", fail, why);
	static const char *const names[] = { "UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN" };
	const char *name = st >= 0 && st < 4 ? names[st] : "unrecognised status";
	outcome(out, st == GRPC_HEALTH_SERVING ? 200 : 500, "gRPC health check: %s (%d)", name, st);
}

/* ---- the socket ---- */

static int remaining_ms(int64_t deadline_ms)
{
	if (deadline_ms == 0)
		return -1; /* poll: forever */
	int64_t left = deadline_ms - probe_now_ms();
	if (left <= 0)
		return 0;
	return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

/* Write what the call has queued; returns 0, or -errno. */
static int pump_out(int fd, struct grpc_call *c)
{
	for (;;) {
		const uint8_t *data;
		size_t len;
		if (grpc_call_output(c, &data, &len) < 0)
			return -EPROTO;
		if (len == 0)
			return 0;
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		}
		grpc_call_consumed(c, (size_t)n);
	}
}

static bool has_output(struct grpc_call *c)
{
	const uint8_t *data;
	size_t len;
	return grpc_call_output(c, &data, &len) == 0 && len > 0;
}

void probe_grpc_run(const struct probe_endpoint *ep, const char *service,
		    const char *user_agent, int64_t deadline_ms, struct probe_outcome *out)
{
	out->status = 500;
	out->reason[0] = '\0';
	if (deadline_ms != 0 && probe_now_ms() >= deadline_ms) {
		snprintf(out->reason, sizeof(out->reason), "gRPC health check failed: deadline exceeded");
		return;
	}
	char authority[300];
	if (strchr(ep->host, ':'))
		snprintf(authority, sizeof(authority), "[%s]:%u", ep->host, ep->port);
	else
		snprintf(authority, sizeof(authority), "%s:%u", ep->host, ep->port);

	struct grpc_call *c = NULL;
	int64_t tmo = deadline_ms ? deadline_ms - probe_now_ms() : 0;
	if (grpc_call_new(authority, service, user_agent, tmo, &c) < 0) {
		snprintf(out->reason, sizeof(out->reason), "gRPC health check failed: %s",
			 service && strlen(service) > GRPC_MAX_SERVICE ? "service name too long"
								   : "out of memory");
		return;
	}
	/* The agent's shared probe socket: source 127.0.0.6 / ::6, only
	 * destinations of the source family, one deadline. */
	char why[200];
	int fd = probe_net_connect(ep, false, deadline_ms, why, sizeof(why));
	if (fd < 0) {
		snprintf(out->reason, sizeof(out->reason), "gRPC health check failed: %s%s", why,
			 fd == -ETIMEDOUT ? " (deadline exceeded)" : "");
		grpc_call_free(c);
		return;
	}

	bool eof = false, timed_out = false;
	int ioerr = 0;
	while (!grpc_call_done(c)) {
		if ((ioerr = pump_out(fd, c)) < 0)
			break;
		struct pollfd pfd = { .fd = fd, .events = POLLIN | (has_output(c) ? POLLOUT : 0) };
		int pr = poll(&pfd, 1, remaining_ms(deadline_ms));
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			ioerr = -errno;
			break;
		}
		if (pr == 0) {
			timed_out = true;
			break;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			uint8_t buf[16384];
			ssize_t n = recv(fd, buf, sizeof(buf), 0);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n < 0) {
				ioerr = -errno;
				break;
			}
			if (n == 0) {
				eof = true;
				break;
			}
			if (grpc_call_feed(c, buf, (size_t)n) < 0)
				break;
		}
	}
	if (!timed_out && !ioerr) {
		/* Orderly end: tell the server we are done; best effort. */
		grpc_call_goaway(c);
		pump_out(fd, c);
	}
	grpc_call_result(c, out);
	if (out->status != 200 && !grpc_call_done(c)) {
		if (timed_out)
			snprintf(out->reason, sizeof(out->reason),
				 "gRPC health check failed: deadline exceeded");
		else if (ioerr)
			snprintf(out->reason, sizeof(out->reason), "gRPC health check failed: %s",
				 strerror(-ioerr));
		else if (eof)
			snprintf(out->reason, sizeof(out->reason),
				 "gRPC health check failed: connection closed by the server");
	}
	grpc_call_free(c);
	/* The outcome is known: close with RST (SO_LINGER 0) so no probe socket
	 * of the agent is left in TIME_WAIT (the reason for kubernetes#115143). */
	probe_net_close(fd, true);
}

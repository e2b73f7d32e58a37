/* test-grpc.c - the gRPC prober's pure parts: the hand-written protobuf of
 * HealthCheckRequest/HealthCheckResponse, the user-agent, and the call's
 * verdict for an HTTP/2 exchange played in memory against a real nghttp2
 * server session. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "probe/grpc.h"

static void encode_empty_service_is_empty_message(void **state)
{
	uint8_t buf[64];
	assert_int_equal(grpc_health_request_encode(NULL, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "\0\0\0\0\0", 5);
	/* "service": null and "" are the same request (spec 18.16). */
	assert_int_equal(grpc_health_request_encode("", buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "\0\0\0\0\0", 5);
}

static void encode_service(void **state)
{
	uint8_t buf[64];
	assert_int_equal(grpc_health_request_encode("foo", buf, sizeof(buf)), 10);
	assert_memory_equal(buf, "\0\0\0\0\x05\x0a\x03" "foo", 10);
	char big[300];
	memset(big, 'a', sizeof(big) - 1);
	big[299] = '\0';
	uint8_t b2[400];
	assert_int_equal(grpc_health_request_encode(big, b2, sizeof(b2)), 5 + 1 + 2 + 299);
	assert_memory_equal(b2 + 4, "\x2e\x0a\xab\x02", 4); /* len 302; varint 299 = ab 02 */
	assert_int_equal(grpc_health_request_encode(big, b2, 100), -ENOSPC);
}

static int dec(const char *bytes, size_t len, int *st)
{
	char why[96];
	return grpc_health_response_decode((const uint8_t *)bytes, len, st, why, sizeof(why));
}

static void decode_statuses(void **state)
{
	int st = -1;
	assert_int_equal(dec("\0\0\0\0\x02\x08\x01", 7, &st), 0);
	assert_int_equal(st, GRPC_HEALTH_SERVING);
	assert_int_equal(dec("\0\0\0\0\x02\x08\x02", 7, &st), 0);
	assert_int_equal(st, GRPC_HEALTH_NOT_SERVING);
	assert_int_equal(dec("\0\0\0\0\x02\x08\x03", 7, &st), 0);
	assert_int_equal(st, GRPC_HEALTH_SERVICE_UNKNOWN);
	/* the default (UNKNOWN) is left out on the wire */
	assert_int_equal(dec("\0\0\0\0\0", 5, &st), 0);
	assert_int_equal(st, GRPC_HEALTH_UNKNOWN);
	/* last occurrence wins; unknown fields of every wire type are skipped */
	assert_int_equal(dec("\0\0\0\0\x16" "\x08\x02" "\x12\x02hi" "\x19" "12345678" "\x25" "abcd"
			     "\x08\x01", 27, &st), 0);
	assert_int_equal(st, GRPC_HEALTH_SERVING);
}

static void decode_rejects_bad_input(void **state)
{
	int st = 77;
	assert_int_equal(dec("", 0, &st), -EINVAL);                       /* no message */
	assert_int_equal(dec("\0\0\0", 3, &st), -EINVAL);                 /* short prefix */
	assert_int_equal(dec("\x01\0\0\0\x02\x08\x01", 7, &st), -EINVAL); /* compressed */
	assert_int_equal(dec("\0\0\0\0\x03\x08\x01", 7, &st), -EINVAL);   /* truncated */
	assert_int_equal(dec("\0\0\0\0\x02\x08\x01\0\0\0\0\0", 12, &st), -EINVAL); /* two messages */
	assert_int_equal(dec("\0\0\0\0\x02\x08\x81", 7, &st), -EINVAL);   /* varint runs off */
	assert_int_equal(dec("\0\0\0\0\x02\x0a\x05", 7, &st), -EINVAL);   /* wrong wire type */
	assert_int_equal(dec("\0\0\0\0\x02\x0b\x01", 7, &st), -EINVAL);   /* group wire type */
	assert_int_equal(dec("\0\0\0\0\x02\x00\x01", 7, &st), -EINVAL);   /* field 0 */
	assert_int_equal(st, 77);                                         /* untouched */
}

static void user_agent_prefix(void **state)
{
	char ua[128];
	grpc_user_agent("kube-probe/1.23", ua, sizeof(ua));
	assert_string_equal(ua, "kube-probe/1.23 grpc-skiff/" SKIFF_VERSION);
	grpc_user_agent(NULL, ua, sizeof(ua));
	assert_string_equal(ua, "grpc-skiff/" SKIFF_VERSION);
	grpc_user_agent("", ua, sizeof(ua));
	assert_string_equal(ua, "grpc-skiff/" SKIFF_VERSION);
}

/* ---- an in-memory HTTP/2 server (nghttp2's server session) ---- */

struct fake_server {
	nghttp2_session *s;
	int mode;              /* 0 normal, 1 trailers-only error, 2 RST_STREAM, 3 HTTP 503 */
	const char *grpc_status;
	uint8_t reply[16];
	size_t reply_len, reply_sent;
	char path[128], te[32], ua[128], tmo[32];
	uint8_t req[256];
	size_t req_len;
};

static ssize_t srv_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			nghttp2_data_source *src, void *user)
{
	struct fake_server *f = user;
	size_t n = f->reply_len - f->reply_sent;
	memcpy(buf, f->reply + f->reply_sent, n);
	f->reply_sent += n;
	*flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
	nghttp2_nv tr[] = { { (uint8_t *)"grpc-status", (uint8_t *)f->grpc_status, 11,
			      strlen(f->grpc_status), 0 } };
	nghttp2_submit_trailer(s, id, tr, 1);
	return (ssize_t)n;
}

#define SNV(n, v) { (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), 0 }

static int srv_frame(nghttp2_session *s, const nghttp2_frame *fr, void *user)
{
	struct fake_server *f = user;
	if (!(fr->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
	    (fr->hd.type != NGHTTP2_DATA && fr->hd.type != NGHTTP2_HEADERS))
		return 0;
	int32_t id = fr->hd.stream_id;
	if (f->mode == 2)
		return nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
	if (f->mode == 3) {
		nghttp2_nv h[] = { SNV(":status", "503") };
		return nghttp2_submit_response(s, id, h, 1, NULL);
	}
	if (f->mode == 1) {
		nghttp2_nv h[] = { SNV(":status", "200"), SNV("content-type", "application/grpc"),
				   SNV("grpc-status", f->grpc_status), SNV("grpc-message", "nope") };
		return nghttp2_submit_response(s, id, h, 4, NULL);
	}
	nghttp2_nv h[] = { SNV(":status", "200"), SNV("content-type", "application/grpc") };
	nghttp2_data_provider prd = { .read_callback = srv_read };
	return nghttp2_submit_response(s, id, h, 2, &prd);
}

static int srv_header(nghttp2_session *s, const nghttp2_frame *fr, const uint8_t *name, size_t nl,
		      const uint8_t *value, size_t vl, uint8_t flags, void *user)
{
	struct fake_server *f = user;
	char *dst = NULL;
	if (nl == 5 && !memcmp(name, ":path", 5)) dst = f->path;
	if (nl == 2 && !memcmp(name, "te", 2)) dst = f->te;
	if (nl == 10 && !memcmp(name, "user-agent", 10)) dst = f->ua;
	if (nl == 12 && !memcmp(name, "grpc-timeout", 12)) dst = f->tmo;
	if (dst && vl < 32)
		memcpy(dst, value, vl), dst[vl] = 0;
	return 0;
}

static int srv_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d, size_t len,
		    void *user)
{
	struct fake_server *f = user;
	if (len <= sizeof(f->req) - f->req_len)
		memcpy(f->req + f->req_len, d, len), f->req_len += len;
	return 0;
}

/* Pump bytes both ways until the call is done; return the verdict. */
static int play(struct fake_server *f, const char *service, struct probe_outcome *out)
{
	nghttp2_session_callbacks *cb;
	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, srv_frame);
	nghttp2_session_callbacks_set_on_header_callback(cb, srv_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, srv_data);
	nghttp2_session_server_new(&f->s, cb, f);
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(f->s, NGHTTP2_FLAG_NONE, NULL, 0);

	struct grpc_call *c = NULL;
	assert_int_equal(grpc_call_new("127.0.0.1:1", service, "kube-probe/1.29", 1500, &c), 0);
	for (int round = 0; round < 50 && !grpc_call_done(c); round++) {
		const uint8_t *d;
		size_t n;
		while (grpc_call_output(c, &d, &n) == 0 && n) {
			assert_true(nghttp2_session_mem_recv(f->s, d, n) == (ssize_t)n);
			grpc_call_consumed(c, n);
		}
		ssize_t sn;
		while ((sn = nghttp2_session_mem_send(f->s, &d)) > 0) {
			if (grpc_call_feed(c, d, (size_t)sn) < 0)
				break;
		}
	}
	grpc_call_result(c, out);
	int done = grpc_call_done(c);
	grpc_call_free(c);
	nghttp2_session_del(f->s);
	return done;
}

static void call_serving(void **state)
{
	struct fake_server f = { .grpc_status = "0", .reply = "\0\0\0\0\x02\x08\x01", .reply_len = 7 };
	struct probe_outcome out;
	assert_true(play(&f, "svc", &out));
	assert_int_equal(out.status, 200);
	assert_string_equal(f.path, "/grpc.health.v1.Health/Check");
	assert_string_equal(f.te, "trailers");
	assert_string_equal(f.tmo, "1500m");
	assert_int_equal(f.req_len, 10);
	assert_memory_equal(f.req, "\0\0\0\0\x05\x0a\x03svc", 10);
}

static void call_not_serving_and_errors(void **state)
{
	struct probe_outcome out;
	struct fake_server a = { .grpc_status = "0", .reply = "\0\0\0\0\x02\x08\x02", .reply_len = 7 };
	play(&a, NULL, &out);
	assert_int_equal(out.status, 500);
	assert_non_null(strstr(out.reason, "NOT_SERVING"));

	struct fake_server b = { .mode = 1, .grpc_status = "12" }; /* Unimplemented, trailers only */
	play(&b, NULL, &out);
	assert_int_equal(out.status, 500);
	assert_non_null(strstr(out.reason, "grpc-status 12"));

	struct fake_server c = { .mode = 2 };
	play(&c, NULL, &out);
	assert_int_equal(out.status, 500);
	assert_non_null(strstr(out.reason, "reset"));

	struct fake_server d = { .mode = 3 };
	play(&d, NULL, &out);
	assert_int_equal(out.status, 500);
	assert_non_null(strstr(out.reason, "HTTP status 503"));

	/* SERVING in the message but a non-zero grpc-status in the trailers */
	struct fake_server e = { .grpc_status = "2", .reply = "\0\0\0\0\x02\x08\x01", .reply_len = 7 };
	play(&e, NULL, &out);
	assert_int_equal(out.status, 500);
}

static void garbage_from_server_fails(void **state)
{
	struct grpc_call *c = NULL;
	assert_int_equal(grpc_call_new("h:1", NULL, NULL, 0, &c), 0);
	const uint8_t *d;
	size_t n;
	assert_int_equal(grpc_call_output(c, &d, &n), 0);
	assert_true(n >= 24);
	assert_memory_equal(d, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
	grpc_call_consumed(c, n);
	/* Not HTTP/2: nghttp2 answers with GOAWAY and the session ends. */
	grpc_call_feed(c, (const uint8_t *)"HTTP/1.1 400 Bad Request\r\n\r\n", 28);
	for (int i = 0; i < 10 && grpc_call_output(c, &d, &n) == 0 && n; i++)
		grpc_call_consumed(c, n);
	assert_true(grpc_call_done(c));
	struct probe_outcome out;
	grpc_call_result(c, &out);
	assert_int_equal(out.status, 500);
	grpc_call_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(encode_empty_service_is_empty_message),
		cmocka_unit_test(encode_service),
		cmocka_unit_test(decode_statuses),
		cmocka_unit_test(decode_rejects_bad_input),
		cmocka_unit_test(user_agent_prefix),
		cmocka_unit_test(call_serving),
		cmocka_unit_test(call_not_serving_and_errors),
		cmocka_unit_test(garbage_from_server_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test-config.c - ISTIO_KUBE_APP_PROBERS: Go-compatible decoding, start-up
 * validation, and the byte-exact encoder the injector uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe/config.h"

static int parse(const char *json, struct probe_config *c, struct skiff_err *e)
{
	err_clear(e);
	return probe_config_parse(json, strlen(json), c, e);
}

/* Parse must fail and the message must contain `needle`. */
static void refuse(const char *json, const char *needle)
{
	struct probe_config c;
	struct skiff_err e;
	int r = parse(json, &c, &e);
	if (r >= 0)
		fail_msg("accepted %s", json);
	if (!strstr(e.msg, needle))
		fail_msg("for %s: message \"%s\" lacks \"%s\"", json, e.msg, needle);
	assert_int_equal(c.n, 0);
}

/* Encode a config and compare with the expected bytes. */
static void encodes_to(const struct probe_config *c, const char *want)
{
	struct strbuf sb = STRBUF_INIT;
	int n = probe_config_encode(c, &sb);
	assert_true(n >= 0);
	assert_string_equal(strbuf_str(&sb), want);
	strbuf_free(&sb);
}

/* decode(json) then encode == want. */
static void round_trip(const char *json, const char *want)
{
	struct probe_config c;
	struct skiff_err e;
	if (parse(json, &c, &e) < 0)
		fail_msg("%s: %s", json, e.msg);
	encodes_to(&c, want);
	probe_config_free(&c);
}

static void empty_and_null_mean_no_probers(void **state)
{
	(void)state;
	struct probe_config c;
	struct skiff_err e;
	assert_int_equal(probe_config_parse(NULL, 0, &c, &e), 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(parse("{}", &c, &e), 0);
	assert_int_equal(c.n, 0);
	assert_int_equal(parse(" null ", &c, &e), 0);
	assert_int_equal(c.n, 0);
	/* never {} on the encoder side */
	struct strbuf sb = STRBUF_INIT;
	assert_int_equal(probe_config_encode(&c, &sb), 0);
	assert_int_equal(sb.len, 0);
	strbuf_free(&sb);
}

static void decodes_every_field(void **state)
{
	(void)state;
	struct probe_config c;
	struct skiff_err e;
	const char *j = "{\"/app-health/app/readyz\":{\"httpGet\":{\"path\":\"/h\",\"port\":8080,"
			"\"host\":\"ex\",\"scheme\":\"HTTPS\",\"httpHeaders\":[{\"name\":\"X-A\","
			"\"value\":\"1\"},{\"name\":\"Host\",\"value\":\"foo\"}]},\"timeoutSeconds\":3,"
			"\"periodSeconds\":9,\"exec\":{\"command\":[\"a\",1,{}]}},"
			"\"/app-health/app/livez\":{\"tcpSocket\":{\"port\":81,\"host\":\"h\"}},"
			"\"/app-health/app/startupz\":{\"grpc\":{\"port\":9000,\"service\":\"s\"}}}";
	assert_int_equal(parse(j, &c, &e), 0);
	assert_int_equal(c.n, 3);
	const struct prober *p = probe_config_find(&c, "/app-health/app/readyz", 22);
	assert_non_null(p);
	assert_int_equal(prober_kind(p), PROBER_HTTP);
	assert_string_equal(p->http_get->path, "/h");
	assert_int_equal(p->http_get->port.number, 8080);
	assert_string_equal(p->http_get->host, "ex");
	assert_string_equal(p->http_get->scheme, "HTTPS");
	assert_int_equal(p->http_get->n_headers, 2);
	assert_string_equal(p->http_get->headers[1].name, "Host");
	assert_string_equal(p->http_get->headers[1].value, "foo");
	assert_int_equal(p->timeout_seconds, 3);
	p = probe_config_find(&c, "/app-health/app/livez", 21);
	assert_int_equal(prober_kind(p), PROBER_TCP);
	assert_int_equal(p->tcp_socket->port.number, 81);
	p = probe_config_find(&c, "/app-health/app/startupz", 24);
	assert_int_equal(prober_kind(p), PROBER_GRPC);
	assert_int_equal(p->grpc->port, 9000);
	assert_string_equal(p->grpc->service, "s");
	assert_null(probe_config_find(&c, "/app-health/app/ready", 21));
	probe_config_free(&c);
}

static void member_names_fold_like_go(void **state)
{
	(void)state;
	struct probe_config c;
	struct skiff_err e;
	/* gRPC (Istio's test), GRPC, HttpGet, TIMEOUTSECONDS, Port */
	assert_int_equal(parse("{\"/app-health/a/livez\":{\"gRPC\":{\"Port\":8080}},"
			       "\"/app-health/b/livez\":{\"HttpGet\":{\"PORT\":1,\"PaTh\":\"/x\"},"
			       "\"TIMEOUTSECONDS\":4}}", &c, &e), 0);
	assert_int_equal(c.probers[0].grpc->port, 8080);
	assert_int_equal(c.probers[1].http_get->port.number, 1);
	assert_string_equal(c.probers[1].http_get->path, "/x");
	assert_int_equal(c.probers[1].timeout_seconds, 4);
	probe_config_free(&c);
	/* U+017F long s for s, U+212A Kelvin for k */
	assert_int_equal(parse("{\"/app-health/a/livez\":{\"grpc\":{\"port\":1,"
			       "\"\xC5\xBF" "ervice\":\"svc\"}},"
			       "\"/app-health/b/livez\":{\"tcpSoc\xE2\x84\xAA" "et\":{\"port\":2}}}",
			       &c, &e), 0);
	assert_string_equal(c.probers[0].grpc->service, "svc");
	assert_non_null(c.probers[1].tcp_socket);
	assert_int_equal(c.probers[1].tcp_socket->port.number, 2);
	probe_config_free(&c);
	/* escapes in member names are decoded before matching */
	assert_int_equal(parse("{\"/app-health/a/livez\":{\"tcp\\u0053ocket\":{\"p\\u006frt\":3}}}",
			       &c, &e), 0);
	assert_int_equal(c.probers[0].tcp_socket->port.number, 3);
	probe_config_free(&c);
	/* prober paths are matched exactly, not folded */
	assert_int_equal(parse("{\"/APP-health/a/livez\":{\"tcpSocket\":{\"port\":3}}}", &c, &e),
			 SKIFF_EINVAL);
	assert_non_null(strstr(e.msg, "invalid path"));
	/* a non-ASCII lookalike that is not one of Go's two foldings is unknown */
	assert_int_equal(parse("{\"/app-health/a/livez\":{\"tcpSocket\":{\"p\xC3\xB6rt\":3}}}",
			       &c, &e), 0);
	assert_int_equal(c.probers[0].tcp_socket->port.number, 0);
	probe_config_free(&c);
}

static void duplicates_merge_fields_but_paths_replace(void **state)
{
	(void)state;
	struct probe_config c;
	struct skiff_err e;
	/* same field twice: objects decoded on top of each other */
	assert_int_equal(parse("{\"/app-health/a/livez\":{\"httpGet\":{\"path\":\"/p\",\"port\":1},"
			       "\"HTTPGET\":{\"port\":2}}}", &c, &e), 0);
	assert_string_equal(c.probers[0].http_get->path, "/p");
	assert_int_equal(c.probers[0].http_get->port.number, 2);
	probe_config_free(&c);
	/* same prober path twice: the last one wins entirely */
	assert_int_equal(parse("{\"/app-health/a/livez\":{\"httpGet\":{\"path\":\"/p\",\"port\":1},"
			       "\"timeoutSeconds\":5},"
			       "\"/app-health/a/livez\":{\"httpGet\":{\"port\":2}}}", &c, &e), 0);
	assert_int_equal(c.n, 1);
	assert_null(c.probers[0].http_get->path);
	assert_int_equal(c.probers[0].http_get->port.number, 2);
	assert_int_equal(c.probers[0].timeout_seconds, 0);
	probe_config_free(&c);
	/* a later null removes an earlier handler */
	assert_int_equal(parse("{\"/app-health/a/livez\":{\"httpGet\":{\"port\":1},\"httpGet\":null,"
			       "\"tcpSocket\":{\"port\":4}}}", &c, &e), 0);
	assert_null(c.probers[0].http_get);
	assert_int_equal(c.probers[0].tcp_socket->port.number, 4);
	probe_config_free(&c);
	/* headers array decoded twice: element-wise on top, then cut */
	assert_int_equal(parse("{\"/app-health/a/livez\":{\"httpGet\":{\"port\":1,\"httpHeaders\":"
			       "[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\",\"value\":\"2\"}],"
			       "\"httpHeaders\":[{\"value\":\"9\"}]}}}", &c, &e), 0);
	assert_int_equal(c.probers[0].http_get->n_headers, 1);
	assert_string_equal(c.probers[0].http_get->headers[0].name, "A");
	assert_string_equal(c.probers[0].http_get->headers[0].value, "9");
	probe_config_free(&c);
}

static void nulls_and_ports(void **state)
{
	(void)state;
	struct probe_config c;
	struct skiff_err e;
	/* port null = 0, accepted (fails at probe time) */
	assert_int_equal(parse("{\"/app-health/a/livez\":{\"httpGet\":{\"path\":\"/\",\"port\":null}}}",
			       &c, &e), 0);
	assert_false(c.probers[0].http_get->port.named);
	assert_int_equal(c.probers[0].http_get->port.number, 0);
	probe_config_free(&c);
	/* port 70000 and 0 pass validation (not range checked) */
	assert_int_equal(parse("{\"/app-health/a/livez\":{\"tcpSocket\":{\"port\":70000}}}", &c, &e), 0);
	assert_int_equal(c.probers[0].tcp_socket->port.number, 70000);
	probe_config_free(&c);
	/* gRPC service null and "" */
	assert_int_equal(parse("{\"/app-health/a/livez\":{\"grpc\":{\"port\":1,\"service\":null}},"
			       "\"/app-health/b/livez\":{\"grpc\":{\"port\":1,\"service\":\"\"}}}",
			       &c, &e), 0);
	assert_null(c.probers[0].grpc->service);
	assert_string_equal(c.probers[1].grpc->service, "");
	probe_config_free(&c);
	/* -0 is an integer; int32 limits */
	assert_int_equal(parse("{\"/app-health/a/livez\":{\"tcpSocket\":{\"port\":-0},"
			       "\"timeoutSeconds\":2147483647}}", &c, &e), 0);
	assert_int_equal(c.probers[0].timeout_seconds, 2147483647);
	probe_config_free(&c);
}

static void strings_unquote_like_go(void **state)
{
	(void)state;
	struct probe_config c;
	struct skiff_err e;
	/* surrogate pair, lone surrogate -> U+FFFD, invalid UTF-8 -> U+FFFD */
	assert_int_equal(parse("{\"/app-health/a/livez\":{\"httpGet\":{\"port\":1,"
			       "\"path\":\"/\\ud83d\\ude00\\udc00\xff\\/\"}}}", &c, &e), 0);
	assert_string_equal(c.probers[0].http_get->path,
			    "/\xF0\x9F\x98\x80\xEF\xBF\xBD\xEF\xBF\xBD/");
	probe_config_free(&c);
}

static void refuses_bad_json(void **state)
{
	(void)state;
	refuse("invalid-prober-json-encoding", "failed to decode");
	refuse("[]", "failed to decode");
	refuse("\"x\"", "failed to decode");
	refuse("12", "failed to decode");
	refuse("{", "failed to decode");
	refuse("{} {}", "failed to decode");
	refuse("{\"/app-health/a/livez\":{\"grpc\":{\"port\":\"8080\"}}}", "failed to decode");
	refuse("{\"/app-health/a/livez\":{\"grpc\":{\"port\":\"8080\"}}}", "grpc.port");
	refuse("{\"/app-health/a/livez\":{\"httpGet\":{\"port\":1.5}}}", "httpGet.port");
	refuse("{\"/app-health/a/livez\":{\"httpGet\":{\"port\":1e2}}}", "failed to decode");
	refuse("{\"/app-health/a/livez\":{\"httpGet\":{\"port\":true}}}", "failed to decode");
	refuse("{\"/app-health/a/livez\":{\"tcpSocket\":{\"port\":1},\"timeoutSeconds\":2147483648}}",
	       "timeoutSeconds");
	refuse("{\"/app-health/a/livez\":{\"httpGet\":{\"port\":1,\"path\":5}}}", "httpGet.path");
	refuse("{\"/app-health/a/livez\":{\"httpGet\":{\"port\":1,\"httpHeaders\":{}}}}",
	       "httpGet.httpHeaders");
	refuse("{\"/app-health/a/livez\":{\"httpGet\":{\"port\":1,\"httpHeaders\":[{\"name\":1}]}}}",
	       "httpHeaders[0]");
	refuse("{\"/app-health/a/livez\":{\"httpGet\":[]}}", "failed to decode");
	refuse("{\"/app-health/a/livez\":5}", "failed to decode");
	refuse("{\"/app-health/a/livez\":{\"httpGet\":{\"port\":01}}}", "failed to decode");
	refuse("{\"/app-health/a/livez\":{\"httpGet\":{\"port\":1,\"path\":\"a\x01\"}}}",
	       "failed to decode");
	refuse("{\"/app-health/a/livez\":{\"httpGet\":{\"port\":1,\"path\":\"\\x\"}}}",
	       "failed to decode");
	refuse("{\"a\":1,}", "failed to decode");
	/* depth limit */
	char deep[30000];
	size_t n = 0;
	n += (size_t)snprintf(deep, sizeof(deep), "{\"/app-health/a/livez\":{\"x\":");
	for (int i = 0; i < 10005; i++)
		deep[n++] = '[';
	deep[n] = 0;
	refuse(deep, "failed to decode");
}

static void refuses_invalid_probers(void **state)
{
	(void)state;
	refuse("{\"abc\":{\"tcpSocket\":{\"port\":1}}}", "invalid path");
	refuse("{\"/app-health/a/b/readyz\":{\"tcpSocket\":{\"port\":1}}}", "invalid path");
	refuse("{\"/app-health//readyz\":{\"tcpSocket\":{\"port\":1}}}", "invalid path");
	refuse("{\"/app-health/a/readyz/\":{\"tcpSocket\":{\"port\":1}}}", "invalid path");
	refuse("{\"/app-health/a/ready\":{\"tcpSocket\":{\"port\":1}}}", "invalid path");
	refuse("{\"/app-health/a/livez\":{\"exec\":{\"command\":[\"true\"]}}}", "invalid prober type");
	refuse("{\"/app-health/a/livez\":{\"tcpSocket\":{\"port\":1},\"httpGet\":{\"port\":1}}}",
	       "must be one of type httpGet, tcpSocket or gRPC");
	refuse("{\"/app-health/a/livez\":null}", "invalid prober type");
	refuse("{\"/app-health/a/livez\":{}}", "invalid prober type");
	refuse("{\"/app-health/a/livez\":{\"tcpSocket\":{\"port\":\"tcp\"}}}", "must be int type");
	refuse("{\"/app-health/a/livez\":{\"httpGet\":{\"port\":\"http\"}}}", "httpGet.port");
	refuse("{\"/app-health/a/livez\":{\"httpGet\":{\"port\":\"http\"}}}",
	       "/app-health/a/livez");
}

static void encodes_istio_goldens(void **state)
{
	(void)state;
	/* hello-probes.yaml golden */
	struct probe_config c = { 0 };
	struct prober *p = probe_config_add(&c, "/app-health/world/livez");
	p->http_get = calloc(1, sizeof(*p->http_get));
	p->http_get->port.number = 90;
	p = probe_config_add(&c, "/app-health/hello/readyz");
	p->http_get = calloc(1, sizeof(*p->http_get));
	p->http_get->port.number = 3333;
	p = probe_config_add(&c, "/app-health/hello/livez");
	p->http_get = calloc(1, sizeof(*p->http_get));
	p->http_get->port.number = 80;
	encodes_to(&c, "{\"/app-health/hello/livez\":{\"httpGet\":{\"port\":80}},"
		       "\"/app-health/hello/readyz\":{\"httpGet\":{\"port\":3333}},"
		       "\"/app-health/world/livez\":{\"httpGet\":{\"port\":90}}}");
	probe_config_free(&c);
	/* Istio unit test: gRPC startup probe, service foo, timeout 10 */
	p = probe_config_add(&c, "/app-health/foo/startupz");
	p->grpc = calloc(1, sizeof(*p->grpc));
	p->grpc->port = 1234;
	p->grpc->service = strdup("foo");
	p->timeout_seconds = 10;
	encodes_to(&c, "{\"/app-health/foo/startupz\":{\"grpc\":{\"port\":1234,\"service\":\"foo\"},"
		       "\"timeoutSeconds\":10}}");
	free(p->grpc->service);
	p->grpc->service = NULL;
	p->timeout_seconds = 0;
	encodes_to(&c, "{\"/app-health/foo/startupz\":{\"grpc\":{\"port\":1234,\"service\":null}}}");
	probe_config_free(&c);
}

static void encoder_order_and_omission(void **state)
{
	(void)state;
	/* a-b sorts before a; livez < readyz < startupz; field order fixed */
	round_trip("{\"/app-health/a/livez\":{\"tcpSocket\":{\"port\":1}},"
		   "\"/app-health/a-b/livez\":{\"httpGet\":{\"httpHeaders\":[{\"value\":\"v\",\"name\":\"n\"}],"
		   "\"scheme\":\"HTTPS\",\"host\":\"h\",\"port\":2,\"path\":\"/p\"},\"timeoutSeconds\":1}}",
		   "{\"/app-health/a-b/livez\":{\"httpGet\":{\"path\":\"/p\",\"port\":2,\"host\":\"h\","
		   "\"scheme\":\"HTTPS\",\"httpHeaders\":[{\"name\":\"n\",\"value\":\"v\"}]},"
		   "\"timeoutSeconds\":1},\"/app-health/a/livez\":{\"tcpSocket\":{\"port\":1}}}");
	/* empty strings, empty header list, zero timeout are omitted */
	round_trip("{\"/app-health/a/startupz\":{\"httpGet\":{\"path\":\"\",\"port\":0,\"host\":\"\","
		   "\"scheme\":\"\",\"httpHeaders\":[]},\"timeoutSeconds\":0},"
		   "\"/app-health/a/readyz\":{\"tcpSocket\":{\"port\":5,\"host\":\"\"}},"
		   "\"/app-health/a/livez\":{\"grpc\":{\"port\":5}}}",
		   "{\"/app-health/a/livez\":{\"grpc\":{\"port\":5,\"service\":null}},"
		   "\"/app-health/a/readyz\":{\"tcpSocket\":{\"port\":5}},"
		   "\"/app-health/a/startupz\":{\"httpGet\":{\"port\":0}}}");
}

static void encoder_escapes_like_go(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	const char in[] = "a&b<c>d\"e\\f\n\r\t\b\f\x01\x1f\x7f/\xE2\x80\xA8\xE2\x80\xA9\xC3\xA9"
			  "\xff\xED\xA0\x80\xEF\xBF\xBD";
	probe_json_quote(&sb, in, sizeof(in) - 1);
	assert_string_equal(strbuf_str(&sb),
			    "\"a\\u0026b\\u003cc\\u003ed\\\"e\\\\f\\n\\r\\t\\u0008\\u000c\\u0001"
			    "\\u001f\x7f/\\u2028\\u2029\xC3\xA9\\ufffd\\ufffd\\ufffd\\ufffd"
			    "\xEF\xBF\xBD\"");
	strbuf_free(&sb);
	/* a path with & in the config */
	round_trip("{\"/app-health/a/livez\":{\"httpGet\":{\"path\":\"/h?a=1&b=2\",\"port\":1}}}",
		   "{\"/app-health/a/livez\":{\"httpGet\":{\"path\":\"/h?a=1\\u0026b=2\",\"port\":1}}}");
	/* round trip of the encoder's own output is the identity */
	const char *enc = "{\"/app-health/x/readyz\":{\"httpGet\":{\"path\":\"/\\u003c\\u2028\",\"port\":7,"
			  "\"httpHeaders\":[{\"name\":\"X\",\"value\":\"\\u0026\"}]},\"timeoutSeconds\":3}}";
	round_trip(enc, enc);
}

static void encoder_writes_named_ports_as_strings(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	struct probe_config c;
	struct skiff_err e;
	const char *j = "{\"/app-health/a/livez\":{\"httpGet\":{\"port\":\"http\"}}}";
	assert_int_equal(probe_config_decode(j, strlen(j), &c, &e), 0);
	assert_int_equal(probe_config_encode(&c, &sb), 1);
	assert_string_equal(strbuf_str(&sb), "{\"/app-health/a/livez\":{\"httpGet\":{\"port\":\"http\"}}}");
	strbuf_free(&sb);
	probe_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_and_null_mean_no_probers),
		cmocka_unit_test(decodes_every_field),
		cmocka_unit_test(member_names_fold_like_go),
		cmocka_unit_test(duplicates_merge_fields_but_paths_replace),
		cmocka_unit_test(nulls_and_ports),
		cmocka_unit_test(strings_unquote_like_go),
		cmocka_unit_test(refuses_bad_json),
		cmocka_unit_test(refuses_invalid_probers),
		cmocka_unit_test(encodes_istio_goldens),
		cmocka_unit_test(encoder_order_and_omission),
		cmocka_unit_test(encoder_escapes_like_go),
		cmocka_unit_test(encoder_writes_named_ports_as_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

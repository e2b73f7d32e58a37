/* test-request.c - the status server's request head parser and router:
 * Go net/http answers for bad heads, path decoding, ServeMux redirects,
 * loopback-only routes, 404/403/405/400 bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/request.h"
#include "agent/route.h"

static int parse(const char *head, struct agent_request *rq, const char **why, char *buf)
{
	size_t n = strlen(head);
	memcpy(buf, head, n + 1);
	return agent_request_parse(buf, n, rq, why);
}

static void parses_a_kubelet_probe(void **state)
{
	(void)state;
	static char buf[4096];
	struct agent_request rq;
	const char *why;
	const char *h = "GET /app-health/c/ready%7A?x=1 HTTP/1.1\r\nHost: 10.0.0.1:15020\r\n"
			"user-agent: kube-probe/1.27\r\nx-CUSTOM-header: a\r\nX-Custom-Header:  b \r\n"
			"Connection: close\r\n\r\nrest";
	int n = parse(h, &rq, &why, buf);
	assert_int_equal(n, (int)strlen(h) - 4);
	assert_int_equal(rq.path_len, 20);
	assert_memory_equal(rq.path, "/app-health/c/readyz", 20);
	assert_int_equal(rq.query_len, 3);
	assert_memory_equal(rq.query, "x=1", 3);
	assert_true(rq.http11);
	assert_false(rq.keep_alive);
	assert_int_equal(rq.n_headers, 4); /* Host is kept apart */
	assert_memory_equal(rq.host, "10.0.0.1:15020", 14);
	assert_memory_equal(rq.headers[0].name, "User-Agent", 10);
	assert_memory_equal(rq.headers[1].name, "X-Custom-Header", 15);
	assert_memory_equal(rq.headers[2].name, "X-Custom-Header", 15);
	assert_int_equal(rq.headers[2].value_len, 1);
	assert_memory_equal(rq.headers[2].value, "b", 1);
	assert_non_null(agent_request_header(&rq, "Connection"));
}

static void needs_more_bytes(void **state)
{
	(void)state;
	static char buf[64];
	struct agent_request rq;
	const char *why;
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\n", &rq, &why, buf), 0);
}

static void refuses_like_go(void **state)
{
	(void)state;
	static char buf[AGENT_MAX_HEAD + 64];
	struct agent_request rq;
	const char *why;
	struct { const char *head; int code; const char *why; } cases[] = {
		{ "GET / HTTP/1.1\r\n\r\n", -400, "missing required Host header" },
		{ "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", -400, "too many Host headers" },
		{ "GET / HTTP/2.0\r\nHost: a\r\n\r\n", -505, "" },
		{ "GET / FOO/1.1\r\nHost: a\r\n\r\n", -400, "malformed HTTP version" },
		{ "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", -400, "invalid URI" },
		{ "GET /% HTTP/1.1\r\nHost: a\r\n\r\n", -400, "invalid URI" },
		{ "GET nopath HTTP/1.1\r\nHost: a\r\n\r\n", -400, "invalid URI" },
		{ "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", -400, "invalid method" },
		{ "GET /\r\nHost: a\r\n\r\n", -400, "malformed HTTP request" },
		{ "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", -400, "invalid header name" },
		{ "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", -400, "malformed MIME header line" },
		{ "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01" "b\r\n\r\n", -400, "invalid header value" },
		{ "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", -501, "" },
		{ "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", -400, "bad Content-Length" },
		{ "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", -400, "malformed Host header" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = parse(cases[i].head, &rq, &why, buf);
		if (r != cases[i].code || strcmp(why, cases[i].why) != 0)
			fail_msg("case %zu: got %d \"%s\"", i, r, why);
	}
	memset(buf, 'a', AGENT_MAX_HEAD + 10);
	buf[AGENT_MAX_HEAD + 10] = 0;
	assert_int_equal(agent_request_parse(buf, AGENT_MAX_HEAD + 10, &rq, &why), -431);
}

static void keep_alive_rules(void **state)
{
	(void)state;
	static char buf[256];
	struct agent_request rq;
	const char *why;
	assert_true(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &rq, &why, buf) > 0);
	assert_true(rq.keep_alive);
	assert_true(parse("GET / HTTP/1.0\r\n\r\n", &rq, &why, buf) > 0);
	assert_false(rq.keep_alive);
	assert_true(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &rq, &why, buf) > 0);
	assert_true(rq.keep_alive);
	assert_true(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &rq, &why, buf) > 0);
	assert_false(rq.keep_alive);
	assert_true(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n", &rq, &why, buf) > 0);
	assert_int_equal(rq.content_length, 12);
	/* absolute form */
	assert_true(parse("GET http://x:1/app-health/a/livez HTTP/1.1\r\nHost: a\r\n\r\n", &rq, &why, buf) > 0);
	assert_memory_equal(rq.path, "/app-health/a/livez", 19);
}

/* ---- routing ---- */

struct routed {
	struct agent_route rt;
	char text[4096];
};

static void route(const char *head, bool loopback, const struct probe_config *pc, struct routed *out)
{
	static char buf[4096];
	struct agent_request rq;
	const char *why;
	size_t n = strlen(head);
	memcpy(buf, head, n + 1);
	assert_true(agent_request_parse(buf, n, &rq, &why) > 0);
	struct strbuf sb = STRBUF_INIT;
	agent_route(&rq, pc, loopback, false, &sb, &out->rt);
	snprintf(out->text, sizeof(out->text), "%s", strbuf_str(&sb));
	strbuf_free(&sb);
}

static void assert_answer(const struct routed *r, const char *status_line, const char *body)
{
	if (strncmp(r->text, status_line, strlen(status_line)) != 0)
		fail_msg("want %s, got %s", status_line, r->text);
	const char *b = strstr(r->text, "\r\n\r\n");
	assert_non_null(b);
	assert_string_equal(b + 4, body);
}

static void routes_like_servemux(void **state)
{
	(void)state;
	struct probe_config pc;
	struct skiff_err e;
	const char *j = "{\"/app-health/a/livez\":{\"tcpSocket\":{\"port\":1}}}";
	assert_int_equal(probe_config_parse(j, strlen(j), &pc, &e), 0);
	struct routed r;

	route("GET /app-health/a/livez HTTP/1.1\r\nHost: x\r\n\r\n", false, &pc, &r);
	assert_int_equal(r.rt.kind, ROUTE_PROBE);
	assert_ptr_equal(r.rt.prober, &pc.probers[0]);

	route("POST /app-health/a/livez HTTP/1.1\r\nHost: x\r\n\r\n", false, &pc, &r);
	assert_int_equal(r.rt.kind, ROUTE_PROBE);

	route("GET /app-health/c/readyz HTTP/1.1\r\nHost: x\r\n\r\n", false, &pc, &r);
	assert_int_equal(r.rt.kind, ROUTE_DONE);
	assert_answer(&r, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n",
		      "app prober config does not exists for /app-health/c/readyz");

	route("GET /app-health/a/livez/ HTTP/1.1\r\nHost: x\r\n\r\n", false, &pc, &r);
	assert_answer(&r, "HTTP/1.1 400", "app prober config does not exists for /app-health/a/livez/");

	route("GET /bad-path-should-be-404 HTTP/1.1\r\nHost: x\r\n\r\n", false, &pc, &r);
	assert_answer(&r, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n"
		      "X-Content-Type-Options: nosniff\r\n", "404 page not found\n");

	route("GET /healthz/ready/ HTTP/1.1\r\nHost: x\r\n\r\n", false, &pc, &r);
	assert_answer(&r, "HTTP/1.1 404", "404 page not found\n");
	route("GET /healthz/ready HTTP/1.1\r\nHost: x\r\n\r\n", false, &pc, &r);
	assert_int_equal(r.rt.kind, ROUTE_READY);
	route("PUT /stats/prometheus HTTP/1.1\r\nHost: x\r\n\r\n", false, &pc, &r);
	assert_int_equal(r.rt.kind, ROUTE_METRICS);

	route("GET /app-health HTTP/1.1\r\nHost: x\r\n\r\n", false, &pc, &r);
	assert_answer(&r, "HTTP/1.1 301 Moved Permanently\r\nContent-Type: text/html; charset=utf-8\r\n"
		      "Location: /app-health/\r\n", "<a href=\"/app-health/\">Moved Permanently</a>.\n\n");
	route("POST /app-health HTTP/1.1\r\nHost: x\r\n\r\n", false, &pc, &r);
	assert_answer(&r, "HTTP/1.1 301 Moved Permanently\r\nLocation: /app-health/\r\n", "");

	route("GET //app-health/a/../a/livez?q=%3C HTTP/1.1\r\nHost: x\r\n\r\n", false, &pc, &r);
	assert_non_null(strstr(r.text, "Location: /app-health/a/livez?q=%3C\r\n"));
	assert_non_null(strstr(r.text, "<a href=\"/app-health/a/livez?q=%3C\">"));
	route("GET /x/./y%20z HTTP/1.1\r\nHost: x\r\n\r\n", false, &pc, &r);
	assert_non_null(strstr(r.text, "Location: /x/y%20z\r\n")); /* redirect even without a route */

	route("GET /quitquitquit HTTP/1.1\r\nHost: x\r\n\r\n", false, &pc, &r);
	assert_answer(&r, "HTTP/1.1 403 Forbidden", "Only requests from localhost are allowed\n");
	route("POST /quitquitquit HTTP/1.1\r\nHost: x\r\n\r\n", false, &pc, &r);
	assert_answer(&r, "HTTP/1.1 403 Forbidden", "Only requests from localhost are allowed\n");
	route("GET /quitquitquit HTTP/1.1\r\nHost: x\r\n\r\n", true, &pc, &r);
	assert_answer(&r, "HTTP/1.1 405 Method Not Allowed", "Method Not Allowed\n");
	route("post /quitquitquit HTTP/1.1\r\nHost: x\r\n\r\n", true, &pc, &r);
	assert_answer(&r, "HTTP/1.1 405", "Method Not Allowed\n");
	route("POST /quitquitquit HTTP/1.1\r\nHost: x\r\n\r\n", true, &pc, &r);
	assert_int_equal(r.rt.kind, ROUTE_QUIT);
	assert_answer(&r, "HTTP/1.1 200 OK", "OK");

	route("GET /debug/ndsz HTTP/1.1\r\nHost: x\r\n\r\n", false, &pc, &r);
	assert_answer(&r, "HTTP/1.1 403", "Only requests from localhost are allowed\n");
	route("GET /debug/ndsz HTTP/1.1\r\nHost: x\r\n\r\n", true, &pc, &r);
	assert_answer(&r, "HTTP/1.1 404", "{}");
	route("GET /debug/pprof/heap HTTP/1.1\r\nHost: x\r\n\r\n", true, &pc, &r);
	assert_answer(&r, "HTTP/1.1 404", "404 page not found\n");
	route("GET /debug/pprof HTTP/1.1\r\nHost: x\r\n\r\n", false, &pc, &r);
	assert_non_null(strstr(r.text, "Location: /debug/pprof/\r\n"));
	route("HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n", false, &pc, &r);
	assert_answer(&r, "HTTP/1.1 404", ""); /* no body for HEAD */
	assert_non_null(strstr(r.text, "Content-Length: 19\r\n"));
	probe_config_free(&pc);
}

static void clean_path_like_go(void **state)
{
	(void)state;
	struct { const char *in, *out; } cases[] = {
		{ "/", "/" }, { "", "/" }, { "//a//b/", "/a/b/" }, { "/a/./b", "/a/b" },
		{ "/a/../../b", "/b" }, { "/..", "/" }, { "/a/b/..", "/a" }, { "/a/b/../", "/a/" },
		{ "/app-health/x/readyz", "/app-health/x/readyz" }, { "/.", "/" }, { "/./", "/" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[64];
		agent_clean_path(cases[i].in, strlen(cases[i].in), buf, sizeof(buf));
		if (strcmp(buf, cases[i].out) != 0)
			fail_msg("clean(%s) = %s, want %s", cases[i].in, buf, cases[i].out);
	}
}

static void loopback_peers(void **state)
{
	(void)state;
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	inet_pton(AF_INET, "127.0.0.6", &a4.sin_addr);
	assert_true(agent_peer_is_loopback((struct sockaddr *)&a4));
	inet_pton(AF_INET, "10.1.2.3", &a4.sin_addr);
	assert_false(agent_peer_is_loopback((struct sockaddr *)&a4));
	inet_pton(AF_INET6, "::1", &a6.sin6_addr);
	assert_true(agent_peer_is_loopback((struct sockaddr *)&a6));
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &a6.sin6_addr);
	assert_true(agent_peer_is_loopback((struct sockaddr *)&a6));
	inet_pton(AF_INET6, "::ffff:10.0.0.1", &a6.sin6_addr);
	assert_false(agent_peer_is_loopback((struct sockaddr *)&a6));
	inet_pton(AF_INET6, "::6", &a6.sin6_addr);
	assert_false(agent_peer_is_loopback((struct sockaddr *)&a6));
}

static void status_lines(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	agent_response_write(&sb, 418, NULL, NULL, NULL, 0, true, false);
	assert_non_null(strstr(strbuf_str(&sb), "HTTP/1.1 418 I'm a teapot\r\n"));
	assert_non_null(strstr(strbuf_str(&sb), "Content-Length: 0\r\nConnection: close\r\n\r\n"));
	strbuf_reset(&sb);
	agent_response_write(&sb, 599, NULL, NULL, NULL, 0, false, false);
	assert_non_null(strstr(strbuf_str(&sb), "HTTP/1.1 599 status code 599\r\n"));
	strbuf_reset(&sb);
	agent_response_write(&sb, 204, NULL, NULL, NULL, 0, false, false);
	assert_null(strstr(strbuf_str(&sb), "Content-Length"));
	strbuf_reset(&sb);
	agent_response_bad_request(&sb, 400, "missing required Host header");
	assert_string_equal(strbuf_str(&sb), "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; "
			    "charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request: missing required Host header");
	strbuf_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_a_kubelet_probe),
		cmocka_unit_test(needs_more_bytes),
		cmocka_unit_test(refuses_like_go),
		cmocka_unit_test(keep_alive_rules),
		cmocka_unit_test(routes_like_servemux),
		cmocka_unit_test(clean_path_like_go),
		cmocka_unit_test(loopback_peers),
		cmocka_unit_test(status_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test-http.c - pure pieces of the HTTP prober: the request target Go
 * builds from a prober path, canonical header names, URL authorities. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "probe/http.h"
#include "probe/net.h"

static void targets(void **state)
{
	(void)state;
	struct { const char *in, *out; } ok[] = {
		{ "", "/" }, { NULL, "/" }, { "hello/texas", "/hello/texas" },
		{ "/h?a=1&b=2", "/h?a=1&b=2" }, { "/h#x", "/h" }, { "/a b", "/a%20b" },
		{ "/a%20b", "/a%20b" }, { "/a%20b c", "/a%20b%20c" }, { "/x!*'()", "/x!*'()" },
		{ "/\xC3\xA9", "/%C3%A9" }, { "/p?q=a b", "/p?q=a b" }, { "/a%2Fb", "/a%2Fb" },
	};
	char buf[256];
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(probe_http_target(ok[i].in, buf, sizeof(buf)), 0);
		if (strcmp(buf, ok[i].out) != 0)
			fail_msg("%s -> %s, want %s", ok[i].in, buf, ok[i].out);
	}
	assert_int_equal(probe_http_target("/%zz", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(probe_http_target("/%4", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(probe_http_target("/a\nb", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(probe_http_target("/a\x7f", buf, sizeof(buf)), -EINVAL);
}

static void canonical_names(void **state)
{
	(void)state;
	char buf[64];
	probe_canonical_header("x-custom-HEADER", 15, buf, sizeof(buf));
	assert_string_equal(buf, "X-Custom-Header");
	probe_canonical_header("host", 4, buf, sizeof(buf));
	assert_string_equal(buf, "Host");
	probe_canonical_header(":authority", 10, buf, sizeof(buf));
	assert_string_equal(buf, ":authority"); /* not a token: unchanged */
	probe_canonical_header("bad name", 8, buf, sizeof(buf));
	assert_string_equal(buf, "bad name");
}

static void authorities(void **state)
{
	(void)state;
	char buf[128];
	probe_net_authority("10.0.0.1", 80, buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.1:80");
	probe_net_authority("fd00::5", 8080, buf, sizeof(buf));
	assert_string_equal(buf, "[fd00::5]:8080");
	probe_net_authority("::ffff:10.0.0.1", 1, buf, sizeof(buf));
	assert_string_equal(buf, "::ffff:10.0.0.1:1");
	probe_net_authority("localhost", 9, buf, sizeof(buf));
	assert_string_equal(buf, "localhost:9");
}

static void refused_and_invalid_ports_answer_500(void **state)
{
	(void)state;
	struct probe_endpoint ep = { .host = "127.0.0.1" };
	struct probe_http_get g = { .port = { .number = 0 } };
	struct probe_http_request rq = { .ep = &ep, .get = &g };
	struct probe_outcome o;
	probe_http_run(&rq, probe_now_ms() + 1000, &o);
	assert_int_equal(o.status, 500);
	g.port.number = 70000;
	probe_http_run(&rq, probe_now_ms() + 1000, &o);
	assert_int_equal(o.status, 500);
	/* a v6 destination from the v4 source fails at once */
	struct probe_endpoint ep6 = { .host = "fd00::5", .port = 1 };
	g.port.number = 80;
	rq.ep = &ep6;
	probe_http_run(&rq, probe_now_ms() + 1000, &o);
	assert_int_equal(o.status, 500);
	assert_non_null(strstr(o.reason, "no suitable address"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(targets),
		cmocka_unit_test(canonical_names),
		cmocka_unit_test(authorities),
		cmocka_unit_test(refused_and_invalid_ports_answer_500),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

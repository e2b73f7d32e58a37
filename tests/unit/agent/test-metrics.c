/* test-metrics.c - /stats/prometheus's pure parts: ISTIO_PROMETHEUS_ANNOTATIONS
 * (spec 11.1, edge cases 18.39-41), content-type negotiation (11.2 step 5,
 * 18.43), the blank-line collapse of Envoy's text (18.44), the scrape
 * timeout header, and the HTTP client's response parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "agent/http_get.h"
#include "agent/metrics.h"

static int ann(const char *json, struct metrics_app *app, struct skiff_err *e)
{
	err_clear(e);
	return metrics_annotations_parse(json, 15020, app, e);
}

static void annotations_defaults_and_values(void **state)
{
	struct metrics_app a;
	struct skiff_err e = { 0 };
	assert_int_equal(ann("{\"scrape\":\"true\",\"path\":\"/stats\",\"port\":\"8080\"}", &a, &e), 0);
	assert_true(a.scrape);
	assert_string_equal(a.path, "/stats");
	assert_string_equal(a.port, "8080");
	metrics_app_clear(&a);
	assert_int_equal(ann("null", &a, &e), 0); /* all defaults, scraping on */
	assert_true(a.scrape);
	assert_string_equal(a.path, "/metrics");
	assert_string_equal(a.port, "80");
	metrics_app_clear(&a);
	assert_int_equal(ann(" {} ", &a, &e), 0);
	assert_true(a.scrape);
	metrics_app_clear(&a);
	assert_int_equal(ann("{\"scrape\":\"false\"}", &a, &e), 0);
	assert_false(a.scrape);
	metrics_app_clear(&a);
	/* only the exact spelling disables (18.41) */
	assert_int_equal(ann("{\"scrape\":\"False\"}", &a, &e), 0);
	assert_true(a.scrape);
	metrics_app_clear(&a);
	/* null members are ignored; extra members too */
	assert_int_equal(ann("{\"port\":\"9090\",\"Port\":null,\"x\":{\"y\":[1]}}", &a, &e), 0);
	assert_string_equal(a.port, "9090");
	metrics_app_clear(&a);
	/* an identical duplicate key: the later string wins, a later null does not erase */
	assert_int_equal(ann("{\"port\":\"1\",\"port\":\"9090\",\"port\":null}", &a, &e), 0);
	assert_string_equal(a.port, "9090");
	metrics_app_clear(&a);
}

static void annotations_member_names_fold(void **state)
{
	struct metrics_app a;
	struct skiff_err e = { 0 };
	/* case-insensitive; U+017F long s matches s; the later spelling wins */
	assert_int_equal(ann("{\"SCRAPE\":\"true\",\"\xc5\xbf" "crape\":\"false\",\"PoRt\":\"1\"}", &a, &e), 0);
	assert_false(a.scrape);
	assert_string_equal(a.port, "1");
	metrics_app_clear(&a);
	/* and the other order: document order decides, not the spelling */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(ann(i ? "{\"a\":1,\"b\":2,\"c\":3,\"scrape\":\"false\",\"d\":4,\"Scrape\":\"x\"}"
				       : "{\"\xc5\xbf" "crape\":\"false\",\"SCRAPE\":\"true\"}", &a, &e), 0);
		assert_true(a.scrape);
		metrics_app_clear(&a);
	}
	assert_true(metrics_json_name_fold_eq("Path", 4, "path"));
	assert_false(metrics_json_name_fold_eq("paths", 5, "path"));
	assert_false(metrics_json_name_fold_eq("pat", 3, "path"));
	assert_true(metrics_json_name_fold_eq("\xe2\x84\xaa", 3, "k"));
}

static void annotations_strings_decode_like_go(void **state)
{
	struct metrics_app a;
	struct skiff_err e = { 0 };
	assert_int_equal(ann("{\"path\":\"\\/a\\u0062\\ud83d\\ude00\\t\",\"port\":\"8\\u0030\"}", &a, &e), 0);
	assert_string_equal(a.path, "/ab\xf0\x9f\x98\x80\t");
	assert_string_equal(a.port, "80");
	metrics_app_clear(&a);
	/* invalid UTF-8 and a lone surrogate become U+FFFD instead of failing */
	assert_int_equal(ann("{\"path\":\"/\xff\\ud800x\"}", &a, &e), 0);
	assert_string_equal(a.path, "/\xef\xbf\xbd\xef\xbf\xbdx");
	metrics_app_clear(&a);
	/* a key with a NUL in it is not "port" */
	assert_int_equal(ann("{\"port\\u0000x\":\"1\"}", &a, &e), 0);
	assert_string_equal(a.port, "80");
	metrics_app_clear(&a);
	/* unknown members of any shape are skipped */
	assert_int_equal(ann("{\"x\":[[[{\"a\":[true,false,null,-1.5e+3,\"s\"]}]]],\"scrape\":\"false\"}",
			     &a, &e), 0);
	assert_false(a.scrape);
	metrics_app_clear(&a);
}

static void annotations_errors_name_the_variable(void **state)
{
	struct metrics_app a;
	struct skiff_err e = { 0 };
	const char *bad[] = { "", "{", "[]", "\"x\"", "3", "{\"port\":8080}", "{\"scrape\":true}",
			      "{\"path\":{}}", "{} x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_true(ann(bad[i], &a, &e) < 0);
		assert_non_null(strstr(e.msg, "ISTIO_PROMETHEUS_ANNOTATIONS"));
	}
	assert_true(ann("{\"port\":8080}", &a, &e) < 0);
	assert_non_null(strstr(e.msg, "\"port\""));
	assert_non_null(strstr(e.msg, "a number"));
	/* a syntax error anywhere wins over a type error, as Go validates first */
	assert_true(ann("{\"port\":8080,}", &a, &e) < 0);
	assert_non_null(strstr(e.msg, "invalid JSON"));
	const char *more[] = { "{\"a\":01}", "{\"a\":1.}", "{\"a\":tru}", "{\"a\":\"\\x\"}",
			       "{\"a\":\"\x01\"}", "{\"a\" 1}", "{'a':1}", "nul", "{\"a\":[1,]}" };
	for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
		assert_true(ann(more[i], &a, &e) < 0);
		assert_non_null(strstr(e.msg, "invalid JSON"));
	}
}

static void annotations_recursion_guard(void **state)
{
	struct metrics_app a;
	struct skiff_err e = { 0 };
	/* 18.39 */
	assert_true(ann("{\"scrape\":\"true\",\"path\":\"\",\"port\":\"15020\"}", &a, &e) < 0);
	assert_non_null(strstr(e.msg, "15020"));
	/* not caught: another spelling of the number, or scraping off */
	assert_int_equal(ann("{\"port\":\"015020\"}", &a, &e), 0);
	metrics_app_clear(&a);
	assert_int_equal(ann("{\"scrape\":\"false\",\"port\":\"15020\"}", &a, &e), 0);
	metrics_app_clear(&a);
}

static void negotiation(void **state)
{
	assert_string_equal(metrics_negotiate_content_type(NULL), METRICS_CT_TEXT);
	assert_string_equal(metrics_negotiate_content_type(""), METRICS_CT_TEXT);
	assert_string_equal(metrics_negotiate_content_type("text/plain; version=0.0.4"), METRICS_CT_TEXT);
	assert_string_equal(metrics_negotiate_content_type("application/openmetrics-text; version=1.0.0"),
			    METRICS_CT_OPENMETRICS);
	assert_string_equal(metrics_negotiate_content_type("Application/OpenMetrics-Text"),
			    METRICS_CT_OPENMETRICS);
	assert_string_equal(metrics_negotiate_content_type("application/openmetrics-text;charset=\"utf-8\""),
			    METRICS_CT_OPENMETRICS);
	/* a malformed media type falls back to text, as mime.ParseMediaType fails */
	assert_string_equal(metrics_negotiate_content_type("application/openmetrics-text; version"),
			    METRICS_CT_TEXT);
	assert_string_equal(metrics_negotiate_content_type("application/openmetrics-textx"), METRICS_CT_TEXT);
}

static void collapse(const char *in, const char *want)
{
	struct strbuf sb = STRBUF_INIT;
	metrics_collapse_newlines(in, strlen(in), &sb);
	assert_string_equal(strbuf_str(&sb), want);
	strbuf_free(&sb);
}

static void newline_collapse(void **state)
{
	collapse("a\n\nb\n", "a\nb\n");
	collapse("a\n\n\nb", "a\n\nb");     /* one pass: three become two */
	collapse("a\n\n\n\nb", "a\n\nb");   /* four become two */
	collapse("\n\n", "\n");
	collapse("", "");
	collapse("x", "x");
}

static void scrape_timeout(void **state)
{
	int64_t ms = 0;
	assert_int_equal(metrics_scrape_timeout(NULL, &ms), 0);
	assert_int_equal(metrics_scrape_timeout("", &ms), 0);
	assert_int_equal(metrics_scrape_timeout("2.5", &ms), 1);
	assert_int_equal(ms, 2500);
	assert_int_equal(metrics_scrape_timeout("1e1", &ms), 1);
	assert_int_equal(ms, 10000);
	assert_int_equal(metrics_scrape_timeout("abc", &ms), 0);  /* warning, no timeout */
	assert_int_equal(metrics_scrape_timeout(" 1", &ms), 0);
	assert_int_equal(metrics_scrape_timeout("0", &ms), -1);   /* fails at once */
	assert_int_equal(metrics_scrape_timeout("-3", &ms), -1);
	assert_int_equal(metrics_scrape_timeout("NaN", &ms), -1);
}

static void http_head(void **state)
{
	struct http_head h;
	const char *ok = "HTTP/1.1 200 OK\r\nContent-Type:  text/plain; version=0.0.4 \r\n"
			 "content-length: 12\r\nLocation: /x\r\n\r\n";
	assert_int_equal(http_head_parse(ok, strlen(ok), &h), 0);
	assert_int_equal(h.status, 200);
	assert_string_equal(h.content_type, "text/plain; version=0.0.4");
	assert_true(h.has_length);
	assert_int_equal(h.content_length, 12);
	assert_string_equal(h.location, "/x");
	const char *ch = "HTTP/1.0 302\r\nTransfer-Encoding: chunked\r\n\r\n";
	assert_int_equal(http_head_parse(ch, strlen(ch), &h), 0);
	assert_int_equal(h.status, 302);
	assert_true(h.chunked);
	const char *bad[] = { "HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n",
			      "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", "HTTP/1.1 200 OK\r\n",
			      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
			      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
			      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(http_head_parse(bad[i], strlen(bad[i]), &h), -EINVAL);
}

static void chunked(void **state)
{
	const char *in = "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";
	/* byte by byte and all at once give the same */
	for (int mode = 0; mode < 2; mode++) {
		struct http_chunked c = { 0 };
		struct strbuf sb = STRBUF_INIT;
		size_t n = strlen(in);
		if (mode == 0) {
			assert_int_equal(http_chunked_feed(&c, in, n, &sb), 0);
		} else {
			for (size_t i = 0; i < n; i++)
				assert_int_equal(http_chunked_feed(&c, in + i, 1, &sb), 0);
		}
		assert_true(c.done);
		assert_string_equal(strbuf_str(&sb), "hello, world");
		strbuf_free(&sb);
	}
	const char *bad[] = { "x\r\n", "\r\n", "5\r\nhelloXX", "ffffffffffffffffff\r\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct http_chunked c = { 0 };
		struct strbuf sb = STRBUF_INIT;
		assert_int_equal(http_chunked_feed(&c, bad[i], strlen(bad[i]), &sb), -EINVAL);
		strbuf_free(&sb);
	}
}

static void bad_envoy_port_is_startup_error(void **state)
{
	char *env[] = { "ENVOY_PROMETHEUS_PORT=abc", NULL };
	struct agent_metrics *m = NULL;
	struct skiff_err e = { 0 };
	assert_true(agent_metrics_new(env, 15020, &m, &e) < 0);
	assert_non_null(strstr(e.msg, "ENVOY_PROMETHEUS_PORT"));
	assert_non_null(strstr(e.msg, "abc"));
	char *env2[] = { "ISTIO_PROMETHEUS_ANNOTATIONS=", NULL }; /* 18.40 */
	assert_true(agent_metrics_new(env2, 15020, &m, &e) < 0);
	assert_non_null(strstr(e.msg, "ISTIO_PROMETHEUS_ANNOTATIONS"));
	assert_null(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(annotations_defaults_and_values),
		cmocka_unit_test(annotations_member_names_fold),
		cmocka_unit_test(annotations_strings_decode_like_go),
		cmocka_unit_test(annotations_errors_name_the_variable),
		cmocka_unit_test(annotations_recursion_guard),
		cmocka_unit_test(negotiation),
		cmocka_unit_test(newline_collapse),
		cmocka_unit_test(scrape_timeout),
		cmocka_unit_test(http_head),
		cmocka_unit_test(chunked),
		cmocka_unit_test(bad_envoy_port_is_startup_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

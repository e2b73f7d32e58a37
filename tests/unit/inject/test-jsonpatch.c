/* test-jsonpatch.c - the RFC 6902 diff and applier (src/inject/jsonpatch.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inject/jsonpatch.h"

static json_t *J(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &err);
	if (!j)
		fail_msg("bad test JSON %s: %s", text, err.text);
	return j;
}

/* diff(a, b) must be exactly `want` and must turn a into b. */
static void check_diff(const char *a, const char *b, const char *want)
{
	json_t *ja = J(a), *jb = J(b), *ops = NULL, *applied = NULL;
	struct skiff_err e = { 0 };
	assert_int_equal(jsonpatch_diff(ja, jb, &ops, &e), 0);
	char *got = json_dumps(ops, JSON_COMPACT);
	if (want && strcmp(got, want) != 0)
		fail_msg("diff %s -> %s\n got  %s\n want %s", a, b, got, want);
	/* the text form is the same operations, byte for byte */
	struct strbuf text = STRBUF_INIT;
	size_t n = 0;
	assert_int_equal(jsonpatch_diff_text(ja, jb, &text, &n, &e), 0);
	assert_string_equal(strbuf_str(&text), got);
	assert_int_equal(n, json_array_size(ops));
	strbuf_free(&text);
	if (jsonpatch_apply(ja, ops, &applied, &e) != 0)
		fail_msg("patch %s does not apply to %s: %s", got, a, e.msg);
	if (!json_equal(applied, jb)) {
		char *res = json_dumps(applied, JSON_COMPACT);
		fail_msg("patch %s on %s gives %s, not %s", got, a, res, b);
	}
	free(got);
	json_decref(ja);
	json_decref(jb);
	json_decref(ops);
	json_decref(applied);
}

static void test_pointer_escape(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	jsonpatch_pointer_push(&sb, "metadata", 8);
	jsonpatch_pointer_push(&sb, "sidecar.istio.io/status", 23);
	jsonpatch_pointer_push(&sb, "a~b/~1", 6);
	assert_string_equal(strbuf_str(&sb), "/metadata/sidecar.istio.io~1status/a~0b~1~01");
	strbuf_free(&sb);
}

static void json_string_is(const char *in, size_t n, const char *want)
{
	struct strbuf sb = STRBUF_INIT;
	jsonpatch_json_string(&sb, in, n);
	assert_string_equal(strbuf_str(&sb), want);
	/* and jansson reads it back */
	json_error_t err;
	json_t *j = json_loads(strbuf_str(&sb), JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	assert_non_null(j);
	json_decref(j);
	strbuf_free(&sb);
}

#define JS(lit, want) json_string_is(lit, sizeof(lit) - 1, want)

static void test_json_string(void **state)
{
	(void)state;
	JS("a\"b\\c/d", "\"a\\\"b\\\\c/d\"");
	JS("\n\r\t\b\f\x01\x1f", "\"\\n\\r\\t\\b\\f\\u0001\\u001f\"");
	JS("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	/* cut, overlong, surrogate and stray bytes each become \ufffd */
	JS("a\xc3", "\"a\\ufffd\"");
	JS("\xc0\xaf", "\"\\ufffd\\ufffd\"");
	JS("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	JS("\x80x", "\"\\ufffdx\"");
	JS("a\0b", "\"a\\u0000b\"");
}

static void test_equal_is_empty(void **state)
{
	(void)state;
	check_diff("{\"a\":[1,{\"b\":null}]}", "{\"a\":[1,{\"b\":null}]}", "[]");
	check_diff("3", "3", "[]");
}

static void test_objects(void **state)
{
	(void)state;
	check_diff("{\"a\":1,\"b\":2}", "{\"a\":1,\"c\":3}",
		   "[{\"op\":\"add\",\"path\":\"/c\",\"value\":3},{\"op\":\"remove\",\"path\":\"/b\"}]");
	check_diff("{\"a\":{\"x\":1}}", "{\"a\":{\"x\":2,\"y\":[true]}}",
		   "[{\"op\":\"replace\",\"path\":\"/a/x\",\"value\":2},"
		   "{\"op\":\"add\",\"path\":\"/a/y\",\"value\":[true]}]");
	/* keys that need escaping, as annotation names do */
	check_diff("{\"metadata\":{\"annotations\":{\"a/b\":\"1\"}}}",
		   "{\"metadata\":{\"annotations\":{\"a/b\":\"2\",\"x~y\":\"3\"}}}",
		   "[{\"op\":\"replace\",\"path\":\"/metadata/annotations/a~1b\",\"value\":\"2\"},"
		   "{\"op\":\"add\",\"path\":\"/metadata/annotations/x~0y\",\"value\":\"3\"}]");
	/* the empty key is a valid member name: pointer "/" */
	check_diff("{\"\":1}", "{\"\":2}", "[{\"op\":\"replace\",\"path\":\"/\",\"value\":2}]");
}

static void test_types_change(void **state)
{
	(void)state;
	check_diff("{\"a\":{\"x\":1}}", "{\"a\":[1]}", "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":[1]}]");
	check_diff("{\"a\":1}", "{\"a\":1.0}", "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":1.0}]");
	check_diff("{\"a\":null}", "{\"a\":false}", "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":false}]");
	check_diff("{\"a\":1}", "[1]", "[{\"op\":\"replace\",\"path\":\"\",\"value\":[1]}]");
}

static void test_arrays(void **state)
{
	(void)state;
	check_diff("[1,2,3]", "[1,2,3,4,5]",
		   "[{\"op\":\"add\",\"path\":\"/3\",\"value\":4},{\"op\":\"add\",\"path\":\"/4\",\"value\":5}]");
	/* removals go from the end backwards so each index is still valid */
	check_diff("[1,2,3,4]", "[1]",
		   "[{\"op\":\"remove\",\"path\":\"/3\"},{\"op\":\"remove\",\"path\":\"/2\"},"
		   "{\"op\":\"remove\",\"path\":\"/1\"}]");
	check_diff("[{\"name\":\"a\",\"x\":1},{\"name\":\"b\"}]", "[{\"name\":\"a\",\"x\":2},{\"name\":\"b\"},{\"name\":\"c\"}]",
		   "[{\"op\":\"replace\",\"path\":\"/0/x\",\"value\":2},"
		   "{\"op\":\"add\",\"path\":\"/2\",\"value\":{\"name\":\"c\"}}]");
	/* an element put first: still correct, index by index */
	check_diff("{\"c\":[{\"name\":\"app\"}]}", "{\"c\":[{\"name\":\"istio-proxy\",\"image\":\"p\"},{\"name\":\"app\"}]}", NULL);
	check_diff("[]", "[[],{}]", NULL);
	check_diff("[[1,2],[3]]", "[[2],[3,4],[]]", NULL);
}

static void test_injection_shape(void **state)
{
	(void)state;
	/* What an injection looks like: new init containers, a container
	 * appended, an env var appended, annotations added. */
	check_diff("{\"metadata\":{\"name\":\"p\",\"labels\":{\"app\":\"x\"}},"
		   "\"spec\":{\"containers\":[{\"name\":\"app\",\"readinessProbe\":{\"httpGet\":{\"port\":80}}}]}}",
		   "{\"metadata\":{\"name\":\"p\",\"labels\":{\"app\":\"x\",\"security.istio.io/tlsMode\":\"istio\"},"
		   "\"annotations\":{\"sidecar.istio.io/status\":\"{}\"}},"
		   "\"spec\":{\"initContainers\":[{\"name\":\"istio-init\"}],\"containers\":[{\"name\":\"app\","
		   "\"readinessProbe\":{\"httpGet\":{\"path\":\"/app-health/app/readyz\",\"port\":15020}}},"
		   "{\"name\":\"istio-proxy\",\"env\":[{\"name\":\"A\",\"value\":\"1\"}]}]}}",
		   "[{\"op\":\"add\",\"path\":\"/metadata/labels/security.istio.io~1tlsMode\",\"value\":\"istio\"},"
		   "{\"op\":\"add\",\"path\":\"/metadata/annotations\",\"value\":{\"sidecar.istio.io/status\":\"{}\"}},"
		   "{\"op\":\"add\",\"path\":\"/spec/initContainers\",\"value\":[{\"name\":\"istio-init\"}]},"
		   "{\"op\":\"add\",\"path\":\"/spec/containers/0/readinessProbe/httpGet/path\",\"value\":\"/app-health/app/readyz\"},"
		   "{\"op\":\"replace\",\"path\":\"/spec/containers/0/readinessProbe/httpGet/port\",\"value\":15020},"
		   "{\"op\":\"add\",\"path\":\"/spec/containers/1\",\"value\":{\"name\":\"istio-proxy\",\"env\":[{\"name\":\"A\",\"value\":\"1\"}]}}]");
}

static void apply_fails(const char *doc, const char *patch, const char *msg_part)
{
	json_t *d = J(doc), *p = J(patch), *out = NULL;
	struct skiff_err e = { 0 };
	assert_true(jsonpatch_apply(d, p, &out, &e) < 0);
	assert_null(out);
	if (!strstr(e.msg, msg_part))
		fail_msg("message \"%s\" lacks \"%s\"", e.msg, msg_part);
	json_decref(d);
	json_decref(p);
}

static void apply_gives(const char *doc, const char *patch, const char *want)
{
	json_t *d = J(doc), *p = J(patch), *w = J(want), *out = NULL;
	struct skiff_err e = { 0 };
	if (jsonpatch_apply(d, p, &out, &e) != 0)
		fail_msg("%s on %s: %s", patch, doc, e.msg);
	if (!json_equal(out, w))
		fail_msg("%s on %s gives %s", patch, doc, json_dumps(out, JSON_COMPACT));
	json_decref(d);
	json_decref(p);
	json_decref(w);
	json_decref(out);
}

static void test_apply(void **state)
{
	(void)state;
	/* RFC 6902 appendix A examples, in short */
	apply_gives("{\"foo\":[\"bar\",\"baz\"]}", "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
		    "{\"foo\":[\"bar\",\"qux\",\"baz\"]}");
	apply_gives("{\"foo\":[1]}", "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":2}]", "{\"foo\":[1,2]}");
	apply_gives("{\"foo\":{\"bar\":1},\"q\":{}}", "[{\"op\":\"move\",\"from\":\"/foo/bar\",\"path\":\"/q/x\"}]",
		    "{\"foo\":{},\"q\":{\"x\":1}}");
	apply_gives("{\"a\":[1]}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/b\"},{\"op\":\"test\",\"path\":\"/b/0\",\"value\":1}]",
		    "{\"a\":[1],\"b\":[1]}");
	apply_gives("{\"a/b\":1,\"m~n\":2}", "[{\"op\":\"replace\",\"path\":\"/a~1b\",\"value\":3},{\"op\":\"remove\",\"path\":\"/m~0n\"}]",
		    "{\"a/b\":3}");
	apply_fails("{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"/b\"}]", "operation 0 (remove /b): no such location");
	apply_fails("{\"a\":[1,2]}", "[{\"op\":\"replace\",\"path\":\"/a/01\",\"value\":0}]", "no such location");
	apply_fails("{\"a\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/a/3\",\"value\":0}]", "no such location");
	apply_fails("{\"a\":1}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":2}]", "test failed");
	apply_fails("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/a~2\",\"value\":2}]", "invalid path");
	apply_fails("{\"a\":1}", "[{\"op\":\"frob\",\"path\":\"/a\"}]", "unknown op \"frob\"");
	apply_fails("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/b\"}]", "no \"value\"");
	apply_fails("{\"a\":{}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/b\"}]", "invalid path");
	apply_fails("{}", "{}", "not an array");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pointer_escape),
		cmocka_unit_test(test_json_string),
		cmocka_unit_test(test_equal_is_empty),
		cmocka_unit_test(test_objects),
		cmocka_unit_test(test_types_change),
		cmocka_unit_test(test_arrays),
		cmocka_unit_test(test_injection_shape),
		cmocka_unit_test(test_apply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

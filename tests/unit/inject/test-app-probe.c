/* test-app-probe.c - the probe rewrite and ISTIO_KUBE_APP_PROBERS (probes.md
 * 13-15), incl. the gRPC vectors of Istio's app_probe_test.go (README of the
 * inject vectors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "inject/app_probe.h"
#include "probe/config.h"

static char *probers(const char *containers_json, int mesh_port, bool tcp, struct strbuf *w)
{
	json_error_t je;
	json_t *c = json_loads(containers_json, 0, &je);
	if (!c)
		fail_msg("bad test JSON: %s", je.text);
	char *out = NULL;
	struct skiff_err e = { 0 };
	int r = app_probe_probers_json(c, mesh_port, tcp, "pod t", &out, w, &e);
	if (r < 0)
		fail_msg("probers failed: %s", e.msg);
	json_decref(c);
	return out;
}

static char *rewritten(const char *containers_json, int port, bool tcp)
{
	json_t *c = json_loads(containers_json, 0, NULL);
	assert_non_null(c);
	assert_int_equal(app_probe_rewrite(c, port, tcp), 0);
	char *d = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(c);
	return d;
}

static void grpc_vectors_dump(void **state)
{
	(void)state;
	char *s = probers("[{\"name\":\"foo\",\"livenessProbe\":{\"grpc\":{\"port\":1234}}}]", 15020,
			  true, NULL);
	assert_string_equal(s, "{\"/app-health/foo/livez\":{\"grpc\":{\"port\":1234,\"service\":null}}}");
	free(s);
	s = probers("[{\"name\":\"bar\",\"readinessProbe\":{\"grpc\":{\"port\":1234,\"service\":\"foo\"}}}]",
		    15020, true, NULL);
	assert_string_equal(s, "{\"/app-health/bar/readyz\":{\"grpc\":{\"port\":1234,\"service\":\"foo\"}}}");
	free(s);
	s = probers("[{\"name\":\"foo\",\"startupProbe\":{\"grpc\":{\"port\":1234,\"service\":\"foo\"},"
		    "\"timeoutSeconds\":10}}]", 15020, true, NULL);
	assert_string_equal(s, "{\"/app-health/foo/startupz\":{\"grpc\":{\"port\":1234,\"service\":\"foo\"},"
			       "\"timeoutSeconds\":10}}");
	free(s);
}

static void grpc_vectors_rewrite(void **state)
{
	(void)state;
	char *s = rewritten("[{\"name\":\"foo\"}]", 15020, true);
	assert_string_equal(s, "[{\"name\":\"foo\"}]");
	free(s);
	s = rewritten("[{\"name\":\"foo\",\"livenessProbe\":{\"grpc\":{\"port\":1234}}}]", 15020, true);
	assert_string_equal(s, "[{\"name\":\"foo\",\"livenessProbe\":{\"httpGet\":"
			       "{\"path\":\"/app-health/foo/livez\",\"port\":15020}}}]");
	free(s);
	s = rewritten("[{\"name\":\"foo\",\"livenessProbe\":{\"grpc\":{\"port\":1234,\"service\":\"foo\"}},"
		      "\"readinessProbe\":{\"grpc\":{\"port\":1235,\"service\":\"foo\"},\"timeoutSeconds\":10}},"
		      "{\"name\":\"bar\",\"startupProbe\":{\"grpc\":{\"port\":1236},\"timeoutSeconds\":20,"
		      "\"periodSeconds\":10,\"initialDelaySeconds\":10}}]", 15020, true);
	assert_string_equal(s,
		"[{\"name\":\"foo\",\"livenessProbe\":{\"httpGet\":{\"path\":\"/app-health/foo/livez\",\"port\":15020}},"
		"\"readinessProbe\":{\"httpGet\":{\"path\":\"/app-health/foo/readyz\",\"port\":15020},\"timeoutSeconds\":10}},"
		"{\"name\":\"bar\",\"startupProbe\":{\"httpGet\":{\"path\":\"/app-health/bar/startupz\",\"port\":15020},"
		"\"timeoutSeconds\":20,\"periodSeconds\":10,\"initialDelaySeconds\":10}}]");
	free(s);
}

static void rewrite_decision_table(void **state)
{
	(void)state;
	json_t *t = json_pack("{s:s}", ANN_REWRITE_PROBERS, "true");
	json_t *f = json_pack("{s:s}", ANN_REWRITE_PROBERS, "false");
	json_t *yes = json_pack("{s:s}", ANN_REWRITE_PROBERS, "yes");
	json_t *one = json_pack("{s:s}", ANN_REWRITE_PROBERS, "1");
	json_t *F = json_pack("{s:s}", ANN_REWRITE_PROBERS, "F");
	assert_false(app_probe_rewrite_enabled(NULL, false));
	assert_true(app_probe_rewrite_enabled(NULL, true));
	assert_true(app_probe_rewrite_enabled(t, false));
	assert_true(app_probe_rewrite_enabled(t, true));
	assert_false(app_probe_rewrite_enabled(f, false));
	assert_false(app_probe_rewrite_enabled(f, true));
	assert_true(app_probe_rewrite_enabled(yes, true));   /* not a boolean: values decide */
	assert_false(app_probe_rewrite_enabled(yes, false));
	assert_true(app_probe_rewrite_enabled(one, false));
	assert_false(app_probe_rewrite_enabled(F, true));
	json_decref(t); json_decref(f); json_decref(yes); json_decref(one); json_decref(F);
}

static void status_port_from_annotation(void **state)
{
	(void)state;
	json_t *a = json_pack("{s:s}", "status.sidecar.istio.io/port", "123");
	json_t *sp = json_pack("{s:s}", "status.sidecar.istio.io/port", " 123");
	assert_int_equal(app_probe_status_port(NULL, 15020), 15020);
	assert_int_equal(app_probe_status_port(a, 15020), 123);
	assert_int_equal(app_probe_status_port(sp, 15020), 0); /* passes validation, fails Atoi */
	json_decref(a); json_decref(sp);
}

static void named_ports_https_host_and_skips(void **state)
{
	(void)state;
	struct strbuf w = STRBUF_INIT;
	char *s = probers(
		"[{\"name\":\"app\",\"ports\":[{\"name\":\"http\",\"containerPort\":80},"
		"{\"name\":\"http\",\"containerPort\":81},{\"containerPort\":82}],"
		"\"livenessProbe\":{\"httpGet\":{\"port\":\"http\",\"host\":\"example.com\","
		"\"scheme\":\"HTTPS\",\"path\":\"/a&b<c>\",\"httpHeaders\":[{\"name\":\"x\",\"value\":\"y\"}]}},"
		"\"readinessProbe\":{\"httpGet\":{\"port\":\"nope\"}},"
		"\"startupProbe\":{\"httpGet\":{\"port\":15020}}},"
		"{\"name\":\"istio-proxy\",\"livenessProbe\":{\"httpGet\":{\"port\":1}}},"
		"{\"name\":\"w\",\"livenessProbe\":{\"exec\":{\"command\":[\"x\"]}},"
		"\"readinessProbe\":{\"tcpSocket\":{\"port\":9}}}]", 15020, true, &w);
	assert_string_equal(s,
		"{\"/app-health/app/livez\":{\"httpGet\":{\"path\":\"/a\\u0026b\\u003cc\\u003e\",\"port\":81,"
		"\"host\":\"example.com\",\"scheme\":\"HTTPS\",\"httpHeaders\":[{\"name\":\"x\",\"value\":\"y\"}]}},"
		"\"/app-health/w/readyz\":{\"tcpSocket\":{\"port\":9}}}");
	assert_non_null(strstr(strbuf_str(&w), "\"nope\" is not a named port"));
	free(s);
	strbuf_free(&w);
	/* TCP off: tcp probes are neither collected nor rewritten */
	s = probers("[{\"name\":\"w\",\"readinessProbe\":{\"tcpSocket\":{\"port\":9}}}]", 15020, false, NULL);
	assert_null(s);
	s = rewritten("[{\"name\":\"w\",\"readinessProbe\":{\"tcpSocket\":{\"port\":9}}}]", 15020, false);
	assert_string_equal(s, "[{\"name\":\"w\",\"readinessProbe\":{\"tcpSocket\":{\"port\":9}}}]");
	free(s);
	/* HTTPS -> HTTP on the pod, host and headers kept */
	s = rewritten("[{\"name\":\"a\",\"readinessProbe\":{\"httpGet\":{\"port\":8443,\"scheme\":\"HTTPS\","
		      "\"host\":\"h\"},\"periodSeconds\":3}}]", 15020, true);
	assert_string_equal(s, "[{\"name\":\"a\",\"readinessProbe\":{\"httpGet\":{\"path\":\"/app-health/a/readyz\","
			       "\"port\":15020,\"scheme\":\"HTTP\",\"host\":\"h\"},\"periodSeconds\":3}}]");
	free(s);
}

static void key_order_and_escapes(void **state)
{
	(void)state;
	char *s = probers("[{\"name\":\"a\",\"livenessProbe\":{\"httpGet\":{\"port\":1}}},"
			  "{\"name\":\"a-b\",\"livenessProbe\":{\"httpGet\":{\"port\":2}}}]", 15020, true, NULL);
	assert_string_equal(s, "{\"/app-health/a-b/livez\":{\"httpGet\":{\"port\":2}},"
			       "\"/app-health/a/livez\":{\"httpGet\":{\"port\":1}}}");
	free(s);
	s = probers("[{\"name\":\"c\",\"livenessProbe\":{\"httpGet\":{\"port\":1,"
		    "\"path\":\"\\b\\f\\n\\u007f\\u2028\\\"\\\\é\"}}}]", 15020, true, NULL);
	assert_string_equal(s, "{\"/app-health/c/livez\":{\"httpGet\":{\"path\":"
			       "\"\\u0008\\u000c\\n\x7f\\u2028\\\"\\\\é\",\"port\":1}}}");
	free(s);
	/* nothing collectable -> no variable at all (never "{}") */
	s = probers("[{\"name\":\"c\"}]", 15020, true, NULL);
	assert_null(s);
}

static void invalid_utf8_becomes_ufffd(void **state)
{
	(void)state;
	/* jansson refuses invalid UTF-8 in the pod, so exercise the encoder the
	 * injector hands its probes to (probe/config) directly */
	struct probe_config pc = { 0 };
	struct prober *p = probe_config_add(&pc, "/app-health/c/livez");
	assert_non_null(p);
	p->http_get = calloc(1, sizeof(*p->http_get));
	p->http_get->port.number = 1;
	p->http_get->path = strdup("a\xff" "b");
	struct strbuf sb = STRBUF_INIT;
	assert_int_equal(probe_config_encode(&pc, &sb), 1);
	assert_string_equal(strbuf_str(&sb),
			    "{\"/app-health/c/livez\":{\"httpGet\":{\"path\":\"a\\ufffdb\",\"port\":1}}}");
	strbuf_free(&sb);
	probe_config_free(&pc);
}

static void wrong_types_are_errors(void **state)
{
	(void)state;
	json_t *c = json_loads("[{\"name\":\"c\",\"livenessProbe\":{\"httpGet\":{\"port\":[1]}}}]", 0, NULL);
	char *out = NULL;
	struct skiff_err e = { 0 };
	assert_true(app_probe_probers_json(c, 15020, true, "pod t", &out, NULL, &e) < 0);
	assert_non_null(strstr(e.msg, "livenessProbe.port"));
	json_decref(c);
	c = json_loads("[{\"name\":\"c\",\"startupProbe\":{\"grpc\":{\"port\":\"8080\"}}}]", 0, NULL);
	assert_true(app_probe_probers_json(c, 15020, true, "pod t", &out, NULL, &e) < 0);
	assert_non_null(strstr(e.msg, "grpc.port"));
	json_decref(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(grpc_vectors_dump),
		cmocka_unit_test(grpc_vectors_rewrite),
		cmocka_unit_test(rewrite_decision_table),
		cmocka_unit_test(status_port_from_annotation),
		cmocka_unit_test(named_ports_https_host_and_skips),
		cmocka_unit_test(key_order_and_escapes),
		cmocka_unit_test(invalid_utf8_becomes_ufffd),
		cmocka_unit_test(wrong_types_are_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test-admission.c - AdmissionReview decoding, response encoding, the path
 * environment and the whole handling of one review (src/inject/admission.c),
 * driven with a small test injector so every branch is reachable. The
 * e2e tests (tests/e2e/test_webhook_*.py) run the real injection core. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inject/admission.h"
#include "inject/jsonpatch.h"

static json_t *J(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &err);
	if (!j)
		fail_msg("bad JSON %s: %s", text, err.text);
	return j;
}

static void decode_fails(const char *body, const char *want)
{
	struct admission_request req;
	struct skiff_err e = { 0 };
	assert_true(admission_request_decode(body, strlen(body), &req, &e) < 0);
	assert_null(req.review);
	if (!strstr(e.msg, want))
		fail_msg("decoding %s: message \"%s\" lacks \"%s\"", body, e.msg, want);
}

static void test_decode(void **state)
{
	(void)state;
	const char *v1 = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
			 "\"request\":{\"uid\":\"u-1\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
			 "\"namespace\":\"ns1\",\"operation\":\"CREATE\",\"object\":{\"kind\":\"Pod\"}}}";
	struct admission_request req;
	struct skiff_err e = { 0 };
	assert_int_equal(admission_request_decode(v1, strlen(v1), &req, &e), 0);
	assert_string_equal(req.api_version, "admission.k8s.io/v1");
	assert_string_equal(req.uid, "u-1");
	assert_string_equal(req.namespace, "ns1");
	assert_string_equal(req.operation, "CREATE");
	assert_string_equal(req.kind_group, "");
	assert_string_equal(req.kind_kind, "Pod");
	assert_null(req.sub_resource);
	assert_true(json_is_object(req.object));
	admission_request_clear(&req);

	const char *b1 = "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\","
			 "\"request\":{\"uid\":\"x\"}}";
	assert_int_equal(admission_request_decode(b1, strlen(b1), &req, &e), 0);
	assert_string_equal(req.api_version, "admission.k8s.io/v1beta1");
	assert_null(req.kind_kind);
	assert_null(req.object);
	assert_null(req.namespace);
	admission_request_clear(&req);

	decode_fails("{\"apiVersion\":", "could not decode the AdmissionReview");
	decode_fails("[]", "not a JSON object");
	decode_fails("{\"apiVersion\":\"admission.k8s.io/v2\",\"kind\":\"AdmissionReview\"}",
		     "apiVersion \"admission.k8s.io/v2\": want");
	decode_fails("{\"kind\":\"AdmissionReview\"}", "apiVersion \"\": want");
	decode_fails("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"Pod\"}", "kind \"Pod\": want \"AdmissionReview\"");
	decode_fails("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}", "request: missing");
	decode_fails("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":1}",
		     "request: not a JSON object");
	decode_fails("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{}}",
		     "request.uid: missing or empty");
	decode_fails("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":7}}",
		     "request.uid: not a string");
	decode_fails("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"namespace\":[]}}",
		     "request.namespace: not a string");
	decode_fails("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"kind\":\"Pod\"}}",
		     "request.kind: not a JSON object");
	decode_fails("{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"kind\":{\"kind\":1}}}",
		     "request.kind.kind: not a string");
}

static void test_encode(void **state)
{
	(void)state;
	const char *body = "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\","
			   "\"request\":{\"uid\":\"abc\"}}";
	struct admission_request req;
	struct skiff_err e = { 0 };
	assert_int_equal(admission_request_decode(body, strlen(body), &req, &e), 0);

	struct admission_verdict allow = { .allowed = true };
	char *s = admission_response_encode(&req, &allow);
	assert_string_equal(s, "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1beta1\","
			       "\"response\":{\"uid\":\"abc\",\"allowed\":true}}");
	free(s);

	struct admission_verdict deny = { .allowed = false, .message = "bad \"port\"" };
	s = admission_response_encode(&req, &deny);
	assert_string_equal(s, "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1beta1\","
			       "\"response\":{\"uid\":\"abc\",\"allowed\":false,"
			       "\"status\":{\"metadata\":{},\"message\":\"bad \\\"port\\\"\"}}}");
	free(s);

	/* [{"op":"add","path":"/a","value":1}] in base64, padding included */
	const char *patch = "[{\"op\":\"add\",\"path\":\"/a\",\"value\":1}]";
	struct admission_verdict patched = { .allowed = true, .patch = patch, .patch_len = strlen(patch) };
	s = admission_response_encode(&req, &patched);
	assert_string_equal(s, "{\"kind\":\"AdmissionReview\",\"apiVersion\":\"admission.k8s.io/v1beta1\","
			       "\"response\":{\"uid\":\"abc\",\"allowed\":true,"
			       "\"patch\":\"W3sib3AiOiJhZGQiLCJwYXRoIjoiL2EiLCJ2YWx1ZSI6MX1d\","
			       "\"patchType\":\"JSONPatch\"}}");
	free(s);
	/* one and two bytes of padding */
	patched.patch = "ab";
	patched.patch_len = 2;
	s = admission_response_encode(&req, &patched);
	assert_non_null(strstr(s, "\"patch\":\"YWI=\""));
	free(s);
	patched.patch_len = 1;
	s = admission_response_encode(&req, &patched);
	assert_non_null(strstr(s, "\"patch\":\"YQ==\""));
	free(s);
	/* a message that is not valid UTF-8 (cut by a length limit) still
	 * gives valid JSON */
	struct admission_verdict cut = { .allowed = false, .message = "port \"\xc3\" \x01" };
	s = admission_response_encode(&req, &cut);
	assert_non_null(strstr(s, "\"message\":\"port \\\"\\ufffd\\\" \\u0001\""));
	json_t *parsed = J(s);
	json_decref(parsed);
	free(s);
	admission_request_clear(&req);
}

static void check_envs(const char *path, const char *want)
{
	json_t *envs = admission_path_envs(path);
	assert_non_null(envs);
	char *got = json_dumps(envs, JSON_COMPACT);
	if (strcmp(got, want) != 0)
		fail_msg("%s: got %s, want %s", path, got, want);
	free(got);
	json_decref(envs);
}

static void test_paths(void **state)
{
	(void)state;
	assert_true(admission_path_is_inject("/inject"));
	assert_true(admission_path_is_inject("/inject/"));
	assert_true(admission_path_is_inject("/inject/cluster/c1/net/n1"));
	assert_false(admission_path_is_inject("/injectx"));
	assert_false(admission_path_is_inject("/"));
	assert_false(admission_path_is_inject("/healthz"));

	check_envs("/inject", "[]");
	check_envs("/inject/", "[]");
	check_envs("/inject/cluster/c1/net/n1",
		   "[{\"name\":\"ISTIO_META_CLUSTER_ID\",\"value\":\"c1\"},"
		   "{\"name\":\"ISTIO_META_NETWORK\",\"value\":\"n1\"}]");
	/* sorted by name, trailing slash trimmed, the odd last key ignored */
	check_envs("/inject/net/n1/cluster/c1/", "[{\"name\":\"ISTIO_META_CLUSTER_ID\",\"value\":\"c1\"},"
		   "{\"name\":\"ISTIO_META_NETWORK\",\"value\":\"n1\"}]");
	check_envs("/inject/cluster/c1/lonely", "[{\"name\":\"ISTIO_META_CLUSTER_ID\",\"value\":\"c1\"}]");
	/* other keys upper-cased with - -> _; the last of a key wins */
	check_envs("/inject/my-key/v/cluster/a/cluster/b",
		   "[{\"name\":\"ISTIO_META_CLUSTER_ID\",\"value\":\"b\"},{\"name\":\"MY_KEY\",\"value\":\"v\"}]");
	check_envs("/inject//x", "[]");
}

static void test_proxy_env(void **state)
{
	(void)state;
	json_t *pod = J("{\"spec\":{\"containers\":[{\"name\":\"app\",\"env\":[{\"name\":\"ISTIO_META_NETWORK\",\"value\":\"keep\"}]},"
			"{\"name\":\"istio-proxy\",\"env\":[{\"name\":\"ISTIO_META_NETWORK\",\"value\":\"\"},"
			"{\"name\":\"X\",\"value\":\"1\"},{\"name\":\"ISTIO_META_CLUSTER_ID\",\"value\":\"Kubernetes\"},"
			"{\"name\":\"ISTIO_PROMETHEUS_ANNOTATIONS\",\"value\":\"{}\"},"
			"{\"name\":\"ISTIO_KUBE_APP_PROBERS\",\"value\":\"{}\"}]}]}}");
	json_t *envs = admission_path_envs("/inject/cluster/c9/net/n9");
	assert_int_equal(admission_pod_set_proxy_env(pod, envs), 0);
	char *got = json_dumps(pod, JSON_COMPACT);
	assert_string_equal(got,
		"{\"spec\":{\"containers\":[{\"name\":\"app\",\"env\":[{\"name\":\"ISTIO_META_NETWORK\",\"value\":\"keep\"}]},"
		"{\"name\":\"istio-proxy\",\"env\":[{\"name\":\"X\",\"value\":\"1\"},"
		"{\"name\":\"ISTIO_META_CLUSTER_ID\",\"value\":\"c9\"},{\"name\":\"ISTIO_META_NETWORK\",\"value\":\"n9\"},"
		"{\"name\":\"ISTIO_PROMETHEUS_ANNOTATIONS\",\"value\":\"{}\"},"
		"{\"name\":\"ISTIO_KUBE_APP_PROBERS\",\"value\":\"{}\"}]}]}}");
	free(got);
	json_decref(pod);

	/* no env list yet: one is made; no istio-proxy: nothing happens */
	pod = J("{\"spec\":{\"containers\":[{\"name\":\"istio-proxy\"}]}}");
	assert_int_equal(admission_pod_set_proxy_env(pod, envs), 0);
	got = json_dumps(pod, JSON_COMPACT);
	assert_string_equal(got, "{\"spec\":{\"containers\":[{\"name\":\"istio-proxy\",\"env\":["
			    "{\"name\":\"ISTIO_META_CLUSTER_ID\",\"value\":\"c9\"},{\"name\":\"ISTIO_META_NETWORK\",\"value\":\"n9\"}]}]}}");
	free(got);
	json_decref(pod);
	pod = J("{\"spec\":{\"containers\":[{\"name\":\"app\"}]}}");
	assert_int_equal(admission_pod_set_proxy_env(pod, envs), 0);
	got = json_dumps(pod, JSON_COMPACT);
	assert_string_equal(got, "{\"spec\":{\"containers\":[{\"name\":\"app\"}]}}");
	free(got);
	json_decref(pod);
	json_decref(envs);
}

/* ---- the whole handling, with a test injector ---- */

struct fake {
	int calls;
	char *last_pod;
	char last_ns[64];
	enum { FAKE_INJECT, FAKE_SKIP, FAKE_FAIL, FAKE_SAME, FAKE_GARBAGE } mode;
};

/* Adds an annotation, an init container and istio-proxy, like the real
 * core does in shape; echoes the namespace it was given. */
static int fake_inject(void *ctx, const char *pod_json, size_t len, const char *ns,
		       char **out_json, char **skip_reason, struct strbuf *warnings,
		       struct skiff_err *e)
{
	struct fake *f = ctx;
	f->calls++;
	free(f->last_pod);
	f->last_pod = strndup(pod_json, len);
	snprintf(f->last_ns, sizeof(f->last_ns), "%s", ns ? ns : "(null)");
	*out_json = NULL;
	*skip_reason = NULL;
	strbuf_puts(warnings, "a warning");
	switch (f->mode) {
	case FAKE_SKIP:
		*skip_reason = strdup("sidecar.istio.io/inject is \"false\"");
		return 0;
	case FAKE_FAIL:
		return err_set(e, SKIFF_EINVAL, "annotation status.sidecar.istio.io/port \"abc\": not a port");
	case FAKE_SAME:
		*out_json = strndup(pod_json, len);
		return 0;
	case FAKE_GARBAGE:
		*out_json = strdup("{nope");
		return 0;
	case FAKE_INJECT:
		break;
	}
	json_error_t err;
	json_t *pod = json_loadb(pod_json, len, 0, &err);
	json_t *meta = json_object_get(pod, "metadata");
	json_t *ann = json_object_get(meta, "annotations");
	if (!ann) {
		ann = json_object();
		json_object_set_new(meta, "annotations", ann);
	}
	json_object_set_new(ann, "sidecar.istio.io/status", json_string("{\"x\":1}"));
	json_t *spec = json_object_get(pod, "spec");
	json_object_set_new(spec, "initContainers", J("[{\"name\":\"istio-init\"}]"));
	json_array_append_new(json_object_get(spec, "containers"),
			      J("{\"name\":\"istio-proxy\",\"env\":[{\"name\":\"ISTIO_META_CLUSTER_ID\",\"value\":\"Kubernetes\"},"
				"{\"name\":\"ISTIO_KUBE_APP_PROBERS\",\"value\":\"{}\"}]}"));
	*out_json = json_dumps(pod, JSON_COMPACT);
	json_decref(pod);
	return 0;
}

static char *review(const char *api, const char *ns, const char *op, const char *kind_json,
		    const char *object)
{
	char *s = NULL;
	assert_true(asprintf(&s, "{\"apiVersion\":\"%s\",\"kind\":\"AdmissionReview\",\"request\":{"
			     "\"uid\":\"0df28fbd-5f5f-11e8-bc74-36e6bb280816\",\"kind\":%s,"
			     "\"namespace\":\"%s\",\"operation\":\"%s\",\"object\":%s}}",
			     api, kind_json, ns, op, object) > 0);
	return s;
}

#define POD_KIND "{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"}"
#define POD "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"generateName\":\"web-\"," \
	"\"managedFields\":[{\"manager\":\"kubectl\"}]},\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"nginx\"}]}}"

static int b64val(char c)
{
	const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = strchr(tab, c);
	return p && c ? (int)(p - tab) : -1;
}

static char *b64decode(const char *s)
{
	size_t n = strlen(s);
	char *out = calloc(n, 1);
	size_t o = 0;
	for (size_t i = 0; i + 3 < n + 0 && i < n; i += 4) {
		int a = b64val(s[i]), b = b64val(s[i + 1]), c = s[i + 2] == '=' ? 0 : b64val(s[i + 2]),
		    d = s[i + 3] == '=' ? 0 : b64val(s[i + 3]);
		assert_true(a >= 0 && b >= 0 && c >= 0 && d >= 0);
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		out[o++] = (char)(v >> 16);
		if (s[i + 2] != '=')
			out[o++] = (char)(v >> 8);
		if (s[i + 3] != '=')
			out[o++] = (char)v;
	}
	return out;
}

/* Run one review through the handler; return the parsed response body. */
static json_t *handle(struct fake *f, const char *path, const char *body, int want_status,
		      struct admission_reply *r)
{
	struct admission_handler h = { .inject = fake_inject, .ctx = f, .max_bytes = 4096 };
	admission_handle(&h, path, body, strlen(body), r);
	if (r->status != want_status)
		fail_msg("status %d, want %d: %s", r->status, want_status, r->body);
	assert_non_null(r->summary);
	if (want_status != 200)
		return NULL;
	assert_string_equal(r->content_type, "application/json");
	return J(r->body);
}

static void test_handle_injects(void **state)
{
	(void)state;
	struct fake f = { .mode = FAKE_INJECT };
	struct admission_reply r;
	char *body = review("admission.k8s.io/v1", "prod", "CREATE", POD_KIND, POD);
	json_t *resp = handle(&f, "/inject/cluster/east/net/n1", body, 200, &r);

	assert_int_equal(f.calls, 1);
	assert_string_equal(f.last_ns, "prod");
	/* the core gets the pod without managedFields, namespace filled in */
	json_t *given = J(f.last_pod);
	assert_null(json_object_get(json_object_get(given, "metadata"), "managedFields"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(given, "metadata"), "namespace")), "prod");
	assert_string_equal(r.warnings, "a warning");

	assert_string_equal(json_string_value(json_object_get(resp, "apiVersion")), "admission.k8s.io/v1");
	assert_string_equal(json_string_value(json_object_get(resp, "kind")), "AdmissionReview");
	json_t *rs = json_object_get(resp, "response");
	assert_string_equal(json_string_value(json_object_get(rs, "uid")), "0df28fbd-5f5f-11e8-bc74-36e6bb280816");
	assert_true(json_is_true(json_object_get(rs, "allowed")));
	assert_string_equal(json_string_value(json_object_get(rs, "patchType")), "JSONPatch");
	char *ptext = b64decode(json_string_value(json_object_get(rs, "patch")));
	json_t *patch = J(ptext);

	/* The patch applies to the object as the API server has it (with
	 * managedFields, without namespace) and gives the injected pod. */
	json_t *orig = J(POD), *after = NULL;
	struct skiff_err e = { 0 };
	if (jsonpatch_apply(orig, patch, &after, &e) != 0)
		fail_msg("patch %s: %s", ptext, e.msg);
	json_t *meta = json_object_get(after, "metadata");
	assert_non_null(json_object_get(meta, "managedFields"));
	assert_null(json_object_get(meta, "namespace"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(meta, "annotations"),
							      "sidecar.istio.io/status")), "{\"x\":1}");
	json_t *proxy = json_array_get(json_object_get(json_object_get(after, "spec"), "containers"), 1);
	char *env = json_dumps(json_object_get(proxy, "env"), JSON_COMPACT);
	assert_string_equal(env, "[{\"name\":\"ISTIO_META_CLUSTER_ID\",\"value\":\"east\"},"
			    "{\"name\":\"ISTIO_META_NETWORK\",\"value\":\"n1\"},"
			    "{\"name\":\"ISTIO_KUBE_APP_PROBERS\",\"value\":\"{}\"}]");
	/* no operation touches what Istio leaves alone */
	assert_null(strstr(ptext, "managedFields"));
	assert_null(strstr(ptext, "/metadata/namespace"));

	free(env);
	free(ptext);
	json_decref(patch);
	json_decref(orig);
	json_decref(after);
	json_decref(given);
	json_decref(resp);
	admission_reply_clear(&r);
	free(body);
	free(f.last_pod);
}

/* The tree path gives the same answer as the text path. */
static int fake_inject_tree(void *ctx, json_t *pod, const char *ns, char **skip_reason,
			    struct strbuf *warnings, struct skiff_err *e)
{
	char *text = json_dumps(pod, JSON_COMPACT), *out = NULL;
	int r = fake_inject(ctx, text, strlen(text), ns, &out, skip_reason, warnings, e);
	free(text);
	if (r < 0 || !out)
		return r;
	json_t *after = J(out);
	free(out);
	json_object_clear(pod);
	json_object_update(pod, after);
	json_decref(after);
	return 1;
}

static void test_handle_tree(void **state)
{
	(void)state;
	struct fake f = { .mode = FAKE_INJECT };
	char *body = review("admission.k8s.io/v1", "prod", "CREATE", POD_KIND, POD);
	struct admission_reply by_text, by_tree;
	struct admission_handler ht = { .inject = fake_inject, .ctx = &f };
	struct admission_handler hj = { .inject_tree = fake_inject_tree, .ctx = &f };
	admission_handle(&ht, "/inject/net/n2", body, strlen(body), &by_text);
	admission_handle(&hj, "/inject/net/n2", body, strlen(body), &by_tree);
	assert_int_equal(by_tree.status, 200);
	assert_string_equal(by_tree.body, by_text.body);
	assert_string_equal(by_tree.summary, by_text.summary);
	admission_reply_clear(&by_text);
	admission_reply_clear(&by_tree);
	f.mode = FAKE_SKIP;
	admission_handle(&hj, "/inject", body, strlen(body), &by_tree);
	assert_null(strstr(by_tree.body, "patch"));
	assert_non_null(strstr(by_tree.summary, "skipped"));
	admission_reply_clear(&by_tree);
	f.mode = FAKE_FAIL;
	admission_handle(&hj, "/inject", body, strlen(body), &by_tree);
	assert_non_null(strstr(by_tree.body, "\"allowed\":false"));
	admission_reply_clear(&by_tree);
	free(body);
	free(f.last_pod);
}

static void expect_allowed_unpatched(json_t *resp, const char *api)
{
	assert_string_equal(json_string_value(json_object_get(resp, "apiVersion")), api);
	json_t *rs = json_object_get(resp, "response");
	assert_true(json_is_true(json_object_get(rs, "allowed")));
	assert_null(json_object_get(rs, "patch"));
	assert_null(json_object_get(rs, "patchType"));
	assert_null(json_object_get(rs, "status"));
}

static void test_handle_unpatched(void **state)
{
	(void)state;
	struct fake f = { .mode = FAKE_INJECT };
	struct admission_reply r;
	struct {
		const char *ns, *op, *kind, *object;
		int calls;
	} cases[] = {
		{ "kube-system", "CREATE", POD_KIND, POD, 0 },
		{ "kube-public", "CREATE", POD_KIND, POD, 0 },
		{ "default", "CREATE", "{\"group\":\"apps\",\"version\":\"v1\",\"kind\":\"Deployment\"}", "{\"kind\":\"Deployment\"}", 0 },
		{ "default", "CREATE", "{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Service\"}", "{\"kind\":\"Service\"}", 0 },
		{ "default", "CREATE", "null", "{\"kind\":\"ConfigMap\"}", 0 },
		{ "default", "UPDATE", POD_KIND, POD, 0 },
		{ "default", "DELETE", POD_KIND, "null", 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *body = review("admission.k8s.io/v1beta1", cases[i].ns, cases[i].op, cases[i].kind,
				    cases[i].object);
		json_t *resp = handle(&f, "/inject", body, 200, &r);
		expect_allowed_unpatched(resp, "admission.k8s.io/v1beta1");
		assert_int_equal(f.calls, cases[i].calls);
		json_decref(resp);
		admission_reply_clear(&r);
		free(body);
	}

	/* the core skips by policy; the core returns the pod unchanged */
	f.mode = FAKE_SKIP;
	char *body = review("admission.k8s.io/v1", "default", "CREATE", POD_KIND, POD);
	json_t *resp = handle(&f, "/inject", body, 200, &r);
	expect_allowed_unpatched(resp, "admission.k8s.io/v1");
	assert_non_null(strstr(r.summary, "skipped: sidecar.istio.io/inject"));
	json_decref(resp);
	admission_reply_clear(&r);
	f.mode = FAKE_SAME;
	resp = handle(&f, "/inject", body, 200, &r);
	expect_allowed_unpatched(resp, "admission.k8s.io/v1");
	assert_int_equal(f.calls, 2);
	json_decref(resp);
	admission_reply_clear(&r);
	free(body);

	/* subresources are not pods to inject */
	const char *sub = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
			  "\"uid\":\"u\",\"kind\":" POD_KIND ",\"subResource\":\"ephemeralcontainers\",\"object\":" POD "}}";
	resp = handle(&f, "/inject", sub, 200, &r);
	expect_allowed_unpatched(resp, "admission.k8s.io/v1");
	assert_int_equal(f.calls, 2);
	json_decref(resp);
	admission_reply_clear(&r);
	free(f.last_pod);
}

static void test_handle_failures(void **state)
{
	(void)state;
	struct fake f = { .mode = FAKE_FAIL };
	struct admission_reply r;
	char *body = review("admission.k8s.io/v1", "default", "CREATE", POD_KIND, POD);
	json_t *resp = handle(&f, "/inject", body, 200, &r);
	json_t *rs = json_object_get(resp, "response");
	assert_true(json_is_false(json_object_get(rs, "allowed")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(rs, "status"), "message")),
			    "annotation status.sidecar.istio.io/port \"abc\": not a port");
	assert_null(json_object_get(rs, "patch"));
	json_decref(resp);
	admission_reply_clear(&r);

	f.mode = FAKE_GARBAGE;
	resp = handle(&f, "/inject", body, 200, &r);
	rs = json_object_get(resp, "response");
	assert_true(json_is_false(json_object_get(rs, "allowed")));
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(rs, "status"), "message")),
			       "injector returned invalid JSON"));
	json_decref(resp);
	admission_reply_clear(&r);
	free(body);

	/* 400s: empty, oversized, malformed, no object, object not an object */
	handle(&f, "/inject", "", 400, &r);
	assert_string_equal(r.body, "no body found\n");
	assert_string_equal(r.content_type, "text/plain; charset=utf-8");
	admission_reply_clear(&r);

	char big[5000];
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	handle(&f, "/inject", big, 400, &r);
	assert_string_equal(r.body, "AdmissionReview of 4999 bytes is over the limit of 4096 bytes\n");
	admission_reply_clear(&r);

	handle(&f, "/inject", "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{}}", 400, &r);
	assert_string_equal(r.body, "request.uid: missing or empty\n");
	admission_reply_clear(&r);

	body = review("admission.k8s.io/v1", "default", "CREATE", POD_KIND, "null");
	handle(&f, "/inject", body, 400, &r);
	assert_string_equal(r.body, "request.object: missing\n");
	admission_reply_clear(&r);
	free(body);
	body = review("admission.k8s.io/v1", "default", "CREATE", POD_KIND, "[1]");
	handle(&f, "/inject", body, 400, &r);
	assert_string_equal(r.body, "request.object: not a JSON object\n");
	admission_reply_clear(&r);
	free(body);
	assert_int_equal(f.calls, 2);
	free(f.last_pod);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_proxy_env),
		cmocka_unit_test(test_handle_injects),
		cmocka_unit_test(test_handle_unpatched),
		cmocka_unit_test(test_handle_failures),
		cmocka_unit_test(test_handle_tree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

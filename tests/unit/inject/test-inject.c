/* test-inject.c - inject_pod_json() (the webhook contract) and the policy:
 * skips, idempotency, errors, owner derivation, proxy config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "inject/inject_internal.h"

static struct inject_config *cfg_new(char **envp)
{
	struct inject_config *c = NULL;
	struct skiff_err e = { 0 };
	if (inject_config_new(NULL, NULL, envp, &c, &e) < 0)
		fail_msg("%s", e.msg);
	return c;
}

static json_t *inject_ok(const struct inject_config *c, const char *pod, const char *ns)
{
	char *out = NULL, *skip = NULL;
	struct skiff_err e = { 0 };
	struct strbuf w = STRBUF_INIT;
	int r = inject_pod_json(c, pod, strlen(pod), ns, &out, &skip, &w, &e);
	if (r < 0)
		fail_msg("inject failed: %s", e.msg);
	if (!out)
		fail_msg("skipped: %s", skip);
	strbuf_free(&w);
	json_t *v = json_loads(out, 0, NULL);
	free(out);
	assert_non_null(v);
	return v;
}

static const char *skip_reason(const struct inject_config *c, const char *pod, const char *ns)
{
	static char buf[512];
	char *out = NULL, *skip = NULL;
	struct skiff_err e = { 0 };
	int r = inject_pod_json(c, pod, strlen(pod), ns, &out, &skip, NULL, &e);
	assert_int_equal(r, 0);
	assert_null(out);
	assert_non_null(skip);
	snprintf(buf, sizeof(buf), "%s", skip);
	free(skip);
	return buf;
}

static const json_t *container(const json_t *pod, const char *list, const char *name)
{
	const json_t *l = json_object_get(json_object_get(pod, "spec"), list);
	size_t i;
	const json_t *c;
	json_array_foreach(l, i, c)
		if (!strcmp(jstr(c, "name"), name))
			return c;
	return NULL;
}

static const char *env(const json_t *c, const char *name)
{
	size_t i;
	const json_t *v;
	json_array_foreach(json_object_get(c, "env"), i, v)
		if (!strcmp(jstr(v, "name"), name))
			return jstr(v, "value");
	return NULL;
}

#define POD "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",%s},\"spec\":{%s\"containers\":" \
	    "[{\"name\":\"app\",\"image\":\"i\",\"ports\":[{\"name\":\"http\",\"containerPort\":8080}]," \
	    "\"livenessProbe\":{\"httpGet\":{\"port\":\"http\",\"path\":\"/h\"}}}]}}"

static char *pod(const char *meta_extra, const char *spec_extra)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_printf(&sb, POD, meta_extra, spec_extra);
	return strbuf_steal(&sb);
}

static void injects_a_pod(void **state)
{
	(void)state;
	struct inject_config *c = cfg_new(NULL);
	char *p = pod("\"labels\":{\"app\":\"web\",\"version\":\"v2\"}", "");
	json_t *v = inject_ok(c, p, "shop");
	const json_t *px = container(v, "containers", "istio-proxy");
	assert_non_null(px);
	assert_string_equal(env(px, "ISTIO_KUBE_APP_PROBERS"),
			    "{\"/app-health/app/livez\":{\"httpGet\":{\"path\":\"/h\",\"port\":8080}}}");
	assert_string_equal(env(px, "ISTIO_META_OWNER"), "kubernetes://apis/v1/namespaces/shop/pods/p");
	assert_string_equal(env(px, "ISTIO_META_POD_PORTS"),
			    "[\n    {\"name\":\"http\",\"containerPort\":8080}\n]");
	const json_t *labels = json_object_get(json_object_get(v, "metadata"), "labels");
	assert_string_equal(jstr(labels, "service.istio.io/canonical-name"), "web");
	assert_string_equal(jstr(labels, "service.istio.io/canonical-revision"), "v2");
	const json_t *init = container(v, "initContainers", "istio-init");
	assert_non_null(init);
	const json_t *app = container(v, "containers", "app");
	assert_string_equal(jstr(json_object_get(json_object_get(app, "livenessProbe"), "httpGet"), "path"),
			    "/app-health/app/livez");
	/* istio-proxy last */
	const json_t *cl = json_object_get(json_object_get(v, "spec"), "containers");
	assert_string_equal(jstr(json_array_get(cl, json_array_size(cl) - 1), "name"), "istio-proxy");
	json_decref(v);
	free(p);
	inject_config_free(c);
}

static void injecting_twice_changes_nothing(void **state)
{
	(void)state;
	struct inject_config *c = cfg_new(NULL);
	char *p = pod("\"namespace\":\"a\"", "");
	json_t *v = inject_ok(c, p, NULL);
	char *once = json_dumps(v, JSON_COMPACT);
	const char *why = skip_reason(c, once, NULL);
	assert_non_null(strstr(why, "already injected"));
	free(once);
	json_decref(v);
	free(p);
	inject_config_free(c);
}

static void policy_skips(void **state)
{
	(void)state;
	struct inject_config *c = cfg_new(NULL);
	char *p = pod("\"annotations\":{\"sidecar.istio.io/inject\":\"false\"}", "");
	assert_non_null(strstr(skip_reason(c, p, NULL), "sidecar.istio.io/inject is \"false\""));
	free(p);
	p = pod("\"annotations\":{\"sidecar.istio.io/inject\":\"no-idea\"}", "");
	assert_non_null(strstr(skip_reason(c, p, NULL), "no-idea"));
	free(p);
	p = pod("\"labels\":{\"sidecar.istio.io/inject\":\"false\"},"
		"\"annotations\":{\"sidecar.istio.io/inject\":\"true\"}", "");
	assert_non_null(strstr(skip_reason(c, p, NULL), "label"));
	free(p);
	p = pod("\"annotations\":{\"sidecar.istio.io/inject\":\"Yes\"}", "\"hostNetwork\":true,");
	assert_non_null(strstr(skip_reason(c, p, NULL), "host network"));
	free(p);
	p = pod("\"annotations\":{}", "");
	assert_non_null(strstr(skip_reason(c, p, "kube-system"), "kube-system"));
	c->policy_enabled = false;
	assert_non_null(strstr(skip_reason(c, p, NULL), "policy"));
	free(p);
	p = pod("\"annotations\":{\"sidecar.istio.io/inject\":\"TRUE\"}", "");
	json_decref(inject_ok(c, p, NULL));
	free(p);
	inject_config_free(c);
}

static void bad_input_is_an_error(void **state)
{
	(void)state;
	struct inject_config *c = cfg_new(NULL);
	char *out = NULL, *skip = NULL;
	struct skiff_err e = { 0 };
	const char *bad = "{\"spec\": ";
	assert_true(inject_pod_json(c, bad, strlen(bad), NULL, &out, &skip, NULL, &e) < 0);
	assert_non_null(strstr(e.msg, "invalid JSON"));
	char *p = pod("\"annotations\":{\"traffic.sidecar.istio.io/excludeInboundPorts\":\"x\"}", "");
	assert_true(inject_pod_json(c, p, strlen(p), NULL, &out, &skip, NULL, &e) < 0);
	assert_non_null(strstr(e.msg, "traffic.sidecar.istio.io/excludeInboundPorts"));
	free(p);
	p = pod("\"annotations\":{\"proxy.istio.io/config\":\"[1, 2\"}", "");
	assert_true(inject_pod_json(c, p, strlen(p), NULL, &out, &skip, NULL, &e) < 0);
	assert_non_null(strstr(e.msg, "proxy.istio.io/config"));
	free(p);
	/* warnings may be NULL (inject.h): an unknown named port must not crash */
	const char *np = "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"a\","
			 "\"readinessProbe\":{\"httpGet\":{\"port\":\"nosuch\"}}}]}}";
	assert_int_equal(inject_pod_json(c, np, strlen(np), NULL, &out, &skip, NULL, &e), 0);
	assert_non_null(out);
	free(out);
	out = NULL;
	const char *nospec = "{\"metadata\":{}}";
	assert_true(inject_pod_json(c, nospec, strlen(nospec), NULL, &out, &skip, NULL, &e) < 0);
	assert_null(out);
	inject_config_free(c);
}

static void owner_from_replicaset_and_job(void **state)
{
	(void)state;
	json_t *p = json_loads("{\"metadata\":{\"name\":\"\",\"generateName\":\"web-5d4f-\","
			       "\"labels\":{\"pod-template-hash\":\"5d4f\"},\"ownerReferences\":[{\"apiVersion\":"
			       "\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"web-5d4f\",\"controller\":true}]}}",
			       0, NULL);
	struct inject_owner o;
	char buf[64];
	inject_owner_from_pod(p, &o, buf, sizeof(buf));
	assert_string_equal(o.kind, "Deployment");
	assert_string_equal(o.name, "web");
	assert_string_equal(o.api_version, "apps/v1");
	json_decref(p);
	p = json_loads("{\"metadata\":{\"generateName\":\"x-\",\"ownerReferences\":[{\"apiVersion\":"
		       "\"batch/v1\",\"kind\":\"Job\",\"name\":\"nightly-27812345\",\"controller\":true}]}}",
		       0, NULL);
	inject_owner_from_pod(p, &o, buf, sizeof(buf));
	assert_string_equal(o.kind, "CronJob");
	assert_string_equal(o.name, "nightly");
	json_decref(p);
}

static void proxy_config_annotation_and_hold(void **state)
{
	(void)state;
	struct inject_config *c = cfg_new(NULL);
	char *p = pod("\"annotations\":{\"proxy.istio.io/config\":\"holdApplicationUntilProxyStarts: true\\n"
		      "proxyMetadata:\\n  ISTIO_META_DNS_CAPTURE: \\\"true\\\"\\n\"}", "");
	json_t *v = inject_ok(c, p, NULL);
	const json_t *cl = json_object_get(json_object_get(v, "spec"), "containers");
	const json_t *first = json_array_get(cl, 0);
	assert_string_equal(jstr(first, "name"), "istio-proxy");
	assert_non_null(json_object_get(first, "lifecycle"));
	assert_string_equal(env(first, "ISTIO_META_DNS_CAPTURE"), "true");
	assert_string_equal(env(container(v, "initContainers", "istio-init"), "ISTIO_META_DNS_CAPTURE"),
			    "true");
	assert_non_null(strstr(env(first, "PROXY_CONFIG"), "\"holdApplicationUntilProxyStarts\":true"));
	json_decref(v);
	free(p);
	inject_config_free(c);
}

static void webhook_ignores_annotation_status_port(void **state)
{
	(void)state;
	/* probes.md 14 / edge case 65: the webhook rewrites to the mesh port */
	struct inject_config *c = cfg_new(NULL);
	char *p = pod("\"annotations\":{\"proxy.istio.io/config\":\"{\\\"statusPort\\\": 1234}\"}", "");
	json_t *v = inject_ok(c, p, NULL);
	const json_t *app = container(v, "containers", "app");
	assert_int_equal(json_integer_value(json_object_get(
		json_object_get(json_object_get(app, "livenessProbe"), "httpGet"), "port")), 15020);
	json_decref(v);
	free(p);
	inject_config_free(c);
}

static void istiod_environment(void **state)
{
	(void)state;
	char *envp[] = { "REWRITE_TCP_PROBES=false", "PILOT_ENABLE_INBOUND_PASSTHROUGH=false", NULL };
	struct inject_config *c = cfg_new(envp);
	const char *tp = "{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"a\","
			 "\"readinessProbe\":{\"tcpSocket\":{\"port\":1}}}]}}";
	json_t *v = inject_ok(c, tp, NULL);
	const json_t *px = container(v, "containers", "istio-proxy");
	assert_null(env(px, "ISTIO_KUBE_APP_PROBERS"));
	const json_t *e0 = json_array_get(json_object_get(px, "env"), 0);
	assert_string_equal(jstr(e0, "name"), "REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION");
	json_decref(v);
	inject_config_free(c);
	char *bad[] = { "REWRITE_TCP_PROBES=maybe", NULL };
	struct inject_config *c2 = NULL;
	struct skiff_err e = { 0 };
	assert_true(inject_config_new(NULL, NULL, bad, &c2, &e) < 0);
	assert_non_null(strstr(e.msg, "REWRITE_TCP_PROBES"));
}

static void interception_none_has_no_init(void **state)
{
	(void)state;
	struct inject_config *c = cfg_new(NULL);
	char *p = pod("\"annotations\":{\"sidecar.istio.io/interceptionMode\":\"NONE\"}", "");
	json_t *v = inject_ok(c, p, NULL);
	assert_null(container(v, "initContainers", "istio-init"));
	assert_string_equal(env(container(v, "containers", "istio-proxy"), "ISTIO_META_INTERCEPTION_MODE"),
			    "NONE");
	json_decref(v);
	free(p);
	inject_config_free(c);
}

static void webhook_and_file_paths_agree(void **state)
{
	(void)state;
	/* the webhook's inject_pod_json() and skiff inject's inject_document()
	 * give the same pod (the file path adds the document's `status: {}`) */
	struct inject_config *c = cfg_new(NULL);
	char *p = pod("\"namespace\":\"ns\",\"annotations\":{\"traffic.sidecar.istio.io/excludeInboundPorts\":\"22\"}",
		      "");
	json_t *a = inject_ok(c, p, "ns");
	json_t *b = json_loads(p, 0, NULL);
	struct strbuf w = STRBUF_INIT;
	struct skiff_err e = { 0 };
	assert_int_equal(inject_document(c, b, "t", &w, &e), 1);
	json_t *empty = json_object();
	assert_true(json_equal(json_object_get(b, "status"), empty));
	json_decref(empty);
	json_object_del(b, "status");
	if (!json_equal(a, b)) {
		char *da = json_dumps(a, JSON_COMPACT), *db = json_dumps(b, JSON_COMPACT);
		fail_msg("webhook:\n%s\nfile:\n%s", da, db);
	}
	json_decref(a);
	json_decref(b);
	strbuf_free(&w);
	free(p);
	inject_config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(injects_a_pod),
		cmocka_unit_test(injecting_twice_changes_nothing),
		cmocka_unit_test(policy_skips),
		cmocka_unit_test(bad_input_is_an_error),
		cmocka_unit_test(owner_from_replicaset_and_job),
		cmocka_unit_test(proxy_config_annotation_and_hold),
		cmocka_unit_test(webhook_ignores_annotation_status_port),
		cmocka_unit_test(istiod_environment),
		cmocka_unit_test(interception_none_has_no_init),
		cmocka_unit_test(webhook_and_file_paths_agree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test-template.c - the parts of Istio 1.13's default sidecar template:
 * image, resources, concurrency, ISTIO_META_* values, readiness, TPROXY. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "inject/template.h"

static struct inject_config *cfg_new(void)
{
	struct inject_config *c = NULL;
	struct skiff_err e = { 0 };
	assert_int_equal(inject_config_new(NULL, NULL, NULL, &c, &e), 0);
	return c;
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

struct fixture {
	struct inject_config *cfg;
	json_t *ann, *containers, *md;
	struct inject_owner owner;
	struct template_ctx t;
};

static void setup_ctx(struct fixture *f, const char *ann, const char *containers)
{
	f->cfg = cfg_new();
	f->ann = json_loads(ann, 0, NULL);
	f->containers = json_loads(containers, 0, NULL);
	f->md = json_object();
	assert_non_null(f->ann);
	assert_non_null(f->containers);
	f->owner = (struct inject_owner){ "apps/v1", "StatefulSet", "db", "data" };
	f->t = (struct template_ctx){ .cfg = f->cfg, .annotations = f->ann,
				      .containers = f->containers, .owner = &f->owner,
				      .mode = "REDIRECT", .proxy_config_json = "{}",
				      .proxy_metadata = f->md, .concurrency = -1 };
}

static void teardown_ctx(struct fixture *f)
{
	json_decref(f->ann);
	json_decref(f->containers);
	json_decref(f->md);
	inject_config_free(f->cfg);
}

static void image_reference(void **state)
{
	(void)state;
	struct inject_config *c = cfg_new();
	json_t *none = json_object();
	char *s = template_proxy_image(c, none);
	assert_string_equal(s, "gcr.io/istio-testing/proxyv2:latest");
	free(s);
	json_t *a = json_pack("{s:s}", "sidecar.istio.io/proxyImage", "proxyv2-debug");
	s = template_proxy_image(c, a);
	assert_string_equal(s, "gcr.io/istio-testing/proxyv2-debug:latest");
	free(s);
	json_t *b = json_pack("{s:s}", "sidecar.istio.io/proxyImage", "reg.io/x/proxy:9");
	s = template_proxy_image(c, b);
	assert_string_equal(s, "reg.io/x/proxy:9");
	free(s);
	struct skiff_err e = { 0 };
	assert_int_equal(inject_config_set(c, "proxy-image", "mine/p:1", &e), 0);
	s = template_proxy_image(c, b);
	assert_string_equal(s, "mine/p:1");
	free(s);
	json_decref(none); json_decref(a); json_decref(b);
	inject_config_free(c);
}

static void proxy_env_and_args(void **state)
{
	(void)state;
	struct fixture f;
	setup_ctx(&f, "{}", "[{\"name\":\"db\",\"ports\":[{\"name\":\"pg\",\"containerPort\":5432,"
			    "\"protocol\":\"TCP\"},{\"containerPort\":9,\"hostPort\":90,\"hostIP\":\"1.2.3.4\"}]},"
			    "{\"name\":\"side\"}]");
	json_t *c = template_proxy_container(&f.t);
	assert_non_null(c);
	assert_string_equal(env(c, "ISTIO_META_POD_PORTS"),
			    "[\n    {\"name\":\"pg\",\"containerPort\":5432,\"protocol\":\"TCP\"}\n"
			    "    ,{\"hostPort\":90,\"containerPort\":9,\"hostIP\":\"1.2.3.4\"}\n]");
	assert_string_equal(env(c, "ISTIO_META_APP_CONTAINERS"), "db,side");
	assert_string_equal(env(c, "ISTIO_META_OWNER"),
			    "kubernetes://apis/apps/v1/namespaces/data/statefulsets/db");
	assert_string_equal(env(c, "PROXY_CONFIG"), "{}\n");
	assert_string_equal(env(c, "CA_ADDR"), "istiod.istio-system.svc:15012");
	const json_t *args = json_object_get(c, "args");
	assert_string_equal(json_string_value(json_array_get(args, json_array_size(args) - 1)), "2");
	const json_t *rp = json_object_get(c, "readinessProbe");
	assert_int_equal(json_integer_value(json_object_get(rp, "failureThreshold")), 30);
	json_decref(c);
	teardown_ctx(&f);
}

static void annotations_override_resources_logs_and_readiness(void **state)
{
	(void)state;
	struct fixture f;
	setup_ctx(&f, "{\"sidecar.istio.io/proxyCPU\":\"250m\",\"sidecar.istio.io/proxyCPULimit\":\"1500m\","
		      "\"sidecar.istio.io/logLevel\":\"debug\","
		      "\"readiness.status.sidecar.istio.io/periodSeconds\":\"7\"}", "[{\"name\":\"a\"}]");
	struct skiff_err e = { 0 };
	assert_int_equal(inject_config_set(f.cfg, "revision", "canary", &e), 0);
	json_t *c = template_proxy_container(&f.t);
	char *d = json_dumps(json_object_get(c, "resources"), JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(d, "{\"limits\":{\"cpu\":\"1500m\"},\"requests\":{\"cpu\":\"250m\"}}");
	free(d);
	const json_t *args = json_object_get(c, "args");
	assert_string_equal(json_string_value(json_array_get(args, 4)), "--proxyLogLevel=debug");
	/* concurrency from the CPU limit, rounded up */
	assert_string_equal(json_string_value(json_array_get(args, json_array_size(args) - 1)), "2");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "readinessProbe"),
							    "periodSeconds")), 7);
	assert_string_equal(env(c, "CA_ADDR"), "istiod-canary.istio-system.svc:15012");
	json_decref(c);
	teardown_ctx(&f);
}

static void status_port_zero_and_tproxy(void **state)
{
	(void)state;
	struct fixture f;
	setup_ctx(&f, "{\"status.sidecar.istio.io/port\":\"0\"}", "[]");
	f.t.mode = "TPROXY";
	f.t.concurrency = 0;
	json_t *c = template_proxy_container(&f.t);
	assert_null(json_object_get(c, "readinessProbe"));
	const json_t *sc = json_object_get(c, "securityContext");
	assert_int_equal(json_integer_value(json_object_get(sc, "runAsUser")), 0);
	const json_t *args = json_object_get(c, "args");
	for (size_t i = 0; i < json_array_size(args); i++)
		assert_string_not_equal(json_string_value(json_array_get(args, i)), "--concurrency");
	assert_string_equal(env(c, "ISTIO_META_POD_PORTS"), "[\n]");
	json_t *init = template_init_container(&f.t);
	assert_string_equal(jstr(init, "name"), "istio-init");
	json_decref(init);
	f.cfg->cni_enabled = true;
	init = template_init_container(&f.t);
	assert_string_equal(jstr(init, "name"), "istio-validation");
	json_decref(init);
	json_decref(c);
	teardown_ctx(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(image_reference),
		cmocka_unit_test(proxy_env_and_args),
		cmocka_unit_test(annotations_override_resources_logs_and_readiness),
		cmocka_unit_test(status_port_zero_and_tproxy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

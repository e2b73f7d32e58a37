/* test-config.c - the injector configuration: defaults, mesh config and
 * values files (plain and as ConfigMaps), environment, flags, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inject/inject_internal.h"

static char *write_tmp(const char *content)
{
	char *path = strdup("/tmp/skiff-test-config-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

static void defaults_are_istios(void **state)
{
	(void)state;
	struct inject_config *c = NULL;
	struct skiff_err e = { 0 };
	assert_int_equal(inject_config_new(NULL, NULL, NULL, &c, &e), 0);
	assert_int_equal(c->mesh_status_port, 15020);
	assert_string_equal(c->values_status_port, "15020");
	assert_string_equal(c->interception_mode, "REDIRECT");
	assert_string_equal(c->include_ip_ranges, "*");
	assert_string_equal(c->include_inbound_ports, "*");
	assert_string_equal(c->exclude_inbound_ports, "");
	assert_true(c->rewrite_app_probe);
	assert_true(c->rewrite_tcp_probes);
	assert_false(c->cni_enabled);
	inject_config_free(c);
	inject_config_free(NULL);
}

static void files_and_configmaps(void **state)
{
	(void)state;
	char *mesh = write_tmp("apiVersion: v1\nkind: ConfigMap\ndata:\n  mesh: |\n"
			       "    defaultConfig:\n      statusPort: 15555\n"
			       "      interceptionMode: TPROXY\n    proxyListenPort: 15111\n");
	char *values = write_tmp("{\"global\":{\"proxy\":{\"statusPort\":15555,\"includeIPRanges\":\"10.0.0.0/8\"}},"
				 "\"istio_cni\":{\"enabled\":true},\"sidecarInjectorWebhook\":{}}");
	struct inject_config *c = NULL;
	struct skiff_err e = { 0 };
	assert_int_equal(inject_config_new(mesh, values, NULL, &c, &e), 0);
	assert_int_equal(c->mesh_status_port, 15555);
	assert_int_equal(c->proxy_listen_port, 15111);
	assert_string_equal(c->interception_mode, "TPROXY");
	assert_string_equal(c->values_status_port, "15555");
	assert_string_equal(c->include_ip_ranges, "10.0.0.0/8");
	assert_true(c->cni_enabled);
	assert_false(c->rewrite_app_probe); /* block present, key absent: Helm's false */
	inject_config_free(c);
	unlink(mesh);
	unlink(values);
	free(mesh);
	free(values);
}

static void errors_name_file_and_field(void **state)
{
	(void)state;
	struct { const char *mesh, *values, *needle; } cases[] = {
		{ "defaultConfig:\n  statusPort: [1]\n", NULL, "defaultConfig.statusPort" },
		{ "proxyListenPort: 99999\n", NULL, "proxyListenPort" },
		{ "enablePrometheusMerge: maybe\n", NULL, "enablePrometheusMerge" },
		{ "defaultConfig:\n  proxyMetadata:\n    A: [x]\n", NULL, "proxyMetadata.A" },
		{ "- a\n", NULL, "mapping" },
		{ NULL, "global:\n  proxy:\n    readinessPeriodSeconds: x\n", "readinessPeriodSeconds" },
		{ NULL, "kind: ConfigMap\ndata: {}\n", "data.values" },
		{ NULL, "global: {hub: [1]}\n", "global.hub" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *m = cases[i].mesh ? write_tmp(cases[i].mesh) : NULL;
		char *v = cases[i].values ? write_tmp(cases[i].values) : NULL;
		struct inject_config *c = NULL;
		struct skiff_err e = { 0 };
		int r = inject_config_new(m, v, NULL, &c, &e);
		if (r == 0 || !strstr(e.msg, cases[i].needle))
			fail_msg("case %zu: r=%d msg=%s", i, r, e.msg);
		assert_non_null(strstr(e.msg, m ? "--meshConfigFile" : "--valuesFile"));
		if (m) { unlink(m); free(m); }
		if (v) { unlink(v); free(v); }
	}
	struct inject_config *c = NULL;
	struct skiff_err e = { 0 };
	assert_true(inject_config_new("/nonexistent/mesh", NULL, NULL, &c, &e) < 0);
	assert_non_null(strstr(e.msg, "/nonexistent/mesh"));
}

static void flags_and_policy(void **state)
{
	(void)state;
	struct inject_config *c = NULL;
	struct skiff_err e = { 0 };
	assert_int_equal(inject_config_new(NULL, NULL, NULL, &c, &e), 0);
	assert_int_equal(inject_config_set(c, "interception-mode", "NONE", &e), 0);
	assert_true(inject_config_set(c, "interception-mode", "none", &e) < 0);
	assert_true(inject_config_set(c, "rewrite-app-probers", "perhaps", &e) < 0);
	assert_true(inject_config_set(c, "no-such", "1", &e) < 0);
	assert_int_equal(inject_config_set(c, "status-port", "0", &e), 0);
	assert_int_equal(c->mesh_status_port, 0);
	char *ic = write_tmp("policy: disabled\ntemplates:\n  sidecar: x\n");
	struct strbuf w = STRBUF_INIT;
	assert_int_equal(inject_config_load_inject_config(c, ic, &w, &e), 0);
	assert_false(c->policy_enabled);
	assert_non_null(strstr(strbuf_str(&w), "templates are not run"));
	strbuf_free(&w);
	unlink(ic);
	free(ic);
	ic = write_tmp("policy: sometimes\n");
	assert_true(inject_config_load_inject_config(c, ic, NULL, &e) < 0);
	assert_non_null(strstr(e.msg, "sometimes"));
	unlink(ic);
	free(ic);
	inject_config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_are_istios),
		cmocka_unit_test(files_and_configmaps),
		cmocka_unit_test(errors_name_file_and_field),
		cmocka_unit_test(flags_and_policy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

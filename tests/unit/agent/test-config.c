/* test-config.c - the agent's start-up configuration: Go unquoting of the
 * downward-API file, ProxyConfig ports, the status-port precedence, the
 * destination rules and the keep-alive spellings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/config.h"

static void go_unquote(void **state)
{
	(void)state;
	char *s;
	const char *in = "\"a\\\"b\\\\c\\n\\t\\x41\\101\\u00e9\\U0001F600\"";
	assert_int_equal(agent_go_unquote(in, strlen(in), &s), 0);
	assert_string_equal(s, "a\"b\\c\n\tAA\xC3\xA9\xF0\x9F\x98\x80");
	free(s);
	assert_int_equal(agent_go_unquote("`raw \\n`", 8, &s), 0);
	assert_string_equal(s, "raw \\n");
	free(s);
	const char *bad[] = { "\"unterminated", "noquotes", "\"bad \\q\"", "\"a\"b\"", "\"\\xZZ\"",
			      "\"\\ud800\"", "\"\\400\"", "'x'" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (agent_go_unquote(bad[i], strlen(bad[i]), &s) == 0)
			fail_msg("accepted %s", bad[i]);
}

static void annotations_file(void **state)
{
	(void)state;
	char *v;
	const char *f = "a=\"1\"\nstatus.sidecar.istio.io/port=\"1234\"\nnoequals\n"
			"proxy.istio.io/config=\"statusPort: 5\\nproxyAdminPort: 6\"\n"
			"status.sidecar.istio.io/port=\"4321\"\n";
	assert_int_equal(agent_annotation_lookup(f, "status.sidecar.istio.io/port", &v), 1);
	assert_string_equal(v, "4321"); /* the last one wins */
	free(v);
	assert_int_equal(agent_annotation_lookup(f, "proxy.istio.io/config", &v), 1);
	assert_string_equal(v, "statusPort: 5\nproxyAdminPort: 6");
	free(v);
	assert_int_equal(agent_annotation_lookup(f, "missing", &v), 0);
	assert_null(v);
	/* any value that does not unquote spoils the whole file */
	assert_true(agent_annotation_lookup("a=\"1\"\nb=oops\n", "a", &v) < 0);
}

static void proxy_config_ports(void **state)
{
	(void)state;
	struct skiff_err e;
	int st = 15020, ad = 15000;
	assert_int_equal(agent_proxy_config_ports("statusPort: 1234\nproxyAdminPort: 99\n", "", "X",
						  &st, &ad, &e), 0);
	assert_int_equal(st, 1234);
	assert_int_equal(ad, 99);
	assert_int_equal(agent_proxy_config_ports("{\"status_port\": \"77\"}", "", "X", &st, &ad, &e), 0);
	assert_int_equal(st, 77);
	assert_int_equal(agent_proxy_config_ports("defaultConfig:\n  statusPort: 5\nother: 1\n",
						  "defaultConfig", "mesh", &st, &ad, &e), 0);
	assert_int_equal(st, 5);
	assert_int_equal(agent_proxy_config_ports("other: 1\n", "defaultConfig", "mesh", &st, &ad, &e), 0);
	assert_int_equal(st, 5);
	assert_true(agent_proxy_config_ports("statusPort: abc\n", "", "PROXY_CONFIG", &st, &ad, &e) < 0);
	assert_non_null(strstr(e.msg, "PROXY_CONFIG: field statusPort"));
	assert_true(agent_proxy_config_ports("[1, 2]", "", "PROXY_CONFIG", &st, &ad, &e) < 0);
	assert_true(agent_proxy_config_ports("{a: [", "", "PROXY_CONFIG", &st, &ad, &e) < 0);
	assert_non_null(strstr(e.msg, "PROXY_CONFIG"));
}

static void probe_destination(void **state)
{
	(void)state;
	struct agent_config c = { 0 };
	char buf[256];
	snprintf(c.instance_ip, sizeof(c.instance_ip), "10.0.0.1");
	agent_probe_host(&c, buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.1");
	snprintf(c.instance_ip, sizeof(c.instance_ip), "[::1]");
	agent_probe_host(&c, buf, sizeof(buf));
	assert_string_equal(buf, "::1");
	c.instance_ip[0] = 0;
	agent_probe_host(&c, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1");
	c.ipv6 = true;
	agent_probe_host(&c, buf, sizeof(buf));
	assert_string_equal(buf, "::1");
	c.legacy_localhost = true;
	agent_probe_host(&c, buf, sizeof(buf));
	assert_string_equal(buf, "localhost");
	assert_true(agent_detect_ipv6 != NULL);
}

struct loaded {
	struct agent_config c;
	struct skiff_err e;
	int r;
};

static void load(struct loaded *l, char **argv, int argc, char **envp)
{
	err_clear(&l->e);
	l->r = agent_config_load(argc, argv, envp, &l->c, &l->e);
}

static void loads_env_and_flags(void **state)
{
	(void)state;
	char dir[] = "/tmp/ska-unit-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char ann[128], mesh[128];
	snprintf(ann, sizeof(ann), "%s/annotations", dir);
	snprintf(mesh, sizeof(mesh), "%s/mesh", dir);
	FILE *f = fopen(mesh, "w");
	fputs("defaultConfig:\n  statusPort: 1111\n", f);
	fclose(f);
	char annflag[160], meshflag[160];
	snprintf(annflag, sizeof(annflag), "--annotations=%s", ann);
	snprintf(meshflag, sizeof(meshflag), "--mesh-config=%s", mesh);
	char *argv[] = { "agent", annflag, meshflag, "proxy", "sidecar", NULL };
	char *envp[] = { "INSTANCE_IP=10.0.0.9", "ENABLE_PROBE_KEEPALIVE_CONNECTION=true",
			 "ISTIO_KUBE_APP_PROBERS={\"/app-health/a/livez\":{\"tcpSocket\":{\"port\":1}}}",
			 NULL };
	struct loaded l;
	load(&l, argv, 5, envp);
	assert_int_equal(l.r, 0);
	assert_int_equal(l.c.status_port, 1111);
	assert_string_equal(l.c.status_port_from, "mesh config");
	assert_true(l.c.keepalive);
	assert_string_equal(l.c.keepalive_var, "ENABLE_PROBE_KEEPALIVE_CONNECTION");
	assert_int_equal(l.c.probers.n, 1);
	assert_string_equal(l.c.instance_ip, "10.0.0.9");
	assert_non_null(strstr(l.c.warnings, "ignoring unknown argument \"proxy\""));
	agent_config_free(&l.c);

	/* annotation port: 70000 narrows to 4464, "abc" disables (0) */
	f = fopen(ann, "w");
	fputs("status.sidecar.istio.io/port=\"70000\"\n", f);
	fclose(f);
	char *env2[] = { "PROXY_CONFIG=statusPort: 2222", NULL };
	load(&l, argv, 3, env2);
	assert_int_equal(l.r, 0);
	assert_int_equal(l.c.status_port, 4464);
	agent_config_free(&l.c);
	f = fopen(ann, "w");
	fputs("status.sidecar.istio.io/port=\"abc\"\n", f);
	fclose(f);
	load(&l, argv, 3, env2);
	assert_int_equal(l.r, 0);
	assert_int_equal(l.c.status_port, 0);
	agent_config_free(&l.c);

	/* bad probers: error, nothing half-configured */
	char *env3[] = { "ISTIO_KUBE_APP_PROBERS={\"x\":{}}", NULL };
	load(&l, argv, 3, env3);
	assert_true(l.r < 0);
	assert_non_null(strstr(l.e.msg, "invalid path"));
	agent_config_free(&l.c);
	/* plural spelling wins over the singular one */
	char *env4[] = { "ENABLE_PROBE_KEEPALIVE_CONNECTIONS=0", "ENABLE_PROBE_KEEPALIVE_CONNECTION=1",
			 NULL };
	load(&l, argv, 3, env4);
	assert_false(l.c.keepalive);
	assert_string_equal(l.c.keepalive_var, "ENABLE_PROBE_KEEPALIVE_CONNECTIONS");
	agent_config_free(&l.c);
	/* --status-port over everything */
	char *argv2[] = { "agent", annflag, meshflag, "--status-port", "3333", NULL };
	load(&l, argv2, 5, env2);
	assert_int_equal(l.c.status_port, 3333);
	agent_config_free(&l.c);
	unlink(ann);
	unlink(mesh);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(go_unquote),
		cmocka_unit_test(annotations_file),
		cmocka_unit_test(proxy_config_ports),
		cmocka_unit_test(probe_destination),
		cmocka_unit_test(loads_env_and_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test-ready.c - /healthz/ready's pure parts: the Envoy stats text parser
 * (spec 9.4), no-Envoy mode (9.3) and the gRPC bootstrap file checks (9.2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/ready.h"

static const char *const names[] = {
	"cluster_manager.cds.update_success", "cluster_manager.cds.update_rejected",
	"listener_manager.lds.update_success", "listener_manager.lds.update_rejected",
};

static int parse(const char *text, uint64_t *v, char *why)
{
	return ready_stats_parse(text, strlen(text), names, v, 4, why, 256);
}

static void stats_counters_and_missing_zero(void **state)
{
	uint64_t v[4];
	char why[256];
	assert_int_equal(parse("cluster_manager.cds.update_success: 7\n"
			       "listener_manager.lds.update_rejected:  2 \r\n", v, why), 0);
	assert_int_equal(v[0], 7);
	assert_int_equal(v[1], 0);
	assert_int_equal(v[2], 0);
	assert_int_equal(v[3], 2);
	assert_int_equal(parse("", v, why), 0);
	assert_int_equal(v[0] + v[1] + v[2] + v[3], 0);
	/* the last line need not end in a newline; max uint64 */
	assert_int_equal(parse("listener_manager.lds.update_success: 18446744073709551615", v, why), 0);
	assert_true(v[2] == UINT64_MAX);
}

static void stats_first_line_wins(void **state)
{
	uint64_t v[4];
	char why[256];
	assert_int_equal(parse("cluster_manager.cds.update_success: 1\n"
			       "cluster_manager.cds.update_success: bad\n", v, why), 0);
	assert_int_equal(v[0], 1);
}

static void stats_malformed_lines_fail(void **state)
{
	uint64_t v[4];
	char why[256];
	assert_int_equal(parse("cluster_manager.cds.update_success 1\n", v, why), -EINVAL);
	assert_non_null(strstr(why, "missing separator"));
	assert_int_equal(parse("cluster_manager.cds.update_success: 1: 2\n", v, why), -EINVAL);
	assert_int_equal(parse("cluster_manager.cds.update_success: -1\n", v, why), -EINVAL);
	assert_int_equal(parse("cluster_manager.cds.update_success: +1\n", v, why), -EINVAL);
	assert_int_equal(parse("cluster_manager.cds.update_success: \n", v, why), -EINVAL);
	assert_int_equal(parse("cluster_manager.cds.update_success: 1x\n", v, why), -EINVAL);
	assert_int_equal(parse("cluster_manager.cds.update_success: 18446744073709551616\n", v, why),
			 -EINVAL);
	assert_non_null(strstr(why, "18446744073709551616"));
	/* a line that merely starts with the name counts, prefix match */
	assert_int_equal(parse("cluster_manager.cds.update_success_x: 9\n", v, why), 0);
	assert_int_equal(v[0], 9);
}

static void no_envoy_mode_is_ready_at_once(void **state)
{
	char *env[] = { "DISABLE_ENVOY=true", NULL };
	struct agent_ready *r = NULL;
	struct skiff_err e = { 0 };
	/* admin port 1: nothing listens there, and it must not be asked */
	assert_int_equal(agent_ready_new(env, 1, false, NULL, &r, &e), 0);
	struct agent_response resp = { 0 };
	agent_ready_check(r, false, &resp);
	assert_int_equal(resp.status, 200);
	assert_int_equal(resp.body.len, 0);
	agent_response_free(&resp);
	agent_ready_free(r);
}

static void bad_admin_port_names_field(void **state)
{
	char *env[] = { NULL };
	struct agent_ready *r = NULL;
	struct skiff_err e = { 0 };
	assert_true(agent_ready_new(env, 70000, false, NULL, &r, &e) < 0);
	assert_non_null(strstr(e.msg, "proxyAdminPort"));
	assert_null(r);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void grpc_bootstrap_checks(void **state)
{
	char dir[] = "/tmp/skiff-ready-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char boot[128], cert[128], key[128], ca[128], envb[160], json[1024];
	snprintf(boot, sizeof(boot), "%s/grpc-bootstrap.json", dir);
	snprintf(cert, sizeof(cert), "%s/cert-chain.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(ca, sizeof(ca), "%s/root-cert.pem", dir);
	snprintf(envb, sizeof(envb), "GRPC_XDS_BOOTSTRAP=%s", boot);
	char *env[] = { "DISABLE_ENVOY=1", envb, NULL };
	struct agent_ready *r = NULL;
	struct skiff_err e = { 0 };
	assert_int_equal(agent_ready_new(env, 15000, false, NULL, &r, &e), 0);
	struct agent_response resp = { 0 };

	agent_ready_check(r, false, &resp); /* no file yet */
	assert_int_equal(resp.status, 503);
	write_file(boot, "{not json");
	agent_ready_check(r, false, &resp);
	assert_int_equal(resp.status, 503);
	snprintf(json, sizeof(json),
		 "{\"xds_servers\":[],\"certificate_providers\":{\"default\":{\"plugin_name\":"
		 "\"file_watcher\",\"config\":{\"certificate_file\":\"%s\",\"private_key_file\":\"%s\","
		 "\"ca_certificate_file\":\"%s\",\"refresh_interval\":\"900s\"}}}}", cert, key, ca);
	write_file(boot, json);
	agent_ready_check(r, false, &resp); /* loaded, but the certificates are missing */
	assert_int_equal(resp.status, 503);
	write_file(cert, "x");
	write_file(key, "x");
	write_file(ca, "x");
	agent_ready_check(r, false, &resp);
	assert_int_equal(resp.status, 200);
	/* the loaded bootstrap is remembered; the files are checked every time */
	unlink(boot);
	agent_ready_check(r, false, &resp);
	assert_int_equal(resp.status, 200);
	unlink(key);
	agent_ready_check(r, false, &resp);
	assert_int_equal(resp.status, 503);
	unlink(cert);
	unlink(ca);
	rmdir(dir);
	agent_response_free(&resp);
	agent_ready_free(r);
}

static void grpc_bootstrap_without_provider(void **state)
{
	char path[] = "/tmp/skiff-boot-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_file(path, "{\"node\":{\"id\":\"sidecar~1.2.3.4~a.b~b.svc.cluster.local\"}}");
	char envb[64];
	snprintf(envb, sizeof(envb), "GRPC_XDS_BOOTSTRAP=%s", path);
	char *env[] = { "DISABLE_ENVOY=true", envb, "ISTIO_META_DNS_CAPTURE=true", NULL };
	struct agent_ready *r = NULL;
	struct skiff_err e = { 0 };
	assert_int_equal(agent_ready_new(env, 15000, false, NULL, &r, &e), 0);
	struct agent_response resp = { 0 };
	agent_ready_check(r, false, &resp);
	assert_int_equal(resp.status, 200);
	unlink(path);
	agent_response_free(&resp);
	agent_ready_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stats_counters_and_missing_zero),
		cmocka_unit_test(stats_first_line_wins),
		cmocka_unit_test(stats_malformed_lines_fail),
		cmocka_unit_test(no_envoy_mode_is_ready_at_once),
		cmocka_unit_test(bad_admin_port_names_field),
		cmocka_unit_test(grpc_bootstrap_checks),
		cmocka_unit_test(grpc_bootstrap_without_provider),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

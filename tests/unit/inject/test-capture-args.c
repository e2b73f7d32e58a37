/* test-capture-args.c - annotations -> istio-iptables args (capture.md 11)
 * and the injector's annotation validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "inject/capture_args.h"

static struct inject_config *cfg_new(void)
{
	struct inject_config *c = NULL;
	struct skiff_err e = { 0 };
	assert_int_equal(inject_config_new(NULL, NULL, NULL, &c, &e), 0);
	return c;
}

/* The args as one space-joined string, for compact expectations. */
static char *args_str(const struct inject_config *c, const char *ann_json, const char *mode)
{
	json_t *ann = ann_json ? json_loads(ann_json, 0, NULL) : NULL;
	json_t *a = capture_args_build(c, ann, mode);
	assert_non_null(a);
	struct strbuf sb = STRBUF_INIT;
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v) {
		if (i)
			strbuf_putc(&sb, ' ');
		const char *s = json_string_value(v);
		if (!*s)
			strbuf_puts(&sb, "''");
		else
			strbuf_puts(&sb, s);
	}
	json_decref(a);
	json_decref(ann);
	return strbuf_steal(&sb);
}

#define BASE "istio-iptables -p 15001 -z 15006 -u 1337 -m REDIRECT"

static void defaults_match_the_goldens(void **state)
{
	(void)state;
	struct inject_config *c = cfg_new();
	char *s = args_str(c, NULL, "REDIRECT");
	assert_string_equal(s, BASE " -i * -x '' -b * -d 15090,15021,15020");
	free(s);
	inject_config_free(c);
}

static void exclude_inbound_computation(void **state)
{
	(void)state;
	struct {
		const char *p, *e, *want;
	} cases[] = {
		{ "15020", "", "15020" },
		{ "15020", "8080, 9090", "8080,9090,15020" },
		{ "15020", "15020,22", "15020,22" },
		{ "0", "", "" },
		{ "", "22", "22" },
		{ " 15020 ", "22", "22,15020" },
		{ "15020", " 15020,22", "15020,22,15020" },   /* untrimmed item differs */
		{ "15020", "22,,23,", "22,23,15020" },
		{ "123", "22, 15020 ,", "22,15020,123" },
		{ "15020", "a, 15020,b", "a,15020,b,15020" },
		{ "15020", "x,15020, y", "x,15020, y" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *x = capture_exclude_inbound(cases[i].p, cases[i].e);
		if (strcmp(x, cases[i].want) != 0)
			fail_msg("case %zu: P=\"%s\" E=\"%s\": got \"%s\", want \"%s\"", i, cases[i].p,
				 cases[i].e, x, cases[i].want);
		free(x);
	}
}

static void every_capture_annotation(void **state)
{
	(void)state;
	struct inject_config *c = cfg_new();
	struct {
		const char *ann, *mode, *want;
	} cases[] = {
		{ "{\"traffic.sidecar.istio.io/includeOutboundIPRanges\":\"10.0.0.0/8\"}", "REDIRECT",
		  BASE " -i 10.0.0.0/8 -x '' -b * -d 15090,15021,15020" },
		{ "{\"traffic.sidecar.istio.io/includeOutboundIPRanges\":\"\"}", "REDIRECT",
		  BASE " -i '' -x '' -b * -d 15090,15021,15020" },
		{ "{\"traffic.sidecar.istio.io/excludeOutboundIPRanges\":\"1.2.3.4/32\"}", "REDIRECT",
		  BASE " -i * -x 1.2.3.4/32 -b * -d 15090,15021,15020" },
		{ "{\"traffic.sidecar.istio.io/includeInboundPorts\":\"80,443\"}", "REDIRECT",
		  BASE " -i * -x '' -b 80,443 -d 15090,15021,15020" },
		{ "{\"traffic.sidecar.istio.io/excludeInboundPorts\":\"22\"}", "REDIRECT",
		  BASE " -i * -x '' -b * -d 15090,15021,22,15020" },
		{ "{\"traffic.sidecar.istio.io/includeOutboundPorts\":\"3306\"}", "REDIRECT",
		  BASE " -i * -x '' -b * -d 15090,15021,15020 -q 3306" },
		{ "{\"traffic.sidecar.istio.io/includeOutboundPorts\":\"\"}", "REDIRECT",
		  BASE " -i * -x '' -b * -d 15090,15021,15020 -q ''" },
		{ "{\"traffic.sidecar.istio.io/excludeOutboundPorts\":\"5432,6379\"}", "REDIRECT",
		  BASE " -i * -x '' -b * -d 15090,15021,15020 -o 5432,6379" },
		{ "{\"traffic.sidecar.istio.io/kubevirtInterfaces\":\"net1,net2\"}", "REDIRECT",
		  BASE " -i * -x '' -b * -d 15090,15021,15020 -k net1,net2" },
		{ "{\"status.sidecar.istio.io/port\":\"0\"}", "REDIRECT",
		  BASE " -i * -x '' -b * -d 15090,15021" },
		{ "{\"status.sidecar.istio.io/port\":\"123\"}", "REDIRECT",
		  BASE " -i * -x '' -b * -d 15090,15021,123" },
		{ "{}", "TPROXY",
		  "istio-iptables -p 15001 -z 15006 -u 1337 -m TPROXY -i * -x '' -b * -d 15090,15021,15020" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = args_str(c, cases[i].ann, cases[i].mode);
		if (strcmp(s, cases[i].want) != 0)
			fail_msg("case %zu (%s): got\n  %s\nwant\n  %s", i, cases[i].ann, s, cases[i].want);
		free(s);
	}
	inject_config_free(c);
}

static void values_defaults_and_cni(void **state)
{
	(void)state;
	struct inject_config *c = cfg_new();
	struct skiff_err e = { 0 };
	assert_int_equal(inject_config_set(c, "exclude-outbound-ports", "9999", &e), 0);
	assert_int_equal(inject_config_set(c, "include-outbound-ports", "1,2", &e), 0);
	assert_int_equal(inject_config_set(c, "exclude-inbound-ports", "22", &e), 0);
	assert_int_equal(inject_config_set(c, "status-port", "15555", &e), 0);
	c->cni_enabled = true;
	char *s = args_str(c, "{\"traffic.sidecar.istio.io/excludeOutboundPorts\":\"7\"}", "REDIRECT");
	assert_string_equal(s, BASE " -i * -x '' -b * -d 15090,15021,22,15555 -q 1,2 -o 7 "
				"--run-validation --skip-rule-apply");
	free(s);
	assert_true(inject_config_set(c, "status-port", "70000", &e) < 0);
	assert_non_null(strstr(e.msg, "--status-port"));
	assert_non_null(strstr(e.msg, "70000"));
	inject_config_free(c);
}

static void validation_names_the_annotation(void **state)
{
	(void)state;
	struct {
		const char *ann;
		const char *needle; /* NULL = valid */
	} cases[] = {
		{ "{\"traffic.sidecar.istio.io/excludeInboundPorts\":\"22,abc\"}",
		  "annotation traffic.sidecar.istio.io/excludeInboundPorts: \"22,abc\"" },
		{ "{\"traffic.sidecar.istio.io/excludeInboundPorts\":\"22, 80 \"}", NULL },
		{ "{\"traffic.sidecar.istio.io/excludeInboundPorts\":\"22,,80\"}", "port \"\"" },
		{ "{\"traffic.sidecar.istio.io/excludeInboundPorts\":\"70000\"}", "70000" },
		{ "{\"traffic.sidecar.istio.io/excludeInboundPorts\":\"*\"}", "\"*\"" },
		{ "{\"traffic.sidecar.istio.io/includeInboundPorts\":\"*\"}", NULL },
		{ "{\"traffic.sidecar.istio.io/includeInboundPorts\":\"80,x\"}", "includeInboundPorts" },
		{ "{\"traffic.sidecar.istio.io/excludeOutboundPorts\":\"-1\"}", "excludeOutboundPorts" },
		{ "{\"traffic.sidecar.istio.io/includeOutboundPorts\":\"anything\"}", NULL },
		{ "{\"traffic.sidecar.istio.io/includeOutboundIPRanges\":\"*\"}", NULL },
		{ "{\"traffic.sidecar.istio.io/includeOutboundIPRanges\":\"10.0.0.0/8, fd00::/8\"}", NULL },
		{ "{\"traffic.sidecar.istio.io/includeOutboundIPRanges\":\"10.0.0.1\"}", "10.0.0.1" },
		{ "{\"traffic.sidecar.istio.io/excludeOutboundIPRanges\":\"*\"}", "excludeOutboundIPRanges" },
		{ "{\"traffic.sidecar.istio.io/excludeOutboundIPRanges\":\"10.0.0.0/33\"}", "10.0.0.0/33" },
		/* The same CIDR rules as `skiff iptables -i/-x` (net.ParseCIDR's). */
		{ "{\"traffic.sidecar.istio.io/excludeOutboundIPRanges\":\"010.0.0.0/8\"}",
		  "\"010.0.0.0/8\" is not a CIDR (ADDRESS/PREFIX)" },
		{ "{\"traffic.sidecar.istio.io/excludeOutboundIPRanges\":\"fe80::1%eth0/64\"}", "fe80::1%eth0/64" },
		{ "{\"traffic.sidecar.istio.io/excludeOutboundIPRanges\":\"::ffff:10.0.0.0/104\"}", NULL },
		{ "{\"traffic.sidecar.istio.io/excludeOutboundIPRanges\":\"10.0.0.0/08\"}", NULL },
		{ "{\"sidecar.istio.io/interceptionMode\":\"redirect\"}", "interceptionMode" },
		{ "{\"sidecar.istio.io/interceptionMode\":\"NONE\"}", NULL },
		{ "{\"status.sidecar.istio.io/port\":\"abc\"}", "status.sidecar.istio.io/port" },
		{ "{\"status.sidecar.istio.io/port\":\" 15020 \"}", NULL },
		{ "{\"status.sidecar.istio.io/port\":\"65536\"}", "65536" },
		{ "{\"readiness.status.sidecar.istio.io/periodSeconds\":\"x\"}", "periodSeconds" },
		{ "{\"traffic.sidecar.istio.io/kubevirtInterfaces\":\"not validated\"}", NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *ann = json_loads(cases[i].ann, 0, NULL);
		struct skiff_err e = { 0 };
		int r = capture_annotations_validate(ann, &e);
		json_decref(ann);
		if (!cases[i].needle) {
			if (r != 0)
				fail_msg("case %zu (%s) should be valid: %s", i, cases[i].ann, e.msg);
		} else if (r == 0 || !strstr(e.msg, cases[i].needle)) {
			fail_msg("case %zu (%s): r=%d msg=\"%s\", want \"%s\"", i, cases[i].ann, r, e.msg,
				 cases[i].needle);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_match_the_goldens),
		cmocka_unit_test(exclude_inbound_computation),
		cmocka_unit_test(every_capture_annotation),
		cmocka_unit_test(values_defaults_and_cni),
		cmocka_unit_test(validation_names_the_annotation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

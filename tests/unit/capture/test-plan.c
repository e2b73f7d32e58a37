/* test-plan.c - the rule plan builder (spec section 4): steps, order,
 * families, quirks the goldens do not cover. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>

#include "capture-test.h"

#define HAS(text, line) assert_true(test_line_index(text, line) >= 0)
#define LACKS(text, needle) assert_null(strstr(text, needle))

static void no_port_22_anywhere(void **state)
{
	(void)state;
	/* 1.13: no rule special-cases 22, in any mode or family. */
	char *const modes[] = { "REDIRECT", "TPROXY" };
	for (int m = 0; m < 2; m++) {
		char *t = test_listing(ARGV("-m", modes[m], "-b", "*", "-i", "*", "-u", "1337"), true);
		LACKS(t, "--dport 22 ");
		HAS(t, m ? "iptables -t mangle -A ISTIO_INBOUND -p tcp -j ISTIO_TPROXY"
			 : "iptables -t nat -A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT");
		free(t);
	}
	char *t = test_listing(ARGV("-b", "*", "-d", "22", "-u", "1"), false);
	HAS(t, "iptables -t nat -A ISTIO_INBOUND -p tcp --dport 22 -j RETURN");
	assert_true(test_line_index(t, "iptables -t nat -A ISTIO_INBOUND -p tcp --dport 22 -j RETURN") <
		    test_line_index(t, "iptables -t nat -A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT"));
	free(t);
}

static void exclude_ports_only_with_wildcard(void **state)
{
	(void)state;
	/* Q11: -d ignored unless -b is exactly '*'. */
	char *t = test_listing(ARGV("-b", "80", "-d", "22", "-u", "1"), false);
	LACKS(t, "--dport 22");
	HAS(t, "iptables -t nat -A ISTIO_INBOUND -p tcp --dport 80 -j ISTIO_IN_REDIRECT");
	free(t);
	/* -b , : PREROUTING jump but no port rule. */
	t = test_listing(ARGV("-b", ",", "-u", "1"), false);
	HAS(t, "iptables -t nat -A PREROUTING -p tcp -j ISTIO_INBOUND");
	LACKS(t, "ISTIO_IN_REDIRECT -p tcp --dport");
	free(t);
}

static void tproxy_trailer_without_inbound(void **state)
{
	(void)state;
	/* Q7: the trailer even with empty -b; mangle ISTIO_INBOUND created last. */
	char *t = test_listing(ARGV("-m", "TPROXY", "-u", "1"), false);
	HAS(t, "iptables -t mangle -I ISTIO_INBOUND 1 -p tcp -m mark --mark 1337 -j RETURN");
	LACKS(t, "ISTIO_DIVERT");
	assert_int_equal(test_line_index(t, "iptables -t mangle -N ISTIO_INBOUND"), 4);
	free(t);
}

static void tproxy_custom_mark_and_ports(void **state)
{
	(void)state;
	char *t = test_listing(ARGV("-m", "TPROXY", "-b", "80", "-t", "7", "-z", "16006", "-u", "5"), true);
	HAS(t, "iptables -t mangle -A ISTIO_TPROXY ! -d 127.0.0.1/32 -p tcp -j TPROXY --tproxy-mark 7/0xffffffff --on-port 16006");
	HAS(t, "ip6tables -t mangle -A ISTIO_TPROXY ! -d ::1/128 -p tcp -j TPROXY --tproxy-mark 7/0xffffffff --on-port 16006");
	HAS(t, "ip6tables -t mangle -I ISTIO_INBOUND 2 -p tcp -s ::6/128 -i lo -j RETURN");
	HAS(t, "ip6tables -t mangle -A OUTPUT ! -d ::1/128 -p tcp -o lo -m owner --uid-owner 5 -j MARK --set-mark 1338");
	HAS(t, "iptables -t mangle -A ISTIO_DIVERT -j MARK --set-mark 7");
	free(t);
}

static void exclude_interfaces_nat_then_mangle(void **state)
{
	(void)state;
	char *t = test_listing(ARGV("-m", "TPROXY", "--istio-exclude-interfaces", "a,b", "-u", "1"), false);
	int n1 = test_line_index(t, "iptables -t nat -A OUTPUT -o b -j RETURN");
	int m1 = test_line_index(t, "iptables -t mangle -A PREROUTING -i a -j RETURN");
	assert_true(n1 >= 0 && m1 > n1);
	HAS(t, "iptables -t mangle -A OUTPUT -o b -j RETURN");
	free(t);
	t = test_listing(ARGV("--istio-exclude-interfaces", "a", "-u", "1"), false);
	LACKS(t, "-t mangle");
	free(t);
}

static void loopback_range_suppresses_both_families(void **state)
{
	(void)state;
	/* Q5: a v6 loopback item suppresses the owner-mismatch RETURN in v4 too. */
	char *t = test_listing(ARGV("-i", "10.0.0.0/8,::1/128", "-u", "1"), true);
	LACKS(t, "! --uid-owner");
	LACKS(t, "! --gid-owner");
	HAS(t, "ip6tables -t nat -A ISTIO_OUTPUT -d ::1/128 -j ISTIO_REDIRECT");
	free(t);
}

static void ipv6_off_ignores_v6_items(void **state)
{
	(void)state;
	/* Q19: v6 ranges ignored without IPv6; v4 list empty -> no final RETURN. */
	char *t = test_listing(ARGV("-i", "2001:db8::/32", "-x", "2001:db9::/32", "-u", "1"), false);
	LACKS(t, "2001:");
	LACKS(t, "ip6tables");
	LACKS(t, "ISTIO_OUTPUT -j RETURN");
	free(t);
}

static void wildcard_with_kubevirt_and_outbound_ports(void **state)
{
	(void)state;
	char *t = test_listing(ARGV("-i", "*", "-k", "vm0", "-q", "80,8080", "-o", "15020", "-u", "1"), false);
	int q = test_line_index(t, "iptables -t nat -A ISTIO_OUTPUT -p tcp --dport 8080 -j ISTIO_REDIRECT");
	int w = test_line_index(t, "iptables -t nat -A ISTIO_OUTPUT -j ISTIO_REDIRECT");
	assert_true(q >= 0 && w > q);
	HAS(t, "iptables -t nat -I PREROUTING 1 -i vm0 -j ISTIO_REDIRECT");
	HAS(t, "iptables -t nat -I PREROUTING 1 -i vm0 -j RETURN");
	assert_int_equal(test_line_index(t, "iptables -t nat -A ISTIO_OUTPUT -p tcp --dport 15020 -j RETURN"),
			 test_line_index(t, "iptables -t nat -A OUTPUT -p tcp -j ISTIO_OUTPUT") + 1);
	free(t);
}

static void trace_companions(void **state)
{
	(void)state;
	/* An insert's NFLOG companion comes after it; an append's before it. */
	char *t = test_listing(ARGV("--iptables-trace-logging", "-k", "vm0", "-b", "80", "-u", "1"), false);
	int ins = test_line_index(t, "iptables -t nat -I PREROUTING 1 -i vm0 -j RETURN");
	int log = test_line_index(t, "iptables -t nat -I PREROUTING 1 -i vm0 -j NFLOG --nflog-prefix \"KubevirtCommand\" --nflog-group 1337 --nflog-size 20");
	assert_true(ins >= 0 && log == ins + 1);
	int app = test_line_index(t, "iptables -t nat -A ISTIO_INBOUND -p tcp --dport 80 -j ISTIO_IN_REDIRECT");
	int alog = test_line_index(t, "iptables -t nat -A ISTIO_INBOUND -p tcp --dport 80 -j NFLOG --nflog-prefix \"IncludeInboundPort\" --nflog-group 1337 --nflog-size 20");
	assert_true(app >= 0 && alog == app - 1);
	HAS(t, "iptables -t nat -A PREROUTING -p tcp -j NFLOG --nflog-prefix \"JumpInbound\" --nflog-group 1337 --nflog-size 20");
	free(t);
}

static void dns_capture_all(void **state)
{
	(void)state;
	char *t = test_listing(ARGV("--redirect-dns", "--capture-all-dns", "-u", "1"), true);
	HAS(t, "ip6tables -t nat -A ISTIO_OUTPUT -p tcp --dport 53 -j REDIRECT --to-ports 15053");
	HAS(t, "ip6tables -t raw -A PREROUTING -p udp --sport 53 -j CT --zone 1");
	HAS(t, "iptables -t nat -A OUTPUT -p udp --dport 53 -j REDIRECT --to-port 15053");
	/* Q2: the gid redirect has no DNS clause, the uid one has. */
	HAS(t, "iptables -t nat -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -m owner --gid-owner 1 -j ISTIO_IN_REDIRECT");
	HAS(t, "iptables -t nat -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 53 -m owner --uid-owner 1 -j ISTIO_IN_REDIRECT");
	free(t);
}

static void chain_creation_is_first_seen(void **state)
{
	(void)state;
	struct capture_config c;
	struct capture_plan p;
	test_config(&c, ARGV("-m", "TPROXY", "-b", "*", "-u", "1"), false);
	assert_int_equal(capture_plan_build(&c, &p), 0);
	const char *want[] = { "ISTIO_INBOUND", "ISTIO_REDIRECT", "ISTIO_IN_REDIRECT", "ISTIO_DIVERT",
			       "ISTIO_TPROXY", "ISTIO_INBOUND", "ISTIO_OUTPUT" };
	assert_int_equal(p.fam[CAPTURE_V4].nchains, 7);
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(p.fam[CAPTURE_V4].chains[i].name, want[i]);
	assert_int_equal(p.fam[CAPTURE_V4].chains[5].table, CAPTURE_MANGLE);
	assert_int_equal(p.fam[CAPTURE_V6].nrules, 0);
	assert_false(capture_chain_is_builtin("ISTIO_OUTPUT"));
	assert_true(capture_chain_is_builtin("POSTROUTING"));
	capture_plan_free(&p);
	capture_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_port_22_anywhere),
		cmocka_unit_test(exclude_ports_only_with_wildcard),
		cmocka_unit_test(tproxy_trailer_without_inbound),
		cmocka_unit_test(tproxy_custom_mark_and_ports),
		cmocka_unit_test(exclude_interfaces_nat_then_mangle),
		cmocka_unit_test(loopback_range_suppresses_both_families),
		cmocka_unit_test(ipv6_off_ignores_v6_items),
		cmocka_unit_test(wildcard_with_kubevirt_and_outbound_ports),
		cmocka_unit_test(trace_companions),
		cmocka_unit_test(dns_capture_all),
		cmocka_unit_test(chain_creation_is_first_seen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

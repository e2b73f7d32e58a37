/* test-config.c - istio-iptables flags and environment: syntax, precedence,
 * validation messages, and the host derivations of spec 2.5. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/config.h"

#define ARGV(...) ((char *[]){ "istio-iptables", __VA_ARGS__, NULL })
#define ARGC(a) ((int)(sizeof(a) / sizeof(a[0])) - 1)

static char *no_env[] = { NULL };

static int parse(struct capture_config *c, char **argv, char **envp, struct skiff_err *e)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	err_clear(e);
	return capture_config_parse(c, CAPTURE_FOR_IPTABLES, argc, argv, envp, e);
}

/* Parse, expect a failure whose message contains NEEDLE. */
static void refused(char **argv, char **envp, const char *needle)
{
	struct capture_config c;
	struct skiff_err e;
	int r = parse(&c, argv, envp, &e);
	if (r >= 0 || !strstr(e.msg, needle))
		fail_msg("expected refusal with \"%s\", got %d \"%s\"", needle, r, e.msg);
	capture_config_free(&c);
}

static void defaults(void **state)
{
	(void)state;
	struct capture_config c;
	struct skiff_err e;
	assert_int_equal(parse(&c, (char *[]){ "x", NULL }, no_env, &e), 0);
	assert_string_equal(c.proxy_port, "15001");
	assert_string_equal(c.inbound_capture_port, "15006");
	assert_string_equal(c.inbound_tunnel_port, "15008");
	assert_string_equal(c.mark, "1337");
	assert_string_equal(c.route_table, "133");
	assert_false(c.tproxy);
	assert_false(c.inbound_enabled);
	assert_true(c.restore_format);
	assert_false(c.dry_run);
	assert_int_equal(c.probe_port, 15002);
	assert_int_equal(c.probe_timeout_ns, 5000000000LL);
	assert_int_equal(c.ipv6_mode, CAPTURE_IPV6_AUTO);
	assert_string_equal(c.resolv_conf, "/etc/resolv.conf");
	capture_config_free(&c);
}

static void flag_syntaxes(void **state)
{
	(void)state;
	struct capture_config c;
	struct skiff_err e;
	char **a = ARGV("-p15002", "-z=15007", "--inbound-tunnel-port", "15009", "--istio-inbound-ports=80,443",
			"-nf=false", "--iptables-trace-logging", "ignored-positional", "--", "-p", "1");
	assert_int_equal(parse(&c, a, no_env, &e), 0);
	assert_string_equal(c.proxy_port, "15002");
	assert_string_equal(c.inbound_capture_port, "15007");
	assert_string_equal(c.inbound_tunnel_port, "15009");
	assert_int_equal(c.inbound_ports.n, 2);
	assert_true(c.dry_run);
	assert_false(c.restore_format);
	assert_true(c.trace_logging);
	assert_int_equal(c.positional, 3); /* ignored-positional, -p, 1 after "--" */
	assert_string_equal(c.set[OPT_ENVOY_PORT].origin, "-p");
	assert_string_equal(c.set[OPT_INBOUND_TUNNEL_PORT].origin, "--inbound-tunnel-port");
	capture_config_free(&c);

	/* A word after a boolean flag is a positional, not its value. */
	assert_int_equal(parse(&c, ARGV("--dry-run", "false"), no_env, &e), 0);
	assert_true(c.dry_run);
	assert_int_equal(c.positional, 1);
	capture_config_free(&c);

	/* The last occurrence wins. */
	assert_int_equal(parse(&c, ARGV("-p", "1000", "--envoy-port=2000"), no_env, &e), 0);
	assert_string_equal(c.proxy_port, "2000");
	capture_config_free(&c);

	assert_int_equal(parse(&c, ARGV("-h"), no_env, &e), CAPTURE_PARSE_HELP);
	capture_config_free(&c);
	assert_int_equal(parse(&c, ARGV("-p", "1", "--help"), no_env, &e), CAPTURE_PARSE_HELP);
	capture_config_free(&c);
}

static void usage_errors(void **state)
{
	(void)state;
	refused(ARGV("--bogus"), no_env, "unknown flag: --bogus");
	refused(ARGV("-y"), no_env, "unknown shorthand flag: 'y' in -y");
	refused(ARGV("-p"), no_env, "flag needs an argument: 'p' in -p");
	refused(ARGV("--envoy-port"), no_env, "flag needs an argument: --envoy-port");
	refused(ARGV("--dry-run=yes"), no_env, "invalid argument \"yes\" for \"--dry-run\"");
	refused(ARGV("-n=2"), no_env, "invalid argument \"2\" for \"-n\"");
	/* clean-iptables has no --capture-all-dns flag and no -p. */
	struct capture_config c;
	struct skiff_err e;
	assert_true(capture_config_parse(&c, CAPTURE_FOR_CLEAN, 2, ARGV("--capture-all-dns"), no_env, &e) < 0);
	assert_non_null(strstr(e.msg, "unknown flag: --capture-all-dns"));
	capture_config_free(&c);
	assert_true(capture_config_parse(&c, CAPTURE_FOR_CLEAN, 3, ARGV("-p", "1"), no_env, &e) < 0);
	capture_config_free(&c);
}

static void precedence(void **state)
{
	(void)state;
	struct capture_config c;
	struct skiff_err e;
	char *env[] = { "ENVOY_PORT=16001", "ISTIO_SERVICE_CIDR=10.0.0.0/8", "INBOUND_CAPTURE_PORT=",
			"DRY_RUN=true", "RESTORE_FORMAT=nonsense", NULL };
	/* Env beats default; empty env counts as unset; flag beats env even when empty. */
	assert_int_equal(parse(&c, ARGV("-i", ""), env, &e), 0);
	assert_string_equal(c.proxy_port, "16001");
	assert_string_equal(c.set[OPT_ENVOY_PORT].origin, "ENVOY_PORT");
	assert_string_equal(c.inbound_capture_port, "15006");
	assert_int_equal(c.include.n4, 0);
	assert_false(c.include.wildcard);
	assert_true(c.dry_run);
	assert_false(c.restore_format); /* unparsable env boolean = false, as in Istio */
	capture_config_free(&c);

	assert_int_equal(parse(&c, ARGV("-p", "17001"), env, &e), 0);
	assert_string_equal(c.proxy_port, "17001");
	assert_int_equal(c.include.n4, 1);
	capture_config_free(&c);
}

static void dns_and_invalid_drop_defaults(void **state)
{
	(void)state;
	struct capture_config c;
	struct skiff_err e;
	char *meta[] = { "ISTIO_META_DNS_CAPTURE=true", "INVALID_DROP=true", NULL };
	assert_int_equal(parse(&c, ARGV("-u", "1"), meta, &e), 0);
	assert_true(c.redirect_dns);
	assert_true(c.drop_invalid); /* skiff decision Q1 */
	capture_config_free(&c);
	char *both[] = { "ISTIO_META_DNS_CAPTURE=true", "REDIRECT_DNS=false", "INVALID_DROP=true",
			 "DROP_INVALID=false", NULL };
	assert_int_equal(parse(&c, ARGV("-u", "1"), both, &e), 0);
	assert_false(c.redirect_dns);
	assert_false(c.drop_invalid);
	capture_config_free(&c);
	assert_int_equal(parse(&c, ARGV("--redirect-dns=false", "--drop-invalid=0"), meta, &e), 0);
	assert_false(c.redirect_dns);
	assert_false(c.drop_invalid);
	capture_config_free(&c);
	char *junk[] = { "ISTIO_META_DNS_CAPTURE=yes", NULL };
	assert_int_equal(parse(&c, ARGV("-u", "1"), junk, &e), 0);
	assert_false(c.redirect_dns);
	capture_config_free(&c);
}

static void lists(void **state)
{
	(void)state;
	struct capture_list l = { 0 };
	assert_int_equal(capture_list_split("6000,7000,", &l), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.items[1], "7000");
	assert_int_equal(capture_list_split(",,", &l), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(capture_list_split("a,,b,a", &l), 0);
	assert_int_equal(l.n, 3); /* empty items dropped, duplicates kept */
	assert_string_equal(l.items[2], "a");
	assert_int_equal(capture_list_split("", &l), 0);
	assert_int_equal(l.n, 0);
	capture_list_free(&l);

	struct capture_config c;
	struct skiff_err e;
	/* "-b ," switches inbound capture on with no ports (spec 2.6). */
	assert_int_equal(parse(&c, ARGV("-b", ","), no_env, &e), 0);
	assert_true(c.inbound_enabled);
	assert_false(c.inbound_wildcard);
	assert_int_equal(c.inbound_ports.n, 0);
	capture_config_free(&c);
	assert_int_equal(parse(&c, ARGV("-b", "*", "-d", "22,15090"), no_env, &e), 0);
	assert_true(c.inbound_wildcard);
	assert_int_equal(c.local_exclude_ports.n, 2);
	capture_config_free(&c);
}

static void port_validation(void **state)
{
	(void)state;
	struct skiff_err e = { 0 };
	assert_int_equal(capture_check_port("80", "-b", true, &e), 0);
	assert_int_equal(capture_check_port("1000:2000", "-b", true, &e), 0);
	assert_int_equal(capture_check_port("ssh", "-b", true, &e), 0);
	assert_true(capture_check_port("ssh", "-p", false, &e) < 0);
	assert_true(capture_check_port("2000:1000", "-b", true, &e) < 0);
	assert_non_null(strstr(e.msg, "ends before it starts"));
	assert_true(capture_check_port("1:70000", "-b", true, &e) < 0);
	assert_true(capture_check_port("+80", "-b", true, &e) < 0);
	assert_true(capture_check_port(" 80", "-b", true, &e) < 0);
	assert_true(capture_check_port("no-such-service-zz", "-b", true, &e) < 0);
	refused(ARGV("-d", "70000"), no_env, "-d: port \"70000\" is out of range 1-65535");
	refused(ARGV("-d", "0"), no_env, "-d: port \"0\" is out of range 1-65535");
	refused(ARGV("--istio-local-exclude-ports", "22,x y"), no_env,
		"--istio-local-exclude-ports: \"x y\" is not a port");
	refused(ARGV("-b", "*,80"), no_env, "-b: \"*\" is only a wildcard as the whole value");
	refused(ARGV("-q", "80:"), no_env, "-q: \"80:\" is not a port");
	refused(ARGV("-o", "-1"), no_env, "-o: port \"-1\" is out of range");
	refused(ARGV("-p", "80:90"), no_env, "-p: \"80:90\" is not a port number");
	refused(ARGV("-z", ""), no_env, "-z: \"\" is not a port number");
	refused(ARGV("-e", "65536"), no_env, "-e: port \"65536\" is out of range");
	refused(ARGV("--iptables-probe-port", "0x10000"), no_env, "--iptables-probe-port: port \"0x10000\"");
	refused(ARGV("--iptables-probe-port", "zz"), no_env, "is not a port number");
	char *env[] = { "ISTIO_LOCAL_EXCLUDE_PORTS=22,99999", NULL };
	refused(ARGV("-b", "*"), env, "ISTIO_LOCAL_EXCLUDE_PORTS: port \"99999\" is out of range 1-65535");
}

static void other_validation(void **state)
{
	(void)state;
	refused(ARGV("-m", "tproxy"), no_env, "-m: interception mode \"tproxy\" is not REDIRECT or TPROXY");
	refused(ARGV("-m", "NONE"), no_env, "interception mode \"NONE\"");
	refused(ARGV("-t", "abc"), no_env, "-t: mark \"abc\" is not a decimal number");
	refused(ARGV("-t", "0"), no_env, "-t: mark \"0\" is out of range");
	refused(ARGV("-t", "1338"), no_env, "collides with the outbound mark 1338");
	refused(ARGV("-r", "255"), no_env, "kernel's default/main/local tables");
	refused(ARGV("-r", "x"), no_env, "-r: route table \"x\" is not a decimal number");
	refused(ARGV("-u", "1,,x y"), no_env, "-u: \"x y\" is not a user id");
	refused(ARGV("-g", "5-3"), no_env, "-g: group id range \"5-3\" ends before it starts");
	refused(ARGV("-u", "4294967295"), no_env, "out of range 0-4294967294");
	refused(ARGV("-u", ","), no_env, "-u: \",\" names no user id");
	refused(ARGV("-k", "this-name-is-too-long"), no_env, "must be 1-15 characters");
	refused(ARGV("--istio-exclude-interfaces", "eth 0"), no_env, "contains a character");
	refused(ARGV("-k", "a+b"), no_env, "contains a character");
	refused(ARGV("-x", "*"), no_env, "-x: \"*\" is not allowed here");
	refused(ARGV("-i", "10.0.0.0/8,*"), no_env, "-i: \"*\" is only a wildcard");
	refused(ARGV("-i", "10.0.0.0/8, 10.1.0.0/16"), no_env, "-i: \" 10.1.0.0/16\" is not a CIDR range");
	refused(ARGV("-x", "fe80::/129"), no_env, "-x: prefix length of \"fe80::/129\"");
	refused(ARGV("--probe-timeout", "5"), no_env, "--probe-timeout: \"5\" is not a duration");
	refused(ARGV("--probe-timeout", "-1s"), no_env, "is not a duration");
	refused(ARGV("--cni-mode"), no_env, "--cni-mode needs --network-namespace");
	refused(ARGV("--ipv6=maybe"), no_env, "--ipv6: \"maybe\" is not auto, true or false");
	refused(ARGV("--resolv-conf="), no_env, "--resolv-conf: the file name is empty");

	struct capture_config c;
	struct skiff_err e;
	assert_int_equal(parse(&c, ARGV("-u", "root,0-99", "-g", "root", "-k", "eth+", "-t", "4294967295"), no_env, &e), 0);
	assert_int_equal(c.mark_num, 4294967295u);
	capture_config_free(&c);
	/* A unit-less PROBE_TIMEOUT is nanoseconds, as in Istio. */
	char *env[] = { "PROBE_TIMEOUT=5", NULL };
	assert_int_equal(parse(&c, ARGV("-u", "1"), env, &e), 0);
	assert_int_equal(c.probe_timeout_ns, 5);
	capture_config_free(&c);
	assert_int_equal(parse(&c, ARGV("--iptables-probe-port", "0x3a9a", "--probe-timeout", "1m30s"), no_env, &e), 0);
	assert_int_equal(c.probe_port, 15002);
	assert_int_equal(c.probe_timeout_ns, 90000000000LL);
	capture_config_free(&c);
	assert_int_equal(parse(&c, ARGV("-i", "10.1.0.0/16,2001:db8::/32,::1/128", "-x", "127.0.0.1/32"), no_env, &e), 0);
	assert_int_equal(c.include.n4, 1);
	assert_int_equal(c.include.n6, 2);
	assert_true(c.include.loop6);
	assert_false(c.include.loop4);
	assert_true(c.exclude.loop4);
	capture_config_free(&c);
}

static void derive_uid_gid_ipv6(void **state)
{
	(void)state;
	struct capture_config c;
	struct skiff_err e;
	struct capture_host v4host = { .addr_state = 4, .have_uid = true, .uid = 999 };
	struct capture_host v6host = { .addr_state = 6 };
	struct capture_host none = { .addr_state = 0 };

	assert_int_equal(parse(&c, ARGV("-n"), no_env, &e), 0);
	assert_int_equal(capture_config_derive(&c, CAPTURE_FOR_IPTABLES, &v4host, no_env, &e), 0);
	assert_string_equal(c.uids.items[0], "999");
	assert_string_equal(c.gids.items[0], "999");
	assert_false(c.ipv6);
	capture_config_free(&c);

	/* No istio-proxy user: 1337. -u 3,4 without -g: gid list = uid list. */
	assert_int_equal(parse(&c, ARGV("-n"), no_env, &e), 0);
	assert_int_equal(capture_config_derive(&c, CAPTURE_FOR_IPTABLES, &v6host, no_env, &e), 0);
	assert_string_equal(c.uids.items[0], "1337");
	assert_true(c.ipv6);
	capture_config_free(&c);
	assert_int_equal(parse(&c, ARGV("-u", "3,4"), no_env, &e), 0);
	assert_int_equal(capture_config_derive(&c, CAPTURE_FOR_IPTABLES, &v4host, no_env, &e), 0);
	assert_int_equal(c.gids.n, 2);
	assert_string_equal(c.gids.items[1], "4");
	capture_config_free(&c);

	/* No address: Istio panics (exit 2); --ipv6 overrides the detection. */
	assert_int_equal(parse(&c, ARGV("-u", "1"), no_env, &e), 0);
	assert_true(capture_config_derive(&c, CAPTURE_FOR_IPTABLES, &none, no_env, &e) < 0);
	assert_int_equal(e.exit_code, 2);
	capture_config_free(&c);
	assert_int_equal(parse(&c, ARGV("-u", "1", "--ipv6=true"), no_env, &e), 0);
	assert_int_equal(capture_config_derive(&c, CAPTURE_FOR_IPTABLES, &none, no_env, &e), 0);
	assert_true(c.ipv6);
	capture_config_free(&c);
	assert_int_equal(parse(&c, ARGV("-u", "1", "--ipv6=false"), no_env, &e), 0);
	assert_int_equal(capture_config_derive(&c, CAPTURE_FOR_IPTABLES, &v6host, no_env, &e), 0);
	assert_false(c.ipv6);
	capture_config_free(&c);
}

static void derive_dns_servers(void **state)
{
	(void)state;
	char path[] = "/tmp/skiff-test-resolv-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "# comment nameserver 9.9.9.9\nsearch x\nnameserver 127.0.0.53\n"
			   "nameserver\t::127.0.0.53 trailing\nnameserver fe80::1%eth0\n"
			   "nameserver ::ffff:10.0.0.1\n  nameserver 1.1.1.1\nnameservers 2.2.2.2\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	char rc[64];
	snprintf(rc, sizeof(rc), "--resolv-conf=%s", path);
	struct capture_config c;
	struct skiff_err e;
	struct capture_host h = { .addr_state = 4 };
	assert_int_equal(parse(&c, ARGV("--redirect-dns", rc), no_env, &e), 0);
	assert_int_equal(capture_config_derive(&c, CAPTURE_FOR_IPTABLES, &h, no_env, &e), 0);
	assert_int_equal(c.dns_v4.n, 3);
	assert_string_equal(c.dns_v4.items[0], "127.0.0.53");
	assert_string_equal(c.dns_v4.items[1], "10.0.0.1");
	assert_string_equal(c.dns_v4.items[2], "1.1.1.1");
	assert_int_equal(c.dns_v6.n, 1);
	assert_string_equal(c.dns_v6.items[0], "::127.0.0.53");
	capture_config_free(&c);
	/* capture-all: resolv.conf not read (a missing file is fine). */
	assert_int_equal(parse(&c, ARGV("--redirect-dns", "--capture-all-dns", "--resolv-conf=/nonexistent"), no_env, &e), 0);
	assert_int_equal(capture_config_derive(&c, CAPTURE_FOR_IPTABLES, &h, no_env, &e), 0);
	capture_config_free(&c);
	/* Needed and unreadable: exit 2 (Istio panics). */
	assert_int_equal(parse(&c, ARGV("--redirect-dns", "--resolv-conf=/nonexistent"), no_env, &e), 0);
	assert_true(capture_config_derive(&c, CAPTURE_FOR_IPTABLES, &h, no_env, &e) < 0);
	assert_int_equal(e.exit_code, 2);
	assert_non_null(strstr(e.msg, "/nonexistent"));
	capture_config_free(&c);
	unlink(path);
}

static void help_mentions_every_flag(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	capture_config_usage(CAPTURE_FOR_IPTABLES, "istio-iptables", f);
	fclose(f);
	const struct capture_opt_def *t = capture_opt_table();
	for (int o = 0; o < OPT__MAX; o++) {
		char want[80];
		snprintf(want, sizeof(want), "--%s", t[o].long_name);
		if (!strstr(buf, want))
			fail_msg("--help lacks %s", want);
		if (t[o].env && !strstr(buf, t[o].env))
			fail_msg("--help lacks %s", t[o].env);
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults),
		cmocka_unit_test(flag_syntaxes),
		cmocka_unit_test(usage_errors),
		cmocka_unit_test(precedence),
		cmocka_unit_test(dns_and_invalid_drop_defaults),
		cmocka_unit_test(lists),
		cmocka_unit_test(port_validation),
		cmocka_unit_test(other_validation),
		cmocka_unit_test(derive_uid_gid_ipv6),
		cmocka_unit_test(derive_dns_servers),
		cmocka_unit_test(help_mentions_every_flag),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

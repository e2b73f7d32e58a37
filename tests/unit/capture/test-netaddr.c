/* test-netaddr.c - strict IP/CIDR parsing and Go-style canonical printing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <sys/socket.h>

#include "base/netaddr.h"

static void check_cidr(const char *in, const char *want, int family, int loop)
{
	struct netaddr_cidr c;
	char buf[NETADDR_STR_MAX];
	assert_int_equal(netaddr_parse_cidr(in, &c), 0);
	netaddr_cidr_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, want);
	assert_int_equal(c.family, family);
	assert_int_equal(c.loopback, loop);
}

static void cidr_canonical_forms(void **state)
{
	(void)state;
	check_cidr("10.0.0.0/8", "10.0.0.0/8", AF_INET, 0);
	check_cidr("10.1.2.3/8", "10.0.0.0/8", AF_INET, 0);
	check_cidr("192.168.7.255/23", "192.168.6.0/23", AF_INET, 0);
	check_cidr("0.0.0.0/0", "0.0.0.0/0", AF_INET, 0);
	check_cidr("127.1.2.3/32", "127.1.2.3/32", AF_INET, 1);
	check_cidr("127.0.0.1/08", "127.0.0.0/8", AF_INET, 1); /* leading zero in prefix is fine */
	check_cidr("2001:DB8::1/32", "2001:db8::/32", AF_INET6, 0);
	check_cidr("2001:db8:0:0:1:0:0:1/128", "2001:db8::1:0:0:1/128", AF_INET6, 0);
	check_cidr("2001:db8:0:1:1:1:1:1/128", "2001:db8:0:1:1:1:1:1/128", AF_INET6, 0);
	check_cidr("::1/128", "::1/128", AF_INET6, 1);
	check_cidr("::/0", "::/0", AF_INET6, 0);
	check_cidr("fe80::1:2/64", "fe80::/64", AF_INET6, 0);
	check_cidr("::127.0.0.53/128", "::7f00:35/128", AF_INET6, 0);
	/* IPv4-mapped with prefix >= 96 is an IPv4 network. */
	check_cidr("::ffff:10.1.0.0/104", "10.0.0.0/8", AF_INET, 0);
	check_cidr("::ffff:127.0.0.1/128", "127.0.0.1/32", AF_INET, 1);
}

static void cidr_rejects(void **state)
{
	(void)state;
	struct netaddr_cidr c;
	static const char *const bad[] = {
		"10.0.0.0", "10.0.0.0/", "/8", "010.0.0.0/8", "10.0.0/8", "10.0.0.0.0/8",
		"256.0.0.0/8", " 10.0.0.0/8", "10.0.0.0/8 ", "10.0.0.0/+8", "10.0.0.0/-1",
		"fe80::1%eth0/64", "2001:db8::g/32", "1:2:3:4:5:6:7:8:9/64", "*", "",
		"::ffff:1.2.3.04/128", "10.0.0.0/8x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(netaddr_parse_cidr(bad[i], &c), -EINVAL);
	assert_int_equal(netaddr_parse_cidr("10.0.0.0/33", &c), -ERANGE);
	assert_int_equal(netaddr_parse_cidr("::/129", &c), -ERANGE);
	assert_int_equal(netaddr_parse_cidr("10.0.0.0/99999999999", &c), -ERANGE);
}

static void ip_parsing(void **state)
{
	(void)state;
	uint8_t a[16];
	int fam;
	assert_int_equal(netaddr_parse_ip("127.0.0.53", &fam, a), 0);
	assert_int_equal(fam, AF_INET);
	assert_int_equal(a[3], 53);
	assert_int_equal(netaddr_parse_ip("::ffff:1.2.3.4", &fam, a), 0);
	assert_int_equal(fam, AF_INET);
	assert_int_equal(a[0], 1);
	assert_int_equal(netaddr_parse_ip("::127.0.0.53", &fam, a), 0);
	assert_int_equal(fam, AF_INET6);
	assert_int_equal(netaddr_parse_ip("fe80::1%eth0", &fam, a), -EINVAL);
	assert_int_equal(netaddr_parse_ip("1.2.3", &fam, a), -EINVAL);
	assert_int_equal(netaddr_parse_ip4("1.2.3.4", a), 0);
	assert_int_equal(netaddr_parse_ip4("01.2.3.4", a), -EINVAL);
	assert_int_equal(netaddr_parse_ip4("1.2.3.4.", a), -EINVAL);
	assert_int_equal(netaddr_parse_ip4("1..3.4", a), -EINVAL);
	assert_int_equal(netaddr_parse_ip4("1.2.3.1000", a), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cidr_canonical_forms),
		cmocka_unit_test(cidr_rejects),
		cmocka_unit_test(ip_parsing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

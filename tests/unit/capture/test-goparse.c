/* test-goparse.c - Go duration and base-prefixed unsigned integer syntax. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>

#include "base/goparse.h"

static void durations(void **state)
{
	(void)state;
	int64_t ns = -1;
	assert_int_equal(parse_go_duration("5s", &ns), 0);
	assert_int_equal(ns, 5000000000LL);
	assert_int_equal(parse_go_duration("1.5s", &ns), 0);
	assert_int_equal(ns, 1500000000LL);
	assert_int_equal(parse_go_duration("1m30s", &ns), 0);
	assert_int_equal(ns, 90000000000LL);
	assert_int_equal(parse_go_duration("300ms", &ns), 0);
	assert_int_equal(ns, 300000000LL);
	assert_int_equal(parse_go_duration("2h45m", &ns), 0);
	assert_int_equal(ns, (2 * 3600 + 45 * 60) * 1000000000LL);
	assert_int_equal(parse_go_duration("10us", &ns), 0);
	assert_int_equal(ns, 10000);
	assert_int_equal(parse_go_duration("10\xc2\xb5s", &ns), 0);
	assert_int_equal(ns, 10000);
	assert_int_equal(parse_go_duration("7ns", &ns), 0);
	assert_int_equal(ns, 7);
	assert_int_equal(parse_go_duration("0", &ns), 0);
	assert_int_equal(ns, 0);
	assert_int_equal(parse_go_duration(".5s", &ns), 0);
	assert_int_equal(ns, 500000000);
	assert_int_equal(parse_go_duration("-1s", &ns), 0);
	assert_int_equal(ns, -1000000000LL);
}

static void duration_errors(void **state)
{
	(void)state;
	int64_t ns = 42;
	static const char *const bad[] = { "", "5", "s", "5x", "1.5", "5 s", " 5s", "5s ", ".s", "-", "1s2" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_go_duration(bad[i], &ns), -EINVAL);
	assert_int_equal(parse_go_duration("9999999999h", &ns), -ERANGE);
	assert_int_equal(parse_go_duration("99999999999999999999s", &ns), -ERANGE);
	assert_int_equal(ns, 42);
}

static void uints(void **state)
{
	(void)state;
	uint64_t v = 0;
	assert_int_equal(parse_go_uint("15002", 65535, &v), 0);
	assert_int_equal(v, 15002);
	assert_int_equal(parse_go_uint("0x3a9a", 65535, &v), 0);
	assert_int_equal(v, 15002);
	assert_int_equal(parse_go_uint("0o35232", 65535, &v), 0);
	assert_int_equal(v, 15002);
	assert_int_equal(parse_go_uint("035232", 65535, &v), 0);
	assert_int_equal(v, 15002);
	assert_int_equal(parse_go_uint("0b11", 65535, &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(parse_go_uint("0x_ff", 65535, &v), 0);
	assert_int_equal(v, 255);
	assert_int_equal(parse_go_uint("0", 65535, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_go_uint("65536", 65535, &v), -ERANGE);
	assert_int_equal(parse_go_uint("99999999999999999999999", UINT64_MAX, &v), -ERANGE);
	assert_int_equal(parse_go_uint("", 65535, &v), -EINVAL);
	assert_int_equal(parse_go_uint("08", 65535, &v), -EINVAL);
	assert_int_equal(parse_go_uint("0x", 65535, &v), -EINVAL);
	assert_int_equal(parse_go_uint("1_000", 65535, &v), -EINVAL);
	assert_int_equal(parse_go_uint("-1", 65535, &v), -EINVAL);
	assert_int_equal(parse_go_uint("12a", 65535, &v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(durations),
		cmocka_unit_test(duration_errors),
		cmocka_unit_test(uints),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test-parse.c - strict integers, ports and Go booleans. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>

#include "base/parse.h"

static void int64_accepts_exact_decimals(void **state)
{
	(void)state;
	int64_t v = 0;
	assert_int_equal(parse_int64("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(parse_int64("-3", -5, 5, &v), 0);
	assert_int_equal(v, -3);
}

static void int64_rejects_junk_and_range(void **state)
{
	(void)state;
	int64_t v = 7;
	assert_int_equal(parse_int64("", 0, 10, &v), -EINVAL);
	assert_int_equal(parse_int64(" 1", 0, 10, &v), -EINVAL);
	assert_int_equal(parse_int64("1 ", 0, 10, &v), -EINVAL);
	assert_int_equal(parse_int64("0x10", 0, 100, &v), -EINVAL);
	assert_int_equal(parse_int64("11", 0, 10, &v), -ERANGE);
	assert_int_equal(parse_int64("99999999999999999999", 0, 10, &v), -ERANGE);
	assert_int_equal(v, 7);
}

static void port_range(void **state)
{
	(void)state;
	uint16_t p = 0;
	assert_int_equal(parse_port("22", &p), 0);
	assert_int_equal(p, 22);
	assert_int_equal(parse_port("65535", &p), 0);
	assert_int_equal(parse_port("0", &p), -ERANGE);
	assert_int_equal(parse_port("70000", &p), -ERANGE);
	assert_int_equal(parse_port("ssh", &p), -EINVAL);
}

static void go_bool_token_set(void **state)
{
	(void)state;
	const char *yes[] = { "1", "t", "T", "true", "TRUE", "True" };
	const char *no[] = { "0", "f", "F", "false", "FALSE", "False" };
	bool b;
	for (size_t i = 0; i < 6; i++) {
		b = false;
		assert_int_equal(parse_bool_go(yes[i], &b), 0);
		assert_true(b);
		b = true;
		assert_int_equal(parse_bool_go(no[i], &b), 0);
		assert_false(b);
	}
	assert_int_equal(parse_bool_go("yes", &b), -EINVAL);
	assert_int_equal(parse_bool_go("tRue", &b), -EINVAL);
	assert_int_equal(parse_bool_go("", &b), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(int64_accepts_exact_decimals),
		cmocka_unit_test(int64_rejects_junk_and_range),
		cmocka_unit_test(port_range),
		cmocka_unit_test(go_bool_token_set),
	};
	return cmocka_run_group_tests_name("base/parse", tests, NULL, NULL);
}

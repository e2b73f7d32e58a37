/* test-err.c - the shared error type records, prefixes and clears. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "base/err.h"

static void set_returns_code_and_formats(void **state)
{
	(void)state;
	struct skiff_err e = { 0 };
	assert_int_equal(err_set(&e, SKIFF_EINVAL, "-d: port \"%s\" is out of range", "70000"),
			 SKIFF_EINVAL);
	assert_int_equal(e.code, SKIFF_EINVAL);
	assert_string_equal(e.msg, "-d: port \"70000\" is out of range");
}

static void set_on_null_only_returns(void **state)
{
	(void)state;
	assert_int_equal(err_set(NULL, -5, "x"), -5);
}

static void prefix_and_exit_code(void **state)
{
	(void)state;
	struct skiff_err e = { 0 };
	err_set_exit(&e, SKIFF_EINVAL, 2, "line %d: bad", 3);
	err_prefix(&e, "%s: ", "pod.yaml");
	assert_string_equal(e.msg, "pod.yaml: line 3: bad");
	assert_int_equal(e.exit_code, 2);
	err_clear(&e);
	assert_int_equal(e.code, 0);
	assert_string_equal(e.msg, "");
}

static void long_message_is_truncated_not_overflowed(void **state)
{
	(void)state;
	struct skiff_err e = { 0 };
	char big[4096];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	err_set(&e, -1, "%s", big);
	assert_int_equal(strlen(e.msg), SKIFF_ERR_MSG_MAX - 1);
	err_prefix(&e, "%s", "prefix: ");
	assert_int_equal(strlen(e.msg), SKIFF_ERR_MSG_MAX - 1);
	assert_memory_equal(e.msg, "prefix: aaa", 11);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(set_returns_code_and_formats),
		cmocka_unit_test(set_on_null_only_returns),
		cmocka_unit_test(prefix_and_exit_code),
		cmocka_unit_test(long_message_is_truncated_not_overflowed),
	};
	return cmocka_run_group_tests_name("base/err", tests, NULL, NULL);
}

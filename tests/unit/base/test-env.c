/* test-env.c - lookups in an explicit environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "base/env.h"

static void finds_exact_names_only(void **state)
{
	(void)state;
	char *envp[] = { "FOO=1", "FOOBAR=2", "EMPTY=", NULL };
	assert_string_equal(env_get(envp, "FOO"), "1");
	assert_string_equal(env_get(envp, "FOOBAR"), "2");
	assert_null(env_get(envp, "FO"));
	assert_string_equal(env_get(envp, "EMPTY"), "");
	assert_null(env_get_nonempty(envp, "EMPTY"));
	assert_null(env_get(NULL, "FOO"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(finds_exact_names_only),
	};
	return cmocka_run_group_tests_name("base/env", tests, NULL, NULL);
}

/* test-strbuf.c - growth, formatting and ownership hand-off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/strbuf.h"

static void empty_is_empty_string(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	assert_string_equal(strbuf_str(&sb), "");
	char *s = strbuf_steal(&sb);
	assert_string_equal(s, "");
	free(s);
}

static void grows_past_initial_capacity(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < 1000; i++)
		strbuf_printf(&sb, "%d,", i % 10);
	assert_int_equal(sb.len, 2000);
	assert_false(strbuf_failed(&sb));
	assert_memory_equal(strbuf_str(&sb), "0,1,2,", 6);
	strbuf_free(&sb);
}

static void append_binary_and_reset(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	strbuf_append(&sb, "a\0b", 3);
	assert_int_equal(sb.len, 3);
	strbuf_putc(&sb, 'c');
	assert_memory_equal(sb.buf, "a\0bc", 5);
	strbuf_reset(&sb);
	assert_int_equal(sb.len, 0);
	strbuf_puts(&sb, "x");
	assert_string_equal(strbuf_str(&sb), "x");
	strbuf_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_is_empty_string),
		cmocka_unit_test(grows_past_initial_capacity),
		cmocka_unit_test(append_binary_and_reset),
	};
	return cmocka_run_group_tests_name("base/strbuf", tests, NULL, NULL);
}

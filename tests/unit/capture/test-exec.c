/* test-exec.c - running commands: stdin fed, stdout/stderr collected, exit
 * status and start failures reported (real processes: /bin/sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/exec.h"

static void feeds_stdin_and_collects_output(void **state)
{
	(void)state;
	const char *argv[] = { "/bin/sh", "-c", "tr a-z A-Z; echo oops >&2; exit 3", NULL };
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	int r = capture_exec_run(NULL, argv, "hello\n", 6, &out, &err);
	assert_int_equal(r, 3);
	assert_string_equal(strbuf_str(&out), "HELLO\n");
	assert_string_equal(strbuf_str(&err), "oops\n");
	strbuf_free(&out);
	strbuf_free(&err);
}

static void large_input_and_output_do_not_deadlock(void **state)
{
	(void)state;
	size_t n = 1 << 20; /* far beyond a pipe buffer, both ways */
	char *big = malloc(n);
	assert_non_null(big);
	memset(big, 'x', n);
	const char *argv[] = { "/bin/cat", NULL };
	struct strbuf out = STRBUF_INIT;
	assert_int_equal(capture_exec_run(NULL, argv, big, n, &out, NULL), 0);
	assert_int_equal(out.len, n);
	free(big);
	strbuf_free(&out);
}

static void missing_program(void **state)
{
	(void)state;
	const char *argv[] = { "skiff-no-such-program-xyz", NULL };
	assert_int_equal(capture_exec_run(NULL, argv, NULL, 0, NULL, NULL), -ENOENT);
}

static void xtables_lock_is_retried(void **state)
{
	(void)state;
	/* Fails with the lock message twice, then succeeds (state in a file). */
	char dir[] = "/tmp/skiff-test-exec-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char script[512];
	snprintf(script, sizeof(script),
		 "n=$(cat %s/n 2>/dev/null || echo 0); echo $((n+1)) > %s/n; "
		 "if [ $n -lt 2 ]; then echo 'Another app is currently holding the xtables lock.' >&2; exit 4; fi; "
		 "echo done",
		 dir, dir);
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct strbuf out = STRBUF_INIT, err = STRBUF_INIT;
	assert_int_equal(capture_exec_run(NULL, argv, NULL, 0, &out, &err), 0);
	assert_string_equal(strbuf_str(&out), "done\n");
	assert_int_equal(err.len, 0); /* only the final attempt's stderr */
	strbuf_free(&out);
	strbuf_free(&err);
	char cleanup[600];
	snprintf(cleanup, sizeof(cleanup), "rm -rf %s", dir);
	assert_int_equal(system(cleanup), 0);
}

static void format(void **state)
{
	(void)state;
	const char *argv[] = { "iptables", "-t", "nat", "-N", "ISTIO_INBOUND", NULL };
	struct strbuf sb = STRBUF_INIT;
	capture_exec_format(argv, &sb);
	assert_string_equal(strbuf_str(&sb), "iptables -t nat -N ISTIO_INBOUND");
	strbuf_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(feeds_stdin_and_collects_output),
		cmocka_unit_test(large_input_and_output_do_not_deadlock),
		cmocka_unit_test(missing_program),
		cmocka_unit_test(xtables_lock_is_retried),
		cmocka_unit_test(format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

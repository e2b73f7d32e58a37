/* test-fileio.c - whole-file reads and atomic writes, on a real temp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fileio.h"

static char dir[] = "/tmp/skiff-test-fileio-XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_then_read_back(void **state)
{
	(void)state;
	char path[256];
	snprintf(path, sizeof(path), "%s/out.txt", dir);
	struct skiff_err e = { 0 };
	assert_int_equal(file_write_atomic(path, "hello\n", 6, "-o", &e), 0);
	char *buf = NULL;
	size_t len = 0;
	assert_int_equal(file_read_all(path, 1024, "-f", &buf, &len, &e), 0);
	assert_int_equal(len, 6);
	assert_string_equal(buf, "hello\n");
	free(buf);
	/* No temporary file is left next to the target. */
	DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *de; (de = readdir(d));)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	assert_int_equal(n, 1);
}

static void read_missing_names_flag_and_path(void **state)
{
	(void)state;
	struct skiff_err e = { 0 };
	char *buf = NULL;
	assert_true(file_read_all("/nonexistent/x.yaml", 1024, "-f", &buf, NULL, &e) < 0);
	assert_non_null(strstr(e.msg, "-f: cannot open /nonexistent/x.yaml"));
	assert_null(buf);
}

static void read_refuses_oversized(void **state)
{
	(void)state;
	char path[256];
	snprintf(path, sizeof(path), "%s/big.txt", dir);
	struct skiff_err e = { 0 };
	char data[10000];
	memset(data, 'x', sizeof(data));
	assert_int_equal(file_write_atomic(path, data, sizeof(data), "-o", &e), 0);
	char *buf = NULL;
	assert_true(file_read_all(path, 5000, "-f", &buf, NULL, &e) < 0);
	assert_non_null(strstr(e.msg, "larger than 5000 bytes"));
}

static void write_into_missing_dir_fails_cleanly(void **state)
{
	(void)state;
	struct skiff_err e = { 0 };
	assert_true(file_write_atomic("/nonexistent-dir/out", "x", 1, "-o", &e) < 0);
	assert_non_null(strstr(e.msg, "-o: cannot create /nonexistent-dir/out"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(write_then_read_back),
		cmocka_unit_test(read_missing_names_flag_and_path),
		cmocka_unit_test(read_refuses_oversized),
		cmocka_unit_test(write_into_missing_dir_fails_cleanly),
	};
	return cmocka_run_group_tests_name("base/fileio", tests, setup, teardown);
}

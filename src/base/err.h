/* err.h - the one error type skiff returns everywhere.
 *
 * A function that can fail returns int: 0 (or a positive count) on success,
 * a negative value on failure, and fills a struct skiff_err with a message a
 * person can act on: it names the bad value and where it came from (flag,
 * environment variable, JSON path, YAML line). Only the command-line edge
 * prints the message and picks the exit code. */
#ifndef SKIFF_BASE_ERR_H
#define SKIFF_BASE_ERR_H

#include <stdarg.h>

#define SKIFF_ERR_MSG_MAX 1024

struct skiff_err {
	int code;                     /* negative errno or SKIFF_E* below */
	int exit_code;                /* exit status the CLI should use, 0 = default 1 */
	char msg[SKIFF_ERR_MSG_MAX];  /* empty when no error was recorded */
};

enum {
	SKIFF_EINVAL = -22,  /* bad input: a value, a flag, a field */
	SKIFF_ENOMEM = -12,
	SKIFF_EIO = -5,
};

/* Record an error and return `code` (negative), so callers can write
 * `return err_set(e, SKIFF_EINVAL, "-d: port \"%s\" ...", s);`.
 * `e` may be NULL; the message is then dropped. */
int err_set(struct skiff_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like err_set, and also choose the process exit status for the CLI. */
int err_set_exit(struct skiff_err *e, int code, int exit_code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Prefix an already-recorded message with more context ("file.yaml: ...").
 * Returns e->code. */
int err_prefix(struct skiff_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Reset to "no error". */
void err_clear(struct skiff_err *e);

#endif

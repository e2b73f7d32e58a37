/* err.c - recording and prefixing error messages (see err.h). */
#include "base/err.h"

#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 4, 0)))
static int err_vset(struct skiff_err *e, int code, int exit_code, const char *fmt, va_list ap)
{
	if (!e)
		return code;
	e->code = code;
	e->exit_code = exit_code;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	return code;
}

int err_set(struct skiff_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = err_vset(e, code, 0, fmt, ap);
	va_end(ap);
	return r;
}

int err_set_exit(struct skiff_err *e, int code, int exit_code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = err_vset(e, code, exit_code, fmt, ap);
	va_end(ap);
	return r;
}

int err_prefix(struct skiff_err *e, const char *fmt, ...)
{
	if (!e)
		return 0;
	char prefix[SKIFF_ERR_MSG_MAX];
	char old[SKIFF_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	snprintf(e->msg, sizeof(e->msg), "%s%s", prefix, old);
	return e->code;
}

void err_clear(struct skiff_err *e)
{
	if (!e)
		return;
	e->code = 0;
	e->exit_code = 0;
	e->msg[0] = '\0';
}

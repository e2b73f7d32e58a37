/* goparse.h - the Go standard library's number syntaxes that Istio's flags
 * inherit: time.ParseDuration and strconv.ParseUint with base 0. */
#ifndef SKIFF_BASE_GOPARSE_H
#define SKIFF_BASE_GOPARSE_H

#include <stdint.h>

/* Go duration ("5s", "1.5s", "1m30s", "300ms", "0") into nanoseconds.
 * Returns 0, -EINVAL (syntax) or -ERANGE (does not fit in int64). */
int parse_go_duration(const char *s, int64_t *out_ns);

/* Unsigned integer with Go base prefixes: 0x/0X hex, 0o/0O or leading 0
 * octal, 0b/0B binary, else decimal; '_' digit separators allowed after a
 * prefix as in Go. Returns 0, -EINVAL or -ERANGE (> max). */
int parse_go_uint(const char *s, uint64_t max, uint64_t *out);

#endif

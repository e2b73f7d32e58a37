/* parse.h - strict scalar parsing shared by every parser of outside input.
 *
 * All functions take the whole string (no leading/trailing junk, no
 * whitespace), check ranges, and never touch *out on failure. */
#ifndef SKIFF_BASE_PARSE_H
#define SKIFF_BASE_PARSE_H

#include <stdbool.h>
#include <stdint.h>

/* Decimal integer in [min, max]. Returns 0, or -EINVAL (syntax) / -ERANGE. */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);

/* A TCP/UDP port, decimal, 1-65535. Returns 0 or a negative errno. */
int parse_port(const char *s, uint16_t *out);

/* Go's strconv.ParseBool token set: 1 t T true TRUE True / 0 f F false
 * FALSE False. Returns 0 and sets *out, or -EINVAL for anything else. */
int parse_bool_go(const char *s, bool *out);

#endif

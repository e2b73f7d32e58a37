/* strbuf.h - a growable, always NUL-terminated byte buffer.
 *
 * Zero-initialise (`struct strbuf sb = {0};`) or STRBUF_INIT. On allocation
 * failure the buffer is marked failed, later appends are no-ops, and
 * strbuf_failed() reports it once at the end: callers check one place. */
#ifndef SKIFF_BASE_STRBUF_H
#define SKIFF_BASE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *buf;   /* NULL until the first append; then NUL-terminated */
	size_t len;
	size_t cap;
	bool failed; /* an allocation failed; contents are incomplete */
};

#define STRBUF_INIT { 0 }

void strbuf_append(struct strbuf *sb, const char *s, size_t n);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_putc(struct strbuf *sb, char c);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_reset(struct strbuf *sb);        /* keep memory, length 0 */
bool strbuf_failed(const struct strbuf *sb);
/* The contents ("" when empty); valid until the next append. */
const char *strbuf_str(const struct strbuf *sb);
/* Hand the heap string to the caller (who frees it); the buffer is emptied.
 * Returns NULL if an allocation failed. */
char *strbuf_steal(struct strbuf *sb);
void strbuf_free(struct strbuf *sb);

#endif

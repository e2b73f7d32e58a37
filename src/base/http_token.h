/* http_token.h - HTTP header values that are comma-separated token lists
 * (Connection, Transfer-Encoding), shared by the status server's request
 * parser and the probers' response parser. */
#ifndef SKIFF_BASE_HTTP_TOKEN_H
#define SKIFF_BASE_HTTP_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

/* True when the N-byte header value V lists TOKEN (case-insensitive, with
 * optional white space around each comma-separated element). */
bool http_token_list_has(const char *v, size_t n, const char *token);

#endif

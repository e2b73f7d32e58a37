/* jsonpatch.h - RFC 6902 JSON Patch: the diff the admission webhook sends
 * (original pod -> injected pod) and an applier used to check it.
 *
 * The diff is always correct rather than minimal for arrays: elements are
 * compared index by index (the common prefix recursively), surplus elements
 * are removed from the end backwards, new ones appended in order. Objects are
 * compared member by member: members of `to` in its order (added or
 * recursed into), then members of `from` missing in `to` (removed). A value
 * whose JSON type changes is replaced. JSON-pointer tokens are escaped per
 * RFC 6901 ("~" -> "~0", "/" -> "~1"). */
#ifndef SKIFF_INJECT_JSONPATCH_H
#define SKIFF_INJECT_JSONPATCH_H

#include <stddef.h>

#include <jansson.h>

#include "base/err.h"
#include "base/strbuf.h"

/* The operations that turn `from` into `to`, as a new JSON array the caller
 * releases with json_decref(). An empty array when the two are equal. */
int jsonpatch_diff(const json_t *from, const json_t *to, json_t **out, struct skiff_err *e);

/* The same operations written as compact JSON text (the array) appended to
 * `out`, without building them as values first (the webhook's hot path);
 * *n_ops is how many. On failure `out` is as it was. */
int jsonpatch_diff_text(const json_t *from, const json_t *to, struct strbuf *out, size_t *n_ops,
			struct skiff_err *e);

/* Append S (n bytes) as a JSON string: quotes, backslashes and control
 * characters escaped as jansson escapes them, UTF-8 kept, each byte that
 * is not part of valid UTF-8 written as \ufffd. */
void jsonpatch_json_string(struct strbuf *sb, const char *s, size_t n);

/* Append "/" and the RFC 6901 escaped form of the token (n bytes). */
void jsonpatch_pointer_push(struct strbuf *sb, const char *token, size_t n);

/* Apply `patch` (an array of RFC 6902 operations: add, remove, replace,
 * move, copy, test) to a deep copy of `doc`; on success *out is the result
 * (caller decrefs). Nothing is changed on failure; the message names the
 * operation index and path. */
int jsonpatch_apply(const json_t *doc, const json_t *patch, json_t **out, struct skiff_err *e);

#endif

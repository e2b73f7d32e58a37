/* manifest.h - Kubernetes manifests: YAML or JSON, one or many documents.
 *
 * Owner of the manifest format (ARCHITECTURE.md). A manifest is parsed into a
 * list of documents; each document is a JSON value (jansson, insertion order
 * kept, so the field order of the input survives) plus where it came from in
 * the input (index, line, source text) so that documents that are not changed
 * can be written back byte for byte.
 *
 * Scalars follow what Kubernetes' YAML decoder gives: quoted and block
 * scalars are strings; plain scalars are null, booleans, integers and floats
 * when they read as such (YAML 1.2 core schema, plus 0x/0o integers), else
 * strings. An explicit !!str tag keeps a plain scalar a string. Anchors and
 * aliases are resolved (the alias shares the anchored value).
 *
 * manifest_emit_yaml() writes a value in the style Kubernetes' YAML writer
 * (sigs.k8s.io/yaml over go-yaml v2) uses: block style, two-space indent,
 * sequences inside mappings not indented, strings quoted only when a plain
 * scalar would not read back as the same string, multi-line strings as
 * literal blocks. */
#ifndef SKIFF_KUBE_MANIFEST_H
#define SKIFF_KUBE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/err.h"
#include "base/strbuf.h"

struct manifest_doc {
	json_t *root;        /* NULL for an empty document (only comments, or nothing) */
	size_t index;        /* 0-based position in the stream */
	int line;            /* 1-based line where the document's content starts */
	const char *src;     /* the content's text inside manifest.text (NULL if not copyable) */
	size_t src_len;
};

struct manifest {
	char *text;                /* the whole input (owned unless borrowed) */
	size_t text_len;
	bool borrowed;             /* text is the caller's (manifest_parse_each) */
	struct manifest_doc *docs;
	size_t n_docs;
};

/* Parse TEXT (LEN bytes; copied). NAME names the input in error messages
 * ("deploy.yaml", "-" is shown as "<stdin>"). Errors name the file, the
 * 0-based document index and the line: "deploy.yaml: document 2, line 7: ...".
 * Depth of nesting is limited (MANIFEST_MAX_DEPTH). */
#define MANIFEST_MAX_DEPTH 128
int manifest_parse(const char *name, const char *text, size_t len, struct manifest *m,
		   struct skiff_err *e);
void manifest_free(struct manifest *m);

/* Streaming form: call CB for each document as soon as it is complete (the
 * document and its root are freed after CB returns; a negative return stops
 * the parse and is returned, CB having filled E). Memory stays bounded by
 * the input plus one document. */
int manifest_parse_each(const char *name, const char *text, size_t len,
			int (*cb)(struct manifest_doc *doc, void *ctx), void *ctx,
			struct skiff_err *e);

/* The value of a single-quoted YAML scalar given its text between the
 * quotes (N bytes): '' unescaped, line breaks folded. Heap string. */
char *manifest_single_quoted(const char *src, size_t n, size_t *out_len);

/* Append V as one YAML document body (no "---") to OUT. */
void manifest_emit_yaml(const json_t *v, struct strbuf *out);

/* Would S, written as a plain YAML scalar, read back as the string S? */
bool manifest_plain_ok(const char *s, size_t len);

/* Object helpers that keep the insertion order meaningful. */
/* Set KEY to V (stolen) in OBJ; when KEY is new, place it just before the
 * first existing key of BEFORE (a NULL-terminated list), else at the end.
 * Returns 0 or -ENOMEM. */
int manifest_obj_insert_before(json_t *obj, const char *key, json_t *v,
			       const char *const *before);

#endif

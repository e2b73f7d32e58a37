/* jsonpatch.c - RFC 6902 diff and apply (see jsonpatch.h).
 *
 * The diff walks both trees once, keeping the JSON pointer of the current
 * position in a strbuf that grows and shrinks with the recursion. The
 * applier exists so tests and the fuzz harness can check a diff against its
 * definition: apply(from, diff(from, to)) == to. */
#include "inject/jsonpatch.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/cleanup.h"

void jsonpatch_pointer_push(struct strbuf *sb, const char *token, size_t n)
{
	strbuf_putc(sb, '/');
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		if (token[i] != '~' && token[i] != '/')
			continue;
		strbuf_append(sb, token + start, i - start);
		strbuf_puts(sb, token[i] == '~' ? "~0" : "~1");
		start = i + 1;
	}
	strbuf_append(sb, token + start, n - start);
}

void jsonpatch_json_string(struct strbuf *sb, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	strbuf_putc(sb, '"');
	size_t start = 0;
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		size_t len = 1;
		bool ok = true;
		if (c >= 0x80) {
			/* validate one UTF-8 sequence (no overlongs, no surrogates) */
			uint32_t cp;
			size_t need;
			if (c >= 0xc2 && c <= 0xdf) { need = 1; cp = c & 0x1f; }
			else if (c >= 0xe0 && c <= 0xef) { need = 2; cp = c & 0x0f; }
			else if (c >= 0xf0 && c <= 0xf4) { need = 3; cp = c & 0x07; }
			else { need = 0; cp = 0; ok = false; }
			for (size_t k = 1; ok && k <= need; k++) {
				if (i + k >= n || (p[i + k] & 0xc0) != 0x80)
					ok = false;
				else
					cp = cp << 6 | (p[i + k] & 0x3f);
			}
			if (ok && ((need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
				   (need == 3 && (cp < 0x10000 || cp > 0x10ffff))))
				ok = false;
			len = ok ? need + 1 : 1;
		}
		if (ok && c >= 0x20 && c != '"' && c != '\\') {
			i += len;
			continue;
		}
		strbuf_append(sb, s + start, i - start);
		if (!ok)
			strbuf_puts(sb, "\\ufffd");
		else if (c == '"' || c == '\\') {
			strbuf_putc(sb, '\\');
			strbuf_putc(sb, (char)c);
		} else if (c == '\n')
			strbuf_puts(sb, "\\n");
		else if (c == '\r')
			strbuf_puts(sb, "\\r");
		else if (c == '\t')
			strbuf_puts(sb, "\\t");
		else if (c == '\b')
			strbuf_puts(sb, "\\b");
		else if (c == '\f')
			strbuf_puts(sb, "\\f");
		else {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			strbuf_append(sb, u, sizeof(u));
		}
		i += len;
		start = i;
	}
	strbuf_append(sb, s + start, n - start);
	strbuf_putc(sb, '"');
}

/* Where the diff sends each operation: a JSON array, or patch text. */
struct sink {
	int (*op)(struct sink *k, const char *op, const struct strbuf *path, const json_t *value);
	json_t *ops;          /* array sink */
	struct strbuf *text;  /* text sink */
	size_t count;
};

static int sink_array(struct sink *k, const char *op, const struct strbuf *path, const json_t *value)
{
	json_t *o = json_object();
	if (!o)
		return -ENOMEM;
	int r = json_object_set_new(o, "op", json_string(op));
	r |= json_object_set_new(o, "path", json_stringn(strbuf_str(path), path->len));
	if (value)
		r |= json_object_set_new(o, "value", json_deep_copy(value));
	if (r != 0 || json_array_append_new(k->ops, o) != 0) {
		if (r != 0)
			json_decref(o);
		return -ENOMEM;
	}
	k->count++;
	return 0;
}

static int dump_to_strbuf(const char *buf, size_t n, void *data)
{
	struct strbuf *sb = data;
	strbuf_append(sb, buf, n);
	return strbuf_failed(sb) ? -1 : 0;
}

static int sink_text(struct sink *k, const char *op, const struct strbuf *path, const json_t *value)
{
	struct strbuf *sb = k->text;
	strbuf_puts(sb, k->count ? ",{\"op\":\"" : "{\"op\":\"");
	strbuf_puts(sb, op);
	strbuf_puts(sb, "\",\"path\":");
	jsonpatch_json_string(sb, strbuf_str(path), path->len);
	if (value) {
		strbuf_puts(sb, ",\"value\":");
		if (json_dump_callback(value, dump_to_strbuf, sb, JSON_COMPACT | JSON_ENCODE_ANY) != 0)
			return -ENOMEM;
	}
	strbuf_putc(sb, '}');
	k->count++;
	return strbuf_failed(sb) ? -ENOMEM : 0;
}

static int diff_value(const json_t *a, const json_t *b, struct strbuf *path, struct sink *k);

static int diff_object(const json_t *a, const json_t *b, struct strbuf *path, struct sink *k)
{
	size_t base = path->len;
	const char *key;
	size_t klen;
	json_t *bv;
	int r;

	json_object_keylen_foreach((json_t *)b, key, klen, bv) {
		jsonpatch_pointer_push(path, key, klen);
		const json_t *av = json_object_getn(a, key, klen);
		r = av ? diff_value(av, bv, path, k) : k->op(k, "add", path, bv);
		path->len = base;
		if (r < 0)
			return r;
	}
	json_t *av;
	json_object_keylen_foreach((json_t *)a, key, klen, av) {
		if (json_object_getn(b, key, klen))
			continue;
		jsonpatch_pointer_push(path, key, klen);
		r = k->op(k, "remove", path, NULL);
		path->len = base;
		if (r < 0)
			return r;
	}
	return 0;
}

static int diff_array(const json_t *a, const json_t *b, struct strbuf *path, struct sink *k)
{
	size_t base = path->len;
	size_t na = json_array_size(a), nb = json_array_size(b);
	size_t n = na < nb ? na : nb;
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++) {
		strbuf_printf(path, "/%zu", i);
		r = diff_value(json_array_get(a, i), json_array_get(b, i), path, k);
		path->len = base;
	}
	for (size_t i = na; i > n && r == 0; i--) {
		strbuf_printf(path, "/%zu", i - 1);
		r = k->op(k, "remove", path, NULL);
		path->len = base;
	}
	for (size_t i = n; i < nb && r == 0; i++) {
		strbuf_printf(path, "/%zu", i);
		r = k->op(k, "add", path, json_array_get(b, i));
		path->len = base;
	}
	return r;
}

static int diff_value(const json_t *a, const json_t *b, struct strbuf *path, struct sink *k)
{
	if (json_equal(a, b))
		return 0;
	if (json_is_object(a) && json_is_object(b))
		return diff_object(a, b, path, k);
	if (json_is_array(a) && json_is_array(b))
		return diff_array(a, b, path, k);
	return k->op(k, "replace", path, b);
}

static int diff_run(const json_t *from, const json_t *to, struct sink *k, struct skiff_err *e)
{
	struct strbuf path = STRBUF_INIT;
	strbuf_puts(&path, "");
	int r = diff_value(from, to, &path, k);
	bool failed = strbuf_failed(&path);
	strbuf_free(&path);
	if (r < 0 || failed)
		return err_set(e, SKIFF_ENOMEM, "JSON patch: out of memory");
	return 0;
}

int jsonpatch_diff(const json_t *from, const json_t *to, json_t **out, struct skiff_err *e)
{
	struct sink k = { .op = sink_array, .ops = json_array() };
	if (!k.ops)
		return err_set(e, SKIFF_ENOMEM, "JSON patch: out of memory");
	int r = diff_run(from, to, &k, e);
	if (r < 0) {
		json_decref(k.ops);
		return r;
	}
	*out = k.ops;
	return 0;
}

int jsonpatch_diff_text(const json_t *from, const json_t *to, struct strbuf *out, size_t *n_ops,
			struct skiff_err *e)
{
	struct sink k = { .op = sink_text, .text = out };
	size_t start = out->len;
	strbuf_putc(out, '[');
	int r = diff_run(from, to, &k, e);
	strbuf_putc(out, ']');
	if (r == 0 && strbuf_failed(out))
		r = err_set(e, SKIFF_ENOMEM, "JSON patch: out of memory");
	if (r < 0) {
		out->len = start;
		return r;
	}
	*n_ops = k.count;
	return 0;
}

/* ---- applying ---- */

/* One reference token of a pointer, unescaped. */
struct token {
	char *s;
	size_t len;
};

/* Split off the next token of `p` (which starts with '/'); advances *p. */
static int token_next(const char **p, struct token *t)
{
	const char *s = *p + 1;
	const char *end = strchr(s, '/');
	size_t n = end ? (size_t)(end - s) : strlen(s);
	t->s = malloc(n + 1);
	if (!t->s)
		return -ENOMEM;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '~') {
			t->s[o++] = s[i];
			continue;
		}
		if (i + 1 >= n || (s[i + 1] != '0' && s[i + 1] != '1')) {
			free(t->s);
			t->s = NULL;
			return -EINVAL;
		}
		t->s[o++] = s[i + 1] == '0' ? '~' : '/';
		i++;
	}
	t->s[o] = '\0';
	t->len = o;
	*p = s + n;
	return 0;
}

/* An array index token: "0" or digits without a leading zero. */
static bool token_index(const struct token *t, size_t *out)
{
	if (t->len == 0 || t->len > 18 || (t->len > 1 && t->s[0] == '0'))
		return false;
	size_t v = 0;
	for (size_t i = 0; i < t->len; i++) {
		if (t->s[i] < '0' || t->s[i] > '9')
			return false;
		v = v * 10 + (size_t)(t->s[i] - '0');
	}
	*out = v;
	return true;
}

/* Child of `v` named by `t`, or NULL. */
static json_t *child(json_t *v, const struct token *t)
{
	size_t i;
	if (json_is_object(v))
		return json_object_getn(v, t->s, t->len);
	if (json_is_array(v) && token_index(t, &i))
		return json_array_get(v, i);
	return NULL;
}

/* Resolve `ptr` in `root`: *parent and *last (caller frees last.s) name the
 * final token; *parent is NULL for the root pointer "". */
static int resolve_parent(json_t *root, const char *ptr, json_t **parent, struct token *last)
{
	*parent = NULL;
	last->s = NULL;
	if (ptr[0] == '\0')
		return 0;
	if (ptr[0] != '/')
		return -EINVAL;
	json_t *cur = root;
	const char *p = ptr;
	for (;;) {
		struct token t;
		int r = token_next(&p, &t);
		if (r < 0)
			return r;
		if (*p == '\0') {
			*parent = cur;
			*last = t;
			return 0;
		}
		cur = child(cur, &t);
		free(t.s);
		if (!cur)
			return -ENOENT;
	}
}

static json_t *get_ptr(json_t *root, const char *ptr)
{
	json_t *parent;
	struct token t;
	if (resolve_parent(root, ptr, &parent, &t) < 0)
		return NULL;
	if (!parent)
		return root;
	json_t *v = child(parent, &t);
	free(t.s);
	return v;
}

/* add (steals `value`). */
static int op_add(json_t **root, const char *ptr, json_t *value)
{
	json_t *parent;
	struct token t;
	int r = resolve_parent(*root, ptr, &parent, &t);
	if (r < 0) {
		json_decref(value);
		return r;
	}
	if (!parent) {
		json_decref(*root);
		*root = value;
		return 0;
	}
	_cleanup_free_ __attribute__((unused)) char *owned = t.s; /* freed on return */
	size_t i;
	if (json_is_object(parent))
		return json_object_setn_new(parent, t.s, t.len, value) == 0 ? 0 : -ENOMEM;
	if (json_is_array(parent)) {
		if (t.len == 1 && t.s[0] == '-')
			return json_array_append_new(parent, value) == 0 ? 0 : -ENOMEM;
		if (token_index(&t, &i) && i <= json_array_size(parent))
			return json_array_insert_new(parent, i, value) == 0 ? 0 : -ENOMEM;
	}
	json_decref(value);
	return -ENOENT;
}

static int op_remove(json_t **root, const char *ptr)
{
	json_t *parent;
	struct token t;
	int r = resolve_parent(*root, ptr, &parent, &t);
	if (r < 0)
		return r;
	if (!parent)
		return -EINVAL; /* removing the whole document */
	_cleanup_free_ __attribute__((unused)) char *owned = t.s; /* freed on return */
	size_t i;
	if (json_is_object(parent))
		return json_object_deln(parent, t.s, t.len) == 0 ? 0 : -ENOENT;
	if (json_is_array(parent) && token_index(&t, &i))
		return json_array_remove(parent, i) == 0 ? 0 : -ENOENT;
	return -ENOENT;
}

static int op_replace(json_t **root, const char *ptr, json_t *value)
{
	if (!get_ptr(*root, ptr)) {
		json_decref(value);
		return -ENOENT;
	}
	if (ptr[0] == '\0') {
		json_decref(*root);
		*root = value;
		return 0;
	}
	int r = op_remove(root, ptr);
	if (r < 0) {
		json_decref(value);
		return r;
	}
	return op_add(root, ptr, value);
}

static int apply_one(json_t **root, const json_t *op, size_t idx, struct skiff_err *e)
{
	const char *name = json_string_value(json_object_get(op, "op"));
	const char *path = json_string_value(json_object_get(op, "path"));
	json_t *value = json_object_get(op, "value");
	const char *from = json_string_value(json_object_get(op, "from"));
	int r;

	if (!name || !path)
		return err_set(e, SKIFF_EINVAL, "JSON patch operation %zu: \"op\" and \"path\" must be strings", idx);
	bool needs_value = !strcmp(name, "add") || !strcmp(name, "replace") || !strcmp(name, "test");
	if (needs_value && !value)
		return err_set(e, SKIFF_EINVAL, "JSON patch operation %zu (%s %s): no \"value\"", idx, name, path);
	if (!strcmp(name, "add"))
		r = op_add(root, path, json_deep_copy(value));
	else if (!strcmp(name, "remove"))
		r = op_remove(root, path);
	else if (!strcmp(name, "replace"))
		r = op_replace(root, path, json_deep_copy(value));
	else if (!strcmp(name, "test")) {
		json_t *cur = get_ptr(*root, path);
		r = cur && json_equal(cur, value) ? 0 : -EPERM;
	} else if (!strcmp(name, "move") || !strcmp(name, "copy")) {
		json_t *src = from ? get_ptr(*root, from) : NULL;
		size_t fl = from ? strlen(from) : 0;
		if (!src)
			r = -ENOENT;
		else if (!strcmp(name, "move") && !strncmp(path, from, fl) && path[fl] == '/')
			r = -EINVAL; /* into its own child */
		else {
			json_t *v = json_deep_copy(src);
			r = !strcmp(name, "move") ? op_remove(root, from) : 0;
			if (r == 0)
				r = op_add(root, path, v);
			else
				json_decref(v);
		}
	} else
		return err_set(e, SKIFF_EINVAL, "JSON patch operation %zu: unknown op \"%s\"", idx, name);
	if (r < 0)
		return err_set(e, SKIFF_EINVAL, "JSON patch operation %zu (%s %s): %s", idx, name, path,
			       r == -EPERM ? "test failed" : r == -ENOENT ? "no such location"
			       : r == -ENOMEM ? "out of memory" : "invalid path");
	return 0;
}

int jsonpatch_apply(const json_t *doc, const json_t *patch, json_t **out, struct skiff_err *e)
{
	if (!json_is_array(patch))
		return err_set(e, SKIFF_EINVAL, "JSON patch: not an array");
	json_t *root = json_deep_copy(doc);
	if (!root)
		return err_set(e, SKIFF_ENOMEM, "JSON patch: out of memory");
	for (size_t i = 0; i < json_array_size(patch); i++) {
		int r = apply_one(&root, json_array_get(patch, i), i, e);
		if (r < 0) {
			json_decref(root);
			return r;
		}
	}
	*out = root;
	return 0;
}

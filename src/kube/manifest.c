/* manifest.c - Kubernetes manifest documents (see manifest.h).
 *
 * Parsing goes through libfyaml's event stream rather than its document
 * tree: the events carry the byte offsets and lines we report and copy from,
 * and building jansson values straight from them avoids a second tree. */
#include "kube/manifest.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfyaml.h>

#include "base/cleanup.h"

struct frame {
	json_t *node;     /* object or array being filled */
	char *key;        /* mapping: the pending key, NULL when a key is expected */
	char *anchor;     /* anchor to register when the node is complete */
};

struct anchor {
	char *name;
	json_t *value;
};

struct builder {
	const char *name;
	struct frame stack[MANIFEST_MAX_DEPTH];
	size_t depth;
	struct anchor *anchors;
	size_t n_anchors, cap_anchors;
	size_t doc_index;
	json_t *root;
	bool have_root;
};

static void builder_reset_doc(struct builder *b)
{
	for (size_t i = 0; i < b->depth; i++) {
		json_decref(b->stack[i].node);
		free(b->stack[i].key);
		free(b->stack[i].anchor);
	}
	b->depth = 0;
	for (size_t i = 0; i < b->n_anchors; i++) {
		free(b->anchors[i].name);
		json_decref(b->anchors[i].value);
	}
	b->n_anchors = 0;
	json_decref(b->root);
	b->root = NULL;
	b->have_root = false;
}

static char *tok_dup(struct fy_token *t)
{
	size_t len = 0;
	const char *s = t ? fy_token_get_text(t, &len) : NULL;
	if (!s)
		return strdup("");
	return strndup(s, len);
}

static int anchor_add(struct builder *b, const char *name, json_t *v)
{
	if (b->n_anchors == b->cap_anchors) {
		size_t cap = b->cap_anchors ? b->cap_anchors * 2 : 8;
		struct anchor *a = realloc(b->anchors, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		b->anchors = a;
		b->cap_anchors = cap;
	}
	char *n = strdup(name);
	if (!n)
		return -ENOMEM;
	b->anchors[b->n_anchors].name = n;
	b->anchors[b->n_anchors].value = json_incref(v);
	b->n_anchors++;
	return 0;
}

static json_t *anchor_find(struct builder *b, const char *name)
{
	for (size_t i = b->n_anchors; i-- > 0;)
		if (strcmp(b->anchors[i].name, name) == 0)
			return b->anchors[i].value;
	return NULL;
}

static bool all_in(const char *s, size_t n, const char *set)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr(set, s[i]))
			return false;
	return true;
}

/* A plain scalar's value under the YAML 1.2 core schema. */
static json_t *resolve_plain(const char *s, size_t n)
{
	if (n == 0 || (n == 1 && s[0] == '~') ||
	    (n == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4) || !memcmp(s, "NULL", 4))))
		return json_null();
	if (n == 4 && (!memcmp(s, "true", 4) || !memcmp(s, "True", 4) || !memcmp(s, "TRUE", 4)))
		return json_true();
	if (n == 5 && (!memcmp(s, "false", 5) || !memcmp(s, "False", 5) || !memcmp(s, "FALSE", 5)))
		return json_false();
	char buf[128];
	if (n >= sizeof(buf))
		return json_stringn(s, n);
	memcpy(buf, s, n);
	buf[n] = '\0';
	const char *p = buf;
	if (*p == '+' || *p == '-')
		p++;
	size_t pn = n - (size_t)(p - buf);
	if (all_in(p, pn, "0123456789")) {
		errno = 0;
		char *end;
		long long v = strtoll(buf, &end, 10);
		if (errno == 0 && *end == '\0')
			return json_integer(v);
		return json_real(strtod(buf, NULL));
	}
	if (p == buf && n > 2 && buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'o') &&
	    all_in(buf + 2, n - 2, buf[1] == 'x' ? "0123456789abcdefABCDEF" : "01234567")) {
		errno = 0;
		char *end;
		unsigned long long v = strtoull(buf + 2, &end, buf[1] == 'x' ? 16 : 8);
		if (errno == 0 && *end == '\0' && v <= INT64_MAX)
			return json_integer((json_int_t)v);
		return json_stringn(s, n);
	}
	/* float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
	const char *q = p;
	size_t digits = 0;
	while (*q >= '0' && *q <= '9') { q++; digits++; }
	if (*q == '.') {
		q++;
		while (*q >= '0' && *q <= '9') { q++; digits++; }
	}
	if (digits > 0 && (*q == 'e' || *q == 'E')) {
		q++;
		if (*q == '+' || *q == '-')
			q++;
		size_t ed = 0;
		while (*q >= '0' && *q <= '9') { q++; ed++; }
		if (ed == 0)
			return json_stringn(s, n);
	}
	if (digits > 0 && *q == '\0') {
		double d = strtod(buf, NULL);
		if (isfinite(d))
			return json_real(d);
	}
	return json_stringn(s, n);
}

static json_t *scalar_value(struct fy_event *ev)
{
	size_t len = 0;
	const char *s = fy_token_get_text(ev->scalar.value, &len);
	if (!s) {
		s = "";
		len = 0;
	}
	enum fy_scalar_style st = fy_token_scalar_style(ev->scalar.value);
	bool force_str = false;
	if (ev->scalar.tag) {
		const char *suffix = fy_tag_token_suffix0(ev->scalar.tag);
		if (suffix && (strcmp(suffix, "str") == 0 || strcmp(suffix, "tag:yaml.org,2002:str") == 0))
			force_str = true;
	}
	if (st != FYSS_PLAIN || force_str)
		return json_stringn(s, len);
	return resolve_plain(s, len);
}

/* Attach a finished value V (stolen) to the current container or the root. */
static int attach(struct builder *b, json_t *v, struct skiff_err *e, int line)
{
	if (!v)
		return err_set(e, SKIFF_ENOMEM, "%s: out of memory", b->name);
	if (b->depth == 0) {
		b->root = v;
		b->have_root = true;
		return 0;
	}
	struct frame *f = &b->stack[b->depth - 1];
	if (json_is_array(f->node)) {
		if (json_array_append_new(f->node, v) < 0)
			return err_set(e, SKIFF_ENOMEM, "%s: out of memory", b->name);
		return 0;
	}
	if (!f->key) {
		/* this value is a key */
		if (json_is_string(v)) {
			f->key = strndup(json_string_value(v), json_string_length(v));
		} else if (json_is_integer(v)) {
			char nb[32];
			snprintf(nb, sizeof(nb), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			f->key = strdup(nb);
		} else if (json_is_true(v) || json_is_false(v)) {
			f->key = strdup(json_is_true(v) ? "true" : "false");
		} else if (json_is_null(v)) {
			f->key = strdup("null");
		} else if (json_is_real(v)) {
			char nb[64];
			snprintf(nb, sizeof(nb), "%.17g", json_real_value(v));
			f->key = strdup(nb);
		} else {
			json_decref(v);
			return err_set(e, SKIFF_EINVAL,
				       "%s: document %zu, line %d: a mapping key must be a scalar",
				       b->name, b->doc_index, line);
		}
		json_decref(v);
		if (!f->key)
			return err_set(e, SKIFF_ENOMEM, "%s: out of memory", b->name);
		return 0;
	}
	int r = json_object_setn_new(f->node, f->key, strlen(f->key), v);
	free(f->key);
	f->key = NULL;
	if (r < 0)
		return err_set(e, SKIFF_EINVAL, "%s: document %zu, line %d: invalid mapping key",
			       b->name, b->doc_index, line);
	return 0;
}

static int push(struct builder *b, json_t *node, struct fy_token *anchor, struct skiff_err *e,
		int line)
{
	if (!node)
		return err_set(e, SKIFF_ENOMEM, "%s: out of memory", b->name);
	if (b->depth >= MANIFEST_MAX_DEPTH) {
		json_decref(node);
		return err_set(e, SKIFF_EINVAL,
			       "%s: document %zu, line %d: nesting deeper than %d levels",
			       b->name, b->doc_index, line, MANIFEST_MAX_DEPTH);
	}
	struct frame *f = &b->stack[b->depth++];
	f->node = node;
	f->key = NULL;
	f->anchor = anchor ? tok_dup(anchor) : NULL;
	return 0;
}

static int pop(struct builder *b, struct skiff_err *e, int line)
{
	struct frame f = b->stack[--b->depth];
	free(f.key);
	int r = 0;
	if (f.anchor) {
		r = anchor_add(b, f.anchor, f.node);
		free(f.anchor);
		if (r < 0) {
			json_decref(f.node);
			return err_set(e, SKIFF_ENOMEM, "%s: out of memory", b->name);
		}
	}
	return attach(b, f.node, e, line);
}

static int add_doc(struct manifest *m, size_t *cap, struct manifest_doc *d)
{
	if (m->n_docs == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct manifest_doc *nd = realloc(m->docs, nc * sizeof(*nd));
		if (!nd)
			return -ENOMEM;
		m->docs = nd;
		*cap = nc;
	}
	m->docs[m->n_docs++] = *d;
	return 0;
}

static void diag_discard(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
	(void)diag; (void)user; (void)buf; (void)len;
}

int manifest_parse(const char *name, const char *text, size_t len, struct manifest *m,
		   struct skiff_err *e)
{
	memset(m, 0, sizeof(*m));
	if (!name || strcmp(name, "-") == 0)
		name = "<stdin>";
	m->text = malloc(len + 1);
	if (!m->text)
		return err_set(e, SKIFF_ENOMEM, "%s: out of memory", name);
	memcpy(m->text, text, len);
	m->text[len] = '\0';
	m->text_len = len;

	struct fy_diag_cfg dcfg;
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = diag_discard;
	struct fy_diag *diag = fy_diag_create(&dcfg);
	if (!diag) {
		manifest_free(m);
		return err_set(e, SKIFF_ENOMEM, "%s: out of memory", name);
	}
	fy_diag_set_collect_errors(diag, true);
	struct fy_parse_cfg pcfg = {
		.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG | FYPCF_DEFAULT_VERSION_1_2 |
			 FYPCF_JSON_NONE,
		.diag = diag,
	};
	struct fy_parser *fyp = fy_parser_create(&pcfg);
	if (!fyp || fy_parser_set_string(fyp, m->text, len) != 0) {
		if (fyp)
			fy_parser_destroy(fyp);
		fy_diag_unref(diag);
		manifest_free(m);
		return err_set(e, SKIFF_ENOMEM, "%s: cannot start the YAML parser", name);
	}

	struct builder b = { .name = name };
	size_t cap = 0;
	int r = 0;
	bool in_doc = false;
	size_t docs_started = 0;
	struct manifest_doc cur = {0};
	size_t root_start = 0;
	int root_col = 0;
	struct fy_event *ev;
	int last_line = 1;

	while ((ev = fy_parser_parse(fyp)) != NULL) {
		const struct fy_mark *sm = fy_event_start_mark(ev);
		const struct fy_mark *em = fy_event_end_mark(ev);
		int line = sm ? sm->line + 1 : last_line;
		last_line = line;
		bool root_event = false;
		switch (ev->type) {
		case FYET_DOCUMENT_START:
			in_doc = true;
			b.doc_index = docs_started++;
			memset(&cur, 0, sizeof(cur));
			cur.index = b.doc_index;
			break;
		case FYET_DOCUMENT_END:
			if (b.depth != 0) {
				r = err_set(e, SKIFF_EINVAL, "%s: document %zu: unterminated node",
					    name, b.doc_index);
				break;
			}
			cur.root = b.root;
			b.root = NULL;
			if (!cur.line)
				cur.line = line;
			if (add_doc(m, &cap, &cur) < 0) {
				json_decref(cur.root);
				r = err_set(e, SKIFF_ENOMEM, "%s: out of memory", name);
			}
			builder_reset_doc(&b);
			in_doc = false;
			break;
		case FYET_MAPPING_START:
		case FYET_SEQUENCE_START:
			if (b.depth == 0 && sm) {
				root_start = sm->input_pos;
				root_col = sm->column;
				cur.line = line;
			}
			if (ev->type == FYET_MAPPING_START)
				r = push(&b, json_object(), ev->mapping_start.anchor, e, line);
			else
				r = push(&b, json_array(), ev->sequence_start.anchor, e, line);
			break;
		case FYET_MAPPING_END:
		case FYET_SEQUENCE_END:
			if (b.depth == 0) {
				r = err_set(e, SKIFF_EINVAL, "%s: document %zu, line %d: unbalanced node",
					    name, b.doc_index, line);
				break;
			}
			if (b.depth == 1)
				root_event = true;
			r = pop(&b, e, line);
			break;
		case FYET_SCALAR: {
			if (b.depth == 0 && sm) {
				root_start = sm->input_pos;
				root_col = sm->column;
				cur.line = line;
				root_event = true;
			}
			json_t *v = scalar_value(ev);
			if (v && ev->scalar.anchor) {
				_cleanup_free_ char *an = tok_dup(ev->scalar.anchor);
				if (!an || anchor_add(&b, an, v) < 0) {
					json_decref(v);
					r = err_set(e, SKIFF_ENOMEM, "%s: out of memory", name);
					break;
				}
			}
			r = attach(&b, v, e, line);
			break;
		}
		case FYET_ALIAS: {
			_cleanup_free_ char *an = tok_dup(ev->alias.anchor);
			json_t *v = an ? anchor_find(&b, an) : NULL;
			if (!v) {
				r = err_set(e, SKIFF_EINVAL, "%s: document %zu, line %d: unknown alias *%s",
					    name, b.doc_index, line, an ? an : "?");
				break;
			}
			if (b.depth == 0) {
				root_start = sm ? sm->input_pos : 0;
				root_col = sm ? sm->column : 0;
				cur.line = line;
				root_event = true;
			}
			r = attach(&b, json_deep_copy(v), e, line);
			break;
		}
		default:
			break;
		}
		if (r == 0 && root_event && em) {
			if (root_col == 0 && em->input_pos >= root_start && em->input_pos <= len) {
				cur.src = m->text + root_start;
				cur.src_len = em->input_pos - root_start;
			}
		}
		fy_parser_event_free(fyp, ev);
		if (r < 0)
			break;
	}

	if (r == 0 && fy_parser_get_stream_error(fyp)) {
		void *it = NULL;
		struct fy_diag_error *de = fy_diag_errors_iterate(diag, &it);
		size_t di = in_doc ? b.doc_index : docs_started;
		if (de)
			r = err_set(e, SKIFF_EINVAL, "%s: document %zu, line %d: invalid YAML: %s",
				    name, di, de->line + 1, de->msg ? de->msg : "syntax error");
		else
			r = err_set(e, SKIFF_EINVAL, "%s: document %zu, line %d: invalid YAML",
				    name, di, last_line);
	}
	builder_reset_doc(&b);
	free(b.anchors);
	fy_parser_destroy(fyp);
	fy_diag_unref(diag);
	if (r < 0) {
		manifest_free(m);
		return r;
	}
	return 0;
}

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_docs; i++)
		json_decref(m->docs[i].root);
	free(m->docs);
	free(m->text);
	memset(m, 0, sizeof(*m));
}

int manifest_obj_insert_before(json_t *obj, const char *key, json_t *v,
			       const char *const *before)
{
	if (!v)
		return -ENOMEM;
	if (json_object_get(obj, key) || !before) {
		return json_object_set_new(obj, key, v) < 0 ? -ENOMEM : 0;
	}
	const char *at = NULL;
	const char *k;
	json_t *val;
	json_object_foreach(obj, k, val) {
		for (size_t i = 0; before[i]; i++)
			if (strcmp(k, before[i]) == 0) {
				at = k;
				break;
			}
		if (at)
			break;
	}
	if (!at)
		return json_object_set_new(obj, key, v) < 0 ? -ENOMEM : 0;
	json_t *n = json_object();
	if (!n) {
		json_decref(v);
		return -ENOMEM;
	}
	int r = 0;
	json_object_foreach(obj, k, val) {
		if (strcmp(k, at) == 0 && json_object_set(n, key, v) < 0)
			r = -ENOMEM;
		if (json_object_set(n, k, val) < 0)
			r = -ENOMEM;
	}
	json_decref(v);
	if (r == 0) {
		json_object_clear(obj);
		if (json_object_update(obj, n) < 0)
			r = -ENOMEM;
	}
	json_decref(n);
	return r;
}

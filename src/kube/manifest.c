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
	size_t nodes;     /* size of value, counted once */
};

/* Aliases are expanded by copying; this bounds what a small input can make
 * ("billion laughs"). */
#define MANIFEST_MAX_ALIAS_NODES 1000000

struct builder {
	const char *name;
	struct frame stack[MANIFEST_MAX_DEPTH];
	size_t depth;
	struct anchor *anchors;
	size_t n_anchors, cap_anchors;
	size_t doc_index;
	size_t alias_nodes;
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
	b->alias_nodes = 0;
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

static size_t count_nodes(const json_t *v)
{
	size_t n = 1;
	if (json_is_object(v)) {
		const char *k;
		json_t *c;
		json_object_foreach((json_t *)v, k, c)
			n += count_nodes(c);
	} else if (json_is_array(v)) {
		size_t i;
		json_t *c;
		json_array_foreach(v, i, c)
			n += count_nodes(c);
	}
	return n;
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
	b->anchors[b->n_anchors].nodes = count_nodes(v);
	b->n_anchors++;
	return 0;
}

static struct anchor *anchor_find(struct builder *b, const char *name)
{
	for (size_t i = b->n_anchors; i-- > 0;)
		if (strcmp(b->anchors[i].name, name) == 0)
			return &b->anchors[i];
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

/* The value of a single-quoted scalar from its source text (between the
 * quotes): '' is a quote, and line breaks fold as in flow scalars (spaces
 * around a break dropped; one break = a space, n empty lines = n newlines).
 * Done here because libfyaml 0.7.12 leaks memory in fy_token_get_text() on
 * runs of '' and its chunk iterator returns one quote too many for them
 * (both found by fuzz-manifest). Returns a heap string or NULL. */
char *manifest_single_quoted(const char *src, size_t n, size_t *out_len)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i = 0;
	bool first = true;
	size_t empties = 0;
	while (i <= n) {
		const char *nl = memchr(src + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - src) : n;
		size_t a = i, z = end;
		if (z > a && src[z - 1] == '\r')
			z--;
		if (!first)
			while (a < z && (src[a] == ' ' || src[a] == '\t'))
				a++;
		if (nl)
			while (z > a && (src[z - 1] == ' ' || src[z - 1] == '\t'))
				z--;
		if (!first && a == z && nl) {
			empties++;
		} else {
			if (!first) {
				if (empties)
					for (size_t k = 0; k < empties; k++)
						strbuf_putc(&sb, '\n');
				else
					strbuf_putc(&sb, ' ');
			}
			empties = 0;
			for (size_t k = a; k < z; k++) {
				strbuf_putc(&sb, src[k]);
				if (src[k] == '\'' && k + 1 < z && src[k + 1] == '\'')
					k++;
			}
		}
		first = false;
		if (!nl)
			break;
		i = end + 1;
	}
	if (strbuf_failed(&sb)) {
		strbuf_free(&sb);
		return NULL;
	}
	*out_len = sb.len;
	if (!sb.buf)
		return strdup("");
	return strbuf_steal(&sb);
}

static json_t *scalar_value(struct fy_event *ev, const char *text, size_t text_len)
{
	size_t len = 0;
	enum fy_scalar_style st = fy_token_scalar_style(ev->scalar.value);
	_cleanup_free_ char *own = NULL;
	const char *s;
	const struct fy_mark *ts = fy_token_start_mark(ev->scalar.value);
	const struct fy_mark *te = fy_token_end_mark(ev->scalar.value);
	if (st == FYSS_SINGLE_QUOTED && ts && te && ts->input_pos <= te->input_pos &&
	    te->input_pos <= text_len) {
		s = own = manifest_single_quoted(text + ts->input_pos,
						 te->input_pos - ts->input_pos, &len);
		if (!own)
			return NULL;
	} else {
		s = fy_token_get_text(ev->scalar.value, &len);
		/* libfyaml 0.7.12 gives "\0" for an empty block scalar that ends
		 * the input with one newline ("k: |\n"); the input has no NUL
		 * (check_utf8), so a NUL here is that bug: the value is "" */
		if ((st == FYSS_LITERAL || st == FYSS_FOLDED) && s && len == 1 && s[0] == '\0')
			len = 0;
	}
	if (!s) {
		s = "";
		len = 0;
	}
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

/* The first error libfyaml reports, taken from its formatted output
 * ("<input>:LINE:COL: error: MESSAGE"). Collecting errors instead
 * (FYPCF_COLLECT_DIAG) leaks memory in libfyaml 0.7.12. */
struct diag_capture {
	bool have;
	int line;
	char msg[256];
};

static void diag_output(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
	(void)diag;
	struct diag_capture *dc = user;
	if (dc->have)
		return;
	const char *tag = memmem(buf, len, ": error: ", 9);
	if (!tag)
		return;
	/* walk back over ":COL" and ":LINE" */
	const char *p = tag;
	int fields[2] = { 0, 0 };
	for (int f = 0; f < 2; f++) {
		const char *end = p;
		while (p > buf && p[-1] >= '0' && p[-1] <= '9')
			p--;
		if (p == end || p == buf || p[-1] != ':')
			break;
		fields[f] = atoi(p);
		p--;
	}
	dc->line = fields[1];
	const char *m = tag + 9;
	size_t ml = len - (size_t)(m - buf);
	while (ml && (m[ml - 1] == '\n' || m[ml - 1] == ' '))
		ml--;
	snprintf(dc->msg, sizeof(dc->msg), "%.*s", (int)ml, m);
	dc->have = true;
}

typedef int (*doc_cb)(struct manifest_doc *d, void *ctx);
static int parse(const char *name, const char *text, size_t len, struct manifest *m,
		 bool verify, doc_cb cb, void *ctx, struct skiff_err *e);

/* Is the copied text of D safe to write back for it? Scalars are not copied
 * (their start mark is after any block indicator); text with anchors, aliases
 * or tags is re-read and compared. */
static void check_src(struct manifest_doc *d, bool verify)
{
	if (!d->src)
		return;
	if (!json_is_object(d->root) && !json_is_array(d->root)) {
		d->src = NULL;
		d->src_len = 0;
		return;
	}
	bool at_eof = d->src_len == 0 || d->src[d->src_len - 1] != '\n';
	if (!verify || (!at_eof && !memchr(d->src, '&', d->src_len) &&
			!memchr(d->src, '!', d->src_len) && !memchr(d->src, '*', d->src_len)))
		return;
	/* re-read the copy as it will be written: followed by a newline (libfyaml
	 * reads some texts differently at the very end of the input; found by
	 * fuzz-manifest) */
	struct strbuf copy = STRBUF_INIT;
	strbuf_append(&copy, d->src, d->src_len);
	if (at_eof)
		strbuf_putc(&copy, '\n');
	strbuf_puts(&copy, "---\n");
	struct manifest sub;
	struct skiff_err e = { 0 };
	bool ok = false;
	if (!strbuf_failed(&copy) &&
	    parse("copy", copy.buf, copy.len, &sub, false, NULL, NULL, &e) == 0) {
		ok = sub.n_docs >= 1 && json_equal(sub.docs[0].root, d->root) &&
		     (sub.n_docs == 1 || !sub.docs[1].root || json_is_null(sub.docs[1].root));
		manifest_free(&sub);
	}
	strbuf_free(&copy);
	if (!ok) {
		d->src = NULL;
		d->src_len = 0;
	}
}

/* Offset of the first byte that is not valid UTF-8 or is a control
 * character YAML does not allow, or LEN. libfyaml 0.7.12
 * can loop forever on invalid UTF-8 in a directive (found by fuzz-manifest),
 * and drops such bytes elsewhere; YAML and JSON must be Unicode anyway. */
static size_t utf8_bad(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		if (c < 0x80) {
			/* YAML's printable set: no C0 controls but tab, LF, CR; no DEL */
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
				return i;
			i++;
			continue;
		}
		size_t k;
		uint32_t cp;
		if ((c & 0xe0) == 0xc0) { k = 2; cp = c & 0x1f; }
		else if ((c & 0xf0) == 0xe0) { k = 3; cp = c & 0x0f; }
		else if ((c & 0xf8) == 0xf0) { k = 4; cp = c & 0x07; }
		else return i;
		if (i + k > len)
			return i;
		for (size_t j = 1; j < k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		i += k;
	}
	return len;
}

static int check_utf8(const char *name, const char *text, size_t len, struct skiff_err *e)
{
	size_t bad = utf8_bad((const unsigned char *)text, len);
	if (bad == len)
		return 0;
	int line = 1;
	size_t markers = 0, col = 1;
	bool first_is_marker = len >= 3 && !memcmp(text, "---", 3);
	for (size_t i = 0; i < bad; i++) {
		if (text[i] == '\n') {
			line++;
			col = 1;
			if (i + 3 < len && !memcmp(text + i + 1, "---", 3))
				markers++;
		} else {
			col++;
		}
	}
	if (first_is_marker)
		markers++;
	size_t doc = markers > 0 ? markers - (first_is_marker ? 1 : 0) : 0;
	return err_set(e, SKIFF_EINVAL,
		       "%s: document %zu, line %d: not valid UTF-8 or not printable "
		       "(byte 0x%02X at column %zu)",
		       (!name || !strcmp(name, "-")) ? "<stdin>" : name, doc, line,
		       (unsigned char)text[bad], col);
}

int manifest_parse(const char *name, const char *text, size_t len, struct manifest *m,
		   struct skiff_err *e)
{
	return parse(name, text, len, m, true, NULL, NULL, e);
}

int manifest_parse_each(const char *name, const char *text, size_t len,
			int (*cb)(struct manifest_doc *doc, void *ctx), void *ctx,
			struct skiff_err *e)
{
	struct manifest m;
	int r = parse(name, text, len, &m, true, cb, ctx, e);
	if (r == 0)
		manifest_free(&m);
	return r;
}

static int parse(const char *name, const char *text, size_t len, struct manifest *m,
		 bool verify, doc_cb cb, void *ctx, struct skiff_err *e)
{
	memset(m, 0, sizeof(*m));
	int ur = check_utf8(name, text, len, e);
	if (ur < 0)
		return ur;
	if (!name || strcmp(name, "-") == 0)
		name = "<stdin>";
	if (cb) {
		/* streaming: the caller's text outlives every callback */
		m->text = (char *)text;
		m->borrowed = true;
	} else {
		m->text = malloc(len + 1);
		if (!m->text)
			return err_set(e, SKIFF_ENOMEM, "%s: out of memory", name);
		memcpy(m->text, text, len);
		m->text[len] = '\0';
	}
	m->text_len = len;

	struct diag_capture dc = { 0 };
	struct fy_diag_cfg dcfg;
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	dcfg.output_fn = diag_output;
	dcfg.user = &dc;
	dcfg.colorize = false;
	dcfg.show_source = false;
	dcfg.show_position = true;
	dcfg.show_type = true;
	dcfg.show_module = false;
	struct fy_diag *diag = fy_diag_create(&dcfg);
	if (!diag) {
		manifest_free(m);
		return err_set(e, SKIFF_ENOMEM, "%s: out of memory", name);
	}
	struct fy_parse_cfg pcfg = {
		.flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2 | FYPCF_JSON_NONE,
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
			check_src(&cur, verify);
			if (cb) {
				r = cb(&cur, ctx);
				json_decref(cur.root);
			} else if (add_doc(m, &cap, &cur) < 0) {
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
			json_t *v = scalar_value(ev, m->text, len);
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
			struct anchor *a = an ? anchor_find(&b, an) : NULL;
			if (!a) {
				r = err_set(e, SKIFF_EINVAL, "%s: document %zu, line %d: unknown alias *%s",
					    name, b.doc_index, line, an ? an : "?");
				break;
			}
			b.alias_nodes += a->nodes;
			if (b.alias_nodes > MANIFEST_MAX_ALIAS_NODES) {
				r = err_set(e, SKIFF_EINVAL,
					    "%s: document %zu, line %d: aliases expand to more than %d nodes",
					    name, b.doc_index, line, MANIFEST_MAX_ALIAS_NODES);
				break;
			}
			json_t *v = a->value;
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
		size_t di = in_doc ? b.doc_index : docs_started;
		if (dc.have)
			r = err_set(e, SKIFF_EINVAL, "%s: document %zu, line %d: invalid YAML: %s",
				    name, di, dc.line > 0 ? dc.line : last_line, dc.msg);
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
	if (!m->borrowed)
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

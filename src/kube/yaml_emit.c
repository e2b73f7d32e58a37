/* yaml_emit.c - write JSON values as YAML the way Kubernetes' writer does
 * (see manifest.h: manifest_emit_yaml). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kube/manifest.h"

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\0'; }

/* Does S read as something other than a string when plain (YAML 1.1 and 1.2
 * resolvers both considered, as go-yaml v2 quotes for 1.1)? */
static bool resolves_non_string(const char *s, size_t n)
{
	if (n > 6 || n == 0) {
		/* no word is longer than 6; only numbers remain */
		if (n == 0)
			return true;
		if (!strchr("0123456789+-.", s[0]))
			return false;
	} else if (!strchr("~nNyYtTfFoO.+-<=0123456789", s[0])) {
		return false;
	}
	static const char *const words[] = {
		"", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no",
		"No", "NO", "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON",
		"off", "Off", "OFF", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
		"-.Inf", "-.INF", ".nan", ".NaN", ".NAN", "<<", "=",
	};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i]) == n && memcmp(words[i], s, n) == 0)
			return true;
	/* numbers, base-60 numbers, dates: quote anything number-like */
	size_t i = 0;
	if (s[0] == '+' || s[0] == '-')
		i = 1;
	if (i < n && (s[i] == '.' ? (i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9')
				  : (s[i] >= '0' && s[i] <= '9'))) {
		for (size_t j = i; j < n; j++)
			if (!strchr("0123456789abcdefABCDEFxXoO_.:+-eE", s[j]))
				return false;
		return true;
	}
	return false;
}

bool manifest_plain_ok(const char *s, size_t n)
{
	if (n == 0)
		return false;
	if (resolves_non_string(s, n))
		return false;
	if (n >= 3 && (!memcmp(s, "---", 3) || !memcmp(s, "...", 3)))
		return false;
	if (s[0] == ' ' || s[n - 1] == ' ' || s[0] == '\t' || s[n - 1] == '\t')
		return false;
	if (strchr("#,[]{}&*!|>'\"%@`", s[0]))
		return false;
	if ((s[0] == '-' || s[0] == '?' || s[0] == ':') && (n == 1 || is_blank(s[1])))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return false;
		if (c == ':' && (i + 1 == n || is_blank(s[i + 1])))
			return false;
		if (c == '#' && i > 0 && is_blank(s[i - 1]))
			return false;
		/* non-ASCII: U+0085, U+2028, U+2029, BOM would need quoting */
		if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] == 0x85)
			return false;
		if (c == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
		    ((unsigned char)s[i + 2] == 0xa8 || (unsigned char)s[i + 2] == 0xa9))
			return false;
		if (c == 0xef && i + 2 < n && (unsigned char)s[i + 1] == 0xbb &&
		    (unsigned char)s[i + 2] == 0xbf)
			return false;
	}
	return true;
}

/* Valid UTF-8 without control characters (other than those we escape)? */
static bool utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		unsigned c = p[i];
		size_t k;
		uint32_t cp;
		if (c < 0x80) { i++; continue; }
		else if ((c & 0xe0) == 0xc0) { k = 1; cp = c & 0x1f; }
		else if ((c & 0xf0) == 0xe0) { k = 2; cp = c & 0x0f; }
		else if ((c & 0xf8) == 0xf0) { k = 3; cp = c & 0x07; }
		else return false;
		for (size_t j = 1; j <= k; j++) {
			if (i + j >= n || (p[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

static bool single_ok(const char *s, size_t n)
{
	if (!utf8_valid(s, n))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	if (s[0] == ' ' || s[n - 1] == ' ')
		return n > 0; /* spaces at the ends are fine quoted */
	return true;
}

static void emit_double(struct strbuf *out, const char *s, size_t n)
{
	strbuf_putc(out, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"': strbuf_puts(out, "\\\""); break;
		case '\\': strbuf_puts(out, "\\\\"); break;
		case '\n': strbuf_puts(out, "\\n"); break;
		case '\t': strbuf_puts(out, "\\t"); break;
		case '\r': strbuf_puts(out, "\\r"); break;
		case '\0': strbuf_puts(out, "\\0"); break;
		default:
			if (c < 0x20 || c == 0x7f)
				strbuf_printf(out, "\\x%02X", c);
			else
				strbuf_putc(out, (char)c);
		}
	}
	strbuf_putc(out, '"');
}

static void indent(struct strbuf *out, int n)
{
	static const char spaces[] = "                                                                ";
	while (n > 0) {
		int k = n < 64 ? n : 64;
		strbuf_append(out, spaces, (size_t)k);
		n -= k;
	}
}

/* Can S be a literal block at this indentation? */
static bool literal_ok(const char *s, size_t n)
{
	if (n == 0 || s[0] == ' ' || s[0] == '\n' || s[0] == '\t')
		return false;
	if (!utf8_valid(s, n))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f || c == '\r')
			return false;
		/* a line that starts with a space after a newline is fine in
		 * literal style; a trailing-space-only last line is not */
	}
	return true;
}

static void emit_string(struct strbuf *out, const char *s, size_t n, int ind, bool key)
{
	if (key && memchr(s, '\n', n)) {
		emit_double(out, s, n);
		return;
	}
	if (memchr(s, '\n', n) && literal_ok(s, n)) {
		size_t trail = 0;
		while (trail < n && s[n - 1 - trail] == '\n')
			trail++;
		if (trail == n) {
			emit_double(out, s, n);
			return;
		}
		strbuf_puts(out, trail == 0 ? "|-" : trail == 1 ? "|" : "|+");
		size_t i = 0;
		size_t end = trail <= 1 ? n - trail : n;
		while (i < end) {
			const char *nl = memchr(s + i, '\n', end - i);
			size_t ll = nl ? (size_t)(nl - (s + i)) : end - i;
			strbuf_putc(out, '\n');
			if (ll > 0) {
				indent(out, ind);
				strbuf_append(out, s + i, ll);
			}
			i += ll + (nl ? 1 : 0);
			if (nl && i == end && trail > 1) {
				/* keep the extra empty lines of |+ */
			}
		}
		if (trail > 1) {
			/* the loop consumed all newlines as empty lines; nothing to add */
		}
		return;
	}
	if (manifest_plain_ok(s, n) && utf8_valid(s, n)) {
		strbuf_append(out, s, n);
		return;
	}
	if (resolves_non_string(s, n) || !single_ok(s, n)) {
		emit_double(out, s, n);
		return;
	}
	strbuf_putc(out, '\'');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\'')
			strbuf_putc(out, '\'');
		strbuf_putc(out, s[i]);
	}
	strbuf_putc(out, '\'');
}

static void emit_scalar(struct strbuf *out, const json_t *v, int ind)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		emit_string(out, json_string_value(v), json_string_length(v), ind, false);
		break;
	case JSON_INTEGER:
		strbuf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL: {
		char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
		if (s) {
			strbuf_puts(out, s);
			free(s);
		} else {
			strbuf_puts(out, "0");
		}
		break;
	}
	case JSON_TRUE: strbuf_puts(out, "true"); break;
	case JSON_FALSE: strbuf_puts(out, "false"); break;
	case JSON_NULL: strbuf_puts(out, "null"); break;
	default: break;
	}
}

static bool is_empty_coll(const json_t *v)
{
	return (json_is_object(v) && json_object_size(v) == 0) ||
	       (json_is_array(v) && json_array_size(v) == 0);
}

static void emit_node(struct strbuf *out, const json_t *v, int ind);

/* V is the value after "key:" or "- ". Writes the rest of the line and what
 * follows. `ind` is the indentation of the key (or of the "-"). */
static void emit_value_after(struct strbuf *out, const json_t *v, int ind, bool in_seq)
{
	if (json_is_object(v) && json_object_size(v) > 0) {
		if (in_seq) {
			/* first key on the same line as "- " */
			emit_node(out, v, ind + 2);
			return;
		}
		strbuf_putc(out, '\n');
		indent(out, ind + 2);
		emit_node(out, v, ind + 2);
		return;
	}
	if (json_is_array(v) && json_array_size(v) > 0) {
		if (in_seq) {
			emit_node(out, v, ind + 2);
			return;
		}
		strbuf_putc(out, '\n');
		indent(out, ind);
		emit_node(out, v, ind);
		return;
	}
	if (is_empty_coll(v)) {
		strbuf_puts(out, json_is_object(v) ? "{}" : "[]");
		strbuf_putc(out, '\n');
		return;
	}
	emit_scalar(out, v, ind + 2);
	strbuf_putc(out, '\n');
}

/* Emit V whose first line starts at the current position (already indented
 * to `ind`). */
static void emit_node(struct strbuf *out, const json_t *v, int ind)
{
	if (json_is_object(v) && json_object_size(v) > 0) {
		const char *k;
		const json_t *val;
		bool first = true;
		json_object_foreach((json_t *)v, k, val) {
			if (!first)
				indent(out, ind);
			first = false;
			emit_string(out, k, strlen(k), ind + 2, true);
			strbuf_putc(out, ':');
			bool block_after = (json_is_object(val) || json_is_array(val)) && !is_empty_coll(val);
			if (!block_after)
				strbuf_putc(out, ' ');
			emit_value_after(out, val, ind, false);
		}
		return;
	}
	if (json_is_array(v) && json_array_size(v) > 0) {
		size_t i;
		const json_t *val;
		json_array_foreach(v, i, val) {
			if (i > 0)
				indent(out, ind);
			strbuf_puts(out, "- ");
			emit_value_after(out, val, ind, true);
		}
		return;
	}
	if (is_empty_coll(v)) {
		strbuf_puts(out, json_is_object(v) ? "{}\n" : "[]\n");
		return;
	}
	emit_scalar(out, v, ind);
	strbuf_putc(out, '\n');
}

void manifest_emit_yaml(const json_t *v, struct strbuf *out)
{
	if (!v) {
		strbuf_puts(out, "null\n");
		return;
	}
	if (!json_is_object(v) && !json_is_array(v)) {
		/* a block scalar at the top still needs indented content */
		emit_scalar(out, v, 2);
		strbuf_putc(out, '\n');
		return;
	}
	emit_node(out, v, 0);
}

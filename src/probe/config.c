/* config.c - ISTIO_KUBE_APP_PROBERS decoder, validator and encoder (see
 * config.h). The decoder is a small recursive-descent JSON reader that
 * decodes straight into the prober structs the way Go's encoding/json does;
 * it never builds a generic tree. */
#include "probe/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 10000 /* Go's scanner limit */
#define VAR "ISTIO_KUBE_APP_PROBERS"

/* ---------- reader state ---------- */

struct jp {
	const char *s;
	size_t len, pos;
	struct skiff_err *e;
	const char *key;   /* current prober path, for messages (not owned) */
	char field[96];    /* current field path inside the prober, "httpGet.port" */
};

static int jp_fail(struct jp *p, const char *what)
{
	if (p->key)
		return err_set(p->e, SKIFF_EINVAL,
			       VAR ": failed to decode: prober \"%.200s\"%s%s: %s (at byte %zu)",
			       p->key, p->field[0] ? ": field " : "", p->field, what, p->pos);
	return err_set(p->e, SKIFF_EINVAL, VAR ": failed to decode: %s (at byte %zu)", what,
		       p->pos);
}

static void ws(struct jp *p)
{
	while (p->pos < p->len) {
		char c = p->s[p->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

static int peek(struct jp *p)
{
	ws(p);
	return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int expect(struct jp *p, char c)
{
	if (peek(p) != (unsigned char)c) {
		char msg[64];
		snprintf(msg, sizeof(msg), "invalid JSON, expected '%c'", c);
		return jp_fail(p, msg);
	}
	p->pos++;
	return 0;
}

/* ---------- UTF-8 helpers (Go's utf8.DecodeRune rules) ---------- */

/* Decode one rune at s[0..n). Returns its length, or 0 for an invalid byte
 * (Go's RuneError with size 1). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *r)
{
	unsigned char c = s[0];
	if (c < 0x80) {
		*r = c;
		return 1;
	}
	size_t need;
	uint32_t v, min;
	if (c >= 0xC2 && c <= 0xDF) { need = 2; v = c & 0x1F; min = 0x80; }
	else if (c >= 0xE0 && c <= 0xEF) { need = 3; v = c & 0x0F; min = 0x800; }
	else if (c >= 0xF0 && c <= 0xF4) { need = 4; v = c & 0x07; min = 0x10000; }
	else return 0;
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*r = v;
	return need;
}

static void utf8_put(struct strbuf *sb, uint32_t r)
{
	char b[4];
	if (r < 0x80) { b[0] = (char)r; strbuf_append(sb, b, 1); }
	else if (r < 0x800) {
		b[0] = (char)(0xC0 | (r >> 6)); b[1] = (char)(0x80 | (r & 0x3F));
		strbuf_append(sb, b, 2);
	} else if (r < 0x10000) {
		b[0] = (char)(0xE0 | (r >> 12)); b[1] = (char)(0x80 | ((r >> 6) & 0x3F));
		b[2] = (char)(0x80 | (r & 0x3F));
		strbuf_append(sb, b, 3);
	} else {
		b[0] = (char)(0xF0 | (r >> 18)); b[1] = (char)(0x80 | ((r >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((r >> 6) & 0x3F)); b[3] = (char)(0x80 | (r & 0x3F));
		strbuf_append(sb, b, 4);
	}
}

/* ---------- scalars ---------- */

static int hex4(const char *s, size_t n, uint32_t *out)
{
	if (n < 4)
		return -1;
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
		else return -1;
	}
	*out = v;
	return 0;
}

/* Read a JSON string at the cursor (which must be '"'), unquoted with Go's
 * rules: invalid UTF-8 and unpaired surrogates become U+FFFD. If `out` is
 * NULL the string is only checked. *out is heap, NUL-terminated. */
static int read_string(struct jp *p, char **out, size_t *out_len)
{
	if (peek(p) != '"')
		return jp_fail(p, "invalid JSON, expected a string");
	p->pos++;
	struct strbuf sb = STRBUF_INIT;
	const unsigned char *s = (const unsigned char *)p->s;
	for (;;) {
		if (p->pos >= p->len) {
			strbuf_free(&sb);
			return jp_fail(p, "invalid JSON, unterminated string");
		}
		unsigned char c = s[p->pos];
		if (c == '"') {
			p->pos++;
			break;
		}
		if (c < 0x20) {
			strbuf_free(&sb);
			return jp_fail(p, "invalid JSON, control character in string");
		}
		if (c == '\\') {
			if (p->pos + 1 >= p->len) {
				strbuf_free(&sb);
				return jp_fail(p, "invalid JSON, unterminated string");
			}
			char x = (char)s[p->pos + 1];
			const char *simple = NULL;
			switch (x) {
			case '"': simple = "\""; break;
			case '\\': simple = "\\"; break;
			case '/': simple = "/"; break;
			case 'b': simple = "\b"; break;
			case 'f': simple = "\f"; break;
			case 'n': simple = "\n"; break;
			case 'r': simple = "\r"; break;
			case 't': simple = "\t"; break;
			case 'u': break;
			default:
				strbuf_free(&sb);
				return jp_fail(p, "invalid JSON, bad escape in string");
			}
			if (simple) {
				if (out)
					strbuf_append(&sb, simple, 1);
				p->pos += 2;
				continue;
			}
			uint32_t r;
			if (hex4(p->s + p->pos + 2, p->len - p->pos - 2, &r) < 0) {
				strbuf_free(&sb);
				return jp_fail(p, "invalid JSON, bad \\u escape in string");
			}
			p->pos += 6;
			if (r >= 0xD800 && r <= 0xDFFF) {
				uint32_t r2;
				if (r < 0xDC00 && p->pos + 1 < p->len && s[p->pos] == '\\' &&
				    s[p->pos + 1] == 'u' &&
				    hex4(p->s + p->pos + 2, p->len - p->pos - 2, &r2) == 0 &&
				    r2 >= 0xDC00 && r2 <= 0xDFFF) {
					r = 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00);
					p->pos += 6;
				} else {
					r = 0xFFFD;
				}
			}
			if (out)
				utf8_put(&sb, r);
			continue;
		}
		uint32_t r;
		size_t n = utf8_decode(s + p->pos, p->len - p->pos, &r);
		if (n == 0) {
			if (out)
				utf8_put(&sb, 0xFFFD);
			p->pos++;
			continue;
		}
		if (out)
			strbuf_append(&sb, p->s + p->pos, n);
		p->pos += n;
	}
	if (!out) {
		strbuf_free(&sb);
		return 0;
	}
	if (strbuf_failed(&sb)) {
		strbuf_free(&sb);
		return err_set(p->e, SKIFF_ENOMEM, VAR ": out of memory");
	}
	if (out_len)
		*out_len = sb.len;
	if (!sb.buf) {
		*out = strdup("");
		if (!*out)
			return err_set(p->e, SKIFF_ENOMEM, VAR ": out of memory");
		return 0;
	}
	*out = strbuf_steal(&sb);
	return 0;
}

/* Check the JSON number grammar at the cursor; report whether it is an
 * integer literal (no fraction, no exponent). */
static int scan_number(struct jp *p, size_t *start, size_t *end, bool *integral)
{
	const char *s = p->s;
	size_t i = p->pos, n = p->len;
	*start = i;
	*integral = true;
	if (i < n && s[i] == '-')
		i++;
	if (i >= n)
		return jp_fail(p, "invalid JSON number");
	if (s[i] == '0')
		i++;
	else if (s[i] >= '1' && s[i] <= '9')
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return jp_fail(p, "invalid JSON number");
	if (i < n && s[i] == '.') {
		*integral = false;
		i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return jp_fail(p, "invalid JSON number");
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		*integral = false;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return jp_fail(p, "invalid JSON number");
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	*end = i;
	p->pos = i;
	return 0;
}

static int match_word(struct jp *p, const char *w)
{
	size_t n = strlen(w);
	if (p->len - p->pos < n || memcmp(p->s + p->pos, w, n) != 0)
		return jp_fail(p, "invalid JSON literal");
	p->pos += n;
	return 0;
}

static int skip_value(struct jp *p, int depth);

static int skip_container(struct jp *p, int depth, char open)
{
	char close = open == '{' ? '}' : ']';
	if (depth >= JSON_MAX_DEPTH)
		return jp_fail(p, "exceeded max depth");
	p->pos++;
	if (peek(p) == (unsigned char)close) {
		p->pos++;
		return 0;
	}
	for (;;) {
		int r;
		if (open == '{') {
			if ((r = read_string(p, NULL, NULL)) < 0)
				return r;
			if ((r = expect(p, ':')) < 0)
				return r;
		}
		if ((r = skip_value(p, depth + 1)) < 0)
			return r;
		int c = peek(p);
		if (c == ',') {
			p->pos++;
			continue;
		}
		if (c == (unsigned char)close) {
			p->pos++;
			return 0;
		}
		return jp_fail(p, "invalid JSON, expected ',' or a closing bracket");
	}
}

static int skip_value(struct jp *p, int depth)
{
	int c = peek(p);
	size_t a, b;
	bool integral;
	switch (c) {
	case '{': case '[': return skip_container(p, depth, (char)c);
	case '"': return read_string(p, NULL, NULL);
	case 't': return match_word(p, "true");
	case 'f': return match_word(p, "false");
	case 'n': return match_word(p, "null");
	case -1: return jp_fail(p, "unexpected end of JSON input");
	default: return scan_number(p, &a, &b, &integral);
	}
}

static const char *kind_name(int c)
{
	switch (c) {
	case '{': return "object";
	case '[': return "array";
	case '"': return "string";
	case 't': case 'f': return "bool";
	case 'n': return "null";
	default: return "number";
	}
}

static int type_error(struct jp *p, int c, const char *want)
{
	char msg[128];
	snprintf(msg, sizeof(msg), "cannot unmarshal %s into a value of type %s",
		 kind_name(c), want);
	return jp_fail(p, msg);
}

static bool at_null(struct jp *p)
{
	if (peek(p) == 'n' && p->len - p->pos >= 4 && memcmp(p->s + p->pos, "null", 4) == 0) {
		p->pos += 4;
		return true;
	}
	return false;
}

/* int32 field: null leaves it unchanged (Go). */
static int read_int32(struct jp *p, int32_t *out)
{
	if (at_null(p))
		return 0;
	int c = peek(p);
	if (c != '-' && (c < '0' || c > '9')) {
		int r = skip_value(p, 1);
		if (r < 0)
			return r;
		return type_error(p, c, "int32");
	}
	size_t a, b;
	bool integral;
	int r = scan_number(p, &a, &b, &integral);
	if (r < 0)
		return r;
	char buf[32];
	if (!integral || b - a >= sizeof(buf))
		return jp_fail(p, "cannot unmarshal number into a value of type int32");
	memcpy(buf, p->s + a, b - a);
	buf[b - a] = 0;
	errno = 0;
	char *end;
	long long v = strtoll(buf, &end, 10);
	if (errno || *end || v < INT32_MIN || v > INT32_MAX)
		return jp_fail(p, "cannot unmarshal number into a value of type int32 (out of range)");
	*out = (int32_t)v;
	return 0;
}

/* string field: null leaves it unchanged (Go). */
static int read_str_field(struct jp *p, char **field)
{
	if (at_null(p))
		return 0;
	int c = peek(p);
	if (c != '"') {
		int r = skip_value(p, 1);
		if (r < 0)
			return r;
		return type_error(p, c, "string");
	}
	char *s;
	int r = read_string(p, &s, NULL);
	if (r < 0)
		return r;
	free(*field);
	*field = s;
	return 0;
}

/* IntOrString: a string is a named port; null or a number is an integer
 * (null keeps the old number, as Go's int decoding of null does). */
static int read_port(struct jp *p, struct probe_port *port)
{
	if (peek(p) == '"') {
		char *s;
		int r = read_string(p, &s, NULL);
		if (r < 0)
			return r;
		free(port->name);
		port->name = s;
		port->named = true;
		return 0;
	}
	port->named = false;
	return read_int32(p, &port->number);
}

/* ---------- Go's case-insensitive member-name match ---------- */

/* Is key (unquoted JSON member name) equal to the ASCII field name under
 * Go's folding (ASCII letters, plus U+017F for s and U+212A for k)? */
static bool fold_eq(const char *field, const char *key, size_t klen)
{
	const unsigned char *t = (const unsigned char *)key;
	size_t i = 0;
	for (const char *f = field; *f; f++) {
		if (i >= klen)
			return false;
		unsigned char sb = (unsigned char)*f;
		if (t[i] < 0x80) {
			unsigned char tb = t[i];
			if (sb != tb) {
				unsigned char up = sb & (unsigned char)~0x20;
				if (up < 'A' || up > 'Z' || up != (tb & (unsigned char)~0x20))
					return false;
			}
			i++;
			continue;
		}
		uint32_t r;
		size_t n = utf8_decode(t + i, klen - i, &r);
		if (n == 0)
			return false;
		if ((sb == 's' || sb == 'S') && r == 0x17F) { i += n; continue; }
		if ((sb == 'k' || sb == 'K') && r == 0x212A) { i += n; continue; }
		return false;
	}
	return i == klen;
}

/* ---------- objects ---------- */

typedef int (*member_fn)(struct jp *p, const char *key, size_t klen, void *ctx);

/* Decode a JSON object, calling fn for each member with the cursor on its
 * value; fn must consume the value. `want` names the Go type for type errors. */
static int read_object(struct jp *p, const char *want, member_fn fn, void *ctx)
{
	int c = peek(p);
	if (c != '{') {
		int r = skip_value(p, 1);
		if (r < 0)
			return r;
		return type_error(p, c, want);
	}
	p->pos++;
	if (peek(p) == '}') {
		p->pos++;
		return 0;
	}
	for (;;) {
		char *key;
		size_t klen;
		int r = read_string(p, &key, &klen);
		if (r < 0)
			return r;
		r = expect(p, ':');
		if (r >= 0)
			r = fn(p, key, klen, ctx);
		free(key);
		if (r < 0)
			return r;
		c = peek(p);
		if (c == ',') {
			p->pos++;
			continue;
		}
		if (c == '}') {
			p->pos++;
			return 0;
		}
		return jp_fail(p, "invalid JSON, expected ',' or '}'");
	}
}

static void field_set(struct jp *p, const char *f)
{
	snprintf(p->field, sizeof(p->field), "%s", f);
}

static int header_member(struct jp *p, const char *key, size_t klen, void *ctx)
{
	struct probe_http_header *h = ctx;
	if (fold_eq("name", key, klen))
		return read_str_field(p, &h->name);
	if (fold_eq("value", key, klen))
		return read_str_field(p, &h->value);
	return skip_value(p, 2);
}

static void headers_free(struct probe_http_header *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
}

/* httpHeaders: a JSON array decoded like Go decodes into a slice: elements
 * are decoded on top of the existing ones at the same index, the slice is
 * cut to the new length; null sets it to nil. */
static int read_headers(struct jp *p, struct probe_http_get *g)
{
	if (at_null(p)) {
		headers_free(g->headers, g->n_headers);
		g->headers = NULL;
		g->n_headers = 0;
		return 0;
	}
	int c = peek(p);
	if (c != '[') {
		int r = skip_value(p, 1);
		if (r < 0)
			return r;
		return type_error(p, c, "[]HTTPHeader");
	}
	p->pos++;
	size_t i = 0;
	if (peek(p) == ']') {
		p->pos++;
	} else {
		for (;;) {
			if (i >= g->n_headers) {
				struct probe_http_header *nh =
					realloc(g->headers, (i + 1) * sizeof(*nh));
				if (!nh)
					return err_set(p->e, SKIFF_ENOMEM, VAR ": out of memory");
				g->headers = nh;
				g->headers[i] = (struct probe_http_header){ 0 };
				g->n_headers = i + 1;
			}
			char saved[sizeof(p->field)];
			memcpy(saved, p->field, sizeof(saved));
			snprintf(p->field, sizeof(p->field), "httpGet.httpHeaders[%zu]", i);
			int r;
			if (at_null(p))
				r = 0;
			else
				r = read_object(p, "HTTPHeader", header_member, &g->headers[i]);
			memcpy(p->field, saved, sizeof(saved));
			if (r < 0)
				return r;
			i++;
			c = peek(p);
			if (c == ',') {
				p->pos++;
				continue;
			}
			if (c == ']') {
				p->pos++;
				break;
			}
			return jp_fail(p, "invalid JSON, expected ',' or ']'");
		}
	}
	for (size_t j = i; j < g->n_headers; j++) {
		free(g->headers[j].name);
		free(g->headers[j].value);
	}
	g->n_headers = i;
	/* Entries decoded from null or {} still need non-NULL strings. */
	for (size_t j = 0; j < i; j++) {
		if (!g->headers[j].name)
			g->headers[j].name = strdup("");
		if (!g->headers[j].value)
			g->headers[j].value = strdup("");
		if (!g->headers[j].name || !g->headers[j].value)
			return err_set(p->e, SKIFF_ENOMEM, VAR ": out of memory");
	}
	return 0;
}

static int http_member(struct jp *p, const char *key, size_t klen, void *ctx)
{
	struct probe_http_get *g = ctx;
	if (fold_eq("path", key, klen)) {
		field_set(p, "httpGet.path");
		return read_str_field(p, &g->path);
	}
	if (fold_eq("port", key, klen)) {
		field_set(p, "httpGet.port");
		return read_port(p, &g->port);
	}
	if (fold_eq("host", key, klen)) {
		field_set(p, "httpGet.host");
		return read_str_field(p, &g->host);
	}
	if (fold_eq("scheme", key, klen)) {
		field_set(p, "httpGet.scheme");
		return read_str_field(p, &g->scheme);
	}
	if (fold_eq("httpHeaders", key, klen)) {
		field_set(p, "httpGet.httpHeaders");
		return read_headers(p, g);
	}
	return skip_value(p, 2);
}

static int tcp_member(struct jp *p, const char *key, size_t klen, void *ctx)
{
	struct probe_tcp_socket *t = ctx;
	if (fold_eq("port", key, klen)) {
		field_set(p, "tcpSocket.port");
		return read_port(p, &t->port);
	}
	if (fold_eq("host", key, klen)) {
		field_set(p, "tcpSocket.host");
		return read_str_field(p, &t->host);
	}
	return skip_value(p, 2);
}

static int grpc_member(struct jp *p, const char *key, size_t klen, void *ctx)
{
	struct probe_grpc *g = ctx;
	if (fold_eq("port", key, klen)) {
		field_set(p, "grpc.port");
		return read_int32(p, &g->port);
	}
	if (fold_eq("service", key, klen)) {
		field_set(p, "grpc.service");
		if (at_null(p)) { /* *string: null sets nil */
			free(g->service);
			g->service = NULL;
			return 0;
		}
		return read_str_field(p, &g->service);
	}
	return skip_value(p, 2);
}

static void http_get_free(struct probe_http_get *g)
{
	if (!g)
		return;
	free(g->path);
	free(g->port.name);
	free(g->host);
	free(g->scheme);
	headers_free(g->headers, g->n_headers);
	free(g);
}

static void tcp_socket_free(struct probe_tcp_socket *t)
{
	if (!t)
		return;
	free(t->port.name);
	free(t->host);
	free(t);
}

static void grpc_free(struct probe_grpc *g)
{
	if (!g)
		return;
	free(g->service);
	free(g);
}

/* A pointer-to-struct field: null frees it; an object is decoded on top of
 * the existing one (Go re-uses a non-nil pointer). */
#define READ_PTR_OBJECT(p, ptr, freefn, gotype, fn)                                 \
	do {                                                                       \
		if (at_null(p)) {                                                  \
			freefn(ptr);                                               \
			(ptr) = NULL;                                              \
			return 0;                                                  \
		}                                                                  \
		if (peek(p) != '{') {                                              \
			int _c = peek(p);                                          \
			int _r = skip_value(p, 1);                                 \
			return _r < 0 ? _r : type_error(p, _c, gotype);            \
		}                                                                  \
		if (!(ptr)) {                                                      \
			(ptr) = calloc(1, sizeof(*(ptr)));                         \
			if (!(ptr))                                                \
				return err_set(p->e, SKIFF_ENOMEM, VAR ": out of memory"); \
		}                                                                  \
		return read_object(p, gotype, fn, (ptr));                          \
	} while (0)

static int prober_member(struct jp *p, const char *key, size_t klen, void *ctx)
{
	struct prober *pr = ctx;
	if (fold_eq("httpGet", key, klen)) {
		field_set(p, "httpGet");
		READ_PTR_OBJECT(p, pr->http_get, http_get_free, "HTTPGetAction", http_member);
	}
	if (fold_eq("tcpSocket", key, klen)) {
		field_set(p, "tcpSocket");
		READ_PTR_OBJECT(p, pr->tcp_socket, tcp_socket_free, "TCPSocketAction", tcp_member);
	}
	if (fold_eq("grpc", key, klen)) {
		field_set(p, "grpc");
		READ_PTR_OBJECT(p, pr->grpc, grpc_free, "GRPCAction", grpc_member);
	}
	if (fold_eq("timeoutSeconds", key, klen)) {
		field_set(p, "timeoutSeconds");
		return read_int32(p, &pr->timeout_seconds);
	}
	field_set(p, "");
	return skip_value(p, 2);
}

void prober_clear(struct prober *p)
{
	if (!p)
		return;
	free(p->path);
	http_get_free(p->http_get);
	tcp_socket_free(p->tcp_socket);
	grpc_free(p->grpc);
	*p = (struct prober){ 0 };
}

void probe_config_free(struct probe_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		prober_clear(&c->probers[i]);
	free(c->probers);
	c->probers = NULL;
	c->n = 0;
}

static struct prober *config_slot(struct probe_config *c, const char *path, size_t plen,
				  bool *fresh)
{
	for (size_t i = 0; i < c->n; i++) {
		if (strlen(c->probers[i].path) == plen &&
		    memcmp(c->probers[i].path, path, plen) == 0) {
			char *keep = c->probers[i].path;
			c->probers[i].path = NULL;
			prober_clear(&c->probers[i]);
			c->probers[i].path = keep;
			*fresh = false;
			return &c->probers[i];
		}
	}
	struct prober *np = realloc(c->probers, (c->n + 1) * sizeof(*np));
	if (!np)
		return NULL;
	c->probers = np;
	struct prober *pr = &c->probers[c->n];
	*pr = (struct prober){ 0 };
	pr->path = malloc(plen + 1);
	if (!pr->path)
		return NULL;
	memcpy(pr->path, path, plen);
	pr->path[plen] = 0;
	c->n++;
	*fresh = true;
	return pr;
}

struct prober *probe_config_add(struct probe_config *c, const char *path)
{
	bool fresh;
	return config_slot(c, path, strlen(path), &fresh);
}

struct top_ctx {
	struct probe_config *c;
};

static int top_member(struct jp *p, const char *key, size_t klen, void *ctx)
{
	struct top_ctx *t = ctx;
	bool fresh;
	if (memchr(key, 0, klen)) /* skiff: a NUL cannot be part of a C path */
		return err_set(p->e, SKIFF_EINVAL,
			       VAR ": prober \"%.200s\": invalid path (contains a NUL byte)", key);
	struct prober *pr = config_slot(t->c, key, klen, &fresh);
	if (!pr)
		return err_set(p->e, SKIFF_ENOMEM, VAR ": out of memory");
	p->key = pr->path;
	p->field[0] = 0;
	int r;
	if (at_null(p))
		r = 0; /* a nil *Prober: rejected by validation */
	else
		r = read_object(p, "Prober", prober_member, pr);
	p->key = NULL;
	p->field[0] = 0;
	return r;
}

int probe_config_decode(const char *json, size_t len, struct probe_config *out,
			struct skiff_err *e)
{
	*out = (struct probe_config){ 0 };
	if (!json || len == 0)
		return 0;
	struct jp p = { .s = json, .len = len, .e = e };
	int r;
	int c = peek(&p);
	if (c == -1) {
		r = jp_fail(&p, "unexpected end of JSON input");
	} else if (at_null(&p)) {
		r = 0;
	} else if (c != '{') {
		r = skip_value(&p, 1);
		if (r >= 0)
			r = type_error(&p, c, "map[string]*Prober");
	} else {
		struct top_ctx t = { out };
		r = read_object(&p, "map[string]*Prober", top_member, &t);
	}
	if (r >= 0 && peek(&p) != -1)
		r = jp_fail(&p, "invalid JSON, data after the top-level value");
	if (r < 0)
		probe_config_free(out);
	return r < 0 ? r : 0;
}

/* ^/app-health/[^/]+/(livez|readyz|startupz)$ */
static bool path_valid(const char *s)
{
	static const char prefix[] = "/app-health/";
	if (strncmp(s, prefix, sizeof(prefix) - 1) != 0)
		return false;
	s += sizeof(prefix) - 1;
	const char *slash = strchr(s, '/');
	if (!slash || slash == s)
		return false;
	const char *kind = slash + 1;
	return strcmp(kind, "livez") == 0 || strcmp(kind, "readyz") == 0 ||
	       strcmp(kind, "startupz") == 0;
}

int probe_config_validate(const struct probe_config *c, struct skiff_err *e)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct prober *p = &c->probers[i];
		if (!path_valid(p->path))
			return err_set(e, SKIFF_EINVAL,
				       VAR ": prober \"%.200s\": invalid path, must match "
				       "^/app-health/[^/]+/(livez|readyz|startupz)$",
				       p->path);
		int kinds = !!p->http_get + !!p->tcp_socket + !!p->grpc;
		if (kinds != 1)
			return err_set(e, SKIFF_EINVAL,
				       VAR ": prober \"%.200s\": invalid prober type, must be one "
				       "of type httpGet, tcpSocket or gRPC (found %d)",
				       p->path, kinds);
		const struct probe_port *port = p->http_get ? &p->http_get->port
				: p->tcp_socket ? &p->tcp_socket->port : NULL;
		if (port && port->named)
			return err_set(e, SKIFF_EINVAL,
				       VAR ": prober \"%.200s\": field %s.port: must be int type, "
				       "got named port \"%.100s\"",
				       p->path, p->http_get ? "httpGet" : "tcpSocket",
				       port->name ? port->name : "");
	}
	return 0;
}

int probe_config_parse(const char *json, size_t len, struct probe_config *out,
		       struct skiff_err *e)
{
	int r = probe_config_decode(json, len, out, e);
	if (r < 0)
		return r;
	r = probe_config_validate(out, e);
	if (r < 0)
		probe_config_free(out);
	return r;
}

const struct prober *probe_config_find(const struct probe_config *c, const char *path,
				       size_t path_len)
{
	for (size_t i = 0; i < c->n; i++) {
		const char *k = c->probers[i].path;
		if (strncmp(k, path, path_len) == 0 && k[path_len] == 0)
			return &c->probers[i];
	}
	return NULL;
}

enum prober_kind prober_kind(const struct prober *p)
{
	if (p->http_get)
		return PROBER_HTTP;
	if (p->tcp_socket)
		return PROBER_TCP;
	return PROBER_GRPC;
}

/* ---------- encoder: Go's json.Marshal ---------- */

void probe_json_quote(struct strbuf *out, const char *str, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	strbuf_putc(out, '"');
	size_t start = 0, i = 0;
	while (i < len) {
		unsigned char b = s[i];
		if (b < 0x80) {
			bool safe = b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' &&
				    b != '&';
			if (safe) {
				i++;
				continue;
			}
			strbuf_append(out, str + start, i - start);
			char esc[6] = { '\\', 0, 0, 0, 0, 0 };
			switch (b) {
			case '\\': case '"': esc[1] = (char)b; strbuf_append(out, esc, 2); break;
			case '\n': strbuf_append(out, "\\n", 2); break;
			case '\r': strbuf_append(out, "\\r", 2); break;
			case '\t': strbuf_append(out, "\\t", 2); break;
			default:
				esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
				esc[4] = hex[b >> 4]; esc[5] = hex[b & 0xF];
				strbuf_append(out, esc, 6);
			}
			i++;
			start = i;
			continue;
		}
		uint32_t r;
		size_t n = utf8_decode(s + i, len - i, &r);
		if (n == 0) {
			strbuf_append(out, str + start, i - start);
			strbuf_append(out, "\\ufffd", 6);
			i++;
			start = i;
			continue;
		}
		if (r == 0x2028 || r == 0x2029) {
			strbuf_append(out, str + start, i - start);
			strbuf_append(out, r == 0x2028 ? "\\u2028" : "\\u2029", 6);
			i += n;
			start = i;
			continue;
		}
		i += n;
	}
	strbuf_append(out, str + start, len - start);
	strbuf_putc(out, '"');
}

static void quote(struct strbuf *out, const char *s)
{
	probe_json_quote(out, s, strlen(s));
}

static void put_port(struct strbuf *out, const struct probe_port *port)
{
	if (port->named)
		quote(out, port->name ? port->name : "");
	else
		strbuf_printf(out, "%d", (int)port->number);
}

static void encode_prober(struct strbuf *out, const struct prober *p)
{
	bool first = true;
	strbuf_putc(out, '{');
	if (p->http_get) {
		const struct probe_http_get *g = p->http_get;
		strbuf_puts(out, "\"httpGet\":{");
		if (g->path && *g->path) {
			strbuf_puts(out, "\"path\":");
			quote(out, g->path);
			strbuf_putc(out, ',');
		}
		strbuf_puts(out, "\"port\":");
		put_port(out, &g->port);
		if (g->host && *g->host) {
			strbuf_puts(out, ",\"host\":");
			quote(out, g->host);
		}
		if (g->scheme && *g->scheme) {
			strbuf_puts(out, ",\"scheme\":");
			quote(out, g->scheme);
		}
		if (g->n_headers) {
			strbuf_puts(out, ",\"httpHeaders\":[");
			for (size_t i = 0; i < g->n_headers; i++) {
				if (i)
					strbuf_putc(out, ',');
				strbuf_puts(out, "{\"name\":");
				quote(out, g->headers[i].name ? g->headers[i].name : "");
				strbuf_puts(out, ",\"value\":");
				quote(out, g->headers[i].value ? g->headers[i].value : "");
				strbuf_putc(out, '}');
			}
			strbuf_putc(out, ']');
		}
		strbuf_putc(out, '}');
		first = false;
	}
	if (p->tcp_socket) {
		if (!first)
			strbuf_putc(out, ',');
		strbuf_puts(out, "\"tcpSocket\":{\"port\":");
		put_port(out, &p->tcp_socket->port);
		if (p->tcp_socket->host && *p->tcp_socket->host) {
			strbuf_puts(out, ",\"host\":");
			quote(out, p->tcp_socket->host);
		}
		strbuf_putc(out, '}');
		first = false;
	}
	if (p->grpc) {
		if (!first)
			strbuf_putc(out, ',');
		strbuf_printf(out, "\"grpc\":{\"port\":%d,\"service\":", (int)p->grpc->port);
		if (p->grpc->service)
			quote(out, p->grpc->service);
		else
			strbuf_puts(out, "null");
		strbuf_putc(out, '}');
		first = false;
	}
	if (p->timeout_seconds) {
		if (!first)
			strbuf_putc(out, ',');
		strbuf_printf(out, "\"timeoutSeconds\":%d", (int)p->timeout_seconds);
	}
	strbuf_putc(out, '}');
}

static int cmp_path(const void *a, const void *b)
{
	const struct prober *pa = *(const struct prober *const *)a;
	const struct prober *pb = *(const struct prober *const *)b;
	return strcmp(pa->path, pb->path); /* byte order: strcmp compares unsigned chars */
}

int probe_config_encode(const struct probe_config *c, struct strbuf *out)
{
	if (!c || c->n == 0)
		return 0;
	const struct prober **idx = malloc(c->n * sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < c->n; i++)
		idx[i] = &c->probers[i];
	qsort(idx, c->n, sizeof(*idx), cmp_path);
	strbuf_putc(out, '{');
	for (size_t i = 0; i < c->n; i++) {
		if (i)
			strbuf_putc(out, ',');
		quote(out, idx[i]->path);
		strbuf_putc(out, ':');
		encode_prober(out, idx[i]);
	}
	strbuf_putc(out, '}');
	free(idx);
	return strbuf_failed(out) ? -ENOMEM : (int)c->n;
}

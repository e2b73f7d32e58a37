/* metrics.c - /stats/prometheus (see metrics.h; spec probes.md section 11).
 *
 * Configuration is parsed once at start (a bad ISTIO_PROMETHEUS_ANNOTATIONS
 * or ENVOY_PROMETHEUS_PORT stops the agent); each scrape asks Envoy and the
 * application over loopback with http_get() and concatenates: agent, Envoy
 * (blank lines removed), application (last, for OpenMetrics' "# EOF"). */
#include "agent/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/http_get.h"
#include "base/cleanup.h"
#include "base/env.h"
#include "base/log.h"
#include "base/parse.h"
#include "probe/probe.h"

#define METRICS_MAX_BODY (32u << 20)
/* skiff decision: a scrape without X-Prometheus-Scrape-Timeout-Seconds (Istio:
 * no timeout) still ends after this long, so a hung peer cannot hold a
 * server thread for ever. Prometheus always sends the header. */
#define METRICS_DEFAULT_TIMEOUT_MS 60000

struct agent_metrics {
	uint16_t envoy_port;
	bool no_envoy;              /* DISABLE_ENVOY=true: no Envoy to scrape */
	int status_port;
	struct metrics_app app;
	int app_port;               /* parsed app.port, -1 when it is not a port */
	atomic_ullong scrapes;
	atomic_ullong fail_envoy, fail_app, fail_agent;
	atomic_ullong startup_bits; /* the double's bits */
	atomic_bool startup_set;
};

/* ---- ISTIO_PROMETHEUS_ANNOTATIONS ---- */

/* Next code point of [*s, end), folded as Go's JSON decoder folds names. */
static unsigned fold_next(const unsigned char **s, const unsigned char *end)
{
	const unsigned char *p = *s;
	if (end - p >= 2 && p[0] == 0xc5 && p[1] == 0xbf) { /* U+017F LATIN SMALL LETTER LONG S */
		*s += 2;
		return 's';
	}
	if (end - p >= 3 && p[0] == 0xe2 && p[1] == 0x84 && p[2] == 0xaa) { /* U+212A KELVIN SIGN */
		*s += 3;
		return 'k';
	}
	*s += 1;
	return (p[0] >= 'A' && p[0] <= 'Z') ? p[0] + 32u : p[0];
}

bool metrics_json_name_fold_eq(const char *key, size_t klen, const char *name)
{
	const unsigned char *a = (const unsigned char *)key, *ae = a + klen;
	const unsigned char *b = (const unsigned char *)name, *be = b + strlen(name);
	while (a < ae && b < be) {
		if (fold_next(&a, ae) != fold_next(&b, be))
			return false;
	}
	return a == ae && b == be;
}

void metrics_app_clear(struct metrics_app *app)
{
	free(app->path);
	free(app->port);
	app->path = app->port = NULL;
}

/* A strict JSON reader with Go's encoding/json semantics for the one flat
 * object this variable holds: every member is seen in document order (so an
 * identical duplicate key overwrites, and a later null is ignored), strings
 * are decoded with invalid UTF-8 and lone surrogates turned into U+FFFD,
 * nesting is bounded. Syntax errors win over type errors, as Go validates
 * the whole document before decoding. */
struct jr {
	const char *s;
	size_t n, i;
	const char *syntax;   /* first syntax error, or NULL */
	size_t syntax_at;
};

#define JR_MAX_DEPTH 10000

static int jr_fail(struct jr *j, const char *what)
{
	if (!j->syntax) {
		j->syntax = what;
		j->syntax_at = j->i;
	}
	return -1;
}

static void jr_ws(struct jr *j)
{
	while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' ||
			       j->s[j->i] == '\r'))
		j->i++;
}

/* Length of the valid UTF-8 sequence at p (n bytes available), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	if (p[0] < 0x80)
		return 1;
	size_t len;
	uint32_t min, cp;
	if ((p[0] & 0xe0) == 0xc0)
		len = 2, min = 0x80, cp = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		len = 3, min = 0x800, cp = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
		len = 4, min = 0x10000, cp = p[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static void put_utf8(struct strbuf *sb, uint32_t cp)
{
	char b[4];
	if (cp < 0x80) {
		strbuf_putc(sb, (char)cp);
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6), b[1] = (char)(0x80 | (cp & 0x3f));
		strbuf_append(sb, b, 2);
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12), b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		strbuf_append(sb, b, 3);
	} else {
		b[0] = (char)(0xf0 | cp >> 18), b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), b[3] = (char)(0x80 | (cp & 0x3f));
		strbuf_append(sb, b, 4);
	}
}

static int hex4(const char *p, uint32_t *out)
{
	uint32_t v = 0;
	for (int k = 0; k < 4; k++) {
		char c = p[k];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		v = v << 4 | (uint32_t)d;
	}
	*out = v;
	return 0;
}

/* A string at j->i (which is '"'); decoded into out when out is not NULL. */
static int jr_string(struct jr *j, struct strbuf *out)
{
	j->i++;
	while (j->i < j->n) {
		unsigned char c = (unsigned char)j->s[j->i];
		if (c == '"') {
			j->i++;
			return 0;
		}
		if (c < 0x20)
			return jr_fail(j, "invalid character in string literal");
		if (c == '\\') {
			if (j->i + 1 >= j->n)
				break;
			char e = j->s[j->i + 1];
			const char *simple = strchr("\"\\/bfnrt", e);
			if (e && simple) {
				static const char map[] = "\"\\/\b\f\n\r\t";
				if (out)
					strbuf_putc(out, map[simple - "\"\\/bfnrt"]);
				j->i += 2;
				continue;
			}
			uint32_t cp;
			if (e != 'u' || j->n - j->i < 6 || hex4(j->s + j->i + 2, &cp) < 0)
				return jr_fail(j, "invalid escape in string literal");
			j->i += 6;
			if (cp >= 0xd800 && cp < 0xdc00 && j->n - j->i >= 6 && j->s[j->i] == '\\' &&
			    j->s[j->i + 1] == 'u') {
				uint32_t lo;
				if (hex4(j->s + j->i + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					j->i += 6;
				}
			}
			if (cp >= 0xd800 && cp < 0xe000)
				cp = 0xfffd;
			if (out)
				put_utf8(out, cp);
			continue;
		}
		size_t l = utf8_len((const unsigned char *)j->s + j->i, j->n - j->i);
		if (out) {
			if (l)
				strbuf_append(out, j->s + j->i, l);
			else
				put_utf8(out, 0xfffd);
		}
		j->i += l ? l : 1;
	}
	return jr_fail(j, "unexpected end of JSON input");
}

static bool jr_digit(struct jr *j)
{
	return j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9';
}

static int jr_number(struct jr *j)
{
	if (j->s[j->i] == '-')
		j->i++;
	if (!jr_digit(j))
		return jr_fail(j, "invalid character in numeric literal");
	if (j->s[j->i] == '0')
		j->i++;
	else
		while (jr_digit(j))
			j->i++;
	if (j->i < j->n && j->s[j->i] == '.') {
		j->i++;
		if (!jr_digit(j))
			return jr_fail(j, "invalid character after decimal point in numeric literal");
		while (jr_digit(j))
			j->i++;
	}
	if (j->i < j->n && (j->s[j->i] == 'e' || j->s[j->i] == 'E')) {
		j->i++;
		if (j->i < j->n && (j->s[j->i] == '+' || j->s[j->i] == '-'))
			j->i++;
		if (!jr_digit(j))
			return jr_fail(j, "invalid character in exponent of numeric literal");
		while (jr_digit(j))
			j->i++;
	}
	return 0;
}

enum jr_kind { JK_NULL, JK_BOOL, JK_NUMBER, JK_STRING, JK_ARRAY, JK_OBJECT };

static const char *const jr_kind_name[] = { "null", "a boolean", "a number", "a string",
					    "an array", "an object" };

/* The kind of the value at j->i (after white space), or -1 at the end. */
static int jr_peek(struct jr *j)
{
	jr_ws(j);
	if (j->i >= j->n)
		return jr_fail(j, "unexpected end of JSON input");
	switch (j->s[j->i]) {
	case 'n': return JK_NULL;
	case 't': case 'f': return JK_BOOL;
	case '"': return JK_STRING;
	case '[': return JK_ARRAY;
	case '{': return JK_OBJECT;
	default:
		if (j->s[j->i] == '-' || (j->s[j->i] >= '0' && j->s[j->i] <= '9'))
			return JK_NUMBER;
		return jr_fail(j, "invalid character looking for beginning of value");
	}
}

static int jr_literal(struct jr *j, const char *w)
{
	size_t l = strlen(w);
	if (j->n - j->i < l || memcmp(j->s + j->i, w, l) != 0)
		return jr_fail(j, "invalid literal");
	j->i += l;
	return 0;
}

static int jr_skip(struct jr *j, int depth);

/* Members (or elements) of the container at j->i; for an object, fn sees
 * each key (decoded) with j->i at its value and must consume the value. */
typedef int (*jr_member_fn)(struct jr *j, const char *key, size_t klen, void *ctx);

static int jr_container(struct jr *j, int depth, jr_member_fn fn, void *ctx)
{
	char open = j->s[j->i], close = open == '{' ? '}' : ']';
	if (depth > JR_MAX_DEPTH)
		return jr_fail(j, "exceeded max depth");
	j->i++;
	jr_ws(j);
	if (j->i < j->n && j->s[j->i] == close) {
		j->i++;
		return 0;
	}
	for (;;) {
		if (open == '{') {
			jr_ws(j);
			if (j->i >= j->n || j->s[j->i] != '"')
				return jr_fail(j, j->i >= j->n ? "unexpected end of JSON input"
								: "invalid character looking for beginning of object key string");
			struct strbuf key = STRBUF_INIT;
			int r = jr_string(j, &key);
			jr_ws(j);
			if (r == 0 && (j->i >= j->n || j->s[j->i] != ':'))
				r = jr_fail(j, "invalid character after object key");
			if (r == 0) {
				j->i++;
				r = fn ? fn(j, strbuf_str(&key), key.len, ctx) : jr_skip(j, depth + 1);
			}
			strbuf_free(&key);
			if (r < 0)
				return r;
		} else if (jr_skip(j, depth + 1) < 0) {
			return -1;
		}
		jr_ws(j);
		if (j->i >= j->n)
			return jr_fail(j, "unexpected end of JSON input");
		if (j->s[j->i] == close) {
			j->i++;
			return 0;
		}
		if (j->s[j->i] != ',')
			return jr_fail(j, open == '{' ? "invalid character after object key:value pair"
						      : "invalid character after array element");
		j->i++;
	}
}

static int jr_skip(struct jr *j, int depth)
{
	switch (jr_peek(j)) {
	case JK_NULL: return jr_literal(j, "null");
	case JK_BOOL: return jr_literal(j, j->s[j->i] == 't' ? "true" : "false");
	case JK_NUMBER: return jr_number(j);
	case JK_STRING: return jr_string(j, NULL);
	case JK_ARRAY:
	case JK_OBJECT: return jr_container(j, depth, NULL, NULL);
	default: return -1;
	}
}

struct ann_ctx {
	struct strbuf val[3];  /* scrape, path, port */
	bool set[3];
	char type_err[160];
};

static int ann_member(struct jr *j, const char *key, size_t klen, void *ctx)
{
	static const char *const fields[] = { "scrape", "path", "port" };
	struct ann_ctx *a = ctx;
	int f = -1;
	for (int k = 0; k < 3; k++)
		if (metrics_json_name_fold_eq(key, klen, fields[k]))
			f = k;
	int kind = jr_peek(j);
	if (f < 0 || kind == JK_NULL || kind < 0)
		return jr_skip(j, 1);
	if (kind != JK_STRING) {
		if (!a->type_err[0])
			snprintf(a->type_err, sizeof(a->type_err), "member \"%.60s\" must be a string, not %s",
				 key, jr_kind_name[kind]);
		return jr_skip(j, 1);
	}
	strbuf_reset(&a->val[f]);
	a->set[f] = true;
	return jr_string(j, &a->val[f]);
}

int metrics_annotations_parse(const char *json, int status_port, struct metrics_app *app,
			      struct skiff_err *e)
{
	static const char var[] = "ISTIO_PROMETHEUS_ANNOTATIONS";
	memset(app, 0, sizeof(*app));
	struct jr j = { .s = json, .n = strlen(json) };
	struct ann_ctx a = { 0 };
	int kind = jr_peek(&j);
	if (kind == JK_OBJECT)
		jr_container(&j, 1, ann_member, &a);
	else if (kind >= 0)
		jr_skip(&j, 1);
	if (!j.syntax) {
		jr_ws(&j);
		if (j.i < j.n)
			jr_fail(&j, "invalid character after top-level value");
	}
	int r = 0;
	if (j.syntax)
		r = err_set(e, SKIFF_EINVAL, "%s: invalid JSON: %s (at byte %zu of \"%.60s%s\")", var,
			    j.syntax, j.syntax_at, json, strlen(json) > 60 ? "..." : "");
	else if (kind != JK_OBJECT && kind != JK_NULL)
		r = err_set(e, SKIFF_EINVAL, "%s: must be a JSON object (or null), not %s", var,
			    jr_kind_name[kind]);
	else if (a.type_err[0])
		r = err_set(e, SKIFF_EINVAL, "%s: %s", var, a.type_err);
	if (r == 0) {
		const char *scrape = a.set[0] ? strbuf_str(&a.val[0]) : NULL;
		app->scrape = !(scrape && strcmp(scrape, "false") == 0);
		/* An empty string means the default, as for an absent member. */
		app->path = strdup(a.set[1] && a.val[1].len ? strbuf_str(&a.val[1]) : "/metrics");
		app->port = strdup(a.set[2] && a.val[2].len ? strbuf_str(&a.val[2]) : "80");
		if (!app->path || !app->port || strbuf_failed(&a.val[0]) || strbuf_failed(&a.val[1]) ||
		    strbuf_failed(&a.val[2])) {
			metrics_app_clear(app);
			r = err_set(e, SKIFF_ENOMEM, "%s: out of memory", var);
		}
	}
	for (int k = 0; k < 3; k++)
		strbuf_free(&a.val[k]);
	if (r < 0)
		return r;
	char sp[16];
	snprintf(sp, sizeof(sp), "%d", status_port);
	if (app->scrape && strcmp(app->port, sp) == 0) {
		metrics_app_clear(app);
		return err_set(e, SKIFF_EINVAL,
			       "%s: member \"port\": application port %s is the agent's status port, "
			       "which would make the agent scrape itself in a loop; make sure the pod "
			       "does not have the annotation prometheus.io/port=%d",
			       var, sp, status_port);
	}
	return 0;
}

/* ---- scrape helpers ---- */

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A light mime.ParseMediaType: type/subtype, then ;name=value (token or
 * quoted string) parameters. Writes the lower-cased media type. */
static int media_type(const char *s, char *mt, size_t cap)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = 0;
	bool slash = false;
	for (; *s && *s != ';' && *s != ' ' && *s != '\t'; s++) {
		if (*s == '/') {
			if (slash || n == 0)
				return -EINVAL;
			slash = true;
		} else if (!is_tchar(*s)) {
			return -EINVAL;
		}
		if (n + 1 >= cap)
			return -EINVAL;
		mt[n++] = (char)((*s >= 'A' && *s <= 'Z') ? *s + 32 : *s);
	}
	mt[n] = '\0';
	if (!slash || mt[n - 1] == '/')
		return -EINVAL;
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			return 0;
		if (*s != ';')
			return -EINVAL;
		s++;
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			return 0; /* a trailing ';' is accepted */
		const char *name = s;
		while (is_tchar(*s))
			s++;
		if (s == name || *s != '=')
			return -EINVAL;
		s++;
		if (*s == '"') {
			for (s++; *s && *s != '"'; s++) {
				if (*s == '\\' && s[1])
					s++;
			}
			if (*s != '"')
				return -EINVAL;
			s++;
		} else {
			const char *val = s;
			while (is_tchar(*s))
				s++;
			if (s == val)
				return -EINVAL;
		}
	}
}

const char *metrics_negotiate_content_type(const char *app_content_type)
{
	char mt[128];
	if (app_content_type && media_type(app_content_type, mt, sizeof(mt)) == 0 &&
	    strcmp(mt, "application/openmetrics-text") == 0)
		return METRICS_CT_OPENMETRICS;
	return METRICS_CT_TEXT;
}

void metrics_collapse_newlines(const char *in, size_t len, struct strbuf *out)
{
	size_t start = 0;
	for (size_t i = 0; i + 1 < len; i++) {
		if (in[i] == '\n' && in[i + 1] == '\n') {
			strbuf_append(out, in + start, i + 1 - start);
			start = i + 2;
			i++;
		}
	}
	if (start < len)
		strbuf_append(out, in + start, len - start);
}

int metrics_scrape_timeout(const char *hdr, int64_t *ms)
{
	if (!hdr || !*hdr)
		return 0;
	/* strconv.ParseFloat: no surrounding space, the whole string. */
	if (hdr[0] == ' ' || hdr[0] == '\t' || hdr[0] == '\n' || hdr[0] == '\r' ||
	    hdr[0] == '\v' || hdr[0] == '\f')
		goto bad;
	char *end = NULL;
	errno = 0;
	double v = strtod(hdr, &end);
	if (*end != '\0' || end == hdr)
		goto bad;
	/* time.Duration(v * 1e9): NaN, <= 0 and overflow (Inf) come out <= 0
	 * on amd64, i.e. an already expired context. */
	if (isnan(v) || v <= 0 || v * 1e9 >= 9.2e18)
		return -1;
	double m = v * 1000.0;
	*ms = m < 1.0 ? 1 : (int64_t)m;
	return 1;
bad:
	log_warn("failed to parse X-Prometheus-Scrape-Timeout-Seconds \"%s\"; scraping without a timeout",
		 hdr);
	return 0;
}

/* Percent-encode what cannot appear raw in a request target. */
static void append_target(struct strbuf *sb, const char *path)
{
	for (const unsigned char *p = (const unsigned char *)path; *p && *p != '#'; p++) {
		if (*p <= 0x20 || *p >= 0x7f || strchr("\"<>\\^`{|}", *p))
			strbuf_printf(sb, "%%%02X", *p);
		else
			strbuf_putc(sb, (char)*p);
	}
}

/* GET http://localhost:port<target> with the forwarded headers. Returns 0
 * and the body, or -1 (logged by the caller) with a reason. */
static int scrape_one(uint16_t port, const char *target, const char *const *headers,
		      int64_t deadline_ms, struct http_get_response *resp, char *why, size_t why_len)
{
	struct http_get_request rq = {
		.host = "localhost",
		.port = port,
		.target = target,
		.headers = headers,
		.deadline_ms = deadline_ms,
		.max_body = METRICS_MAX_BODY,
		.max_redirects = 10,
	};
	char w[256];
	if (http_get(&rq, resp, w, sizeof(w)) < 0) {
		snprintf(why, why_len, "Get \"http://localhost:%u%s\": %s", port, target, w);
		return -1;
	}
	if (resp->status != 200) {
		snprintf(why, why_len, "error scraping http://localhost:%u%s, status code: %d", port,
			 target, resp->status);
		return -1;
	}
	return 0;
}

static void write_agent_metrics(struct agent_metrics *m, struct strbuf *out)
{
	strbuf_printf(out,
		      "# HELP istio_agent_scrape_failures_total The total number of failed scrapes.\n"
		      "# TYPE istio_agent_scrape_failures_total counter\n"
		      "istio_agent_scrape_failures_total{type=\"agent\"} %llu\n"
		      "istio_agent_scrape_failures_total{type=\"application\"} %llu\n"
		      "istio_agent_scrape_failures_total{type=\"envoy\"} %llu\n"
		      "# HELP istio_agent_scrapes_total The total number of scrapes.\n"
		      "# TYPE istio_agent_scrapes_total counter\n"
		      "istio_agent_scrapes_total %llu\n",
		      (unsigned long long)atomic_load(&m->fail_agent),
		      (unsigned long long)atomic_load(&m->fail_app),
		      (unsigned long long)atomic_load(&m->fail_envoy),
		      (unsigned long long)atomic_load(&m->scrapes));
	if (atomic_load(&m->startup_set)) {
		unsigned long long bits = atomic_load(&m->startup_bits);
		double d;
		memcpy(&d, &bits, sizeof(d));
		strbuf_printf(out,
			      "# HELP istio_agent_startup_duration_seconds The time from the process "
			      "starting to being marked ready.\n"
			      "# TYPE istio_agent_startup_duration_seconds gauge\n"
			      "istio_agent_startup_duration_seconds %.9g\n", d);
	}
}

void agent_metrics_scrape(struct agent_metrics *m, const char *accept, const char *user_agent,
			  const char *scrape_timeout_hdr, struct agent_response *resp)
{
	atomic_fetch_add(&m->scrapes, 1);

	/* Forwarded headers: first value, only when non-empty. */
	char hbuf[3][1100];
	const char *headers[4];
	size_t nh = 0;
	if (accept && *accept)
		snprintf(hbuf[nh], sizeof(hbuf[nh]), "Accept: %s", accept), headers[nh] = hbuf[nh], nh++;
	if (user_agent && *user_agent)
		snprintf(hbuf[nh], sizeof(hbuf[nh]), "User-Agent: %s", user_agent), headers[nh] = hbuf[nh], nh++;
	if (scrape_timeout_hdr && *scrape_timeout_hdr)
		snprintf(hbuf[nh], sizeof(hbuf[nh]), "X-Prometheus-Scrape-Timeout-Seconds: %s",
			 scrape_timeout_hdr), headers[nh] = hbuf[nh], nh++;
	headers[nh] = NULL;

	int64_t tmo = METRICS_DEFAULT_TIMEOUT_MS;
	int tr = metrics_scrape_timeout(scrape_timeout_hdr, &tmo);
	if (tr == 0)
		tmo = METRICS_DEFAULT_TIMEOUT_MS;

	char why[512];
	/* Envoy. */
	struct http_get_response envoy = { 0 };
	bool envoy_ok = false;
	if (m->no_envoy) {
		/* nothing to scrape, nothing failed */
	} else if (tr < 0) {
		snprintf(why, sizeof(why), "context deadline exceeded");
	} else {
		envoy_ok = scrape_one(m->envoy_port, "/stats/prometheus", headers, probe_now_ms() + tmo,
				      &envoy, why, sizeof(why)) == 0;
	}
	if (!envoy_ok && !m->no_envoy) {
		log_error("failed scraping envoy metrics: %s", why);
		atomic_fetch_add(&m->fail_envoy, 1);
	}

	/* The application. */
	struct http_get_response app = { 0 };
	bool app_ok = false;
	if (m->app.scrape) {
		struct strbuf target = STRBUF_INIT;
		append_target(&target, m->app.path);
		if (tr < 0)
			snprintf(why, sizeof(why), "context deadline exceeded");
		else if (m->app_port < 0 || m->app.path[0] != '/')
			snprintf(why, sizeof(why), "parse \"http://localhost:%s%s\": invalid URL",
				 m->app.port, m->app.path);
		else if (m->app_port == m->status_port)
			snprintf(why, sizeof(why), "application port %d is the status port: not scraping "
				 "the agent itself", m->app_port);
		else if (strbuf_failed(&target))
			snprintf(why, sizeof(why), "out of memory");
		else
			app_ok = scrape_one((uint16_t)m->app_port, strbuf_str(&target), headers,
					    probe_now_ms() + tmo, &app, why, sizeof(why)) == 0;
		strbuf_free(&target);
		if (!app_ok) {
			log_error("failed scraping application metrics: %s", why);
			atomic_fetch_add(&m->fail_app, 1);
		}
	}

	resp->status = 200;
	resp->content_type = metrics_negotiate_content_type(app_ok ? app.content_type : NULL);
	strbuf_reset(&resp->body);
	write_agent_metrics(m, &resp->body);
	if (envoy_ok)
		metrics_collapse_newlines(envoy.body.buf ? envoy.body.buf : "", envoy.body.len, &resp->body);
	if (app_ok)
		strbuf_append(&resp->body, strbuf_str(&app.body), app.body.len);
	strbuf_free(&envoy.body);
	strbuf_free(&app.body);
}

void agent_metrics_set_startup_duration(struct agent_metrics *m, double seconds)
{
	unsigned long long bits;
	memcpy(&bits, &seconds, sizeof(bits));
	atomic_store(&m->startup_bits, bits);
	atomic_store(&m->startup_set, true);
}

/* ---- life cycle ---- */

int agent_metrics_new(char *const *envp, int status_port, struct agent_metrics **out,
		      struct skiff_err *e)
{
	*out = NULL;
	struct agent_metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return err_set(e, SKIFF_ENOMEM, "out of memory");
	m->status_port = status_port;
	m->envoy_port = 15090;
	const char *ep = env_get(envp, "ENVOY_PROMETHEUS_PORT");
	if (ep && parse_port(ep, &m->envoy_port) < 0) {
		free(m);
		return err_set(e, SKIFF_EINVAL, "ENVOY_PROMETHEUS_PORT: \"%s\" is not a port (1-65535)", ep);
	}
	/* An invalid DISABLE_ENVOY is warned about by ready.c; it means false. */
	const char *de = env_get(envp, "DISABLE_ENVOY");
	if (de && parse_bool_go(de, &m->no_envoy) < 0)
		m->no_envoy = false;
	const char *ann = env_get(envp, "ISTIO_PROMETHEUS_ANNOTATIONS");
	if (ann) {
		int r = metrics_annotations_parse(ann, status_port, &m->app, e);
		if (r < 0) {
			free(m);
			return r;
		}
		int64_t p;
		m->app_port = m->app.scrape && parse_int64(m->app.port, 0, 65535, &p) == 0 &&
					      m->app.port[0] != '+' && m->app.port[0] != '-'
				      ? (int)p : -1;
		if (m->app.scrape && m->app_port <= 0)
			log_warn("ISTIO_PROMETHEUS_ANNOTATIONS: port \"%s\" is not a port; the application "
				 "part of /stats/prometheus will be missing", m->app.port);
	}
	*out = m;
	return 0;
}

void agent_metrics_free(struct agent_metrics *m)
{
	if (!m)
		return;
	metrics_app_clear(&m->app);
	free(m);
}

/* metrics.c - /stats/prometheus (see metrics.h; spec probes.md section 11).
 *
 * Configuration is parsed once at start (a bad ISTIO_PROMETHEUS_ANNOTATIONS
 * or ENVOY_PROMETHEUS_PORT stops the agent); each scrape asks Envoy and the
 * application over loopback with http_get() and concatenates: agent, Envoy
 * (blank lines removed), application (last, for OpenMetrics' "# EOF"). */
#include "agent/metrics.h"

#include <errno.h>
#include <jansson.h>
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
	int status_port;
	struct metrics_app app;
	int app_port;               /* parsed app.port, -1 when it is not a port */
	atomic_ullong scrapes;
	atomic_ullong fail_envoy, fail_app, fail_agent;
	atomic_ullong startup_bits; /* the double's bits */
	atomic_bool startup_set;
};

/* ---- ISTIO_PROMETHEUS_ANNOTATIONS ---- */

/* Next code point of s (UTF-8), folded as Go's JSON decoder folds names. */
static unsigned fold_next(const unsigned char **s)
{
	const unsigned char *p = *s;
	if (p[0] == 0xc5 && p[1] == 0xbf) { /* U+017F LATIN SMALL LETTER LONG S */
		*s += 2;
		return 's';
	}
	if (p[0] == 0xe2 && p[1] == 0x84 && p[2] == 0xaa) { /* U+212A KELVIN SIGN */
		*s += 3;
		return 'k';
	}
	*s += 1;
	return (p[0] >= 'A' && p[0] <= 'Z') ? p[0] + 32u : p[0];
}

bool metrics_json_name_fold_eq(const char *key, const char *name)
{
	const unsigned char *a = (const unsigned char *)key, *b = (const unsigned char *)name;
	while (*a && *b) {
		if (fold_next(&a) != fold_next(&b))
			return false;
	}
	return *a == '\0' && *b == '\0';
}

void metrics_app_clear(struct metrics_app *app)
{
	free(app->path);
	free(app->port);
	app->path = app->port = NULL;
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

int metrics_annotations_parse(const char *json, int status_port, struct metrics_app *app,
			      struct skiff_err *e)
{
	static const char var[] = "ISTIO_PROMETHEUS_ANNOTATIONS";
	memset(app, 0, sizeof(*app));
	json_error_t je;
	json_t *root = json_loads(json, JSON_DECODE_ANY, &je);
	if (!root)
		return err_set(e, SKIFF_EINVAL, "%s: invalid JSON %s%.60s%s: %s (line %d, column %d)", var,
			       "\"", json, strlen(json) > 60 ? "...\"" : "\"", je.text, je.line, je.column);
	if (!json_is_object(root) && !json_is_null(root)) {
		int r = err_set(e, SKIFF_EINVAL, "%s: must be a JSON object (or null), not %s", var,
				json_kind(root));
		json_decref(root);
		return r;
	}
	/* Members in order; the later of two spellings of a field wins, null is
	 * ignored, a non-string is an error (Go's decoder). */
	const char *scrape = NULL, *path = NULL, *port = NULL;
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v) {
		const char **slot = metrics_json_name_fold_eq(key, "scrape") ? &scrape
				    : metrics_json_name_fold_eq(key, "path") ? &path
				    : metrics_json_name_fold_eq(key, "port") ? &port
									      : NULL;
		if (!slot || json_is_null(v))
			continue;
		if (!json_is_string(v)) {
			int r = err_set(e, SKIFF_EINVAL, "%s: member \"%s\" must be a string, not %s", var,
					key, json_kind(v));
			json_decref(root);
			return r;
		}
		*slot = json_string_value(v);
	}
	app->scrape = !(scrape && strcmp(scrape, "false") == 0);
	app->path = strdup(path && *path ? path : "/metrics");
	app->port = strdup(port && *port ? port : "80");
	json_decref(root);
	if (!app->path || !app->port) {
		metrics_app_clear(app);
		return err_set(e, SKIFF_ENOMEM, "%s: out of memory", var);
	}
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
	if (tr < 0) {
		snprintf(why, sizeof(why), "context deadline exceeded");
	} else {
		envoy_ok = scrape_one(m->envoy_port, "/stats/prometheus", headers, probe_now_ms() + tmo,
				      &envoy, why, sizeof(why)) == 0;
	}
	if (!envoy_ok) {
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

/* metrics.h - /stats/prometheus, the merged metrics (spec probes.md
 * section 11): the agent's own counters, then Envoy's metrics, then the
 * application's (per ISTIO_PROMETHEUS_ANNOTATIONS). Thread-safe: the
 * counters are atomics, a scrape holds no lock while it waits on a peer. */
#ifndef SKIFF_AGENT_METRICS_H
#define SKIFF_AGENT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/response.h"
#include "base/err.h"
#include "base/strbuf.h"

struct agent_metrics;

/* Read ISTIO_PROMETHEUS_ANNOTATIONS (11.1) and ENVOY_PROMETHEUS_PORT from
 * envp. A bad value is a start-up failure: the error names the variable and
 * the member. status_port is the agent's own port (recursion guard). The
 * caller frees *out with agent_metrics_free(). */
int agent_metrics_new(char *const *envp, int status_port, struct agent_metrics **out,
		      struct skiff_err *e);

/* Answer one scrape (11.2): always 200. accept, user_agent and
 * scrape_timeout_hdr are the incoming headers' first values (NULL when
 * absent); they are forwarded, and the last one bounds each scrape. */
void agent_metrics_scrape(struct agent_metrics *m, const char *accept, const char *user_agent,
			  const char *scrape_timeout_hdr, struct agent_response *resp);

/* istio_agent_startup_duration_seconds: set once Envoy is first LIVE. */
void agent_metrics_set_startup_duration(struct agent_metrics *m, double seconds);

void agent_metrics_free(struct agent_metrics *m);

/* ---- pure parts, exposed for the unit tests and fuzzers ---- */

/* The application scrape ISTIO_PROMETHEUS_ANNOTATIONS asks for. */
struct metrics_app {
	bool scrape;  /* false only for "scrape":"false" */
	char *path;   /* default "/metrics" */
	char *port;   /* as written (a string); default "80" */
};

/* Parse the variable's value (11.1). status_port for the recursion guard.
 * On success fills *app (free with metrics_app_clear()). */
int metrics_annotations_parse(const char *json, int status_port, struct metrics_app *app,
			      struct skiff_err *e);
void metrics_app_clear(struct metrics_app *app);

/* JSON member-name matching of Go's decoder: ASCII case folding plus the
 * Unicode simple folds U+017F -> s and U+212A -> k. key is klen bytes (it
 * may hold NULs); name is a C string. */
bool metrics_json_name_fold_eq(const char *key, size_t klen, const char *name);

/* Content-Type of the merged answer for the application's Content-Type
 * (NULL or "" when there was no successful application scrape). */
const char *metrics_negotiate_content_type(const char *app_content_type);

/* Append in to out with every "\n\n" replaced by "\n", left to right. */
void metrics_collapse_newlines(const char *in, size_t len, struct strbuf *out);

/* Parse X-Prometheus-Scrape-Timeout-Seconds: returns 1 and sets *ms (> 0),
 * 0 for "no timeout" (absent, empty, unparseable), -1 for "fail at once"
 * (zero, negative, NaN, or too large for Go's time.Duration). */
int metrics_scrape_timeout(const char *hdr, int64_t *ms);

#define METRICS_CT_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_CT_OPENMETRICS "application/openmetrics-text; version=0.0.1; charset=utf-8"

#endif

/* app_probe.h - the injector half of the health-probe rewrite (spec
 * probes.md sections 13 to 15): which probes the agent takes over, the
 * ISTIO_KUBE_APP_PROBERS value, and the rewritten probes. */
#ifndef SKIFF_INJECT_APP_PROBE_H
#define SKIFF_INJECT_APP_PROBE_H

#include <stdbool.h>

#include <jansson.h>

#include "base/err.h"
#include "base/strbuf.h"

#define ANN_REWRITE_PROBERS "sidecar.istio.io/rewriteAppHTTPProbers"

/* Section 13: the merged pod's annotation when it is a Go boolean, else the
 * values setting. */
bool app_probe_rewrite_enabled(const json_t *annotations, bool values_default);

/* Section 14: the port probes are rewritten to: the annotation
 * status.sidecar.istio.io/port parsed strictly (0 when it does not parse),
 * else MESH_PORT. */
int app_probe_status_port(const json_t *annotations, int mesh_port);

/* Section 15: the ISTIO_KUBE_APP_PROBERS value for CONTAINERS (the pod's
 * spec.containers; istio-proxy skipped), or NULL (*out) when no probe goes in.
 * Probes on unknown named ports are left out with a warning line. Errors on
 * probe fields of the wrong JSON type (`where` names the pod). */
int app_probe_probers_json(const json_t *containers, int mesh_status_port, bool rewrite_tcp,
			   const char *where, char **out, struct strbuf *warnings,
			   struct skiff_err *e);

/* Section 14: rewrite the probes of CONTAINERS in place. */
int app_probe_rewrite(json_t *containers, int status_port, bool rewrite_tcp);

#endif

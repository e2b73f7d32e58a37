/* inject.h - sidecar injection of one pod, the core that `skiff inject` and
 * `skiff webhook` share. Contract between the two commands: change only by
 * adding.
 *
 * The configuration holds what Istio takes from mesh config, Helm values and
 * istiod's environment (status port, proxy image, capture defaults,
 * interception mode, REWRITE_TCP_PROBES, ...), with Istio's defaults. */
#ifndef SKIFF_INJECT_INJECT_H
#define SKIFF_INJECT_INJECT_H

#include <jansson.h>
#include <stddef.h>

#include "base/err.h"
#include "base/strbuf.h"

struct inject_config;

/* Build a configuration: Istio 1.13's defaults, then the mesh config file and
 * the values file when given (NULL = not given), then istiod's environment
 * variables from envp. The caller frees it with inject_config_free(). */
int inject_config_new(const char *mesh_config_path, const char *values_path,
		      char *const *envp, struct inject_config **out, struct skiff_err *e);
void inject_config_free(struct inject_config *cfg);

/* Inject one Pod given as JSON (the webhook's path). On success *out_json is
 * the injected Pod as JSON (caller frees); when Istio's policy skips the pod
 * (inject "false", host network, already injected, ...) *out_json is NULL and
 * *skip_reason says why (caller frees). Warnings (for example a probe on an
 * unknown named port) are appended to `warnings` one per line when it is not
 * NULL. `ns` is the namespace the pod is created in (may be NULL). */
int inject_pod_json(const struct inject_config *cfg, const char *pod_json, size_t len,
		    const char *ns, char **out_json, char **skip_reason,
		    struct strbuf *warnings, struct skiff_err *e);

/* inject_pod_json() on a Pod already parsed (the webhook's hot path, with no
 * JSON text round trip): injects POD in place. Returns 1 when injected, 0
 * when Istio's policy skips the pod (*skip_reason says why; caller frees),
 * or a negative code. */
int inject_pod_tree(const struct inject_config *cfg, json_t *pod, const char *ns,
		    char **skip_reason, struct strbuf *warnings, struct skiff_err *e);

#endif

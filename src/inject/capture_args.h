/* capture_args.h - pod annotations -> the istio-iptables arguments of the
 * istio-init container (spec capture.md section 11). The one place that maps
 * traffic.sidecar.istio.io annotations, sidecar.istio.io/interceptionMode and
 * status.sidecar.istio.io/port onto -p -z -u -m -i -x -b -d -q -o -k; the
 * capture command (`skiff iptables`) parses what this writes. */
#ifndef SKIFF_INJECT_CAPTURE_ARGS_H
#define SKIFF_INJECT_CAPTURE_ARGS_H

#include <jansson.h>

#include "base/err.h"
#include "inject/inject_internal.h"

#define ANN_INTERCEPTION_MODE  "sidecar.istio.io/interceptionMode"
#define ANN_STATUS_PORT        "status.sidecar.istio.io/port"
#define ANN_INCLUDE_OUT_IPS    "traffic.sidecar.istio.io/includeOutboundIPRanges"
#define ANN_EXCLUDE_OUT_IPS    "traffic.sidecar.istio.io/excludeOutboundIPRanges"
#define ANN_INCLUDE_IN_PORTS   "traffic.sidecar.istio.io/includeInboundPorts"
#define ANN_EXCLUDE_IN_PORTS   "traffic.sidecar.istio.io/excludeInboundPorts"
#define ANN_INCLUDE_OUT_PORTS  "traffic.sidecar.istio.io/includeOutboundPorts"
#define ANN_EXCLUDE_OUT_PORTS  "traffic.sidecar.istio.io/excludeOutboundPorts"
#define ANN_KUBEVIRT           "traffic.sidecar.istio.io/kubevirtInterfaces"

/* Validate the annotations Istio's injector validates (validate.go):
 * interception mode, status port, readiness overrides, outbound IP ranges,
 * inbound ports, excludeOutboundPorts. The message names the annotation and
 * the bad value. ANNOTATIONS may be NULL. */
int capture_annotations_validate(const json_t *annotations, struct skiff_err *e);

/* The X of "-d 15090,15021,X" (capture.md 11, "Computing X for -d") from the
 * status port P and the inbound exclusions E, both as given. Heap string. */
char *capture_exclude_inbound(const char *status_port, const char *exclude);

/* The istio-init args, starting with "istio-iptables". MODE is the effective
 * interception mode (annotation, else proxy config). Returns a new JSON array
 * of strings, or NULL on allocation failure. */
json_t *capture_args_build(const struct inject_config *cfg, const json_t *annotations,
			   const char *mode);

/* Value of an annotation when present (even empty), else DEF. */
const char *ann_or(const json_t *annotations, const char *name, const char *def);

#endif

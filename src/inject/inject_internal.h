/* inject_internal.h - the injection core's pieces, shared by `skiff inject`,
 * `skiff webhook` and the unit tests. Everything works on jansson values so
 * that the YAML (file) and JSON (webhook) paths run the same code. */
#ifndef SKIFF_INJECT_INTERNAL_H
#define SKIFF_INJECT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "base/strbuf.h"
#include "inject/inject.h"

/* What Istio takes from mesh config (MeshConfig, incl. defaultConfig), from
 * the Helm values of the injector, and from istiod's environment. */
struct inject_config {
	/* mesh config */
	int mesh_status_port;            /* defaultConfig.statusPort (15020) */
	int proxy_listen_port;           /* proxyListenPort (15001) */
	char *interception_mode;         /* defaultConfig.interceptionMode (REDIRECT) */
	char *mesh_trust_domain;         /* trustDomain ("cluster.local") */
	bool enable_prometheus_merge;    /* enablePrometheusMerge (true) */
	bool mesh_hold_application;      /* defaultConfig.holdApplicationUntilProxyStarts */
	int mesh_concurrency;            /* defaultConfig.concurrency (-1 unset) */
	json_t *proxy_metadata;          /* defaultConfig.proxyMetadata (object) */
	json_t *mesh_default_config;     /* defaultConfig as given in the file (NULL = none) */

	/* Helm values (istio-sidecar-injector "values") */
	char *hub, *tag, *image;         /* gcr.io/istio-testing, latest, proxyv2 */
	char *proxy_image_override;      /* skiff --proxy-image: the whole reference */
	char *values_status_port;        /* global.proxy.statusPort ("15020") */
	char *include_ip_ranges;         /* global.proxy.includeIPRanges ("*") */
	char *exclude_ip_ranges;         /* global.proxy.excludeIPRanges ("") */
	char *include_inbound_ports;     /* global.proxy.includeInboundPorts ("*") */
	char *exclude_inbound_ports;     /* global.proxy.excludeInboundPorts ("") */
	char *include_outbound_ports;    /* global.proxy.includeOutboundPorts ("") */
	char *exclude_outbound_ports;    /* global.proxy.excludeOutboundPorts ("") */
	int readiness_initial_delay;     /* global.proxy.readinessInitialDelaySeconds (1) */
	int readiness_period;            /* global.proxy.readinessPeriodSeconds (2) */
	int readiness_failure_threshold; /* global.proxy.readinessFailureThreshold (30) */
	bool values_hold_application;    /* global.proxy.holdApplicationUntilProxyStarts */
	bool rewrite_app_probe;          /* sidecarInjectorWebhook.rewriteAppHTTPProbe (true) */
	bool cni_enabled;                /* istio_cni.enabled (false) */
	bool policy_enabled;             /* injector config policy: enabled (true) */
	char *jwt_policy;                /* global.jwtPolicy (third-party-jwt) */
	char *pilot_cert_provider;       /* global.pilotCertProvider (istiod) */
	char *ca_address;                /* global.caAddress ("") */
	char *istio_namespace;           /* global.istioNamespace (istio-system) */
	char *revision;                  /* revision ("") */
	char *cluster_name;              /* global.multiCluster.clusterName ("") */
	char *network;                   /* global.network ("") */
	char *mesh_id;                   /* global.meshID ("") */
	char *values_trust_domain;       /* global.trustDomain ("cluster.local") */
	char *cluster_domain;            /* global.proxy.clusterDomain (cluster.local) */
	char *log_level;                 /* global.proxy.logLevel (warning) */
	char *component_log_level;       /* global.proxy.componentLogLevel (misc:error) */
	char *agent_log_level;           /* global.logging.level (default:info) */
	bool log_as_json;                /* global.logAsJson */
	char *cpu_request, *memory_request, *cpu_limit, *memory_limit;
	char *token_audience;            /* global.sds.token.aud (istio-ca) */
	char *image_pull_policy;         /* global.imagePullPolicy ("") */
	bool privileged;                 /* global.proxy.privileged */

	/* istiod environment */
	bool rewrite_tcp_probes;         /* REWRITE_TCP_PROBES (true) */
	bool inbound_passthrough;        /* PILOT_ENABLE_INBOUND_PASSTHROUGH (true) */
	bool legacy_fsgroup;             /* ENABLE_LEGACY_FSGROUP_INJECTION (true) */
};

/* Set one value by skiff's option name (the --long flag without dashes):
 * status-port, proxy-image, hub, tag, interception-mode, include-ip-ranges,
 * exclude-ip-ranges, include-inbound-ports, exclude-inbound-ports,
 * include-outbound-ports, exclude-outbound-ports, revision, ... */
int inject_config_set(struct inject_config *cfg, const char *name, const char *value,
		      struct skiff_err *e);

/* Read an injector config (the istio-sidecar-injector "config" key): only
 * `policy` is used; templates are not run (a warning says so). */
int inject_config_load_inject_config(struct inject_config *cfg, const char *path,
				     struct strbuf *warnings, struct skiff_err *e);

/* Which workload owns the pod, for ISTIO_META_WORKLOAD_NAME / _OWNER and the
 * canonical-name label (Istio's DeploymentMeta and TypeMeta). */
struct inject_owner {
	const char *api_version;  /* "apps/v1", "v1", ... (NULL or "" = none) */
	const char *kind;         /* "Deployment", "Pod", ... */
	const char *name;         /* workload name */
	const char *ns;           /* namespace (NULL = default) */
};

enum inject_path {
	INJECT_PATH_KUBE_INJECT,  /* `istioctl kube-inject`: pod proxy.istio.io/config statusPort counts */
	INJECT_PATH_WEBHOOK,      /* webhook: mesh config as installed */
};

/* Inject POD (a Pod object: metadata + spec) in place. Returns 1 when
 * injected, 0 when Istio's policy skips it (*skip_reason set, heap), or a
 * negative error (bad annotation values, ...). */
int inject_pod(const struct inject_config *cfg, json_t *pod, const struct inject_owner *owner,
	       enum inject_path path, char **skip_reason, struct strbuf *warnings,
	       struct skiff_err *e);

/* Owner as the webhook derives it from the pod (GetDeployMetaFromPod). The
 * strings point into POD or into BUF. */
void inject_owner_from_pod(const json_t *pod, struct inject_owner *o, char *buf, size_t buflen);

/* Inject every pod template of a manifest document (Pod, Deployment,
 * ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, ReplicationController,
 * List). Returns the number of pods injected (0: pass the document through
 * unchanged), or a negative error. `where` prefixes messages. */
int inject_document(const struct inject_config *cfg, json_t *doc, const char *where,
		    struct strbuf *warnings, struct skiff_err *e);

/* Inject a whole manifest text (NAME for messages) into OUT as a YAML
 * stream, "---" after each document; documents without pods are copied
 * byte for byte. (src/inject/cmd.c; used by the fuzz harness too.) */
int inject_manifest(const struct inject_config *cfg, const char *name, const char *text,
		    size_t len, struct strbuf *out, struct strbuf *warnings, struct skiff_err *e);

/* Add `creationTimestamp: null` to an ObjectMeta, as Kubernetes' typed
 * writer (and so kube-inject) does. */
int inject_metadata_artefact(json_t *metadata);

/* Small jansson helpers. */
const char *jstr(const json_t *obj, const char *key);     /* string member or NULL */
json_t *jobj(json_t *obj, const char *key);                /* get-or-create object member */

#endif

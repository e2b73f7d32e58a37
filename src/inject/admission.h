/* admission.h - Kubernetes AdmissionReview in, AdmissionReview out: the pure
 * core of `skiff webhook` (no sockets; the HTTP edge is webhook.c).
 *
 * One review is handled as Istio 1.13's injector handles it: decode the
 * review (admission.k8s.io/v1 or v1beta1), apply the namespace opt-out,
 * hand the pod to the injection core, and answer with the RFC 6902 patch
 * from the pod as received to the injected pod, base64 in
 * response.patch, patchType JSONPatch, the request's uid, apiVersion and
 * kind echoed. Where skiff differs from Istio (400 for malformed reviews,
 * non-Pod objects and non-CREATE operations allowed unpatched) see
 * docs/webhook.md. */
#ifndef SKIFF_INJECT_ADMISSION_H
#define SKIFF_INJECT_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/err.h"
#include "base/strbuf.h"

/* Default bound on a review's size: a Pod may be 1.5 MiB in etcd and an
 * UPDATE review carries two objects, so 6 MiB leaves room. */
#define ADMISSION_MAX_BYTES_DEFAULT (6u * 1024 * 1024)

/* A decoded AdmissionReview request. The strings point into `review`. */
struct admission_request {
	json_t *review;           /* the whole document (owned) */
	const char *api_version;  /* admission.k8s.io/v1 or admission.k8s.io/v1beta1 */
	const char *uid;          /* request.uid */
	const char *namespace;    /* request.namespace, NULL when absent */
	const char *operation;    /* request.operation, NULL when absent */
	const char *kind_group;   /* request.kind.group, NULL when request.kind is absent */
	const char *kind_kind;    /* request.kind.kind, NULL when request.kind is absent */
	const char *sub_resource; /* request.subResource, NULL when absent */
	json_t *object;           /* request.object, NULL when absent (borrowed) */
};

/* Decode and check the envelope (not the object). On failure the message
 * names the field ("request.uid: ..."). Clear with admission_request_clear(). */
int admission_request_decode(const char *body, size_t len, struct admission_request *req,
			     struct skiff_err *e);
void admission_request_clear(struct admission_request *req);

/* The answer to one request. */
struct admission_verdict {
	bool allowed;
	const char *patch;     /* JSON Patch text (an array), NULL = no patch */
	size_t patch_len;
	const char *message;   /* response.status.message when not allowed, else NULL */
};

/* The response AdmissionReview as compact JSON (caller frees), or NULL when
 * out of memory. */
char *admission_response_encode(const struct admission_request *req,
				const struct admission_verdict *v);

/* True for the paths the injector serves: /inject and /inject/... */
bool admission_path_is_inject(const char *path);

/* The istio-proxy environment a path of the form /inject/cluster/C/net/N/...
 * asks for, as Istio parses it: pairs after "/inject", "cluster" ->
 * ISTIO_META_CLUSTER_ID, "net" -> ISTIO_META_NETWORK, any other key
 * upper-cased with "-" -> "_", the last one of a key wins, a trailing key
 * without a value is ignored. Returns a new JSON array of {name, value}
 * sorted by name (caller decrefs), or NULL when out of memory. */
json_t *admission_path_envs(const char *path);

/* Put `envs` into the istio-proxy container of `pod`: entries with those
 * names are removed and the sorted list is inserted before the entries the
 * injector appends last (ISTIO_PROMETHEUS_ANNOTATIONS,
 * ISTIO_KUBE_APP_PROBERS), where Istio's overwriteClusterInfo leaves them.
 * A pod without an istio-proxy container is left alone. */
int admission_pod_set_proxy_env(json_t *pod, const json_t *envs);

/* The injection core as the handler calls it (inject_pod_json's shape), so
 * tests can drive the handler with any injector. */
typedef int (*admission_inject_fn)(void *ctx, const char *pod_json, size_t len, const char *ns,
				   char **out_json, char **skip_reason, struct strbuf *warnings,
				   struct skiff_err *e);

/* The same on a parsed pod, changed in place: 1 injected, 0 skipped by
 * policy (*skip_reason set), negative on error. Saves a JSON round trip. */
typedef int (*admission_inject_tree_fn)(void *ctx, json_t *pod, const char *ns,
					char **skip_reason, struct strbuf *warnings,
					struct skiff_err *e);

struct admission_handler {
	admission_inject_fn inject;           /* used when inject_tree is NULL */
	admission_inject_tree_fn inject_tree;
	void *ctx;
	size_t max_bytes;        /* 0 = ADMISSION_MAX_BYTES_DEFAULT */
};

/* What to send back for one HTTP request. */
struct admission_reply {
	int status;              /* HTTP status */
	const char *content_type;
	char *body;              /* heap */
	size_t body_len;
	char *summary;           /* one log line (heap): what was decided and why */
	char *warnings;          /* the injector's warnings, one per line, or NULL */
};

/* Handle one POST to `path` with `body`. Never fails: every outcome,
 * including out of memory, is an HTTP reply. Clear with
 * admission_reply_clear(). */
void admission_handle(const struct admission_handler *h, const char *path,
		      const char *body, size_t len, struct admission_reply *out);
void admission_reply_clear(struct admission_reply *r);

/* Namespaces Istio never injects into (kube-system, kube-public). */
bool admission_namespace_ignored(const char *ns);

#endif

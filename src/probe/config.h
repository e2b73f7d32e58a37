/* config.h - ISTIO_KUBE_APP_PROBERS: the one owner of its data model, its
 * decoder (agent side) and its encoder (injector side).
 *
 * The value is a JSON object mapping a prober path
 * ("/app-health/<container>/<kind>") to one prober (spec probes.md 4, 15).
 * The decoder follows Go's encoding/json semantics as Istio 1.13 sees them:
 * case-insensitive member names below the top level (with Go's Unicode
 * folding of U+017F and U+212A), later duplicate fields overwrite earlier
 * ones (objects are decoded on top of each other), null handling per field
 * type, int32 ranges, int-or-string ports. The encoder writes exactly what
 * Go's encoder writes for the injector (sorted keys, omitted fields, Go's
 * string escaping including \u003c \u003e \u0026 \u2028 \u2029).
 *
 * A hand-written parser rather than jansson: jansson cannot express Go's
 * member-by-member merge of duplicate fields nor its case folding, and the
 * agent then links no JSON library at all (memory budget). */
#ifndef SKIFF_PROBE_CONFIG_H
#define SKIFF_PROBE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/strbuf.h"

/* Kubernetes IntOrString as used by httpGet.port and tcpSocket.port. */
struct probe_port {
	bool named;     /* true: a JSON string (a named port; the agent rejects it) */
	int32_t number; /* the integer when !named */
	char *name;     /* heap; the string when named (may be set but stale when !named) */
};

struct probe_http_header {
	char *name;  /* heap, never NULL after decoding ("" when absent) */
	char *value; /* heap, never NULL after decoding */
};

struct probe_http_get {
	char *path;   /* heap or NULL (= empty) */
	struct probe_port port;
	char *host;   /* heap or NULL; ignored by the agent */
	char *scheme; /* heap or NULL; only exactly "HTTPS" selects TLS */
	struct probe_http_header *headers; /* heap array, in order */
	size_t n_headers;
};

struct probe_tcp_socket {
	struct probe_port port;
	char *host;   /* heap or NULL; ignored by the agent */
};

struct probe_grpc {
	int32_t port;
	char *service; /* heap, or NULL for JSON null / absent */
};

/* One prober. Each handler pointer is NULL when absent (or JSON null). */
struct prober {
	char *path;                   /* the key, exact bytes (heap) */
	struct probe_http_get *http_get;
	struct probe_tcp_socket *tcp_socket;
	struct probe_grpc *grpc;
	int32_t timeout_seconds;      /* 0 when absent */
};

enum prober_kind { PROBER_HTTP, PROBER_TCP, PROBER_GRPC };

struct probe_config {
	struct prober *probers; /* heap array; decoded order = document order with
	                           duplicates removed (the last one wins) */
	size_t n;
};

/* Decode and validate ISTIO_KUBE_APP_PROBERS (spec 4.5, 4.6). `json` may be
 * NULL or "" (no probers). `len` is the byte length. On failure *out is left
 * empty and `e` names the key and field, e.g.
 *   ISTIO_KUBE_APP_PROBERS: prober "/app-health/a/livez": field httpGet.port: must be int type, got "http"
 * Messages contain Istio's phrases ("failed to decode", "invalid path",
 * "invalid prober type", "must be one of type httpGet, tcpSocket or gRPC",
 * "must be int type"). The caller frees *out with probe_config_free(). */
int probe_config_parse(const char *json, size_t len, struct probe_config *out,
		       struct skiff_err *e);

/* Only the decoding step, without the validation of 4.6 (for tests and for
 * callers that want Go's plain json.Unmarshal result). */
int probe_config_decode(const char *json, size_t len, struct probe_config *out,
			struct skiff_err *e);

/* Validation of 4.6 over a decoded config. */
int probe_config_validate(const struct probe_config *c, struct skiff_err *e);

/* The prober for an exact path, or NULL. */
const struct prober *probe_config_find(const struct probe_config *c, const char *path,
				       size_t path_len);

/* The handler kind of a validated prober. */
enum prober_kind prober_kind(const struct prober *p);

/* Append the encoding Go's json.Marshal produces for this config (15.2).
 * Returns the number of probers written; 0 means nothing was appended: the
 * injector must then not add the variable at all (never "{}"). The config is
 * not modified (keys are sorted on a private index). Returns -ENOMEM if an
 * allocation failed. */
int probe_config_encode(const struct probe_config *c, struct strbuf *out);

/* Append one string in Go's JSON encoding (quotes included). */
void probe_json_quote(struct strbuf *out, const char *s, size_t len);

/* Builders for the injector: add a prober with the given path (copied); the
 * returned prober is zeroed except for the path, and stays valid until the
 * next add. A path already present is replaced (last wins). NULL on ENOMEM. */
struct prober *probe_config_add(struct probe_config *c, const char *path);

/* Free everything the config owns and leave it empty. Accepts NULL. */
void probe_config_free(struct probe_config *c);
void prober_clear(struct prober *p);

#endif

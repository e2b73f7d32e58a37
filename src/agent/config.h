/* config.h - everything `skiff agent` is configured by, read once at start
 * (spec probes.md 2): flags, environment, the mesh config file, PROXY_CONFIG
 * and the downward-API pod annotations file. Pure: takes argv/envp and file
 * paths, returns a fully validated agent_config or an error naming the bad
 * flag, variable, key or field. Never half-configured. */
#ifndef SKIFF_AGENT_CONFIG_H
#define SKIFF_AGENT_CONFIG_H

#include <stdbool.h>

#include "base/err.h"
#include "probe/config.h"

#define AGENT_DEFAULT_STATUS_PORT 15020
#define AGENT_DEFAULT_ADMIN_PORT 15000
#define AGENT_DEFAULT_MESH_CONFIG "./etc/istio/config/mesh"
#define AGENT_DEFAULT_ANNOTATIONS "./etc/istio/pod/annotations"

struct agent_config {
	int status_port;          /* <= 0: no status server (2.2) */
	const char *status_port_from; /* which input decided it (for the log) */
	int admin_port;           /* Envoy admin (proxyAdminPort) */
	char instance_ip[256];    /* INSTANCE_IP as given */
	bool legacy_localhost;    /* REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION */
	bool ipv6;                /* derived IPv6 mode (or --ipv6) */
	bool keepalive;           /* probe connection re-use */
	const char *keepalive_var;/* the variable that decided it, or NULL */
	struct probe_config probers;
	/* limits of the status server (docs/agent.md) */
	int max_connections;
	int max_workers;
	int grace_ms;             /* SIGTERM: in-flight probes get this long */
	const char *mesh_config_path;
	const char *annotations_path;
	const char *listen_address; /* NULL = all addresses (Istio) */
	char warnings[1024];      /* non-fatal notes to log at start */
};

/* Parse argv (flags after "agent") and envp into *c. Returns 0, 1 when
 * --help was printed (exit 0), or a negative error with `e` filled. The
 * caller frees with agent_config_free(). */
int agent_config_load(int argc, char **argv, char *const *envp, struct agent_config *c,
		      struct skiff_err *e);
void agent_config_free(struct agent_config *c);

/* Pieces exposed for unit tests. */

/* Downward-API annotations file content: value of `key`, Go-unquoted, into
 * *out (heap). Returns 1 found, 0 not found, -EINVAL when some value in the
 * file does not unquote (Istio then ignores the whole file). */
int agent_annotation_lookup(const char *content, const char *key, char **out);

/* Go's strconv.Unquote for a double-quoted or back-quoted string. */
int agent_go_unquote(const char *s, size_t n, char **out);

/* statusPort / proxyAdminPort from a ProxyConfig document (YAML or JSON);
 * `prefix` is "" for a ProxyConfig or "defaultConfig" for a mesh config.
 * Missing fields leave *status / *admin unchanged. */
int agent_proxy_config_ports(const char *doc, const char *prefix, const char *what,
			     int *status, int *admin, struct skiff_err *e);

/* The probe destination for INSTANCE_IP / legacy mode / IPv6 mode. */
void agent_probe_host(const struct agent_config *c, char *buf, size_t cap);

/* IPv6 mode as Istio derives it (2.1), from INSTANCE_IP and the host's
 * interface addresses. */
bool agent_detect_ipv6(const char *instance_ip);

#endif

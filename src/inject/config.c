/* config.c - the injector's configuration: Istio 1.13 defaults, the mesh
 * config file, the values file, istiod's environment, skiff's flags. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/env.h"
#include "base/fileio.h"
#include "base/parse.h"
#include "inject/inject_internal.h"
#include "kube/manifest.h"

#define CONFIG_MAX_BYTES (16u << 20)

const char *jstr(const json_t *obj, const char *key)
{
	const json_t *v = obj ? json_object_get(obj, key) : NULL;
	return v && json_is_string(v) ? json_string_value(v) : NULL;
}

json_t *jobj(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	if (json_is_object(v))
		return v;
	v = json_object();
	if (!v || json_object_set_new(obj, key, v) < 0)
		return NULL;
	return v;
}

static int set_str(char **dst, const char *v)
{
	char *n = strdup(v ? v : "");
	if (!n)
		return -ENOMEM;
	free(*dst);
	*dst = n;
	return 0;
}

void inject_config_free(struct inject_config *c)
{
	if (!c)
		return;
	char **strs[] = {
		&c->interception_mode, &c->mesh_trust_domain, &c->hub, &c->tag, &c->image,
		&c->proxy_image_override, &c->values_status_port, &c->include_ip_ranges,
		&c->exclude_ip_ranges, &c->include_inbound_ports, &c->exclude_inbound_ports,
		&c->include_outbound_ports, &c->exclude_outbound_ports, &c->jwt_policy,
		&c->pilot_cert_provider, &c->ca_address, &c->istio_namespace, &c->revision,
		&c->cluster_name, &c->network, &c->mesh_id, &c->values_trust_domain,
		&c->cluster_domain, &c->log_level, &c->component_log_level, &c->agent_log_level,
		&c->cpu_request, &c->memory_request, &c->cpu_limit, &c->memory_limit,
		&c->token_audience, &c->image_pull_policy,
	};
	for (size_t i = 0; i < ARRAY_SIZE(strs); i++)
		free(*strs[i]);
	json_decref(c->proxy_metadata);
	json_decref(c->mesh_default_config);
	free(c);
}

static int defaults(struct inject_config *c)
{
	c->mesh_status_port = 15020;
	c->proxy_listen_port = 15001;
	c->enable_prometheus_merge = true;
	c->mesh_concurrency = -1;
	c->readiness_initial_delay = 1;
	c->readiness_period = 2;
	c->readiness_failure_threshold = 30;
	c->rewrite_app_probe = true;
	c->policy_enabled = true;
	c->rewrite_tcp_probes = true;
	c->inbound_passthrough = true;
	c->legacy_fsgroup = true;
	c->proxy_metadata = json_object();
	int r = 0;
	r |= set_str(&c->interception_mode, "REDIRECT");
	r |= set_str(&c->mesh_trust_domain, "cluster.local");
	r |= set_str(&c->hub, "gcr.io/istio-testing");
	r |= set_str(&c->tag, "latest");
	r |= set_str(&c->image, "proxyv2");
	r |= set_str(&c->values_status_port, "15020");
	r |= set_str(&c->include_ip_ranges, "*");
	r |= set_str(&c->exclude_ip_ranges, "");
	r |= set_str(&c->include_inbound_ports, "*");
	r |= set_str(&c->exclude_inbound_ports, "");
	r |= set_str(&c->include_outbound_ports, "");
	r |= set_str(&c->exclude_outbound_ports, "");
	r |= set_str(&c->jwt_policy, "third-party-jwt");
	r |= set_str(&c->pilot_cert_provider, "istiod");
	r |= set_str(&c->ca_address, "");
	r |= set_str(&c->istio_namespace, "istio-system");
	r |= set_str(&c->revision, "");
	r |= set_str(&c->cluster_name, "");
	r |= set_str(&c->network, "");
	r |= set_str(&c->mesh_id, "");
	r |= set_str(&c->values_trust_domain, "cluster.local");
	r |= set_str(&c->cluster_domain, "cluster.local");
	r |= set_str(&c->log_level, "warning");
	r |= set_str(&c->component_log_level, "misc:error");
	r |= set_str(&c->agent_log_level, "default:info");
	r |= set_str(&c->cpu_request, "100m");
	r |= set_str(&c->memory_request, "128Mi");
	r |= set_str(&c->cpu_limit, "2");
	r |= set_str(&c->memory_limit, "1Gi");
	r |= set_str(&c->token_audience, "istio-ca");
	r |= set_str(&c->image_pull_policy, "");
	return r || !c->proxy_metadata ? -ENOMEM : 0;
}

/* ---- reading typed fields of a parsed file ---- */

struct src {
	const char *what;  /* "--meshConfigFile mesh.yaml" */
	struct skiff_err *e;
};

static const json_t *path_get(const json_t *root, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	const json_t *cur = root;
	for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur;
	     tok = strtok_r(NULL, ".", &save)) {
		if (!json_is_object(cur))
			return NULL;
		cur = json_object_get(cur, tok);
	}
	return cur;
}

static int get_int(struct src *s, const json_t *root, const char *path, int min, int max,
		   int *out)
{
	const json_t *v = path_get(root, path);
	if (!v || json_is_null(v))
		return 0;
	json_int_t n;
	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v)) {
		int64_t t;
		if (parse_int64(json_string_value(v), min, max, &t) < 0)
			return err_set(s->e, SKIFF_EINVAL, "%s: %s: \"%s\" is not an integer in %d-%d",
				       s->what, path, json_string_value(v), min, max);
		n = t;
	} else {
		return err_set(s->e, SKIFF_EINVAL, "%s: %s: must be an integer", s->what, path);
	}
	if (n < min || n > max)
		return err_set(s->e, SKIFF_EINVAL, "%s: %s: %lld is not in %d-%d", s->what, path,
			       (long long)n, min, max);
	*out = (int)n;
	return 0;
}

static int get_bool(struct src *s, const json_t *root, const char *path, bool *out)
{
	const json_t *v = path_get(root, path);
	if (!v || json_is_null(v))
		return 0;
	if (json_is_boolean(v)) {
		*out = json_is_true(v);
		return 0;
	}
	if (json_is_string(v) && parse_bool_go(json_string_value(v), out) == 0)
		return 0;
	return err_set(s->e, SKIFF_EINVAL, "%s: %s: must be true or false", s->what, path);
}

/* Strings; numbers are accepted and written in decimal (statusPort: 15020). */
static int get_str(struct src *s, const json_t *root, const char *path, char **out)
{
	const json_t *v = path_get(root, path);
	if (!v || json_is_null(v))
		return 0;
	char nb[32];
	const char *val;
	if (json_is_string(v)) {
		val = json_string_value(v);
	} else if (json_is_integer(v)) {
		snprintf(nb, sizeof(nb), "%lld", (long long)json_integer_value(v));
		val = nb;
	} else if (json_is_boolean(v)) {
		val = json_is_true(v) ? "true" : "false";
	} else {
		return err_set(s->e, SKIFF_EINVAL, "%s: %s: must be a string", s->what, path);
	}
	if (set_str(out, val) < 0)
		return err_set(s->e, SKIFF_ENOMEM, "out of memory");
	return 0;
}

/* Load a YAML/JSON file; a ConfigMap is unwrapped to data.<key> (parsed). */
static int load_file(const char *flag, const char *path, const char *cm_key, json_t **out,
		     struct skiff_err *e)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = file_read_all(path, CONFIG_MAX_BYTES, flag, &text, &len, e);
	if (r < 0)
		return r;
	struct manifest m;
	r = manifest_parse(path, text, len, &m, e);
	if (r < 0)
		return err_prefix(e, "%s: ", flag);
	json_t *root = m.n_docs > 0 ? json_incref(m.docs[0].root) : NULL;
	manifest_free(&m);
	if (root && json_is_object(root) && jstr(root, "kind") &&
	    strcmp(jstr(root, "kind"), "ConfigMap") == 0) {
		const json_t *data = json_object_get(root, "data");
		const char *inner = jstr(data, cm_key);
		if (!inner) {
			json_decref(root);
			return err_set(e, SKIFF_EINVAL, "%s %s: the ConfigMap has no data.%s", flag,
				       path, cm_key);
		}
		struct manifest m2;
		r = manifest_parse(path, inner, strlen(inner), &m2, e);
		json_decref(root);
		if (r < 0)
			return err_prefix(e, "%s: data.%s: ", flag, cm_key);
		root = m2.n_docs > 0 ? json_incref(m2.docs[0].root) : NULL;
		manifest_free(&m2);
	}
	if (root && !json_is_object(root)) {
		json_decref(root);
		return err_set(e, SKIFF_EINVAL, "%s %s: expected a mapping at the top", flag, path);
	}
	*out = root;
	return 0;
}

static int load_mesh(struct inject_config *c, const char *path, struct skiff_err *e)
{
	json_t *root = NULL;
	int r = load_file("--meshConfigFile", path, "mesh", &root, e);
	if (r < 0 || !root)
		return r;
	char what[512];
	snprintf(what, sizeof(what), "--meshConfigFile %s", path);
	struct src s = { what, e };
	if ((r = get_int(&s, root, "defaultConfig.statusPort", 0, 65535, &c->mesh_status_port)) < 0 ||
	    (r = get_int(&s, root, "proxyListenPort", 0, 65535, &c->proxy_listen_port)) < 0 ||
	    (r = get_str(&s, root, "defaultConfig.interceptionMode", &c->interception_mode)) < 0 ||
	    (r = get_str(&s, root, "trustDomain", &c->mesh_trust_domain)) < 0 ||
	    (r = get_bool(&s, root, "enablePrometheusMerge", &c->enable_prometheus_merge)) < 0 ||
	    (r = get_bool(&s, root, "defaultConfig.holdApplicationUntilProxyStarts",
			  &c->mesh_hold_application)) < 0 ||
	    (r = get_int(&s, root, "defaultConfig.concurrency", 0, 1 << 20, &c->mesh_concurrency)) < 0)
		goto out;
	const json_t *dc = path_get(root, "defaultConfig");
	if (dc && !json_is_null(dc)) {
		if (!json_is_object(dc)) {
			r = err_set(e, SKIFF_EINVAL, "%s: defaultConfig: must be a mapping", what);
			goto out;
		}
		json_decref(c->mesh_default_config);
		c->mesh_default_config = json_deep_copy(dc);
	}
	const json_t *pm = path_get(root, "defaultConfig.proxyMetadata");
	if (pm && !json_is_null(pm)) {
		const char *k;
		const json_t *v;
		if (!json_is_object(pm)) {
			r = err_set(e, SKIFF_EINVAL, "%s: defaultConfig.proxyMetadata: must be a mapping",
				    what);
			goto out;
		}
		json_object_foreach((json_t *)pm, k, v) {
			if (!json_is_string(v)) {
				r = err_set(e, SKIFF_EINVAL,
					    "%s: defaultConfig.proxyMetadata.%s: must be a string", what, k);
				goto out;
			}
			json_object_set(c->proxy_metadata, k, (json_t *)v);
		}
	}
	if (strcmp(c->interception_mode, "REDIRECT") && strcmp(c->interception_mode, "TPROXY") &&
	    strcmp(c->interception_mode, "NONE"))
		r = err_set(e, SKIFF_EINVAL,
			    "%s: defaultConfig.interceptionMode: \"%s\" is not REDIRECT, TPROXY or NONE",
			    what, c->interception_mode);
out:
	json_decref(root);
	return r;
}

static int load_values(struct inject_config *c, const char *path, struct skiff_err *e)
{
	json_t *root = NULL;
	int r = load_file("--valuesFile", path, "values", &root, e);
	if (r < 0 || !root)
		return r;
	char what[512];
	snprintf(what, sizeof(what), "--valuesFile %s", path);
	struct src s = { what, e };
	struct { const char *path; char **dst; } strs[] = {
		{ "global.hub", &c->hub },
		{ "global.tag", &c->tag },
		{ "global.proxy.image", &c->image },
		{ "global.proxy.statusPort", &c->values_status_port },
		{ "global.proxy.includeIPRanges", &c->include_ip_ranges },
		{ "global.proxy.excludeIPRanges", &c->exclude_ip_ranges },
		{ "global.proxy.includeInboundPorts", &c->include_inbound_ports },
		{ "global.proxy.excludeInboundPorts", &c->exclude_inbound_ports },
		{ "global.proxy.includeOutboundPorts", &c->include_outbound_ports },
		{ "global.proxy.excludeOutboundPorts", &c->exclude_outbound_ports },
		{ "global.jwtPolicy", &c->jwt_policy },
		{ "global.pilotCertProvider", &c->pilot_cert_provider },
		{ "global.caAddress", &c->ca_address },
		{ "global.istioNamespace", &c->istio_namespace },
		{ "revision", &c->revision },
		{ "global.multiCluster.clusterName", &c->cluster_name },
		{ "global.network", &c->network },
		{ "global.meshID", &c->mesh_id },
		{ "global.trustDomain", &c->values_trust_domain },
		{ "global.proxy.clusterDomain", &c->cluster_domain },
		{ "global.proxy.logLevel", &c->log_level },
		{ "global.proxy.componentLogLevel", &c->component_log_level },
		{ "global.logging.level", &c->agent_log_level },
		{ "global.proxy.resources.requests.cpu", &c->cpu_request },
		{ "global.proxy.resources.requests.memory", &c->memory_request },
		{ "global.proxy.resources.limits.cpu", &c->cpu_limit },
		{ "global.proxy.resources.limits.memory", &c->memory_limit },
		{ "global.sds.token.aud", &c->token_audience },
		{ "global.imagePullPolicy", &c->image_pull_policy },
	};
	for (size_t i = 0; i < ARRAY_SIZE(strs); i++)
		if ((r = get_str(&s, root, strs[i].path, strs[i].dst)) < 0)
			goto out;
	if ((r = get_int(&s, root, "global.proxy.readinessInitialDelaySeconds", 0, INT32_MAX,
			 &c->readiness_initial_delay)) < 0 ||
	    (r = get_int(&s, root, "global.proxy.readinessPeriodSeconds", 0, INT32_MAX,
			 &c->readiness_period)) < 0 ||
	    (r = get_int(&s, root, "global.proxy.readinessFailureThreshold", 0, INT32_MAX,
			 &c->readiness_failure_threshold)) < 0 ||
	    (r = get_bool(&s, root, "global.proxy.holdApplicationUntilProxyStarts",
			  &c->values_hold_application)) < 0 ||
	    (r = get_bool(&s, root, "global.proxy.privileged", &c->privileged)) < 0 ||
	    (r = get_bool(&s, root, "global.logAsJson", &c->log_as_json)) < 0 ||
	    (r = get_bool(&s, root, "istio_cni.enabled", &c->cni_enabled)) < 0)
		goto out;
	/* Helm: an unset rewriteAppHTTPProbe in a values file that has the
	 * sidecarInjectorWebhook block means false (spec 13). */
	const json_t *sw = json_object_get(root, "sidecarInjectorWebhook");
	if (sw) {
		c->rewrite_app_probe = false;
		r = get_bool(&s, root, "sidecarInjectorWebhook.rewriteAppHTTPProbe",
			     &c->rewrite_app_probe);
	}
	/* a Helm value holding an image reference with a '/' is used as is */
out:
	json_decref(root);
	return r;
}

int inject_config_load_inject_config(struct inject_config *c, const char *path,
				     struct strbuf *warnings, struct skiff_err *e)
{
	json_t *root = NULL;
	int r = load_file("--injectConfigFile", path, "config", &root, e);
	if (r < 0 || !root)
		return r;
	const char *policy = jstr(root, "policy");
	if (policy) {
		if (strcmp(policy, "enabled") == 0)
			c->policy_enabled = true;
		else if (strcmp(policy, "disabled") == 0)
			c->policy_enabled = false;
		else
			r = err_set(e, SKIFF_EINVAL,
				    "--injectConfigFile %s: policy: \"%s\" is not enabled or disabled",
				    path, policy);
	}
	if (r == 0 && warnings &&
	    (json_object_get(root, "template") || json_object_get(root, "templates")))
		strbuf_printf(warnings,
			      "--injectConfigFile %s: templates are not run; skiff renders Istio "
			      "1.13's default sidecar template (only `policy` is read)\n", path);
	json_decref(root);
	return r;
}

static int env_bool(char *const *envp, const char *name, bool *out, struct skiff_err *e)
{
	const char *v = env_get_nonempty(envp, name);
	if (!v)
		return 0;
	if (parse_bool_go(v, out) < 0)
		return err_set(e, SKIFF_EINVAL, "environment %s: \"%s\" is not a boolean", name, v);
	return 0;
}

int inject_config_new(const char *mesh_config_path, const char *values_path, char *const *envp,
		      struct inject_config **out, struct skiff_err *e)
{
	struct inject_config *c = calloc(1, sizeof(*c));
	if (!c || defaults(c) < 0) {
		inject_config_free(c);
		return err_set(e, SKIFF_ENOMEM, "out of memory");
	}
	int r = 0;
	if (mesh_config_path && (r = load_mesh(c, mesh_config_path, e)) < 0)
		goto fail;
	if (values_path && (r = load_values(c, values_path, e)) < 0)
		goto fail;
	if (envp && ((r = env_bool(envp, "REWRITE_TCP_PROBES", &c->rewrite_tcp_probes, e)) < 0 ||
		     (r = env_bool(envp, "PILOT_ENABLE_INBOUND_PASSTHROUGH", &c->inbound_passthrough, e)) < 0 ||
		     (r = env_bool(envp, "ENABLE_LEGACY_FSGROUP_INJECTION", &c->legacy_fsgroup, e)) < 0))
		goto fail;
	*out = c;
	return 0;
fail:
	inject_config_free(c);
	return r;
}

int inject_config_set(struct inject_config *c, const char *name, const char *value,
		      struct skiff_err *e)
{
	struct { const char *name; char **dst; } strs[] = {
		{ "proxy-image", &c->proxy_image_override },
		{ "hub", &c->hub },
		{ "tag", &c->tag },
		{ "include-ip-ranges", &c->include_ip_ranges },
		{ "exclude-ip-ranges", &c->exclude_ip_ranges },
		{ "include-inbound-ports", &c->include_inbound_ports },
		{ "exclude-inbound-ports", &c->exclude_inbound_ports },
		{ "include-outbound-ports", &c->include_outbound_ports },
		{ "exclude-outbound-ports", &c->exclude_outbound_ports },
		{ "revision", &c->revision },
		{ "trust-domain", &c->mesh_trust_domain },
	};
	for (size_t i = 0; i < ARRAY_SIZE(strs); i++)
		if (strcmp(name, strs[i].name) == 0)
			return set_str(strs[i].dst, value) < 0 ? err_set(e, SKIFF_ENOMEM, "out of memory") : 0;
	if (strcmp(name, "status-port") == 0) {
		uint16_t p = 0;
		if (strcmp(value, "0") != 0 && parse_port(value, &p) < 0)
			return err_set(e, SKIFF_EINVAL, "--status-port: \"%s\" is not a port (0-65535)",
				       value);
		c->mesh_status_port = p;
		char nb[8];
		snprintf(nb, sizeof(nb), "%u", p);
		return set_str(&c->values_status_port, nb) < 0 ? err_set(e, SKIFF_ENOMEM, "out of memory") : 0;
	}
	if (strcmp(name, "interception-mode") == 0) {
		if (strcmp(value, "REDIRECT") && strcmp(value, "TPROXY") && strcmp(value, "NONE"))
			return err_set(e, SKIFF_EINVAL,
				       "--interception-mode: \"%s\" is not REDIRECT, TPROXY or NONE", value);
		return set_str(&c->interception_mode, value) < 0 ? err_set(e, SKIFF_ENOMEM, "out of memory") : 0;
	}
	if (strcmp(name, "rewrite-app-probers") == 0) {
		if (parse_bool_go(value, &c->rewrite_app_probe) < 0)
			return err_set(e, SKIFF_EINVAL, "--rewrite-app-probers: \"%s\" is not a boolean",
				       value);
		return 0;
	}
	return err_set(e, SKIFF_EINVAL, "unknown injector option \"%s\"", name);
}

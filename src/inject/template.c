/* template.c - Istio 1.13's default "sidecar" injection template, rendered
 * for one pod as JSON values (istio-proxy, istio-init, volumes, labels,
 * annotations). Key order inside the objects built here is the order Istio's
 * writer gives them (alphabetical), so injected parts read like kube-inject's. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "inject/capture_args.h"
#include "inject/template.h"

static int put_str(json_t *o, const char *k, const char *v)
{
	return json_object_set_new(o, k, json_string(v ? v : ""));
}

static json_t *env_value(const char *name, const char *value)
{
	return json_pack("{s:s,s:s}", "name", name, "value", value ? value : "");
}

static json_t *env_field(const char *name, const char *path)
{
	return json_pack("{s:s,s:{s:{s:s}}}", "name", name, "valueFrom", "fieldRef", "fieldPath",
			 path);
}

static int annotation_uint(const json_t *ann, const char *name, int def)
{
	const char *s = ann_or(ann, name, NULL);
	if (!s)
		return def;
	while (isspace((unsigned char)*s))
		s++;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	if (errno || *end || v < 0 || v > INT32_MAX)
		return def;
	return (int)v;
}

/* Kubernetes CPU quantity -> whole cores, rounded up; -1 if unparsable. */
static int cpu_cores(const char *q)
{
	if (!q || !*q)
		return -1;
	char *end;
	errno = 0;
	double v = strtod(q, &end);
	if (errno || end == q || v < 0 || !isfinite(v))
		return -1;
	if (strcmp(end, "m") == 0)
		v /= 1000.0;
	else if (*end)
		return -1;
	double c = ceil(v);
	if (c > 1 << 20)
		return -1;
	return (int)c;
}

char *template_proxy_image(const struct inject_config *cfg, const json_t *ann)
{
	if (cfg->proxy_image_override && *cfg->proxy_image_override)
		return strdup(cfg->proxy_image_override);
	const char *img = ann_or(ann, "sidecar.istio.io/proxyImage", cfg->image);
	if (strchr(img, '/'))
		return strdup(img);
	struct strbuf sb = STRBUF_INIT;
	strbuf_printf(&sb, "%s/%s:%s", cfg->hub, img, cfg->tag);
	return strbuf_steal(&sb);
}

/* Add R[key] = {cpu, memory} with whichever of the two is non-NULL (an
 * annotation set to "" still counts, as in Istio's template); nothing when
 * neither is. */
static void put_cpu_memory(json_t *r, const char *key, const char *cpu, const char *mem)
{
	if (!cpu && !mem)
		return;
	json_t *m = json_object();
	if (cpu)
		put_str(m, "cpu", cpu);
	if (mem)
		put_str(m, "memory", mem);
	json_object_set_new(r, key, m);
}

/* A values setting, where "" means unset. */
static const char *value_or_null(const char *v)
{
	return *v ? v : NULL;
}

/* The proxy's resources: the four annotations when any is present (the
 * values' defaults then do not apply at all, as in Istio's template), else
 * the values' limits and requests. */
static json_t *resources(const struct inject_config *cfg, const json_t *ann)
{
	const char *cpu = ann_or(ann, "sidecar.istio.io/proxyCPU", NULL);
	const char *mem = ann_or(ann, "sidecar.istio.io/proxyMemory", NULL);
	const char *cpul = ann_or(ann, "sidecar.istio.io/proxyCPULimit", NULL);
	const char *meml = ann_or(ann, "sidecar.istio.io/proxyMemoryLimit", NULL);
	json_t *r = json_object();
	if (!r)
		return NULL;
	if (cpu || mem || cpul || meml) {
		put_cpu_memory(r, "limits", cpul, meml);
		put_cpu_memory(r, "requests", cpu, mem);
	} else {
		put_cpu_memory(r, "limits", value_or_null(cfg->cpu_limit),
			       value_or_null(cfg->memory_limit));
		put_cpu_memory(r, "requests", value_or_null(cfg->cpu_request),
			       value_or_null(cfg->memory_request));
	}
	return r;
}

/* Go's encoding of a corev1.ContainerPort (structToJSON). */
static void port_json(struct strbuf *sb, const json_t *p)
{
	const char *name = jstr(p, "name");
	const json_t *hp = json_object_get(p, "hostPort");
	const json_t *cp = json_object_get(p, "containerPort");
	const char *proto = jstr(p, "protocol");
	const char *hip = jstr(p, "hostIP");
	strbuf_putc(sb, '{');
	bool first = true;
#define SEP() do { if (!first) strbuf_putc(sb, ','); first = false; } while (0)
	if (name && *name) {
		json_t *s = json_string(name);
		char *d = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
		json_decref(s);
		SEP();
		strbuf_printf(sb, "\"name\":%s", d ? d : "\"\"");
		free(d);
	}
	if (json_is_integer(hp) && json_integer_value(hp) != 0) {
		SEP();
		strbuf_printf(sb, "\"hostPort\":%lld", (long long)json_integer_value(hp));
	}
	SEP();
	strbuf_printf(sb, "\"containerPort\":%lld",
		      json_is_integer(cp) ? (long long)json_integer_value(cp) : 0LL);
	if (proto && *proto) {
		json_t *s = json_string(proto);
		char *d = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
		json_decref(s);
		SEP();
		strbuf_printf(sb, "\"protocol\":%s", d ? d : "\"\"");
		free(d);
	}
	if (hip && *hip) {
		json_t *s = json_string(hip);
		char *d = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
		json_decref(s);
		SEP();
		strbuf_printf(sb, "\"hostIP\":%s", d ? d : "\"\"");
		free(d);
	}
#undef SEP
	strbuf_putc(sb, '}');
}

static char *pod_ports(const json_t *containers)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_putc(&sb, '[');
	bool first = true;
	size_t i, j;
	const json_t *c, *p;
	json_array_foreach(containers, i, c) {
		const json_t *ports = json_object_get(c, "ports");
		if (!json_is_array(ports))
			continue;
		json_array_foreach(ports, j, p) {
			if (!json_is_object(p))
				continue;
			strbuf_puts(&sb, "\n    ");
			if (!first)
				strbuf_putc(&sb, ',');
			first = false;
			port_json(&sb, p);
		}
	}
	strbuf_puts(&sb, "\n]");
	return strbuf_steal(&sb);
}

static json_t *volume_mount(const char *path, const char *name)
{
	return json_pack("{s:s,s:s}", "mountPath", path, "name", name);
}

json_t *template_proxy_container(const struct template_ctx *t)
{
	const struct inject_config *cfg = t->cfg;
	const json_t *ann = t->annotations;
	json_t *c = json_object();
	if (!c)
		return NULL;
	int r = 0;

	/* args */
	json_t *args = json_array();
	struct strbuf sb = STRBUF_INIT;
	json_array_append_new(args, json_string("proxy"));
	json_array_append_new(args, json_string("sidecar"));
	json_array_append_new(args, json_string("--domain"));
	strbuf_printf(&sb, "$(POD_NAMESPACE).svc.%s", cfg->cluster_domain);
	json_array_append_new(args, json_string(strbuf_str(&sb)));
	strbuf_reset(&sb);
	strbuf_printf(&sb, "--proxyLogLevel=%s", ann_or(ann, "sidecar.istio.io/logLevel", cfg->log_level));
	json_array_append_new(args, json_string(strbuf_str(&sb)));
	strbuf_reset(&sb);
	strbuf_printf(&sb, "--proxyComponentLogLevel=%s",
		      ann_or(ann, "sidecar.istio.io/componentLogLevel", cfg->component_log_level));
	json_array_append_new(args, json_string(strbuf_str(&sb)));
	strbuf_reset(&sb);
	strbuf_printf(&sb, "--log_output_level=%s",
		      ann_or(ann, "sidecar.istio.io/agentLogLevel", cfg->agent_log_level));
	json_array_append_new(args, json_string(strbuf_str(&sb)));
	strbuf_reset(&sb);
	if (cfg->log_as_json)
		json_array_append_new(args, json_string("--log_as_json"));
	int conc = t->concurrency;
	if (conc < 0) {
		bool any_res = ann_or(ann, "sidecar.istio.io/proxyCPU", NULL) ||
			       ann_or(ann, "sidecar.istio.io/proxyMemory", NULL) ||
			       ann_or(ann, "sidecar.istio.io/proxyCPULimit", NULL) ||
			       ann_or(ann, "sidecar.istio.io/proxyMemoryLimit", NULL);
		conc = cpu_cores(any_res ? ann_or(ann, "sidecar.istio.io/proxyCPULimit", NULL)
					 : cfg->cpu_limit);
	}
	if (conc > 0) {
		json_array_append_new(args, json_string("--concurrency"));
		strbuf_printf(&sb, "%d", conc);
		json_array_append_new(args, json_string(strbuf_str(&sb)));
		strbuf_reset(&sb);
	}
	r |= json_object_set_new(c, "args", args);

	/* env */
	json_t *env = json_array();
	if (!cfg->inbound_passthrough)
		json_array_append_new(env, env_value("REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION", "true"));
	json_array_append_new(env, env_value("JWT_POLICY", cfg->jwt_policy));
	json_array_append_new(env, env_value("PILOT_CERT_PROVIDER", cfg->pilot_cert_provider));
	if (*cfg->ca_address) {
		json_array_append_new(env, env_value("CA_ADDR", cfg->ca_address));
	} else {
		strbuf_printf(&sb, "istiod%s%s.%s.svc:15012", *cfg->revision ? "-" : "", cfg->revision,
			      cfg->istio_namespace);
		json_array_append_new(env, env_value("CA_ADDR", strbuf_str(&sb)));
		strbuf_reset(&sb);
	}
	json_array_append_new(env, env_field("POD_NAME", "metadata.name"));
	json_array_append_new(env, env_field("POD_NAMESPACE", "metadata.namespace"));
	json_array_append_new(env, env_field("INSTANCE_IP", "status.podIP"));
	json_array_append_new(env, env_field("SERVICE_ACCOUNT", "spec.serviceAccountName"));
	json_array_append_new(env, env_field("HOST_IP", "status.hostIP"));
	strbuf_printf(&sb, "%s\n", t->proxy_config_json);
	json_array_append_new(env, env_value("PROXY_CONFIG", strbuf_str(&sb)));
	strbuf_reset(&sb);
	_cleanup_free_ char *ports = pod_ports(t->containers);
	json_array_append_new(env, env_value("ISTIO_META_POD_PORTS", ports ? ports : "[\n]"));
	size_t i;
	const json_t *ct;
	bool first = true;
	json_array_foreach(t->containers, i, ct) {
		const char *n = jstr(ct, "name");
		if (n && strcmp(n, "istio-proxy") == 0)
			continue;
		if (!first)
			strbuf_putc(&sb, ',');
		first = false;
		strbuf_puts(&sb, n ? n : "");
	}
	json_array_append_new(env, env_value("ISTIO_META_APP_CONTAINERS", strbuf_str(&sb)));
	strbuf_reset(&sb);
	json_array_append_new(env, env_value("ISTIO_META_CLUSTER_ID",
					     *cfg->cluster_name ? cfg->cluster_name : "Kubernetes"));
	json_array_append_new(env, env_value("ISTIO_META_INTERCEPTION_MODE", t->mode));
	if (*cfg->network)
		json_array_append_new(env, env_value("ISTIO_META_NETWORK", cfg->network));
	const struct inject_owner *o = t->owner;
	if (o->name && *o->name)
		json_array_append_new(env, env_value("ISTIO_META_WORKLOAD_NAME", o->name));
	if (o->api_version && *o->api_version && o->name && *o->name) {
		strbuf_printf(&sb, "kubernetes://apis/%s/namespaces/%s/", o->api_version,
			      o->ns && *o->ns ? o->ns : "default");
		for (const char *k = o->kind ? o->kind : ""; *k; k++)
			strbuf_putc(&sb, (char)tolower((unsigned char)*k));
		strbuf_printf(&sb, "s/%s", o->name);
		json_array_append_new(env, env_value("ISTIO_META_OWNER", strbuf_str(&sb)));
		strbuf_reset(&sb);
	}
	const char *td = *cfg->mesh_trust_domain ? cfg->mesh_trust_domain : cfg->values_trust_domain;
	if (*cfg->mesh_id)
		json_array_append_new(env, env_value("ISTIO_META_MESH_ID", cfg->mesh_id));
	else if (*td)
		json_array_append_new(env, env_value("ISTIO_META_MESH_ID", td));
	if (*td)
		json_array_append_new(env, env_value("TRUST_DOMAIN", td));
	const char *k;
	const json_t *v;
	json_object_foreach((json_t *)t->proxy_metadata, k, v)
		json_array_append_new(env, env_value(k, json_string_value(v)));
	r |= json_object_set_new(c, "env", env);

	_cleanup_free_ char *img = template_proxy_image(cfg, ann);
	r |= put_str(c, "image", img);
	if (*cfg->image_pull_policy)
		r |= put_str(c, "imagePullPolicy", cfg->image_pull_policy);
	if (t->hold_application)
		r |= json_object_set_new(c, "lifecycle",
					 json_pack("{s:{s:{s:[s,s]}}}", "postStart", "exec", "command",
						   "pilot-agent", "wait"));
	r |= put_str(c, "name", "istio-proxy");
	r |= json_object_set_new(c, "ports",
				 json_pack("[{s:i,s:s,s:s}]", "containerPort", 15090, "name",
					   "http-envoy-prom", "protocol", "TCP"));
	const char *sp = ann_or(ann, ANN_STATUS_PORT, cfg->values_status_port);
	if (strcmp(sp, "0") != 0) {
		json_t *rp = json_pack(
			"{s:i,s:{s:s,s:i},s:i,s:i,s:i}", "failureThreshold",
			annotation_uint(ann, "readiness.status.sidecar.istio.io/failureThreshold",
					cfg->readiness_failure_threshold),
			"httpGet", "path", "/healthz/ready", "port", 15021, "initialDelaySeconds",
			annotation_uint(ann, "readiness.status.sidecar.istio.io/initialDelaySeconds",
					cfg->readiness_initial_delay),
			"periodSeconds",
			annotation_uint(ann, "readiness.status.sidecar.istio.io/periodSeconds",
					cfg->readiness_period),
			"timeoutSeconds", 3);
		r |= json_object_set_new(c, "readinessProbe", rp);
	}
	r |= json_object_set_new(c, "resources", resources(cfg, ann));
	json_t *sc;
	if (strcmp(t->mode, "TPROXY") == 0)
		sc = json_pack("{s:b,s:{s:[s],s:[s]},s:b,s:b,s:i,s:b,s:i}",
			       "allowPrivilegeEscalation", 1, "capabilities", "add", "NET_ADMIN",
			       "drop", "ALL", "privileged", 1, "readOnlyRootFilesystem", 1,
			       "runAsGroup", 1337, "runAsNonRoot", 0, "runAsUser", 0);
	else if (cfg->privileged)
		sc = json_pack("{s:b,s:{s:[s],s:[s]},s:b,s:b,s:i,s:b,s:i}",
			       "allowPrivilegeEscalation", 1, "capabilities", "add", "NET_ADMIN",
			       "drop", "ALL", "privileged", 1, "readOnlyRootFilesystem", 1,
			       "runAsGroup", 1337, "runAsNonRoot", 1, "runAsUser", 1337);
	else
		sc = json_pack("{s:b,s:{s:[s]},s:b,s:b,s:i,s:b,s:i}", "allowPrivilegeEscalation", 0,
			       "capabilities", "drop", "ALL", "privileged", 0,
			       "readOnlyRootFilesystem", 1, "runAsGroup", 1337, "runAsNonRoot", 1,
			       "runAsUser", 1337);
	r |= json_object_set_new(c, "securityContext", sc);
	json_t *vm = json_array();
	if (strcmp(cfg->pilot_cert_provider, "istiod") == 0)
		json_array_append_new(vm, volume_mount("/var/run/secrets/istio", "istiod-ca-cert"));
	json_array_append_new(vm, volume_mount("/var/lib/istio/data", "istio-data"));
	json_array_append_new(vm, volume_mount("/etc/istio/proxy", "istio-envoy"));
	if (strcmp(cfg->jwt_policy, "third-party-jwt") == 0)
		json_array_append_new(vm, volume_mount("/var/run/secrets/tokens", "istio-token"));
	json_array_append_new(vm, volume_mount("/etc/istio/pod", "istio-podinfo"));
	r |= json_object_set_new(c, "volumeMounts", vm);
	if (r || strbuf_failed(&sb)) {
		strbuf_free(&sb);
		json_decref(c);
		return NULL;
	}
	strbuf_free(&sb);
	return c;
}

json_t *template_init_container(const struct template_ctx *t)
{
	const struct inject_config *cfg = t->cfg;
	json_t *c = json_object();
	json_t *args = capture_args_build(cfg, t->annotations, t->mode);
	if (!c || !args) {
		json_decref(c);
		json_decref(args);
		return NULL;
	}
	int r = 0;
	r |= json_object_set_new(c, "args", args);
	if (json_object_size(t->proxy_metadata) > 0) {
		json_t *env = json_array();
		const char *k;
		const json_t *v;
		json_object_foreach((json_t *)t->proxy_metadata, k, v)
			json_array_append_new(env, env_value(k, json_string_value(v)));
		r |= json_object_set_new(c, "env", env);
	}
	_cleanup_free_ char *img = template_proxy_image(cfg, t->annotations);
	r |= put_str(c, "image", img);
	if (*cfg->image_pull_policy)
		r |= put_str(c, "imagePullPolicy", cfg->image_pull_policy);
	r |= put_str(c, "name", cfg->cni_enabled ? "istio-validation" : "istio-init");
	r |= json_object_set_new(c, "resources", resources(cfg, t->annotations));
	json_t *sc;
	if (cfg->cni_enabled)
		sc = json_pack("{s:b,s:{s:[s]},s:b,s:b,s:i,s:b,s:i}", "allowPrivilegeEscalation", 0,
			       "capabilities", "drop", "ALL", "privileged", 0,
			       "readOnlyRootFilesystem", 1, "runAsGroup", 1337, "runAsNonRoot", 1,
			       "runAsUser", 1337);
	else
		sc = json_pack("{s:b,s:{s:[s,s],s:[s]},s:b,s:b,s:i,s:b,s:i}",
			       "allowPrivilegeEscalation", cfg->privileged, "capabilities", "add",
			       "NET_ADMIN", "NET_RAW", "drop", "ALL", "privileged", cfg->privileged,
			       "readOnlyRootFilesystem", 0, "runAsGroup", 0, "runAsNonRoot", 0,
			       "runAsUser", 0);
	r |= json_object_set_new(c, "securityContext", sc);
	if (r) {
		json_decref(c);
		return NULL;
	}
	return c;
}

json_t *template_volumes(const struct inject_config *cfg)
{
	json_t *v = json_array();
	if (!v)
		return NULL;
	json_array_append_new(v, json_pack("{s:{s:s},s:s}", "emptyDir", "medium", "Memory", "name",
					   "istio-envoy"));
	json_array_append_new(v, json_pack("{s:{},s:s}", "emptyDir", "name", "istio-data"));
	json_array_append_new(v, json_pack("{s:{s:[{s:{s:s},s:s},{s:{s:s},s:s}]},s:s}",
					   "downwardAPI", "items", "fieldRef", "fieldPath",
					   "metadata.labels", "path", "labels", "fieldRef",
					   "fieldPath", "metadata.annotations", "path",
					   "annotations", "name", "istio-podinfo"));
	if (strcmp(cfg->jwt_policy, "third-party-jwt") == 0)
		json_array_append_new(v, json_pack("{s:s,s:{s:[{s:{s:s,s:i,s:s}}]}}", "name",
						   "istio-token", "projected", "sources",
						   "serviceAccountToken", "audience",
						   cfg->token_audience, "expirationSeconds", 43200,
						   "path", "istio-token"));
	if (strcmp(cfg->pilot_cert_provider, "istiod") == 0)
		json_array_append_new(v, json_pack("{s:{s:s},s:s}", "configMap", "name",
						   "istio-ca-root-cert", "name", "istiod-ca-cert"));
	return v;
}

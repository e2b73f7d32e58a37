/* inject.c - inject one pod (Istio 1.13's webhook and kube-inject flow):
 * policy -> annotation validation -> template -> merge -> metrics merge ->
 * probe rewrite -> status annotation -> container order. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "inject/app_probe.h"
#include "inject/capture_args.h"
#include "inject/inject_internal.h"
#include "inject/template.h"
#include "kube/manifest.h"

#define ANN_STATUS "sidecar.istio.io/status"
#define ANN_INJECT "sidecar.istio.io/inject"
#define ANN_PROXY_CONFIG "proxy.istio.io/config"

/* *reason = A B C (heap). */
static void skip(char **reason, const char *a, const char *b, const char *c)
{
	struct strbuf sb = STRBUF_INIT;
	strbuf_puts(&sb, a);
	strbuf_puts(&sb, b);
	strbuf_puts(&sb, c);
	*reason = strbuf_steal(&sb);
}

/* Istio's injectRequired for one pod. Returns true to inject. */
static bool inject_required(const struct inject_config *cfg, const json_t *metadata,
			    const json_t *spec, const char *ns, char **reason)
{
	const json_t *hn = json_object_get(spec, "hostNetwork");
	if (json_is_true(hn)) {
		skip(reason, "the pod uses the host network (hostNetwork: true)", "", "");
		return false;
	}
	if (ns && (strcmp(ns, "kube-system") == 0 || strcmp(ns, "kube-public") == 0)) {
		skip(reason, "namespace ", ns, " is never injected");
		return false;
	}
	const json_t *ann = json_object_get(metadata, "annotations");
	if (ann && json_object_get(ann, ANN_STATUS)) {
		skip(reason, "already injected (annotation sidecar.istio.io/status)", "", "");
		return false;
	}
	const char *sel = jstr(ann, ANN_INJECT);
	const json_t *labels = json_object_get(metadata, "labels");
	const char *lbl = jstr(labels, ANN_INJECT);
	bool from_label = false;
	if (lbl) {
		sel = lbl;
		from_label = true;
	}
	if (!sel)
		sel = "";
	char low[8] = { 0 };
	size_t n = strlen(sel);
	for (size_t i = 0; i < n && i < sizeof(low) - 1; i++)
		low[i] = (char)tolower((unsigned char)sel[i]);
	if (n < sizeof(low) && (!strcmp(low, "y") || !strcmp(low, "yes") || !strcmp(low, "true") ||
				!strcmp(low, "on")))
		return true;
	if (n > 0) {
		struct strbuf sb = STRBUF_INIT;
		strbuf_printf(&sb, "%s sidecar.istio.io/inject is \"%s\"",
			      from_label ? "label" : "annotation", sel);
		*reason = strbuf_steal(&sb);
		return false;
	}
	if (!cfg->policy_enabled) {
		skip(reason, "injection policy is disabled and the pod does not ask for it", "", "");
		return false;
	}
	return true;
}

/* The effective proxy config: mesh defaultConfig overlaid by the pod's
 * proxy.istio.io/config annotation (YAML or JSON). */
struct proxy_config {
	json_t *merged;          /* object */
	json_t *metadata;        /* proxyMetadata, sorted by key */
	bool hold;
	int status_port;         /* -1 unset */
	int concurrency;         /* -1 unset */
	const char *mode;        /* NULL unset */
};

static int sort_keys(json_t *obj, json_t **out)
{
	size_t n = json_object_size(obj);
	const char **keys = calloc(n + 1, sizeof(*keys));
	json_t *o = json_object();
	if (!keys || !o) {
		free(keys);
		json_decref(o);
		return -ENOMEM;
	}
	size_t i = 0;
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
		keys[i++] = k;
	for (size_t a = 1; a < n; a++)
		for (size_t b = a; b > 0 && strcmp(keys[b - 1], keys[b]) > 0; b--) {
			const char *t = keys[b];
			keys[b] = keys[b - 1];
			keys[b - 1] = t;
		}
	for (i = 0; i < n; i++)
		json_object_set(o, keys[i], json_object_get(obj, keys[i]));
	free(keys);
	*out = o;
	return 0;
}

static int proxy_config_build(const struct inject_config *cfg, const json_t *ann,
			      struct proxy_config *pc, struct skiff_err *e)
{
	memset(pc, 0, sizeof(*pc));
	pc->status_port = -1;
	pc->concurrency = -1;
	pc->merged = cfg->mesh_default_config ? json_deep_copy(cfg->mesh_default_config)
					       : json_object();
	if (!pc->merged)
		return err_set(e, SKIFF_ENOMEM, "out of memory");
	json_t *md = json_deep_copy(cfg->proxy_metadata);
	if (!md)
		return err_set(e, SKIFF_ENOMEM, "out of memory");
	const char *s = ann_or(ann, ANN_PROXY_CONFIG, NULL);
	if (s) {
		struct manifest m;
		struct skiff_err pe = { 0 };
		if (manifest_parse("annotation", s, strlen(s), &m, &pe) < 0) {
			json_decref(md);
			return err_set(e, SKIFF_EINVAL, "annotation %s: not valid YAML or JSON: %s",
				       ANN_PROXY_CONFIG, pe.msg);
		}
		json_t *root = m.n_docs ? m.docs[0].root : NULL;
		if (root && !json_is_null(root) && !json_is_object(root)) {
			manifest_free(&m);
			json_decref(md);
			return err_set(e, SKIFF_EINVAL, "annotation %s: \"%s\" is not a mapping",
				       ANN_PROXY_CONFIG, s);
		}
		if (json_is_object(root)) {
			const json_t *apm = json_object_get(root, "proxyMetadata");
			if (json_is_object(apm))
				json_object_update(md, (json_t *)apm);
			json_object_update(pc->merged, root);
		}
		manifest_free(&m);
	}
	const char *k;
	json_t *v;
	json_object_foreach(md, k, v) {
		if (!json_is_string(v)) {
			json_decref(md);
			return err_set(e, SKIFF_EINVAL, "proxyMetadata.%s: must be a string", k);
		}
	}
	int r = sort_keys(md, &pc->metadata);
	json_decref(md);
	if (r < 0)
		return err_set(e, SKIFF_ENOMEM, "out of memory");
	const json_t *h = json_object_get(pc->merged, "holdApplicationUntilProxyStarts");
	pc->hold = h ? json_is_true(h) : (cfg->mesh_hold_application || cfg->values_hold_application);
	if (!h && cfg->values_hold_application)
		pc->hold = true;
	const json_t *sp = json_object_get(pc->merged, "statusPort");
	if (json_is_integer(sp))
		pc->status_port = (int)json_integer_value(sp);
	const json_t *cc = json_object_get(pc->merged, "concurrency");
	if (json_is_integer(cc))
		pc->concurrency = (int)json_integer_value(cc);
	else if (cfg->mesh_concurrency >= 0)
		pc->concurrency = cfg->mesh_concurrency;
	pc->mode = jstr(pc->merged, "interceptionMode");
	return 0;
}

static void proxy_config_free(struct proxy_config *pc)
{
	json_decref(pc->merged);
	json_decref(pc->metadata);
}

static json_t *find_container(json_t *list, const char *name, size_t *idx)
{
	size_t i;
	json_t *c;
	json_array_foreach(list, i, c) {
		const char *n = jstr(c, "name");
		if (n && strcmp(n, name) == 0) {
			if (idx)
				*idx = i;
			return c;
		}
	}
	return NULL;
}

/* Merge list B into list A by the member KEY (B's entries replace A's). */
static int merge_keyed_list(json_t *a, const json_t *b, const char *key)
{
	size_t i;
	json_t *it;
	json_array_foreach(b, i, it) {
		const json_t *kv = json_object_get(it, key);
		bool done = false;
		size_t j;
		json_t *ot;
		if (kv) {
			json_array_foreach(a, j, ot) {
				if (json_equal(json_object_get(ot, key), (json_t *)kv)) {
					json_array_set(a, j, it);
					done = true;
					break;
				}
			}
		}
		if (!done && json_array_append(a, it) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Overlay the user's container U onto the template's T (user wins). */
static int overlay(json_t *t, const json_t *u)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)u, k, v) {
		json_t *tv = json_object_get(t, k);
		if (json_is_object(tv) && json_is_object(v)) {
			if (overlay(tv, v) < 0)
				return -ENOMEM;
		} else if (json_is_array(tv) && json_is_array(v) &&
			   (!strcmp(k, "env") || !strcmp(k, "volumeMounts") || !strcmp(k, "ports"))) {
			const char *key = !strcmp(k, "env") ? "name"
					  : !strcmp(k, "volumeMounts") ? "mountPath" : "containerPort";
			if (merge_keyed_list(tv, v, key) < 0)
				return -ENOMEM;
		} else if (json_object_set(t, k, v) < 0) {
			return -ENOMEM;
		}
	}
	return 0;
}

static void move_container(json_t *list, const char *name, bool first)
{
	size_t idx;
	json_t *c = find_container(list, name, &idx);
	if (!c)
		return;
	json_incref(c);
	json_array_remove(list, idx);
	if (first)
		json_array_insert(list, 0, c);
	else
		json_array_append(list, c);
	json_decref(c);
}

static json_t *ensure_array(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	if (json_is_array(v))
		return v;
	v = json_array();
	if (!v || json_object_set_new(obj, key, v) < 0)
		return NULL;
	return v;
}

/* Istio's metrics merge (applyPrometheusMerge). */
static int prometheus_merge(const struct inject_config *cfg, json_t *metadata, json_t *containers,
			    int mesh_port)
{
	json_t *ann = jobj(metadata, "annotations");
	if (!ann)
		return -ENOMEM;
	bool b;
	const char *scrape = jstr(ann, "prometheus.io/scrape");
	if (scrape && parse_bool_go(scrape, &b) == 0 && !b)
		return 0;
	bool merge = cfg->enable_prometheus_merge;
	const char *mm = jstr(ann, "prometheus.istio.io/merge-metrics");
	if (mm && parse_bool_go(mm, &b) == 0)
		merge = b;
	if (!merge)
		return 0;
	char port[16];
	snprintf(port, sizeof(port), "%d", mesh_port);
	const char *cur = jstr(ann, "prometheus.io/port");
	if (cur && strcmp(cur, port) == 0)
		return 0;
	const char *path = jstr(ann, "prometheus.io/path");
	if (scrape || path || cur) {
		json_t *proxy = find_container(containers, "istio-proxy", NULL);
		if (proxy) {
			json_t *sc = json_pack("{s:s,s:s,s:s}", "scrape", scrape ? scrape : "", "path",
					       path ? path : "", "port", cur ? cur : "");
			char *d = sc ? json_dumps(sc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
			json_decref(sc);
			if (!d)
				return -ENOMEM;
			json_t *env = ensure_array(proxy, "env");
			int r = env ? json_array_append_new(
					      env, json_pack("{s:s,s:s}", "name",
							     "ISTIO_PROMETHEUS_ANNOTATIONS", "value", d))
				    : -1;
			free(d);
			if (r < 0)
				return -ENOMEM;
		}
	}
	int r = 0;
	r |= json_object_set_new(ann, "prometheus.io/port", json_string(port));
	r |= json_object_set_new(ann, "prometheus.io/path", json_string("/stats/prometheus"));
	r |= json_object_set_new(ann, "prometheus.io/scrape", json_string("true"));
	return r ? -ENOMEM : 0;
}

static int add_resources_artefact(json_t *list)
{
	size_t i;
	json_t *c;
	json_array_foreach(list, i, c)
		if (json_is_object(c) && !json_object_get(c, "resources") &&
		    json_object_set_new(c, "resources", json_object()) < 0)
			return -ENOMEM;
	return 0;
}

int inject_metadata_artefact(json_t *metadata)
{
	static const char *const before[] = { "deletionTimestamp", "deletionGracePeriodSeconds",
					      "labels", "annotations", "ownerReferences",
					      "finalizers", "managedFields", NULL };
	if (!json_is_object(metadata) || json_object_get(metadata, "creationTimestamp"))
		return 0;
	return manifest_obj_insert_before(metadata, "creationTimestamp", json_null(), before);
}

static int check_containers(json_t *spec, const char *field, struct skiff_err *e)
{
	json_t *l = json_object_get(spec, field);
	if (!l || json_is_null(l))
		return 0;
	if (!json_is_array(l))
		return err_set(e, SKIFF_EINVAL, "spec.%s must be a list", field);
	size_t i;
	json_t *c;
	json_array_foreach(l, i, c) {
		if (!json_is_object(c))
			return err_set(e, SKIFF_EINVAL, "spec.%s[%zu] must be a mapping", field, i);
		const json_t *n = json_object_get(c, "name");
		if (n && !json_is_string(n))
			return err_set(e, SKIFF_EINVAL, "spec.%s[%zu].name must be a string", field, i);
		const json_t *p = json_object_get(c, "ports");
		if (p && !json_is_null(p) && !json_is_array(p))
			return err_set(e, SKIFF_EINVAL, "spec.%s[%zu].ports must be a list", field, i);
	}
	return 0;
}

int inject_pod(const struct inject_config *cfg, json_t *pod, const struct inject_owner *owner,
	       enum inject_path path, char **skip_reason, struct strbuf *warnings,
	       struct skiff_err *e)
{
	*skip_reason = NULL;
	if (!json_is_object(pod))
		return err_set(e, SKIFF_EINVAL, "the pod must be a mapping");
	json_t *spec = json_object_get(pod, "spec");
	if (!json_is_object(spec))
		return err_set(e, SKIFF_EINVAL, "the pod has no spec");
	json_t *metadata = json_object_get(pod, "metadata");
	if (metadata && !json_is_object(metadata))
		return err_set(e, SKIFF_EINVAL, "metadata must be a mapping");
	if (!metadata) {
		static const char *const before[] = { "spec", NULL };
		if (manifest_obj_insert_before(pod, "metadata", json_object(), before) < 0)
			return err_set(e, SKIFF_ENOMEM, "out of memory");
		metadata = json_object_get(pod, "metadata");
	}
	json_t *ann0 = json_object_get(metadata, "annotations");
	if (ann0 && !json_is_null(ann0) && !json_is_object(ann0))
		return err_set(e, SKIFF_EINVAL, "metadata.annotations must be a mapping");
	json_t *lab0 = json_object_get(metadata, "labels");
	if (lab0 && !json_is_null(lab0) && !json_is_object(lab0))
		return err_set(e, SKIFF_EINVAL, "metadata.labels must be a mapping");
	int r;
	if ((r = check_containers(spec, "containers", e)) < 0 ||
	    (r = check_containers(spec, "initContainers", e)) < 0)
		return r;
	const char *ns = jstr(metadata, "namespace");
	if (owner && owner->ns && path == INJECT_PATH_WEBHOOK)
		ns = owner->ns;
	if (!inject_required(cfg, metadata, spec, ns, skip_reason))
		return *skip_reason ? 0 : err_set(e, SKIFF_ENOMEM, "out of memory");

	json_t *ann = json_is_object(ann0) ? ann0 : NULL;
	if ((r = capture_annotations_validate(ann, e)) < 0)
		return r;

	struct proxy_config pc;
	if ((r = proxy_config_build(cfg, ann, &pc, e)) < 0) {
		proxy_config_free(&pc);
		return r;
	}
	const char *mode = ann_or(ann, ANN_INTERCEPTION_MODE,
				  pc.mode && *pc.mode ? pc.mode : cfg->interception_mode);
	_cleanup_free_ char *pcj = json_dumps(pc.merged, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_t *containers = ensure_array(spec, "containers");
	json_t *orig_containers = containers ? json_deep_copy(containers) : NULL;
	struct inject_owner own = owner ? *owner : (struct inject_owner){ 0 };
	struct template_ctx t = {
		.cfg = cfg,
		.annotations = ann,
		.containers = orig_containers,
		.owner = &own,
		.mode = mode,
		.proxy_config_json = pcj ? pcj : "{}",
		.proxy_metadata = pc.metadata,
		.hold_application = pc.hold,
		.concurrency = pc.concurrency,
	};
	json_t *proxy = NULL, *init = NULL, *vols = NULL;
	r = -ENOMEM;
	if (!pcj || !containers || !orig_containers)
		goto out;
	proxy = template_proxy_container(&t);
	vols = template_volumes(cfg);
	bool want_init = strcmp(mode, "NONE") != 0;
	if (want_init)
		init = template_init_container(&t);
	if (!proxy || !vols || (want_init && !init))
		goto out;

	/* labels */
	json_t *labels = jobj(metadata, "labels");
	if (!labels)
		goto out;
	if (!json_object_get(labels, "security.istio.io/tlsMode"))
		json_object_set_new(labels, "security.istio.io/tlsMode", json_string("istio"));
	if (!json_object_get(labels, "service.istio.io/canonical-name")) {
		const char *cn = jstr(labels, "app.kubernetes.io/name");
		if (!cn || !*cn)
			cn = jstr(labels, "app");
		if (!cn || !*cn)
			cn = own.name ? own.name : "";
		json_object_set_new(labels, "service.istio.io/canonical-name", json_string(cn));
	}
	if (!json_object_get(labels, "service.istio.io/canonical-revision")) {
		const char *cr = jstr(labels, "app.kubernetes.io/version");
		if (!cr || !*cr)
			cr = jstr(labels, "version");
		if (!cr || !*cr)
			cr = "latest";
		json_object_set_new(labels, "service.istio.io/canonical-revision", json_string(cr));
	}

	/* annotations from the template */
	json_t *annw = jobj(metadata, "annotations");
	if (!annw)
		goto out;
	ann = annw;
	size_t n_app = 0;
	const char *app0 = NULL;
	size_t i;
	json_t *c;
	json_array_foreach(orig_containers, i, c) {
		const char *n = jstr(c, "name");
		if (n && strcmp(n, "istio-proxy") == 0)
			continue;
		if (!n_app)
			app0 = n ? n : "";
		n_app++;
	}
	if (n_app == 1) {
		json_object_set_new(annw, "kubectl.kubernetes.io/default-logs-container", json_string(app0));
		json_object_set_new(annw, "kubectl.kubernetes.io/default-container", json_string(app0));
	}
	if (cfg->cni_enabled) {
		json_object_set_new(annw, ANN_INTERCEPTION_MODE, json_string(mode));
		if (!json_object_get(annw, ANN_INCLUDE_OUT_IPS))
			json_object_set_new(annw, ANN_INCLUDE_OUT_IPS, json_string(cfg->include_ip_ranges));
		if (!json_object_get(annw, ANN_EXCLUDE_OUT_IPS))
			json_object_set_new(annw, ANN_EXCLUDE_OUT_IPS, json_string(cfg->exclude_ip_ranges));
		if (!json_object_get(annw, ANN_INCLUDE_IN_PORTS))
			json_object_set_new(annw, ANN_INCLUDE_IN_PORTS, json_string(cfg->include_inbound_ports));
		_cleanup_free_ char *x = capture_exclude_inbound(
			ann_or(annw, ANN_STATUS_PORT, cfg->values_status_port),
			ann_or(annw, ANN_EXCLUDE_IN_PORTS, cfg->exclude_inbound_ports));
		if (!x)
			goto out;
		json_object_set_new(annw, ANN_EXCLUDE_IN_PORTS, json_string(x));
	}

	/* init container first (Istio moves it first), proxy container */
	if (init) {
		json_t *inits = ensure_array(spec, "initContainers");
		size_t idx;
		if (!inits)
			goto out;
		if (find_container(inits, jstr(init, "name"), &idx))
			json_array_remove(inits, idx);
		if (json_array_insert(inits, 0, init) < 0)
			goto out;
	}
	size_t pidx;
	json_t *user_proxy = find_container(containers, "istio-proxy", &pidx);
	if (user_proxy) {
		if (overlay(proxy, user_proxy) < 0 || json_array_set(containers, pidx, proxy) < 0)
			goto out;
	} else if (json_array_append(containers, proxy) < 0) {
		goto out;
	}
	json_t *pvols = ensure_array(spec, "volumes");
	if (!pvols)
		goto out;
	json_t *vol;
	json_array_foreach(vols, i, vol) {
		bool have = false;
		size_t j;
		json_t *pv;
		json_array_foreach(pvols, j, pv)
			if (json_equal(json_object_get(pv, "name"), json_object_get(vol, "name")))
				have = true;
		if (!have && json_array_append(pvols, vol) < 0)
			goto out;
	}
	if (cfg->legacy_fsgroup) {
		json_t *psc = jobj(spec, "securityContext");
		if (!psc || json_object_set_new(psc, "fsGroup", json_integer(1337)) < 0)
			goto out;
	}

	/* post-processing */
	int mesh_port = cfg->mesh_status_port;
	if (path == INJECT_PATH_KUBE_INJECT && pc.status_port >= 0)
		mesh_port = pc.status_port;
	if (prometheus_merge(cfg, metadata, containers, mesh_port) < 0)
		goto out;
	json_t *pxy = find_container(containers, "istio-proxy", NULL);
	if (pxy && app_probe_rewrite_enabled(ann, cfg->rewrite_app_probe)) {
		_cleanup_free_ char *probers = NULL;
		char where[300];
		snprintf(where, sizeof(where), "pod %s", own.name && *own.name ? own.name : "(unnamed)");
		r = app_probe_probers_json(containers, mesh_port, cfg->rewrite_tcp_probes, where,
					   &probers, warnings, e);
		if (r < 0)
			goto out_err;
		r = -ENOMEM;
		if (probers) {
			json_t *env = ensure_array(pxy, "env");
			if (!env || json_array_append_new(env, json_pack("{s:s,s:s}", "name",
									 "ISTIO_KUBE_APP_PROBERS",
									 "value", probers)) < 0)
				goto out;
		}
		if (app_probe_rewrite(containers, app_probe_status_port(ann, mesh_port),
				      cfg->rewrite_tcp_probes) < 0)
			goto out;
	}
	json_t *st = json_pack("{s:o,s:[s],s:o,s:n,s:s}", "initContainers",
			       init ? json_pack("[s]", jstr(init, "name")) : json_null(),
			       "containers", "istio-proxy", "volumes", json_array(),
			       "imagePullSecrets", "revision",
			       *cfg->revision ? cfg->revision : "default");
	if (!st)
		goto out;
	json_t *stv = json_object_get(st, "volumes");
	json_array_foreach(vols, i, vol)
		json_array_append(stv, json_object_get(vol, "name"));
	char *std = json_dumps(st, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(st);
	if (!std)
		goto out;
	json_object_set_new(annw, ANN_STATUS, json_string(std));
	free(std);

	move_container(containers, "istio-proxy", pc.hold);

	/* what Kubernetes' typed writer adds */
	if (inject_metadata_artefact(metadata) < 0 || add_resources_artefact(containers) < 0 ||
	    add_resources_artefact(json_object_get(spec, "initContainers")) < 0)
		goto out;
	r = 1;
out:
	if (r == -ENOMEM)
		r = err_set(e, SKIFF_ENOMEM, "out of memory");
out_err:
	json_decref(proxy);
	json_decref(init);
	json_decref(vols);
	json_decref(orig_containers);
	proxy_config_free(&pc);
	return r;
}

/* ---- the webhook path: a Pod as JSON ---- */

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n > 0;
}

void inject_owner_from_pod(const json_t *pod, struct inject_owner *o, char *buf, size_t buflen)
{
	const json_t *md = json_object_get(pod, "metadata");
	memset(o, 0, sizeof(*o));
	o->api_version = "v1";
	o->kind = "Pod";
	o->name = jstr(md, "name");
	o->ns = jstr(md, "namespace");
	const char *gen = jstr(md, "generateName");
	if (gen && *gen) {
		const json_t *refs = json_object_get(md, "ownerReferences");
		size_t i;
		const json_t *ref;
		json_array_foreach(refs, i, ref) {
			if (!json_is_true(json_object_get(ref, "controller")))
				continue;
			o->api_version = jstr(ref, "apiVersion");
			o->kind = jstr(ref, "kind");
			o->name = jstr(ref, "name");
			const char *rn = o->name ? o->name : "";
			const json_t *labels = json_object_get(md, "labels");
			const char *hash = jstr(labels, "pod-template-hash");
			size_t rl = strlen(rn);
			if (o->kind && strcmp(o->kind, "ReplicaSet") == 0 && hash && *hash) {
				size_t hl = strlen(hash);
				if (rl > hl && strcmp(rn + rl - hl, hash) == 0) {
					size_t nl = rl - hl;
					if (nl > 0 && rn[nl - 1] == '-')
						nl--;
					snprintf(buf, buflen, "%.*s", (int)nl, rn);
					o->name = buf;
					o->kind = "Deployment";
				}
			} else if (o->kind && strcmp(o->kind, "ReplicationController") == 0 &&
				   jstr(labels, "deploymentconfig") && *jstr(labels, "deploymentconfig")) {
				o->name = jstr(labels, "deploymentconfig");
				o->kind = "DeploymentConfig";
			} else if (o->kind && strcmp(o->kind, "Job") == 0) {
				const char *dash = strrchr(rn, '-');
				if (dash && all_digits(dash + 1, strlen(dash + 1)) &&
				    strlen(dash + 1) >= 8 && strlen(dash + 1) <= 10) {
					snprintf(buf, buflen, "%.*s", (int)(dash - rn), rn);
					o->name = buf;
					o->kind = "CronJob";
					o->api_version = "batch/v1";
				}
			}
			break;
		}
	}
	if (!o->name || !*o->name)
		o->name = jstr(md, "name");
}

int inject_pod_tree(const struct inject_config *cfg, json_t *pod, const char *ns,
		    char **skip_reason, struct strbuf *warnings, struct skiff_err *e)
{
	char buf[256];
	struct inject_owner o;
	*skip_reason = NULL;
	inject_owner_from_pod(pod, &o, buf, sizeof(buf));
	if (ns && *ns)
		o.ns = ns;
	return inject_pod(cfg, pod, &o, INJECT_PATH_WEBHOOK, skip_reason, warnings, e);
}

int inject_pod_json(const struct inject_config *cfg, const char *pod_json, size_t len,
		    const char *ns, char **out_json, char **skip_reason, struct strbuf *warnings,
		    struct skiff_err *e)
{
	*out_json = NULL;
	*skip_reason = NULL;
	json_error_t je;
	json_t *pod = json_loadb(pod_json, len, JSON_REJECT_DUPLICATES, &je);
	if (!pod)
		return err_set(e, SKIFF_EINVAL, "pod: invalid JSON at line %d, column %d: %s", je.line,
			       je.column, je.text);
	int r = inject_pod_tree(cfg, pod, ns, skip_reason, warnings, e);
	if (r == 1) {
		*out_json = json_dumps(pod, JSON_COMPACT | JSON_PRESERVE_ORDER);
		r = *out_json ? 0 : err_set(e, SKIFF_ENOMEM, "out of memory");
	}
	json_decref(pod);
	return r < 0 ? r : 0;
}

/* ---- manifests: every pod template of a document ---- */

static int inject_template(const struct inject_config *cfg, json_t *holder, const char *key,
			   const struct inject_owner *owner, const char *where,
			   struct strbuf *warnings, struct skiff_err *e)
{
	json_t *tpl = json_object_get(holder, key);
	if (!json_is_object(tpl))
		return err_set(e, SKIFF_EINVAL, "%s: %s must be a pod template (a mapping)", where, key);
	char *reason = NULL;
	int r = inject_pod(cfg, tpl, owner, INJECT_PATH_KUBE_INJECT, &reason, warnings, e);
	if (r == 0 && reason)
		if (warnings)
			strbuf_printf(warnings, "%s: not injected: %s\n", where, reason);
	free(reason);
	if (r < 0)
		return err_prefix(e, "%s: ", where);
	return r;
}

static int status_artefact(json_t *doc, const char *kind)
{
	json_t *st = json_object_get(doc, "status");
	if (st)
		return 0;
	if (!strcmp(kind, "ReplicaSet") || !strcmp(kind, "ReplicationController") ||
	    !strcmp(kind, "StatefulSet"))
		st = json_pack("{s:i}", "replicas", 0);
	else if (!strcmp(kind, "DaemonSet"))
		st = json_pack("{s:i,s:i,s:i,s:i}", "currentNumberScheduled", 0,
			       "numberMisscheduled", 0, "desiredNumberScheduled", 0, "numberReady", 0);
	else
		st = json_object();
	return json_object_set_new(doc, "status", st) < 0 ? -ENOMEM : 0;
}

int inject_document(const struct inject_config *cfg, json_t *doc, const char *where,
		    struct strbuf *warnings, struct skiff_err *e)
{
	if (!json_is_object(doc))
		return 0;
	const char *kind = jstr(doc, "kind");
	if (!kind)
		return 0;
	json_t *md = json_object_get(doc, "metadata");
	char w[512];
	const char *name = jstr(md, "name");
	snprintf(w, sizeof(w), "%s %s %s", where, kind, name ? name : "(unnamed)");
	struct inject_owner o = {
		.api_version = jstr(doc, "apiVersion"),
		.kind = kind,
		.name = name,
		.ns = jstr(md, "namespace"),
	};
	if (strcmp(kind, "List") == 0) {
		json_t *items = json_object_get(doc, "items");
		if (!json_is_array(items))
			return 0;
		int total = 0;
		size_t i;
		json_t *it;
		json_array_foreach(items, i, it) {
			char iw[560];
			snprintf(iw, sizeof(iw), "%s item %zu:", where, i);
			int r = inject_document(cfg, it, iw, warnings, e);
			if (r < 0)
				return r;
			total += r;
		}
		return total;
	}
	int r;
	json_t *spec = json_object_get(doc, "spec");
	if (strcmp(kind, "Pod") == 0) {
		if (!json_is_object(spec))
			return err_set(e, SKIFF_EINVAL, "%s: spec must be a mapping", w);
		char *reason = NULL;
		o.api_version = "v1";
		r = inject_pod(cfg, doc, &o, INJECT_PATH_KUBE_INJECT, &reason, warnings, e);
		if (r == 0 && reason)
			if (warnings)
				strbuf_printf(warnings, "%s: not injected: %s\n", w, reason);
		free(reason);
		if (r < 0)
			return err_prefix(e, "%s: ", w);
	} else if (!strcmp(kind, "Deployment") || !strcmp(kind, "ReplicaSet") ||
		   !strcmp(kind, "StatefulSet") || !strcmp(kind, "DaemonSet") ||
		   !strcmp(kind, "Job") || !strcmp(kind, "ReplicationController")) {
		if (!json_is_object(spec))
			return err_set(e, SKIFF_EINVAL, "%s: spec must be a mapping", w);
		r = inject_template(cfg, spec, "template", &o, w, warnings, e);
		if (r < 0)
			return r;
		if (r == 1) {
			static const char *const after_tpl[] = { "minReadySeconds", "revisionHistoryLimit",
								 "paused", "progressDeadlineSeconds", NULL };
			if (!strcmp(kind, "Deployment") && !json_object_get(spec, "strategy") &&
			    manifest_obj_insert_before(spec, "strategy", json_object(), after_tpl) < 0)
				return err_set(e, SKIFF_ENOMEM, "out of memory");
			if ((!strcmp(kind, "StatefulSet") || !strcmp(kind, "DaemonSet")) &&
			    !json_object_get(spec, "updateStrategy") &&
			    manifest_obj_insert_before(spec, "updateStrategy", json_object(), after_tpl) < 0)
				return err_set(e, SKIFF_ENOMEM, "out of memory");
		}
	} else if (strcmp(kind, "CronJob") == 0) {
		json_t *jt = json_is_object(spec) ? json_object_get(spec, "jobTemplate") : NULL;
		json_t *js = json_is_object(jt) ? json_object_get(jt, "spec") : NULL;
		if (!json_is_object(js))
			return err_set(e, SKIFF_EINVAL, "%s: spec.jobTemplate.spec must be a mapping", w);
		r = inject_template(cfg, js, "template", &o, w, warnings, e);
		if (r < 0)
			return r;
		if (r == 1 && !json_object_get(jt, "metadata")) {
			static const char *const before_spec[] = { "spec", NULL };
			if (manifest_obj_insert_before(jt, "metadata", json_object(), before_spec) < 0)
				return err_set(e, SKIFF_ENOMEM, "out of memory");
		}
		if (r == 1 && inject_metadata_artefact(json_object_get(jt, "metadata")) < 0)
			return err_set(e, SKIFF_ENOMEM, "out of memory");
	} else {
		return 0;
	}
	if (r == 1 && (inject_metadata_artefact(md) < 0 || status_artefact(doc, kind) < 0))
		return err_set(e, SKIFF_ENOMEM, "out of memory");
	return r;
}

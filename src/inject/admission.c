/* admission.c - AdmissionReview decoding, the injection decision and the
 * JSONPatch response (see admission.h). */
#include "inject/admission.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "inject/jsonpatch.h"

#define API_V1 "admission.k8s.io/v1"
#define API_V1BETA1 "admission.k8s.io/v1beta1"
#define PROXY_CONTAINER "istio-proxy"

/* jansson provides json_decrefp() for its json_auto_t. */
#define _cleanup_json_ _cleanup_(json_decrefp)

void admission_request_clear(struct admission_request *req)
{
	if (!req)
		return;
	json_decref(req->review);
	memset(req, 0, sizeof(*req));
}

/* An optional string member: absent or null -> NULL; another type is an error. */
static int opt_string(const json_t *obj, const char *key, const char *where,
		      const char **out, struct skiff_err *e)
{
	const json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return err_set(e, SKIFF_EINVAL, "%s%s: not a string", where, key);
	*out = json_string_value(v);
	return 0;
}

int admission_request_decode(const char *body, size_t len, struct admission_request *req,
			     struct skiff_err *e)
{
	json_error_t jerr;
	int r;

	memset(req, 0, sizeof(*req));
	json_t *review = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
	if (!review)
		return err_set(e, SKIFF_EINVAL,
			       "could not decode the AdmissionReview: %s (line %d, column %d)",
			       jerr.text, jerr.line, jerr.column);
	req->review = review;
	if (!json_is_object(review)) {
		r = err_set(e, SKIFF_EINVAL, "could not decode the AdmissionReview: not a JSON object");
		goto fail;
	}
	const char *api, *kind;
	if ((r = opt_string(review, "apiVersion", "", &api, e)) < 0 ||
	    (r = opt_string(review, "kind", "", &kind, e)) < 0)
		goto fail;
	if (!api || (strcmp(api, API_V1) != 0 && strcmp(api, API_V1BETA1) != 0)) {
		r = err_set(e, SKIFF_EINVAL, "apiVersion \"%s\": want \"" API_V1 "\" or \"" API_V1BETA1 "\"",
			    api ? api : "");
		goto fail;
	}
	if (!kind || strcmp(kind, "AdmissionReview") != 0) {
		r = err_set(e, SKIFF_EINVAL, "kind \"%s\": want \"AdmissionReview\"", kind ? kind : "");
		goto fail;
	}
	req->api_version = api;
	json_t *rq = json_object_get(review, "request");
	if (!json_is_object(rq)) {
		r = err_set(e, SKIFF_EINVAL, "request: %s", rq ? "not a JSON object" : "missing");
		goto fail;
	}
	if ((r = opt_string(rq, "uid", "request.", &req->uid, e)) < 0 ||
	    (r = opt_string(rq, "namespace", "request.", &req->namespace, e)) < 0 ||
	    (r = opt_string(rq, "operation", "request.", &req->operation, e)) < 0 ||
	    (r = opt_string(rq, "subResource", "request.", &req->sub_resource, e)) < 0)
		goto fail;
	if (!req->uid || !req->uid[0]) {
		r = err_set(e, SKIFF_EINVAL, "request.uid: missing or empty");
		goto fail;
	}
	json_t *k = json_object_get(rq, "kind");
	if (k && !json_is_null(k)) {
		if (!json_is_object(k)) {
			r = err_set(e, SKIFF_EINVAL, "request.kind: not a JSON object");
			goto fail;
		}
		if ((r = opt_string(k, "group", "request.kind.", &req->kind_group, e)) < 0 ||
		    (r = opt_string(k, "kind", "request.kind.", &req->kind_kind, e)) < 0)
			goto fail;
		if (!req->kind_group)
			req->kind_group = "";
		if (!req->kind_kind)
			req->kind_kind = "";
	}
	json_t *obj = json_object_get(rq, "object");
	req->object = obj && !json_is_null(obj) ? obj : NULL;
	return 0;
fail:
	admission_request_clear(req);
	return r;
}

/* ---- encoding ---- */

static void base64_append(struct strbuf *sb, const char *in, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)in;
	char q[4];
	size_t i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		q[0] = tab[v >> 18];
		q[1] = tab[(v >> 12) & 63];
		q[2] = tab[(v >> 6) & 63];
		q[3] = tab[v & 63];
		strbuf_append(sb, q, 4);
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		q[0] = tab[v >> 18];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		q[3] = '=';
		strbuf_append(sb, q, 4);
	}
}

static void json_str(struct strbuf *sb, const char *s)
{
	jsonpatch_json_string(sb, s, strlen(s));
}

char *admission_response_encode(const struct admission_request *req,
				const struct admission_verdict *v)
{
	/* Written directly (Go's field order: kind, apiVersion; uid, allowed,
	 * status, patch, patchType): the patch is the bulk and needs no
	 * escaping once in base64. */
	struct strbuf sb = STRBUF_INIT;
	strbuf_puts(&sb, "{\"kind\":\"AdmissionReview\",\"apiVersion\":");
	json_str(&sb, req->api_version);
	strbuf_puts(&sb, ",\"response\":{\"uid\":");
	json_str(&sb, req->uid);
	strbuf_puts(&sb, v->allowed ? ",\"allowed\":true" : ",\"allowed\":false");
	if (v->message) {
		strbuf_puts(&sb, ",\"status\":{\"metadata\":{},\"message\":");
		json_str(&sb, v->message);
		strbuf_putc(&sb, '}');
	}
	if (v->patch) {
		strbuf_puts(&sb, ",\"patch\":\"");
		base64_append(&sb, v->patch, v->patch_len);
		strbuf_puts(&sb, "\",\"patchType\":\"JSONPatch\"");
	}
	strbuf_puts(&sb, "}}");
	return strbuf_steal(&sb);
}

/* ---- the request path ---- */

bool admission_path_is_inject(const char *path)
{
	return strcmp(path, "/inject") == 0 || strncmp(path, "/inject/", 8) == 0;
}

static int env_name_cmp(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	return strcmp(json_string_value(json_object_get(x, "name")),
		      json_string_value(json_object_get(y, "name")));
}

json_t *admission_path_envs(const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	_cleanup_json_ json_t *byname = json_object();
	if (!copy || !byname)
		return NULL;
	size_t n = strlen(copy);
	if (n > 0 && copy[n - 1] == '/')
		copy[n - 1] = '\0';
	/* Fields after "", "inject": key, value, key, value, ... */
	char *fields[2] = { NULL, NULL };
	int idx = 0, nf = 0;
	for (char *p = copy;; idx++) {
		char *slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		if (idx >= 2) {
			fields[nf++] = p;
			if (nf == 2) {
				nf = 0;
				const char *k = fields[0];
				_cleanup_free_ char *name = NULL;
				if (strcmp(k, "cluster") == 0)
					name = strdup("ISTIO_META_CLUSTER_ID");
				else if (strcmp(k, "net") == 0)
					name = strdup("ISTIO_META_NETWORK");
				else if (k[0]) {
					name = strdup(k);
					for (char *c = name; c && *c; c++)
						*c = *c == '-' ? '_' : (char)toupper((unsigned char)*c);
				} else
					goto next; /* skiff: an empty key would be an invalid env name */
				if (!name || json_object_set_new(byname, name, json_string(fields[1])) != 0)
					return NULL;
			}
		}
	next:
		if (!slash)
			break;
		p = slash + 1;
	}
	size_t count = json_object_size(byname);
	_cleanup_free_ json_t **items = calloc(count ? count : 1, sizeof(*items));
	json_t *arr = json_array();
	if (!items || !arr) {
		json_decref(arr);
		return NULL;
	}
	const char *key;
	json_t *val;
	size_t i = 0;
	json_object_foreach(byname, key, val) {
		items[i] = json_pack("{s:s,s:O}", "name", key, "value", val);
		if (!items[i]) {
			while (i > 0)
				json_decref(items[--i]);
			json_decref(arr);
			return NULL;
		}
		i++;
	}
	qsort(items, count, sizeof(*items), env_name_cmp);
	for (i = 0; i < count; i++)
		json_array_append_new(arr, items[i]);
	return arr;
}

static json_t *find_proxy_container(json_t *pod)
{
	json_t *cs = json_object_get(json_object_get(pod, "spec"), "containers");
	size_t i;
	json_t *c;
	json_array_foreach(cs, i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));
		if (name && strcmp(name, PROXY_CONTAINER) == 0)
			return c;
	}
	return NULL;
}

static bool env_is_appended_last(const json_t *entry)
{
	const char *n = json_string_value(json_object_get(entry, "name"));
	return n && (strcmp(n, "ISTIO_PROMETHEUS_ANNOTATIONS") == 0 ||
		     strcmp(n, "ISTIO_KUBE_APP_PROBERS") == 0);
}

int admission_pod_set_proxy_env(json_t *pod, const json_t *envs)
{
	if (json_array_size(envs) == 0)
		return 0;
	json_t *proxy = find_proxy_container(pod);
	if (!proxy)
		return 0;
	json_t *env = json_object_get(proxy, "env");
	if (!json_is_array(env)) {
		env = json_array();
		if (!env || json_object_set_new(proxy, "env", env) != 0)
			return -ENOMEM;
	}
	for (size_t i = json_array_size(env); i > 0; i--) {
		const char *n = json_string_value(json_object_get(json_array_get(env, i - 1), "name"));
		size_t j;
		json_t *want;
		json_array_foreach(envs, j, want) {
			if (n && strcmp(n, json_string_value(json_object_get(want, "name"))) == 0) {
				json_array_remove(env, i - 1);
				break;
			}
		}
	}
	size_t at = json_array_size(env);
	while (at > 0 && env_is_appended_last(json_array_get(env, at - 1)))
		at--;
	size_t j;
	json_t *want;
	json_array_foreach(envs, j, want) {
		if (json_array_insert_new(env, at + j, json_deep_copy(want)) != 0)
			return -ENOMEM;
	}
	return 0;
}

bool admission_namespace_ignored(const char *ns)
{
	return ns && (strcmp(ns, "kube-system") == 0 || strcmp(ns, "kube-public") == 0);
}

/* ---- handling one review ---- */

void admission_reply_clear(struct admission_reply *r)
{
	if (!r)
		return;
	free(r->body);
	free(r->summary);
	free(r->warnings);
	memset(r, 0, sizeof(*r));
}

static void reply_text(struct admission_reply *out, int status, const char *msg)
{
	out->status = status;
	out->content_type = "text/plain; charset=utf-8";
	struct strbuf sb = STRBUF_INIT;
	strbuf_puts(&sb, msg);
	strbuf_putc(&sb, '\n');
	out->body_len = sb.len;
	out->body = strbuf_steal(&sb);
	if (!out->body) {
		out->status = 500;
		out->body_len = 0;
	}
	if (!out->summary)
		out->summary = strdup(msg);
}

static void reply_review(struct admission_reply *out, const struct admission_request *req,
			 const struct admission_verdict *v)
{
	out->body = admission_response_encode(req, v);
	if (!out->body) {
		reply_text(out, 500, "out of memory encoding the AdmissionReview response");
		return;
	}
	out->status = 200;
	out->content_type = "application/json";
	out->body_len = strlen(out->body);
}

static void summarize(struct admission_reply *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void summarize(struct admission_reply *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(out->summary);
	if (vasprintf(&out->summary, fmt, ap) < 0)
		out->summary = NULL;
	va_end(ap);
}

/* Istio's potentialPodName: the name, else generateName + "***". */
static void pod_name(const json_t *meta, struct strbuf *sb)
{
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *gen = json_string_value(json_object_get(meta, "generateName"));
	if (name && name[0])
		strbuf_puts(sb, name);
	else if (gen && gen[0])
		strbuf_printf(sb, "%s***", gen);
}

static void reply_oom(struct admission_reply *out)
{
	reply_text(out, 500, "out of memory");
}

/* Inject one pod and answer with the patch (or the reason it has none). */
static void handle_pod(const struct admission_handler *h, const struct admission_request *req,
		       const char *path, struct admission_reply *out)
{
	struct skiff_err e = { 0 };
	struct admission_verdict allow = { .allowed = true };
	char msg[SKIFF_ERR_MSG_MAX + 64];

	/* Istio strips managedFields before injecting and diffing, and fills in
	 * the namespace from the request; the patch is relative to the pod so
	 * prepared, which the API server's own object agrees with. */
	_cleanup_json_ json_t *base = json_deep_copy(req->object);
	_cleanup_json_ json_t *pod = NULL;
	if (!base)
		return reply_oom(out);
	json_t *meta = json_object_get(base, "metadata");
	if (json_is_object(meta))
		json_object_del(meta, "managedFields");
	pod = json_deep_copy(base);
	if (!pod)
		return reply_oom(out);
	const char *pod_ns = json_string_value(json_object_get(meta, "namespace"));
	const char *ns = pod_ns && pod_ns[0] ? pod_ns : req->namespace;
	bool ns_added = false;
	if (ns && ns[0] && !(pod_ns && pod_ns[0])) {
		json_t *pm = json_object_get(pod, "metadata");
		if (!pm) {
			pm = json_object();
			json_object_set_new(pod, "metadata", pm);
		}
		if (json_is_object(pm)) {
			json_object_set_new(pm, "namespace", json_string(ns));
			ns_added = true;
		}
	}
	struct strbuf who = STRBUF_INIT;
	strbuf_printf(&who, "%s/", ns ? ns : "");
	pod_name(meta, &who);
	_cleanup_free_ char *podname = strbuf_steal(&who);
	const char *pn = podname ? podname : "?";

	if (admission_namespace_ignored(ns)) {
		summarize(out, "uid %s: pod %s: namespace %s is never injected: allowed unchanged",
			  req->uid, pn, ns);
		reply_review(out, req, &allow);
		return;
	}

	_cleanup_free_ char *injected = NULL, *skip = NULL;
	_cleanup_json_ json_t *after = NULL;
	struct strbuf warnings = STRBUF_INIT;
	int r;
	if (h->inject_tree) {
		r = h->inject_tree(h->ctx, pod, ns, &skip, &warnings, &e);
		if (r == 1)
			after = TAKE_PTR(pod);
		r = r < 0 ? r : 0;
	} else {
		_cleanup_free_ char *pod_text = json_dumps(pod, JSON_COMPACT);
		if (!pod_text) {
			strbuf_free(&warnings);
			return reply_oom(out);
		}
		r = h->inject(h->ctx, pod_text, strlen(pod_text), ns, &injected, &skip, &warnings, &e);
	}
	out->warnings = warnings.len ? strbuf_steal(&warnings) : NULL;
	strbuf_free(&warnings);
	if (r < 0) {
		/* As Istio: a review that decodes but cannot be injected is answered
		 * with allowed false and the reason; the failurePolicy decides. */
		struct admission_verdict deny = { .allowed = false,
			.message = e.msg[0] ? e.msg : "injection failed" };
		summarize(out, "uid %s: pod %s: injection failed: %s", req->uid, pn, deny.message);
		reply_review(out, req, &deny);
		return;
	}
	if (!injected && !after) {
		summarize(out, "uid %s: pod %s: skipped: %s", req->uid, pn, skip ? skip : "policy");
		reply_review(out, req, &allow);
		return;
	}
	json_error_t jerr = { .text = "not an object" };
	if (!after)
		after = json_loads(injected, 0, &jerr);
	if (!json_is_object(after)) {
		snprintf(msg, sizeof(msg), "injector returned invalid JSON: %s", jerr.text);
		struct admission_verdict deny = { .allowed = false, .message = msg };
		summarize(out, "uid %s: pod %s: %s", req->uid, pn, msg);
		reply_review(out, req, &deny);
		return;
	}
	if (ns_added) {
		json_t *am = json_object_get(after, "metadata");
		const char *ans = json_string_value(json_object_get(am, "namespace"));
		if (ans && strcmp(ans, ns) == 0)
			json_object_del(am, "namespace");
		if (!json_object_get(base, "metadata") && json_is_object(am) && json_object_size(am) == 0)
			json_object_del(after, "metadata");
	}
	_cleanup_json_ json_t *envs = admission_path_envs(path);
	if (!envs || admission_pod_set_proxy_env(after, envs) < 0)
		return reply_oom(out);
	struct strbuf ops = STRBUF_INIT;
	size_t n_ops = 0;
	if (jsonpatch_diff_text(base, after, &ops, &n_ops, &e) < 0) {
		strbuf_free(&ops);
		return reply_oom(out);
	}
	if (n_ops == 0) {
		strbuf_free(&ops);
		summarize(out, "uid %s: pod %s: nothing to change", req->uid, pn);
		reply_review(out, req, &allow);
		return;
	}
	struct admission_verdict patched = { .allowed = true, .patch = ops.buf, .patch_len = ops.len };
	summarize(out, "uid %s: pod %s: injected (%zu patch operations)", req->uid, pn, n_ops);
	reply_review(out, req, &patched);
	strbuf_free(&ops);
}

void admission_handle(const struct admission_handler *h, const char *path,
		      const char *body, size_t len, struct admission_reply *out)
{
	struct admission_request req = { 0 };
	struct skiff_err e = { 0 };
	size_t max = h->max_bytes ? h->max_bytes : ADMISSION_MAX_BYTES_DEFAULT;
	char msg[128];

	memset(out, 0, sizeof(*out));
	if (len == 0) {
		reply_text(out, 400, "no body found");
		return;
	}
	if (len > max) {
		snprintf(msg, sizeof(msg), "AdmissionReview of %zu bytes is over the limit of %zu bytes",
			 len, max);
		reply_text(out, 400, msg);
		return;
	}
	if (admission_request_decode(body, len, &req, &e) < 0) {
		reply_text(out, 400, e.msg);
		return;
	}

	struct admission_verdict allow = { .allowed = true };
	const char *obj_kind = json_string_value(json_object_get(req.object, "kind"));
	if (req.kind_kind && (strcmp(req.kind_kind, "Pod") != 0 || req.kind_group[0])) {
		summarize(out, "uid %s: %s%s%s is not a Pod: allowed unchanged", req.uid,
			  req.kind_group, req.kind_group[0] ? "/" : "", req.kind_kind);
		reply_review(out, &req, &allow);
	} else if (!req.kind_kind && obj_kind && strcmp(obj_kind, "Pod") != 0) {
		summarize(out, "uid %s: %s is not a Pod: allowed unchanged", req.uid, obj_kind);
		reply_review(out, &req, &allow);
	} else if (req.sub_resource && req.sub_resource[0]) {
		summarize(out, "uid %s: subresource %s: allowed unchanged", req.uid, req.sub_resource);
		reply_review(out, &req, &allow);
	} else if (req.operation && req.operation[0] && strcmp(req.operation, "CREATE") != 0) {
		summarize(out, "uid %s: operation %s: allowed unchanged", req.uid, req.operation);
		reply_review(out, &req, &allow);
	} else if (!json_is_object(req.object)) {
		reply_text(out, 400, req.object ? "request.object: not a JSON object"
						: "request.object: missing");
	} else {
		handle_pod(h, &req, path, out);
	}
	admission_request_clear(&req);
}

/* fuzz-admission-review.c - AdmissionReview decoding and JSONPatch
 * generation, the two parsers of outside input in `skiff webhook`.
 *
 * The first byte picks the mode:
 *   even  the rest is an HTTP body (bit 1 set: posted to /inject/cluster/c1/net/n1;
 *         bit 2 set: injected by the real core, else by a stand-in that
 *         changes the pod the way the core does in shape, so the webhook's
 *         own code is fuzzed apart from the core's parsers, which have
 *         their harness in fuzz-manifest; SKIFF_FUZZ_CORE=0 in the
 *         environment keeps to the stand-in): the whole review handling runs with the
 *         real injection core (default configuration), and the answer must
 *         be a well-formed reply (200 with a JSON review, or 4xx/5xx text);
 *         a patch in the answer must apply to the request's object
 *   odd   the rest is two JSON texts separated by a newline: the diff from
 *         the first to the second must apply and give exactly the second */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inject/admission.h"
#include "inject/inject.h"
#include "inject/jsonpatch.h"

static int inject_adapter(void *ctx, const char *pod_json, size_t len, const char *ns,
			  char **out_json, char **skip_reason, struct strbuf *warnings,
			  struct skiff_err *e)
{
	return inject_pod_json(ctx, pod_json, len, ns, out_json, skip_reason, warnings, e);
}

/* What `skiff webhook` runs (cmd_webhook.c): the core on the parsed pod. */
static int inject_tree_adapter(void *ctx, json_t *pod, const char *ns, char **skip_reason,
			       struct strbuf *warnings, struct skiff_err *e)
{
	return inject_pod_tree(ctx, pod, ns, skip_reason, warnings, e);
}

/* The stand-in: an annotation, an init container, istio-proxy appended
 * with env, the first container's probes moved to the status port; skips
 * pods labelled skip=1 and fails on the annotation fail=1. */
static int fake_inject(void *ctx, const char *pod_json, size_t len, const char *ns,
		       char **out_json, char **skip_reason, struct strbuf *warnings,
		       struct skiff_err *e)
{
	(void)ctx;
	(void)ns;
	*out_json = NULL;
	*skip_reason = NULL;
	json_error_t err;
	json_t *pod = json_loadb(pod_json, len, 0, &err);
	if (!pod)
		return err_set(e, SKIFF_EINVAL, "pod: %s", err.text);
	json_t *meta = json_object_get(pod, "metadata");
	if (json_is_string(json_object_get(json_object_get(meta, "labels"), "skip"))) {
		json_decref(pod);
		*skip_reason = strdup("labelled skip");
		return 0;
	}
	if (json_object_get(json_object_get(meta, "annotations"), "fail")) {
		json_decref(pod);
		return err_set(e, SKIFF_EINVAL, "annotation fail");
	}
	strbuf_puts(warnings, "stand-in injector");
	if (!json_is_object(meta)) {
		meta = json_object();
		json_object_set_new(pod, "metadata", meta);
	}
	json_t *ann = json_object_get(meta, "annotations");
	if (!json_is_object(ann)) {
		ann = json_object();
		json_object_set_new(meta, "annotations", ann);
	}
	json_object_set_new(ann, "sidecar.istio.io/status", json_string("{\"initContainers\":[\"istio-init\"]}"));
	json_t *spec = json_object_get(pod, "spec");
	if (!json_is_object(spec)) {
		spec = json_object();
		json_object_set_new(pod, "spec", spec);
	}
	json_t *inits = json_object_get(spec, "initContainers");
	if (!json_is_array(inits)) {
		inits = json_array();
		json_object_set_new(spec, "initContainers", inits);
	}
	json_array_append_new(inits, json_pack("{s:s,s:[s,s]}", "name", "istio-init", "args", "-p", "15001"));
	json_t *cs = json_object_get(spec, "containers");
	if (!json_is_array(cs)) {
		cs = json_array();
		json_object_set_new(spec, "containers", cs);
	}
	json_t *first = json_array_get(cs, 0);
	json_t *probe = json_object_get(first, "readinessProbe");
	if (json_is_object(probe))
		json_object_set_new(probe, "httpGet", json_pack("{s:s,s:i}", "path", "/app-health/x/readyz", "port", 15020));
	json_array_append_new(cs, json_pack("{s:s,s:[{s:s,s:s},{s:s,s:s}]}", "name", "istio-proxy", "env",
					    "name", "ISTIO_META_CLUSTER_ID", "value", "Kubernetes",
					    "name", "ISTIO_KUBE_APP_PROBERS", "value", "{}"));
	*out_json = json_dumps(pod, JSON_COMPACT);
	json_decref(pod);
	return *out_json ? 0 : err_set(e, SKIFF_ENOMEM, "out of memory");
}

static int b64v(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

static char *b64decode(const char *s, size_t *outlen)
{
	size_t n = strlen(s);
	if (n % 4)
		abort();
	char *out = malloc(n / 4 * 3 + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		for (int k = 0; k < 4; k++) {
			v[k] = s[i + k] == '=' ? 0 : b64v(s[i + k]);
			if (v[k] < 0)
				abort();
		}
		uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		out[o++] = (char)(x >> 16);
		if (s[i + 2] != '=')
			out[o++] = (char)(x >> 8);
		if (s[i + 3] != '=')
			out[o++] = (char)x;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

static void check_reply(const char *body, size_t len, const struct admission_reply *r)
{
	if (r->status != 200) {
		if (r->status < 400 || !r->body || strcmp(r->content_type, "text/plain; charset=utf-8") != 0)
			abort();
		return;
	}
	json_error_t err;
	json_t *resp = json_loads(r->body, 0, &err);
	json_t *rs = json_object_get(resp, "response");
	if (!json_is_object(rs) || !json_is_boolean(json_object_get(rs, "allowed")))
		abort();
	const char *patch = json_string_value(json_object_get(rs, "patch"));
	if (patch) {
		/* the patch applies to the object of the request */
		size_t plen;
		char *ptext = b64decode(patch, &plen);
		json_t *ops = json_loadb(ptext, plen, 0, &err);
		json_t *review = json_loadb(body, len, JSON_DECODE_ANY, &err);
		json_t *obj = json_object_get(json_object_get(review, "request"), "object");
		json_t *after = NULL;
		struct skiff_err e = { 0 };
		if (!ops || !obj || jsonpatch_apply(obj, ops, &after, &e) != 0)
			abort();
		json_decref(after);
		json_decref(review);
		json_decref(ops);
		free(ptext);
	}
	json_decref(resp);
}

static void fuzz_review(const uint8_t *data, size_t size, bool cluster_path, bool real_core)
{
	static struct inject_config *cfg;
	if (!cfg) {
		struct skiff_err e = { 0 };
		char *envp[] = { NULL };
		if (inject_config_new(NULL, NULL, envp, &cfg, &e) < 0) {
			fprintf(stderr, "inject_config_new: %s\n", e.msg);
			abort();
		}
	}
	/* the real core both ways: on the parsed pod as the server runs it
	 * (bit 3 clear), and through the text contract (bit 3 set) */
	struct admission_handler h = { .inject = real_core ? inject_adapter : fake_inject, .ctx = cfg,
				       .max_bytes = 1 << 20 };
	if (real_core && !(size > 0 && (data[-1] & 8)))
		h.inject_tree = inject_tree_adapter;
	struct admission_reply r;
	const char *path = cluster_path ? "/inject/cluster/c1/net/n1" : "/inject";
	admission_handle(&h, path, (const char *)data, size, &r);
	check_reply((const char *)data, size, &r);
	admission_reply_clear(&r);
}

static void fuzz_diff(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	if (!nl)
		return;
	json_error_t err;
	json_t *a = json_loadb((const char *)data, (size_t)(nl - data), JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	json_t *b = json_loadb((const char *)nl + 1, size - (size_t)(nl - data) - 1,
			       JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
	if (a && b) {
		json_t *ops = NULL, *after = NULL;
		struct skiff_err e = { 0 };
		if (jsonpatch_diff(a, b, &ops, &e) != 0)
			abort();
		if (jsonpatch_apply(a, ops, &after, &e) != 0) {
			fprintf(stderr, "diff does not apply: %s\n", e.msg);
			abort();
		}
		if (!json_equal(after, b))
			abort();
		json_decref(after);
		json_decref(ops);
	}
	json_decref(a);
	json_decref(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_diff(data + 1, size - 1);
	else {
		const char *core = getenv("SKIFF_FUZZ_CORE");
		bool real = (data[0] & 4) && !(core && strcmp(core, "0") == 0);
		fuzz_review(data + 1, size - 1, data[0] & 2, real);
	}
	return 0;
}

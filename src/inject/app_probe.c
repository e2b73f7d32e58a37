/* app_probe.c - probe rewrite and ISTIO_KUBE_APP_PROBERS (see app_probe.h). */
#include "inject/app_probe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "kube/manifest.h"
#include "inject/inject_internal.h"
#include "probe/config.h"

/* One collected probe, pointing into the pod's JSON until it is copied into
 * the probe/config model (the owner of the encoding). */
enum inj_prober_type { INJ_PROBER_HTTP, INJ_PROBER_TCP, INJ_PROBER_GRPC };
struct inj_prober {
	enum inj_prober_type type;
	int32_t port;
	const char *path, *host, *scheme;
	const json_t *headers;     /* the pod's httpHeaders list (checked), or NULL */
	size_t n_headers;
	const char *service;
	size_t service_len;
	int32_t timeout_seconds;
};

static const struct {
	const char *field;
	const char *kind;
} kinds[] = {
	{ "readinessProbe", "readyz" },
	{ "livenessProbe", "livez" },
	{ "startupProbe", "startupz" },
};

bool app_probe_rewrite_enabled(const json_t *annotations, bool values_default)
{
	const json_t *v = annotations ? json_object_get(annotations, ANN_REWRITE_PROBERS) : NULL;
	bool b;
	if (v && json_is_string(v) && parse_bool_go(json_string_value(v), &b) == 0)
		return b;
	return values_default;
}

int app_probe_status_port(const json_t *annotations, int mesh_port)
{
	const json_t *v = annotations ? json_object_get(annotations, "status.sidecar.istio.io/port")
				      : NULL;
	if (!v || !json_is_string(v))
		return mesh_port;
	/* strconv.Atoi: optional sign, decimal digits, no spaces; 0 on failure */
	int64_t n;
	if (parse_int64(json_string_value(v), INT32_MIN, INT32_MAX, &n) < 0)
		return 0;
	return (int)n;
}

static bool is_proxy(const json_t *c)
{
	const json_t *n = json_object_get(c, "name");
	return n && json_is_string(n) && strcmp(json_string_value(n), "istio-proxy") == 0;
}

static const char *cname(const json_t *c)
{
	const json_t *n = json_object_get(c, "name");
	return n && json_is_string(n) ? json_string_value(n) : "";
}

/* Look up a named port among the container's ports (later entries win). */
static bool named_port(const json_t *c, const char *name, json_int_t *out)
{
	const json_t *ports = json_object_get(c, "ports");
	bool found = false;
	size_t i;
	const json_t *p;
	if (!json_is_array(ports))
		return false;
	json_array_foreach(ports, i, p) {
		const json_t *n = json_object_get(p, "name");
		const json_t *cp = json_object_get(p, "containerPort");
		if (n && json_is_string(n) && json_string_length(n) > 0 &&
		    strcmp(json_string_value(n), name) == 0) {
			*out = json_is_integer(cp) ? json_integer_value(cp) : 0;
			found = true;
		}
	}
	return found;
}

static int type_err(struct skiff_err *e, const char *where, const char *c, const char *probe,
		    const char *field, const char *want)
{
	return err_set(e, SKIFF_EINVAL, "%s: container \"%s\": %s.%s must be %s", where, c, probe,
		       field, want);
}

static int opt_string(const json_t *h, const char *key, const char **out, struct skiff_err *e,
		      const char *where, const char *c, const char *probe)
{
	const json_t *v = json_object_get(h, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return type_err(e, where, c, probe, key, "a string");
	*out = json_string_value(v);
	return 0;
}

/* Convert one probe into a prober. Returns 1 with *out set, 0 when skipped. */
static int convert(const json_t *c, const char *field, const json_t *probe, int mesh_port,
		   bool rewrite_tcp, const char *where, struct inj_prober *out,
		   struct strbuf *warnings, struct skiff_err *e)
{
	const json_t *h;
	const char *cn = cname(c);
	memset(out, 0, sizeof(*out));
	const json_t *to = json_object_get(probe, "timeoutSeconds");
	if (to && !json_is_null(to)) {
		if (!json_is_integer(to))
			return type_err(e, where, cn, field, "timeoutSeconds", "an integer");
		out->timeout_seconds = (int32_t)json_integer_value(to);
	}
	const char *hname = NULL;
	if ((h = json_object_get(probe, "httpGet")) && json_is_object(h)) {
		out->type = INJ_PROBER_HTTP;
		hname = "httpGet";
	} else if (rewrite_tcp && (h = json_object_get(probe, "tcpSocket")) && json_is_object(h)) {
		out->type = INJ_PROBER_TCP;
		hname = "tcpSocket";
	} else if ((h = json_object_get(probe, "grpc")) && json_is_object(h)) {
		out->type = INJ_PROBER_GRPC;
		const json_t *p = json_object_get(h, "port");
		if (p && !json_is_null(p) && !json_is_integer(p))
			return type_err(e, where, cn, field, "grpc.port", "an integer");
		out->port = p && json_is_integer(p) ? (int32_t)json_integer_value(p) : 0;
		const json_t *s = json_object_get(h, "service");
		if (s && !json_is_null(s)) {
			if (!json_is_string(s))
				return type_err(e, where, cn, field, "grpc.service", "a string");
			out->service = json_string_value(s);
			out->service_len = json_string_length(s);
		}
		return 1;
	} else {
		return 0;
	}
	const json_t *p = json_object_get(h, "port");
	if (p && json_is_string(p)) {
		json_int_t n = 0;
		if (!named_port(c, json_string_value(p), &n)) {
			if (warnings)
				strbuf_printf(warnings,
				      "%s: container \"%s\": %s port \"%s\" is not a named port of the "
				      "container; the probe is rewritten but the agent cannot run it "
				      "(Istio's behaviour)\n",
				      where, cn, field, json_string_value(p));
			return 0;
		}
		out->port = (int32_t)n;
	} else if (p && !json_is_null(p) && !json_is_integer(p)) {
		return type_err(e, where, cn, field, "port", "an integer or a port name");
	} else {
		out->port = p && json_is_integer(p) ? (int32_t)json_integer_value(p) : 0;
		if (out->port == mesh_port)
			return 0; /* already rewritten */
	}
	int r;
	if ((r = opt_string(h, "host", &out->host, e, where, cn, field)) < 0)
		return r;
	if (out->type == INJ_PROBER_TCP)
		return 1;
	if ((r = opt_string(h, "path", &out->path, e, where, cn, field)) < 0 ||
	    (r = opt_string(h, "scheme", &out->scheme, e, where, cn, field)) < 0)
		return r;
	const json_t *hh = json_object_get(h, "httpHeaders");
	if (hh && !json_is_null(hh)) {
		if (!json_is_array(hh))
			return type_err(e, where, cn, field, "httpGet.httpHeaders", "a list");
		size_t n = json_array_size(hh);
		for (size_t i = 0; i < n; i++) {
			const json_t *it = json_array_get(hh, i);
			if (!json_is_object(it))
				return type_err(e, where, cn, field, "httpGet.httpHeaders[]",
						"an object");
			const char *hn, *hv;
			if ((r = opt_string(it, "name", &hn, e, where, cn, field)) < 0 ||
			    (r = opt_string(it, "value", &hv, e, where, cn, field)) < 0)
				return r;
		}
		out->headers = hh;
		out->n_headers = n;
	}
	(void)hname;
	return 1;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Copy a collected probe into the probe/config model. */
static int store(struct probe_config *pc, const char *key, const struct inj_prober *ip)
{
	struct prober *p = probe_config_add(pc, key);
	if (!p)
		return -ENOMEM;
	p->timeout_seconds = ip->timeout_seconds;
	switch (ip->type) {
	case INJ_PROBER_HTTP: {
		struct probe_http_get *h = calloc(1, sizeof(*h));
		if (!h)
			return -ENOMEM;
		p->http_get = h;
		h->port.number = ip->port;
		if ((ip->path && !(h->path = strdup(ip->path))) ||
		    (ip->host && !(h->host = strdup(ip->host))) ||
		    (ip->scheme && !(h->scheme = strdup(ip->scheme))))
			return -ENOMEM;
		if (ip->n_headers) {
			h->headers = calloc(ip->n_headers, sizeof(*h->headers));
			if (!h->headers)
				return -ENOMEM;
			for (size_t i = 0; i < ip->n_headers; i++) {
				h->n_headers = i + 1;
				const json_t *it = json_array_get(ip->headers, i);
				const char *hn = jstr(it, "name"), *hv = jstr(it, "value");
				h->headers[i].name = strdup(hn ? hn : "");
				h->headers[i].value = strdup(hv ? hv : "");
				if (!h->headers[i].name || !h->headers[i].value)
					return -ENOMEM;
			}
		}
		break;
	}
	case INJ_PROBER_TCP: {
		struct probe_tcp_socket *t = calloc(1, sizeof(*t));
		if (!t)
			return -ENOMEM;
		p->tcp_socket = t;
		t->port.number = ip->port;
		if (ip->host && !(t->host = dup_or_null(ip->host)))
			return -ENOMEM;
		break;
	}
	case INJ_PROBER_GRPC: {
		struct probe_grpc *g = calloc(1, sizeof(*g));
		if (!g)
			return -ENOMEM;
		p->grpc = g;
		g->port = ip->port;
		if (ip->service && !(g->service = strndup(ip->service, ip->service_len)))
			return -ENOMEM;
		break;
	}
	}
	return 0;
}

int app_probe_probers_json(const json_t *containers, int mesh_status_port, bool rewrite_tcp,
			   const char *where, char **out, struct strbuf *warnings,
			   struct skiff_err *e)
{
	*out = NULL;
	if (!json_is_array(containers))
		return 0;
	struct probe_config pc = { 0 };
	struct inj_prober ip;
	int r = 0;
	size_t nc = json_array_size(containers);
	for (size_t i = 0; i < nc && r == 0; i++) {
		const json_t *c = json_array_get(containers, i);
		if (!json_is_object(c) || is_proxy(c))
			continue;
		for (size_t k = 0; k < 3; k++) {
			const json_t *probe = json_object_get(c, kinds[k].field);
			if (!json_is_object(probe))
				continue;
			r = convert(c, kinds[k].field, probe, mesh_status_port, rewrite_tcp, where,
				    &ip, warnings, e);
			if (r < 0)
				break;
			if (r == 0)
				continue;
			r = 0;
			struct strbuf kb = STRBUF_INIT;
			strbuf_printf(&kb, "/app-health/%s/%s", cname(c), kinds[k].kind);
			if (strbuf_failed(&kb) || store(&pc, strbuf_str(&kb), &ip) < 0)
				r = err_set(e, SKIFF_ENOMEM, "out of memory");
			strbuf_free(&kb);
			if (r < 0)
				break;
		}
	}
	if (r == 0 && pc.n > 0) {
		struct strbuf sb = STRBUF_INIT;
		int n = probe_config_encode(&pc, &sb);
		if (n < 0 || strbuf_failed(&sb)) {
			strbuf_free(&sb);
			r = err_set(e, SKIFF_ENOMEM, "out of memory");
		} else if (n > 0) {
			*out = strbuf_steal(&sb);
		} else {
			strbuf_free(&sb);
		}
	}
	probe_config_free(&pc);
	return r < 0 ? r : 0;
}

/* Replace key OLD of OBJ by NEW (value V, stolen) at the same position. */
static int replace_key(json_t *obj, const char *old, const char *new, json_t *v)
{
	json_t *n = json_object();
	if (!n || !v) {
		json_decref(n);
		json_decref(v);
		return -ENOMEM;
	}
	const char *k;
	json_t *val;
	int r = 0;
	json_object_foreach(obj, k, val) {
		if (strcmp(k, old) == 0)
			r |= json_object_set(n, new, v);
		else if (strcmp(k, new) != 0)
			r |= json_object_set(n, k, val);
	}
	json_decref(v);
	if (r == 0) {
		json_object_clear(obj);
		r = json_object_update(obj, n);
	}
	json_decref(n);
	return r ? -ENOMEM : 0;
}

int app_probe_rewrite(json_t *containers, int status_port, bool rewrite_tcp)
{
	if (!json_is_array(containers))
		return 0;
	size_t i;
	json_t *c;
	json_array_foreach(containers, i, c) {
		if (!json_is_object(c) || is_proxy(c))
			continue;
		for (size_t k = 0; k < 3; k++) {
			json_t *probe = json_object_get(c, kinds[k].field);
			if (!json_is_object(probe))
				continue;
			struct strbuf pb = STRBUF_INIT;
			strbuf_printf(&pb, "/app-health/%s/%s", cname(c), kinds[k].kind);
			if (strbuf_failed(&pb))
				return -ENOMEM;
			json_t *h;
			int r = 0;
			if ((h = json_object_get(probe, "httpGet")) && json_is_object(h)) {
				static const char *const before_port[] = { "port", NULL };
				r |= manifest_obj_insert_before(h, "path", json_string(strbuf_str(&pb)),
								before_port);
				r |= json_object_set_new(h, "port", json_integer(status_port));
				const json_t *sch = json_object_get(h, "scheme");
				if (sch && json_is_string(sch) && strcmp(json_string_value(sch), "HTTPS") == 0)
					r |= json_object_set_new(h, "scheme", json_string("HTTP"));
			} else if ((rewrite_tcp && (h = json_object_get(probe, "tcpSocket")) &&
				    json_is_object(h)) ||
				   ((h = json_object_get(probe, "grpc")) && json_is_object(h))) {
				const char *old = json_object_get(probe, "tcpSocket") == h ? "tcpSocket"
											    : "grpc";
				json_t *nh = json_pack("{s:s,s:i}", "path", strbuf_str(&pb), "port",
						       status_port);
				r = replace_key(probe, old, "httpGet", nh);
			}
			strbuf_free(&pb);
			if (r)
				return -ENOMEM;
		}
	}
	return 0;
}

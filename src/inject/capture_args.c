/* capture_args.c - annotations -> istio-iptables args (see capture_args.h). */
#include "inject/capture_args.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/netaddr.h"
#include "base/parse.h"
#include "base/strbuf.h"

const char *ann_or(const json_t *annotations, const char *name, const char *def)
{
	const json_t *v = annotations ? json_object_get(annotations, name) : NULL;
	if (v && json_is_string(v))
		return json_string_value(v);
	return def;
}

/* strings.TrimSpace for ASCII white space. */
static void trim(const char **s, size_t *n)
{
	while (*n && isspace((unsigned char)(*s)[0])) {
		(*s)++;
		(*n)--;
	}
	while (*n && isspace((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

/* strconv.ParseUint(s, 10, bits) */
static int parse_uint_n(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	if (n == 0 || n > 20)
		return -EINVAL;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		if (v > (max - (uint64_t)(s[i] - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* One item of an annotation list; returns true when it is acceptable. */
typedef bool (*list_item_ok)(const char *item, size_t n);

static bool port_item_ok(const char *item, size_t n)
{
	uint64_t port;
	return parse_uint_n(item, n, 65535, &port) == 0;
}

/* net.ParseCIDR's form, through the parser `skiff iptables` uses for -i/-x,
 * so an annotation the injector accepts is one the capture command accepts. */
static bool cidr_item_ok(const char *item, size_t n)
{
	char buf[NETADDR_STR_MAX + 8];
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, item, n);
	buf[n] = '\0';
	struct netaddr_cidr c;
	return netaddr_parse_cidr(buf, &c) == 0;
}

/* Check each comma-separated item of an annotation value. `star_ok` allows
 * the wildcard "*" (after trimming when `trim_value`, as Istio's checks of
 * that annotation do); a bad item is named as `noun` "ITEM" `why`. */
static int validate_list(const char *ann, const char *value, bool star_ok, bool trim_value,
			 list_item_ok ok, const char *kind, const char *noun, const char *why,
			 struct skiff_err *e)
{
	const char *s = value;
	size_t n = strlen(s);
	if (trim_value)
		trim(&s, &n);
	if (star_ok && n == 1 && s[0] == '*' && (trim_value || strcmp(value, "*") == 0))
		return 0;
	if (n == 0)
		return 0;
	const char *p = s, *end = s + n;
	for (;;) {
		const char *c = memchr(p, ',', (size_t)(end - p));
		size_t len = c ? (size_t)(c - p) : (size_t)(end - p);
		const char *item = p;
		size_t il = len;
		trim(&item, &il);
		if (!ok(item, il))
			return err_set(e, SKIFF_EINVAL,
				       "annotation %s: \"%s\" is not a valid %s: %s\"%.*s\" %s", ann,
				       value, kind, noun, (int)len, p, why);
		if (!c)
			return 0;
		p = c + 1;
	}
}

static int validate_port_list(const char *ann, const char *value, bool allow_star,
			      struct skiff_err *e)
{
	return validate_list(ann, value, allow_star, true, port_item_ok, "port list",
			     "port ", "is not a number in 0-65535", e);
}

static int validate_cidr_list(const char *ann, const char *value, bool allow_star,
			      struct skiff_err *e)
{
	return validate_list(ann, value, allow_star, false, cidr_item_ok, "IP range list",
			     "", "is not a CIDR (ADDRESS/PREFIX)", e);
}

static int validate_uint(const char *ann, const char *value, uint64_t max, struct skiff_err *e)
{
	const char *s = value;
	size_t n = strlen(s);
	trim(&s, &n);
	uint64_t v;
	if (parse_uint_n(s, n, max, &v) < 0)
		return err_set(e, SKIFF_EINVAL,
			       "annotation %s: \"%s\" is not an unsigned integer in 0-%llu", ann,
			       value, (unsigned long long)max);
	return 0;
}

int capture_annotations_validate(const json_t *annotations, struct skiff_err *e)
{
	if (!annotations)
		return 0;
	const char *k;
	const json_t *v;
	json_object_foreach((json_t *)annotations, k, v) {
		if (!json_is_string(v))
			return err_set(e, SKIFF_EINVAL, "annotation %s: the value must be a string", k);
		const char *s = json_string_value(v);
		int r = 0;
		if (strcmp(k, ANN_INTERCEPTION_MODE) == 0) {
			if (strcmp(s, "REDIRECT") && strcmp(s, "TPROXY") && strcmp(s, "NONE"))
				r = err_set(e, SKIFF_EINVAL,
					    "annotation %s: \"%s\" is not an interception mode "
					    "(REDIRECT, TPROXY or NONE)", k, s);
		} else if (strcmp(k, ANN_STATUS_PORT) == 0) {
			r = validate_uint(k, s, 65535, e);
		} else if (strcmp(k, "readiness.status.sidecar.istio.io/initialDelaySeconds") == 0 ||
			   strcmp(k, "readiness.status.sidecar.istio.io/periodSeconds") == 0 ||
			   strcmp(k, "readiness.status.sidecar.istio.io/failureThreshold") == 0) {
			r = validate_uint(k, s, UINT32_MAX, e);
		} else if (strcmp(k, ANN_INCLUDE_OUT_IPS) == 0) {
			r = validate_cidr_list(k, s, true, e);
		} else if (strcmp(k, ANN_EXCLUDE_OUT_IPS) == 0) {
			r = validate_cidr_list(k, s, false, e);
		} else if (strcmp(k, ANN_INCLUDE_IN_PORTS) == 0) {
			r = validate_port_list(k, s, true, e);
		} else if (strcmp(k, ANN_EXCLUDE_IN_PORTS) == 0 ||
			   strcmp(k, ANN_EXCLUDE_OUT_PORTS) == 0) {
			r = validate_port_list(k, s, false, e);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

char *capture_exclude_inbound(const char *status_port, const char *exclude)
{
	const char *p = status_port ? status_port : "";
	size_t pn = strlen(p);
	trim(&p, &pn);
	if (pn == 0 || (pn == 1 && p[0] == '0'))
		return strdup(exclude);
	/* an untrimmed item equal to P: keep E as it is */
	const char *s = exclude, *end = exclude + strlen(exclude);
	for (const char *q = s; q <= end;) {
		const char *c = memchr(q, ',', (size_t)(end - q));
		size_t len = c ? (size_t)(c - q) : (size_t)(end - q);
		if (len == pn && memcmp(q, p, pn) == 0)
			return strdup(exclude);
		if (!c)
			break;
		q = c + 1;
	}
	struct strbuf sb = STRBUF_INIT;
	for (const char *q = s; q <= end;) {
		const char *c = memchr(q, ',', (size_t)(end - q));
		size_t len = c ? (size_t)(c - q) : (size_t)(end - q);
		const char *item = q;
		size_t il = len;
		trim(&item, &il);
		if (il) {
			strbuf_append(&sb, item, il);
			strbuf_putc(&sb, ',');
		}
		if (!c)
			break;
		q = c + 1;
	}
	strbuf_append(&sb, p, pn);
	if (strbuf_failed(&sb)) {
		strbuf_free(&sb);
		return NULL;
	}
	return strbuf_steal(&sb);
}

static int add(json_t *a, const char *s)
{
	return json_array_append_new(a, json_string(s));
}

json_t *capture_args_build(const struct inject_config *cfg, const json_t *ann, const char *mode)
{
	json_t *a = json_array();
	if (!a)
		return NULL;
	char port[16];
	snprintf(port, sizeof(port), "%d", cfg->proxy_listen_port);
	int r = 0;
	r |= add(a, "istio-iptables");
	r |= add(a, "-p");
	r |= add(a, port);
	r |= add(a, "-z");
	r |= add(a, "15006");
	r |= add(a, "-u");
	r |= add(a, "1337");
	r |= add(a, "-m");
	r |= add(a, mode);
	r |= add(a, "-i");
	r |= add(a, ann_or(ann, ANN_INCLUDE_OUT_IPS, cfg->include_ip_ranges));
	r |= add(a, "-x");
	r |= add(a, ann_or(ann, ANN_EXCLUDE_OUT_IPS, cfg->exclude_ip_ranges));
	r |= add(a, "-b");
	r |= add(a, ann_or(ann, ANN_INCLUDE_IN_PORTS, cfg->include_inbound_ports));
	r |= add(a, "-d");
	_cleanup_free_ char *x = capture_exclude_inbound(
		ann_or(ann, ANN_STATUS_PORT, cfg->values_status_port),
		ann_or(ann, ANN_EXCLUDE_IN_PORTS, cfg->exclude_inbound_ports));
	if (!x) {
		json_decref(a);
		return NULL;
	}
	struct strbuf d = STRBUF_INIT;
	strbuf_puts(&d, "15090,15021");
	if (*x) {
		strbuf_putc(&d, ',');
		strbuf_puts(&d, x);
	}
	r |= add(a, strbuf_str(&d));
	strbuf_free(&d);
	const json_t *q = ann ? json_object_get(ann, ANN_INCLUDE_OUT_PORTS) : NULL;
	if (q || cfg->include_outbound_ports[0]) {
		r |= add(a, "-q");
		r |= add(a, ann_or(ann, ANN_INCLUDE_OUT_PORTS, cfg->include_outbound_ports));
	}
	const json_t *o = ann ? json_object_get(ann, ANN_EXCLUDE_OUT_PORTS) : NULL;
	if (o || cfg->exclude_outbound_ports[0]) {
		r |= add(a, "-o");
		r |= add(a, ann_or(ann, ANN_EXCLUDE_OUT_PORTS, cfg->exclude_outbound_ports));
	}
	if (ann && json_object_get(ann, ANN_KUBEVIRT)) {
		r |= add(a, "-k");
		r |= add(a, ann_or(ann, ANN_KUBEVIRT, ""));
	}
	if (cfg->cni_enabled) {
		r |= add(a, "--run-validation");
		r |= add(a, "--skip-rule-apply");
	}
	if (r) {
		json_decref(a);
		return NULL;
	}
	return a;
}

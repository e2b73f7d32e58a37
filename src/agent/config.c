/* config.c - the agent's start-up configuration (see config.h). */
#include "agent/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <libfyaml.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/env.h"
#include "base/fileio.h"
#include "base/log.h"
#include "base/parse.h"

#define MAX_CONFIG_FILE (4 * 1024 * 1024)

static void warn(struct agent_config *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct agent_config *c, const char *fmt, ...)
{
	size_t l = strlen(c->warnings);
	if (l + 2 >= sizeof(c->warnings))
		return;
	if (l)
		c->warnings[l++] = '\n';
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->warnings + l, sizeof(c->warnings) - l, fmt, ap);
	va_end(ap);
}

/* ---------- Go's strconv.Unquote ---------- */

static void put_rune(struct strbuf *sb, uint32_t r)
{
	char b[4];
	if (r < 0x80) { b[0] = (char)r; strbuf_append(sb, b, 1); }
	else if (r < 0x800) { b[0] = (char)(0xC0 | (r >> 6)); b[1] = (char)(0x80 | (r & 0x3F)); strbuf_append(sb, b, 2); }
	else if (r < 0x10000) { b[0] = (char)(0xE0 | (r >> 12)); b[1] = (char)(0x80 | ((r >> 6) & 0x3F)); b[2] = (char)(0x80 | (r & 0x3F)); strbuf_append(sb, b, 3); }
	else { b[0] = (char)(0xF0 | (r >> 18)); b[1] = (char)(0x80 | ((r >> 12) & 0x3F)); b[2] = (char)(0x80 | ((r >> 6) & 0x3F)); b[3] = (char)(0x80 | (r & 0x3F)); strbuf_append(sb, b, 4); }
}

static int hexdig(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

int agent_go_unquote(const char *s, size_t n, char **out)
{
	if (n < 2 || s[0] != s[n - 1] || (s[0] != '"' && s[0] != '`'))
		return -EINVAL;
	struct strbuf sb = STRBUF_INIT;
	if (s[0] == '`') {
		for (size_t i = 1; i < n - 1; i++) {
			if (s[i] == '`') { strbuf_free(&sb); return -EINVAL; }
			if (s[i] != '\r')
				strbuf_putc(&sb, s[i]);
		}
	} else {
		for (size_t i = 1; i < n - 1; i++) {
			char c = s[i];
			if (c == '"' || c == '\n') { strbuf_free(&sb); return -EINVAL; }
			if (c != '\\') { strbuf_putc(&sb, c); continue; }
			if (++i >= n - 1) { strbuf_free(&sb); return -EINVAL; }
			c = s[i];
			int digits = 0, base = 16;
			switch (c) {
			case 'a': strbuf_putc(&sb, '\a'); continue;
			case 'b': strbuf_putc(&sb, '\b'); continue;
			case 'f': strbuf_putc(&sb, '\f'); continue;
			case 'n': strbuf_putc(&sb, '\n'); continue;
			case 'r': strbuf_putc(&sb, '\r'); continue;
			case 't': strbuf_putc(&sb, '\t'); continue;
			case 'v': strbuf_putc(&sb, '\v'); continue;
			case '\\': strbuf_putc(&sb, '\\'); continue;
			case '"': strbuf_putc(&sb, '"'); continue;
			case 'x': digits = 2; break;
			case 'u': digits = 4; break;
			case 'U': digits = 8; break;
			case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
				digits = 3; base = 8; i--; break;
			default: strbuf_free(&sb); return -EINVAL;
			}
			uint32_t v = 0;
			for (int k = 0; k < digits; k++) {
				if (++i >= n - 1) { strbuf_free(&sb); return -EINVAL; }
				int d = hexdig(s[i]);
				if (d < 0 || d >= base) { strbuf_free(&sb); return -EINVAL; }
				v = v * (uint32_t)base + (uint32_t)d;
			}
			if (c == 'x' || base == 8) {
				if (v > 255) { strbuf_free(&sb); return -EINVAL; }
				strbuf_putc(&sb, (char)v);
			} else {
				if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) { strbuf_free(&sb); return -EINVAL; }
				put_rune(&sb, v);
			}
		}
	}
	if (strbuf_failed(&sb)) { strbuf_free(&sb); return -ENOMEM; }
	*out = sb.buf ? strbuf_steal(&sb) : strdup("");
	return *out ? 0 : -ENOMEM;
}

int agent_annotation_lookup(const char *content, const char *key, char **out)
{
	*out = NULL;
	size_t klen = strlen(key);
	char *found = NULL;
	const char *line = content;
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		const char *eq = memchr(line, '=', len);
		if (eq) {
			char *v;
			int r = agent_go_unquote(eq + 1, len - (size_t)(eq + 1 - line), &v);
			if (r < 0) {
				free(found);
				return r;
			}
			if ((size_t)(eq - line) == klen && memcmp(line, key, klen) == 0) {
				free(found);
				found = v; /* the last one wins */
			} else {
				free(v);
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	*out = found;
	return found ? 1 : 0;
}

/* ---------- ProxyConfig ports (YAML or JSON) ---------- */

static int port_field(struct fy_node *root, const char *prefix, const char *const *names,
		      const char *what, const char *field, int *val, struct skiff_err *e)
{
	for (const char *const *n = names; *n; n++) {
		char path[128];
		snprintf(path, sizeof(path), "%s%s/%s", *prefix ? "/" : "", prefix, *n);
		struct fy_node *node = fy_node_by_path(root, path, (size_t)-1, FYNWF_DONT_FOLLOW);
		if (!node)
			continue;
		size_t len = 0;
		const char *s = fy_node_is_scalar(node) ? fy_node_get_scalar(node, &len) : NULL;
		char buf[32];
		int64_t v;
		if (!s || len == 0 || len >= sizeof(buf))
			return err_set(e, SKIFF_EINVAL, "%s: field %s%s%s: not an integer", what,
				       prefix, *prefix ? "." : "", field);
		memcpy(buf, s, len);
		buf[len] = 0;
		if (parse_int64(buf, INT32_MIN, INT32_MAX, &v) < 0)
			return err_set(e, SKIFF_EINVAL, "%s: field %s%s%s: \"%s\" is not an integer",
				       what, prefix, *prefix ? "." : "", field, buf);
		*val = (int)v;
	}
	return 0;
}

int agent_proxy_config_ports(const char *doc, const char *prefix, const char *what,
			     int *status, int *admin, struct skiff_err *e)
{
	struct fy_parse_cfg cfg = { .flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_AUTO };
	struct fy_document *fyd = fy_document_build_from_string(&cfg, doc, strlen(doc));
	if (!fyd)
		return err_set(e, SKIFF_EINVAL, "%s: not valid YAML or JSON", what);
	struct fy_node *root = fy_document_root(fyd);
	int r = 0;
	if (root && !fy_node_is_mapping(root)) {
		r = err_set(e, SKIFF_EINVAL, "%s: must be a mapping", what);
	} else if (root) {
		static const char *const st[] = { "statusPort", "status_port", NULL };
		static const char *const ad[] = { "proxyAdminPort", "proxy_admin_port", NULL };
		r = port_field(root, prefix, st, what, "statusPort", status, e);
		if (r >= 0)
			r = port_field(root, prefix, ad, what, "proxyAdminPort", admin, e);
	}
	fy_document_destroy(fyd);
	return r;
}

/* ---------- IPv6 mode and destination ---------- */

bool agent_detect_ipv6(const char *instance_ip)
{
	int n4 = 0, n6 = 0;
	struct in_addr a4;
	struct in6_addr a6;
	if (instance_ip && inet_pton(AF_INET, instance_ip, &a4) == 1)
		n4++;
	else if (instance_ip && inet_pton(AF_INET6, instance_ip, &a6) == 1)
		IN6_IS_ADDR_V4MAPPED(&a6) ? n4++ : n6++;
	struct ifaddrs *ifs = NULL;
	if (getifaddrs(&ifs) == 0) {
		for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
			if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
				continue;
			char buf[INET6_ADDRSTRLEN];
			if (i->ifa_addr->sa_family == AF_INET) {
				inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, buf, sizeof(buf));
				if (!instance_ip || strcmp(buf, instance_ip) != 0)
					n4++;
			} else if (i->ifa_addr->sa_family == AF_INET6) {
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, buf, sizeof(buf));
				if (!instance_ip || strcmp(buf, instance_ip) != 0)
					n6++;
			}
		}
		freeifaddrs(ifs);
	}
	return n6 > 0 && n4 == 0;
}

void agent_probe_host(const struct agent_config *c, char *buf, size_t cap)
{
	const char *ip = c->instance_ip;
	if (c->legacy_localhost) {
		snprintf(buf, cap, "localhost");
	} else if (!*ip) {
		/* skiff (spec 6.1 RECOMMENDATION): loopback of the source family */
		snprintf(buf, cap, "%s", c->ipv6 ? "::1" : "127.0.0.1");
	} else if (ip[0] == '[') {
		size_t l = strlen(ip);
		snprintf(buf, cap, "%.*s", (int)(l >= 2 && ip[l - 1] == ']' ? l - 2 : l - 1), ip + 1);
	} else {
		snprintf(buf, cap, "%s", ip);
	}
}

/* ---------- flags and environment ---------- */

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: skiff agent [options]\n"
		"\n"
		"The istio-agent status server: answers the kubelet's rewritten probes\n"
		"(/app-health/<container>/{livez,readyz,startupz}) by probing the application,\n"
		"and serves /healthz/ready, /stats/prometheus, /quitquitquit.\n"
		"\n"
		"Options:\n"
		"  --status-port N        status port (overrides mesh config, PROXY_CONFIG and\n"
		"                         the pod annotations; default 15020)\n"
		"  --mesh-config PATH     mesh config file (default %s; also --meshConfig)\n"
		"  --annotations PATH     downward-API pod annotations file\n"
		"                         (default %s)\n"
		"  --ipv6 auto|true|false IPv6 mode (default auto: derived as Istio does)\n"
		"  --max-connections N    status-port connections kept at once (default 4096)\n"
		"  --max-workers N        probes running at once (default 256)\n"
		"  --grace-ms N           SIGTERM: time in-flight probes get (default 5000)\n"
		"  --log-level LEVEL      debug, info, warn or error (default info)\n"
		"  -h, --help             this text\n"
		"\n"
		"Environment: ISTIO_KUBE_APP_PROBERS, INSTANCE_IP,\n"
		"REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION, ENABLE_PROBE_KEEPALIVE_CONNECTIONS\n"
		"(and ENABLE_PROBE_KEEPALIVE_CONNECTION), PROXY_CONFIG, ISTIO_PROMETHEUS_ANNOTATIONS,\n"
		"ENVOY_PROMETHEUS_PORT, DISABLE_ENVOY, GRPC_XDS_BOOTSTRAP, ISTIO_META_DNS_CAPTURE.\n"
		"See docs/agent.md.\n",
		AGENT_DEFAULT_MESH_CONFIG, AGENT_DEFAULT_ANNOTATIONS);
}

static int int_flag(const char *flag, const char *v, int64_t min, int64_t max, int *out,
		    struct skiff_err *e)
{
	int64_t x;
	if (!v)
		return err_set(e, SKIFF_EINVAL, "%s: missing value", flag);
	if (parse_int64(v, min, max, &x) < 0)
		return err_set(e, SKIFF_EINVAL, "%s: \"%s\" is not an integer in %lld..%lld", flag, v,
			       (long long)min, (long long)max);
	*out = (int)x;
	return 0;
}

static bool env_bool(struct agent_config *c, char *const *envp, const char *name, bool def,
		     bool *set)
{
	const char *v = env_get(envp, name);
	if (set)
		*set = false;
	if (!v)
		return def;
	bool b;
	if (parse_bool_go(v, &b) < 0) {
		warn(c, "%s: \"%.100s\" is not a boolean (1 t T TRUE true True 0 f F FALSE false "
		     "False); using the default %s", name, v, def ? "true" : "false");
		return def;
	}
	if (set)
		*set = true;
	return b;
}

void agent_config_free(struct agent_config *c)
{
	if (c)
		probe_config_free(&c->probers);
}

int agent_config_load(int argc, char **argv, char *const *envp, struct agent_config *c,
		      struct skiff_err *e)
{
	*c = (struct agent_config){
		.status_port = AGENT_DEFAULT_STATUS_PORT,
		.status_port_from = "default",
		.admin_port = AGENT_DEFAULT_ADMIN_PORT,
		.max_connections = 4096,
		.max_workers = 256,
		.grace_ms = 5000,
		.mesh_config_path = AGENT_DEFAULT_MESH_CONFIG,
		.annotations_path = AGENT_DEFAULT_ANNOTATIONS,
	};
	int flag_port = -1;
	const char *ipv6_mode = "auto";
	int r;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = NULL;
		char name[64];
		const char *eq = strchr(a, '=');
		if (a[0] == '-' && eq && (size_t)(eq - a) < sizeof(name)) {
			snprintf(name, sizeof(name), "%.*s", (int)(eq - a), a);
			v = eq + 1;
		} else {
			snprintf(name, sizeof(name), "%s", a);
		}
#define VALUE() (v ? v : (i + 1 < argc ? argv[++i] : NULL))
		if (!strcmp(name, "-h") || !strcmp(name, "--help")) {
			usage(stdout);
			return 1;
		} else if (!strcmp(name, "--status-port")) {
			if ((r = int_flag("--status-port", VALUE(), 1, 65535, &flag_port, e)) < 0)
				return r;
		} else if (!strcmp(name, "--mesh-config") || !strcmp(name, "--meshConfig")) {
			if (!(c->mesh_config_path = VALUE()))
				return err_set(e, SKIFF_EINVAL, "%s: missing value", name);
		} else if (!strcmp(name, "--annotations")) {
			if (!(c->annotations_path = VALUE()))
				return err_set(e, SKIFF_EINVAL, "--annotations: missing value");
		} else if (!strcmp(name, "--ipv6")) {
			ipv6_mode = VALUE();
			if (!ipv6_mode || (strcmp(ipv6_mode, "auto") && strcmp(ipv6_mode, "true") &&
					   strcmp(ipv6_mode, "false")))
				return err_set(e, SKIFF_EINVAL, "--ipv6: \"%s\" is not auto, true or false",
					       ipv6_mode ? ipv6_mode : "");
		} else if (!strcmp(name, "--max-connections")) {
			if ((r = int_flag(name, VALUE(), 16, 1000000, &c->max_connections, e)) < 0)
				return r;
		} else if (!strcmp(name, "--max-workers")) {
			if ((r = int_flag(name, VALUE(), 1, 4096, &c->max_workers, e)) < 0)
				return r;
		} else if (!strcmp(name, "--grace-ms")) {
			if ((r = int_flag(name, VALUE(), 0, 600000, &c->grace_ms, e)) < 0)
				return r;
		} else if (!strcmp(name, "--log-level")) {
			const char *l = VALUE();
			static const char *const lv[] = { "debug", "info", "warn", "error" };
			size_t k = 0;
			for (; l && k < 4; k++)
				if (!strcmp(l, lv[k]))
					break;
			if (!l || k == 4)
				return err_set(e, SKIFF_EINVAL, "--log-level: \"%s\" is not debug, info, "
					       "warn or error", l ? l : "");
			log_set_level((enum log_level)k);
		} else {
			/* pilot-agent ignores flags it does not know (spec 2.1). */
			warn(c, "ignoring unknown argument \"%.100s\"", a);
		}
#undef VALUE
	}

	/* 2.2: defaults < mesh config file < PROXY_CONFIG < proxy.istio.io/config
	 * < status.sidecar.istio.io/port (< --status-port, skiff). */
	int status = c->status_port, admin = c->admin_port;
	char *buf = NULL;
	size_t len;
	struct skiff_err fe;
	err_clear(&fe);
	if (access(c->mesh_config_path, F_OK) == 0) {
		r = file_read_all(c->mesh_config_path, MAX_CONFIG_FILE, "--mesh-config", &buf, &len, e);
		if (r < 0)
			return r;
		char what[300];
		snprintf(what, sizeof(what), "mesh config %s", c->mesh_config_path);
		r = agent_proxy_config_ports(buf, "defaultConfig", what, &status, &admin, e);
		free(buf);
		if (r < 0)
			return r;
		c->status_port_from = "mesh config";
	}
	const char *pc = env_get_nonempty(envp, "PROXY_CONFIG");
	if (pc) {
		int before = status;
		if ((r = agent_proxy_config_ports(pc, "", "PROXY_CONFIG", &status, &admin, e)) < 0)
			return r;
		if (status != before)
			c->status_port_from = "PROXY_CONFIG";
	}
	char *ann_port = NULL, *ann_pc = NULL;
	buf = NULL;
	if (access(c->annotations_path, F_OK) == 0 &&
	    file_read_all(c->annotations_path, MAX_CONFIG_FILE, "--annotations", &buf, &len, &fe) >= 0) {
		if (agent_annotation_lookup(buf, "proxy.istio.io/config", &ann_pc) < 0 ||
		    agent_annotation_lookup(buf, "status.sidecar.istio.io/port", &ann_port) < 0) {
			warn(c, "%s: a value does not unquote; ignoring every pod annotation",
			     c->annotations_path);
			free(ann_pc);
			ann_pc = NULL;
			ann_port = NULL;
		}
		free(buf);
	}
	if (ann_pc) {
		int before = status;
		r = agent_proxy_config_ports(ann_pc, "", "annotation proxy.istio.io/config", &status,
					     &admin, e);
		free(ann_pc);
		if (r < 0) {
			free(ann_port);
			return r;
		}
		if (status != before)
			c->status_port_from = "annotation proxy.istio.io/config";
	}
	if (status < 1 || status > 65535) {
		free(ann_port);
		return err_set(e, SKIFF_EINVAL, "statusPort %d (from %s): must be in 1..65535", status,
			       c->status_port_from);
	}
	if (admin < 1 || admin > 65535) {
		free(ann_port);
		return err_set(e, SKIFF_EINVAL, "proxyAdminPort %d: must be in 1..65535", admin);
	}
	if (ann_port) {
		int64_t v;
		c->status_port_from = "annotation status.sidecar.istio.io/port";
		if (parse_int64(ann_port, INT32_MIN, INT32_MAX, &v) < 0) {
			warn(c, "annotation status.sidecar.istio.io/port: \"%.100s\" is not an integer; "
			     "status server disabled (port 0), as Istio", ann_port);
			status = 0;
		} else if (v > 65535) {
			status = (int)(v & 0xFFFF); /* narrowed to 16 bits when listening */
		} else {
			status = (int)v;
		}
		free(ann_port);
	}
	if (flag_port > 0) {
		status = flag_port;
		c->status_port_from = "--status-port";
	}
	c->status_port = status;
	c->admin_port = admin;

	const char *ip = env_get(envp, "INSTANCE_IP");
	snprintf(c->instance_ip, sizeof(c->instance_ip), "%s", ip ? ip : "");
	if (ip && strlen(ip) >= sizeof(c->instance_ip))
		return err_set(e, SKIFF_EINVAL, "INSTANCE_IP: value too long");
	c->legacy_localhost = env_bool(c, envp, "REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION", false, NULL);
	if (!strcmp(ipv6_mode, "auto"))
		c->ipv6 = agent_detect_ipv6(*c->instance_ip ? c->instance_ip : NULL);
	else
		c->ipv6 = !strcmp(ipv6_mode, "true");

	/* Keep-alive: skiff honours both spellings (spec 2.1 decision). */
	bool set_plural, set_singular;
	bool plural = env_bool(c, envp, "ENABLE_PROBE_KEEPALIVE_CONNECTIONS", false, &set_plural);
	bool singular = env_bool(c, envp, "ENABLE_PROBE_KEEPALIVE_CONNECTION", false, &set_singular);
	if (set_plural) {
		c->keepalive = plural;
		c->keepalive_var = "ENABLE_PROBE_KEEPALIVE_CONNECTIONS";
		if (set_singular && singular != plural)
			warn(c, "ENABLE_PROBE_KEEPALIVE_CONNECTION (%s) is overridden by "
			     "ENABLE_PROBE_KEEPALIVE_CONNECTIONS (%s)", singular ? "true" : "false",
			     plural ? "true" : "false");
	} else if (set_singular) {
		c->keepalive = singular;
		c->keepalive_var = "ENABLE_PROBE_KEEPALIVE_CONNECTION";
	}

	const char *pj = env_get(envp, "ISTIO_KUBE_APP_PROBERS");
	if (pj && *pj) {
		r = probe_config_parse(pj, strlen(pj), &c->probers, e);
		if (r < 0)
			return r;
	}
	return 0;
}

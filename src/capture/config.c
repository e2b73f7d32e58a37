/* config.c - istio-iptables flags and environment: table, command-line
 * parsing with pflag's rules, precedence, validation (see config.h). */
#include "capture/config.h"

#include <errno.h>
#include <stddef.h>
#include <grp.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/env.h"
#include "base/goparse.h"
#include "base/log.h"
#include "base/parse.h"

#define I CAPTURE_FOR_IPTABLES
#define C CAPTURE_FOR_CLEAN

static const struct capture_opt_def opt_table[OPT__MAX] = {
	[OPT_ENVOY_PORT] = { "envoy-port", 'p', OPTK_STRING, "ENVOY_PORT", "15001", I, "PORT",
		"port that captured outbound TCP is redirected to" },
	[OPT_INBOUND_CAPTURE_PORT] = { "inbound-capture-port", 'z', OPTK_STRING,
		"INBOUND_CAPTURE_PORT", "15006", I, "PORT",
		"port that captured inbound TCP is redirected to (also the TPROXY --on-port)" },
	[OPT_INBOUND_TUNNEL_PORT] = { "inbound-tunnel-port", 'e', OPTK_STRING,
		"INBOUND_TUNNEL_PORT", "15008", I, "PORT",
		"inbound port never redirected (the HBONE tunnel)" },
	[OPT_PROXY_UID] = { "proxy-uid", 'u', OPTK_STRING, "PROXY_UID", "", I | C, "UIDS",
		"comma-separated user ids whose traffic is not captured (default: uid of ENVOY_USER, else 1337)" },
	[OPT_PROXY_GID] = { "proxy-gid", 'g', OPTK_STRING, "PROXY_GID", "", I | C, "GIDS",
		"comma-separated group ids whose traffic is not captured (default: the uid list)" },
	[OPT_INTERCEPTION_MODE] = { "istio-inbound-interception-mode", 'm', OPTK_STRING,
		"ISTIO_INBOUND_INTERCEPTION_MODE", "", I, "MODE",
		"inbound capture mode: REDIRECT (default) or TPROXY" },
	[OPT_TPROXY_MARK] = { "istio-inbound-tproxy-mark", 't', OPTK_STRING,
		"ISTIO_INBOUND_TPROXY_MARK", "1337", I, "MARK", "packet mark used in TPROXY mode" },
	[OPT_TPROXY_ROUTE_TABLE] = { "istio-inbound-tproxy-route-table", 'r', OPTK_STRING,
		"ISTIO_INBOUND_TPROXY_ROUTE_TABLE", "133", I, "TABLE",
		"policy-routing table used in TPROXY mode" },
	[OPT_INBOUND_PORTS] = { "istio-inbound-ports", 'b', OPTK_STRING, "ISTIO_INBOUND_PORTS", "",
		I, "PORTS", "inbound ports to capture; '*' = all; empty = no inbound capture" },
	[OPT_LOCAL_EXCLUDE_PORTS] = { "istio-local-exclude-ports", 'd', OPTK_STRING,
		"ISTIO_LOCAL_EXCLUDE_PORTS", "", I, "PORTS",
		"inbound ports not captured; used only when -b is '*' (put 22 here to keep SSH direct)" },
	[OPT_EXCLUDE_INTERFACES] = { "istio-exclude-interfaces", 0, OPTK_STRING,
		"ISTIO_EXCLUDE_INTERFACES", "", I, "IFACES",
		"interfaces whose traffic is never captured" },
	[OPT_SERVICE_CIDR] = { "istio-service-cidr", 'i', OPTK_STRING, "ISTIO_SERVICE_CIDR", "",
		I, "CIDRS", "outbound destination ranges to capture; '*' = all; empty = none" },
	[OPT_SERVICE_EXCLUDE_CIDR] = { "istio-service-exclude-cidr", 'x', OPTK_STRING,
		"ISTIO_SERVICE_EXCLUDE_CIDR", "", I, "CIDRS",
		"outbound destination ranges never captured" },
	[OPT_OUTBOUND_PORTS] = { "istio-outbound-ports", 'q', OPTK_STRING, "ISTIO_OUTBOUND_PORTS",
		"", I, "PORTS", "outbound destination ports always captured" },
	[OPT_LOCAL_OUTBOUND_PORTS_EXCLUDE] = { "istio-local-outbound-ports-exclude", 'o',
		OPTK_STRING, "ISTIO_LOCAL_OUTBOUND_PORTS_EXCLUDE", "", I, "PORTS",
		"outbound destination ports never captured" },
	[OPT_KUBE_VIRT_INTERFACES] = { "kube-virt-interfaces", 'k', OPTK_STRING,
		"KUBE_VIRT_INTERFACES", "", I, "IFACES",
		"interfaces (KubeVirt taps) whose incoming traffic is treated as outbound" },
	[OPT_DRY_RUN] = { "dry-run", 'n', OPTK_BOOL, "DRY_RUN", "false", I | C, NULL,
		"print the rules on standard output instead of applying them" },
	[OPT_TRACE_LOGGING] = { "iptables-trace-logging", 0, OPTK_BOOL, "IPTABLES_TRACE_LOGGING",
		"false", I, NULL, "add NFLOG rules (group 1337) in front of key rules" },
	[OPT_RESTORE_FORMAT] = { "restore-format", 'f', OPTK_BOOL, "RESTORE_FORMAT", "true", I,
		NULL, "apply with iptables-restore (true) or one iptables command per rule (false)" },
	[OPT_PROBE_PORT] = { "iptables-probe-port", 0, OPTK_STRING, "IPTABLES_PROBE_PORT", "15002",
		I, "PORT", "original destination port used by --run-validation" },
	[OPT_PROBE_TIMEOUT] = { "probe-timeout", 0, OPTK_STRING, "PROBE_TIMEOUT", "5s", I,
		"DURATION", "timeout of --run-validation (Go duration: 5s, 1m30s, 500ms)" },
	[OPT_SKIP_RULE_APPLY] = { "skip-rule-apply", 0, OPTK_BOOL, "SKIP_RULE_APPLY", "false", I,
		NULL, "do not generate or apply rules or routes" },
	[OPT_RUN_VALIDATION] = { "run-validation", 0, OPTK_BOOL, "RUN_VALIDATION", "false", I, NULL,
		"check that the kernel redirects a local connection to the capture ports" },
	[OPT_REDIRECT_DNS] = { "redirect-dns", 0, OPTK_BOOL, "REDIRECT_DNS", "", I | C, NULL,
		"capture DNS to port 15053 (default: ISTIO_META_DNS_CAPTURE)" },
	[OPT_DROP_INVALID] = { "drop-invalid", 0, OPTK_BOOL, "DROP_INVALID", "", I, NULL,
		"drop conntrack-INVALID packets (default: INVALID_DROP)" },
	[OPT_CAPTURE_ALL_DNS] = { "capture-all-dns", 0, OPTK_BOOL, "CAPTURE_ALL_DNS", "false",
		I | C, NULL, "with --redirect-dns, capture port 53 to any address, not only resolv.conf servers" },
	[OPT_OUTPUT_PATHS] = { "output-paths", 0, OPTK_STRING, "OUTPUT_PATHS", "", I, "FILE",
		"write the iptables-restore input to FILE (and apply it from there)" },
	[OPT_NETWORK_NAMESPACE] = { "network-namespace", 0, OPTK_STRING, "NETWORK_NAMESPACE", "", I,
		"PATH", "network namespace path used in --cni-mode" },
	[OPT_CNI_MODE] = { "cni-mode", 0, OPTK_BOOL, "CNI_MODE", "false", I, NULL,
		"run every command inside --network-namespace (nsenter)" },
	[OPT_IPV6] = { "ipv6", 0, OPTK_STRING, NULL, "auto", I, "auto|true|false",
		"install IPv6 rules: auto = Istio's detection (no IPv4 address but an IPv6 one)" },
	[OPT_RESOLV_CONF] = { "resolv-conf", 0, OPTK_STRING, NULL, "/etc/resolv.conf", I | C, "FILE",
		"where DNS capture reads the nameserver lines" },
};

#undef I
#undef C

const struct capture_opt_def *capture_opt_table(void)
{
	return opt_table;
}

/* clean-iptables has no --capture-all-dns flag: only CAPTURE_ALL_DNS. */
static bool flag_allowed(enum capture_opt o, unsigned command)
{
	if (!(opt_table[o].commands & command))
		return false;
	if (command == CAPTURE_FOR_CLEAN && o == OPT_CAPTURE_ALL_DNS)
		return false;
	return true;
}

void capture_list_free(struct capture_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

int capture_list_split(const char *value, struct capture_list *out)
{
	capture_list_free(out);
	const char *p = value;
	while (p && *p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		if (n > 0) {
			char **items = realloc(out->items, (out->n + 1) * sizeof(*items));
			if (!items)
				return -ENOMEM;
			out->items = items;
			char *item = strndup(p, n);
			if (!item)
				return -ENOMEM;
			out->items[out->n++] = item;
		}
		p = comma ? comma + 1 : NULL;
	}
	return 0;
}

void capture_cidrs_free(struct capture_cidrs *c)
{
	if (!c)
		return;
	free(c->v4);
	free(c->v6);
	memset(c, 0, sizeof(*c));
}

void capture_config_free(struct capture_config *cfg)
{
	if (!cfg)
		return;
	capture_list_free(&cfg->uids);
	capture_list_free(&cfg->gids);
	capture_list_free(&cfg->inbound_ports);
	capture_list_free(&cfg->local_exclude_ports);
	capture_list_free(&cfg->exclude_interfaces);
	capture_list_free(&cfg->kube_virt);
	capture_list_free(&cfg->outbound_ports);
	capture_list_free(&cfg->outbound_ports_exclude);
	capture_list_free(&cfg->dns_v4);
	capture_list_free(&cfg->dns_v6);
	capture_cidrs_free(&cfg->include);
	capture_cidrs_free(&cfg->exclude);
}

/* ---- validators ---- */

static bool is_service_name(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (const char *p = s; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return false;
	}
	if (strlen(s) > 64)
		return false;
	return getservbyname(s, "tcp") != NULL;
}

int capture_check_port(const char *value, const char *origin, bool allow_range,
		       struct skiff_err *e)
{
	uint16_t port;
	int pr = value[0] == '+' ? -EINVAL : parse_port(value, &port);
	if (pr == 0)
		return 0;
	if (pr == -ERANGE)
		return err_set(e, SKIFF_EINVAL, "%s: port \"%s\" is out of range 1-65535", origin, value);
	if (allow_range) {
		const char *colon = strchr(value, ':');
		if (colon && colon != value && colon[1]) {
			char lo[16];
			size_t n = (size_t)(colon - value);
			if (n < sizeof(lo)) {
				memcpy(lo, value, n);
				lo[n] = '\0';
				uint16_t a, b;
				int ra = parse_port(lo, &a), rb = parse_port(colon + 1, &b);
				if (ra == -ERANGE || rb == -ERANGE)
					return err_set(e, SKIFF_EINVAL,
						       "%s: port range \"%s\" is out of range 1-65535",
						       origin, value);
				if (ra == 0 && rb == 0) {
					if (a > b)
						return err_set(e, SKIFF_EINVAL,
							       "%s: port range \"%s\" ends before it starts",
							       origin, value);
					return 0;
				}
			}
		}
		if (is_service_name(value))
			return 0;
		return err_set(e, SKIFF_EINVAL,
			       "%s: \"%s\" is not a port (1-65535), a port range a:b or a known service name",
			       origin, value);
	}
	return err_set(e, SKIFF_EINVAL, "%s: \"%s\" is not a port number (1-65535)", origin, value);
}

int capture_check_port_list(const struct capture_list *l, const char *origin, struct skiff_err *e)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->items[i], "*") == 0)
			return err_set(e, SKIFF_EINVAL,
				       "%s: \"*\" is only a wildcard as the whole value, not as a list item",
				       origin);
		int r = capture_check_port(l->items[i], origin, true, e);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_id(const char *s, uint32_t *out)
{
	int64_t v;
	int r = parse_int64(s, 0, 4294967294LL, &v);
	if (r == 0 && (s[0] == '+' || s[0] == '-'))
		return -EINVAL;
	if (r == 0)
		*out = (uint32_t)v;
	return r;
}

int capture_check_owner_list(const struct capture_list *l, const char *origin, bool gid,
			     struct skiff_err *e)
{
	const char *what = gid ? "group" : "user";
	for (size_t i = 0; i < l->n; i++) {
		const char *s = l->items[i];
		uint32_t a, b;
		int r = parse_id(s, &a);
		if (r == 0)
			continue;
		if (r == -ERANGE)
			return err_set(e, SKIFF_EINVAL, "%s: %s id \"%s\" is out of range 0-4294967294",
				       origin, what, s);
		const char *dash = strchr(s, '-');
		if (dash && dash != s && dash[1]) {
			char lo[16];
			size_t n = (size_t)(dash - s);
			if (n < sizeof(lo)) {
				memcpy(lo, s, n);
				lo[n] = '\0';
				if (parse_id(lo, &a) == 0 && parse_id(dash + 1, &b) == 0) {
					if (a > b)
						return err_set(e, SKIFF_EINVAL,
							       "%s: %s id range \"%s\" ends before it starts",
							       origin, what, s);
					continue;
				}
			}
		}
		bool known = gid ? getgrnam(s) != NULL : getpwnam(s) != NULL;
		if (known && s[0] != '-' && !strpbrk(s, " \t:/,"))
			continue;
		return err_set(e, SKIFF_EINVAL, "%s: \"%s\" is not a %s id, an id range a-b or a known %s name",
			       origin, s, what, what);
	}
	return 0;
}

int capture_check_interface(const char *s, const char *origin, struct skiff_err *e)
{
	size_t n = strlen(s);
	if (n == 0 || n > 15)
		return err_set(e, SKIFF_EINVAL,
			       "%s: interface name \"%s\" must be 1-15 characters long", origin, s);
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return err_set(e, SKIFF_EINVAL, "%s: \"%s\" is not an interface name", origin, s);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c >= 0x7f || c == '/' || c == ':' || c == '"' || c == '\'' ||
		    c == '!' || (c == '+' && i != n - 1))
			return err_set(e, SKIFF_EINVAL,
				       "%s: interface name \"%s\" contains a character iptables does not accept",
				       origin, s);
	}
	return 0;
}

static int cidr_push(struct netaddr_cidr **arr, size_t *n, const struct netaddr_cidr *c)
{
	struct netaddr_cidr *p = realloc(*arr, (*n + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	p[*n] = *c;
	*arr = p;
	(*n)++;
	return 0;
}

int capture_parse_cidrs(const char *value, const char *origin, bool allow_wildcard,
			struct capture_cidrs *out, struct skiff_err *e)
{
	capture_cidrs_free(out);
	if (strcmp(value, "*") == 0) {
		if (!allow_wildcard)
			return err_set(e, SKIFF_EINVAL,
				       "%s: \"*\" is not allowed here (Istio aborts on it); list the ranges to exclude",
				       origin);
		out->wildcard = true;
		return 0;
	}
	struct capture_list l = { 0 };
	if (capture_list_split(value, &l) < 0)
		return err_set(e, SKIFF_ENOMEM, "%s: out of memory", origin);
	int r = 0;
	for (size_t i = 0; i < l.n && r == 0; i++) {
		const char *item = l.items[i];
		struct netaddr_cidr c;
		if (strcmp(item, "*") == 0) {
			r = err_set(e, SKIFF_EINVAL,
				    "%s: \"*\" is only a wildcard as the whole value, not as a list item",
				    origin);
			break;
		}
		int pr = netaddr_parse_cidr(item, &c);
		if (pr == -ERANGE) {
			r = err_set(e, SKIFF_EINVAL, "%s: prefix length of \"%s\" is out of range (0-32 for IPv4, 0-128 for IPv6)",
				    origin, item);
			break;
		}
		if (pr < 0) {
			r = err_set(e, SKIFF_EINVAL, "%s: \"%s\" is not a CIDR range (ADDRESS/PREFIX)",
				    origin, item);
			break;
		}
		if (c.family == AF_INET) {
			out->loop4 |= c.loopback;
			r = cidr_push(&out->v4, &out->n4, &c);
		} else {
			out->loop6 |= c.loopback;
			r = cidr_push(&out->v6, &out->n6, &c);
		}
		if (r == -ENOMEM)
			err_set(e, SKIFF_ENOMEM, "%s: out of memory", origin);
	}
	capture_list_free(&l);
	if (r < 0)
		capture_cidrs_free(out);
	return r;
}

/* ---- command line ---- */

static int find_long(const char *name, size_t len, unsigned command)
{
	for (int i = 0; i < OPT__MAX; i++) {
		const char *ln = opt_table[i].long_name;
		if (ln && strlen(ln) == len && strncmp(ln, name, len) == 0 &&
		    flag_allowed((enum capture_opt)i, command))
			return i;
	}
	return -1;
}

static int find_short(char c, unsigned command)
{
	for (int i = 0; i < OPT__MAX; i++) {
		if (opt_table[i].short_name == c && flag_allowed((enum capture_opt)i, command))
			return i;
	}
	return -1;
}

static int set_flag(struct capture_config *cfg, int o, const char *value, const char *origin,
		    struct skiff_err *e)
{
	struct capture_setting *s = &cfg->set[o];
	if (opt_table[o].kind == OPTK_BOOL) {
		bool b;
		if (parse_bool_go(value, &b) < 0)
			return err_set(e, SKIFF_EINVAL,
				       "invalid argument \"%s\" for \"%s\" flag: not a boolean (use true or false)",
				       value, origin);
		value = b ? "true" : "false";
	}
	s->value = value;
	s->from_flag = true;
	s->from_env = false;
	snprintf(s->origin, sizeof(s->origin), "%s", origin);
	return 0;
}

static int parse_argv(struct capture_config *cfg, unsigned command, int argc, char **argv,
		      struct skiff_err *e)
{
	bool flags_done = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (flags_done || a[0] != '-' || a[1] == '\0') {
			cfg->positional++;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			flags_done = true;
			continue;
		}
		if (a[1] == '-') {
			const char *name = a + 2;
			const char *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			if (len == 4 && strncmp(name, "help", 4) == 0)
				return CAPTURE_PARSE_HELP;
			int o = find_long(name, len, command);
			if (o < 0)
				return err_set(e, SKIFF_EINVAL, "unknown flag: --%.*s", (int)len, name);
			char origin[64];
			snprintf(origin, sizeof(origin), "--%s", opt_table[o].long_name);
			const char *value;
			if (eq)
				value = eq + 1;
			else if (opt_table[o].kind == OPTK_BOOL)
				value = "true";
			else if (i + 1 < argc)
				value = argv[++i];
			else
				return err_set(e, SKIFF_EINVAL, "flag needs an argument: --%s",
					       opt_table[o].long_name);
			int r = set_flag(cfg, o, value, origin, e);
			if (r < 0)
				return r;
			continue;
		}
		/* Shorthand: -x value, -xvalue, -x=value; booleans bundle (-nf). */
		for (const char *s = a + 1; *s;) {
			if (*s == 'h')
				return CAPTURE_PARSE_HELP;
			int o = find_short(*s, command);
			if (o < 0)
				return err_set(e, SKIFF_EINVAL, "unknown shorthand flag: '%c' in %s", *s, a);
			char origin[4] = { '-', *s, '\0', '\0' };
			const char *value;
			if (s[1] == '=') {
				value = s + 2;
				s += strlen(s);
			} else if (opt_table[o].kind == OPTK_BOOL) {
				value = "true";
				s++;
			} else if (s[1]) {
				value = s + 1;
				s += strlen(s);
			} else if (i + 1 < argc) {
				value = argv[++i];
				s++;
			} else {
				return err_set(e, SKIFF_EINVAL, "flag needs an argument: '%c' in %s", *s, a);
			}
			int r = set_flag(cfg, o, value, origin, e);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Precedence: flag (even empty) > non-empty environment variable > default. */
static void resolve_env(struct capture_config *cfg, unsigned command, char *const *envp)
{
	for (int o = 0; o < OPT__MAX; o++) {
		struct capture_setting *s = &cfg->set[o];
		const struct capture_opt_def *d = &opt_table[o];
		if (!(d->commands & command) || s->from_flag)
			continue;
		const char *v = d->env ? env_get_nonempty(envp, d->env) : NULL;
		if (v && d->kind == OPTK_BOOL) {
			bool b;
			if (parse_bool_go(v, &b) < 0) {
				log_warn("%s=\"%s\" is not a boolean; treating it as false", d->env, v);
				b = false;
			}
			v = b ? "true" : "false";
		}
		if (v) {
			s->value = v;
			s->from_env = true;
			snprintf(s->origin, sizeof(s->origin), "%s", d->env);
			continue;
		}
		s->value = d->def;
		if (d->long_name)
			snprintf(s->origin, sizeof(s->origin), "--%s", d->long_name);
		/* Defaults that come from another variable. */
		const char *via = NULL;
		if (o == OPT_REDIRECT_DNS)
			via = "ISTIO_META_DNS_CAPTURE";
		else if (o == OPT_DROP_INVALID && command == CAPTURE_FOR_IPTABLES)
			via = "INVALID_DROP"; /* skiff decision (Q1): honoured, as the CNI path does */
		if (via) {
			const char *raw = env_get(envp, via);
			bool b = false;
			if (raw && parse_bool_go(raw, &b) < 0) {
				log_warn("%s=\"%s\" is not a boolean; treating it as false", via, raw);
				b = false;
			}
			s->value = b ? "true" : "false";
			if (raw) {
				s->from_env = true;
				snprintf(s->origin, sizeof(s->origin), "%s", via);
			}
		}
	}
}

static bool as_bool(const struct capture_setting *s)
{
	return strcmp(s->value, "true") == 0;
}

static int split_checked(struct capture_config *cfg, enum capture_opt o, struct capture_list *l,
			 struct skiff_err *e)
{
	if (capture_list_split(cfg->set[o].value, l) < 0)
		return err_set(e, SKIFF_ENOMEM, "out of memory");
	return 0;
}

static int parse_u32_decimal(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	int64_t v;
	if (s[0] == '+' || s[0] == '-')
		return -EINVAL;
	int r = parse_int64(s, min, max, &v);
	if (r == 0)
		*out = (uint32_t)v;
	return r;
}

static int validate(struct capture_config *cfg, unsigned command, struct skiff_err *e)
{
	struct capture_setting *set = cfg->set;
	int r;
#define ORIG(o) (set[o].origin)

	cfg->dry_run = as_bool(&set[OPT_DRY_RUN]);
	cfg->redirect_dns = as_bool(&set[OPT_REDIRECT_DNS]);
	cfg->capture_all_dns = as_bool(&set[OPT_CAPTURE_ALL_DNS]);
	cfg->resolv_conf = set[OPT_RESOLV_CONF].value;
	if (!*cfg->resolv_conf)
		return err_set(e, SKIFF_EINVAL, "--resolv-conf: the file name is empty");

	/* uid/gid lists: checked here when given; derived later when empty. */
	if ((r = split_checked(cfg, OPT_PROXY_UID, &cfg->uids, e)) < 0 ||
	    (r = capture_check_owner_list(&cfg->uids, ORIG(OPT_PROXY_UID), false, e)) < 0)
		return r;
	if (*set[OPT_PROXY_UID].value && cfg->uids.n == 0)
		return err_set(e, SKIFF_EINVAL, "%s: \"%s\" names no user id", ORIG(OPT_PROXY_UID),
			       set[OPT_PROXY_UID].value);
	if ((r = split_checked(cfg, OPT_PROXY_GID, &cfg->gids, e)) < 0 ||
	    (r = capture_check_owner_list(&cfg->gids, ORIG(OPT_PROXY_GID), true, e)) < 0)
		return r;
	if (*set[OPT_PROXY_GID].value && cfg->gids.n == 0)
		return err_set(e, SKIFF_EINVAL, "%s: \"%s\" names no group id", ORIG(OPT_PROXY_GID),
			       set[OPT_PROXY_GID].value);
	if (command == CAPTURE_FOR_CLEAN)
		return 0;

	static const enum capture_opt single_ports[] = { OPT_ENVOY_PORT, OPT_INBOUND_CAPTURE_PORT,
							 OPT_INBOUND_TUNNEL_PORT };
	for (size_t i = 0; i < 3; i++) {
		enum capture_opt o = single_ports[i];
		if ((r = capture_check_port(set[o].value, ORIG(o), false, e)) < 0)
			return r;
	}
	cfg->proxy_port = set[OPT_ENVOY_PORT].value;
	cfg->inbound_capture_port = set[OPT_INBOUND_CAPTURE_PORT].value;
	cfg->inbound_tunnel_port = set[OPT_INBOUND_TUNNEL_PORT].value;

	const char *mode = set[OPT_INTERCEPTION_MODE].value;
	if (strcmp(mode, "TPROXY") == 0)
		cfg->tproxy = true;
	else if (*mode && strcmp(mode, "REDIRECT") != 0)
		return err_set(e, SKIFF_EINVAL,
			       "%s: interception mode \"%s\" is not REDIRECT or TPROXY",
			       ORIG(OPT_INTERCEPTION_MODE), mode);

	cfg->mark = set[OPT_TPROXY_MARK].value;
	r = parse_u32_decimal(cfg->mark, 1, UINT32_MAX, &cfg->mark_num);
	if (r == -ERANGE)
		return err_set(e, SKIFF_EINVAL, "%s: mark \"%s\" is out of range 1-4294967295",
			       ORIG(OPT_TPROXY_MARK), cfg->mark);
	if (r < 0)
		return err_set(e, SKIFF_EINVAL, "%s: mark \"%s\" is not a decimal number",
			       ORIG(OPT_TPROXY_MARK), cfg->mark);
	if (cfg->mark_num == 1338)
		return err_set(e, SKIFF_EINVAL,
			       "%s: mark \"%s\" collides with the outbound mark 1338 the rules use",
			       ORIG(OPT_TPROXY_MARK), cfg->mark);
	cfg->route_table = set[OPT_TPROXY_ROUTE_TABLE].value;
	r = parse_u32_decimal(cfg->route_table, 1, UINT32_MAX, &cfg->route_table_num);
	if (r == -ERANGE)
		return err_set(e, SKIFF_EINVAL, "%s: route table \"%s\" is out of range 1-4294967295",
			       ORIG(OPT_TPROXY_ROUTE_TABLE), cfg->route_table);
	if (r < 0)
		return err_set(e, SKIFF_EINVAL, "%s: route table \"%s\" is not a decimal number",
			       ORIG(OPT_TPROXY_ROUTE_TABLE), cfg->route_table);
	if (cfg->route_table_num >= 253 && cfg->route_table_num <= 255)
		return err_set(e, SKIFF_EINVAL,
			       "%s: route table \"%s\" is one of the kernel's default/main/local tables",
			       ORIG(OPT_TPROXY_ROUTE_TABLE), cfg->route_table);

	const char *b = set[OPT_INBOUND_PORTS].value;
	cfg->inbound_enabled = *b != '\0';
	cfg->inbound_wildcard = strcmp(b, "*") == 0;
	if (!cfg->inbound_wildcard) {
		if ((r = split_checked(cfg, OPT_INBOUND_PORTS, &cfg->inbound_ports, e)) < 0 ||
		    (r = capture_check_port_list(&cfg->inbound_ports, ORIG(OPT_INBOUND_PORTS), e)) < 0)
			return r;
	}
	static const struct {
		enum capture_opt o;
		size_t off;
	} port_lists[] = {
		{ OPT_LOCAL_EXCLUDE_PORTS, offsetof(struct capture_config, local_exclude_ports) },
		{ OPT_OUTBOUND_PORTS, offsetof(struct capture_config, outbound_ports) },
		{ OPT_LOCAL_OUTBOUND_PORTS_EXCLUDE, offsetof(struct capture_config, outbound_ports_exclude) },
	};
	for (size_t i = 0; i < (sizeof(port_lists) / sizeof(port_lists[0])); i++) {
		struct capture_list *l = (struct capture_list *)((char *)cfg + port_lists[i].off);
		if ((r = split_checked(cfg, port_lists[i].o, l, e)) < 0 ||
		    (r = capture_check_port_list(l, ORIG(port_lists[i].o), e)) < 0)
			return r;
	}
	static const struct {
		enum capture_opt o;
		size_t off;
	} iface_lists[] = {
		{ OPT_EXCLUDE_INTERFACES, offsetof(struct capture_config, exclude_interfaces) },
		{ OPT_KUBE_VIRT_INTERFACES, offsetof(struct capture_config, kube_virt) },
	};
	for (size_t i = 0; i < (sizeof(iface_lists) / sizeof(iface_lists[0])); i++) {
		struct capture_list *l = (struct capture_list *)((char *)cfg + iface_lists[i].off);
		if ((r = split_checked(cfg, iface_lists[i].o, l, e)) < 0)
			return r;
		for (size_t j = 0; j < l->n; j++) {
			if ((r = capture_check_interface(l->items[j], ORIG(iface_lists[i].o), e)) < 0)
				return r;
		}
	}
	/* Istio parses -x before -i (spec step 0). */
	if ((r = capture_parse_cidrs(set[OPT_SERVICE_EXCLUDE_CIDR].value, ORIG(OPT_SERVICE_EXCLUDE_CIDR),
				     false, &cfg->exclude, e)) < 0)
		return r;
	if ((r = capture_parse_cidrs(set[OPT_SERVICE_CIDR].value, ORIG(OPT_SERVICE_CIDR), true,
				     &cfg->include, e)) < 0)
		return r;

	cfg->trace_logging = as_bool(&set[OPT_TRACE_LOGGING]);
	cfg->restore_format = as_bool(&set[OPT_RESTORE_FORMAT]);
	cfg->skip_rule_apply = as_bool(&set[OPT_SKIP_RULE_APPLY]);
	cfg->run_validation = as_bool(&set[OPT_RUN_VALIDATION]);
	cfg->drop_invalid = as_bool(&set[OPT_DROP_INVALID]);
	cfg->cni_mode = as_bool(&set[OPT_CNI_MODE]);

	uint64_t pp;
	const char *probe = set[OPT_PROBE_PORT].value;
	r = parse_go_uint(probe, 65535, &pp);
	if (r == 0 && pp == 0)
		r = -ERANGE;
	if (r == -ERANGE)
		return err_set(e, SKIFF_EINVAL, "%s: port \"%s\" is out of range 1-65535",
			       ORIG(OPT_PROBE_PORT), probe);
	if (r < 0)
		return err_set(e, SKIFF_EINVAL, "%s: \"%s\" is not a port number",
			       ORIG(OPT_PROBE_PORT), probe);
	cfg->probe_port = (uint16_t)pp;

	const char *to = set[OPT_PROBE_TIMEOUT].value;
	int64_t ns = 0;
	if (set[OPT_PROBE_TIMEOUT].from_env && !strpbrk(to, "nsuhm\xc2\xb5")) {
		/* Istio reads a unit-less PROBE_TIMEOUT as nanoseconds. */
		uint64_t v;
		r = parse_go_uint(to, INT64_MAX, &v);
		ns = (int64_t)v;
	} else {
		r = parse_go_duration(to, &ns);
	}
	if (r == 0 && ns < 0)
		r = -ERANGE;
	if (r < 0)
		return err_set(e, SKIFF_EINVAL, "%s: \"%s\" is not a duration (for example 5s, 500ms, 1m30s)",
			       ORIG(OPT_PROBE_TIMEOUT), to);
	cfg->probe_timeout_ns = ns;

	cfg->output_path = set[OPT_OUTPUT_PATHS].value;
	cfg->network_namespace = set[OPT_NETWORK_NAMESPACE].value;
	if (cfg->cni_mode && !*cfg->network_namespace)
		return err_set(e, SKIFF_EINVAL, "--cni-mode needs --network-namespace (or NETWORK_NAMESPACE)");

	const char *v6 = set[OPT_IPV6].value;
	bool bv;
	if (strcmp(v6, "auto") == 0)
		cfg->ipv6_mode = CAPTURE_IPV6_AUTO;
	else if (parse_bool_go(v6, &bv) == 0)
		cfg->ipv6_mode = bv ? CAPTURE_IPV6_TRUE : CAPTURE_IPV6_FALSE;
	else
		return err_set(e, SKIFF_EINVAL, "--ipv6: \"%s\" is not auto, true or false", v6);
#undef ORIG
	return 0;
}

int capture_config_parse(struct capture_config *cfg, unsigned command, int argc, char **argv,
			 char *const *envp, struct skiff_err *e)
{
	memset(cfg, 0, sizeof(*cfg));
	for (int o = 0; o < OPT__MAX; o++)
		cfg->set[o].value = opt_table[o].def;
	int r = parse_argv(cfg, command, argc, argv, e);
	if (r != 0)
		return r;
	resolve_env(cfg, command, envp);
	return validate(cfg, command, e);
}

/* ---- host-derived values (spec 2.5) ---- */

void capture_host_probe(struct capture_host *host, char *const *envp, bool lookup_user)
{
	memset(host, 0, sizeof(*host));
	struct ifaddrs *ifa = NULL;
	bool has4 = false, has6 = false;
	if (getifaddrs(&ifa) == 0) {
		for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
			if (!i->ifa_addr)
				continue;
			if (i->ifa_addr->sa_family == AF_INET) {
				const struct sockaddr_in *sin = (const void *)i->ifa_addr;
				if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127)
					has4 = true;
			} else if (i->ifa_addr->sa_family == AF_INET6) {
				const struct sockaddr_in6 *sin6 = (const void *)i->ifa_addr;
				if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
					if (sin6->sin6_addr.s6_addr[12] != 127)
						has4 = true;
				} else if (!IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)) {
					has6 = true;
				}
			}
		}
		freeifaddrs(ifa);
	}
	host->addr_state = has4 ? 4 : has6 ? 6 : 0;
	if (!lookup_user)
		return;
	const char *user = env_get_nonempty(envp, "ENVOY_USER");
	struct passwd *pw = getpwnam(user ? user : "istio-proxy");
	if (pw) {
		host->have_uid = true;
		host->uid = (uint32_t)pw->pw_uid;
	}
}

static int list_push(struct capture_list *l, const char *s)
{
	char **items = realloc(l->items, (l->n + 1) * sizeof(*items));
	if (!items)
		return -ENOMEM;
	l->items = items;
	if (!(l->items[l->n] = strdup(s)))
		return -ENOMEM;
	l->n++;
	return 0;
}

int capture_parse_resolv_conf(const char *text, const char *path, struct capture_list *v4,
			      struct capture_list *v6)
{
	int lineno = 0;
	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		lineno++;
		char buf[512];
		if (len < sizeof(buf)) {
			memcpy(buf, line, len);
			buf[len] = '\0';
			char *save = NULL;
			const char *f1 = strtok_r(buf, " \t\r\v\f", &save);
			const char *f2 = f1 ? strtok_r(NULL, " \t\r\v\f", &save) : NULL;
			if (f1 && f2 && strcmp(f1, "nameserver") == 0) {
				int fam;
				uint8_t a[16];
				int r = 0;
				if (netaddr_parse_ip(f2, &fam, a) < 0) {
					log_warn("%s:%d: nameserver \"%s\" is not an IP address; no DNS rule for it",
						 path, lineno, f2);
				} else if (fam == AF_INET) {
					char s[16];
					snprintf(s, sizeof(s), "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
					r = list_push(v4, s);
				} else {
					r = list_push(v6, f2);
				}
				if (r < 0)
					return r;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	return 0;
}

int capture_config_derive(struct capture_config *cfg, unsigned command,
			  const struct capture_host *host_in, char *const *envp, struct skiff_err *e)
{
	struct capture_host probed;
	const struct capture_host *host = host_in;
	if (!host) {
		capture_host_probe(&probed, envp, cfg->uids.n == 0);
		host = &probed;
	}
	if (cfg->uids.n == 0) {
		char s[16];
		snprintf(s, sizeof(s), "%u", host->have_uid ? host->uid : 1337u);
		cfg->uid_derived = true;
		if (list_push(&cfg->uids, s) < 0)
			return err_set(e, SKIFF_ENOMEM, "out of memory");
	}
	if (cfg->gids.n == 0) {
		for (size_t i = 0; i < cfg->uids.n; i++) {
			if (list_push(&cfg->gids, cfg->uids.items[i]) < 0)
				return err_set(e, SKIFF_ENOMEM, "out of memory");
		}
	}
	if (command == CAPTURE_FOR_IPTABLES) {
		switch (cfg->ipv6_mode) {
		case CAPTURE_IPV6_TRUE: cfg->ipv6 = true; break;
		case CAPTURE_IPV6_FALSE: cfg->ipv6 = false; break;
		case CAPTURE_IPV6_AUTO:
			if (host->addr_state == 0)
				return err_set_exit(e, SKIFF_EINVAL, 2,
						    "no non-loopback address in this network namespace, so IPv4/IPv6 cannot be detected; set --ipv6=true or --ipv6=false");
			cfg->ipv6 = host->addr_state == 6;
			break;
		}
	}
	bool need_dns = cfg->redirect_dns &&
			(command == CAPTURE_FOR_CLEAN ||
			 (!cfg->capture_all_dns && !cfg->skip_rule_apply));
	if (need_dns) {
		FILE *f = fopen(cfg->resolv_conf, "re");
		if (!f)
			return err_set_exit(e, -errno, 2, "--resolv-conf: cannot read %s: %s",
					    cfg->resolv_conf, strerror(errno));
		char *text = NULL;
		size_t cap = 0, len = 0;
		char chunk[4096];
		size_t n;
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && len < (1u << 20)) {
			if (len + n + 1 > cap) {
				cap = (len + n + 1) * 2;
				char *t = realloc(text, cap);
				if (!t) {
					free(text);
					fclose(f);
					return err_set(e, SKIFF_ENOMEM, "out of memory");
				}
				text = t;
			}
			memcpy(text + len, chunk, n);
			len += n;
			text[len] = '\0';
		}
		fclose(f);
		int r = capture_parse_resolv_conf(text ? text : "", cfg->resolv_conf, &cfg->dns_v4,
						  &cfg->dns_v6);
		free(text);
		if (r < 0)
			return err_set(e, SKIFF_ENOMEM, "out of memory");
	}
	return 0;
}

/* ---- help ---- */

void capture_config_usage(unsigned command, const char *prog, FILE *out)
{
	if (command == CAPTURE_FOR_IPTABLES)
		fprintf(out,
			"Usage: %s [flags]\n"
			"\n"
			"Install the iptables rules that capture a pod's or VM's traffic to the sidecar\n"
			"(drop-in for Istio 1.13's istio-iptables). Every flag can also be set through the\n"
			"environment variable in brackets; a flag given on the command line wins, even\n"
			"when empty, then a non-empty variable, then the default.\n"
			"\n"
			"Flags:\n", prog);
	else
		fprintf(out,
			"Usage: %s [flags]\n"
			"\n"
			"Remove the capture rules and chains that istio-iptables or skiff iptables\n"
			"installed (drop-in for Istio 1.13's istio-clean-iptables). Succeeds when there\n"
			"is nothing to remove. CAPTURE_ALL_DNS is read from the environment only.\n"
			"\n"
			"Flags:\n", prog);
	for (int o = 0; o < OPT__MAX; o++) {
		const struct capture_opt_def *d = &opt_table[o];
		if (!flag_allowed((enum capture_opt)o, command))
			continue;
		char left[96];
		if (d->short_name)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", d->short_name, d->long_name,
				 d->metavar ? " " : "", d->metavar ? d->metavar : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", d->long_name, d->metavar ? " " : "",
				 d->metavar ? d->metavar : "");
		const char *help = d->help;
		if (command == CAPTURE_FOR_CLEAN && o == OPT_DRY_RUN)
			help = "print the commands on standard output instead of running them";
		else if (command == CAPTURE_FOR_CLEAN && o == OPT_REDIRECT_DNS)
			help = "also delete the DNS capture rules (default: ISTIO_META_DNS_CAPTURE)";
		else if (command == CAPTURE_FOR_CLEAN && (o == OPT_PROXY_UID || o == OPT_PROXY_GID))
			help = o == OPT_PROXY_UID ? "uids whose DNS rules are deleted (default: uid of ENVOY_USER, else 1337)"
						  : "gids whose DNS rules are deleted (default: the uid list)";
		fprintf(out, "  %-44s %s", left, help);
		if (d->env)
			fprintf(out, " [%s]", d->env);
		if (d->def && *d->def && d->kind == OPTK_STRING)
			fprintf(out, " (default \"%s\")", d->def);
		if (d->kind == OPTK_BOOL && strcmp(d->def, "true") == 0)
			fprintf(out, " (default true)");
		fputc('\n', out);
	}
	fprintf(out, "  %-44s %s\n", "-h, --help", "show this help");
	fprintf(out, "\nExit status: 0 ok, 1 bad flag or value, 2 host input missing (no address, "
		     "unreadable resolv.conf)%s.\n",
		command == CAPTURE_FOR_IPTABLES ? ", 126 validation failed, 255 iptables failed" : "");
	fprintf(out, "See docs/%s.md.\n", command == CAPTURE_FOR_IPTABLES ? "iptables" : "clean-iptables");
}

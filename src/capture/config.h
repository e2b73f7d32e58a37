/* config.h - the configuration of `skiff iptables` / `skiff clean-iptables`:
 * istio-iptables 1.13's flags and environment variables, resolved with
 * Istio's precedence (flag, even empty > non-empty env var > default) and
 * validated before anything is generated or applied.
 *
 * This module owns the capture configuration format: the inject subsystem
 * computes istio-init arguments and the VM path hands cluster.env values over
 * as environment variables; both end up here. */
#ifndef SKIFF_CAPTURE_CONFIG_H
#define SKIFF_CAPTURE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"
#include "base/netaddr.h"

enum capture_opt {
	OPT_ENVOY_PORT,
	OPT_INBOUND_CAPTURE_PORT,
	OPT_INBOUND_TUNNEL_PORT,
	OPT_PROXY_UID,
	OPT_PROXY_GID,
	OPT_INTERCEPTION_MODE,
	OPT_TPROXY_MARK,
	OPT_TPROXY_ROUTE_TABLE,
	OPT_INBOUND_PORTS,
	OPT_LOCAL_EXCLUDE_PORTS,
	OPT_EXCLUDE_INTERFACES,
	OPT_SERVICE_CIDR,
	OPT_SERVICE_EXCLUDE_CIDR,
	OPT_OUTBOUND_PORTS,
	OPT_LOCAL_OUTBOUND_PORTS_EXCLUDE,
	OPT_KUBE_VIRT_INTERFACES,
	OPT_DRY_RUN,
	OPT_TRACE_LOGGING,
	OPT_RESTORE_FORMAT,
	OPT_PROBE_PORT,
	OPT_PROBE_TIMEOUT,
	OPT_SKIP_RULE_APPLY,
	OPT_RUN_VALIDATION,
	OPT_REDIRECT_DNS,
	OPT_DROP_INVALID,
	OPT_CAPTURE_ALL_DNS,
	OPT_OUTPUT_PATHS,
	OPT_NETWORK_NAMESPACE,
	OPT_CNI_MODE,
	OPT_IPV6,          /* skiff: --ipv6=auto|true|false */
	OPT_RESOLV_CONF,   /* skiff: --resolv-conf=FILE */
	OPT__MAX
};

enum capture_opt_kind { OPTK_STRING, OPTK_BOOL };

/* Which command reads an option. */
#define CAPTURE_FOR_IPTABLES 1u
#define CAPTURE_FOR_CLEAN 2u

struct capture_opt_def {
	const char *long_name;  /* without "--"; NULL = environment only */
	char short_name;        /* 0 = none */
	enum capture_opt_kind kind;
	const char *env;        /* NULL = no environment variable */
	const char *def;        /* built-in default */
	unsigned commands;      /* CAPTURE_FOR_* bits */
	const char *metavar;
	const char *help;
};

/* The option table (OPT__MAX entries, indexed by enum capture_opt). */
const struct capture_opt_def *capture_opt_table(void);

/* A resolved setting: its value and where it came from, for messages. */
struct capture_setting {
	const char *value;   /* points into argv, envp or the table; never NULL */
	char origin[64];     /* "-d", "--istio-local-exclude-ports", "ISTIO_LOCAL_EXCLUDE_PORTS", "default" */
	bool from_flag;
	bool from_env;
};

/* A list value split on ',' with empty items dropped (heap strings). */
struct capture_list {
	char **items;
	size_t n;
};

struct capture_cidrs {
	bool wildcard;              /* the whole value was exactly "*" (-i only) */
	struct netaddr_cidr *v4, *v6;
	size_t n4, n6;
	bool loop4, loop6;          /* some item was a loopback address */
};

enum capture_ipv6_mode { CAPTURE_IPV6_AUTO, CAPTURE_IPV6_TRUE, CAPTURE_IPV6_FALSE };

struct capture_config {
	struct capture_setting set[OPT__MAX];

	/* Parsed and validated values. Strings point into set[].value. */
	const char *proxy_port, *inbound_capture_port, *inbound_tunnel_port;
	struct capture_list uids, gids;        /* after derivation (2.5) */
	bool uid_derived;                      /* -u came from the ENVOY_USER lookup */
	bool tproxy;
	const char *mark, *route_table;
	uint32_t mark_num, route_table_num;
	bool inbound_enabled;                  /* -b non-empty before splitting */
	bool inbound_wildcard;                 /* -b exactly "*" */
	struct capture_list inbound_ports, local_exclude_ports;
	struct capture_list exclude_interfaces, kube_virt;
	struct capture_cidrs include, exclude;
	struct capture_list outbound_ports, outbound_ports_exclude;
	bool dry_run, trace_logging, restore_format, skip_rule_apply, run_validation;
	bool redirect_dns, drop_invalid, capture_all_dns, cni_mode;
	uint16_t probe_port;
	int64_t probe_timeout_ns;
	const char *output_path, *network_namespace;
	enum capture_ipv6_mode ipv6_mode;
	const char *resolv_conf;

	/* Host-derived inputs (capture_config_derive). */
	bool ipv6;
	struct capture_list dns_v4, dns_v6;

	int positional;                        /* ignored positional arguments */
};

/* What the host looks like, for the derivations of spec 2.5. Tests fill it;
 * capture_host_probe() reads the real one. */
struct capture_host {
	int addr_state;          /* 0 = no non-loopback address, 4 = an IPv4 one, 6 = IPv6 only */
	bool have_uid;           /* ENVOY_USER resolved */
	uint32_t uid;
};

#define CAPTURE_PARSE_HELP 1 /* capture_config_parse(): --help was given */

/* Parse ARGV (argv[0] = the command name) and ENVP for COMMAND
 * (CAPTURE_FOR_IPTABLES or CAPTURE_FOR_CLEAN) into CFG, then validate every
 * value. Returns 0, CAPTURE_PARSE_HELP, or a negative code with E filled
 * (e->exit_code set when it is not 1). CFG must be freed with
 * capture_config_free() in every case. */
int capture_config_parse(struct capture_config *cfg, unsigned command, int argc, char **argv,
			 char *const *envp, struct skiff_err *e);

/* Fill the values that Istio derives from the host: the proxy uid (ENVOY_USER
 * lookup, else 1337), the gid (copy of the uid list), IPv6 enablement and the
 * DNS servers of --resolv-conf. HOST may be NULL to probe the real host.
 * Returns 0 or negative with E filled (exit 2 for Istio's panics). */
int capture_config_derive(struct capture_config *cfg, unsigned command,
			  const struct capture_host *host, char *const *envp, struct skiff_err *e);

/* Read the real host: interface addresses and (LOOKUP_USER) the ENVOY_USER user. */
void capture_host_probe(struct capture_host *host, char *const *envp, bool lookup_user);

void capture_config_free(struct capture_config *cfg);

/* Split VALUE on ',' dropping empty items. Returns 0 or -ENOMEM. */
int capture_list_split(const char *value, struct capture_list *out);
void capture_list_free(struct capture_list *l);

/* Validators, each naming ORIGIN and the value in its message. */
int capture_check_port(const char *value, const char *origin, bool allow_range,
		       struct skiff_err *e);
int capture_check_port_list(const struct capture_list *l, const char *origin,
			    struct skiff_err *e);
int capture_check_owner_list(const struct capture_list *l, const char *origin, bool gid,
			     struct skiff_err *e);
int capture_check_interface(const char *value, const char *origin, struct skiff_err *e);
int capture_parse_cidrs(const char *value, const char *origin, bool allow_wildcard,
			struct capture_cidrs *out, struct skiff_err *e);
void capture_cidrs_free(struct capture_cidrs *c);

/* Nameserver lines of a resolv.conf text, split into v4 and v6 lists as
 * Istio does (entries that are no IP address are skipped with a warning). */
int capture_parse_resolv_conf(const char *text, const char *path, struct capture_list *v4,
			      struct capture_list *v6);

/* Print --help for COMMAND. */
void capture_config_usage(unsigned command, const char *prog, FILE *out);

#endif

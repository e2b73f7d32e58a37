/* cmd.c - the command-line edges of `skiff iptables` (istio-iptables) and
 * `skiff clean-iptables` (istio-clean-iptables): parse, derive, then plan
 * and print or apply; validation; exit codes of spec section 8. */
#include <stdio.h>
#include <string.h>

#include "base/env.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "capture/apply.h"
#include "capture/clean.h"
#include "capture/config.h"
#include "capture/plan.h"
#include "capture/render.h"
#include "capture/validate.h"
#include "commands.h"

static const char *prog_name(const char *argv0, const char *istio, const char *skiff)
{
	const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
	const char *base = slash ? slash + 1 : argv0;
	return base && strcmp(base, istio) == 0 ? istio : skiff;
}

static int fail(const char *prog, const struct skiff_err *e, bool usage_hint)
{
	fprintf(stderr, "%s: %s\n", prog, e->msg[0] ? e->msg : "failed");
	if (usage_hint)
		fprintf(stderr, "Usage: %s [flags]\nRun '%s --help' for the flags.\n", prog, prog);
	return e->exit_code ? e->exit_code : CAPTURE_EXIT_USAGE;
}

static void log_settings(const struct capture_config *cfg, char *const *envp)
{
	static const char *const env_names[] = {
		"ENVOY_PORT", "INBOUND_CAPTURE_PORT", "ISTIO_INBOUND_INTERCEPTION_MODE",
		"ISTIO_INBOUND_TPROXY_ROUTE_TABLE", "ISTIO_INBOUND_PORTS", "ISTIO_OUTBOUND_PORTS",
		"ISTIO_LOCAL_EXCLUDE_PORTS", "ISTIO_EXCLUDE_INTERFACES", "ISTIO_SERVICE_CIDR",
		"ISTIO_SERVICE_EXCLUDE_CIDR", "ISTIO_META_DNS_CAPTURE", "INVALID_DROP",
	};
	if (log_get_level() > LOG_INFO)
		return;
	struct strbuf sb = STRBUF_INIT;
	strbuf_puts(&sb, "Istio iptables environment:");
	for (size_t i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++) {
		const char *v = env_get(envp, env_names[i]);
		strbuf_printf(&sb, " %s=%s", env_names[i], v ? v : "");
	}
	log_info("%s", strbuf_str(&sb));
	strbuf_reset(&sb);
	const struct capture_setting *s = cfg->set;
	strbuf_puts(&sb, "Istio iptables variables:");
	strbuf_printf(&sb, " PROXY_PORT=%s PROXY_INBOUND_CAPTURE_PORT=%s PROXY_TUNNEL_PORT=%s",
		      s[OPT_ENVOY_PORT].value, s[OPT_INBOUND_CAPTURE_PORT].value,
		      s[OPT_INBOUND_TUNNEL_PORT].value);
	strbuf_puts(&sb, " PROXY_UID=");
	for (size_t i = 0; i < cfg->uids.n; i++)
		strbuf_printf(&sb, "%s%s", i ? "," : "", cfg->uids.items[i]);
	strbuf_puts(&sb, " PROXY_GID=");
	for (size_t i = 0; i < cfg->gids.n; i++)
		strbuf_printf(&sb, "%s%s", i ? "," : "", cfg->gids.items[i]);
	strbuf_printf(&sb, " INBOUND_INTERCEPTION_MODE=%s INBOUND_TPROXY_MARK=%s INBOUND_TPROXY_ROUTE_TABLE=%s",
		      s[OPT_INTERCEPTION_MODE].value, s[OPT_TPROXY_MARK].value, s[OPT_TPROXY_ROUTE_TABLE].value);
	strbuf_printf(&sb, " INBOUND_PORTS_INCLUDE=%s INBOUND_PORTS_EXCLUDE=%s", s[OPT_INBOUND_PORTS].value,
		      s[OPT_LOCAL_EXCLUDE_PORTS].value);
	strbuf_printf(&sb, " OUTBOUND_IP_RANGES_INCLUDE=%s OUTBOUND_IP_RANGES_EXCLUDE=%s",
		      s[OPT_SERVICE_CIDR].value, s[OPT_SERVICE_EXCLUDE_CIDR].value);
	strbuf_printf(&sb, " OUTBOUND_PORTS_INCLUDE=%s OUTBOUND_PORTS_EXCLUDE=%s KUBE_VIRT_INTERFACES=%s",
		      s[OPT_OUTBOUND_PORTS].value, s[OPT_LOCAL_OUTBOUND_PORTS_EXCLUDE].value,
		      s[OPT_KUBE_VIRT_INTERFACES].value);
	strbuf_printf(&sb, " ENABLE_INBOUND_IPV6=%s DNS_CAPTURE=%s DROP_INVALID=%s CAPTURE_ALL_DNS=%s",
		      cfg->ipv6 ? "true" : "false", cfg->redirect_dns ? "true" : "false",
		      cfg->drop_invalid ? "true" : "false", cfg->capture_all_dns ? "true" : "false");
	strbuf_puts(&sb, " DNS_SERVERS=[");
	for (size_t i = 0; i < cfg->dns_v4.n; i++)
		strbuf_printf(&sb, "%s%s", i ? " " : "", cfg->dns_v4.items[i]);
	strbuf_puts(&sb, "],[");
	for (size_t i = 0; i < cfg->dns_v6.n; i++)
		strbuf_printf(&sb, "%s%s", i ? " " : "", cfg->dns_v6.items[i]);
	strbuf_printf(&sb, "] OUTPUT_PATH=%s NETWORK_NAMESPACE=%s CNI_MODE=%s EXCLUDE_INTERFACES=%s",
		      cfg->output_path, cfg->network_namespace, cfg->cni_mode ? "true" : "false",
		      s[OPT_EXCLUDE_INTERFACES].value);
	log_info("%s", strbuf_str(&sb));
	strbuf_free(&sb);
}

static bool is_usage_error(const struct skiff_err *e)
{
	return strncmp(e->msg, "unknown ", 8) == 0 || strncmp(e->msg, "flag needs", 10) == 0 ||
	       strncmp(e->msg, "invalid argument", 16) == 0;
}

int cmd_iptables(int argc, char **argv, char **envp)
{
	const char *prog = prog_name(argv[0], "istio-iptables", "skiff iptables");
	struct capture_config cfg;
	struct skiff_err e = { 0 };
	int r = capture_config_parse(&cfg, CAPTURE_FOR_IPTABLES, argc, argv, envp, &e);
	if (r == CAPTURE_PARSE_HELP) {
		capture_config_usage(CAPTURE_FOR_IPTABLES, prog, stdout);
		capture_config_free(&cfg);
		return 0;
	}
	if (r < 0) {
		int code = fail(prog, &e, is_usage_error(&e));
		capture_config_free(&cfg);
		return code;
	}
	int code = 0;
	bool need_host = !cfg.skip_rule_apply || cfg.run_validation;
	if (need_host && capture_config_derive(&cfg, CAPTURE_FOR_IPTABLES, NULL, envp, &e) < 0) {
		code = fail(prog, &e, false);
		goto out;
	}
	log_settings(&cfg, envp);
	if (!cfg.skip_rule_apply) {
		struct capture_plan plan;
		if (capture_plan_build(&cfg, &plan) < 0) {
			capture_plan_free(&plan);
			fprintf(stderr, "%s: out of memory\n", prog);
			code = 1;
			goto out;
		}
		if (cfg.dry_run) {
			struct strbuf sb = STRBUF_INIT;
			capture_render_listing(&plan, &sb);
			fwrite(strbuf_str(&sb), 1, sb.len, stdout);
			fflush(stdout);
			strbuf_free(&sb);
			if (*cfg.output_path && capture_write_output(&cfg, &plan, &e) < 0)
				code = fail(prog, &e, false);
			log_info("skipping configuring routes due to dry run mode");
		} else if (capture_apply(&cfg, &plan, &e) < 0) {
			code = fail(prog, &e, false);
		}
		capture_plan_free(&plan);
		if (code)
			goto out;
	}
	if (cfg.run_validation && capture_validate(&cfg, &e) < 0)
		code = fail(prog, &e, false);
out:
	capture_config_free(&cfg);
	return code;
}

int cmd_clean_iptables(int argc, char **argv, char **envp)
{
	const char *prog = prog_name(argv[0], "istio-clean-iptables", "skiff clean-iptables");
	struct capture_config cfg;
	struct skiff_err e = { 0 };
	int r = capture_config_parse(&cfg, CAPTURE_FOR_CLEAN, argc, argv, envp, &e);
	if (r == CAPTURE_PARSE_HELP) {
		capture_config_usage(CAPTURE_FOR_CLEAN, prog, stdout);
		capture_config_free(&cfg);
		return 0;
	}
	int code = 0;
	if (r < 0) {
		code = fail(prog, &e, is_usage_error(&e));
	} else if (capture_config_derive(&cfg, CAPTURE_FOR_CLEAN, NULL, envp, &e) < 0) {
		code = fail(prog, &e, false);
	} else {
		capture_clean_run(&cfg, cfg.dry_run);
	}
	capture_config_free(&cfg);
	return code;
}

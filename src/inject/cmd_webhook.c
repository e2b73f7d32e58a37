/* cmd_webhook.c - `skiff webhook`: Istio 1.13's sidecar-injection admission
 * webhook over TLS. Flags and signals here; the server is webhook.c, the
 * review handling admission.c, the injection itself the core in inject.h
 * (the same code `skiff inject` runs). */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/parse.h"
#include "commands.h"
#include "inject/admission.h"
#include "inject/inject.h"
#include "inject/inject_internal.h"
#include "inject/webhook.h"

static void usage(FILE *out)
{
	fputs("Usage: skiff webhook --tls-cert FILE --tls-key FILE [options]\n"
	      "\n"
	      "Serve Istio 1.13's sidecar-injection admission webhook over HTTPS:\n"
	      "POST /inject (and /inject/cluster/C/net/N/...) takes an AdmissionReview\n"
	      "(admission.k8s.io/v1 or v1beta1) for a Pod and answers with a JSONPatch\n"
	      "that injects istio-init and istio-proxy; GET /healthz answers 200.\n"
	      "The certificate files are re-read when they change, without a restart.\n"
	      "\n"
	      "Options:\n"
	      "  --tls-cert FILE          PEM certificate (then intermediates) to serve (required)\n"
	      "  --tls-key FILE           PEM private key of that certificate (required)\n"
	      "  --port N                 port to listen on (default 9443)\n"
	      "  --address IP             listen on this address only (default: every address)\n"
	      "  --meshConfigFile FILE    Istio mesh config (as `skiff inject`)\n"
	      "  --valuesFile FILE        Istio injector values (as `skiff inject`)\n"
	      "  --injectConfigFile FILE  injector config; only `policy` is read\n"
	      "  --revision, --status-port, --proxy-image, --hub, --tag,\n"
	      "  --interception-mode, --include-ip-ranges, --exclude-ip-ranges,\n"
	      "  --include-inbound-ports, --exclude-inbound-ports,\n"
	      "  --include-outbound-ports, --exclude-outbound-ports,\n"
	      "  --rewrite-app-probers    injection settings, as for `skiff inject`\n"
	      "  --max-request-bytes N    largest AdmissionReview accepted (default 6291456)\n"
	      "  --max-connections N      concurrent connections (default 256)\n"
	      "  --threads N              worker threads (default 2)\n"
	      "  --connection-timeout S   close idle connections after S seconds (default 30)\n"
	      "  --log_output_level L     debug, info (default), warn, error or none;\n"
	      "                           Istio's scope:level form is accepted\n"
	      "  -h, --help               show this help\n"
	      "\n"
	      "Environment: istiod's variables the injector reads (REWRITE_TCP_PROBES, ...).\n"
	      "Exit status: 0 after SIGTERM or SIGINT, 1 on bad flags or files, 2 when the\n"
	      "port cannot be bound or the TLS libraries cannot be loaded. See docs/webhook.md.\n", out);
}

/* The admission handler's callback: the core on the pod it has parsed. */
static int inject_tree_adapter(void *ctx, json_t *pod, const char *ns, char **skip_reason,
			       struct strbuf *warnings, struct skiff_err *e)
{
	return inject_pod_tree(ctx, pod, ns, skip_reason, warnings, e);
}

static int parse_uint_flag(const char *flag, const char *s, int64_t min, int64_t max, int64_t *out)
{
	if (parse_int64(s, min, max, out) < 0) {
		fprintf(stderr, "skiff webhook: %s \"%s\": want a whole number from %lld to %lld\n",
			flag, s, (long long)min, (long long)max);
		return -EINVAL;
	}
	return 0;
}

static int parse_level(const char *s, enum log_level *out)
{
	const char *colon = strrchr(s, ':');
	const char *l = colon ? colon + 1 : s;
	static const struct { const char *name; enum log_level level; } levels[] = {
		{ "debug", LOG_DEBUG }, { "info", LOG_INFO }, { "warn", LOG_WARN },
		{ "error", LOG_ERROR }, { "none", LOG_NONE },
	};
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if (strcmp(l, levels[i].name) == 0) {
			*out = levels[i].level;
			return 0;
		}
	}
	fprintf(stderr, "skiff webhook: --log_output_level \"%s\": want debug, info, warn, error or none\n", s);
	return -EINVAL;
}

/* Injection settings taken by name, as `skiff inject` takes them. */
static const char *const setters[] = {
	"revision", "status-port", "proxy-image", "hub", "tag", "interception-mode",
	"include-ip-ranges", "exclude-ip-ranges", "include-inbound-ports",
	"exclude-inbound-ports", "include-outbound-ports", "exclude-outbound-ports",
	"rewrite-app-probers",
};
#define N_SETTERS (sizeof(setters) / sizeof(setters[0]))
#define MAX_SETS 64

enum {
	OPT_SET = 500, /* + index into setters */
	OPT_CERT = 1000, OPT_INJECT_CFG, OPT_KEY, OPT_PORT, OPT_ADDRESS, OPT_MESH, OPT_VALUES, OPT_MAX_BYTES,
	OPT_MAX_CONNS, OPT_THREADS, OPT_TIMEOUT, OPT_LOG,
};

int cmd_webhook(int argc, char **argv, char **envp)
{
	struct option longopts[32] = {
		{ "tls-cert", required_argument, NULL, OPT_CERT },
		{ "injectConfigFile", required_argument, NULL, OPT_INJECT_CFG },
		{ "tls-key", required_argument, NULL, OPT_KEY },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "address", required_argument, NULL, OPT_ADDRESS },
		{ "meshConfigFile", required_argument, NULL, OPT_MESH },
		{ "valuesFile", required_argument, NULL, OPT_VALUES },
		{ "max-request-bytes", required_argument, NULL, OPT_MAX_BYTES },
		{ "max-connections", required_argument, NULL, OPT_MAX_CONNS },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "connection-timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "log_output_level", required_argument, NULL, OPT_LOG },
		{ "help", no_argument, NULL, 'h' },
	};
	size_t nopt = 0;
	while (longopts[nopt].name)
		nopt++;
	for (size_t i = 0; i < N_SETTERS; i++)
		longopts[nopt++] = (struct option){ setters[i], required_argument, NULL, OPT_SET + (int)i };
	longopts[nopt] = (struct option){ NULL, 0, NULL, 0 };
	const char *set_name[MAX_SETS], *set_val[MAX_SETS];
	size_t n_set = 0;
	const char *inject_cfg = NULL;
	struct webhook_options o = { .port = 9443 };
	const char *mesh = NULL, *values = NULL;
	int64_t v;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CERT: o.cert_path = optarg; break;
		case OPT_KEY: o.key_path = optarg; break;
		case OPT_ADDRESS: o.address = optarg; break;
		case OPT_MESH: mesh = optarg; break;
		case OPT_VALUES: values = optarg; break;
		case OPT_INJECT_CFG: inject_cfg = optarg; break;
		case OPT_PORT:
			if (parse_uint_flag("--port", optarg, 1, 65535, &v) < 0)
				return 1;
			o.port = (uint16_t)v;
			break;
		case OPT_MAX_BYTES:
			if (parse_uint_flag("--max-request-bytes", optarg, 1024, 256 * 1024 * 1024, &v) < 0)
				return 1;
			o.max_request_bytes = (size_t)v;
			break;
		case OPT_MAX_CONNS:
			if (parse_uint_flag("--max-connections", optarg, 1, 65536, &v) < 0)
				return 1;
			o.max_connections = (unsigned)v;
			break;
		case OPT_THREADS:
			if (parse_uint_flag("--threads", optarg, 1, 256, &v) < 0)
				return 1;
			o.threads = (unsigned)v;
			break;
		case OPT_TIMEOUT:
			if (parse_uint_flag("--connection-timeout", optarg, 1, 3600, &v) < 0)
				return 1;
			o.timeout_seconds = (unsigned)v;
			break;
		case OPT_LOG: {
			enum log_level l;
			if (parse_level(optarg, &l) < 0)
				return 1;
			log_set_level(l);
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		case OPT_SET ... OPT_SET + (int)N_SETTERS - 1:
			if (n_set >= MAX_SETS) {
				fprintf(stderr, "skiff webhook: too many settings\n");
				return 1;
			}
			set_name[n_set] = setters[c - OPT_SET];
			set_val[n_set++] = optarg;
			break;
		case ':':
			fprintf(stderr, "skiff webhook: %s needs a value\n", argv[optind - 1]);
			return 1;
		default:
			fprintf(stderr, "skiff webhook: unknown option \"%s\" (see --help)\n", argv[optind - 1]);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "skiff webhook: unexpected argument \"%s\" (see --help)\n", argv[optind]);
		return 1;
	}
	if (!o.cert_path || !o.key_path) {
		fprintf(stderr, "skiff webhook: %s is required (see --help)\n",
			!o.cert_path ? "--tls-cert" : "--tls-key");
		return 1;
	}

	struct skiff_err e = { 0 };
	struct inject_config *cfg = NULL;
	struct strbuf warnings = STRBUF_INIT;
	int cr = inject_config_new(mesh, values, envp, &cfg, &e);
	if (cr == 0 && inject_cfg)
		cr = inject_config_load_inject_config(cfg, inject_cfg, &warnings, &e);
	for (size_t i = 0; cr == 0 && i < n_set; i++)
		cr = inject_config_set(cfg, set_name[i], set_val[i], &e);
	if (warnings.len)
		log_warn("webhook: %s", strbuf_str(&warnings));
	strbuf_free(&warnings);
	if (cr < 0) {
		fprintf(stderr, "skiff webhook: %s\n", e.msg);
		inject_config_free(cfg);
		return e.exit_code ? e.exit_code : 1;
	}

	/* Block the stop signals before the server's threads start, so they
	 * inherit the mask and only sigwait() below sees them. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	sigdelset(&stop, SIGPIPE);

	struct admission_handler h = { .inject_tree = inject_tree_adapter, .ctx = cfg };
	struct webhook *w = NULL;
	int r = webhook_start(&o, &h, &w, &e);
	if (r < 0) {
		fprintf(stderr, "skiff webhook: %s\n", e.msg);
		inject_config_free(cfg);
		return r == SKIFF_EIO ? 2 : 1;
	}
	log_info("webhook: serving https on %s:%u (POST /inject, GET /healthz)",
		 o.address ? o.address : "*", webhook_port(w));

	int sig = 0;
	sigwait(&stop, &sig);
	log_info("webhook: %s received, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	webhook_stop(w, 2000);
	inject_config_free(cfg);
	return 0;
}

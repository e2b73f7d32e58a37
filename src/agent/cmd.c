/* cmd.c - `skiff agent`: read the configuration (config.c), build the
 * /healthz/ready and /stats/prometheus handlers when they are built in, and
 * run the status server (server.c) until SIGTERM. Exit 0 after a graceful
 * stop, 1 for any configuration or start-up error (nothing is served then). */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "agent/config.h"
#include "agent/server.h"
#include "base/log.h"
#include "commands.h"
#include "agent/metrics.h"
#include "agent/ready.h"

static void log_lines(enum log_level level, const char *text)
{
	while (text && *text) {
		const char *nl = strchr(text, '\n');
		int n = nl ? (int)(nl - text) : (int)strlen(text);
		log_msg(level, "%.*s", n, text);
		text = nl ? nl + 1 : NULL;
	}
}

int cmd_agent(int argc, char **argv, char **envp)
{
	struct skiff_err e;
	err_clear(&e);
	struct agent_config cfg;
	/* One malloc arena: the workers allocate little, and one heap is reused
	 * by all of them instead of each thread keeping its own high-water mark. */
	mallopt(M_ARENA_MAX, 1);
	int r = agent_config_load(argc, argv, envp, &cfg, &e);
	if (r == 1) {
		agent_config_free(&cfg);
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "skiff agent: %s\n", e.msg);
		agent_config_free(&cfg);
		return 1;
	}
	log_lines(LOG_WARN, cfg.warnings);
	if (cfg.keepalive_var)
		log_info("probe connection re-use %s (read from %s)", cfg.keepalive ? "on" : "off",
			 cfg.keepalive_var);
	else
		log_info("probe connection re-use off (neither ENABLE_PROBE_KEEPALIVE_CONNECTIONS nor "
			 "ENABLE_PROBE_KEEPALIVE_CONNECTION is set)");
	char host[256];
	agent_probe_host(&cfg, host, sizeof(host));
	log_info("%zu application prober(s); probes go to %s from %s%s", cfg.probers.n, host,
		 cfg.ipv6 ? "::6" : "127.0.0.6", cfg.ipv6 ? " (IPv6 mode)" : "");

	struct agent_handlers h = { 0 };
	if (agent_metrics_new(envp, cfg.status_port, &h.metrics, &e) < 0 ||
	    agent_ready_new(envp, cfg.admin_port, cfg.ipv6, h.metrics, &h.ready, &e) < 0) {
		fprintf(stderr, "skiff agent: %s\n", e.msg);
		agent_metrics_free(h.metrics);
		agent_config_free(&cfg);
		return 1;
	}
	/* Room for --max-connections plus probe sockets. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rlim_t want = (rlim_t)cfg.max_connections + (rlim_t)cfg.max_workers * 2 + 64;
		if (rl.rlim_cur < want) {
			rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	signal(SIGPIPE, SIG_IGN);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	malloc_trim(0); /* give back what parsing the configuration used */

	int status = 0;
	if (cfg.status_port <= 0) {
		log_info("status port %d (from %s): no status server", cfg.status_port,
			 cfg.status_port_from);
		int sig;
		sigwait(&set, &sig);
	} else {
		log_info("status port %d (from %s)", cfg.status_port, cfg.status_port_from);
		if (agent_server_run(&cfg, &h, &e) < 0) {
			fprintf(stderr, "skiff agent: %s\n", e.msg);
			status = 1;
		}
	}
	agent_ready_free(h.ready);
	agent_metrics_free(h.metrics);
	agent_config_free(&cfg);
	return status;
}

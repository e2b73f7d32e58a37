/* agent-extras-driver.c - drives the gRPC prober, /healthz/ready and
 * /stats/prometheus from the command line, for the e2e tests (real peers,
 * in-process modules).
 *
 *   agent-extras-driver grpc HOST PORT [-6] [-s SERVICE] [-u UA] [-t MS]
 *       one probe; prints "<status> <reason>"
 *   agent-extras-driver ready ADMIN_PORT [-6]
 *       reads lines "check" or "check draining"; prints "<status>" per line
 *   agent-extras-driver metrics STATUS_PORT
 *       reads lines "scrape\tACCEPT\tUA\tTIMEOUT" ("-" = absent), or
 *       "startup SECONDS"; prints "STATUS n\nCT ct\nLEN n\n" and the body
 *
 * The environment is passed to the modules as is. A start-up error prints
 * "error: <message>" and exits 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/metrics.h"
#include "agent/ready.h"
#include "probe/grpc.h"

extern char **environ;

static const char *arg_or_null(char *s)
{
	return strcmp(s, "-") == 0 ? NULL : s;
}

static int run_grpc(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	struct probe_endpoint ep = { 0 };
	snprintf(ep.host, sizeof(ep.host), "%s", argv[2]);
	ep.port = (uint16_t)atoi(argv[3]);
	const char *service = NULL, *ua = NULL;
	long tmo = 1000;
	for (int i = 4; i < argc; i++) {
		if (strcmp(argv[i], "-6") == 0)
			ep.ipv6 = true;
		else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
			service = argv[++i];
		else if (strcmp(argv[i], "-u") == 0 && i + 1 < argc)
			ua = argv[++i];
		else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
			tmo = atol(argv[++i]);
		else
			return 2;
	}
	struct probe_outcome out;
	int64_t t0 = probe_now_ms();
	probe_grpc_run(&ep, service, ua, tmo > 0 ? t0 + tmo : 0, &out);
	printf("%d %s\nELAPSED %lld\n", out.status, out.reason, (long long)(probe_now_ms() - t0));
	return 0;
}

static int run_ready(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	bool v6 = argc > 3 && strcmp(argv[3], "-6") == 0;
	struct skiff_err e = { 0 };
	struct agent_metrics *m = NULL;
	if (agent_metrics_new(environ, 15020, &m, &e) < 0) {
		printf("error: %s\n", e.msg);
		return 1;
	}
	struct agent_ready *r = NULL;
	if (agent_ready_new(environ, atoi(argv[2]), v6, m, &r, &e) < 0) {
		printf("error: %s\n", e.msg);
		agent_metrics_free(m);
		return 1;
	}
	printf("started\n");
	fflush(stdout);
	char line[256];
	while (fgets(line, sizeof(line), stdin)) {
		struct agent_response resp = { 0 };
		if (strncmp(line, "check", 5) == 0) {
			agent_ready_check(r, strstr(line, "draining") != NULL, &resp);
			printf("%d %zu\n", resp.status, resp.body.len);
		} else if (strncmp(line, "metrics", 7) == 0) {
			agent_metrics_scrape(m, NULL, NULL, "0.5", &resp);
			printf("LEN %zu\n%s", resp.body.len, strbuf_str(&resp.body));
		}
		agent_response_free(&resp);
		fflush(stdout);
	}
	agent_ready_free(r);
	agent_metrics_free(m);
	return 0;
}

static int run_metrics(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	struct skiff_err e = { 0 };
	struct agent_metrics *m = NULL;
	if (agent_metrics_new(environ, atoi(argv[2]), &m, &e) < 0) {
		printf("error: %s\n", e.msg);
		return 1;
	}
	printf("started\n");
	fflush(stdout);
	char line[4096];
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "startup ", 8) == 0) {
			agent_metrics_set_startup_duration(m, atof(line + 8));
			continue;
		}
		char *f[4] = { 0 };
		char *save = NULL;
		int n = 0;
		for (char *t = strtok_r(line, "\t", &save); t && n < 4; t = strtok_r(NULL, "\t", &save))
			f[n++] = t;
		if (n != 4 || strcmp(f[0], "scrape") != 0)
			continue;
		struct agent_response resp = { 0 };
		agent_metrics_scrape(m, arg_or_null(f[1]), arg_or_null(f[2]), arg_or_null(f[3]), &resp);
		printf("STATUS %d\nCT %s\nLEN %zu\n", resp.status, resp.content_type ? resp.content_type : "",
		       resp.body.len);
		fwrite(strbuf_str(&resp.body), 1, resp.body.len, stdout);
		agent_response_free(&resp);
		fflush(stdout);
	}
	agent_metrics_free(m);
	return 0;
}

int main(int argc, char **argv)
{
	int r = 2;
	if (argc >= 2 && strcmp(argv[1], "grpc") == 0)
		r = run_grpc(argc, argv);
	else if (argc >= 2 && strcmp(argv[1], "ready") == 0)
		r = run_ready(argc, argv);
	else if (argc >= 2 && strcmp(argv[1], "metrics") == 0)
		r = run_metrics(argc, argv);
	if (r == 2)
		fprintf(stderr, "usage: see the comment at the top of agent-extras-driver.c\n");
	return r;
}

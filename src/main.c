/* main.c - skiff's multi-call entry point.
 *
 *   skiff <command> [args...]
 *
 * Started through a link named after an Istio binary (istio-iptables,
 * istio-clean-iptables) it behaves as that command, so skiff can stand in
 * for the Istio piece without changing the caller. */
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "commands.h"

#ifndef SKIFF_VERSION
#define SKIFF_VERSION "0.0.0"
#endif

struct command {
	const char *name;
	const char *alias; /* argv[0] basename that selects it, or NULL */
	int (*run)(int argc, char **argv, char **envp);
	const char *summary;
};

static const struct command commands[] = {
	{ "agent", NULL, cmd_agent,
	  "status server on port 15020: rewritten health probes, /healthz/ready, merged metrics" },
	{ "iptables", "istio-iptables", cmd_iptables,
	  "install traffic-capture rules (drop-in for istio-iptables 1.13)" },
	{ "clean-iptables", "istio-clean-iptables", cmd_clean_iptables,
	  "remove the capture rules and chains skiff or Istio installed" },
	{ "inject", NULL, cmd_inject,
	  "inject istio-init and istio-proxy into Kubernetes manifests (kube-inject)" },
	{ "webhook", NULL, cmd_webhook,
	  "sidecar-injection admission webhook over TLS" },
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: skiff <command> [options]\n"
		"\n"
		"skiff does on a mesh node what Istio 1.13 does there, in one small binary.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-15s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
		"\n"
		"Run 'skiff <command> --help' for a command's options; docs/<command>.md has its page.\n"
		"Linked as istio-iptables or istio-clean-iptables, skiff runs that command.\n");
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

int main(int argc, char **argv, char **envp)
{
	const char *self = argc > 0 ? base_name(argv[0]) : "skiff";
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (commands[i].alias && strcmp(self, commands[i].alias) == 0)
			return commands[i].run(argc, argv, envp);
	}
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	const char *name = argv[1];
	if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
		printf("skiff %s (Istio 1.13 interfaces)\n", SKIFF_VERSION);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(name, commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1, envp);
	}
	fprintf(stderr, "skiff: unknown command \"%s\"\n\n", name);
	usage(stderr);
	return 1;
}

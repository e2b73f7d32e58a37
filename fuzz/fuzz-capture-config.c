/* fuzz-capture-config.c - istio-iptables flag/env parsing, the list, CIDR,
 * duration and integer parsers, resolv.conf parsing, and the plan builder and
 * renderers on whatever configuration gets through.
 *
 * Input: lines. "ENV:NAME=value" lines form the environment, every other
 * line is one argv word. The first byte also picks the command and the host
 * (IPv4 / IPv6 / no address) used for the derivations. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/goparse.h"
#include "base/log.h"
#include "base/netaddr.h"
#include "base/strbuf.h"
#include "capture/clean.h"
#include "capture/config.h"
#include "capture/plan.h"
#include "capture/render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run_config(unsigned command, int argc, char **argv, char **envp, int addr_state)
{
	struct capture_config cfg;
	struct skiff_err e = { 0 };
	int r = capture_config_parse(&cfg, command, argc, argv, envp, &e);
	if (r == 0) {
		cfg.redirect_dns = cfg.redirect_dns && 0; /* never read a file named by the input */
		struct capture_host host = { .addr_state = addr_state, .have_uid = addr_state == 6, .uid = 7 };
		if (capture_config_derive(&cfg, command, &host, envp, &e) == 0) {
			struct strbuf sb = STRBUF_INIT;
			if (command == CAPTURE_FOR_IPTABLES) {
				struct capture_plan plan;
				if (capture_plan_build(&cfg, &plan) == 0) {
					capture_render_listing(&plan, &sb);
					for (int f = 0; f < CAPTURE__NFAMILIES; f++) {
						struct capture_restore_map map;
						capture_render_restore(&plan, (enum capture_family)f, &sb, &map);
						capture_render_undo(&plan, (enum capture_family)f, 7, &sb);
					}
				}
				capture_plan_free(&plan);
			} else {
				struct capture_lines l = { 0 };
				capture_clean_build(&cfg, &l);
				capture_lines_free(&l);
			}
			strbuf_free(&sb);
		}
	}
	capture_config_free(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	log_set_level(LOG_NONE);
	if (size == 0 || size > 4096)
		return 0;
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	const uint8_t mode = data[0];

	/* The parsers on the raw text. */
	struct netaddr_cidr c;
	char buf[NETADDR_STR_MAX];
	if (netaddr_parse_cidr(text, &c) == 0)
		netaddr_cidr_format(&c, buf, sizeof(buf));
	int64_t ns;
	(void)parse_go_duration(text, &ns);
	uint64_t u;
	(void)parse_go_uint(text, UINT64_MAX, &u);
	struct capture_list l4 = { 0 }, l6 = { 0 };
	capture_parse_resolv_conf(text, "fuzz", &l4, &l6);
	capture_list_free(&l4);
	capture_list_free(&l6);
	struct capture_cidrs cidrs = { 0 };
	capture_parse_cidrs(text, "-i", true, &cidrs, NULL);
	capture_cidrs_free(&cidrs);

	/* Lines -> argv and envp. */
	char *argv[258], *envp[258];
	int argc = 0, envc = 0;
	argv[argc++] = "istio-iptables";
	for (char *p = text; p && argc < 256 && envc < 256;) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		if (strncmp(p, "ENV:", 4) == 0)
			envp[envc++] = p + 4;
		else
			argv[argc++] = p;
		p = nl ? nl + 1 : NULL;
	}
	argv[argc] = NULL;
	envp[envc] = NULL;
	run_config((mode & 1) ? CAPTURE_FOR_CLEAN : CAPTURE_FOR_IPTABLES, argc, argv, envp,
		   (mode >> 1) % 3 == 0 ? 4 : (mode >> 1) % 3 == 1 ? 6 : 0);
	free(text);
	return 0;
}

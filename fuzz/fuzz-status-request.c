/* fuzz-status-request.c - the status server's request handling, in
 * process: head parsing, routing (clean-path and subtree redirects,
 * loopback-only routes), and the prober dispatch with real probes against
 * a closed loopback port (answered 500 at once). The first input byte picks
 * the peer (loopback or not); the rest is the request. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"
#include "agent/request.h"
#include "agent/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct agent_config cfg;
static int ready;

static void setup(void)
{
	/* port 1 on 127.0.0.1: nothing listens, so probes are refused at once */
	static const char probers[] =
		"{\"/app-health/a/livez\":{\"httpGet\":{\"path\":\"/x\",\"port\":1,"
		"\"httpHeaders\":[{\"name\":\"Host\",\"value\":\"h\"},{\"name\":\"x-a\",\"value\":\"b\"}]}},"
		"\"/app-health/a/readyz\":{\"tcpSocket\":{\"port\":1}},"
		"\"/app-health/a/startupz\":{\"httpGet\":{\"port\":0}}}";
	struct skiff_err e;
	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.instance_ip, sizeof(cfg.instance_ip), "127.0.0.1");
	if (probe_config_parse(probers, sizeof(probers) - 1, &cfg.probers, &e) < 0)
		abort();
	ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ready)
		setup();
	if (size < 1)
		return 0;
	bool loopback = data[0] & 1;
	const char *req = (const char *)data + 1;
	size_t len = size - 1;
	struct strbuf out = STRBUF_INIT;
	agent_server_handle_buffer(&cfg, req, len, loopback, &out);
	/* every complete head gets exactly one well-formed status line */
	if (out.len && strncmp(strbuf_str(&out), "HTTP/1.1 ", 9) != 0)
		abort();
	strbuf_free(&out);
	/* and the parser alone, on a mutable copy */
	char *copy = malloc(len + 1);
	if (copy) {
		memcpy(copy, req, len);
		copy[len] = 0;
		struct agent_request rq;
		const char *why;
		int n = agent_request_parse(copy, len, &rq, &why);
		if (n > 0 && (size_t)n > len)
			abort();
		free(copy);
	}
	return 0;
}

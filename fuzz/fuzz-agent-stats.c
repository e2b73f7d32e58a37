/* fuzz-agent-stats.c - outside input the agent's /healthz/ready and
 * /stats/prometheus read: Envoy's stats text (spec 9.4), the
 * ISTIO_PROMETHEUS_ANNOTATIONS value (11.1), and the HTTP responses of the
 * loopback client (head, chunked body, content type). The first byte picks
 * the parser; the rest is its input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/http_get.h"
#include "agent/metrics.h"
#include "agent/ready.h"
#include "base/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	log_set_level(LOG_NONE);
	uint8_t mode = data[0] % 4;
	const char *in = (const char *)data + 1;
	size_t len = size - 1;
	char why[256];

	switch (mode) {
	case 0: {
		static const char *const names[] = {
			"cluster_manager.cds.update_success", "cluster_manager.cds.update_rejected",
			"listener_manager.lds.update_success", "listener_manager.lds.update_rejected",
			"server.state", "listener_manager.workers_started",
		};
		uint64_t v[6];
		ready_stats_parse(in, len, names, v, 4, why, sizeof(why));
		ready_stats_parse(in, len, names + 4, v, 2, why, sizeof(why));
		break;
	}
	case 1: {
		char *s = malloc(len + 1);
		if (!s)
			return 0;
		memcpy(s, in, len);
		s[len] = '\0';
		struct metrics_app app;
		struct skiff_err e = { 0 };
		if (metrics_annotations_parse(s, 15020, &app, &e) == 0) {
			if (!app.path || !app.port)
				abort();
			metrics_app_clear(&app);
		} else if (e.msg[0] == '\0') {
			abort(); /* every failure must say why */
		}
		metrics_negotiate_content_type(s);
		int64_t ms;
		metrics_scrape_timeout(s, &ms);
		free(s);
		break;
	}
	case 2: {
		struct strbuf out = STRBUF_INIT;
		metrics_collapse_newlines(in, len, &out);
		/* never longer; three newlines only come from three or more */
		if (out.len > len || (out.len && memmem(out.buf, out.len, "\n\n\n", 3) &&
				      !memmem(in, len, "\n\n\n", 3)))
			abort();
		strbuf_free(&out);
		struct http_chunked c = { 0 };
		struct strbuf body = STRBUF_INIT;
		/* fed in two pieces: the split must not change the result */
		size_t half = len / 2;
		int r1 = http_chunked_feed(&c, in, half, &body);
		if (r1 == 0)
			http_chunked_feed(&c, in + half, len - half, &body);
		strbuf_free(&body);
		break;
	}
	case 3: {
		struct http_head h;
		if (http_head_parse(in, len, &h) == 0 && (h.status < 100 || h.status > 999))
			abort();
		break;
	}
	}
	return 0;
}

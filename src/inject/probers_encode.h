/* probers_encode.h - ISTIO_KUBE_APP_PROBERS as Go's encoder writes it (spec
 * probes.md 15.2). Interim: the format's owner is src/probe/config (it also
 * decodes it for the agent); this goes away when that encoder lands. */
#ifndef SKIFF_INJECT_PROBERS_ENCODE_H
#define SKIFF_INJECT_PROBERS_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "base/strbuf.h"

#define INJ_MAX_HEADERS 64

enum inj_prober_type { INJ_PROBER_HTTP, INJ_PROBER_TCP, INJ_PROBER_GRPC };

struct inj_prober {
	const char *key;           /* /app-health/<container>/<kind> */
	size_t key_len;
	enum inj_prober_type type;
	int32_t port;
	const char *path, *host, *scheme;      /* NULL = unset (omitted when empty) */
	struct { const char *name, *value; } headers[INJ_MAX_HEADERS];
	size_t n_headers;
	const char *service;       /* grpc; NULL = null */
	size_t service_len;
	int32_t timeout_seconds;   /* 0 = omitted */
};

/* Sort LIST by key (byte order; a later duplicate key wins) and append the
 * compact JSON to OUT. */
void inj_probers_encode(struct inj_prober *list, size_t n, struct strbuf *out);

#endif

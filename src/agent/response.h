/* response.h - an HTTP response as the agent's handlers produce it, before
 * the status server writes it to the wire. Contract between the server and
 * the handler modules (ready, metrics): change only by adding. */
#ifndef SKIFF_AGENT_RESPONSE_H
#define SKIFF_AGENT_RESPONSE_H

#include "base/strbuf.h"

struct agent_response {
	int status;               /* HTTP status code */
	const char *content_type; /* static string, or NULL for no Content-Type */
	struct strbuf body;       /* owned; freed by agent_response_free() */
};

static inline void agent_response_free(struct agent_response *r)
{
	if (r)
		strbuf_free(&r->body);
}

#endif

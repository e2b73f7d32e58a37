/* fuzz-grpc-response.c - what a gRPC server sends the health prober: bytes
 * fed into the prober's in-memory nghttp2 client session (struct grpc_call),
 * after the call has queued its preface and request, and the HealthCheck
 * response message decoder on its own. The verdict must be 200 or 500.
 *
 * Input: byte 0 bit 0 = prepend the server's empty SETTINGS frame (so the
 * fuzzer reaches HEADERS/DATA quickly); byte 1 = where to split the rest
 * into two reads. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probe/grpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void drain(struct grpc_call *c)
{
	const uint8_t *d;
	size_t n;
	for (int i = 0; i < 64 && grpc_call_output(c, &d, &n) == 0 && n; i++)
		grpc_call_consumed(c, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	int st;
	char why[96];
	grpc_health_response_decode(data + 2, size - 2, &st, why, sizeof(why));

	struct grpc_call *c = NULL;
	if (grpc_call_new("127.0.0.1:8080", "svc", "kube-probe/1.23", 1000, &c) < 0)
		return 0;
	drain(c);
	static const uint8_t settings[9] = { 0, 0, 0, 4, 0, 0, 0, 0, 0 };
	if (data[0] & 1)
		grpc_call_feed(c, settings, sizeof(settings));
	const uint8_t *in = data + 2;
	size_t len = size - 2;
	size_t split = len ? data[1] % (len + 1) : 0;
	if (grpc_call_feed(c, in, split) == 0) {
		drain(c);
		grpc_call_feed(c, in + split, len - split);
	}
	drain(c);
	struct probe_outcome out;
	grpc_call_result(c, &out);
	if (out.status != 200 && out.status != 500)
		abort();
	grpc_call_goaway(c);
	drain(c);
	grpc_call_free(c);
	return 0;
}

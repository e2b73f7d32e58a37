/* fuzz-probers-config.c - the ISTIO_KUBE_APP_PROBERS decoder and validator,
 * and the encoder's stability: whatever decodes must encode, and the
 * encoding must decode back to the same encoding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probe/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe_config c;
	struct skiff_err e;
	(void)probe_config_parse((const char *)data, size, &c, &e);
	probe_config_free(&c);
	if (probe_config_decode((const char *)data, size, &c, &e) < 0)
		return 0;
	struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
	int n = probe_config_encode(&c, &a);
	if (n > 0) {
		struct probe_config again;
		if (probe_config_decode(strbuf_str(&a), a.len, &again, &e) < 0)
			abort(); /* our own encoding must decode */
		if (probe_config_encode(&again, &b) != n || a.len != b.len ||
		    memcmp(strbuf_str(&a), strbuf_str(&b), a.len) != 0)
			abort(); /* encode(decode(encode(x))) == encode(x) */
		for (size_t i = 0; i < again.n; i++)
			(void)probe_config_find(&again, again.probers[i].path,
						strlen(again.probers[i].path));
		probe_config_free(&again);
	}
	strbuf_free(&a);
	strbuf_free(&b);
	probe_config_free(&c);
	return 0;
}

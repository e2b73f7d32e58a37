/* fuzz-manifest.c - manifest parsing, injection and YAML writing of arbitrary
 * input, then a check that the output parses again (and, for injected
 * documents, that injecting the output again changes nothing). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inject/inject_internal.h"
#include "kube/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct inject_config *cfg;
	if (!cfg) {
		struct skiff_err e = { 0 };
		if (inject_config_new(NULL, NULL, NULL, &cfg, &e) < 0)
			abort();
	}
	if (size > 64 * 1024)
		return 0;
	struct strbuf out = STRBUF_INIT, w = STRBUF_INIT;
	struct skiff_err e = { 0 };
	int r = inject_manifest(cfg, "fuzz", (const char *)data, size, &out, &w, &e);
	if (r == 0) {
		/* what we wrote must be readable */
		struct manifest m;
		struct skiff_err e2 = { 0 };
		if (manifest_parse("out", out.buf ? out.buf : "", out.len, &m, &e2) < 0)
			abort();
		manifest_free(&m);
		/* and injecting it again is a fixed point */
		struct strbuf again = STRBUF_INIT, w2 = STRBUF_INIT;
		if (inject_manifest(cfg, "again", out.buf ? out.buf : "", out.len, &again, &w2, &e2) < 0)
			abort();
		if (again.len != out.len || (out.len && memcmp(again.buf, out.buf, out.len) != 0))
			abort();
		strbuf_free(&again);
		strbuf_free(&w2);
	}
	strbuf_free(&out);
	strbuf_free(&w);
	return 0;
}

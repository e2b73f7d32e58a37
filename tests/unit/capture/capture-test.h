/* capture-test.h - shared helper of the capture unit tests: argv -> parsed,
 * derived configuration -> plan -> listing text. */
#ifndef SKIFF_TEST_CAPTURE_H
#define SKIFF_TEST_CAPTURE_H

#include <string.h>

#include "base/strbuf.h"
#include "capture/config.h"
#include "capture/plan.h"
#include "capture/render.h"

#define ARGV(...) ((char *[]){ "istio-iptables", __VA_ARGS__, NULL })

/* Parse and derive (IPv4 host unless v6, uid 1337); fails the test on error. */
static inline void test_config(struct capture_config *c, char **argv, bool v6)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	char *env[] = { NULL };
	struct skiff_err e = { 0 };
	struct capture_host h = { .addr_state = v6 ? 6 : 4 };
	if (capture_config_parse(c, CAPTURE_FOR_IPTABLES, argc, argv, env, &e) != 0 ||
	    capture_config_derive(c, CAPTURE_FOR_IPTABLES, &h, env, &e) != 0)
		fail_msg("config: %s", e.msg);
}

/* The dry-run listing for ARGV (caller frees). */
static inline char *test_listing(char **argv, bool v6)
{
	struct capture_config c;
	struct capture_plan p;
	test_config(&c, argv, v6);
	assert_int_equal(capture_plan_build(&c, &p), 0);
	struct strbuf sb = STRBUF_INIT;
	capture_render_listing(&p, &sb);
	capture_plan_free(&p);
	capture_config_free(&c);
	return strbuf_steal(&sb);
}

/* Index of the line equal to LINE in TEXT, or -1. */
static inline int test_line_index(const char *text, const char *line)
{
	int i = 0;
	size_t n = strlen(line);
	for (const char *p = text; p && *p; i++) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len == n && strncmp(p, line, n) == 0)
			return i;
		p = nl ? nl + 1 : NULL;
	}
	return -1;
}

#endif

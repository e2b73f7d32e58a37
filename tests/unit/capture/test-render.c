/* test-render.c - restore form (sections, COMMIT line map) and the undo
 * form used for rollback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>

#include "capture-test.h"

static void restore_sections_sorted_with_line_map(void **state)
{
	(void)state;
	struct capture_config c;
	struct capture_plan p;
	test_config(&c, ARGV("-m", "TPROXY", "-b", "80", "--redirect-dns", "--capture-all-dns", "-u", "1"), false);
	assert_int_equal(capture_plan_build(&c, &p), 0);
	struct strbuf sb = STRBUF_INIT;
	struct capture_restore_map map;
	capture_render_restore(&p, CAPTURE_V4, &sb, &map);
	const char *s = strbuf_str(&sb);
	assert_true(strncmp(s, "* mangle\n-N ISTIO_DIVERT\n", 25) == 0);
	const char *nat = strstr(s, "* nat\n"), *raw = strstr(s, "* raw\n");
	assert_non_null(nat);
	assert_non_null(raw);
	assert_true(nat < raw);
	assert_true(sb.len > 0 && s[sb.len - 1] == '\n');
	/* commit_line[t] is the line number of that table's COMMIT. */
	for (int t = 0; t < CAPTURE__NTABLES; t++) {
		int line = 1;
		const char *q = s;
		for (; line < map.commit_line[t]; line++)
			q = strchr(q, '\n') + 1;
		assert_true(strncmp(q, "COMMIT\n", 7) == 0);
	}
	assert_true(map.commit_line[CAPTURE_MANGLE] < map.commit_line[CAPTURE_NAT]);
	/* IPv6 off: empty v6 payload. */
	struct strbuf s6 = STRBUF_INIT;
	capture_render_restore(&p, CAPTURE_V6, &s6, &map);
	assert_int_equal(s6.len, 0);
	assert_int_equal(map.commit_line[CAPTURE_NAT], 0);
	strbuf_free(&s6);
	strbuf_free(&sb);
	capture_plan_free(&p);
	capture_config_free(&c);
}

static void undo_removes_builtin_rules_then_chains(void **state)
{
	(void)state;
	struct capture_config c;
	struct capture_plan p;
	test_config(&c, ARGV("-b", "*", "-k", "vm0", "-i", "*", "-u", "1"), false);
	assert_int_equal(capture_plan_build(&c, &p), 0);
	struct strbuf sb = STRBUF_INIT;
	capture_render_undo(&p, CAPTURE_V4, 1u << CAPTURE_NAT, &sb);
	const char *want =
		"* nat\n"
		"-D PREROUTING -i vm0 -j ISTIO_REDIRECT\n"
		"-D OUTPUT -p tcp -j ISTIO_OUTPUT\n"
		"-D PREROUTING -p tcp -j ISTIO_INBOUND\n"
		"-D PREROUTING -i vm0 -j RETURN\n"
		"-F ISTIO_INBOUND\n-F ISTIO_REDIRECT\n-F ISTIO_IN_REDIRECT\n-F ISTIO_OUTPUT\n"
		"-X ISTIO_INBOUND\n-X ISTIO_REDIRECT\n-X ISTIO_IN_REDIRECT\n-X ISTIO_OUTPUT\n"
		"COMMIT\n";
	assert_string_equal(strbuf_str(&sb), want);
	strbuf_reset(&sb);
	capture_render_undo(&p, CAPTURE_V4, 1u << CAPTURE_MANGLE, &sb);
	assert_int_equal(sb.len, 0); /* nothing in mangle */
	strbuf_free(&sb);
	capture_plan_free(&p);
	capture_config_free(&c);
}

static void listing_has_no_trailing_newline(void **state)
{
	(void)state;
	char *t = test_listing(ARGV("-u", "1"), false);
	size_t n = strlen(t);
	assert_true(n > 0 && t[n - 1] != '\n');
	assert_true(strncmp(t, "iptables -t nat -N ISTIO_INBOUND\n", 33) == 0);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(restore_sections_sorted_with_line_map),
		cmocka_unit_test(undo_removes_builtin_rules_then_chains),
		cmocka_unit_test(listing_has_no_trailing_newline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

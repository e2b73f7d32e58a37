/* clean.c - istio-clean-iptables (spec section 9) plus the jump sweep. */
#include "capture/clean.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/strbuf.h"
#include "capture/exec.h"

void capture_lines_free(struct capture_lines *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->lines[i]);
	free(l->lines);
	l->lines = NULL;
	l->n = 0;
}

__attribute__((format(printf, 3, 4)))
static int line(struct capture_lines *l, int times, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -EINVAL;
	for (int i = 0; i < times; i++) {
		char **p = realloc(l->lines, (l->n + 1) * sizeof(*p));
		if (!p)
			return -ENOMEM;
		l->lines = p;
		if (!(p[l->n] = strdup(buf)))
			return -ENOMEM;
		l->n++;
	}
	return 0;
}

int capture_clean_build(const struct capture_config *cfg, struct capture_lines *out)
{
	static const char *const bins[] = { "iptables", "ip6tables" };
	const bool all = cfg->capture_all_dns;
	int r = 0;
#define L(times, ...) do { if ((r = line(out, times, __VA_ARGS__)) < 0) return r; } while (0)
	for (int b = 0; b < 2; b++) {
		const char *B = bins[b];
		L(1, "%s -t nat -D PREROUTING -p tcp -j ISTIO_INBOUND", B);
		L(1, "%s -t mangle -D PREROUTING -p tcp -j ISTIO_INBOUND", B);
		L(1, "%s -t nat -D OUTPUT -p tcp -j ISTIO_OUTPUT", B);
		if (cfg->redirect_dns) {
			for (size_t i = 0; i < cfg->uids.n; i++)
				L(2, "%s -t nat -D OUTPUT -p udp --dport 53 -m owner --uid-owner %s -j RETURN",
				  B, cfg->uids.items[i]);
			for (size_t i = 0; i < cfg->gids.n; i++)
				L(2, "%s -t nat -D OUTPUT -p udp --dport 53 -m owner --gid-owner %s -j RETURN",
				  B, cfg->gids.items[i]);
			if (all) {
				L(2, "%s -t nat -D OUTPUT -p udp --dport 53 -j REDIRECT --to-port 15053", B);
			} else {
				for (size_t i = 0; i < cfg->dns_v4.n; i++)
					L(1, "%s -t nat -D OUTPUT -p udp --dport 53 -d %s/32 -j REDIRECT --to-port 15053",
					  B, cfg->dns_v4.items[i]);
				for (size_t i = 0; i < cfg->dns_v6.n; i++)
					L(1, "%s -t nat -D OUTPUT -p udp --dport 53 -d %s/128 -j REDIRECT --to-port 15053",
					  B, cfg->dns_v6.items[i]);
			}
			for (int k = 0; k < 2; k++) {
				const struct capture_list *ids = k == 0 ? &cfg->uids : &cfg->gids;
				const char *own = k == 0 ? "--uid-owner" : "--gid-owner";
				for (size_t i = 0; i < ids->n; i++) {
					L(2, "%s -t raw -D OUTPUT -p udp --dport 53 -m owner %s %s -j CT --zone 1",
					  B, own, ids->items[i]);
					L(2, "%s -t raw -D OUTPUT -p udp --sport 15053 -m owner %s %s -j CT --zone 2",
					  B, own, ids->items[i]);
				}
			}
			if (all) {
				L(2, "%s -t raw -D OUTPUT -p udp --dport 53 -j CT --zone 2", B);
				L(2, "%s -t raw -D PREROUTING -p udp --sport 53 -j CT --zone 1", B);
			} else {
				for (size_t i = 0; i < cfg->dns_v4.n; i++) {
					L(1, "%s -t raw -D OUTPUT -p udp --dport 53 -d %s/32 -j CT --zone 2", B,
					  cfg->dns_v4.items[i]);
					L(1, "%s -t raw -D PREROUTING -p udp --sport 53 -d %s/32 -j CT --zone 1", B,
					  cfg->dns_v4.items[i]);
				}
				for (size_t i = 0; i < cfg->dns_v6.n; i++) {
					L(1, "%s -t raw -D OUTPUT -p udp --dport 53 -d %s/128 -j CT --zone 2", B,
					  cfg->dns_v6.items[i]);
					L(1, "%s -t raw -D PREROUTING -p udp --sport 53 -d %s/128 -j CT --zone 1", B,
					  cfg->dns_v6.items[i]);
				}
			}
		}
		L(1, "%s -t nat -F ISTIO_OUTPUT", B);
		L(1, "%s -t nat -X ISTIO_OUTPUT", B);
		L(1, "%s -t nat -F ISTIO_INBOUND", B);
		L(1, "%s -t nat -X ISTIO_INBOUND", B);
		static const char *const mangle_chains[] = { "ISTIO_INBOUND", "ISTIO_DIVERT", "ISTIO_TPROXY" };
		for (int i = 0; i < 3; i++) {
			L(1, "%s -t mangle -F %s", B, mangle_chains[i]);
			L(1, "%s -t mangle -X %s", B, mangle_chains[i]);
		}
		L(1, "%s -t nat -F ISTIO_REDIRECT", B);
		L(1, "%s -t nat -X ISTIO_REDIRECT", B);
		L(1, "%s -t nat -F ISTIO_IN_REDIRECT", B);
		L(1, "%s -t nat -X ISTIO_IN_REDIRECT", B);
	}
#undef L
	return 0;
}

static bool builtin(const char *c, size_t n)
{
	static const char *const names[] = { "PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING" };
	for (size_t i = 0; i < 5; i++)
		if (strlen(names[i]) == n && strncmp(c, names[i], n) == 0)
			return true;
	return false;
}

int capture_clean_sweep(const char *save_text, struct strbuf *out)
{
	struct strbuf tbl = STRBUF_INIT, chains = STRBUF_INIT, dels = STRBUF_INIT;
	char table[32] = "";
	for (const char *p = save_text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len > 1 && p[0] == '*' && len < sizeof(table)) {
			memcpy(table, p + 1, len - 1);
			table[len - 1] = '\0';
		} else if (len > 7 && strncmp(p, ":ISTIO_", 7) == 0) {
			const char *sp = memchr(p, ' ', len);
			size_t n = sp ? (size_t)(sp - p - 1) : len - 1;
			strbuf_printf(&chains, "-F %.*s\n", (int)n, p + 1);
			strbuf_printf(&tbl, "-X %.*s\n", (int)n, p + 1);
		} else if (len > 3 && strncmp(p, "-A ", 3) == 0) {
			const char *c = p + 3;
			const char *sp = memchr(c, ' ', len - 3);
			size_t cn = sp ? (size_t)(sp - c) : 0;
			const char *j = NULL;
			for (const char *q = p; q + 10 <= p + len; q++)
				if (strncmp(q, " -j ISTIO_", 10) == 0)
					j = q;
			if (cn && builtin(c, cn) && j)
				strbuf_printf(&dels, "-D %.*s\n", (int)(len - 3), p + 3);
		} else if (len == 6 && strncmp(p, "COMMIT", 6) == 0) {
			if (chains.len || dels.len) {
				strbuf_printf(out, "*%s\n", table);
				strbuf_puts(out, strbuf_str(&dels));
				strbuf_puts(out, strbuf_str(&chains));
				strbuf_puts(out, strbuf_str(&tbl));
				strbuf_puts(out, "COMMIT\n");
			}
			strbuf_reset(&tbl);
			strbuf_reset(&chains);
			strbuf_reset(&dels);
		}
		p = nl ? nl + 1 : NULL;
	}
	bool failed = strbuf_failed(&tbl) || strbuf_failed(&chains) || strbuf_failed(&dels);
	strbuf_free(&tbl);
	strbuf_free(&chains);
	strbuf_free(&dels);
	return failed || strbuf_failed(out) ? -ENOMEM : 0;
}

static void run_line(const struct capture_exec *x, const char *text)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", text);
	const char *argv[64];
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(buf, " ", &save); t && n < 63; t = strtok_r(NULL, " ", &save))
		argv[n++] = t;
	argv[n] = NULL;
	int r = capture_exec_run(x, argv, NULL, 0, NULL, NULL);
	log_debug("%s: %d", text, r);
}

int capture_clean_run(const struct capture_config *cfg, bool dry_run)
{
	struct capture_lines l = { 0 };
	if (capture_clean_build(cfg, &l) < 0) {
		capture_lines_free(&l);
		log_error("out of memory");
		return 0;
	}
	struct capture_exec x = { 0 };
	for (size_t i = 0; i < l.n; i++) {
		if (dry_run)
			printf("%s\n", l.lines[i]);
		else
			run_line(&x, l.lines[i]);
	}
	capture_lines_free(&l);
	if (dry_run)
		return 0;
	for (int f = 0; f < 2; f++) {
		const char *save[] = { f == 0 ? "iptables-save" : "ip6tables-save", NULL };
		struct strbuf out = STRBUF_INIT, sweep = STRBUF_INIT;
		if (capture_exec_run(&x, save, NULL, 0, &out, NULL) == 0 &&
		    capture_clean_sweep(strbuf_str(&out), &sweep) == 0 && sweep.len > 0) {
			const char *restore[] = { f == 0 ? "iptables-restore" : "ip6tables-restore",
						  "--noflush", NULL };
			int r = capture_exec_run(&x, restore, strbuf_str(&sweep), sweep.len, NULL, NULL);
			log_info("removed leftover ISTIO_* chains and jumps (%s): %s", save[0],
				 r == 0 ? "ok" : "failed");
		}
		strbuf_free(&out);
		strbuf_free(&sweep);
	}
	return 0;
}

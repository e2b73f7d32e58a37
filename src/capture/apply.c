/* apply.c - iptables-restore per family with rollback, command mode, and
 * the TPROXY policy routes (spec 6.4-6.6). */
#include "capture/apply.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "capture/exec.h"
#include "capture/render.h"

static const char *restore_bin(enum capture_family f)
{
	return f == CAPTURE_V4 ? "iptables-restore" : "ip6tables-restore";
}

static const char *iptables_bin(enum capture_family f)
{
	return f == CAPTURE_V4 ? "iptables" : "ip6tables";
}

/* The line iptables-restore names in its error, or 0. */
static int error_line(const char *err)
{
	if (!err)
		return 0;
	const char *p = strstr(err, "line ");
	while (p) {
		char *end;
		long n = strtol(p + 5, &end, 10);
		if (end != p + 5 && (strncmp(end, " failed", 7) == 0 || strncmp(end, ":", 1) == 0))
			return (int)n;
		p = strstr(p + 5, "line ");
	}
	p = strstr(err, "Error occurred at line: ");
	if (p)
		return atoi(p + strlen("Error occurred at line: "));
	return 0;
}

/* Replace PATH with DATA, whole or not at all (Istio writes over it without
 * truncating, Q9). */
static int write_rules_file(const char *path, const char *data, size_t len, struct skiff_err *e)
{
	int r = file_write_atomic(path, data, len, "--output-paths", e);
	if (r < 0 && e)
		e->exit_code = 1;
	return r;
}

int capture_write_output(const struct capture_config *cfg, const struct capture_plan *plan,
			 struct skiff_err *e)
{
	/* The file holds each family's payload in turn, so it ends with the
	 * last one (v6 when IPv6 is on), as in Istio minus the stale tail. */
	for (int f = 0; f < CAPTURE__NFAMILIES; f++) {
		if (f == CAPTURE_V6 && !plan->ipv6)
			break;
		struct strbuf sb = STRBUF_INIT;
		capture_render_restore(plan, (enum capture_family)f, &sb, NULL);
		if (strbuf_failed(&sb)) {
			strbuf_free(&sb);
			return err_set(e, SKIFF_ENOMEM, "out of memory");
		}
		int r = write_rules_file(cfg->output_path, strbuf_str(&sb), sb.len, e);
		strbuf_free(&sb);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Remove the tables in MASK of family F again (best effort, logged). */
static void undo_family(const struct capture_exec *x, const struct capture_plan *plan,
			enum capture_family f, unsigned mask)
{
	struct strbuf sb = STRBUF_INIT, err = STRBUF_INIT;
	capture_render_undo(plan, f, mask, &sb);
	if (sb.len > 0) {
		const char *argv[] = { restore_bin(f), "--noflush", NULL };
		int r = capture_exec_run(x, argv, strbuf_str(&sb), sb.len, NULL, &err);
		if (r != 0)
			log_error("rolling back the %s rules failed (%d): %s", iptables_bin(f), r,
				  strbuf_str(&err));
		else
			log_info("rolled back the %s rules already committed", iptables_bin(f));
	}
	strbuf_free(&sb);
	strbuf_free(&err);
}

static const unsigned ALL_TABLES = (1u << CAPTURE__NTABLES) - 1;

static int apply_restore(const struct capture_exec *x, const struct capture_config *cfg,
			 const struct capture_plan *plan, enum capture_family f,
			 unsigned *committed, struct skiff_err *e)
{
	struct strbuf sb = STRBUF_INIT, err = STRBUF_INIT;
	struct capture_restore_map map;
	capture_render_restore(plan, f, &sb, &map);
	*committed = 0;
	if (strbuf_failed(&sb)) {
		strbuf_free(&sb);
		return err_set(e, SKIFF_ENOMEM, "out of memory");
	}
	int r;
	if (*cfg->output_path) {
		r = write_rules_file(cfg->output_path, strbuf_str(&sb), sb.len, e);
		if (r < 0) {
			strbuf_free(&sb);
			return r;
		}
		const char *argv[] = { restore_bin(f), "--noflush", cfg->output_path, NULL };
		r = capture_exec_run(x, argv, NULL, 0, NULL, &err);
	} else {
		const char *argv[] = { restore_bin(f), "--noflush", NULL };
		r = capture_exec_run(x, argv, strbuf_str(&sb), sb.len, NULL, &err);
	}
	strbuf_free(&sb);
	if (r == 0) {
		strbuf_free(&err);
		*committed = ALL_TABLES;
		return 0;
	}
	/* iptables-restore commits table by table: tables whose COMMIT line
	 * precedes the failing line are in the kernel now. */
	int line = error_line(err.buf);
	for (int t = 0; t < CAPTURE__NTABLES; t++)
		if (line > 0 && map.commit_line[t] > 0 && map.commit_line[t] < line)
			*committed |= 1u << t;
	char *msg = err.buf ? err.buf : "";
	size_t n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	if (r < 0)
		err_set_exit(e, r, CAPTURE_EXIT_IPTABLES, "Failed to execute: %s --noflush: %s",
			     restore_bin(f), strerror(-r));
	else
		err_set_exit(e, SKIFF_EIO, CAPTURE_EXIT_IPTABLES,
			     "Failed to execute: %s --noflush, exit status %d: %s%s", restore_bin(f), r, msg,
			     strstr(msg, "exists") ? "\n(capture rules are already installed: run "
						     "`skiff clean-iptables` first)" : "");
	strbuf_free(&err);
	return -EIO;
}

/* Command mode (--restore-format=false): one iptables process per line. On
 * failure, *done_chains / *done_rules say how much got in. */
static int apply_commands(const struct capture_exec *x, const struct capture_plan *plan,
			  enum capture_family f, size_t *done_chains, size_t *done_rules,
			  struct skiff_err *e)
{
	const struct capture_family_plan *fp = &plan->fam[f];
	*done_chains = *done_rules = 0;
	for (size_t i = 0; i < fp->nchains + fp->nrules; i++) {
		const char *argv[80];
		size_t n = 0;
		char pos[16];
		argv[n++] = iptables_bin(f);
		argv[n++] = "-t";
		if (i < fp->nchains) {
			argv[n++] = capture_table_name(fp->chains[i].table);
			argv[n++] = "-N";
			argv[n++] = fp->chains[i].name;
		} else {
			const struct capture_rule *r = &fp->rules[i - fp->nchains];
			argv[n++] = capture_table_name(r->table);
			argv[n++] = r->insert_pos ? "-I" : "-A";
			argv[n++] = r->chain;
			if (r->insert_pos) {
				snprintf(pos, sizeof(pos), "%d", r->insert_pos);
				argv[n++] = pos;
			}
			for (size_t k = 0; k < r->ntokens && n < 79; k++)
				argv[n++] = r->tokens[k];
		}
		argv[n] = NULL;
		struct strbuf err = STRBUF_INIT;
		int r = capture_exec_run(x, argv, NULL, 0, NULL, &err);
		if (r != 0) {
			struct strbuf cmd = STRBUF_INIT;
			capture_exec_format(argv, &cmd);
			err_set_exit(e, SKIFF_EIO, CAPTURE_EXIT_IPTABLES, "Failed to execute: %s, %s: %s",
				     strbuf_str(&cmd), r < 0 ? strerror(-r) : "exit status", strbuf_str(&err));
			strbuf_free(&cmd);
			strbuf_free(&err);
			return -EIO;
		}
		strbuf_free(&err);
		if (i < fp->nchains)
			(*done_chains)++;
		else
			(*done_rules)++;
	}
	return 0;
}

/* ip(8) treats an existing address/rule/route as an error; so do we not. */
static int run_ip(const struct capture_exec *x, const char *const argv[], struct skiff_err *e)
{
	struct strbuf err = STRBUF_INIT;
	int r = capture_exec_run(x, argv, NULL, 0, NULL, &err);
	if (r != 0 && err.buf &&
	    (strstr(err.buf, "File exists") || strstr(err.buf, "already assigned")))
		r = 0;
	if (r != 0) {
		struct strbuf cmd = STRBUF_INIT;
		capture_exec_format(argv, &cmd);
		err_set_exit(e, SKIFF_EIO, 1, "Failed to execute: %s: %s", strbuf_str(&cmd),
			     r < 0 ? strerror(-r) : strbuf_str(&err));
		strbuf_free(&cmd);
	}
	strbuf_free(&err);
	return r == 0 ? 0 : -EIO;
}

static int apply_routes(const struct capture_exec *x, const struct capture_config *cfg,
			struct skiff_err *e)
{
	int r;
	if (cfg->ipv6) {
		const char *a[] = { "ip", "-6", "addr", "add", "::6/128", "dev", "lo", NULL };
		if ((r = run_ip(x, a, e)) < 0)
			return r;
	}
	if (!(cfg->tproxy && cfg->inbound_enabled))
		return 0;
	for (int f = 0; f < CAPTURE__NFAMILIES; f++) {
		if (f == CAPTURE_V6 && !cfg->ipv6)
			break;
		const char *fam = f == CAPTURE_V4 ? "-4" : "-6";
		/* `ip rule add` happily adds a duplicate (Istio's netlink call
		 * fails on one instead); an identical rule is fine, so look first. */
		const char *show[] = { "ip", fam, "rule", "show", "fwmark", cfg->mark, "lookup",
				       cfg->route_table, NULL };
		struct strbuf out = STRBUF_INIT;
		int sr = capture_exec_run(x, show, NULL, 0, &out, NULL);
		bool exists = sr == 0 && out.len > 0;
		strbuf_free(&out);
		const char *rule[] = { "ip", fam, "rule", "add", "fwmark", cfg->mark, "lookup",
				       cfg->route_table, NULL };
		if (!exists && (r = run_ip(x, rule, e)) < 0)
			return r;
		const char *route[] = { "ip", fam, "route", "add", "local",
					f == CAPTURE_V4 ? "0.0.0.0/0" : "::/0", "dev", "lo", "table",
					cfg->route_table, NULL };
		if ((r = run_ip(x, route, e)) < 0)
			return r;
	}
	return 0;
}

int capture_apply(const struct capture_config *cfg, const struct capture_plan *plan,
		  struct skiff_err *e)
{
	struct capture_exec x = { .netns = cfg->cni_mode ? cfg->network_namespace : NULL };
	int r = 0;
	int f;
	for (f = 0; f < CAPTURE__NFAMILIES; f++) {
		if (f == CAPTURE_V6 && !plan->ipv6)
			break;
		if (cfg->restore_format) {
			unsigned committed = 0;
			r = apply_restore(&x, cfg, plan, (enum capture_family)f, &committed, e);
			if (r < 0) {
				if (committed)
					undo_family(&x, plan, (enum capture_family)f, committed);
				break;
			}
		} else {
			size_t nc = 0, nr = 0;
			r = apply_commands(&x, plan, (enum capture_family)f, &nc, &nr, e);
			if (r < 0) {
				struct capture_plan part = { .ipv6 = plan->ipv6 };
				part.fam[f] = plan->fam[f];
				part.fam[f].nchains = nc;
				part.fam[f].nrules = nr;
				if (nc > 0)
					undo_family(&x, &part, (enum capture_family)f, ALL_TABLES);
				break;
			}
		}
	}
	if (r == 0) {
		r = apply_routes(&x, cfg, e);
		if (r == 0)
			return 0;
		f = CAPTURE__NFAMILIES;
	}
	/* Roll back the families that went in completely. */
	for (int g = f - 1; g >= 0; g--) {
		if (g == CAPTURE_V6 && !plan->ipv6)
			continue;
		undo_family(&x, plan, (enum capture_family)g, ALL_TABLES);
	}
	return r;
}

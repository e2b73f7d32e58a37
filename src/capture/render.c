/* render.c - listing, iptables-restore and undo forms of a plan (render.h). */
#include "capture/render.h"

#include <string.h>

static void put_head_and_tokens(const struct capture_rule *r, struct strbuf *out)
{
	if (r->insert_pos > 0)
		strbuf_printf(out, "-I %s %d", r->chain, r->insert_pos);
	else
		strbuf_printf(out, "-A %s", r->chain);
	for (size_t i = 0; i < r->ntokens; i++) {
		strbuf_putc(out, ' ');
		strbuf_puts(out, r->tokens[i]);
	}
}

void capture_render_rule(const struct capture_rule *r, struct strbuf *out)
{
	strbuf_printf(out, "-t %s ", capture_table_name(r->table));
	put_head_and_tokens(r, out);
}

void capture_render_listing(const struct capture_plan *plan, struct strbuf *out)
{
	bool first = true;
	for (int f = 0; f < CAPTURE__NFAMILIES; f++) {
		const struct capture_family_plan *fp = &plan->fam[f];
		const char *bin = f == CAPTURE_V4 ? "iptables" : "ip6tables";
		for (size_t i = 0; i < fp->nchains; i++) {
			if (!first)
				strbuf_putc(out, '\n');
			first = false;
			strbuf_printf(out, "%s -t %s -N %s", bin, capture_table_name(fp->chains[i].table),
				      fp->chains[i].name);
		}
		for (size_t i = 0; i < fp->nrules; i++) {
			if (!first)
				strbuf_putc(out, '\n');
			first = false;
			strbuf_printf(out, "%s ", bin);
			capture_render_rule(&fp->rules[i], out);
		}
	}
}

void capture_render_restore(const struct capture_plan *plan, enum capture_family f,
			    struct strbuf *out, struct capture_restore_map *map)
{
	const struct capture_family_plan *fp = &plan->fam[f];
	int line = 0;
	if (map)
		memset(map, 0, sizeof(*map));
	for (int t = 0; t < CAPTURE__NTABLES; t++) {
		bool any = false;
		for (size_t i = 0; i < fp->nchains && !any; i++)
			any = fp->chains[i].table == (enum capture_table)t;
		for (size_t i = 0; i < fp->nrules && !any; i++)
			any = fp->rules[i].table == (enum capture_table)t;
		if (!any)
			continue;
		strbuf_printf(out, "* %s\n", capture_table_name((enum capture_table)t));
		line++;
		for (size_t i = 0; i < fp->nchains; i++) {
			if (fp->chains[i].table != (enum capture_table)t)
				continue;
			strbuf_printf(out, "-N %s\n", fp->chains[i].name);
			line++;
		}
		for (size_t i = 0; i < fp->nrules; i++) {
			if (fp->rules[i].table != (enum capture_table)t)
				continue;
			put_head_and_tokens(&fp->rules[i], out);
			strbuf_putc(out, '\n');
			line++;
		}
		strbuf_puts(out, "COMMIT\n");
		line++;
		if (map)
			map->commit_line[t] = line;
	}
}

void capture_render_undo(const struct capture_plan *plan, enum capture_family f, unsigned tables,
			 struct strbuf *out)
{
	const struct capture_family_plan *fp = &plan->fam[f];
	for (int t = 0; t < CAPTURE__NTABLES; t++) {
		if (!(tables & (1u << t)))
			continue;
		bool any = false;
		for (size_t i = 0; i < fp->nrules && !any; i++)
			any = fp->rules[i].table == (enum capture_table)t;
		for (size_t i = 0; i < fp->nchains && !any; i++)
			any = fp->chains[i].table == (enum capture_table)t;
		if (!any)
			continue;
		strbuf_printf(out, "* %s\n", capture_table_name((enum capture_table)t));
		/* Rules in built-in chains, newest first; our chains are flushed whole. */
		for (size_t i = fp->nrules; i-- > 0;) {
			const struct capture_rule *r = &fp->rules[i];
			if (r->table != (enum capture_table)t || !capture_chain_is_builtin(r->chain))
				continue;
			strbuf_printf(out, "-D %s", r->chain);
			for (size_t k = 0; k < r->ntokens; k++) {
				strbuf_putc(out, ' ');
				strbuf_puts(out, r->tokens[k]);
			}
			strbuf_putc(out, '\n');
		}
		for (size_t i = 0; i < fp->nchains; i++)
			if (fp->chains[i].table == (enum capture_table)t)
				strbuf_printf(out, "-F %s\n", fp->chains[i].name);
		for (size_t i = 0; i < fp->nchains; i++)
			if (fp->chains[i].table == (enum capture_table)t)
				strbuf_printf(out, "-X %s\n", fp->chains[i].name);
		strbuf_puts(out, "COMMIT\n");
	}
}

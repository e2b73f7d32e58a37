/* render.h - text forms of a capture plan.
 *
 *   listing   the dry-run output: one "iptables -t TABLE ..." line per chain
 *             and rule, v4 then v6, byte for byte like Istio's goldens
 *             (lines joined by '\n', no trailing newline)
 *   restore   iptables-restore input for one family, one "* TABLE" section
 *             per table in name order (mangle, nat, raw)
 *   undo      restore input that removes exactly what `restore` added, for
 *             the tables selected (used to roll back a partial apply) */
#ifndef SKIFF_CAPTURE_RENDER_H
#define SKIFF_CAPTURE_RENDER_H

#include "base/strbuf.h"
#include "capture/plan.h"

/* Line number (1-based) of each table's COMMIT line in the restore text of
 * one family, 0 when the table has no section. */
struct capture_restore_map {
	int commit_line[CAPTURE__NTABLES];
};

void capture_render_listing(const struct capture_plan *plan, struct strbuf *out);
void capture_render_restore(const struct capture_plan *plan, enum capture_family f,
			    struct strbuf *out, struct capture_restore_map *map);
/* TABLES is a bit mask of (1 << enum capture_table). */
void capture_render_undo(const struct capture_plan *plan, enum capture_family f, unsigned tables,
			 struct strbuf *out);

/* The rule as the tokens after the iptables binary: "-t nat -A CHAIN ...". */
void capture_render_rule(const struct capture_rule *r, struct strbuf *out);

#endif

/* plan.h - the capture rule plan: what istio-iptables 1.13 would install,
 * as data (tables, chains, rules per family), before any rendering.
 *
 * capture_plan_build() follows spec section 4 step by step; the renderers
 * (render.c) turn a plan into the dry-run listing, iptables-restore input,
 * or the restore input that undoes it. */
#ifndef SKIFF_CAPTURE_PLAN_H
#define SKIFF_CAPTURE_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "capture/config.h"

enum capture_family { CAPTURE_V4, CAPTURE_V6, CAPTURE__NFAMILIES };
enum capture_table { CAPTURE_MANGLE, CAPTURE_NAT, CAPTURE_RAW, CAPTURE__NTABLES };

struct capture_rule {
	enum capture_table table;
	const char *chain;   /* static string */
	int insert_pos;      /* 0 = append (-A), N = insert at N (-I CHAIN N) */
	char **tokens;       /* match and target tokens after the head */
	size_t ntokens;
};

struct capture_chain {
	enum capture_table table;
	const char *name;    /* static string */
};

struct capture_family_plan {
	struct capture_rule *rules;
	size_t nrules;
	struct capture_chain *chains;  /* created chains, first-seen order */
	size_t nchains;
};

struct capture_plan {
	struct capture_family_plan fam[CAPTURE__NFAMILIES];
	bool ipv6;          /* the v6 family is in use */
	bool failed;        /* an allocation failed while building */
};

const char *capture_table_name(enum capture_table t);

/* Build the plan for a parsed and derived configuration. Returns 0 or
 * -ENOMEM. Free with capture_plan_free() in every case. */
int capture_plan_build(const struct capture_config *cfg, struct capture_plan *plan);
void capture_plan_free(struct capture_plan *plan);

/* True for the kernel's built-in chains (never created or deleted). */
bool capture_chain_is_builtin(const char *chain);

#endif

/* clean.h - istio-clean-iptables: the deletions Istio 1.13 runs, in its
 * order (spec 9.2), as a list of command lines, then run with every failure
 * ignored, so cleaning is idempotent. skiff adds one sweep after them: any
 * rule left in a built-in chain that jumps to an ISTIO_* chain (kube-virt
 * rules) is deleted and the ISTIO_* chains it kept alive are removed. */
#ifndef SKIFF_CAPTURE_CLEAN_H
#define SKIFF_CAPTURE_CLEAN_H

#include <stdbool.h>

#include "base/strbuf.h"
#include "capture/config.h"

struct capture_lines {
	char **lines;   /* "iptables -t nat -D PREROUTING -p tcp -j ISTIO_INBOUND" */
	size_t n;
};

/* Istio's deletion commands for CFG (uids/gids/DNS derived). Returns 0 or -ENOMEM. */
int capture_clean_build(const struct capture_config *cfg, struct capture_lines *out);
void capture_lines_free(struct capture_lines *l);

/* The sweep: from an iptables-save text, restore input that deletes rules
 * in built-in chains jumping to ISTIO_* chains and flushes/deletes every
 * ISTIO_* chain. Empty when nothing is left. */
int capture_clean_sweep(const char *save_text, struct strbuf *out);

/* Run everything (or print it on stdout in dry-run). Always succeeds. */
int capture_clean_run(const struct capture_config *cfg, bool dry_run);

#endif

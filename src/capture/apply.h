/* apply.h - installing a capture plan in the kernel, all or nothing.
 *
 * Per family one `iptables-restore --noflush` (`ip6tables-restore` only when
 * IPv6 is on) with the whole family's rules; if a later table, family or the
 * TPROXY routes fail, what was already committed is removed again, so a
 * failure leaves none of our rules behind. */
#ifndef SKIFF_CAPTURE_APPLY_H
#define SKIFF_CAPTURE_APPLY_H

#include "base/err.h"
#include "capture/config.h"
#include "capture/plan.h"

/* Exit statuses the CLI uses (Istio's, spec section 8). */
#define CAPTURE_EXIT_USAGE 1
#define CAPTURE_EXIT_HOST 2
#define CAPTURE_EXIT_VALIDATION 126
#define CAPTURE_EXIT_IPTABLES 255

/* Apply PLAN. Returns 0, or negative with E filled and e->exit_code set
 * (255 iptables failure, 1 routes or rules file). */
int capture_apply(const struct capture_config *cfg, const struct capture_plan *plan,
		  struct skiff_err *e);

/* Write the restore payloads to cfg->output_path without applying (dry-run). */
int capture_write_output(const struct capture_config *cfg, const struct capture_plan *plan,
			 struct skiff_err *e);

#endif

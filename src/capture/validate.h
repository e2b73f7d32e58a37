/* validate.h - istio-iptables --run-validation (spec section 7): check that
 * the kernel redirects a local connection to 127.0.0.6:PROBE (or ::6) to one
 * of the capture ports, reading the original destination there. */
#ifndef SKIFF_CAPTURE_VALIDATE_H
#define SKIFF_CAPTURE_VALIDATE_H

#include "base/err.h"
#include "capture/config.h"

/* Returns 0 when a listener saw the probe port as original destination
 * before --probe-timeout; else negative with E filled, exit code 126. */
int capture_validate(const struct capture_config *cfg, struct skiff_err *e);

#endif

/* webhook.h - the HTTPS edge of `skiff webhook`: libmicrohttpd with GnuTLS,
 * a bounded thread pool, bounded request sizes and connection counts.
 *
 *   POST /inject, /inject/...   AdmissionReview (admission.c decides)
 *   GET  /healthz               200 "ok"
 *
 * Certificates come from webhook_tls.c, re-read on change at the next
 * handshake. */
#ifndef SKIFF_INJECT_WEBHOOK_H
#define SKIFF_INJECT_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "inject/admission.h"

struct webhook_options {
	const char *address;        /* literal IPv4/IPv6 address; NULL = every address */
	uint16_t port;              /* 0 = let the kernel pick (tests) */
	const char *cert_path;      /* --tls-cert */
	const char *key_path;       /* --tls-key */
	size_t max_request_bytes;   /* 0 = ADMISSION_MAX_BYTES_DEFAULT */
	unsigned max_connections;   /* 0 = 256 */
	unsigned threads;           /* 0 = 2 */
	unsigned timeout_seconds;   /* idle connection timeout; 0 = 30 */
};

struct webhook;

/* Load the certificate, bind and start serving; the handler's injector is
 * called from the pool's threads (it must be safe for concurrent calls). */
int webhook_start(const struct webhook_options *o, const struct admission_handler *h,
		  struct webhook **out, struct skiff_err *e);

/* The port actually bound. */
uint16_t webhook_port(const struct webhook *w);

/* Stop accepting, give open requests up to `grace_ms` to finish, close
 * everything and free. Accepts NULL. */
void webhook_stop(struct webhook *w, unsigned grace_ms);

#endif

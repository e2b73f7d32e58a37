/* tls.h - TLS for HTTPS probes, with the system OpenSSL loaded only when the
 * first HTTPS probe runs (dlopen of libssl.so.3), so an agent without HTTPS
 * probers never maps it. No certificate or host-name verification (as the
 * kubelet), no client certificate, no ALPN; SNI only for host names. */
#ifndef SKIFF_PROBE_TLS_H
#define SKIFF_PROBE_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct probe_tls;      /* the loaded library and one client context */
struct probe_tls_conn; /* one TLS session over a probe socket */

/* A lazy TLS provider; nothing is loaded yet. Free with probe_tls_free(). */
struct probe_tls *probe_tls_new(void);
void probe_tls_free(struct probe_tls *t);

/* Handshake over the connected non-blocking fd (the conn does not own it).
 * sni may be NULL. Returns 0 or a negative errno with a reason in why. */
int probe_tls_connect(struct probe_tls *t, int fd, const char *sni, int64_t deadline_ms,
		      struct probe_tls_conn **out, char *why, size_t why_len);

/* Deadline-bounded I/O. read returns bytes (0 = orderly end), or a negative errno. */
ssize_t probe_tls_write(struct probe_tls_conn *c, const void *buf, size_t n, int64_t deadline_ms);
ssize_t probe_tls_read(struct probe_tls_conn *c, void *buf, size_t n, int64_t deadline_ms);
void probe_tls_conn_free(struct probe_tls_conn *c);

/* A thread that ran TLS probes is about to exit: release OpenSSL's
 * per-thread state now (no-op when the library was never loaded). */
void probe_tls_thread_done(struct probe_tls *t);

#endif

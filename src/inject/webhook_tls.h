/* webhook_tls.h - the webhook's serving certificate, re-read when its files
 * change.
 *
 * Each TLS handshake asks for the certificate (webhook_tls_issue): the two
 * files are stat()ed first, and when either changed (inode, size, mtime or
 * ctime: a rename, a Kubernetes secret-volume symlink swap and an in-place
 * rewrite all count) the pair is read again, checked (both parse, the key
 * belongs to the certificate) and takes over for new handshakes. A pair that
 * fails the check is logged once and the previous one stays in service, so a
 * rotation that writes the certificate before the key never breaks serving.
 * Connections already open keep the certificate they were made with. */
#ifndef SKIFF_INJECT_WEBHOOK_TLS_H
#define SKIFF_INJECT_WEBHOOK_TLS_H

#include "inject/webhook_dl.h" /* GnuTLS types; its functions are dlopen()ed */

#include "base/err.h"

struct webhook_tls;

/* Load CERT_PATH (PEM, the server certificate first, then any
 * intermediates) and KEY_PATH (PEM private key: PKCS#1, PKCS#8 or SEC1).
 * Fails with a message naming --tls-cert / --tls-key. */
int webhook_tls_new(const char *cert_path, const char *key_path, struct webhook_tls **out,
		    struct skiff_err *e);
void webhook_tls_free(struct webhook_tls *t);

/* Re-read the files if they changed. Returns 1 when a new pair took over,
 * 0 when nothing changed or the change was already found unusable, and a
 * negative errno (message in e, previous pair kept) for a new unusable pair. */
int webhook_tls_refresh(struct webhook_tls *t, struct skiff_err *e);

/* Fresh copies of the current certificate chain and key for one handshake,
 * allocated so that GnuTLS frees them (GNUTLS_CERT_RETR_DEINIT_ALL). */
int webhook_tls_issue(struct webhook_tls *t, gnutls_pcert_st **certs, unsigned int *ncerts,
		      gnutls_privkey_t *key);

/* How many times a new pair has taken over since start (for logs and tests). */
unsigned webhook_tls_generation(struct webhook_tls *t);

#endif

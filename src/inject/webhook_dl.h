/* webhook_dl.h - libmicrohttpd and GnuTLS, loaded only by `skiff webhook`.
 *
 * Every skiff command is one binary. Linking libmicrohttpd and GnuTLS into it
 * would make every process load them (and run GnuTLS's and p11-kit's
 * start-up code): about 2.8 MB more resident memory and 3 ms more CPU for
 * each `skiff agent`, `skiff iptables` or `skiff inject`. So only the webhook
 * loads them, with dlopen(), at start.
 *
 * Include this header instead of <microhttpd.h> and <gnutls/...>: it brings
 * their types and constants, and turns each function the webhook calls into
 * a call through the table webhook_dl_load() fills. The table is written once
 * before any server thread starts and only read afterwards. To call a new
 * function, add it to WEBHOOK_DL_FUNCS. */
#ifndef SKIFF_INJECT_WEBHOOK_DL_H
#define SKIFF_INJECT_WEBHOOK_DL_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "base/err.h"

/* X(library, symbol): every function (or, for gnutls_free/gnutls_malloc,
 * function-pointer variable) the webhook uses. */
#define WEBHOOK_DL_FUNCS(X)                          \
	X(mhd, MHD_start_daemon)                     \
	X(mhd, MHD_stop_daemon)                      \
	X(mhd, MHD_quiesce_daemon)                   \
	X(mhd, MHD_get_daemon_info)                  \
	X(mhd, MHD_get_connection_info)              \
	X(mhd, MHD_lookup_connection_value)          \
	X(mhd, MHD_create_response_from_buffer)      \
	X(mhd, MHD_add_response_header)              \
	X(mhd, MHD_queue_response)                   \
	X(mhd, MHD_destroy_response)                 \
	X(tls, gnutls_session_get_ptr)               \
	X(tls, gnutls_strerror)                      \
	X(tls, gnutls_pcert_list_import_x509_raw)    \
	X(tls, gnutls_pcert_deinit)                  \
	X(tls, gnutls_privkey_init)                  \
	X(tls, gnutls_privkey_import_x509_raw)       \
	X(tls, gnutls_privkey_deinit)                \
	X(tls, gnutls_pubkey_init)                   \
	X(tls, gnutls_pubkey_import_privkey)         \
	X(tls, gnutls_pubkey_export2)                \
	X(tls, gnutls_pubkey_deinit)

struct webhook_dl {
#define WEBHOOK_DL_FIELD(lib, name) __typeof__(name) *name;
	WEBHOOK_DL_FUNCS(WEBHOOK_DL_FIELD)
#undef WEBHOOK_DL_FIELD
	__typeof__(gnutls_free) *gnutls_free_ptr;     /* variables in GnuTLS */
	__typeof__(gnutls_malloc) *gnutls_malloc_ptr;
};

extern struct webhook_dl webhook_dl;

/* Load both libraries and fill the table (idempotent). Returns 0, or a
 * negative code with a message naming the library that could not be
 * loaded and the Debian package that provides it. */
int webhook_dl_load(struct skiff_err *e);

#ifndef WEBHOOK_DL_IMPL
#define MHD_start_daemon (*webhook_dl.MHD_start_daemon)
#define MHD_stop_daemon (*webhook_dl.MHD_stop_daemon)
#define MHD_quiesce_daemon (*webhook_dl.MHD_quiesce_daemon)
#define MHD_get_daemon_info (*webhook_dl.MHD_get_daemon_info)
#define MHD_get_connection_info (*webhook_dl.MHD_get_connection_info)
#define MHD_lookup_connection_value (*webhook_dl.MHD_lookup_connection_value)
#define MHD_create_response_from_buffer (*webhook_dl.MHD_create_response_from_buffer)
#define MHD_add_response_header (*webhook_dl.MHD_add_response_header)
#define MHD_queue_response (*webhook_dl.MHD_queue_response)
#define MHD_destroy_response (*webhook_dl.MHD_destroy_response)
#define gnutls_session_get_ptr (*webhook_dl.gnutls_session_get_ptr)
#define gnutls_strerror (*webhook_dl.gnutls_strerror)
#define gnutls_pcert_list_import_x509_raw (*webhook_dl.gnutls_pcert_list_import_x509_raw)
#define gnutls_pcert_deinit (*webhook_dl.gnutls_pcert_deinit)
#define gnutls_privkey_init (*webhook_dl.gnutls_privkey_init)
#define gnutls_privkey_import_x509_raw (*webhook_dl.gnutls_privkey_import_x509_raw)
#define gnutls_privkey_deinit (*webhook_dl.gnutls_privkey_deinit)
#define gnutls_pubkey_init (*webhook_dl.gnutls_pubkey_init)
#define gnutls_pubkey_import_privkey (*webhook_dl.gnutls_pubkey_import_privkey)
#define gnutls_pubkey_export2 (*webhook_dl.gnutls_pubkey_export2)
#define gnutls_pubkey_deinit (*webhook_dl.gnutls_pubkey_deinit)
#undef gnutls_free
#undef gnutls_malloc
#define gnutls_free(a) ((*webhook_dl.gnutls_free_ptr)((void *)(a)), (a) = NULL)
#define gnutls_malloc (*webhook_dl.gnutls_malloc_ptr)
#endif

#endif

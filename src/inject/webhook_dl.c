/* webhook_dl.c - dlopen() of libmicrohttpd and GnuTLS for the webhook
 * (see webhook_dl.h for why). */
#define WEBHOOK_DL_IMPL
#include "inject/webhook_dl.h"

#include <dlfcn.h>
#include <stdbool.h>

struct webhook_dl webhook_dl;

/* The sonames of Debian 12's libmicrohttpd12 and libgnutls30. */
#define MHD_SONAME "libmicrohttpd.so.12"
#define TLS_SONAME "libgnutls.so.30"

static int load_lib(const char *soname, const char *package, void **out, struct skiff_err *e)
{
	*out = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!*out)
		return err_set(e, SKIFF_EIO,
			       "skiff webhook: cannot load %s (%s): install Debian package %s",
			       soname, dlerror(), package);
	return 0;
}

int webhook_dl_load(struct skiff_err *e)
{
	static bool loaded; /* written once, before any server thread exists */
	if (loaded)
		return 0;
	void *libs[2];
	int r = load_lib(MHD_SONAME, "libmicrohttpd12", &libs[0], e);
	if (r < 0)
		return r;
	r = load_lib(TLS_SONAME, "libgnutls30", &libs[1], e);
	if (r < 0)
		return r;
	void *mhd = libs[0], *tls = libs[1];
	(void)mhd;
	(void)tls;
#define WEBHOOK_DL_RESOLVE(lib, name)                                                 \
	*(void **)&webhook_dl.name = dlsym(lib, #name);                               \
	if (!webhook_dl.name)                                                         \
		return err_set(e, SKIFF_EIO, "skiff webhook: %s has no symbol %s: a newer " \
			       "library is needed", lib == mhd ? MHD_SONAME : TLS_SONAME, #name);
	WEBHOOK_DL_FUNCS(WEBHOOK_DL_RESOLVE)
#undef WEBHOOK_DL_RESOLVE
	*(void **)&webhook_dl.gnutls_free_ptr = dlsym(tls, "gnutls_free");
	*(void **)&webhook_dl.gnutls_malloc_ptr = dlsym(tls, "gnutls_malloc");
	if (!webhook_dl.gnutls_free_ptr || !webhook_dl.gnutls_malloc_ptr)
		return err_set(e, SKIFF_EIO, "skiff webhook: %s has no gnutls_free/gnutls_malloc",
			       TLS_SONAME);
	loaded = true;
	return 0;
}

/* tls.c - OpenSSL, dlopen'ed on first use (see tls.h). The headers give the
 * types; every call goes through a pointer resolved from libssl.so.3. */
#include "probe/tls.h"

#include <dlfcn.h>
#include <errno.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe/net.h"

#define FN(name) __typeof__(&name) name

struct probe_tls {
	pthread_mutex_t lock;
	bool tried;
	void *lib;
	SSL_CTX *ctx;
	char error[128];
	FN(TLS_client_method);
	FN(SSL_CTX_new);
	FN(SSL_CTX_free);
	FN(SSL_CTX_set_verify);
	FN(SSL_CTX_set_options);
	FN(SSL_new);
	FN(SSL_free);
	FN(SSL_set_fd);
	FN(SSL_connect);
	FN(SSL_read);
	FN(SSL_write);
	FN(SSL_get_error);
	FN(SSL_ctrl);
	FN(SSL_shutdown);
};

struct probe_tls_conn {
	struct probe_tls *t;
	SSL *ssl;
	int fd;
};

struct probe_tls *probe_tls_new(void)
{
	struct probe_tls *t = calloc(1, sizeof(*t));
	if (t)
		pthread_mutex_init(&t->lock, NULL);
	return t;
}

void probe_tls_free(struct probe_tls *t)
{
	if (!t)
		return;
	if (t->ctx)
		t->SSL_CTX_free(t->ctx);
	if (t->lib) {
		/* Release OpenSSL's process-wide state too (it is only ever ours);
		 * the library itself stays mapped until exit. */
		void (*cleanup)(void) = NULL;
		*(void **)&cleanup = dlsym(t->lib, "OPENSSL_cleanup");
		if (cleanup)
			cleanup();
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static int load(struct probe_tls *t)
{
	pthread_mutex_lock(&t->lock);
	if (t->tried) {
		int ok = t->ctx != NULL;
		pthread_mutex_unlock(&t->lock);
		return ok ? 0 : -ENOTSUP;
	}
	t->tried = true;
	t->lib = dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL);
	if (!t->lib) {
		snprintf(t->error, sizeof(t->error), "cannot load libssl.so.3: %s", dlerror());
		pthread_mutex_unlock(&t->lock);
		return -ENOTSUP;
	}
	bool ok = true;
#define LOAD(name) do { *(void **)&t->name = dlsym(t->lib, #name); ok = ok && t->name; } while (0)
	LOAD(TLS_client_method); LOAD(SSL_CTX_new); LOAD(SSL_CTX_free); LOAD(SSL_CTX_set_verify);
	LOAD(SSL_CTX_set_options);
	LOAD(SSL_new); LOAD(SSL_free); LOAD(SSL_set_fd); LOAD(SSL_connect); LOAD(SSL_read);
	LOAD(SSL_write); LOAD(SSL_get_error); LOAD(SSL_ctrl); LOAD(SSL_shutdown);
#undef LOAD
	if (ok)
		t->ctx = t->SSL_CTX_new(t->TLS_client_method());
	if (!ok || !t->ctx) {
		snprintf(t->error, sizeof(t->error), "libssl.so.3: missing symbols or no context");
		pthread_mutex_unlock(&t->lock);
		return -ENOTSUP;
	}
	t->SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
	t->SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

/* Turn an SSL result into "wait for this" or an error. */
static int ssl_wait(struct probe_tls_conn *c, int fd, int ret, int64_t deadline_ms)
{
	int err = c->t->SSL_get_error(c->ssl, ret);
	short ev;
	if (err == SSL_ERROR_WANT_READ)
		ev = POLLIN;
	else if (err == SSL_ERROR_WANT_WRITE)
		ev = POLLOUT;
	else if (err == SSL_ERROR_ZERO_RETURN)
		return 1; /* orderly end */
	else
		return -EPROTO;
	return probe_net_wait(fd, ev, deadline_ms);
}

int probe_tls_connect(struct probe_tls *t, int fd, const char *sni, int64_t deadline_ms,
		      struct probe_tls_conn **out, char *why, size_t why_len)
{
	*out = NULL;
	if (load(t) < 0) {
		snprintf(why, why_len, "tls: %s", t->error);
		return -ENOTSUP;
	}
	struct probe_tls_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->t = t;
	c->fd = fd;
	c->ssl = t->SSL_new(t->ctx);
	if (!c->ssl || t->SSL_set_fd(c->ssl, fd) != 1) {
		probe_tls_conn_free(c);
		snprintf(why, why_len, "tls: cannot create a session");
		return -ENOMEM;
	}
	if (sni)
		t->SSL_ctrl(c->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
			    (void *)sni);
	for (;;) {
		int r = t->SSL_connect(c->ssl);
		if (r == 1)
			break;
		int w = ssl_wait(c, fd, r, deadline_ms);
		if (w != 0) {
			snprintf(why, why_len, "tls handshake: %s",
				 w == -ETIMEDOUT ? "timeout" : "failed");
			probe_tls_conn_free(c);
			return w == -ETIMEDOUT ? -ETIMEDOUT : -EPROTO;
		}
	}
	*out = c;
	return 0;
}

ssize_t probe_tls_write(struct probe_tls_conn *c, const void *buf, size_t n, int64_t deadline_ms)
{
	size_t done = 0;
	while (done < n) {
		int r = c->t->SSL_write(c->ssl, (const char *)buf + done, (int)(n - done));
		if (r > 0) {
			done += (size_t)r;
			continue;
		}
		int w = ssl_wait(c, c->fd, r, deadline_ms);
		if (w != 0)
			return w < 0 ? w : -EPIPE;
	}
	return (ssize_t)done;
}

ssize_t probe_tls_read(struct probe_tls_conn *c, void *buf, size_t n, int64_t deadline_ms)
{
	for (;;) {
		int r = c->t->SSL_read(c->ssl, buf, (int)(n > 65536 ? 65536 : n));
		if (r > 0)
			return r;
		int w = ssl_wait(c, c->fd, r, deadline_ms);
		if (w == 1)
			return 0;
		if (w < 0) {
			/* A peer that just closes the TCP connection after the body
			 * (no close_notify) ends the stream like EOF. */
			return w == -EPROTO && r == 0 ? 0 : w;
		}
	}
}

void probe_tls_conn_free(struct probe_tls_conn *c)
{
	if (!c)
		return;
	if (c->ssl)
		c->t->SSL_free(c->ssl);
	free(c);
}

void probe_tls_thread_done(struct probe_tls *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	void *lib = t->ctx ? t->lib : NULL;
	pthread_mutex_unlock(&t->lock);
	if (!lib)
		return;
	void (*stop)(void) = NULL;
	*(void **)&stop = dlsym(lib, "OPENSSL_thread_stop");
	if (stop)
		stop();
}

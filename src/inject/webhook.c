/* webhook.c - libmicrohttpd server for the admission webhook (see webhook.h).
 *
 * A request's body is collected into a per-request buffer up to the limit;
 * a Content-Length over the limit is refused before any of the body is read,
 * a chunked body that grows over it is drained and refused. The certificate
 * callback reaches the certificate store through the connection's socket
 * context, set when the connection is accepted. */
#include "inject/webhook.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "inject/webhook_dl.h"
#include "inject/webhook_tls.h"

/* TLS 1.2 and 1.3 only, as istiod serves its webhook. */
#define WEBHOOK_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct webhook {
	struct MHD_Daemon *daemon;
	struct webhook_tls *tls;
	struct admission_handler handler;
	size_t max_bytes;
	uint16_t port;
};

/* One HTTP request in progress. */
struct request {
	struct strbuf body;
	size_t seen;         /* bytes received, kept or not */
	bool too_big;
	unsigned early_status; /* answer decided from the headers, 0 = none */
	const char *early;     /* its body (static text) */
};

__attribute__((format(printf, 2, 0)))
static void log_mhd(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	size_t n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_debug("webhook: %s", line);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	(void)c;
	struct webhook *w = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		*socket_context = w->tls;
}

/* gnutls_certificate_retrieve_function3: the certificate for one handshake. */
static int on_certificate(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
			  gnutls_pcert_st **certs, unsigned int *ncerts,
			  gnutls_ocsp_data_st **ocsp, unsigned int *nocsp,
			  gnutls_privkey_t *key, unsigned int *flags)
{
	(void)info;
	struct MHD_Connection *c = gnutls_session_get_ptr(session);
	const union MHD_ConnectionInfo *ci =
		c ? MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
	struct webhook_tls *tls = ci ? ci->socket_context : NULL;
	if (!tls)
		return -1;
	struct skiff_err e = { 0 };
	int r = webhook_tls_refresh(tls, &e);
	if (r > 0)
		log_info("webhook: serving certificate reloaded (generation %u)",
			 webhook_tls_generation(tls));
	else if (r < 0)
		log_error("webhook: new certificate files not used, keeping the previous pair: %s", e.msg);
	if (webhook_tls_issue(tls, certs, ncerts, key) < 0)
		return -1;
	*ocsp = NULL;
	*nocsp = 0;
	*flags = GNUTLS_CERT_RETR_DEINIT_ALL;
	return 0;
}

static enum MHD_Result send_reply(struct MHD_Connection *c, unsigned status, const char *type,
				  const char *body, size_t len, bool copy)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		len, (void *)body, copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	enum MHD_Result r = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *msg)
{
	return send_reply(c, status, "text/plain; charset=utf-8", msg, strlen(msg), false);
}

/* Content-Type application/json, parameters allowed. */
static bool is_json_type(const char *t)
{
	if (!t)
		return false;
	size_t n = strlen("application/json");
	return strncasecmp(t, "application/json", n) == 0 && (t[n] == '\0' || t[n] == ';' || t[n] == ' ');
}

/* Decide from the headers alone. Returns 0 to go on reading the body, or
 * an HTTP status with `rq->early` set to the answer to send once the
 * request is in (a response queued before the body is read would make
 * libmicrohttpd close the connection). */
static unsigned check_headers(struct webhook *w, struct MHD_Connection *c, const char *url,
			      const char *method, struct request *rq)
{
	if (strcmp(url, "/healthz") == 0) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
			rq->early = "method not allowed\n";
			return MHD_HTTP_METHOD_NOT_ALLOWED;
		}
		rq->early = "ok\n";
		return MHD_HTTP_OK;
	}
	if (!admission_path_is_inject(url)) {
		rq->early = "404 page not found\n";
		return MHD_HTTP_NOT_FOUND;
	}
	if (strcmp(method, "POST") != 0) {
		rq->early = "method not allowed: use POST\n";
		return MHD_HTTP_METHOD_NOT_ALLOWED;
	}
	const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (!is_json_type(type)) {
		rq->early = "invalid Content-Type, want `application/json`\n";
		return MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
	}
	(void)w;
	return 0;
}

static enum MHD_Result refuse_size(struct MHD_Connection *c, struct webhook *w, const char *method,
				   const char *url, unsigned long long n)
{
	char msg[160];
	snprintf(msg, sizeof(msg), "AdmissionReview of %llu bytes is over the limit of %zu bytes\n",
		 n, w->max_bytes);
	log_warn("webhook: %s %s: refused: %.*s", method, url, (int)strlen(msg) - 1, msg);
	return send_reply(c, MHD_HTTP_BAD_REQUEST, "text/plain; charset=utf-8", msg, strlen(msg), true);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	(void)version;
	struct webhook *w = cls;
	struct request *rq = *req_cls;

	if (!rq) {
		/* First call: headers only. */
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		*req_cls = rq;
		rq->early_status = check_headers(w, c, url, method, rq);
		if (rq->early_status)
			return MHD_YES;
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl) {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(cl, &end, 10);
			/* Refused before the body is read; the connection closes. */
			if (errno == 0 && *end == '\0' && n > w->max_bytes)
				return refuse_size(c, w, method, url, n);
		}
		return MHD_YES;
	}

	if (*upload_size) {
		rq->seen += *upload_size;
		if (!rq->early_status && !rq->too_big && rq->body.len + *upload_size > w->max_bytes) {
			rq->too_big = true;
			strbuf_free(&rq->body);
		}
		if (!rq->early_status && !rq->too_big)
			strbuf_append(&rq->body, upload, *upload_size);
		*upload_size = 0;
		/* Do not drain an endless body for ever. */
		return rq->seen > 4 * w->max_bytes ? MHD_NO : MHD_YES;
	}

	/* The whole request is in. */
	if (rq->early_status)
		return send_text(c, rq->early_status, rq->early);
	if (rq->too_big)
		return refuse_size(c, w, method, url, rq->seen);
	if (strbuf_failed(&rq->body))
		return send_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");

	struct admission_reply reply;
	admission_handle(&w->handler, url, rq->body.buf ? rq->body.buf : "", rq->body.len, &reply);
	if (reply.warnings)
		log_warn("webhook: %s", reply.warnings);
	if (reply.status == 200)
		log_info("webhook: %s", reply.summary ? reply.summary : "handled");
	else
		log_warn("webhook: %s %s: %d: %s", method, url, reply.status,
			 reply.summary ? reply.summary : "");
	enum MHD_Result r = reply.body
		? send_reply(c, (unsigned)reply.status, reply.content_type, reply.body, reply.body_len, true)
		: send_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	admission_reply_clear(&reply);
	return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode code)
{
	(void)cls;
	(void)c;
	(void)code;
	struct request *rq = *req_cls;
	if (!rq)
		return;
	strbuf_free(&rq->body);
	free(rq);
	*req_cls = NULL;
}

static struct MHD_Daemon *start_daemon(struct webhook *w, const struct webhook_options *o,
				       const struct sockaddr *sa, bool dual)
{
	unsigned flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
			 MHD_USE_ITC | MHD_USE_ERROR_LOG;
	if (dual)
		flags |= MHD_USE_DUAL_STACK;
	if (sa && sa->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	return MHD_start_daemon(flags, o->port, NULL, NULL, on_request, w,
		MHD_OPTION_EXTERNAL_LOGGER, log_mhd, w,
		MHD_OPTION_HTTPS_CERT_CALLBACK2, on_certificate,
		MHD_OPTION_HTTPS_PRIORITIES, WEBHOOK_TLS_PRIORITIES,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, w,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, w,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(o->threads ? o->threads : 2),
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)(o->max_connections ? o->max_connections : 256),
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(o->timeout_seconds ? o->timeout_seconds : 30),
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
		MHD_OPTION_SOCK_ADDR, sa,
		MHD_OPTION_END);
}

int webhook_start(const struct webhook_options *o, const struct admission_handler *h,
		  struct webhook **out, struct skiff_err *e)
{
	int r = webhook_dl_load(e);
	if (r < 0)
		return r;
	struct webhook *w = calloc(1, sizeof(*w));
	if (!w)
		return err_set(e, SKIFF_ENOMEM, "out of memory");
	w->handler = *h;
	w->max_bytes = o->max_request_bytes ? o->max_request_bytes : ADMISSION_MAX_BYTES_DEFAULT;
	w->handler.max_bytes = w->max_bytes;
	r = webhook_tls_new(o->cert_path, o->key_path, &w->tls, e);
	if (r < 0) {
		free(w);
		return r;
	}

	struct sockaddr_storage ss = { 0 };
	struct sockaddr *sa = NULL;
	if (o->address && o->address[0]) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		if (inet_pton(AF_INET, o->address, &s4->sin_addr) == 1) {
			s4->sin_family = AF_INET;
			s4->sin_port = htons(o->port);
		} else if (inet_pton(AF_INET6, o->address, &s6->sin6_addr) == 1) {
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons(o->port);
		} else {
			webhook_tls_free(w->tls);
			free(w);
			return err_set(e, SKIFF_EINVAL, "--address \"%s\": not an IPv4 or IPv6 address",
				       o->address);
		}
		sa = (struct sockaddr *)&ss;
	}
	w->daemon = start_daemon(w, o, sa, sa == NULL);
	if (!w->daemon && !sa)
		w->daemon = start_daemon(w, o, NULL, false); /* no IPv6 on this host */
	if (!w->daemon) {
		int saved = errno;
		webhook_tls_free(w->tls);
		free(w);
		return err_set(e, SKIFF_EIO, "--port %u: cannot listen on %s:%u: %s", o->port,
			       o->address && o->address[0] ? o->address : "*", o->port,
			       saved ? strerror(saved) : "libmicrohttpd could not start");
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(w->daemon, MHD_DAEMON_INFO_BIND_PORT);
	w->port = di ? di->port : o->port;
	*out = w;
	return 0;
}

uint16_t webhook_port(const struct webhook *w)
{
	return w->port;
}

void webhook_stop(struct webhook *w, unsigned grace_ms)
{
	if (!w)
		return;
	/* The listening socket is ours to close, but only after the pool's
	 * threads are gone. */
	MHD_socket s = MHD_quiesce_daemon(w->daemon);
	for (unsigned waited = 0; waited < grace_ms; waited += 10) {
		const union MHD_DaemonInfo *di =
			MHD_get_daemon_info(w->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (!di || di->num_connections == 0)
			break;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(w->daemon);
	if (s != MHD_INVALID_SOCKET)
		close(s);
	webhook_tls_free(w->tls);
	free(w);
}

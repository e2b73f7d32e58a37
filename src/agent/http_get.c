/* http_get.c - blocking HTTP/1.1 GET over loopback with a deadline (see
 * http_get.h). Written for the agent's three local peers (Envoy admin,
 * Envoy's metrics, the application's metrics): a few hundred lines instead
 * of linking libcurl into the agent's resident set. */
#include "agent/http_get.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "probe/probe.h"

#define HTTP_MAX_HEAD 65536

enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER_START,
       CH_TRAILER, CH_FINAL_LF };

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int http_chunked_feed(struct http_chunked *c, const char *data, size_t len, struct strbuf *out)
{
	size_t i = 0;
	while (i < len && !c->done) {
		char ch = data[i];
		switch (c->state) {
		case CH_SIZE: {
			int v = hexval(ch);
			if (v >= 0) {
				if (c->left > (UINT64_MAX >> 4))
					return -EINVAL;
				c->left = c->left << 4 | (uint64_t)v;
				c->digits++;
			} else if (c->digits && (ch == ';' || ch == ' ' || ch == '\t')) {
				c->state = CH_EXT;
			} else if (c->digits && ch == '\r') {
				c->state = CH_SIZE_LF;
			} else {
				return -EINVAL;
			}
			i++;
			break;
		}
		case CH_EXT:
			if (ch == '\r')
				c->state = CH_SIZE_LF;
			else if (ch == '\n')
				return -EINVAL;
			i++;
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				return -EINVAL;
			c->state = c->left ? CH_DATA : CH_TRAILER_START;
			i++;
			break;
		case CH_DATA: {
			size_t n = len - i;
			if (n > c->left)
				n = (size_t)c->left;
			strbuf_append(out, data + i, n);
			c->left -= n;
			i += n;
			if (c->left == 0)
				c->state = CH_DATA_CR;
			break;
		}
		case CH_DATA_CR:
			if (ch != '\r')
				return -EINVAL;
			c->state = CH_DATA_LF;
			i++;
			break;
		case CH_DATA_LF:
			if (ch != '\n')
				return -EINVAL;
			c->state = CH_SIZE;
			c->digits = 0;
			i++;
			break;
		case CH_TRAILER_START:
			c->state = ch == '\r' ? CH_FINAL_LF : CH_TRAILER;
			i++;
			break;
		case CH_TRAILER:
			if (ch == '\n')
				c->state = CH_TRAILER_START;
			i++;
			break;
		case CH_FINAL_LF:
			if (ch != '\n')
				return -EINVAL;
			c->done = true;
			i++;
			break;
		default:
			return -EINVAL;
		}
	}
	return 0;
}

/* Copy the trimmed value [v, end) into dst. */
static void copy_value(char *dst, size_t cap, const char *v, const char *end)
{
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	size_t n = (size_t)(end - v);
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

int http_head_parse(const char *buf, size_t len, struct http_head *h)
{
	memset(h, 0, sizeof(*h));
	const char *p = buf, *end = buf + len;
	const char *eol = memchr(p, '\n', len);
	if (!eol || eol - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
		return -EINVAL;
	if (!isdigit((unsigned char)p[9]) || !isdigit((unsigned char)p[10]) ||
	    !isdigit((unsigned char)p[11]) || (p + 12 < eol && p[12] != ' ' && p[12] != '\r'))
		return -EINVAL;
	h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	if (h->status < 100)
		return -EINVAL;
	p = eol + 1;
	while (p < end) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			return -EINVAL;
		const char *le = eol;
		if (le > p && le[-1] == '\r')
			le--;
		if (le == p)
			return 0; /* the empty line ends the head */
		const char *colon = memchr(p, ':', (size_t)(le - p));
		if (!colon || colon == p)
			return -EINVAL;
		size_t nlen = (size_t)(colon - p);
		const char *v = colon + 1;
		if (nlen == 12 && strncasecmp(p, "Content-Type", 12) == 0) {
			copy_value(h->content_type, sizeof(h->content_type), v, le);
		} else if (nlen == 8 && strncasecmp(p, "Location", 8) == 0) {
			copy_value(h->location, sizeof(h->location), v, le);
		} else if (nlen == 17 && strncasecmp(p, "Transfer-Encoding", 17) == 0) {
			char te[64];
			copy_value(te, sizeof(te), v, le);
			if (strcasecmp(te, "chunked") == 0)
				h->chunked = true;
			else if (strcasecmp(te, "identity") != 0)
				return -EINVAL;
		} else if (nlen == 14 && strncasecmp(p, "Content-Length", 14) == 0) {
			char cl[32];
			copy_value(cl, sizeof(cl), v, le);
			char *e = NULL;
			errno = 0;
			if (!isdigit((unsigned char)cl[0]))
				return -EINVAL;
			unsigned long long n = strtoull(cl, &e, 10);
			if (*e || errno == ERANGE || (h->has_length && h->content_length != n))
				return -EINVAL;
			h->has_length = true;
			h->content_length = n;
		}
		p = eol + 1;
	}
	return -EINVAL; /* no empty line */
}

static int remaining_ms(int64_t deadline_ms)
{
	if (deadline_ms == 0)
		return -1;
	int64_t left = deadline_ms - probe_now_ms();
	if (left <= 0)
		return 0;
	return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

/* Wait for fd to be ready for `events`; 0, or -ETIMEDOUT / -errno. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int r = poll(&pfd, 1, remaining_ms(deadline_ms));
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int connect_host(const char *host, uint16_t port, int64_t deadline_ms)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char ps[8];
	snprintf(ps, sizeof(ps), "%u", port);
	if (getaddrinfo(host, ps, &hints, &res) != 0)
		return -EHOSTUNREACH;
	int err = -ECONNREFUSED;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		_cleanup_close_ int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
						IPPROTO_TCP);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			if (errno != EINPROGRESS) {
				err = -errno;
				continue;
			}
			int r = wait_fd(fd, POLLOUT, deadline_ms);
			if (r == -ETIMEDOUT) {
				err = r;
				break;
			}
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
				err = r < 0 ? r : -(soerr ? soerr : errno);
				continue;
			}
		}
		freeaddrinfo(res);
		return TAKE_FD(fd);
	}
	freeaddrinfo(res);
	return err;
}

static int send_all(int fd, const char *p, size_t len, int64_t deadline_ms)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			int r = wait_fd(fd, POLLOUT, deadline_ms);
			if (r < 0)
				return r;
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* recv what is there (waiting up to the deadline); returns bytes, 0 at EOF. */
static ssize_t recv_some(int fd, char *buf, size_t cap, int64_t deadline_ms)
{
	for (;;) {
		ssize_t n = recv(fd, buf, cap, 0);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		int r = wait_fd(fd, POLLIN, deadline_ms);
		if (r < 0)
			return r;
	}
}

static int why_set(char *why, size_t len, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int why_set(char *why, size_t len, int r, const char *fmt, ...)
{
	if (why && len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return r;
}

/* One exchange on a new connection. */
static int get_once(const char *host, uint16_t port, const char *target,
		    const struct http_get_request *req, struct http_head *h, struct strbuf *body,
		    char *why, size_t why_len)
{
	_cleanup_close_ int fd = connect_host(host, port, req->deadline_ms);
	if (fd < 0)
		return why_set(why, why_len, fd, "dial: %s", fd == -ETIMEDOUT ? "timeout"
								     : strerror(-fd));
	struct strbuf rq = STRBUF_INIT;
	bool v6 = strchr(host, ':') != NULL;
	strbuf_printf(&rq, "GET %s HTTP/1.1\r\nHost: %s%s%s:%u\r\n", target, v6 ? "[" : "", host,
		      v6 ? "]" : "", port);
	for (const char *const *hd = req->headers; hd && *hd; hd++)
		strbuf_printf(&rq, "%s\r\n", *hd);
	strbuf_puts(&rq, "Connection: close\r\n\r\n");
	if (strbuf_failed(&rq)) {
		strbuf_free(&rq);
		return why_set(why, why_len, -ENOMEM, "%s", "out of memory");
	}
	int r = send_all(fd, rq.buf, rq.len, req->deadline_ms);
	strbuf_free(&rq);
	if (r < 0)
		return why_set(why, why_len, r, "write: %s", r == -ETIMEDOUT ? "timeout" : strerror(-r));

	/* Head: read until the empty line; skip 1xx interim responses. */
	struct strbuf raw = STRBUF_INIT;
	size_t head_len = 0;
	char buf[16384];
	for (;;) {
		char *eoh = raw.len ? memmem(raw.buf, raw.len, "\r\n\r\n", 4) : NULL;
		if (eoh) {
			head_len = (size_t)(eoh - raw.buf) + 4;
			if (http_head_parse(raw.buf, head_len, h) < 0) {
				strbuf_free(&raw);
				return why_set(why, why_len, -EPROTO, "%s", "malformed response head");
			}
			if (h->status >= 200 || h->status == 101)
				break;
			memmove(raw.buf, raw.buf + head_len, raw.len - head_len);
			raw.len -= head_len;
			raw.buf[raw.len] = '\0';
			continue;
		}
		if (raw.len > HTTP_MAX_HEAD) {
			strbuf_free(&raw);
			return why_set(why, why_len, -EPROTO, "%s", "response head too large");
		}
		ssize_t n = recv_some(fd, buf, sizeof(buf), req->deadline_ms);
		if (n <= 0) {
			strbuf_free(&raw);
			return why_set(why, why_len, n ? (int)n : -EPROTO, "read: %s",
				       n == -ETIMEDOUT ? "timeout"
				       : n == 0      ? "connection closed before the response"
						     : strerror((int)-n));
		}
		strbuf_append(&raw, buf, (size_t)n);
		if (strbuf_failed(&raw))
			return why_set(why, why_len, -ENOMEM, "%s", "out of memory");
	}

	/* Body. */
	struct http_chunked ch = { 0 };
	const char *pending = raw.buf + head_len;
	size_t pending_len = raw.len - head_len;
	if (h->has_length && !h->chunked && h->content_length > req->max_body) {
		strbuf_free(&raw);
		return why_set(why, why_len, -EFBIG, "%s", "response body too large");
	}
	r = 0;
	for (;;) {
		if (pending_len) {
			if (h->chunked) {
				if (http_chunked_feed(&ch, pending, pending_len, body) < 0) {
					r = why_set(why, why_len, -EPROTO, "%s", "malformed chunked body");
					break;
				}
			} else {
				size_t n = pending_len;
				if (h->has_length && n > h->content_length - body->len)
					n = (size_t)(h->content_length - body->len);
				strbuf_append(body, pending, n);
			}
			if (strbuf_failed(body)) {
				r = why_set(why, why_len, -ENOMEM, "%s", "out of memory");
				break;
			}
			if (body->len > req->max_body) {
				r = why_set(why, why_len, -EFBIG, "%s", "response body too large");
				break;
			}
		}
		if ((h->chunked && ch.done) ||
		    (!h->chunked && h->has_length && body->len == h->content_length))
			break;
		ssize_t n = recv_some(fd, buf, sizeof(buf), req->deadline_ms);
		if (n < 0) {
			r = why_set(why, why_len, (int)n, "read body: %s",
				    n == -ETIMEDOUT ? "timeout" : strerror((int)-n));
			break;
		}
		if (n == 0) {
			if (h->chunked || h->has_length)
				r = why_set(why, why_len, -EPROTO, "%s", "unexpected EOF in body");
			break;
		}
		pending = buf;
		pending_len = (size_t)n;
	}
	strbuf_free(&raw);
	return r;
}

/* Resolve a Location against the current host/port/target. Only http://
 * and relative references. */
static int resolve_location(const char *loc, char *host, size_t host_cap, uint16_t *port,
			    char *target, size_t target_cap)
{
	const char *rest = NULL;
	if (strncasecmp(loc, "http://", 7) == 0)
		rest = loc + 7;
	else if (loc[0] == '/' && loc[1] == '/')
		rest = loc + 2;
	if (rest) {
		const char *slash = rest + strcspn(rest, "/?#");
		const char *hs = rest, *he = slash;
		const char *pstart = NULL;
		if (*hs == '[') {
			const char *rb = memchr(hs, ']', (size_t)(slash - hs));
			if (!rb)
				return -EINVAL;
			pstart = rb + 1 < slash && rb[1] == ':' ? rb + 2 : NULL;
			if (rb + 1 < slash && rb[1] != ':')
				return -EINVAL;
			he = rb;
			hs++;
		} else {
			const char *colon = memchr(hs, ':', (size_t)(slash - hs));
			if (colon) {
				pstart = colon + 1;
				he = colon;
			}
		}
		if (he == hs || (size_t)(he - hs) >= host_cap)
			return -EINVAL;
		uint16_t p = 80;
		if (pstart && pstart < slash) {
			unsigned v = 0;
			for (const char *q = pstart; q < slash; q++) {
				if (!isdigit((unsigned char)*q) || (v = v * 10 + (unsigned)(*q - '0')) > 65535)
					return -EINVAL;
			}
			p = (uint16_t)v;
		}
		memcpy(host, hs, (size_t)(he - hs));
		host[he - hs] = '\0';
		*port = p;
		snprintf(target, target_cap, "%s%.*s", *slash == '/' ? "" : "/",
			 (int)strcspn(slash, "#"), slash);
		return 0;
	}
	if (strstr(loc, "://"))
		return -EPROTONOSUPPORT;
	size_t flen = strcspn(loc, "#");
	if (loc[0] == '/') {
		snprintf(target, target_cap, "%.*s", (int)flen, loc);
	} else {
		/* Relative to the directory of the current target (no query). */
		char base[1024];
		snprintf(base, sizeof(base), "%.*s", (int)strcspn(target, "?"), target);
		char *ls = strrchr(base, '/');
		if (ls)
			ls[1] = '\0';
		else
			snprintf(base, sizeof(base), "/");
		snprintf(target, target_cap, "%s%.*s", base, (int)flen, loc);
	}
	return 0;
}

int http_get(const struct http_get_request *req, struct http_get_response *resp,
	     char *why, size_t why_len)
{
	char host[256], target[2048];
	uint16_t port = req->port;
	snprintf(host, sizeof(host), "%s", req->host);
	snprintf(target, sizeof(target), "%s", req->target);
	resp->status = 0;
	resp->content_type[0] = '\0';
	strbuf_reset(&resp->body);

	for (int hop = 0;; hop++) {
		struct http_head h;
		strbuf_reset(&resp->body);
		int r = get_once(host, port, target, req, &h, &resp->body, why, why_len);
		if (r < 0)
			return r;
		bool redirect = h.status == 301 || h.status == 302 || h.status == 303 ||
				h.status == 307 || h.status == 308;
		if (!redirect || !h.location[0] || req->max_redirects <= 0) {
			resp->status = h.status;
			snprintf(resp->content_type, sizeof(resp->content_type), "%s", h.content_type);
			return 0;
		}
		if (hop >= req->max_redirects)
			return why_set(why, why_len, -ELOOP, "stopped after %d redirects",
				       req->max_redirects);
		r = resolve_location(h.location, host, sizeof(host), &port, target, sizeof(target));
		if (r < 0)
			return why_set(why, why_len, r, "cannot follow redirect to %s", h.location);
	}
}

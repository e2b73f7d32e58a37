/* http.c - the HTTP(S) prober (see http.h). Request construction follows
 * Go's net/http client as Istio 1.13's agent drives it (spec 6.2, 6.3);
 * redirects follow the kubelet's checker (6.7); the answer is mapped as 6.8
 * says. Everything is bounded by the probe's deadline. */
#include "probe/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/http_token.h"
#include "base/strbuf.h"
#include "probe/net.h"

#define MAX_REDIRECT_REQUESTS 10   /* the 11th request fails the probe */
#define MAX_HEAD_BYTES (64 * 1024) /* response head limit */
#define MAX_1XX 5

/* ---------- connections and the keep-alive pool ---------- */

struct pconn {
	int fd;
	struct probe_tls_conn *tls;
	char *buf;       /* PCONN_BUF at first, grown for a long head line */
	size_t cap;
	size_t off, len; /* unread bytes are buf[off..len) */
	bool reused;
};

#define PCONN_BUF 4096

struct pool_entry {
	int fd;
	struct probe_tls_conn *tls;
	bool https;
	uint16_t port;
};

struct probe_http_pool {
	pthread_mutex_t lock;
	struct pool_entry idle[PROBE_POOL_MAX];
	int n;
};

struct probe_http_pool *probe_http_pool_new(void)
{
	struct probe_http_pool *p = calloc(1, sizeof(*p));
	if (p)
		pthread_mutex_init(&p->lock, NULL);
	return p;
}

void probe_http_pool_free(struct probe_http_pool *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->n; i++) {
		probe_tls_conn_free(p->idle[i].tls);
		probe_net_close(p->idle[i].fd, true);
	}
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static bool pool_get(struct probe_http_pool *p, bool https, uint16_t port, struct pconn *c)
{
	bool found = false;
	pthread_mutex_lock(&p->lock);
	for (int i = p->n - 1; i >= 0; i--) {
		if (p->idle[i].https == https && p->idle[i].port == port) {
			c->fd = p->idle[i].fd;
			c->tls = p->idle[i].tls;
			p->idle[i] = p->idle[--p->n];
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return found;
}

static void conn_close(struct pconn *c)
{
	probe_tls_conn_free(c->tls);
	c->tls = NULL;
	probe_net_close(c->fd, true);
	c->fd = -1;
}

static void pool_put(struct probe_http_pool *p, bool https, uint16_t port, struct pconn *c)
{
	pthread_mutex_lock(&p->lock);
	if (p->n < PROBE_POOL_MAX) {
		p->idle[p->n++] = (struct pool_entry){ c->fd, c->tls, https, port };
		c->fd = -1;
		c->tls = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	if (c->fd >= 0)
		conn_close(c);
}

static ssize_t conn_write(struct pconn *c, const char *b, size_t n, int64_t deadline)
{
	if (c->tls)
		return probe_tls_write(c->tls, b, n, deadline);
	size_t done = 0;
	while (done < n) {
		ssize_t w = send(c->fd, b + done, n - done, MSG_NOSIGNAL);
		if (w > 0) {
			done += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			int r = probe_net_wait(c->fd, POLLOUT, deadline);
			if (r < 0)
				return r;
			continue;
		}
		return -errno;
	}
	return (ssize_t)done;
}

/* Read more into the buffer. Returns bytes read, 0 at EOF, or -errno. */
static ssize_t conn_fill(struct pconn *c, int64_t deadline)
{
	if (c->off > 0 && c->off == c->len)
		c->off = c->len = 0;
	if (c->len == c->cap) {
		if (c->off == 0) {
			if (c->cap >= MAX_HEAD_BYTES)
				return -ENOBUFS;
			char *nb = realloc(c->buf, c->cap * 2);
			if (!nb)
				return -ENOMEM;
			c->buf = nb;
			c->cap *= 2;
		} else {
			memmove(c->buf, c->buf + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
	}
	for (;;) {
		ssize_t r;
		if (c->tls) {
			r = probe_tls_read(c->tls, c->buf + c->len, c->cap - c->len, deadline);
		} else {
			r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && errno == EAGAIN) {
				int w = probe_net_wait(c->fd, POLLIN, deadline);
				if (w < 0)
					return w;
				continue;
			}
			if (r < 0)
				r = -errno;
		}
		if (r > 0)
			c->len += (size_t)r;
		return r;
	}
}

/* One line of the response head (LF or CRLF terminated), without the line
 * end. Points into the buffer; valid until the next read. */
static int read_line(struct pconn *c, int64_t deadline, const char **line, size_t *n,
		     size_t *head_total)
{
	for (;;) {
		char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);
		if (nl) {
			size_t l = (size_t)(nl - (c->buf + c->off));
			*line = c->buf + c->off;
			*head_total += l + 1;
			if (*head_total > MAX_HEAD_BYTES)
				return -E2BIG;
			c->off += l + 1;
			if (l > 0 && (*line)[l - 1] == '\r')
				l--;
			*n = l;
			return 0;
		}
		ssize_t r = conn_fill(c, deadline);
		if (r == 0)
			return -ECONNRESET;
		if (r < 0)
			return (int)r;
	}
}

/* ---------- header names ---------- */

static bool is_token_char(unsigned char c)
{
	if (c >= 'a' && c <= 'z') return true;
	if (c >= 'A' && c <= 'Z') return true;
	if (c >= '0' && c <= '9') return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

size_t probe_canonical_header(const char *name, size_t len, char *buf, size_t cap)
{
	if (len >= cap)
		len = cap - 1;
	bool valid = true;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == ' ' || !is_token_char(c)) {
			valid = false;
			break;
		}
	}
	bool upper = true;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (valid) {
			if (upper && c >= 'a' && c <= 'z')
				c = (char)(c - 32);
			else if (!upper && c >= 'A' && c <= 'Z')
				c = (char)(c + 32);
			upper = c == '-';
		}
		buf[i] = c;
	}
	buf[len] = 0;
	return len;
}

static bool valid_field_name(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_token_char((unsigned char)s[i]))
			return false;
	return true;
}

static bool valid_field_value(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

/* ---------- the request target ---------- */

static bool hexval(char c, int *v)
{
	if (c >= '0' && c <= '9') { *v = c - '0'; return true; }
	if (c >= 'a' && c <= 'f') { *v = c - 'a' + 10; return true; }
	if (c >= 'A' && c <= 'F') { *v = c - 'A' + 10; return true; }
	return false;
}

/* Go's shouldEscape(c, encodePath). */
static bool path_should_escape(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return false;
	switch (c) {
	case '-': case '_': case '.': case '~':
	case '$': case '&': case '+': case ',': case '/': case ':': case ';': case '=': case '@':
		return false;
	default:
		return true;
	}
}

/* Go's validEncoded(s, encodePath). */
static bool path_valid_encoded(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '!': case '$': case '&': case '\'': case '(': case ')': case '*': case '+':
		case ',': case ';': case '=': case ':': case '@': case '[': case ']': case '%':
			continue;
		default:
			if (path_should_escape(c))
				return false;
		}
	}
	return true;
}

int probe_http_target(const char *path, char *buf, size_t cap)
{
	struct strbuf sb = STRBUF_INIT;
	const char *p = path ? path : "";
	size_t n = strlen(p);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c < 0x20 || c == 0x7f)
			return -EINVAL; /* "invalid control character in URL" */
	}
	const char *hash = memchr(p, '#', n);
	if (hash)
		n = (size_t)(hash - p);
	const char *q = memchr(p, '?', n);
	size_t plen = q ? (size_t)(q - p) : n;
	/* Go unescapes the path: a bad %-escape is a parse error. */
	for (size_t i = 0; i < plen; i++) {
		int a, b;
		if (p[i] == '%') {
			if (i + 2 >= plen || !hexval(p[i + 1], &a) || !hexval(p[i + 2], &b))
				return -EINVAL;
			i += 2;
		}
	}
	if (plen == 0 || p[0] != '/')
		strbuf_putc(&sb, '/');
	if (path_valid_encoded(p, plen)) {
		strbuf_append(&sb, p, plen);
	} else {
		for (size_t i = 0; i < plen; i++) {
			unsigned char c = (unsigned char)p[i];
			int a, b;
			if (c == '%' && hexval(p[i + 1], &a) && hexval(p[i + 2], &b)) {
				c = (unsigned char)(a * 16 + b);
				i += 2;
			}
			if (path_should_escape(c))
				strbuf_printf(&sb, "%%%02X", c);
			else
				strbuf_putc(&sb, (char)c);
		}
	}
	if (q)
		strbuf_append(&sb, q, n - plen); /* "?..." sent as is */
	if (strbuf_failed(&sb) || sb.len + 1 > cap) {
		strbuf_free(&sb);
		return -E2BIG;
	}
	memcpy(buf, strbuf_str(&sb), sb.len + 1);
	strbuf_free(&sb);
	return 0;
}

/* ---------- URLs for redirects ---------- */

struct url {
	bool https;
	char host[256];     /* without brackets */
	char authority[300];/* host:port as written in Host (brackets for IPv6) */
	unsigned port;
	char target[4096];  /* path?query */
};

static void url_string(const struct url *u, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s://%s%s", u->https ? "https" : "http", u->authority, u->target);
}

/* Remove dot segments (RFC 3986 5.2.4, as Go's resolvePath). */
static void remove_dots(const char *in, size_t n, struct strbuf *out)
{
	/* split on '/', keep a stack of segments */
	const char *segs[256];
	size_t lens[256];
	size_t ns = 0;
	size_t i = 0;
	bool trailing = false;
	if (n && in[0] == '/')
		i = 1;
	while (i <= n) {
		const char *s = in + i;
		const char *e = memchr(s, '/', n - i);
		size_t l = e ? (size_t)(e - s) : n - i;
		bool last = !e;
		if (l == 1 && s[0] == '.') {
			trailing = last;
		} else if (l == 2 && s[0] == '.' && s[1] == '.') {
			if (ns)
				ns--;
			trailing = last;
		} else {
			if (ns < 256) {
				segs[ns] = s;
				lens[ns] = l;
				ns++;
			}
			trailing = false;
		}
		i += l + 1;
	}
	strbuf_putc(out, '/');
	for (size_t k = 0; k < ns; k++) {
		strbuf_append(out, segs[k], lens[k]);
		if (k + 1 < ns)
			strbuf_putc(out, '/');
	}
	if (trailing && ns)
		strbuf_putc(out, '/');
}

static int parse_authority(const char *a, size_t n, bool https, struct url *u)
{
	if (n == 0 || n >= sizeof(u->authority))
		return -EINVAL;
	const char *userinfo = memchr(a, '@', n);
	if (userinfo) {
		n -= (size_t)(userinfo + 1 - a);
		a = userinfo + 1;
	}
	const char *hs = a, *he;
	const char *portp = NULL;
	if (a[0] == '[') {
		const char *rb = memchr(a, ']', n);
		if (!rb)
			return -EINVAL;
		hs = a + 1;
		he = rb;
		if ((size_t)(rb + 1 - a) < n) {
			if (rb[1] != ':')
				return -EINVAL;
			portp = rb + 2;
		}
	} else {
		const char *colon = NULL;
		for (const char *x = a; x < a + n; x++)
			if (*x == ':')
				colon = x;
		he = colon ? colon : a + n;
		if (colon)
			portp = colon + 1;
	}
	if ((size_t)(he - hs) >= sizeof(u->host))
		return -EINVAL;
	memcpy(u->host, hs, (size_t)(he - hs));
	u->host[he - hs] = 0;
	u->port = https ? 443 : 80;
	if (portp && portp < a + n) {
		unsigned v = 0;
		for (const char *x = portp; x < a + n; x++) {
			if (*x < '0' || *x > '9')
				return -EINVAL;
			v = v * 10 + (unsigned)(*x - '0');
			if (v > 65535)
				return -EINVAL;
		}
		u->port = v;
	}
	memcpy(u->authority, a, n);
	u->authority[n] = 0;
	return 0;
}

/* Resolve Location against base (RFC 3986, as Go's URL.Parse on the
 * request URL). Returns 0 or -EINVAL; *absolute says whether loc was. */
static int resolve_location(const struct url *base, const char *loc, struct url *out,
			    bool *absolute, bool *unsupported_scheme)
{
	*absolute = false;
	*unsupported_scheme = false;
	for (const char *x = loc; *x; x++)
		if ((unsigned char)*x < 0x20 || *x == 0x7f)
			return -EINVAL;
	size_t n = strlen(loc);
	const char *hash = memchr(loc, '#', n);
	if (hash)
		n = (size_t)(hash - loc);
	*out = *base;
	const char *rest = loc;
	size_t rn = n;
	/* scheme */
	size_t i = 0;
	while (i < n && ((loc[i] >= 'a' && loc[i] <= 'z') || (loc[i] >= 'A' && loc[i] <= 'Z') ||
			 (i > 0 && ((loc[i] >= '0' && loc[i] <= '9') || loc[i] == '+' ||
				    loc[i] == '-' || loc[i] == '.'))))
		i++;
	bool has_authority = false;
	if (i > 0 && i < n && loc[i] == ':') {
		*absolute = true;
		if (i == 4 && strncasecmp(loc, "http", 4) == 0)
			out->https = false;
		else if (i == 5 && strncasecmp(loc, "https", 5) == 0)
			out->https = true;
		else
			*unsupported_scheme = true;
		rest = loc + i + 1;
		rn = n - i - 1;
		if (rn >= 2 && rest[0] == '/' && rest[1] == '/')
			has_authority = true;
		else if (*unsupported_scheme)
			return 0;
		else
			return -EINVAL; /* "http:foo": opaque, not a request URL */
	} else if (n >= 2 && loc[0] == '/' && loc[1] == '/') {
		has_authority = true;
	}
	struct strbuf path = STRBUF_INIT;
	if (has_authority) {
		rest += 2;
		rn -= 2;
		size_t al = 0;
		while (al < rn && rest[al] != '/' && rest[al] != '?')
			al++;
		if (parse_authority(rest, al, out->https, out) < 0) {
			if (*unsupported_scheme)
				return 0;
			return -EINVAL;
		}
		rest += al;
		rn -= al;
		if (*unsupported_scheme)
			return 0;
		const char *qm = memchr(rest, '?', rn);
		size_t pl = qm ? (size_t)(qm - rest) : rn;
		if (pl)
			remove_dots(rest, pl, &path);
		else
			strbuf_putc(&path, '/');
		if (qm)
			strbuf_append(&path, qm, rn - pl);
	} else {
		const char *qm = memchr(rest, '?', rn);
		size_t pl = qm ? (size_t)(qm - rest) : rn;
		const char *bt = base->target;
		const char *bq = strchr(bt, '?');
		size_t bpl = bq ? (size_t)(bq - bt) : strlen(bt);
		if (pl == 0) {
			strbuf_append(&path, bt, bpl);
			if (qm)
				strbuf_append(&path, qm, rn);
			else if (bq)
				strbuf_puts(&path, bq);
		} else {
			struct strbuf merged = STRBUF_INIT;
			if (rest[0] == '/') {
				strbuf_append(&merged, rest, pl);
			} else {
				const char *slash = NULL;
				for (const char *x = bt; x < bt + bpl; x++)
					if (*x == '/')
						slash = x;
				if (slash)
					strbuf_append(&merged, bt, (size_t)(slash - bt) + 1);
				else
					strbuf_putc(&merged, '/');
				strbuf_append(&merged, rest, pl);
			}
			remove_dots(strbuf_str(&merged), merged.len, &path);
			strbuf_free(&merged);
			if (qm)
				strbuf_append(&path, qm, rn - pl);
		}
	}
	if (strbuf_failed(&path) || path.len + 1 > sizeof(out->target)) {
		strbuf_free(&path);
		return -EINVAL;
	}
	memcpy(out->target, strbuf_str(&path), path.len + 1);
	strbuf_free(&path);
	return 0;
}

/* ---------- one exchange ---------- */

struct hdr {
	char *name;        /* canonical (heap) */
	const char *value; /* not owned */
	size_t value_len;
	unsigned seq;
};

struct response {
	int status;
	bool http11;
	bool close;          /* Connection: close, or HTTP/1.0 without keep-alive */
	bool chunked;
	long long length;    /* -1 unknown */
	char location[4096];
	bool has_location;
};

static int hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int read_response_head(struct pconn *c, int64_t deadline, struct response *r,
			      bool *got_any)
{
	size_t total = 0;
	for (int informational = 0;; informational++) {
		const char *line;
		size_t n;
		int e = read_line(c, deadline, &line, &n, &total);
		if (e < 0)
			return e;
		*got_any = true;
		/* HTTP/1.x SP 3DIGIT [SP reason] */
		if (n < 12 || memcmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
		    line[8] != ' ')
			return -EPROTO;
		const char *code = line + 9;
		if (code[0] < '0' || code[0] > '9' || code[1] < '0' || code[1] > '9' ||
		    code[2] < '0' || code[2] > '9' || (n > 12 && code[3] != ' '))
			return -EPROTO;
		*r = (struct response){ .length = -1 };
		r->status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
		r->http11 = line[7] == '1';
		bool keepalive10 = false;
		for (;;) {
			e = read_line(c, deadline, &line, &n, &total);
			if (e < 0)
				return e;
			if (n == 0)
				break;
			const char *colon = memchr(line, ':', n);
			if (!colon)
				return -EPROTO;
			size_t kl = (size_t)(colon - line);
			const char *v = colon + 1;
			size_t vl = n - kl - 1;
			while (vl && (*v == ' ' || *v == '\t')) { v++; vl--; }
			while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
			if (kl == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
				long long len = 0;
				if (vl == 0 || vl > 18)
					return -EPROTO;
				for (size_t i = 0; i < vl; i++) {
					if (v[i] < '0' || v[i] > '9')
						return -EPROTO;
					len = len * 10 + (v[i] - '0');
				}
				if (r->length >= 0 && r->length != len)
					return -EPROTO;
				r->length = len;
			} else if (kl == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
				if (http_token_list_has(v, vl, "chunked"))
					r->chunked = true;
			} else if (kl == 10 && strncasecmp(line, "Connection", 10) == 0) {
				if (http_token_list_has(v, vl, "close"))
					r->close = true;
				if (http_token_list_has(v, vl, "keep-alive"))
					keepalive10 = true;
			} else if (kl == 8 && strncasecmp(line, "Location", 8) == 0 && !r->has_location) {
				if (vl >= sizeof(r->location))
					return -EPROTO;
				memcpy(r->location, v, vl);
				r->location[vl] = 0;
				r->has_location = vl > 0;
			}
		}
		if (!r->http11 && !keepalive10)
			r->close = true;
		if (r->status >= 100 && r->status < 200 && r->status != 101) {
			if (informational >= MAX_1XX)
				return -EPROTO;
			continue;
		}
		return 0;
	}
}

/* Read and discard the body. limit: stop after that many bytes (redirects),
 * 0 = all of it. Returns 0 when the body ended (connection re-usable as far
 * as framing goes), 1 when stopped early, or -errno. */
static int drain_body(struct pconn *c, const struct response *r, int64_t deadline,
		      size_t limit, bool *ended_by_eof)
{
	size_t seen = 0;
	*ended_by_eof = false;
	if ((r->status >= 100 && r->status < 200) || r->status == 204 || r->status == 304)
		return 0;
	if (r->chunked) {
		size_t total = 0;
		for (;;) {
			const char *line;
			size_t n;
			int e = read_line(c, deadline, &line, &n, &total);
			if (e < 0)
				return e;
			total = 0;
			unsigned long long sz = 0;
			size_t i = 0;
			int hv;
			for (; i < n && hexval(line[i], &hv); i++) {
				if (sz > (1ULL << 40))
					return -EPROTO;
				sz = sz * 16 + (unsigned)hv;
			}
			if (i == 0)
				return -EPROTO;
			if (sz == 0) {
				for (;;) { /* trailers */
					e = read_line(c, deadline, &line, &n, &total);
					if (e < 0)
						return e;
					if (n == 0)
						return 0;
				}
			}
			while (sz > 0) {
				if (c->off == c->len) {
					ssize_t f = conn_fill(c, deadline);
					if (f <= 0)
						return f == 0 ? -ECONNRESET : (int)f;
				}
				size_t take = c->len - c->off;
				if (take > sz)
					take = (size_t)sz;
				c->off += take;
				sz -= take;
				seen += take;
				if (limit && seen >= limit)
					return 1;
			}
			e = read_line(c, deadline, &line, &n, &total);
			if (e < 0)
				return e;
			if (n != 0)
				return -EPROTO;
		}
	}
	if (r->length >= 0) {
		unsigned long long left = (unsigned long long)r->length;
		while (left > 0) {
			if (c->off == c->len) {
				c->off = c->len = 0;
				ssize_t f = conn_fill(c, deadline);
				if (f <= 0)
					return f == 0 ? -ECONNRESET : (int)f;
			}
			size_t take = c->len - c->off;
			if (take > left)
				take = (size_t)left;
			c->off += take;
			left -= take;
			seen += take;
			if (limit && seen >= limit && left)
				return 1;
		}
		return 0;
	}
	for (;;) { /* until EOF */
		c->off = c->len = 0;
		ssize_t f = conn_fill(c, deadline);
		if (f == 0) {
			*ended_by_eof = true;
			return 0;
		}
		if (f < 0)
			return (int)f;
		seen += (size_t)f;
		if (limit && seen >= limit)
			return 1;
	}
}

struct reqstate {
	struct hdr *h;
	size_t n;
	char *host_override; /* from an httpHeaders "Host" entry (heap) */
	bool authority_bad;  /* an httpHeaders ":authority" entry: invalid name */
};

static void reqstate_free(struct reqstate *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->h[i].name);
	free(s->h);
	free(s->host_override);
}

static int hdr_add(struct reqstate *s, const char *name, size_t nl, const char *v, size_t vl,
		   unsigned seq)
{
	struct hdr *nh = realloc(s->h, (s->n + 1) * sizeof(*nh));
	if (!nh)
		return -ENOMEM;
	s->h = nh;
	char *cn = malloc(nl + 1);
	if (!cn)
		return -ENOMEM;
	probe_canonical_header(name, nl, cn, nl + 1);
	s->h[s->n++] = (struct hdr){ cn, v, vl, seq };
	return 0;
}

/* Headers of the original request (6.3 steps 1 and 2). */
static int build_headers(const struct probe_http_request *rq, struct reqstate *s)
{
	unsigned seq = 0;
	for (size_t i = 0; i < rq->n_in; i++) {
		const struct probe_kv *kv = &rq->in_headers[i];
		if (hdr_add(s, kv->name, kv->name_len, kv->value, kv->value_len, seq++) < 0)
			return -ENOMEM;
		/* incoming names are canonical already; keep them byte-exact */
		memcpy(s->h[s->n - 1].name, kv->name, kv->name_len);
	}
	const struct probe_http_get *g = rq->get;
	for (size_t i = 0; i < g->n_headers; i++) { /* 2a: exact-name delete */
		const char *name = g->headers[i].name;
		size_t k = 0;
		for (size_t j = 0; j < s->n; j++) {
			if (strcmp(s->h[j].name, name) == 0) {
				free(s->h[j].name);
				continue;
			}
			s->h[k++] = s->h[j];
		}
		s->n = k;
	}
	for (size_t i = 0; i < g->n_headers; i++) { /* 2b */
		const char *name = g->headers[i].name, *value = g->headers[i].value;
		if (strcmp(name, "Host") == 0) {
			free(s->host_override);
			s->host_override = strdup(value);
			if (!s->host_override)
				return -ENOMEM;
			continue;
		}
		if (strcmp(name, ":authority") == 0) {
			s->authority_bad = true;
			continue;
		}
		if (hdr_add(s, name, strlen(name), value, strlen(value), seq++) < 0)
			return -ENOMEM;
	}
	if (s->n > 1)
		qsort(s->h, s->n, sizeof(*s->h), hdr_cmp);
	return 0;
}

static const struct hdr *hdr_find(const struct reqstate *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->h[i].name, name) == 0)
			return &s->h[i];
	return NULL;
}

static bool sensitive(const char *name)
{
	return strcmp(name, "Authorization") == 0 || strcmp(name, "Www-Authenticate") == 0 ||
	       strcmp(name, "Cookie") == 0 || strcmp(name, "Cookie2") == 0;
}

static void put_value(struct strbuf *sb, const char *v, size_t n)
{
	/* Go trims surrounding white space and turns CR/LF into spaces. */
	while (n && (*v == ' ' || *v == '\t')) { v++; n--; }
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
	for (size_t i = 0; i < n; i++)
		strbuf_putc(sb, (v[i] == '\r' || v[i] == '\n') ? ' ' : v[i]);
}

/* Render one request (6.3 step 3). */
static int render_request(const struct reqstate *s, const struct url *u, const char *host,
			  const char *referer, bool drop_sensitive, bool keepalive,
			  struct strbuf *out)
{
	strbuf_printf(out, "GET %s HTTP/1.1\r\nHost: %s\r\n", u->target, host);
	const struct hdr *ua = hdr_find(s, "User-Agent");
	if (!ua)
		strbuf_puts(out, "User-Agent: Go-http-client/1.1\r\n");
	else if (ua->value_len) {
		strbuf_puts(out, "User-Agent: ");
		put_value(out, ua->value, ua->value_len);
		strbuf_puts(out, "\r\n");
	}
	bool referer_done = false;
	for (size_t i = 0; i < s->n; i++) {
		const char *name = s->h[i].name;
		if (strcmp(name, "Host") == 0 || strcmp(name, "User-Agent") == 0 ||
		    strcmp(name, "Content-Length") == 0 || strcmp(name, "Transfer-Encoding") == 0 ||
		    strcmp(name, "Trailer") == 0)
			continue;
		if (drop_sensitive && sensitive(name))
			continue;
		if (referer && strcmp(name, "Referer") >= 0 && !referer_done) {
			/* Referer is Set() on redirects: it replaces any copied one. */
			strbuf_printf(out, "Referer: %s\r\n", referer);
			referer_done = true;
		}
		if (referer && strcmp(name, "Referer") == 0)
			continue;
		strbuf_printf(out, "%s: ", name);
		put_value(out, s->h[i].value, s->h[i].value_len);
		strbuf_puts(out, "\r\n");
	}
	if (referer && !referer_done)
		strbuf_printf(out, "Referer: %s\r\n", referer);
	const struct hdr *ae = hdr_find(s, "Accept-Encoding");
	if ((!ae || ae->value_len == 0) && !hdr_find(s, "Range"))
		strbuf_puts(out, "Accept-Encoding: gzip\r\n");
	const struct hdr *conn = hdr_find(s, "Connection");
	bool wants_close = conn && http_token_list_has(conn->value, conn->value_len, "close");
	if (!keepalive && !wants_close)
		strbuf_puts(out, "Connection: close\r\n");
	strbuf_puts(out, "\r\n");
	return strbuf_failed(out) ? -ENOMEM : 0;
}

static void set_outcome(struct probe_outcome *out, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_outcome(struct probe_outcome *out, int status, const char *fmt, ...)
{
	out->status = status;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
}

static int open_conn(const struct probe_http_request *rq, const struct url *u, bool original,
		     int64_t deadline, struct pconn *c, char *why, size_t wl)
{
	c->off = c->len = 0;
	c->reused = false;
	c->tls = NULL;
	if (original && rq->keepalive && rq->pool && pool_get(rq->pool, u->https, (uint16_t)u->port, c)) {
		c->reused = true;
		return 0;
	}
	struct probe_endpoint ep = *rq->ep;
	if (!original) {
		snprintf(ep.host, sizeof(ep.host), "%s", u->host);
	}
	if (u->port == 0 || u->port > 65535) {
		snprintf(why, wl, "dial tcp: invalid port %u", u->port);
		return -EINVAL;
	}
	ep.port = (uint16_t)u->port;
	int fd = probe_net_connect(&ep, false, deadline, why, wl);
	if (fd < 0)
		return fd;
	c->fd = fd;
	if (u->https) {
		if (!rq->tls) {
			probe_net_close(fd, true);
			snprintf(why, wl, "tls: not available");
			return -ENOTSUP;
		}
		/* SNI only for names, as Go (no IP literals). */
		struct in6_addr dummy;
		const char *sni = (inet_pton(AF_INET, ep.host, &dummy) == 1 ||
				   inet_pton(AF_INET6, ep.host, &dummy) == 1) ? NULL : ep.host;
		int r = probe_tls_connect(rq->tls, fd, sni, deadline, &c->tls, why, wl);
		if (r < 0) {
			probe_net_close(fd, true);
			return r;
		}
	}
	return 0;
}

void probe_http_run(const struct probe_http_request *rq, int64_t deadline,
		    struct probe_outcome *out)
{
	/* The URLs and header scratch live on the heap, not on the stack of
	 * every worker thread (whose touched pages would stay resident). */
	struct http_scratch {
		struct url u, next;
		struct { char host[256]; char authority[300]; } orig;
		char prev_host[256];
		char host[512];
		char referer[4400];
	} *w = calloc(1, sizeof(*w));
	if (!w) {
		set_outcome(out, 500, "out of memory");
		return;
	}

	const struct probe_http_get *g = rq->get;
	w->u.https = g->scheme && strcmp(g->scheme, "HTTPS") == 0;
	if (g->port.named || g->port.number <= 0 || g->port.number > 65535) {
		set_outcome(out, 500, "dial tcp: invalid port %d", g->port.number);
		goto done;
	}
	w->u.port = (unsigned)g->port.number;
	snprintf(w->u.host, sizeof(w->u.host), "%s", rq->ep->host);
	probe_net_authority(rq->ep->host, w->u.port, w->u.authority, sizeof(w->u.authority));
	if (probe_http_target(g->path, w->u.target, sizeof(w->u.target)) < 0) {
		set_outcome(out, 500, "invalid probe URL path");
		goto done;
	}
	struct reqstate s = { 0 };
	if (build_headers(rq, &s) < 0) {
		reqstate_free(&s);
		set_outcome(out, 500, "out of memory");
		goto done;
	}
	if (s.authority_bad) {
		reqstate_free(&s);
		set_outcome(out, 500, "invalid header field name \":authority\"");
		goto done;
	}
	for (size_t i = 0; i < s.n; i++) {
		if (!valid_field_name(s.h[i].name, strlen(s.h[i].name)) ||
		    !valid_field_value(s.h[i].value, s.h[i].value_len)) {
			set_outcome(out, 500, "invalid header field %.100s", s.h[i].name);
			reqstate_free(&s);
			goto done;
		}
	}
	const char *orig_host = s.host_override ? s.host_override : w->u.authority;
	if (!valid_field_value(orig_host, strlen(orig_host)) || strchr(orig_host, ' ')) {
		set_outcome(out, 500, "invalid Host header");
		reqstate_free(&s);
		goto done;
	}
	memcpy(w->orig.host, w->u.host, sizeof(w->orig.host));
	memcpy(w->orig.authority, w->u.authority, sizeof(w->orig.authority));
	unsigned prev_port = w->u.port;
	memcpy(w->prev_host, w->u.host, sizeof(w->prev_host));
	snprintf(w->host, sizeof(w->host), "%s", orig_host);
	bool have_referer = false;
	struct strbuf req = STRBUF_INIT;
	struct pconn *c = malloc(sizeof(*c));
	char *cbuf = malloc(PCONN_BUF);
	if (!c || !cbuf) {
		free(c);
		free(cbuf);
		set_outcome(out, 500, "out of memory");
		reqstate_free(&s);
		goto done;
	}
	c->fd = -1;
	c->tls = NULL;
	c->buf = cbuf;
	c->cap = PCONN_BUF;
	for (int nreq = 1;; nreq++) {
		bool original = nreq == 1;
		bool drop = !(prev_port == w->u.port && strcmp(w->prev_host, w->u.host) == 0);
		strbuf_reset(&req);
		if (render_request(&s, &w->u, w->host, have_referer ? w->referer : NULL, drop && !original,
				   rq->keepalive, &req) < 0) {
			set_outcome(out, 500, "out of memory");
			break;
		}
		struct response r;
		int e = 0;
		for (int attempt = 0; attempt < 2; attempt++) {
			char why[160] = "";
			e = open_conn(rq, &w->u, original, deadline, c, why, sizeof(why));
			if (e < 0) {
				set_outcome(out, 500, "%s", why);
				break;
			}
			bool got_any = false;
			ssize_t wr = conn_write(c, strbuf_str(&req), req.len, deadline);
			if (wr >= 0)
				e = read_response_head(c, deadline, &r, &got_any);
			else
				e = (int)wr;
			if (e >= 0)
				break;
			bool retry = c->reused && !got_any && e != -ETIMEDOUT;
			conn_close(c);
			if (!retry) {
				set_outcome(out, 500, "%s", e == -ETIMEDOUT ? "timeout awaiting response"
					    : e == -EPROTO ? "malformed HTTP response"
					    : e == -E2BIG ? "response head too large"
					    : strerror(-e));
				break;
			}
			original = false; /* retry once on a fresh connection */
		}
		if (e < 0)
			break;
		bool is_redirect = r.status == 301 || r.status == 302 || r.status == 303 ||
				   r.status == 307 || r.status == 308;
		if (is_redirect && !r.has_location && r.status <= 303) {
			/* Go 1.17: "%d response missing Location header" */
			conn_close(c);
			set_outcome(out, 500, "%d response missing Location header", r.status);
			break;
		}
		if (is_redirect && r.has_location) {
			bool absolute, unsupported;
			if (resolve_location(&w->u, r.location, &w->next, &absolute, &unsupported) < 0) {
				conn_close(c);
				set_outcome(out, 500, "failed to parse Location header");
				break;
			}
			bool eof;
			(void)drain_body(c, &r, deadline, 2048, &eof);
			conn_close(c);
			if (strcmp(w->next.host, w->orig.host) != 0) {
				/* kubelet: another w->host counts as success, not contacted */
				set_outcome(out, 200, "redirect to another w->host (%.100s) answered %d",
					    w->next.host, r.status);
				break;
			}
			if (nreq >= MAX_REDIRECT_REQUESTS) {
				set_outcome(out, 500, "stopped after 10 redirects");
				break;
			}
			if (unsupported) {
				set_outcome(out, 500, "unsupported protocol scheme in Location");
				break;
			}
			/* Referer from the previous URL, not from https to http. */
			have_referer = !(w->u.https && !w->next.https);
			if (have_referer)
				url_string(&w->u, w->referer, sizeof(w->referer));
			/* A custom Host survives only a relative Location. */
			if (s.host_override && !absolute && strcmp(s.host_override, w->orig.authority) != 0)
				snprintf(w->host, sizeof(w->host), "%s", s.host_override);
			else
				snprintf(w->host, sizeof(w->host), "%s", w->next.authority);
			prev_port = w->u.port;
			memcpy(w->prev_host, w->u.host, sizeof(w->prev_host));
			w->u = w->next;
			continue;
		}
		bool eof = false;
		e = drain_body(c, &r, deadline, 0, &eof);
		if (e < 0) {
			conn_close(c);
			set_outcome(out, 500, "%s", e == -ETIMEDOUT ? "timeout reading body"
				    : "error reading body");
			break;
		}
		const struct hdr *ch = hdr_find(&s, "Connection");
		bool req_close = !rq->keepalive || (ch && http_token_list_has(ch->value, ch->value_len, "close"));
		if (original && rq->keepalive && rq->pool && !r.close && !eof && !req_close &&
		    c->off == c->len)
			pool_put(rq->pool, w->u.https, (uint16_t)w->u.port, c);
		else
			conn_close(c);
		if (r.status >= 300 && r.status < 400)
			set_outcome(out, 200, "application answered %d", r.status);
		else if (r.status < 200)
			set_outcome(out, 500, "unexpected informational final status %d", r.status);
		else
			set_outcome(out, r.status, "application answered %d", r.status);
		break;
	}
	if (c->fd >= 0)
		conn_close(c);
	free(c->buf);
	free(c);
	strbuf_free(&req);
	reqstate_free(&s);
done:
	free(w);
}

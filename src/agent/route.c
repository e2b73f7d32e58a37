/* route.c - Go-ServeMux-compatible routing of the status server (see route.h). */
#include "agent/route.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#define TEXT_PLAIN "text/plain; charset=utf-8"
#define NOSNIFF "X-Content-Type-Options: nosniff\r\n"

bool agent_peer_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
		return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		if (IN6_IS_ADDR_V4MAPPED(a))
			return a->s6_addr[12] == 127;
	}
	return false;
}

size_t agent_clean_path(const char *p, size_t n, char *buf, size_t cap)
{
	/* buf gets "/" + path.Clean(p), trailing slash kept (cap >= n + 2). */
	size_t w = 0;
	buf[w++] = '/';
	size_t i = 0;
	while (i < n) {
		while (i < n && p[i] == '/')
			i++;
		size_t s = i;
		while (i < n && p[i] != '/')
			i++;
		size_t l = i - s;
		if (l == 0)
			break;
		if (l == 1 && p[s] == '.')
			continue;
		if (l == 2 && p[s] == '.' && p[s + 1] == '.') {
			if (w > 1) {
				w--; /* drop the trailing '/' */
				while (w > 1 && buf[w - 1] != '/')
					w--;
			}
			continue;
		}
		if (w + l + 1 >= cap)
			break;
		memcpy(buf + w, p + s, l);
		w += l;
		buf[w++] = '/';
	}
	if (w > 1)
		w--; /* no trailing slash from the loop */
	if (n > 0 && p[n - 1] == '/' && w > 1)
		buf[w++] = '/';
	buf[w] = 0;
	return w;
}

static bool path_should_escape(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return false;
	return !strchr("-_.~$&+,/:;=@", c) || c == 0;
}

static void html_escape(struct strbuf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '&': strbuf_puts(out, "&amp;"); break;
		case '<': strbuf_puts(out, "&lt;"); break;
		case '>': strbuf_puts(out, "&gt;"); break;
		case '"': strbuf_puts(out, "&#34;"); break;
		case '\'': strbuf_puts(out, "&#39;"); break;
		default: strbuf_putc(out, s[i]);
		}
	}
}

static bool method_is(const struct agent_request *rq, const char *m)
{
	size_t l = strlen(m);
	return rq->method_len == l && memcmp(rq->method, m, l) == 0;
}

/* http.Redirect(w, r, url, 301) for an absolute path (escaped on the way). */
static void redirect(const struct agent_request *rq, const char *path, size_t n, bool close,
		     struct strbuf *out)
{
	struct strbuf loc = STRBUF_INIT;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)path[i];
		if (path_should_escape(c))
			strbuf_printf(&loc, "%%%02X", c);
		else
			strbuf_putc(&loc, (char)c);
	}
	if (rq->query) {
		strbuf_putc(&loc, '?');
		strbuf_append(&loc, rq->query, rq->query_len);
	}
	struct strbuf extra = STRBUF_INIT;
	strbuf_printf(&extra, "Location: %s\r\n", strbuf_str(&loc));
	bool get = method_is(rq, "GET"), head = method_is(rq, "HEAD");
	struct strbuf body = STRBUF_INIT;
	if (get) {
		strbuf_puts(&body, "<a href=\"");
		html_escape(&body, loc.buf ? loc.buf : "", loc.len);
		strbuf_puts(&body, "\">Moved Permanently</a>.\n\n");
	}
	agent_response_write(out, 301, (get || head) ? "text/html; charset=utf-8" : NULL,
			     strbuf_str(&extra), strbuf_str(&body), body.len, close, head);
	strbuf_free(&loc);
	strbuf_free(&extra);
	strbuf_free(&body);
}

static void plain_error(const struct agent_request *rq, int status, const char *body, bool close,
			struct strbuf *out)
{
	agent_response_write(out, status, TEXT_PLAIN, NOSNIFF, body, strlen(body), close,
			     method_is(rq, "HEAD"));
}

static bool exact(const char *path, size_t n, const char *pattern)
{
	size_t l = strlen(pattern);
	return n == l && memcmp(path, pattern, l) == 0;
}

static bool prefix(const char *path, size_t n, const char *pattern)
{
	size_t l = strlen(pattern);
	return n >= l && memcmp(path, pattern, l) == 0;
}

void agent_route(const struct agent_request *rq, const struct probe_config *probers,
		 bool peer_loopback, bool close, struct strbuf *out, struct agent_route *rt)
{
	rt->kind = ROUTE_DONE;
	rt->prober = NULL;
	const char *path = rq->path;
	size_t n = rq->path_len;
	char clean[AGENT_MAX_HEAD + 2];
	size_t cl = agent_clean_path(path, n, clean, sizeof(clean));
	bool head = method_is(rq, "HEAD");

	/* /tree without its slash, when only /tree/ is registered */
	if (exact(clean, cl, "/app-health") || exact(clean, cl, "/debug/pprof")) {
		char slash[32];
		memcpy(slash, clean, cl);
		slash[cl] = '/';
		redirect(rq, slash, cl + 1, close, out);
		return;
	}
	if (cl != n || memcmp(clean, path, n) != 0) {
		redirect(rq, clean, cl, close, out);
		return;
	}
	if (exact(path, n, "/healthz/ready")) {
		rt->kind = ROUTE_READY;
		return;
	}
	if (exact(path, n, "/stats/prometheus")) {
		rt->kind = ROUTE_METRICS;
		return;
	}
	if (exact(path, n, "/quitquitquit")) {
		if (!peer_loopback) {
			plain_error(rq, 403, "Only requests from localhost are allowed\n", close, out);
		} else if (!method_is(rq, "POST")) {
			plain_error(rq, 405, "Method Not Allowed\n", close, out);
		} else {
			agent_response_write(out, 200, TEXT_PLAIN, NULL, "OK", 2, close, false);
			rt->kind = ROUTE_QUIT;
		}
		return;
	}
	if (prefix(path, n, "/app-health/")) {
		const struct prober *p = probe_config_find(probers, path, n);
		if (!p) {
			struct strbuf body = STRBUF_INIT;
			strbuf_puts(&body, "app prober config does not exists for ");
			strbuf_append(&body, path, n);
			agent_response_write(out, 400, TEXT_PLAIN, NULL, strbuf_str(&body), body.len,
					     close, head);
			strbuf_free(&body);
			return;
		}
		rt->kind = ROUTE_PROBE;
		rt->prober = p;
		return;
	}
	if (prefix(path, n, "/debug/pprof/") || exact(path, n, "/debug/ndsz")) {
		if (!peer_loopback) {
			plain_error(rq, 403, "Only requests from localhost are allowed\n", close, out);
		} else if (exact(path, n, "/debug/ndsz")) {
			/* no DNS proxy in skiff */
			agent_response_write(out, 404, TEXT_PLAIN, NULL, "{}", 2, close, head);
		} else {
			/* skiff: no Go runtime to profile (spec 12 RECOMMENDATION) */
			plain_error(rq, 404, "404 page not found\n", close, out);
		}
		return;
	}
	plain_error(rq, 404, "404 page not found\n", close, out);
}

/* request.c - request head parsing and response writing as Go's net/http
 * server does them for the status server (see request.h). */
#include "agent/request.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/http_token.h"

static bool tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int hexv(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

const struct probe_kv *agent_request_header(const struct agent_request *rq, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < rq->n_headers; i++)
		if (rq->headers[i].name_len == nl && memcmp(rq->headers[i].name, name, nl) == 0)
			return &rq->headers[i];
	return NULL;
}

/* Go's CanonicalMIMEHeaderKey for a valid token (the caller checked). */
static void canon_in_place(char *s, size_t n)
{
	bool upper = true;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (upper && c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		else if (!upper && c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		s[i] = c;
		upper = c == '-';
	}
}

#define FAIL(code, text) do { *why = (text); return -(code); } while (0)

int agent_request_parse(char *buf, size_t len, struct agent_request *rq, const char **why)
{
	*why = "";
	/* find the end of the head: CRLFCRLF or LFLF */
	size_t end = 0;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < len && buf[i + 1] == '\n') { end = i + 2; break; }
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n') { end = i + 3; break; }
	}
	if (!end) {
		if (len >= AGENT_MAX_HEAD)
			FAIL(431, "");
		return 0;
	}
	if (end > AGENT_MAX_HEAD)
		FAIL(431, "");
	memset(rq, 0, offsetof(struct agent_request, headers));
	rq->n_headers = 0;
	rq->host = NULL;
	rq->host_len = 0;

	/* request line */
	char *p = buf;
	char *nl = memchr(p, '\n', end);
	size_t ll = (size_t)(nl - p);
	if (ll && p[ll - 1] == '\r')
		ll--;
	const char *s1 = memchr(p, ' ', ll);
	if (!s1)
		FAIL(400, "malformed HTTP request");
	const char *s2 = memchr(s1 + 1, ' ', ll - (size_t)(s1 + 1 - p));
	if (!s2)
		FAIL(400, "malformed HTTP request");
	rq->method = p;
	rq->method_len = (size_t)(s1 - p);
	if (!rq->method_len)
		FAIL(400, "invalid method");
	for (size_t i = 0; i < rq->method_len; i++)
		if (!tchar((unsigned char)p[i]))
			FAIL(400, "invalid method");
	char *uri = (char *)s1 + 1;
	size_t ul = (size_t)(s2 - uri);
	const char *proto = s2 + 1;
	size_t pl = ll - (size_t)(proto - p);
	if (pl != 8 || memcmp(proto, "HTTP/", 5) != 0 || proto[6] != '.' ||
	    proto[5] < '0' || proto[5] > '9' || proto[7] < '0' || proto[7] > '9')
		FAIL(400, "malformed HTTP version");
	if (proto[5] != '1')
		FAIL(505, "");
	rq->http11 = proto[7] >= '1';

	/* request target: origin form, or absolute form (path taken from it) */
	if (ul == 0)
		FAIL(400, "invalid URI");
	for (size_t i = 0; i < ul; i++)
		if ((unsigned char)uri[i] < 0x21 || uri[i] == 0x7f)
			FAIL(400, "invalid URI");
	if (uri[0] != '/') {
		const char *sch = NULL;
		if (ul > 7 && strncasecmp(uri, "http://", 7) == 0)
			sch = uri + 7;
		else if (ul > 8 && strncasecmp(uri, "https://", 8) == 0)
			sch = uri + 8;
		else if (ul == 1 && uri[0] == '*')
			sch = NULL;
		else
			FAIL(400, "invalid URI");
		if (sch) {
			char *slash = memchr(sch, '/', ul - (size_t)(sch - uri));
			if (!slash) {
				/* "http://host" has an empty path: Go routes it as "/" */
				rq->path = "/";
				rq->path_len = 1;
				ul = 0;
			} else {
				ul -= (size_t)(slash - uri);
				uri = slash;
			}
		}
	}
	char *q = ul ? memchr(uri, '?', ul) : NULL;
	size_t rawpath = q ? (size_t)(q - uri) : ul;
	if (q) {
		rq->query = q + 1;
		rq->query_len = ul - rawpath - 1;
	}
	size_t w = 0;
	for (size_t i = 0; i < rawpath; i++) {
		char c = uri[i];
		if (c == '%') {
			int a, b;
			if (i + 2 >= rawpath)
				FAIL(400, "invalid URI");
			a = hexv(uri[i + 1]);
			b = hexv(uri[i + 2]);
			if (a < 0 || b < 0)
				FAIL(400, "invalid URI");
			c = (char)(a * 16 + b);
			i += 2;
		}
		uri[w++] = c; /* decoded in place: never longer than the raw path */
	}
	if (ul) {
		rq->path = uri;
		rq->path_len = w;
	}

	/* headers */
	char *line = nl + 1;
	bool conn_close = false, conn_keep = false;
	int hosts = 0;
	bool have_cl = false;
	for (;;) {
		char *lend = memchr(line, '\n', (size_t)(buf + end - line));
		size_t n = (size_t)(lend - line);
		char *next = lend + 1;
		if (n && line[n - 1] == '\r')
			n--;
		if (n == 0)
			break;
		if (line[0] == ' ' || line[0] == '\t')
			FAIL(400, "malformed MIME header line");
		const char *colon = memchr(line, ':', n);
		if (!colon)
			FAIL(400, "malformed MIME header line");
		size_t kl = (size_t)(colon - line);
		const char *v = colon + 1;
		size_t vl = n - kl - 1;
		while (vl && (*v == ' ' || *v == '\t')) { v++; vl--; }
		while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
		for (size_t i = 0; i < vl; i++) {
			unsigned char c = (unsigned char)v[i];
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				FAIL(400, "invalid header value");
		}
		if (kl == 0) { /* Go skips an empty key */
			line = next;
			continue;
		}
		for (size_t i = 0; i < kl; i++)
			if (!tchar((unsigned char)line[i]))
				FAIL(400, "invalid header name");
		if (kl == 4 && strncasecmp(line, "Host", 4) == 0) {
			hosts++;
			rq->host = v;
			rq->host_len = vl;
			line = next;
			continue;
		}
		if (rq->n_headers >= AGENT_MAX_HEADERS)
			FAIL(431, "");
		char *cn = line; /* canonical in place (same length) */
		canon_in_place(cn, kl);
		struct probe_kv *h = &rq->headers[rq->n_headers++];
		*h = (struct probe_kv){ cn, kl, v, vl };
		if (kl == 10 && !memcmp(cn, "Connection", 10)) {
			if (http_token_list_has(v, vl, "close"))
				conn_close = true;
			if (http_token_list_has(v, vl, "keep-alive"))
				conn_keep = true;
		} else if (kl == 14 && !memcmp(cn, "Content-Length", 14)) {
			long long x = 0;
			if (vl == 0 || vl > 18)
				FAIL(400, "bad Content-Length");
			for (size_t i = 0; i < vl; i++) {
				if (v[i] < '0' || v[i] > '9')
					FAIL(400, "bad Content-Length");
				x = x * 10 + (v[i] - '0');
			}
			if (have_cl && x != rq->content_length)
				FAIL(400, "bad Content-Length");
			have_cl = true;
			rq->content_length = x;
		} else if (kl == 17 && !memcmp(cn, "Transfer-Encoding", 17)) {
			if (vl == 7 && strncasecmp(v, "chunked", 7) == 0)
				rq->chunked = true;
			else
				FAIL(501, "");
		}
		line = next;
	}
	if (hosts > 1)
		FAIL(400, "too many Host headers");
	if (rq->http11 && hosts == 0)
		FAIL(400, "missing required Host header");
	for (size_t i = 0; i < rq->host_len; i++) {
		unsigned char c = (unsigned char)rq->host[i];
		if (c <= ' ' || c == 0x7f || c == '/' || c == '\\')
			FAIL(400, "malformed Host header");
	}
	if (rq->chunked)
		rq->content_length = 0;
	rq->keep_alive = rq->http11 ? !conn_close : (conn_keep && !conn_close);
	if (rq->chunked)
		rq->keep_alive = false;
	return (int)end;
}

const char *agent_status_text(int s)
{
	switch (s) {
	case 100: return "Continue"; case 101: return "Switching Protocols";
	case 102: return "Processing"; case 103: return "Early Hints";
	case 200: return "OK"; case 201: return "Created"; case 202: return "Accepted";
	case 203: return "Non-Authoritative Information"; case 204: return "No Content";
	case 205: return "Reset Content"; case 206: return "Partial Content";
	case 207: return "Multi-Status"; case 208: return "Already Reported"; case 226: return "IM Used";
	case 300: return "Multiple Choices"; case 301: return "Moved Permanently"; case 302: return "Found";
	case 303: return "See Other"; case 304: return "Not Modified"; case 305: return "Use Proxy";
	case 307: return "Temporary Redirect"; case 308: return "Permanent Redirect";
	case 400: return "Bad Request"; case 401: return "Unauthorized"; case 402: return "Payment Required";
	case 403: return "Forbidden"; case 404: return "Not Found"; case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable"; case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout"; case 409: return "Conflict"; case 410: return "Gone";
	case 411: return "Length Required"; case 412: return "Precondition Failed";
	case 413: return "Request Entity Too Large"; case 414: return "Request URI Too Long";
	case 415: return "Unsupported Media Type"; case 416: return "Requested Range Not Satisfiable";
	case 417: return "Expectation Failed"; case 418: return "I'm a teapot";
	case 421: return "Misdirected Request"; case 422: return "Unprocessable Entity";
	case 423: return "Locked"; case 424: return "Failed Dependency"; case 425: return "Too Early";
	case 426: return "Upgrade Required"; case 428: return "Precondition Required";
	case 429: return "Too Many Requests"; case 431: return "Request Header Fields Too Large";
	case 451: return "Unavailable For Legal Reasons";
	case 500: return "Internal Server Error"; case 501: return "Not Implemented";
	case 502: return "Bad Gateway"; case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout"; case 505: return "HTTP Version Not Supported";
	case 506: return "Variant Also Negotiates"; case 507: return "Insufficient Storage";
	case 508: return "Loop Detected"; case 510: return "Not Extended";
	case 511: return "Network Authentication Required";
	default: return "";
	}
}

void agent_response_write(struct strbuf *out, int status, const char *content_type,
			  const char *extra, const char *body, size_t body_len, bool close,
			  bool head_only)
{
	const char *text = agent_status_text(status);
	if (*text)
		strbuf_printf(out, "HTTP/1.1 %03d %s\r\n", status, text);
	else
		strbuf_printf(out, "HTTP/1.1 %03d status code %d\r\n", status, status);
	if (content_type)
		strbuf_printf(out, "Content-Type: %s\r\n", content_type);
	if (extra)
		strbuf_puts(out, extra);
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
	strbuf_puts(out, date);
	if (status >= 200 && status != 204 && status != 304)
		strbuf_printf(out, "Content-Length: %zu\r\n", body_len);
	if (close)
		strbuf_puts(out, "Connection: close\r\n");
	strbuf_puts(out, "\r\n");
	if (!head_only && body_len)
		strbuf_append(out, body, body_len);
}

void agent_response_bad_request(struct strbuf *out, int status, const char *why)
{
	const char *text = agent_status_text(status);
	if (status == 501)
		text = "Unsupported transfer encoding";
	strbuf_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
		      "Connection: close\r\n\r\n%d %s", status, agent_status_text(status), status, text);
	if (why && *why)
		strbuf_printf(out, ": %s", why);
}

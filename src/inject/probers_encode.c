/* probers_encode.c - Go encoding/json semantics for ISTIO_KUBE_APP_PROBERS. */
#include "inject/probers_encode.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char hexd[] = "0123456789abcdef";

/* Length of the valid UTF-8 sequence at S (0 = invalid). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t k;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) { k = 2; cp = c & 0x1f; }
	else if ((c & 0xf0) == 0xe0) { k = 3; cp = c & 0x0f; }
	else if ((c & 0xf8) == 0xf0) { k = 4; cp = c & 0x07; }
	else return 0;
	if (k > n)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return k;
}

static void go_string(struct strbuf *out, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	strbuf_putc(out, '"');
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		if (c < 0x80) {
			switch (c) {
			case '"': strbuf_puts(out, "\\\""); break;
			case '\\': strbuf_puts(out, "\\\\"); break;
			case '\n': strbuf_puts(out, "\\n"); break;
			case '\r': strbuf_puts(out, "\\r"); break;
			case '\t': strbuf_puts(out, "\\t"); break;
			case '<': case '>': case '&':
				strbuf_puts(out, "\\u00");
				strbuf_putc(out, hexd[c >> 4]);
				strbuf_putc(out, hexd[c & 15]);
				break;
			default:
				if (c < 0x20) {
					strbuf_puts(out, "\\u00");
					strbuf_putc(out, hexd[c >> 4]);
					strbuf_putc(out, hexd[c & 15]);
				} else {
					strbuf_putc(out, (char)c);
				}
			}
			i++;
			continue;
		}
		size_t k = utf8_len(s + i, n - i);
		if (k == 0) {
			strbuf_puts(out, "\\ufffd");
			i++;
			continue;
		}
		if (k == 3 && s[i] == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
			strbuf_puts(out, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
		} else {
			strbuf_append(out, (const char *)s + i, k);
		}
		i += k;
	}
	strbuf_putc(out, '"');
}

static int cmp_key(const void *a, const void *b)
{
	const struct inj_prober *x = a, *y = b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(x->key, y->key, n);
	if (c)
		return c;
	if (x->key_len != y->key_len)
		return x->key_len < y->key_len ? -1 : 1;
	return 0;
}

static void member(struct strbuf *out, bool *first, const char *name)
{
	if (!*first)
		strbuf_putc(out, ',');
	*first = false;
	go_string(out, name, strlen(name));
	strbuf_putc(out, ':');
}

static void opt_str(struct strbuf *out, bool *first, const char *name, const char *v)
{
	if (v && *v) {
		member(out, first, name);
		go_string(out, v, strlen(v));
	}
}

void inj_probers_encode(struct inj_prober *list, size_t n, struct strbuf *out)
{
	/* a later duplicate key wins: drop the earlier ones, then sort */
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		bool dup = false;
		for (size_t j = i + 1; j < n && !dup; j++)
			dup = list[i].key_len == list[j].key_len &&
			      memcmp(list[i].key, list[j].key, list[i].key_len) == 0;
		if (!dup)
			list[m++] = list[i];
	}
	n = m;
	qsort(list, n, sizeof(*list), cmp_key);
	strbuf_putc(out, '{');
	bool first_entry = true;
	for (size_t i = 0; i < n; i++) {
		const struct inj_prober *p = &list[i];
		if (!first_entry)
			strbuf_putc(out, ',');
		first_entry = false;
		go_string(out, p->key, p->key_len);
		strbuf_puts(out, ":{");
		bool f = true;
		switch (p->type) {
		case INJ_PROBER_HTTP:
			member(out, &f, "httpGet");
			strbuf_putc(out, '{');
			{
				bool g = true;
				opt_str(out, &g, "path", p->path);
				member(out, &g, "port");
				strbuf_printf(out, "%d", p->port);
				opt_str(out, &g, "host", p->host);
				opt_str(out, &g, "scheme", p->scheme);
				if (p->n_headers) {
					member(out, &g, "httpHeaders");
					strbuf_putc(out, '[');
					for (size_t h = 0; h < p->n_headers; h++) {
						if (h)
							strbuf_putc(out, ',');
						strbuf_puts(out, "{\"name\":");
						go_string(out, p->headers[h].name, strlen(p->headers[h].name));
						strbuf_puts(out, ",\"value\":");
						go_string(out, p->headers[h].value, strlen(p->headers[h].value));
						strbuf_putc(out, '}');
					}
					strbuf_putc(out, ']');
				}
			}
			strbuf_putc(out, '}');
			break;
		case INJ_PROBER_TCP:
			member(out, &f, "tcpSocket");
			strbuf_putc(out, '{');
			{
				bool g = true;
				member(out, &g, "port");
				strbuf_printf(out, "%d", p->port);
				opt_str(out, &g, "host", p->host);
			}
			strbuf_putc(out, '}');
			break;
		case INJ_PROBER_GRPC:
			member(out, &f, "grpc");
			strbuf_printf(out, "{\"port\":%d,\"service\":", p->port);
			if (p->service)
				go_string(out, p->service, p->service_len);
			else
				strbuf_puts(out, "null");
			strbuf_putc(out, '}');
			break;
		}
		if (p->timeout_seconds) {
			member(out, &f, "timeoutSeconds");
			strbuf_printf(out, "%d", p->timeout_seconds);
		}
		strbuf_putc(out, '}');
	}
	strbuf_putc(out, '}');
}

/* netaddr.c - strict IP/CIDR parsing and canonical printing (see netaddr.h). */
#include "base/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int netaddr_parse_ip4(const char *s, uint8_t out[4])
{
	uint8_t a[4];
	const char *p = s;
	for (int i = 0; i < 4; i++) {
		if (i > 0) {
			if (*p != '.')
				return -EINVAL;
			p++;
		}
		if (*p < '0' || *p > '9')
			return -EINVAL;
		if (*p == '0' && p[1] >= '0' && p[1] <= '9')
			return -EINVAL; /* leading zero: Go refuses it */
		unsigned v = 0;
		int digits = 0;
		while (*p >= '0' && *p <= '9') {
			v = v * 10 + (unsigned)(*p - '0');
			if (++digits > 3 || v > 255)
				return -EINVAL;
			p++;
		}
		a[i] = (uint8_t)v;
	}
	if (*p != '\0')
		return -EINVAL;
	memcpy(out, a, 4);
	return 0;
}

static bool is_v4_mapped(const uint8_t a[16])
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return memcmp(a, prefix, 12) == 0;
}

int netaddr_parse_ip(const char *s, int *family, uint8_t out[16])
{
	uint8_t a[16] = { 0 };
	if (netaddr_parse_ip4(s, a) == 0) {
		*family = AF_INET;
		memcpy(out, a, 16);
		return 0;
	}
	if (!strchr(s, ':') || strchr(s, '%'))
		return -EINVAL;
	/* inet_pton's embedded dotted quad refuses leading zeros, like Go. */
	if (inet_pton(AF_INET6, s, a) != 1)
		return -EINVAL;
	if (is_v4_mapped(a)) {
		*family = AF_INET;
		memset(out, 0, 16);
		memcpy(out, a + 12, 4);
		return 0;
	}
	*family = AF_INET6;
	memcpy(out, a, 16);
	return 0;
}

static void mask_bits(uint8_t *a, size_t len, unsigned prefix)
{
	for (size_t i = 0; i < len; i++) {
		unsigned bit = (unsigned)i * 8;
		if (bit >= prefix)
			a[i] = 0;
		else if (prefix - bit < 8)
			a[i] &= (uint8_t)(0xff << (8 - (prefix - bit)));
	}
}

int netaddr_parse_cidr(const char *s, struct netaddr_cidr *out)
{
	const char *slash = strchr(s, '/');
	if (!slash || slash == s || slash - s >= 64)
		return -EINVAL;
	char addr[64];
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';

	const char *p = slash + 1;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	unsigned prefix = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		prefix = prefix * 10 + (unsigned)(*p - '0');
		if (prefix > 1000)
			return -ERANGE;
	}

	struct netaddr_cidr c = { 0 };
	uint8_t raw[16] = { 0 };
	if (netaddr_parse_ip4(addr, raw) == 0) {
		if (prefix > 32)
			return -ERANGE;
		c.family = AF_INET;
		c.loopback = raw[0] == 127;
	} else {
		if (!strchr(addr, ':') || strchr(addr, '%'))
			return -EINVAL;
		if (inet_pton(AF_INET6, addr, raw) != 1)
			return -EINVAL;
		if (prefix > 128)
			return -ERANGE;
		if (is_v4_mapped(raw) && prefix >= 96) {
			c.family = AF_INET;
			memmove(raw, raw + 12, 4);
			memset(raw + 4, 0, 12);
			prefix -= 96;
			c.loopback = raw[0] == 127;
		} else {
			static const uint8_t one[16] = { [15] = 1 };
			c.family = AF_INET6;
			c.loopback = memcmp(raw, one, 16) == 0;
		}
	}
	mask_bits(raw, c.family == AF_INET ? 4 : 16, prefix);
	memcpy(c.addr, raw, 16);
	c.prefix = prefix;
	*out = c;
	return 0;
}

void netaddr_ip6_format(const uint8_t a[16], char *buf, size_t size)
{
	unsigned w[8];
	for (int i = 0; i < 8; i++)
		w[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
	/* Longest run of zero words, first one on a tie, only if >= 2 long. */
	int best = -1, best_len = 0;
	for (int i = 0; i < 8;) {
		if (w[i] != 0) {
			i++;
			continue;
		}
		int j = i;
		while (j < 8 && w[j] == 0)
			j++;
		if (j - i > best_len) {
			best = i;
			best_len = j - i;
		}
		i = j;
	}
	if (best_len < 2)
		best = -1;
	size_t n = 0;
	buf[0] = '\0';
	for (int i = 0; i < 8 && n < size; i++) {
		if (i == best) {
			n += (size_t)snprintf(buf + n, size - n, "::");
			i += best_len - 1;
			continue;
		}
		bool after_gap = best >= 0 && i == best + best_len;
		n += (size_t)snprintf(buf + n, size - n, "%s%x",
				      (i == 0 || after_gap) ? "" : ":", w[i]);
	}
}

void netaddr_cidr_format(const struct netaddr_cidr *c, char *buf, size_t size)
{
	if (c->family == AF_INET) {
		snprintf(buf, size, "%u.%u.%u.%u/%u", c->addr[0], c->addr[1], c->addr[2],
			 c->addr[3], c->prefix);
		return;
	}
	char ip[48];
	netaddr_ip6_format(c->addr, ip, sizeof(ip));
	snprintf(buf, size, "%s/%u", ip, c->prefix);
}

/* goparse.c - Go duration and base-prefixed integer syntax (see goparse.h). */
#include "base/goparse.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

struct unit {
	const char *name;
	int64_t ns;
};

static const struct unit units[] = {
	{ "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 }, /* U+00B5 micro sign */
	{ "\xce\xbcs", 1000 },                              /* U+03BC greek mu */
	{ "ms", 1000000 }, { "s", 1000000000LL }, { "m", 60000000000LL },
	{ "h", 3600000000000LL },
};

int parse_go_duration(const char *s, int64_t *out_ns)
{
	if (!s || !*s)
		return -EINVAL;
	const char *p = s;
	bool neg = false;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (strcmp(p, "0") == 0) {
		*out_ns = 0;
		return 0;
	}
	if (!*p)
		return -EINVAL;
	uint64_t total = 0;
	while (*p) {
		uint64_t whole = 0, frac = 0, scale = 1;
		bool digits = false, overflow = false;
		while (*p >= '0' && *p <= '9') {
			if (whole > (UINT64_MAX - 9) / 10)
				overflow = true;
			else
				whole = whole * 10 + (uint64_t)(*p - '0');
			digits = true;
			p++;
		}
		if (*p == '.') {
			p++;
			while (*p >= '0' && *p <= '9') {
				if (scale < 1000000000000000000ULL) {
					frac = frac * 10 + (uint64_t)(*p - '0');
					scale *= 10;
				}
				digits = true;
				p++;
			}
		}
		if (!digits)
			return -EINVAL;
		const struct unit *u = NULL;
		size_t best = 0;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t n = strlen(units[i].name);
			if (strncmp(p, units[i].name, n) == 0 && n > best) {
				u = &units[i];
				best = n;
			}
		}
		if (!u)
			return -EINVAL;
		p += best;
		if (overflow || (whole > 0 && (uint64_t)u->ns > (uint64_t)INT64_MAX / whole))
			return -ERANGE;
		uint64_t v = whole * (uint64_t)u->ns;
		if (frac > 0)
			v += (uint64_t)((long double)frac * (long double)u->ns / (long double)scale);
		if (v > (uint64_t)INT64_MAX - total)
			return -ERANGE;
		total += v;
	}
	*out_ns = neg ? -(int64_t)total : (int64_t)total;
	return 0;
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	return 99;
}

int parse_go_uint(const char *s, uint64_t max, uint64_t *out)
{
	if (!s || !*s)
		return -EINVAL;
	unsigned base = 10;
	const char *p = s;
	bool prefixed = false;
	if (p[0] == '0' && p[1]) {
		char c = p[1];
		if (c == 'x' || c == 'X')
			base = 16, p += 2, prefixed = true;
		else if (c == 'o' || c == 'O')
			base = 8, p += 2, prefixed = true;
		else if (c == 'b' || c == 'B')
			base = 2, p += 2, prefixed = true;
		else
			base = 8, p += 1, prefixed = true;
	}
	if (!*p)
		return -EINVAL;
	uint64_t v = 0;
	bool any = false, last_us = false;
	for (; *p; p++) {
		if (*p == '_') {
			if (!prefixed || last_us)
				return -EINVAL;
			last_us = true;
			continue;
		}
		last_us = false;
		int d = digit_value(*p);
		if (d >= (int)base)
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			return -ERANGE;
		v = v * base + (uint64_t)d;
		any = true;
	}
	if (!any || last_us)
		return -EINVAL;
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* http_token.c - token-list header values (see http_token.h). */
#include "base/http_token.h"

#include <string.h>
#include <strings.h>

bool http_token_list_has(const char *v, size_t n, const char *token)
{
	size_t tl = strlen(token), i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < n && v[i] != ',')
			i++;
		size_t e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && strncasecmp(v + s, token, tl) == 0)
			return true;
	}
	return false;
}

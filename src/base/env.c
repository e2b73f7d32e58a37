/* env.c - lookups in an explicit environment array (see env.h). */
#include "base/env.h"

#include <stddef.h>
#include <string.h>

const char *env_get(char *const *envp, const char *name)
{
	if (!envp || !name)
		return NULL;
	size_t n = strlen(name);
	for (char *const *e = envp; *e; e++) {
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	}
	return NULL;
}

const char *env_get_nonempty(char *const *envp, const char *name)
{
	const char *v = env_get(envp, name);
	return (v && *v) ? v : NULL;
}

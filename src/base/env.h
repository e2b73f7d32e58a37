/* env.h - read-only access to a process environment passed in explicitly.
 *
 * Commands get the environment as a `char **envp` from main() rather than
 * calling getenv(), so tests can hand a core any environment they like. */
#ifndef SKIFF_BASE_ENV_H
#define SKIFF_BASE_ENV_H

#include <stdbool.h>

/* The value of NAME in envp, or NULL when it is not set. */
const char *env_get(char *const *envp, const char *name);

/* The value when set and non-empty, else NULL (Istio's "empty means unset"). */
const char *env_get_nonempty(char *const *envp, const char *name);

#endif

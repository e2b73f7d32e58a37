/* cleanup.h - scope-bound release of resources (GNU C cleanup attribute).
 *
 *   _cleanup_free_ char *s = strdup(x);      freed on every return path
 *   _cleanup_fclose_ FILE *f = fopen(...);
 *   _cleanup_close_ int fd = open(...);      closed when >= 0
 *
 * TAKE_PTR(p) hands ownership out of the scope (returns p, leaves NULL). */
#ifndef SKIFF_BASE_CLEANUP_H
#define SKIFF_BASE_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_freep(void *p) { free(*(void **)p); }
static inline void cleanup_fclosep(FILE **f) { if (*f) fclose(*f); }
static inline void cleanup_closep(int *fd) { if (*fd >= 0) close(*fd); }

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(cleanup_freep)
#define _cleanup_fclose_ _cleanup_(cleanup_fclosep)
#define _cleanup_close_ _cleanup_(cleanup_closep)

#define TAKE_PTR(p) ({ __typeof__(p) _tp = (p); (p) = NULL; _tp; })
#define TAKE_FD(fd) ({ int _tf = (fd); (fd) = -1; _tf; })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif

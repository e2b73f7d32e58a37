/* fileio.h - whole-file reads and all-or-nothing writes.
 *
 * Output files are never left half-written: file_write_atomic() writes a
 * temporary file in the same directory, fsyncs it and renames it over the
 * target, so a reader sees the old file or the whole new one. */
#ifndef SKIFF_BASE_FILEIO_H
#define SKIFF_BASE_FILEIO_H

#include <stddef.h>

#include "base/err.h"

/* Read all of PATH ("-" = stdin) into a NUL-terminated heap buffer the caller
 * frees. Refuses files larger than max_bytes. `what` names the input in
 * messages ("-f", "--resolv-conf"). */
int file_read_all(const char *path, size_t max_bytes, const char *what,
		  char **out, size_t *out_len, struct skiff_err *e);

/* Replace PATH with DATA atomically ("-" = stdout). */
int file_write_atomic(const char *path, const char *data, size_t len,
		      const char *what, struct skiff_err *e);

#endif

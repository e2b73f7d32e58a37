/* fileio.c - whole-file read, atomic write (see fileio.h). */
#include "base/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"

static int read_fd(int fd, size_t max_bytes, const char *what, const char *path,
		   char **out, size_t *out_len, struct skiff_err *e)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return err_set(e, SKIFF_ENOMEM, "%s: out of memory reading %s", what, path);
	for (;;) {
		if (len + 1 >= cap) {
			if (cap > max_bytes) {
				free(buf);
				return err_set(e, SKIFF_EINVAL, "%s: %s is larger than %zu bytes",
					       what, path, max_bytes);
			}
			char *p = realloc(buf, cap * 2);
			if (!p) {
				free(buf);
				return err_set(e, SKIFF_ENOMEM, "%s: out of memory reading %s", what, path);
			}
			buf = p;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			free(buf);
			return err_set(e, r, "%s: cannot read %s: %s", what, path, strerror(-r));
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max_bytes) {
			free(buf);
			return err_set(e, SKIFF_EINVAL, "%s: %s is larger than %zu bytes", what, path,
				       max_bytes);
		}
	}
	buf[len] = '\0';
	*out = buf;
	if (out_len)
		*out_len = len;
	return 0;
}

int file_read_all(const char *path, size_t max_bytes, const char *what,
		  char **out, size_t *out_len, struct skiff_err *e)
{
	if (strcmp(path, "-") == 0)
		return read_fd(STDIN_FILENO, max_bytes, what, "standard input", out, out_len, e);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, -errno, "%s: cannot open %s: %s", what, path, strerror(errno));
	return read_fd(fd, max_bytes, what, path, out, out_len, e);
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int file_write_atomic(const char *path, const char *data, size_t len,
		      const char *what, struct skiff_err *e)
{
	if (strcmp(path, "-") == 0) {
		int r = write_all(STDOUT_FILENO, data, len);
		if (r < 0)
			return err_set(e, r, "%s: cannot write standard output: %s", what, strerror(-r));
		return 0;
	}
	size_t n = strlen(path) + sizeof(".skiff-XXXXXX");
	_cleanup_free_ char *tmp = malloc(n);
	if (!tmp)
		return err_set(e, SKIFF_ENOMEM, "%s: out of memory", what);
	snprintf(tmp, n, "%s.skiff-XXXXXX", path);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return err_set(e, -errno, "%s: cannot create %s: %s", what, path, strerror(errno));
	int r = write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0)
		(void)fchmod(fd, 0644);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return err_set(e, r, "%s: cannot write %s: %s", what, path, strerror(-r));
	}
	return 0;
}

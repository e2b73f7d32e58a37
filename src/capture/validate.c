/* validate.c - the validation probe: listeners on the two capture ports,
 * a client that keeps connecting to the passthrough address. */
#include "capture/validate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "capture/apply.h"

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static socklen_t make_addr(bool v6, const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		inet_pton(AF_INET6, ip, &a->sin6_addr);
		return sizeof(*a);
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	inet_pton(AF_INET, ip, &a->sin_addr);
	return sizeof(*a);
}

static int listen_on(bool v6, const char *ip, uint16_t port)
{
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	struct sockaddr_storage ss;
	socklen_t len = make_addr(v6, ip, port, &ss);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 16) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* Accept one connection; returns 1 when its original port is PROBE. */
static int serve_one(int lfd, bool v6, uint16_t probe)
{
	int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return 0;
	struct sockaddr_storage orig;
	socklen_t len = sizeof(orig);
	int r = getsockopt(c, v6 ? SOL_IPV6 : SOL_IP, SO_ORIGINAL_DST, &orig, &len);
	if (r < 0) {
		log_info("validation: connection without an original destination (%s)", strerror(errno));
		close(c);
		return 0;
	}
	uint16_t port = v6 ? ntohs(((struct sockaddr_in6 *)&orig)->sin6_port)
			   : ntohs(((struct sockaddr_in *)&orig)->sin_port);
	char buf[8];
	int n = snprintf(buf, sizeof(buf), "%u", port);
	(void)!write(c, buf, (size_t)n);
	close(c);
	log_info("validation: connection with original port %u", port);
	return port == probe;
}

int capture_validate(const struct capture_config *cfg, struct skiff_err *e)
{
	const bool v6 = cfg->ipv6;
	const char *listen_ip = v6 ? "::1" : "127.0.0.1";
	const char *target_ip = v6 ? "::6" : "127.0.0.6";
	const char *ports[2] = { cfg->proxy_port, cfg->inbound_capture_port };
	int lfd[2] = { -1, -1 };
	int nl = 0;
	for (int i = 0; i < 2; i++) {
		uint16_t p = (uint16_t)atoi(ports[i]);
		lfd[i] = listen_on(v6, listen_ip, p);
		if (lfd[i] < 0)
			log_warn("validation: cannot listen on %s port %u: %s", listen_ip, p, strerror(-lfd[i]));
		else
			nl++;
	}
	if (nl == 0)
		return err_set_exit(e, SKIFF_EIO, CAPTURE_EXIT_VALIDATION,
				    "validation failed: no listener available: %s:%s,%s:%s", listen_ip,
				    ports[0], listen_ip, ports[1]);
	const int64_t deadline = now_ns() + cfg->probe_timeout_ns;
	int64_t next_try = now_ns();
	int client = -1;
	int ok = 0;
	while (!ok) {
		int64_t t = now_ns();
		if (t >= deadline)
			break;
		if (t >= next_try) {
			if (client >= 0)
				close(client);
			client = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
			if (client >= 0) {
				struct sockaddr_storage src, dst;
				socklen_t sl = make_addr(v6, listen_ip, 0, &src);
				socklen_t dl = make_addr(v6, target_ip, cfg->probe_port, &dst);
				if (bind(client, (struct sockaddr *)&src, sl) < 0 ||
				    (connect(client, (struct sockaddr *)&dst, dl) < 0 && errno != EINPROGRESS))
					log_info("validation: connect to %s:%u: %s", target_ip, cfg->probe_port,
						 strerror(errno));
			}
			next_try = t + 1000000000LL;
		}
		int64_t wait = (next_try < deadline ? next_try : deadline) - now_ns();
		int ms = wait > 0 ? (int)((wait + 999999) / 1000000) : 0;
		struct pollfd p[2];
		int np = 0, map[2];
		for (int i = 0; i < 2; i++) {
			if (lfd[i] >= 0) {
				p[np] = (struct pollfd){ lfd[i], POLLIN, 0 };
				map[np++] = i;
			}
		}
		int r = poll(p, (nfds_t)np, ms);
		if (r < 0 && errno != EINTR)
			break;
		for (int i = 0; i < np && r > 0; i++)
			if (p[i].revents & POLLIN)
				ok |= serve_one(lfd[map[i]], v6, cfg->probe_port);
	}
	if (client >= 0)
		close(client);
	for (int i = 0; i < 2; i++)
		if (lfd[i] >= 0)
			close(lfd[i]);
	if (!ok)
		return err_set_exit(e, SKIFF_EIO, CAPTURE_EXIT_VALIDATION,
				    "validation timeout: no connection to %s:%u was redirected to port %s or %s",
				    target_ip, cfg->probe_port, ports[0], ports[1]);
	log_info("Validation passed, iptables rules established");
	return 0;
}

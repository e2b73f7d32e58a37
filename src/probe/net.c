/* net.c - probe sockets: bound source, deadline-bounded connect and waits,
 * abortive close (see net.h). */
#include "probe/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

int probe_net_wait(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		int timeout = -1;
		if (deadline_ms) {
			int64_t left = deadline_ms - probe_now_ms();
			if (left <= 0)
				return -ETIMEDOUT;
			timeout = left > 1000000 ? 1000000 : (int)left;
		}
		struct pollfd pfd = { .fd = fd, .events = events };
		int r = poll(&pfd, 1, timeout);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

void probe_net_close(int fd, bool abortive)
{
	if (fd < 0)
		return;
	if (abortive) {
		struct linger l = { .l_onoff = 1, .l_linger = 0 };
		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	close(fd);
}

void probe_net_authority(const char *host, unsigned port, char *buf, size_t cap)
{
	struct in6_addr a6;
	bool bracket = strchr(host, ':') && inet_pton(AF_INET6, host, &a6) == 1 &&
		       !IN6_IS_ADDR_V4MAPPED(&a6);
	snprintf(buf, cap, bracket ? "[%s]:%u" : "%s:%u", host, port);
}

static int connect_one(const struct sockaddr *dst, socklen_t dlen, bool v6,
		       int64_t deadline_ms, char *why, size_t why_len)
{
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, why_len, "socket: %s", strerror(errno));
		return -errno;
	}
	int one = 1;
	(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int r;
	if (v6) {
		struct sockaddr_in6 src = { .sin6_family = AF_INET6 };
		inet_pton(AF_INET6, PROBE_SOURCE_V6, &src.sin6_addr);
		r = bind(fd, (struct sockaddr *)&src, sizeof(src));
	} else {
		struct sockaddr_in src = { .sin_family = AF_INET };
		inet_pton(AF_INET, PROBE_SOURCE_V4, &src.sin_addr);
		r = bind(fd, (struct sockaddr *)&src, sizeof(src));
	}
	if (r < 0) {
		r = -errno;
		snprintf(why, why_len, "bind %s: %s", v6 ? PROBE_SOURCE_V6 : PROBE_SOURCE_V4,
			 strerror(errno));
		close(fd);
		return r;
	}
	if (connect(fd, dst, dlen) < 0) {
		if (errno != EINPROGRESS) {
			r = -errno;
			snprintf(why, why_len, "connect: %s", strerror(errno));
			probe_net_close(fd, true);
			return r;
		}
		r = probe_net_wait(fd, POLLOUT, deadline_ms);
		if (r < 0) {
			snprintf(why, why_len, "connect: timeout");
			probe_net_close(fd, true);
			return r;
		}
		int err = 0;
		socklen_t elen = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
		if (err) {
			snprintf(why, why_len, "connect: %s", strerror(err));
			probe_net_close(fd, true);
			return -err;
		}
	}
	return fd;
}

int probe_net_connect(const struct probe_endpoint *ep, bool strict_literal,
		      int64_t deadline_ms, char *why, size_t why_len)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(ep->port) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(ep->port) };
	if (ep->port == 0) {
		snprintf(why, why_len, "connect: port 0");
		return -ECONNREFUSED;
	}
	if (inet_pton(AF_INET, ep->host, &a4.sin_addr) == 1) {
		if (ep->ipv6) {
			snprintf(why, why_len, "dial %s: no suitable address found", ep->host);
			return -EAFNOSUPPORT;
		}
		return connect_one((struct sockaddr *)&a4, sizeof(a4), false, deadline_ms, why,
				   why_len);
	}
	if (inet_pton(AF_INET6, ep->host, &a6.sin6_addr) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&a6.sin6_addr)) {
			if (strict_literal) {
				snprintf(why, why_len, "address %s: too many colons in address",
					 ep->host);
				return -EINVAL;
			}
			memcpy(&a4.sin_addr, &a6.sin6_addr.s6_addr[12], 4);
			if (ep->ipv6) {
				snprintf(why, why_len, "dial %s: no suitable address found", ep->host);
				return -EAFNOSUPPORT;
			}
			return connect_one((struct sockaddr *)&a4, sizeof(a4), false, deadline_ms,
					   why, why_len);
		}
		if (!ep->ipv6) {
			snprintf(why, why_len, "dial %s: no suitable address found", ep->host);
			return -EAFNOSUPPORT;
		}
		return connect_one((struct sockaddr *)&a6, sizeof(a6), true, deadline_ms, why,
				   why_len);
	}
	/* A host name ("localhost" in legacy mode): addresses of the source family. */
	struct addrinfo hints = { .ai_family = ep->ipv6 ? AF_INET6 : AF_INET,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char portstr[8];
	snprintf(portstr, sizeof(portstr), "%u", ep->port);
	int g = getaddrinfo(ep->host, portstr, &hints, &res);
	if (g != 0 || !res) {
		snprintf(why, why_len, "lookup %s: %s", ep->host, gai_strerror(g));
		return -EHOSTUNREACH;
	}
	int r = -EHOSTUNREACH;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		r = connect_one(ai->ai_addr, ai->ai_addrlen, ai->ai_family == AF_INET6,
				deadline_ms, why, why_len);
		if (r >= 0 || r == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	return r;
}

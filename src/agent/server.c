/* server.c - the status server (see server.h).
 *
 * A leader/follower pool: every worker thread waits in epoll_wait() on the
 * same epoll set, and the thread that receives an event does all the work
 * for it - reads the request, runs the probe (a blocking call bounded by its
 * deadline), writes the answer, re-arms the connection - with no hand-off
 * between threads. Before it starts a request it makes sure another thread
 * is left waiting in epoll_wait() (spawning one, up to --max-workers), so a
 * hung application only ever holds the one thread probing it. Every fd is
 * registered EPOLLONESHOT: at most one thread owns a connection at a time.
 * The list of all connections (for time-outs and eviction) is guarded by
 * one mutex; only accepting, closing and the periodic sweep take it. */
#include "agent/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/request.h"
#include "agent/response.h"
#include "agent/route.h"
#include "base/log.h"
#include "probe/http.h"
#include "probe/net.h"
#include "probe/tcp.h"
#include "probe/tls.h"
#include "agent/metrics.h"
#include "agent/ready.h"
#include "probe/grpc.h"

#define HEAD_TIMEOUT_MS 30000
#define IDLE_TIMEOUT_MS 120000
#define LINGER_TIMEOUT_MS 500  /* wait for the client's FIN, then send ours */
#define SWEEP_MS 100
#define WRITE_TIMEOUT_MS 10000
#define WORKER_IDLE_MS 30000
#define WORKERS_KEPT 2
#define WORKER_STACK (128 * 1024)

enum { C_READ, C_BUSY, C_LINGER };

struct conn {
	int fd;
	_Atomic int state;
	bool loopback;
	bool partial;        /* some bytes of a head are buffered */
	bool fin_sent;       /* C_LINGER: we gave up waiting and sent FIN */
	bool in_epoll;       /* registered (EPOLL_CTL_ADD done) */
	bool doomed;         /* shut down by the sweep; its owner closes it */
	char *buf;
	size_t len, cap;
	long long discard;   /* request body bytes still to drop */
	_Atomic int64_t since; /* ms of the last state change */
	struct conn *prev, *next; /* all connections */
};

struct srv {
	const struct agent_config *cfg;
	const struct agent_handlers *h;
	struct probe_endpoint ep;
	struct probe_http_pool **pools; /* one per prober */
	struct probe_tls *tls;
	int epfd, lfd, sfd;
	int lfd_tag, sfd_tag;           /* epoll data for the two */
	_Atomic bool draining;
	_Atomic bool stop;
	_Atomic int64_t last_sweep;
	/* connections */
	pthread_mutex_t list_lock;
	struct conn *head;
	int nconn;
	/* answered connections waiting for the client to close (C_LINGER):
	 * off the main list, only the sweep touches them */
	pthread_mutex_t park_lock;
	struct conn *parked;
	_Atomic int busy;               /* requests being handled */
	/* threads */
	_Atomic int threads, idle;
	pthread_mutex_t t_lock;
	pthread_cond_t t_cond;          /* a thread exited / shut-down began */
};

/* ---------- connections ---------- */

static void conn_free_locked(struct srv *s, struct conn *c, bool abortive)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		s->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconn--;
	if (c->in_epoll)
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	probe_net_close(c->fd, abortive);
	free(c->buf);
	free(c);
}

static void conn_close(struct srv *s, struct conn *c, bool abortive)
{
	pthread_mutex_lock(&s->list_lock);
	conn_free_locked(s, c, abortive);
	pthread_mutex_unlock(&s->list_lock);
}

/* A connection that has had its last answer: it is not armed in epoll;
 * the periodic sweep closes it once the client has closed (so the agent's
 * end is the passive one and leaves no TIME_WAIT), batching what would
 * otherwise be one more wake-up per kubelet probe. */
static void conn_park(struct srv *s, struct conn *c)
{
	free(c->buf); /* nothing more is read into it */
	c->buf = NULL;
	c->cap = c->len = 0;
	atomic_store(&c->since, probe_now_ms());
	atomic_store(&c->state, C_LINGER);
	pthread_mutex_lock(&s->list_lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconn--;
	pthread_mutex_unlock(&s->list_lock);
	pthread_mutex_lock(&s->park_lock);
	c->prev = NULL;
	c->next = s->parked;
	s->parked = c;
	pthread_mutex_unlock(&s->park_lock);
}

static void parked_free(struct srv *s, struct conn *c, bool abortive)
{
	if (c->in_epoll)
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	probe_net_close(c->fd, abortive);
	free(c->buf);
	free(c);
}

/* (Re-)arm c for its next event; the caller gives up ownership. */
static void conn_rearm(struct srv *s, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, .data.ptr = c };
	bool was = c->in_epoll;
	c->in_epoll = true;
	if (epoll_ctl(s->epfd, was ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		c->in_epoll = was;
		conn_close(s, c, true);
	}
}

static void conn_arm(struct srv *s, struct conn *c, int state)
{
	atomic_store(&c->since, probe_now_ms());
	atomic_store(&c->state, state);
	conn_rearm(s, c);
}

/* Write all of a response, bounded in time (the fd is non-blocking). */
static int write_all(int fd, const char *b, size_t n)
{
	int64_t deadline = probe_now_ms() + WRITE_TIMEOUT_MS;
	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w > 0) {
			b += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			if (probe_net_wait(fd, POLLOUT, deadline) < 0)
				return -ETIMEDOUT;
			continue;
		}
		return -errno;
	}
	return 0;
}

/* Index of the end of a complete head in buf, or 0. */
static size_t head_end(const char *b, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (b[i] != '\n')
			continue;
		if (b[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && b[i + 1] == '\r' && b[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* ---------- handling one request (worker side) ---------- */

struct handler_ctx {
	const struct agent_config *cfg;
	const struct agent_handlers *h;
	const struct probe_endpoint *ep;
	struct probe_http_pool **pools;
	struct probe_tls *tls;
	bool draining;
};

static int64_t probe_deadline(const struct prober *p)
{
	/* skiff decision (spec 6.5): 0, absent or negative = the kubelet's 1 s */
	int64_t secs = p->timeout_seconds > 0 ? p->timeout_seconds : 1;
	return probe_now_ms() + secs * 1000;
}

static void run_probe(const struct handler_ctx *hc, const struct agent_request *rq,
		      const struct prober *p, struct probe_outcome *out)
{
	int64_t deadline = probe_deadline(p);
	out->status = 500;
	out->reason[0] = 0;
	switch (prober_kind(p)) {
	case PROBER_HTTP: {
		size_t idx = (size_t)(p - hc->cfg->probers.probers);
		struct probe_http_request hr = {
			.ep = hc->ep,
			.get = p->http_get,
			.in_headers = rq->headers,
			.n_in = rq->n_headers,
			.keepalive = hc->cfg->keepalive,
			.pool = hc->pools ? hc->pools[idx] : NULL,
			.tls = hc->tls,
		};
		probe_http_run(&hr, deadline, out);
		break;
	}
	case PROBER_TCP:
		probe_tcp_run(hc->ep, p->tcp_socket->port.number, deadline, out);
		break;
	case PROBER_GRPC: {
		struct probe_endpoint ep = *hc->ep;
		int32_t port = p->grpc->port;
		if (port <= 0 || port > 65535) {
			out->status = 500;
			snprintf(out->reason, sizeof(out->reason), "invalid port %d", port);
			break;
		}
		ep.port = (uint16_t)port;
		const struct probe_kv *ua = agent_request_header(rq, "User-Agent");
		char uabuf[512] = "";
		if (ua)
			snprintf(uabuf, sizeof(uabuf), "%.*s", (int)ua->value_len, ua->value);
		probe_grpc_run(&ep, p->grpc->service, ua ? uabuf : NULL, deadline, out);
		break;
	}
	}
}

static void agent_resp_to_wire(const struct agent_request *rq, struct agent_response *r,
			       bool close, struct strbuf *out)
{
	bool head = rq->method_len == 4 && memcmp(rq->method, "HEAD", 4) == 0;
	agent_response_write(out, r->status, r->content_type, NULL, strbuf_str(&r->body),
			     r->body.len, close, head);
}

/* Parse, route and answer the request at buf[0..len) (a complete head).
 * Returns the number of head bytes used, or -1 when the connection must
 * close after `out` is sent. *quit asks for SIGTERM, *body for bytes to drop. */
static int handle(const struct handler_ctx *hc, char *buf, size_t len, bool loopback,
		  struct strbuf *out, bool *keep, long long *body, bool *quit)
{
	struct agent_request rqs, *rq = &rqs;
	*keep = false;
	*body = 0;
	*quit = false;
	const char *why;
	int n = agent_request_parse(buf, len, rq, &why);
	if (n <= 0) {
		agent_response_bad_request(out, n < 0 ? -n : 400, why);
		return -1;
	}
	bool close = !rq->keep_alive || hc->draining;
	struct agent_route rt;
	agent_route(rq, &hc->cfg->probers, loopback, close, out, &rt);
	switch (rt.kind) {
	case ROUTE_DONE:
		break;
	case ROUTE_QUIT:
		*quit = true;
		break;
	case ROUTE_PROBE: {
		struct probe_outcome o;
		run_probe(hc, rq, rt.prober, &o);
		if (o.status != 200 && o.status != 204)
			log_warn("probe %s: %d (%s)", rt.prober->path, o.status, o.reason);
		else
			log_debug("probe %s: %d (%s)", rt.prober->path, o.status, o.reason);
		bool head = rq->method_len == 4 && memcmp(rq->method, "HEAD", 4) == 0;
		agent_response_write(out, o.status, NULL, NULL, NULL, 0, close, head);
		break;
	}
	case ROUTE_READY: {
		struct agent_response r = { .status = 200 };
		if (hc->h && hc->h->ready)
			agent_ready_check(hc->h->ready, hc->draining, &r);
		else
			r.status = hc->draining ? 503 : 200;
		agent_resp_to_wire(rq, &r, close, out);
		agent_response_free(&r);
		break;
	}
	case ROUTE_METRICS: {
		struct agent_response r = { .status = 200,
					    .content_type = "text/plain; version=0.0.4; charset=utf-8" };
		if (hc->h && hc->h->metrics) {
			const struct probe_kv *a = agent_request_header(rq, "Accept");
			const struct probe_kv *u = agent_request_header(rq, "User-Agent");
			const struct probe_kv *t = agent_request_header(rq, "X-Prometheus-Scrape-Timeout-Seconds");
			char ab[1024] = "", ub[512] = "", tb[64] = "";
			if (a) snprintf(ab, sizeof(ab), "%.*s", (int)a->value_len, a->value);
			if (u) snprintf(ub, sizeof(ub), "%.*s", (int)u->value_len, u->value);
			if (t) snprintf(tb, sizeof(tb), "%.*s", (int)t->value_len, t->value);
			agent_metrics_scrape(hc->h->metrics, a ? ab : NULL, u ? ub : NULL,
					     t ? tb : NULL, &r);
		}
		agent_resp_to_wire(rq, &r, close, out);
		agent_response_free(&r);
		break;
	}
	}
	*keep = !close;
	*body = rq->content_length;
	if (rq->chunked)
		*keep = false;
	return n;
}

void agent_server_handle_buffer(const struct agent_config *cfg, const char *buf, size_t len,
				bool peer_loopback, struct strbuf *out)
{
	struct probe_endpoint ep = { .ipv6 = cfg->ipv6 };
	agent_probe_host(cfg, ep.host, sizeof(ep.host));
	struct handler_ctx hc = { .cfg = cfg, .ep = &ep };
	bool keep, quit;
	long long body;
	size_t e = head_end(buf, len);
	if (!e) {
		if (len >= AGENT_MAX_HEAD)
			agent_response_bad_request(out, 431, "");
		return;
	}
	char *copy = malloc(e);
	if (!copy)
		return;
	memcpy(copy, buf, e);
	handle(&hc, copy, e, peer_loopback, out, &keep, &body, &quit);
	free(copy);
}

/* ---------- serving a connection ---------- */

static void process(struct srv *s, struct conn *c)
{
	struct handler_ctx hc = { .cfg = s->cfg, .h = s->h, .ep = &s->ep, .pools = s->pools,
				  .tls = s->tls };
	for (;;) {
		hc.draining = atomic_load(&s->draining);
		size_t e = head_end(c->buf, c->len);
		struct strbuf out = STRBUF_INIT;
		bool keep, quit;
		long long body;
		int n = handle(&hc, c->buf, e, c->loopback, &out, &keep, &body, &quit);
		int w = write_all(c->fd, strbuf_str(&out), out.len);
		strbuf_free(&out);
		if (quit)
			kill(getpid(), SIGTERM);
		if (w < 0) {
			conn_close(s, c, true);
			return;
		}
		if (n < 0) {
			/* a refused request: FIN now, as Go's server, then drain */
			shutdown(c->fd, SHUT_WR);
			c->fin_sent = true;
			c->len = 0;
			conn_park(s, c);
			return;
		}
		/* drop the head and whatever of the body is already buffered */
		size_t used = (size_t)n;
		size_t avail = c->len - used;
		size_t drop = body > 0 ? ((unsigned long long)body < avail ? (size_t)body : avail) : 0;
		used += drop;
		c->discard = body - (long long)drop;
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
		if (!keep) {
			/* Let the client close first: no TIME_WAIT on our side. */
			conn_park(s, c);
			return;
		}
		if (c->len && head_end(c->buf, c->len))
			continue; /* a pipelined request */
		c->partial = c->len > 0;
		if (!c->len) {
			free(c->buf);
			c->buf = NULL;
			c->cap = 0;
		}
		conn_arm(s, c, C_READ);
		return;
	}
}

/* A head larger than we keep: answer as Go does, FIN, then drain. */
static void refuse_431(struct srv *s, struct conn *c)
{
	struct strbuf out = STRBUF_INIT;
	agent_response_bad_request(&out, 431, "");
	(void)write_all(c->fd, strbuf_str(&out), out.len);
	strbuf_free(&out);
	shutdown(c->fd, SHUT_WR);
	c->fin_sent = true;
	c->len = 0;
	conn_park(s, c);
}

static void spawn_worker(struct srv *s);

/* Make sure some thread is left waiting for events before this one blocks. */
static void keep_a_follower(struct srv *s)
{
	if (atomic_load(&s->idle) == 0 && atomic_load(&s->threads) < s->cfg->max_workers)
		spawn_worker(s);
}

static void on_conn_event(struct srv *s, struct conn *c)
{
	for (;;) {
		if (c->cap - c->len < 512) {
			size_t ncap = c->cap ? c->cap * 2 : 1024;
			if (ncap > AGENT_MAX_HEAD + 1024)
				ncap = AGENT_MAX_HEAD + 1024;
			if (ncap <= c->cap) {
				refuse_431(s, c);
				return;
			}
			char *nb = realloc(c->buf, ncap);
			if (!nb) {
				conn_close(s, c, true);
				return;
			}
			c->buf = nb;
			c->cap = ncap;
		}
		size_t space = c->cap - c->len;
		ssize_t r = recv(c->fd, c->buf + c->len, space, 0);
		if (r == 0) {
			conn_close(s, c, false); /* client closed first: no TIME_WAIT here */
			return;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			conn_close(s, c, true);
			return;
		}
		size_t got = (size_t)r;
		if (c->discard > 0) {
			size_t d = (unsigned long long)c->discard < got ? (size_t)c->discard : got;
			memmove(c->buf + c->len, c->buf + c->len + d, got - d);
			got -= d;
			c->discard -= (long long)d;
		}
		c->len += got;
		if ((size_t)r < space)
			break; /* short read: the socket is drained */
	}
	if (c->len && head_end(c->buf, c->len)) {
		atomic_store(&c->state, C_BUSY);
		atomic_fetch_add(&s->busy, 1);
		keep_a_follower(s);
		process(s, c);
		atomic_fetch_sub(&s->busy, 1);
		return;
	}
	if (c->len >= AGENT_MAX_HEAD) {
		refuse_431(s, c);
		return;
	}
	if (!c->partial && c->len)
		atomic_store(&c->since, probe_now_ms());
	c->partial = c->len > 0;
	if (!c->len) {
		free(c->buf);
		c->buf = NULL;
		c->cap = 0;
	}
	conn_rearm(s, c);
}

/* End a connection another thread may be about to receive an event for:
 * shut it down (with RST) so that its next event, delivered to exactly one
 * thread, sees the end and frees it there. Parked (C_LINGER) connections
 * are never armed, so the caller may free those directly. */
static void conn_doom_locked(struct conn *c)
{
	if (c->doomed)
		return;
	c->doomed = true;
	struct linger l = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	shutdown(c->fd, SHUT_RDWR);
}

/* Drop the connection idle the longest to admit a new one. */
static void evict_one_locked(struct srv *s)
{
	struct conn *victim = NULL;
	for (struct conn *c = s->head; c; c = c->next) {
		if (atomic_load(&c->state) == C_BUSY || c->doomed)
			continue;
		if (!victim || atomic_load(&c->since) <= atomic_load(&victim->since))
			victim = c;
	}
	if (!victim)
		return;
	conn_doom_locked(victim);
}

/* Accept what is pending. With TCP_DEFER_ACCEPT a connection is only
 * reported once its first bytes are there, so this thread serves the first
 * new connection itself (no second wake-up); any others are armed for the
 * follower threads. */
static void accept_all(struct srv *s)
{
	struct conn *mine = NULL;
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);
		int fd = accept4(s->lfd, (struct sockaddr *)&peer, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;
		}
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			probe_net_close(fd, true);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->loopback = agent_peer_is_loopback((struct sockaddr *)&peer);
		atomic_store(&c->since, probe_now_ms());
		atomic_store(&c->state, C_READ);
		pthread_mutex_lock(&s->list_lock);
		if (s->nconn >= s->cfg->max_connections)
			evict_one_locked(s);
		c->next = s->head;
		if (s->head)
			s->head->prev = c;
		s->head = c;
		s->nconn++;
		if (!mine) {
			mine = c; /* served below; registered in epoll only when it waits */
		} else {
			struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT,
						  .data.ptr = c };
			c->in_epoll = true;
			if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
				c->in_epoll = false;
				conn_free_locked(s, c, true);
			}
		}
		pthread_mutex_unlock(&s->list_lock);
	}
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = &s->lfd_tag };
	epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->lfd, &ev);
	if (mine)
		on_conn_event(s, mine);
}

/* Periodic: time-outs and parked connections. all_idle: shutting down,
 * end every connection not being served. final: no thread is left, free
 * everything. The parked list is taken whole, so the recv() calls on it
 * run without any lock held. */
static void sweep(struct srv *s, bool all_idle, bool final)
{
	int64_t now = probe_now_ms();
	pthread_mutex_lock(&s->list_lock);
	for (struct conn *c = s->head, *next; c; c = next) {
		next = c->next;
		if (final) {
			conn_free_locked(s, c, true);
			continue;
		}
		if (atomic_load(&c->state) == C_BUSY)
			continue;
		int64_t age = now - atomic_load(&c->since);
		if (all_idle || (c->partial && age > HEAD_TIMEOUT_MS) ||
		    (!c->partial && age > IDLE_TIMEOUT_MS))
			conn_doom_locked(c);
	}
	pthread_mutex_unlock(&s->list_lock);

	pthread_mutex_lock(&s->park_lock);
	struct conn *list = s->parked;
	s->parked = NULL;
	pthread_mutex_unlock(&s->park_lock);
	struct conn *keep = NULL, *tail = NULL;
	for (struct conn *c = list, *next; c; c = next) {
		next = c->next;
		int64_t age = now - atomic_load(&c->since);
		if (all_idle || final) {
			parked_free(s, c, true);
			continue;
		}
		char junk[256];
		ssize_t r = recv(c->fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
			parked_free(s, c, r != 0); /* the client closed first */
			continue;
		}
		if (c->fin_sent && age > 4 * LINGER_TIMEOUT_MS) {
			parked_free(s, c, true);
			continue;
		}
		if (!c->fin_sent && age > LINGER_TIMEOUT_MS) {
			/* A client that reads to EOF: give it one, at the cost of a
			 * TIME_WAIT here. Well-behaved clients closed long ago. */
			shutdown(c->fd, SHUT_WR);
			c->fin_sent = true;
			atomic_store(&c->since, now);
		}
		c->next = keep;
		keep = c;
		if (!tail)
			tail = c;
	}
	if (keep) {
		pthread_mutex_lock(&s->park_lock);
		tail->next = s->parked;
		s->parked = keep;
		pthread_mutex_unlock(&s->park_lock);
	}
}

static void on_signal(struct srv *s)
{
	struct signalfd_siginfo si;
	while (read(s->sfd, &si, sizeof(si)) == sizeof(si)) {
		if (atomic_exchange(&s->draining, true))
			continue;
		log_info("received %s: no new connections, finishing in-flight requests (up to %d ms)",
			 si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM", s->cfg->grace_ms);
		/* close the listener at once: new connections are refused (2.4) */
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->lfd, NULL);
		close(s->lfd);
		s->lfd = -1;
		pthread_mutex_lock(&s->t_lock);
		pthread_cond_broadcast(&s->t_cond);
		pthread_mutex_unlock(&s->t_lock);
	}
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = &s->sfd_tag };
	epoll_ctl(s->epfd, EPOLL_CTL_MOD, s->sfd, &ev);
}

static void *worker_main(void *arg)
{
	struct srv *s = arg;
	int64_t idle_since = probe_now_ms();
	struct epoll_event ev;
	bool counted = true; /* spawn_worker() counted this thread idle already */
	for (;;) {
		if (atomic_load(&s->stop)) {
			if (counted)
				atomic_fetch_sub(&s->idle, 1);
			break;
		}
		if (!counted)
			atomic_fetch_add(&s->idle, 1);
		counted = false;
		int n = epoll_wait(s->epfd, &ev, 1, SWEEP_MS);
		atomic_fetch_sub(&s->idle, 1);
		int64_t now = probe_now_ms();
		int64_t last = atomic_load(&s->last_sweep);
		if (now - last >= SWEEP_MS && atomic_compare_exchange_strong(&s->last_sweep, &last, now))
			sweep(s, atomic_load(&s->draining), false);
		if (n <= 0) {
			if (now - idle_since > WORKER_IDLE_MS && atomic_load(&s->threads) > WORKERS_KEPT) {
				/* an idle thread goes; its arena memory goes back */
				int t = atomic_load(&s->threads);
				if (t > WORKERS_KEPT && atomic_compare_exchange_strong(&s->threads, &t, t - 1)) {
					probe_tls_thread_done(s->tls);
					malloc_trim(0);
					pthread_mutex_lock(&s->t_lock);
					pthread_cond_broadcast(&s->t_cond);
					pthread_mutex_unlock(&s->t_lock);
					return NULL;
				}
			}
			continue;
		}
		idle_since = now;
		if (ev.data.ptr == &s->lfd_tag)
			accept_all(s);
		else if (ev.data.ptr == &s->sfd_tag)
			on_signal(s);
		else
			on_conn_event(s, ev.data.ptr);
	}
	probe_tls_thread_done(s->tls);
	pthread_mutex_lock(&s->t_lock);
	atomic_fetch_sub(&s->threads, 1);
	pthread_cond_broadcast(&s->t_cond);
	pthread_mutex_unlock(&s->t_lock);
	return NULL;
}

static void spawn_worker(struct srv *s)
{
	int t = atomic_load(&s->threads);
	if (t >= s->cfg->max_workers || !atomic_compare_exchange_strong(&s->threads, &t, t + 1))
		return;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WORKER_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t th;
	/* born idle: followers being started count, so a burst of requests
	 * does not start a thread for each of them */
	atomic_fetch_add(&s->idle, 1);
	if (pthread_create(&th, &attr, worker_main, s) != 0) {
		atomic_fetch_sub(&s->idle, 1);
		atomic_fetch_sub(&s->threads, 1);
	}
	pthread_attr_destroy(&attr);
}

/* ---------- start and stop ---------- */

/* Report a connection only once it has sent something (or after ~1 s of
 * silence): idle connections then cost the kernel, not us, and the first
 * read needs no extra wake-up. */
static void defer_accept(int fd)
{
	int secs = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs));
}

static int open_listener(const struct agent_config *cfg, struct skiff_err *e)
{
	int one = 1, zero = 0;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		struct sockaddr_in6 a = { .sin6_family = AF_INET6,
					  .sin6_port = htons((uint16_t)cfg->status_port),
					  .sin6_addr = IN6ADDR_ANY_INIT };
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 4096) == 0) {
			defer_accept(fd);
			return fd;
		}
		int err = errno;
		close(fd);
		if (err != EAFNOSUPPORT && err != EADDRNOTAVAIL)
			return err_set(e, -err, "status port %d: %s", cfg->status_port, strerror(err));
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(e, -errno, "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->status_port) };
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4096) < 0) {
		int err = errno;
		close(fd);
		return err_set(e, -err, "status port %d: %s", cfg->status_port, strerror(err));
	}
	defer_accept(fd);
	return fd;
}

static void srv_free(struct srv *s)
{
	for (size_t i = 0; s->pools && i < s->cfg->probers.n; i++)
		probe_http_pool_free(s->pools[i]);
	free(s->pools);
	probe_tls_free(s->tls);
	pthread_mutex_destroy(&s->list_lock);
	pthread_mutex_destroy(&s->park_lock);
	pthread_mutex_destroy(&s->t_lock);
	pthread_cond_destroy(&s->t_cond);
	free(s);
}

int agent_server_run(const struct agent_config *cfg, const struct agent_handlers *h,
		     struct skiff_err *e)
{
	struct srv *s = calloc(1, sizeof(*s));
	if (!s)
		return err_set(e, SKIFF_ENOMEM, "out of memory");
	s->cfg = cfg;
	s->h = h;
	s->ep.ipv6 = cfg->ipv6;
	agent_probe_host(cfg, s->ep.host, sizeof(s->ep.host));
	pthread_mutex_init(&s->list_lock, NULL);
	pthread_mutex_init(&s->park_lock, NULL);
	pthread_mutex_init(&s->t_lock, NULL);
	pthread_cond_init(&s->t_cond, NULL);
	bool need_tls = false;
	if (cfg->probers.n) {
		s->pools = calloc(cfg->probers.n, sizeof(*s->pools));
		for (size_t i = 0; s->pools && i < cfg->probers.n; i++) {
			const struct prober *p = &cfg->probers.probers[i];
			if (p->http_get && cfg->keepalive)
				s->pools[i] = probe_http_pool_new();
			if (p->http_get && p->http_get->scheme && !strcmp(p->http_get->scheme, "HTTPS"))
				need_tls = true;
		}
	}
	if (need_tls)
		s->tls = probe_tls_new(); /* libssl itself loads at the first HTTPS probe */

	s->lfd = open_listener(cfg, e);
	if (s->lfd < 0) {
		int r = s->lfd;
		srv_free(s);
		return r;
	}
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	s->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = &s->lfd_tag };
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev);
	ev.data.ptr = &s->sfd_tag;
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sfd, &ev);
	atomic_store(&s->last_sweep, probe_now_ms());
	log_info("status server listening on port %d", cfg->status_port);
	spawn_worker(s);

	/* The main thread only watches for the end. */
	pthread_mutex_lock(&s->t_lock);
	while (!atomic_load(&s->draining))
		pthread_cond_wait(&s->t_cond, &s->t_lock);
	pthread_mutex_unlock(&s->t_lock);
	int64_t deadline = probe_now_ms() + cfg->grace_ms;
	while (atomic_load(&s->busy) > 0 && probe_now_ms() < deadline)
		usleep(10000);
	int stragglers = atomic_load(&s->busy);
	atomic_store(&s->stop, true);
	if (stragglers) {
		/* Threads still probing keep using s; the process ends right after. */
		log_warn("%d request(s) still running at the end of the grace period", stragglers);
		log_info("status server stopped");
		return 0;
	}
	pthread_mutex_lock(&s->t_lock);
	while (atomic_load(&s->threads) > 0)
		pthread_cond_wait(&s->t_cond, &s->t_lock);
	pthread_mutex_unlock(&s->t_lock);
	sweep(s, true, true);
	close(s->sfd);
	close(s->epfd);
	srv_free(s);
	log_info("status server stopped");
	return 0;
}

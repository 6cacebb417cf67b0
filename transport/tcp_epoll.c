/*
 * TCP on epoll: the fallback when io_uring cannot be set up.
 *
 * Connections are registered once, edge-triggered, for input and output
 * together, so that a connection that blocks on writing costs no
 * epoll_ctl() to start or stop watching for EPOLLOUT (level-triggered would
 * need two per blocked period). The price of edge triggering is that input
 * must be read until the socket is drained: a connection that still has
 * input after READ_BUDGET reads goes on the `again` list and is read again
 * after the others have had their turn, so one busy peer cannot starve the
 * rest. The eventfd and the tick timerfd are level-triggered.
 *
 * TLS (tls.h): the handshake runs on the same edges, before any read or
 * write of the connection's own, and once it is done the socket is read
 * at once (the peer's first records may have come with its Finished, and
 * no further edge would tell).
 *
 * One loop iteration: wait, handle the events, read the `again` list, run
 * woken(), write every connection that send() marked (so that all the
 * frames queued during one iteration go out in as few sendmsg() calls as
 * possible), and finally end the connections that close() marked, calling
 * closed(). Connections are freed only there, after the events that could
 * name them have been handled.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "transport/tcp.h"

#define READ_BUDGET 16
#define MAX_EVENTS 64

/* What an epoll event's u64 names: a pointer with the kind in its low bits. */
enum { EV_CONN, EV_LISTENER, EV_WAKE, EV_TICK, EV_MASK = 3 };

struct ep_conn {
	struct actor__tcp_conn tcp;
	struct ep_conn *prev, *next;	/* every connection */
	struct ep_conn *flush_next;	/* on the flush list */
	struct ep_conn *again_next;	/* on the again list */
	struct ep_conn *dead_next;	/* on the dead list */
	bool connecting;
	bool blocked;			/* sendmsg said EAGAIN: wait for EPOLLOUT */
	bool in_flush, in_again;
};

struct ep_listener {
	int fd;
	struct ep_listener *next;
};

struct ep_transport {
	struct actor__transport base;
	int epfd, tfd;
	struct actor__tcp_wake wake;
	atomic_bool stop;
	pthread_t thread;
	/* Pushed by listen() from any thread; closed by destroy(). */
	_Atomic(struct ep_listener *) listeners;
	/* I/O thread only. */
	struct ep_conn *conns;
	struct ep_conn *flush, *again, *dead;
};

static inline struct ep_transport *ep_of(struct actor__transport *t)
{
	return (struct ep_transport *)t;
}

static inline struct ep_conn *conn_of(struct actor__conn *c)
{
	return (struct ep_conn *)c;
}

static int ep_add(struct ep_transport *t, int fd, uint32_t events, void *ptr, int kind)
{
	struct epoll_event ev = { .events = events, .data.u64 = (uintptr_t)ptr | (uintptr_t)kind };

	return epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void ep_close(struct actor__conn *conn, int reason)
{
	struct ep_conn *c = conn_of(conn);
	struct ep_transport *t = ep_of(c->tcp.base.t);

	if (c->tcp.closing)
		return;
	c->tcp.closing = true;
	c->tcp.reason = reason;
	c->dead_next = t->dead;
	t->dead = c;
}

static void unlink_from(struct ep_conn **list, struct ep_conn *c, size_t next_off)
{
	for (struct ep_conn **p = list; *p != NULL;
	     p = (struct ep_conn **)((char *)*p + next_off)) {
		if (*p == c) {
			*p = *(struct ep_conn **)((char *)c + next_off);
			return;
		}
	}
}

static void ep_conn_unlink(struct ep_transport *t, struct ep_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
}

/* The end of a connection marked by ep_close(). */
static void ep_finish(struct ep_transport *t, struct ep_conn *c)
{
	struct actor__transport *b = &t->base;

	if (c->in_flush)
		unlink_from(&t->flush, c, offsetof(struct ep_conn, flush_next));
	if (c->in_again)
		unlink_from(&t->again, c, offsetof(struct ep_conn, again_next));
	ep_conn_unlink(t, c);
	close(c->tcp.fd);
	actor__tcp_conn_fini(&c->tcp);
	b->cb.closed(b->cb.arg, (struct actor__conn *)c, c->tcp.reason);
	free(c);
}

static struct ep_conn *ep_conn_new(struct ep_transport *t, int fd, bool server)
{
	struct ep_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->tcp.base.t = &t->base;
	c->tcp.fd = fd;
	if (actor__tcp_tls_begin(&c->tcp, t->base.cfg.tls, server) < 0) {
		free(c);
		return NULL;
	}
	c->next = t->conns;
	if (t->conns != NULL)
		t->conns->prev = c;
	t->conns = c;
	return c;
}

static void ep_write(struct ep_transport *t, struct ep_conn *c)
{
	struct actor__transport *b = &t->base;
	struct iovec iov[ACTOR__TCP_IOV];

	while (actor__tcp_out_pending(&c->tcp) && !c->tcp.closing) {
		struct msghdr m = { .msg_iov = iov };
		int n = actor__tcp_out_iov(&c->tcp, iov, ACTOR__TCP_IOV);
		ssize_t r;

		if (n < 0) {
			ep_close((struct actor__conn *)c, n);
			return;
		}
		m.msg_iovlen = (size_t)n;
		r = sendmsg(c->tcp.fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				c->blocked = true;
			else
				ep_close((struct actor__conn *)c, -errno);
			return;
		}
		if (actor__tcp_out_sent(&c->tcp, (size_t)r))
			b->cb.writable(b->cb.arg, (struct actor__conn *)c);
	}
}

static void ep_flush_later(struct ep_transport *t, struct ep_conn *c)
{
	if (c->in_flush || c->connecting || c->blocked || actor__tcp_handshaking(&c->tcp))
		return;
	c->in_flush = true;
	c->flush_next = t->flush;
	t->flush = c;
}

static void ep_send(struct actor__conn *conn, struct actor__env **frames, size_t n)
{
	struct ep_conn *c = conn_of(conn);

	if (c->tcp.closing) {
		for (size_t i = 0; i < n; i++)
			actor__env_free(NULL, frames[i]);
		return;
	}
	actor__tcp_outq_push(&c->tcp, frames, n);
	ep_flush_later(ep_of(c->tcp.base.t), c);
}

static size_t ep_queued(const struct actor__conn *c)
{
	return ((const struct ep_conn *)c)->tcp.out.queued;
}

/* hup: the peer hung up or failed, so read to the end rather than stop at
 * a short read (no further edge would come for the EOF). */
static void ep_read(struct ep_transport *t, struct ep_conn *c, bool hup)
{
	struct actor__conn *conn = (struct actor__conn *)c;

	for (int i = 0; i < READ_BUDGET; i++) {
		unsigned char *p;
		size_t len;
		ssize_t r;
		int err;

		if ((err = actor__tcp_rspace(&c->tcp, &p, &len)) < 0) {
			ep_close(conn, err);
			return;
		}
		r = recv(c->tcp.fd, p, len, MSG_DONTWAIT);
		if (r > 0) {
			if ((err = actor__tcp_received(&c->tcp, (size_t)r)) < 0)
				ep_close(conn, err);
			/* Short: drained, and new input makes a new edge. */
			if (c->tcp.closing || ((size_t)r < len && !hup))
				return;
		} else if (r == 0) {
			ep_close(conn, actor__tcp_eof(&c->tcp));
			return;
		} else if (errno != EINTR) {
			if (errno != EAGAIN)
				ep_close(conn, -errno);
			return;
		}
	}
	if (!c->in_again) {
		c->in_again = true;
		c->again_next = t->again;
		t->again = c;
	}
}

/* A step of the TLS handshake; once it is done, what the socket holds is
 * read (hup: as ep_read) and what was queued meanwhile is written. */
static void ep_handshake(struct ep_transport *t, struct ep_conn *c, bool hup)
{
	int want, r = actor__tcp_tls_step(&c->tcp, &want);

	if (r < 0) {
		ep_close((struct actor__conn *)c, r);
	} else if (r == 1) {
		ep_read(t, c, hup);
		if (!c->tcp.closing && actor__tcp_out_pending(&c->tcp))
			ep_flush_later(t, c);
	}
}

static void ep_conn_event(struct ep_transport *t, struct ep_conn *c, uint32_t ev)
{
	struct actor__transport *b = &t->base;
	bool hup = ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);

	if (c->tcp.closing)
		return;
	if (c->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(c->tcp.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err != 0) {
			ep_close((struct actor__conn *)c, -err);
			return;
		}
		c->connecting = false;
		b->cb.connected(b->cb.arg, (struct actor__conn *)c);
		if (c->tcp.closing)
			return;
		if (c->tcp.out.head != NULL)
			ep_flush_later(t, c);
	}
	if (actor__tcp_handshaking(&c->tcp)) {
		ep_handshake(t, c, hup);
		return;
	}
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		ep_read(t, c, hup);
	if ((ev & EPOLLOUT) && c->blocked && !c->tcp.closing) {
		c->blocked = false;
		ep_write(t, c);
	}
}

static void ep_accept(struct ep_transport *t, struct ep_listener *l)
{
	struct actor__transport *b = &t->base;

	for (;;) {
		struct ep_conn *c;
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			/* EAGAIN, or out of descriptors or memory: the next
			 * connection to arrive brings a new edge. */
			return;
		}
		actor__tcp_nodelay(fd);
		c = ep_conn_new(t, fd, true);
		if (c == NULL) {
			close(fd);
			continue;
		}
		if (ep_add(t, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, c, EV_CONN) < 0) {
			/* Not announced yet, so no closed() either. */
			ep_conn_unlink(t, c);
			free(c);
			close(fd);
			continue;
		}
		b->cb.accepted(b->cb.arg, (struct actor__conn *)c);
		if (!c->tcp.closing && actor__tcp_handshaking(&c->tcp))
			ep_handshake(t, c, false);
	}
}

static int ep_listen(struct actor__transport *b, const char *host, uint16_t port,
		     uint16_t *bound)
{
	struct ep_transport *t = ep_of(b);
	struct ep_listener *l = malloc(sizeof(*l));
	int err;

	if (l == NULL)
		return -ENOMEM;
	l->fd = actor__tcp_listen(host, port, bound);
	if (l->fd < 0) {
		err = l->fd;
		free(l);
		return err;
	}
	if ((err = ep_add(t, l->fd, EPOLLIN | EPOLLET, l, EV_LISTENER)) < 0) {
		close(l->fd);
		free(l);
		return err;
	}
	l->next = atomic_load(&t->listeners);
	while (!atomic_compare_exchange_weak(&t->listeners, &l->next, l))
		;
	return 0;
}

static int ep_connect(struct actor__transport *b, const char *host, uint16_t port, void *data,
		      struct actor__conn **out)
{
	struct ep_transport *t = ep_of(b);
	struct sockaddr_storage ss;
	struct ep_conn *c;
	socklen_t len;
	int fd, err;

	if ((err = actor__tcp_addr(host, port, &ss, &len)) < 0)
		return err;
	if ((fd = actor__tcp_socket(ss.ss_family)) < 0)
		return fd;
	c = ep_conn_new(t, fd, false);
	if (c == NULL) {
		close(fd);
		return -ENOMEM;
	}
	c->tcp.base.data = data;
	c->connecting = true;
	*out = (struct actor__conn *)c;
	/* Any failure from here on is the connection's: it ends in closed(). */
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)
		ep_close(*out, -errno);
	else if ((err = ep_add(t, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, c, EV_CONN)) < 0)
		ep_close(*out, err);
	return 0;
}

static void ep_wake(struct actor__transport *b)
{
	actor__tcp_wake(&ep_of(b)->wake);
}

/* Everything marked during one iteration: writes, then ends. */
static void ep_settle(struct ep_transport *t)
{
	while (t->flush != NULL || t->dead != NULL) {
		while (t->flush != NULL) {
			struct ep_conn *c = t->flush;

			t->flush = c->flush_next;
			c->in_flush = false;
			if (!c->tcp.closing && !c->blocked)
				ep_write(t, c);
		}
		while (t->dead != NULL) {
			struct ep_conn *c = t->dead;

			t->dead = c->dead_next;
			ep_finish(t, c);
		}
	}
}

static void ep_event(struct ep_transport *t, struct epoll_event *ev)
{
	void *p = (void *)(uintptr_t)(ev->data.u64 & ~(uint64_t)EV_MASK);
	uint64_t n;

	switch (ev->data.u64 & EV_MASK) {
	case EV_CONN:
		ep_conn_event(t, p, ev->events);
		break;
	case EV_LISTENER:
		ep_accept(t, p);
		break;
	case EV_WAKE:
		(void)!read(t->wake.fd, &n, sizeof(n));
		break;
	case EV_TICK:
		if (read(t->tfd, &n, sizeof(n)) > 0)
			t->base.cb.tick(t->base.cb.arg);
		break;
	}
}

static void *ep_run(void *arg)
{
	struct ep_transport *t = arg;
	struct actor__transport *b = &t->base;
	struct epoll_event ev[MAX_EVENTS];
	struct ep_conn *c, *next;

	while (!atomic_load_explicit(&t->stop, memory_order_acquire)) {
		bool sleep = t->again == NULL && actor__tcp_wake_sleep(&t->wake);
		int n = epoll_wait(t->epfd, ev, MAX_EVENTS, sleep ? -1 : 0);

		if (sleep)
			actor__tcp_wake_awake(&t->wake);
		for (int i = 0; i < n; i++)
			ep_event(t, &ev[i]);
		/* Detached first: a connection may go back on it. */
		c = t->again;
		t->again = NULL;
		for (; c != NULL; c = next) {
			next = c->again_next;
			c->in_again = false;
			if (!c->tcp.closing)
				ep_read(t, c, true);
		}
		if (actor__tcp_wake_take(&t->wake))
			b->cb.woken(b->cb.arg);
		ep_settle(t);
	}
	/* destroy(): end what is left; closed() may still make new ones. */
	while (t->conns != NULL) {
		for (c = t->conns; c != NULL; c = c->next)
			ep_close((struct actor__conn *)c, -ECANCELED);
		ep_settle(t);
	}
	return NULL;
}

static void ep_destroy(struct actor__transport *b)
{
	struct ep_transport *t = ep_of(b);
	struct ep_listener *l, *next;

	atomic_store_explicit(&t->stop, true, memory_order_release);
	actor__tcp_wake_kick(&t->wake);
	pthread_join(t->thread, NULL);
	for (l = atomic_load(&t->listeners); l != NULL; l = next) {
		next = l->next;
		close(l->fd);
		free(l);
	}
	close(t->tfd);
	close(t->epfd);
	actor__tcp_wake_fini(&t->wake);
	actor__tls_ctx_destroy(t->base.cfg.tls);
	free(t);
}

static const struct actor__transport_ops ep_ops = {
	.name = "epoll",
	.listen = ep_listen,
	.connect = ep_connect,
	.send = ep_send,
	.queued = ep_queued,
	.close = ep_close,
	.wake = ep_wake,
	.destroy = ep_destroy,
};

int actor__epoll_create(const struct actor__transport_config *cfg,
			const struct actor__transport_cb *cb, struct actor__transport **out)
{
	struct ep_transport *t = calloc(1, sizeof(*t));
	struct itimerspec its;
	int err;

	if (t == NULL)
		return -ENOMEM;
	t->base.ops = &ep_ops;
	t->base.cb = *cb;
	t->base.cfg = *cfg;
	actor__tcp_config(&t->base.cfg, &t->base.cb);
	t->epfd = t->tfd = -1;
	if ((err = actor__tcp_wake_init(&t->wake)) < 0) {
		free(t);
		return err;
	}
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	t->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->epfd < 0 || t->tfd < 0) {
		err = -errno;
		goto fail;
	}
	its.it_interval.tv_sec = (time_t)(t->base.cfg.tick_ns / 1000000000);
	its.it_interval.tv_nsec = (long)(t->base.cfg.tick_ns % 1000000000);
	its.it_value = its.it_interval;
	if (timerfd_settime(t->tfd, 0, &its, NULL) < 0) {
		err = -errno;
		goto fail;
	}
	if ((err = ep_add(t, t->wake.fd, EPOLLIN, NULL, EV_WAKE)) < 0 ||
	    (err = ep_add(t, t->tfd, EPOLLIN, NULL, EV_TICK)) < 0 ||
	    (err = actor__tcp_thread(&t->thread, &t->base.cfg, ep_run, t)) < 0)
		goto fail;
	*out = &t->base;
	return 0;
fail:
	if (t->tfd >= 0)
		close(t->tfd);
	if (t->epfd >= 0)
		close(t->epfd);
	actor__tcp_wake_fini(&t->wake);
	free(t);
	return err;
}

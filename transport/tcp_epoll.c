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
 * closed() (tcp.c:actor__tcp_settle). Connections are freed only there,
 * after the events that could name them have been handled.
 *
 * The connections, their list, send(), queued(), close() and the flush and
 * dead lists are tcp.c's (the connection core, tcp.h); this file has what
 * readiness needs: the epoll set, reads until EAGAIN, writes until EAGAIN
 * and the `again` list. The driver (a second epoll set of the connections
 * handed over to an idle worker's reads) is tcp.c's too: here, only its
 * two hooks (input watched in this set or not, reading again).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "transport/tcp.h"
#include "util/time.h"

#define MAX_EVENTS 64

/* What an epoll event's u64 names: a pointer with the kind in its low bits. */
enum { EV_CONN, EV_LISTENER, EV_WAKE, EV_TICK, EV_MASK = 3 };

/* tcp.writing: sendmsg said EAGAIN, wait for EPOLLOUT. */
struct ep_conn {
	struct actor__tcp_conn tcp;
	struct ep_conn *again_next;	/* on the again list */
	bool in_again;
};

struct ep_transport {
	struct actor__tcp_transport tcp;
	int epfd, tfd;
	/* Pushed by listen() from any thread; closed by destroy(). */
	_Atomic(struct actor__tcp_listener *) listeners;
	/* I/O thread only. */
	struct ep_conn *again;
};

static inline struct ep_transport *ep_of(struct actor__transport *t)
{
	return (struct ep_transport *)t;
}

static int ep_add(struct ep_transport *t, int fd, uint32_t events, void *ptr, int kind)
{
	struct epoll_event ev = { .events = events, .data.u64 = (uintptr_t)ptr | (uintptr_t)kind };

	return epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void ep_close(void *c, int reason)
{
	actor__tcp_close(c, reason);
}

/* The end of a connection marked by close(): at once, once its socket is
 * out of the epoll set. Closing the socket is not enough: a child forked
 * meanwhile holds the same open file, which keeps it in the set, and its
 * events would name a freed connection (ThreadSanitizer, tests/chaos). */
static void ep_end(struct actor__tcp_transport *tt, struct actor__tcp_conn *tc)
{
	struct ep_transport *t = (struct ep_transport *)tt;
	struct ep_conn *c = (struct ep_conn *)tc;

	actor__tcp_drv_end(tt, tc);
	if (tc->fd >= 0)
		epoll_ctl(t->epfd, EPOLL_CTL_DEL, tc->fd, NULL);

	if (c->in_again) {
		for (struct ep_conn **p = &t->again; *p != NULL; p = &(*p)->again_next) {
			if (*p == c) {
				*p = c->again_next;
				break;
			}
		}
	}
	actor__tcp_conn_end(tt, tc);
}

/* Writes until EAGAIN (then c->writing: EPOLLOUT resumes it). */
static void ep_write(struct actor__tcp_transport *t, struct actor__tcp_conn *c)
{
	struct actor__transport *b = &t->base;
	struct iovec iov[ACTOR__TCP_IOV];

	while (actor__tcp_out_pending(c) && !c->closing) {
		struct msghdr m = { .msg_iov = iov };
		int n = actor__tcp_out_iov(c, iov, ACTOR__TCP_IOV);
		ssize_t r;

		if (n < 0) {
			ep_close(c, n);
			return;
		}
		m.msg_iovlen = (size_t)n;
		r = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				c->writing = true;
			else
				ep_close(c, -errno);
			return;
		}
		if (actor__tcp_out_sent(c, (size_t)r))
			b->cb.writable(b->cb.arg, (struct actor__conn *)c);
	}
	/* All written: other threads may write the next frames themselves. */
	actor__tcp_direct_maybe(c);
}

static int ep_mod(struct ep_transport *t, int fd, uint32_t events, void *ptr, int kind)
{
	struct epoll_event ev = { .events = events, .data.u64 = (uintptr_t)ptr | (uintptr_t)kind };

	return epoll_ctl(t->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

#define CONN_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

/* The driver's hook (tcp.h): input watched here or, handed over, not
 * (EPOLLOUT stays, for writes). */
static int ep_reads(struct actor__tcp_transport *t, struct actor__tcp_conn *c, bool on)
{
	return ep_mod((struct ep_transport *)t, c->fd, on ? CONN_EVENTS : EPOLLOUT | EPOLLET, c,
		      EV_CONN);
}

static void ep_read(struct ep_transport *t, struct ep_conn *c, bool hup);

/* The driver's hook (tcp.h): c is back; read on until drained. */
static void ep_read_back(struct actor__tcp_transport *t, struct actor__tcp_conn *c)
{
	ep_read((struct ep_transport *)t, (struct ep_conn *)c, false);
}

/* hup: the peer hung up or failed, so read to the end rather than stop at
 * a short read (no further edge would come for the EOF). */
static void ep_read(struct ep_transport *t, struct ep_conn *c, bool hup)
{
	for (int i = 0; i < ACTOR__TCP_READ_BUDGET; i++) {
		size_t n, room;
		int err = actor__tcp_recv_once(&c->tcp, &n, &room);

		if (err == 1) {
			actor__tcp_drive_now(&t->tcp, &c->tcp);
			return;
		}
		if (err < 0 || n == 0) {
			ep_close(c, err < 0 ? err : actor__tcp_eof(&c->tcp));
			return;
		}
		if ((err = actor__tcp_received(&c->tcp, n)) < 0)
			ep_close(c, err);
		if (c->tcp.closing)
			return;
		/* Short: drained, and new input makes a new edge. */
		if (n < room && !hup) {
			actor__tcp_drive_now(&t->tcp, &c->tcp);
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
		ep_close(c, r);
	} else if (r == 1) {
		ep_read(t, c, hup);
		if (!c->tcp.closing && actor__tcp_out_pending(&c->tcp))
			actor__tcp_flush_later(&t->tcp, &c->tcp);
		actor__tcp_direct_maybe(&c->tcp);	/* kTLS both ways: plain */
	}
}

static void ep_conn_event(struct ep_transport *t, struct ep_conn *c, uint32_t ev)
{
	struct actor__transport *b = &t->tcp.base;
	bool hup = ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);

	if (c->tcp.closing)
		return;
	if (c->tcp.connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(c->tcp.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err != 0) {
			ep_close(c, -err);
			return;
		}
		c->tcp.connecting = false;
		b->cb.connected(b->cb.arg, (struct actor__conn *)c);
		if (c->tcp.closing)
			return;
		if (c->tcp.out.head != NULL)
			actor__tcp_flush_later(&t->tcp, &c->tcp);
		actor__tcp_direct_maybe(&c->tcp);
	}
	if (actor__tcp_handshaking(&c->tcp)) {
		ep_handshake(t, c, hup);
		return;
	}
	/* Handed over: the holder reads it, hang-ups included. */
	if ((ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && !c->tcp.io_off)
		ep_read(t, c, hup);
	if ((ev & EPOLLOUT) && c->tcp.writing && !c->tcp.closing) {
		c->tcp.writing = false;
		ep_write(&t->tcp, &c->tcp);
	}
}

static void ep_accept(struct ep_transport *t, struct actor__tcp_listener *l)
{
	struct actor__transport *b = &t->tcp.base;

	for (;;) {
		struct ep_conn *c;
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			/* Out of descriptors or memory: no new edge may come
			 * (the backlog is not empty), so accept again later
			 * (tcp.h). EAGAIN: the next connection brings one. */
			if (actor__tcp_accept_starved(-errno))
				actor__tcp_accept_wait(&t->tcp, l);
			return;
		}
		actor__tcp_nodelay(fd);
		c = (struct ep_conn *)actor__tcp_conn_new(&t->tcp, sizeof(*c), fd, true);
		if (c == NULL) {
			close(fd);
			continue;
		}
		if (ep_add(t, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, c, EV_CONN) < 0) {
			/* Not announced yet, so no closed() either. */
			actor__tcp_conn_drop(&c->tcp);
			continue;
		}
		b->cb.accepted(b->cb.arg, (struct actor__conn *)c);
		if (!c->tcp.closing && actor__tcp_handshaking(&c->tcp))
			ep_handshake(t, c, false);
		actor__tcp_direct_maybe(&c->tcp);
	}
}

static void ep_accept_again(struct actor__tcp_transport *t, struct actor__tcp_listener *l)
{
	ep_accept((struct ep_transport *)t, l);
}

/* Accepts that waited for descriptors, when due (tcp.h). */
static void ep_accept_retry(struct ep_transport *t, bool tick)
{
	actor__tcp_accept_retry(&t->tcp, atomic_load_explicit(&t->listeners, memory_order_acquire),
				tick, ep_accept_again);
}

static int ep_listen(struct actor__transport *b, const char *host, uint16_t port,
		     uint16_t *bound)
{
	struct ep_transport *t = ep_of(b);
	struct actor__tcp_listener *l;
	int err;

	if ((err = actor__tcp_listener_open(host, port, bound, &l)) < 0)
		return err;
	if ((err = ep_add(t, l->fd, EPOLLIN | EPOLLET, l, EV_LISTENER)) < 0) {
		close(l->fd);
		free(l);
		return err;
	}
	actor__tcp_listener_push(&t->listeners, l);
	return 0;
}

static int ep_connect(struct actor__transport *b, const char *host, uint16_t port, void *data,
		      struct actor__conn **out)
{
	struct ep_transport *t = ep_of(b);
	struct actor__tcp_conn *c;
	struct sockaddr_storage ss;
	socklen_t len;
	int err;

	if ((err = actor__tcp_dial(&t->tcp, sizeof(struct ep_conn), host, port, data, &ss, &len,
				   &c)) < 0)
		return err;
	*out = (struct actor__conn *)c;
	/* Any failure from here on is the connection's: it ends in closed(). */
	if (connect(c->fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)
		actor__tcp_close(*out, -errno);
	else if ((err = ep_add(t, c->fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, c,
			       EV_CONN)) < 0)
		actor__tcp_close(*out, err);
	return 0;
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
		(void)!read(t->tcp.wake.fd, &n, sizeof(n));
		break;
	case EV_TICK:
		if (read(t->tfd, &n, sizeof(n)) > 0) {
			ep_accept_retry(t, true);
			t->tcp.base.cb.tick(t->tcp.base.cb.arg);
			actor__tcp_drv_poll_io(&t->tcp);
		}
		break;
	}
}

static void *ep_run(void *arg)
{
	struct ep_transport *t = arg;
	struct actor__transport *b = &t->tcp.base;
	struct epoll_event ev[MAX_EVENTS];
	struct ep_conn *c, *next;
	bool woke;

	while (!actor__tcp_stopped(&t->tcp)) {
		bool sleep = t->again == NULL && actor__tcp_wake_sleep(&t->tcp.wake);
		int n = epoll_wait(t->epfd, ev, MAX_EVENTS, sleep ? -1 : 0);

		if (sleep)
			actor__tcp_wake_awake(&t->tcp.wake);
		for (int i = 0; i < n; i++)
			ep_event(t, &ev[i]);
		/* Detached first: a connection may go back on it. */
		c = t->again;
		t->again = NULL;
		for (; c != NULL; c = next) {
			next = c->again_next;
			c->in_again = false;
			if (!c->tcp.closing && !c->tcp.io_off)
				ep_read(t, c, true);
		}
		/* After the take: a hand-back pushed after it wakes the next
		 * wait, and one pushed before it is taken here. */
		woke = actor__tcp_wake_take(&t->tcp.wake);
		actor__tcp_back_run(&t->tcp);
		if (woke)
			b->cb.woken(b->cb.arg);
		actor__tcp_settle(&t->tcp);
		ep_accept_retry(t, false);
	}
	/* destroy(): end what is left; closed() may still make new ones. */
	while (!actor__list_empty(&t->tcp.conns)) {
		actor__tcp_close_all(&t->tcp, -ECANCELED);
		actor__tcp_settle(&t->tcp);
	}
	return NULL;
}

static void ep_destroy(struct actor__transport *b)
{
	struct ep_transport *t = ep_of(b);

	actor__tcp_transport_join(&t->tcp);
	actor__tcp_listeners_free(atomic_load(&t->listeners));
	close(t->tfd);
	close(t->epfd);
	actor__tcp_transport_destroy(&t->tcp);
}

static const struct actor__transport_ops ep_ops = {
	.name = "epoll",
	.listen = ep_listen,
	.connect = ep_connect,
	.send = actor__tcp_send,
	.try_send = actor__tcp_try_send,
	.queued = actor__tcp_queued,
	.close = actor__tcp_close,
	.wake = actor__tcp_wake_op,
	.drive = actor__tcp_drive,
	.drv_wait = actor__tcp_drv_wait,
	.drv_dispatch = actor__tcp_drv_dispatch,
	.drv_poll = actor__tcp_drv_poll,
	.drv_wake = actor__tcp_drv_wake,
	.destroy = ep_destroy,
};

static const struct actor__tcp_backend ep_backend = {
	.write = ep_write,
	.end = ep_end,
	.reads = ep_reads,
	.read = ep_read_back,
};

int actor__epoll_create(const struct actor__transport_config *cfg,
			const struct actor__transport_cb *cb, struct actor__transport **out)
{
	int err;
	struct ep_transport *t = actor__tcp_transport_new(sizeof(*t), &ep_ops, &ep_backend, cfg,
							  cb, &err);
	struct itimerspec its;

	if (t == NULL)
		return err;
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	t->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->epfd < 0 || t->tfd < 0) {
		err = -errno;
		goto fail;
	}
	its.it_interval = actor__timespec_of(t->tcp.base.cfg.tick_ns);
	its.it_value = its.it_interval;
	if (timerfd_settime(t->tfd, 0, &its, NULL) < 0) {
		err = -errno;
		goto fail;
	}
	if ((err = ep_add(t, t->tcp.wake.fd, EPOLLIN, NULL, EV_WAKE)) < 0 ||
	    (err = ep_add(t, t->tfd, EPOLLIN, NULL, EV_TICK)) < 0 ||
	    (err = actor__tcp_thread(&t->tcp.thread, &t->tcp.base.cfg, ep_run, t)) < 0)
		goto fail;
	*out = &t->tcp.base;
	return 0;
fail:
	if (t->tfd >= 0)
		close(t->tfd);
	if (t->epfd >= 0)
		close(t->epfd);
	actor__tcp_transport_free(&t->tcp);
	return err;
}

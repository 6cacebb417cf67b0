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
 * and the `again` list, and the driver (see "The driver" below): a second
 * epoll set of the connections handed over to an idle worker's reads.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "transport/tcp.h"
#include "util/time.h"

#define READ_BUDGET 16
#define MAX_EVENTS 64

/* What an epoll event's u64 names: a pointer with the kind in its low bits. */
enum { EV_CONN, EV_LISTENER, EV_WAKE, EV_TICK, EV_MASK = 3 };

/* tcp.writing: sendmsg said EAGAIN, wait for EPOLLOUT. */
struct ep_conn {
	struct actor__tcp_conn tcp;
	struct ep_conn *again_next;	/* on the again list */
	bool in_again;
	/* The driver (see "The driver" below). I/O thread only: */
	bool drive_due;			/* drive() asked: hand over once drained */
	bool io_off;			/* handed over: not read here until back */
	bool in_dfd;			/* registered in the driver's set */
	/* Set by the I/O thread before it arms c in dfd (release), cleared
	 * by the holder when it hands c back or by the I/O thread under
	 * dlock when it ends c; the holder reads it (acquire) for an event. */
	atomic_bool driven;
	void *drv_ctx;			/* drive()'s ctx */
	/* Written by the holder before the hand-back, read after: */
	int drv_err;			/* read error to close with, or 0 */
	struct ep_conn *back_next;	/* on the back stack, then list */
};

struct ep_transport {
	struct actor__tcp_transport tcp;
	int epfd, tfd;
	/* Pushed by listen() from any thread; closed by destroy(). */
	_Atomic(struct actor__tcp_listener *) listeners;
	/* I/O thread only. */
	struct ep_conn *again;
	struct ep_conn *back_head, *back_tail;	/* handed back, taken off t->back */
	/* The driver: the set of driven connections and its wake-up. */
	int dfd, dwake;
	pthread_mutex_t dlock;		/* the holder's, or the I/O thread's */
	atomic_bool io_wants;		/* the I/O thread waits for dlock */
	struct epoll_event dev[MAX_EVENTS];	/* under dlock: ready, not read */
	int ndev;
	_Atomic(struct ep_conn *) back;	/* handed back by the holder */
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

static void drv_end(struct ep_transport *t, struct ep_conn *c);

/* The end of a connection marked by close(): at once, once its socket is
 * out of the epoll set. Closing the socket is not enough: a child forked
 * meanwhile holds the same open file, which keeps it in the set, and its
 * events would name a freed connection (ThreadSanitizer, tests/chaos). */
static void ep_end(struct actor__tcp_transport *tt, struct actor__tcp_conn *tc)
{
	struct ep_transport *t = (struct ep_transport *)tt;
	struct ep_conn *c = (struct ep_conn *)tc;

	drv_end(t, c);
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

/*
 * The driver (transport.h's drive and drv_ calls). A connection that
 * drive() named is handed over once the I/O thread has drained its input:
 * its socket leaves this thread's set for input (EPOLLOUT stays, for
 * writes) and is armed, EPOLLONESHOT and level-triggered, in a second set,
 * dfd, that the driver's holder waits on (drv_wait) or polls. Who reads
 * such a connection:
 *  - the holder of dlock, for a connection armed in dfd: the holder waits
 *    on dfd and reads under it. The I/O thread arms a connection only
 *    after it stopped reading it and set driven (release; the holder's
 *    acquire on the event's connection pairs with it), and takes dlock
 *    (cutting the holder's wait short through dwake) only to end one,
 *    so no event of dfd can name a connection it has freed;
 *  - the holder re-arms a connection after reading it (level-triggered:
 *    what is left reports again), or hands it back on the stack t->back
 *    when frame_driven() refuses a frame (PING, a reply, membership: the
 *    I/O thread's), on an error or an EOF, and wakes the I/O thread, which
 *    takes it back into its own set, delivers what the buffer holds from
 *    the refused frame on, and reads on; drained, it hands it over again.
 * On each tick the I/O thread also polls dfd itself (if no holder waits),
 * so that input is read even while every worker runs a long handler.
 */
static void ep_read(struct ep_transport *t, struct ep_conn *c, bool hup);

/*
 * The I/O thread's, to end a connection: takes dlock, waking the holder
 * if it waits. Mutexes are not fair: the holder, back from its wait,
 * could take dlock again before this thread and wait for good. So it does
 * not wait while io_wants is set (it looks under dlock, before waiting;
 * this thread sets it before the wake-up).
 */
static void drv_lock_io(struct ep_transport *t)
{
	uint64_t one = 1;

	if (pthread_mutex_trylock(&t->dlock) == 0)
		return;
	atomic_store(&t->io_wants, true);
	(void)!write(t->dwake, &one, sizeof(one));
	pthread_mutex_lock(&t->dlock);
	atomic_store(&t->io_wants, false);
}

static int ep_mod(struct ep_transport *t, int fd, uint32_t events, void *ptr, int kind)
{
	struct epoll_event ev = { .events = events, .data.u64 = (uintptr_t)ptr | (uintptr_t)kind };

	return epoll_ctl(t->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

#define CONN_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)
#define DRIVEN_EVENTS (EPOLLIN | EPOLLRDHUP | EPOLLONESHOT)

/* I/O thread: c's input is drained; hands it to the driver if due. */
static void ep_drive_now(struct ep_transport *t, struct ep_conn *c)
{
	struct epoll_event ev = { .events = DRIVEN_EVENTS, .data.ptr = c };
	int err;

	if (!c->drive_due || c->io_off || c->tcp.closing)
		return;
	/* Input watched only in dfd from here on; output here as before. */
	err = ep_mod(t, c->tcp.fd, EPOLLOUT | EPOLLET, c, EV_CONN);
	if (err == 0) {
		atomic_store_explicit(&c->driven, true, memory_order_release);
		if (epoll_ctl(t->dfd, c->in_dfd ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->tcp.fd,
			      &ev) < 0) {
			err = -errno;	/* not armed: no holder saw it */
			atomic_store_explicit(&c->driven, false, memory_order_relaxed);
		} else {
			c->in_dfd = true;
			c->io_off = true;
		}
	}
	if (err != 0) {
		/* Out of kernel memory: this thread keeps reading it. */
		c->drive_due = false;
		if (ep_mod(t, c->tcp.fd, CONN_EVENTS, c, EV_CONN) < 0)
			ep_close(c, -ENOMEM);
	}
}

static void ep_drive(struct actor__conn *conn, void *ctx)
{
	struct ep_conn *c = (struct ep_conn *)conn;

	/* User-space TLS decrypts on this thread only. */
	if (c->tcp.base.t->cb.frame_driven == NULL ||
	    (c->tcp.tls != NULL && actor__tls_rx_user(c->tcp.tls)))
		return;
	c->drive_due = true;
	c->drv_ctx = ctx;
}

/* The holder: c goes back to the I/O thread, with err to close with. */
static void drv_back(struct ep_transport *t, struct ep_conn *c, int err)
{
	struct ep_conn *head = atomic_load_explicit(&t->back, memory_order_relaxed);

	atomic_store_explicit(&c->driven, false, memory_order_relaxed);
	c->drv_err = err;
	do
		c->back_next = head;
	while (!atomic_compare_exchange_weak_explicit(&t->back, &head, c, memory_order_release,
						      memory_order_relaxed));
	actor__tcp_wake(&t->tcp.wake);
}

/*
 * One recv into c's input buffer, for the I/O thread's reads and the
 * driver's: 0 with *n bytes read (0 at EOF) into *room bytes of room, 1
 * when there is nothing to read now, or a negative errno to end c with
 * (the buffer's or the socket's).
 */
static int recv_once(struct ep_conn *c, size_t *n, size_t *room)
{
	unsigned char *p;
	ssize_t r;
	int err;

	if ((err = actor__tcp_rspace(&c->tcp, &p, room)) < 0)
		return err;
	do
		r = recv(c->tcp.fd, p, *room, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EAGAIN ? 1 : -errno;
	*n = (size_t)r;
	return 0;
}

/* The holder, under dlock: reads c and hands its frames to frame_driven()
 * with w, then re-arms it or hands it back. */
static void drv_read(struct ep_transport *t, struct ep_conn *c, void *w)
{
	struct epoll_event ev = { .events = DRIVEN_EVENTS, .data.ptr = c };

	if (!atomic_load_explicit(&c->driven, memory_order_acquire) ||
	    (w == NULL && c->tcp.closing))	/* the I/O thread's own tick */
		return;
	for (int i = 0; i < READ_BUDGET; i++) {
		size_t n, room;
		int err = recv_once(c, &n, &room);

		if (err == 1)
			break;
		/* At EOF (err 0) the I/O thread reads it again. */
		if (err < 0 || n == 0 ||
		    (err = actor__tcp_received_driven(&c->tcp, n, c->drv_ctx, w)) <= 0) {
			drv_back(t, c, err);
			return;
		}
		if (n < room)
			break;
	}
	if (epoll_ctl(t->dfd, EPOLL_CTL_MOD, c->tcp.fd, &ev) < 0)
		drv_back(t, c, 0);
}

/* Under dlock: waits on dfd, keeping the connections' events in t->dev. */
static int drv_collect(struct ep_transport *t, const struct timespec *ts)
{
	int n = epoll_pwait2(t->dfd, t->dev, MAX_EVENTS, ts, NULL), k = 0;

	if (n < 0 && errno == ENOSYS) {	/* before Linux 5.11: milliseconds */
		int ms = ts == NULL ? -1 : (int)((ts->tv_sec * 1000000000 + ts->tv_nsec + 999999) / 1000000);

		n = epoll_wait(t->dfd, t->dev, MAX_EVENTS, ms);
	}
	for (int i = 0; i < n; i++) {
		uint64_t v;

		if (t->dev[i].data.ptr == NULL)
			(void)!read(t->dwake, &v, sizeof(v));
		else
			t->dev[k++] = t->dev[i];
	}
	t->ndev = k;
	return k;
}

static void drv_dispatch_locked(struct ep_transport *t, void *w)
{
	for (int i = 0; i < t->ndev; i++)
		drv_read(t, t->dev[i].data.ptr, w);
	t->ndev = 0;
}

static int ep_drv_wait(struct actor__transport *b, unsigned timeout_us)
{
	struct ep_transport *t = ep_of(b);
	struct timespec ts = { .tv_sec = timeout_us / 1000000,
			       .tv_nsec = (long)(timeout_us % 1000000) * 1000 };

	pthread_mutex_lock(&t->dlock);
	if (atomic_load(&t->io_wants)) {
		/* Ending a connection: its turn first. */
		pthread_mutex_unlock(&t->dlock);
		sched_yield();
		return 0;
	}
	if (drv_collect(t, timeout_us != 0 ? &ts : NULL) > 0)
		return 1;	/* dlock stays held until ep_drv_dispatch */
	pthread_mutex_unlock(&t->dlock);
	return 0;
}

static void ep_drv_dispatch(struct actor__transport *b, void *w)
{
	struct ep_transport *t = ep_of(b);

	drv_dispatch_locked(t, w);
	pthread_mutex_unlock(&t->dlock);
}

static int ep_drv_poll(struct actor__transport *b, void *w)
{
	static const struct timespec now = { 0, 0 };
	struct ep_transport *t = ep_of(b);
	int n;

	if (pthread_mutex_trylock(&t->dlock) != 0)
		return -EBUSY;
	n = drv_collect(t, &now);
	drv_dispatch_locked(t, w);
	pthread_mutex_unlock(&t->dlock);
	return n;
}

static void ep_drv_wake(struct actor__transport *b)
{
	uint64_t one = 1;

	(void)!write(ep_of(b)->dwake, &one, sizeof(one));
}

/* I/O thread: moves what the holder handed back to the back list, in the
 * order it came. */
static void back_take(struct ep_transport *t)
{
	struct ep_conn *c = atomic_exchange_explicit(&t->back, NULL, memory_order_acquire), *rev = NULL;

	while (c != NULL) {
		struct ep_conn *next = c->back_next;

		c->back_next = rev;
		rev = c;
		c = next;
	}
	if (rev == NULL)
		return;
	if (t->back_tail != NULL)
		t->back_tail->back_next = rev;
	else
		t->back_head = rev;
	for (t->back_tail = rev; t->back_tail->back_next != NULL;)
		t->back_tail = t->back_tail->back_next;
}

/* I/O thread: reads again what the holder handed back. */
static void back_run(struct ep_transport *t)
{
	struct ep_conn *c;
	int err;

	back_take(t);
	while ((c = t->back_head) != NULL) {
		t->back_head = c->back_next;
		if (t->back_head == NULL)
			t->back_tail = NULL;
		c->io_off = false;
		if (c->tcp.closing)
			continue;
		if ((err = ep_mod(t, c->tcp.fd, CONN_EVENTS, c, EV_CONN)) < 0 ||
		    (err = c->drv_err) < 0 || (err = actor__tcp_received(&c->tcp, 0)) < 0) {
			ep_close(c, err);
			continue;
		}
		if (!c->tcp.closing)
			ep_read(t, c, false);
	}
}

/* I/O thread, ending c: takes it back from the driver for good. */
static void drv_end(struct ep_transport *t, struct ep_conn *c)
{
	if (c->in_dfd) {
		drv_lock_io(t);
		atomic_store_explicit(&c->driven, false, memory_order_relaxed);
		epoll_ctl(t->dfd, EPOLL_CTL_DEL, c->tcp.fd, NULL);
		c->in_dfd = false;
		pthread_mutex_unlock(&t->dlock);
	}
	if (!c->io_off)
		return;
	/* Handed back before dlock was ours: on the list now; off it. */
	back_take(t);
	for (struct ep_conn **p = &t->back_head, *prev = NULL; *p != NULL;
	     prev = *p, p = &(*p)->back_next) {
		if (*p == c) {
			*p = c->back_next;
			if (t->back_tail == c)
				t->back_tail = prev;
			break;
		}
	}
	c->io_off = false;
}

/* I/O thread, on a tick: what no worker waits for is read here. */
static void drv_poll_io(struct ep_transport *t)
{
	static const struct timespec now = { 0, 0 };

	if (pthread_mutex_trylock(&t->dlock) != 0)
		return;
	if (drv_collect(t, &now) > 0)
		drv_dispatch_locked(t, NULL);
	pthread_mutex_unlock(&t->dlock);
}

/* hup: the peer hung up or failed, so read to the end rather than stop at
 * a short read (no further edge would come for the EOF). */
static void ep_read(struct ep_transport *t, struct ep_conn *c, bool hup)
{
	for (int i = 0; i < READ_BUDGET; i++) {
		size_t n, room;
		int err = recv_once(c, &n, &room);

		if (err == 1) {
			ep_drive_now(t, c);
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
			ep_drive_now(t, c);
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
	if ((ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && !c->io_off)
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
			drv_poll_io(t);
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

	while (!actor__tcp_stopped(&t->tcp)) {
		bool sleep = t->again == NULL && actor__tcp_wake_sleep(&t->tcp.wake);
		int n = epoll_wait(t->epfd, ev, MAX_EVENTS, sleep ? -1 : 0);

		if (sleep)
			actor__tcp_wake_awake(&t->tcp.wake);
		for (int i = 0; i < n; i++)
			ep_event(t, &ev[i]);
		back_run(t);
		/* Detached first: a connection may go back on it. */
		c = t->again;
		t->again = NULL;
		for (; c != NULL; c = next) {
			next = c->again_next;
			c->in_again = false;
			if (!c->tcp.closing && !c->io_off)
				ep_read(t, c, true);
		}
		if (actor__tcp_wake_take(&t->tcp.wake))
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
	close(t->dfd);
	close(t->dwake);
	pthread_mutex_destroy(&t->dlock);
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
	.drive = ep_drive,
	.drv_wait = ep_drv_wait,
	.drv_dispatch = ep_drv_dispatch,
	.drv_poll = ep_drv_poll,
	.drv_wake = ep_drv_wake,
	.destroy = ep_destroy,
};

static const struct actor__tcp_backend ep_backend = {
	.write = ep_write,
	.end = ep_end,
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
	t->dfd = epoll_create1(EPOLL_CLOEXEC);
	t->dwake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&t->dlock, NULL);
	if (t->epfd < 0 || t->tfd < 0 || t->dfd < 0 || t->dwake < 0) {
		err = -errno;
		goto fail;
	}
	{
		struct epoll_event dw = { .events = EPOLLIN, .data.ptr = NULL };

		if (epoll_ctl(t->dfd, EPOLL_CTL_ADD, t->dwake, &dw) < 0) {
			err = -errno;
			goto fail;
		}
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
	if (t->dwake >= 0)
		close(t->dwake);
	if (t->dfd >= 0)
		close(t->dfd);
	pthread_mutex_destroy(&t->dlock);
	if (t->tfd >= 0)
		close(t->tfd);
	if (t->epfd >= 0)
		close(t->epfd);
	actor__tcp_transport_free(&t->tcp);
	return err;
}

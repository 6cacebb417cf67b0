/*
 * TCP on io_uring (liburing 2.3, Linux 6.x).
 *
 * The I/O thread creates the ring itself, with SINGLE_ISSUER|DEFER_TASKRUN
 * where the kernel has them, and is the only thread that touches it:
 * listen() from another thread hands its socket over through a lock-free
 * stack and a kick of the eventfd.
 *
 * Requests: one multishot accept per listener; one multishot recv per
 * connection, into a ring of provided buffers that are handed back as soon
 * as the frames in them are delivered (the reassembler copies only a
 * trailing partial frame), or a plain recv into the connection's own buffer
 * where buffer rings are missing (or ACTOR_URING_PBUF=0); at most one
 * SENDMSG per connection, with up to ACTOR__TCP_IOV queued frames, so that
 * a short send is simply resumed by the next one (other threads write on
 * the socket with a plain send() only while no SENDMSG is in flight and
 * nothing is queued: tcp.h, direct); a read of the wake-up
 * eventfd; a timeout for the ticks. With TLS (tls.h), the handshake comes
 * first: OpenSSL reads and writes the socket itself when a single-shot poll
 * says it may, and the recv is armed and the queue sent once it is done.
 *
 * user_data is a pointer with the request's kind in its low 3 bits, and
 * every connection counts its requests in flight. close() only marks the
 * connection; the loop then shuts the socket down and cancels everything on
 * its fd, and frees the connection once the last of its requests has
 * completed (for a multishot one: a CQE without F_MORE). So no CQE can name
 * a connection that is gone, and no kernel request outlives its buffers.
 *
 * The driver (idle workers reading connections; tcp.c, "The driver"): a
 * connection handed to it has no recv on the ring; the holder reads it
 * with recv() from the driver's epoll set, never submitting to the ring
 * (SINGLE_ISSUER stays true). See ur_drive_check for the hand-over.
 *
 * The connections, their list, send(), queued(), close() and the flush and
 * dead lists are tcp.c's (the connection core, tcp.h); this file has what
 * completion needs: the ring, its requests and their completions.
 */
#include "config.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "transport/tcp.h"
#include "util/time.h"

/* Provided buffers: 128 x 16 KiB per transport, group 0 of its own ring.
 * They go back to the kernel as soon as a CQE is handled, so this only has
 * to cover the input of one batch of completions. */
#define BUF_COUNT 128
#define BUF_SIZE (16 * 1024)
#define BGID 0

#define RING_ENTRIES 256
#define MAX_CQES 1024			/* per round, before the loop settles */

enum { OP_NONE, OP_ACCEPT, OP_RECV, OP_SEND, OP_CONNECT, OP_WAKE, OP_TICK, OP_POLL, OP_MASK = 7 };

/* tcp.writing: the SENDMSG in flight. */
struct ur_conn {
	struct actor__tcp_conn tcp;
	unsigned ops;			/* requests in flight naming it */
	bool cancelled;
	bool recv_on;			/* a recv is in flight (until its last CQE) */
	bool recv_cancel;		/* the driver's cancel of it was asked */
	struct sockaddr_storage addr;	/* connect */
	socklen_t addrlen;
	struct msghdr msg;		/* the send in flight */
	struct iovec iov[ACTOR__TCP_IOV];
};

struct ur_transport {
	struct actor__tcp_transport tcp;
	sem_t started;
	int start_err;
	bool pbuf;			/* try provided buffers */
	/* Pushed by listen(), taken by the I/O thread. */
	_Atomic(struct actor__tcp_listener *) fresh;
	/* I/O thread only. */
	struct io_uring ring;
	struct actor__tcp_listener *listeners;
	unsigned ops;			/* accepts, the wake read and the tick */
	bool stopping;
	uint64_t wake_buf;
	struct __kernel_timespec tick_ts;
	struct io_uring_buf_ring *br;	/* NULL: plain recv */
	unsigned char *bufs;
};

static inline struct ur_transport *ur_of(struct actor__transport *t)
{
	return (struct ur_transport *)t;
}

static struct io_uring_sqe *ur_sqe(struct ur_transport *t, void *p, int op)
{
	struct io_uring_sqe *sqe;

	while ((sqe = io_uring_get_sqe(&t->ring)) == NULL)
		io_uring_submit(&t->ring);
	io_uring_sqe_set_data64(sqe, (uintptr_t)p | (uintptr_t)op);
	return sqe;
}

static void ur_close(struct ur_conn *c, int reason)
{
	actor__tcp_close((struct actor__conn *)c, reason);
}

/* A request of c completed for good: a closing c can end now. */
static void ur_op_done(struct ur_transport *t, struct ur_conn *c)
{
	if (--c->ops == 0 && c->tcp.closing)
		actor__tcp_dead(&t->tcp, &c->tcp);
}

static void ur_recv_arm(struct ur_transport *t, struct ur_conn *c)
{
	struct io_uring_sqe *sqe;
	unsigned char *p;
	size_t len;
	int err;

	if (t->br != NULL) {
		sqe = ur_sqe(t, c, OP_RECV);
		io_uring_prep_recv_multishot(sqe, c->tcp.fd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = BGID;
	} else {
		if ((err = actor__tcp_rspace(&c->tcp, &p, &len)) < 0) {
			ur_close(c, err);
			return;
		}
		sqe = ur_sqe(t, c, OP_RECV);
		io_uring_prep_recv(sqe, c->tcp.fd, p, len, 0);
	}
	c->ops++;
	c->recv_on = true;
}

static void ur_send_arm(struct ur_transport *t, struct ur_conn *c)
{
	int n = actor__tcp_out_iov(&c->tcp, c->iov, ACTOR__TCP_IOV);
	struct io_uring_sqe *sqe;

	if (n < 0) {
		ur_close(c, n);
		return;
	}
	sqe = ur_sqe(t, c, OP_SEND);
	memset(&c->msg, 0, sizeof(c->msg));
	c->msg.msg_iov = c->iov;
	c->msg.msg_iovlen = (size_t)n;
	io_uring_prep_sendmsg(sqe, c->tcp.fd, &c->msg, MSG_NOSIGNAL);
	c->tcp.writing = true;
	c->ops++;
}

static void ur_write(struct actor__tcp_transport *t, struct actor__tcp_conn *c)
{
	ur_send_arm((struct ur_transport *)t, (struct ur_conn *)c);
}

/* The end of a closing connection, once nothing in flight names it: its
 * requests are ended first (shutdown() ends a recv or send at once; the
 * cancel takes whatever is still waiting), and the last completion puts it
 * back on the dead list (ur_op_done). */
static void ur_end(struct actor__tcp_transport *tt, struct actor__tcp_conn *tc)
{
	struct ur_transport *t = (struct ur_transport *)tt;
	struct ur_conn *c = (struct ur_conn *)tc;

	actor__tcp_drv_end(tt, tc);
	if (c->ops == 0) {
		actor__tcp_conn_end(tt, tc);
	} else if (!c->cancelled) {
		c->cancelled = true;
		shutdown(c->tcp.fd, SHUT_RDWR);
		io_uring_prep_cancel_fd(ur_sqe(t, NULL, OP_NONE), c->tcp.fd, IORING_ASYNC_CANCEL_ALL);
	}
}

static void ur_buf_recycle(struct ur_transport *t, unsigned bid)
{
	io_uring_buf_ring_add(t->br, t->bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
			      io_uring_buf_ring_mask(BUF_COUNT), 0);
	io_uring_buf_ring_advance(t->br, 1);
}

/*
 * The driver (tcp.c, "The driver"): drive() asks for c; once its recv is
 * gone and what it read is handled, the socket is read here with plain
 * recv() until drained and then handed to the driver's set. A multishot
 * recv is ended by a cancel (cancel pending: recv_cancel); its CQEs up
 * to the last (no IORING_CQE_F_MORE) are handled here in order, each
 * provided buffer going back to the ring as usual, so the bytes stay in
 * order and no two threads read c: the holder gets c only after the
 * ring's last read of it has completed. A single-shot recv (no buffer
 * ring) is cancelled the same way. Back from the holder (a refused
 * frame, EOF, an error), c is read here with recv() again (ur_read) and
 * handed over once drained, or closed; the multishot recv is armed again
 * only when c stays on this thread (drive() not asked, a failed hand-over,
 * the read budget spent). Model: tests/spin/handover.pml.
 */
static void ur_drive_check(struct ur_transport *t, struct ur_conn *c)
{
	if (c->tcp.drive_due && c->recv_on && !c->recv_cancel && !c->tcp.closing) {
		/* OP_NONE naming c: ur_cancel_done. */
		io_uring_prep_cancel64(ur_sqe(t, c, OP_NONE), (uintptr_t)c | OP_RECV, 0);
		c->ops++;
		c->recv_cancel = true;
	}
}

/* The cancel of c's recv asked by ur_drive_check completed. Refused
 * (-EALREADY: it was running in a kernel worker; -ENOENT: not found) while
 * the recv goes on with F_MORE, recv_cancel would stay set for good and c
 * would never be handed over: the recv's next CQE (or the next drive())
 * asks again. A recv that ended meanwhile cleared it at its last CQE
 * already; a cancel left over from a recv armed since is only one more
 * cancel, refused or honoured like the first. */
static void ur_cancel_done(struct ur_transport *t, struct ur_conn *c, int res)
{
	if (res < 0)
		c->recv_cancel = false;
	ur_op_done(t, c);
}

static void ur_drive(struct actor__conn *conn, void *ctx)
{
	struct ur_conn *c = (struct ur_conn *)conn;

	actor__tcp_drive(conn, ctx);
	ur_drive_check(ur_of(c->tcp.base.t), c);
}

/* No recv in flight: reads c until drained, then hands it to the driver,
 * or arms the recv if it stays here. Also the driver's read hook. */
static void ur_read(struct actor__tcp_transport *tt, struct actor__tcp_conn *tc)
{
	struct ur_transport *t = (struct ur_transport *)tt;
	struct ur_conn *c = (struct ur_conn *)tc;

	for (int i = 0; i < ACTOR__TCP_READ_BUDGET; i++) {
		size_t n, room;
		int err = actor__tcp_recv_once(tc, &n, &room);

		if (err == 1) {
			if (actor__tcp_drive_now(tt, tc))
				return;
			break;
		}
		if (err < 0 || n == 0) {
			ur_close(c, err < 0 ? err : actor__tcp_eof(tc));
			return;
		}
		if ((err = actor__tcp_received(tc, n)) < 0)
			ur_close(c, err);
		if (tc->closing)
			return;
	}
	ur_recv_arm(t, c);
}

/* The driver's hook: nothing to switch, the recv is gone already. */
static int ur_reads(struct actor__tcp_transport *t, struct actor__tcp_conn *c, bool on)
{
	(void)t;
	(void)c;
	(void)on;
	return 0;
}

static void ur_recv_done(struct ur_transport *t, struct ur_conn *c, int res, unsigned flags)
{
	bool more = flags & IORING_CQE_F_MORE;
	int err = 0;

	if (flags & IORING_CQE_F_BUFFER) {
		unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;

		if (res > 0 && !c->tcp.closing)
			err = actor__tcp_input(&c->tcp, t->bufs + (size_t)bid * BUF_SIZE,
					       (size_t)res);
		ur_buf_recycle(t, bid);
	} else if (res > 0 && !c->tcp.closing) {
		err = actor__tcp_received(&c->tcp, (size_t)res);
	}
	if (err < 0)
		ur_close(c, err);
	else if (res == 0)
		ur_close(c, actor__tcp_eof(&c->tcp));
	else if (res < 0 && res != -ENOBUFS && res != -ECANCELED)
		ur_close(c, res);
	/* ENOBUFS ended the multishot with the data still in the socket;
	 * the buffers handled before it are back, so just ask again.
	 * ECANCELED: the driver's cancel (or one of close(), then c is
	 * closing); the bytes not read are in the socket as well. */
	if (!more) {
		c->recv_on = false;
		c->recv_cancel = false;
		if (!c->tcp.closing) {
			if (c->tcp.drive_due)
				ur_read(&t->tcp, &c->tcp);
			else
				ur_recv_arm(t, c);
		}
		ur_op_done(t, c);
	} else {
		ur_drive_check(t, c);
	}
}

static void ur_send_done(struct ur_transport *t, struct ur_conn *c, int res)
{
	struct actor__transport *b = &t->tcp.base;

	c->tcp.writing = false;
	if (!c->tcp.closing) {
		if (res < 0) {
			ur_close(c, res);
		} else {
			if (actor__tcp_out_sent(&c->tcp, (size_t)res))
				b->cb.writable(b->cb.arg, (struct actor__conn *)c);
			if (!c->tcp.closing && actor__tcp_out_pending(&c->tcp))
				ur_send_arm(t, c);
			else
				actor__tcp_direct_maybe(&c->tcp);
		}
	}
	ur_op_done(t, c);
}

/* A step of the TLS handshake: a poll for what it waits for, or, once it
 * is done, the recv and the frames queued meanwhile. */
static void ur_handshake(struct ur_transport *t, struct ur_conn *c)
{
	int want, r = actor__tcp_tls_step(&c->tcp, &want);

	if (r < 0) {
		ur_close(c, r);
	} else if (r == 0) {
		io_uring_prep_poll_add(ur_sqe(t, c, OP_POLL), c->tcp.fd,
				       want == ACTOR__TLS_WANT_READ ? POLLIN : POLLOUT);
		c->ops++;
	} else {
		ur_recv_arm(t, c);
		if (!c->tcp.closing && actor__tcp_out_pending(&c->tcp))
			actor__tcp_flush_later(&t->tcp, &c->tcp);
		actor__tcp_direct_maybe(&c->tcp);	/* kTLS both ways: plain */
	}
}

static void ur_poll_done(struct ur_transport *t, struct ur_conn *c, int res)
{
	if (!c->tcp.closing) {
		if (res < 0)
			ur_close(c, res);
		else
			ur_handshake(t, c);
	}
	ur_op_done(t, c);
}

/* A new connection is up: reads start, or the TLS handshake does. */
static void ur_conn_start(struct ur_transport *t, struct ur_conn *c)
{
	if (actor__tcp_handshaking(&c->tcp))
		ur_handshake(t, c);
	else
		ur_recv_arm(t, c);
}

static void ur_connect_done(struct ur_transport *t, struct ur_conn *c, int res)
{
	struct actor__transport *b = &t->tcp.base;

	c->tcp.connecting = false;
	if (!c->tcp.closing) {
		if (res < 0) {
			ur_close(c, res);
		} else {
			ur_conn_start(t, c);
			b->cb.connected(b->cb.arg, (struct actor__conn *)c);
			if (!c->tcp.closing && c->tcp.out.head != NULL)
				actor__tcp_flush_later(&t->tcp, &c->tcp);
			actor__tcp_direct_maybe(&c->tcp);
		}
	}
	ur_op_done(t, c);
}

static void ur_accept_arm(struct ur_transport *t, struct actor__tcp_listener *l)
{
	io_uring_prep_multishot_accept(ur_sqe(t, l, OP_ACCEPT), l->fd, NULL, NULL,
				       SOCK_NONBLOCK | SOCK_CLOEXEC);
	t->ops++;
}

static void ur_accept_done(struct ur_transport *t, struct actor__tcp_listener *l, int res,
			   unsigned flags)
{
	struct actor__transport *b = &t->tcp.base;
	struct ur_conn *c;

	/* Out of descriptors, armed again at once, it fails again at once:
	 * wait for a tick or a closed socket instead (tcp.h). */
	if (!(flags & IORING_CQE_F_MORE)) {
		t->ops--;
		if (!t->stopping && actor__tcp_accept_starved(res))
			actor__tcp_accept_wait(&t->tcp, l);
		else if (!t->stopping)
			ur_accept_arm(t, l);
	}
	if (res < 0)
		return;
	if (t->stopping ||
	    (c = (struct ur_conn *)actor__tcp_conn_new(&t->tcp, sizeof(*c), res, true)) == NULL) {
		close(res);
		return;
	}
	actor__tcp_nodelay(res);
	ur_conn_start(t, c);
	b->cb.accepted(b->cb.arg, (struct actor__conn *)c);
	actor__tcp_direct_maybe(&c->tcp);
}

static void ur_accept_again(struct actor__tcp_transport *t, struct actor__tcp_listener *l)
{
	ur_accept_arm((struct ur_transport *)t, l);
}

/* Accepts that waited for descriptors, when due (tcp.h). */
static void ur_accept_retry(struct ur_transport *t, bool tick)
{
	if (!t->stopping)
		actor__tcp_accept_retry(&t->tcp, t->listeners, tick, ur_accept_again);
}

static void ur_wake_arm(struct ur_transport *t)
{
	io_uring_prep_read(ur_sqe(t, NULL, OP_WAKE), t->tcp.wake.fd, &t->wake_buf, sizeof(t->wake_buf),
			   0);
	t->ops++;
}

static void ur_tick_arm(struct ur_transport *t)
{
	io_uring_prep_timeout(ur_sqe(t, NULL, OP_TICK), &t->tick_ts, 0, 0);
	t->ops++;
}

static void ur_cqe(struct ur_transport *t, uint64_t ud, int res, unsigned flags)
{
	void *p = (void *)(uintptr_t)(ud & ~(uint64_t)OP_MASK);

	switch (ud & OP_MASK) {
	case OP_NONE:	/* the cancels: only the driver's names a connection */
		if (p != NULL)
			ur_cancel_done(t, p, res);
		break;
	case OP_ACCEPT:
		ur_accept_done(t, p, res, flags);
		break;
	case OP_RECV:
		ur_recv_done(t, p, res, flags);
		break;
	case OP_SEND:
		ur_send_done(t, p, res);
		break;
	case OP_CONNECT:
		ur_connect_done(t, p, res);
		break;
	case OP_POLL:
		ur_poll_done(t, p, res);
		break;
	case OP_WAKE:
		t->ops--;
		if (!t->stopping)
			ur_wake_arm(t);
		break;
	case OP_TICK:
		t->ops--;
		if (!t->stopping) {
			ur_tick_arm(t);
			if (res == -ETIME) {
				ur_accept_retry(t, true);
				t->tcp.base.cb.tick(t->tcp.base.cb.arg);
				actor__tcp_drv_poll_io(&t->tcp);
			}
		}
		break;
	}
}

static void ur_reap(struct ur_transport *t)
{
	struct io_uring_cqe *cqe;

	for (int i = 0; i < MAX_CQES && io_uring_peek_cqe(&t->ring, &cqe) == 0; i++) {
		uint64_t ud = cqe->user_data;
		int res = cqe->res;
		unsigned flags = cqe->flags;

		io_uring_cqe_seen(&t->ring, cqe);
		ur_cqe(t, ud, res, flags);
	}
}

/* Arms accepts for the sockets listen() handed over. */
static void ur_adopt(struct ur_transport *t)
{
	struct actor__tcp_listener *l, *next;

	if (atomic_load_explicit(&t->fresh, memory_order_relaxed) == NULL)
		return;
	for (l = atomic_exchange(&t->fresh, NULL); l != NULL; l = next) {
		next = l->next;
		l->next = t->listeners;
		t->listeners = l;
		if (!t->stopping)
			ur_accept_arm(t, l);
	}
}

static int ur_listen(struct actor__transport *b, const char *host, uint16_t port,
		     uint16_t *bound)
{
	struct ur_transport *t = ur_of(b);
	struct actor__tcp_listener *l;
	int err;

	if ((err = actor__tcp_listener_open(host, port, bound, &l)) < 0)
		return err;
	actor__tcp_listener_push(&t->fresh, l);
	/* The loop adopts it before it next waits; from another thread it
	 * may be waiting already. */
	actor__tcp_wake_kick(&t->tcp.wake);
	return 0;
}

static int ur_connect(struct actor__transport *b, const char *host, uint16_t port, void *data,
		      struct actor__conn **out)
{
	struct ur_transport *t = ur_of(b);
	struct actor__tcp_conn *tc;
	struct ur_conn *c;
	struct sockaddr_storage ss;
	socklen_t len;
	int err;

	if ((err = actor__tcp_dial(&t->tcp, sizeof(*c), host, port, data, &ss, &len, &tc)) < 0)
		return err;
	c = (struct ur_conn *)tc;
	c->addr = ss;
	c->addrlen = len;
	io_uring_prep_connect(ur_sqe(t, c, OP_CONNECT), tc->fd, (struct sockaddr *)&c->addr, len);
	c->ops++;
	*out = (struct actor__conn *)c;
	return 0;
}

/* destroy(): ends every connection, takes back every other request. */
static void ur_stop(struct ur_transport *t)
{
	t->stopping = true;
	ur_adopt(t);
	actor__tcp_close_all(&t->tcp, -ECANCELED);
	for (struct actor__tcp_listener *l = t->listeners; l != NULL; l = l->next)
		io_uring_prep_cancel_fd(ur_sqe(t, NULL, OP_NONE), l->fd, IORING_ASYNC_CANCEL_ALL);
	io_uring_prep_cancel64(ur_sqe(t, NULL, OP_NONE), OP_WAKE, 0);
	io_uring_prep_cancel64(ur_sqe(t, NULL, OP_NONE), OP_TICK, 0);
}

/* Provided buffers, registered by hand: liburing 2.3 has no
 * io_uring_setup_buf_ring. Without them recv reads into c->tcp.in. */
static void ur_bufs_init(struct ur_transport *t)
{
	size_t sz = BUF_COUNT * sizeof(struct io_uring_buf);
	struct io_uring_buf_reg reg = { .ring_entries = BUF_COUNT, .bgid = BGID };
	void *br = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);

	if (br == MAP_FAILED)
		return;
	t->bufs = malloc((size_t)BUF_COUNT * BUF_SIZE);
	reg.ring_addr = (unsigned long)br;
	if (t->bufs == NULL || io_uring_register_buf_ring(&t->ring, &reg, 0) < 0) {
		free(t->bufs);
		t->bufs = NULL;
		munmap(br, sz);
		return;
	}
	t->br = br;
	io_uring_buf_ring_init(t->br);
	for (unsigned i = 0; i < BUF_COUNT; i++)
		io_uring_buf_ring_add(t->br, t->bufs + (size_t)i * BUF_SIZE, BUF_SIZE,
				      (unsigned short)i, io_uring_buf_ring_mask(BUF_COUNT), (int)i);
	io_uring_buf_ring_advance(t->br, BUF_COUNT);
}

static void ur_bufs_fini(struct ur_transport *t)
{
	if (t->br == NULL)
		return;
	io_uring_unregister_buf_ring(&t->ring, BGID);
	munmap(t->br, BUF_COUNT * sizeof(struct io_uring_buf));
	free(t->bufs);
}

/* The ring, made on the I/O thread so that SINGLE_ISSUER names it. */
static int ur_ring_init(struct ur_transport *t)
{
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,	/* 6.1 */
		IORING_SETUP_COOP_TASKRUN,					/* 5.19 */
		0,
	};
	int err = -EINVAL;

	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]) && err == -EINVAL; i++) {
		struct io_uring_params p = { .flags = tries[i] };

		err = io_uring_queue_init_params(RING_ENTRIES, &t->ring, &p);
	}
	if (err < 0)
		return err;
	io_uring_register_ring_fd(&t->ring);
	if (t->pbuf)
		ur_bufs_init(t);
	ur_wake_arm(t);
	ur_tick_arm(t);
	return 0;
}

static void *ur_run(void *arg)
{
	struct ur_transport *t = arg;
	struct actor__transport *b = &t->tcp.base;
	bool woke;

	t->start_err = ur_ring_init(t);
	sem_post(&t->started);
	if (t->start_err < 0)
		return NULL;
	for (;;) {
		ur_adopt(t);
		if (!t->stopping && actor__tcp_stopped(&t->tcp))
			ur_stop(t);
		actor__tcp_settle(&t->tcp);
		ur_accept_retry(t, false);
		if (t->stopping && actor__list_empty(&t->tcp.conns) && t->ops == 0)
			break;
		if (actor__tcp_wake_sleep(&t->tcp.wake)) {
			io_uring_submit_and_wait(&t->ring, 1);
			actor__tcp_wake_awake(&t->tcp.wake);
		} else {
			io_uring_submit_and_get_events(&t->ring);
		}
		ur_reap(t);
		/* After the take: a hand-back pushed after it wakes the next
		 * wait, and one pushed before it is taken here. */
		woke = actor__tcp_wake_take(&t->tcp.wake);
		actor__tcp_back_run(&t->tcp);
		if (woke && !t->stopping)
			b->cb.woken(b->cb.arg);
	}
	actor__tcp_listeners_free(t->listeners);
	ur_bufs_fini(t);
	io_uring_queue_exit(&t->ring);
	return NULL;
}

static void ur_destroy(struct actor__transport *b)
{
	struct ur_transport *t = ur_of(b);

	actor__tcp_transport_join(&t->tcp);
	sem_destroy(&t->started);
	actor__tcp_transport_destroy(&t->tcp);
}

static const struct actor__transport_ops ur_ops = {
	.name = "uring",
	.listen = ur_listen,
	.connect = ur_connect,
	.send = actor__tcp_send,
	.try_send = actor__tcp_try_send,
	.queued = actor__tcp_queued,
	.close = actor__tcp_close,
	.wake = actor__tcp_wake_op,
	.drive = ur_drive,
	.drv_wait = actor__tcp_drv_wait,
	.drv_dispatch = actor__tcp_drv_dispatch,
	.drv_poll = actor__tcp_drv_poll,
	.drv_wake = actor__tcp_drv_wake,
	.destroy = ur_destroy,
};

static const struct actor__tcp_backend ur_backend = {
	.write = ur_write,
	.end = ur_end,
	.reads = ur_reads,
	.read = ur_read,
};

int actor__uring_create(const struct actor__transport_config *cfg,
			const struct actor__transport_cb *cb, struct actor__transport **out)
{
	int err;
	struct ur_transport *t = actor__tcp_transport_new(sizeof(*t), &ur_ops, &ur_backend, cfg,
							  cb, &err);
	const char *pbuf = getenv("ACTOR_URING_PBUF");
	struct timespec tick;

	if (t == NULL)
		return err;
	tick = actor__timespec_of(t->tcp.base.cfg.tick_ns);
	t->tick_ts.tv_sec = (long long)tick.tv_sec;
	t->tick_ts.tv_nsec = (long long)tick.tv_nsec;
	t->pbuf = pbuf == NULL || strcmp(pbuf, "0") != 0;
	sem_init(&t->started, 0, 0);
	if ((err = actor__tcp_thread(&t->tcp.thread, &t->tcp.base.cfg, ur_run, t)) < 0)
		goto fail;
	while (sem_wait(&t->started) < 0)
		;
	if ((err = t->start_err) < 0) {
		pthread_join(t->tcp.thread, NULL);
		goto fail;
	}
	*out = &t->tcp.base;
	return 0;
fail:
	sem_destroy(&t->started);
	actor__tcp_transport_free(&t->tcp);
	return err;
}

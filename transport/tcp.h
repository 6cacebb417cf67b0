/*
 * What the two TCP transports (tcp_epoll.c, tcp_uring.c) share: addresses
 * and sockets, the inbound frame reassembler, the outbound frame queue, TLS
 * (tls.h) between them and the socket, the wake-up protocol, the
 * configuration defaults, and the connection core: the transport and
 * connection structures, connection creation and the connection list,
 * listeners, the send/queued/close/wake operations, the flush list of
 * connections with frames to write and the dead list of closed ones,
 * creation and destruction of the transport, and the driver (idle workers
 * reading connections handed to them). A backend keeps only what
 * differs: readiness (epoll) against completion (io_uring), in four hooks
 * (struct actor__tcp_backend) and its own loop.
 *
 * Everything here except actor__tcp_wake(), actor__tcp_wake_op(),
 * actor__tcp_try_send(), the drv_ operations, the listener stack and the
 * socket helpers runs on the I/O thread only.
 *
 * Ends of a connection that transport.h leaves open: an orderly EOF from
 * the peer at a frame boundary closes with reason 0, an EOF inside a frame
 * with -ECONNRESET (bytes were lost), and destroy() closes what is left with
 * -ECANCELED.
 */
#ifndef ACTOR_TRANSPORT_TCP_H
#define ACTOR_TRANSPORT_TCP_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "transport/tls.h"
#include "transport/transport.h"
#include "util/list.h"

/* Frames per sendmsg (IOV_MAX is 1024). With 24-byte frames over
 * loopback, 64 gave 1.6 M frames/s, 256 gave 2.6 M and 1024 2.8 M; 256
 * keeps io_uring's per-connection iovec array at 4 KiB. */
#define ACTOR__TCP_IOV 256

/* Reads of one connection in a row before the others get their turn (the
 * epoll I/O thread's, and the driver's holder's). */
#define ACTOR__TCP_READ_BUDGET 16

/* Fills in the defaults of transport.h for the fields left 0, and no-ops
 * for the callbacks left NULL. */
void actor__tcp_config(struct actor__transport_config *cfg, struct actor__transport_cb *cb);

/* Sockets. Each returns a file descriptor or -errno. */

/* An IPv4 or IPv6 literal ("::1" or "[::1]") or "localhost" (127.0.0.1). */
int actor__tcp_addr(const char *host, uint16_t port, struct sockaddr_storage *ss,
		    socklen_t *len);
/* Bound and listening, nonblocking, close-on-exec, SO_REUSEADDR; *bound
 * gets the port (may be NULL). A port in use is tried again for up to
 * ACTOR__TCP_BIND_WAIT_NS (a killed node's ring still holding it) before
 * -EADDRINUSE. */
#define ACTOR__TCP_BIND_WAIT_NS (250ull * 1000 * 1000)
int actor__tcp_listen(const char *host, uint16_t port, uint16_t *bound);
/* A nonblocking, close-on-exec stream socket with TCP_NODELAY. */
int actor__tcp_socket(int family);
/* TCP_NODELAY on an accepted socket. */
void actor__tcp_nodelay(int fd);

/*
 * Inbound: one contiguous buffer per connection, bytes [start, end) not yet
 * delivered. It grows up to max_frame + 4 and is compacted after frames
 * are delivered, so it holds at most one partial frame between reads.
 */
struct actor__tcp_rbuf {
	unsigned char *buf;
	size_t cap, start, end;
};

/*
 * Outbound: a FIFO of frames linked through env->next. off bytes of the
 * head are already written; queued counts what is not.
 */
struct actor__tcp_outq {
	struct actor__env *head, *tail;
	size_t off;
	size_t queued;
	bool high;			/* reached high_water, writable() owed */
};

/* The start of both backends' connections. */
struct actor__tcp_conn {
	struct actor__conn_base base;	/* first: transport.h's accessors */
	int fd;
	bool connecting;		/* connect() under way, connected() not called yet */
	bool closing;			/* close() was called: no more callbacks but closed() */
	bool writing;			/* a write waits: epoll's EAGAIN until EPOLLOUT,
					 * io_uring's SENDMSG in flight */
	bool in_flush, in_dead;		/* on the transport's flush or dead list */
	int reason;
	bool writable_due;		/* TLS: writable() owed once the ciphertext is out */
	struct actor__tcp_rbuf in;
	struct actor__tcp_outq out;
	/* NULL: plain TCP, or TLS with both directions in the kernel. */
	struct actor__tls *tls;
	struct actor__list node;	/* the transport's conns */
	struct actor__tcp_conn *flush_next, *dead_next;
	/*
	 * Writes from other threads (actor__tcp_try_send). direct, under
	 * wlock, says that the socket is theirs to write: the I/O thread sets
	 * it when its queue is empty and no write waits or is in flight, and
	 * clears it before it queues anything or closes; a writer that
	 * finds it set writes under wlock, so writers never overlap. A
	 * writer whose frame goes out only in part clears it, queues the rest
	 * (the queue is empty, and the I/O thread leaves it alone while
	 * direct is set) and hands c to the I/O thread on t->handed.
	 * direct_io is the I/O thread's note that it set direct.
	 */
	pthread_mutex_t wlock;
	bool direct;
	bool direct_io;
	_Atomic bool handed;		/* on t->handed */
	struct actor__tcp_conn *handed_next;
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
	struct actor__tcp_conn *back_next;	/* on the back stack, then list */
};

/*
 * TLS. With a context (else nothing to do), c starts its handshake as the
 * server or the client: 0 or -ENOMEM. While actor__tcp_handshaking(c), the
 * backend calls actor__tcp_tls_step() whenever the socket may be readable
 * or writable (it reads and writes the socket itself; nothing else may),
 * sends nothing and does not read. 1 ends it: then the backend reads what
 * the socket holds and sends what was queued meanwhile, through the calls
 * below, which encrypt and decrypt whatever the kernel does not. 0 and
 * *want (ACTOR__TLS_WANT_READ or _WRITE): waiting; < 0: failed.
 */
int actor__tcp_tls_begin(struct actor__tcp_conn *c, struct actor__tls_ctx *x, bool server);
int actor__tcp_tls_step(struct actor__tcp_conn *c, int *want);

static inline bool actor__tcp_handshaking(const struct actor__tcp_conn *c)
{
	return c->tls != NULL && actor__tls_handshaking(c->tls);
}

/*
 * Room to read socket bytes into: the end of the input buffer (compacting
 * or growing it as the partial frame needs), or TLS's ciphertext buffer;
 * *len 0 never happens. -ENOMEM.
 */
int actor__tcp_rspace(struct actor__tcp_conn *c, unsigned char **p, size_t *len);
/* n bytes were read into the room given by actor__tcp_rspace: delivers the
 * complete frames. 0, or -EMSGSIZE for a bad length prefix, or a TLS error. */
int actor__tcp_received(struct actor__tcp_conn *c, size_t n);
/* The driver's actor__tcp_received (plain TCP or kernel TLS only): n
 * bytes were read; calls frame_driven() for each complete frame. 1: all
 * taken; 0: one was refused, and it and the rest stay in the buffer for
 * actor__tcp_received(c, 0) on the I/O thread; -EMSGSIZE. Reads nothing
 * the I/O thread writes (not even closing). */
int actor__tcp_received_driven(struct actor__tcp_conn *c, size_t n, void *ctx, void *w);
/* One recv into c's input buffer (the I/O thread's plain reads and the
 * driver's): 0 with *n bytes read (0 at EOF) into *room bytes of room, 1
 * when there is nothing to read now, or a negative errno to end c with
 * (the buffer's or the socket's). */
int actor__tcp_recv_once(struct actor__tcp_conn *c, size_t *n, size_t *room);
/* Delivers bytes read elsewhere (a provided buffer), keeping only the
 * trailing partial frame. 0, -EMSGSIZE, -ENOMEM or a TLS error. */
int actor__tcp_input(struct actor__tcp_conn *c, const unsigned char *p, size_t n);
/* The reason for an EOF now: 0 at a frame (and TLS record) boundary, else
 * -ECONNRESET. */
int actor__tcp_eof(const struct actor__tcp_conn *c);

void actor__tcp_outq_push(struct actor__tcp_conn *c, struct actor__env **frames, size_t n);
/* Up to max iovecs for the head of the queue; returns how many. */
int actor__tcp_outq_iov(const struct actor__tcp_outq *q, struct iovec *iov, int max);
/* n bytes were written: frees the frames done. True when writable() is due. */
bool actor__tcp_outq_sent(struct actor__tcp_conn *c, size_t n);

/* What the backends write, TLS or not: whether anything waits; up to max
 * iovecs of it (with TLS in user space, one of ciphertext, made from the
 * queue as needed), or a negative error; n bytes of them were written, true when
 * writable() is due. */
bool actor__tcp_out_pending(const struct actor__tcp_conn *c);
int actor__tcp_out_iov(struct actor__tcp_conn *c, struct iovec *iov, int max);
bool actor__tcp_out_sent(struct actor__tcp_conn *c, size_t n);

/* Frees both buffers, every frame still queued and the TLS state. */
void actor__tcp_conn_fini(struct actor__tcp_conn *c);

/*
 * Wake-ups: an eventfd written only while the I/O thread sleeps (or is
 * about to). A waker sets pending, then reads sleeping; the I/O thread sets
 * sleeping, then reads pending, and blocks only if nothing is pending. Both
 * sides use sequentially consistent accesses, so at least one of them sees
 * the other's store: either the waker writes the eventfd or the I/O thread
 * does not block. Model: tests/spin/tcp.pml.
 */
struct actor__tcp_wake {
	int fd;
	atomic_bool pending;
	atomic_bool sleeping;
};

int actor__tcp_wake_init(struct actor__tcp_wake *w);
void actor__tcp_wake_fini(struct actor__tcp_wake *w);
/* Any thread: woken() is due. */
void actor__tcp_wake(struct actor__tcp_wake *w);
/* Any thread: makes the I/O thread's wait return, with no woken(). */
void actor__tcp_wake_kick(struct actor__tcp_wake *w);
/* I/O thread, before a blocking wait: false when it must not block. */
bool actor__tcp_wake_sleep(struct actor__tcp_wake *w);
/* I/O thread, after the wait. */
void actor__tcp_wake_awake(struct actor__tcp_wake *w);
/* I/O thread: true once for each pending wake-up; then call woken(). */
bool actor__tcp_wake_take(struct actor__tcp_wake *w);

/* Starts the I/O thread named cfg->thread_name or "actor-io". */
int actor__tcp_thread(pthread_t *th, const struct actor__transport_config *cfg,
		      void *(*fn)(void *), void *arg);

/*
 * The connection core.
 *
 * Life cycle of a connection: made by actor__tcp_conn_new() (accepted) or
 * actor__tcp_dial() (connecting) and put on t->conns; close() (from the
 * user, the backend or actor__tcp_close_all()) marks it closing and puts it
 * on the dead list; actor__tcp_settle() hands it to the backend's end(),
 * which calls actor__tcp_conn_end() once no event or request can name it
 * (epoll: at once; io_uring: when its last request has completed, else it
 * cancels them and the backend puts it back on the dead list with
 * actor__tcp_dead()). conn_end() calls closed() and frees it.
 */
struct actor__tcp_transport;

struct actor__tcp_backend {
	/* c has frames to write, is not closing and no write waits: write
	 * (epoll: sendmsg until EAGAIN) or start one (io_uring). */
	void (*write)(struct actor__tcp_transport *t, struct actor__tcp_conn *c);
	/* c is closing: end it with actor__tcp_conn_end() now or later
	 * (call actor__tcp_drv_end() first). */
	void (*end)(struct actor__tcp_transport *t, struct actor__tcp_conn *c);
	/* The driver: on false, c's input is about to be handed to it, and
	 * this backend's own waits must stop reporting it (epoll: its set
	 * keeps only EPOLLOUT); on true, c is back (or the hand-over failed)
	 * and they report it again. 0 or -errno. */
	int (*reads)(struct actor__tcp_transport *t, struct actor__tcp_conn *c, bool on);
	/* c came back from the driver and what its buffer held is handled:
	 * read on (and hand it over again with actor__tcp_drive_now() once
	 * drained). */
	void (*read)(struct actor__tcp_transport *t, struct actor__tcp_conn *c);
};

/*
 * The driver (transport.h's drive and drv_ calls), the same for both
 * backends: an epoll set, dfd, of the connections handed over to the
 * thread holding the driver (an idle worker), which waits on it
 * (drv_wait) or polls it and reads them with recv(), whichever backend
 * reads them otherwise. See tcp.c, "The driver".
 */
#define ACTOR__TCP_DRV_EVENTS 64
struct actor__tcp_driver {
	int dfd, dwake;			/* the set and its wake-up eventfd */
	pthread_mutex_t dlock;		/* the holder's, or the I/O thread's */
	atomic_bool io_wants;		/* the I/O thread waits for dlock */
	struct epoll_event dev[ACTOR__TCP_DRV_EVENTS];	/* under dlock: ready, not read */
	int ndev;
	_Atomic(struct actor__tcp_conn *) back;	/* handed back by the holder */
	/* I/O thread only: handed back, taken off back, in order. */
	struct actor__tcp_conn *back_head, *back_tail;
};

/* The start of both backends' transports. */
struct actor__tcp_transport {
	struct actor__transport base;	/* first: transport.h's */
	const struct actor__tcp_backend *backend;
	struct actor__tcp_wake wake;
	atomic_bool stop;		/* destroy() was called */
	pthread_t thread;
	/* I/O thread only. */
	struct actor__list conns;	/* every connection, newest first */
	struct actor__tcp_conn *flush;	/* send() marked these: write them */
	struct actor__tcp_conn *dead;	/* close() marked these: end them */
	/* Any thread pushes: a try_send left the rest of a frame queued. */
	_Atomic(struct actor__tcp_conn *) handed;
	unsigned accept_waiting;	/* listeners out of descriptors */
	bool fd_freed;			/* a connection's socket closed since */
	struct actor__tcp_driver drv;
};

/*
 * A transport of size bytes (a backend's structure that starts with struct
 * actor__tcp_transport), zeroed, with the configuration and callbacks
 * completed (actor__tcp_config), the wake-up eventfd and the driver's set:
 * the preamble of a backend's create(). NULL and *err (-ENOMEM, or the
 * eventfd's or epoll's error).
 */
void *actor__tcp_transport_new(size_t size, const struct actor__transport_ops *ops,
			       const struct actor__tcp_backend *backend,
			       const struct actor__transport_config *cfg,
			       const struct actor__transport_cb *cb, int *err);
/* Frees what actor__tcp_transport_new() made, when create() fails: the
 * TLS context stays the caller's then. */
void actor__tcp_transport_free(struct actor__tcp_transport *t);
/* destroy(): tells the I/O thread to stop and waits for it. */
void actor__tcp_transport_join(struct actor__tcp_transport *t);
/* destroy(), after the backend's own: the TLS context, the eventfd, t. */
void actor__tcp_transport_destroy(struct actor__tcp_transport *t);

static inline bool actor__tcp_stopped(struct actor__tcp_transport *t)
{
	return atomic_load_explicit(&t->stop, memory_order_acquire);
}

/* A connection of size bytes (a backend's structure that starts with
 * struct actor__tcp_conn) on fd, its TLS handshake begun as the server or
 * the client, on t->conns. NULL when out of memory (fd stays open). */
struct actor__tcp_conn *actor__tcp_conn_new(struct actor__tcp_transport *t, size_t size, int fd,
					    bool server);
/* connect()'s preamble: the address, a socket and a connection (of size
 * bytes, connecting, base.data = data). 0 or -errno, with nothing left. */
int actor__tcp_dial(struct actor__tcp_transport *t, size_t size, const char *host, uint16_t port,
		    void *data, struct sockaddr_storage *ss, socklen_t *len,
		    struct actor__tcp_conn **out);
/* Takes back a connection that was never announced (no closed()): off the
 * list, its state freed, its socket closed. */
void actor__tcp_conn_drop(struct actor__tcp_conn *c);
/* Ends a closing connection: off every list, its socket closed, its state
 * freed, closed() called, freed. */
void actor__tcp_conn_end(struct actor__tcp_transport *t, struct actor__tcp_conn *c);

/* The dead list, for a closing connection (once). */
void actor__tcp_dead(struct actor__tcp_transport *t, struct actor__tcp_conn *c);
/* The flush list, unless c is on it, connecting, handshaking or waiting
 * for a write to finish. */
void actor__tcp_flush_later(struct actor__tcp_transport *t, struct actor__tcp_conn *c);
/* I/O thread, when a write has ended with nothing left to write: lets
 * other threads write on c (try_send) if nothing else keeps them off. */
void actor__tcp_direct_maybe(struct actor__tcp_conn *c);
/* Writes what the flush list (and t->handed) names, then ends what the
 * dead list does, until all are empty (closed() may mark more). */
void actor__tcp_settle(struct actor__tcp_transport *t);
/* close() on every connection. */
void actor__tcp_close_all(struct actor__tcp_transport *t, int reason);

/* struct actor__transport_ops' send, try_send, queued, close and wake. */
void actor__tcp_send(struct actor__conn *conn, struct actor__env **frames, size_t n);
int actor__tcp_try_send(struct actor__conn *conn, struct actor__env *frame);
size_t actor__tcp_queued(const struct actor__conn *conn);
void actor__tcp_close(struct actor__conn *conn, int reason);
void actor__tcp_wake_op(struct actor__transport *t);

/*
 * The driver's hand-over, on the I/O thread. c's input is drained and no
 * request of the backend reads it: if drive() asked for it (and c is up,
 * not closing, not handed over yet), c goes to the driver's set; true if
 * it did.
 */
bool actor__tcp_drive_now(struct actor__tcp_transport *t, struct actor__tcp_conn *c);
/* Takes back what the holder handed back: delivers what c's buffer holds
 * from the refused frame on (or closes c with the holder's error), then
 * the backend's reads() and read(). Once per loop iteration. */
void actor__tcp_back_run(struct actor__tcp_transport *t);
/* Ending c: takes it back from the driver for good (waits for a holder
 * reading it). Before the socket closes. */
void actor__tcp_drv_end(struct actor__tcp_transport *t, struct actor__tcp_conn *c);
/* On a tick: reads what the driver's set holds if no holder waits on it,
 * so that input is read even while every worker runs a long handler. */
void actor__tcp_drv_poll_io(struct actor__tcp_transport *t);
/* struct actor__transport_ops' drive (the epoll backend's as is) and the
 * drv_ calls. */
void actor__tcp_drive(struct actor__conn *conn, void *ctx);
int actor__tcp_drv_wait(struct actor__transport *t, unsigned timeout_us);
void actor__tcp_drv_dispatch(struct actor__transport *t, void *w);
int actor__tcp_drv_poll(struct actor__transport *t, void *w);
void actor__tcp_drv_wake(struct actor__transport *t);

/* Listeners: a socket from listen(), on a lock-free stack that listen()
 * pushes from any thread. */
struct actor__tcp_listener {
	int fd;
	bool waiting;			/* I/O thread: no accept armed, see below */
	struct actor__tcp_listener *next;
};

/* A listening socket (actor__tcp_listen) in a new listener: 0 or -errno. */
int actor__tcp_listener_open(const char *host, uint16_t port, uint16_t *bound,
			     struct actor__tcp_listener **out);
void actor__tcp_listener_push(_Atomic(struct actor__tcp_listener *) *stack,
			      struct actor__tcp_listener *l);
/* Closes and frees every listener of a list. */
void actor__tcp_listeners_free(struct actor__tcp_listener *l);

/*
 * Accepts out of descriptors (EMFILE, ENFILE) or of kernel memory
 * (ENOBUFS, ENOMEM): retrying at once would fail again (io_uring's
 * multishot accept, re-armed, spun the I/O thread) and waiting for the next
 * connection's edge may wait for ever (epoll's edge-triggered listener), so
 * the listener waits (actor__tcp_accept_wait) and the backend accepts again
 * (retry) on each tick and when one of its connections has closed its
 * socket (actor__tcp_accept_retry, once per loop iteration). The
 * connection waiting in the backlog meanwhile stays there: the kernel
 * holds it until the listen backlog overflows.
 */
static inline bool actor__tcp_accept_starved(int err)
{
	return err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM;
}
void actor__tcp_accept_wait(struct actor__tcp_transport *t, struct actor__tcp_listener *l);
/* For each waiting listener of the list, when tick or a socket closed
 * since the last call: no longer waiting, then retry(t, l). */
void actor__tcp_accept_retry(struct actor__tcp_transport *t, struct actor__tcp_listener *list,
			     bool tick,
			     void (*retry)(struct actor__tcp_transport *t,
					   struct actor__tcp_listener *l));

#endif /* ACTOR_TRANSPORT_TCP_H */

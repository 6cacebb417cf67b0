/*
 * What the two TCP transports (tcp_epoll.c, tcp_uring.c) share: addresses
 * and sockets, the inbound frame reassembler, the outbound frame queue, TLS
 * (tls.h) between them and the socket, the wake-up protocol and the
 * configuration defaults.
 *
 * Everything here except actor__tcp_wake() and the socket helpers runs on
 * the I/O thread only.
 *
 * Ends of a connection that transport.h leaves open: an orderly EOF from
 * the peer at a frame boundary closes with reason 0, an EOF inside a frame
 * with -ECONNRESET (bytes were lost), and destroy() closes what is left with
 * -ECANCELED.
 */
#ifndef ACTOR_TRANSPORT_TCP_H
#define ACTOR_TRANSPORT_TCP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "transport/tls.h"
#include "transport/transport.h"

/* Frames per sendmsg (IOV_MAX is 1024). With 24-byte frames over
 * loopback, 64 gave 1.6 M frames/s, 256 gave 2.6 M and 1024 2.8 M; 256
 * keeps io_uring's per-connection iovec array at 4 KiB. */
#define ACTOR__TCP_IOV 256

/* Fills in the defaults of transport.h for the fields left 0, and no-ops
 * for the callbacks left NULL. */
void actor__tcp_config(struct actor__transport_config *cfg, struct actor__transport_cb *cb);

/* Sockets. Each returns a file descriptor or -errno. */

/* An IPv4 or IPv6 literal ("::1" or "[::1]") or "localhost" (127.0.0.1). */
int actor__tcp_addr(const char *host, uint16_t port, struct sockaddr_storage *ss,
		    socklen_t *len);
/* Bound and listening, nonblocking, close-on-exec, SO_REUSEADDR; *bound
 * gets the port (may be NULL). */
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
	bool closing;			/* close() was called: no more callbacks but closed() */
	int reason;
	bool writable_due;		/* TLS: writable() owed once the ciphertext is out */
	struct actor__tcp_rbuf in;
	struct actor__tcp_outq out;
	/* NULL: plain TCP, or TLS with both directions in the kernel. */
	struct actor__tls *tls;
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

#endif /* ACTOR_TRANSPORT_TCP_H */

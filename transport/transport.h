/*
 * transport/: one interface over several ways of moving frames between
 * processes (TCP on io_uring, TCP on epoll) or between systems in one
 * process (loopback). It knows nothing about actors: it moves frames, which
 * are envelopes (mailbox/envelope.h) whose payload is a 4-byte big-endian
 * body length followed by the body, whose contents are the layer above's
 * (cluster/wire.h for nodes).
 *
 * Threads. Each transport has one I/O thread, started by actor__transport_
 * create. Every callback runs on it but frame_driven(), and every call
 * below except actor__transport_create, _destroy, _wake, try_send, the
 * drv_ calls and listen (before the first connection) must be made on it,
 * i.e. from inside a callback.
 * So a connection is a single-threaded object and needs no locks, except
 * for try_send's one (see there).
 *
 * Life cycle of a connection (struct actor__conn, opaque): it is born in
 * connect() (outbound) or just before the accepted callback (inbound). An
 * outbound one gets connected() once the socket is up. Every connection,
 * whatever happened to it, ends with exactly one closed() callback, after
 * which the transport frees it; close() asks for that end and may be called
 * from inside any callback, including frame() for the same connection.
 * Frames queued by send() and not yet written when it closes are told to
 * dropped() (if set), then freed.
 *
 * Inbound: the transport reassembles the byte stream into frames and calls
 * frame() with each body (without its length prefix); the body is valid
 * during the call only. A length of 0 or above max_frame (or the
 * connection's own limit, actor__conn_set_max_frame) closes the connection
 * with -EMSGSIZE before any of that frame's body is read.
 *
 * Outbound: send() takes frames on the I/O thread and writes them in
 * batches (many frames per system call, short writes resumed). queued()
 * says how many bytes wait; the writable() callback runs when that falls
 * below low_water after having been at or above high_water, so that the
 * layer above can bound what it hands over. try_send() lets another
 * thread write a frame itself while the connection is idle, saving the
 * I/O thread's wake-up on the way out; drive() and the drv_ calls let
 * another thread (one at a time) wait for and read a connection's input,
 * saving it on the way in.
 */
#ifndef ACTOR_TRANSPORT_H
#define ACTOR_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mailbox/envelope.h"

struct actor__transport;
struct actor__conn;
struct actor__hub;

/* Bytes of the length prefix in front of every frame body. */
#define ACTOR__FRAME_PREFIX 4

enum actor__transport_kind {
	ACTOR__TRANSPORT_AUTO = 0,	/* io_uring, else epoll; $ACTOR_TRANSPORT overrides */
	ACTOR__TRANSPORT_URING,
	ACTOR__TRANSPORT_EPOLL,
	ACTOR__TRANSPORT_LOOPBACK,
};

struct actor__transport_cb {
	void *arg;
	/* An inbound connection on a listening address. */
	void (*accepted)(void *arg, struct actor__conn *c);
	/* An outbound connection made by connect() is up. */
	void (*connected)(void *arg, struct actor__conn *c);
	/* One frame body; valid during the call only. */
	void (*frame)(void *arg, struct actor__conn *c, const void *body, size_t len);
	/* Queued bytes fell below low_water after reaching high_water. */
	void (*writable)(void *arg, struct actor__conn *c);
	/* The end of c: reason 0 (closed by close(c, 0)), -errno from the
	 * system, or the reason given to close(). c is freed afterwards. */
	void (*closed)(void *arg, struct actor__conn *c, int reason);
	/* Optional: a frame given to send() that c closed before writing
	 * whole, or (loopback) one that reached c after it closed; told once,
	 * before the transport frees it. Not from inside send() with frames
	 * of the same call: those are told after it. */
	void (*dropped)(void *arg, struct actor__conn *c, const struct actor__env *frame);
	/* Every tick_ns (heartbeats, reconnects). */
	void (*tick)(void *arg);
	/* Soon after ops->wake(), on the I/O thread. */
	void (*woken)(void *arg);
	/* A frame of a connection handed to drive() (see there), read by the
	 * thread holding the driver: ctx is drive()'s, w the holder's (NULL:
	 * the I/O thread itself). True: taken; false: not taken, and the
	 * connection goes back to the I/O thread, which calls frame() with
	 * this frame and what follows it. The body is valid during the call. */
	bool (*frame_driven)(void *arg, struct actor__conn *c, void *ctx, void *w,
			     const void *body, size_t len);
};

struct actor__transport_config {
	enum actor__transport_kind kind;
	size_t max_frame;		/* largest body accepted; 0: 4 MiB */
	size_t high_water, low_water;	/* queued bytes; 0: 1 MiB and 256 KiB */
	uint64_t tick_ns;		/* 0: 100 ms */
	struct actor__hub *hub;		/* LOOPBACK: the hub to meet on */
	/* TCP: TLS (tls.h) when tls_ca is set. actor__transport_create
	 * reads the PEM files into tls, which the backend owns once made. */
	const char *tls_ca, *tls_cert, *tls_key;
	struct actor__tls_ctx *tls;
	const char *thread_name;	/* NULL: "actor-io" */
};

struct actor__transport_ops {
	const char *name;		/* "uring", "epoll", "loopback" */
	/* Listens on host:port (port 0: any); *bound gets the port. Before
	 * the first connect or accept, from any thread, or on the I/O thread. */
	int (*listen)(struct actor__transport *t, const char *host, uint16_t port,
		      uint16_t *bound);
	/* Starts connecting; the connection is returned at once and ends in
	 * connected() or closed(). data: see actor__conn_data(). */
	int (*connect)(struct actor__transport *t, const char *host, uint16_t port, void *data,
		       struct actor__conn **out);
	/* Queues n frames for writing, in order; takes them in every case
	 * (frees them if the connection is closing). */
	void (*send)(struct actor__conn *c, struct actor__env **frames, size_t n);
	/*
	 * Optional (NULL: always -EAGAIN). Any thread: writes frame on c at
	 * once, when nothing else is queued or being written on c (no send()
	 * waits, no write in flight, no other try_send, not closing, no TLS
	 * in user space). 1: written whole, the frame is still the caller's;
	 * 0: only partly written (the socket is full), the transport took the
	 * frame and writes its rest before anything sent after; -EAGAIN: c is
	 * busy, nothing was written, the frame is the caller's. Frames given
	 * to send() before the call go out before it. The caller makes sure
	 * that c is not freed meanwhile: its closed() callback has not
	 * returned (transport/tcp.c: the I/O thread never waits for it).
	 */
	int (*try_send)(struct actor__conn *c, struct actor__env *frame);
	/* Bytes queued and not yet written. */
	size_t (*queued)(const struct actor__conn *c);
	/* Ends the connection; closed() follows, from the I/O thread. */
	void (*close)(struct actor__conn *c, int reason);
	/* Any thread: the woken() callback runs soon on the I/O thread. */
	void (*wake)(struct actor__transport *t);
	/*
	 * Optional (NULL: no driver; then none of the drv_ calls exist).
	 * The driver lets another thread (an idle worker) wait for the
	 * input of connections and read them, so that a frame wakes the
	 * thread that will handle it rather than the I/O thread. On the I/O
	 * thread: from the next time c's input is drained, c's frames go to
	 * frame_driven() with ctx from whichever thread holds the driver,
	 * until frame_driven() refuses one, c hits an error or an EOF, or
	 * c closes; then the I/O thread reads it again (and calls drive()'s
	 * handing over again by itself once drained). Never two threads
	 * read c at once, and its frames are handled in order. After
	 * close(c), frame_driven() may still run for c until the transport
	 * ends it (at the end of that I/O loop iteration): a frame that
	 * arrived just before the close.
	 */
	void (*drive)(struct actor__conn *c, void *ctx);
	/* Any thread but the I/O thread, one at a time (the caller makes
	 * sure): waits up to timeout_us (0: until drv_wake) for input on
	 * driven connections. 1: input is ready, and the caller must call
	 * drv_dispatch next; 0: none. */
	int (*drv_wait)(struct actor__transport *t, unsigned timeout_us);
	/* After drv_wait returned 1: reads, and calls frame_driven() with w. */
	void (*drv_dispatch)(struct actor__transport *t, void *w);
	/* As drv_wait(0 µs) then drv_dispatch, not waiting for the I/O
	 * thread either: frames handled, or -EBUSY. */
	int (*drv_poll)(struct actor__transport *t, void *w);
	/* Any thread: drv_wait returns soon (or the next one at once). */
	void (*drv_wake)(struct actor__transport *t);
	/* Not on the I/O thread: stops it, closing every connection (each
	 * gets its closed() callback), and frees everything. */
	void (*destroy)(struct actor__transport *t);
};

/* What every transport starts with; the rest is the implementation's. */
struct actor__transport {
	const struct actor__transport_ops *ops;
	struct actor__transport_cb cb;
	struct actor__transport_config cfg;
};

/* Every connection starts with this. */
struct actor__conn_base {
	struct actor__transport *t;
	void *data;			/* the layer above's, see below */
	size_t max_frame;		/* this connection's limit; 0: cfg.max_frame */
};

/*
 * Makes a transport of cfg->kind and starts its I/O thread. AUTO takes
 * $ACTOR_TRANSPORT ("uring" or "epoll") when set, else io_uring, falling
 * back to epoll when io_uring cannot be set up (-ENOSYS, -EPERM: disabled
 * by sysctl or seccomp), saying why once on stderr.
 */
int actor__transport_create(const struct actor__transport_config *cfg,
			    const struct actor__transport_cb *cb, struct actor__transport **out);

/* The kind a name stands for ("uring", "epoll", "loopback"; NULL: AUTO),
 * or -EINVAL. */
int actor__transport_kind_of(const char *name, enum actor__transport_kind *kind);

/* Implementations (transport/tcp_uring.c, tcp_epoll.c, loopback.c). */
int actor__uring_create(const struct actor__transport_config *cfg,
			const struct actor__transport_cb *cb, struct actor__transport **out);
int actor__epoll_create(const struct actor__transport_config *cfg,
			const struct actor__transport_cb *cb, struct actor__transport **out);
int actor__loopback_create(const struct actor__transport_config *cfg,
			   const struct actor__transport_cb *cb, struct actor__transport **out);

/*
 * The loopback transport's meeting point: transports made with the same hub
 * (cfg.hub) reach each other by host and port, without sockets. Any thread;
 * destroy only once every transport made with it is destroyed.
 */
int actor__hub_create(struct actor__hub **out);	/* 0 or -ENOMEM */
void actor__hub_destroy(struct actor__hub *hub);	/* NULL: nothing */

static inline void *actor__conn_data(const struct actor__conn *c)
{
	return ((const struct actor__conn_base *)c)->data;
}

static inline void actor__conn_set_data(struct actor__conn *c, void *data)
{
	((struct actor__conn_base *)c)->data = data;
}

/* A lower limit on the bodies c accepts (a peer not yet authenticated),
 * or 0 for the transport's max_frame again. On the I/O thread. The
 * loopback transport, in-process, checks no limit. */
static inline void actor__conn_set_max_frame(struct actor__conn *c, size_t max_frame)
{
	((struct actor__conn_base *)c)->max_frame = max_frame;
}

static inline size_t actor__conn_max_frame(const struct actor__conn *c)
{
	const struct actor__conn_base *b = (const struct actor__conn_base *)c;

	return b->max_frame != 0 && b->max_frame < b->t->cfg.max_frame ? b->max_frame :
									 b->t->cfg.max_frame;
}

static inline struct actor__transport *actor__conn_transport(const struct actor__conn *c)
{
	return ((const struct actor__conn_base *)c)->t;
}

/* Stores a frame's length prefix in front of its body. */
static inline void actor__frame_prefix(unsigned char *p, uint32_t body_len)
{
	p[0] = (unsigned char)(body_len >> 24);
	p[1] = (unsigned char)(body_len >> 16);
	p[2] = (unsigned char)(body_len >> 8);
	p[3] = (unsigned char)body_len;
}

static inline uint32_t actor__frame_body_len(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif /* ACTOR_TRANSPORT_H */

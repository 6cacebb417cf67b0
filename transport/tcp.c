/*
 * What the TCP transports share: see tcp.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "transport/tcp.h"
#include "util/time.h"

/* First input buffer of a connection (or max_frame + 4 if smaller). */
#define RBUF_INIT (64 * 1024)

/* TLS in user space: plaintext per record (TLS's largest). */
#define TLS_RECORD (16 * 1024)

static void no_conn(void *arg, struct actor__conn *c)
{
}

static void no_frame(void *arg, struct actor__conn *c, const void *body, size_t len)
{
}

static void no_closed(void *arg, struct actor__conn *c, int reason)
{
}

static void no_event(void *arg)
{
}

void actor__tcp_config(struct actor__transport_config *cfg, struct actor__transport_cb *cb)
{
	/* Callbacks left NULL do nothing, so the I/O loops need no checks. */
	if (cb->accepted == NULL)
		cb->accepted = no_conn;
	if (cb->connected == NULL)
		cb->connected = no_conn;
	if (cb->frame == NULL)
		cb->frame = no_frame;
	if (cb->writable == NULL)
		cb->writable = no_conn;
	if (cb->closed == NULL)
		cb->closed = no_closed;
	if (cb->tick == NULL)
		cb->tick = no_event;
	if (cb->woken == NULL)
		cb->woken = no_event;
	if (cfg->max_frame == 0)
		cfg->max_frame = 4u << 20;
	if (cfg->max_frame > UINT32_MAX)
		cfg->max_frame = UINT32_MAX;
	if (cfg->high_water == 0)
		cfg->high_water = 1u << 20;
	if (cfg->low_water == 0)
		cfg->low_water = cfg->high_water / 4;
	if (cfg->tick_ns == 0)
		cfg->tick_ns = 100 * 1000 * 1000;
}

int actor__tcp_addr(const char *host, uint16_t port, struct sockaddr_storage *ss,
		    socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char buf[INET6_ADDRSTRLEN];
	size_t n;

	if (host == NULL)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return 0;
	}
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(buf)) {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		host = buf;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -EINVAL;
}

/*
 * bind(), retried on EADDRINUSE for up to ACTOR__TCP_BIND_WAIT_NS: a node
 * killed with SIGKILL while its io_uring held an accept on its listening
 * socket leaves that socket listening until the kernel tears the ring
 * down, in a worker, some milliseconds after the process is gone (4-12 ms
 * measured, 7 of 20 immediate restarts failed); SO_REUSEADDR does not let
 * a second socket bind while one listens. SO_REUSEPORT would, but it would
 * also let two live nodes share a port without a word.
 */
static int bind_patiently(int fd, const struct sockaddr *sa, socklen_t len)
{
	uint64_t deadline = actor__now_ns() + ACTOR__TCP_BIND_WAIT_NS;
	const struct timespec pause = { 0, 2 * 1000 * 1000 };

	while (bind(fd, sa, len) < 0) {
		if (errno != EADDRINUSE || actor__now_ns() >= deadline)
			return -1;
		nanosleep(&pause, NULL);
	}
	return 0;
}

int actor__tcp_listen(const char *host, uint16_t port, uint16_t *bound)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, err;

	err = actor__tcp_addr(host, port, &ss, &len);
	if (err < 0)
		return err;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind_patiently(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, SOMAXCONN) < 0)
		goto fail;
	if (bound != NULL) {
		len = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
			goto fail;
		*bound = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						       : ((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

void actor__tcp_nodelay(int fd)
{
	int one = 1;

	/* Frames are already batched: Nagle would only add latency. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int actor__tcp_socket(int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	actor__tcp_nodelay(fd);
	return fd;
}

/* Makes room for need bytes from the start of the buffer (start is 0). */
static int rbuf_reserve(struct actor__tcp_conn *c, size_t need)
{
	struct actor__tcp_rbuf *rb = &c->in;
	size_t limit = actor__conn_max_frame((struct actor__conn *)c) + ACTOR__FRAME_PREFIX;
	size_t cap = rb->cap * 2 > RBUF_INIT ? rb->cap * 2 : RBUF_INIT;
	unsigned char *p;

	if (need <= rb->cap)
		return 0;
	if (cap > limit)
		cap = limit;
	if (cap < need)
		cap = need;
	p = realloc(rb->buf, cap);
	if (p == NULL)
		return -ENOMEM;
	rb->buf = p;
	rb->cap = cap;
	return 0;
}

/*
 * Calls frame() for each complete frame in p[0, n) until the connection is
 * closing; returns the bytes consumed, or -EMSGSIZE as soon as a length
 * prefix is complete and out of range.
 */
static long deliver(struct actor__tcp_conn *c, const unsigned char *p, size_t n)
{
	struct actor__transport *t = c->base.t;
	size_t done = 0;

	while (!c->closing && n - done >= ACTOR__FRAME_PREFIX) {
		uint32_t len = actor__frame_body_len(p + done);

		/* Read each time: a frame may raise the limit (a handshake done). */
		if (len == 0 || len > actor__conn_max_frame((struct actor__conn *)c))
			return -EMSGSIZE;
		if (n - done - ACTOR__FRAME_PREFIX < len)
			break;
		t->cb.frame(t->cb.arg, (struct actor__conn *)c, p + done + ACTOR__FRAME_PREFIX, len);
		done += ACTOR__FRAME_PREFIX + len;
	}
	return (long)done;
}

static int plain_rspace(struct actor__tcp_conn *c, unsigned char **p, size_t *len)
{
	struct actor__tcp_rbuf *rb = &c->in;

	/* Full: what is there is the start of one frame that does not fit
	 * (actor__tcp_received compacts), so it may grow to max_frame + 4. */
	if (rb->end == rb->cap) {
		int err = rbuf_reserve(c, rb->cap + 1);

		if (err < 0)
			return err;
	}
	*p = rb->buf + rb->end;
	*len = rb->cap - rb->end;
	return 0;
}

static int rbuf_deliver(struct actor__tcp_conn *c)
{
	struct actor__tcp_rbuf *rb = &c->in;
	long r = deliver(c, rb->buf + rb->start, rb->end - rb->start);

	if (r < 0)
		return (int)r;
	rb->start += (size_t)r;
	if (rb->start == rb->end) {
		rb->start = rb->end = 0;
	} else if (rb->start > 0) {
		/* Less than one frame is left: keep the free room contiguous. */
		memmove(rb->buf, rb->buf + rb->start, rb->end - rb->start);
		rb->end -= rb->start;
		rb->start = 0;
	}
	return 0;
}

/* TLS in user space: decrypts p[0, n) and delivers the frames. */
static int tls_input(struct actor__tcp_conn *c, const unsigned char *p, size_t n)
{
	int err = 0;

	actor__tls_feed(c->tls, p, n);
	while (!c->closing && err == 0) {
		unsigned char *q;
		size_t len;
		long r;

		if ((err = plain_rspace(c, &q, &len)) < 0)
			break;
		if ((r = actor__tls_read(c->tls, q, len)) <= 0) {
			err = (int)r;
			break;
		}
		c->in.end += (size_t)r;
		err = rbuf_deliver(c);
	}
	actor__tls_feed(c->tls, NULL, 0);
	return err;
}

static bool tls_rx(const struct actor__tcp_conn *c)
{
	return c->tls != NULL && actor__tls_rx_user(c->tls);
}

static bool tls_tx(const struct actor__tcp_conn *c)
{
	return c->tls != NULL && actor__tls_tx_user(c->tls);
}

int actor__tcp_rspace(struct actor__tcp_conn *c, unsigned char **p, size_t *len)
{
	if (tls_rx(c)) {
		actor__tls_rspace(c->tls, p, len);
		return 0;
	}
	return plain_rspace(c, p, len);
}

int actor__tcp_received(struct actor__tcp_conn *c, size_t n)
{
	if (tls_rx(c)) {
		unsigned char *p;
		size_t len;

		actor__tls_rspace(c->tls, &p, &len);
		return tls_input(c, p, n);
	}
	c->in.end += n;
	return rbuf_deliver(c);
}

int actor__tcp_received_driven(struct actor__tcp_conn *c, size_t n, void *ctx, void *w)
{
	struct actor__transport *t = c->base.t;
	struct actor__tcp_rbuf *rb = &c->in;
	int r = 1;

	rb->end += n;
	while (rb->end - rb->start >= ACTOR__FRAME_PREFIX) {
		uint32_t len = actor__frame_body_len(rb->buf + rb->start);

		if (len == 0 || len > actor__conn_max_frame((struct actor__conn *)c)) {
			r = -EMSGSIZE;
			break;
		}
		if (rb->end - rb->start - ACTOR__FRAME_PREFIX < len)
			break;
		if (!t->cb.frame_driven(t->cb.arg, (struct actor__conn *)c, ctx, w,
					rb->buf + rb->start + ACTOR__FRAME_PREFIX, len)) {
			r = 0;
			break;
		}
		rb->start += ACTOR__FRAME_PREFIX + len;
	}
	if (rb->start == rb->end) {
		rb->start = rb->end = 0;
	} else if (r == 1 && rb->start > 0) {
		memmove(rb->buf, rb->buf + rb->start, rb->end - rb->start);
		rb->end -= rb->start;
		rb->start = 0;
	}
	return r;
}

int actor__tcp_input(struct actor__tcp_conn *c, const unsigned char *p, size_t n)
{
	struct actor__tcp_rbuf *rb = &c->in;
	int err;

	if (tls_rx(c))
		return tls_input(c, p, n);
	while (n > 0 && !c->closing) {
		size_t have = rb->end - rb->start, need;

		if (have == 0) {
			/* Frames that arrived whole are delivered from p itself. */
			long r = deliver(c, p, n);

			if (r < 0)
				return (int)r;
			p += r;
			n -= (size_t)r;
			if (n == 0 || c->closing)
				return 0;
			if ((err = rbuf_reserve(c, n)) < 0)
				return err;
			memcpy(rb->buf, p, n);
			rb->start = 0;
			rb->end = n;
			return 0;
		}
		/* Complete the partial frame's prefix, then its body. */
		need = have < ACTOR__FRAME_PREFIX
			       ? ACTOR__FRAME_PREFIX - have
			       : ACTOR__FRAME_PREFIX + actor__frame_body_len(rb->buf + rb->start) - have;
		if (need > n)
			need = n;
		if ((err = rbuf_reserve(c, have + need)) < 0)
			return err;
		memcpy(rb->buf + rb->end, p, need);
		rb->end += need;
		p += need;
		n -= need;
		if ((err = rbuf_deliver(c)) < 0)
			return err;
	}
	return 0;
}

int actor__tcp_eof(const struct actor__tcp_conn *c)
{
	/* With TLS, part of a record counts as part of a frame. */
	bool partial = tls_rx(c) && actor__tls_input_pending(c->tls);

	return c->in.end == c->in.start && !partial ? 0 : -ECONNRESET;
}

void actor__tcp_outq_push(struct actor__tcp_conn *c, struct actor__env **frames, size_t n)
{
	struct actor__tcp_outq *q = &c->out;

	for (size_t i = 0; i < n; i++) {
		struct actor__env *e = frames[i];

		e->next = NULL;
		if (q->tail != NULL)
			q->tail->next = e;
		else
			q->head = e;
		q->tail = e;
		q->queued += e->size;
	}
	if (q->queued >= c->base.t->cfg.high_water)
		q->high = true;
}

int actor__tcp_outq_iov(const struct actor__tcp_outq *q, struct iovec *iov, int max)
{
	size_t off = q->off;
	int i = 0;

	for (struct actor__env *e = q->head; e != NULL && i < max; e = e->next, i++) {
		iov[i].iov_base = (unsigned char *)e->data + off;
		iov[i].iov_len = e->size - off;
		off = 0;
	}
	return i;
}

bool actor__tcp_outq_sent(struct actor__tcp_conn *c, size_t n)
{
	struct actor__tcp_outq *q = &c->out;

	q->queued -= n;
	while (q->head != NULL && n >= q->head->size - q->off) {
		struct actor__env *e = q->head;

		n -= e->size - q->off;
		q->off = 0;
		q->head = e->next;
		actor__env_free(NULL, e);
	}
	if (q->head == NULL)
		q->tail = NULL;
	q->off += n;
	if (q->high && q->queued < c->base.t->cfg.low_water) {
		q->high = false;
		return true;
	}
	return false;
}

/* TLS in user space: encrypts up to ACTOR__TLS_ROUND bytes from the head of
 * the queue, in records of up to TLS_RECORD, and frees the frames done. */
static int tls_encrypt(struct actor__tcp_conn *c)
{
	unsigned char rec[TLS_RECORD];
	struct actor__env *e = c->out.head;
	size_t off = c->out.off, total = 0;
	int err;

	while (e != NULL && total < ACTOR__TLS_ROUND) {
		size_t fill = 0, room = ACTOR__TLS_ROUND - total;

		if (room > sizeof(rec))
			room = sizeof(rec);
		/* Small frames share a record: one seal for many. */
		while (e != NULL && fill < room) {
			size_t k = e->size - off < room - fill ? e->size - off : room - fill;

			memcpy(rec + fill, (unsigned char *)e->data + off, k);
			fill += k;
			off += k;
			if (off == e->size) {
				e = e->next;
				off = 0;
			}
		}
		if ((err = actor__tls_write(c->tls, rec, fill)) < 0)
			return err;
		total += fill;
	}
	if (actor__tcp_outq_sent(c, total))
		c->writable_due = true;
	return 0;
}

bool actor__tcp_out_pending(const struct actor__tcp_conn *c)
{
	const unsigned char *p;

	return c->out.head != NULL || (c->tls != NULL && actor__tls_out(c->tls, &p) > 0);
}

int actor__tcp_out_iov(struct actor__tcp_conn *c, struct iovec *iov, int max)
{
	const unsigned char *p;
	size_t n;
	int err;

	if (!tls_tx(c))
		return actor__tcp_outq_iov(&c->out, iov, max);
	if (actor__tls_out(c->tls, &p) == 0 && (err = tls_encrypt(c)) < 0)
		return err;
	if ((n = actor__tls_out(c->tls, &p)) == 0)
		return 0;
	iov[0].iov_base = (void *)p;
	iov[0].iov_len = n;
	return 1;
}

bool actor__tcp_out_sent(struct actor__tcp_conn *c, size_t n)
{
	bool due = c->writable_due;

	if (!tls_tx(c))
		return actor__tcp_outq_sent(c, n);
	actor__tls_sent(c->tls, n);
	c->writable_due = false;
	return due;
}

int actor__tcp_tls_begin(struct actor__tcp_conn *c, struct actor__tls_ctx *x, bool server)
{
	return x != NULL ? actor__tls_new(x, c->fd, server, &c->tls) : 0;
}

int actor__tcp_tls_step(struct actor__tcp_conn *c, int *want)
{
	int r = actor__tls_handshake(c->tls, want);

	/* Both directions in the kernel: plain TCP from here on. */
	if (r == 1 && !actor__tls_rx_user(c->tls) && !actor__tls_tx_user(c->tls)) {
		actor__tls_free(c->tls);
		c->tls = NULL;
	}
	return r;
}

void actor__tcp_conn_fini(struct actor__tcp_conn *c)
{
	struct actor__env *e, *next;

	for (e = c->out.head; e != NULL; e = next) {
		next = e->next;
		actor__env_free(NULL, e);
	}
	c->out.head = c->out.tail = NULL;
	c->out.queued = c->out.off = 0;
	free(c->in.buf);
	c->in.buf = NULL;
	c->in.cap = c->in.start = c->in.end = 0;
	actor__tls_free(c->tls);
	c->tls = NULL;
}

int actor__tcp_wake_init(struct actor__tcp_wake *w)
{
	/* Blocking: io_uring answers a read of an O_NONBLOCK file with
	 * -EAGAIN instead of waiting. Only the I/O thread reads it, and only
	 * when it is readable, or through the ring. */
	w->fd = eventfd(0, EFD_CLOEXEC);
	if (w->fd < 0)
		return -errno;
	atomic_init(&w->pending, false);
	atomic_init(&w->sleeping, false);
	return 0;
}

void actor__tcp_wake_fini(struct actor__tcp_wake *w)
{
	close(w->fd);
}

void actor__tcp_wake_kick(struct actor__tcp_wake *w)
{
	uint64_t one = 1;

	/* Cannot block: that would take 2^64 - 2 kicks without a read. */
	(void)!write(w->fd, &one, sizeof(one));
}

void actor__tcp_wake(struct actor__tcp_wake *w)
{
	/* Already pending: the I/O thread has not taken it yet, so it will
	 * run woken() after this call; the exchange (not a load) makes sure
	 * it also sees what this thread did before calling. */
	if (atomic_exchange(&w->pending, true))
		return;
	if (atomic_load(&w->sleeping))
		actor__tcp_wake_kick(w);
}

bool actor__tcp_wake_sleep(struct actor__tcp_wake *w)
{
	atomic_store(&w->sleeping, true);
	/* Redundant for C11 (both accesses are seq_cst, which ARMv8's
	 * stlr/ldar honour), but a binary translator such as qemu-user on an
	 * x86 host may let the load pass the store without it. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load(&w->pending)) {
		atomic_store(&w->sleeping, false);
		return false;
	}
	return true;
}

void actor__tcp_wake_awake(struct actor__tcp_wake *w)
{
	atomic_store_explicit(&w->sleeping, false, memory_order_relaxed);
}

bool actor__tcp_wake_take(struct actor__tcp_wake *w)
{
	if (!atomic_load_explicit(&w->pending, memory_order_relaxed))
		return false;
	return atomic_exchange(&w->pending, false);
}

int actor__tcp_thread(pthread_t *th, const struct actor__transport_config *cfg,
		      void *(*fn)(void *), void *arg)
{
	char name[16];
	int err = pthread_create(th, NULL, fn, arg);

	if (err != 0)
		return -err;
	snprintf(name, sizeof(name), "%s", cfg->thread_name ? cfg->thread_name : "actor-io");
	pthread_setname_np(*th, name);
	return 0;
}

/* --- the connection core ----------------------------------------------- */

static void take_handed(struct actor__tcp_transport *t);
static int drv_init(struct actor__tcp_driver *d);
static void drv_fini(struct actor__tcp_driver *d);

void *actor__tcp_transport_new(size_t size, const struct actor__transport_ops *ops,
			       const struct actor__tcp_backend *backend,
			       const struct actor__transport_config *cfg,
			       const struct actor__transport_cb *cb, int *err)
{
	struct actor__tcp_transport *t = calloc(1, size);

	if (t == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	t->base.ops = ops;
	t->base.cb = *cb;
	t->base.cfg = *cfg;
	actor__tcp_config(&t->base.cfg, &t->base.cb);
	t->backend = backend;
	actor__list_init(&t->conns);
	t->drv.dfd = t->drv.dwake = -1;
	if ((*err = actor__tcp_wake_init(&t->wake)) < 0) {
		free(t);
		return NULL;
	}
	if ((*err = drv_init(&t->drv)) < 0) {
		actor__tcp_transport_free(t);
		return NULL;
	}
	return t;
}

void actor__tcp_transport_free(struct actor__tcp_transport *t)
{
	drv_fini(&t->drv);
	actor__tcp_wake_fini(&t->wake);
	free(t);
}

void actor__tcp_transport_join(struct actor__tcp_transport *t)
{
	atomic_store_explicit(&t->stop, true, memory_order_release);
	actor__tcp_wake_kick(&t->wake);
	pthread_join(t->thread, NULL);
}

void actor__tcp_transport_destroy(struct actor__tcp_transport *t)
{
	actor__tls_ctx_destroy(t->base.cfg.tls);
	actor__tcp_transport_free(t);
}

struct actor__tcp_conn *actor__tcp_conn_new(struct actor__tcp_transport *t, size_t size, int fd,
					    bool server)
{
	struct actor__tcp_conn *c = calloc(1, size);

	if (c == NULL)
		return NULL;
	c->base.t = &t->base;
	c->fd = fd;
	if (actor__tcp_tls_begin(c, t->base.cfg.tls, server) < 0) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->wlock, NULL);
	actor__list_push(&t->conns, &c->node);
	return c;
}

int actor__tcp_dial(struct actor__tcp_transport *t, size_t size, const char *host, uint16_t port,
		    void *data, struct sockaddr_storage *ss, socklen_t *len,
		    struct actor__tcp_conn **out)
{
	struct actor__tcp_conn *c;
	int fd, err;

	if ((err = actor__tcp_addr(host, port, ss, len)) < 0)
		return err;
	if ((fd = actor__tcp_socket(ss->ss_family)) < 0)
		return fd;
	if ((c = actor__tcp_conn_new(t, size, fd, false)) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	c->base.data = data;
	c->connecting = true;
	*out = c;
	return 0;
}

/* A frame c will never write whole: told to the layer above, freed. */
static void drop(struct actor__tcp_conn *c, struct actor__env *e)
{
	const struct actor__transport_cb *cb = &c->base.t->cb;

	if (cb->dropped != NULL)
		cb->dropped(cb->arg, (struct actor__conn *)c, e);
	actor__env_free(NULL, e);
}

void actor__tcp_conn_drop(struct actor__tcp_conn *c)
{
	actor__list_del(&c->node);
	close(c->fd);
	actor__tcp_conn_fini(c);
	pthread_mutex_destroy(&c->wlock);
	free(c);
}

void actor__tcp_conn_end(struct actor__tcp_transport *t, struct actor__tcp_conn *c)
{
	struct actor__transport *b = &t->base;

	if (c->in_flush) {
		for (struct actor__tcp_conn **p = &t->flush; *p != NULL; p = &(*p)->flush_next) {
			if (*p == c) {
				*p = c->flush_next;
				break;
			}
		}
	}
	/* A writer handed it over before close() cleared direct. */
	if (atomic_load_explicit(&c->handed, memory_order_acquire))
		take_handed(t);
	actor__list_del(&c->node);
	close(c->fd);
	t->fd_freed = true;
	/* A frame partly written is lost as well: the peer cannot read it. */
	for (struct actor__env *e = c->out.head, *next; e != NULL; e = next) {
		next = e->next;
		drop(c, e);
	}
	c->out.head = c->out.tail = NULL;
	actor__tcp_conn_fini(c);
	b->cb.closed(b->cb.arg, (struct actor__conn *)c, c->reason);
	/* After closed(): the layer above stops calling try_send there. */
	pthread_mutex_destroy(&c->wlock);
	free(c);
}

/* --- writes from other threads (tcp.h: direct) ----------------------------- */

/* The I/O thread is about to queue on c or close it: no other writer
 * from now on (one in progress holds wlock, so this waits for it). */
static void direct_off(struct actor__tcp_conn *c)
{
	if (!c->direct_io)
		return;
	pthread_mutex_lock(&c->wlock);
	c->direct = false;
	pthread_mutex_unlock(&c->wlock);
	c->direct_io = false;
}

void actor__tcp_direct_maybe(struct actor__tcp_conn *c)
{
	/* direct_io false means direct is false too, so no writer touches
	 * c->out while this reads it. A hand-over not taken yet would clear
	 * direct_io behind this (tests/spin/direct.pml). */
	if (c->direct_io || c->closing || c->connecting || c->writing || c->in_flush ||
	    c->tls != NULL || c->out.head != NULL ||
	    atomic_load_explicit(&c->handed, memory_order_relaxed))
		return;
	pthread_mutex_lock(&c->wlock);
	c->direct = true;
	pthread_mutex_unlock(&c->wlock);
	c->direct_io = true;
}

/* Connections whose writer left the rest of a frame queued: written by the
 * I/O thread from now on, until direct_maybe. */
static void take_handed(struct actor__tcp_transport *t)
{
	struct actor__tcp_conn *c, *next;

	if (atomic_load_explicit(&t->handed, memory_order_relaxed) == NULL)
		return;
	for (c = atomic_exchange_explicit(&t->handed, NULL, memory_order_acquire); c != NULL;
	     c = next) {
		next = c->handed_next;
		/* The writer cleared direct; no other can push c before the
		 * next direct_maybe, which this allows again. */
		atomic_store_explicit(&c->handed, false, memory_order_relaxed);
		c->direct_io = false;
		if (!c->closing)
			actor__tcp_flush_later(t, c);
	}
}

int actor__tcp_try_send(struct actor__conn *conn, struct actor__env *e)
{
	struct actor__tcp_conn *c = (struct actor__tcp_conn *)conn;
	struct actor__tcp_transport *t = (struct actor__tcp_transport *)c->base.t;
	struct actor__tcp_conn *head;
	ssize_t r;

	/* Busy with another writer, or the I/O thread is taking it back. */
	if (pthread_mutex_trylock(&c->wlock) != 0)
		return -EAGAIN;
	if (!c->direct) {
		pthread_mutex_unlock(&c->wlock);
		return -EAGAIN;
	}
	do
		r = send(c->fd, e->data, e->size, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r == (ssize_t)e->size) {
		pthread_mutex_unlock(&c->wlock);
		return 1;
	}
	/* The socket is full (or failed: the I/O thread's own write will
	 * meet the error and close c). The rest must go next, so it heads
	 * the queue, which is empty while direct is set. */
	c->direct = false;
	actor__tcp_outq_push(c, &e, 1);
	if (r > 0) {
		c->out.off = (size_t)r;
		c->out.queued -= (size_t)r;
	}
	atomic_store_explicit(&c->handed, true, memory_order_relaxed);
	head = atomic_load_explicit(&t->handed, memory_order_relaxed);
	do
		c->handed_next = head;
	while (!atomic_compare_exchange_weak_explicit(&t->handed, &head, c, memory_order_release,
						      memory_order_relaxed));
	pthread_mutex_unlock(&c->wlock);
	actor__tcp_wake_kick(&t->wake);
	return 0;
}

void actor__tcp_dead(struct actor__tcp_transport *t, struct actor__tcp_conn *c)
{
	if (c->in_dead)
		return;
	c->in_dead = true;
	c->dead_next = t->dead;
	t->dead = c;
}

void actor__tcp_flush_later(struct actor__tcp_transport *t, struct actor__tcp_conn *c)
{
	if (c->in_flush || c->writing || c->connecting || actor__tcp_handshaking(c))
		return;
	c->in_flush = true;
	c->flush_next = t->flush;
	t->flush = c;
}

void actor__tcp_settle(struct actor__tcp_transport *t)
{
	struct actor__tcp_conn *c;

	while (t->flush != NULL || t->dead != NULL ||
	       atomic_load_explicit(&t->handed, memory_order_relaxed) != NULL) {
		take_handed(t);
		while ((c = t->flush) != NULL) {
			t->flush = c->flush_next;
			c->in_flush = false;
			if (!c->closing && !c->writing && actor__tcp_out_pending(c))
				t->backend->write(t, c);
		}
		while ((c = t->dead) != NULL) {
			t->dead = c->dead_next;
			c->in_dead = false;
			t->backend->end(t, c);
		}
	}
}

void actor__tcp_close_all(struct actor__tcp_transport *t, int reason)
{
	struct actor__list *n, *tmp;

	actor__list_each(n, tmp, &t->conns)
		actor__tcp_close((struct actor__conn *)actor__list_entry(n, struct actor__tcp_conn, node),
				 reason);
}

void actor__tcp_send(struct actor__conn *conn, struct actor__env **frames, size_t n)
{
	struct actor__tcp_conn *c = (struct actor__tcp_conn *)conn;

	if (c->closing) {
		for (size_t i = 0; i < n; i++)
			drop(c, frames[i]);
		return;
	}
	direct_off(c);
	actor__tcp_outq_push(c, frames, n);
	actor__tcp_flush_later((struct actor__tcp_transport *)c->base.t, c);
}

size_t actor__tcp_queued(const struct actor__conn *conn)
{
	struct actor__tcp_conn *c = (struct actor__tcp_conn *)conn;
	size_t queued;

	/* While direct writes are on, a writer that could not finish a frame
	 * queues its rest under wlock (actor__tcp_try_send). */
	if (!c->direct_io)
		return c->out.queued;
	pthread_mutex_lock(&c->wlock);
	queued = c->out.queued;
	pthread_mutex_unlock(&c->wlock);
	return queued;
}

void actor__tcp_close(struct actor__conn *conn, int reason)
{
	struct actor__tcp_conn *c = (struct actor__tcp_conn *)conn;

	if (c->closing)
		return;
	direct_off(c);
	c->closing = true;
	c->reason = reason;
	actor__tcp_dead((struct actor__tcp_transport *)c->base.t, c);
}

void actor__tcp_wake_op(struct actor__transport *t)
{
	actor__tcp_wake(&((struct actor__tcp_transport *)t)->wake);
}

int actor__tcp_listener_open(const char *host, uint16_t port, uint16_t *bound,
			     struct actor__tcp_listener **out)
{
	struct actor__tcp_listener *l = calloc(1, sizeof(*l));
	int err;

	if (l == NULL)
		return -ENOMEM;
	if ((l->fd = actor__tcp_listen(host, port, bound)) < 0) {
		err = l->fd;
		free(l);
		return err;
	}
	*out = l;
	return 0;
}

void actor__tcp_listener_push(_Atomic(struct actor__tcp_listener *) *stack,
			      struct actor__tcp_listener *l)
{
	l->next = atomic_load(stack);
	while (!atomic_compare_exchange_weak(stack, &l->next, l))
		;
}

void actor__tcp_listeners_free(struct actor__tcp_listener *l)
{
	for (struct actor__tcp_listener *next; l != NULL; l = next) {
		next = l->next;
		close(l->fd);
		free(l);
	}
}

void actor__tcp_accept_wait(struct actor__tcp_transport *t, struct actor__tcp_listener *l)
{
	if (l->waiting)
		return;
	l->waiting = true;
	t->accept_waiting++;
}

void actor__tcp_accept_retry(struct actor__tcp_transport *t, struct actor__tcp_listener *list,
			     bool tick,
			     void (*retry)(struct actor__tcp_transport *t,
					   struct actor__tcp_listener *l))
{
	bool due = tick || t->fd_freed;

	t->fd_freed = false;
	if (t->accept_waiting == 0 || !due)
		return;
	for (struct actor__tcp_listener *l = list; l != NULL; l = l->next) {
		if (!l->waiting)
			continue;
		l->waiting = false;
		t->accept_waiting--;
		retry(t, l);
	}
}

/* --- the driver (tcp.h) ------------------------------------------------------ */

/*
 * A connection that drive() named is handed over once the I/O thread has
 * drained its input and no request of the backend reads it (epoll: its
 * set stops watching input, EPOLLOUT stays for writes; io_uring: its
 * multishot recv has ended, see tcp_uring.c): it is armed, EPOLLONESHOT
 * and level-triggered, in a second set, dfd, that the driver's holder
 * waits on (drv_wait) or polls. Who reads such a connection:
 *  - the holder of dlock, for a connection armed in dfd: the holder waits
 *    on dfd and reads under it. The I/O thread arms a connection only
 *    after it stopped reading it and set driven (release; the holder's
 *    acquire on the event's connection pairs with it), and takes dlock
 *    (cutting the holder's wait short through dwake) only to end one,
 *    so no event of dfd can name a connection it has freed;
 *  - the holder re-arms a connection after reading it (level-triggered:
 *    what is left reports again), or hands it back on the stack drv.back
 *    when frame_driven() refuses a frame (PING, a reply, membership: the
 *    I/O thread's), on an error or an EOF, and wakes the I/O thread, which
 *    takes it back (the backend's reads(true)), delivers what the buffer
 *    holds from the refused frame on, and reads on (read()); drained, it
 *    hands it over again.
 * On each tick the I/O thread also polls dfd itself (if no holder waits),
 * so that input is read even while every worker runs a long handler.
 * Neither side reads while the other may: level triggering makes the
 * hand-over free of lost wake-ups, since bytes that came before the arming
 * report at once.
 */

static int drv_init(struct actor__tcp_driver *d)
{
	struct epoll_event dw = { .events = EPOLLIN, .data.ptr = NULL };

	d->dfd = epoll_create1(EPOLL_CLOEXEC);
	d->dwake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&d->dlock, NULL);
	if (d->dfd < 0 || d->dwake < 0 || epoll_ctl(d->dfd, EPOLL_CTL_ADD, d->dwake, &dw) < 0)
		return -errno;
	return 0;
}

static void drv_fini(struct actor__tcp_driver *d)
{
	if (d->dwake >= 0)
		close(d->dwake);
	if (d->dfd >= 0)
		close(d->dfd);
	pthread_mutex_destroy(&d->dlock);
}

/*
 * The I/O thread's, to end a connection: takes dlock, waking the holder
 * if it waits. Mutexes are not fair: the holder, back from its wait,
 * could take dlock again before this thread and wait for good. So it does
 * not wait while io_wants is set (it looks under dlock, before waiting;
 * this thread sets it before the wake-up).
 */
static void drv_lock_io(struct actor__tcp_driver *d)
{
	uint64_t one = 1;

	if (pthread_mutex_trylock(&d->dlock) == 0)
		return;
	atomic_store(&d->io_wants, true);
	(void)!write(d->dwake, &one, sizeof(one));
	pthread_mutex_lock(&d->dlock);
	atomic_store(&d->io_wants, false);
}

#define DRIVEN_EVENTS (EPOLLIN | EPOLLRDHUP | EPOLLONESHOT)

bool actor__tcp_drive_now(struct actor__tcp_transport *t, struct actor__tcp_conn *c)
{
	struct epoll_event ev = { .events = DRIVEN_EVENTS, .data.ptr = c };
	int err;

	if (!c->drive_due || c->io_off || c->closing)
		return false;
	/* Input read only through dfd from here on. */
	err = t->backend->reads(t, c, false);
	if (err == 0) {
		atomic_store_explicit(&c->driven, true, memory_order_release);
		if (epoll_ctl(t->drv.dfd, c->in_dfd ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd,
			      &ev) < 0) {
			err = -errno;	/* not armed: no holder saw it */
			atomic_store_explicit(&c->driven, false, memory_order_relaxed);
		} else {
			c->in_dfd = true;
			c->io_off = true;
			return true;
		}
	}
	/* Out of kernel memory: this thread keeps reading it. */
	c->drive_due = false;
	if (t->backend->reads(t, c, true) < 0)
		actor__tcp_close((struct actor__conn *)c, -ENOMEM);
	return false;
}

void actor__tcp_drive(struct actor__conn *conn, void *ctx)
{
	struct actor__tcp_conn *c = (struct actor__tcp_conn *)conn;

	/* User-space TLS decrypts on the I/O thread only. */
	if (c->base.t->cb.frame_driven == NULL || (c->tls != NULL && actor__tls_rx_user(c->tls)))
		return;
	c->drive_due = true;
	c->drv_ctx = ctx;
}

/* The holder: c goes back to the I/O thread, with err to close with. */
static void drv_back(struct actor__tcp_transport *t, struct actor__tcp_conn *c, int err)
{
	struct actor__tcp_conn *head = atomic_load_explicit(&t->drv.back, memory_order_relaxed);

	atomic_store_explicit(&c->driven, false, memory_order_relaxed);
	c->drv_err = err;
	do
		c->back_next = head;
	while (!atomic_compare_exchange_weak_explicit(&t->drv.back, &head, c, memory_order_release,
						      memory_order_relaxed));
	actor__tcp_wake(&t->wake);
}

int actor__tcp_recv_once(struct actor__tcp_conn *c, size_t *n, size_t *room)
{
	unsigned char *p;
	ssize_t r;
	int err;

	if ((err = actor__tcp_rspace(c, &p, room)) < 0)
		return err;
	do
		r = recv(c->fd, p, *room, MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EAGAIN ? 1 : -errno;
	*n = (size_t)r;
	return 0;
}

/* The holder, under dlock: reads c and hands its frames to frame_driven()
 * with w, then re-arms it or hands it back. */
static void drv_read(struct actor__tcp_transport *t, struct actor__tcp_conn *c, void *w)
{
	struct epoll_event ev = { .events = DRIVEN_EVENTS, .data.ptr = c };

	if (!atomic_load_explicit(&c->driven, memory_order_acquire) ||
	    (w == NULL && c->closing))	/* the I/O thread's own tick */
		return;
	for (int i = 0; i < ACTOR__TCP_READ_BUDGET; i++) {
		size_t n, room;
		int err = actor__tcp_recv_once(c, &n, &room);

		if (err == 1)
			break;
		/* At EOF (err 0) the I/O thread reads it again. */
		if (err < 0 || n == 0 || (err = actor__tcp_received_driven(c, n, c->drv_ctx, w)) <= 0) {
			drv_back(t, c, err);
			return;
		}
		if (n < room)
			break;
	}
	if (epoll_ctl(t->drv.dfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		drv_back(t, c, 0);
}

/* Under dlock: waits on dfd, keeping the connections' events in drv.dev.
 * A wake-up (dwake) is read only by a worker's wait or poll (take_wake):
 * the I/O thread's tick poll leaves it for the worker that drv_wake() was
 * for, which may not have reached its wait yet (transport.h: the next
 * drv_wait returns at once). */
static int drv_collect(struct actor__tcp_driver *d, const struct timespec *ts, bool take_wake)
{
	int n = epoll_pwait2(d->dfd, d->dev, ACTOR__TCP_DRV_EVENTS, ts, NULL), k = 0;

	if (n < 0 && errno == ENOSYS) {	/* before Linux 5.11: milliseconds */
		int ms = ts == NULL ? -1 : (int)((ts->tv_sec * 1000000000 + ts->tv_nsec + 999999) / 1000000);

		n = epoll_wait(d->dfd, d->dev, ACTOR__TCP_DRV_EVENTS, ms);
	}
	for (int i = 0; i < n; i++) {
		uint64_t v;

		if (d->dev[i].data.ptr == NULL) {
			if (take_wake)
				(void)!read(d->dwake, &v, sizeof(v));
		} else
			d->dev[k++] = d->dev[i];
	}
	d->ndev = k;
	return k;
}

static void drv_dispatch_locked(struct actor__tcp_transport *t, void *w)
{
	for (int i = 0; i < t->drv.ndev; i++)
		drv_read(t, t->drv.dev[i].data.ptr, w);
	t->drv.ndev = 0;
}

int actor__tcp_drv_wait(struct actor__transport *b, unsigned timeout_us)
{
	struct actor__tcp_driver *d = &((struct actor__tcp_transport *)b)->drv;
	struct timespec ts = { .tv_sec = timeout_us / 1000000,
			       .tv_nsec = (long)(timeout_us % 1000000) * 1000 };

	pthread_mutex_lock(&d->dlock);
	if (atomic_load(&d->io_wants)) {
		/* Ending a connection: its turn first. */
		pthread_mutex_unlock(&d->dlock);
		sched_yield();
		return 0;
	}
	if (drv_collect(d, timeout_us != 0 ? &ts : NULL, true) > 0)
		return 1;	/* dlock stays held until actor__tcp_drv_dispatch */
	pthread_mutex_unlock(&d->dlock);
	return 0;
}

void actor__tcp_drv_dispatch(struct actor__transport *b, void *w)
{
	struct actor__tcp_transport *t = (struct actor__tcp_transport *)b;

	drv_dispatch_locked(t, w);
	pthread_mutex_unlock(&t->drv.dlock);
}

int actor__tcp_drv_poll(struct actor__transport *b, void *w)
{
	static const struct timespec now = { 0, 0 };
	struct actor__tcp_transport *t = (struct actor__tcp_transport *)b;
	int n;

	if (pthread_mutex_trylock(&t->drv.dlock) != 0)
		return -EBUSY;
	n = drv_collect(&t->drv, &now, true);
	drv_dispatch_locked(t, w);
	pthread_mutex_unlock(&t->drv.dlock);
	return n;
}

void actor__tcp_drv_wake(struct actor__transport *b)
{
	uint64_t one = 1;

	(void)!write(((struct actor__tcp_transport *)b)->drv.dwake, &one, sizeof(one));
}

/* I/O thread: moves what the holder handed back to the back list, in the
 * order it came. */
static void back_take(struct actor__tcp_driver *d)
{
	struct actor__tcp_conn *c = atomic_exchange_explicit(&d->back, NULL, memory_order_acquire),
			       *rev = NULL;

	while (c != NULL) {
		struct actor__tcp_conn *next = c->back_next;

		c->back_next = rev;
		rev = c;
		c = next;
	}
	if (rev == NULL)
		return;
	if (d->back_tail != NULL)
		d->back_tail->back_next = rev;
	else
		d->back_head = rev;
	for (d->back_tail = rev; d->back_tail->back_next != NULL;)
		d->back_tail = d->back_tail->back_next;
}

void actor__tcp_back_run(struct actor__tcp_transport *t)
{
	struct actor__tcp_driver *d = &t->drv;
	struct actor__tcp_conn *c;
	int err;

	back_take(d);
	while ((c = d->back_head) != NULL) {
		d->back_head = c->back_next;
		if (d->back_head == NULL)
			d->back_tail = NULL;
		c->io_off = false;
		if (c->closing)
			continue;
		if ((err = t->backend->reads(t, c, true)) < 0 || (err = c->drv_err) < 0 ||
		    (err = actor__tcp_received(c, 0)) < 0) {
			actor__tcp_close((struct actor__conn *)c, err);
			continue;
		}
		if (!c->closing)
			t->backend->read(t, c);
	}
}

void actor__tcp_drv_end(struct actor__tcp_transport *t, struct actor__tcp_conn *c)
{
	struct actor__tcp_driver *d = &t->drv;

	if (c->in_dfd) {
		drv_lock_io(d);
		atomic_store_explicit(&c->driven, false, memory_order_relaxed);
		epoll_ctl(d->dfd, EPOLL_CTL_DEL, c->fd, NULL);
		c->in_dfd = false;
		pthread_mutex_unlock(&d->dlock);
	}
	if (!c->io_off)
		return;
	/* Handed back before dlock was ours: on the list now; off it. */
	back_take(d);
	for (struct actor__tcp_conn **p = &d->back_head, *prev = NULL; *p != NULL;
	     prev = *p, p = &(*p)->back_next) {
		if (*p == c) {
			*p = c->back_next;
			if (d->back_tail == c)
				d->back_tail = prev;
			break;
		}
	}
	c->io_off = false;
}

void actor__tcp_drv_poll_io(struct actor__tcp_transport *t)
{
	static const struct timespec now = { 0, 0 };

	if (pthread_mutex_trylock(&t->drv.dlock) != 0)
		return;
	if (drv_collect(&t->drv, &now, false) > 0)
		drv_dispatch_locked(t, NULL);
	pthread_mutex_unlock(&t->drv.dlock);
}

/*
 * The TCP transports, each test run against io_uring (with provided buffers
 * and with plain recv) and against epoll. A uring test is skipped where
 * io_uring cannot be set up.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/leakcheck.h"
#include "transport/transport.h"

enum variant { V_URING, V_URING_PLAIN, V_EPOLL };

#define VARIANTS(name)                                          \
	static void name(enum variant v);                       \
	Test(uring, name, .timeout = 60) { name(V_URING); }     \
	Test(uring_plain, name, .timeout = 60)                  \
	{                                                       \
		setenv("ACTOR_URING_PBUF", "0", 1);             \
		name(V_URING_PLAIN);                            \
	}                                                       \
	Test(epoll, name, .timeout = 60) { name(V_EPOLL); }     \
	static void name(enum variant v)

/* One transport and what its callbacks saw. */
struct peer {
	struct actor__transport *t;
	pthread_mutex_t mu;
	void (*fn)(struct peer *, void *);	/* run by woken() */
	void *fn_arg;
	atomic_bool fn_done;
	/* Behaviour. */
	bool echo;			/* send every frame back */
	bool seq;			/* frames carry a 64-bit sequence number */
	unsigned close_at;		/* close() from frame() at this frame */
	uint64_t pump_total;		/* frames to send on connected()/writable() */
	uint32_t pump_body;
	atomic_ulong pump_sent;
	/* What happened. */
	atomic_uint accepted, connected, closed, writable, ticks, woken;
	atomic_int reason;
	_Atomic(struct actor__conn *) conn;	/* the last one up */
	atomic_ulong frames, bytes, next_seq;
	atomic_bool out_of_order;
	atomic_size_t max_queued, queued;
};

static struct actor__env *frame_of(const void *body, uint32_t len)
{
	struct actor__env *e = actor__env_alloc(NULL, ACTOR__FRAME_PREFIX + len);

	/* Called on the I/O thread too, where cr_assert cannot run. */
	if (e == NULL)
		abort();
	actor__frame_prefix(e->data, len);
	if (len > 0)
		memcpy((unsigned char *)e->data + ACTOR__FRAME_PREFIX, body, len);
	return e;
}

static struct actor__env *frame_seq(uint64_t seq, uint32_t len)
{
	unsigned char body[4096] = { 0 };

	memcpy(body, &seq, sizeof(seq));
	return frame_of(body, len);
}

static void pump(struct peer *p, struct actor__conn *c)
{
	const struct actor__transport_ops *ops = p->t->ops;
	size_t q;

	while (p->pump_sent < p->pump_total && ops->queued(c) < p->t->cfg.high_water) {
		struct actor__env *batch[64];
		size_t n = 0;

		while (n < 64 && p->pump_sent < p->pump_total)
			batch[n++] = frame_seq(atomic_fetch_add(&p->pump_sent, 1), p->pump_body);
		ops->send(c, batch, n);
	}
	q = ops->queued(c);
	atomic_store(&p->queued, q);
	if (q > atomic_load(&p->max_queued))
		atomic_store(&p->max_queued, q);
}

static void on_accepted(void *arg, struct actor__conn *c)
{
	struct peer *p = arg;

	atomic_store(&p->conn, c);
	atomic_fetch_add(&p->accepted, 1);
	if (p->pump_total)
		pump(p, c);
}

static void on_connected(void *arg, struct actor__conn *c)
{
	struct peer *p = arg;

	atomic_store(&p->conn, c);
	atomic_fetch_add(&p->connected, 1);
	if (p->pump_total)
		pump(p, c);
}

static void on_frame(void *arg, struct actor__conn *c, const void *body, size_t len)
{
	struct peer *p = arg;
	unsigned long n = atomic_fetch_add(&p->frames, 1) + 1;

	atomic_fetch_add(&p->bytes, len);
	if (p->seq) {
		uint64_t seq = UINT64_MAX;

		if (len >= sizeof(seq))
			memcpy(&seq, body, sizeof(seq));
		if (seq != atomic_load(&p->next_seq))
			atomic_store(&p->out_of_order, true);
		atomic_store(&p->next_seq, seq + 1);
	}
	if (p->echo) {
		struct actor__env *e = frame_of(body, (uint32_t)len);

		p->t->ops->send(c, &e, 1);
	}
	if (p->close_at && n == p->close_at) {
		struct actor__env *e = frame_of("late", 4);

		p->t->ops->close(c, -EBADMSG);
		p->t->ops->close(c, -EINVAL);	/* the first reason wins */
		p->t->ops->send(c, &e, 1);	/* freed: the connection is closing */
	}
}

static void on_writable(void *arg, struct actor__conn *c)
{
	struct peer *p = arg;

	atomic_fetch_add(&p->writable, 1);
	if (p->pump_total)
		pump(p, c);
}

static void on_closed(void *arg, struct actor__conn *c, int reason)
{
	struct peer *p = arg;

	atomic_store(&p->reason, reason);
	atomic_compare_exchange_strong(&p->conn, &c, NULL);
	atomic_fetch_add(&p->closed, 1);
}

static void on_tick(void *arg)
{
	atomic_fetch_add(&((struct peer *)arg)->ticks, 1);
}

static void on_woken(void *arg)
{
	struct peer *p = arg;
	void (*fn)(struct peer *, void *);

	atomic_fetch_add(&p->woken, 1);
	pthread_mutex_lock(&p->mu);
	fn = p->fn;
	p->fn = NULL;
	pthread_mutex_unlock(&p->mu);
	if (fn != NULL) {
		fn(p, p->fn_arg);
		atomic_store(&p->fn_done, true);
	}
}

/* Polls for up to 20 s. */
#define WAIT(cond)                                                      \
	do {                                                            \
		for (int wait_ = 0; wait_ < 20000 && !(cond); wait_++)  \
			usleep(1000);                                   \
		cr_assert((cond), "timed out: %s", #cond);              \
	} while (0)

static void peer_init(struct peer *p, enum variant v, const struct actor__transport_config *cfg)
{
	struct actor__transport_config c = cfg ? *cfg : (struct actor__transport_config){ 0 };
	struct actor__transport_cb cb = {
		.arg = p,
		.accepted = on_accepted,
		.connected = on_connected,
		.frame = on_frame,
		.writable = on_writable,
		.closed = on_closed,
		.tick = on_tick,
		.woken = on_woken,
	};
	int err;

	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
	c.kind = v == V_EPOLL ? ACTOR__TRANSPORT_EPOLL : ACTOR__TRANSPORT_URING;
	err = actor__transport_create(&c, &cb, &p->t);
	if (v != V_EPOLL && (err == -ENOSYS || err == -EPERM || err == -EINVAL))
		cr_skip_test("io_uring cannot be set up: %s", strerror(-err));
	cr_assert_eq(err, 0, "create: %s", strerror(-err));
	cr_assert_str_eq(p->t->ops->name, v == V_EPOLL ? "epoll" : "uring");
}

static void peer_fini(struct peer *p)
{
	p->t->ops->destroy(p->t);
	pthread_mutex_destroy(&p->mu);
}

/* Runs fn(p, arg) on p's I/O thread and waits for it. */
static void on_io(struct peer *p, void (*fn)(struct peer *, void *), void *arg)
{
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->fn_arg = arg;
	atomic_store(&p->fn_done, false);
	pthread_mutex_unlock(&p->mu);
	p->t->ops->wake(p->t);
	WAIT(atomic_load(&p->fn_done));
}

static uint16_t peer_listen(struct peer *p, const char *host)
{
	uint16_t port = 0;

	cr_assert_eq(p->t->ops->listen(p->t, host, 0, &port), 0);
	cr_assert_neq(port, 0);
	return port;
}

struct dial {
	const char *host;
	uint16_t port;
	struct actor__conn *c;
	int err;
};

static void do_connect(struct peer *p, void *arg)
{
	struct dial *d = arg;

	d->err = p->t->ops->connect(p->t, d->host, d->port, d, &d->c);
}

static void dial(struct peer *p, const char *host, uint16_t port)
{
	struct dial d = { host, port, NULL, 0 };

	on_io(p, do_connect, &d);
	cr_assert_eq(d.err, 0);
	cr_assert_not_null(d.c);
}

struct sendv {
	struct actor__env **frames;
	size_t n;
};

static void do_send(struct peer *p, void *arg)
{
	struct sendv *s = arg;

	p->t->ops->send(atomic_load(&p->conn), s->frames, s->n);
}

static void do_queued(struct peer *p, void *arg)
{
	atomic_store(&p->queued, p->t->ops->queued(atomic_load(&p->conn)));
}

/* Raw sockets for hand-made bytes. */
static int raw_connect(int family, uint16_t port, int rcvbuf)
{
	struct sockaddr_storage ss = { 0 };
	struct timeval tv = { 20, 0 };
	socklen_t len;
	int fd = socket(family, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_addr = in6addr_loopback;
		len = sizeof(*sin6);
	}
	cr_assert_eq(connect(fd, (struct sockaddr *)&ss, len), 0, "connect: %s", strerror(errno));
	return fd;
}

static void write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t r = write(fd, p, len);

		cr_assert_gt(r, 0, "write: %s", strerror(errno));
		p += r;
		len -= (size_t)r;
	}
}

static void read_all(int fd, void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t r = read(fd, p, len);

		cr_assert_gt(r, 0, "read: %s", r == 0 ? "EOF" : strerror(errno));
		p += r;
		len -= (size_t)r;
	}
}

/* The peer hung up: EOF or a reset, not a timeout. */
static void read_eof(int fd)
{
	char b[256];
	ssize_t r;

	while ((r = read(fd, b, sizeof(b))) > 0)
		;
	cr_assert(r == 0 || errno == ECONNRESET, "expected EOF: %s", strerror(errno));
}

static size_t put_frame(unsigned char *p, const void *body, uint32_t len)
{
	actor__frame_prefix(p, len);
	memcpy(p + ACTOR__FRAME_PREFIX, body, len);
	return ACTOR__FRAME_PREFIX + len;
}

VARIANTS(echo_raw_client)
{
	struct peer s;
	unsigned char out[64 * 1024], in[sizeof(out)];
	size_t n = 0;
	uint16_t port;
	int fd;

	peer_init(&s, v, NULL);
	s.echo = true;
	port = peer_listen(&s, "127.0.0.1");
	fd = raw_connect(AF_INET, port, 0);
	for (uint32_t i = 0; n + 2004 <= sizeof(out); i++) {
		unsigned char body[2000];
		uint32_t len = i * 37 % 2000 + 1;

		for (uint32_t j = 0; j < len; j++)
			body[j] = (unsigned char)(i + j);
		n += put_frame(out + n, body, len);
	}
	write_all(fd, out, n);
	read_all(fd, in, n);
	cr_assert_eq(memcmp(in, out, n), 0);
	WAIT(atomic_load(&s.accepted) == 1);
	close(fd);
	WAIT(atomic_load(&s.closed) == 1);
	cr_assert_eq(atomic_load(&s.reason), 0, "clean EOF: %d", atomic_load(&s.reason));
	peer_fini(&s);
	assert_no_leaks();
}

VARIANTS(echo_between_transports)
{
	struct peer s, c;
	struct actor__env *frames[100];
	struct sendv sv = { frames, 100 };
	uint16_t port;

	peer_init(&s, v, NULL);
	peer_init(&c, v, NULL);
	s.echo = true;
	c.seq = true;
	port = peer_listen(&s, "localhost");
	dial(&c, "127.0.0.1", port);
	WAIT(atomic_load(&c.connected) == 1 && atomic_load(&s.accepted) == 1);
	for (int i = 0; i < 100; i++)
		frames[i] = frame_seq((uint64_t)i, 8 + (uint32_t)i);
	on_io(&c, do_send, &sv);
	WAIT(atomic_load(&c.frames) == 100);
	cr_assert(!atomic_load(&c.out_of_order));
	cr_assert_eq(atomic_load(&c.bytes), 100 * 8 + 99 * 100 / 2);
	peer_fini(&c);
	WAIT(atomic_load(&s.closed) == 1);
	cr_assert_eq(atomic_load(&c.closed), 1);
	cr_assert_eq(atomic_load(&c.reason), -ECANCELED);
	peer_fini(&s);
	assert_no_leaks();
}

VARIANTS(ipv6_literal)
{
	struct peer s;
	unsigned char out[16], in[16];
	uint16_t port = 0;
	int fd, err;

	peer_init(&s, v, NULL);
	s.echo = true;
	err = s.t->ops->listen(s.t, "[::1]", 0, &port);
	if (err == -EADDRNOTAVAIL || err == -EAFNOSUPPORT) {
		peer_fini(&s);
		cr_skip_test("no IPv6 loopback");
	}
	cr_assert_eq(err, 0);
	cr_assert_eq(s.t->ops->listen(s.t, "no.such.host", 0, &port), -EINVAL);
	fd = raw_connect(AF_INET6, port, 0);
	put_frame(out, "ipv6 here!!!", 12);
	write_all(fd, out, 16);
	read_all(fd, in, 16);
	cr_assert_eq(memcmp(in, out, 16), 0);
	close(fd);
	peer_fini(&s);
}

static void measure(enum variant v, uint32_t body, uint64_t total, const char *what)
{
	struct peer s, c;
	struct timespec t0, t1;
	double secs;
	uint16_t port;

	peer_init(&s, v, NULL);
	peer_init(&c, v, NULL);
	s.seq = true;
	c.pump_total = total;
	c.pump_body = body;
	port = peer_listen(&s, "127.0.0.1");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	dial(&c, "127.0.0.1", port);
	WAIT(atomic_load(&s.frames) == total || atomic_load(&s.out_of_order));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert(!atomic_load(&s.out_of_order), "frame %lu out of order",
		  atomic_load(&s.next_seq));
	cr_assert_eq(atomic_load(&s.bytes), total * body);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
	cr_log_info("%s %s: %lu frames of %u+4 bytes in %.3f s: %.0f frames/s", what,
		    c.t->ops->name, (unsigned long)total, body, secs, (double)total / secs);
	cr_assert_leq(atomic_load(&c.max_queued), c.t->cfg.high_water + 64 * (body + 4));
	peer_fini(&c);
	peer_fini(&s);
}

VARIANTS(million_small_frames_in_order)
{
	measure(v, 20, 1000000, "one way");
}

VARIANTS(frame_sizes_up_to_max)
{
	static const uint32_t sizes[] = { 1, 2, 3, 4, 5, 100, 4095, 4096, 4097, 16383, 16384,
					  16385, 65535, 65536, 65537, 500000, 1 << 20 };
	struct actor__transport_config cfg = { .max_frame = 1 << 20 };
	size_t max = ACTOR__FRAME_PREFIX + (1 << 20);
	unsigned char *out = malloc(max), *in = malloc(max);
	struct peer s;
	uint16_t port;
	int fd;

	peer_init(&s, v, &cfg);
	s.echo = true;
	port = peer_listen(&s, "127.0.0.1");
	fd = raw_connect(AF_INET, port, 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint32_t len = sizes[i];
		size_t n;

		actor__frame_prefix(out, len);
		for (uint32_t j = 0; j < len; j++)
			out[ACTOR__FRAME_PREFIX + j] = (unsigned char)(j * 7 + i);
		n = ACTOR__FRAME_PREFIX + len;
		if (len == 1 << 20) {
			/* Trickled in: the body spans many reads. */
			for (size_t off = 0; off < n; off += 3000) {
				struct timespec us = { 0, 20000 };

				write_all(fd, out + off, n - off < 3000 ? n - off : 3000);
				if (off % 60000 == 0)
					nanosleep(&us, NULL);
			}
		} else {
			write_all(fd, out, n);
		}
		read_all(fd, in, n);
		cr_assert_eq(memcmp(in, out, n), 0, "frame of %u bytes", len);
	}
	cr_assert_eq(atomic_load(&s.frames), sizeof(sizes) / sizeof(sizes[0]));
	close(fd);
	peer_fini(&s);
	free(out);
	free(in);
	assert_no_leaks();
}

/* Good frames, then a bad prefix: the good ones arrive, that connection
 * ends with EMSGSIZE, another one keeps working. */
static void bad_prefix(enum variant v, uint32_t bad)
{
	struct actor__transport_config cfg = { .max_frame = 1000 };
	unsigned char buf[64], in[16];
	struct peer s;
	size_t n = 0;
	uint16_t port;
	int fd, good;

	peer_init(&s, v, &cfg);
	s.echo = true;
	port = peer_listen(&s, "127.0.0.1");
	good = raw_connect(AF_INET, port, 0);
	fd = raw_connect(AF_INET, port, 0);
	WAIT(atomic_load(&s.accepted) == 2);
	n += put_frame(buf + n, "one", 3);
	n += put_frame(buf + n, "two", 3);
	actor__frame_prefix(buf + n, bad);
	n += 4;
	memcpy(buf + n, "body bytes", 10);
	write_all(fd, buf, n + 10);
	WAIT(atomic_load(&s.closed) == 1);
	cr_assert_eq(atomic_load(&s.reason), -EMSGSIZE);
	cr_assert_eq(atomic_load(&s.frames), 2);
	read_eof(fd);			/* the two echoes went with it */
	close(fd);
	n = put_frame(buf, "still here", 10);
	write_all(good, buf, n);
	read_all(good, in, n);
	cr_assert_eq(memcmp(in, buf, n), 0);
	close(good);
	peer_fini(&s);
	assert_no_leaks();
}

VARIANTS(oversized_prefix_closes_only_that_connection)
{
	bad_prefix(v, 1001);
	bad_prefix(v, 0xffffffffu);
}

VARIANTS(zero_length_prefix_closes)
{
	bad_prefix(v, 0);
}

VARIANTS(truncated_frame_then_eof)
{
	unsigned char buf[64];
	struct peer s;
	uint16_t port;
	int fd;

	peer_init(&s, v, NULL);
	port = peer_listen(&s, "127.0.0.1");
	fd = raw_connect(AF_INET, port, 0);
	put_frame(buf, "whole", 5);
	actor__frame_prefix(buf + 9, 100);
	memset(buf + 13, 'x', 40);
	write_all(fd, buf, 53);
	shutdown(fd, SHUT_WR);
	WAIT(atomic_load(&s.closed) == 1);
	cr_assert_eq(atomic_load(&s.reason), -ECONNRESET);
	cr_assert_eq(atomic_load(&s.frames), 1);
	read_eof(fd);
	close(fd);
	/* Half a prefix. */
	fd = raw_connect(AF_INET, port, 0);
	write_all(fd, buf, 2);
	close(fd);
	WAIT(atomic_load(&s.closed) == 2);
	cr_assert_eq(atomic_load(&s.reason), -ECONNRESET);
	peer_fini(&s);
	assert_no_leaks();
}

VARIANTS(slow_reader_backpressure)
{
	struct actor__transport_config cfg = { .high_water = 256 * 1024, .low_water = 64 * 1024 };
	const uint64_t total = 40000;
	const uint32_t body = 1020;
	unsigned char *buf = malloc(1024 * 64);
	struct peer s;
	uint16_t port;
	unsigned w;
	uint64_t got = 0;
	int fd;

	peer_init(&s, v, &cfg);
	s.pump_total = total;
	s.pump_body = body;
	port = peer_listen(&s, "127.0.0.1");
	fd = raw_connect(AF_INET, port, 32 * 1024);
	/* The reader sleeps: the socket buffers fill, then the queue up to
	 * high_water, and it stays above low_water with no writable(). */
	WAIT(atomic_load(&s.accepted) == 1);
	usleep(300 * 1000);
	w = atomic_load(&s.writable);
	usleep(200 * 1000);
	on_io(&s, do_queued, NULL);
	cr_assert_geq(atomic_load(&s.max_queued), cfg.high_water);
	cr_assert_geq(atomic_load(&s.queued), cfg.low_water);
	cr_assert_eq(atomic_load(&s.writable), w, "writable() while nobody reads");
	cr_assert_lt(atomic_load(&s.pump_sent), total, "everything fit in the socket buffers");
	/* Drain: writable() fires and the rest follows, in order. */
	while (got < total) {
		read_all(fd, buf, 1024);
		cr_assert_eq(actor__frame_body_len(buf), body);
		cr_assert_eq(memcmp(buf + 4, &got, 8), 0, "frame %lu", (unsigned long)got);
		got++;
	}
	cr_assert_gt(atomic_load(&s.writable), w);
	cr_assert_leq(atomic_load(&s.max_queued), cfg.high_water + 64 * 1024);
	cr_log_info("%s: writable() %u times, queued at most %zu", s.t->ops->name,
		    atomic_load(&s.writable), atomic_load(&s.max_queued));
	close(fd);
	peer_fini(&s);
	free(buf);
	assert_no_leaks();
}

VARIANTS(close_inside_frame_callback)
{
	unsigned char buf[256];
	struct peer s;
	size_t n = 0;
	uint16_t port;
	int fd;

	peer_init(&s, v, NULL);
	s.close_at = 3;
	port = peer_listen(&s, "127.0.0.1");
	fd = raw_connect(AF_INET, port, 0);
	for (int i = 0; i < 10; i++)
		n += put_frame(buf + n, "0123456789", 10);
	write_all(fd, buf, n);
	WAIT(atomic_load(&s.closed) == 1);
	cr_assert_eq(atomic_load(&s.reason), -EBADMSG);
	cr_assert_eq(atomic_load(&s.frames), 3);
	read_eof(fd);
	close(fd);
	usleep(20000);
	cr_assert_eq(atomic_load(&s.closed), 1);
	peer_fini(&s);
	assert_no_leaks();
}

VARIANTS(connect_refused)
{
	struct peer c;
	uint16_t port;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);

	/* A port that was just free. */
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sin, len), 0);
	getsockname(lfd, (struct sockaddr *)&sin, &len);
	port = ntohs(sin.sin_port);
	close(lfd);
	peer_init(&c, v, NULL);
	dial(&c, "127.0.0.1", port);
	WAIT(atomic_load(&c.closed) == 1);
	cr_assert_eq(atomic_load(&c.reason), -ECONNREFUSED);
	cr_assert_eq(atomic_load(&c.connected), 0);
	peer_fini(&c);
	assert_no_leaks();
}

VARIANTS(destroy_with_connections_and_queued_frames)
{
	struct peer s, c;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), rcv = 16 * 1024;
	int raw;

	/* c sends to a listener that never accepts nor reads. */
	setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sin, len), 0);
	cr_assert_eq(listen(lfd, 4), 0);
	getsockname(lfd, (struct sockaddr *)&sin, &len);
	peer_init(&c, v, NULL);
	c.pump_total = 100000;
	c.pump_body = 100;
	dial(&c, "127.0.0.1", ntohs(sin.sin_port));
	WAIT(atomic_load(&c.queued) >= c.t->cfg.high_water);
	/* s has a connection with a partial frame in its buffer, and one
	 * listener that nobody has used. */
	peer_init(&s, v, NULL);
	raw = raw_connect(AF_INET, peer_listen(&s, "127.0.0.1"), 0);
	peer_listen(&s, "127.0.0.1");
	write_all(raw, "\0\0\0\x10half", 8);
	WAIT(atomic_load(&s.accepted) == 1);
	peer_fini(&c);
	cr_assert_eq(atomic_load(&c.closed), 1);
	cr_assert_eq(atomic_load(&c.reason), -ECANCELED);
	peer_fini(&s);
	cr_assert_eq(atomic_load(&s.closed), 1);
	close(raw);
	close(lfd);
	assert_no_leaks();
}

VARIANTS(ticks)
{
	struct actor__transport_config cfg = { .tick_ns = 5 * 1000 * 1000 };
	struct peer s;

	peer_init(&s, v, &cfg);
	WAIT(atomic_load(&s.ticks) >= 10);
	peer_fini(&s);
}

/*
 * A drv_wake() before drv_wait() makes that wait return at once
 * (transport.h), ticks in between or not. The I/O thread's tick polls the
 * driver's set while no worker waits on it, and that poll read the
 * wake-up's eventfd: a worker notified between taking the driver and
 * entering its wait (park DRIVING) then waited for a frame or its timeout
 * with work queued, a lost wake-up (0 µs, the parked tier: until a frame).
 */
VARIANTS(drv_wake_is_kept_across_ticks)
{
	struct actor__transport_config cfg = { .tick_ns = 1000 * 1000 };
	struct timespec t0, t1;
	struct peer s;
	unsigned ticks;
	double slept;
	int r;

	peer_init(&s, v, &cfg);
	cr_assert_not_null(s.t->ops->drv_wake);
	s.t->ops->drv_wake(s.t);
	ticks = atomic_load(&s.ticks);
	WAIT(atomic_load(&s.ticks) >= ticks + 5);	/* each polls the set */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = s.t->ops->drv_wait(s.t, 5 * 1000 * 1000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	peer_fini(&s);
	slept = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_assert_eq(r, 0);
	cr_assert(slept < 2.5, "drv_wait slept %.3f s of its 5 s after drv_wake()", slept);
}

/* Wakers each bump their own counter and wake; the I/O thread records what
 * it saw in woken(). A waker waits until its bump was seen: a lost wake-up
 * would leave it waiting while the I/O thread sleeps. */
struct waker {
	struct peer *p;
	atomic_ulong *seen;
	atomic_ulong bumped;
	unsigned long rounds;
	bool lost;
};

static struct waker wakers[8];

static void record_woken(void *arg)
{
	for (int i = 0; i < 8; i++)
		atomic_store(wakers[i].seen, atomic_load(&wakers[i].bumped));
}

static void *waker_main(void *arg)
{
	struct waker *w = arg;

	for (unsigned long r = 1; r <= w->rounds && !w->lost; r++) {
		int spins = 0;

		atomic_store(&w->bumped, r);
		w->p->t->ops->wake(w->p->t);
		while (atomic_load(w->seen) < r) {
			if (++spins % 64 == 0) {
				struct timespec us = { 0, 1000 };

				nanosleep(&us, NULL);
			}
			if (spins > 2000000) {
				w->lost = true;
				break;
			}
		}
		if (r % 7 == 0) {
			/* Give the I/O thread time to fall asleep. */
			struct timespec us = { 0, (r % 5) * 20000 };

			nanosleep(&us, NULL);
		}
	}
	return NULL;
}

VARIANTS(wake_from_many_threads_is_never_lost)
{
	static atomic_ulong seen[8];
	struct actor__transport_cb cb = { .woken = record_woken };
	struct actor__transport_config cfg = {
		.kind = v == V_EPOLL ? ACTOR__TRANSPORT_EPOLL : ACTOR__TRANSPORT_URING,
		.tick_ns = 10ull * 1000 * 1000 * 1000,
	};
	struct peer p = { 0 };
	pthread_t th[8];
	int err = actor__transport_create(&cfg, &cb, &p.t);

	if (v != V_EPOLL && err < 0)
		cr_skip_test("io_uring cannot be set up");
	cr_assert_eq(err, 0);
	for (int i = 0; i < 8; i++)
		wakers[i] = (struct waker){ .p = &p, .seen = &seen[i], .rounds = 3000 };
	for (int i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, waker_main, &wakers[i]);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 8; i++)
		cr_assert(!wakers[i].lost, "waker %d: round %lu never seen", i,
			  atomic_load(&wakers[i].bumped));
	p.t->ops->destroy(p.t);
}

Test(factory, environment_picks_the_backend)
{
	struct actor__transport_config cfg = { .kind = ACTOR__TRANSPORT_AUTO };
	struct actor__transport_cb cb = { 0 };
	struct actor__transport *t;

	setenv("ACTOR_TRANSPORT", "epoll", 1);
	cr_assert_eq(actor__transport_create(&cfg, &cb, &t), 0);
	cr_assert_str_eq(t->ops->name, "epoll");
	t->ops->destroy(t);
	setenv("ACTOR_TRANSPORT", "kqueue", 1);
	cr_assert_eq(actor__transport_create(&cfg, &cb, &t), -EINVAL);
	unsetenv("ACTOR_TRANSPORT");
	cr_assert_eq(actor__transport_create(&cfg, &cb, &t), 0);
	cr_assert(strcmp(t->ops->name, "uring") == 0 || strcmp(t->ops->name, "epoll") == 0);
	t->ops->destroy(t);
	assert_no_leaks();
}

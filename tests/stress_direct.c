/*
 * Frames written by other threads than the I/O thread (try_send,
 * transport.h; issue 16), as a plain TAP program so that it also runs
 * under ThreadSanitizer. Per TCP backend:
 *
 *  - two writers at once, while the I/O thread queues frames of its own:
 *    the receiver gets every frame, whole, in order per writer;
 *  - a socket that blocks mid-frame (a raw receiver with a small receive
 *    buffer that reads slowly): the rest of a partly written frame goes
 *    out first, every frame arrives whole and in order, and partial
 *    writes did happen;
 *  - the receiver disconnecting while the writers write: the connection
 *    ends in one closed(), what arrived before is whole and in order;
 *  - destroy() while the writers write: the same.
 *
 * A writer whose try_send says -EAGAIN tries again: each writer's next
 * frame waits until its previous one was taken, as an actor's does.
 * Writers use the connection under the test's own lock, which closed()
 * takes too, as cluster/direct.c does with the peer's.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/stress/tap.h"
#include "transport/tcp.h"
#include "transport/transport.h"

#ifdef ACTOR__TSAN
#define FRAMES 400ul
#else
#define FRAMES 4000ul
#endif

#define WRITERS 2
#define IO_ID WRITERS			/* the I/O thread's own frames */

/* Body: writer id (4 bytes), sequence (8), then len - 12 pattern bytes. */
#define HEAD 12

struct sender {
	struct actor__transport *t;
	pthread_mutex_t lock;		/* conn, as the cluster's wbusy */
	struct actor__conn *conn;
	atomic_ulong closed;
	atomic_ulong io_sent;
	unsigned long io_frames;	/* the I/O thread sends these on woken */
	atomic_bool connected;
	atomic_uint dial_port;		/* woken() connects there */
	bool dialed;			/* I/O thread */
};

struct receiver {
	struct actor__transport *t;
	unsigned long next[WRITERS + 1];
	atomic_ulong frames;
	atomic_bool bad;
	const char *why;		/* a literal, set before bad */
};

struct writer {
	struct sender *s;
	int id;
	unsigned long frames;
	size_t min, max;		/* body sizes */
	unsigned long sent, partial;
	bool gone;			/* the connection ended */
};

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, us % 1000000 * 1000 };

	nanosleep(&ts, NULL);
}

static unsigned char pattern(uint32_t id, uint64_t seq, size_t i)
{
	return (unsigned char)(id * 31 + seq * 7 + i);
}

static size_t body_len(const struct writer *w, uint64_t seq)
{
	return w->min + (size_t)(seq * 2654435761u % (w->max - w->min + 1));
}

static struct actor__env *make_frame(uint32_t id, uint64_t seq, size_t len)
{
	struct actor__env *e = actor__env_alloc(NULL, ACTOR__FRAME_PREFIX + len);
	unsigned char *b;

	if (e == NULL)
		abort();
	actor__frame_prefix(e->data, (uint32_t)len);
	b = (unsigned char *)e->data + ACTOR__FRAME_PREFIX;
	memcpy(b, &id, 4);
	memcpy(b + 4, &seq, 8);
	for (size_t i = HEAD; i < len; i++)
		b[i] = pattern(id, seq, i);
	return e;
}

/* Checks one body; NULL or what is wrong. */
static const char *check_body(unsigned long *next, const unsigned char *b, size_t len)
{
	uint32_t id;
	uint64_t seq;

	if (len < HEAD)
		return "a short frame";
	memcpy(&id, b, 4);
	memcpy(&seq, b + 4, 8);
	if (id > IO_ID)
		return "a torn frame (bad writer id)";
	if (seq != next[id])
		return "out of order";
	next[id]++;
	for (size_t i = HEAD; i < len; i++)
		if (b[i] != pattern(id, seq, i))
			return "a torn frame (bad bytes)";
	return NULL;
}

/* --- the sending transport ---------------------------------------------- */

static void s_connected(void *arg, struct actor__conn *c)
{
	struct sender *s = arg;

	pthread_mutex_lock(&s->lock);
	s->conn = c;
	pthread_mutex_unlock(&s->lock);
	atomic_store(&s->connected, true);
}

static void s_closed(void *arg, struct actor__conn *c, int reason)
{
	struct sender *s = arg;

	pthread_mutex_lock(&s->lock);
	if (s->conn == c)
		s->conn = NULL;
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_add(&s->closed, 1);
}

/* The I/O thread's own frames, queued with send() between the writers'. */
static void s_woken(void *arg)
{
	struct sender *s = arg;
	unsigned long k = atomic_load(&s->io_sent);
	unsigned port = atomic_load(&s->dial_port);
	struct actor__conn *c;

	if (port != 0 && !s->dialed) {
		s->dialed = true;
		if (s->t->ops->connect(s->t, "127.0.0.1", (uint16_t)port, NULL, &c) < 0)
			abort();
	}
	if (s->conn == NULL || k >= s->io_frames)
		return;
	for (int i = 0; i < 3 && k < s->io_frames; i++, k++) {
		struct actor__env *e = make_frame(IO_ID, k, HEAD + k % 50);

		s->t->ops->send(s->conn, &e, 1);
	}
	atomic_store(&s->io_sent, k);
}

static int sender_init(struct sender *s, enum actor__transport_kind kind)
{
	struct actor__transport_config cfg = { .kind = kind };
	struct actor__transport_cb cb = {
		.arg = s, .connected = s_connected, .closed = s_closed, .woken = s_woken,
	};

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	return actor__transport_create(&cfg, &cb, &s->t);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct sender *s = w->s;

	while (w->sent < w->frames) {
		struct actor__env *e = make_frame((uint32_t)w->id, w->sent, body_len(w, w->sent));
		int r = -EAGAIN;

		while (r == -EAGAIN) {
			pthread_mutex_lock(&s->lock);
			if (s->conn == NULL) {
				pthread_mutex_unlock(&s->lock);
				w->gone = true;
				actor__env_free(NULL, e);
				return NULL;
			}
			r = s->t->ops->try_send(s->conn, e);
			pthread_mutex_unlock(&s->lock);
			if (r == -EAGAIN)
				sched_yield();
		}
		if (r == 1)
			actor__env_free(NULL, e);
		w->partial += r == 0;
		w->sent++;
		/* Now and then let the I/O thread put frames of its own
		 * between; under the lock, as t is gone after closed(). */
		if (w->id == 0 && w->sent % 64 == 0) {
			pthread_mutex_lock(&s->lock);
			if (s->conn != NULL)
				s->t->ops->wake(s->t);
			pthread_mutex_unlock(&s->lock);
		}
	}
	return NULL;
}

static void writers_run(struct writer *w, pthread_t *th)
{
	for (int i = 0; i < WRITERS; i++)
		pthread_create(&th[i], NULL, writer_main, &w[i]);
}

static void writers_init(struct writer *w, struct sender *s, unsigned long frames, size_t min,
			 size_t max)
{
	for (int i = 0; i < WRITERS; i++)
		w[i] = (struct writer){ .s = s, .id = i, .frames = frames, .min = min, .max = max };
}

static bool wait_for(atomic_ulong *v, unsigned long want, double seconds)
{
	for (long i = 0; i < (long)(seconds * 1000) && atomic_load(v) < want; i++)
		sleep_us(1000);
	return atomic_load(v) >= want;
}

static bool wait_flag(atomic_bool *v, double seconds)
{
	for (long i = 0; i < (long)(seconds * 1000) && !atomic_load(v); i++)
		sleep_us(1000);
	return atomic_load(v);
}

/* --- a transport receiver --------------------------------------------- */

static void r_frame(void *arg, struct actor__conn *c, const void *body, size_t len)
{
	struct receiver *r = arg;
	const char *why;

	if (atomic_load(&r->bad))
		return;
	if ((why = check_body(r->next, body, len)) != NULL) {
		r->why = why;
		atomic_store(&r->bad, true);
		return;
	}
	atomic_fetch_add(&r->frames, 1);
}

static int receiver_init(struct receiver *r, enum actor__transport_kind kind, uint16_t *port)
{
	struct actor__transport_config cfg = { .kind = kind };
	struct actor__transport_cb cb = { .arg = r, .frame = r_frame };
	int err;

	memset(r, 0, sizeof(*r));
	if ((err = actor__transport_create(&cfg, &cb, &r->t)) < 0)
		return err;
	if ((err = r->t->ops->listen(r->t, "127.0.0.1", 0, port)) < 0)
		r->t->ops->destroy(r->t);
	return err;
}

static const char *connect_sender(struct sender *s, uint16_t port)
{
	/* connect() belongs on the I/O thread: woken() calls it. */
	atomic_store(&s->dial_port, port);
	s->t->ops->wake(s->t);
	return wait_flag(&s->connected, 10) ? NULL : "not connected";
}

/* Two writers and the I/O thread at once; every frame arrives. */
static const char *scenario_two(enum actor__transport_kind kind)
{
	struct sender s;
	struct receiver r;
	struct writer w[WRITERS];
	pthread_t th[WRITERS];
	unsigned long total;
	const char *err = NULL;
	uint16_t port;

	if (receiver_init(&r, kind, &port) < 0)
		return "receiver";
	if (sender_init(&s, kind) < 0) {
		r.t->ops->destroy(r.t);
		return "sender";
	}
	s.io_frames = FRAMES / 4;
	if ((err = connect_sender(&s, port)) != NULL)
		goto out;
	writers_init(w, &s, FRAMES * stress_scale(), HEAD, 2000);
	writers_run(w, th);
	for (int i = 0; i < WRITERS; i++)
		pthread_join(th[i], NULL);
	/* The I/O thread's frames too, then everything must have come. */
	for (int i = 0; i < 10000 && atomic_load(&s.io_sent) < s.io_frames; i++) {
		s.t->ops->wake(s.t);
		sleep_us(100);
	}
	total = w[0].sent + w[1].sent + atomic_load(&s.io_sent);
	if (w[0].gone || w[1].gone)
		err = "the connection ended";
	else if (!wait_for(&r.frames, total, 30))
		err = atomic_load(&r.bad) ? r.why : "frames missing";
	else if (atomic_load(&r.bad))
		err = r.why;
	else if (r.next[0] != w[0].sent || r.next[1] != w[1].sent)
		err = "frame counts differ";
out:
	s.t->ops->destroy(s.t);
	r.t->ops->destroy(r.t);
	if (err == NULL && atomic_load(&s.closed) != 1)
		err = "closed() not once";
	pthread_mutex_destroy(&s.lock);
	return err;
}

/* --- a raw receiver: small buffer, slow reads ----------------------------- */

struct raw {
	int lfd, fd;
	uint16_t port;
	size_t read_limit;		/* bytes, then disconnect (0: read all) */
	atomic_bool done;
	unsigned long next[WRITERS + 1];
	atomic_ulong frames;
	const char *why;
};

static int raw_listen(struct raw *rw)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int small = 4096;

	rw->lfd = socket(AF_INET, SOCK_STREAM, 0);
	/* Inherited by the accepted socket: the window stays small. */
	setsockopt(rw->lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	if (bind(rw->lfd, (struct sockaddr *)&sin, len) < 0 || listen(rw->lfd, 1) < 0 ||
	    getsockname(rw->lfd, (struct sockaddr *)&sin, &len) < 0)
		return -1;
	rw->port = ntohs(sin.sin_port);
	return 0;
}

static void *raw_main(void *arg)
{
	static unsigned char buf[1 << 20];
	struct raw *rw = arg;
	size_t have = 0, total = 0;

	rw->fd = accept(rw->lfd, NULL, NULL);
	while (rw->fd >= 0) {
		ssize_t n = recv(rw->fd, buf + have, sizeof(buf) - have < 4096 ? sizeof(buf) - have : 4096,
				 0);
		size_t at = 0;

		if (n <= 0)
			break;
		have += (size_t)n;
		total += (size_t)n;
		while (have - at >= ACTOR__FRAME_PREFIX) {
			uint32_t len = actor__frame_body_len(buf + at);

			if (len + ACTOR__FRAME_PREFIX > sizeof(buf)) {
				rw->why = "a torn frame (bad length)";
				goto end;
			}
			if (have - at < ACTOR__FRAME_PREFIX + len)
				break;
			if ((rw->why = check_body(rw->next, buf + at + ACTOR__FRAME_PREFIX, len)) != NULL)
				goto end;
			atomic_fetch_add(&rw->frames, 1);
			at += ACTOR__FRAME_PREFIX + len;
		}
		memmove(buf, buf + at, have - at);
		have -= at;
		if (rw->read_limit != 0 && total >= rw->read_limit) {
			struct linger lg = { 1, 0 };

			/* A reset, not an orderly end: the writer's next send fails. */
			setsockopt(rw->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			break;
		}
		sleep_us(20);	/* slow: the sender's socket fills up */
	}
end:
	if (rw->fd >= 0)
		close(rw->fd);
	atomic_store(&rw->done, true);
	return NULL;
}

/* Writers against a receiver that reads slowly through a small window,
 * and either reads everything or resets the connection after limit
 * bytes. */
static const char *scenario_raw(enum actor__transport_kind kind, size_t limit,
				unsigned long *partial)
{
	struct sender s;
	struct raw rw = { .read_limit = limit };
	struct writer w[WRITERS];
	pthread_t th[WRITERS], rt;
	const char *err = NULL;

	if (raw_listen(&rw) < 0)
		return "listen";
	if (sender_init(&s, kind) < 0) {
		close(rw.lfd);
		return "sender";
	}
	pthread_create(&rt, NULL, raw_main, &rw);
	if ((err = connect_sender(&s, rw.port)) != NULL) {
		shutdown(rw.lfd, SHUT_RDWR);
		goto out;
	}
	writers_init(w, &s, 128 * stress_scale(), 16 * 1024, 48 * 1024);
	writers_run(w, th);
	if (limit != 0) {
		/* The reset ends the connection; the writers see it gone. */
		for (int i = 0; i < WRITERS; i++)
			pthread_join(th[i], NULL);
		if (!wait_for(&s.closed, 1, 30))
			err = "no closed() after the reset";
	} else {
		for (int i = 0; i < WRITERS; i++)
			pthread_join(th[i], NULL);
		if (w[0].gone || w[1].gone)
			err = "the connection ended";
		/* destroy() would drop what is still queued: wait for it all. */
		else if (!wait_for(&rw.frames, w[0].sent + w[1].sent, 60))
			err = "frames missing";
		/* An orderly end lets the reader finish. */
		s.t->ops->destroy(s.t);
		s.t = NULL;
	}
	pthread_join(rt, NULL);
	if (err == NULL && rw.why != NULL)
		err = rw.why;
	if (err == NULL && limit == 0 &&
	    (rw.next[0] != w[0].sent || rw.next[1] != w[1].sent))
		err = "frames missing";
	if (err == NULL && limit != 0 && !w[0].gone && !w[1].gone)
		err = "the writers did not see the connection end";
	*partial = w[0].partial + w[1].partial;
out:
	if (s.t != NULL)
		s.t->ops->destroy(s.t);
	if (err == NULL && atomic_load(&s.closed) != 1)
		err = "closed() not once";
	close(rw.lfd);
	pthread_mutex_destroy(&s.lock);
	return err;
}

static const char *scenario_blocked(enum actor__transport_kind kind)
{
	unsigned long partial = 0;
	const char *err = scenario_raw(kind, 0, &partial);

	if (err == NULL && partial == 0)
		err = "no write was partial: the scenario tested nothing";
	return err;
}

static const char *scenario_reset(enum actor__transport_kind kind)
{
	unsigned long partial;

	return scenario_raw(kind, 256 * 1024, &partial);
}

/* destroy() while the writers write. */
static const char *scenario_destroy(enum actor__transport_kind kind)
{
	struct sender s;
	struct receiver r;
	struct writer w[WRITERS];
	pthread_t th[WRITERS];
	const char *err = NULL;
	uint16_t port;

	if (receiver_init(&r, kind, &port) < 0)
		return "receiver";
	if (sender_init(&s, kind) < 0) {
		r.t->ops->destroy(r.t);
		return "sender";
	}
	if ((err = connect_sender(&s, port)) != NULL) {
		s.t->ops->destroy(s.t);
		goto out;
	}
	/* More than they can write before the destroy. */
	writers_init(w, &s, ~0ul, HEAD, 4000);
	writers_run(w, th);
	wait_for(&r.frames, 500, 10);
	s.t->ops->destroy(s.t);
	for (int i = 0; i < WRITERS; i++)
		pthread_join(th[i], NULL);
	if (!w[0].gone || !w[1].gone)
		err = "the writers did not see the connection end";
	else if (atomic_load(&s.closed) != 1)
		err = "closed() not once";
	/* What came before the end came whole and in order. */
	sleep_us(50000);
	if (err == NULL && atomic_load(&r.bad))
		err = r.why;
	else if (err == NULL && atomic_load(&r.frames) < 500)
		err = "too few frames";
out:
	r.t->ops->destroy(r.t);
	pthread_mutex_destroy(&s.lock);
	return err;
}

int main(void)
{
	static const struct {
		const char *name;
		enum actor__transport_kind kind;
	} backends[] = { { "uring", ACTOR__TRANSPORT_URING }, { "epoll", ACTOR__TRANSPORT_EPOLL } };
	static const struct {
		const char *what;
		const char *(*run)(enum actor__transport_kind kind);
	} scenarios[] = {
		{ "two writers and the I/O thread at once", scenario_two },
		{ "a socket that blocks mid-frame", scenario_blocked },
		{ "the receiver resets while writers write", scenario_reset },
		{ "destroy() while writers write", scenario_destroy },
	};
	const size_t ns = sizeof(scenarios) / sizeof(scenarios[0]);
	char name[96];

	tap_plan((int)(2 * ns));
	for (size_t i = 0; i < 2; i++) {
		struct actor__transport *probe;
		struct actor__transport_config cfg = { .kind = backends[i].kind };
		struct actor__transport_cb cb = { 0 };

		if (actor__transport_create(&cfg, &cb, &probe) < 0) {
			for (size_t k = 0; k < ns; k++)
				printf("ok %d - %s # SKIP cannot be set up\n", ++tap_n, backends[i].name);
			continue;
		}
		probe->ops->destroy(probe);
		for (size_t k = 0; k < ns; k++) {
			snprintf(name, sizeof(name), "%s: %s", backends[i].name, scenarios[k].what);
			tap_result(name, scenarios[k].run(backends[i].kind));
		}
	}
	return tap_exit();
}

/*
 * The TCP transports under load, as a plain TAP program so that it also
 * runs under ThreadSanitizer: wake-ups from many threads (none lost),
 * echoed traffic between two transports while outside threads keep waking
 * both, and connections opened and closed in waves up to destroy().
 * io_uring scenarios are skipped where it cannot be set up.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mailbox/arch.h"
#include "tests/stress/tap.h"
#include "transport/transport.h"

#ifdef ACTOR__TSAN
#define BASE 200ul
#else
#define BASE 2000ul
#endif

#define WAKERS 4

struct node {
	struct actor__transport *t;
	atomic_ulong woken, frames, closed, accepted;
	atomic_ulong bumped[WAKERS], seen[WAKERS];
	atomic_bool bad;
	/* I/O thread only. */
	bool echo, churn;
	unsigned long next, to_send, sent;
	struct actor__conn *out;
	unsigned long dial;		/* connections to open */
	atomic_ulong dialled;
	uint16_t port;
};

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, us % 1000000 * 1000 };

	nanosleep(&ts, NULL);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct actor__env *frame(unsigned long seq)
{
	struct actor__env *e = actor__env_alloc(NULL, ACTOR__FRAME_PREFIX + sizeof(seq));

	if (e == NULL)
		abort();
	actor__frame_prefix(e->data, sizeof(seq));
	memcpy((unsigned char *)e->data + ACTOR__FRAME_PREFIX, &seq, sizeof(seq));
	return e;
}

static void pump(struct node *n)
{
	const struct actor__transport_ops *ops = n->t->ops;

	while (n->out != NULL && n->sent < n->to_send &&
	       ops->queued(n->out) < n->t->cfg.high_water) {
		struct actor__env *e = frame(n->sent++);

		ops->send(n->out, &e, 1);
	}
}

static void on_accepted(void *arg, struct actor__conn *c)
{
	atomic_fetch_add(&((struct node *)arg)->accepted, 1);
}

static void on_connected(void *arg, struct actor__conn *c)
{
	struct node *n = arg;

	if (n->to_send) {
		n->out = c;
		pump(n);
	}
}

static void on_frame(void *arg, struct actor__conn *c, const void *body, size_t len)
{
	struct node *n = arg;
	unsigned long seq;

	atomic_fetch_add(&n->frames, 1);
	if (n->echo) {
		struct actor__env *e = actor__env_alloc(NULL, ACTOR__FRAME_PREFIX + len);

		if (e == NULL)
			abort();
		actor__frame_prefix(e->data, (uint32_t)len);
		memcpy((unsigned char *)e->data + ACTOR__FRAME_PREFIX, body, len);
		n->t->ops->send(c, &e, 1);
		return;
	}
	if (n->churn) {
		/* Every third connection is closed from here. */
		if (atomic_load(&n->frames) % 3 == 0)
			n->t->ops->close(c, -EBADMSG);
		return;
	}
	memcpy(&seq, body, sizeof(seq));
	if (len != sizeof(seq) || seq != n->next++)
		atomic_store(&n->bad, true);
}

static void on_writable(void *arg, struct actor__conn *c)
{
	pump(arg);
}

static void on_closed(void *arg, struct actor__conn *c, int reason)
{
	struct node *n = arg;

	if (c == n->out)
		n->out = NULL;
	atomic_fetch_add(&n->closed, 1);
}

static void on_woken(void *arg)
{
	struct node *n = arg;

	atomic_fetch_add(&n->woken, 1);
	for (int i = 0; i < WAKERS; i++)
		atomic_store(&n->seen[i], atomic_load(&n->bumped[i]));
	/* Churn: open the connections asked for, a few per wake-up. */
	for (int k = 0; k < 4 && atomic_load(&n->dialled) < n->dial; k++) {
		unsigned long d = atomic_fetch_add(&n->dialled, 1) + 1;
		struct actor__conn *c;
		struct actor__env *e;

		if (n->t->ops->connect(n->t, "127.0.0.1", n->port, NULL, &c) < 0) {
			atomic_store(&n->bad, true);
			continue;
		}
		if (n->to_send != 0)
			continue;	/* traffic: on_connected pumps */
		e = frame(0);
		n->t->ops->send(c, &e, 1);
		if (d % 5 == 0)
			n->t->ops->close(c, 0);
	}
}

static int node_init(struct node *n, enum actor__transport_kind kind)
{
	/* Ticks wake the I/O thread too: far apart, they cannot hide a lost
	 * wake-up. */
	struct actor__transport_config cfg = {
		.kind = kind,
		.high_water = 64 * 1024,
		.tick_ns = 30ull * 1000 * 1000 * 1000,
	};
	struct actor__transport_cb cb = {
		.arg = n,
		.accepted = on_accepted,
		.connected = on_connected,
		.frame = on_frame,
		.writable = on_writable,
		.closed = on_closed,
		.woken = on_woken,
	};

	memset(n, 0, sizeof(*n));
	return actor__transport_create(&cfg, &cb, &n->t);
}

static bool wait_until(atomic_ulong *v, unsigned long want, double seconds)
{
	for (long i = 0; i < (long)(seconds * 1000); i++) {
		if (atomic_load(v) >= want)
			return true;
		sleep_us(1000);
	}
	return atomic_load(v) >= want;
}

struct waker {
	struct node *n;
	int id;
	unsigned long rounds;
	bool lost;
};

static void *waker_main(void *arg)
{
	struct waker *w = arg;
	struct node *n = w->n;

	for (unsigned long r = 1; r <= w->rounds; r++) {
		double deadline = now() + 2;	/* a lifetime for a wake-up */
		long spins = 0;

		atomic_store(&n->bumped[w->id], r);
		n->t->ops->wake(n->t);
		while (atomic_load(&n->seen[w->id]) < r) {
			if (++spins % 64 == 0 && now() > deadline) {
				w->lost = true;
				return NULL;
			}
			sleep_us(spins < 100 ? 0 : 10);
		}
		if (r % 5 == 0)
			sleep_us((long)(r % 7) * 30);	/* let the I/O thread sleep */
	}
	return NULL;
}

static const char *wakes(struct node *n, unsigned long rounds)
{
	pthread_t th[WAKERS];
	struct waker w[WAKERS];

	for (int i = 0; i < WAKERS; i++) {
		w[i] = (struct waker){ n, i, rounds, false };
		pthread_create(&th[i], NULL, waker_main, &w[i]);
	}
	for (int i = 0; i < WAKERS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < WAKERS; i++)
		if (w[i].lost)
			return "a wake-up was lost";
	return NULL;
}

static const char *scenario_wake(enum actor__transport_kind kind)
{
	struct node n;
	const char *err;

	if (node_init(&n, kind) < 0)
		return "create";
	err = wakes(&n, BASE * stress_scale());
	n.t->ops->destroy(n.t);
	return err;
}

struct traffic {
	struct node *a, *b;
	unsigned long rounds;
};

static void *traffic_wakes(void *arg)
{
	struct traffic *tr = arg;

	for (unsigned long i = 0; i < tr->rounds; i++) {
		tr->a->t->ops->wake(tr->a->t);
		tr->b->t->ops->wake(tr->b->t);
		if (i % 16 == 0)
			sleep_us(50);
	}
	return NULL;
}

/* b sends frames to a, which echoes them: b sees them all, in order. */
static const char *scenario_traffic(enum actor__transport_kind kind)
{
	struct node a, b;
	struct traffic tr = { &a, &b, BASE * stress_scale() };
	unsigned long total = 50 * BASE * stress_scale();
	const char *err = NULL;
	pthread_t th;

	if (node_init(&a, kind) < 0)
		return "create";
	if (node_init(&b, kind) < 0) {
		a.t->ops->destroy(a.t);
		return "create";
	}
	/* Set before the threads that read them learn of them. */
	a.echo = true;
	b.to_send = total;
	b.dial = 1;
	if (a.t->ops->listen(a.t, "127.0.0.1", 0, &b.port) < 0) {
		err = "listen";
		goto out;
	}
	pthread_create(&th, NULL, traffic_wakes, &tr);
	if (!wait_until(&b.frames, total, 60))
		err = "not every frame came back";
	else if (atomic_load(&b.bad))
		err = "frames out of order";
	pthread_join(th, NULL);
out:
	b.t->ops->destroy(b.t);
	a.t->ops->destroy(a.t);
	return err;
}

/* Connections opened in waves; some closed at once, some from frame(),
 * the rest by destroy(): every one ends in exactly one closed(). */
static const char *scenario_churn(enum actor__transport_kind kind)
{
	struct node a, b;
	unsigned long conns = BASE / 4 * stress_scale();
	const char *err = NULL;

	if (node_init(&a, kind) < 0)
		return "create";
	if (node_init(&b, kind) < 0) {
		a.t->ops->destroy(a.t);
		return "create";
	}
	a.churn = true;
	b.dial = conns;
	if (a.t->ops->listen(a.t, "localhost", 0, &b.port) < 0) {
		err = "listen";
		goto out;
	}
	for (long i = 0; i < 100000 && atomic_load(&b.dialled) < conns; i++) {
		b.t->ops->wake(b.t);
		sleep_us(200);
	}
	if (atomic_load(&b.dialled) < conns || atomic_load(&b.bad))
		err = "connect";
	else if (!wait_until(&a.frames, conns / 2, 30))
		err = "frames not received";
out:
	b.t->ops->destroy(b.t);
	if (err == NULL && atomic_load(&b.closed) != conns)
		err = "closed() not once per connection";
	a.t->ops->destroy(a.t);
	if (err == NULL && atomic_load(&a.closed) != atomic_load(&a.accepted))
		err = "closed() not once per accepted connection";
	return err;
}

int main(void)
{
	static const struct {
		const char *name;
		enum actor__transport_kind kind;
	} backends[] = { { "uring", ACTOR__TRANSPORT_URING }, { "epoll", ACTOR__TRANSPORT_EPOLL } };
	char name[64];

	tap_plan(6);
	for (size_t i = 0; i < 2; i++) {
		struct node probe;

		if (node_init(&probe, backends[i].kind) < 0) {
			for (int k = 0; k < 3; k++) {
				printf("ok %d - %s # SKIP cannot be set up\n", ++tap_n, backends[i].name);
			}
			continue;
		}
		probe.t->ops->destroy(probe.t);
		snprintf(name, sizeof(name), "%s: wake-ups from %d threads", backends[i].name, WAKERS);
		tap_result(name, scenario_wake(backends[i].kind));
		snprintf(name, sizeof(name), "%s: echoed traffic while woken", backends[i].name);
		tap_result(name, scenario_traffic(backends[i].kind));
		snprintf(name, sizeof(name), "%s: connection churn", backends[i].name);
		tap_result(name, scenario_churn(backends[i].kind));
	}
	return tap_exit();
}

/*
 * Idle workers reading inbound mail (cluster/drive.c, the TCP transports'
 * driver, transport/tcp.c; issue 16), as a plain TAP program so that it
 * also runs under ThreadSanitizer, on epoll and on io_uring (where a
 * connection's multishot recv is cancelled before a worker reads it):
 *  - two workers and the I/O thread racing for one connection's reads:
 *    senders on one node send numbered messages and requests to receivers
 *    on the other, whose heartbeats (every 10 ms) and replies hand the
 *    connection back to the I/O thread again and again; every message
 *    arrives once and in order per sender, and workers read some of them;
 *  - a peer that goes away while a worker waits in the transport: the node
 *    sees it down, and a new peer's mail is read by a worker again;
 *  - destroying a node while a worker waits in the transport returns;
 *  - mail does not wait for a long handler that the holder runs;
 *  - replies are read by workers too, each request answered once;
 *  - an idle node with a peer sleeps at the relaxed pace;
 *  - pinned workers are unbound once the driver is installed.
 * Each check runs with the driver on; the first also with it off.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <actor/actor.h>

#include "cluster/internal.h"
#include "sched/internal.h"

#define SENDERS 3
#define SEC 1000000000ull
#define MS 1000000ull

#include "tests/stress/tap.h"
#include "tests/stress/traffic.h"

static const char cookie[] = "stress-cookie-0123456789";
static const char *transport;		/* "epoll" or "uring" */

/* Sends in slices of 64, each turn asking itself for the next, so that
 * the receivers' node goes idle between slices now and then. */
struct slice {
	struct go g;
	uint64_t i;
};

static void slice_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct slice s;

	if (actor_msg_type(m) == GO)
		s = (struct slice){ .g = *(const struct go *)actor_msg_data(m) };
	else
		memcpy(&s, actor_msg_data(m), sizeof s);
	for (uint64_t end = s.i + 64; s.i < s.g.n && s.i < end; s.i++)
		traffic_send(ctx, &s.g, s.i);
	if (s.i < s.g.n)
		actor_send(ctx, actor_self(ctx), NUM, &s, sizeof s);
}

static const actor_spec_t slice_spec = { .name = "slices", .handler = slice_handler };

static actor_system_t *node(bool off)
{
	actor_system_t *s;
	actor_config_t sc;
	actor_node_config_t cfg;

	actor_config_init(&sc);
	sc.workers = 2;
	sc.pin_workers = false;
	if (actor_system_create(&s, &sc) != 0)
		return NULL;
	actor_node_config_init(&cfg);
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.transport = transport;
	cfg.no_worker_io = off;
	/* A PING every 10 ms: each hands the connection back to the I/O
	 * thread, which also reads on its ticks (5 ms). The timeout is long:
	 * TSan is slow. */
	cfg.heartbeat_interval_ns = 10 * MS;
	cfg.heartbeat_timeout_ns = 20 * SEC;
	if (actor_node_start(s, &cfg) != 0) {
		actor_system_destroy(s);
		return NULL;
	}
	return s;
}

static uint64_t driven(actor_system_t *s)
{
	return atomic_load(&actor__node_of(s)->frames_driven);
}

/* Whether a worker of s waits in (or holds) the driver, within 5 s. */
static bool driver_held(actor_system_t *s)
{
	for (int i = 0; i < 5000; i++) {
		if (atomic_load(&s->drv_state) & ACTOR__DRV_HELD)
			return true;
		usleep(1000);
	}
	return false;
}

static const char *race(bool off, uint64_t n, uint64_t *by_workers)
{
	actor_system_t *a = node(off), *b = node(off);
	actor_ref_t to[SENDERS], found;
	uint32_t id;
	const char *error = NULL;

	traffic_reset();
	if (a == NULL || b == NULL)
		return "node_start failed";
	if (actor_node_connect(b, "127.0.0.1", (uint16_t)actor_node_port(a), 10 * SEC, &id) != 0)
		return "connect failed";
	for (int i = 0; i < SENDERS; i++) {
		char name[16];
		actor_ref_t s;
		struct go g = { .id = (uint64_t)i, .n = n };

		snprintf(name, sizeof name, "r%d", i);
		actor_system_spawn(a, &receiver_spec, NULL, &to[i]);
		actor_register(a, name, to[i]);
		if (actor_node_whereis(b, id, name, 10 * SEC, &found) != 0 ||
		    !actor_ref_equal(found, to[i]))
			return "whereis failed";
		g.to = found;
		actor_system_spawn(b, &slice_spec, NULL, &s);
		actor_system_send(b, s, GO, &g, sizeof g);
	}
	error = traffic_result(n);
	*by_workers = driven(a);
	if (error == NULL && !off && *by_workers == 0)
		error = "no frame was read by a worker";
	else if (error == NULL && off && *by_workers != 0)
		error = "a worker read frames with no_worker_io";
	actor_system_destroy(b);
	actor_system_destroy(a);
	return error;
}

static void count_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	atomic_fetch_add(&received, 1);
}

static const actor_spec_t count_spec = { .name = "count", .handler = count_handler };

/* b's counter gets one message from a; true once it has, within 5 s. */
static bool one_message(actor_system_t *a, actor_system_t *b, actor_ref_t counter)
{
	long before = atomic_load(&received);
	uint64_t v[2] = { 0, 0 };

	counter.node = actor_node_id(b);
	if (actor_system_send(a, counter, NUM, v, sizeof v) != 0)
		return false;
	for (int i = 0; i < 5000 && atomic_load(&received) == before; i++)
		usleep(1000);
	return atomic_load(&received) > before;
}

/* A counter on `to`, `from` connected to it, and one message from `from`
 * counted there: NULL, or what failed. */
static const char *counting_pair(actor_system_t *from, actor_system_t *to, actor_ref_t *counter)
{
	uint32_t id;

	if (from == NULL || to == NULL)
		return "node_start failed";
	actor_system_spawn(to, &count_spec, NULL, counter);
	if (actor_node_connect(from, "127.0.0.1", (uint16_t)actor_node_port(to), 10 * SEC, &id) != 0)
		return "connect failed";
	if (!one_message(from, to, *counter))
		return "no message";
	return NULL;
}

static const char *peer_leaves(void)
{
	actor_system_t *a = node(false), *b = node(false), *c;
	actor_ref_t counter;
	uint32_t id;
	uint64_t before;
	const char *error;

	if ((error = counting_pair(b, a, &counter)) != NULL)
		return error;
	if (!driver_held(a))
		return "no worker of a waits in the transport";
	id = actor_node_id(b);
	if (!actor_node_is_up(a, id))
		return "a does not see b";
	actor_system_destroy(b);	/* a's holder reads the end of the stream */
	for (int i = 0; i < 5000 && actor_node_is_up(a, id); i++)
		usleep(1000);
	if (actor_node_is_up(a, id))
		return "a does not see b go";
	if ((c = node(false)) == NULL)
		return "node_start failed";
	if (actor_node_connect(c, "127.0.0.1", (uint16_t)actor_node_port(a), 10 * SEC, &id) != 0)
		return "connect after the peer left failed";
	before = driven(a);
	for (int i = 0; i < 20; i++) {
		if (!driver_held(a))
			return "no worker of a waits in the transport after the peer left";
		if (!one_message(c, a, counter))
			return "no message from a new peer";
	}
	if (driven(a) == before)
		return "a's workers no longer read";
	actor_system_destroy(c);
	actor_system_destroy(a);
	return NULL;
}

/* Busy for 800 ms on whichever worker runs it. */
static void hog_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000000ll + (t.tv_nsec - t0.tv_nsec) < 800000000ll);
	atomic_fetch_add(&received, 1);
}

static const actor_spec_t hog_spec = { .name = "hog", .handler = hog_handler };

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/*
 * The worker holding the driver reads a message whose handler runs for
 * 800 ms while the other worker is parked for good: mail for another
 * actor must not wait for it (nor for the I/O thread's tick, 100 ms with
 * these heartbeats): the holder wakes the parked worker to take the
 * driver (worker.c:sleep_on).
 */
static const char *long_handler(void)
{
	actor_system_t *a, *b = node(false);
	actor_config_t sc;
	actor_node_config_t cfg;
	actor_ref_t hog, counter;
	uint64_t t0, took, worst = 0;
	uint32_t id;

	actor_config_init(&sc);
	sc.workers = 2;
	sc.pin_workers = false;
	if (b == NULL || actor_system_create(&a, &sc) != 0)
		return "system_create failed";
	actor_node_config_init(&cfg);
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.transport = transport;
	cfg.heartbeat_timeout_ns = 20 * SEC;
	if (actor_node_start(a, &cfg) != 0)
		return "node_start failed";
	actor_system_spawn(a, &hog_spec, NULL, &hog);
	actor_system_spawn(a, &count_spec, NULL, &counter);
	if (actor_node_connect(b, "127.0.0.1", (uint16_t)actor_node_port(a), 10 * SEC, &id) != 0)
		return "connect failed";
	/* Both of a's workers park for good: the tiers take about 130 ms. */
	usleep(500 * 1000);
	if (!driver_held(a))
		return "no worker of a waits in the transport";
	atomic_store(&received, 0);
	hog.node = counter.node = actor_node_id(a);
	actor_system_send(b, hog, NUM, NULL, 0);
	usleep(30 * 1000);	/* the holder runs the hog */
	/* Five messages while it runs: without a hand-over each waits for
	 * the I/O thread's next tick, 0 to 100 ms, and with these spacings
	 * some wait 40 ms or more. */
	for (int i = 0; i < 5; i++) {
		t0 = now_ms();
		if (!one_message(b, a, counter))
			return "no message while the hog runs";
		took = now_ms() - t0;
		if (took > worst)
			worst = took;
		usleep(60 * 1000 + (useconds_t)i * 7000);
	}
	if (getenv("DRIVE_VERBOSE"))
		fprintf(stderr, "# worst %llu ms\n", (unsigned long long)worst);
	for (int i = 0; i < 5000 && atomic_load(&received) < 6; i++)
		usleep(1000);	/* the hog ends */
	actor_system_destroy(b);
	actor_system_destroy(a);
	if (atomic_load(&received) != 6)
		return "a message was lost";
	if (worst >= 40)
		return "a message waited for the long handler";
	return NULL;
}

/* A loaded machine (a CI leg beside others, TSan) may hold one message
 * past 40 ms now and then; without the hand-over several do in every
 * run. So the check passes if one of three runs does. */
static const char *long_handler_thrice(void)
{
	const char *error = NULL;

	for (int i = 0; i < 3; i++)
		if ((error = long_handler()) == NULL)
			break;
	return error;
}

static const char *destroy_while_waiting(void)
{
	actor_system_t *a = node(false), *b = node(false);
	actor_ref_t counter;
	const char *error;

	if ((error = counting_pair(a, b, &counter)) != NULL)
		return error;
	if (!driver_held(b) || !driver_held(a))
		return "no worker waits in the transport";
	alarm(60);	/* a destroy that hangs fails the test */
	actor_system_destroy(b);
	actor_system_destroy(a);
	alarm(0);
	return NULL;
}

/* Whether a node starts on the transport (io_uring may be refused). */
static bool transport_works(void)
{
	actor_system_t *s = node(false);

	if (s == NULL)
		return false;
	actor_system_destroy(s);
	return true;
}

/* Asks `to` (ASK, answered by receiver_handler) n times, one request at
 * a time: each reply (on_reply counts it) sends the next. */
struct asker {
	actor_ref_t to;
	uint64_t n, sent;
};

static void on_answer(actor_ctx_t *ctx, const actor_msg_t *reply, int error, void *arg);

static void ask_next(actor_ctx_t *ctx, struct asker *s)
{
	uint64_t v[2] = { 0, s->sent++ };

	if (actor_request(ctx, s->to, ASK, v, sizeof v, 60 * SEC, on_answer, NULL) != 0)
		atomic_fetch_add(&errors, 1);
}

static void asker_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct asker *s = actor_self_state(ctx);

	if (actor_msg_type(m) == GO)
		*s = *(const struct asker *)actor_msg_data(m);
	if (s->sent < s->n)
		ask_next(ctx, s);
}

static void on_answer(actor_ctx_t *ctx, const actor_msg_t *reply, int error, void *arg)
{
	on_reply(ctx, reply, error, arg);
	if (error == 0)
		asker_handler(ctx, reply);
}

static const actor_spec_t asker_spec = { .name = "asker", .handler = asker_handler,
					 .state_size = sizeof(struct asker) };

/*
 * Replies are read by workers too (cluster/drive.c): b only gets replies
 * (and heartbeats, every 10 ms, which hand the connection back to the I/O
 * thread), so every frame it counts as driven is a reply. Each request is
 * answered once, in time, with no error.
 */
static const char *replies_driven(uint64_t n)
{
	actor_system_t *a = node(false), *b = node(false);
	actor_ref_t to, asker;
	uint32_t id;
	struct asker g = { .n = n };
	const char *error = NULL;

	atomic_store(&replies, 0);
	atomic_store(&errors, 0);
	if (a == NULL || b == NULL)
		return "node_start failed";
	if (actor_node_connect(b, "127.0.0.1", (uint16_t)actor_node_port(a), 10 * SEC, &id) != 0)
		return "connect failed";
	actor_system_spawn(a, &receiver_spec, NULL, &to);
	actor_register(a, "asked", to);
	if (actor_node_whereis(b, id, "asked", 10 * SEC, &g.to) != 0)
		return "whereis failed";
	actor_system_spawn(b, &asker_spec, NULL, &asker);
	actor_system_send(b, asker, GO, &g, sizeof g);
	for (int i = 0; i < 120 * 100 && atomic_load(&replies) < (long)n &&
			atomic_load(&errors) == 0; i++)
		usleep(10000);
	usleep(50000);	/* a second answer to any of them would come by now */
	if (atomic_load(&replies) != (long)n || atomic_load(&errors) != 0)
		error = "a request was not answered once, or failed";
	else if (driven(b) == 0)
		error = "no reply was read by a worker";
	actor_system_destroy(b);
	actor_system_destroy(a);
	return error;
}

static uint64_t parks(actor_system_t *s)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < s->nworkers; i++)
		n += atomic_load(&s->workers[i].parks);
	return n;
}

/*
 * An idle node with a connected peer: its workers, all idle, sleep at
 * the relaxed pace (10 ms) in the moderate tier, not every 50 us
 * (sched/worker.c:moderate_sleep_us). Its heartbeats (every 10 ms) start
 * the tiers again each time, so a few sleeps per heartbeat are expected:
 * 300 ms brought over 1,000 short ones here (some 66 long ones).
 */
static const char *idle_sleeps_long(void)
{
	actor_system_t *a = node(false), *b = node(false);
	actor_ref_t counter;
	uint64_t before, slept;
	const char *error;

	if ((error = counting_pair(a, b, &counter)) != NULL)
		return error;
	usleep(100000);
	before = parks(b);
	usleep(300000);
	slept = parks(b) - before;
	if (slept > 400) {
		static char why[96];

		snprintf(why, sizeof why, "%llu sleeps in 300 ms", (unsigned long long)slept);
		error = why;
	}
	actor_system_destroy(b);
	actor_system_destroy(a);
	return error;
}

/* How many CPUs each worker of s may run on: the least and the most. */
static void worker_cpus(actor_system_t *s, int *least, int *most)
{
	*least = CPU_SETSIZE;
	*most = 0;
	for (unsigned i = 0; i < s->nworkers; i++) {
		cpu_set_t set;
		int n = pthread_getaffinity_np(s->workers[i].thread, sizeof set, &set) == 0 ?
				CPU_COUNT(&set) : -1;

		*least = n < *least ? n : *least;
		*most = n > *most ? n : *most;
	}
}

/*
 * Pinned workers are unbound once a node's driver is installed, so that
 * the kernel may run a woken reader where the frame's wake-up happened
 * (sched/worker.c, "Pinning"), and stay bound without one (no_worker_io).
 */
static const char *unpinned_when_driven(bool off)
{
	actor_system_t *s;
	actor_config_t sc;
	actor_node_config_t cfg;
	cpu_set_t mine;
	int least, most;
	const char *error = NULL;

	if (sched_getaffinity(0, sizeof mine, &mine) != 0)
		return "sched_getaffinity failed";
	actor_config_init(&sc);
	sc.workers = 2;
	sc.pin_workers = true;
	if (actor_system_create(&s, &sc) != 0)
		return "system_create failed";
	worker_cpus(s, &least, &most);
	if (least != 1 || most != 1) {
		actor_system_destroy(s);
		return "workers not pinned before the node starts";
	}
	actor_node_config_init(&cfg);
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.transport = "epoll";
	cfg.no_worker_io = off;
	if (actor_node_start(s, &cfg) != 0) {
		actor_system_destroy(s);
		return "node_start failed";
	}
	worker_cpus(s, &least, &most);
	if (!off && (least != CPU_COUNT(&mine) || most != CPU_COUNT(&mine)))
		error = "a worker is still bound to fewer CPUs than the process may use";
	if (off && (least != 1 || most != 1))
		error = "no driver, yet a worker was unbound";
	actor_system_destroy(s);
	return error;
}

int main(void)
{
	static const char *const transports[] = { "epoll", "uring" };
	static const char *const names[] = {
		"the same with no_worker_io: none read by workers",
		"a peer leaves while a worker waits in the transport",
		"destroy while workers wait in the transport",
		"mail does not wait for a long handler on the worker that read it",
		"replies are read by workers, each request answered once",
		"an idle node with a peer does not wake every 50 us",
	};
	uint64_t n = 5000 * stress_scale();
	const char *error;
	cpu_set_t mine;
	char name[160];

	tap_plan(16);
	for (size_t k = 0; k < 2; k++) {
		uint64_t on = 0, off = 0;

		transport = transports[k];
		if (!transport_works()) {
			snprintf(name, sizeof name, "%s: workers and the I/O thread read one connection",
				 transport);
			tap_skip(name, "the transport is not available here");
			for (int i = 0; i < 6; i++) {
				snprintf(name, sizeof name, "%s: %s", transport, names[i]);
				tap_skip(name, "the transport is not available here");
			}
			continue;
		}
		/* Under ThreadSanitizer the I/O thread's ticks may read it
		 * all: a run where no worker read a frame is tried again,
		 * twice at most. */
		for (int tries = 0; tries < 3; tries++) {
			error = race(false, n, &on);
			if (error == NULL || on != 0)
				break;
		}
		snprintf(name, sizeof name,
			 "%s: workers and the I/O thread read one connection: %d senders x %llu, %llu frames read by workers",
			 transport, SENDERS, (unsigned long long)n, (unsigned long long)on);
		tap_result(name, error);
		error = race(true, n, &off);
		snprintf(name, sizeof name, "%s: %s", transport, names[0]);
		tap_result(name, error);
		snprintf(name, sizeof name, "%s: %s", transport, names[1]);
		tap_result(name, peer_leaves());
		snprintf(name, sizeof name, "%s: %s", transport, names[2]);
		tap_result(name, destroy_while_waiting());
		snprintf(name, sizeof name, "%s: %s", transport, names[3]);
		tap_result(name, long_handler_thrice());
		snprintf(name, sizeof name, "%s: %s", transport, names[4]);
		tap_result(name, replies_driven(2000 * stress_scale()));
		snprintf(name, sizeof name, "%s: %s", transport, names[5]);
		tap_result(name, idle_sleeps_long());
	}
	transport = "epoll";
	if (sched_getaffinity(0, sizeof mine, &mine) != 0 || CPU_COUNT(&mine) < 2) {
		tap_skip("pinned workers are unbound while a worker may hold the driver",
			 "fewer than 2 CPUs");
		tap_skip("and stay bound without one", "fewer than 2 CPUs");
	} else {
		tap_result("pinned workers are unbound while a worker may hold the driver",
			   unpinned_when_driven(false));
		tap_result("and stay bound without one", unpinned_when_driven(true));
	}
	return tap_exit();
}

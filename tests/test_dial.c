/*
 * Two connections to one peer (issue 18): two nodes that dial each other
 * at once end with one connection, both up, no node-down told, and each
 * able to redial the other; a peer that connects again while this node
 * still holds its old connection takes the old one's place without a
 * node-down. Two systems in one process, over loopback, TCP on epoll and
 * TCP on io_uring.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <actor/actor.h>

#include "cluster/internal.h"
#include "tests/leakcheck.h"
#include "tests/rawpeer.h"
#include "tests/uring.h"

#define SEC 1000000000ull
#define MS 1000000ull

static const char cookie[] = "test-cookie-0123456789";

struct events {
	_Atomic int ups, downs;
	_Atomic int replaced;	/* "connected again" log lines */
};

static void on_node_event(void *arg, uint32_t node, const char *name, bool up, int reason)
{
	struct events *ev = arg;

	(void)node;
	(void)name;
	(void)reason;
	atomic_fetch_add(up ? &ev->ups : &ev->downs, 1);
}

static void on_log(void *arg, const char *line)
{
	if (strstr(line, "connected again") != NULL)
		atomic_fetch_add(&((struct events *)arg)->replaced, 1);
}

static actor_system_t *node(const char *transport, actor_loopback_t *hub, const char *name,
			    uint16_t port, struct events *ev)
{
	actor_system_t *s;
	actor_node_config_t cfg;

	cr_assert_eq(actor_system_create(&s, NULL), 0);
	actor_node_config_init(&cfg);
	cfg.name = name;
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.transport = transport;
	cfg.loopback = hub;
	cfg.listen_port = port;
	cfg.heartbeat_interval_ns = 100 * MS;
	cfg.heartbeat_timeout_ns = 10 * SEC;	/* a loaded machine */
	cfg.handshake_timeout_ns = 2 * SEC;
	cfg.reconnect_min_ns = 20 * MS;
	cfg.reconnect_max_ns = 100 * MS;
	cfg.node_event = on_node_event;
	cfg.node_event_arg = ev;
	cfg.log = on_log;
	cfg.log_arg = ev;
	cr_assert_eq(actor_node_start(s, &cfg), 0);
	return s;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

struct dialer {
	actor_system_t *from, *to;
	pthread_barrier_t *go;
	int err;
	uint32_t id;
};

static void *dial(void *arg)
{
	struct dialer *d = arg;

	pthread_barrier_wait(d->go);
	d->err = actor_node_connect(d->from, "127.0.0.1", (uint16_t)actor_node_port(d->to),
				    5 * SEC, &d->id);
	return NULL;
}

/* Sockets this process holds open (TCP only: the listeners and both ends
 * of every connection). */
static int sockets(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char path[300], to[64];
	int k = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)) != NULL) {
		ssize_t len;

		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		len = readlink(path, to, sizeof to - 1);
		if (len > 0) {
			to[len] = '\0';
			k += strncmp(to, "socket:", 7) == 0;
		}
	}
	closedir(d);
	return k;
}

/* The I/O thread's sessions not yet up; read from outside, once quiet. */
static uint32_t handshaking(actor_system_t *s)
{
	return atomic_load((_Atomic uint32_t *)&actor__node_of(s)->handshaking);
}

/* s's peer `id` can be redialed at port (I/O thread's fields, read once
 * quiet). */
static bool knows_address(actor_system_t *s, uint32_t id, uint16_t port)
{
	struct actor__node *n = actor__node_of(s);
	unsigned sec = actor__peer_enter(n);
	struct actor__peer *p = actor__peer_find(n, id);
	bool ok = p != NULL && p->redial && p->port == port && strcmp(p->host, "127.0.0.1") == 0;

	actor__peer_exit(n, sec);
	return ok;
}

/* One run: both dial at once; returns the time until both were up. */
static uint64_t simultaneous(const char *transport, int run)
{
	actor_loopback_t *hub = NULL;
	struct events ea = { 0 }, eb = { 0 };
	actor_system_t *a, *b;
	pthread_barrier_t go;
	pthread_t ta, tb;
	struct dialer da, db;
	uint64_t t0, took;
	actor_node_stats_t sa, sb;
	bool tcp = strcmp(transport, "loopback") != 0;
	int base = tcp ? sockets() : 0;

	if (!tcp)
		cr_assert_eq(actor_loopback_create(&hub), 0);
	a = node(transport, hub, "a", 0, &ea);
	b = node(transport, hub, "b", 0, &eb);
	pthread_barrier_init(&go, NULL, 3);
	da = (struct dialer){ a, b, &go, 1, 0 };
	db = (struct dialer){ b, a, &go, 1, 0 };
	cr_assert_eq(pthread_create(&ta, NULL, dial, &da), 0);
	cr_assert_eq(pthread_create(&tb, NULL, dial, &db), 0);
	pthread_barrier_wait(&go);
	t0 = now_ns();
	while (!(actor_node_is_up(a, actor_node_id(b)) && actor_node_is_up(b, actor_node_id(a))) &&
	       now_ns() - t0 < 5 * SEC)
		usleep(200);
	took = now_ns() - t0;
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_barrier_destroy(&go);
	cr_assert_eq(da.err, 0, "run %d: a's connect gave %d", run, da.err);
	cr_assert_eq(db.err, 0, "run %d: b's connect gave %d", run, db.err);
	cr_assert_eq(da.id, actor_node_id(b));
	cr_assert_eq(db.id, actor_node_id(a));
	cr_assert_lt(took, 2 * SEC, "run %d: up on both after %llu ms", run,
		     (unsigned long long)(took / MS));
	/* The losing connection closes: one connection left, no handshake. */
	for (int i = 0; i < 2000 && (handshaking(a) != 0 || handshaking(b) != 0 ||
				     (tcp && sockets() != base + 4)); i++)
		usleep(1000);
	cr_assert_eq(handshaking(a) + handshaking(b), 0, "run %d: a handshake lingers", run);
	if (tcp)
		cr_assert_eq(sockets(), base + 4, "run %d: %d sockets, not 2 listeners and 1 connection",
			     run, sockets() - base);
	usleep(5000);
	cr_assert_eq(actor_node_stats(a, &sa), 0);
	cr_assert_eq(actor_node_stats(b, &sb), 0);
	cr_assert_eq(sa.peers_up + sb.peers_up, 2);
	cr_assert_eq(sa.nodes_down + sb.nodes_down, 0, "run %d: a node went down", run);
	cr_assert_eq(atomic_load(&ea.ups), 1, "run %d: a saw %d ups", run, atomic_load(&ea.ups));
	cr_assert_eq(atomic_load(&eb.ups), 1, "run %d: b saw %d ups", run, atomic_load(&eb.ups));
	cr_assert_eq(atomic_load(&ea.downs) + atomic_load(&eb.downs), 0, "run %d: a node-down",
		     run);
	/* Whichever connection stayed, each side can redial the other. */
	cr_assert(knows_address(a, actor_node_id(b), (uint16_t)actor_node_port(b)),
		  "run %d: a cannot redial b", run);
	cr_assert(knows_address(b, actor_node_id(a), (uint16_t)actor_node_port(a)),
		  "run %d: b cannot redial a", run);
	actor_system_destroy(a);
	actor_system_destroy(b);
	actor_loopback_destroy(hub);
	return took;
}

static void simultaneous_runs(const char *transport, int runs)
{
	uint64_t worst = 0, sum = 0;

	if (strcmp(transport, "uring") == 0 && !uring_works())
		cr_skip_test("io_uring is not available here");
	for (int i = 0; i < runs; i++) {
		uint64_t t = simultaneous(transport, i);

		sum += t;
		worst = t > worst ? t : worst;
	}
	cr_log_info("%s: %d simultaneous dials converged, mean %.2f ms, worst %.2f ms", transport,
		    runs, (double)sum / runs / MS, (double)worst / MS);
	assert_no_leaks();
}

TestSuite(dial, .timeout = 240);

Test(dial, simultaneous_dials_converge_loopback) { simultaneous_runs("loopback", 100); }
Test(dial, simultaneous_dials_converge_epoll) { simultaneous_runs("epoll", 100); }
Test(dial, simultaneous_dials_converge_uring) { simultaneous_runs("uring", 100); }

/*
 * After simultaneous dials, each side redials the other by itself: b is
 * restarted on its port (a new incarnation), and a reaches it; then a is,
 * and b reaches the new a. Whichever connection stayed, both kept the
 * other's address.
 */
static void both_redial(const char *transport)
{
	actor_loopback_t *hub = NULL;
	struct events ea = { 0 }, eb = { 0 }, e2 = { 0 };
	actor_system_t *a, *b, *b2;
	pthread_barrier_t go;
	pthread_t ta, tb;
	struct dialer da, db;
	uint16_t port;

	if (strcmp(transport, "uring") == 0 && !uring_works())
		cr_skip_test("io_uring is not available here");
	if (strcmp(transport, "loopback") == 0)
		cr_assert_eq(actor_loopback_create(&hub), 0);
	for (int round = 0; round < 2; round++) {
		a = node(transport, hub, "a", 0, &ea);
		b = node(transport, hub, "b", 0, &eb);
		pthread_barrier_init(&go, NULL, 2);
		da = (struct dialer){ a, b, &go, 1, 0 };
		db = (struct dialer){ b, a, &go, 1, 0 };
		cr_assert_eq(pthread_create(&ta, NULL, dial, &da), 0);
		cr_assert_eq(pthread_create(&tb, NULL, dial, &db), 0);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		pthread_barrier_destroy(&go);
		cr_assert_eq(da.err, 0);
		cr_assert_eq(db.err, 0);
		if (round == 1) {	/* the other one is restarted */
			actor_system_t *t = a;

			a = b;
			b = t;
		}
		port = (uint16_t)actor_node_port(b);
		actor_system_destroy(b);
		b2 = node(transport, hub, "b2", port, &e2);
		for (int i = 0; i < 5000 && !actor_node_is_up(a, actor_node_id(b2)); i++)
			usleep(1000);
		cr_assert(actor_node_is_up(a, actor_node_id(b2)),
			  "round %d: the survivor did not redial the restarted node", round);
		actor_system_destroy(a);
		actor_system_destroy(b2);
	}
	actor_loopback_destroy(hub);
	assert_no_leaks();
}

/* Connecting to a node that is up already, either way round, leaves its
 * connection alone: nothing is replaced. */
static void connect_when_up(const char *transport)
{
	actor_loopback_t *hub = NULL;
	struct events ea = { 0 }, eb = { 0 };
	actor_system_t *a, *b;
	uint32_t id;

	if (strcmp(transport, "loopback") == 0)
		cr_assert_eq(actor_loopback_create(&hub), 0);
	a = node(transport, hub, "a", 0, &ea);
	b = node(transport, hub, "b", 0, &eb);
	for (int i = 0; i < 20; i++) {
		cr_assert_eq(actor_node_connect(a, "127.0.0.1", (uint16_t)actor_node_port(b), 5 * SEC,
						&id), 0);
		cr_assert_eq(actor_node_connect(b, "127.0.0.1", (uint16_t)actor_node_port(a), 5 * SEC,
						&id), 0);
	}
	cr_assert_eq(atomic_load(&ea.replaced) + atomic_load(&eb.replaced), 0);
	cr_assert_eq(atomic_load(&ea.ups) + atomic_load(&eb.ups), 2);
	cr_assert_eq(atomic_load(&ea.downs) + atomic_load(&eb.downs), 0);
	actor_system_destroy(a);
	actor_system_destroy(b);
	actor_loopback_destroy(hub);
	assert_no_leaks();
}

Test(dial, connect_when_up_replaces_nothing_loopback) { connect_when_up("loopback"); }
Test(dial, connect_when_up_replaces_nothing_epoll) { connect_when_up("epoll"); }

Test(dial, both_sides_redial_loopback) { both_redial("loopback"); }
Test(dial, both_sides_redial_epoll) { both_redial("epoll"); }
Test(dial, both_sides_redial_uring) { both_redial("uring"); }

/*
 * A peer that connects again, with the same id, while this node still
 * holds the old connection (a node stopped past the heartbeat timeout and
 * continued, whose old connection's close has not reached this node yet):
 * the new connection takes the old one's place, with no node-down between
 * (the node_event callback sees one up), and the old one is closed.
 */
static void reconnect_replaces(const char *transport)
{
	struct events ea = { 0 };
	actor_system_t *a;
	struct rawpeer *first, *second;
	struct actor__frame f;
	actor_node_stats_t st;
	uint16_t port;
	int err;

	if (strcmp(transport, "uring") == 0 && !uring_works())
		cr_skip_test("io_uring is not available here");
	a = node(transport, NULL, "a", 0, &ea);
	port = (uint16_t)actor_node_port(a);
	cr_assert_not_null(first = rawpeer_connect(port));
	cr_assert_eq(rawpeer_handshake(first, cookie, sizeof cookie - 1, 0xd0d0, "twin"), 0);
	for (int i = 0; i < 5000 && atomic_load(&ea.ups) < 1; i++)
		usleep(1000);
	cr_assert_eq(atomic_load(&ea.ups), 1);
	cr_assert_not_null(second = rawpeer_connect(port));
	cr_assert_eq(rawpeer_handshake(second, cookie, sizeof cookie - 1, 0xd0d0, "twin"), 0);
	/* The old connection is closed; the new one is the peer's. */
	cr_assert(rawpeer_closed(first, 10000), "the old connection stays open");
	f = (struct actor__frame){ .kind = ACTOR__F_PING };
	cr_assert(rawpeer_send(second, &f));
	usleep(50 * 1000);
	cr_assert(actor_node_is_up(a, 0xd0d0));
	cr_assert_eq(actor_node_stats(a, &st), 0);
	cr_assert_eq(st.peers_up, 1);
	cr_assert_eq(st.nodes_down, 0);
	cr_assert_eq(atomic_load(&ea.ups), 1);
	cr_assert_eq(atomic_load(&ea.downs), 0);
	cr_assert_eq(atomic_load(&ea.replaced), 1);
	/* The new connection carries the peer's mail: a whereis gets an answer. */
	f = (struct actor__frame){ .kind = ACTOR__F_MSG };
	f.msg.to_id = 0;
	f.msg.to_node = actor_node_id(a);
	f.msg.from_id = 7;
	f.msg.from_node = 0xd0d0;
	f.msg.type = ACTOR_MSG_WHEREIS;
	f.msg.flags = ACTOR__WIRE_REQUEST;
	f.msg.request_id = 1;
	f.msg.payload = "nobody";
	f.msg.size = 6;
	cr_assert(rawpeer_send(second, &f));
	do
		err = rawpeer_recv(second, &f, 5000);
	while (err == 0 && f.kind == ACTOR__F_PING);
	cr_assert_eq(err, 0, "no answer on the new connection: %d", err);
	cr_assert_eq(f.kind, ACTOR__F_MSG);
	cr_assert_eq(f.msg.request_id, 1);
	/* Its end is a node-down, once. */
	rawpeer_close(second);
	for (int i = 0; i < 5000 && atomic_load(&ea.downs) < 1; i++)
		usleep(1000);
	cr_assert_eq(atomic_load(&ea.downs), 1);
	rawpeer_close(first);
	actor_system_destroy(a);
	assert_no_leaks();
}

Test(dial, reconnect_replaces_the_old_connection_epoll) { reconnect_replaces("epoll"); }
Test(dial, reconnect_replaces_the_old_connection_uring) { reconnect_replaces("uring"); }

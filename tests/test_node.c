/*
 * Remote actors: two (or three) systems in one process, or a forked child
 * node, over each transport: loopback, TCP on epoll and on io_uring (idle
 * workers reading inbound mail, and "epoll-io", "uring-io": only the I/O
 * thread reading, as with actor_node_config_t.no_worker_io).
 * Every scenario runs once per transport; io_uring ones skip where the
 * kernel refuses io_uring.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <actor/actor.h>

#include "cluster/internal.h"
#include "tests/find.h"
#include "tests/leakcheck.h"
#include "tests/uring.h"
#include "tests/stress/stress.h"

#define SEC 1000000000ull
#define MS 1000000ull

static const char cookie[] = "test-cookie-0123456789";

enum { ECHO = 1, COUNT, GET, SINK, WATCH, LINKME, CRASH };

static _Atomic int promised, got, downs, down_reason, order_errors, fails, fail_error;
static actor_loopback_t *hub;

static void reset(void)
{
	atomic_store(&promised, 0);
	atomic_store(&got, 0);
	atomic_store(&downs, 0);
	atomic_store(&down_reason, 0);
	atomic_store(&order_errors, 0);
	atomic_store(&fails, 0);
	atomic_store(&fail_error, 0);
	hub = NULL;
}

static void config(actor_node_config_t *cfg, const char *transport, const char *name)
{
	actor_node_config_init(cfg);
	cfg->name = name;
	cfg->cookie = cookie;
	cfg->cookie_len = sizeof cookie - 1;
	cfg->transport = transport;
	/* "epoll-io", "uring-io": the I/O thread reads every connection. */
	if (strcmp(transport, "epoll-io") == 0 || strcmp(transport, "uring-io") == 0) {
		cfg->transport = transport[0] == 'e' ? "epoll" : "uring";
		cfg->no_worker_io = true;
	}
	cfg->heartbeat_interval_ns = 100 * MS;
	cfg->heartbeat_timeout_ns = 2 * SEC;	/* the tests run two at a time */
	cfg->reconnect_min_ns = 50 * MS;
	cfg->reconnect_max_ns = 200 * MS;
	if (strcmp(transport, "loopback") == 0) {
		if (hub == NULL)
			cr_assert_eq(actor_loopback_create(&hub), 0);
		cfg->loopback = hub;
	}
}

/* A node; heartbeat_timeout_ns 0 keeps config()'s. */
static actor_system_t *node_hb(const char *transport, const char *name,
			       uint64_t heartbeat_timeout_ns)
{
	actor_system_t *s;
	actor_node_config_t cfg;

	if (strncmp(transport, "uring", 5) == 0 && !uring_works())
		cr_skip_test("io_uring is not available here");
	cr_assert_eq(actor_system_create(&s, NULL), 0);
	config(&cfg, transport, name);
	if (heartbeat_timeout_ns != 0)
		cfg.heartbeat_timeout_ns = heartbeat_timeout_ns;
	cr_assert_eq(actor_node_start(s, &cfg), 0);
	cr_assert_gt(actor_node_port(s), 0);
	return s;
}

static actor_system_t *node(const char *transport, const char *name)
{
	return node_hb(transport, name, 0);
}

static uint32_t connect_to(actor_system_t *from, actor_system_t *to)
{
	uint32_t id = 0;

	cr_assert_eq(actor_node_connect(from, "127.0.0.1", (uint16_t)actor_node_port(to), 5 * SEC,
					&id), 0);
	cr_assert_eq(id, actor_node_id(to));
	return id;
}

static void finish(actor_system_t *a, actor_system_t *b)
{
	actor_system_destroy(a);
	actor_system_destroy(b);
	actor_loopback_destroy(hub);
	assert_no_leaks();
}

static bool reaches(_Atomic int *v, int want, int seconds)
{
	for (int i = 0; i < seconds * 1000; i++) {
		if (atomic_load(v) >= want)
			return true;
		usleep(1000);
	}
	return false;
}

/* Waits until node s has received (sent) `want` frames of mail. */
static bool frames_reach_dir(actor_system_t *s, uint64_t want, bool in)
{
	actor_node_stats_t st;

	for (int i = 0; i < 10000; i++) {
		if (actor_node_stats(s, &st) == 0 && (in ? st.frames_in : st.frames_out) >= want)
			return true;
		usleep(1000);
	}
	return false;
}

static bool frames_reach(actor_system_t *s, uint64_t want)
{
	return frames_reach_dir(s, want, true);
}

/* Mail handed to connections is tracked for node-down from then on. */
static bool frames_sent(actor_system_t *s, uint64_t want)
{
	return frames_reach_dir(s, want, false);
}

/* --- actors ---------------------------------------------------------------- */

/* Replies to requests with the payload; counts plain messages in order;
 * promises SINK and keeps the promise; stops on CRASH without replying. */
struct echo {
	uint64_t next;
	actor_promise_t held;
};

static void echo_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct echo *s = actor_self_state(ctx);

	switch (actor_msg_type(m)) {
	case ECHO:
		actor_reply(ctx, m, ECHO, actor_msg_data(m), actor_msg_size(m));
		break;
	case COUNT: {
		uint64_t seq;

		memcpy(&seq, actor_msg_data(m), sizeof seq);
		if (seq != s->next++)
			atomic_fetch_add(&order_errors, 1);
		atomic_fetch_add(&got, 1);
		break;
	}
	case GET:
		actor_reply(ctx, m, GET, &s->next, sizeof s->next);
		break;
	case SINK:	/* a request promised, never answered */
		actor_promise(ctx, m, &s->held);
		atomic_fetch_add(&promised, 1);
		break;
	case CRASH:	/* stops inside the handler, owing the answer */
		actor_stop(ctx, -EIO);
		break;
	}
}

static const actor_spec_t echo_spec = { .name = "echo", .handler = echo_handler,
					.state_size = sizeof(struct echo) };

static actor_ref_t spawn_echo(actor_system_t *s, const char *name)
{
	actor_ref_t r;

	cr_assert_eq(actor_system_spawn(s, &echo_spec, NULL, &r), 0);
	cr_assert_eq(actor_register(s, name, r), 0);
	return r;
}

/* Requests, sends, monitors or links to `target` as told by its first
 * message; reports outcomes in the counters. */
struct client {
	actor_ref_t target;
	long n;
};

static void on_reply(actor_ctx_t *ctx, const actor_msg_t *reply, int error, void *arg)
{
	if (error != 0) {
		atomic_store(&fail_error, error);
		atomic_fetch_add(&fails, 1);
	} else if (actor_msg_size(reply) == 5 && memcmp(actor_msg_data(reply), "hello", 5) == 0) {
		atomic_fetch_add(&got, 1);
	}
}

static void client_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct client *s = actor_self_state(ctx);
	const struct client *cmd = actor_msg_data(m);

	switch (actor_msg_type(m)) {
	case ECHO:
		s->target = cmd->target;
		for (long i = 0; i < cmd->n; i++)
			cr_assert_eq(actor_request(ctx, s->target, ECHO, "hello", 5, 10 * SEC,
						   on_reply, NULL), 0);
		break;
	case SINK:
	case CRASH:
		actor_request(ctx, cmd->target, actor_msg_type(m), NULL, 0, 60 * SEC, on_reply,
			      NULL);
		break;
	case COUNT:
		for (uint64_t i = 0; i < (uint64_t)cmd->n; i++) {
			int err;

			while ((err = actor_send(ctx, cmd->target, COUNT, &i, sizeof i)) == -EAGAIN)
				usleep(100);
			cr_assert_eq(err, 0, "send %lu: %d", (unsigned long)i, err);
		}
		break;
	case WATCH:
		actor_monitor(ctx, cmd->target);
		break;
	case LINKME:
		actor_trap_exit(ctx, true);
		actor_link(ctx, cmd->target);
		break;
	case ACTOR_MSG_DOWN:
	case ACTOR_MSG_EXIT: {
		const actor_signal_t *sig = actor_msg_data(m);

		atomic_store(&down_reason, sig->reason);
		atomic_fetch_add(&downs, 1);
		break;
	}
	}
}

static const actor_spec_t client_spec = { .name = "client", .handler = client_handler,
					  .state_size = sizeof(struct client) };

static actor_ref_t client_do(actor_system_t *s, uint32_t type, actor_ref_t target, long n)
{
	struct client cmd = { .target = target, .n = n };
	actor_ref_t c;

	cr_assert_eq(actor_system_spawn(s, &client_spec, NULL, &c), 0);
	cr_assert_eq(actor_system_send(s, c, type, &cmd, sizeof cmd), 0);
	return c;
}

/* --- scenarios ------------------------------------------------------------- */

static void whereis_and_ask(const char *transport)
{
	actor_system_t *a = node(transport, "a"), *b = node(transport, "b");
	actor_ref_t echo = spawn_echo(a, "echo"), found;
	uint32_t id = connect_to(b, a), type;
	void *reply = NULL;
	size_t size;

	cr_assert(actor_node_is_up(b, id));
	cr_assert_eq(actor_node_whereis(b, id, "echo", 5 * SEC, &found), 0);
	cr_assert(actor_ref_equal(found, echo));
	cr_assert_eq(actor_node_whereis(b, id, "nobody", 5 * SEC, &found), -ENOENT);
	/* The name service answers for this node too. */
	cr_assert_eq(actor_node_whereis(a, actor_node_id(a), "echo", 5 * SEC, &found), 0);
	cr_assert(actor_ref_equal(found, echo));
	cr_assert_eq(actor_system_ask(b, echo, ECHO, "abc", 3, 5 * SEC, &type, &reply, &size), 0);
	cr_assert_eq(size, 3);
	cr_assert_eq(memcmp(reply, "abc", 3), 0);
	free(reply);
	finish(a, b);
}

static void requests_between_actors(const char *transport)
{
	actor_system_t *a = node(transport, "a"), *b = node(transport, "b");
	actor_ref_t echo = spawn_echo(a, "echo");

	connect_to(b, a);
	client_do(b, ECHO, echo, 1000);
	cr_assert(reaches(&got, 1000, 20), "%d replies of 1000", atomic_load(&got));
	cr_assert_eq(atomic_load(&fails), 0);
	finish(a, b);
}

/*
 * One way only, so the sender hears nothing but the receiver's heartbeats.
 * With the machine loaded (distcheck runs tests side by side) those have
 * been late by more than 2 s during the flood, and the sender declared the
 * receiver down mid-stream (-EHOSTUNREACH): a liveness fault of its own
 * (issue 18), not what this test is about, so the timeout here is long.
 */
static void many_messages_in_order(const char *transport, long n)
{
	actor_system_t *a = node_hb(transport, "a", 30 * SEC), *b = node_hb(transport, "b", 30 * SEC);
	actor_ref_t echo = spawn_echo(a, "echo");
	uint64_t *count = NULL;
	size_t size;

	connect_to(b, a);
	client_do(b, COUNT, echo, n);
	client_do(b, COUNT, spawn_echo(a, "echo2"), 1000);
	cr_assert(reaches(&got, (int)n + 1000, 120), "%d of %ld messages", atomic_load(&got),
		  n + 1000);
	cr_assert_eq(atomic_load(&order_errors), 0);
	cr_assert_eq(actor_system_ask(b, echo, GET, NULL, 0, 5 * SEC, NULL, (void **)&count,
				      &size), 0);
	cr_assert_eq(*count, (uint64_t)n);
	free(count);
	finish(a, b);
}

static void monitor_fires_on_exit(const char *transport)
{
	actor_system_t *a = node(transport, "a"), *b = node(transport, "b");
	actor_ref_t echo = spawn_echo(a, "echo");

	connect_to(b, a);
	client_do(b, WATCH, echo, 0);
	client_do(b, LINKME, echo, 0);
	/* The monitor and link reach a before the exit (both urgent, FIFO). */
	cr_assert(frames_reach(a, 2), "the monitor and link did not reach a");
	cr_assert_eq(actor_exit(a, echo, -EIO), 0);
	cr_assert(reaches(&downs, 2, 10), "%d of 2 signals", atomic_load(&downs));
	cr_assert_eq(atomic_load(&down_reason), -EIO);
	finish(a, b);
}

static void node_down_fails_what_waits(const char *transport)
{
	actor_system_t *a = node(transport, "a"), *b = node(transport, "b");
	actor_ref_t echo = spawn_echo(a, "echo");
	actor_system_stats_t st;
	uint32_t id = connect_to(b, a);

	client_do(b, WATCH, echo, 0);
	client_do(b, LINKME, echo, 0);
	client_do(b, SINK, echo, 0);
	cr_assert(frames_sent(b, 3));
	cr_assert_eq(actor_node_disconnect(b, id), 0);
	cr_assert(reaches(&downs, 2, 10), "%d of 2 node-down signals", atomic_load(&downs));
	cr_assert_eq(atomic_load(&down_reason), ACTOR_EXIT_NODEDOWN);
	cr_assert(reaches(&fails, 1, 10), "the pending request did not fail");
	cr_assert_eq(atomic_load(&fail_error), -EHOSTUNREACH);
	cr_assert_not(actor_node_is_up(b, id));
	/* Mail for a down node is a dead letter. */
	actor_system_stats(b, &st);
	cr_assert_eq(actor_system_send(b, echo, COUNT, "12345678", 8), -EHOSTUNREACH);
	{
		actor_system_stats_t st2;

		actor_system_stats(b, &st2);
		cr_assert_eq(st2.dead_letters, st.dead_letters + 1);
	}
	/* A monitor set up now fires at once. */
	client_do(b, WATCH, echo, 0);
	cr_assert(reaches(&downs, 3, 10));
	finish(a, b);
}

static void wrong_cookie_refused(const char *transport)
{
	actor_system_t *a = node(transport, "a"), *b;
	actor_node_config_t cfg;
	actor_node_stats_t st;
	uint64_t refused;
	uint32_t id;
	int err;

	cr_assert_eq(actor_system_create(&b, NULL), 0);
	config(&cfg, transport, "intruder");
	cfg.cookie = "another-cookie-0123456789";
	cfg.cookie_len = 25;
	cr_assert_eq(actor_node_start(b, &cfg), 0);
	err = actor_node_connect(b, "127.0.0.1", (uint16_t)actor_node_port(a), 5 * SEC, &id);
	cr_assert(err == -EACCES || err == -ECONNRESET, "connect gave %d", err);
	usleep(100 * 1000);
	/* Whichever side checked the other's AUTH first refused it. */
	cr_assert_eq(actor_node_stats(a, &st), 0);
	cr_assert_eq(st.peers_up, 0);
	refused = st.refused;
	cr_assert_eq(actor_node_stats(b, &st), 0);
	cr_assert_eq(st.peers_up, 0);
	cr_assert_geq(refused + st.refused, 1);
	finish(a, b);
}

#define FOR_EACH_TRANSPORT(suite, name, body)                                 \
	Test(suite, name##_loopback) { body("loopback"); }                    \
	Test(suite, name##_epoll) { body("epoll"); }                          \
	Test(suite, name##_epoll_io) { body("epoll-io"); }                    \
	Test(suite, name##_uring) { body("uring"); }                          \
	Test(suite, name##_uring_io) { body("uring-io"); }

TestSuite(node, .init = reset, .timeout = 120);

FOR_EACH_TRANSPORT(node, whereis_and_ask, whereis_and_ask)
FOR_EACH_TRANSPORT(node, requests_between_actors, requests_between_actors)
FOR_EACH_TRANSPORT(node, monitor_and_link_across_nodes, monitor_fires_on_exit)
FOR_EACH_TRANSPORT(node, node_down_fails_what_waits, node_down_fails_what_waits)
FOR_EACH_TRANSPORT(node, wrong_cookie_refused, wrong_cookie_refused)

static void million(const char *transport)
{
	many_messages_in_order(transport, strcmp(transport, "loopback") == 0 ? 200000 : 1000000);
}
FOR_EACH_TRANSPORT(node, messages_in_order_none_lost, million)

/* --- a node in a child process ------------------------------------------------ */

struct child {
	pid_t pid;
	uint16_t port;
};

/* Forks a node that serves an "echo" actor until killed. */
static struct child child_node(const char *transport)
{
	struct child c = { 0 };
	int fds[2];

	if (strncmp(transport, "uring", 5) == 0 && !uring_works())
		cr_skip_test("io_uring is not available here");
	cr_assert_eq(pipe(fds), 0);
	c.pid = fork();
	cr_assert_neq(c.pid, -1);
	if (c.pid == 0) {
		actor_system_t *s;
		actor_node_config_t cfg;
		uint16_t port;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[0]);
		if (actor_system_create(&s, NULL) != 0)
			_exit(1);
		config(&cfg, transport, "child");
		if (actor_node_start(s, &cfg) != 0)
			_exit(2);
		spawn_echo(s, "echo");
		port = (uint16_t)actor_node_port(s);
		if (write(fds[1], &port, sizeof port) != sizeof port)
			_exit(3);
		for (;;)
			pause();
	}
	close(fds[1]);
	cr_assert_eq(read(fds[0], &c.port, sizeof c.port), sizeof c.port);
	close(fds[0]);
	return c;
}

static void child_end(struct child *c)
{
	kill(c->pid, SIGKILL);
	waitpid(c->pid, NULL, 0);
}

static actor_ref_t child_echo(actor_system_t *s, const struct child *c, uint32_t *id)
{
	actor_ref_t echo;

	cr_assert_eq(actor_node_connect(s, "127.0.0.1", c->port, 5 * SEC, id), 0);
	cr_assert_eq(actor_node_whereis(s, *id, "echo", 5 * SEC, &echo), 0);
	return echo;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static void killed_peer(const char *transport)
{
	struct child c = child_node(transport);
	actor_system_t *s = node(transport, "parent");
	uint32_t id;
	actor_ref_t echo = child_echo(s, &c, &id);

	client_do(s, WATCH, echo, 0);
	client_do(s, SINK, echo, 0);
	cr_assert(frames_sent(s, 3));	/* the whereis, the monitor, the request */
	kill(c.pid, SIGKILL);
	cr_assert(reaches(&downs, 1, 5), "no down message after kill -9");
	cr_assert_eq(atomic_load(&down_reason), ACTOR_EXIT_NODEDOWN);
	cr_assert(reaches(&fails, 1, 5), "the pending request did not fail");
	child_end(&c);
	actor_system_destroy(s);
	assert_no_leaks();
}

static void stopped_peer(const char *transport)
{
	struct child c = child_node(transport);
	actor_system_t *s;
	actor_node_config_t cfg;
	uint32_t id;
	actor_ref_t echo;
	uint64_t t0, took;

	cr_assert_eq(actor_system_create(&s, NULL), 0);
	config(&cfg, transport, "parent");
	cfg.heartbeat_timeout_ns = 500 * MS;
	cr_assert_eq(actor_node_start(s, &cfg), 0);
	echo = child_echo(s, &c, &id);

	client_do(s, WATCH, echo, 0);
	cr_assert(frames_sent(s, 2));	/* the whereis, the monitor */
	kill(c.pid, SIGSTOP);
	t0 = now_ns();
	cr_assert(reaches(&downs, 1, 5), "no down message for a stopped peer");
	took = now_ns() - t0;
	/* The timeout is 500 ms, checked every 50 ms; the slack is for a
	 * loaded machine (1.8 s seen with four builds running on 2 cores). */
	cr_assert(took < 2500 * MS, "declared down after %llu ms", (unsigned long long)(took / MS));
	cr_assert_eq(atomic_load(&down_reason), ACTOR_EXIT_NODEDOWN);
	/* Back from the dead: the parent redials it (with backoff) by itself. */
	kill(c.pid, SIGCONT);
	for (int i = 0; i < 500 && !actor_node_is_up(s, id); i++)
		usleep(10 * 1000);
	cr_assert(actor_node_is_up(s, id), "not reconnected 5 s after SIGCONT");
	{
		void *reply = NULL;

		cr_assert_eq(actor_system_ask(s, echo, ECHO, "x", 1, 5 * SEC, NULL, &reply, NULL),
			     0);
		free(reply);
	}
	child_end(&c);
	actor_system_destroy(s);
	assert_no_leaks();
}

/* A peer that stops reading: the sender's queue for it fills and further
 * sends fail with -EAGAIN; nothing grows without bound. The stats show the
 * queue (frames and bytes), and that it empties once the peer reads. */
static void slow_reader(const char *transport)
{
	struct child c = child_node(transport);
	actor_system_t *s;
	actor_node_config_t cfg;
	actor_node_stats_t st;
	actor_node_peer_stats_t ps;
	static char big[64 << 10];
	uint32_t id;
	actor_ref_t echo;
	long sent = 0;
	int err = 0;

	cr_assert_eq(actor_system_create(&s, NULL), 0);
	config(&cfg, transport, "parent");
	cfg.max_queued = 64;
	cfg.heartbeat_timeout_ns = 30 * SEC;
	cr_assert_eq(actor_node_start(s, &cfg), 0);
	echo = child_echo(s, &c, &id);
	kill(c.pid, SIGSTOP);
	while (sent < 100000 && (err = actor_system_send(s, echo, COUNT, big, sizeof big)) == 0)
		sent++;
	cr_assert_eq(err, -EAGAIN, "send %ld gave %d", sent, err);
	/* 64 queued frames, the transport's 1 MiB high water, socket buffers. */
	cr_assert_lt(sent, 2000, "%ld sends of 64 KiB before -EAGAIN", sent);
	cr_assert_eq(actor_node_stats(s, &st), 0);
	cr_assert_eq(st.queue_full, 1);
	cr_assert_eq(actor_node_peer_stats(s, id, &ps), 0);
	cr_assert(ps.up);
	cr_assert_eq(ps.queued_frames, 64);
	cr_assert_geq(ps.queued_bytes, 64 * sizeof big);
	cr_assert_eq(st.queued_frames, ps.queued_frames);
	cr_assert_geq(st.queued_bytes, 64 * sizeof big);
	kill(c.pid, SIGCONT);
	for (int i = 0; i < 10000 && actor_node_peer_stats(s, id, &ps) == 0 &&
			(ps.queued_frames != 0 || ps.queued_bytes != 0); i++)
		usleep(1000);
	cr_assert_eq(ps.queued_frames, 0);
	cr_assert_eq(ps.queued_bytes, 0, "%llu bytes still queued", (unsigned long long)ps.queued_bytes);
	cr_assert_eq(actor_node_peer_stats(s, 0x12345678, &ps), -ENOENT);
	child_end(&c);
	actor_system_destroy(s);
	assert_no_leaks();
}

#define FOR_EACH_TCP(suite, name, body)                                       \
	Test(suite, name##_epoll) { body("epoll"); }                          \
	Test(suite, name##_epoll_io) { body("epoll-io"); }                    \
	Test(suite, name##_uring) { body("uring"); }                          \
	Test(suite, name##_uring_io) { body("uring-io"); }

FOR_EACH_TCP(node, killed_peer_is_down, killed_peer)
FOR_EACH_TCP(node, stopped_peer_is_down_within_timeout_then_redialed, stopped_peer)
FOR_EACH_TCP(node, slow_reader_bounds_the_queue, slow_reader)

/* --- bad bytes from the network ------------------------------------------------- */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static int raw_connect(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	return fd;
}

/* Sends bytes and waits for the node to close the connection. */
static bool closes_after(uint16_t port, const void *bytes, size_t len)
{
	struct timeval tv = { 5, 0 };
	char buf[512];
	int fd = raw_connect(port);
	ssize_t r;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	cr_assert_eq(write(fd, bytes, len), (ssize_t)len);
	/* The node's HELLO comes first; then EOF or a reset. */
	while ((r = read(fd, buf, sizeof buf)) > 0)
		;
	close(fd);
	return r == 0 || (r < 0 && errno == ECONNRESET);
}

static void bad_frames(const char *transport)
{
	actor_system_t *a = node(transport, "a"), *b = node(transport, "b");
	uint16_t port = (uint16_t)actor_node_port(a);
	static const unsigned char garbage[] = { 0, 0, 0, 3, 0xc1, 0xc1, 0xc1 };
	static const unsigned char huge[] = { 0xff, 0xff, 0xff, 0xff, 1, 2, 3 };
	static const unsigned char empty[] = { 0, 0, 0, 0 };
	/* A MSG frame before any handshake: [3, 1, 1, 1, 1, 1, 0, 0, bin ""] */
	static const unsigned char early[] = { 0, 0, 0, 11, 0x99, 3, 1, 1, 1, 1, 1, 0, 0,
					       0xc4, 0 };
	static const unsigned char truncated[] = { 0, 0, 0, 100, 0x95, 1, 1 };
	actor_node_stats_t st;
	actor_ref_t found;
	uint32_t id;

	spawn_echo(a, "echo");
	cr_assert(closes_after(port, garbage, sizeof garbage));
	cr_assert(closes_after(port, huge, sizeof huge));
	cr_assert(closes_after(port, empty, sizeof empty));
	cr_assert(closes_after(port, early, sizeof early));
	{
		int fd = raw_connect(port);

		cr_assert_eq(write(fd, truncated, sizeof truncated), (ssize_t)sizeof truncated);
		close(fd);
	}
	/* The node still works for well-behaved peers. */
	id = connect_to(b, a);
	cr_assert_eq(actor_node_whereis(b, id, "echo", 5 * SEC, &found), 0);
	/* garbage, huge, empty; the early frame is a handshake error. */
	cr_assert_eq(actor_node_stats(a, &st), 0);
	cr_assert_eq(st.bad_frames, 3);
	finish(a, b);
}

FOR_EACH_TCP(node, bad_frames_close_only_their_connection, bad_frames)

/* --- the answers a local caller would get ------------------------------------------ */

static void gone_actor(const char *transport)
{
	actor_system_t *a = node(transport, "a"), *b = node(transport, "b");
	actor_ref_t echo = spawn_echo(a, "echo");
	uint32_t id = connect_to(b, a), again = 0;
	actor_system_stats_t st;
	void *reply = NULL;

	cr_assert_eq(actor_exit(a, echo, ACTOR_EXIT_KILL), 0);
	for (int i = 0; i < 5000; i++) {	/* echo was a's only actor */
		actor_system_stats(a, &st);
		if (st.live == 0)
			break;
		usleep(1000);
	}
	client_do(b, WATCH, echo, 0);
	cr_assert(reaches(&downs, 1, 5), "no answer to a monitor of a gone actor");
	cr_assert_eq(atomic_load(&down_reason), ACTOR_EXIT_NOPROC);
	cr_assert_eq(actor_system_ask(b, echo, ECHO, "x", 1, 5 * SEC, NULL, &reply, NULL), -ESRCH);
	/* Connecting again to a node that is up is no error. */
	cr_assert_eq(actor_node_connect(b, "127.0.0.1", (uint16_t)actor_node_port(a), 5 * SEC,
					&again), 0);
	cr_assert_eq(again, id);
	finish(a, b);
}

FOR_EACH_TRANSPORT(node, gone_actor_answers_at_once, gone_actor)

/* --- forwarding: the reply goes straight back to the requester ------------------- */

static void forwarder_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	actor_ref_t *to = actor_self_state(ctx);

	if (actor_msg_type(m) == LINKME)	/* set up: where to forward to */
		memcpy(to, actor_msg_data(m), sizeof *to);
	else
		actor_forward(ctx, m, *to);
}

static const actor_spec_t forwarder_spec = { .name = "forwarder", .handler = forwarder_handler,
					     .state_size = sizeof(actor_ref_t) };

static void forward_across(const char *transport)
{
	actor_system_t *a = node(transport, "a"), *b = node(transport, "b"),
		       *c = node(transport, "c");
	actor_ref_t echo = spawn_echo(a, "echo"), fwd;

	connect_to(b, a);
	connect_to(c, a);
	connect_to(c, b);
	cr_assert_eq(actor_system_spawn(b, &forwarder_spec, NULL, &fwd), 0);
	cr_assert_eq(actor_system_send(b, fwd, LINKME, &echo, sizeof echo), 0);
	/* c asks b's forwarder; a's echo answers c directly. */
	client_do(c, ECHO, fwd, 100);
	cr_assert(reaches(&got, 100, 20), "%d replies of 100", atomic_load(&got));
	cr_assert_eq(atomic_load(&fails), 0);
	actor_system_destroy(c);
	finish(a, b);
}

FOR_EACH_TRANSPORT(node, forwarded_requests_across_three_nodes, forward_across)

/* --- requests whose callee stops owing the answer fail at once ----------------- */

/* Waits for the n-th failure, which must be -EPIPE, well before the
 * request's 60 s timeout. */
static void broken_within(int n)
{
	cr_assert(reaches(&fails, n, 5), "failure %d did not come at once", n);
	cr_assert_eq(atomic_load(&fail_error), -EPIPE);
}

static void broken_requests(const char *transport)
{
	actor_system_t *a = node(transport, "a"), *b = node(transport, "b"),
		       *c = node(transport, "c");
	actor_ref_t echo = spawn_echo(a, "echo"), holder = spawn_echo(a, "holder"),
		    last = spawn_echo(a, "last"), fwd;

	connect_to(b, a);
	connect_to(c, a);
	connect_to(c, b);
	/* The callee stops inside the handler without replying. */
	client_do(b, CRASH, echo, 0);
	broken_within(1);
	/* The callee stops holding a promise for the request. */
	client_do(b, SINK, holder, 0);
	cr_assert(reaches(&promised, 1, 5));
	cr_assert_eq(actor_exit(a, holder, ACTOR_EXIT_KILL), 0);
	broken_within(2);
	/* A forward chain c -> b's forwarder -> a's last, which stops. */
	cr_assert_eq(actor_system_spawn(b, &forwarder_spec, NULL, &fwd), 0);
	cr_assert_eq(actor_system_send(b, fwd, LINKME, &last, sizeof last), 0);
	client_do(c, CRASH, fwd, 0);
	broken_within(3);
	/* An answered request is unaffected. */
	client_do(b, ECHO, spawn_echo(a, "fine"), 10);
	cr_assert(reaches(&got, 10, 20), "%d replies of 10", atomic_load(&got));
	cr_assert_eq(atomic_load(&fails), 3);
	actor_system_destroy(c);
	finish(a, b);
}

FOR_EACH_TRANSPORT(node, broken_requests_fail_at_once, broken_requests)

static void lookup_async(const char *transport)
{
	actor_system_t *a = node(transport, "a"), *b = node(transport, "b");
	actor_ref_t echo = spawn_echo(a, "echo"), mine = spawn_echo(b, "mine");
	uint32_t id = connect_to(b, a);

	cr_assert_eq(find_in(b, id, "echo"), 0);
	cr_assert(actor_ref_equal(found_ref, echo));
	cr_assert_eq(find_in(b, id, "mine"), -ENOENT, "b's name, asked of a");
	cr_assert_eq(find_in(b, 0, "mine"), 0);
	cr_assert(actor_ref_equal(found_ref, mine));
	cr_assert_eq(find_in(b, actor_node_id(b), "mine"), 0);
	cr_assert(actor_ref_equal(found_ref, mine));
	cr_assert_eq(find_in(b, actor_node_id(b), "echo"), -ENOENT, "a's name, asked of b");
	cr_assert_eq(find_in(b, id + 1, "echo"), -EHOSTUNREACH, "no such node");
	finish(a, b);
}

FOR_EACH_TRANSPORT(node, lookup_async_across_nodes, lookup_async)

/* --- loopback frames and the life of their sender ------------------------------ */

static _Atomic bool sender_gone;

/* Holds a's I/O thread in its first dead letter until b is destroyed. */
static void slow_dead_letter(void *arg, actor_ref_t to, uint32_t type, const void *data,
			     size_t size)
{
	for (int i = 0; i < 5000 && !atomic_load(&sender_gone); i++)
		usleep(1000);
}

static void spray_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	const actor_ref_t *to = actor_msg_data(m);

	/* From a worker, so the frames come from b's envelope pools. */
	for (int i = 0; i < 100; i++)
		actor_send(ctx, *to, COUNT, &i, sizeof i);
}

static const actor_spec_t spray_spec = { .name = "spray", .handler = spray_handler };

static bool dead_letters_reach(actor_system_t *s, uint64_t want)
{
	actor_system_stats_t st;

	for (int i = 0; i < 10000; i++) {
		actor_system_stats(s, &st);
		if (st.dead_letters >= want)
			return true;
		usleep(1000);
	}
	return false;
}

/*
 * b's frames still queued on a's side when b is destroyed: a frees them
 * later, and they must not go back to b's pools, gone by then (issue 11,
 * bug 4: AddressSanitizer saw a heap-use-after-free in actor__env_free).
 */
Test(node, loopback_frames_outlive_their_sender)
{
	actor_config_t sc;
	actor_node_config_t cfg;
	actor_system_t *a, *b = node("loopback", "b");
	actor_ref_t nobody, spray;

	atomic_store(&sender_gone, false);
	actor_config_init(&sc);
	sc.dead_letter = slow_dead_letter;
	cr_assert_eq(actor_system_create(&a, &sc), 0);
	config(&cfg, "loopback", "a");
	cr_assert_eq(actor_node_start(a, &cfg), 0);
	connect_to(b, a);
	nobody = (actor_ref_t){ .id = 1ull << 32 | 4000, .node = actor_node_id(a) };
	cr_assert_eq(actor_system_spawn(b, &spray_spec, NULL, &spray), 0);
	cr_assert_eq(actor_system_send(b, spray, 1, &nobody, sizeof nobody), 0);
	cr_assert(frames_sent(b, 100));
	/* a's I/O thread is in the hook with the other 99 frames queued. */
	cr_assert(dead_letters_reach(a, 1));
	actor_system_destroy(b);
	atomic_store(&sender_gone, true);
	/* a's I/O thread frees what it still holds before it stops. */
	actor_system_destroy(a);
	actor_loopback_destroy(hub);
	assert_no_leaks();
}

/* --- a WOKE that straddles a down and up of the peer ----------------------------- */

static _Atomic int hook_state;	/* 0: armed, 1: a sender waits in it, 2: released */

static void hold_first_woke(struct actor__node *n, struct actor__peer *p)
{
	int armed = 0;

	if (!atomic_compare_exchange_strong(&hook_state, &armed, 1))
		return;
	for (int i = 0; i < 10000 && atomic_load(&hook_state) != 2; i++)
		usleep(1000);
}

struct woke_sender {
	actor_system_t *a;
	actor_ref_t to;
};

static void *send_one(void *arg)
{
	struct woke_sender *s = arg;
	int v = 0;

	actor_system_send(s->a, s->to, COUNT, &v, sizeof v);
	return NULL;
}

static void count_any(actor_ctx_t *ctx, const actor_msg_t *m)
{
	atomic_fetch_add(&got, 1);
}

static const actor_spec_t count_any_spec = { .name = "count", .handler = count_any };

/*
 * A sender preempted between its WOKE and the ready push while the peer
 * goes down and comes back: its late push finds the queue of the new
 * connection drained and BLOCKED. The drain must see an idle queue there,
 * not spin on it (issue 11, bug 2: a's I/O thread busy-looped).
 */
Test(node, late_woke_across_a_reconnect, .timeout = 30)
{
	actor_system_t *a = node("loopback", "a"), *b = node("loopback", "b");
	struct woke_sender s = { .a = a };
	uint32_t id = connect_to(a, b);
	pthread_t t;
	int v = 1;

	cr_assert_eq(actor_system_spawn(b, &count_any_spec, NULL, &s.to), 0);
	s.to.node = id;
	atomic_store(&hook_state, 0);
	atomic_store(&actor__node_of(a)->woke_hook, hold_first_woke);
	pthread_create(&t, NULL, send_one, &s);
	while (atomic_load(&hook_state) != 1)
		usleep(1000);
	cr_assert_eq(actor_node_disconnect(a, id), 0);
	for (int i = 0; i < 5000 && actor_node_is_up(a, id); i++)
		usleep(1000);
	cr_assert_eq(connect_to(a, b), id);
	cr_assert_eq(actor_system_send(a, s.to, COUNT, &v, sizeof v), 0);
	cr_assert(reaches(&got, 1, 5), "mail flows on the new connection");
	atomic_store(&hook_state, 2);	/* the late ready push */
	pthread_join(t, NULL);
	/* The old drain could not block the queue: it put the peer back on
	 * the ready stack and woke itself, for ever. */
	usleep(50 * 1000);
	for (int i = 0; i < 1000; i++) {
		cr_assert_null(atomic_load(&actor__node_of(a)->ready), "a's I/O thread spins");
		usleep(100);
	}
	cr_assert_eq(actor_system_send(a, s.to, COUNT, &v, sizeof v), 0);
	cr_assert(reaches(&got, 2, 5), "a's I/O thread still sends after the late push");
	finish(a, b);
}

/* --- the public calls after shutdown -------------------------------------------- */

Test(node, connect_and_disconnect_after_shutdown)
{
	actor_system_t *a = node("loopback", "a"), *b = node("loopback", "b");
	uint32_t id = connect_to(a, b);

	actor_system_shutdown(a);
	/* The transport is gone: disconnect dereferenced it. */
	cr_assert_eq(actor_node_disconnect(a, id), -ESHUTDOWN);
	cr_assert_eq(actor_node_connect(a, "127.0.0.1", (uint16_t)actor_node_port(b), SEC, &id),
		     -ESHUTDOWN);
	finish(a, b);
}

static _Atomic int unmapped_lines;

static void count_unmapped(void *arg, const char *line)
{
	if (strstr(line, "no form on the wire") != NULL)
		atomic_fetch_add(&unmapped_lines, 1);
}

/*
 * Mail for another node that has no form on the wire (here a runtime type
 * sent by hand, which the peer would refuse) is not dropped silently: it
 * is a dead letter, and the node logs it (issue 13: the router used to
 * free it and say nothing).
 */
Test(node, mail_with_no_wire_form_is_a_logged_dead_letter)
{
	actor_system_t *a = node("loopback", "a"), *b;
	actor_node_config_t cfg;
	actor_system_stats_t st;
	actor_ref_t echo = spawn_echo(a, "echo");

	cr_assert_eq(actor_system_create(&b, NULL), 0);
	config(&cfg, "loopback", "b");
	cfg.log = count_unmapped;
	cr_assert_eq(actor_node_start(b, &cfg), 0);
	connect_to(b, a);
	actor_system_stats(b, &st);
	cr_assert_eq(actor_system_send(b, echo, ACTOR_MSG_SUPERVISOR_CHILDREN, NULL, 0), 0);
	cr_assert(dead_letters_reach(b, st.dead_letters + 1));
	for (int i = 0; i < 5000 && atomic_load(&unmapped_lines) == 0; i++)
		usleep(1000);
	cr_assert_eq(atomic_load(&unmapped_lines), 1);
	finish(a, b);
}

/* --- the track table (track.c), alone ------------------------------------------ */

static void count_drained(void *arg, const struct actor__track_entry *e)
{
	uint64_t *seen = arg;

	cr_assert_lt(e->local, 64);
	cr_assert_eq(seen[e->local] & (1ull << e->kind), 0, "drained twice");
	seen[e->local] |= 1ull << e->kind;
}

/* What node-down fails: each entry once; a request that surely timed out
 * is forgotten by the sweep, monitors and links are not. */
Test(node, track_table)
{
	struct actor__htab t = { 0 };
	uint64_t seen[64] = { 0 };

	for (uint64_t i = 1; i < 64; i++) {
		cr_assert_eq(actor__track_add(&t, ACTOR__TRACK_REQUEST, i, 1000 + i, i), 0);
		cr_assert_eq(actor__track_add(&t, ACTOR__TRACK_MONITOR, i, 2000 + i, 0), 0);
		cr_assert_eq(actor__track_add(&t, ACTOR__TRACK_LINK, i, 3000 + i, 0), 0);
	}
	cr_assert_eq(actor__track_add(&t, ACTOR__TRACK_LINK, 5, 3005, 99), 0);
	cr_assert_eq(t.count, 3 * 63, "a second add is a no-op");
	cr_assert(actor__track_del(&t, ACTOR__TRACK_LINK, 7, 3007));
	cr_assert_not(actor__track_del(&t, ACTOR__TRACK_LINK, 7, 3007));
	cr_assert_not(actor__track_del(&t, ACTOR__TRACK_MONITOR, 7, 3007), "the kind counts");
	/* Requests noted at 1..63, now 100, max age 68: 1..31 go. */
	actor__track_expire(&t, 100, 68);
	cr_assert_eq(t.count, 3 * 63 - 1 - 31);
	actor__track_drain(&t, count_drained, seen);
	cr_assert_eq(t.count, 0);
	for (uint64_t i = 1; i < 64; i++)
		cr_assert_eq(seen[i], (i >= 32 ? 1u << ACTOR__TRACK_REQUEST : 0) |
				      1u << ACTOR__TRACK_MONITOR |
				      (i != 7 ? 1u << ACTOR__TRACK_LINK : 0), "actor %lu", (unsigned long)i);
	cr_assert(actor__track_add(&t, ACTOR__TRACK_LINK, 1, 2, 0) == 0 && t.count == 1);
	actor__htab_free(&t);
}

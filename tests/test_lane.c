/*
 * The control lane (issue 18): replies and runtime signals to a peer are
 * not refused by max_queued, the bound on the user's mail for that peer.
 * A server node floods the client node with one-way mail through a queue
 * of 8 frames, kept full, while the client keeps a window of requests to
 * the server's echo: every request ends with its reply (no reply is
 * refused, no requester waits for its timeout), and the flood did find the
 * queue full. Two systems in one process, over loopback and TCP on epoll.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <actor/actor.h>

#include "tests/leakcheck.h"

#define SEC 1000000000ull
#define MS 1000000ull
#define REQUESTS 3000
#define WINDOW 500

enum { ASK = 1, FLOOD, GO, STOP, START };

static const char cookie[] = "test-cookie-0123456789";
static actor_loopback_t *hub;
static _Atomic bool stop_flood;
static _Atomic int answered, failed, timed_out, refused_replies, flooded, refused_floods;
static _Atomic int last_error;

static void echo(actor_ctx_t *ctx, const actor_msg_t *m)
{
	if (actor_msg_type(m) == ASK && actor_reply(ctx, m, ASK, NULL, 0) != 0)
		atomic_fetch_add(&refused_replies, 1);
}

/* Sends FLOOD to the sink given, 64 a turn, until stop_flood. */
static void flooder(actor_ctx_t *ctx, const actor_msg_t *m)
{
	static actor_ref_t target;

	if (actor_msg_type(m) == START)
		memcpy(&target, actor_msg_data(m), sizeof target);
	if (atomic_load(&stop_flood))
		return;
	for (int i = 0; i < 64; i++) {
		int err = actor_send(ctx, target, FLOOD, &i, sizeof i);

		atomic_fetch_add(err == 0 ? &flooded : &refused_floods, 1);
		if (err != 0)
			usleep(20);	/* full: less spinning, still full */
	}
	actor_send(ctx, actor_self(ctx), GO, NULL, 0);
}

static void sink(actor_ctx_t *ctx, const actor_msg_t *m)
{
	(void)ctx;
	(void)m;
}

static void on_answer(actor_ctx_t *ctx, const actor_msg_t *reply, int error, void *arg);

/* Keeps WINDOW requests to the echo in flight, REQUESTS in all. */
static _Atomic int sent;
static actor_ref_t echo_ref;

static void ask_one(actor_ctx_t *ctx)
{
	int err;

	if (atomic_load(&sent) >= REQUESTS)
		return;
	atomic_fetch_add(&sent, 1);
	err = actor_request(ctx, echo_ref, ASK, NULL, 0, 30 * SEC, on_answer, NULL);
	if (err != 0) {
		atomic_store(&last_error, err);
		atomic_fetch_add(&failed, 1);
	}
}

static void on_answer(actor_ctx_t *ctx, const actor_msg_t *reply, int error, void *arg)
{
	(void)reply;
	(void)arg;
	if (error == 0) {
		atomic_fetch_add(&answered, 1);
	} else {
		atomic_store(&last_error, error);
		atomic_fetch_add(error == -ETIMEDOUT ? &timed_out : &failed, 1);
	}
	ask_one(ctx);
}

static void requester(actor_ctx_t *ctx, const actor_msg_t *m)
{
	if (actor_msg_type(m) != START)
		return;
	memcpy(&echo_ref, actor_msg_data(m), sizeof echo_ref);
	for (int i = 0; i < WINDOW; i++)
		ask_one(ctx);
}

static const actor_spec_t echo_spec = { .name = "echo", .handler = echo };
static const actor_spec_t flooder_spec = { .name = "flooder", .handler = flooder };
static const actor_spec_t sink_spec = { .name = "sink", .handler = sink };
static const actor_spec_t requester_spec = { .name = "requester", .handler = requester };

static actor_system_t *node(const char *transport, uint32_t max_queued)
{
	actor_system_t *s;
	actor_node_config_t cfg;

	cr_assert_eq(actor_system_create(&s, NULL), 0);
	actor_node_config_init(&cfg);
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.transport = transport;
	if (max_queued != 0)
		cfg.max_queued = max_queued;
	cfg.heartbeat_timeout_ns = 30 * SEC;	/* a loaded machine */
	if (strcmp(transport, "loopback") == 0) {
		if (hub == NULL)
			cr_assert_eq(actor_loopback_create(&hub), 0);
		cfg.loopback = hub;
	}
	cr_assert_eq(actor_node_start(s, &cfg), 0);
	return s;
}

static void replies_pass_a_full_queue(const char *transport)
{
	actor_system_t *client = node(transport, 0), *server = node(transport, 8);
	actor_ref_t e, f, k, r;
	actor_node_stats_t st;
	uint32_t id = 0;

	cr_assert_eq(actor_node_connect(client, "127.0.0.1", (uint16_t)actor_node_port(server),
					5 * SEC, &id), 0);
	cr_assert_eq(actor_system_spawn(server, &echo_spec, NULL, &e), 0);
	cr_assert_eq(actor_system_spawn(server, &flooder_spec, NULL, &f), 0);
	cr_assert_eq(actor_system_spawn(client, &sink_spec, NULL, &k), 0);
	cr_assert_eq(actor_system_spawn(client, &requester_spec, NULL, &r), 0);
	cr_assert_eq(actor_system_send(server, f, START, &k, sizeof k), 0);
	for (int i = 0; i < 5000 && atomic_load(&refused_floods) == 0; i++)
		usleep(1000);
	cr_assert_gt(atomic_load(&refused_floods), 0, "the flood never filled the queue");
	cr_assert_eq(actor_system_send(client, r, START, &e, sizeof e), 0);
	for (int i = 0; i < 60000 && atomic_load(&answered) + atomic_load(&failed) +
					     atomic_load(&timed_out) < REQUESTS; i++)
		usleep(1000);
	atomic_store(&stop_flood, true);
	cr_assert_eq(actor_node_stats(server, &st), 0);
	cr_log_info("%s: %d requests answered, %d failed, %d timed out; %d replies refused; flood %d sent, %d refused (queue_full %lu)",
		    transport, atomic_load(&answered), atomic_load(&failed), atomic_load(&timed_out),
		    atomic_load(&refused_replies), atomic_load(&flooded),
		    atomic_load(&refused_floods), (unsigned long)st.queue_full);
	cr_assert_eq(atomic_load(&refused_replies), 0);
	cr_assert_eq(atomic_load(&timed_out), 0);
	cr_assert_eq(atomic_load(&failed), 0, "last error %d", atomic_load(&last_error));
	cr_assert_eq(atomic_load(&answered), REQUESTS);
	cr_assert_gt(st.queue_full, 0);
	actor_system_destroy(client);
	actor_system_destroy(server);
	actor_loopback_destroy(hub);
	hub = NULL;
	assert_no_leaks();
}

Test(lane, replies_pass_a_full_queue_loopback, .timeout = 120)
{
	replies_pass_a_full_queue("loopback");
}

Test(lane, replies_pass_a_full_queue_epoll, .timeout = 120)
{
	replies_pass_a_full_queue("epoll");
}

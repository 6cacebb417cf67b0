/*
 * Remote actors under load, as a plain TAP program so that it also runs
 * under ThreadSanitizer: on each transport, S senders on one node each send
 * N numbered messages and N requests to receivers on another node, while
 * the receivers' node is asked for names; every message and reply must
 * arrive once, in order per sender.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <actor/actor.h>

#include "tests/stress/tap.h"

#define SENDERS 4
#define SEC 1000000000ull

enum { GO = 1, NUM, ASK };

static const char cookie[] = "stress-cookie-0123456789";
static _Atomic long received, replies, errors;
static const char skip_uring[] = "io_uring is not available here";

struct receiver {
	uint64_t next[SENDERS];
};

static void receiver_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct receiver *s = actor_self_state(ctx);
	uint64_t v[2];

	if (actor_msg_size(m) != sizeof v) {
		atomic_fetch_add(&errors, 1);
		return;
	}
	memcpy(v, actor_msg_data(m), sizeof v);
	if (actor_msg_type(m) == ASK) {
		actor_reply(ctx, m, ASK, v, sizeof v);
		return;
	}
	if (v[0] >= SENDERS || v[1] != s->next[v[0]]++)
		atomic_fetch_add(&errors, 1);
	atomic_fetch_add(&received, 1);
}

static const actor_spec_t receiver_spec = { .name = "receiver", .handler = receiver_handler,
					    .state_size = sizeof(struct receiver) };

struct go {
	actor_ref_t to;
	uint64_t id, n;
};

static void on_reply(actor_ctx_t *ctx, const actor_msg_t *reply, int error, void *arg)
{
	if (error != 0 || actor_msg_size(reply) != 2 * sizeof(uint64_t))
		atomic_fetch_add(&errors, 1);
	else
		atomic_fetch_add(&replies, 1);
}

static void sender_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	const struct go *g = actor_msg_data(m);

	for (uint64_t i = 0; i < g->n; i++) {
		uint64_t v[2] = { g->id, i };
		int err;

		while ((err = actor_send(ctx, g->to, NUM, v, sizeof v)) == -EAGAIN)
			usleep(50);
		if (err == 0 && i % 8 == 0)
			err = actor_request(ctx, g->to, ASK, v, sizeof v, 60 * SEC, on_reply, NULL);
		if (err != 0)
			atomic_fetch_add(&errors, 1);
	}
}

static const actor_spec_t sender_spec = { .name = "sender", .handler = sender_handler };

static actor_system_t *node(const char *transport, actor_loopback_t *hub)
{
	actor_system_t *s;
	actor_node_config_t cfg;

	if (actor_system_create(&s, NULL) != 0)
		return NULL;
	actor_node_config_init(&cfg);
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.transport = transport;
	cfg.loopback = hub;
	cfg.heartbeat_timeout_ns = 10 * SEC;	/* TSan is slow */
	if (actor_node_start(s, &cfg) != 0) {
		actor_system_destroy(s);
		return NULL;
	}
	return s;
}

static const char *run(const char *transport, uint64_t n)
{
	actor_loopback_t *hub = NULL;
	actor_system_t *a, *b;
	actor_ref_t to[SENDERS], found;
	uint32_t id;
	long want = (long)(SENDERS * n), want_replies = (long)(SENDERS * ((n + 7) / 8));
	const char *error = NULL;

	atomic_store(&received, 0);
	atomic_store(&replies, 0);
	atomic_store(&errors, 0);
	if (strcmp(transport, "loopback") == 0 && actor_loopback_create(&hub) != 0)
		return "no hub";
	a = node(transport, hub);
	b = node(transport, hub);
	if (a == NULL || b == NULL) {
		error = strcmp(transport, "uring") == 0 ? skip_uring : "node_start failed";
		goto out;
	}
	if (actor_node_connect(b, "127.0.0.1", (uint16_t)actor_node_port(a), 10 * SEC, &id) != 0) {
		error = "connect failed";
		goto out;
	}
	for (int i = 0; i < SENDERS; i++) {
		char name[16];
		actor_ref_t s;
		struct go g = { .id = (uint64_t)i, .n = n };

		snprintf(name, sizeof name, "r%d", i);
		actor_system_spawn(a, &receiver_spec, NULL, &to[i]);
		actor_register(a, name, to[i]);
		if (actor_node_whereis(b, id, name, 10 * SEC, &found) != 0 ||
		    !actor_ref_equal(found, to[i])) {
			error = "whereis failed";
			goto out;
		}
		g.to = found;
		actor_system_spawn(b, &sender_spec, NULL, &s);
		actor_system_send(b, s, GO, &g, sizeof g);
	}
	for (int i = 0; i < 120 * 100 && (atomic_load(&received) < want ||
					   atomic_load(&replies) < want_replies); i++)
		usleep(10000);
	if (atomic_load(&received) != want)
		error = "messages lost";
	else if (atomic_load(&replies) != want_replies)
		error = "replies lost";
	else if (atomic_load(&errors) != 0)
		error = "out of order, or a send failed";
out:
	actor_system_destroy(b);
	actor_system_destroy(a);
	actor_loopback_destroy(hub);
	return error;
}

int main(void)
{
	static const char *const transports[] = { "loopback", "epoll", "uring" };
	uint64_t n = 20000 * stress_scale();

	tap_plan(3);
	for (int i = 0; i < 3; i++) {
		char name[64];

		const char *error;

		snprintf(name, sizeof name, "%s: %d senders x %llu messages", transports[i],
			 SENDERS, (unsigned long long)n);
		error = run(transports[i], n);
		if (error == skip_uring)
			snprintf(name, sizeof name, "%s # SKIP %s", transports[i], skip_uring);
		tap_result(name, error == skip_uring ? NULL : error);
	}
	return tap_exit();
}

/*
 * The traffic of the node stress programs (stress_node, stress_drive,
 * stress_tls, plain TAP so that they run under ThreadSanitizer): SENDERS
 * senders on one node (the includer defines SENDERS) each send numbered
 * messages to receivers on another, and every 8th a request too; a
 * receiver counts what arrives and any message out of order per sender,
 * and answers the requests. traffic_result() waits for all of it.
 */
#ifndef ACTOR_TESTS_STRESS_TRAFFIC_H
#define ACTOR_TESTS_STRESS_TRAFFIC_H

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <actor/actor.h>

#ifndef SENDERS
#error "define SENDERS before including tests/stress/traffic.h"
#endif

#define TRAFFIC_SEC 1000000000ull

enum { GO = 1, NUM, ASK };

static _Atomic long received, replies, errors;

struct receiver {
	uint64_t next[SENDERS];
};

static inline void receiver_handler(actor_ctx_t *ctx, const actor_msg_t *m)
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

/* What a sender is told to send (its GO message). */
struct go {
	actor_ref_t to;
	uint64_t id, n;
};

static inline void on_reply(actor_ctx_t *ctx, const actor_msg_t *reply, int error, void *arg)
{
	(void)ctx;
	(void)arg;
	if (error != 0 || actor_msg_size(reply) != 2 * sizeof(uint64_t))
		atomic_fetch_add(&errors, 1);
	else
		atomic_fetch_add(&replies, 1);
}

/* Message i of sender g->id (and a request, every 8th), waiting out a
 * full queue; a failure counts as an error. */
static inline void traffic_send(actor_ctx_t *ctx, const struct go *g, uint64_t i)
{
	uint64_t v[2] = { g->id, i };
	int err;

	while ((err = actor_send(ctx, g->to, NUM, v, sizeof v)) == -EAGAIN)
		usleep(50);
	if (err == 0 && i % 8 == 0)
		err = actor_request(ctx, g->to, ASK, v, sizeof v, 60 * TRAFFIC_SEC, on_reply, NULL);
	if (err != 0)
		atomic_fetch_add(&errors, 1);
}

/* A sender that sends all of its n at once. */
static inline void sender_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	const struct go *g = actor_msg_data(m);

	for (uint64_t i = 0; i < g->n; i++)
		traffic_send(ctx, g, i);
}

static const actor_spec_t sender_spec = { .name = "sender", .handler = sender_handler };

static inline void traffic_reset(void)
{
	atomic_store(&received, 0);
	atomic_store(&replies, 0);
	atomic_store(&errors, 0);
}

/* Waits up to 120 s for n messages from each sender and their replies:
 * NULL, or what went wrong. */
static inline const char *traffic_result(uint64_t n)
{
	long want = (long)(SENDERS * n), want_replies = (long)(SENDERS * ((n + 7) / 8));

	for (int i = 0; i < 120 * 100 && (atomic_load(&received) < want ||
					   atomic_load(&replies) < want_replies); i++)
		usleep(10000);
	if (atomic_load(&received) != want)
		return "messages lost";
	if (atomic_load(&replies) != want_replies)
		return "replies lost";
	if (atomic_load(&errors) != 0)
		return "out of order, or a send failed";
	return NULL;
}

#endif

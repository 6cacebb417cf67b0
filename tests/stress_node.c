/*
 * Remote actors under load, as a plain TAP program so that it also runs
 * under ThreadSanitizer: on each transport, S senders on one node each send
 * N numbered messages and N requests to receivers on another node, while
 * the receivers' node is asked for names; every message and reply must
 * arrive once, in order per sender. Then, on each transport, senders that
 * never pause while the link drops and is redialed again and again.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <actor/actor.h>

#define SENDERS 4
#define SEC 1000000000ull

#include "tests/stress/tap.h"
#include "tests/stress/traffic.h"

static const char cookie[] = "stress-cookie-0123456789";
static const char skip_uring[] = "io_uring is not available here";

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
	const char *error = NULL;

	traffic_reset();
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
	error = traffic_result(n);
out:
	actor_system_destroy(b);
	actor_system_destroy(a);
	actor_loopback_destroy(hub);
	return error;
}

/* --- sends while the connection goes down and up ------------------------------ */

enum { BURST = 1 };

struct churn {
	actor_ref_t to;
	_Atomic bool *stop;
};

/* Sends a burst to the other node, then asks itself for the next one. */
static void burst_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	const struct churn *c = actor_msg_data(m);

	if (atomic_load_explicit(c->stop, memory_order_relaxed))
		return;
	for (uint64_t i = 0; i < 16; i++) {
		uint64_t v[2] = { SENDERS, i };	/* no ordered sender: just counted */

		actor_send(ctx, c->to, NUM, v, sizeof v);
	}
	actor_send(ctx, actor_self(ctx), BURST, c, sizeof *c);
}

static const actor_spec_t burst_spec = { .name = "burst", .handler = burst_handler };

static void count_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	atomic_fetch_add(&received, 1);
}

static const actor_spec_t count_spec = { .name = "count", .handler = count_handler };

static bool received_more(long than, double seconds)
{
	for (int i = 0; i < seconds * 1000; i++) {
		if (atomic_load(&received) > than)
			return true;
		usleep(1000);
	}
	return false;
}

/*
 * Senders on a never pause while a's link to b is dropped and redialed
 * for `seconds`: every redial must succeed and mail must flow after each
 * (a peer on a's ready stack twice, or a drain spinning on a blocked
 * queue, hung a's I/O thread: issue 11, bug 2).
 */
static const char *reconnect_churn(const char *transport, double seconds, unsigned *cycles)
{
	actor_loopback_t *hub = NULL;
	actor_system_t *a, *b;
	_Atomic bool stop = false;
	struct churn c = { .stop = &stop };
	actor_ref_t s;
	struct timespec t0, t;
	uint32_t id;
	const char *error = NULL;
	int err;

	atomic_store(&received, 0);
	*cycles = 0;
	if (strcmp(transport, "loopback") == 0 && actor_loopback_create(&hub) != 0)
		return "setup failed";
	if ((a = node(transport, hub)) == NULL)
		return strcmp(transport, "uring") == 0 ? skip_uring : "setup failed";
	if ((b = node(transport, hub)) == NULL)
		return "setup failed";
	actor_system_spawn(b, &count_spec, NULL, &c.to);
	c.to.node = actor_node_id(b);
	if (actor_node_connect(a, "127.0.0.1", (uint16_t)actor_node_port(b), 10 * SEC, &id) != 0)
		return "connect failed";
	for (int i = 0; i < 2; i++) {
		actor_system_spawn(a, &burst_spec, NULL, &s);
		actor_system_send(a, s, BURST, &c, sizeof c);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		long before = atomic_load(&received);

		actor_node_disconnect(a, id);
		for (int i = 0; i < 5000 && actor_node_is_up(a, id); i++)
			usleep(100);
		/* Over TCP, b may not have seen the old connection end yet and
		 * refuse the new one ("a node with its id is connected"): a
		 * few more tries. */
		for (int tries = 0;
		     (err = actor_node_connect(a, "127.0.0.1", (uint16_t)actor_node_port(b), 5 * SEC,
					       &id)) != 0 && hub == NULL && tries < 5;
		     tries++)
			usleep(50 * 1000);
		if (err != 0) {
			error = "a redial failed: a's I/O thread is stuck";
			break;
		}
		if (!received_more(before, 5)) {
			error = "no mail flows after a redial: a's I/O thread is stuck";
			break;
		}
		++*cycles;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
	atomic_store(&stop, true);
	if (error != NULL)
		return error;	/* a stuck node cannot be destroyed: leave it */
	actor_system_destroy(a);
	actor_system_destroy(b);
	if (hub != NULL)
		actor_loopback_destroy(hub);
	return NULL;
}

int main(void)
{
	static const char *const transports[] = { "loopback", "epoll", "uring" };
	uint64_t n = 20000 * stress_scale();

	double churn_seconds = getenv("CHURN_SECONDS") ? atof(getenv("CHURN_SECONDS")) : 2;
	const char *churn_error;
	unsigned cycles;
	char churn_name[112];

	tap_plan(6);
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
	/* Over TCP, senders write frames themselves while the link drops
	 * (cluster/direct.c): a connection going away under them. */
	for (int i = 0; i < 3; i++) {
		churn_error = reconnect_churn(transports[i], i == 0 ? churn_seconds : churn_seconds / 2,
					     &cycles);
		if (churn_error == skip_uring)
			snprintf(churn_name, sizeof churn_name, "%s # SKIP %s", transports[i],
				 skip_uring);
		else
			snprintf(churn_name, sizeof churn_name,
				 "%s: sends while the link drops and comes back (%u times)",
				 transports[i], cycles);
		tap_result(churn_name, churn_error == skip_uring ? NULL : churn_error);
	}
	return tap_exit();
}

/*
 * Remote actors over TLS under load, as a plain TAP program so that it also
 * runs under ThreadSanitizer: on epoll and on io_uring (both receive paths),
 * with records in user space, senders on one node send numbered messages
 * and requests to receivers on another; all must arrive, in order. Skipped
 * where the openssl command cannot make the certificates.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <actor/actor.h>

#include "tests/stress/tap.h"
#include "tests/tls_certs.h"

#define SENDERS 2
#define SEC 1000000000ull

enum { GO = 1, NUM, ASK };

static const char cookie[] = "stress-tls-cookie-0123456789";
static _Atomic long received, replies, errors;
static const char skip_uring[] = "io_uring is not available here";
static char dir[64];
static char files[3][128];

static void receiver_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	uint64_t *next = actor_self_state(ctx), v[2];

	if (actor_msg_size(m) != sizeof v) {
		atomic_fetch_add(&errors, 1);
		return;
	}
	memcpy(v, actor_msg_data(m), sizeof v);
	if (actor_msg_type(m) == ASK) {
		actor_reply(ctx, m, ASK, v, sizeof v);
		return;
	}
	if (v[0] >= SENDERS || v[1] != next[v[0]]++)
		atomic_fetch_add(&errors, 1);
	atomic_fetch_add(&received, 1);
}

static const actor_spec_t receiver_spec = { .name = "receiver", .handler = receiver_handler,
					    .state_size = SENDERS * sizeof(uint64_t) };

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

static actor_system_t *node(const char *transport)
{
	actor_system_t *s;
	actor_node_config_t cfg;

	if (actor_system_create(&s, NULL) != 0)
		return NULL;
	actor_node_config_init(&cfg);
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.transport = transport;
	cfg.heartbeat_timeout_ns = 10 * SEC;	/* TSan is slow */
	cfg.handshake_timeout_ns = 30 * SEC;
	cfg.tls_ca_file = files[0];
	cfg.tls_cert_file = files[1];
	cfg.tls_key_file = files[2];
	if (actor_node_start(s, &cfg) != 0) {
		actor_system_destroy(s);
		return NULL;
	}
	return s;
}

static const char *run(const char *transport, uint64_t n)
{
	actor_system_t *a = node(transport), *b = node(transport);
	long want = (long)(SENDERS * n), want_replies = (long)(SENDERS * ((n + 7) / 8));
	const char *error = NULL;
	actor_ref_t to, found;
	uint32_t id;

	atomic_store(&received, 0);
	atomic_store(&replies, 0);
	atomic_store(&errors, 0);
	if (a == NULL || b == NULL) {
		error = strcmp(transport, "uring") == 0 ? skip_uring : "node_start failed";
		goto out;
	}
	if (actor_node_connect(b, "127.0.0.1", (uint16_t)actor_node_port(a), 30 * SEC, &id) != 0) {
		error = "connect failed";
		goto out;
	}
	actor_system_spawn(a, &receiver_spec, NULL, &to);
	actor_register(a, "r", to);
	if (actor_node_whereis(b, id, "r", 30 * SEC, &found) != 0 || !actor_ref_equal(found, to)) {
		error = "whereis failed";
		goto out;
	}
	for (int i = 0; i < SENDERS; i++) {
		struct go g = { .to = found, .id = (uint64_t)i, .n = n };
		actor_ref_t s;

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
	if (b != NULL)
		actor_system_destroy(b);
	if (a != NULL)
		actor_system_destroy(a);
	return error;
}

int main(void)
{
	static const char *const names[] = { "epoll", "uring", "uring, plain recv" };
	uint64_t n = 20000 * stress_scale();

	if (!tls_certs_possible()) {
		printf("1..0 # SKIP the openssl command cannot run here\n");
		return 0;
	}
	if (tls_certs_make(dir) != 0) {
		tap_plan(1);
		tap_result("making the certificates", "failed (see make-certs.log in /tmp/actor-tls-*)");
		return tap_exit();
	}
	snprintf(files[0], sizeof files[0], "%s/ca.pem", dir);
	snprintf(files[1], sizeof files[1], "%s/node.pem", dir);
	snprintf(files[2], sizeof files[2], "%s/node.key", dir);
	setenv("ACTOR_KTLS", "0", 1);
	tap_plan(3);
	for (int i = 0; i < 3; i++) {
		char name[96];
		const char *error;

		setenv("ACTOR_URING_PBUF", i == 2 ? "0" : "1", 1);
		error = run(i == 0 ? "epoll" : "uring", n);
		if (error == skip_uring)
			snprintf(name, sizeof name, "%s # SKIP %s", names[i], skip_uring);
		else
			snprintf(name, sizeof name, "TLS on %s: %d senders x %llu messages", names[i],
				 SENDERS, (unsigned long long)n);
		tap_result(name, error == skip_uring ? NULL : error);
	}
	tls_certs_remove(dir);
	return tap_exit();
}

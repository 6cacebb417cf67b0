/*
 * Remote mail to a full bounded mailbox (issue 18): the receiving node
 * counts what it drops as dead letters, and a request fails at once with
 * -EAGAIN instead of timing out. Two systems in one process, over the
 * loopback transport and TCP on epoll.
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
#define CAPACITY 4
#define SENDS 100

enum { HOLD = 1, MAIL, ASK };

static const char cookie[] = "test-cookie-0123456789";
static actor_loopback_t *hub;
static _Atomic bool release;
static _Atomic int held, failed, fail_error, answered;

/* Waits in its first message until released, so its mailbox fills. */
static void holder(actor_ctx_t *ctx, const actor_msg_t *m)
{
	if (actor_msg_type(m) == HOLD) {
		atomic_store(&held, 1);
		while (!atomic_load(&release))
			usleep(1000);
	} else if (actor_msg_type(m) == ASK) {
		actor_reply(ctx, m, ASK, NULL, 0);
	}
}

static const actor_spec_t holder_spec = { .name = "holder", .handler = holder,
					  .mailbox_capacity = CAPACITY };

static void on_answer(actor_ctx_t *ctx, const actor_msg_t *reply, int error, void *arg)
{
	(void)ctx;
	(void)reply;
	(void)arg;
	if (error != 0) {
		atomic_store(&fail_error, error);
		atomic_fetch_add(&failed, 1);
	} else {
		atomic_fetch_add(&answered, 1);
	}
}

/* MAIL: SENDS one-way sends to the ref it is given; ASK: one request
 * with a 30 s timeout. */
static void client(actor_ctx_t *ctx, const actor_msg_t *m)
{
	const actor_ref_t *to = actor_msg_data(m);

	if (actor_msg_type(m) == MAIL) {
		for (int i = 0; i < SENDS; i++)
			cr_assert_eq(actor_send(ctx, *to, MAIL, &i, sizeof i), 0);
	} else if (actor_msg_type(m) == ASK) {
		cr_assert_eq(actor_request(ctx, *to, ASK, NULL, 0, 30 * SEC, on_answer, NULL), 0);
	}
}

static const actor_spec_t client_spec = { .name = "client", .handler = client };

static actor_system_t *node(const char *transport)
{
	actor_system_t *s;
	actor_node_config_t cfg;

	cr_assert_eq(actor_system_create(&s, NULL), 0);
	actor_node_config_init(&cfg);
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.transport = transport;
	if (strcmp(transport, "loopback") == 0) {
		if (hub == NULL)
			cr_assert_eq(actor_loopback_create(&hub), 0);
		cfg.loopback = hub;
	}
	cr_assert_eq(actor_node_start(s, &cfg), 0);
	return s;
}

static uint64_t dead_letters(actor_system_t *s)
{
	actor_system_stats_t st;

	actor_system_stats(s, &st);
	return st.dead_letters;
}

static bool node_frames_in(actor_system_t *s, uint64_t want)
{
	actor_node_stats_t st;

	for (int i = 0; i < 10000; i++) {
		cr_assert_eq(actor_node_stats(s, &st), 0);
		if (st.frames_in >= want)
			return true;
		usleep(1000);
	}
	return false;
}

/*
 * The holder (capacity 4) waits in its first message; 100 remote sends
 * arrive: at least 100 - 4 are dead letters on the receiving node (none
 * were counted before, frames_in counted them all), and a request after
 * them fails within 5 s with -EAGAIN (it timed out after 30 s before).
 */
static void full_mailbox(const char *transport)
{
	actor_system_t *a = node(transport), *b = node(transport);
	actor_ref_t h, c;
	uint32_t id = 0;
	uint64_t before;

	atomic_store(&release, false);
	cr_assert_eq(actor_node_connect(a, "127.0.0.1", (uint16_t)actor_node_port(b), 5 * SEC,
					&id), 0);
	cr_assert_eq(actor_system_spawn(b, &holder_spec, NULL, &h), 0);
	cr_assert_eq(actor_system_send(b, h, HOLD, NULL, 0), 0);
	for (int i = 0; i < 5000 && !atomic_load(&held); i++)
		usleep(1000);
	cr_assert(atomic_load(&held));
	before = dead_letters(b);
	cr_assert_eq(actor_system_spawn(a, &client_spec, NULL, &c), 0);
	cr_assert_eq(actor_system_send(a, c, MAIL, &h, sizeof h), 0);
	cr_assert(node_frames_in(b, SENDS));
	cr_expect_geq(dead_letters(b) - before, SENDS - CAPACITY,
		      "%s: %lu dead letters for %d sends to a full mailbox of %d", transport,
		      (unsigned long)(dead_letters(b) - before), SENDS, CAPACITY);
	cr_assert_eq(actor_system_send(a, c, ASK, &h, sizeof h), 0);
	for (int i = 0; i < 5000 && atomic_load(&failed) + atomic_load(&answered) == 0; i++)
		usleep(1000);
	cr_expect_eq(atomic_load(&failed), 1, "%s: the request to a full mailbox did not fail",
		     transport);
	cr_expect_eq(atomic_load(&fail_error), -EAGAIN, "%s: %d", transport,
		     atomic_load(&fail_error));
	atomic_store(&release, true);
	actor_system_destroy(a);
	actor_system_destroy(b);
	actor_loopback_destroy(hub);
	hub = NULL;
	assert_no_leaks();
}

Test(remote_full, loopback, .timeout = 60)
{
	full_mailbox("loopback");
}

Test(remote_full, epoll, .timeout = 60)
{
	full_mailbox("epoll");
}

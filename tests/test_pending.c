/*
 * Mail to a member whose connection is not up yet waits for it (peer.c,
 * "Held peers"). Three systems: m0 the seed, m1, then m2 joins while m1
 * and m2 drop each other's frames (actor__node_drop, set on m1 before m2
 * starts), so both views hold m2 but their connection cannot come up;
 * membership keeps them alive through indirect probes via m0.
 *  - mail and a request from m1 to an actor of m2 wait, then arrive, in
 *    order, once the partition heals (loopback and TCP), and the same
 *    after their connection was up and is lost (membership redials);
 *  - m2 destroyed while they wait: every request fails with -EHOSTUNREACH
 *    and every frame is counted in m1's frames_lost;
 *  - a virtual actor placed on m2 gets its first request with no retry.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <actor/actor.h>

#include "cluster/internal.h"
#include "cluster/virtual.h"
#include "tests/leakcheck.h"

#define SEC 1000000000ull
#define MS 1000000ull
#define SEQ 1
#define ECHO 2
#define GET 3
#define MAILS 100
#define ASKS 4

static const char cookie[] = "test-cookie-0123456789";
static actor_loopback_t *hub;
static actor_system_t *s[3];
static _Atomic long got, out_of_order, acts;

static void reset(void)
{
	hub = NULL;
	memset(s, 0, sizeof s);
	atomic_store(&got, 0);
	atomic_store(&out_of_order, 0);
	atomic_store(&acts, 0);
}

TestSuite(pending, .init = reset, .timeout = 120);

static void on_log(void *arg, const char *line)
{
	(void)arg;
	if (getenv("ACTOR_TEST_VERBOSE") != NULL)
		fprintf(stderr, "%s\n", line);
}

/* SEQ i must come as the i-th; ECHO is answered. */
static void recorder(actor_ctx_t *ctx, const actor_msg_t *m)
{
	int i;

	if (actor_msg_type(m) == ECHO) {
		actor_reply(ctx, m, ECHO, NULL, 0);
		return;
	}
	cr_assert_eq(actor_msg_size(m), sizeof i);
	memcpy(&i, actor_msg_data(m), sizeof i);
	if (i != atomic_fetch_add(&got, 1))
		atomic_fetch_add(&out_of_order, 1);
}

static const actor_spec_t recorder_spec = { .name = "recorder", .handler = recorder };

static int on_activate(actor_ctx_t *ctx)
{
	(void)ctx;
	atomic_fetch_add(&acts, 1);
	return 0;
}

static void counter(actor_ctx_t *ctx, const actor_msg_t *m)
{
	long *c = actor_self_state(ctx);

	actor_reply(ctx, m, GET, c, sizeof *c);
}

static const actor_spec_t counter_spec = {
	.name = "counter", .handler = counter, .state_size = sizeof(long),
};

static actor_system_t *make(int i, bool virt)
{
	actor_virtual_options_t o = { .idle_timeout_ns = UINT64_MAX, .activate = on_activate };
	actor_config_t sc;

	actor_config_init(&sc);
	sc.workers = 1;
	sc.pin_workers = false;
	cr_assert_eq(actor_system_create(&s[i], &sc), 0);
	if (virt)
		cr_assert_eq(actor_virtual_register(s[i], "counter", &counter_spec, &o), 0);
	return s[i];
}

static void start(int i, const char *transport)
{
	static const char *names[3] = { "m0", "m1", "m2" };
	static char seed[32];
	static const char *seeds[1] = { seed };
	actor_node_config_t cfg;

	actor_node_config_init(&cfg);
	cfg.name = names[i];
	cfg.cookie = cookie;
	cfg.cookie_len = sizeof cookie - 1;
	cfg.transport = transport;
	cfg.log = on_log;
	cfg.heartbeat_interval_ns = 100 * MS;
	cfg.heartbeat_timeout_ns = 2 * SEC;
	cfg.reconnect_min_ns = 50 * MS;
	cfg.reconnect_max_ns = 200 * MS;
	/* A dial whose frames were dropped gives up soon after the heal. */
	cfg.handshake_timeout_ns = 300 * MS;
	cfg.member_probe_interval_ns = 100 * MS;
	cfg.member_suspect_ns = 500 * MS;
	cfg.member_dead_ns = 1500 * MS;
	cfg.member_fence_ns = 1200 * MS;
	cfg.member_takeover_margin_ns = 1600 * MS;
	if (strcmp(transport, "loopback") == 0) {
		if (hub == NULL)
			cr_assert_eq(actor_loopback_create(&hub), 0);
		cfg.loopback = hub;
	}
	if (i > 0) {
		snprintf(seed, sizeof seed, "127.0.0.1:%d", actor_node_port(s[0]));
		cfg.seeds = seeds;
		cfg.nseeds = 1;
	}
	cr_assert_eq(actor_node_start(s[i], &cfg), 0);
}

static bool all_see(int want, int ms)
{
	for (int t = 0; t < ms; t += 10) {
		bool ok = true;

		for (int i = 0; i < 3; i++)
			ok &= s[i] == NULL || actor_cluster_members(s[i], NULL, 0, NULL) == want;
		if (ok)
			return true;
		usleep(10 * 1000);
	}
	return false;
}

static void partition(bool on)
{
	uint32_t id1 = actor_node_id(s[1]), id2 = actor_node_id(s[2]);

	cr_assert_eq(actor__node_drop(actor__node_of(s[1]), id2, on), 0);
	cr_assert_eq(actor__node_drop(actor__node_of(s[2]), id1, on), 0);
}

/*
 * m0 and m1 a cluster; m2 joins it while m1 and m2 drop each other's
 * frames (m1 from before m2 starts: m2's id is known then, and m2 dials
 * only its seed at first): members of each other's views, not connected.
 */
static void split_join(const char *transport, bool virt)
{
	make(0, virt);
	start(0, transport);
	make(1, virt);
	start(1, transport);
	cr_assert(all_see(2, 20000), "m0 and m1 did not converge");
	make(2, virt);
	cr_assert_eq(actor__node_drop(actor__node_of(s[1]), actor_node_id(s[2]), true), 0);
	start(2, transport);
	cr_assert_eq(actor__node_drop(actor__node_of(s[2]), actor_node_id(s[1]), true), 0);
	cr_assert(all_see(3, 20000), "m2 did not join");
	cr_assert(!actor_node_is_up(s[1], actor_node_id(s[2])));
	cr_assert(!actor_node_is_up(s[2], actor_node_id(s[1])));
}

static void destroy_all(void)
{
	for (int i = 0; i < 3; i++)
		if (s[i] != NULL)
			actor_system_destroy(s[i]);
	if (hub != NULL)
		actor_loopback_destroy(hub);
	assert_no_leaks();
}

struct ask {
	actor_system_t *from;
	actor_ref_t to;
	uint32_t type;
	int err;
	pthread_t th;
};

static void *ask_thread(void *arg)
{
	struct ask *a = arg;
	uint32_t type;
	void *data = NULL;
	size_t size;

	a->err = actor_system_ask(a->from, a->to, a->type, NULL, 0, 60 * SEC, &type, &data, &size);
	free(data);
	return NULL;
}

static void asks_start(struct ask *a, actor_ref_t to, uint32_t type)
{
	for (int i = 0; i < ASKS; i++) {
		a[i] = (struct ask){ .from = s[1], .to = to, .type = type, .err = 1 };
		cr_assert_eq(pthread_create(&a[i].th, NULL, ask_thread, &a[i]), 0);
	}
}

static void asks_join(struct ask *a)
{
	for (int i = 0; i < ASKS; i++)
		cr_assert_eq(pthread_join(a[i].th, NULL), 0);
}

/* Sends MAILS numbered mails from m1 to r; each is taken (0). */
static void mails(actor_ref_t r)
{
	for (int i = 0; i < MAILS; i++)
		cr_assert_eq(actor_system_send(s[1], r, SEQ, &i, sizeof i), 0, "mail %d", i);
}

static void mail_waits(const char *transport)
{
	struct ask a[ASKS];
	actor_ref_t r;

	split_join(transport, false);
	cr_assert_eq(actor_system_spawn(s[2], &recorder_spec, NULL, &r), 0);
	mails(r);
	asks_start(a, r, ECHO);
	usleep(300 * 1000);
	cr_assert_eq(atomic_load(&got), 0, "the partition let mail through");
	cr_assert(!actor_node_is_up(s[1], actor_node_id(s[2])));
	partition(false);
	for (int t = 0; t < 20000 && atomic_load(&got) < MAILS; t += 10)
		usleep(10 * 1000);
	asks_join(a);
	cr_assert_eq(atomic_load(&got), MAILS);
	cr_assert_eq(atomic_load(&out_of_order), 0);
	for (int i = 0; i < ASKS; i++)
		cr_assert_eq(a[i].err, 0, "ask %d: %s", i, actor_reason_string(a[i].err));
	destroy_all();
}

Test(pending, mail_to_a_member_not_yet_connected_waits_for_it) { mail_waits("loopback"); }
Test(pending, mail_to_a_member_not_yet_connected_waits_for_it_over_tcp) { mail_waits("epoll"); }

/* A connection between members lost (closed, and its redial's frames
 * dropped): mail sent while it is down waits for membership's redial. */
Test(pending, mail_to_a_member_being_redialed_waits_for_it)
{
	struct ask a[ASKS];
	actor_ref_t r;
	uint32_t id2;

	split_join("loopback", false);
	id2 = actor_node_id(s[2]);
	partition(false);
	for (int t = 0; t < 20000 && !actor_node_is_up(s[1], id2); t += 10)
		usleep(10 * 1000);
	cr_assert(actor_node_is_up(s[1], id2), "m1 and m2 did not connect");
	cr_assert_eq(actor_system_spawn(s[2], &recorder_spec, NULL, &r), 0);
	partition(true);
	cr_assert_eq(actor_node_disconnect(s[1], id2), 0);
	for (int t = 0; t < 20000 && actor_node_is_up(s[1], id2); t += 10)
		usleep(10 * 1000);
	cr_assert(!actor_node_is_up(s[1], id2));
	mails(r);
	asks_start(a, r, ECHO);
	usleep(300 * 1000);
	cr_assert_eq(atomic_load(&got), 0, "the partition let mail through");
	cr_assert_eq(actor_cluster_members(s[1], NULL, 0, NULL), 3, "m2 left m1's view");
	partition(false);
	for (int t = 0; t < 20000 && atomic_load(&got) < MAILS; t += 10)
		usleep(10 * 1000);
	asks_join(a);
	cr_assert_eq(atomic_load(&got), MAILS);
	cr_assert_eq(atomic_load(&out_of_order), 0);
	for (int i = 0; i < ASKS; i++)
		cr_assert_eq(a[i].err, 0, "ask %d: %s", i, actor_reason_string(a[i].err));
	destroy_all();
}

Test(pending, mail_waiting_for_a_member_declared_dead_is_failed_and_counted)
{
	struct ask a[ASKS];
	actor_node_stats_t before, after;
	actor_system_stats_t sb, sa;
	actor_ref_t r;

	split_join("loopback", false);
	cr_assert_eq(actor_system_spawn(s[2], &recorder_spec, NULL, &r), 0);
	cr_assert_eq(actor_node_stats(s[1], &before), 0);
	actor_system_stats(s[1], &sb);
	mails(r);
	asks_start(a, r, ECHO);
	usleep(200 * 1000);
	actor_system_destroy(s[2]);
	s[2] = NULL;
	/* Dead here after member_dead_ns: what waited fails then. */
	asks_join(a);
	for (int i = 0; i < ASKS; i++)
		cr_assert_eq(a[i].err, -EHOSTUNREACH, "ask %d: %s", i, actor_reason_string(a[i].err));
	cr_assert(all_see(2, 20000), "m2 was not removed");
	cr_assert_eq(actor_node_stats(s[1], &after), 0);
	actor_system_stats(s[1], &sa);
	cr_assert_eq(atomic_load(&got), 0);
	/* Every frame that waited: the mails and the requests. */
	cr_assert_eq(after.frames_lost - before.frames_lost, MAILS + ASKS);
	cr_assert_geq(sa.dead_letters - sb.dead_letters, MAILS);
	destroy_all();
}

static uint32_t owner_on(actor_system_t *sys, actor_ref_t ref)
{
	struct actor__virtual *v = actor__virtual_of(sys, false);

	return actor__vplace(v, actor__vident_at(v, ref.id));
}

Test(pending, a_virtual_actor_on_a_member_not_yet_connected_gets_its_first_message)
{
	struct ask a[ASKS];
	actor_ref_t ref;
	char key[16];
	int k;

	split_join("loopback", true);
	for (k = 0; k < 1000; k++) {
		snprintf(key, sizeof key, "%d", k);
		cr_assert_eq(actor_virtual_ref(s[1], "counter", key, strlen(key), &ref), 0);
		if (owner_on(s[1], ref) == actor_node_id(s[2]))
			break;
	}
	cr_assert_lt(k, 1000, "no key placed on m2");
	asks_start(a, ref, GET);
	usleep(300 * 1000);
	cr_assert_eq(atomic_load(&acts), 0);
	partition(false);
	asks_join(a);
	for (int i = 0; i < ASKS; i++)
		cr_assert_eq(a[i].err, 0, "ask %d: %s", i, actor_reason_string(a[i].err));
	cr_assert_eq(atomic_load(&acts), 1);
	destroy_all();
}

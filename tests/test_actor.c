/*
 * The runtime's functional tests: one behaviour per test, with the stress
 * scenarios (tests/stress/stress_sched.c) at the end.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <actor/actor.h>

#include "sched/internal.h"
#include "tests/find.h"
#include "tests/leakcheck.h"
#include "tests/stress/stress.h"

static actor_system_t *sys;
static _Atomic int counter, cleanups, order_errors;
static _Atomic int holds;	/* promises servers made (HOLD), for tests to wait on */

static void setup(void)
{
	cr_assert_eq(actor_system_create(&sys, NULL), 0);
	atomic_store(&counter, 0);
	atomic_store(&cleanups, 0);
	atomic_store(&order_errors, 0);
	atomic_store(&holds, 0);
}

static void teardown(void)
{
	actor_system_destroy(sys);
	assert_no_leaks();
}

static bool counter_reaches(void *want)
{
	return atomic_load(&counter) >= *(int *)want;
}

static void wait_counter(int want)
{
	cr_assert(stress_wait(counter_reaches, &want, 10), "counter stuck at %d, want %d",
		  atomic_load(&counter), want);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

TestSuite(actor, .init = setup, .fini = teardown, .timeout = 60);

/* --- basics ----------------------------------------------------------------- */

static void check_hello(actor_ctx_t *ctx, const actor_msg_t *m)
{
	if (actor_msg_type(m) == 7 && actor_msg_size(m) == 6 &&
	    memcmp(actor_msg_data(m), "hello", 6) == 0 && actor_ref_is_none(actor_msg_sender(m)))
		atomic_fetch_add(&counter, 1);
}

Test(actor, send_from_outside)
{
	static const actor_spec_t spec = { .handler = check_hello };
	actor_ref_t a;

	cr_assert_eq(actor_system_spawn(sys, &spec, NULL, &a), 0);
	cr_assert_not(actor_ref_is_none(a));
	cr_assert_eq(actor_system_send(sys, a, 7, "hello", 6), 0);
	wait_counter(1);
}

Test(actor, spawn_rejects_bad_specs)
{
	static const actor_spec_t no_handler = { .name = "x" };
	actor_ref_t a;

	cr_assert_eq(actor_system_spawn(sys, NULL, NULL, &a), -EINVAL);
	cr_assert_eq(actor_system_spawn(sys, &no_handler, NULL, &a), -EINVAL);
}

Test(actor, config_rejects_zero_sleeps)
{
	actor_config_t cfg;
	actor_system_t *other;

	actor_config_init(&cfg);
	cfg.moderate_sleep_us = 0;
	cr_assert_eq(actor_system_create(&other, &cfg), -EINVAL);
	actor_config_init(&cfg);
	cfg.max_throughput = 0;
	cr_assert_eq(actor_system_create(&other, &cfg), -EINVAL);
}

/* actor_msg_claim hands payloads over, inline or moved, exactly once. */
static void *moved_buf;

static void claim_twice(actor_ctx_t *ctx, const actor_msg_t *m)
{
	void (*buf_free)(void *), (*again_free)(void *);
	size_t size = actor_msg_size(m);
	void *buf = actor_msg_claim(m, &buf_free), *again = actor_msg_claim(m, &again_free);

	if (buf == NULL || buf_free != free || again != NULL || actor_msg_size(m) != 0 ||
	    memcmp(buf, actor_msg_type(m) == 1 ? "inline" : moved_buf, size) != 0)
		atomic_fetch_add(&order_errors, 1);
	if (actor_msg_type(m) == 2 && buf != moved_buf)
		atomic_fetch_add(&order_errors, 1);	/* a moved buffer is not copied */
	free(buf);
	atomic_fetch_add(&counter, 1);
}

Test(actor, claim_takes_the_payload_once)
{
	static const actor_spec_t spec = { .handler = claim_twice };
	actor_ref_t a;

	moved_buf = strdup("a moved buffer");
	actor_system_spawn(sys, &spec, NULL, &a);
	actor_system_send(sys, a, 1, "inline", 7);
	cr_assert_eq(actor_system_send_moved(sys, a, 2, moved_buf, strlen(moved_buf) + 1, free), 0);
	wait_counter(2);
	cr_assert_eq(atomic_load(&order_errors), 0);
}

/* Ordering between one sender and one receiver, sender identity. */
struct orderer {
	actor_ref_t peer;
	uint32_t next;
};

static void order_receiver(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct orderer *s = actor_self_state(ctx);

	if (*(const uint32_t *)actor_msg_data(m) != s->next++ ||
	    !actor_ref_equal(actor_msg_sender(m), s->peer))
		atomic_fetch_add(&order_errors, 1);
	atomic_fetch_add(&counter, 1);
}

static void order_sender(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct orderer *s = actor_self_state(ctx);

	if (actor_msg_type(m) == 1) {	/* set the peer, and tell it who we are */
		s->peer = *(const actor_ref_t *)actor_msg_data(m);
		actor_ref_t self = actor_self(ctx);
		actor_system_send(actor_ctx_system(ctx), s->peer, 1, &self, sizeof self);
		return;
	}
	for (uint32_t i = 0; i < 10000; i++)
		actor_send(ctx, s->peer, 2, &i, sizeof i);
}

static void order_receiver_setup(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct orderer *s = actor_self_state(ctx);

	s->peer = *(const actor_ref_t *)actor_msg_data(m);
	actor_become(ctx, order_receiver);
}

Test(actor, order_per_sender_and_become)
{
	static const actor_spec_t sender = { .handler = order_sender,
					     .state_size = sizeof(struct orderer) };
	static const actor_spec_t receiver = { .handler = order_receiver_setup,
					       .state_size = sizeof(struct orderer) };
	actor_ref_t a, b;

	actor_system_spawn(sys, &sender, NULL, &a);
	actor_system_spawn(sys, &receiver, NULL, &b);
	actor_system_send(sys, a, 1, &b, sizeof b);
	sleep_ms(20);
	actor_system_send(sys, a, 2, NULL, 0);
	wait_counter(10000);
	cr_assert_eq(atomic_load(&order_errors), 0);
}

/* --- life cycle ------------------------------------------------------------- */

static _Atomic int init_seen_first;

static int lifecycle_init(actor_ctx_t *ctx, void *arg)
{
	*(int *)actor_self_state(ctx) = 42;
	atomic_store(&init_seen_first, arg == (void *)&counter);
	return 0;
}

static void lifecycle_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	if (*(int *)actor_self_state(ctx) != 42)
		atomic_fetch_add(&order_errors, 1);
	atomic_fetch_add(&counter, 1);
	if (actor_msg_type(m) == 99)
		actor_stop(ctx, 5);
}

static void lifecycle_cleanup(actor_ctx_t *ctx)
{
	atomic_fetch_add(&cleanups, 1);
}

static const actor_spec_t lifecycle = {
	.name = "lifecycle", .handler = lifecycle_handler, .state_size = sizeof(int),
	.init = lifecycle_init, .cleanup = lifecycle_cleanup,
};

static bool stopped_count(void *want)
{
	actor_system_stats_t st;

	actor_system_stats(sys, &st);
	return st.stopped >= *(uint64_t *)want;
}

static void wait_stopped(uint64_t n)
{
	cr_assert(stress_wait(stopped_count, &n, 10), "actors did not stop");
}

Test(actor, init_first_then_stop_with_cleanup_once)
{
	actor_ref_t a;

	cr_assert_eq(actor_system_spawn(sys, &lifecycle, &counter, &a), 0);
	actor_system_send(sys, a, 1, NULL, 0);
	actor_system_send(sys, a, 99, NULL, 0);
	wait_stopped(1);
	cr_assert_eq(atomic_load(&init_seen_first), 1);
	cr_assert_eq(atomic_load(&counter), 2);
	cr_assert_eq(atomic_load(&order_errors), 0, "init ran before the first message");
	cr_assert_eq(atomic_load(&cleanups), 1);
	cr_assert_eq(actor_system_send(sys, a, 1, NULL, 0), -ESRCH, "stale reference");
	cr_assert_eq(actor_exit(sys, a, 1), -ESRCH);
	sleep_ms(20);
	cr_assert_eq(atomic_load(&cleanups), 1, "cleanup runs exactly once");
}

static int failing_init(actor_ctx_t *ctx, void *arg)
{
	return -EINVAL;
}

Test(actor, failed_init_stops_the_actor)
{
	static const actor_spec_t spec = { .handler = lifecycle_handler, .init = failing_init,
					   .cleanup = lifecycle_cleanup };
	actor_ref_t a;

	cr_assert_eq(actor_system_spawn(sys, &spec, NULL, &a), 0);
	wait_stopped(1);
	cr_assert_eq(atomic_load(&counter), 0, "no message reaches a failed actor");
	cr_assert_eq(atomic_load(&cleanups), 1);
}

Test(actor, exit_from_outside_and_shutdown_run_cleanup)
{
	actor_ref_t a, b;

	actor_system_spawn(sys, &lifecycle, NULL, &a);
	actor_system_spawn(sys, &lifecycle, NULL, &b);
	cr_assert_eq(actor_exit(sys, a, 3), 0);
	wait_stopped(1);
	cr_assert_eq(atomic_load(&cleanups), 1);
	actor_system_shutdown(sys);
	cr_assert_eq(atomic_load(&cleanups), 2, "shutdown stopped the other one");
	cr_assert_eq(actor_system_send(sys, b, 1, NULL, 0), -ESHUTDOWN);
	cr_assert_eq(actor_system_spawn(sys, &lifecycle, NULL, &a), -ESHUTDOWN);
}

/* --- dead letters ----------------------------------------------------------- */

static _Atomic int hook_calls;

static void count_dead(void *arg, actor_ref_t to, uint32_t type, const void *data, size_t size)
{
	if (type == 5 && size == sizeof(int))
		atomic_fetch_add(&hook_calls, 1);
}

static void stop_at_once(actor_ctx_t *ctx, const actor_msg_t *m)
{
	actor_stop(ctx, ACTOR_EXIT_NORMAL);
}

Test(actor, dead_letters_counted_exactly)
{
	static const actor_spec_t spec = { .handler = stop_at_once };
	actor_config_t cfg;
	actor_system_stats_t st;
	actor_ref_t a;
	int x = 1;

	actor_system_destroy(sys);
	actor_config_init(&cfg);
	cfg.dead_letter = count_dead;
	cr_assert_eq(actor_system_create(&sys, &cfg), 0);
	atomic_store(&hook_calls, 0);

	/* Five sent: the first stops it; the other four are dead letters,
	 * whether they were queued in time or arrived after it stopped. */
	actor_system_spawn(sys, &spec, NULL, &a);
	for (int i = 0; i < 5; i++)
		actor_system_send(sys, a, 5, &x, sizeof x);
	wait_stopped(1);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(actor_system_send(sys, a, 5, &x, sizeof x), -ESRCH);
	cr_assert_eq(actor_system_send(sys, ACTOR_REF_NONE, 5, &x, sizeof x), -ESRCH);
	actor_system_stats(sys, &st);
	cr_assert_eq(st.dead_letters, 1005);
	cr_assert_eq(atomic_load(&hook_calls), 1005);
}

/* --- bounded mailboxes ------------------------------------------------------ */

static _Atomic int gate;

static void wait_at_gate(actor_ctx_t *ctx, const actor_msg_t *m)
{
	atomic_fetch_add(&counter, 1);
	while (!atomic_load(&gate))
		sleep_ms(1);
}

Test(actor, bounded_mailbox_refuses_when_full)
{
	static const actor_spec_t spec = { .handler = wait_at_gate, .mailbox_capacity = 4 };
	actor_ref_t a;

	atomic_store(&gate, 0);
	actor_system_spawn(sys, &spec, NULL, &a);
	actor_system_send(sys, a, 1, NULL, 0);
	wait_counter(1);	/* the first is being handled, the mailbox is empty */
	for (int i = 0; i < 4; i++)
		cr_assert_eq(actor_system_send(sys, a, 1, NULL, 0), 0);
	cr_assert_eq(actor_system_send(sys, a, 1, NULL, 0), -EAGAIN);
	cr_assert_eq(actor_exit(sys, a, 1), 0, "urgent mail gets past the bound");
	atomic_store(&gate, 1);
	wait_stopped(1);
}

/* --- scheduling ------------------------------------------------------------- */

static _Atomic int inside, overlaps;

static void exclusive(actor_ctx_t *ctx, const actor_msg_t *m)
{
	if (atomic_exchange(&inside, 1) != 0)
		atomic_fetch_add(&overlaps, 1);
	for (volatile int i = 0; i < 200; i++)
		;
	atomic_store(&inside, 0);
	atomic_fetch_add(&counter, 1);
}

static actor_ref_t exclusive_ref;

static void *send_many(void *arg)
{
	for (int i = 0; i < 20000; i++)
		actor_system_send(sys, exclusive_ref, 1, NULL, 0);
	return NULL;
}

Test(actor, handler_never_runs_concurrently_with_itself)
{
	static const actor_spec_t spec = { .handler = exclusive };
	pthread_t tid[4];

	actor_system_spawn(sys, &spec, NULL, &exclusive_ref);
	for (int i = 0; i < 4; i++)
		pthread_create(&tid[i], NULL, send_many, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(tid[i], NULL);
	wait_counter(80000);
	cr_assert_eq(atomic_load(&overlaps), 0);
}

/* A flood to one actor must not starve another on the same worker. */
static void flood_self(actor_ctx_t *ctx, const actor_msg_t *m)
{
	actor_send(ctx, actor_self(ctx), 1, NULL, 0);
}

static void bump(actor_ctx_t *ctx, const actor_msg_t *m)
{
	atomic_fetch_add(&counter, 1);
}

Test(actor, busy_actor_yields_to_others)
{
	static const actor_spec_t flood = { .handler = flood_self };
	static const actor_spec_t other = { .handler = bump };
	actor_config_t cfg;
	actor_ref_t f, o;

	actor_system_destroy(sys);
	actor_config_init(&cfg);
	cfg.workers = 1;
	cr_assert_eq(actor_system_create(&sys, &cfg), 0);
	actor_system_spawn(sys, &flood, NULL, &f);
	actor_system_spawn(sys, &other, NULL, &o);
	actor_system_send(sys, f, 1, NULL, 0);
	sleep_ms(10);
	for (int i = 0; i < 100; i++)
		actor_system_send(sys, o, 1, NULL, 0);
	wait_counter(100);
}

/* A long handler must not hold up the actor it woke (CAF #1866). */
static _Atomic int long_done, woken_ran_during;

static void woken(actor_ctx_t *ctx, const actor_msg_t *m)
{
	atomic_store(&woken_ran_during, !atomic_load(&long_done));
	atomic_fetch_add(&counter, 1);
}

static void long_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	actor_send(ctx, *(const actor_ref_t *)actor_msg_data(m), 1, NULL, 0);
	sleep_ms(1500);
	atomic_store(&long_done, 1);
}

Test(actor, woken_actor_is_stolen_from_a_busy_worker)
{
	static const actor_spec_t l = { .handler = long_handler };
	static const actor_spec_t w = { .handler = woken };
	actor_config_t cfg;
	actor_ref_t a, b;

	actor_system_destroy(sys);
	actor_config_init(&cfg);
	cfg.workers = 2;
	cr_assert_eq(actor_system_create(&sys, &cfg), 0);
	sleep_ms(300);		/* let both workers park */
	actor_system_spawn(sys, &l, NULL, &a);
	actor_system_spawn(sys, &w, NULL, &b);
	actor_system_send(sys, a, 1, &b, sizeof b);
	wait_counter(1);
	cr_assert_eq(atomic_load(&woken_ran_during), 1, "it waited for the long handler");
}

Test(actor, idle_system_sleeps)
{
	struct timespec t0, t1;
	double cpu;

	sleep_ms(400);		/* through the tiers */
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	sleep_ms(500);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	cpu = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
	cr_assert_lt(cpu, 0.025, "an idle system used %.1f ms of CPU in 500 ms", cpu * 1e3);
}

Test(actor, shutdown_of_parked_workers_leaves_no_searcher)
{
	actor_system_t *s;
	actor_config_t cfg;

	actor_config_init(&cfg);
	cfg.workers = 2;
	cfg.aggressive_polls = cfg.moderate_polls = cfg.relaxed_polls = 1;
	cr_assert_eq(actor_system_create(&s, &cfg), 0);
	sleep_ms(100);		/* both park for good */
	actor_system_shutdown(s);
	/* Woken to stop, a worker used to give back a count it never took
	 * (the counter wrapped). */
	cr_assert_eq(atomic_load(&s->nsearching), 0);
	actor_system_destroy(s);
}

/* --- slot reuse --------------------------------------------------------------- */

#define REUSE_ROUNDS 300

struct reuse {
	uint32_t slots[REUSE_ROUNDS];
	int n;
};

static void short_lived(actor_ctx_t *ctx, const actor_msg_t *m)
{
	actor_send(ctx, actor_msg_sender(m), 2, NULL, 0);
	actor_stop(ctx, ACTOR_EXIT_NORMAL);
}

static const actor_spec_t short_lived_spec = { .name = "short", .handler = short_lived };

/* Spawns a child, waits for it to stop, spawns the next one. */
static void reuser(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct reuse *r = actor_self_state(ctx);
	actor_ref_t child;

	if (r->n == REUSE_ROUNDS) {
		atomic_store(&counter, 1);
		return;
	}
	cr_assert_eq(actor_spawn(ctx, &short_lived_spec, NULL, &child), 0);
	r->slots[r->n++] = (uint32_t)child.id;
	for (int i = r->n - 2; i >= 0 && i > r->n - 1 - 64; i--)
		if (r->slots[i] == (uint32_t)child.id)
			atomic_fetch_add(&order_errors, 1);
	actor_send(ctx, child, 1, NULL, 0);
}

static const actor_spec_t reuser_spec = { .name = "reuser", .handler = reuser,
					  .state_size = sizeof(struct reuse) };

Test(actor, a_freed_slot_waits_for_64_spawns)
{
	actor_ref_t r;

	cr_assert_eq(actor_system_spawn(sys, &reuser_spec, NULL, &r), 0);
	cr_assert_eq(actor_system_send(sys, r, 1, NULL, 0), 0);
	wait_counter(1);
	/* Its stale references stay stale 64 times longer than with a LIFO. */
	cr_assert_eq(atomic_load(&order_errors), 0, "a slot came back within 64 spawns");
}

/*
 * The same at the table, with workers that are not running: a slot freed on
 * a worker whose cache is empty (an actor stolen from its spawner's worker)
 * or full waits behind 64 others there. Both came back at once before.
 */
static void assert_waits(struct actor__worker *w, struct actor__actor *freed, const char *why)
{
	for (int i = 0; i < 64; i++) {
		struct actor__actor *got;

		cr_assert_eq(actor__slot_alloc(sys, w, &got), 0);
		cr_assert_neq(got, freed, "%s: back after %d spawns", why, i);
	}
}

Test(actor, a_slot_freed_on_an_empty_or_full_cache_waits_for_64_spawns)
{
	struct actor__worker *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct actor__actor *x, *filler;

	cr_assert(a != NULL && b != NULL);
	cr_assert_eq(actor__slot_alloc(sys, a, &x), 0);
	actor__slot_release(sys, b, x);
	assert_waits(b, x, "empty cache");

	while (b->nfree_slots < 256) {
		cr_assert_eq(actor__slot_alloc(sys, a, &filler), 0);
		actor__slot_release(sys, b, filler);
	}
	cr_assert_eq(actor__slot_alloc(sys, a, &x), 0);
	actor__slot_release(sys, b, x);
	assert_waits(b, x, "full cache");
	assert_waits(a, x, "another worker");
	free(a);
	free(b);
}

/* --- registry ---------------------------------------------------------------- */

Test(actor, registry_names_live_and_die_with_their_actors)
{
	static const actor_spec_t spec = { .handler = bump };
	char long_name[ACTOR_NAME_MAX + 2];
	actor_ref_t a, b, found;

	actor_system_spawn(sys, &spec, NULL, &a);
	actor_system_spawn(sys, &spec, NULL, &b);
	cr_assert_eq(actor_register(sys, "alice", a), 0);
	cr_assert_eq(actor_register(sys, "alias", a), 0);
	cr_assert_eq(actor_register(sys, "alice", b), -EEXIST);
	cr_assert_eq(actor_lookup(sys, "alice", &found), 0);
	cr_assert(actor_ref_equal(found, a));
	cr_assert_eq(actor_lookup(sys, "bob", &found), -ENOENT);
	cr_assert_eq(actor_register(sys, "", a), -EINVAL);
	memset(long_name, 'x', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	cr_assert_eq(actor_register(sys, long_name, a), -EINVAL);
	cr_assert_eq(actor_register(sys, "ghost", ACTOR_REF_NONE), -ESRCH);

	cr_assert_eq(actor_unregister(sys, "alias"), 0);
	cr_assert_eq(actor_unregister(sys, "alias"), -ENOENT);
	actor_exit(sys, a, 0);
	wait_stopped(1);
	cr_assert_eq(actor_lookup(sys, "alice", &found), -ENOENT, "freed when the actor stopped");
	cr_assert_eq(actor_register(sys, "alice", b), 0, "and free to take");
	cr_assert_eq(actor_lookup(sys, "alice", &found), 0);
	cr_assert(actor_ref_equal(found, b));
}

static void *register_many(void *arg)
{
	actor_ref_t *refs = arg;
	char name[32];

	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof name, "n%d", i);
		/* Two threads race for every name: exactly one wins. */
		if (actor_register(sys, name, refs[i % 10]) == 0)
			atomic_fetch_add(&counter, 1);
	}
	return NULL;
}

Test(actor, registry_races_have_one_winner)
{
	static const actor_spec_t spec = { .handler = bump };
	actor_ref_t refs[10];
	pthread_t tid[2];
	actor_ref_t found;

	for (int i = 0; i < 10; i++)
		actor_system_spawn(sys, &spec, NULL, &refs[i]);
	for (int i = 0; i < 2; i++)
		pthread_create(&tid[i], NULL, register_many, refs);
	for (int i = 0; i < 2; i++)
		pthread_join(tid[i], NULL);
	cr_assert_eq(atomic_load(&counter), 2000);
	cr_assert_eq(actor_lookup(sys, "n1999", &found), 0);
	for (int i = 0; i < 10; i++)
		actor_exit(sys, refs[i], 0);
	wait_stopped(10);
	cr_assert_eq(actor_lookup(sys, "n1999", &found), -ENOENT);
}

/* --- timers ---------------------------------------------------------------- */


static void tick_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	actor_timer_t t;

	switch (actor_msg_type(m)) {
	case 1:		/* arm: one timer to keep, one to cancel */
		actor_send_after(ctx, actor_self(ctx), 30 * 1000000ull, 2, NULL, 0, NULL);
		actor_send_after(ctx, actor_self(ctx), 10 * 1000000ull, 3, NULL, 0, &t);
		if (actor_timer_cancel(actor_ctx_system(ctx), t) != 0)
			atomic_fetch_add(&order_errors, 1);
		break;
	case 2:
		if (!actor_ref_equal(actor_msg_sender(m), actor_self(ctx)))
			atomic_fetch_add(&order_errors, 1);
		atomic_fetch_add(&counter, 1);
		break;
	case 3:
		atomic_fetch_add(&order_errors, 1);	/* was cancelled */
		break;
	}
}

Test(actor, delayed_send_and_cancel)
{
	static const actor_spec_t spec = { .handler = tick_handler };
	struct timespec t0, t1;
	actor_ref_t a;
	actor_timer_t t;

	actor_system_spawn(sys, &spec, NULL, &a);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	actor_system_send(sys, a, 1, NULL, 0);
	wait_counter(1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_geq((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec),
		      30 * 1000000L, "fired early");
	sleep_ms(30);
	cr_assert_eq(atomic_load(&order_errors), 0, "wrong sender, or a cancelled timer fired");
	cr_assert_eq(actor_timer_cancel(sys, (actor_timer_t){ 0 }), -ENOENT);
	cr_assert_eq(actor_system_send_after(sys, a, 1000000000ull, 2, NULL, 0, &t), 0);
	cr_assert_eq(actor_timer_cancel(sys, t), 0);
	cr_assert_eq(actor_timer_cancel(sys, t), -ENOENT, "cancelled twice");
	actor_exit(sys, a, 0);
	wait_stopped(1);
	cr_assert_eq(actor_system_send_after(sys, a, 1000, 2, NULL, 0, NULL), -ESRCH);
}

/* --- requests and replies --------------------------------------------------- */

enum { ECHO = 10, SILENT, HOLD, RELEASE, VIA, ASK_FROM_HANDLER, STOP_OWING };

struct server {
	actor_promise_t held;
	actor_ref_t next;
};

static bool holds_reach(void *want)
{
	return atomic_load(&holds) >= *(int *)want;
}

static void wait_holds(int want)
{
	cr_assert(stress_wait(holds_reach, &want, 10), "holds stuck at %d, want %d",
		  atomic_load(&holds), want);
}

/* ECHO replies at once; SILENT never; HOLD promises, RELEASE delivers;
 * VIA forwards to the actor set with an earlier VIA, or answers if none;
 * STOP_OWING forwards the same way, or stops without answering if none. */
static void server(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct server *s = actor_self_state(ctx);
	actor_promise_t again;
	uint32_t rt;
	void *reply;

	switch (actor_msg_type(m)) {
	case ECHO:
		if (actor_reply(ctx, m, ECHO, actor_msg_data(m), actor_msg_size(m)) != 0 ||
		    actor_reply(ctx, m, ECHO, NULL, 0) != -EALREADY)
			atomic_fetch_add(&order_errors, 1);
		break;
	case HOLD:
		if (actor_promise(ctx, m, &s->held) != 0 || actor_promise(ctx, m, &again) != -EALREADY)
			atomic_fetch_add(&order_errors, 1);
		atomic_fetch_add(&holds, 1);
		break;
	case RELEASE:
		if (actor_reply(ctx, m, 0, NULL, 0) != -EINVAL ||	/* not a request */
		    actor_promise_deliver(ctx, &s->held, HOLD, "late", 5) != 0 ||
		    actor_promise_deliver(ctx, &s->held, HOLD, "late", 5) != -EALREADY)
			atomic_fetch_add(&order_errors, 1);
		break;
	case VIA:
		if (actor_msg_size(m) == sizeof(actor_ref_t)) {
			s->next = *(const actor_ref_t *)actor_msg_data(m);
			break;
		}
		if (actor_ref_is_none(s->next)) {	/* the last hop answers */
			actor_reply(ctx, m, ECHO, actor_msg_data(m), actor_msg_size(m));
			break;
		}
		if (actor_forward(ctx, m, s->next) != 0 || actor_reply(ctx, m, 0, NULL, 0) != -EALREADY)
			atomic_fetch_add(&order_errors, 1);
		break;
	case STOP_OWING:
		if (actor_ref_is_none(s->next))
			actor_stop(ctx, -EIO);
		else if (actor_forward(ctx, m, s->next) != 0)
			atomic_fetch_add(&order_errors, 1);
		break;
	case ASK_FROM_HANDLER:
		if (actor_system_ask(actor_ctx_system(ctx), actor_self(ctx), ECHO, NULL, 0, 1000000,
				     &rt, &reply, NULL) != -EDEADLK)
			atomic_fetch_add(&order_errors, 1);
		atomic_fetch_add(&counter, 1);
		break;
	}
}

static const actor_spec_t server_spec = { .handler = server, .state_size = sizeof(struct server) };

struct client {
	actor_ref_t server;
	int expect_error;
	uint32_t expect_type;
	const char *expect;
	actor_ref_t expect_from;
};

static _Atomic int last_error;

static void client_then(actor_ctx_t *ctx, const actor_msg_t *reply, int error, void *arg)
{
	struct client *c = arg;

	atomic_store(&last_error, error);
	if (error != c->expect_error)
		atomic_fetch_add(&order_errors, 1);
	else if (error == 0 && (actor_msg_type(reply) != c->expect_type ||
				strcmp(actor_msg_data(reply), c->expect) != 0 ||
				(!actor_ref_is_none(c->expect_from) &&
				 !actor_ref_equal(actor_msg_sender(reply), c->expect_from))))
		atomic_fetch_add(&order_errors, 1);
	atomic_fetch_add(&counter, 1);
}

/* A client actor: its message is (request type, timeout ms); it asks. */
struct ask_msg {
	uint32_t type;
	uint32_t timeout_ms;
	struct client *c;
};

static void client(actor_ctx_t *ctx, const actor_msg_t *m)
{
	const struct ask_msg *q = actor_msg_data(m);
	int err = actor_request(ctx, q->c->server, q->type, "ping", 5,
				q->timeout_ms * 1000000ull, client_then, q->c);

	if (err != 0) {
		atomic_store(&last_error, err);
		atomic_fetch_add(&counter, 1);
	}
}

static const actor_spec_t client_spec = { .handler = client };

static void ask_via(actor_ref_t cl, uint32_t type, uint32_t timeout_ms, struct client *c)
{
	struct ask_msg q = { type, timeout_ms, c };

	actor_system_send(sys, cl, 1, &q, sizeof q);
}

Test(actor, request_reply_timeout_and_late_reply)
{
	static struct client echo = { .expect_type = ECHO, .expect = "ping" };
	static struct client silent = { .expect_error = -EPIPE };
	static struct client held = { .expect_error = -ETIMEDOUT };
	actor_ref_t srv, cl;
	actor_system_stats_t st;

	actor_system_spawn(sys, &server_spec, NULL, &srv);
	actor_system_spawn(sys, &client_spec, NULL, &cl);
	echo.server = silent.server = held.server = srv;
	ask_via(cl, ECHO, 1000, &echo);
	wait_counter(1);
	ask_via(cl, SILENT, 10000, &silent);	/* unanswered: fails at once */
	wait_counter(2);
	ask_via(cl, HOLD, 20, &held);	/* promised, but delivered too late */
	wait_counter(3);
	actor_system_send(sys, srv, RELEASE, NULL, 0);
	sleep_ms(50);
	actor_system_stats(sys, &st);
	cr_assert_eq(st.late_replies, 1, "the late reply was dropped and counted");
	cr_assert_eq(atomic_load(&order_errors), 0);
}

Test(actor, request_to_dead_or_dying_actor_fails_at_once)
{
	static struct client dead = { .expect_error = -ESRCH };
	static struct client dying = { .expect_error = -ESRCH };
	static const actor_spec_t gate_spec = { .handler = wait_at_gate };
	actor_ref_t srv, cl, slow;
	struct timespec t0, t1;

	actor_system_spawn(sys, &server_spec, NULL, &srv);
	actor_system_spawn(sys, &client_spec, NULL, &cl);
	actor_exit(sys, srv, 0);
	wait_stopped(1);
	dead.server = srv;
	ask_via(cl, ECHO, 0, &dead);
	wait_counter(1);
	cr_assert_eq(atomic_load(&last_error), -ESRCH, "refused synchronously");

	/* The target stops with the request queued: -ESRCH, not the timeout. */
	atomic_store(&gate, 0);
	actor_system_spawn(sys, &gate_spec, NULL, &slow);
	actor_system_send(sys, slow, 1, NULL, 0);
	wait_counter(2);			/* slow is stuck at the gate */
	dying.server = slow;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ask_via(cl, ECHO, 10000, &dying);
	sleep_ms(20);
	actor_exit(sys, slow, 0);
	atomic_store(&gate, 1);
	wait_counter(3);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_lt(t1.tv_sec - t0.tv_sec, 5, "it waited for the timeout");
	cr_assert_eq(atomic_load(&order_errors), 0);
}

Test(actor, requester_stops_with_a_request_pending)
{
	static struct client pending = { .expect_error = 0 };
	actor_ref_t srv, cl;
	actor_system_stats_t st;

	actor_system_spawn(sys, &server_spec, NULL, &srv);
	actor_system_spawn(sys, &client_spec, NULL, &cl);
	pending.server = srv;
	ask_via(cl, HOLD, 100, &pending);	/* promised, answered later */
	sleep_ms(20);
	actor_exit(sys, cl, 0);
	wait_stopped(1);
	actor_system_send(sys, srv, RELEASE, NULL, 0);
	sleep_ms(150);				/* past the timeout, too */
	cr_assert_eq(atomic_load(&counter), 0, "the continuation ran after its actor stopped");
	actor_system_stats(sys, &st);
	cr_assert_eq(st.dead_letters, 1, "the reply became a dead letter");
}

Test(actor, forward_lets_the_last_actor_answer)
{
	static struct client via = { .expect_type = ECHO, .expect = "ping" };
	actor_ref_t front, back, cl;

	actor_system_spawn(sys, &server_spec, NULL, &front);
	actor_system_spawn(sys, &server_spec, NULL, &back);
	actor_system_spawn(sys, &client_spec, NULL, &cl);
	actor_system_send(sys, front, VIA, &back, sizeof back);
	via.server = front;
	via.expect_from = back;		/* back answers the client directly */
	ask_via(cl, VIA, 1000, &via);
	wait_counter(1);
	cr_assert_eq(atomic_load(&order_errors), 0);
}

/* Milliseconds since t0. */
static long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

Test(actor, request_fails_when_its_callee_stops_in_the_handler)
{
	static struct client crashed = { .expect_error = -EPIPE };
	actor_ref_t srv, cl;
	struct timespec t0;
	void *reply = NULL;

	actor_system_spawn(sys, &server_spec, NULL, &srv);
	actor_system_spawn(sys, &client_spec, NULL, &cl);
	crashed.server = srv;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ask_via(cl, STOP_OWING, 10000, &crashed);
	wait_counter(1);
	cr_assert_lt(ms_since(&t0), 5000, "it waited for the timeout");
	cr_assert_eq(atomic_load(&last_error), -EPIPE);
	cr_assert_eq(atomic_load(&order_errors), 0);
	/* From outside too, and queued behind the stop: -ESRCH. */
	actor_system_spawn(sys, &server_spec, NULL, &srv);
	cr_assert_eq(actor_system_ask(sys, srv, STOP_OWING, NULL, 0, 10 * 1000000000ull, NULL, &reply,
				      NULL), -EPIPE);
	cr_assert_eq(actor_system_ask(sys, srv, ECHO, NULL, 0, 10 * 1000000000ull, NULL, &reply,
				      NULL), -ESRCH);
}

Test(actor, request_fails_when_its_promise_holder_stops)
{
	static struct client broken = { .expect_error = -EPIPE };
	static struct client kept = { .expect_type = HOLD, .expect = "late" };
	actor_ref_t srv, cl;
	actor_system_stats_t st;

	actor_system_spawn(sys, &server_spec, NULL, &srv);
	actor_system_spawn(sys, &client_spec, NULL, &cl);
	/* A promise delivered before the stop is answered once, no failure. */
	kept.server = srv;
	ask_via(cl, HOLD, 10000, &kept);
	wait_holds(1);
	actor_system_send(sys, srv, RELEASE, NULL, 0);
	wait_counter(1);
	/* A promise still held when its actor stops fails the request. */
	broken.server = srv;
	ask_via(cl, HOLD, 10000, &broken);
	wait_holds(2);
	actor_exit(sys, srv, ACTOR_EXIT_KILL);
	wait_counter(2);
	cr_assert_eq(atomic_load(&last_error), -EPIPE);
	sleep_ms(20);
	cr_assert_eq(atomic_load(&counter), 2, "one outcome per request");
	cr_assert_eq(atomic_load(&order_errors), 0);
	actor_system_stats(sys, &st);
	cr_assert_eq(st.late_replies, 0);
}

Test(actor, request_fails_when_the_last_actor_of_a_forward_chain_stops)
{
	static struct client chain = { .expect_error = -EPIPE };
	actor_ref_t front, middle, back, cl;
	struct timespec t0;

	actor_system_spawn(sys, &server_spec, NULL, &front);
	actor_system_spawn(sys, &server_spec, NULL, &middle);
	actor_system_spawn(sys, &server_spec, NULL, &back);
	actor_system_spawn(sys, &client_spec, NULL, &cl);
	actor_system_send(sys, front, VIA, &middle, sizeof middle);
	actor_system_send(sys, middle, VIA, &back, sizeof back);
	chain.server = front;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ask_via(cl, STOP_OWING, 10000, &chain);
	wait_counter(1);
	cr_assert_lt(ms_since(&t0), 5000, "it waited for the timeout");
	cr_assert_eq(atomic_load(&order_errors), 0);
	wait_stopped(1);		/* back, and only back */
}

Test(actor, lookup_async_finds_local_names_from_a_handler)
{
	actor_ref_t srv;

	actor_system_spawn(sys, &server_spec, NULL, &srv);
	cr_assert_eq(actor_register(sys, "server", srv), 0);
	cr_assert_eq(find_in(sys, 0, "server"), 0);
	cr_assert(actor_ref_equal(found_ref, srv));
	cr_assert_eq(find_in(sys, 0, "nobody"), -ENOENT);
	cr_assert(actor_ref_is_none(found_ref));
	cr_assert_eq(find_in(sys, 0, NULL), -EINVAL);
	/* This system's node id names it too, with no node started. */
	cr_assert_eq(find_in(sys, srv.node, "server"), 0);
	cr_assert(actor_ref_equal(found_ref, srv));
	/* Another node's name service: no node, no route. */
	cr_assert_eq(find_in(sys, srv.node + 1, "server"), -EHOSTUNREACH);
}

/* actor_request_with: the argument is freed once when `then` never runs. */
static _Atomic int arg_frees, arg_then_runs, arg_call_errors;

static void counted_free(void *arg)
{
	atomic_fetch_add(&arg_frees, 1);
	free(arg);
}

static void owning_then(actor_ctx_t *ctx, const actor_msg_t *reply, int error, void *arg)
{
	free(arg);			/* `then` runs: the argument is its own */
	atomic_fetch_add(&arg_then_runs, 1);
	atomic_fetch_add(&counter, 1);
}

struct owning_ask {
	actor_ref_t to;
	uint32_t type;
};

static void owning_client(actor_ctx_t *ctx, const actor_msg_t *m)
{
	const struct owning_ask *q = actor_msg_data(m);
	char *arg = malloc(32);

	if (actor_request_with(ctx, q->to, q->type, NULL, 0, 0, owning_then, arg,
			       counted_free) != 0)
		atomic_fetch_add(&arg_call_errors, 1);
	atomic_fetch_add(&counter, 1);
}

static const actor_spec_t owning_spec = { .handler = owning_client };

static actor_ref_t owning_ask(actor_ref_t to, uint32_t type)
{
	struct owning_ask q = { to, type };
	actor_ref_t cl;

	actor_system_spawn(sys, &owning_spec, NULL, &cl);
	actor_system_send(sys, cl, 1, &q, sizeof q);
	return cl;
}

Test(actor, request_with_frees_the_argument_once_when_then_never_runs)
{
	actor_ref_t srv, dead, cl;

	actor_system_spawn(sys, &server_spec, NULL, &srv);
	/* Answered: `then` runs and frees; arg_free is not called. */
	owning_ask(srv, ECHO);
	wait_counter(2);
	cr_assert_eq(atomic_load(&arg_then_runs), 1);
	cr_assert_eq(atomic_load(&arg_frees), 0);
	/* The call fails at once: freed before it returns. */
	actor_system_spawn(sys, &server_spec, NULL, &dead);
	actor_exit(sys, dead, 0);
	wait_stopped(1);
	owning_ask(dead, ECHO);
	wait_counter(3);
	cr_assert_eq(atomic_load(&arg_call_errors), 1);
	cr_assert_eq(atomic_load(&arg_frees), 1);
	/* The requester stops with its request pending (promised, kept). */
	cl = owning_ask(srv, HOLD);
	wait_counter(4);
	sleep_ms(20);
	actor_exit(sys, cl, 0);
	wait_stopped(2);
	cr_assert_eq(atomic_load(&arg_frees), 2);
	/* Shutdown with a request pending. Its continuation runs if the
	 * server's stop (-EPIPE for its promise) reaches the requester before
	 * the requester's own stop; arg_free runs otherwise: one of the two. */
	actor_system_spawn(sys, &server_spec, NULL, &srv);
	owning_ask(srv, HOLD);
	wait_counter(5);
	sleep_ms(20);
	actor_system_destroy(sys);
	cr_assert_eq(atomic_load(&arg_frees) + atomic_load(&arg_then_runs), 4,
		     "%d frees, %d continuations", atomic_load(&arg_frees),
		     atomic_load(&arg_then_runs));
	cr_assert_eq(actor_system_create(&sys, NULL), 0);	/* for teardown */
}

Test(actor, ask_from_outside_waits_for_the_reply)
{
	actor_ref_t srv;
	uint32_t type;
	void *reply = NULL;
	size_t size;

	actor_system_spawn(sys, &server_spec, NULL, &srv);
	cr_assert_eq(actor_system_ask(sys, srv, ECHO, "hello", 6, 1000000000ull, &type, &reply,
				      &size), 0);
	cr_assert_eq(type, ECHO);
	cr_assert_eq(size, 6);
	cr_assert_str_eq(reply, "hello");
	free(reply);
	cr_assert_eq(actor_system_ask(sys, srv, SILENT, NULL, 0, 20000000ull, &type, &reply,
				      &size), -EPIPE);
	cr_assert_eq(actor_system_ask(sys, srv, HOLD, NULL, 0, 20000000ull, &type, &reply,
				      &size), -ETIMEDOUT);
	cr_assert_eq(actor_system_ask(sys, srv, ECHO, NULL, 0, 0, &type, &reply, &size), -EINVAL);
	actor_system_send(sys, srv, ASK_FROM_HANDLER, NULL, 0);
	wait_counter(1);
	cr_assert_eq(atomic_load(&order_errors), 0, "a handler must not block on ask");
}

/* --- monitors and links ------------------------------------------------------ */

enum { WATCH = 20, LINK_TO, TRAP, FAIL };

static _Atomic int downs, exits, last_reason;
static actor_ref_t last_from;

/* WATCH/LINK_TO carry a reference; TRAP turns trapping on; FAIL stops the
 * actor with the int it carries. Signals are recorded. */
static void relater(actor_ctx_t *ctx, const actor_msg_t *m)
{
	const actor_signal_t *sig = actor_msg_data(m);

	switch (actor_msg_type(m)) {
	case WATCH:
		actor_monitor(ctx, *(const actor_ref_t *)actor_msg_data(m));
		break;
	case LINK_TO:
		actor_link(ctx, *(const actor_ref_t *)actor_msg_data(m));
		break;
	case TRAP:
		actor_trap_exit(ctx, true);
		break;
	case FAIL:
		actor_stop(ctx, *(const int *)actor_msg_data(m));
		break;
	case ACTOR_MSG_DOWN:
	case ACTOR_MSG_EXIT:
		last_from = sig->from;
		atomic_store(&last_reason, sig->reason);
		if (!actor_ref_equal(actor_msg_sender(m), sig->from))
			atomic_fetch_add(&order_errors, 1);
		atomic_fetch_add(actor_msg_type(m) == ACTOR_MSG_DOWN ? &downs : &exits, 1);
		break;
	}
	atomic_fetch_add(&counter, 1);
}

static const actor_spec_t relater_spec = { .handler = relater, .cleanup = lifecycle_cleanup };

static bool int_reaches(void *p)
{
	return atomic_load((_Atomic int *)p) >= 1;
}

static void fail(actor_ref_t a, int reason)
{
	actor_system_send(sys, a, FAIL, &reason, sizeof reason);
}

Test(actor, monitor_gets_one_down_message)
{
	actor_ref_t w, t, gone;

	atomic_store(&downs, 0);
	actor_system_spawn(sys, &relater_spec, NULL, &w);
	actor_system_spawn(sys, &relater_spec, NULL, &t);
	actor_system_send(sys, w, WATCH, &t, sizeof t);
	sleep_ms(20);
	fail(t, 7);
	cr_assert(stress_wait(int_reaches, &downs, 10), "no down message");
	cr_assert(actor_ref_equal(last_from, t));
	cr_assert_eq(atomic_load(&last_reason), 7);

	/* Monitoring an actor that is gone: down at once, with NOPROC. */
	actor_system_spawn(sys, &relater_spec, NULL, &gone);
	actor_exit(sys, gone, 0);
	wait_stopped(2);
	actor_system_send(sys, w, WATCH, &gone, sizeof gone);
	sleep_ms(50);
	cr_assert_eq(atomic_load(&downs), 2);
	cr_assert_eq(atomic_load(&last_reason), ACTOR_EXIT_NOPROC);
	cr_assert_eq(atomic_load(&order_errors), 0);
}

Test(actor, links_propagate_failures_and_traps_turn_them_into_messages)
{
	actor_ref_t a, b, c, d;
	actor_system_stats_t st;

	atomic_store(&exits, 0);
	actor_system_spawn(sys, &relater_spec, NULL, &a);
	actor_system_spawn(sys, &relater_spec, NULL, &b);
	actor_system_send(sys, a, LINK_TO, &b, sizeof b);
	sleep_ms(20);
	fail(b, ACTOR_EXIT_NORMAL);
	sleep_ms(50);
	actor_system_stats(sys, &st);
	cr_assert_eq(st.stopped, 1, "a normal exit does not travel along a link");

	actor_system_spawn(sys, &relater_spec, NULL, &c);
	actor_system_send(sys, a, LINK_TO, &c, sizeof c);
	sleep_ms(20);
	fail(c, 9);
	wait_stopped(3);
	cr_assert_eq(atomic_load(&cleanups), 3, "a stopped with c");

	actor_system_spawn(sys, &relater_spec, NULL, &a);
	actor_system_spawn(sys, &relater_spec, NULL, &d);
	actor_system_send(sys, a, TRAP, NULL, 0);
	actor_system_send(sys, a, LINK_TO, &d, sizeof d);
	sleep_ms(20);
	fail(d, 11);
	cr_assert(stress_wait(int_reaches, &exits, 10), "no exit message");
	cr_assert(actor_ref_equal(last_from, d));
	cr_assert_eq(atomic_load(&last_reason), 11);
	cr_assert_eq(actor_exit(sys, a, 5), 0);
	sleep_ms(20);
	cr_assert_eq(atomic_load(&exits), 2, "trapped actor_exit became a message");
	actor_system_stats(sys, &st);
	cr_assert_eq(st.stopped, 4, "and did not stop it");
	actor_exit(sys, a, ACTOR_EXIT_KILL);
	wait_stopped(5);
	cr_assert_eq(atomic_load(&order_errors), 0);
}

Test(actor, link_cascade_across_1000_actors)
{
	const char *err = stress_sched_link_cascade(1000);

	cr_assert_null(err, "%s", err);
}

/* --- supervision ------------------------------------------------------------- */

enum { INC = 30, GET, CRASH };

static void supervised(actor_ctx_t *ctx, const actor_msg_t *m)
{
	int *n = actor_self_state(ctx);

	switch (actor_msg_type(m)) {
	case INC:
		++*n;
		break;
	case GET:
		actor_reply(ctx, m, GET, n, sizeof *n);
		break;
	case CRASH:
		actor_stop(ctx, 42);
		break;
	}
}

static const actor_spec_t supervised_spec = { .handler = supervised, .state_size = sizeof(int) };

static bool all_live_gone(void *unused)
{
	actor_system_stats_t st;

	actor_system_stats(sys, &st);
	return st.live == 0;
}

/* Waits until the name points at an actor other than `old`. */
static actor_ref_t next_incarnation(const char *name, actor_ref_t old)
{
	actor_ref_t r = ACTOR_REF_NONE;

	for (int i = 0; i < 5000; i++) {
		if (actor_lookup(sys, name, &r) == 0 && !actor_ref_equal(r, old))
			return r;
		sleep_ms(1);
	}
	return ACTOR_REF_NONE;
}

static int get_count(actor_ref_t r)
{
	int *n = NULL, v;

	cr_assert_eq(actor_system_ask(sys, r, GET, NULL, 0, 1000000000ull, NULL, (void **)&n,
				      NULL), 0);
	v = *n;
	free(n);
	return v;
}

Test(actor, supervisor_restarts_children_until_the_limit)
{
	static const actor_child_spec_t children[] = {
		{ .spec = &supervised_spec, .name = "counter" },
	};
	static const actor_supervisor_spec_t spec = {
		.children = children, .nchildren = 1, .max_restarts = 2,
		.period_ns = 10000000000ull,
	};
	actor_ref_t sup, r1, r2, r3, gone;
	actor_system_stats_t st;

	cr_assert_eq(actor_supervisor_spawn(sys, &spec, &sup), 0);
	r1 = next_incarnation("counter", ACTOR_REF_NONE);
	cr_assert_not(actor_ref_is_none(r1));
	for (int i = 0; i < 3; i++)
		actor_system_send(sys, r1, INC, NULL, 0);
	cr_assert_eq(get_count(r1), 3);

	actor_system_send(sys, r1, CRASH, NULL, 0);
	r2 = next_incarnation("counter", r1);
	cr_assert_not(actor_ref_is_none(r2), "not restarted");
	cr_assert_eq(get_count(r2), 0, "restarted with fresh state");
	actor_system_send(sys, r2, CRASH, NULL, 0);
	r3 = next_incarnation("counter", r2);
	cr_assert_not(actor_ref_is_none(r3), "second restart");

	/* The third crash within the period is one too many. */
	actor_system_send(sys, r3, CRASH, NULL, 0);
	cr_assert(stress_wait(all_live_gone, NULL, 10), "the supervisor did not give up");
	actor_system_stats(sys, &st);
	cr_assert_eq(st.live, 0);
	cr_assert_eq(actor_lookup(sys, "counter", &gone), -ENOENT);
}

/* --- the stress scenarios ---------------------------------------------------- */

Test(actor_stress, eight_senders_thousand_actors_two_million, .timeout = 120)
{
	const char *err = stress_sched_senders(8, 1000, 2000000);

	cr_assert_null(err, "%s", err);
	assert_no_leaks();
}

Test(actor_stress, chain_of_100000_actors, .init = setup, .fini = teardown, .timeout = 120)
{
	const char *err = stress_sched_chain(sys, 100000);

	cr_assert_null(err, "%s", err);
}

Test(actor_stress, spawn_and_stop_a_million, .init = setup, .fini = teardown, .timeout = 120)
{
	const char *err = stress_sched_churn(sys, 1000000, 50000);

	cr_assert_null(err, "%s", err);
}

Test(actor_stress, wakeups_from_every_tier, .timeout = 120)
{
	const char *err = stress_sched_wakeups(2000);

	cr_assert_null(err, "%s", err);
	assert_no_leaks();
}

Test(actor_stress, shutdown_with_traffic_in_flight, .timeout = 120)
{
	const char *err = stress_sched_shutdown(200);

	cr_assert_null(err, "%s", err);
	assert_no_leaks();
}

Test(actor_stress, two_systems_at_once, .timeout = 120)
{
	const char *err = stress_sched_two_systems(50000);

	cr_assert_null(err, "%s", err);
	assert_no_leaks();
}

Test(actor_stress, hundred_thousand_timers, .timeout = 120)
{
	const char *err = stress_sched_timers(100000, 500);

	cr_assert_null(err, "%s", err);
	assert_no_leaks();
}

Test(actor_stress, timer_cancellation_races, .timeout = 120)
{
	const char *err = stress_sched_timer_cancel(50000);

	cr_assert_null(err, "%s", err);
	assert_no_leaks();
}

Test(actor_stress, requests_racing_their_timeouts, .timeout = 120)
{
	const char *err = stress_sched_requests(20000);

	cr_assert_null(err, "%s", err);
	assert_no_leaks();
}

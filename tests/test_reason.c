/*
 * Exit reasons as text, and the dead-letter hooks: the old one as it was,
 * the new one with the sender.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <actor/actor.h>

#include "tests/leakcheck.h"

Test(reason, runtime_reasons_by_name)
{
	cr_assert_str_eq(actor_reason_string(ACTOR_EXIT_NORMAL), "normal");
	cr_assert_str_eq(actor_reason_string(ACTOR_EXIT_KILL), "killed");
	cr_assert_str_eq(actor_reason_string(ACTOR_EXIT_SHUTDOWN), "shutdown");
	cr_assert_str_eq(actor_reason_string(ACTOR_EXIT_NOPROC), "no such actor");
	cr_assert_str_eq(actor_reason_string(ACTOR_EXIT_NODEDOWN), "node down");
}

Test(reason, errno_as_strerror)
{
	cr_assert_str_eq(actor_reason_string(-ETIMEDOUT), strerror(ETIMEDOUT));
	cr_assert_str_eq(actor_reason_string(-EHOSTUNREACH), strerror(EHOSTUNREACH));
	cr_assert_str_eq(actor_reason_string(-ESRCH), strerror(ESRCH));
	cr_assert_not_null(actor_reason_string(-100000));
	cr_assert_not_null(actor_reason_string(-2147483647 - 1));
}

Test(reason, application_reasons)
{
	cr_assert_str_eq(actor_reason_string(42), "application-defined reason");
	cr_assert_str_eq(actor_reason_string(ACTOR_EXIT_NODEDOWN + 1),
			 "application-defined reason");
}

enum { FORWARD = 1, LOST };

struct seen {
	_Atomic int old_calls, new_calls;
	actor_ref_t to, sender;		/* of the last new-hook call */
	_Atomic uint32_t type;
};

static void old_hook(void *arg, actor_ref_t to, uint32_t type, const void *data, size_t size)
{
	struct seen *s = arg;

	atomic_fetch_add(&s->old_calls, 1);
}

static void new_hook(void *arg, const actor_dead_letter_info_t *l)
{
	struct seen *s = arg;

	s->to = l->to;
	s->sender = l->sender;
	cr_assert_eq(l->size, sizeof(int));
	atomic_store(&s->type, l->type);
	atomic_fetch_add(&s->new_calls, 1);
}

/* Sends LOST to the reference it is given. */
static void forwarder(actor_ctx_t *ctx, const actor_msg_t *msg)
{
	int v = 7;

	actor_send(ctx, *(const actor_ref_t *)actor_msg_data(msg), LOST, &v, sizeof v);
}

static void nothing(actor_ctx_t *ctx, const actor_msg_t *msg) {}

static const actor_spec_t forwarder_spec = { .handler = forwarder };
static const actor_spec_t nothing_spec = { .handler = nothing };

static void wait_for(_Atomic int *v, int want)
{
	for (int i = 0; i < 5000 && atomic_load(v) < want; i++)
		usleep(1000);
	cr_assert_eq(atomic_load(v), want);
}

static actor_ref_t dead_actor(actor_system_t *sys)
{
	actor_system_stats_t st;
	actor_ref_t ref;

	cr_assert_eq(actor_system_spawn(sys, &nothing_spec, NULL, &ref), 0);
	cr_assert_eq(actor_exit(sys, ref, ACTOR_EXIT_KILL), 0);
	for (int i = 0; i < 5000; i++) {
		actor_system_stats(sys, &st);
		if (st.stopped == 1)
			return ref;
		usleep(1000);
	}
	cr_assert_fail("the actor did not stop");
	return ref;
}

Test(reason, dead_letter_hooks_get_the_sender)
{
	static struct seen s;
	actor_config_t cfg;
	actor_system_t *sys;
	actor_ref_t dead, fwd;
	int v = 1;

	actor_config_init(&cfg);
	cfg.workers = 2;
	cfg.dead_letter = old_hook;
	cfg.dead_letter_info = new_hook;
	cfg.dead_letter_arg = &s;
	cr_assert_eq(actor_system_create(&sys, &cfg), 0);
	dead = dead_actor(sys);

	/* From outside the actors: no sender. */
	cr_assert_eq(actor_system_send(sys, dead, LOST, &v, sizeof v), -ESRCH);
	cr_assert_eq(atomic_load(&s.new_calls), 1);
	cr_assert(actor_ref_equal(s.to, dead));
	cr_assert(actor_ref_is_none(s.sender));

	/* From an actor: that actor. */
	cr_assert_eq(actor_system_spawn(sys, &forwarder_spec, NULL, &fwd), 0);
	cr_assert_eq(actor_system_send(sys, fwd, FORWARD, &dead, sizeof dead), 0);
	wait_for(&s.new_calls, 2);
	cr_assert(actor_ref_equal(s.sender, fwd));
	cr_assert_eq(atomic_load(&s.type), LOST);
	cr_assert_eq(atomic_load(&s.old_calls), 2);

	/* A delayed send to a dead actor is a dead letter at once. */
	cr_assert_eq(actor_system_send_after(sys, dead, 1000, LOST, &v, sizeof v, NULL), -ESRCH);
	cr_assert_eq(atomic_load(&s.new_calls), 3);
	cr_assert(actor_ref_is_none(s.sender));
	actor_system_destroy(sys);
	assert_no_leaks();
}

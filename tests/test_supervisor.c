/*
 * Supervisors: synchronous start, listing, the three strategies, the three
 * restart types, dynamic children, and the written guarantees (an old
 * child's cleanup finishes before its successor's init; names).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include <actor/actor.h>

#include "tests/leakcheck.h"

#define SEC 1000000000ull

enum { CRASH = 1, QUIT };

/* One per child name: how many incarnations are in init..cleanup now. */
struct slot {
	_Atomic int live;
	_Atomic int inits;
};

static struct slot slots[4];
static _Atomic int overlaps;		/* an init while the old one was alive */
static actor_system_t *sys;

static void child(actor_ctx_t *ctx, const actor_msg_t *msg)
{
	if (actor_msg_type(msg) == CRASH)
		actor_stop(ctx, -EIO);
	else if (actor_msg_type(msg) == QUIT)
		actor_stop(ctx, ACTOR_EXIT_NORMAL);
}

/* Keeps its slot in the state, for cleanup. */
static int child_init(actor_ctx_t *ctx, void *arg)
{
	struct slot *s = arg;

	*(struct slot **)actor_self_state(ctx) = s;
	if (atomic_fetch_add(&s->live, 1) != 0)
		atomic_fetch_add(&overlaps, 1);
	atomic_fetch_add(&s->inits, 1);
	return 0;
}

/* Slow on purpose: a successor's init must wait for it. */
static void child_cleanup(actor_ctx_t *ctx)
{
	struct slot *s = *(struct slot **)actor_self_state(ctx);

	usleep(20000);
	atomic_fetch_sub(&s->live, 1);
}

static const actor_spec_t kept_spec = {
	.handler = child, .init = child_init, .cleanup = child_cleanup,
	.state_size = sizeof(struct slot *),
};

static void setup(void)
{
	for (int i = 0; i < 4; i++) {
		atomic_store(&slots[i].live, 0);
		atomic_store(&slots[i].inits, 0);
	}
	atomic_store(&overlaps, 0);
	cr_assert_eq(actor_system_create(&sys, NULL), 0);
}

static void teardown(void)
{
	actor_system_destroy(sys);
	cr_assert_eq(atomic_load(&overlaps), 0, "an init ran before the old cleanup ended");
	assert_no_leaks();
}

TestSuite(supervisor, .init = setup, .fini = teardown, .timeout = 60);

#define CHILD(i, n, r) { .spec = &kept_spec, .arg = &slots[i], .name = n, .restart = r }

static actor_ref_t ref_of(const char *name)
{
	actor_ref_t r = ACTOR_REF_NONE;

	cr_assert_eq(actor_lookup(sys, name, &r), 0, "%s is not registered", name);
	return r;
}

/* Waits until the name points at a live actor other than `old`. */
static actor_ref_t next_of(const char *name, actor_ref_t old)
{
	actor_ref_t r;

	for (int i = 0; i < 5000; i++) {
		if (actor_lookup(sys, name, &r) == 0 && !actor_ref_equal(r, old))
			return r;
		usleep(1000);
	}
	cr_assert_fail("%s was not restarted", name);
	return ACTOR_REF_NONE;
}

/* Waits until the name is registered no more. */
static void name_gone(const char *name)
{
	actor_ref_t r;

	for (int i = 0; i < 5000; i++) {
		if (actor_lookup(sys, name, &r) == -ENOENT)
			return;
		usleep(1000);
	}
	cr_assert_fail("%s is still registered", name);
}

static size_t list(actor_ref_t sup, actor_ref_t *refs, size_t max)
{
	size_t n = 0;

	cr_assert_eq(actor_supervisor_children(sys, sup, refs, max, &n, 5 * SEC), 0);
	return n;
}

static void quiet(int ms)
{
	usleep((useconds_t)ms * 1000);
}

Test(supervisor, children_and_names_exist_when_spawn_returns)
{
	static const actor_child_spec_t children[] = {
		CHILD(0, "a", 0), CHILD(1, "b", 0), CHILD(2, NULL, 0),
	};
	static const actor_supervisor_spec_t spec = {
		.children = children, .nchildren = 3, .max_restarts = 3, .period_ns = SEC,
	};
	actor_ref_t sup, refs[4];

	cr_assert_eq(actor_supervisor_spawn(sys, &spec, &sup), 0);
	/* No waiting: the names are there now. */
	cr_assert_eq(list(sup, refs, 4), 3);
	cr_assert(actor_ref_equal(refs[0], ref_of("a")));
	cr_assert(actor_ref_equal(refs[1], ref_of("b")));
	cr_assert_not(actor_ref_is_none(refs[2]));
	cr_assert_eq(list(sup, refs, 1), 3, "the count, whatever max is");
}

/* Crashes `name` and returns which of the three children got restarted. */
static unsigned crash_and_see(int strategy)
{
	static const actor_child_spec_t children[] = {
		CHILD(0, "a", ACTOR_RESTART_PERMANENT), CHILD(1, "b", ACTOR_RESTART_PERMANENT),
		CHILD(2, "c", ACTOR_RESTART_PERMANENT),
	};
	actor_supervisor_spec_t spec = {
		.children = children, .nchildren = 3, .max_restarts = 3, .period_ns = SEC,
		.strategy = strategy,
	};
	static actor_supervisor_spec_t kept;
	const char *names[] = { "a", "b", "c" };
	actor_ref_t sup, before[3], after[3];
	unsigned restarted = 0;

	kept = spec;
	cr_assert_eq(actor_supervisor_spawn(sys, &kept, &sup), 0);
	for (int i = 0; i < 3; i++)
		before[i] = ref_of(names[i]);
	cr_assert_eq(actor_system_send(sys, before[1], CRASH, NULL, 0), 0);
	after[1] = next_of("b", before[1]);
	quiet(100);		/* the group's restart is done with b's */
	cr_assert_eq(list(sup, after, 3), 3);
	for (int i = 0; i < 3; i++) {
		cr_assert(actor_ref_equal(after[i], ref_of(names[i])));
		if (!actor_ref_equal(after[i], before[i]))
			restarted |= 1u << i;
	}
	return restarted;
}

Test(supervisor, one_for_one_restarts_the_child_alone)
{
	cr_assert_eq(crash_and_see(ACTOR_ONE_FOR_ONE), 2u);
}

Test(supervisor, one_for_all_restarts_every_child)
{
	cr_assert_eq(crash_and_see(ACTOR_ONE_FOR_ALL), 7u);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(atomic_load(&slots[i].inits), 2);
}

Test(supervisor, rest_for_one_restarts_it_and_the_later_ones)
{
	cr_assert_eq(crash_and_see(ACTOR_REST_FOR_ONE), 6u);
	cr_assert_eq(atomic_load(&slots[0].inits), 1);
}

Test(supervisor, restart_types)
{
	static const actor_child_spec_t children[] = {
		CHILD(0, "perm", ACTOR_RESTART_PERMANENT),
		CHILD(1, "trans", ACTOR_RESTART_TRANSIENT),
		CHILD(2, "temp", ACTOR_RESTART_TEMPORARY),
	};
	static const actor_supervisor_spec_t spec = {
		.children = children, .nchildren = 3, .max_restarts = 5, .period_ns = SEC,
	};
	actor_ref_t sup, refs[3], perm, trans, r;

	cr_assert_eq(actor_supervisor_spawn(sys, &spec, &sup), 0);
	/* A permanent child comes back even after a normal exit. */
	perm = ref_of("perm");
	actor_system_send(sys, perm, QUIT, NULL, 0);
	next_of("perm", perm);
	/* A transient one after a crash, not after a normal exit. */
	trans = ref_of("trans");
	actor_system_send(sys, trans, CRASH, NULL, 0);
	trans = next_of("trans", trans);
	actor_system_send(sys, trans, QUIT, NULL, 0);
	name_gone("trans");
	quiet(50);
	cr_assert_eq(actor_lookup(sys, "trans", &r), -ENOENT, "restarted after all");
	cr_assert_eq(list(sup, refs, 3), 3);
	cr_assert(actor_ref_is_none(refs[1]), "a transient child that finished stays down");
	/* A temporary one is never restarted, and forgotten. */
	actor_system_send(sys, ref_of("temp"), CRASH, NULL, 0);
	name_gone("temp");
	quiet(50);
	cr_assert_eq(actor_lookup(sys, "temp", &r), -ENOENT, "restarted after all");
	cr_assert_eq(list(sup, refs, 3), 2);
	cr_assert_eq(atomic_load(&slots[2].inits), 1);
}

Test(supervisor, dynamic_children)
{
	static const actor_supervisor_spec_t spec = {
		.max_restarts = 3, .period_ns = SEC,
	};
	actor_child_spec_t dyn = CHILD(3, NULL, ACTOR_RESTART_PERMANENT);
	char name[] = "dynamic";
	actor_ref_t sup, c, refs[2], r;

	dyn.name = name;
	cr_assert_eq(actor_supervisor_spawn(sys, &spec, &sup), 0);
	cr_assert_eq(list(sup, refs, 2), 0);
	cr_assert_eq(actor_supervisor_start_child(sys, sup, &dyn, 5 * SEC, &c), 0);
	name[0] = 'X';		/* the supervisor has its own copy */
	cr_assert(actor_ref_equal(ref_of("dynamic"), c));
	cr_assert_eq(list(sup, refs, 2), 1);
	cr_assert(actor_ref_equal(refs[0], c));

	/* Supervised like the others. */
	actor_system_send(sys, c, CRASH, NULL, 0);
	c = next_of("dynamic", c);

	/* Stopped: gone, its cleanup done, when the call returns. */
	cr_assert_eq(actor_supervisor_stop_child(sys, sup, c, 5 * SEC), 0);
	cr_assert_eq(atomic_load(&slots[3].live), 0);
	cr_assert_eq(actor_lookup(sys, "dynamic", &r), -ENOENT);
	cr_assert_eq(list(sup, refs, 2), 0);
	cr_assert_eq(actor_supervisor_stop_child(sys, sup, c, 5 * SEC), -ENOENT);

	dyn.spec = NULL;
	cr_assert_eq(actor_supervisor_start_child(sys, sup, &dyn, 5 * SEC, &c), -EINVAL);
}

Test(supervisor, a_name_taken_by_another_actor_fails_the_start)
{
	static const actor_child_spec_t children[] = { CHILD(0, "taken", 0) };
	static const actor_supervisor_spec_t spec = {
		.children = children, .nchildren = 1, .max_restarts = 3, .period_ns = SEC,
	};
	actor_ref_t other, sup;

	cr_assert_eq(actor_system_spawn(sys, &kept_spec, &slots[1], &other), 0);
	cr_assert_eq(actor_register(sys, "taken", other), 0);
	cr_assert_eq(actor_supervisor_spawn(sys, &spec, &sup), -EEXIST);
	cr_assert(actor_ref_equal(ref_of("taken"), other));
}

static bool supervisor_gone(actor_ref_t sup)
{
	actor_ref_t refs[1];
	size_t n;

	for (int i = 0; i < 5000; i++) {
		if (actor_supervisor_children(sys, sup, refs, 1, &n, SEC) == -ESRCH)
			return true;
		usleep(1000);
	}
	return false;
}

Test(supervisor, too_many_restarts_stop_it_and_its_children)
{
	static const actor_child_spec_t children[] = {
		CHILD(0, "x", ACTOR_RESTART_PERMANENT), CHILD(1, "y", ACTOR_RESTART_PERMANENT),
	};
	static const actor_supervisor_spec_t spec = {
		.children = children, .nchildren = 2, .max_restarts = 1, .period_ns = 60 * SEC,
		.strategy = ACTOR_ONE_FOR_ALL,
	};
	actor_ref_t sup, x;

	cr_assert_eq(actor_supervisor_spawn(sys, &spec, &sup), 0);
	x = ref_of("x");
	actor_system_send(sys, x, CRASH, NULL, 0);
	x = next_of("x", x);
	quiet(100);
	actor_system_send(sys, x, CRASH, NULL, 0);
	cr_assert(supervisor_gone(sup), "the supervisor did not give up");
	name_gone("x");
	name_gone("y");
}

/* From a handler the start cannot wait: the children come a turn later. */
static void starter(actor_ctx_t *ctx, const actor_msg_t *msg)
{
	static const actor_child_spec_t children[] = { CHILD(0, "late", 0) };
	static const actor_supervisor_spec_t spec = {
		.children = children, .nchildren = 1, .max_restarts = 1, .period_ns = SEC,
	};
	actor_ref_t sup;

	actor_supervisor_spawn(actor_ctx_system(ctx), &spec, &sup);
}

static const actor_spec_t starter_spec = { .handler = starter };

Test(supervisor, from_a_handler)
{
	actor_ref_t s;

	cr_assert_eq(actor_system_spawn(sys, &starter_spec, NULL, &s), 0);
	cr_assert_eq(actor_system_send(sys, s, 1, NULL, 0), 0);
	next_of("late", ACTOR_REF_NONE);
}

/*
 * Spawn arguments copied at the spawn (actor_spawn_copy and
 * actor_system_spawn_copy): the caller may reuse its buffer at once.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <actor/actor.h>

#include "tests/leakcheck.h"

enum { SPAWN = 1 };

static char seen[9000];
static _Atomic size_t seen_len;
static _Atomic int inits;
static _Atomic bool got_null;

/* Records what init got. */
static int keeper_init(actor_ctx_t *ctx, void *arg)
{
	const char *s = arg;

	if (s == NULL) {
		atomic_store(&got_null, true);
	} else {
		strcpy(seen, s);
		atomic_store(&seen_len, strlen(s));
	}
	atomic_fetch_add(&inits, 1);
	return 0;
}

static void nothing(actor_ctx_t *ctx, const actor_msg_t *msg) {}

static const actor_spec_t keeper_spec = { .handler = nothing, .init = keeper_init };
static const actor_spec_t no_init_spec = { .handler = nothing };

static void reset(void)
{
	memset(seen, 0, sizeof seen);
	atomic_store(&seen_len, 0);
	atomic_store(&inits, 0);
	atomic_store(&got_null, false);
}

static void wait_inits(int want)
{
	for (int i = 0; i < 5000 && atomic_load(&inits) < want; i++)
		usleep(1000);
	cr_assert_eq(atomic_load(&inits), want);
}

/* Spawns a keeper with a name on its stack, then scribbles over it. */
static void parent(actor_ctx_t *ctx, const actor_msg_t *msg)
{
	char name[16] = "alice";
	actor_ref_t child;

	cr_assert_eq(actor_spawn_copy(ctx, &keeper_spec, name, sizeof name, &child), 0);
	memset(name, 'x', sizeof name - 1);
}

static const actor_spec_t parent_spec = { .handler = parent };

Test(spawn_copy, from_a_handler_with_a_stack_argument, .init = reset)
{
	actor_system_t *sys;
	actor_ref_t p;

	cr_assert_eq(actor_system_create(&sys, NULL), 0);
	cr_assert_eq(actor_system_spawn(sys, &parent_spec, NULL, &p), 0);
	cr_assert_eq(actor_system_send(sys, p, SPAWN, NULL, 0), 0);
	wait_inits(1);
	cr_assert_str_eq(seen, "alice");
	actor_system_destroy(sys);
	assert_no_leaks();
}

Test(spawn_copy, from_outside_a_big_argument, .init = reset)
{
	static char big[8192];
	actor_system_t *sys;
	actor_ref_t k;

	memset(big, 'b', sizeof big - 1);
	cr_assert_eq(actor_system_create(&sys, NULL), 0);
	cr_assert_eq(actor_system_spawn_copy(sys, &keeper_spec, big, sizeof big, &k), 0);
	memset(big, 0, sizeof big);
	wait_inits(1);
	cr_assert_eq(atomic_load(&seen_len), sizeof big - 1);
	cr_assert_eq(seen[100], 'b');
	actor_system_destroy(sys);
	assert_no_leaks();
}

Test(spawn_copy, size_0_gives_init_null, .init = reset)
{
	actor_system_t *sys;
	actor_ref_t k;

	cr_assert_eq(actor_system_create(&sys, NULL), 0);
	cr_assert_eq(actor_system_spawn_copy(sys, &keeper_spec, "ignored", 0, &k), 0);
	wait_inits(1);
	cr_assert(atomic_load(&got_null));
	actor_system_destroy(sys);
	assert_no_leaks();
}

Test(spawn_copy, errors_and_no_init, .init = reset)
{
	actor_system_t *sys;
	actor_ref_t k;

	cr_assert_eq(actor_system_create(&sys, NULL), 0);
	cr_assert_eq(actor_system_spawn_copy(sys, &keeper_spec, NULL, 4, &k), -EINVAL);
	cr_assert_eq(actor_system_spawn_copy(sys, &keeper_spec, "x", (size_t)UINT32_MAX + 1, &k),
		     -EMSGSIZE);
	cr_assert_eq(actor_system_spawn_copy(sys, &no_init_spec, "x", 2, &k), 0);
	actor_system_shutdown(sys);
	cr_assert_eq(actor_system_spawn_copy(sys, &keeper_spec, "x", 2, &k), -ESHUTDOWN);
	actor_system_destroy(sys);
	assert_no_leaks();
}

/* init from an outside spawn may run on a worker before actor_system_spawn
 * returns; the reference must be in *out by then. */
static _Atomic int out_mismatch, out_inits;

static int self_check_init(actor_ctx_t *ctx, void *arg)
{
	const actor_ref_t *out = arg;

	if (!actor_ref_equal(*out, actor_self(ctx)))
		atomic_fetch_add(&out_mismatch, 1);
	atomic_fetch_add(&out_inits, 1);
	return 0;
}

static const actor_spec_t self_check_spec = { .handler = nothing, .init = self_check_init };

Test(spawn, outside_init_sees_out_written)
{
	enum { N = 2000 };
	static actor_ref_t refs[N];
	actor_system_t *sys;

	cr_assert_eq(actor_system_create(&sys, NULL), 0);
	for (int i = 0; i < N; i++) {
		refs[i] = ACTOR_REF_NONE;
		cr_assert_eq(actor_system_spawn(sys, &self_check_spec, &refs[i], &refs[i]), 0);
	}
	for (int i = 0; i < 5000 && atomic_load(&out_inits) < N; i++)
		usleep(1000);
	cr_assert_eq(atomic_load(&out_inits), N);
	cr_expect_eq(atomic_load(&out_mismatch), 0, "%d inits ran before *out was written",
		     atomic_load(&out_mismatch));
	actor_system_destroy(sys);
}

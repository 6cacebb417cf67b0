#include <criterion/criterion.h>
#include <errno.h>

#include "mailbox/mpsc.h"
#include "tests/leakcheck.h"
#include "tests/stress/stress.h"

static struct actor__pool *pool;
static struct actor__mbox mb;

static void setup(void)
{
	pool = actor__pool_create();
	actor__mbox_init(&mb, 0);
}

static void teardown(void)
{
	struct actor__env *e, *next;

	for (e = actor__mbox_close(&mb); e != NULL; e = next) {
		next = e->next;
		actor__env_free(pool, e);
	}
	cr_assert_eq(actor__pool_destroy(pool), 0, "every envelope came back");
	assert_no_leaks();
}

static struct actor__env *msg(uint32_t type, bool urgent)
{
	struct actor__env *e = actor__env_alloc(pool, 0);

	e->type = type;
	e->flags = urgent ? ACTOR__ENV_URGENT : 0;
	return e;
}

static uint32_t pop_type(void)
{
	struct actor__env *e = actor__mbox_pop(&mb);
	uint32_t t;

	cr_assert_not_null(e);
	t = e->type;
	actor__env_free(pool, e);
	return t;
}

TestSuite(mpsc, .init = setup, .fini = teardown);

Test(mpsc, first_push_wakes_the_consumer)
{
	cr_assert_eq(actor__mbox_push(&mb, msg(1, false)), ACTOR__MBOX_WOKE);
	cr_assert_eq(actor__mbox_push(&mb, msg(2, false)), ACTOR__MBOX_QUEUED);
	cr_assert_eq(actor__mbox_push(&mb, msg(3, true)), ACTOR__MBOX_QUEUED);
}

Test(mpsc, fifo_per_lane)
{
	for (uint32_t i = 0; i < 100; i++)
		actor__mbox_push(&mb, msg(i, false));
	for (uint32_t i = 0; i < 100; i++)
		cr_assert_eq(pop_type(), i);
	cr_assert_null(actor__mbox_pop(&mb));
}

Test(mpsc, urgent_first)
{
	actor__mbox_push(&mb, msg(1, false));
	actor__mbox_push(&mb, msg(2, false));
	actor__mbox_push(&mb, msg(10, true));
	actor__mbox_push(&mb, msg(3, false));
	actor__mbox_push(&mb, msg(11, true));
	cr_assert_eq(pop_type(), 10);
	cr_assert_eq(pop_type(), 11);
	cr_assert_eq(pop_type(), 1);
	/* An urgent message overtakes normal mail already fetched. */
	actor__mbox_push(&mb, msg(12, true));
	cr_assert_eq(pop_type(), 12);
	cr_assert_eq(pop_type(), 2);
	cr_assert_eq(pop_type(), 3);
	cr_assert_null(actor__mbox_pop(&mb));
}

Test(mpsc, try_block_only_when_empty)
{
	actor__mbox_push(&mb, msg(1, false));
	cr_assert_not(actor__mbox_try_block(&mb), "unfetched mail");
	actor__mbox_push(&mb, msg(2, false));
	cr_assert_eq(pop_type(), 1);
	cr_assert_not(actor__mbox_try_block(&mb), "fetched but not taken");
	cr_assert_eq(pop_type(), 2);
	cr_assert(actor__mbox_try_block(&mb));
	cr_assert_eq(actor__mbox_push(&mb, msg(3, false)), ACTOR__MBOX_WOKE);
	cr_assert_eq(pop_type(), 3);
}

Test(mpsc, try_block_when_blocked_already)
{
	/* A peer's queue drained once more after it blocked (cluster/). */
	cr_assert(actor__mbox_try_block(&mb), "a new mailbox is BLOCKED");
	cr_assert(actor__mbox_try_block(&mb));
	cr_assert_eq(actor__mbox_push(&mb, msg(1, false)), ACTOR__MBOX_WOKE);
	cr_assert_eq(pop_type(), 1);
}

Test(mpsc, close_returns_pending_and_refuses)
{
	struct actor__env *e, *rest;
	const uint32_t want[] = { 21, 1, 2, 3 };
	int i = 0;

	actor__mbox_push(&mb, msg(1, false));
	actor__mbox_push(&mb, msg(20, true));
	actor__mbox_push(&mb, msg(2, false));
	cr_assert_eq(pop_type(), 20);
	actor__mbox_push(&mb, msg(3, false));
	actor__mbox_push(&mb, msg(21, true));
	rest = actor__mbox_close(&mb);
	cr_assert(actor__mbox_closed(&mb));
	for (e = rest; e != NULL; e = rest) {
		rest = e->next;
		cr_assert_eq(e->type, want[i], "pending[%d] = %u", i, e->type);
		i++;
		actor__env_free(pool, e);
	}
	cr_assert_eq(i, 4);
	e = msg(4, false);
	cr_assert_eq(actor__mbox_push(&mb, e), -EPIPE);
	actor__env_free(pool, e);
}

Test(mpsc, capacity_bounds_the_queue)
{
	struct actor__env *e;

	actor__mbox_init(&mb, 3);
	for (uint32_t i = 0; i < 3; i++)
		cr_assert_geq(actor__mbox_push(&mb, msg(i, false)), 0);
	e = msg(99, false);
	cr_assert_eq(actor__mbox_push(&mb, e), -EAGAIN);
	cr_assert_eq(pop_type(), 0);
	cr_assert_eq(actor__mbox_push(&mb, e), ACTOR__MBOX_QUEUED, "room again after a pop");
	cr_assert_eq(pop_type(), 1);
}

/* A push past the capacity, in its lane's order, not counted: a full
 * bound refuses the next bounded push still, and order is kept. */
Test(mpsc, unbounded_push_passes_a_full_queue_in_order)
{
	struct actor__env *e = msg(3, false);

	actor__mbox_init(&mb, 2);
	cr_assert_geq(actor__mbox_push(&mb, msg(0, false)), 0);
	cr_assert_geq(actor__mbox_push(&mb, msg(1, false)), 0);
	cr_assert_geq(actor__mbox_push_unbounded(&mb, msg(2, false)), 0);
	cr_assert_eq(actor__mbox_push(&mb, e), -EAGAIN);
	actor__env_free(pool, e);
	cr_assert_eq(atomic_load(&mb.count), 2, "the unbounded push is not counted");
	for (uint32_t i = 0; i < 3; i++)
		cr_assert_eq(pop_type(), i);
	cr_assert_eq(atomic_load(&mb.count), 0);
}

Test(mpsc, pop_batch)
{
	const uint32_t want[] = { 5, 0, 1, 2, 3, 4, 6, 7 };	/* 5 is urgent */
	struct actor__env *out[8];

	for (uint32_t i = 0; i < 10; i++)
		actor__mbox_push(&mb, msg(i, i == 5));
	cr_assert_eq(actor__mbox_pop_batch(&mb, out, 8), 8);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(out[i]->type, want[i], "out[%d] = %u", i, out[i]->type);
	for (int i = 0; i < 8; i++)
		actor__env_free(pool, out[i]);
	cr_assert_eq(actor__mbox_pop_batch(&mb, out, 8), 2);
	actor__env_free(pool, out[0]);
	actor__env_free(pool, out[1]);
	cr_assert_eq(actor__mbox_pop_batch(&mb, out, 8), 0);
}

Test(mpsc_stress, eight_producers_two_million_each, .timeout = 120)
{
	const char *err = stress_mpsc(8, 2000000);

	cr_assert_null(err, "%s", err);
}

Test(mpsc_stress, one_producer, .timeout = 60)
{
	const char *err = stress_mpsc(1, 2000000);

	cr_assert_null(err, "%s", err);
}

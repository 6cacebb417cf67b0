#include <criterion/criterion.h>
#include <stdint.h>

#include "mailbox/deque.h"
#include "tests/stress/stress.h"

static void *item(uintptr_t i)
{
	return (void *)((i + 1) << 1);
}

Test(deque, owner_takes_lifo)
{
	struct actor__deque dq;

	cr_assert_eq(actor__deque_init(&dq, 4), 0);
	cr_assert_null(actor__deque_take(&dq), "empty at start");
	for (uintptr_t i = 0; i < 5; i++)
		cr_assert_eq(actor__deque_push(&dq, item(i)), 0);
	cr_assert_eq(actor__deque_size(&dq), 5);
	for (uintptr_t i = 5; i-- > 0;)
		cr_assert_eq(actor__deque_take(&dq), item(i));
	cr_assert_null(actor__deque_take(&dq));
	cr_assert_null(actor__deque_take(&dq), "stays empty after an empty take");
	actor__deque_destroy(&dq);
}

Test(deque, thieves_steal_fifo)
{
	struct actor__deque dq;

	actor__deque_init(&dq, 16);
	cr_assert_eq(actor__deque_steal(&dq), ACTOR__DEQUE_EMPTY);
	for (uintptr_t i = 0; i < 3; i++)
		actor__deque_push(&dq, item(i));
	cr_assert_eq(actor__deque_steal(&dq), item(0));
	cr_assert_eq(actor__deque_take(&dq), item(2));
	cr_assert_eq(actor__deque_steal(&dq), item(1));
	cr_assert_eq(actor__deque_steal(&dq), ACTOR__DEQUE_EMPTY);
	cr_assert_null(actor__deque_take(&dq));
	actor__deque_destroy(&dq);
}

Test(deque, growing_keeps_every_item)
{
	struct actor__deque dq;

	actor__deque_init(&dq, 1);
	/* Interleave steals so the live range wraps around the array. */
	for (uintptr_t i = 0; i < 10000; i++) {
		actor__deque_push(&dq, item(i));
		if (i % 3 == 0)
			cr_assert_eq(actor__deque_steal(&dq), item(i / 3));
	}
	for (uintptr_t i = 3334; i < 10000; i++)
		cr_assert_eq(actor__deque_steal(&dq), item(i));
	cr_assert_eq(actor__deque_size(&dq), 0);
	actor__deque_destroy(&dq);
}

Test(deque_stress, owner_and_three_thieves_ten_million, .timeout = 120)
{
	const char *err = stress_deque(3, 10000000);

	cr_assert_null(err, "%s", err);
}

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "mailbox/envelope.h"
#include "tests/leakcheck.h"
#include "tests/stress/stress.h"

Test(envelope, small_payloads_are_inline)
{
	struct actor__pool *p = actor__pool_create();

	for (size_t size = 0; size <= ACTOR__ENV_MAX_INLINE; size += 61) {
		struct actor__env *e = actor__env_alloc(p, size);

		cr_assert_not_null(e);
		cr_assert_eq(e->size, size);
		cr_assert_eq(e->data, (void *)e->inline_data);
		cr_assert_eq((uintptr_t)e->data % 16, 0, "payload is 16-byte aligned");
		memset(e->data, 0xa5, size);
		actor__env_free(p, e);
	}
	cr_assert_eq(actor__pool_destroy(p), 0);
}

Test(envelope, large_payloads_are_external)
{
	struct actor__pool *p = actor__pool_create();
	struct actor__env *e = actor__env_alloc(p, ACTOR__ENV_MAX_INLINE + 1);

	cr_assert_not_null(e);
	cr_assert_neq(e->data, (void *)e->inline_data);
	cr_assert_eq(e->size, ACTOR__ENV_MAX_INLINE + 1);
	memset(e->data, 0x5a, e->size);
	actor__env_free(p, e);
	cr_assert_eq(actor__pool_destroy(p), 0);
}

static int freed;
static void count_free(void *buf)
{
	freed++;
	free(buf);
}

Test(envelope, moved_buffer_is_freed_once)
{
	struct actor__pool *p = actor__pool_create();
	void *buf = malloc(100);
	struct actor__env *e = actor__env_alloc_moved(p, buf, 100, count_free);

	cr_assert_eq(e->data, buf);
	actor__env_free(p, e);
	cr_assert_eq(freed, 1);
	cr_assert_eq(actor__pool_destroy(p), 0);
}

Test(envelope, envelopes_are_reused)
{
	struct actor__pool *p = actor__pool_create();
	struct actor__env *a = actor__env_alloc(p, 8);

	actor__env_free(p, a);
	cr_assert_eq(actor__env_alloc(p, 8), a, "the free list hands back the same envelope");
	cr_assert_eq(actor__pool_live(p), 1);
	actor__env_free(p, a);
	cr_assert_eq(actor__pool_destroy(p), 0);
}

Test(envelope, foreign_free_returns_to_owner)
{
	struct actor__pool *owner = actor__pool_create(), *other = actor__pool_create();
	struct actor__env *e[100];

	for (int i = 0; i < 100; i++)
		e[i] = actor__env_alloc(owner, (size_t)i * 40);
	cr_assert_eq(actor__pool_live(owner), 100);
	for (int i = 0; i < 100; i++)
		actor__env_free(other, e[i]);
	cr_assert_eq(actor__pool_live(other), 0, "nothing landed in the wrong pool");
	cr_assert_eq(actor__pool_live(owner), 0);
	cr_assert_eq(actor__pool_destroy(other), 0);
	cr_assert_eq(actor__pool_destroy(owner), 0);
}

Test(envelope, destroy_reports_leaks)
{
	struct actor__pool *p = actor__pool_create();

	actor__env_alloc(p, 1);
	actor__env_alloc(p, 1000);
	cr_assert_eq(actor__pool_destroy(p), 2);
}

Test(envelope, without_pool_uses_malloc)
{
	struct actor__env *e = actor__env_alloc(NULL, 300);

	cr_assert_not_null(e);
	cr_assert_null(e->owner);
	memset(e->data, 1, 300);
	actor__env_free(NULL, e);
}

Test(envelope, stress_ring_of_threads, .timeout = 60)
{
	const char *err = stress_envelope(4, 200000);

	cr_assert_null(err, "%s", err);
	assert_no_leaks();
}

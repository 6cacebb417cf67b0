/*
 * Chase-Lev deque; see deque.h for the contract.
 *
 * Orderings (x86-64 needs only the two seq_cst fences; ARMv8 needs them all):
 *
 *  - push publishes the slot with a release store of bottom. The paper's
 *    "release fence; relaxed store" is equivalent, but on AArch64 it is a
 *    full dmb ish while a release store is one stlr, and ThreadSanitizer
 *    understands release stores but ignores fences.
 *  - push loads top with acquire: it pairs with a thief's CAS, so the thief
 *    has read its slot before the owner overwrites it.
 *  - take stores bottom, then a seq_cst fence, then loads top; steal loads
 *    top, then a seq_cst fence, then loads bottom. The two fences forbid the
 *    store-buffering outcome in which the owner and a thief both take the
 *    last item. Never replace take's fence with a seq_cst store followed by a
 *    relaxed load: on AArch64 that is stlr; ldr, which may reorder.
 *  - The CAS on top is seq_cst: one total order of all updates to top.
 *  - Errata (CDSChecker): after growing, push writes into the new array; the
 *    new array is published with release and read by thieves with acquire.
 *
 * Indices are signed 64-bit so that take on an empty deque (bottom - 1 = -1)
 * compares correctly, and slots are atomics because a thief reads a slot
 * that the owner may be writing (it then loses the CAS and discards it).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "mailbox/deque.h"

struct actor__deque_array {
	int64_t mask;				/* capacity - 1 */
	struct actor__deque_array *prev;	/* retired list */
	_Atomic(void *) slot[];
};

static struct actor__deque_array *array_new(int64_t capacity)
{
	struct actor__deque_array *a;

	a = malloc(sizeof(*a) + (size_t)capacity * sizeof(a->slot[0]));
	if (a == NULL)
		return NULL;
	a->mask = capacity - 1;
	a->prev = NULL;
	for (int64_t i = 0; i < capacity; i++)
		atomic_init(&a->slot[i], NULL);
	return a;
}

int actor__deque_init(struct actor__deque *dq, size_t capacity)
{
	int64_t cap = 16;
	struct actor__deque_array *a;

	while ((size_t)cap < capacity)
		cap <<= 1;
	a = array_new(cap);
	if (a == NULL)
		return -ENOMEM;
	atomic_init(&dq->top, 0);
	atomic_init(&dq->bottom, 0);
	atomic_init(&dq->array, a);
	dq->retired = NULL;
	return 0;
}

void actor__deque_destroy(struct actor__deque *dq)
{
	struct actor__deque_array *a, *prev;

	free(atomic_load_explicit(&dq->array, memory_order_relaxed));
	for (a = dq->retired; a != NULL; a = prev) {
		prev = a->prev;
		free(a);
	}
	dq->retired = NULL;
}

static struct actor__deque_array *grow(struct actor__deque *dq, struct actor__deque_array *a,
				       int64_t t, int64_t b)
{
	struct actor__deque_array *n = array_new(2 * (a->mask + 1));

	if (n == NULL)
		return NULL;
	for (int64_t i = t; i < b; i++)
		atomic_store_explicit(&n->slot[i & n->mask],
				      atomic_load_explicit(&a->slot[i & a->mask],
							   memory_order_relaxed),
				      memory_order_relaxed);
	atomic_store_explicit(&dq->array, n, memory_order_release);
	a->prev = dq->retired;
	dq->retired = a;
	return n;
}

int actor__deque_push(struct actor__deque *dq, void *item)
{
	int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
	int64_t t = atomic_load_explicit(&dq->top, memory_order_acquire);
	struct actor__deque_array *a = atomic_load_explicit(&dq->array, memory_order_relaxed);

	if (actor__unlikely(b - t > a->mask)) {
		a = grow(dq, a, t, b);
		if (a == NULL)
			return -ENOMEM;
	}
	atomic_store_explicit(&a->slot[b & a->mask], item, memory_order_relaxed);
	atomic_store_explicit(&dq->bottom, b + 1, memory_order_release);
	return 0;
}

void *actor__deque_take(struct actor__deque *dq)
{
	int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed) - 1;
	struct actor__deque_array *a = atomic_load_explicit(&dq->array, memory_order_relaxed);
	int64_t t;
	void *item;

	atomic_store_explicit(&dq->bottom, b, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	t = atomic_load_explicit(&dq->top, memory_order_relaxed);
	if (t > b) {
		/* Empty: restore bottom. */
		atomic_store_explicit(&dq->bottom, b + 1, memory_order_relaxed);
		return NULL;
	}
	item = atomic_load_explicit(&a->slot[b & a->mask], memory_order_relaxed);
	if (t == b) {
		/* The last item: race the thieves for it through top. */
		if (!atomic_compare_exchange_strong_explicit(&dq->top, &t, t + 1,
							     memory_order_seq_cst,
							     memory_order_relaxed))
			item = NULL;
		atomic_store_explicit(&dq->bottom, b + 1, memory_order_relaxed);
	}
	return item;
}

void *actor__deque_steal(struct actor__deque *dq)
{
	int64_t t = atomic_load_explicit(&dq->top, memory_order_acquire);
	int64_t b;
	struct actor__deque_array *a;
	void *item;

	atomic_thread_fence(memory_order_seq_cst);
	b = atomic_load_explicit(&dq->bottom, memory_order_acquire);
	if (t >= b)
		return ACTOR__DEQUE_EMPTY;
	a = atomic_load_explicit(&dq->array, memory_order_acquire);
	item = atomic_load_explicit(&a->slot[t & a->mask], memory_order_relaxed);
	if (!atomic_compare_exchange_strong_explicit(&dq->top, &t, t + 1, memory_order_seq_cst,
						     memory_order_relaxed))
		return ACTOR__DEQUE_ABORT;
	return item;
}

size_t actor__deque_size(const struct actor__deque *dq)
{
	int64_t b = atomic_load_explicit(&dq->bottom, memory_order_relaxed);
	int64_t t = atomic_load_explicit(&dq->top, memory_order_relaxed);

	return b > t ? (size_t)(b - t) : 0;
}

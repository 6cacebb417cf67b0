/*
 * One owner pushes bursts and takes some back while thieves steal; every
 * item must be taken exactly once, by someone.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "mailbox/deque.h"
#include "tests/stress/stress.h"

#define MAX_THIEVES 16

struct run {
	struct actor__deque dq;
	unsigned long items;
	_Atomic unsigned char *seen;
	_Atomic bool done;
	_Atomic unsigned long taken;
};

/* Items are encoded so that they are never EMPTY (0) or ABORT (1). */
static void *encode(unsigned long i)
{
	return (void *)(uintptr_t)((i + 1) << 1);
}

static void mark(struct run *r, void *item)
{
	unsigned long i = ((uintptr_t)item >> 1) - 1;

	if (i < r->items)
		atomic_fetch_add_explicit(&r->seen[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->taken, 1, memory_order_relaxed);
}

static void *thief(void *p)
{
	struct run *r = p;

	for (;;) {
		bool done = atomic_load_explicit(&r->done, memory_order_acquire);
		void *x = actor__deque_steal(&r->dq);

		if (x == ACTOR__DEQUE_ABORT)
			continue;
		if (x != ACTOR__DEQUE_EMPTY)
			mark(r, x);
		else if (done)
			return NULL;
		else
			actor__cpu_relax();
	}
}

static unsigned long xorshift(unsigned long *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void own(struct run *r)
{
	unsigned long rng = 0x9e3779b97f4a7c15ul, i = 0;
	void *x;

	while (i < r->items) {
		unsigned long burst = 1 + xorshift(&rng) % 64, keep;

		for (unsigned long k = 0; k < burst && i < r->items; k++)
			if (actor__deque_push(&r->dq, encode(i++)) != 0)
				abort();
		/* Take some back, sometimes down to the last item, to race thieves. */
		keep = xorshift(&rng) % (burst + 1);
		for (unsigned long k = 0; k < keep && (x = actor__deque_take(&r->dq)) != NULL; k++)
			mark(r, x);
	}
	while ((x = actor__deque_take(&r->dq)) != NULL)
		mark(r, x);
	atomic_store_explicit(&r->done, true, memory_order_release);
}

const char *stress_deque(unsigned thieves, unsigned long items)
{
	struct run *r = calloc(1, sizeof(*r));
	pthread_t tid[MAX_THIEVES];
	const char *err = NULL;

	if (r == NULL || thieves > MAX_THIEVES)
		return "bad arguments";
	r->items = items;
	r->seen = calloc(items, 1);
	if (r->seen == NULL || actor__deque_init(&r->dq, 16) != 0)
		return "out of memory";
	for (unsigned i = 0; i < thieves; i++)
		pthread_create(&tid[i], NULL, thief, r);
	own(r);
	for (unsigned i = 0; i < thieves; i++)
		pthread_join(tid[i], NULL);
	if (atomic_load(&r->taken) != items)
		err = "number of items taken differs from number pushed";
	for (unsigned long i = 0; i < items && err == NULL; i++)
		if (atomic_load_explicit(&r->seen[i], memory_order_relaxed) != 1)
			err = "an item was lost or taken twice";
	actor__deque_destroy(&r->dq);
	free((void *)r->seen);
	free(r);
	return err;
}

/*
 * Many producers, one mailbox, one consumer that behaves like the scheduler:
 * it drains, tries to block, and only resumes when a pusher reports WOKE.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "mailbox/mpsc.h"
#include "tests/stress/stress.h"

#define MAX_PRODUCERS 64
#define WINDOW 32768		/* envelopes a producer may have in flight */

struct run {
	struct actor__mbox mb;
	unsigned producers;
	unsigned long per_producer;
	_Atomic unsigned long wakes;
	_Atomic bool stop;		/* the consumer failed: producers give up */
	_Atomic unsigned long consumed[MAX_PRODUCERS];
	struct actor__pool *pools[MAX_PRODUCERS];
	const char *error;
};

struct producer_arg {
	struct run *run;
	unsigned id;
};

static bool is_urgent(unsigned long n, unsigned id)
{
	return (n * 7 + id) % 13 == 0;
}

static void *producer(void *p)
{
	struct producer_arg *a = p;
	struct run *r = a->run;
	struct actor__pool *pool = r->pools[a->id];
	uint64_t seq[2] = { 0, 0 };

	for (unsigned long n = 0; n < r->per_producer; n++) {
		int lane = is_urgent(n, a->id);
		struct actor__env *e;

		if (n % 256 == 0)
			while (n - atomic_load_explicit(&r->consumed[a->id],
							memory_order_relaxed) > WINDOW) {
				if (atomic_load(&r->stop))
					return NULL;
				sched_yield();
			}
		e = actor__env_alloc(pool, n % 3 ? sizeof n : 0);
		if (e == NULL)
			abort();
		e->sender = a->id;
		e->request_id = seq[lane]++;
		e->type = (uint32_t)n;
		e->flags = lane ? ACTOR__ENV_URGENT : 0;
		if (e->size)
			*(unsigned long *)e->data = n;
		if (actor__mbox_push(&r->mb, e) == ACTOR__MBOX_WOKE)
			atomic_fetch_add_explicit(&r->wakes, 1, memory_order_relaxed);
	}
	return NULL;
}

/* Waits until a pusher has scheduled us for blocked period `blocks`. */
static const char *wait_woken(struct run *r, unsigned long blocks)
{
	unsigned long w;

	while ((w = atomic_load_explicit(&r->wakes, memory_order_relaxed)) < blocks)
		sched_yield();
	return w > blocks ? "two pushers saw WOKE for one blocked period" : NULL;
}

static const char *consume(struct run *r)
{
	unsigned long total = r->producers * r->per_producer, received = 0, blocks = 1;
	uint64_t expected[MAX_PRODUCERS][2] = { { 0 } };
	struct actor__pool *pool = actor__pool_create();
	const char *err;

	if ((err = wait_woken(r, blocks)) != NULL)
		return err;
	while (received < total) {
		struct actor__env *e = actor__mbox_pop(&r->mb);

		if (e == NULL) {
			if (actor__mbox_try_block(&r->mb) && (err = wait_woken(r, ++blocks)) != NULL)
				return err;
			continue;
		}
		int lane = (e->flags & ACTOR__ENV_URGENT) != 0;
		if (e->sender >= r->producers)
			return "envelope from an unknown producer";
		if (lane != is_urgent(e->type, (unsigned)e->sender))
			return "envelope changed lanes";
		if (e->request_id != expected[e->sender][lane]++)
			return "per-producer order broken, or an envelope lost or duplicated";
		if (e->size && *(unsigned long *)e->data != e->type)
			return "payload corrupted";
		atomic_store_explicit(&r->consumed[e->sender],
				      atomic_load_explicit(&r->consumed[e->sender],
							   memory_order_relaxed) + 1,
				      memory_order_relaxed);
		actor__env_free(pool, e);
		received++;
	}
	if (actor__mbox_pop(&r->mb) != NULL)
		return "more envelopes than were sent";
	if (atomic_load(&r->wakes) != blocks)
		return "wake-ups do not match blocked periods";
	if (actor__pool_destroy(pool) != 0)
		return "consumer pool leaked";
	return NULL;
}

const char *stress_mpsc(unsigned producers, unsigned long per_producer)
{
	struct run *r = calloc(1, sizeof(*r));
	pthread_t tid[MAX_PRODUCERS];
	struct producer_arg args[MAX_PRODUCERS];
	const char *err;

	if (r == NULL || producers > MAX_PRODUCERS)
		return "bad arguments";
	actor__mbox_init(&r->mb, 0);
	r->producers = producers;
	r->per_producer = per_producer;
	for (unsigned i = 0; i < producers; i++) {
		r->pools[i] = actor__pool_create();
		args[i] = (struct producer_arg){ r, i };
		pthread_create(&tid[i], NULL, producer, &args[i]);
	}
	err = consume(r);
	if (err != NULL)
		atomic_store(&r->stop, true);
	for (unsigned i = 0; i < producers; i++)
		pthread_join(tid[i], NULL);
	/* After a failure envelopes are still queued: leave the pools be. */
	for (unsigned i = 0; i < producers && err == NULL; i++)
		if (actor__pool_destroy(r->pools[i]) != 0)
			err = "an envelope never came back to its producer's pool";
	free(r);
	return err;
}

/*
 * A mailbox closed and reopened over and over, alternately bounded and
 * unbounded, as a reused actor slot or a reconnected peer's queue is, while
 * senders that still hold it push all the time: a sender's count must never
 * leak into the next incarnation's (the count wrapped and the bounded
 * mailbox refused every send for good: issue 11, bug 1).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "mailbox/mpsc.h"
#include "tests/stress/stress.h"

#define SENDERS 2
#define CAPACITY 4

struct reopen_run {
	struct actor__mbox mb;
	_Atomic bool stop;
	struct actor__pool *pools[SENDERS];
};

struct reopen_arg {
	struct reopen_run *r;
	unsigned id;
};

static void *stale_sender(void *p)
{
	struct reopen_arg *a = p;
	struct actor__pool *pool = a->r->pools[a->id];

	while (!atomic_load_explicit(&a->r->stop, memory_order_relaxed)) {
		struct actor__env *e = actor__env_alloc(pool, 0);

		if (e == NULL)
			abort();
		if (actor__mbox_push(&a->r->mb, e) < 0)
			actor__env_free(pool, e);
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void free_all(struct actor__env *e, struct actor__pool *pool)
{
	for (struct actor__env *next; e != NULL; e = next) {
		next = e->next;
		actor__env_free(pool, e);
	}
}

const char *stress_mpsc_reopen(unsigned long rounds, double seconds, unsigned long *done)
{
	struct reopen_run *r = calloc(1, sizeof(*r));
	struct reopen_arg args[SENDERS];
	pthread_t tid[SENDERS];
	struct actor__pool *pool = actor__pool_create();
	double until = now_s() + seconds;
	const char *err = NULL;
	unsigned long i;

	if (r == NULL || pool == NULL)
		return "out of memory";
	actor__mbox_init(&r->mb, CAPACITY);
	for (unsigned k = 0; k < SENDERS; k++) {
		r->pools[k] = actor__pool_create();
		args[k] = (struct reopen_arg){ r, k };
		pthread_create(&tid[k], NULL, stale_sender, &args[k]);
	}
	for (i = 0; i < rounds && err == NULL && (i % 256 != 0 || now_s() < until); i++) {
		struct actor__env *e;

		/* One short incarnation: take some of the mail, then close. A
		 * count may only hold what is queued or being pushed. */
		for (int k = 0; k < 8 && (e = actor__mbox_pop(&r->mb)) != NULL; k++)
			actor__env_free(pool, e);
		if (atomic_load_explicit(&r->mb.count, memory_order_relaxed) > CAPACITY + SENDERS)
			err = "the count leaked from an earlier incarnation (it wrapped)";
		free_all(actor__mbox_close(&r->mb), pool);
		actor__mbox_reopen(&r->mb, i % 2 ? CAPACITY : 0);
	}
	atomic_store(&r->stop, true);
	for (unsigned k = 0; k < SENDERS; k++)
		pthread_join(tid[k], NULL);
	free_all(actor__mbox_close(&r->mb), pool);
	if (done != NULL)
		*done = i;
	if (err == NULL && atomic_load(&r->mb.count) != 0)
		err = "envelopes counted that were never queued";
	for (unsigned k = 0; k < SENDERS; k++)
		if (actor__pool_destroy(r->pools[k]) != 0 && err == NULL)
			err = "an envelope never came back to its sender's pool";
	if (actor__pool_destroy(pool) != 0 && err == NULL)
		err = "the consumer's pool leaked";
	free(r);
	return err;
}

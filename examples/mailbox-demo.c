/*
 * mailbox-demo: what libactor has so far, end to end. Four producer threads
 * send numbered messages into one mailbox; a consumer drains it the way a
 * worker will drain an actor, going idle whenever it runs dry and being
 * woken by exactly one sender; then the consumer hands work items to a
 * work-stealing deque that two thieves help empty.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <actor/actor.h>

#include "mailbox/deque.h"
#include "mailbox/mpsc.h"

#define PRODUCERS 4
#define PER_PRODUCER 250000
#define THIEVES 2

static struct actor__mbox mailbox;
static _Atomic unsigned long wakes;
static struct actor__deque deque;
static _Atomic int deque_done;
static _Atomic unsigned long stolen;

static void *producer(void *arg)
{
	struct actor__pool *pool = arg;

	for (uint64_t n = 0; n < PER_PRODUCER; n++) {
		struct actor__env *e = actor__env_alloc(pool, sizeof n);

		if (e == NULL)
			abort();
		*(uint64_t *)e->data = n;
		e->flags = n % 1000 == 0 ? ACTOR__ENV_URGENT : 0;
		if (actor__mbox_push(&mailbox, e) == ACTOR__MBOX_WOKE)
			atomic_fetch_add(&wakes, 1);
	}
	return NULL;
}

static void *thief(void *arg)
{
	for (;;) {
		int done = atomic_load(&deque_done);
		void *x = actor__deque_steal(&deque);

		if (x != ACTOR__DEQUE_EMPTY && x != ACTOR__DEQUE_ABORT)
			atomic_fetch_add(&stolen, 1);
		else if (x == ACTOR__DEQUE_EMPTY && done)
			return NULL;
	}
}

int main(void)
{
	struct actor__pool *pools[PRODUCERS], *mine = actor__pool_create();
	pthread_t tid[PRODUCERS], thieves[THIEVES];
	unsigned long received = 0, urgent = 0, blocks = 1, sum = 0, taken = 0;
	void *x;

	printf("libactor %s: mailbox demo\n", actor_version_string());
	actor__mbox_init(&mailbox, 0);
	for (int i = 0; i < PRODUCERS; i++) {
		pools[i] = actor__pool_create();
		pthread_create(&tid[i], NULL, producer, pools[i]);
	}
	while (received < (unsigned long)PRODUCERS * PER_PRODUCER) {
		struct actor__env *e = actor__mbox_pop(&mailbox);

		if (e != NULL) {
			received++;
			urgent += (e->flags & ACTOR__ENV_URGENT) != 0;
			sum += *(uint64_t *)e->data;
			actor__env_free(mine, e);
		} else if (actor__mbox_try_block(&mailbox)) {
			blocks++;
			while (atomic_load(&wakes) < blocks)
				sched_yield();
		}
	}
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(tid[i], NULL);
	printf("mailbox: %lu messages (%lu urgent), checksum %s, went idle %lu times, "
	       "woken %lu times\n", received, urgent,
	       sum == (unsigned long)PRODUCERS * PER_PRODUCER * (PER_PRODUCER - 1) / 2 ? "ok"
									: "WRONG",
	       blocks - 1, atomic_load(&wakes) - 1);

	actor__deque_init(&deque, 64);
	for (int i = 0; i < THIEVES; i++)
		pthread_create(&thieves[i], NULL, thief, NULL);
	for (uintptr_t i = 1; i <= 1000000; i++) {
		actor__deque_push(&deque, (void *)(i << 1));
		if (i % 2 == 0 && actor__deque_take(&deque) != NULL)
			taken++;
	}
	while ((x = actor__deque_take(&deque)) != NULL)
		taken++;
	atomic_store(&deque_done, 1);
	for (int i = 0; i < THIEVES; i++)
		pthread_join(thieves[i], NULL);
	printf("deque: 1000000 items, owner took %lu, thieves stole %lu: %s\n", taken,
	       atomic_load(&stolen), taken + atomic_load(&stolen) == 1000000 ? "ok" : "WRONG");
	actor__deque_destroy(&deque);
	for (int i = 0; i < PRODUCERS; i++)
		actor__pool_destroy(pools[i]);
	actor__pool_destroy(mine);
	return 0;
}

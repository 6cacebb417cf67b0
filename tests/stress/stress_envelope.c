/*
 * Threads in a ring: each allocates envelopes of random sizes (inline and
 * external payloads) from its own pool, fills them with a pattern and sends
 * them to its neighbour through a bounded mailbox; the neighbour checks the
 * pattern and frees them into the sender's pool from afar.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mailbox/mpsc.h"
#include "tests/stress/stress.h"

#define MAX_THREADS 16
#define MAILBOX_CAPACITY 1024

struct run;

struct member {
	struct run *run;
	unsigned id;
	struct actor__pool *pool;
	struct actor__mbox mb;
	const char *error;
};

struct run {
	unsigned threads;
	unsigned long per_thread;
	struct member m[MAX_THREADS];
};

static unsigned long xorshift(unsigned long *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static size_t random_size(unsigned long *rng)
{
	unsigned long x = xorshift(rng);

	if (x % 16 == 0)
		return x % (2 * ACTOR__ENV_MAX_INLINE);	/* large, some external */
	return x % 200;
}

static unsigned char pattern(uint64_t sender, uint64_t n)
{
	return (unsigned char)(sender * 31 + n);
}

/* Checks and frees what arrived; returns how many. */
static unsigned long drain(struct member *me)
{
	struct actor__env *e;
	unsigned long n = 0;

	while ((e = actor__mbox_pop(&me->mb)) != NULL) {
		unsigned char want = pattern(e->sender, e->request_id);
		const unsigned char *d = e->data;

		for (uint32_t i = 0; i < e->size; i++)
			if (d[i] != want) {
				me->error = "payload corrupted";
				break;
			}
		actor__env_free(me->pool, e);
		n++;
	}
	return n;
}

static void *member_main(void *p)
{
	struct member *me = p;
	struct run *r = me->run;
	struct member *next = &r->m[(me->id + 1) % r->threads];
	unsigned long rng = 0x2545f4914f6cdd1dul + me->id, got = 0;

	for (unsigned long n = 0; n < r->per_thread; n++) {
		size_t size = random_size(&rng);
		struct actor__env *e = actor__env_alloc(me->pool, size);

		if (e == NULL) {
			me->error = "allocation failed";
			return NULL;
		}
		memset(e->data, pattern(me->id, n), size);
		e->sender = me->id;
		e->request_id = n;
		while (actor__mbox_push(&next->mb, e) < 0)
			got += drain(me);	/* neighbour full: make progress ourselves */
		got += drain(me);
	}
	while (got < r->per_thread)
		got += drain(me);
	return NULL;
}

const char *stress_envelope(unsigned threads, unsigned long per_thread)
{
	struct run *r = calloc(1, sizeof(*r));
	pthread_t tid[MAX_THREADS];
	const char *err = NULL;

	if (r == NULL || threads < 2 || threads > MAX_THREADS)
		return "bad arguments";
	r->threads = threads;
	r->per_thread = per_thread;
	for (unsigned i = 0; i < threads; i++) {
		r->m[i] = (struct member){ .run = r, .id = i, .pool = actor__pool_create() };
		actor__mbox_init(&r->m[i].mb, MAILBOX_CAPACITY);
	}
	for (unsigned i = 0; i < threads; i++)
		pthread_create(&tid[i], NULL, member_main, &r->m[i]);
	for (unsigned i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	for (unsigned i = 0; i < threads; i++) {
		if (err == NULL)
			err = r->m[i].error;
		if (actor__pool_destroy(r->m[i].pool) != 0 && err == NULL)
			err = "a pool did not get all its envelopes back";
	}
	free(r);
	return err;
}

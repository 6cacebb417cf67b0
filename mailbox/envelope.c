/*
 * Envelope pools. Each size class keeps an owner-only free list (no atomics
 * at all on the owner's alloc/free path) and every pool has one return stack
 * that other threads push freed envelopes onto.
 *
 * There is one return stack per size class: a Treiber stack with one
 * consumer that only ever takes the whole stack with an exchange
 * (ck_stack's push_upmc/batch_pop_upmc pattern, written with C11 atomics so
 * that ThreadSanitizer sees it). Since nothing pops single nodes, the
 * pushers' CAS cannot suffer ABA, and taking the returns back is O(1): the
 * whole stack becomes the class's free list, without walking it (a walk
 * would miss the cache on every envelope that another core last touched).
 * For the same reason the pool does not count returns as they happen:
 * actor__pool_live() counts the free lists instead.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mailbox/envelope.h"

#define NCLASSES 7			/* 64, 128, ..., 4096 bytes in all */
#define CLASS_SIZE(c) ((size_t)64 << (c))
#define HEAP_CLASS 0xff			/* malloc'd, pool == NULL */
#define SLAB_BYTES (64 * 1024)		/* refill granularity per class */

struct slab {
	struct slab *next;
};

struct actor__pool {
	/* Written by other threads: their own cache line. */
	ACTOR__ALIGNED_LINE _Atomic(struct actor__env *) returned[NCLASSES];

	ACTOR__ALIGNED_LINE struct actor__env *free[NCLASSES];
	size_t carved;			/* envelopes made from slabs */
	struct slab *slabs;
};

_Static_assert(sizeof(struct actor__env) == 64, "envelope header is one cache line");

static unsigned size_class(size_t size)
{
	size_t total = sizeof(struct actor__env) + size;
	unsigned c = 0;

	while (CLASS_SIZE(c) < total)
		c++;
	return c;
}

struct actor__pool *actor__pool_create(void)
{
	struct actor__pool *p = aligned_alloc(ACTOR__CACHELINE, sizeof(*p));

	if (p == NULL)
		return NULL;
	memset(p, 0, sizeof(*p));
	for (unsigned c = 0; c < NCLASSES; c++)
		atomic_init(&p->returned[c], NULL);
	return p;
}

/* Takes back what other threads returned to class c, if anything. */
static void take_returned(struct actor__pool *p, unsigned c)
{
	if (atomic_load_explicit(&p->returned[c], memory_order_relaxed) == NULL)
		return;
	/* Acquire: the pushers' writes to the envelopes happen before reuse. */
	p->free[c] = atomic_exchange_explicit(&p->returned[c], NULL, memory_order_acquire);
}

/* Carves a new slab into envelopes of class c; false on ENOMEM. */
static bool refill(struct actor__pool *p, unsigned c)
{
	size_t esize = CLASS_SIZE(c);
	size_t n = SLAB_BYTES / esize;
	char *mem, *base;

	if (n < 8)
		n = 8;
	/* The slab header takes the first line; envelopes stay line aligned. */
	mem = aligned_alloc(ACTOR__CACHELINE, ACTOR__CACHELINE + n * esize);
	if (mem == NULL)
		return false;
	((struct slab *)mem)->next = p->slabs;
	p->slabs = (struct slab *)mem;
	base = mem + ACTOR__CACHELINE;
	p->carved += n;
	for (size_t i = n; i-- > 0;) {
		struct actor__env *e = (struct actor__env *)(base + i * esize);

		e->owner = p;
		e->size_class = (uint8_t)c;
		e->next = p->free[c];
		p->free[c] = e;
	}
	return true;
}

static struct actor__env *env_get(struct actor__pool *p, unsigned c)
{
	struct actor__env *e;

	if (p == NULL) {
		e = aligned_alloc(ACTOR__CACHELINE, CLASS_SIZE(c));
		if (e == NULL)
			return NULL;
		e->owner = NULL;
		e->size_class = HEAP_CLASS;
	} else {
		if (actor__unlikely(p->free[c] == NULL)) {
			take_returned(p, c);
			if (p->free[c] == NULL && !refill(p, c))
				return NULL;
		}
		e = p->free[c];
		p->free[c] = e->next;
	}
	e->next = NULL;
	e->flags = 0;
	e->data_free = NULL;
	return e;
}

struct actor__env *actor__env_alloc(struct actor__pool *pool, size_t size)
{
	struct actor__env *e;
	void *buf;

	if (size > UINT32_MAX)
		return NULL;
	if (size <= ACTOR__ENV_MAX_INLINE) {
		e = env_get(pool, size_class(size));
		if (e == NULL)
			return NULL;
		e->size = (uint32_t)size;
		e->data = e->inline_data;
		return e;
	}
	buf = malloc(size);
	if (buf == NULL)
		return NULL;
	e = actor__env_alloc_moved(pool, buf, size, free);
	if (e == NULL)
		free(buf);
	return e;
}

struct actor__env *actor__env_alloc_moved(struct actor__pool *pool, void *buf,
					  size_t size, void (*buf_free)(void *))
{
	struct actor__env *e;

	if (size > UINT32_MAX)
		return NULL;
	e = env_get(pool, 0);
	if (e == NULL)
		return NULL;
	e->size = (uint32_t)size;
	e->data = buf;
	e->data_free = buf_free;
	return e;
}

void actor__env_free(struct actor__pool *self, struct actor__env *e)
{
	struct actor__pool *owner = e->owner;
	struct actor__env *head;

	if (e->data_free != NULL)
		e->data_free(e->data);
	if (owner == NULL) {
		free(e);
	} else if (owner == self) {
		e->next = owner->free[e->size_class];
		owner->free[e->size_class] = e;
	} else {
		_Atomic(struct actor__env *) *stack = &owner->returned[e->size_class];

		head = atomic_load_explicit(stack, memory_order_relaxed);
		do
			e->next = head;
		while (!atomic_compare_exchange_weak_explicit(stack, &head, e, memory_order_release,
							      memory_order_relaxed));
	}
}

size_t actor__pool_live(struct actor__pool *pool)
{
	size_t nfree = 0;

	/* Slab envelopes not on a free list or a return stack are out. */
	for (unsigned c = 0; c < NCLASSES; c++) {
		struct actor__env *ret = atomic_exchange_explicit(&pool->returned[c], NULL,
								  memory_order_acquire);
		struct actor__env **tail = &pool->free[c];

		for (; *tail != NULL; tail = &(*tail)->next)
			nfree++;
		*tail = ret;
		for (; ret != NULL; ret = ret->next)
			nfree++;
	}
	return pool->carved - nfree;
}

size_t actor__pool_destroy(struct actor__pool *pool)
{
	size_t live = actor__pool_live(pool);
	struct slab *s, *next;

	for (s = pool->slabs; s != NULL; s = next) {
		next = s->next;
		free(s);
	}
	free(pool);
	return live;
}

/*
 * Envelope pools. Each size class keeps an owner-only free list (no atomics
 * at all on the owner's alloc/free path) and every pool has one return stack
 * that other threads push freed envelopes onto.
 *
 * The return stack is a Treiber stack with one consumer that only ever takes
 * the whole stack with an exchange (ck_stack's push_upmc/batch_pop_upmc
 * pattern, written with C11 atomics so that ThreadSanitizer sees it). Since
 * nothing pops single nodes, the pushers' CAS cannot suffer ABA.
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
	/* Written by other threads: its own cache line. */
	ACTOR__ALIGNED_LINE _Atomic(struct actor__env *) returned;

	ACTOR__ALIGNED_LINE struct actor__env *free[NCLASSES];
	size_t live;
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
	atomic_init(&p->returned, NULL);
	return p;
}

/* Moves everything other threads returned onto the free lists. */
static void drain_returned(struct actor__pool *p)
{
	struct actor__env *e, *next;

	if (atomic_load_explicit(&p->returned, memory_order_relaxed) == NULL)
		return;
	/* Acquire: the pushers' writes to the envelopes happen before reuse. */
	e = atomic_exchange_explicit(&p->returned, NULL, memory_order_acquire);
	for (; e != NULL; e = next) {
		next = e->next;
		e->next = p->free[e->size_class];
		p->free[e->size_class] = e;
		p->live--;
	}
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
			drain_returned(p);
			if (p->free[c] == NULL && !refill(p, c))
				return NULL;
		}
		e = p->free[c];
		p->free[c] = e->next;
		p->live++;
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
		owner->live--;
	} else {
		head = atomic_load_explicit(&owner->returned, memory_order_relaxed);
		do
			e->next = head;
		while (!atomic_compare_exchange_weak_explicit(&owner->returned, &head, e,
							      memory_order_release,
							      memory_order_relaxed));
	}
}

size_t actor__pool_live(struct actor__pool *pool)
{
	drain_returned(pool);
	return pool->live;
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

/*
 * The actor table: slots in chunks of ACTOR__CHUNK_SLOTS that are published
 * once and never moved or freed while the system lives, so a lookup is two
 * loads and never touches freed memory. Free slots go to a small per-worker
 * cache first (spawn and stop on a worker take no lock) and spill to a
 * global list under a mutex.
 *
 * Generations are 32 bits (a reference is slot | generation << 32), so a
 * stale reference names a live actor again once its slot has been reused
 * 2^32 - 1 times. To spread reuse, the cache is a FIFO that a worker takes
 * from only while it holds more than CACHE_MIN slots: a slot freed on a
 * worker comes back after at least CACHE_MIN other spawns there (a LIFO
 * gave it back to the very next one), so a stale reference outlives some
 * 2^38 spawns on one worker (7.6 hours at ten million a second) before it
 * can match again. man/actor_ref_t.3 says so. For that to hold whatever
 * the cache held before, slots from the global list go in at the front
 * (ahead of those freed here) and a full cache spills from the front.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "sched/internal.h"

#define CACHE_MAX 256		/* per-worker cached free slots */
#define CACHE_MIN 64		/* ahead of a freed slot in the FIFO */
#define CACHE_REFILL 64

int actor__table_init(struct actor_system *sys)
{
	uint32_t n = (sys->cfg.max_actors + ACTOR__CHUNK_SLOTS - 1) >> ACTOR__CHUNK_SHIFT;

	sys->chunks = calloc(n, sizeof(*sys->chunks));
	if (sys->chunks == NULL)
		return -ENOMEM;
	sys->nchunks = n;
	sys->fresh = 0;
	sys->free_slots = NULL;
	return pthread_mutex_init(&sys->table_lock, NULL) == 0 ? 0 : -ENOMEM;
}

void actor__table_destroy(struct actor_system *sys)
{
	for (uint32_t i = 0; i < sys->nchunks; i++)
		free(atomic_load_explicit(&sys->chunks[i], memory_order_relaxed));
	free(sys->chunks);
	pthread_mutex_destroy(&sys->table_lock);
}

struct actor__actor *actor__slot_at(const struct actor_system *sys, uint32_t slot)
{
	struct actor__actor *chunk;

	if ((slot >> ACTOR__CHUNK_SHIFT) >= sys->nchunks)
		return NULL;
	chunk = atomic_load_explicit(&sys->chunks[slot >> ACTOR__CHUNK_SHIFT], memory_order_acquire);
	return chunk != NULL ? &chunk[slot & (ACTOR__CHUNK_SLOTS - 1)] : NULL;
}

/* A never-used slot, or NULL with *err set; table_lock held. */
static struct actor__actor *fresh_slot(struct actor_system *sys, int *err)
{
	uint32_t slot = sys->fresh, ci = slot >> ACTOR__CHUNK_SHIFT;
	struct actor__actor *chunk;

	if (slot >= sys->cfg.max_actors || ci >= sys->nchunks) {
		*err = -ENOSPC;
		return NULL;
	}
	chunk = atomic_load_explicit(&sys->chunks[ci], memory_order_relaxed);
	if (chunk == NULL) {
		chunk = aligned_alloc(ACTOR__CACHELINE, ACTOR__CHUNK_SLOTS * sizeof(*chunk));
		if (chunk == NULL) {
			*err = -ENOMEM;
			return NULL;
		}
		for (uint32_t i = 0; i < ACTOR__CHUNK_SLOTS; i++) {
			struct actor__actor *a = &chunk[i];

			/* Closed until spawned, so a forged reference bounces. */
			actor__mbox_init(&a->mb, 0);
			actor__mbox_close(&a->mb);
			atomic_init(&a->gen, 1);
			atomic_init(&a->names, 0);
			a->pending = NULL;
			a->relations = NULL;
			a->slot = (ci << ACTOR__CHUNK_SHIFT) | i;
			a->next = NULL;
		}
		atomic_store_explicit(&sys->chunks[ci], chunk, memory_order_release);
	}
	sys->fresh++;
	return &chunk[slot & (ACTOR__CHUNK_SLOTS - 1)];
}

/* One slot from the global list or a fresh one; table_lock held. */
static struct actor__actor *global_slot(struct actor_system *sys, int *err)
{
	struct actor__actor *a = sys->free_slots;

	if (a != NULL) {
		sys->free_slots = a->next;
		return a;
	}
	return fresh_slot(sys, err);
}

/* At the back of w's cache: see the top of the file. */
static void cache_append(struct actor__worker *w, struct actor__actor *a)
{
	a->next = NULL;
	if (w->free_slots_tail != NULL)
		w->free_slots_tail->next = a;
	else
		w->free_slots = a;
	w->free_slots_tail = a;
	w->nfree_slots++;
}

static struct actor__actor *cache_take(struct actor__worker *w)
{
	struct actor__actor *a = w->free_slots;

	if ((w->free_slots = a->next) == NULL)
		w->free_slots_tail = NULL;
	w->nfree_slots--;
	return a;
}

int actor__slot_alloc(struct actor_system *sys, struct actor__worker *w,
		      struct actor__actor **out)
{
	struct actor__actor *a = NULL;
	int err = 0;

	if (w != NULL && w->nfree_slots > CACHE_MIN) {
		*out = cache_take(w);
		return 0;
	}
	pthread_mutex_lock(&sys->table_lock);
	if (w == NULL) {
		a = global_slot(sys, &err);
	} else {
		/* Refill while we hold the lock, ahead of the slots freed here. */
		struct actor__actor *first = NULL, *last = NULL, *b;
		unsigned n = 0;

		while (n < CACHE_REFILL && (b = global_slot(sys, &err)) != NULL) {
			b->next = NULL;
			*(last != NULL ? &last->next : &first) = b;
			last = b;
			n++;
		}
		if (last != NULL) {
			last->next = w->free_slots;
			if (w->free_slots == NULL)
				w->free_slots_tail = last;
			w->free_slots = first;
			w->nfree_slots += n;
		}
		if (w->free_slots != NULL) {
			a = cache_take(w);
			err = 0;
		}
	}
	pthread_mutex_unlock(&sys->table_lock);
	*out = a;
	return err;
}

void actor__slot_release(struct actor_system *sys, struct actor__worker *w,
			 struct actor__actor *a)
{
	cache_append(w, a);
	if (w->nfree_slots <= CACHE_MAX)
		return;
	pthread_mutex_lock(&sys->table_lock);
	/* A full cache gives its older half back, so no worker hoards slots. */
	while (w->nfree_slots > CACHE_MAX / 2) {
		struct actor__actor *b = cache_take(w);

		b->next = sys->free_slots;
		sys->free_slots = b;
	}
	pthread_mutex_unlock(&sys->table_lock);
}

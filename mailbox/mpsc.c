/*
 * Mailbox implementation; the design is described in mpsc.h.
 *
 * Memory orderings, and why they are enough on ARMv8 (and so on x86-64):
 *
 *  - push: the CAS that links an envelope is acq_rel. Release publishes the
 *    envelope's contents (and its next link) to the consumer's acquire
 *    exchange. Acquire matters for the pusher that replaces BLOCKED: it
 *    synchronises with the consumer's release in try_block, so everything
 *    the last turn of the actor wrote happens before the pusher schedules the
 *    actor, and (through the scheduler's own release/acquire hand-off) before
 *    the next turn on whatever worker runs it.
 *  - fetch: one acquire exchange takes the whole stack.
 *  - try_block: release CAS EMPTY -> BLOCKED; it fails if any push
 *    happened since the last fetch, because every push changes the word.
 *  - pop's peek at the word is relaxed: it only decides whether to fetch,
 *    and the fetch itself is the acquire.
 *  - count and capacity are relaxed: a bound, not a synchronisation. A
 *    push counts only against the capacity it read and marks what it
 *    counted (ACTOR__ENV_COUNTED), so a push that straddles a reopen
 *    leaves the count exact.
 *
 * ARMv8 is other-multi-copy-atomic and every ordering above is on an access
 * to the one head word, so the hardware needs no fences at all: the CAS is
 * an ldaxr/stlxr loop on the A72 (no LSE), the exchange an ldaxr/stxr loop,
 * and each pop's peek a plain ldr. The envelope's own fields are ordinary
 * stores that the stlxr releases.
 */
#include "config.h"

#include <errno.h>

#include "mailbox/mpsc.h"

/* Values of the head word that are not envelope pointers. */
#define TAG_EMPTY ((uintptr_t)0)
#define TAG_BLOCKED ((uintptr_t)1)
#define TAG_CLOSED ((uintptr_t)2)
#define TAG_MAX TAG_CLOSED
/* Set on a stack that holds at least one urgent envelope. */
#define URGENT_BIT ((uintptr_t)4)

_Static_assert(_Alignof(struct actor__env) > URGENT_BIT,
	       "envelope alignment leaves the tag bits free");

static inline bool is_stack(uintptr_t h)
{
	return h > TAG_MAX;
}

void actor__mbox_init(struct actor__mbox *mb, uint32_t capacity)
{
	atomic_init(&mb->head, TAG_BLOCKED);
	atomic_init(&mb->count, 0);
	atomic_init(&mb->capacity, capacity);
	mb->urgent = mb->urgent_tail = NULL;
	mb->normal = mb->normal_tail = NULL;
}

void actor__mbox_reopen(struct actor__mbox *mb, uint32_t capacity)
{
	atomic_store_explicit(&mb->capacity, capacity, memory_order_relaxed);
	mb->urgent = mb->urgent_tail = NULL;
	mb->normal = mb->normal_tail = NULL;
	/* Release: whatever the caller set up before reopening happens before
	 * the first pusher's acquire sees BLOCKED and schedules the consumer. */
	atomic_store_explicit(&mb->head, TAG_BLOCKED, memory_order_release);
}

/* Gives back env's place in the count, if it took one. */
static inline void uncount(struct actor__mbox *mb, struct actor__env *env)
{
	if (env->flags & ACTOR__ENV_COUNTED) {
		env->flags &= (uint16_t)~ACTOR__ENV_COUNTED;
		atomic_fetch_sub_explicit(&mb->count, 1, memory_order_relaxed);
	}
}

static inline int push(struct actor__mbox *mb, struct actor__env *env, bool bounded)
{
	uintptr_t old, urgent = (env->flags & ACTOR__ENV_URGENT) ? URGENT_BIT : 0;
	uint32_t cap = urgent || !bounded ? 0 :
					    atomic_load_explicit(&mb->capacity, memory_order_relaxed);

	/* The capacity may belong to the incarnation before a reopen: the mark
	 * makes whoever takes env out subtract exactly what was added here. */
	env->flags &= (uint16_t)~ACTOR__ENV_COUNTED;
	if (cap != 0) {
		if (atomic_fetch_add_explicit(&mb->count, 1, memory_order_relaxed) >= cap) {
			atomic_fetch_sub_explicit(&mb->count, 1, memory_order_relaxed);
			return actor__mbox_closed(mb) ? -EPIPE : -EAGAIN;
		}
		env->flags |= ACTOR__ENV_COUNTED;
	}
	old = atomic_load_explicit(&mb->head, memory_order_relaxed);
	do {
		if (actor__unlikely(old == TAG_CLOSED)) {
			uncount(mb, env);
			return -EPIPE;
		}
		env->next = is_stack(old) ? (struct actor__env *)(old & ~URGENT_BIT) : NULL;
	} while (!atomic_compare_exchange_weak_explicit(
		&mb->head, &old,
		(uintptr_t)env | urgent | (is_stack(old) ? (old & URGENT_BIT) : 0),
		memory_order_acq_rel, memory_order_relaxed));
	return old == TAG_BLOCKED ? ACTOR__MBOX_WOKE : ACTOR__MBOX_QUEUED;
}

int actor__mbox_push(struct actor__mbox *mb, struct actor__env *env)
{
	return push(mb, env, true);
}

int actor__mbox_push_unbounded(struct actor__mbox *mb, struct actor__env *env)
{
	return push(mb, env, false);
}

/* Reverses a LIFO stack onto the tails of the two FIFO lanes. */
static void append_reversed(struct actor__mbox *mb, struct actor__env *e)
{
	struct actor__env *uh = NULL, *ut = NULL, *nh = NULL, *nt = NULL, *next;

	for (; e != NULL; e = next) {
		next = e->next;
		if (e->flags & ACTOR__ENV_URGENT) {
			e->next = uh;
			uh = e;
			if (ut == NULL)
				ut = e;
		} else {
			e->next = nh;
			nh = e;
			if (nt == NULL)
				nt = e;
		}
	}
	if (uh != NULL) {
		if (mb->urgent_tail != NULL)
			mb->urgent_tail->next = uh;
		else
			mb->urgent = uh;
		mb->urgent_tail = ut;
	}
	if (nh != NULL) {
		if (mb->normal_tail != NULL)
			mb->normal_tail->next = nh;
		else
			mb->normal = nh;
		mb->normal_tail = nt;
	}
}

/*
 * Fetches new mail when there is any and either the lanes are empty or an
 * urgent envelope is waiting behind the ones already fetched.
 */
static inline void fetch(struct actor__mbox *mb)
{
	uintptr_t h = atomic_load_explicit(&mb->head, memory_order_relaxed);

	if (!is_stack(h))
		return;
	if (!(h & URGENT_BIT) && (mb->urgent != NULL || mb->normal != NULL))
		return;
	h = atomic_exchange_explicit(&mb->head, TAG_EMPTY, memory_order_acquire);
	append_reversed(mb, (struct actor__env *)(h & ~URGENT_BIT));
}

static inline struct actor__env *take_one(struct actor__mbox *mb)
{
	struct actor__env *e;

	if (mb->urgent != NULL) {
		e = mb->urgent;
		mb->urgent = e->next;
		if (mb->urgent == NULL)
			mb->urgent_tail = NULL;
	} else if (mb->normal != NULL) {
		e = mb->normal;
		mb->normal = e->next;
		if (mb->normal == NULL)
			mb->normal_tail = NULL;
	} else {
		return NULL;
	}
	e->next = NULL;
	return e;
}

struct actor__env *actor__mbox_pop(struct actor__mbox *mb)
{
	struct actor__env *e;

	fetch(mb);
	e = take_one(mb);
	if (e != NULL)
		uncount(mb, e);
	return e;
}

size_t actor__mbox_pop_batch(struct actor__mbox *mb, struct actor__env **out, size_t n)
{
	size_t i;

	for (i = 0; i < n && (out[i] = actor__mbox_pop(mb)) != NULL; i++)
		;
	return i;
}

bool actor__mbox_try_block(struct actor__mbox *mb)
{
	uintptr_t expected = TAG_EMPTY;

	if (mb->urgent != NULL || mb->normal != NULL)
		return false;
	/* BLOCKED already: idle, and the next push reports WOKE. An actor's
	 * consumer never sees it, but a peer's outbound queue can be drained
	 * once more after it blocked (cluster/route.c). */
	return atomic_compare_exchange_strong_explicit(&mb->head, &expected, TAG_BLOCKED,
						       memory_order_release,
						       memory_order_relaxed) ||
	       expected == TAG_BLOCKED;
}

struct actor__env *actor__mbox_close(struct actor__mbox *mb)
{
	uintptr_t h = atomic_exchange_explicit(&mb->head, TAG_CLOSED, memory_order_acquire);
	struct actor__env *all;

	if (is_stack(h))
		append_reversed(mb, (struct actor__env *)(h & ~URGENT_BIT));
	if (mb->urgent != NULL) {
		mb->urgent_tail->next = mb->normal;
		all = mb->urgent;
	} else {
		all = mb->normal;
	}
	mb->urgent = mb->urgent_tail = NULL;
	mb->normal = mb->normal_tail = NULL;
	for (struct actor__env *e = all; e != NULL; e = e->next)
		uncount(mb, e);
	return all;
}

bool actor__mbox_closed(const struct actor__mbox *mb)
{
	return atomic_load_explicit(&mb->head, memory_order_relaxed) == TAG_CLOSED;
}

bool actor__mbox_idle(const struct actor__mbox *mb)
{
	return atomic_load_explicit(&mb->head, memory_order_acquire) == TAG_BLOCKED;
}

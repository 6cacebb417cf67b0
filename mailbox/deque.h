/*
 * Chase-Lev work-stealing deque of pointers (Chase & Lev, SPAA 2005), with
 * the C11 orderings of Le, Pop, Cohen & Zappa Nardelli (PPoPP 2013) and the
 * two errata found by model checking it (Norris & Demsky, OOPSLA 2013).
 *
 * The owner pushes and takes at the bottom (LIFO); any thread steals at the
 * top (FIFO). The array grows by doubling; it never shrinks.
 *
 * Reclamation: a thief may still be reading a slot of the array that a grow
 * just replaced, so old arrays are not freed until the deque is destroyed.
 * Since each array is twice the previous one, the retired arrays together are
 * smaller than the live one: at most 2x the peak size, with no epoch or
 * hazard-pointer cost on the steal path.
 *
 * Threads: push and take by the owner only; steal by any thread; init and
 * destroy when no other thread uses the deque. push is wait-free except when
 * it grows (it then allocates); take is wait-free; steal is lock-free.
 */
#ifndef ACTOR_MAILBOX_DEQUE_H
#define ACTOR_MAILBOX_DEQUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mailbox/arch.h"

struct actor__deque_array;

struct actor__deque {
	ACTOR__ALIGNED_LINE _Atomic int64_t top;	/* thieves CAS it */
	ACTOR__ALIGNED_LINE _Atomic int64_t bottom;	/* only the owner writes */
	_Atomic(struct actor__deque_array *) array;
	struct actor__deque_array *retired;		/* owner-only */
};

/* Results of actor__deque_steal besides an item. */
#define ACTOR__DEQUE_EMPTY ((void *)0)
#define ACTOR__DEQUE_ABORT ((void *)1)	/* lost a race: try again or elsewhere */

/* capacity: initial slots, rounded up to a power of two. 0, or -ENOMEM. */
int actor__deque_init(struct actor__deque *dq, size_t capacity);
void actor__deque_destroy(struct actor__deque *dq);

/* Owner. Items must not be NULL or ACTOR__DEQUE_ABORT. 0, or -ENOMEM. */
int actor__deque_push(struct actor__deque *dq, void *item);

/* Owner. The most recently pushed item, or NULL when empty. */
void *actor__deque_take(struct actor__deque *dq);

/* Any thread. The oldest item, ACTOR__DEQUE_EMPTY or ACTOR__DEQUE_ABORT. */
void *actor__deque_steal(struct actor__deque *dq);

/* Any thread; a snapshot that may be stale by the time it returns. */
size_t actor__deque_size(const struct actor__deque *dq);

#endif /* ACTOR_MAILBOX_DEQUE_H */

/*
 * The per-actor mailbox: an unbounded (optionally bounded) lock-free
 * multi-producer, single-consumer queue of envelopes with two lanes.
 *
 * One atomic word carries both the queue and the consumer's state, as in
 * CAF's LIFO inbox and Pony's message queue: it holds a LIFO stack of
 * envelopes pushed by producers, or one of the tags EMPTY, BLOCKED (the
 * consumer is idle, nobody will look until someone schedules it) and CLOSED.
 * Because the "is anyone going to look?" state lives in the same word as the
 * queue, a push and the consumer going idle are ordered by that word's
 * modification order alone: no Dekker-style fence pair, and on ARMv8 no
 * `dmb` on the message path.
 *
 * The consumer takes the whole stack with one exchange and reverses it into
 * two private FIFO lists, urgent and normal; reversal keeps each producer's
 * order. A push of an urgent envelope also sets a bit in the word, so that
 * the consumer, which checks the word before each dequeue, takes urgent mail
 * ahead of normal mail that it had already fetched.
 *
 * Threads: actor__mbox_push from any thread; every other call from the
 * consumer only (the thread that currently owns the actor, which the
 * scheduler guarantees is one at a time).
 */
#ifndef ACTOR_MAILBOX_MPSC_H
#define ACTOR_MAILBOX_MPSC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mailbox/envelope.h"

struct actor__mbox {
	_Atomic uintptr_t head;		/* LIFO of envelopes | URGENT, or a tag */
	_Atomic uint32_t count;		/* envelopes marked ACTOR__ENV_COUNTED */
	_Atomic uint32_t capacity;	/* 0: unbounded */
	struct actor__env *urgent, *urgent_tail;	/* consumer-private */
	struct actor__env *normal, *normal_tail;	/* consumer-private */
};

/* Push results; errors are negative errno values. */
enum {
	ACTOR__MBOX_QUEUED = 0,	/* queued; the consumer was already scheduled */
	ACTOR__MBOX_WOKE = 1,	/* queued; the consumer was BLOCKED: schedule it */
};

/*
 * A new mailbox starts BLOCKED: the first push returns ACTOR__MBOX_WOKE.
 * capacity 0 means unbounded.
 */
void actor__mbox_init(struct actor__mbox *mb, uint32_t capacity);

/*
 * Reopens a closed mailbox for a new consumer, BLOCKED and empty, while
 * pushers that still hold the old one may race with it (they then queue
 * for the new consumer, or see CLOSED). The caller owns the mailbox.
 *
 * The count is left alone: a pusher may have counted its envelope under
 * the old capacity and push it into the new incarnation. Each envelope
 * that was counted carries ACTOR__ENV_COUNTED, and only those are
 * subtracted when popped or closed, so the count never wraps (issue 11;
 * model: tests/spin/mailbox.pml).
 */
void actor__mbox_reopen(struct actor__mbox *mb, uint32_t capacity);

/*
 * Any thread. Queues env, returns ACTOR__MBOX_QUEUED or ACTOR__MBOX_WOKE
 * (exactly one pusher sees WOKE per BLOCKED period: that caller must
 * schedule the consumer). -EPIPE: closed; -EAGAIN: at capacity (urgent
 * envelopes neither count towards nor are refused for capacity). On error
 * the envelope still belongs to the caller. Lock-free.
 */
int actor__mbox_push(struct actor__mbox *mb, struct actor__env *env);

/*
 * As actor__mbox_push, but never refused for capacity (nor counted), and
 * in its lane's order: for a caller that bounds some of its mail itself
 * (the peer queues' control frames, cluster/route.c).
 */
int actor__mbox_push_unbounded(struct actor__mbox *mb, struct actor__env *env);

/* Consumer. The next envelope, urgent first; NULL when none is visible. */
struct actor__env *actor__mbox_pop(struct actor__mbox *mb);

/* Consumer. Up to n envelopes into out[], urgent first; returns how many. */
size_t actor__mbox_pop_batch(struct actor__mbox *mb, struct actor__env **out, size_t n);

/*
 * Consumer. Goes idle if nothing is queued: true means the mailbox is now
 * BLOCKED (or was already) and the next push will return WOKE; false means
 * mail arrived and the consumer must keep (or get itself re-)scheduled.
 */
bool actor__mbox_try_block(struct actor__mbox *mb);

/*
 * Consumer (or whoever has exclusive ownership of an idle mailbox). Closes
 * the mailbox: later pushes fail with -EPIPE. Returns every envelope still
 * queued, urgent first, in order, linked through next, for the caller to
 * turn into dead letters.
 */
struct actor__env *actor__mbox_close(struct actor__mbox *mb);

/* Any thread; a snapshot, for diagnostics. */
bool actor__mbox_closed(const struct actor__mbox *mb);

/*
 * Any thread: the mailbox is BLOCKED, i.e. empty with its consumer idle
 * since its last try_block. Acquire: what the consumer did before it went
 * idle (for a peer's queue: handing the frames to the transport) is
 * visible to the caller.
 */
bool actor__mbox_idle(const struct actor__mbox *mb);

#endif /* ACTOR_MAILBOX_MPSC_H */

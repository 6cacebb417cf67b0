/*
 * A spin flag: a lock held for a few instructions or one non-blocking
 * system call, where a mutex would cost more than the wait. A waiter
 * yields its CPU rather than spin on it: on two shared cores the holder
 * may be the thread it would keep from running.
 *
 * Any thread. C11 atomics, so ThreadSanitizer sees the ordering.
 */
#ifndef ACTOR_UTIL_SPIN_H
#define ACTOR_UTIL_SPIN_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

static inline bool actor__spin_trylock(_Atomic bool *f)
{
	return !atomic_exchange_explicit(f, true, memory_order_acquire);
}

static inline void actor__spin_lock(_Atomic bool *f)
{
	while (!actor__spin_trylock(f))
		sched_yield();
}

static inline void actor__spin_unlock(_Atomic bool *f)
{
	atomic_store_explicit(f, false, memory_order_release);
}

#endif

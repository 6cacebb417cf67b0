/*
 * Stress scenarios for the lock-free structures, shared by the Criterion
 * tests and by the plain programs that run under ThreadSanitizer (Criterion's
 * runner cannot start under TSan: Criterion issue #274).
 *
 * Each returns NULL when every item was accounted for, or a static message
 * saying what went wrong.
 */
#ifndef ACTOR_TESTS_STRESS_H
#define ACTOR_TESTS_STRESS_H

#include <stddef.h>

/* producers threads x per_producer envelopes into one mailbox, one consumer
 * that parks whenever try_block succeeds: exactly once, per-producer order
 * per lane, exactly one wake-up per blocked period. */
const char *stress_mpsc(unsigned producers, unsigned long per_producer);

/* One owner pushing and taking `items` pointers while `thieves` steal:
 * every item taken exactly once. */
const char *stress_deque(unsigned thieves, unsigned long items);

/* `threads` threads allocate envelopes of random sizes from their own pools
 * and pass them to a neighbour who checks and frees them: no corruption, and
 * every pool gets all its envelopes back. */
const char *stress_envelope(unsigned threads, unsigned long per_thread);

#endif

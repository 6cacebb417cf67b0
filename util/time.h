/*
 * Time: the monotonic clock in nanoseconds, and conversions for the calls
 * that take a struct timespec. Every wait in the library is on
 * CLOCK_MONOTONIC, so a change of the wall clock moves no deadline.
 *
 * Any thread.
 */
#ifndef ACTOR_UTIL_TIME_H
#define ACTOR_UTIL_TIME_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#define ACTOR__NS_PER_S 1000000000ull

/* CLOCK_MONOTONIC, in nanoseconds. */
uint64_t actor__now_ns(void);

/* ns as a struct timespec: a duration, or a time on CLOCK_MONOTONIC. */
static inline struct timespec actor__timespec_of(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / ACTOR__NS_PER_S), (long)(ns % ACTOR__NS_PER_S) };

	return ts;
}

/* A condition variable whose timed waits take CLOCK_MONOTONIC deadlines
 * (actor__now_ns() + timeout, through actor__timespec_of). 0 or an errno. */
int actor__cond_init_monotonic(pthread_cond_t *cond);

#endif /* ACTOR_UTIL_TIME_H */

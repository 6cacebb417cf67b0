/*
 * Linux futexes on a worker's 32-bit park word (private to the process).
 */
#ifndef ACTOR_SCHED_FUTEX_H
#define ACTOR_SCHED_FUTEX_H

#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleeps while *word == expected, at most timeout_us (0: no limit). */
static inline void actor__futex_wait(_Atomic uint32_t *word, uint32_t expected,
				     unsigned timeout_us)
{
	struct timespec ts = { timeout_us / 1000000, (long)(timeout_us % 1000000) * 1000 };

	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, timeout_us ? &ts : NULL, NULL, 0);
}

static inline void actor__futex_wake(_Atomic uint32_t *word, int n)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

#endif /* ACTOR_SCHED_FUTEX_H */

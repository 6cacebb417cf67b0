/*
 * Platform details for the lock-free code, kept in one place: cache line
 * size, the spin-wait hint, and ThreadSanitizer detection.
 *
 * The lock-free code uses C11 atomics, not Concurrency Kit's ck_pr: CK's
 * atomics are inline asm that ThreadSanitizer cannot see, and on ARMv8 its
 * dmb-based sequences must not be mixed with C11's ldar/stlr on the same
 * variable. What we took from CK: ck_stack's push_upmc/batch_pop_upmc
 * pattern (the envelope pools' return stacks), ck_ring's MPSC ring as the
 * baseline in bench/mailbox, and, in configure, a check that ck_md.h
 * matches the target's memory model.
 */
#ifndef ACTOR_MAILBOX_ARCH_H
#define ACTOR_MAILBOX_ARCH_H

/*
 * 64 bytes on the Cortex-A72 and on x86-64. Hot atomics written by different
 * threads get a line each so that one thread's stores do not clear another
 * core's exclusive monitor (A72 has no LSE: every RMW is an LL/SC loop).
 */
#define ACTOR__CACHELINE 64
#define ACTOR__ALIGNED_LINE _Alignas(ACTOR__CACHELINE)

/*
 * Spin-wait hint. ck_pr_stall() is an empty asm on AArch64 and `yield` is a
 * no-op on cores without SMT such as the A72; `isb` really stalls the front
 * end for a few tens of cycles, like x86's `pause`.
 */
static inline void actor__cpu_relax(void)
{
#if defined(__aarch64__)
	__asm__ __volatile__("isb" ::: "memory");
#elif defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("pause" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

#if defined(__SANITIZE_THREAD__)
#define ACTOR__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ACTOR__TSAN 1
#endif
#endif

#define actor__likely(x) __builtin_expect(!!(x), 1)
#define actor__unlikely(x) __builtin_expect(!!(x), 0)

#endif /* ACTOR_MAILBOX_ARCH_H */

/*
 * LeakSanitizer does not run by itself in Criterion's test workers, so a
 * leaking test would pass: tests that own resources check explicitly.
 */
#ifndef ACTOR_TESTS_LEAKCHECK_H
#define ACTOR_TESTS_LEAKCHECK_H

#if defined(__SANITIZE_ADDRESS__)
#define ACTOR_TESTS_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ACTOR_TESTS_LSAN 1
#endif
#endif

#ifdef ACTOR_TESTS_LSAN
#include <sanitizer/lsan_interface.h>
#define assert_no_leaks() \
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked (see the log)")
#else
#define assert_no_leaks() ((void)0)
#endif

#endif

/* Just enough TAP for the plain test programs. */
#ifndef ACTOR_TESTS_TAP_H
#define ACTOR_TESTS_TAP_H

#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed;

static inline void tap_plan(int n)
{
	printf("1..%d\n", n);
	fflush(stdout);
}

static inline void tap_result(const char *name, const char *error)
{
	tap_n++;
	if (error == NULL) {
		printf("ok %d - %s\n", tap_n, name);
	} else {
		printf("not ok %d - %s\n# %s\n", tap_n, name, error);
		tap_failed++;
	}
	fflush(stdout);
}

/* A test not run, and why (it counts as passed). */
static inline void tap_skip(const char *name, const char *why)
{
	printf("ok %d - %s # SKIP %s\n", ++tap_n, name, why);
	fflush(stdout);
}

/* The size multiplier from the environment's STRESS_SCALE (default 1). */
static inline unsigned long stress_scale(void)
{
	const char *s = getenv("STRESS_SCALE");

	return s != NULL && atol(s) > 0 ? (unsigned long)atol(s) : 1;
}

static inline int tap_exit(void)
{
	return tap_failed ? 1 : 0;
}

#endif

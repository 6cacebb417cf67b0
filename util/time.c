/*
 * Time (time.h).
 */
#include "config.h"

#include "util/time.h"

uint64_t actor__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * ACTOR__NS_PER_S + (uint64_t)ts.tv_nsec;
}

int actor__cond_init_monotonic(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	int err;

	if ((err = pthread_condattr_init(&attr)) != 0)
		return err;
	if ((err = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) == 0)
		err = pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
	return err;
}

/*
 * actor_system_ask racing actor_system_shutdown: outside threads ask an
 * echo actor in a loop while the system shuts down at a random moment.
 * Every ask must return, with the reply or with -ECANCELED, -ESHUTDOWN or
 * -ESRCH (issue 11, bug 3: the ask's actor was stopped before it knew its
 * caller, or spawned after the last shutdown sweep, and the caller waited
 * for ever).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include <actor/actor.h>

#include "tests/stress/stress.h"

#define ASKERS 4
#define SEC 1000000000ull

struct ask_run {
	actor_system_t *sys;
	actor_ref_t echo;
	_Atomic bool unexpected;
	_Atomic unsigned returned;
};

static void echo_handler(actor_ctx_t *ctx, const actor_msg_t *m)
{
	actor_reply(ctx, m, actor_msg_type(m), actor_msg_data(m), actor_msg_size(m));
}

static const actor_spec_t echo_spec = { .name = "echo", .handler = echo_handler };

static void *asker(void *p)
{
	struct ask_run *r = p;

	for (unsigned long i = 0;; i++) {
		void *reply = NULL;
		int err = actor_system_ask(r->sys, r->echo, 1, &i, sizeof i, 10 * SEC, NULL, &reply,
					   NULL);

		free(reply);
		if (err == -ECANCELED || err == -ESHUTDOWN || err == -ESRCH)
			break;
		if (err != 0) {
			atomic_store(&r->unexpected, true);
			break;
		}
	}
	atomic_fetch_add(&r->returned, 1);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool all_returned(void *p)
{
	return atomic_load(&((struct ask_run *)p)->returned) == ASKERS;
}

/* One system: askers, a shutdown after `delay_us` (up to 0.5 ms, where
 * the race is likeliest); NULL if all returned. */
static const char *one_round(unsigned delay_us)
{
	actor_config_t cfg;
	struct ask_run r = { 0 };
	pthread_t tid[ASKERS];
	const struct timespec delay = { 0, (long)delay_us * 1000 };

	actor_config_init(&cfg);
	cfg.workers = 2;
	if (actor_system_create(&r.sys, &cfg) != 0 ||
	    actor_system_spawn(r.sys, &echo_spec, NULL, &r.echo) != 0)
		return "setup failed";
	for (int i = 0; i < ASKERS; i++)
		pthread_create(&tid[i], NULL, asker, &r);
	nanosleep(&delay, NULL);
	actor_system_shutdown(r.sys);
	/* A hung asker cannot be joined: leave it, and its system, be. */
	if (!stress_wait(all_returned, &r, 5))
		return "an ask never returned after shutdown";
	for (int i = 0; i < ASKERS; i++)
		pthread_join(tid[i], NULL);
	actor_system_destroy(r.sys);
	return atomic_load(&r.unexpected) ? "an ask failed with an unexpected error" : NULL;
}

const char *stress_sched_ask_shutdown(unsigned long rounds, double seconds, unsigned long *done)
{
	double until = now_s() + seconds;
	unsigned seed = 11;
	const char *err = NULL;
	unsigned long i;

	for (i = 0; i < rounds && err == NULL && now_s() < until; i++)
		err = one_round((unsigned)rand_r(&seed) % 500);
	if (done != NULL)
		*done = i;
	return err;
}

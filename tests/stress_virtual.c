/*
 * Virtual actors under concurrency, as a plain TAP program for
 * ThreadSanitizer: outside threads and actors send to a few keys whose
 * activations keep deactivating (idle after 10 ms, or explicitly), so
 * sends race the close of a stopping activation's mailbox; every message
 * must be counted by exactly one activation, and every request answered.
 * STRESS_SCALE multiplies the sizes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <actor/actor.h>

#include "mailbox/arch.h"	/* ACTOR__TSAN */
#include "tests/stress/tap.h"

#ifdef ACTOR__TSAN
#define BASE 5000ul
#else
#define BASE 50000ul
#endif
#define KEYS 16
#define THREADS 4

enum { INC = 1, PING, DEACT, GO };

static _Atomic long counted, answered, failed;
static _Atomic int last_error;	/* of a failed request, for the report */

static void on_deactivate(actor_ctx_t *ctx, int reason)
{
	(void)reason;
	atomic_fetch_add(&counted, *(long *)actor_self_state(ctx));
}

static void counter(actor_ctx_t *ctx, const actor_msg_t *m)
{
	long *n = actor_self_state(ctx);

	switch (actor_msg_type(m)) {
	case INC:
		++*n;
		break;
	case PING:
		++*n;
		actor_reply(ctx, m, PING, NULL, 0);
		break;
	case DEACT:
		actor_virtual_deactivate(ctx);
		break;
	}
}

static const actor_spec_t counter_spec = { .handler = counter, .state_size = sizeof(long) };

struct job {
	actor_system_t *sys;
	actor_ref_t keys[KEYS];
	unsigned long n;
	unsigned seed;
};

static void *sender(void *arg)
{
	struct job *j = arg;

	for (unsigned long i = 0; i < j->n; i++) {
		j->seed = j->seed * 1103515245u + 12345u;
		if (actor_system_send(j->sys, j->keys[(j->seed >> 8) % KEYS],
				      (j->seed >> 20) % 50 == 0 ? DEACT : INC, NULL, 0) != 0)
			return "a send failed";
		if ((j->seed >> 16) % 1000 == 0)
			usleep(12000);	/* long enough for idle deactivations */
	}
	return NULL;
}

static void on_pong(actor_ctx_t *ctx, const actor_msg_t *reply, int error, void *arg)
{
	(void)ctx;
	(void)reply;
	(void)arg;
	atomic_fetch_add(error == 0 ? &answered : &failed, 1);
	if (error != 0)
		atomic_store(&last_error, error);
}

/* An actor that asks every key in turn, n times. */
static void client(actor_ctx_t *ctx, const actor_msg_t *m)
{
	const struct job *j = *(struct job *const *)actor_msg_data(m);

	for (unsigned long i = 0; i < j->n; i++) {
		int err = actor_request(ctx, j->keys[i % KEYS], PING, NULL, 0, 30ull * 1000000000,
					on_pong, NULL);

		if (err != 0) {
			atomic_fetch_add(&failed, 1);
			atomic_store(&last_error, err);
		}
	}
}

static const actor_spec_t client_spec = { .handler = client };

static const char *run(unsigned long n)
{
	static char err[128];
	actor_virtual_options_t o = { .idle_timeout_ns = 10ull * 1000000,
				      .deactivate = on_deactivate };
	pthread_t t[THREADS];
	struct job jobs[THREADS], asks;
	actor_system_t *sys;
	actor_ref_t c;
	const struct job *pj = &asks;
	long want;

	if (actor_system_create(&sys, NULL) != 0 ||
	    actor_virtual_register(sys, "counter", &counter_spec, &o) != 0)
		return "setup failed";
	asks.sys = sys;
	asks.n = n / 10;
	for (int k = 0; k < KEYS; k++) {
		char key[8];

		snprintf(key, sizeof key, "k%d", k);
		if (actor_virtual_ref(sys, "counter", key, strlen(key), &asks.keys[k]) != 0)
			return "actor_virtual_ref failed";
	}
	if (actor_system_spawn(sys, &client_spec, NULL, &c) != 0 ||
	    actor_system_send(sys, c, GO, &pj, sizeof pj) != 0)
		return "client failed";
	for (int i = 0; i < THREADS; i++) {
		jobs[i] = asks;
		jobs[i].n = n;
		jobs[i].seed = (unsigned)i * 7919u + 1;
		pthread_create(&t[i], NULL, sender, &jobs[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		void *r;

		pthread_join(t[i], &r);
		if (r != NULL)
			return r;
	}
	for (int i = 0; i < 30000 && atomic_load(&answered) + atomic_load(&failed) <
					     (long)asks.n; i++)
		usleep(1000);
	actor_virtual_stats_t st;

	want = (long)asks.n;
	for (int i = 0; i < THREADS; i++) {
		unsigned seed = (unsigned)i * 7919u + 1;

		for (unsigned long k = 0; k < n; k++) {
			seed = seed * 1103515245u + 12345u;
			want += (seed >> 20) % 50 != 0;
		}
	}
	/* Mail still queued at shutdown is refused, not counted: every key
	 * goes idle (10 ms) and reports its count first. */
	for (int i = 0; i < 30000 && atomic_load(&counted) < want; i++)
		usleep(1000);

	if (actor_virtual_stats(sys, "counter", &st) == 0)
		printf("# %llu activations, %llu idle and %llu explicit deactivations\n",
		       (unsigned long long)st.activations,
		       (unsigned long long)st.deactivations[ACTOR_DEACT_IDLE],
		       (unsigned long long)st.deactivations[ACTOR_DEACT_EXPLICIT]);
	/* Shutdown ends the last activations, which report their counts. */
	actor_system_destroy(sys);
	if (atomic_load(&failed) != 0 || atomic_load(&answered) != (long)asks.n) {
		snprintf(err, sizeof err, "%ld requests answered, %ld failed (the last: %s), of %lu",
			 atomic_load(&answered), atomic_load(&failed),
			 strerror(-atomic_load(&last_error)), asks.n);
		return err;
	}
	if (atomic_load(&counted) != want) {
		snprintf(err, sizeof err, "%ld messages counted of %ld", atomic_load(&counted), want);
		return err;
	}
	return NULL;
}

int main(void)
{
	tap_plan(1);
	tap_result("sends and requests racing idle and explicit deactivations",
		   run(BASE * stress_scale()));
	return tap_exit();
}

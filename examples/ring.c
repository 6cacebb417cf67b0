/*
 * ring: N actors in a ring pass a token around M times, then every actor
 * reports how often it held the token. Uses only the public API.
 *
 *   ring [N [M]]        (default: 1000 actors, 100 laps)
 */
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <actor/actor.h>

enum { SET_NEXT = 1, TOKEN };

struct member {
	actor_ref_t next;
	long held;
};

struct token {
	long hops_left;
	sem_t *done;
};

static void member(actor_ctx_t *ctx, const actor_msg_t *msg)
{
	struct member *self = actor_self_state(ctx);
	struct token t;

	switch (actor_msg_type(msg)) {
	case SET_NEXT:
		self->next = *(const actor_ref_t *)actor_msg_data(msg);
		break;
	case TOKEN:
		t = *(const struct token *)actor_msg_data(msg);
		self->held++;
		if (--t.hops_left == 0)
			sem_post(t.done);
		else
			actor_send(ctx, self->next, TOKEN, &t, sizeof t);
		break;
	}
}

static long total_held;

static void report(actor_ctx_t *ctx)
{
	/* Runs once per actor when the system shuts down. */
	__atomic_fetch_add(&total_held, ((struct member *)actor_self_state(ctx))->held,
			   __ATOMIC_RELAXED);
}

static const actor_spec_t member_spec = {
	.name = "member", .handler = member, .state_size = sizeof(struct member),
	.cleanup = report,
};

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000, laps = argc > 2 ? atol(argv[2]) : 100;
	actor_system_t *sys;
	actor_system_stats_t st;
	actor_ref_t *ring;
	struct timespec t0, t1;
	double secs;
	sem_t done;
	int err;

	if (n < 1 || laps < 1)
		return 2;
	err = actor_system_create(&sys, NULL);
	if (err < 0) {
		fprintf(stderr, "actor_system_create: error %d\n", err);
		return 1;
	}
	ring = calloc((size_t)n, sizeof(*ring));
	for (long i = 0; i < n; i++)
		if (actor_system_spawn(sys, &member_spec, NULL, &ring[i]) < 0)
			return 1;
	for (long i = 0; i < n; i++)
		actor_system_send(sys, ring[i], SET_NEXT, &ring[(i + 1) % n], sizeof(actor_ref_t));

	sem_init(&done, 0, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Mail from one sender arrives in order: SET_NEXT comes first. */
	actor_system_send(sys, ring[0], TOKEN, &(struct token){ n * laps, &done },
			  sizeof(struct token));
	sem_wait(&done);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;

	actor_system_stats(sys, &st);
	actor_system_destroy(sys);
	printf("libactor %s: %ld actors passed a token %ld times in %.3f s (%.0f hops/s); "
	       "they counted %ld hops; dead letters: %llu\n", actor_version_string(), n,
	       n * laps, secs, (double)(n * laps) / secs, total_held,
	       (unsigned long long)st.dead_letters);
	free(ring);
	sem_destroy(&done);
	return total_held == n * laps ? 0 : 1;
}

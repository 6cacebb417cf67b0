/*
 * bench/threadring (Savina): N actors in a ring pass a token T hops. Actor 0
 * gets the token with value T; an actor that gets value v > 0 passes v-1
 * to the next; the one that gets 0 reports its index, which must be
 * T mod N. Messages = T + 1.
 */
#include "config.h"

#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/common.h"

enum { SETUP = 1, TOKEN };

struct shared {
	long long winner;
	sem_t done;
};

struct ring_member {
	struct shared *sh;
	long long index;
	actor_ref_t next;
};

static void member_actor(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct ring_member *s = actor_self_state(ctx);
	int64_t v;

	if (actor_msg_type(m) == SETUP) {
		memcpy(&s->next, actor_msg_data(m), sizeof s->next);
		return;
	}
	memcpy(&v, actor_msg_data(m), sizeof v);
	if (v == 0) {
		s->sh->winner = s->index;
		sem_post(&s->sh->done);
		return;
	}
	v--;
	actor_send(ctx, s->next, TOKEN, &v, sizeof v);
}

static int member_init(actor_ctx_t *ctx, void *arg)
{
	memcpy(actor_self_state(ctx), arg, sizeof(struct ring_member));
	return 0;
}

static const actor_spec_t member_spec = {
	.name = "member", .handler = member_actor, .state_size = sizeof(struct ring_member),
	.init = member_init,
};

int main(int argc, char **argv)
{
	struct bench_flag flags[] = {
		{ "actors", "100", "actors N in the ring" },
		{ "hops", "1000000", "hops T of the token" },
		{ NULL, NULL, NULL },
	};
	struct shared sh = { .winner = -1 };
	actor_system_t *sys;
	actor_ref_t *ring;
	long long n, hops;
	int64_t v;
	double t0, wall;
	unsigned workers;

	bench_parse(argc, argv, "threadring [--actors N] [--hops T]", flags);
	n = bench_num(flags, "actors");
	hops = bench_num(flags, "hops");
	if (n < 1 || hops < 0)
		bench_die("need actors >= 1, hops >= 0");
	ring = calloc((size_t)n, sizeof(*ring));
	if (ring == NULL)
		bench_die("out of memory");
	sem_init(&sh.done, 0, 0);
	sys = bench_system();
	for (long long i = 0; i < n; i++) {
		struct ring_member init = { &sh, i, ACTOR_REF_NONE };

		if (actor_system_spawn_copy(sys, &member_spec, &init, sizeof init, &ring[i]) < 0)
			bench_die("spawn failed");
	}
	for (long long i = 0; i < n; i++)
		actor_system_send(sys, ring[i], SETUP, &ring[(i + 1) % n], sizeof(actor_ref_t));
	t0 = bench_now();
	v = hops;
	actor_system_send(sys, ring[0], TOKEN, &v, sizeof v);
	sem_wait(&sh.done);
	wall = bench_now() - t0;

	if (sh.winner != hops % n)
		bench_die("threadring: actor %lld got the last hop, expected %lld", sh.winner,
			  hops % n);
	bench_print_stats(sys);
	workers = actor_system_workers(sys);
	actor_system_destroy(sys);
	bench_result("bench=threadring system=libactor mode=local actors=%lld hops=%lld "
		     "workers=%u winner=%lld wall_s=%.6f msgs_per_s=%.0f", n, hops, workers,
		     sh.winner, wall, (double)(hops + 1) / wall);
	free(ring);
	sem_destroy(&sh.done);
	return 0;
}

/*
 * bench/actor_creation (CAF's benchmark suite): an actor told to create at
 * depth D > 0 spawns two children and tells each to create at depth D-1;
 * at depth 0 it answers 1. A parent adds its children's answers, passes the
 * sum up and stops. The root's sum must be 2^D; 2^(D+1) - 1 actors are
 * spawned in all (checked against the system's counter). Spawning is the
 * measured work; every actor gets one message and sends one.
 */
#include "config.h"

#include <semaphore.h>
#include <stdint.h>
#include <string.h>

#include "bench/common.h"

enum { CREATE = 1, RESULT };

struct shared {
	uint64_t sum;
	sem_t done;
};

struct node {
	struct shared *sh;
	actor_ref_t parent;	/* none: the root, which reports to main */
	uint64_t sum;
	int got;
};

static const actor_spec_t node_spec;

static void report(actor_ctx_t *ctx, struct node *s, uint64_t sum)
{
	if (actor_ref_is_none(s->parent)) {
		s->sh->sum = sum;
		sem_post(&s->sh->done);
	} else {
		actor_send(ctx, s->parent, RESULT, &sum, sizeof sum);
	}
	actor_stop(ctx, ACTOR_EXIT_NORMAL);
}

static void node_actor(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct node *s = actor_self_state(ctx);
	uint64_t v;

	if (actor_msg_type(m) == CREATE) {
		const uint32_t *depth = actor_msg_data(m);
		uint32_t next = *depth - 1;

		s->parent = actor_msg_sender(m);
		if (*depth == 0) {
			report(ctx, s, 1);
			return;
		}
		for (int i = 0; i < 2; i++) {
			actor_ref_t child;

			if (actor_spawn(ctx, &node_spec, s->sh, &child) < 0)
				bench_die("actor_creation: spawn failed");
			actor_send(ctx, child, CREATE, &next, sizeof next);
		}
		return;
	}
	memcpy(&v, actor_msg_data(m), sizeof v);
	s->sum += v;
	if (++s->got == 2)
		report(ctx, s, s->sum);
}

static int node_init(actor_ctx_t *ctx, void *arg)
{
	struct node *s = actor_self_state(ctx);

	s->sh = arg;
	return 0;
}

static const actor_spec_t node_spec = {
	.name = "node", .handler = node_actor, .state_size = sizeof(struct node),
	.init = node_init,
};

int main(int argc, char **argv)
{
	struct bench_flag flags[] = {
		{ "depth", "20", "tree depth D: 2^D leaves, 2^(D+1)-1 actors" },
		{ NULL, NULL, NULL },
	};
	struct shared sh = { 0 };
	actor_system_t *sys;
	actor_system_stats_t st;
	actor_ref_t root;
	long long depth, actors;
	uint32_t d;
	double t0, wall;
	unsigned workers;

	bench_parse(argc, argv, "actor_creation [--depth D]", flags);
	depth = bench_num(flags, "depth");
	if (depth < 0 || depth > 30)
		bench_die("need 0 <= depth <= 30");
	d = (uint32_t)depth;
	actors = (2LL << depth) - 1;

	sys = bench_system();
	sem_init(&sh.done, 0, 0);
	t0 = bench_now();
	if (actor_system_spawn(sys, &node_spec, &sh, &root) < 0)
		bench_die("spawn failed");
	actor_system_send(sys, root, CREATE, &d, sizeof d);
	sem_wait(&sh.done);
	wall = bench_now() - t0;

	if (sh.sum != 1ull << depth)
		bench_die("actor_creation: sum %llu, expected %llu", (unsigned long long)sh.sum,
			  1ull << depth);
	actor_system_stats(sys, &st);
	if ((long long)st.spawned != actors)
		bench_die("actor_creation: %llu actors spawned, expected %lld",
			  (unsigned long long)st.spawned, actors);
	bench_print_stats(sys);
	workers = actor_system_workers(sys);
	actor_system_destroy(sys);
	bench_result("bench=actor_creation system=libactor mode=local depth=%lld workers=%u "
		     "actors=%lld sum=%llu wall_s=%.6f spawns_per_s=%.0f msgs_per_s=%.0f", depth,
		     workers, actors, (unsigned long long)sh.sum, wall, (double)actors / wall,
		     2.0 * (double)actors / wall);
	sem_destroy(&sh.done);
	return 0;
}

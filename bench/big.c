/*
 * bench/big (bencherl's Big, DESIGN.md section 5): N actors, K rounds. In a
 * round every actor pings every other actor and counts pongs; every ping is
 * answered with a pong at once. An actor whose N-1 pongs are in starts its
 * next round straight away (a pong can only belong to its receiver's current
 * round, so counting is exact). Messages = 2 N (N-1) K.
 */
#include "config.h"

#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bench/common.h"

enum { GO = 1, PING, PONG };

struct shared {
	actor_ref_t *peers;
	int n;
	int rounds;
	_Atomic long long pongs;
	_Atomic int finished;
	sem_t done;
};

struct member {
	struct shared *sh;
	int index;
};

struct big {
	struct member *me;
	int rounds_left;
	int pongs;
	long long pongs_total;
};

static int big_init(actor_ctx_t *ctx, void *arg)
{
	struct big *s = actor_self_state(ctx);

	s->me = arg;
	s->rounds_left = s->me->sh->rounds;
	return 0;
}

static void begin_round(actor_ctx_t *ctx, struct big *s)
{
	const struct shared *sh = s->me->sh;

	s->pongs = 0;
	for (int i = 0; i < sh->n; i++)
		if (i != s->me->index)
			actor_send(ctx, sh->peers[i], PING, NULL, 0);
}

static void big_actor(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct big *s = actor_self_state(ctx);
	struct shared *sh = s->me->sh;

	switch (actor_msg_type(m)) {
	case GO:
		begin_round(ctx, s);
		break;
	case PING:
		actor_send(ctx, actor_msg_sender(m), PONG, NULL, 0);
		break;
	case PONG:
		s->pongs_total++;
		if (++s->pongs < sh->n - 1)
			break;
		if (--s->rounds_left > 0) {
			begin_round(ctx, s);
			break;
		}
		atomic_fetch_add(&sh->pongs, s->pongs_total);
		if (atomic_fetch_add(&sh->finished, 1) == sh->n - 1)
			sem_post(&sh->done);
		break;
	}
}

static const actor_spec_t big_spec = {
	.name = "big", .handler = big_actor, .state_size = sizeof(struct big), .init = big_init,
};

int main(int argc, char **argv)
{
	struct bench_flag flags[] = {
		{ "actors", "64", "actors N" },
		{ "rounds", "100", "rounds K" },
		{ "mode", "local", "local (distributed and virtual come with the cluster)" },
		{ NULL, NULL, NULL },
	};
	struct shared sh = { 0 };
	struct member *members;
	actor_system_t *sys;
	long long msgs;
	double t0, wall;
	unsigned workers;

	bench_parse(argc, argv, "big [--actors N] [--rounds K]", flags);
	sh.n = (int)bench_num(flags, "actors");
	sh.rounds = (int)bench_num(flags, "rounds");
	if (sh.n < 2 || sh.rounds < 1)
		bench_die("need actors >= 2, rounds >= 1");
	if (strcmp(bench_str(flags, "mode"), "local") != 0)
		bench_die("big: only --mode local exists so far");

	sys = bench_system();
	sh.peers = calloc((size_t)sh.n, sizeof(*sh.peers));
	members = calloc((size_t)sh.n, sizeof(*members));
	if (sh.peers == NULL || members == NULL)
		bench_die("out of memory");
	sem_init(&sh.done, 0, 0);
	for (int i = 0; i < sh.n; i++) {
		members[i] = (struct member){ &sh, i };
		if (actor_system_spawn(sys, &big_spec, &members[i], &sh.peers[i]) < 0)
			bench_die("spawn failed");
	}
	t0 = bench_now();
	for (int i = 0; i < sh.n; i++)
		actor_system_send(sys, sh.peers[i], GO, NULL, 0);
	sem_wait(&sh.done);
	wall = bench_now() - t0;

	msgs = 2LL * sh.n * (sh.n - 1) * sh.rounds;
	if (2 * atomic_load(&sh.pongs) != msgs)
		bench_die("big: pong count mismatch");
	bench_print_stats(sys);
	workers = actor_system_workers(sys);
	actor_system_destroy(sys);
	printf("result bench=big system=libactor mode=local actors=%d rounds=%d workers=%u "
	       "msgs=%lld wall_s=%.6f msgs_per_s=%.0f\n", sh.n, sh.rounds, workers, msgs, wall,
	       (double)msgs / wall);
	free(sh.peers);
	free(members);
	sem_destroy(&sh.done);
	return 0;
}

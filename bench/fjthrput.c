/*
 * bench/fjthrput (Savina's fork-join throughput): a producer sends N
 * messages to each of A actors, round-robin; an actor does a little work
 * per message (Savina's: the square of sin(37.2), accumulated) and reports
 * when it has all N. Every actor must report N messages and the sum of N
 * such squares. Messages = A N.
 */
#include "config.h"

#include <math.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "bench/common.h"

enum { START = 1, WORK };

struct shared {
	actor_ref_t *actors;
	long long n;
	int a;
	double theta;		/* read at run time, so the work is not folded away */
	_Atomic int reported;
	_Atomic int wrong;
	sem_t done;
};

struct thr {
	struct shared *sh;
	long long count;
	double sum;
};

static void thr_actor(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct thr *s = actor_self_state(ctx);
	double x = sin(s->sh->theta);
	double expect;

	(void)m;
	s->sum += x * x;
	if (++s->count < s->sh->n)
		return;
	expect = (double)s->sh->n * x * x;
	if (fabs(s->sum - expect) > 1e-9 * expect)
		atomic_fetch_add(&s->sh->wrong, 1);
	if (atomic_fetch_add(&s->sh->reported, 1) + 1 == s->sh->a)
		sem_post(&s->sh->done);
	actor_stop(ctx, ACTOR_EXIT_NORMAL);
}

static int thr_init(actor_ctx_t *ctx, void *arg)
{
	struct thr *s = actor_self_state(ctx);

	s->sh = arg;
	return 0;
}

static const actor_spec_t thr_spec = {
	.name = "thr", .handler = thr_actor, .state_size = sizeof(struct thr), .init = thr_init,
};

static void producer_actor(actor_ctx_t *ctx, const actor_msg_t *m)
{
	const struct shared *sh = *(struct shared **)actor_self_state(ctx);

	(void)m;
	for (long long i = 0; i < sh->n; i++)
		for (int j = 0; j < sh->a; j++)
			if (actor_send(ctx, sh->actors[j], WORK, NULL, 0) < 0)
				bench_die("fjthrput: send failed");
	actor_stop(ctx, ACTOR_EXIT_NORMAL);
}

static int producer_init(actor_ctx_t *ctx, void *arg)
{
	*(struct shared **)actor_self_state(ctx) = arg;
	return 0;
}

static const actor_spec_t producer_spec = {
	.name = "producer", .handler = producer_actor, .state_size = sizeof(struct shared *),
	.init = producer_init,
};

int main(int argc, char **argv)
{
	struct bench_flag flags[] = {
		{ "actors", "60", "actors A" },
		{ "msgs", "10000", "messages N per actor" },
		{ NULL, NULL, NULL },
	};
	struct shared sh = { .theta = 37.2 };
	actor_system_t *sys;
	actor_ref_t producer;
	long long total;
	double t0, wall;
	unsigned workers;

	bench_parse(argc, argv, "fjthrput [--actors A] [--msgs N]", flags);
	sh.a = (int)bench_num(flags, "actors");
	sh.n = bench_num(flags, "msgs");
	if (sh.a < 1 || sh.n < 1)
		bench_die("need actors >= 1, msgs >= 1");
	total = sh.n * sh.a;
	sh.actors = calloc((size_t)sh.a, sizeof(*sh.actors));
	if (sh.actors == NULL)
		bench_die("out of memory");
	sem_init(&sh.done, 0, 0);
	sys = bench_system();
	for (int i = 0; i < sh.a; i++)
		if (actor_system_spawn(sys, &thr_spec, &sh, &sh.actors[i]) < 0)
			bench_die("spawn failed");
	if (actor_system_spawn(sys, &producer_spec, &sh, &producer) < 0)
		bench_die("spawn failed");
	t0 = bench_now();
	actor_system_send(sys, producer, START, NULL, 0);
	sem_wait(&sh.done);
	wall = bench_now() - t0;

	if (atomic_load(&sh.wrong) != 0)
		bench_die("fjthrput: %d actors got a wrong sum", atomic_load(&sh.wrong));
	bench_print_stats(sys);
	workers = actor_system_workers(sys);
	actor_system_destroy(sys);
	bench_result("bench=fjthrput system=libactor mode=local actors=%d msgs=%lld workers=%u "
		     "total=%lld wall_s=%.6f msgs_per_s=%.0f", sh.a, sh.n, workers, total, wall,
		     (double)total / wall);
	free(sh.actors);
	sem_destroy(&sh.done);
	return 0;
}

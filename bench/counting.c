/*
 * bench/counting (Savina): a producer sends N increments to a counter, one
 * message each, then asks for the total; the counter answers with its count,
 * which must be N. Messages = N + 2.
 */
#include "config.h"

#include <semaphore.h>
#include <stdint.h>
#include <string.h>

#include "bench/common.h"

enum { START = 1, INCREMENT, RETRIEVE, TOTAL };

struct shared {
	long long n;
	actor_ref_t counter;
	int64_t total;
	sem_t done;
};

static void counter_actor(actor_ctx_t *ctx, const actor_msg_t *m)
{
	int64_t *count = actor_self_state(ctx);

	if (actor_msg_type(m) == INCREMENT)
		++*count;
	else
		actor_send(ctx, actor_msg_sender(m), TOTAL, count, sizeof *count);
}

static const actor_spec_t counter_spec = {
	.name = "counter", .handler = counter_actor, .state_size = sizeof(int64_t),
};

static void producer_actor(actor_ctx_t *ctx, const actor_msg_t *m)
{
	struct shared *sh = *(struct shared **)actor_self_state(ctx);

	if (actor_msg_type(m) == START) {
		for (long long i = 0; i < sh->n; i++)
			if (actor_send(ctx, sh->counter, INCREMENT, NULL, 0) < 0)
				bench_die("counting: send failed");
		actor_send(ctx, sh->counter, RETRIEVE, NULL, 0);
		return;
	}
	memcpy(&sh->total, actor_msg_data(m), sizeof sh->total);
	sem_post(&sh->done);
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
		{ "count", "1000000", "increments N" },
		{ NULL, NULL, NULL },
	};
	struct shared sh = { 0 };
	actor_system_t *sys;
	actor_ref_t producer;
	double t0, wall;
	unsigned workers;

	bench_parse(argc, argv, "counting [--count N]", flags);
	sh.n = bench_num(flags, "count");
	if (sh.n < 1)
		bench_die("need count >= 1");
	sem_init(&sh.done, 0, 0);
	sys = bench_system();
	if (actor_system_spawn(sys, &counter_spec, NULL, &sh.counter) < 0 ||
	    actor_system_spawn(sys, &producer_spec, &sh, &producer) < 0)
		bench_die("spawn failed");
	t0 = bench_now();
	actor_system_send(sys, producer, START, NULL, 0);
	sem_wait(&sh.done);
	wall = bench_now() - t0;

	if (sh.total != sh.n)
		bench_die("counting: total %lld, expected %lld", (long long)sh.total, sh.n);
	bench_print_stats(sys);
	workers = actor_system_workers(sys);
	actor_system_destroy(sys);
	bench_result("bench=counting system=libactor mode=local count=%lld workers=%u total=%lld "
		     "wall_s=%.6f msgs_per_s=%.0f", sh.n, workers, (long long)sh.total, wall,
		     (double)(sh.n + 2) / wall);
	sem_destroy(&sh.done);
	return 0;
}
